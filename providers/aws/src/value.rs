//! What both services share: a value read or why not, and `#FIELD` applied to it — with
//! error messages that name the secret and the field, never the value.

use secretsd_protocol::{ErrorKind, KeyError, ProviderError};
use zeroize::Zeroizing;

use crate::json_field::{self, FieldError};

/// A value read from AWS, or why there is none for that key.
pub type Found = Result<Zeroizing<String>, KeyError>;
pub type Outcome<T> = Result<T, ProviderError>;

pub fn key_error(kind: ErrorKind, message: &str) -> KeyError {
    KeyError {
        kind,
        message: Some(message.to_string()),
    }
}

pub fn from_key_error(error: KeyError) -> ProviderError {
    ProviderError::new(error.kind, error.message.unwrap_or_default())
}

/// The value a key asks for: the whole value, or one field of it.
pub fn select(found: &Found, field: Option<&str>, name: &str) -> Found {
    let text = found.as_ref().map_err(Clone::clone)?;
    match field {
        None => Ok(text.clone()),
        Some(field) => json_field::read(text, field)
            .map_err(|e| to_key_error(MissingField(e).error(name, field))),
    }
}

/// `current` (None: nothing yet) with `field` set to `value`.
pub fn with_field(
    current: Option<&str>,
    field: &str,
    value: &str,
    name: &str,
) -> Outcome<Zeroizing<String>> {
    json_field::write(current, field, value).map_err(|e| MissingField(e).error(name, field))
}

/// A field that is not there, said with the names involved.
pub struct MissingField(pub FieldError);

impl MissingField {
    pub fn error(&self, name: &str, field: &str) -> ProviderError {
        match self.0 {
            FieldError::Missing => ProviderError::new(
                ErrorKind::NotFound,
                format!("{name} has no field {field:?}"),
            ),
            FieldError::NotAnObject => ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{name} is not a JSON object, so it has no field {field:?}; drop #{field} \
                     to use the whole value"
                ),
            ),
        }
    }
}

pub fn to_key_error(error: ProviderError) -> KeyError {
    key_error(error.kind, &error.message)
}

pub fn too_long(name: &str, length: usize, limit: usize, service: &str) -> ProviderError {
    ProviderError::new(
        ErrorKind::Invalid,
        format!("the value for {name} is {length} bytes; {service} holds at most {limit}"),
    )
}
