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
}

impl Slot {
    fn decoded(entry: Entry) -> Slot {
        Slot {
            span: None,
            entry: OnceCell::from(Box::new(entry)),
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

/// The current time as RFC 3339 UTC, to the second.
pub fn timestamp_now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

impl Entry {
    /// The value.
    pub fn value(&self) -> &SecretString {
        &self.value
    }

    /// The value, taking it out of the entry (no copy).
    pub fn into_value(self) -> SecretString {
        self.value
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
        if let Some(entry) = slot.entry.get() {
            return Ok(entry);
        }
        let span = slot.span.clone().unwrap_or_default();
        let entry: Entry = serde_json::from_slice(&self.source[span]).map_err(|e| {
            Error::BadData(format!(
                "{} decrypts but its secret {} is not valid ({e})",
                self.what,
                crate::names::printable(name, false)
            ))
        })?;
        Ok(slot.entry.get_or_init(|| Box::new(entry)))
    }

    /// Serializes into a buffer that is zeroed on drop.
    pub fn to_json(&self) -> Result<SecretBytes> {
        let estimate = self.source.len()
            + 256
            + self
                .secrets
                .iter()
                .filter(|(_, slot)| slot.span.is_none())
                .map(|(name, slot)| {
                    let value = slot
                        .entry
                        .get()
                        .map_or(0, |e| e.value.expose_secret().len());
                    name.len() + value * 2 + 160
                })
                .sum::<usize>();
        // Sized to save the copies of growing. Escaped control characters and long
        // descriptions can outgrow the estimate: `SecretBytes` then wipes what it leaves.
        let mut out = SecretBytes::with_capacity(estimate);
        self.write_json(&mut out)
            .map_err(|e| Error::Failed(format!("cannot serialize the vault: {e}")))?;
        Ok(out)
    }

    /// Writes the document as JSON. Secrets still in their text are copied as they are.
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        self.write_json_open(out)?;
        out.write_all(b"}")
    }

    /// The JSON without its closing brace, for a signature to follow.
    pub fn write_json_open(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.partial {
            return Err(std::io::Error::other(
                "internal error: a vault read in part cannot be written back",
            ));
        }
        out.write_all(b"{\"format\":")?;
        serde_json::to_writer(&mut *out, FORMAT)?;
        match &self.membership {
            Some(membership) => write!(
                out,
                ",\"version\":{VERSION},\"membership\":{membership},\"generation\":{}",
                self.generation
            )?,
            // A document without a block is written as version 1, which has none.
            None => out.write_all(b",\"version\":1")?,
        }
        out.write_all(b",\"recipients\":")?;
        serde_json::to_writer(&mut *out, &self.recipients)?;
        out.write_all(b",\"secrets\":{")?;
        // Source text not yet copied: the span of an untouched secret and of those that
        // follow it in the source as they follow it here, with exactly the separator this
        // loop would write between them — a run of them is copied back in one piece.
        let mut run: Option<Range<usize>> = None;
        for (index, (name, slot)) in self.secrets.iter().enumerate() {
            if let (Some(span), Some(pending)) = (&slot.span, &mut run)
                && self
                    .source
                    .get(pending.end..span.start)
                    .is_some_and(|between| is_separator(between, name))
            {
                pending.end = span.end;
                continue;
            }
            if let Some(pending) = run.take() {
                out.write_all(&self.source[pending])?;
            }
            if index > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, &**name)?;
            out.write_all(b":")?;
            match (&slot.span, slot.entry.get()) {
                (Some(span), _) => run = Some(span.clone()),
                (None, Some(entry)) => serde_json::to_writer(&mut *out, entry)?,
                (None, None) => {
                    return Err(std::io::Error::other(format!(
                        "internal error: the secret {} has neither text nor value",
                        &**name
                    )));
                }
            }
        }
        if let Some(pending) = run {
            out.write_all(&self.source[pending])?;
        }
        out.write_all(b"}")?;
        for (key, value) in &self.extra {
            out.write_all(b",")?;
            serde_json::to_writer(&mut *out, key)?;
            out.write_all(b":")?;
            serde_json::to_writer(&mut *out, value)?;
        }
        Ok(())
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
        let entry = match self.take(name)? {
            Some(mut entry) => {
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
        self.membership = Some(membership);
        self.recipients = recipients;
        if removed && self.extra.remove(DIFF_KEY_FIELD).is_some() {
            // Without randomness now, no key at all (the next write makes one) rather
            // than the old one.
            let _ = self.ensure_fingerprint_key();
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
        self.take(name)
    }

    /// Renames a secret; its times and fields move with it. `false` if there is no `old`.
    pub fn rename(&mut self, old: &str, new: &str, now: &str) -> Result<bool> {
        let Some(mut entry) = self.take(old)? else {
            return Ok(false);
        };
        entry.updated = now.to_string();
        self.secrets.insert(Name::from(new), Slot::decoded(entry));
        Ok(true)
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("value", self.value.expose_secret())?;
        map.serialize_entry("created", &self.created)?;
        map.serialize_entry("updated", &self.updated)?;
        if let Some(description) = &self.description {
            map.serialize_entry("description", description)?;
        }
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

/// Just the fields that say what a document is.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u64>,
}

/// A secret's text borrowed from the decrypted plaintext when the JSON holds it without
/// escapes (no copy at all), or decoded into a buffer that is zeroed on drop.
pub enum SecretText<'p> {
    /// Borrowed from the plaintext.
    Borrowed(&'p str),
    /// Decoded into a buffer wiped on drop.
    Owned(Zeroizing<String>),
}

impl SecretText<'_> {
    /// The text.
    pub fn as_str(&self) -> &str {
        match self {
            SecretText::Borrowed(text) => text,
            SecretText::Owned(text) => text,
        }
    }
}

impl fmt::Debug for SecretText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText([REDACTED])")
    }
}

/// What a reader keeps of one secret.
enum Take {
    Skip,
    Entry,
    Value,
    Span,
}

/// Receives the secrets of a document as the parser meets them, and decides for each name
/// how much of it is decoded: a reader that wants one secret of 10,000 skips the other
/// 9,999 without allocating anything for them.
trait Sink<'p> {
    fn take(&mut self, name: &str) -> Take;
    fn entry(&mut self, _name: Cow<'p, str>, _entry: Entry) {}
    fn value(&mut self, _name: Cow<'p, str>, _value: SecretText<'p>) {}
    fn span(&mut self, _name: Cow<'p, str>, _text: &'p str) {}
}

/// Whether `between` is exactly `,"NAME":`, the separator vault writes before a secret (a
/// name written with escapes never matches, so it is written anew).
fn is_separator(between: &[u8], name: &str) -> bool {
    between.len() == name.len() + 4
        && between.starts_with(b",\"")
        && between.ends_with(b"\":")
        && &between[2..between.len() - 2] == name.as_bytes()
}

/// Keeps every secret as its span of the plaintext (see [`Document::for_change`]).
struct Spans<'p> {
    source: &'p [u8],
    spans: Vec<(Name, Range<usize>)>,
}

impl<'p> Sink<'p> for Spans<'p> {
    fn take(&mut self, _name: &str) -> Take {
        Take::Span
    }
    fn span(&mut self, name: Cow<'p, str>, text: &'p str) {
        let start = text.as_ptr() as usize - self.source.as_ptr() as usize;
        self.spans.push((name.into(), start..start + text.len()));
    }
}

/// Keeps whole entries whose name passes a filter (every entry, for a full document).
struct Entries<'f> {
    keep: &'f dyn Fn(&str) -> bool,
    entries: Vec<(String, Entry)>,
}

impl<'p> Sink<'p> for Entries<'_> {
    fn take(&mut self, name: &str) -> Take {
        if (self.keep)(name) {
            Take::Entry
        } else {
            Take::Skip
        }
    }
    fn entry(&mut self, name: Cow<'p, str>, entry: Entry) {
        self.entries.push((name.into_owned(), entry));
    }
}

/// Keeps names and values, borrowed where possible, of the secrets that pass a filter.
struct Values<'p, 'f> {
    keep: &'f dyn Fn(&str) -> bool,
    values: Vec<(Cow<'p, str>, SecretText<'p>)>,
}

impl<'p> Sink<'p> for Values<'p, '_> {
    fn take(&mut self, name: &str) -> Take {
        if (self.keep)(name) {
            Take::Value
        } else {
            Take::Skip
        }
    }
    fn value(&mut self, name: Cow<'p, str>, value: SecretText<'p>) {
        self.values.push((name, value));
    }
}

/// Keeps only the names that start with a prefix.
struct Names<'f> {
    prefix: &'f str,
    names: Vec<String>,
}

impl<'p> Sink<'p> for Names<'_> {
    fn take(&mut self, name: &str) -> Take {
        if name.starts_with(self.prefix) {
            self.names.push(name.to_string());
        }
        Take::Skip
    }
}

/// What one pass over a document met, checked by [`scan`].
struct Scanned {
    format: Option<String>,
    version: Option<u64>,
    recipients: Vec<String>,
    membership: Option<String>,
    generation: u64,
    extra: Map<String, Value>,
    /// Each secret's name was greater than the one before (so none came twice).
    names_in_order: bool,
}

/// What a reader gets from `scan` besides what it handed the sink: what the document
/// says about itself, which the trust check reads.
pub struct Found {
    /// The recipients it lists.
    pub recipients: Vec<String>,
    /// The membership block as stored.
    pub membership: Option<String>,
    /// Its content generation.
    pub generation: u64,
    extra: Map<String, Value>,
    names_in_order: bool,
}

/// Parses a decrypted vault, feeding its secrets to `sink` and refusing other formats and
/// newer versions. Unknown top-level fields are kept only with `keep_extra` (for a
/// document that will be written back).
fn scan<'p>(
    plaintext: &'p [u8],
    what: &str,
    sink: &mut dyn Sink<'p>,
    keep_extra: bool,
) -> Result<Found> {
    let mut scanned = Scanned {
        format: None,
        version: None,
        recipients: Vec::new(),
        membership: None,
        generation: 0,
        extra: Map::new(),
        names_in_order: true,
    };
    // Checked as UTF-8 once, in one fast pass (JSON is UTF-8): the parser then need not
    // check each name, value and span it borrows again.
    let text = std::str::from_utf8(plaintext).map_err(|error| {
        Error::BadData(format!(
            "{what} decrypts but its content is not a valid vault document (not UTF-8 at byte {})",
            error.valid_up_to()
        ))
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = DocumentSeed {
        sink,
        keep_extra,
        scanned: &mut scanned,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    match parsed {
        Ok(()) => {}
        Err(error) => {
            // One pass in the common case; the header is read on its own only to explain
            // a failure, because a newer format may not parse as this one.
            if let Ok(header) =
                Header::deserialize(&mut serde_json::Deserializer::from_slice(plaintext))
            {
                check_header(header.format.as_deref(), header.version, what)?;
            }
            return Err(Error::BadData(format!(
                "{what} decrypts but its content is not a valid vault document ({error})"
            )));
        }
    }
    check_header(scanned.format.as_deref(), scanned.version, what)?;
    Ok(Found {
        recipients: scanned.recipients,
        membership: scanned.membership,
        generation: scanned.generation,
        extra: scanned.extra,
        names_in_order: scanned.names_in_order,
    })
}

/// Refuses a document of another format or a newer version.
fn check_header(format: Option<&str>, version: Option<u64>, what: &str) -> Result<()> {
    if format != Some(FORMAT) {
        return Err(Error::BadData(format!(
            "{what} decrypts but is not a secretsd vault (its \"format\" is not \"{FORMAT}\")"
        )));
    }
    match version {
        Some(1..=VERSION) => Ok(()),
        Some(v) if v > VERSION => Err(Error::BadData(format!(
            "{what} uses vault format version {v}, newer than this vault {} understands (version {VERSION}); upgrade vault",
            env!("CARGO_PKG_VERSION")
        ))),
        _ => Err(Error::BadData(format!(
            "{what} has a missing or unknown format version"
        ))),
    }
}

/// What a document says about itself, which the trust layer checks before a reader
/// returns anything.
#[derive(Clone, Copy)]
pub struct Said<'a> {
    /// The recipients it lists.
    pub recipients: &'a [String],
    /// The membership block as stored.
    pub membership: Option<&'a str>,
    /// Its content generation.
    pub generation: u64,
}

impl Found {
    fn said(&self) -> Said<'_> {
        Said {
            recipients: &self.recipients,
            membership: self.membership.as_deref(),
            generation: self.generation,
        }
    }
}

impl Document {
    /// What this document says about itself.
    pub fn said(&self) -> Said<'_> {
        Said {
            recipients: &self.recipients,
            membership: self.membership.as_deref(),
            generation: self.generation,
        }
    }
}

/// The decrypted plaintext of a vault, parsed only as far as a reader asks.
pub struct Plaintext {
    bytes: SecretBytes,
    what: String,
    /// Asked about what the first pass finds, before anything is returned.
    vet: Option<Box<Vet>>,
}

/// Judges a version by what the document says and what its signature says.
type Vet = dyn Fn(&Said<'_>, &Signed) -> Result<()>;

impl Plaintext {
    /// `bytes` decrypted from the file `what` names ("the vault /path").
    pub fn new(bytes: SecretBytes, what: String) -> Self {
        Plaintext {
            bytes,
            what,
            vet: None,
        }
    }

    /// Makes every reader check what the document says about itself, and its signature,
    /// with `vet` before it returns anything.
    pub fn vetted_by(mut self, vet: Box<Vet>) -> Self {
        self.vet = Some(vet);
        self
    }

    /// The decrypted bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Runs `read` (one pass over the document) and, when the plaintext is vetted, checks
    /// its signature and has the vet judge what the pass found (`said`) before anything is
    /// returned. (Checking the signature on a second thread during the pass was tried: on
    /// two cores a thread this short starts on its parent's CPU and preempts it, and even
    /// moved to the other CPU it saved nothing measurable at 10,000 secrets.)
    fn vetted<T>(
        &self,
        read: impl FnOnce() -> Result<T>,
        said: impl FnOnce(&T) -> Said<'_>,
    ) -> Result<T> {
        let Some(vet) = &self.vet else {
            return read();
        };
        let result = read()?;
        vet(&said(&result), &crate::signature::check(&self.bytes))?;
        Ok(result)
    }

    /// The whole document, as a write needs it.
    pub fn document(&self) -> Result<Document> {
        self.vetted(
            || Document::from_json(&self.bytes, &self.what),
            Document::said,
        )
    }

    /// A document holding only the secrets whose names pass `keep`, for reading: it
    /// cannot be written back.
    pub fn select(&self, keep: &dyn Fn(&str) -> bool) -> Result<Document> {
        let mut document = self.vetted(
            || Document::decode(&self.bytes, &self.what, keep, false),
            Document::said,
        )?;
        document.partial = true;
        Ok(document)
    }

    /// A document holding at most the secret `name`, for reading, as [`Plaintext::select`].
    pub fn select_one(&self, name: &str) -> Result<Document> {
        self.select(&|n| n == name)
    }

    /// The names of the secrets that start with `prefix`, in order, without decoding any
    /// value (what completion offers).
    pub fn names_starting_with(&self, prefix: &str) -> Result<Vec<String>> {
        let (names, found) = self.vetted(
            || {
                let mut names = Names {
                    prefix,
                    names: Vec::new(),
                };
                let found = scan(&self.bytes, &self.what, &mut names, false)?;
                Ok((names.names, found))
            },
            |(_, found)| found.said(),
        )?;
        let mut names = names;
        if !found.names_in_order {
            names.sort();
            names.dedup();
        }
        Ok(names)
    }

    /// Names and values of the secrets whose names pass `keep`, in name order, borrowed
    /// from the plaintext where the JSON allows: what an exec of thousands of secrets
    /// needs, without a copy of each.
    #[allow(clippy::type_complexity)]
    pub fn values(
        &self,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(Cow<'_, str>, SecretText<'_>)>> {
        let (values, found) = self.vetted(
            || {
                let mut values = Values {
                    keep,
                    values: Vec::new(),
                };
                let found = scan(&self.bytes, &self.what, &mut values, false)?;
                Ok((values.values, found))
            },
            |(_, found)| found.said(),
        )?;
        let mut values = values;
        if found.names_in_order {
            return Ok(values);
        }
        // As the full parse has them: sorted, and of a repeated name the last.
        values.sort_by(|a, b| a.0.cmp(&b.0));
        values.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        Ok(values)
    }
}

/// The whole document; what it meets goes into `scanned`, the secrets to the sink.
struct DocumentSeed<'s, 'p> {
    sink: &'s mut dyn Sink<'p>,
    keep_extra: bool,
    scanned: &'s mut Scanned,
}

impl<'p> DeserializeSeed<'p> for DocumentSeed<'_, 'p> {
    type Value = ();
    fn deserialize<D: Deserializer<'p>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'p> Visitor<'p> for DocumentSeed<'_, 'p> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a vault document (a JSON object)")
    }
    fn visit_map<A: MapAccess<'p>>(self, mut map: A) -> Result<(), A::Error> {
        let scanned = self.scanned;
        let mut saw_secrets = false;
        // The fields that say what the document is, and whom it is for, may come once: a
        // second would let two readers disagree about what was signed.
        let mut seen: [bool; 5] = [false; 5];
        const ONCE: [&str; 5] = [
            "format",
            "version",
            "recipients",
            "membership",
            "generation",
        ];
        while let Some(key) = map.next_key_seed(NameSeed)? {
            if let Some(index) = ONCE.iter().position(|field| *field == &*key)
                && std::mem::replace(&mut seen[index], true)
            {
                return Err(de::Error::duplicate_field(ONCE[index]));
            }
            match &*key {
                "format" => scanned.format = map.next_value()?,
                "version" => scanned.version = map.next_value()?,
                "recipients" => scanned.recipients = map.next_value()?,
                "membership" => {
                    let block: &'p RawValue = map.next_value()?;
                    scanned.membership = Some(block.get().to_string());
                }
                "generation" => scanned.generation = map.next_value()?,
                "secrets" => {
                    if std::mem::replace(&mut saw_secrets, true) {
                        return Err(de::Error::duplicate_field("secrets"));
                    }
                    map.next_value_seed(SecretsSeed {
                        sink: &mut *self.sink,
                        scanned: &mut *scanned,
                    })?;
                }
                // Checked by `signature::check` on the bytes; a rewrite signs anew.
                "signature" => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ if self.keep_extra => {
                    let value = map.next_value()?;
                    scanned.extra.insert(key.into_owned(), value);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !saw_secrets {
            return Err(de::Error::missing_field("secrets"));
        }
        Ok(())
    }
}

/// A map key, borrowed from the plaintext unless it holds escapes.
struct NameSeed;

impl<'p> DeserializeSeed<'p> for NameSeed {
    type Value = Cow<'p, str>;
    fn deserialize<D: Deserializer<'p>>(self, deserializer: D) -> Result<Cow<'p, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'p> Visitor<'p> for NameSeed {
    type Value = Cow<'p, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, name: &'p str) -> Result<Cow<'p, str>, E> {
        Ok(Cow::Borrowed(name))
    }
    fn visit_str<E: de::Error>(self, name: &str) -> Result<Cow<'p, str>, E> {
        Ok(Cow::Owned(name.to_string()))
    }
}

/// A secret's value, borrowed from the plaintext unless it holds escapes.
struct TextSeed;

impl<'p> DeserializeSeed<'p> for TextSeed {
    type Value = SecretText<'p>;
    fn deserialize<D: Deserializer<'p>>(self, deserializer: D) -> Result<SecretText<'p>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'p> Visitor<'p> for TextSeed {
    type Value = SecretText<'p>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, text: &'p str) -> Result<SecretText<'p>, E> {
        Ok(SecretText::Borrowed(text))
    }
    fn visit_str<E: de::Error>(self, text: &str) -> Result<SecretText<'p>, E> {
        Ok(SecretText::Owned(Zeroizing::new(text.to_string())))
    }
}

/// The `secrets` object, each entry handed to the sink as far as it asks.
struct SecretsSeed<'s, 'p> {
    sink: &'s mut dyn Sink<'p>,
    scanned: &'s mut Scanned,
}

impl<'p> DeserializeSeed<'p> for SecretsSeed<'_, 'p> {
    type Value = ();
    fn deserialize<D: Deserializer<'p>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'p> Visitor<'p> for SecretsSeed<'_, 'p> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the secrets (a JSON object of names to secrets)")
    }
    fn visit_map<A: MapAccess<'p>>(self, mut map: A) -> Result<(), A::Error> {
        let mut previous: Option<Cow<'p, str>> = None;
        while let Some(name) = map.next_key_seed(NameSeed)? {
            if previous.as_ref().is_some_and(|previous| *previous >= name) {
                self.scanned.names_in_order = false;
            }
            previous = Some(name.clone());
            match self.sink.take(&name) {
                Take::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
                Take::Entry => {
                    let entry = map.next_value::<Entry>()?;
                    self.sink.entry(name, entry);
                }
                Take::Value => {
                    let value = map.next_value_seed(ValueSeed)?;
                    self.sink.value(name, value);
                }
                Take::Span => {
                    let text = map.next_value::<&'p RawValue>()?;
                    self.sink.span(name, text.get());
                }
            }
        }
        Ok(())
    }
}

/// Only the `value` of a secret, its other fields skipped.
struct ValueSeed;

impl<'p> DeserializeSeed<'p> for ValueSeed {
    type Value = SecretText<'p>;
    fn deserialize<D: Deserializer<'p>>(self, deserializer: D) -> Result<SecretText<'p>, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'p> Visitor<'p> for ValueSeed {
    type Value = SecretText<'p>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a secret (a JSON object with a \"value\")")
    }
    fn visit_map<A: MapAccess<'p>>(self, mut map: A) -> Result<SecretText<'p>, A::Error> {
        let mut value = None;
        while let Some(key) = map.next_key_seed(NameSeed)? {
            if key == "value" {
                value = Some(map.next_value_seed(TextSeed)?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        value.ok_or_else(|| de::Error::missing_field("value"))
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a secret (a JSON object with a \"value\")")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
                let mut value: Option<SecretString> = None;
                let mut created = None;
                let mut updated = None;
                let mut description = None;
                let mut extra = Map::new();
                while let Some(key) = map.next_key_seed(NameSeed)? {
                    match &*key {
                        "value" => value = Some(map.next_value()?),
                        "created" => created = Some(map.next_value()?),
                        "updated" => updated = Some(map.next_value()?),
                        "description" => description = map.next_value()?,
                        _ => {
                            let field = map.next_value()?;
                            extra.insert(key.into_owned(), field);
                        }
                    }
                }
                let value = value.ok_or_else(|| de::Error::missing_field("value"))?;
                let created: String = created.unwrap_or_default();
                let updated = updated.unwrap_or_else(|| created.clone());
                Ok(Entry {
                    value,
                    created,
                    updated,
                    description,
                    extra,
                })
            }
        }
        deserializer.deserialize_map(EntryVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let json =
            br#"{"format":"secretsd-vault","version":1,"recipients":["age1x"],"future":{"a":1},
            "secrets":{"A":{"value":"v","created":"c","updated":"u","labels":["x"]}}}"#;
        let doc = Document::from_json(json, "test").unwrap();
        let out = doc.to_json().unwrap();
        let reparsed: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(reparsed["future"]["a"], 1);
        assert_eq!(reparsed["secrets"]["A"]["labels"][0], "x");
        assert_eq!(reparsed["secrets"]["A"]["value"], "v");
    }

    #[test]
    fn a_document_that_is_not_utf8_is_refused_naming_where() {
        let text = b"{\"format\":\"secretsd-vault\",\"version\":1,\"recipients\":[],\"secrets\":{\"A\":{\"value\":\"\xff\"}}}";
        let at = text.iter().position(|&b| b == 0xff).unwrap();
        let error = Document::from_json(text, "the vault v")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!(
                "not a valid vault document (not UTF-8 at byte {at})"
            )),
            "{error}"
        );
    }

    /// Names read for a change (plain, or escaped in the JSON) stay right when the document
    /// moves, and after changes.
    #[test]
    fn names_read_for_a_change_survive_moves_and_changes() {
        let text = br#"{"format":"secretsd-vault","version":1,"recipients":[],
            "secrets":{"B":{"value":"b"},"A\u0041":{"value":"aa"},"C":{"value":"c"}}}"#;
        let document = Document::for_change(SecretBytes::new(text.to_vec()), "v").unwrap();
        let mut moved = vec![Box::new(document)];
        let document = &mut moved[0];
        assert_eq!(document.names().collect::<Vec<_>>(), ["AA", "B", "C"]);
        document
            .set("AB", SecretString::from("ab".to_string()), None, "t")
            .unwrap();
        assert!(document.rename("C", "0", "t").unwrap());
        let document = moved.pop().unwrap();
        assert_eq!(document.names().collect::<Vec<_>>(), ["0", "AA", "AB", "B"]);
        assert_eq!(
            document.get("AA").unwrap().unwrap().value().expose_secret(),
            "aa"
        );
        assert_eq!(
            document.get("B").unwrap().unwrap().value().expose_secret(),
            "b"
        );
        assert!(format!("{document:?}").contains(r#"["0", "AA", "AB", "B"]"#));
    }

    #[test]
    fn newer_versions_are_refused() {
        let json = br#"{"format":"secretsd-vault","version":3,"secrets":{}}"#;
        let err = Document::from_json(json, "test").unwrap_err();
        assert!(err.to_string().contains("version 3"), "{err}");
    }

    #[test]
    fn debug_output_hides_values() {
        let mut doc = Document::new(vec![]);
        doc.set("A", SecretString::from("hunter2".to_string()), None, "now")
            .unwrap();
        assert!(!format!("{doc:?}").contains("hunter2"));
        let text = doc.to_json().unwrap();
        let read = Document::for_change(text, "test").unwrap();
        assert!(!format!("{read:?}").contains("hunter2"));
    }

    /// A change rewrites what it touched and copies every other secret byte for byte,
    /// whatever spacing or field order another writer used.
    #[test]
    fn untouched_secrets_are_written_back_as_they_were_read() {
        let text = br#"{"format":"secretsd-vault","version":1,"recipients":["age1x"],
            "secrets":{"A":{ "updated":"u", "value":"a\u0041", "x":[1,{"y":null}] },
            "B":{"value":"b","created":"c","updated":"u"},"C":{"value":"c"}},"future":true}"#;
        let mut doc = Document::for_change(SecretBytes::new(text.to_vec()), "test").unwrap();
        doc.set("B", SecretString::from("b2".to_string()), None, "now")
            .unwrap();
        assert!(doc.remove("C").unwrap().is_some());
        assert!(doc.rename("A", "Z", "now").is_ok());
        let out = String::from_utf8(doc.to_json().unwrap().to_vec()).unwrap();
        assert!(
            out.contains(r#""B":{"value":"b2","created":"c","updated":"now"}"#),
            "{out}"
        );
        assert!(!out.contains(r#""C""#), "{out}");
        let reparsed: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(reparsed["secrets"]["Z"]["value"], "aA");
        assert_eq!(reparsed["secrets"]["Z"]["x"][1]["y"], Value::Null);
        assert_eq!(reparsed["future"], true);
        let mut doc = Document::for_change(SecretBytes::new(text.to_vec()), "test").unwrap();
        doc.set("D", SecretString::from("d".to_string()), None, "now")
            .unwrap();
        let out = String::from_utf8(doc.to_json().unwrap().to_vec()).unwrap();
        assert!(
            out.contains(r#""A":{ "updated":"u", "value":"a\u0041", "x":[1,{"y":null}] },"B":{"value":"b","created":"c","updated":"u"},"C":{"value":"c"},"D":"#),
            "{out}"
        );
    }

    /// A document read for a change copies runs of untouched secrets in one piece: after
    /// any change, the bytes are those of the same change made to the document decoded
    /// whole and written entry by entry.
    #[test]
    fn runs_of_untouched_secrets_are_copied_as_the_whole_document_would_write_them() {
        let value = |v: &str| SecretString::from(v.to_string());
        let mut written = Document::new(vec!["age1x".into()]);
        for name in ["A", "B", "C", "D", "E", "F\u{e9}"] {
            written.set(name, value(name), None, "t0").unwrap();
        }
        let text = written.to_json().unwrap();
        type Change = fn(&mut Document);
        let changes: [(&str, Change); 8] = [
            ("nothing", |_| {}),
            ("set the first", |d| {
                d.set("A", SecretString::from("a".to_string()), None, "t1")
                    .unwrap()
            }),
            ("set one between", |d| {
                d.set("C", SecretString::from("c".to_string()), None, "t1")
                    .unwrap()
            }),
            ("set the last", |d| {
                d.set("F\u{e9}", SecretString::from("f".to_string()), None, "t1")
                    .unwrap()
            }),
            ("remove the first", |d| drop(d.remove("A").unwrap())),
            ("remove one between", |d| drop(d.remove("C").unwrap())),
            ("add between", |d| {
                d.set("BB", SecretString::from("bb".to_string()), None, "t1")
                    .unwrap()
            }),
            ("rename", |d| assert!(d.rename("B", "Z", "t1").unwrap())),
        ];
        for (what, change) in changes {
            let mut spans = Document::for_change(SecretBytes::new(text.to_vec()), "v").unwrap();
            let mut whole = Document::from_json(&text, "v").unwrap();
            change(&mut spans);
            change(&mut whole);
            assert_eq!(
                String::from_utf8(spans.to_json().unwrap().to_vec()).unwrap(),
                String::from_utf8(whole.to_json().unwrap().to_vec()).unwrap(),
                "{what}"
            );
        }
    }

    /// Every reader hands the vet what the signature says, for a small document and a
    /// large one, and returns nothing the vet refuses.
    #[test]
    fn every_reader_has_the_signature_checked_before_it_returns() {
        use std::sync::{Arc, Mutex};
        let key = crate::signature::SigningKey::from_identity(&age::x25519::Identity::generate())
            .unwrap();
        for count in [3, 8_000] {
            let mut document = Document::new(vec!["age1x".into()]);
            for i in 0..count {
                document
                    .set(
                        &format!("S{i:05}"),
                        SecretString::from(format!("v{i:040}")),
                        None,
                        "t",
                    )
                    .unwrap();
            }
            let json = document.to_json().unwrap();
            let signed =
                crate::signature::sign_object(crate::signature::Domain::Vault, Some(&key), &json)
                    .unwrap();
            let mut tampered = signed.to_vec();
            let at = memchr::memmem::find(&tampered, b"v000").unwrap();
            tampered[at + 1] = b'9';
            for (bytes, valid) in [(signed.to_vec(), true), (tampered, false)] {
                let seen = Arc::new(Mutex::new(Vec::new()));
                let plaintext = Plaintext::new(SecretBytes::new(bytes), "v".into()).vetted_by({
                    let seen = Arc::clone(&seen);
                    Box::new(move |_said: &Said<'_>, signed: &Signed| {
                        seen.lock()
                            .unwrap()
                            .push(matches!(signed, Signed::Valid { .. }));
                        if matches!(signed, Signed::Valid { .. }) {
                            Ok(())
                        } else {
                            Err(Error::LockedOut("refused".into()))
                        }
                    })
                });
                assert_eq!(plaintext.select_one("S00001").is_ok(), valid, "{count}");
                assert_eq!(plaintext.values(&|_| true).is_ok(), valid, "{count}");
                assert_eq!(plaintext.names_starting_with("S").is_ok(), valid, "{count}");
                assert_eq!(*seen.lock().unwrap(), [valid; 3], "{count}");
            }
        }
    }

    /// Every reader reads the whole document, so what follows the secret it wants is
    /// checked too; and the fields that say whom the document is for come once.
    #[test]
    fn readers_read_it_all_and_refuse_a_field_given_twice() {
        let head = br#"{"format":"secretsd-vault","version":1,"recipients":["age1x"],"secrets":{"A":{"value":"a"},"C":{"value":"c"},"#;
        let broken = [&head[..], b"\"E\":{\"value\":broken}}}"].concat();
        let plaintext = Plaintext::new(SecretBytes::new(broken), "v".into());
        assert!(plaintext.select_one("A").is_err());
        assert!(plaintext.names_starting_with("A").is_err());
        for twice in [
            r#""recipients":["age1x"],"recipients":["age1y"]"#,
            r#""generation":3,"generation":9"#,
            r#""membership":{},"membership":{}"#,
        ] {
            let text =
                format!(r#"{{"format":"secretsd-vault","version":2,{twice},"secrets":{{}}}}"#);
            let error = Document::from_json(text.as_bytes(), "v").unwrap_err();
            assert!(error.to_string().contains("duplicate field"), "{error}");
        }
    }

    #[test]
    fn names_out_of_order_or_repeated_are_noticed() {
        for (secrets, in_order) in [
            (r#"{}"#, true),
            (r#"{"A":{"value":"a"},"B":{"value":"b"}}"#, true),
            (r#"{"B":{"value":"b"},"A":{"value":"a"}}"#, false),
            (r#"{"A":{"value":"a"},"A":{"value":"b"}}"#, false),
        ] {
            let text = format!(
                r#"{{"format":"secretsd-vault","version":1,"recipients":[],"secrets":{secrets}}}"#
            );
            let document = Document::from_json(text.as_bytes(), "v").unwrap();
            assert_eq!(document.names_in_order(), in_order, "{secrets}");
            let document = Document::for_change(SecretBytes::new(text.into_bytes()), "v").unwrap();
            assert_eq!(document.names_in_order(), in_order, "{secrets}");
        }
    }

    /// A secret that is JSON but not a secret (no value) is found when it is used, and
    /// named; the others still read.
    #[test]
    fn a_broken_secret_is_named_when_it_is_used() {
        let text = br#"{"format":"secretsd-vault","version":1,"recipients":[],
            "secrets":{"A":{"value":"a"},"B":{"created":"c"}}}"#;
        let doc = Document::for_change(SecretBytes::new(text.to_vec()), "the vault v").unwrap();
        assert_eq!(doc.get("A").unwrap().unwrap().value().expose_secret(), "a");
        let error = doc.get("B").unwrap_err().to_string();
        assert!(error.contains("secret B is not valid"), "{error}");
    }
}
