//! The messages of protocol version 1, one JSON object per line.
//!
//! Every type ignores fields it does not know, so a newer peer may add some. Enums that a
//! newer peer may extend carry an `Unknown` variant instead of failing to parse.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A provider's configuration, from `[providers.<name>]` in vault's config file, with
/// references already resolved by vault.
pub type Config = serde_json::Map<String, serde_json::Value>;

/// A secret value on the wire: zeroed when dropped, never shown by `Debug`.
#[derive(Clone)]
pub struct SecretValue(SecretString);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }
}

impl From<String> for SecretValue {
    fn from(value: String) -> Self {
        SecretValue::new(value)
    }
}

impl From<SecretString> for SecretValue {
    fn from(value: SecretString) -> Self {
        SecretValue(value)
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue([redacted])")
    }
}

impl PartialEq for SecretValue {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Serialize for SecretValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for SecretValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        SecretString::deserialize(deserializer).map(SecretValue)
    }
}

/// An operation a provider may support.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Op {
    Get,
    List,
    Set,
    Delete,
    /// An operation from a newer protocol revision.
    #[serde(other)]
    Unknown,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Get => "get",
            Op::List => "list",
            Op::Set => "set",
            Op::Delete => "delete",
            Op::Unknown => "unknown",
        })
    }
}

/// The first line a provider writes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol versions the provider speaks.
    pub v: Vec<u32>,
    /// The provider's name (`gopass` for `secretsd-provider-gopass`).
    pub provider: String,
    /// The provider's own version.
    pub version: String,
    /// The operations it supports.
    #[serde(default)]
    pub ops: Vec<Op>,
}

/// A request from vault.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The protocol version of this request.
    pub v: u32,
    /// Echoed in the response.
    pub id: u64,
    #[serde(flatten)]
    pub body: RequestBody,
    /// The provider's configuration.
    #[serde(default)]
    pub config: Config,
    /// The longest answer line vault reads, in bytes without the `\n` (SPEC §2); absent
    /// means [`MAX_LINE`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_line: Option<u64>,
}

/// The longest line either side writes unless a request says otherwise: 16 MiB, not
/// counting the `\n`.
pub const MAX_LINE: u64 = 16 * 1024 * 1024;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum RequestBody {
    /// Values of many keys at once.
    Get { keys: Vec<String> },
    /// The keys the provider holds, optionally under a prefix.
    List {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prefix: Option<String>,
    },
    /// Store a value.
    Set { key: String, value: SecretValue },
    /// Remove a key.
    Delete { key: String },
}

impl RequestBody {
    pub fn op(&self) -> Op {
        match self {
            RequestBody::Get { .. } => Op::Get,
            RequestBody::List { .. } => Op::List,
            RequestBody::Set { .. } => Op::Set,
            RequestBody::Delete { .. } => Op::Delete,
        }
    }
}

/// Why something failed. vault decides from the kind whether to try elsewhere
/// (`not-found`) or to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The key does not exist.
    NotFound,
    /// The provider may not read or write it (permissions, authentication).
    Denied,
    /// The backend cannot be reached or is not set up.
    Unavailable,
    /// The request or configuration is wrong.
    Invalid,
    /// The provider does not do this operation or protocol version.
    Unsupported,
    /// A bug or unexpected state in the provider.
    Internal,
    /// The answer would be longer than the request's `max_line` (SPEC §2).
    TooLarge,
    /// A kind from a newer protocol revision.
    #[serde(other)]
    Unknown,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::NotFound => "not-found",
            ErrorKind::Denied => "denied",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Internal => "internal",
            ErrorKind::TooLarge => "too-large",
            ErrorKind::Unknown => "unknown",
        })
    }
}

/// A failed request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderError {
    pub kind: ErrorKind,
    #[serde(default)]
    pub message: String,
    /// The chain of causes, outermost first.
    #[serde(rename = "caused-by", default, skip_serializing_if = "Vec::is_empty")]
    pub caused_by: Vec<String>,
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
            caused_by: Vec::new(),
        }
    }

    pub fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.caused_by.push(cause.to_string());
        self
    }

    pub fn unsupported(op: Op) -> Self {
        ProviderError::new(
            ErrorKind::Unsupported,
            format!("this provider does not support '{op}'"),
        )
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        for cause in &self.caused_by {
            write!(f, ": {cause}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProviderError {}

/// Why one key of a `get` has no value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyError {
    pub kind: ErrorKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The answer to `get`: every requested key is in `values` or in `errors`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GetOk {
    #[serde(default)]
    pub values: BTreeMap<String, SecretValue>,
    #[serde(default)]
    pub errors: BTreeMap<String, KeyError>,
    /// Seconds a value's lease lasts, for keys whose backend gave one (an OpenBao lease
    /// duration): vault's cache keeps such a value no longer. Absent: no lease.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ttl: BTreeMap<String, u64>,
}

impl GetOk {
    pub fn not_found(&mut self, key: &str) {
        self.errors.insert(
            key.to_string(),
            KeyError {
                kind: ErrorKind::NotFound,
                message: None,
            },
        );
    }
}

/// The answer to `list`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListOk {
    pub keys: Vec<String>,
}

/// The answer to `set` and `delete`: nothing but success.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Empty {}

/// A response line as read: the request's id and either `ok` or `err`. `ok` stays raw
/// text until the caller knows which answer it expects, so values are parsed once.
#[derive(Debug, Deserialize)]
pub struct Response {
    /// The request's id; null when the request could not be read at all.
    pub id: Option<u64>,
    #[serde(default)]
    pub ok: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    pub err: Option<ProviderError>,
}

/// A response line as written.
#[derive(Debug, Serialize)]
pub struct ResponseRef<'a, T: Serialize> {
    pub id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ok: Option<&'a T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub err: Option<&'a ProviderError>,
}
