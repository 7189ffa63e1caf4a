//! The secretsd provider protocol (see `SPEC.md` beside this crate).
//!
//! `vault` reaches secrets it does not hold through provider executables named
//! `secretsd-provider-<name>`, spoken to in JSON lines over stdin/stdout. This crate is the
//! contract in code, for both sides:
//!
//! * [`messages`]: the wire types, forward compatible (unknown fields are ignored, unknown
//!   error kinds read as [`ErrorKind::Unknown`]).
//! * [`Provider`] and [`serve`]: a Rust provider implements the trait and its `main` is a
//!   few lines; this crate owns framing, the hello, versions and malformed input.
//! * [`client`]: how `vault` runs a provider — spawn, timeouts, size limits, kill and reap.
//! * [`conformance`]: the checks `vault provider check NAME` runs against any provider.
//!
//! ```no_run
//! use secretsd_protocol::{Config, GetOk, Op, Provider, ProviderError, serve};
//!
//! struct Echo;
//! impl Provider for Echo {
//!     fn name(&self) -> &str { "echo" }
//!     fn version(&self) -> &str { "0.1.0" }
//!     fn ops(&self) -> Vec<Op> { vec![Op::Get] }
//!     fn get(&mut self, _config: &Config, keys: &[String]) -> Result<GetOk, ProviderError> {
//!         let mut ok = GetOk::default();
//!         for key in keys {
//!             ok.values.insert(key.clone(), key.clone().into());
//!         }
//!         Ok(ok)
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode { serve(Echo) }
//! ```

// The README's example provider compiles, as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

pub mod client;
pub mod conformance;
pub mod messages;
mod serve;

pub use messages::*;
pub use serve::{Provider, serve, serve_io};

/// The protocol versions this crate speaks, oldest first.
pub const VERSIONS: &[u32] = &[1];

/// The executable name of provider `name`.
pub fn executable_name(name: &str) -> String {
    format!("secretsd-provider-{name}")
}

/// Whether `name` can name a provider: lowercase letters, digits and '-', starting with
/// a letter. References use it as `<name>:<key>`.
pub fn is_provider_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Protocol versions as people write them: `1, 2` (`none` for none).
pub fn versions_text(versions: &[u32]) -> String {
    if versions.is_empty() {
        return "none".into();
    }
    versions
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What JSON type a value is ("a string", "a number", …), for messages about a line that
/// must not show its values: both sides describe bad lines this way.
pub fn json_type(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
