//! The plaintext inside the vault: one JSON document (docs/DESIGN.md).
//!
//! Serialization is written by hand rather than derived with `#[serde(flatten)]`: flatten
//! buffers every field, values included, into intermediate copies that are never zeroed.
//! Unknown fields, at the top and in each secret, are kept verbatim on rewrite so that an
//! older `vault` never drops what a newer one wrote.

use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

use age::secrecy::{ExposeSecret, SecretString};
use serde::de::{self, Deserializer, MapAccess, Visitor};
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
        }
    }

    /// Parses a decrypted vault, refusing other formats and newer versions.
    pub fn from_json(plaintext: &[u8], what: &str) -> Result<Self> {
        // One pass in the common case; the header is looked at on its own only to explain
        // a failure, because a newer format may not parse as this one.
        let parsed = serde_json::from_slice::<Parsed>(plaintext);
        let (format, version) = match &parsed {
            Ok(p) => (p.format.clone(), p.version),
            Err(_) => match serde_json::from_slice::<Header>(plaintext) {
                Ok(header) => (header.format, header.version),
                Err(_) => (None, None),
            },
        };
        if format.as_deref() != Some(FORMAT) {
            return Err(Error::BadData(format!(
                "{what} decrypts but is not a secretsd vault (its \"format\" is not \"{FORMAT}\")"
            )));
        }
        match version {
            Some(VERSION) => {}
            Some(v) if v > VERSION => {
                return Err(Error::BadData(format!(
                    "{what} uses vault format version {v}, newer than this vault {} understands (version {VERSION}); upgrade vault",
                    env!("CARGO_PKG_VERSION")
                )));
            }
            _ => {
                return Err(Error::BadData(format!(
                    "{what} has a missing or unknown format version"
                )));
            }
        }
        parsed.map(|p| p.document).map_err(|e| {
            Error::BadData(format!(
                "{what} decrypts but its content is not a valid vault document ({e})"
            ))
        })
    }

    /// Serializes into a buffer that is zeroed on drop.
    pub fn to_json(&self) -> Result<Zeroizing<Vec<u8>>> {
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

/// A document with the header fields it was read with, checked by `from_json`.
struct Parsed {
    format: Option<String>,
    version: Option<u64>,
    document: Document,
}

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DocumentVisitor;
        impl<'de> Visitor<'de> for DocumentVisitor {
            type Value = Parsed;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a vault document (a JSON object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
                let mut document = Document::new(Vec::new());
                let mut format = None;
                let mut version = None;
                let mut saw_secrets = false;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "format" => format = map.next_value()?,
                        "version" => version = map.next_value()?,
                        "recipients" => document.recipients = map.next_value()?,
                        "secrets" => {
                            document.secrets = map.next_value()?;
                            saw_secrets = true;
                        }
                        _ => {
                            let value = map.next_value()?;
                            document.extra.insert(key, value);
                        }
                    }
                }
                if !saw_secrets {
                    return Err(de::Error::missing_field("secrets"));
                }
                Ok(Parsed {
                    format,
                    version,
                    document,
                })
            }
        }
        deserializer.deserialize_map(DocumentVisitor)
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
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "value" => value = Some(map.next_value()?),
                        "created" => created = Some(map.next_value()?),
                        "updated" => updated = Some(map.next_value()?),
                        "description" => description = map.next_value()?,
                        _ => {
                            let field = map.next_value()?;
                            extra.insert(key, field);
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
