//! The plaintext inside the vault: one JSON document (docs/DESIGN.md).
//!
//! Serialization is written by hand rather than derived with `#[serde(flatten)]`: flatten
//! buffers every field, values included, into intermediate copies that are never zeroed.
//! Unknown fields, at the top and in each secret, are kept verbatim on rewrite so that an
//! older `vault` never drops what a newer one wrote.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::ops::Range;
use std::time::SystemTime;

use age::secrecy::{ExposeSecret, SecretString};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret_bytes::SecretBytes;
use crate::signature::Signed;

mod json;
mod reader;
mod sealed_fields;

/// The top-level fields every reader reads, not only one that writes back (see
/// `store::sealed`).
pub(crate) const SEALED_FIELDS: [&str; 2] = [
    crate::sealed::PERSONAL_FIELD,
    crate::sealed::GROUP_VALUES_FIELD,
];

/// What is wrong with decrypted JSON, without the value serde quotes in some errors
/// (``invalid type: string "hunter2"``): where, and of what kind.
fn json_problem(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let quotes_input = [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ]
    .iter()
    .any(|start| text.starts_with(start));
    if quotes_input {
        format!(
            "a field of the wrong type at line {} column {}",
            error.line(),
            error.column()
        )
    } else {
        text
    }
}
mod writer;

pub use json::SecretText;
use reader::*;
pub use reader::{Found, Plaintext, Said};

/// The `format` of every vault document.
pub const FORMAT: &str = "secretsd-vault";
/// The version vault writes: 2 has a membership block (`store::membership`) and a
/// generation. Version 1, without them, is still read.
pub const VERSION: u64 = 2;
/// The top-level field holding the key of [`Document::fingerprint`].
pub const DIFF_KEY_FIELD: &str = "diff_key";

/// The decrypted vault.
///
/// A document read for a change keeps the plaintext it came from and each secret as its
/// span of that text: a secret is decoded when it is first asked for, and one that nobody
/// touched is written back as the very bytes it was read as. Changing one secret of
/// 10,000 therefore costs one pass over the text, not 10,000 decodes, encodes and frees.
pub struct Document {
    /// The recipients the vault is encrypted to.
    pub recipients: Vec<String>,
    /// The membership block as stored (see `store::membership`), if the document has one.
    membership: Option<String>,
    /// How many writes made this version: one more than the version it was written over.
    pub generation: u64,
    secrets: BTreeMap<Name, Slot>,
    extra: Map<String, Value>,
    /// The plaintext the spans and names point into (empty for a document read whole or
    /// new). Never changed once read.
    source: SecretBytes,
    /// Which file, for errors about a secret decoded late.
    what: String,
    /// Read with only some of its secrets ([`Plaintext::select`]): never written back.
    partial: bool,
    /// Its names were read in order, each once, as vault writes them (a document built
    /// here is).
    names_in_order: bool,
}

/// A secret's name as the map keeps it: its own copy, even for a document read for a
/// change whose source holds the same bytes. (Borrowing them from the source by raw parts
/// saved one small allocation per secret: 0.23 ms of CPU of a read for a change at 10,000
/// secrets, 1.19 against 1.43 ms, for a raw-pointer invariant spread over the whole type.)
type Name = Box<str>;

/// One secret of a document: its text in the source, decoded on first use, or decoded
/// (or set) already — then without a span, because the text no longer says what it holds.
struct Slot {
    span: Option<Range<usize>>,
    /// Boxed: a slot is moved as the map is built, and most are never decoded.
    entry: OnceCell<Box<Entry>>,
    /// Why this reader may not read it (a sealed value of theirs that failed its checks):
    /// every read of it fails with this, and only of it.
    refused: Option<Box<str>>,
}

impl Slot {
    fn decoded(entry: Entry) -> Slot {
        Slot {
            span: None,
            entry: OnceCell::from(Box::new(entry)),
            refused: None,
        }
    }
}

impl fmt::Debug for Document {
    // Never the source: it is the plaintext.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("recipients", &self.recipients)
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One secret and what is known about it.
#[derive(Debug, Clone)]
pub struct Entry {
    value: SecretString,
    /// When it was first set (RFC 3339).
    pub created: String,
    /// When it was last changed (RFC 3339).
    pub updated: String,
    /// What the user said it is for.
    pub description: Option<String>,
    extra: Map<String, Value>,
}

/// The top-level field listing, per removal, the secrets the removed reader could read
/// that have not changed since.
pub const STALE_FIELD: &str = "stale";

/// Who was removed, and when, from the readers of a stale secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// The removed recipient (or `group NAME: recipient`).
    pub who: String,
    /// When (RFC 3339).
    pub removed: String,
}

/// The current time as RFC 3339 UTC, to the second.
pub fn timestamp_now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// The field of a secret holding its tags: a JSON array of strings.
pub const TAGS_FIELD: &str = "tags";
/// The field of a secret holding its rotation period in seconds (absent: never due).
pub const ROTATE_EVERY_FIELD: &str = "rotate_every";

impl Entry {
    /// The value.
    pub fn value(&self) -> &SecretString {
        &self.value
    }

    /// Its tags, in the order they were added (a field that is not an array of strings,
    /// written by another tool, reads as no tags).
    pub fn tags(&self) -> Vec<String> {
        match self.extra.get(TAGS_FIELD) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Replaces its tags; none removes the field.
    pub fn set_tags(&mut self, tags: Vec<String>) {
        if tags.is_empty() {
            self.extra.remove(TAGS_FIELD);
        } else {
            let items = tags.into_iter().map(Value::String).collect();
            self.extra.insert(TAGS_FIELD.into(), Value::Array(items));
        }
    }

    /// How often it should be rotated, in seconds; `None` when never.
    pub fn rotate_every(&self) -> Option<u64> {
        self.extra
            .get(ROTATE_EVERY_FIELD)
            .and_then(Value::as_u64)
            .filter(|seconds| *seconds > 0)
    }

    /// Sets (or with `None` removes) its rotation period.
    pub fn set_rotate_every(&mut self, seconds: Option<u64>) {
        match seconds {
            Some(seconds) => {
                self.extra
                    .insert(ROTATE_EVERY_FIELD.into(), Value::from(seconds));
            }
            None => {
                self.extra.remove(ROTATE_EVERY_FIELD);
            }
        }
    }

    /// Whether `other` holds the same value, description, tags, period and other fields
    /// (its times aside): what a merge compares.
    pub fn same_content(&self, other: &Entry) -> bool {
        self.value.expose_secret() == other.value.expose_secret()
            && self.description == other.description
            && self.extra == other.extra
    }

    /// When its rotation falls due: its last change plus its period. `None` when it has no
    /// period, or its `updated` time is not RFC 3339 (a file another tool wrote).
    pub fn due_at(&self) -> Option<SystemTime> {
        let period = std::time::Duration::from_secs(self.rotate_every()?);
        let updated = humantime::parse_rfc3339_weak(&self.updated).ok()?;
        updated.checked_add(period)
    }

    /// Whether its rotation date has passed at `now`.
    pub fn is_due(&self, now: SystemTime) -> bool {
        self.due_at().is_some_and(|due| due <= now)
    }
}

impl Document {
    /// An empty document for these recipients.
    pub fn new(recipients: Vec<String>) -> Self {
        Document {
            recipients,
            membership: None,
            generation: 0,
            secrets: BTreeMap::new(),
            extra: Map::new(),
            source: SecretBytes::default(),
            what: String::new(),
            partial: false,
            names_in_order: true,
        }
    }

    /// Parses a decrypted vault whole, refusing other formats and newer versions.
    pub fn from_json(plaintext: &[u8], what: &str) -> Result<Self> {
        Document::decode(plaintext, what, &|_| true, true)
    }

    /// Reads a decrypted vault for a change: checked as JSON and as a vault document, its
    /// secrets left as text until they are asked for (see [`Document`]).
    pub fn for_change(plaintext: SecretBytes, what: &str) -> Result<Self> {
        let mut spans = Spans {
            source: &plaintext,
            spans: Vec::new(),
        };
        let found = scan(&plaintext, what, &mut spans, true)?;
        let secrets = spans
            .spans
            .into_iter()
            .map(|(name, span)| {
                let slot = Slot {
                    span: Some(span),
                    entry: OnceCell::new(),
                    refused: None,
                };
                (name, slot)
            })
            .collect();
        Ok(Document {
            recipients: found.recipients,
            membership: found.membership,
            generation: found.generation,
            secrets,
            extra: found.extra,
            source: plaintext,
            what: what.to_string(),
            partial: false,
            names_in_order: found.names_in_order,
        })
    }

    /// Decodes the secrets whose names pass `keep`.
    fn decode(
        plaintext: &[u8],
        what: &str,
        keep: &dyn Fn(&str) -> bool,
        keep_extra: bool,
    ) -> Result<Self> {
        let mut entries = Entries {
            keep,
            entries: Vec::new(),
        };
        let found = scan(plaintext, what, &mut entries, keep_extra)?;
        Ok(Document {
            recipients: found.recipients,
            membership: found.membership,
            generation: found.generation,
            // Built in bulk from the (written sorted) entries rather than one insert at a
            // time; a repeated name keeps its last entry, as JSON parsers do.
            secrets: entries
                .entries
                .into_iter()
                .map(|(name, entry)| (name.into_boxed_str(), Slot::decoded(entry)))
                .collect(),
            extra: found.extra,
            source: SecretBytes::default(),
            what: what.to_string(),
            partial: false,
            names_in_order: found.names_in_order,
        })
    }

    /// Whether the names were read in order, each once, as vault writes them.
    pub fn names_in_order(&self) -> bool {
        self.names_in_order
    }

    /// Decodes a slot's entry if that has not happened yet.
    fn entry_of<'s>(&'s self, name: &str, slot: &'s Slot) -> Result<&'s Entry> {
        if let Some(why) = &slot.refused {
            return Err(Error::BadData(why.to_string()));
        }
        if let Some(entry) = slot.entry.get() {
            return Ok(entry);
        }
        let span = slot.span.clone().unwrap_or_default();
        let entry: Entry = serde_json::from_slice(&self.source[span]).map_err(|e| {
            Error::BadData(format!(
                "{} decrypts but its secret {} is not valid ({})",
                self.what,
                crate::names::printable(name, false),
                json_problem(&e)
            ))
        })?;
        Ok(slot.entry.get_or_init(|| Box::new(entry)))
    }

    /// The secret `name`, decoded on first use (which fails for a secret that is valid
    /// JSON but not a valid secret, e.g. without a value).
    pub fn get(&self, name: &str) -> Result<Option<&Entry>> {
        match self.secrets.get(name) {
            Some(slot) => self.entry_of(name, slot).map(Some),
            None => Ok(None),
        }
    }

    /// Whether a secret of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.secrets.contains_key(name)
    }

    /// The names of the secrets, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(|name| &**name)
    }

    /// How many secrets there are.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Every secret in name order, each decoded on the way.
    pub fn entries(&self) -> impl Iterator<Item = Result<(&str, &Entry)>> {
        self.secrets
            .iter()
            .map(|(name, slot)| self.entry_of(name, slot).map(|e| (&**name, e)))
    }

    /// Takes a secret out of its slot, decoding it if needed.
    fn take(&mut self, name: &str) -> Result<Option<Entry>> {
        if let Some(slot) = self.secrets.get(name) {
            self.entry_of(name, slot)?;
        }
        Ok(self
            .secrets
            .remove(name)
            .and_then(|mut slot| slot.entry.take())
            .map(|entry| *entry))
    }

    /// Stores `value` under `name`; an existing secret keeps its created time, its unknown
    /// fields and (unless a new one is given) its description.
    pub fn set(
        &mut self,
        name: &str,
        value: SecretString,
        description: Option<String>,
        now: &str,
    ) -> Result<()> {
        // Every path that sets a value (set, import, sync, rotate, edit, a merge) meets
        // this: a name is shared or a group's, never both.
        if let Some(Value::Object(groups)) = self.extra.get(crate::sealed::GROUP_VALUES_FIELD)
            && groups.contains_key(name)
        {
            return Err(Error::Usage(format!(
                "{} is a value of a group: set it with 'vault set {} --group GROUP', or 'vault rm {}' first to make it shared",
                crate::names::printable(name, false),
                crate::names::printable(name, false),
                crate::names::printable(name, false)
            )));
        }
        let entry = match self.take(name)? {
            Some(mut entry) => {
                // The same value again leaves it what a removed reader saw.
                if entry.value.expose_secret() != value.expose_secret() {
                    self.clear_stale(name);
                }
                entry.value = value;
                entry.updated = now.to_string();
                if description.is_some() {
                    entry.description = description;
                }
                entry
            }
            None => Entry {
                value,
                created: now.to_string(),
                updated: now.to_string(),
                description,
                extra: Map::new(),
            },
        };
        self.secrets.insert(Name::from(name), Slot::decoded(entry));
        Ok(())
    }

    /// The plaintext a document read for a change was parsed from.
    pub fn source(&self) -> &[u8] {
        &self.source
    }

    /// A keyed fingerprint of a secret's value for diffs: it changes when the value does,
    /// and, keyed by a random key kept inside the encrypted document, tells nothing about
    /// the value to someone who only sees the diff. `None` for a document written before
    /// vaults had the key.
    pub fn fingerprint(&self, name: &str, value: &SecretString) -> Option<String> {
        use hmac::Mac;
        let key = self.extra.get(DIFF_KEY_FIELD)?.as_str()?;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).ok()?;
        mac.update(name.as_bytes());
        mac.update(&[0]);
        mac.update(value.expose_secret().as_bytes());
        let digest = mac.finalize().into_bytes();
        Some(digest[..4].iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Gives the document its fingerprint key if it has none (see [`Document::fingerprint`]).
    pub fn ensure_fingerprint_key(&mut self) -> Result<()> {
        if self.extra.contains_key(DIFF_KEY_FIELD) {
            return Ok(());
        }
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)
            .map_err(|e| Error::Failed(format!("no randomness for the diff key: {e}")))?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        self.extra.insert(DIFF_KEY_FIELD.into(), Value::String(hex));
        Ok(())
    }

    /// Changes what is kept beside a secret's value (tags, rotation period, description)
    /// through `change`, leaving the value and its times as they are. `false` if there is
    /// no such secret.
    pub fn change_entry(&mut self, name: &str, change: impl FnOnce(&mut Entry)) -> Result<bool> {
        let Some(mut entry) = self.take(name)? else {
            return Ok(false);
        };
        change(&mut entry);
        self.secrets.insert(Name::from(name), Slot::decoded(entry));
        Ok(true)
    }

    /// Stores `entry` under `name` as it is (times and fields included): what a merge
    /// takes from one side.
    pub fn put(&mut self, name: &str, entry: Entry) {
        self.secrets.insert(Name::from(name), Slot::decoded(entry));
    }

    /// The membership block as stored, if any (see `store::membership`).
    pub fn membership(&self) -> Option<&str> {
        self.membership.as_deref()
    }

    /// Puts a membership block (as stored) and the recipients it lists in place. When that
    /// leaves out a recipient, the fingerprint key is renewed: whoever was removed knew the
    /// old one, and with it could test guesses against the fingerprints of later diffs (a
    /// 4-digit PIN in well under a second). Every way a recipient goes passes here — a
    /// removal, a version accepted forward, a merge that takes a removal.
    pub fn set_membership(&mut self, membership: String, recipients: Vec<String>) {
        let removed = self.recipients.iter().any(|old| {
            !recipients
                .iter()
                .any(|new| crate::recipients::same_key(old, new))
        });
        let gone: Vec<String> = self
            .recipients
            .iter()
            .filter(|old| {
                !recipients
                    .iter()
                    .any(|new| crate::recipients::same_key(old, new))
            })
            .cloned()
            .collect();
        // The members as the block before this one names them: a removed recipient is
        // shown by its member name when it had one.
        let before = self
            .membership
            .as_deref()
            .and_then(|json| crate::membership::Membership::parse_unchecked(json).ok());
        for recipient in gone {
            // Every shared secret; a group's values stale with a member's removal from
            // the group, which comes first (`vault group remove`).
            let names: Vec<String> = self.names().map(str::to_string).collect();
            let who = before
                .as_ref()
                .and_then(|b| {
                    b.body
                        .members
                        .iter()
                        .find(|m| crate::recipients::same_key(&m.recipient, &recipient))
                })
                .map_or_else(
                    || recipient.clone(),
                    |m| format!("{} ({recipient})", m.name),
                );
            self.record_stale(&who, &timestamp_now(), names);
            self.drop_personal_of(&recipient);
        }
        self.membership = Some(membership);
        self.recipients = recipients;
        if removed && self.extra.remove(DIFF_KEY_FIELD).is_some() {
            // Without randomness now, no key at all (the next write makes one) rather
            // than the old one.
            let _ = self.ensure_fingerprint_key();
        }
    }

    /// Notes that `who` (a removed recipient, or a member taken out of a group) could read
    /// `names` until `at`: each stays stale until its value changes or it is removed.
    pub fn record_stale(&mut self, who: &str, at: &str, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        let record = serde_json::json!({"who": who, "removed": at, "secrets": names});
        match self.extra.get_mut(STALE_FIELD) {
            Some(Value::Array(records)) => records.push(record),
            _ => {
                self.extra
                    .insert(STALE_FIELD.into(), Value::Array(vec![record]));
            }
        }
    }

    /// The secrets a removed reader could read that have not changed since: each name with
    /// who could read it and when they were removed, in name order.
    pub fn stale(&self) -> BTreeMap<String, Vec<Removal>> {
        let mut stale: BTreeMap<String, Vec<Removal>> = BTreeMap::new();
        let Some(Value::Array(records)) = self.extra.get(STALE_FIELD) else {
            return stale;
        };
        let groups = self.sealed().groups;
        for record in records {
            let text = |field: &str| record.get(field).and_then(Value::as_str).unwrap_or("");
            let removal = Removal {
                who: text("who").to_string(),
                removed: text("removed").to_string(),
            };
            let names = record.get("secrets").and_then(Value::as_array);
            for name in names.into_iter().flatten().filter_map(Value::as_str) {
                if self.contains(name) || groups.contains_key(name) {
                    stale
                        .entry(name.to_string())
                        .or_default()
                        .push(removal.clone());
                }
            }
        }
        stale
    }

    /// Takes `name` out of the stale records (its value changed, or it is gone); a record
    /// left with no secret is dropped.
    pub(crate) fn clear_stale(&mut self, name: &str) {
        let Some(Value::Array(records)) = self.extra.get_mut(STALE_FIELD) else {
            return;
        };
        for record in records.iter_mut() {
            if let Some(Value::Array(names)) = record.get_mut("secrets") {
                names.retain(|n| n.as_str() != Some(name));
            }
        }
        records.retain(|record| {
            record
                .get("secrets")
                .and_then(Value::as_array)
                .is_some_and(|names| !names.is_empty())
        });
        if records.is_empty() {
            self.extra.remove(STALE_FIELD);
        }
    }

    /// Moves `old`'s place in the stale records to `new` (a rename keeps the value).
    fn rename_stale(&mut self, old: &str, new: &str) {
        let Some(Value::Array(records)) = self.extra.get_mut(STALE_FIELD) else {
            return;
        };
        for record in records.iter_mut() {
            if let Some(Value::Array(names)) = record.get_mut("secrets") {
                for n in names.iter_mut() {
                    if n.as_str() == Some(old) {
                        *n = Value::String(new.to_string());
                    }
                }
            }
        }
    }

    /// Whether `other` holds the same secrets, each with the same value, times,
    /// description and other fields, and the same unknown top-level fields: nothing a
    /// writer put there differs.
    pub fn same_content(&self, other: &Document) -> Result<bool> {
        if self.extra != other.extra || !self.names().eq(other.names()) {
            return Ok(false);
        }
        let text = |entry: &Entry| {
            serde_json::to_vec(entry)
                .map(Zeroizing::new)
                .map_err(|e| Error::Failed(format!("cannot compare secrets: {e}")))
        };
        for (mine, theirs) in self.entries().zip(other.entries()) {
            if text(mine?.1)? != text(theirs?.1)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Replaces every secret with `other`'s, entries as they are (a restore).
    pub fn replace_secrets(&mut self, other: &Document) -> Result<()> {
        let entries = other
            .entries()
            .map(|e| e.map(|(name, entry)| (Name::from(name), Slot::decoded(entry.clone()))))
            .collect::<Result<BTreeMap<_, _>>>()?;
        self.secrets = entries;
        Ok(())
    }

    /// A new document with this one's recipients, membership, generation and unknown
    /// top-level fields, and no secrets.
    pub fn empty_like(&self) -> Document {
        Document {
            recipients: self.recipients.clone(),
            membership: self.membership.clone(),
            generation: self.generation,
            extra: self.extra.clone(),
            ..Document::new(Vec::new())
        }
    }

    /// Removes a secret; its entry, if there was one.
    pub fn remove(&mut self, name: &str) -> Result<Option<Entry>> {
        let removed = self.take(name)?;
        if removed.is_some() {
            self.clear_stale(name);
            self.drop_personal_of_name(name);
        }
        Ok(removed)
    }

    /// Renames a secret; its times and fields move with it. `false` if there is no `old`.
    pub fn rename(&mut self, old: &str, new: &str, now: &str) -> Result<bool> {
        let Some(mut entry) = self.take(old)? else {
            return Ok(false);
        };
        entry.updated = now.to_string();
        self.secrets.insert(Name::from(new), Slot::decoded(entry));
        self.clear_stale(new);
        self.rename_stale(old, new);
        self.drop_personal_of_name(old);
        self.drop_personal_of_name(new);
        Ok(true)
    }
}

#[cfg(test)]
mod tests;
