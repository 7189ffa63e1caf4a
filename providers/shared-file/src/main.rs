//! `secretsd-provider-shared-file`: secrets in one .env file, typically root-owned and
//! shared by several services (`/opt/shared-secrets/api-secrets.env`).
//!
//! Config: `path` (required); `world_readable = true` to allow writing into a file every
//! user can read (refused otherwise). Keys are variable names. Writes keep comments, order and
//! every unrelated line byte for byte, take a lock, replace the file atomically and keep
//! its mode (0600 for a new file).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use secretsd_protocol::{
    Config, ErrorKind, GetOk, ListOk, Op, Provider, ProviderError, SecretValue, serve,
};
use secretsd_store::formats::dotenv::{self, Assignment};
use secretsd_store::fs::{WriterLock, write_atomic_with_mode};
use secretsd_store::names::validate_name;

struct SharedFile;

fn path_of(config: &Config) -> Result<PathBuf, ProviderError> {
    config
        .get("path")
        .and_then(|v| v.as_str())
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Invalid,
                "no file configured: set path = \"/path/to/file.env\" under [providers.shared-file]",
            )
        })
}

fn io_error(path: &Path, what: &str, error: std::io::Error) -> ProviderError {
    let kind = match error.kind() {
        std::io::ErrorKind::PermissionDenied => ErrorKind::Denied,
        std::io::ErrorKind::NotFound => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    ProviderError::new(kind, format!("cannot {what} {}", path.display())).caused_by(error)
}

/// The file's text; a missing file reads as empty when `missing_ok` (a first `set`).
fn read(path: &Path, missing_ok: bool) -> Result<String, ProviderError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!("{} is not UTF-8", path.display()),
            )
        }),
        Err(e) if missing_ok && e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io_error(path, "read", e)),
    }
}

fn parse(path: &Path, text: &str) -> Result<Vec<Assignment>, ProviderError> {
    dotenv::parse_file(text, &path.display().to_string())
        .map_err(|e| ProviderError::new(ErrorKind::Invalid, e.to_string()))
}

fn check_key(key: &str) -> Result<(), ProviderError> {
    validate_name(key).map_err(|e| ProviderError::new(ErrorKind::Invalid, e.to_string()))
}

/// Refuses to write a secret into a file every local user can read, unless the
/// configuration says that is intended (`world_readable = true`).
fn refuse_world_readable(path: &Path, config: &Config) -> Result<(), ProviderError> {
    let allowed = config.get("world_readable").and_then(|v| v.as_bool()) == Some(true);
    let mode = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777);
    match mode {
        Ok(mode) if mode & 0o004 != 0 && !allowed => Err(ProviderError::new(
            ErrorKind::Denied,
            format!(
                "{} is readable by every user (mode {mode:04o}), so a secret written there is not secret; fix it with chmod o-r {}, or set world_readable = true under [providers.shared-file] if that is intended",
                path.display(),
                path.display()
            ),
        )),
        _ => Ok(()),
    }
}

/// Rewrites the file under its lock with `edit`, keeping its mode.
fn edit(
    path: &Path,
    edit: impl FnOnce(&str, &[Assignment]) -> Result<String, ProviderError>,
) -> Result<(), ProviderError> {
    let _lock = WriterLock::acquire(path).map_err(|e| {
        ProviderError::new(ErrorKind::Denied, format!("cannot lock {}", path.display()))
            .caused_by(e)
    })?;
    let mode = std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o600);
    let text = read(path, true)?;
    let assignments = parse(path, &text)?;
    let new_text = edit(&text, &assignments)?;
    write_atomic_with_mode(path, new_text.as_bytes(), false, mode).map_err(|e| {
        ProviderError::new(
            ErrorKind::Denied,
            format!("cannot write {}", path.display()),
        )
        .caused_by(e)
    })
}

impl Provider for SharedFile {
    fn name(&self) -> &str {
        "shared-file"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn ops(&self) -> Vec<Op> {
        vec![Op::Get, Op::List, Op::Set, Op::Delete]
    }

    fn get(&mut self, config: &Config, keys: &[String]) -> Result<GetOk, ProviderError> {
        let path = path_of(config)?;
        let text = read(&path, false)?;
        let mut assignments = parse(&path, &text)?;
        let mut answer = GetOk::default();
        for key in keys {
            // The last assignment wins, as in a shell.
            match assignments.iter().rposition(|a| &a.name == key) {
                Some(index) => {
                    let found = assignments.swap_remove(index);
                    answer
                        .values
                        .insert(key.clone(), SecretValue::from(found.value));
                }
                None => answer.not_found(key),
            }
        }
        Ok(answer)
    }

    fn list(&mut self, config: &Config, prefix: Option<&str>) -> Result<ListOk, ProviderError> {
        let path = path_of(config)?;
        let text = read(&path, false)?;
        let mut keys: Vec<String> = parse(&path, &text)?
            .into_iter()
            .map(|a| a.name)
            .filter(|n| n.starts_with(prefix.unwrap_or("")))
            .collect();
        keys.sort();
        keys.dedup();
        Ok(ListOk { keys })
    }

    fn set(
        &mut self,
        config: &Config,
        key: &str,
        value: &SecretValue,
    ) -> Result<(), ProviderError> {
        check_key(key)?;
        let path = path_of(config)?;
        refuse_world_readable(&path, config)?;
        edit(&path, |text, _| {
            dotenv::set_in_text(text, key, value.expose())
                .map_err(|e| ProviderError::new(ErrorKind::Invalid, e.to_string()))
        })
    }

    fn delete(&mut self, config: &Config, key: &str) -> Result<(), ProviderError> {
        check_key(key)?;
        let path = path_of(config)?;
        edit(&path, |text, assignments| {
            let mut doomed: Vec<_> = assignments.iter().filter(|a| a.name == key).collect();
            if doomed.is_empty() {
                return Err(ProviderError::new(
                    ErrorKind::NotFound,
                    format!("{key} is not in {}", path.display()),
                ));
            }
            doomed.sort_by_key(|a| a.span.start);
            let mut out = String::with_capacity(text.len());
            let mut copied = 0;
            for assignment in doomed {
                // The whole line(s) go: from the line's start to after its newline.
                let start = text[..assignment.span.start]
                    .rfind('\n')
                    .map_or(0, |i| i + 1);
                let end = text[assignment.span.end..]
                    .find('\n')
                    .map_or(text.len(), |i| assignment.span.end + i + 1);
                out.push_str(&text[copied..start]);
                copied = end;
            }
            out.push_str(&text[copied..]);
            Ok(out)
        })
    }
}

fn main() -> ExitCode {
    // Diagnostics name paths and kinds, never values.
    serve(SharedFile)
}
