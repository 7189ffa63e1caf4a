//! Text formats secrets are exported to and imported from.

pub mod dotenv;

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::cli::ExportFormat;
use crate::error::{Error, Result};

/// The longest `NAME=value` the kernel passes to a program (MAX_ARG_STRLEN: 32 pages).
/// A longer variable makes `execve` fail, so no environment can carry it.
pub const MAX_ENV_ENTRY: usize = 32 * 4096;

/// Checks that `name=value` fits in one environment entry.
pub fn check_env_size(name: &str, value: &str) -> Result<()> {
    let size = name.len() + 1 + value.len();
    if size >= MAX_ENV_ENTRY {
        return Err(Error::BadData(format!(
            "{name} is {size} bytes as NAME=value; Linux passes at most {} bytes per environment variable (MAX_ARG_STRLEN)",
            MAX_ENV_ENTRY - 1
        )));
    }
    Ok(())
}

/// `export NAME='value'`: POSIX single quotes hold everything but `'`, written `'\''`.
fn write_shell(name: &str, value: &str, out: &mut String) {
    out.push_str("export ");
    out.push_str(name);
    out.push_str("='");
    out.push_str(&value.replace('\'', "'\\''"));
    out.push_str("'\n");
}

/// `NAME="value"` as systemd's own env-file writer quotes it: inside double quotes a
/// backslash escapes `"`, `\`, `` ` `` and `$`, and everything else — newlines included —
/// is literal (systemd `parse_env_file`).
fn write_systemd(name: &str, value: &str, out: &mut String) -> Result<()> {
    check_env_size(name, value)?;
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\' | '`' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str("\"\n");
    Ok(())
}

/// Renders `secrets` (name, value) in `format`, into a buffer zeroed on drop.
pub fn render(
    format: ExportFormat,
    secrets: &[(&str, &SecretString)],
) -> Result<Zeroizing<String>> {
    let estimate: usize = secrets
        .iter()
        .map(|(n, v)| n.len() + v.expose_secret().len() * 2 + 16)
        .sum();
    let mut out = Zeroizing::new(String::with_capacity(estimate + 16));
    match format {
        ExportFormat::Dotenv => {
            for (name, value) in secrets {
                dotenv::write_assignment(name, value.expose_secret(), &mut out)?;
            }
        }
        ExportFormat::Shell => {
            for (name, value) in secrets {
                write_shell(name, value.expose_secret(), &mut out);
            }
        }
        ExportFormat::Systemd => {
            for (name, value) in secrets {
                write_systemd(name, value.expose_secret(), &mut out)?;
            }
        }
        ExportFormat::Json => {
            // Borrowed straight from the secrets, so no unzeroed copy of a value is made.
            let map: std::collections::BTreeMap<&str, &str> = secrets
                .iter()
                .map(|(n, v)| (*n, v.expose_secret()))
                .collect();
            let text = Zeroizing::new(
                serde_json::to_string_pretty(&map)
                    .map_err(|e| Error::Failed(format!("cannot write JSON: {e}")))?,
            );
            out.push_str(&text);
            out.push('\n');
        }
    }
    Ok(out)
}

/// Reads a JSON object of names to string values.
pub fn parse_json(text: &str, source: &str) -> Result<Vec<(String, SecretString)>> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Error::BadData(format!(
            "{source} is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    let serde_json::Value::Object(map) = value else {
        return Err(Error::BadData(format!(
            "{source} must hold a JSON object of names to string values"
        )));
    };
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (name, value) in map {
        match value {
            serde_json::Value::String(s) => out.push((name, SecretString::from(s))),
            other => problems.push(format!(
                "{name}: the value is {} where a string is needed",
                json_kind(&other)
            )),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(Error::BadData(format!("{source}: {}", problems.join("; "))))
    }
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
