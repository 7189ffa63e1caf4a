//! A grant: the values one AI agent may have a command use, kept apart from the vault.
//!
//! `$XDG_STATE_HOME/secretsd/agents/NAME/` (0700) holds:
//! * `grant.key`: a new age X25519 identity (0600), made for this grant alone and never a
//!   recipient of the vault — whoever holds it opens the bundle and nothing else;
//! * `bundle.age`: the granted values with the scope and expiry, age-encrypted to that key;
//! * `grant.json`: the scope, expiry and the key's public recipient, without values, for
//!   `vault agent list` and for refreshing the bundle when the user changes a granted value
//!   (which needs no key: encrypting to a recipient needs only its public half).
//!
//! `grant.json` decides what a user's write puts in a bundle and for whom, so it is signed
//! with the user's writer key (the key their vault writes are signed with, under a domain
//! of its own): a refresh writes nothing for a scope file the user did not sign, and never
//! more than the names it lists — a new secret a pattern matches needs a new grant.
//!
//! What vault acts on under a grant is the bundle; `grant.json` only lists. Both are files
//! of the same user: an agent that can read the key can decrypt the bundle and write
//! another, so expiry and the command list are what vault enforces, not a boundary (see
//! SECURITY.md: the agent host's sandbox is).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::store::signature::{Domain, SigningKey};
use crate::store::{fs as store_fs, strict};

/// The key file's name in a grant's directory.
pub const KEY_FILE: &str = "grant.key";
const BUNDLE_FILE: &str = "bundle.age";
const SCOPE_FILE: &str = "grant.json";

/// What a grant allows, without values.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Scope {
    pub name: String,
    /// The `--only` patterns: names, or globs with `*`.
    pub patterns: Vec<String>,
    /// The names granted when the grant was made or last refreshed.
    pub names: Vec<String>,
    /// The commands allowed (`--command`), each a resolved absolute program and its
    /// arguments; `...` as the last word allows any further arguments. Empty: any program
    /// but a shell.
    pub commands: Vec<Vec<String>>,
    /// The project directory (canonical) the command's working directory must be inside.
    pub project: PathBuf,
    /// Seconds since the epoch.
    pub created_at: u64,
    pub expires_at: u64,
}

impl Scope {
    /// The allowed commands as a person reads them: `PROGRAM ARGS; PROGRAM ARGS`.
    pub fn commands_text(&self) -> String {
        self.commands
            .iter()
            .map(|c| c.join(" "))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// `grant.json`: the scope and the recipient the bundle is encrypted to.
#[derive(Serialize, Deserialize)]
struct ScopeFile {
    #[serde(flatten)]
    scope: Scope,
    recipient: String,
}

/// The bundle's plaintext as read: the scope and the granted values.
#[derive(Deserialize)]
struct BundleIn {
    scope: Scope,
    secrets: BTreeMap<String, SecretString>,
}

/// The bundle's plaintext as written (values borrowed, never copied into a `String`).
#[derive(Serialize)]
struct BundleOut<'a> {
    scope: &'a Scope,
    secrets: BTreeMap<&'a str, &'a str>,
}

/// A grant opened with its key: the scope and the values.
pub struct Grant {
    pub scope: Scope,
    pub secrets: BTreeMap<String, SecretString>,
    /// The key file it was opened with.
    pub key_path: PathBuf,
}

impl Grant {
    /// Refuses once the grant has expired, saying when.
    pub fn check_expiry(&self) -> Result<()> {
        check_expiry(&self.scope)
    }
}

/// Refuses a scope past its expiry.
pub fn check_expiry(scope: &Scope) -> Result<()> {
    if now() >= scope.expires_at {
        return Err(Error::LockedOut(format!(
            "grant {} expired at {}; ask the user for a new one (vault agent grant)",
            scope.name,
            format_time(scope.expires_at)
        )));
    }
    Ok(())
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2026-12-06T01:05:00Z`.
pub fn format_time(seconds: u64) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds),
    )
    .to_string()
}

/// `$XDG_STATE_HOME/secretsd` (see the trust file's rules).
pub fn state_dir() -> Result<PathBuf> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    Ok(crate::store::trust::state::state_dir(
        var("XDG_STATE_HOME").as_deref(),
        var("HOME").as_deref(),
        rustix::process::geteuid().is_root(),
    )?)
}

/// Where the grants live.
pub fn agents_dir() -> Result<PathBuf> {
    Ok(state_dir()?.join("agents"))
}

/// A grant's name: letters, digits, `_`, `-`, `.`, starting with a letter or digit, at most
/// 64 characters — it names a directory.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "{:?} is not a grant name: use letters, digits, '_', '-' and '.', starting with a letter or digit, at most 64 characters",
            crate::names::printable(name, false)
        )))
    }
}

/// Whether `name` matches `pattern` (`*` matches any run of characters).
pub fn matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    if !name.ends_with(last) {
        return false;
    }
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// Makes a grant: a new key, the bundle encrypted to it, the scope file. An existing grant
/// of that name is replaced (its old key can no longer open the new bundle).
pub fn create(scope: &Scope, values: &[(&str, &str)], signer: &SigningKey) -> Result<PathBuf> {
    let dir = agents_dir()?.join(&scope.name);
    store_fs::ensure_private_dir(&dir)?;
    strict::check_private_dir(&dir, "grant directory")?;
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public();
    let key_text = Zeroizing::new(format!(
        "# vault agent grant {}\n# public key: {recipient}\n{}\n",
        scope.name,
        identity.to_string().expose_secret()
    ));
    let key_path = dir.join(KEY_FILE);
    // The bundle first: a key without its bundle opens nothing.
    write_bundle(&dir, scope, values, &recipient, signer)?;
    store_fs::write_atomic(&key_path, key_text.as_bytes(), false)?;
    Ok(key_path)
}

/// Writes the bundle and the scope file for `recipient`.
fn write_bundle(
    dir: &Path,
    scope: &Scope,
    values: &[(&str, &str)],
    recipient: &age::x25519::Recipient,
    signer: &SigningKey,
) -> Result<()> {
    let out = BundleOut {
        scope,
        secrets: values.iter().copied().collect(),
    };
    // Sized up front: JSON escapes at most six bytes per byte, so no reallocation leaves
    // an unwiped copy of a value behind.
    let room: usize = values.iter().map(|(n, v)| n.len() + 6 * v.len() + 8).sum();
    let mut plaintext = Zeroizing::new(Vec::with_capacity(room + 4096));
    serde_json::to_writer(&mut *plaintext, &out)
        .map_err(|e| Error::Failed(format!("cannot write the grant bundle: {e}")))?;
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
            .map_err(|e| Error::Failed(format!("cannot encrypt the grant bundle: {e}")))?;
    let mut ciphertext = Vec::with_capacity(plaintext.len() + 512);
    let failed = |e: std::io::Error| Error::Failed(format!("cannot encrypt the grant bundle: {e}"));
    let mut writer = encryptor.wrap_output(&mut ciphertext).map_err(failed)?;
    writer.write_all(&plaintext).map_err(failed)?;
    writer.finish().map_err(failed)?;
    store_fs::write_atomic(&dir.join(BUNDLE_FILE), &ciphertext, false)?;
    let scope_file = ScopeFile {
        scope: scope.clone(),
        recipient: recipient.to_string(),
    };
    let text = serde_json::to_vec_pretty(&scope_file)
        .map_err(|e| Error::Failed(format!("cannot write the grant scope: {e}")))?;
    let signed = crate::store::signature::sign_object(Domain::AgentScope, Some(signer), &text)
        .map_err(|e| Error::Failed(format!("cannot sign the grant scope: {e}")))?;
    Ok(store_fs::write_atomic(
        &dir.join(SCOPE_FILE),
        &signed,
        false,
    )?)
}

/// Opens the grant whose key is at `key_path`: checks the key file (the user's, 0600), and
/// decrypts the bundle beside it. No other identity is read.
pub fn open(key_path: &Path) -> Result<Grant> {
    strict::check_private_file(key_path, "grant key")?;
    let key_text = crate::regular_file::read_text(key_path, key_path, "grant key")?;
    let identity = key_text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .and_then(|l| age::x25519::Identity::from_str(l).ok())
        .ok_or_else(|| {
            Error::BadData(format!(
                "{} is not a grant key (no AGE-SECRET-KEY line)",
                key_path.display()
            ))
        })?;
    let dir = crate::store::fs::parent_dir(key_path);
    let bundle_path = dir.join(BUNDLE_FILE);
    if !bundle_path.exists() {
        return Err(Error::LockedOut(format!(
            "the grant of {} was revoked (no bundle at {})",
            key_path.display(),
            bundle_path.display()
        )));
    }
    strict::check_private_file(&bundle_path, "grant bundle")?;
    let ciphertext = crate::regular_file::open(&bundle_path, &bundle_path, "grant bundle")?.read(
        &bundle_path,
        &bundle_path,
        "grant bundle",
    )?;
    let unreadable = |e: &dyn std::fmt::Display| {
        Error::BadData(format!(
            "the grant bundle {} cannot be opened with {}: {e}",
            bundle_path.display(),
            key_path.display()
        ))
    };
    let decryptor = age::Decryptor::new_buffered(&ciphertext[..]).map_err(|e| unreadable(&e))?;
    let mut reader = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| unreadable(&e))?;
    let mut plaintext = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    reader
        .read_to_end(&mut plaintext)
        .map_err(|e| unreadable(&e))?;
    let bundle: BundleIn = serde_json::from_slice(&plaintext)
        .map_err(|_| unreadable(&"its content is not a grant bundle"))?;
    Ok(Grant {
        scope: bundle.scope,
        secrets: bundle.secrets,
        key_path: key_path.to_path_buf(),
    })
}

/// A grant's scope as its file reads, and whether the user signed it.
pub struct Listed {
    pub scope: Scope,
    /// Signed by the writer key given; `None` when no key was given to check with.
    pub signed: Option<bool>,
}

/// Every grant's scope, by name, checked against `signer` when given (no grant key is read).
pub fn list_checked(signer: Option<&SigningKey>) -> Result<Vec<Listed>> {
    let dir = agents_dir()?;
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read", &dir, e)),
    };
    let mut listed = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path().join(SCOPE_FILE);
        if let Some((file, text)) = read_scope_text(&path)? {
            let signed = signer.map(|key| is_signed(&text, key));
            listed.push(Listed {
                scope: file.scope,
                signed,
            });
        }
    }
    listed.sort_by(|a, b| a.scope.name.cmp(&b.scope.name));
    Ok(listed)
}

fn is_signed(text: &[u8], key: &SigningKey) -> bool {
    crate::store::signature::signed_by(Domain::AgentScope, text, &key.writer())
}

/// Every grant's scope, by name (no key is read, no signature checked).
pub fn list() -> Result<Vec<Scope>> {
    Ok(list_checked(None)?.into_iter().map(|l| l.scope).collect())
}

fn read_scope_file(path: &Path) -> Result<Option<ScopeFile>> {
    Ok(read_scope_text(path)?.map(|(file, _)| file))
}

/// The scope file at `path` and its bytes (what its signature covers).
fn read_scope_text(path: &Path) -> Result<Option<(ScopeFile, Vec<u8>)>> {
    if !path.exists() {
        return Ok(None);
    }
    strict::check_private_file(path, "grant scope file")?;
    let text = crate::regular_file::read_text(path, path, "grant scope file")?;
    let file = serde_json::from_str(&text).map_err(|e| {
        Error::BadData(format!(
            "the grant scope file {} is not valid: {e}",
            path.display()
        ))
    })?;
    Ok(Some((file, text.as_bytes().to_vec())))
}

/// The scope of the grant `name`, if there is one.
pub fn scope_of(name: &str) -> Result<Option<Scope>> {
    validate_name(name)?;
    Ok(read_scope_file(&agents_dir()?.join(name).join(SCOPE_FILE))?.map(|f| f.scope))
}

/// Removes a grant: key, bundle and scope file (the key first, so nothing can open what is
/// left), then its directory. False if there was none.
pub fn revoke(name: &str) -> Result<bool> {
    validate_name(name)?;
    let dir = agents_dir()?.join(name);
    if !dir.is_dir() {
        return Ok(false);
    }
    for file in [KEY_FILE, BUNDLE_FILE, SCOPE_FILE] {
        let path = dir.join(file);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("remove", &path, e)),
        }
    }
    std::fs::remove_dir(&dir).map_err(|e| Error::io("remove", &dir, e))?;
    store_fs::sync_dir(&crate::store::fs::parent_dir(&dir))?;
    Ok(true)
}

/// The grants (not expired) a change of `names` concerns: those whose signed scope lists
/// one of them. Scope files `signer` did not sign are returned apart, by name.
pub fn concerned(names: &[String], signer: &SigningKey) -> Result<(Vec<Scope>, Vec<String>)> {
    let mut concerned = Vec::new();
    let mut forged = Vec::new();
    for listed in list_checked(Some(signer))? {
        let scope = listed.scope;
        if listed.signed != Some(true) {
            forged.push(scope.name);
            continue;
        }
        if now() < scope.expires_at && names.iter().any(|n| scope.names.contains(n)) {
            concerned.push(scope);
        }
    }
    Ok((concerned, forged))
}

/// Writes the bundle of the grant `name` again with `values`, encrypted to the recipient in
/// its scope file, which must be signed by `signer` (no grant key is needed). Only the
/// names the signed scope lists are written: a refresh never widens a grant.
pub fn refresh(name: &str, values: &[(&str, &str)], signer: &SigningKey) -> Result<()> {
    validate_name(name)?;
    let dir = agents_dir()?.join(name);
    let (file, text) = read_scope_text(&dir.join(SCOPE_FILE))?
        .ok_or_else(|| Error::NotFound(format!("no grant named {name} to refresh")))?;
    if !is_signed(&text, signer) || file.scope.name != name {
        return Err(Error::BadData(format!(
            "the scope file of grant {name} is not signed by you (forged or damaged): nothing was written for it; revoke it (vault agent revoke {name})"
        )));
    }
    let recipient = age::x25519::Recipient::from_str(&file.recipient).map_err(|e| {
        Error::BadData(format!(
            "the grant scope file of {name} has no valid recipient: {e}"
        ))
    })?;
    let scope = file.scope;
    let kept: Vec<(&str, &str)> = values
        .iter()
        .copied()
        .filter(|(n, _)| scope.names.iter().any(|granted| granted == n))
        .collect();
    write_bundle(&dir, &scope, &kept, &recipient, signer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_names_and_globs() {
        assert!(matches("API_KEY", "API_KEY"));
        assert!(!matches("API_KEY", "API_KEY2"));
        assert!(matches("STRIPE_*", "STRIPE_KEY"));
        assert!(matches("*_KEY", "STRIPE_KEY"));
        assert!(matches("A*B*C", "AxxBxxC"));
        assert!(!matches("A*B*C", "AxxCxxB"));
        assert!(!matches("AB*BA", "ABA"));
        assert!(matches("*", "ANY"));
    }

    #[test]
    fn grant_names_are_directory_safe() {
        assert!(validate_name("claude-1").is_ok());
        for bad in ["", "..", ".x", "a/b", "a b", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
