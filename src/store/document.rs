//! The plaintext inside the vault: one JSON document (docs/DESIGN.md).
//!
//! Serialization is written by hand rather than derived with `#[serde(flatten)]`: flatten
//! buffers every field, values included, into intermediate copies that are never zeroed.
//! Unknown fields, at the top and in each secret, are kept verbatim on rewrite so that an
//! older `vault` never drops what a newer one wrote.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use age::secrecy::{ExposeSecret, SecretString};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub const FORMAT: &str = "secretsd-vault";
pub const VERSION: u64 = 1;

/// The decrypted vault.
#[derive(Debug)]
pub struct Document {
    pub recipients: Vec<String>,
    pub secrets: BTreeMap<String, Entry>,
    extra: Map<String, Value>,
    /// Read with only some of its secrets ([`Plaintext::select`]): never written back.
    partial: bool,
}

/// One secret and what is known about it.
#[derive(Debug)]
pub struct Entry {
    value: SecretString,
    pub created: String,
    pub updated: String,
    pub description: Option<String>,
    extra: Map<String, Value>,
}

/// The current time as RFC 3339 UTC, to the second.
pub fn timestamp_now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

impl Entry {
    pub fn value(&self) -> &SecretString {
        &self.value
    }

    /// The value, taking it out of the entry (no copy).
    pub fn into_value(self) -> SecretString {
        self.value
    }
}

impl Document {
    pub fn new(recipients: Vec<String>) -> Self {
        Document {
            recipients,
            secrets: BTreeMap::new(),
            extra: Map::new(),
            partial: false,
        }
    }

    /// Parses a decrypted vault, refusing other formats and newer versions.
    pub fn from_json(plaintext: &[u8], what: &str) -> Result<Self> {
        Document::parse(plaintext, what, &|_| true, true)
    }

    fn parse(
        plaintext: &[u8],
        what: &str,
        keep: &dyn Fn(&str) -> bool,
        keep_extra: bool,
    ) -> Result<Self> {
        let mut entries = Entries {
            keep,
            entries: Vec::new(),
        };
        let (recipients, extra) = scan(plaintext, what, &mut entries, keep_extra)?;
        Ok(Document {
            recipients,
            // Built in bulk from the (written sorted) entries rather than one insert at a
            // time; a repeated name keeps its last entry, as JSON parsers do.
            secrets: entries.entries.into_iter().collect(),
            extra,
            partial: false,
        })
    }

    /// Serializes into a buffer that is zeroed on drop.
    pub fn to_json(&self) -> Result<Zeroizing<Vec<u8>>> {
        if self.partial {
            return Err(Error::Failed(
                "internal error: a vault read in part cannot be written back".into(),
            ));
        }
        let estimate: usize = 256
            + self
                .secrets
                .iter()
                .map(|(name, entry)| name.len() + entry.value.expose_secret().len() * 2 + 160)
                .sum::<usize>();
        let mut buffer = Zeroizing::new(Vec::with_capacity(estimate));
        serde_json::to_writer(&mut *buffer, self)
            .map_err(|e| Error::Failed(format!("cannot serialize the vault: {e}")))?;
        Ok(buffer)
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.secrets.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.secrets.contains_key(name)
    }

    /// Stores `value` under `name`; an existing secret keeps its created time, its unknown
    /// fields and (unless a new one is given) its description.
    pub fn set(&mut self, name: &str, value: SecretString, description: Option<String>, now: &str) {
        match self.secrets.get_mut(name) {
            Some(entry) => {
                entry.value = value;
                entry.updated = now.to_string();
                if description.is_some() {
                    entry.description = description;
                }
            }
            None => {
                self.secrets.insert(
                    name.to_string(),
                    Entry {
                        value,
                        created: now.to_string(),
                        updated: now.to_string(),
                        description,
                        extra: Map::new(),
                    },
                );
            }
        }
    }

    pub fn remove(&mut self, name: &str) -> Option<Entry> {
        self.secrets.remove(name)
    }

    /// Renames a secret; its times and fields move with it.
    pub fn rename(&mut self, old: &str, new: &str, now: &str) -> Option<()> {
        let mut entry = self.secrets.remove(old)?;
        entry.updated = now.to_string();
        self.secrets.insert(new.to_string(), entry);
        Some(())
    }
}

impl Serialize for Document {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(4 + self.extra.len()))?;
        map.serialize_entry("format", FORMAT)?;
        map.serialize_entry("version", &VERSION)?;
        map.serialize_entry("recipients", &self.recipients)?;
        map.serialize_entry("secrets", &self.secrets)?;
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
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
    Borrowed(&'p str),
    Owned(Zeroizing<String>),
}

impl SecretText<'_> {
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
}

/// Receives the secrets of a document as the parser meets them, and decides for each name
/// how much of it is decoded: a reader that wants one secret of 10,000 skips the other
/// 9,999 without allocating anything for them.
trait Sink<'p> {
    fn take(&mut self, name: &str) -> Take;
    fn entry(&mut self, _name: Cow<'p, str>, _entry: Entry) {}
    fn value(&mut self, _name: Cow<'p, str>, _value: SecretText<'p>) {}
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

/// Keeps only the names.
struct Names(Vec<String>);

impl<'p> Sink<'p> for Names {
    fn take(&mut self, name: &str) -> Take {
        self.0.push(name.to_string());
        Take::Skip
    }
}

/// What one pass over a document found, checked by [`scan`].
struct Scanned {
    format: Option<String>,
    version: Option<u64>,
    recipients: Vec<String>,
    extra: Map<String, Value>,
}

/// Parses a decrypted vault, feeding its secrets to `sink` and refusing other formats and
/// newer versions. Unknown top-level fields are kept only with `keep_extra` (for a
/// document that will be written back).
fn scan<'p>(
    plaintext: &'p [u8],
    what: &str,
    sink: &mut dyn Sink<'p>,
    keep_extra: bool,
) -> Result<(Vec<String>, Map<String, Value>)> {
    let mut deserializer = serde_json::Deserializer::from_slice(plaintext);
    let parsed = DocumentSeed { sink, keep_extra }
        .deserialize(&mut deserializer)
        .and_then(|scanned| deserializer.end().map(|()| scanned));
    let scanned = match parsed {
        Ok(scanned) => {
            check_header(scanned.format.as_deref(), scanned.version, what)?;
            scanned
        }
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
    };
    Ok((scanned.recipients, scanned.extra))
}

/// Refuses a document of another format or a newer version.
fn check_header(format: Option<&str>, version: Option<u64>, what: &str) -> Result<()> {
    if format != Some(FORMAT) {
        return Err(Error::BadData(format!(
            "{what} decrypts but is not a secretsd vault (its \"format\" is not \"{FORMAT}\")"
        )));
    }
    match version {
        Some(VERSION) => Ok(()),
        Some(v) if v > VERSION => Err(Error::BadData(format!(
            "{what} uses vault format version {v}, newer than this vault {} understands (version {VERSION}); upgrade vault",
            env!("CARGO_PKG_VERSION")
        ))),
        _ => Err(Error::BadData(format!(
            "{what} has a missing or unknown format version"
        ))),
    }
}

/// The decrypted plaintext of a vault, parsed only as far as a reader asks.
pub struct Plaintext {
    bytes: Zeroizing<Vec<u8>>,
    what: String,
}

impl Plaintext {
    /// `bytes` decrypted from the file `what` names ("the vault /path").
    pub fn new(bytes: Zeroizing<Vec<u8>>, what: String) -> Self {
        Plaintext { bytes, what }
    }

    /// The whole document, as a write needs it.
    pub fn document(&self) -> Result<Document> {
        Document::from_json(&self.bytes, &self.what)
    }

    /// A document holding only the secrets whose names pass `keep`, for reading: it
    /// cannot be written back.
    pub fn select(&self, keep: &dyn Fn(&str) -> bool) -> Result<Document> {
        let mut document = Document::parse(&self.bytes, &self.what, keep, false)?;
        document.partial = true;
        Ok(document)
    }

    /// The names of all secrets, in order, without decoding any value.
    pub fn names(&self) -> Result<Vec<String>> {
        let mut names = Names(Vec::new());
        scan(&self.bytes, &self.what, &mut names, false)?;
        Ok(names.0)
    }

    /// Names and values of the secrets whose names pass `keep`, in name order, borrowed
    /// from the plaintext where the JSON allows: what an exec of thousands of secrets
    /// needs, without a copy of each.
    #[allow(clippy::type_complexity)]
    pub fn values(
        &self,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(Cow<'_, str>, SecretText<'_>)>> {
        let mut values = Values {
            keep,
            values: Vec::new(),
        };
        scan(&self.bytes, &self.what, &mut values, false)?;
        let mut values = values.values;
        // As the full parse has them: sorted (a no-op for a vault that vault wrote), and of a
        // repeated name the last.
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

struct DocumentSeed<'s, 'p> {
    sink: &'s mut dyn Sink<'p>,
    keep_extra: bool,
}

impl<'p> DeserializeSeed<'p> for DocumentSeed<'_, 'p> {
    type Value = Scanned;
    fn deserialize<D: Deserializer<'p>>(self, deserializer: D) -> Result<Scanned, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'p> Visitor<'p> for DocumentSeed<'_, 'p> {
    type Value = Scanned;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a vault document (a JSON object)")
    }
    fn visit_map<A: MapAccess<'p>>(self, mut map: A) -> Result<Scanned, A::Error> {
        let mut scanned = Scanned {
            format: None,
            version: None,
            recipients: Vec::new(),
            extra: Map::new(),
        };
        let mut saw_secrets = false;
        while let Some(key) = map.next_key_seed(NameSeed)? {
            match &*key {
                "format" => scanned.format = map.next_value()?,
                "version" => scanned.version = map.next_value()?,
                "recipients" => scanned.recipients = map.next_value()?,
                "secrets" => {
                    map.next_value_seed(SecretsSeed { sink: self.sink })?;
                    saw_secrets = true;
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
        Ok(scanned)
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
        while let Some(name) = map.next_key_seed(NameSeed)? {
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
    fn newer_versions_are_refused() {
        let json = br#"{"format":"secretsd-vault","version":2,"secrets":{}}"#;
        let err = Document::from_json(json, "test").unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }

    #[test]
    fn debug_output_hides_values() {
        let mut doc = Document::new(vec![]);
        doc.set("A", SecretString::from("hunter2".to_string()), None, "now");
        assert!(!format!("{doc:?}").contains("hunter2"));
    }
}
