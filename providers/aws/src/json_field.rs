//! One field of a JSON secret (`#FIELD`), read or replaced. A write changes that field
//! only: the other fields keep their order and their exact text (a number stays `5432`,
//! not `5432.0`), because the document is kept as raw pieces, never re-serialised.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

/// Why a value has no such field.
#[derive(Debug, PartialEq, Eq)]
pub enum FieldError {
    /// The value is not a JSON object (it is text, or a list, or not JSON).
    NotAnObject,
    /// The object has no such field.
    Missing,
}

/// A JSON object as its fields, in order, each value as the text it was written as.
struct Fields(Vec<(String, Box<RawValue>)>);

impl Drop for Fields {
    fn drop(&mut self) {
        // The raw values are pieces of a secret: wipe them before the memory goes back.
        for (_, raw) in self.0.drain(..) {
            let text: Box<str> = raw.into();
            let mut text = String::from(text);
            zeroize::Zeroize::zeroize(&mut text);
        }
    }
}

struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let mut fields = Fields(Vec::new());
        while let Some((name, value)) = map.next_entry::<String, Box<RawValue>>()? {
            fields.0.push((name, value));
        }
        Ok(fields)
    }
}

fn fields(document: &str) -> Result<Fields, FieldError> {
    let mut deserializer = serde_json::Deserializer::from_str(document);
    let fields = deserializer
        .deserialize_map(FieldsVisitor)
        .map_err(|_| FieldError::NotAnObject)?;
    deserializer.end().map_err(|_| FieldError::NotAnObject)?;
    Ok(fields)
}

/// The value of `field`: a string as its text, anything else (a number, an object) as its
/// JSON. The last one wins when a name repeats, as in most JSON readers.
pub fn read(document: &str, field: &str) -> Result<Zeroizing<String>, FieldError> {
    let fields = fields(document)?;
    let raw = fields
        .0
        .iter()
        .rev()
        .find(|(name, _)| name == field)
        .map(|(_, raw)| raw.get())
        .ok_or(FieldError::Missing)?;
    if raw.starts_with('"') {
        let text: String = serde_json::from_str(raw).map_err(|_| FieldError::NotAnObject)?;
        return Ok(Zeroizing::new(text));
    }
    Ok(Zeroizing::new(raw.to_string()))
}

/// `document` with `field` set to the string `value`, the other fields as they were; a new
/// field goes last. `None` as the document makes a new object.
pub fn write(
    document: Option<&str>,
    field: &str,
    value: &str,
) -> Result<Zeroizing<String>, FieldError> {
    let fields = match document {
        Some(document) => fields(document)?,
        None => Fields(Vec::new()),
    };
    let quoted = Zeroizing::new(serde_json::to_string(value).map_err(|_| FieldError::NotAnObject)?);
    let mut out = Zeroizing::new(String::from("{"));
    let mut written = false;
    for (name, raw) in &fields.0 {
        let raw = if name == field {
            if written {
                continue;
            }
            written = true;
            quoted.as_str()
        } else {
            raw.get()
        };
        push_field(&mut out, name, raw);
    }
    if !written {
        push_field(&mut out, field, &quoted);
    }
    out.push('}');
    Ok(out)
}

/// `document` without `field`; `Missing` when it has none.
pub fn remove(document: &str, field: &str) -> Result<Zeroizing<String>, FieldError> {
    let fields = fields(document)?;
    if !fields.0.iter().any(|(name, _)| name == field) {
        return Err(FieldError::Missing);
    }
    let mut out = Zeroizing::new(String::from("{"));
    for (name, raw) in fields.0.iter().filter(|(name, _)| name != field) {
        push_field(&mut out, name, raw.get());
    }
    out.push('}');
    Ok(out)
}

fn push_field(out: &mut Zeroizing<String>, name: &str, raw: &str) {
    if out.len() > 1 {
        out.push(',');
    }
    // A name is a string; serde_json quotes it exactly.
    out.push_str(&serde_json::to_string(name).unwrap_or_default());
    out.push(':');
    out.push_str(raw);
}

#[cfg(test)]
mod tests {
    use super::*;

    const RDS: &str = r#"{"username":"app","password":"old pw","port":5432,"engine":"postgres","host":"db.example"}"#;

    #[test]
    fn a_field_reads_as_its_text_or_its_json() {
        assert_eq!(read(RDS, "password").unwrap().as_str(), "old pw");
        assert_eq!(read(RDS, "port").unwrap().as_str(), "5432");
        assert_eq!(
            read(r#"{"a":{"b":[1, 2]}}"#, "a").unwrap().as_str(),
            r#"{"b":[1, 2]}"#
        );
        assert_eq!(read(RDS, "nope").unwrap_err(), FieldError::Missing);
        for not_object in ["plain text", "[1]", "\"s\"", "{\"a\":1} trailing", ""] {
            assert_eq!(read(not_object, "a").unwrap_err(), FieldError::NotAnObject);
        }
    }

    #[test]
    fn a_write_changes_one_field_and_keeps_the_others_exactly() {
        let written = write(Some(RDS), "password", "new \"pw\"\n").unwrap();
        assert_eq!(
            written.as_str(),
            r#"{"username":"app","password":"new \"pw\"\n","port":5432,"engine":"postgres","host":"db.example"}"#
        );
        assert_eq!(read(&written, "password").unwrap().as_str(), "new \"pw\"\n");
        let added = write(Some(r#"{ "a" : 1.50 }"#), "b", "x").unwrap();
        assert_eq!(added.as_str(), r#"{"a":1.50,"b":"x"}"#);
        assert_eq!(write(None, "k", "v").unwrap().as_str(), r#"{"k":"v"}"#);
        assert_eq!(
            write(Some("text"), "k", "v").unwrap_err(),
            FieldError::NotAnObject
        );
    }

    #[test]
    fn a_removal_keeps_the_others() {
        assert_eq!(
            remove(RDS, "port").unwrap().as_str(),
            r#"{"username":"app","password":"old pw","engine":"postgres","host":"db.example"}"#
        );
        assert_eq!(remove(RDS, "nope").unwrap_err(), FieldError::Missing);
    }
}
