//! Files other than the vault that vault writes secrets into — the .env files of a
//! rotation or a sync, an export, the files a restore puts back. Each is checked first
//! (`strict::SecretTarget`: nobody else could read or redirect what is written), locked
//! like the vault (a sidecar `.lock`, the same one the shared-file provider takes), read
//! with its mode and owner for the backup, and replaced atomically: by its owner and
//! group, without others' access.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::backup::SavedFile;
use crate::error::{Error, Result};
use crate::fs::{LockWait, WriterLock, remove_stale_temp_files, write_atomic_as};
use crate::strict::{SecretTarget, secret_mode};

/// Files held under their writer locks, with their contents as they were when locked.
pub struct LockedFiles {
    _locks: Vec<WriterLock>,
    /// In the order of the targets given; files that did not exist are absent.
    pub files: Vec<SavedFile>,
}

impl LockedFiles {
    /// Locks every target (in a fixed order, so two writers cannot deadlock) and reads it.
    /// A missing file is an error unless `missing_ok`.
    pub fn lock(
        targets: &[SecretTarget],
        missing_ok: bool,
        wait: &LockWait,
    ) -> Result<LockedFiles> {
        let mut order: Vec<&Path> = targets.iter().map(|t| t.path.as_path()).collect();
        order.sort();
        order.dedup();
        let mut locks = Vec::with_capacity(order.len());
        for path in &order {
            locks.push(WriterLock::acquire_waiting(path, wait)?);
            // A writer killed between naming its new file and renaming it over this one
            // left it (new values, in plaintext): with the lock held, no writer owns one.
            remove_stale_temp_files(path);
        }
        let mut files = Vec::with_capacity(targets.len());
        for target in targets {
            match read(&target.path) {
                Ok(file) => files.push(file),
                Err(Error::NotFound(_)) if missing_ok => {}
                Err(e) => return Err(e),
            }
        }
        Ok(LockedFiles {
            _locks: locks,
            files,
        })
    }

    /// The saved state of the file at `path`, if it was saved.
    pub fn get(&self, path: &Path) -> Option<&SavedFile> {
        self.files.iter().find(|f| Path::new(&f.path) == path)
    }
}

/// A file's text, mode and owner.
fn read(path: &Path) -> Result<SavedFile> {
    let metadata = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::NotFound(format!("{} does not exist", path.display()))
        }
        _ => Error::io("read", path, e),
    })?;
    let bytes = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let content = String::from_utf8(bytes).map_err(|_| {
        Error::BadData(format!(
            "{} is not UTF-8 text, so it is not a .env file vault can rewrite",
            path.display()
        ))
    })?;
    Ok(SavedFile {
        path: path.display().to_string(),
        mode: metadata.mode() & 0o7777,
        uid: metadata.uid(),
        gid: metadata.gid(),
        content,
    })
}

/// What writing a file changed about who may read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The mode the file had and the one it has now, when others lost their access.
    pub narrowed: Option<(u32, u32)>,
}

impl Written {
    /// What to tell the user about `path`, if anything.
    pub fn notice(&self, path: &Path) -> Option<String> {
        self.narrowed.map(|(was, now)| {
            format!(
                "{} was readable by others (mode {was:04o}); it now holds new secrets, so vault wrote it {now:04o}, without their access",
                path.display()
            )
        })
    }
}

/// Replaces `target` with `content`, as the file `before` was: owned by the user named as
/// its owner, else by its owner; in its group; with its mode, others' access taken away
/// (0600 for a new file). One rule for every file that carries secrets, so none stays
/// readable by others because it was before. Only call with the file's lock held.
pub fn write(target: &SecretTarget, before: Option<&SavedFile>, content: &str) -> Result<Written> {
    let mode = before.map_or(0o600, |file| secret_mode(file.mode));
    let owner = match (&target.owner, before) {
        (Some(named), Some(file)) => Some((named.uid, file.gid)),
        (Some(named), None) => Some((named.uid, named.gid)),
        (None, Some(file)) => Some((file.uid, file.gid)),
        (None, None) => None,
    };
    write_atomic_as(&target.path, content.as_bytes(), false, mode, owner)?;
    Ok(Written {
        narrowed: before
            .filter(|file| file.mode & 0o007 != 0)
            .map(|file| (file.mode & 0o777, mode)),
    })
}

/// Copies `file` to `.env-backups/<name>.YYYYMMDD_HHMMSS` beside it (UTC; `_N` for more in
/// one second), mode 0600 in a 0700 directory, and deletes all but the newest `keep`
/// (never the one just made). Only call with the file's lock held.
pub fn backup_beside(file: &SavedFile, keep: usize) -> Result<PathBuf> {
    let path = Path::new(&file.path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let dir = crate::fs::parent_dir(path).join(".env-backups");
    crate::fs::ensure_private_dir(&dir)?;
    let stamp: String = crate::document::timestamp_now()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .map(|c| if c == 'T' { '_' } else { c })
        .collect();
    let prefix = format!("{name}.");
    // Copies a killed writer left half-written (plaintext): nobody else writes here while
    // the file's lock is held.
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let leftover = entry.file_name().to_string_lossy().into_owned();
        if leftover.starts_with(&format!(".{prefix}")) && leftover.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let existing = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.strip_prefix(&prefix).is_some_and(is_backup_stamp))
            .collect();
        // YYYYMMDD_HHMMSS then _N sorts by time; a plain stamp before its _N siblings.
        names.sort_by_key(|n| {
            let stamp = &n[prefix.len()..];
            let (time, sequence) = (&stamp[..15], stamp[15..].trim_start_matches('_'));
            (time.to_string(), sequence.parse::<u32>().unwrap_or(0))
        });
        names
    };
    // After every backup of this second, even pruned ones' successors, so names keep the
    // order of the changes.
    let same_second: Vec<u32> = existing(&dir)
        .iter()
        .filter_map(|n| n[prefix.len()..].strip_prefix(&stamp))
        .map(|rest| rest.trim_start_matches('_').parse::<u32>().unwrap_or(0))
        .collect();
    let target = match same_second.iter().max() {
        None => format!("{prefix}{stamp}"),
        Some(last) => format!("{prefix}{stamp}_{}", last + 1),
    };
    let backup = dir.join(&target);
    crate::fs::write_atomic(&backup, file.content.as_bytes(), true)?;
    let all = existing(&dir);
    let excess = all.len().saturating_sub(keep.max(1));
    for old in all.iter().take(excess).filter(|n| **n != target) {
        let _ = std::fs::remove_file(dir.join(old));
    }
    Ok(backup)
}

/// `YYYYMMDD_HHMMSS` optionally followed by `_N`.
fn is_backup_stamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() >= 15
        && bytes[..8].iter().all(u8::is_ascii_digit)
        && bytes[8] == b'_'
        && bytes[9..15].iter().all(u8::is_ascii_digit)
        && (bytes.len() == 15
            || (bytes[15] == b'_'
                && bytes.len() > 16
                && bytes[16..].iter().all(u8::is_ascii_digit)))
}
