//! Secret names and values: what is accepted, and why not.
//!
//! Names are environment-variable names so that every secret can be handed to a process
//! (`vault exec`) without renaming. Values are UTF-8 without NUL because NUL cannot travel
//! through `execve`'s environment.

use crate::error::{Error, Result};

/// The largest value `vault` stores: far above any real credential, small enough that a
/// mistaken `vault set X < big.iso` fails fast instead of bloating every rewrite.
pub const MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

/// The longest name `vault` stores, in bytes: far above any real variable name, and small
/// enough that every table, message and environment a name appears in stays readable.
pub const MAX_NAME_BYTES: usize = 255;

/// The widest a table column grows for the names in it; longer ones run past it.
pub const MAX_COLUMN: usize = 64;

/// Checks that `name` is `[A-Za-z_][A-Za-z0-9_]*` and at most [`MAX_NAME_BYTES`] long.
pub fn validate_name(name: &str) -> Result<()> {
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::BadData(format!(
            "the secret name {} is {} bytes long; names are at most {MAX_NAME_BYTES} bytes",
            quote_name(name),
            name.len()
        )));
    }
    let mut chars = name.chars();
    let valid = match chars.next() {
        None => false,
        Some(first) => {
            (first.is_ascii_alphabetic() || first == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
    };
    if valid {
        Ok(())
    } else {
        Err(Error::BadData(format!(
            "invalid secret name {}: names are letters, digits and '_', not starting with a digit (like API_KEY)",
            quote_name(name)
        )))
    }
}

/// Checks a value's size and content; the error never contains the value.
pub fn validate_value(name: &str, value: &str) -> Result<()> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(Error::BadData(format!(
            "the value for {name} is {} bytes; values are limited to {} MiB",
            value.len(),
            MAX_VALUE_BYTES / (1024 * 1024)
        )));
    }
    if value.contains('\0') {
        return Err(Error::BadData(format!(
            "the value for {name} contains a NUL byte, which no environment variable can carry"
        )));
    }
    Ok(())
}

/// A name for an error message: quoted, with control characters escaped and length capped,
/// so a hostile or mistaken argument cannot garble the terminal.
pub fn quote_name(name: &str) -> String {
    const LIMIT: usize = 64;
    let mut shown: String = name.chars().take(LIMIT).collect();
    if name.chars().count() > LIMIT {
        shown.push('…');
    }
    format!("{shown:?}")
}

/// `text` safe to print on a terminal: control characters (escape sequences, carriage
/// returns, C1 controls) become `\u{..}` escapes; line breaks and tabs stay when `lines`.
/// For everything vault prints that came from outside: files, providers, other people.
pub fn printable(text: &str, lines: bool) -> std::borrow::Cow<'_, str> {
    let keep = |c: char| !c.is_control() || (lines && (c == '\n' || c == '\t'));
    if text.chars().all(keep) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if keep(c) {
                    c.to_string()
                } else {
                    c.escape_unicode().to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_escaped() {
        assert_eq!(printable("a\x1b[2Jb\nc", true), "a\\u{1b}[2Jb\nc");
        assert_eq!(printable("x\ry\u{9b}", false), "x\\u{d}y\\u{9b}");
        assert_eq!(printable("plain", false), "plain");
    }

    #[test]
    fn accepts_environment_names() {
        for name in ["A", "_", "API_KEY", "a1", "_9"] {
            assert!(validate_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn names_are_bounded() {
        assert!(validate_name(&"A".repeat(MAX_NAME_BYTES)).is_ok());
        let error = validate_name(&"A".repeat(MAX_NAME_BYTES + 1)).unwrap_err();
        assert_eq!(error.exit_code(), 6);
        // The message quotes a bounded part of the name, not all of it.
        assert!(error.to_string().len() < 200, "{error}");
    }

    #[test]
    fn rejects_other_names() {
        for name in ["", "1ABC", "A-B", "A B", "É", "A.B", "A\0B"] {
            assert_eq!(validate_name(name).unwrap_err().exit_code(), 6, "{name:?}");
        }
    }

    #[test]
    fn value_errors_do_not_contain_the_value() {
        let err = validate_value("X", "hunter2\0").unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
