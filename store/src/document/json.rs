//! What the one-pass reader hands its sinks, and the serde seeds that drive them: the document, its secrets, a name, a
//! value, borrowed from the plaintext wherever the JSON holds them without escapes.

use super::*;

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
pub(super) enum Take {
    Skip,
    Entry,
    Value,
    Span,
}

/// Receives the secrets of a document as the parser meets them, and decides for each name
/// how much of it is decoded: a reader that wants one secret of 10,000 skips the other
/// 9,999 without allocating anything for them.
pub(super) trait Sink<'p> {
    fn take(&mut self, name: &str) -> Take;
    fn entry(&mut self, _name: Cow<'p, str>, _entry: Entry) {}
    fn value(&mut self, _name: Cow<'p, str>, _value: SecretText<'p>) {}
    fn span(&mut self, _name: Cow<'p, str>, _text: &'p str) {}
}

/// What one pass over a document met, checked by `reader::scan`.
pub(super) struct Scanned {
    pub(super) format: Option<String>,
    pub(super) version: Option<u64>,
    pub(super) recipients: Vec<String>,
    pub(super) membership: Option<String>,
    pub(super) generation: u64,
    pub(super) extra: Map<String, Value>,
    /// Each secret's name was greater than the one before (so none came twice).
    pub(super) names_in_order: bool,
}

/// The whole document; what it meets goes into `scanned`, the secrets to the sink.
pub(super) struct DocumentSeed<'s, 'p> {
    pub(super) sink: &'s mut dyn Sink<'p>,
    pub(super) keep_extra: bool,
    pub(super) scanned: &'s mut Scanned,
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
                // Sealed values are read by every reader (which ones open is its own
                // identity's business), not only by one that writes the document back.
                _ if self.keep_extra || super::SEALED_FIELDS.contains(&&*key) => {
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
pub(super) struct NameSeed;

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
pub(super) struct TextSeed;

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
pub(super) struct SecretsSeed<'s, 'p> {
    pub(super) sink: &'s mut dyn Sink<'p>,
    pub(super) scanned: &'s mut Scanned,
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
pub(super) struct ValueSeed;

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
