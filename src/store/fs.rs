//! Safe file operations: private directories and files, permission checks, atomic
//! replacement and the writer lock (docs/DESIGN.md).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Creates `dir` and any missing parents with mode 0700.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io("create directory", dir, e))
}

/// Refuses a key or vault file that group or others may access, or that another user
/// could replace (see [`check_not_replaceable`]), as ssh does.
pub fn check_private_file(path: &Path, what: &str) -> Result<()> {
    let metadata = fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    let mode = metadata.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::LockedOut(format!(
            "the {what} {} is accessible by group or others (mode {mode:04o}); vault refuses to use it. Fix it with: chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    check_not_replaceable(path, what)
}

/// Refuses, as ssh's StrictModes does, a file that another user could have replaced: the
/// file, or a directory above it up to the home directory (or `/`), owned by another user
/// (root excepted) or writable by group or others. A root-owned sticky directory such as
/// `/tmp` is fine: others may add files there but not replace ours.
pub fn check_not_replaceable(path: &Path, what: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    let real = fs::canonicalize(path).map_err(|e| Error::io("read", path, e))?;
    let home = std::env::var_os("HOME").and_then(|h| fs::canonicalize(h).ok());
    for (index, place) in real.ancestors().enumerate() {
        let metadata = fs::metadata(place).map_err(|e| Error::io("inspect", place, e))?;
        let which = if index == 0 {
            format!("the {what} {}", path.display())
        } else {
            format!(
                "{}, a directory above the {what} {},",
                place.display(),
                path.display()
            )
        };
        if metadata.uid() != me && metadata.uid() != 0 {
            return Err(Error::LockedOut(format!(
                "{which} is owned by uid {}, not by you (uid {me}), so another user could have replaced what vault reads; vault refuses it. If it is yours, fix it with: chown {me} {}",
                metadata.uid(),
                place.display()
            )));
        }
        let mode = metadata.mode() & 0o7777;
        let sticky_root = metadata.is_dir() && mode & 0o1000 != 0 && metadata.uid() == 0;
        if mode & 0o022 != 0 && !sticky_root {
            return Err(Error::LockedOut(format!(
                "{which} is writable by group or others (mode {:04o}), so another user could replace what vault reads; vault refuses it. Fix it with: chmod go-w {}",
                mode & 0o777,
                place.display()
            )));
        }
        if home.as_deref() == Some(place) {
            break;
        }
    }
    Ok(())
}

/// `path` with symbolic links in its last component followed, as git and editors do: a
/// write through a link replaces the file it points to and keeps the link. A dangling
/// link resolves to where it points; a loop is left as it is (opening it fails clearly).
pub fn resolve_links(path: &Path) -> PathBuf {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::read_link(&current) {
            Ok(target) if target.is_absolute() => current = target,
            Ok(target) => current = parent_dir(&current).join(target),
            Err(_) => return current,
        }
    }
    path.to_path_buf()
}

/// The directory holding `path` ("." for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The prefix of temp files written beside `path`, so stale ones can be recognised.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.")
}

/// Replaces `path` with `bytes` so that a crash at any instant leaves the old or the new
/// content: temp file (0600) in the same directory, fsync, rename, fsync the directory.
/// With `no_clobber`, fails if `path` already exists instead of replacing it.
pub fn write_atomic(path: &Path, bytes: &[u8], no_clobber: bool) -> Result<()> {
    write_atomic_with_mode(path, bytes, no_clobber, 0o600)
}

/// [`write_atomic`] with the new file's mode (a shared file keeps the mode it had).
pub fn write_atomic_with_mode(
    path: &Path,
    bytes: &[u8],
    no_clobber: bool,
    mode: u32,
) -> Result<()> {
    write_atomic_as(path, bytes, no_clobber, mode, None)
}

/// [`write_atomic`] with the new file's exact mode (not reduced by the umask) and, when
/// given, its owner and group, so a rewritten file keeps who may read it.
pub fn write_atomic_as(
    path: &Path,
    bytes: &[u8],
    no_clobber: bool,
    mode: u32,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let resolved = resolve_links(path);
    let path = resolved.as_path();
    let dir = parent_dir(path);
    let mut temp = tempfile::Builder::new()
        .prefix(&temp_prefix(path))
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(mode & 0o600))
        .tempfile_in(&dir)
        .map_err(|e| Error::io("create a temporary file in", &dir, e))?;
    if let Some((uid, gid)) = owner {
        let current = temp
            .as_file()
            .metadata()
            .map_err(|e| Error::io("inspect", temp.path(), e))?;
        if (current.uid(), current.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(temp.as_file(), Some(uid), Some(gid)).map_err(|e| {
                Error::io(
                    &format!("give the owner {uid}:{gid} (as the file had) to the new"),
                    path,
                    e,
                )
            })?;
        }
    }
    temp.write_all(bytes)
        .and_then(|()| {
            temp.as_file()
                .set_permissions(fs::Permissions::from_mode(mode))
        })
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| Error::io("write", temp.path(), e))?;
    if no_clobber {
        temp.persist_noclobber(path)
    } else {
        temp.persist(path)
    }
    .map_err(|e| Error::io("replace", path, e.error))?;
    sync_dir(&dir)
}

/// Makes a rename or unlink in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir, e))
}

/// Removes temp files a killed writer left beside `path`. Only call under the lock: then
/// no other writer can own one.
pub fn remove_stale_temp_files(path: &Path) {
    let dir = parent_dir(path);
    let prefix = temp_prefix(path);
    let Ok(entries) = fs::read_dir(&dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// An exclusive lock on a sidecar `<vault>.lock` file, held until dropped. Writers take it
/// for the whole read-modify-write so no update is lost; readers never need it because
/// the vault is only ever replaced by rename.
pub struct WriterLock {
    _file: File,
}

impl WriterLock {
    pub fn acquire(vault_path: &Path) -> Result<Self> {
        let mut lock_path = vault_path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| Error::io("open the lock file", &lock_path, e))?;
        file.lock().map_err(|e| Error::io("lock", &lock_path, e))?;
        Ok(WriterLock { _file: file })
    }
}
