//! `secretsd-provider-gopass`: secrets in a gopass or pass (password-store) store, through
//! their command-line tools, which share the store format.
//!
//! Config: `command` = "gopass" | "pass" (default "gopass"); `field` = "first-line"
//! (default: the password, as both tools define it) | "full" (the whole entry).
//! `PASSWORD_STORE_DIR` and `GNUPGHOME` pass through from vault's environment. Values go
//! to the tool on stdin, never in argv; keys (entry names) are arguments, after `--`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use secretsd_protocol::{
    Config, ErrorKind, GetOk, ListOk, Op, Provider, ProviderError, SecretValue, serve,
};
use zeroize::Zeroizing;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Gopass,
    Pass,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    FirstLine,
    Full,
}

struct Settings {
    dialect: Dialect,
    field: Field,
}

fn settings(config: &Config) -> Result<Settings, ProviderError> {
    let text = |key: &str| config.get(key).and_then(|v| v.as_str());
    let dialect = match text("command").unwrap_or("gopass") {
        "gopass" => Dialect::Gopass,
        "pass" => Dialect::Pass,
        other => {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("command = {other:?}: use \"gopass\" or \"pass\""),
            ));
        }
    };
    let field = match text("field").unwrap_or("first-line") {
        "first-line" | "password" => Field::FirstLine,
        "full" => Field::Full,
        other => {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("field = {other:?}: use \"first-line\" or \"full\""),
            ));
        }
    };
    Ok(Settings { dialect, field })
}

impl Settings {
    fn program(&self) -> &'static str {
        match self.dialect {
            Dialect::Gopass => "gopass",
            Dialect::Pass => "pass",
        }
    }
}

/// Entry names are paths inside the store: no absolute paths, no `..`, nothing that
/// could be read as an option.
fn check_key(key: &str) -> Result<(), ProviderError> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.starts_with('-')
        || key
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..")
        || key.contains('\0')
        || key.contains('\n');
    if bad {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("{key:?} is not a store entry name (like app/db-password)"),
        ));
    }
    Ok(())
}

struct Output {
    success: bool,
    stdout: Zeroizing<Vec<u8>>,
    stderr: String,
}

/// Runs the tool with `args`, feeding `input` on stdin.
fn run(settings: &Settings, args: &[&str], input: Option<&[u8]>) -> Result<Output, ProviderError> {
    let program = settings.program();
    let mut child = Command::new(program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            let kind = if e.kind() == std::io::ErrorKind::NotFound {
                ErrorKind::Unavailable
            } else {
                ErrorKind::Internal
            };
            let hint = match (kind, program) {
                (ErrorKind::Unavailable, "gopass") => {
                    " (not installed; with pass instead, set command = \"pass\" under [providers.gopass])"
                }
                (ErrorKind::Unavailable, _) => " (not installed)",
                _ => "",
            };
            ProviderError::new(kind, format!("cannot run {program}{hint}")).caused_by(e)
        })?;
    if let Some(input) = input {
        let mut stdin = child.stdin.take().expect("piped");
        // A tool that exits early closes the pipe; its status tells why.
        let _ = stdin.write_all(input);
    }
    let output = child.wait_with_output().map_err(|e| {
        ProviderError::new(ErrorKind::Internal, format!("{program} failed")).caused_by(e)
    })?;
    Ok(Output {
        success: output.status.success(),
        stdout: Zeroizing::new(output.stdout),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
    })
}

/// What a failed run means, from the tool's and gpg's own words.
fn failure(settings: &Settings, key: &str, stderr: &str) -> ProviderError {
    let lower = stderr.to_lowercase();
    let kind = if lower.contains("not in the password store")
        || lower.contains("entry is not in the password store")
        || lower.contains("not found")
    {
        ErrorKind::NotFound
    } else if lower.contains("decryption failed")
        || lower.contains("no secret key")
        || lower.contains("permission denied")
        || lower.contains("bad passphrase")
    {
        ErrorKind::Denied
    } else {
        ErrorKind::Unavailable
    };
    let reason = stderr
        .lines()
        .last()
        .unwrap_or("no reason given")
        .to_string();
    ProviderError::new(
        kind,
        format!("{} could not access {key}", settings.program()),
    )
    .caused_by(reason)
}

fn store_dir() -> PathBuf {
    std::env::var_os("PASSWORD_STORE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".password-store")))
        .unwrap_or_else(|| PathBuf::from(".password-store"))
}

/// Entry names under `dir`: every `*.gpg` file, as pass lays them out.
fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            walk(&path, base, out);
        } else if let Some(key) = path
            .strip_prefix(base)
            .ok()
            .and_then(|p| p.to_str())
            .and_then(|p| p.strip_suffix(".gpg"))
        {
            out.push(key.to_string());
        }
    }
}

struct Gopass;

impl Provider for Gopass {
    fn name(&self) -> &str {
        "gopass"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn ops(&self) -> Vec<Op> {
        vec![Op::Get, Op::List, Op::Set, Op::Delete]
    }

    fn get(&mut self, config: &Config, keys: &[String]) -> Result<GetOk, ProviderError> {
        let settings = settings(config)?;
        let mut answer = GetOk::default();
        for key in keys {
            check_key(key)?;
            let args: Vec<&str> = match (settings.dialect, settings.field) {
                (Dialect::Pass, _) => vec!["show", "--", key],
                (Dialect::Gopass, Field::FirstLine) => vec!["show", "--password", "--", key],
                (Dialect::Gopass, Field::Full) => vec!["cat", "--", key],
            };
            let output = run(&settings, &args, None)?;
            if !output.success {
                let error = failure(&settings, key, &output.stderr);
                if error.kind == ErrorKind::NotFound {
                    answer.not_found(key);
                    continue;
                }
                return Err(error);
            }
            let text = String::from_utf8(output.stdout.to_vec()).map_err(|_| {
                ProviderError::new(ErrorKind::Invalid, format!("the entry {key} is not UTF-8"))
            })?;
            let value = match settings.field {
                Field::FirstLine => text.lines().next().unwrap_or("").to_string(),
                Field::Full => text,
            };
            answer.values.insert(key.clone(), SecretValue::new(value));
        }
        Ok(answer)
    }

    fn list(&mut self, config: &Config, prefix: Option<&str>) -> Result<ListOk, ProviderError> {
        let settings = settings(config)?;
        let mut keys = match settings.dialect {
            Dialect::Pass => {
                let base = store_dir();
                if !base.is_dir() {
                    return Err(ProviderError::new(
                        ErrorKind::Unavailable,
                        format!("no password store at {}; run pass init", base.display()),
                    ));
                }
                let mut keys = Vec::new();
                walk(&base, &base, &mut keys);
                keys
            }
            Dialect::Gopass => {
                let output = run(&settings, &["ls", "--flat"], None)?;
                if !output.success {
                    return Err(failure(&settings, "the store", &output.stderr));
                }
                String::from_utf8_lossy(&output.stdout)
                    .lines()
                    .map(str::to_string)
                    .collect()
            }
        };
        keys.retain(|k| k.starts_with(prefix.unwrap_or("")));
        keys.sort();
        Ok(ListOk { keys })
    }

    fn set(
        &mut self,
        config: &Config,
        key: &str,
        value: &SecretValue,
    ) -> Result<(), ProviderError> {
        let settings = settings(config)?;
        check_key(key)?;
        if settings.field == Field::FirstLine && value.expose().contains('\n') {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                "with field = \"first-line\" a value cannot hold a newline; use field = \"full\"",
            ));
        }
        let args: Vec<&str> = match settings.dialect {
            Dialect::Pass => vec!["insert", "--multiline", "--force", "--", key],
            Dialect::Gopass => vec!["insert", "--force", "--", key],
        };
        let output = run(&settings, &args, Some(value.expose().as_bytes()))?;
        if output.success {
            Ok(())
        } else {
            Err(failure(&settings, key, &output.stderr))
        }
    }

    fn delete(&mut self, config: &Config, key: &str) -> Result<(), ProviderError> {
        let settings = settings(config)?;
        check_key(key)?;
        let args: Vec<&str> = match settings.dialect {
            Dialect::Pass => vec!["rm", "--force", "--", key],
            Dialect::Gopass => vec!["rm", "--force", "--", key],
        };
        let output = run(&settings, &args, None)?;
        if output.success {
            Ok(())
        } else {
            Err(failure(&settings, key, &output.stderr))
        }
    }
}

fn main() -> ExitCode {
    serve(Gopass)
}
