//! Text formats secrets are exported to and imported from.

pub mod docker;
pub mod dotenv;

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The text formats secrets are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `NAME=value`, quoted when the value needs it; read back by vault import and
    /// python-dotenv.
    Dotenv,
    /// One JSON object of names to values.
    Json,
    /// `export NAME='value'` for sh and bash.
    Shell,
    /// systemd `EnvironmentFile=` lines.
    Systemd,
    /// `NAME=value` as `docker run --env-file` and compose's `env_file` read them.
    Docker,
    /// `export NAME='value'` lines of an `.envrc` for direnv.
    Direnv,
}

impl Format {
    /// The name the command line and configuration use for it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Dotenv => "dotenv",
            Format::Json => "json",
            Format::Shell => "shell",
            Format::Systemd => "systemd",
            Format::Docker => "docker",
            Format::Direnv => "direnv",
        }
    }
}

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

/// `NAME=value` as docker's env-file reader takes it: the rest of the line, raw. A line
/// break cannot be carried; compose's `env_file` also strips quotes and surrounding
/// spaces, cuts ` #` comments and expands `$`, so values it would change are refused too.
fn write_docker(name: &str, value: &str, out: &mut String) -> Result<()> {
    let why = if value.contains(['\n', '\r', '\0']) {
        Some("has a line break, which a docker env file cannot carry")
    } else if value.starts_with(['\'', '"']) || value.trim() != value {
        Some("starts with a quote or starts or ends with spaces, which compose would strip")
    } else if value.contains(" #") || value.contains("\t#") {
        Some("has ' #', which compose reads as a comment")
    } else if value.contains('$') {
        Some("has '$', which compose expands")
    } else {
        None
    };
    if let Some(why) = why {
        return Err(Error::BadData(format!("the value of {name} {why}")));
    }
    out.push_str(name);
    out.push('=');
    out.push_str(value);
    out.push('\n');
    Ok(())
}

/// Renders `secrets` (name, value) in `format`, into a buffer zeroed on drop. Every value
/// the format cannot carry exactly is named in the error, not just the first.
pub fn render(format: Format, secrets: &[(&str, &SecretString)]) -> Result<Zeroizing<String>> {
    let estimate: usize = secrets
        .iter()
        .map(|(n, v)| n.len() + v.expose_secret().len() * 2 + 16)
        .sum();
    let mut out = Zeroizing::new(String::with_capacity(estimate + 16));
    let mut problems = Vec::new();
    let mut each = |write: &mut dyn FnMut(&str, &str, &mut String) -> Result<()>| {
        for (name, value) in secrets {
            if let Err(e) = write(name, value.expose_secret(), &mut out) {
                problems.push(e.to_string());
            }
        }
    };
    match format {
        Format::Dotenv => each(&mut dotenv::write_assignment),
        Format::Shell | Format::Direnv => each(&mut |n, v, o| {
            write_shell(n, v, o);
            Ok(())
        }),
        Format::Systemd => each(&mut write_systemd),
        Format::Docker => each(&mut write_docker),
        Format::Json => {
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
    if !problems.is_empty() {
        return Err(Error::BadData(format!(
            "cannot write {} as {}:\n  {}\nexport them with --format json or shell, or leave them out with --only",
            if problems.len() == 1 {
                "this value"
            } else {
                "these values"
            },
            format.name(),
            problems.join("\n  ")
        )));
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
