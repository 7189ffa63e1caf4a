//! Encrypted backups beside the vault (docs/DESIGN.md).
//!
//! Before every change the current ciphertext is copied to `backups/<stem>-<ID>.age`
//! (`ID` is the UTC time, `-N` for more in one second), with a JSON record naming the
//! operation and the secret names it touched — never values — and, when the change also
//! rewrites other files (a rotation, a restore), those files sealed like the vault in
//! `<stem>-<ID>.files.age`. A backup is the vault exactly as it was, so it opens with the
//! same identity or `age -d`. The record is written last, so a backup is whole or absent.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::document::timestamp_now;
use crate::error::{Error, Result};
use crate::fs::{PreparedFile, ensure_private_dir, parent_dir, write_atomic};

/// How many encrypted backups are kept beside the vault, and for how long.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupPolicy {
    /// Make a backup before every change.
    pub enabled: bool,
    /// Keep at most this many backups (the newest).
    pub keep: usize,
    /// Delete backups older than this many days.
    pub max_age_days: u64,
}

impl Default for BackupPolicy {
    fn default() -> Self {
        BackupPolicy {
            enabled: true,
            keep: 30,
            max_age_days: 90,
        }
    }
}

/// The backups directory of a vault.
pub fn backup_dir(vault_path: &Path) -> PathBuf {
    parent_dir(vault_path).join("backups")
}

fn stem(vault_path: &Path) -> String {
    vault_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vault".into())
}

/// What a backup records beside the vault's ciphertext. Never values.
#[derive(Default)]
pub struct Record<'a> {
    /// A word for what was about to happen: "set", "rotate", "restore", "backup", ….
    pub operation: &'a str,
    /// The secret names the change touches.
    pub names: &'a [String],
    /// A note from the user (`vault backup --note`).
    pub note: Option<&'a str>,
    /// Services a rotation restarts, so `rotate --restart-only` can find them again.
    pub services: &'a [String],
    /// Other files the change rewrites, sealed like the vault (see [`files_to_json`]).
    pub files: Option<SealedFiles<'a>>,
}

/// Files saved with a backup: their paths (listed in the metadata) and the sealed bundle.
pub struct SealedFiles<'a> {
    /// The paths of the files, in the order they were sealed.
    pub paths: &'a [String],
    /// The sealed bundle.
    pub ciphertext: &'a [u8],
}

/// The metadata file of a backup. It is written last: a backup exists once its metadata
/// does, and data without metadata is what a killed writer left (removed by the next one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Metadata {
    /// Always `secretsd-backup`.
    pub format: String,
    /// The metadata format version.
    pub version: u32,
    /// The vault file the backup is of.
    pub vault: String,
    /// When the backup was made (RFC 3339).
    pub created: String,
    /// The operation that made it (`set`, `rotate`…).
    pub operation: String,
    /// The secret names the operation touched (never values).
    #[serde(default)]
    pub names: Vec<String>,
    /// A note the user gave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Services the operation restarted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// Files the operation rewrote, saved beside the backup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// A backup just made.
pub struct Saved {
    /// Its id (see [`Backup::id`]).
    pub id: String,
    /// The ciphertext file.
    pub path: PathBuf,
}

/// A backup found on disk, complete (its metadata was written).
#[derive(Debug, Clone)]
pub struct Backup {
    /// `20261125T130229Z` or `20261125T130229Z-2`: what `vault restore --backup` takes.
    pub id: String,
    /// The vault's ciphertext as it was.
    pub path: PathBuf,
    /// Its metadata record.
    pub metadata: Metadata,
}

impl Backup {
    /// The sealed bundle of other files, when the backup holds any.
    pub fn files_path(&self) -> Option<PathBuf> {
        (!self.metadata.files.is_empty()).then(|| files_path(&self.path))
    }
}

/// The files bundle beside a backup's vault copy.
fn files_path(data: &Path) -> PathBuf {
    data.with_extension("files.age")
}

fn metadata_path(data: &Path) -> PathBuf {
    data.with_extension("json")
}

/// One file as it was: its text, mode and owner.
#[derive(Clone, Serialize, Deserialize)]
pub struct SavedFile {
    /// Its path.
    pub path: String,
    /// Its mode bits.
    pub mode: u32,
    /// Its owner.
    pub uid: u32,
    /// Its group.
    pub gid: u32,
    /// Its text (it may hold secrets: the bundle is sealed like the vault).
    pub content: String,
}

impl std::fmt::Debug for SavedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedFile")
            .field("path", &self.path)
            .field("mode", &format_args!("{:04o}", self.mode))
            .finish_non_exhaustive()
    }
}

impl Drop for SavedFile {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.content);
    }
}

/// The `format` of a sealed files bundle.
pub const FILES_FORMAT: &str = "secretsd-backup-files";

/// The files a backup holds, as JSON in a buffer zeroed on drop: the plaintext sealed
/// into `<backup>.files.age`. Contents are secrets; only paths go into the metadata.
/// Signed by `key` when given (see `signature`): a restore puts back only files this
/// user's own vault recorded.
pub fn files_to_json(
    files: &[SavedFile],
    key: Option<&crate::signature::SigningKey>,
) -> Result<crate::secret_bytes::SecretBytes> {
    #[derive(Serialize)]
    struct Bundle<'a> {
        format: &'static str,
        version: u32,
        files: &'a [SavedFile],
    }
    // Grows as it is written: a SecretBytes wipes each allocation it leaves.
    let mut json = crate::secret_bytes::SecretBytes::default();
    serde_json::to_writer(
        &mut json,
        &Bundle {
            format: FILES_FORMAT,
            version: 1,
            files,
        },
    )
    .map_err(|e| Error::Failed(format!("cannot describe the backed-up files: {e}")))?;
    crate::signature::sign_object(crate::signature::Domain::Files, key, &json)
        .map_err(|e| Error::Failed(format!("cannot sign the backed-up files: {e}")))
}

/// Reads what [`files_to_json`] wrote; `what` names the backup in errors.
pub fn files_from_json(plaintext: &[u8], what: &str) -> Result<Vec<SavedFile>> {
    #[derive(Deserialize)]
    struct Bundle {
        format: String,
        version: u32,
        files: Vec<SavedFile>,
    }
    let bundle: Bundle = serde_json::from_slice(plaintext)
        .map_err(|_| Error::BadData(format!("{what} is not a backup of files")))?;
    if bundle.format != FILES_FORMAT || bundle.version != 1 {
        return Err(Error::BadData(format!(
            "{what} is a backup of files in a format this vault does not understand"
        )));
    }
    // Permissions only: set-user-ID, set-group-ID and sticky bits are never put back.
    let mut files = bundle.files;
    for file in &mut files {
        file.mode &= 0o777;
    }
    Ok(files)
}

/// One file name in the backups directory, ordered by time then sequence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct BackupName {
    compact_time: String,
    sequence: u32,
    file_name: String,
}

impl BackupName {
    fn id(&self) -> String {
        if self.sequence == 0 {
            self.compact_time.clone()
        } else {
            format!("{}-{}", self.compact_time, self.sequence)
        }
    }
}

fn parse_backup_name(stem: &str, file_name: &str) -> Option<BackupName> {
    let rest = file_name
        .strip_prefix(stem)?
        .strip_prefix('-')?
        .strip_suffix(".age")?;
    let (time, sequence) = match rest.split_once('-') {
        Some((time, n)) => (time, n.parse().ok()?),
        None => (rest, 0),
    };
    let well_formed = time.len() == 16
        && time.as_bytes()[8] == b'T'
        && time.ends_with('Z')
        && time.chars().filter(char::is_ascii_digit).count() == 14;
    well_formed.then(|| BackupName {
        compact_time: time.to_string(),
        sequence,
        file_name: file_name.to_string(),
    })
}

/// Backups named for a time after this one (a day from now, for clocks that disagree) are
/// not vault's: a name from the future would be "the newest" forever — what `--latest`
/// restores, and what pushes every real backup out of retention — and a backups directory
/// can arrive through a git branch.
fn from_the_future(name: &BackupName) -> bool {
    let tomorrow = std::time::SystemTime::now() + std::time::Duration::from_secs(86_400);
    name.compact_time > compact(&humantime::format_rfc3339_seconds(tomorrow).to_string())
}

/// `2026-11-25T13:02:29Z` → `20261125T130229Z`.
fn compact(rfc3339: &str) -> String {
    rfc3339.chars().filter(|c| *c != '-' && *c != ':').collect()
}

/// The first `len` bytes of the open vault file `source` (all of it, as read), copied by
/// the kernel into an unnamed file in the backups directory ahead of the change (see
/// [`save`]). `None` where the filesystem has no unnamed files.
pub fn prepare(vault_path: &Path, mut source: File, len: u64) -> Result<Option<PreparedFile>> {
    let dir = backup_dir(vault_path);
    ensure_private_dir(&dir)?;
    let Some(mut file) = PreparedFile::create(&dir)? else {
        return Ok(None);
    };
    let what = dir.join(format!("{}-ID.age", stem(vault_path)));
    source
        .seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("read", vault_path, e))?;
    // File to file: std copies with copy_file_range, no buffer of ours in between.
    let copied = std::io::copy(&mut (&mut source).take(len), file.file())
        .map_err(|e| Error::io("write the new", &what, e))?;
    if copied != len {
        return Err(Error::Failed(format!(
            "{} changed while it was being backed up",
            vault_path.display()
        )));
    }
    file.finish(0o600, None, &what)?;
    Ok(Some(file))
}

/// What a backup keeps of the vault: its ciphertext, or that ciphertext already written
/// by [`prepare`].
pub enum Data<'a> {
    /// The ciphertext itself.
    Bytes(&'a [u8]),
    /// The ciphertext, already written to a file not yet linked.
    Prepared(PreparedFile),
}

/// Saves `data` (the vault before the change `record` describes) and prunes old backups.
/// Called with the writer lock held, so no other writer is in the directory.
pub fn save(
    vault_path: &Path,
    data: Data<'_>,
    record: &Record<'_>,
    policy: &BackupPolicy,
) -> Result<Option<Saved>> {
    if !policy.enabled {
        return Ok(None);
    }
    let dir = backup_dir(vault_path);
    ensure_private_dir(&dir)?;
    let stem = stem(vault_path);
    let now = timestamp_now();
    let time = compact(&now);
    // After every backup of this second, even when older ones of it were pruned, so the
    // order of ids is the order of changes.
    let sequence = fs::read_dir(&dir)
        .map_err(|e| Error::io("read the backups directory", &dir, e))?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let data = name.strip_suffix(".json").map(|b| format!("{b}.age"));
            parse_backup_name(&stem, data.as_deref().unwrap_or(&name))
        })
        .filter(|b| b.compact_time == time)
        .map(|b| b.sequence + 1)
        .max()
        .unwrap_or(0);
    let id = if sequence == 0 {
        time.clone()
    } else {
        format!("{time}-{sequence}")
    };
    let path = dir.join(format!("{stem}-{id}.age"));
    let metadata = Metadata {
        format: "secretsd-backup".into(),
        version: 1,
        vault: vault_path.display().to_string(),
        created: now,
        operation: record.operation.to_string(),
        names: record.names.to_vec(),
        note: record.note.map(str::to_string),
        services: record.services.to_vec(),
        files: record
            .files
            .as_ref()
            .map(|f| f.paths.to_vec())
            .unwrap_or_default(),
    };
    let json = serde_json::to_vec_pretty(&metadata)
        .map_err(|e| Error::Failed(format!("cannot describe the backup: {e}")))?;
    match data {
        Data::Bytes(ciphertext) => write_atomic(&path, ciphertext, true)?,
        Data::Prepared(file) => drop(file.persist(&path, true)?),
    }
    if let Some(files) = &record.files {
        write_atomic(&files_path(&path), files.ciphertext, true)?;
    }
    // Last: from here on the backup exists.
    write_atomic(&metadata_path(&path), &json, false)?;
    prune(&dir, &stem, policy, &id);
    Ok(Some(Saved { id, path }))
}

/// The complete backups of the vault at `vault_path`, newest first.
pub fn list(vault_path: &Path) -> Result<Vec<Backup>> {
    let dir = backup_dir(vault_path);
    let stem = stem(vault_path);
    // A backup another user could have put there would be restored as this vault.
    crate::strict::check_private_dir(&dir, "backups directory")?;
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read the backups directory", &dir, e)),
    };
    let mut names: Vec<BackupName> = entries
        .flatten()
        .filter_map(|e| parse_backup_name(&stem, &e.file_name().to_string_lossy()))
        .filter(|name| !from_the_future(name))
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    let mut backups = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(&name.file_name);
        let json_path = metadata_path(&path);
        let text = match fs::read(&json_path) {
            Ok(text) => text,
            // No metadata: a write that was killed; not a backup.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", &json_path, e)),
        };
        let metadata: Metadata = serde_json::from_slice(&text).map_err(|e| {
            Error::BadData(format!(
                "the backup record {} is not valid ({e}); move it away to continue",
                json_path.display()
            ))
        })?;
        backups.push(Backup {
            id: name.id(),
            path,
            metadata,
        });
    }
    Ok(backups)
}

/// The backup whose id starts with `prefix`; an ambiguous or unknown prefix is an error
/// naming the candidates.
pub fn find(vault_path: &Path, prefix: &str) -> Result<Backup> {
    let backups = list(vault_path)?;
    if let Some(exact) = backups.iter().find(|b| b.id == prefix) {
        return Ok(exact.clone());
    }
    let matching: Vec<&Backup> = backups
        .iter()
        .filter(|b| !prefix.is_empty() && b.id.starts_with(prefix))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(Error::NotFound(format!(
            "no backup of {} has an id starting with {prefix:?}; see 'vault restore --list'",
            vault_path.display()
        ))),
        many => Err(Error::Usage(format!(
            "{prefix:?} matches {} backups ({}); give more of the id",
            many.len(),
            many.iter()
                .take(5)
                .map(|b| b.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Removes what a killed writer left in the backups directory: temp files, and data
/// files whose metadata was never written. Called with the writer lock held.
pub fn remove_leftovers(vault_path: &Path) {
    let dir = backup_dir(vault_path);
    let stem = stem(vault_path);
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let path = entry.path();
        let stale_temp = name.starts_with('.') && name.ends_with(".tmp");
        let data = name
            .strip_suffix(".files.age")
            .map(|base| format!("{base}.age"))
            .unwrap_or_else(|| name.to_string());
        let orphan =
            parse_backup_name(&stem, &data).is_some() && !metadata_path(&dir.join(&data)).exists();
        if stale_temp || orphan {
            let _ = fs::remove_file(path);
        }
    }
}

/// Deletes backups beyond the newest `keep` and those older than `max_age_days`, never
/// the newest nor `just_made`, and never one named for a time to come (see
/// [`from_the_future`]), which does not count either. Best effort: a backup that cannot
/// be deleted now is tried again next time.
fn prune(dir: &Path, stem: &str, policy: &BackupPolicy, just_made: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut backups: Vec<BackupName> = entries
        .flatten()
        .filter_map(|e| parse_backup_name(stem, &e.file_name().to_string_lossy()))
        .filter(|name| !from_the_future(name) && name.id() != just_made)
        .collect();
    backups.sort_unstable_by(|a, b| b.cmp(a));
    // An age beyond what the clock can subtract means "no age limit", not "delete all".
    let cutoff = policy
        .max_age_days
        .checked_mul(86_400)
        .and_then(|secs| {
            std::time::SystemTime::now().checked_sub(std::time::Duration::from_secs(secs))
        })
        .map(|t| compact(&humantime::format_rfc3339_seconds(t).to_string()));
    // The backup just made is the newest and is kept: the others are counted after it.
    for (index, backup) in backups.iter().enumerate() {
        let index = index + 1;
        let too_old = cutoff
            .as_deref()
            .is_some_and(|cutoff| backup.compact_time.as_str() < cutoff);
        if index >= policy.keep.max(1) || too_old {
            let path = dir.join(&backup.file_name);
            // Metadata first: without it the rest is a leftover, never a half backup.
            let _ = fs::remove_file(metadata_path(&path));
            let _ = fs::remove_file(files_path(&path));
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_sort_by_time_then_sequence() {
        let mut names: Vec<_> = [
            "vault-20261125T130229Z-1.age",
            "vault-20261125T130229Z.age",
            "vault-20261124T230000Z.age",
            "vault-20261125T130229Z-10.age",
            "vault-20261125T130229Z-2.age",
        ]
        .iter()
        .map(|n| parse_backup_name("vault", n).unwrap())
        .collect();
        names.sort();
        let order: Vec<_> = names.iter().map(|n| n.file_name.as_str()).collect();
        assert_eq!(
            order,
            [
                "vault-20261124T230000Z.age",
                "vault-20261125T130229Z.age",
                "vault-20261125T130229Z-1.age",
                "vault-20261125T130229Z-2.age",
                "vault-20261125T130229Z-10.age",
            ]
        );
    }

    #[test]
    fn other_files_are_not_backups() {
        for name in [
            "vault-prod-20261125T130229Z.age",
            "vault-x.age",
            "vault-20261125T130229Z.json",
        ] {
            assert!(parse_backup_name("vault", name).is_none(), "{name}");
        }
    }
}
