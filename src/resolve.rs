//! References — where one value comes from — and resolving them to values (DESIGN.md §5).
//!
//! | form | meaning |
//! |---|---|
//! | `secret:NAME` | the vault |
//! | `env:VAR` | vault's own environment |
//! | `file:/path` | a file's content, one trailing newline stripped |
//! | `literal:TEXT` | TEXT, whatever it looks like |
//! | `<provider>:<key>` | `secretsd-provider-<provider>` |
//! | anything else | a literal |
//!
//! Errors name the variable and the reference, never a value.

use std::fmt;

use age::secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::names::validate_value;
use crate::store::document::Document;

/// Where one value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Secret(String),
    Env(String),
    File(String),
    Literal(String),
    Provider { provider: String, key: String },
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reference::Secret(name) => write!(f, "secret:{name}"),
            Reference::Env(var) => write!(f, "env:{var}"),
            Reference::File(path) => write!(f, "file:{path}"),
            // A literal may be a secret someone pasted into a manifest: never echo it.
            Reference::Literal(_) => f.write_str("a literal value"),
            Reference::Provider { provider, key } => write!(f, "{provider}:{key}"),
        }
    }
}

/// A provider name: lowercase letters, digits and '-', starting with a letter.
fn is_provider_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl Reference {
    /// Reads a reference. `scheme://…` (a URL) is a literal, not a provider address.
    pub fn parse(text: &str) -> Reference {
        let Some((scheme, rest)) = text.split_once(':') else {
            return Reference::Literal(text.to_string());
        };
        match scheme {
            "secret" => Reference::Secret(rest.to_string()),
            "env" => Reference::Env(rest.to_string()),
            "file" => Reference::File(rest.to_string()),
            "literal" => Reference::Literal(rest.to_string()),
            _ if is_provider_name(scheme) && !rest.starts_with("//") && !rest.is_empty() => {
                Reference::Provider {
                    provider: scheme.to_string(),
                    key: rest.to_string(),
                }
            }
            _ => Reference::Literal(text.to_string()),
        }
    }

    /// Whether resolving this reference needs the vault opened.
    pub fn needs_vault(&self) -> bool {
        matches!(self, Reference::Secret(_))
    }
}

/// A variable to set and the reference its value comes from.
#[derive(Debug, Clone)]
pub struct Binding {
    pub variable: String,
    pub reference: Reference,
}

/// A variable and its resolved value.
pub struct Resolved {
    pub variable: String,
    pub value: SecretString,
}

fn failure(binding: &Binding, error: Error, what: &str) -> Error {
    let message = format!(
        "cannot resolve {} = {}: {what}",
        binding.variable, binding.reference
    );
    match error {
        Error::NotFound(_) => Error::NotFound(message),
        Error::LockedOut(_) => Error::LockedOut(message),
        Error::BadData(_) => Error::BadData(message),
        Error::Provider(_) => Error::Provider(message),
        _ => Error::Failed(message),
    }
}

/// Resolves every binding, or fails on the first that cannot be resolved (naming it).
/// `vault` opens the vault only if some binding needs it.
pub fn resolve_all(
    bindings: &[Binding],
    vault: &mut dyn FnMut() -> Result<Document>,
) -> Result<Vec<Resolved>> {
    let document = if bindings.iter().any(|b| b.reference.needs_vault()) {
        Some(vault()?)
    } else {
        None
    };
    let mut resolved = Vec::with_capacity(bindings.len());
    for binding in bindings {
        let value = resolve_one(binding, document.as_ref())?;
        validate_value(&binding.variable, value.expose_secret())
            .map_err(|e| failure(binding, e, "the value is not usable in an environment"))?;
        resolved.push(Resolved {
            variable: binding.variable.clone(),
            value,
        });
    }
    Ok(resolved)
}

fn resolve_one(binding: &Binding, document: Option<&Document>) -> Result<SecretString> {
    match &binding.reference {
        Reference::Secret(name) => document
            .and_then(|d| d.get(name))
            .map(|entry| entry.value().clone())
            .ok_or_else(|| {
                failure(
                    binding,
                    Error::NotFound(String::new()),
                    &format!("no secret named {name} in the vault"),
                )
            }),
        Reference::Env(var) => std::env::var(var).map(SecretString::from).map_err(|e| {
            let why = match e {
                std::env::VarError::NotPresent => format!("${var} is not set"),
                std::env::VarError::NotUnicode(_) => format!("${var} is not UTF-8"),
            };
            failure(binding, Error::NotFound(String::new()), &why)
        }),
        Reference::File(path) => {
            let bytes = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| {
                let kind = if e.kind() == std::io::ErrorKind::NotFound {
                    Error::NotFound(String::new())
                } else {
                    Error::Failed(String::new())
                };
                failure(binding, kind, &e.to_string())
            })?);
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                failure(
                    binding,
                    Error::BadData(String::new()),
                    "the file is not UTF-8",
                )
            })?;
            Ok(SecretString::from(
                crate::value::strip_one_newline(text).to_string(),
            ))
        }
        Reference::Literal(text) => Ok(SecretString::from(text.clone())),
        Reference::Provider { provider, .. } => Err(failure(
            binding,
            Error::NotFound(String::new()),
            &format!(
                "no provider named {provider} on PATH (secretsd-provider-{provider}); if this is a plain value, write it as literal:…"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            Reference::parse("secret:DB"),
            Reference::Secret("DB".into())
        );
        assert_eq!(Reference::parse("env:HOME"), Reference::Env("HOME".into()));
        assert_eq!(
            Reference::parse("file:/etc/x"),
            Reference::File("/etc/x".into())
        );
        assert_eq!(
            Reference::parse("literal:secret:x"),
            Reference::Literal("secret:x".into())
        );
        assert_eq!(
            Reference::parse("infisical:/app/db/PASSWORD"),
            Reference::Provider {
                provider: "infisical".into(),
                key: "/app/db/PASSWORD".into()
            }
        );
        for literal in ["INFO", "postgres://u:p@h/db", "Mixed:case", "a b:c", ""] {
            assert_eq!(
                Reference::parse(literal),
                Reference::Literal(literal.into())
            );
        }
    }

    #[test]
    fn literals_are_never_displayed() {
        assert!(
            !Reference::parse("literal:hunter2")
                .to_string()
                .contains("hunter2")
        );
    }
}
