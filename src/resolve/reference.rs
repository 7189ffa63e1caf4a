//! What a reference says, parsed: the forms in the table of `resolve`, provider addresses,
//! lookup-chain entries, and a variable bound to its reference. No value is read here.

use std::fmt;
use std::path::PathBuf;

use age::secrecy::SecretString;

use crate::error::{Error, Result};
use crate::providers::is_provider_name;

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

impl Reference {
    /// The reference as errors show it. `word:rest` reads as a provider reference whatever
    /// `rest` is — `admin:hunter2`, meant as a literal, is provider `admin`, key
    /// `hunter2` — so a provider key is never shown; nor a `secret:` or `env:` name that is
    /// not a variable name. A file's path is shown: it is what there is to fix.
    pub fn for_error(&self) -> String {
        let name_or_not = |scheme: &str, name: &str| {
            if crate::names::validate_name(name).is_ok() {
                format!("{scheme}:{name}")
            } else {
                format!("{scheme}:…")
            }
        };
        match self {
            Reference::Secret(name) => name_or_not("secret", name),
            Reference::Env(var) => name_or_not("env", var),
            Reference::File(path) => format!("file:{path}"),
            Reference::Literal(_) => "a literal value".to_string(),
            Reference::Provider { provider, .. } => format!("{provider}:…"),
        }
    }

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
}

impl Reference {
    /// The scheme `text` looks like a mistyped case of — `Secret:X` of `secret`, `Infisical:/x`
    /// of an installed `infisical` — or `None`. Such a reference would silently be a
    /// literal, so callers refuse it; `literal:` is how to mean it.
    pub fn near_miss(text: &str) -> Option<String> {
        let (scheme, _) = text.split_once(':')?;
        let lower = scheme.to_ascii_lowercase();
        if scheme == lower {
            return None;
        }
        let known = ["secret", "env", "file", "literal"].contains(&lower.as_str())
            || (is_provider_name(&lower) && crate::providers::find(&lower).is_ok());
        known.then_some(lower)
    }

    /// Refuses a near-miss (see [`Reference::near_miss`]) for `variable`; the message shows
    /// the scheme, never the rest, which may be a value.
    pub fn check_near_miss(text: &str, variable: &str) -> Result<()> {
        match Self::near_miss(text) {
            None => Ok(()),
            Some(meant) => {
                let scheme = text.split(':').next().unwrap_or_default();
                Err(Error::BadData(format!(
                    "{variable} starts with \"{scheme}:\", which looks like {meant}: with the wrong case; write {meant}:…, or literal:… if the value is meant as written"
                )))
            }
        }
    }
}

/// What a command-line NAME argument names: a vault secret or a provider's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Vault(String),
    Provider { provider: String, key: String },
}

impl Address {
    /// `PROVIDER:KEY` names a provider's key; anything else must be a valid secret name.
    pub fn parse(text: &str) -> Result<Address> {
        if let Some((provider, key)) = text.split_once(':')
            && is_provider_name(provider)
        {
            return Ok(Address::Provider {
                provider: provider.to_string(),
                key: key.to_string(),
            });
        }
        crate::names::validate_name(text)?;
        Ok(Address::Vault(text.to_string()))
    }
}

/// A variable to set and the reference its value comes from.
#[derive(Debug, Clone)]
pub struct Binding {
    pub variable: String,
    pub reference: Reference,
    /// A missing value is an error; when false, the variable is left unset.
    pub required: bool,
    /// Used when the reference finds nothing (never when it fails otherwise).
    pub default: Option<String>,
    /// What the variable is for, from the manifest.
    pub description: Option<String>,
    /// From the manifest's `[files]`: the value is the content of a file, and the
    /// variable its path (see `secret_files`).
    pub as_file: bool,
    /// A `file:` reference's file must be as private as an identity file: set for the
    /// defaults vault finds by itself (`~/.vault-token`), where nobody chose the file.
    pub private_file: bool,
}

impl Binding {
    /// A required variable with no default.
    pub fn new(variable: impl Into<String>, reference: Reference) -> Binding {
        Binding {
            variable: variable.into(),
            reference,
            required: true,
            default: None,
            description: None,
            private_file: false,
            as_file: false,
        }
    }
}

/// A variable and its resolved value.
pub struct Resolved {
    pub variable: String,
    pub value: SecretString,
}

/// One place the lookup chain looks (`[lookup] order`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupEntry {
    /// vault's own environment.
    Env,
    /// A .env file.
    Dotenv(PathBuf),
    /// The vault.
    Vault,
    /// A provider, asked for the key NAME.
    Provider(String),
}

impl LookupEntry {
    pub fn parse(text: &str) -> Result<LookupEntry> {
        match text {
            "env" => Ok(LookupEntry::Env),
            "vault" => Ok(LookupEntry::Vault),
            _ => {
                if let Some(path) = text.strip_prefix("dotenv:") {
                    return Ok(LookupEntry::Dotenv(crate::paths::expand_home_text(path)));
                }
                if is_provider_name(text) {
                    return Ok(LookupEntry::Provider(text.to_string()));
                }
                Err(Error::BadData(format!(
                    "[lookup] order has {text:?}; entries are \"vault\", \"env\", \"dotenv:PATH\" or a provider name"
                )))
            }
        }
    }
}

impl fmt::Display for LookupEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupEntry::Env => f.write_str("env"),
            LookupEntry::Dotenv(path) => write!(f, "dotenv:{}", path.display()),
            LookupEntry::Vault => f.write_str("vault"),
            LookupEntry::Provider(name) => f.write_str(name),
        }
    }
}
