//! Secrets a program reads as files (a kubeconfig, a TLS key, a service-account JSON),
//! without a file on any filesystem.
//!
//! Each one is an anonymous in-memory file (`memfd_create`), sealed against writing,
//! growing and shrinking, left open across `execve`, and named to the program as
//! `/proc/self/fd/N` — which is what `/dev/fd/N` links to. The program and the children it
//! forks (which inherit the descriptor) open it by that path. A program that hands the path
//! to an unrelated process, or closes inherited descriptors before reopening it, needs a
//! real path: [`FileDir`] writes the files into a private directory for as long as the
//! command runs.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A sealed in-memory file holding one secret, open (and inherited) until dropped.
pub struct SealedFile {
    fd: OwnedFd,
}

impl SealedFile {
    /// A memfd named after `variable` (the name shows in `ls -l /proc/PID/fd`), holding
    /// `content`, mode 0400, sealed so that nobody — root included — can change it.
    pub fn new(variable: &str, content: &[u8]) -> Result<SealedFile> {
        let failed = |what: &str, e: std::io::Error| {
            Error::Failed(format!(
                "cannot {what} the in-memory file for {variable}: {e}"
            ))
        };
        // Not MFD_CLOEXEC: the descriptor must survive execve into the command.
        let fd = rustix::fs::memfd_create(
            format!("secretsd:{variable}"),
            rustix::fs::MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| failed("create", e.into()))?;
        let mut file = File::from(fd);
        file.write_all(content).map_err(|e| failed("write", e))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o400))
            .map_err(|e| failed("protect", e))?;
        use rustix::fs::SealFlags;
        let seals = SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL;
        rustix::fs::fcntl_add_seals(&file, seals).map_err(|e| failed("seal", e.into()))?;
        Ok(SealedFile { fd: file.into() })
    }

    /// The path the command opens it by.
    pub fn path(&self) -> String {
        format!("/proc/self/fd/{}", self.fd.as_raw_fd())
    }
}

/// What every `--file-dir` directory's name starts with.
const FILE_DIR_PREFIX: &str = "secretsd-files-";

/// `--file-dir`: the files in a new 0700 directory inside a directory the user chose, each
/// 0400, removed (overwritten first) when dropped — for programs that need a real path.
///
/// The directory is locked (a shared `flock`) while vault uses it, and recorded in the
/// data directory (`file-dirs/`). One whose lock is free was left by a vault that was
/// killed together with its keeper (see `keeper`): the next vault command removes it (see
/// [`remove_stale_recorded`]), and so does the next vault given the same `--file-dir`.
pub struct FileDir {
    dir: PathBuf,
    _lock: File,
    record: Option<PathBuf>,
}

impl FileDir {
    pub fn create(parent: &Path) -> Result<FileDir> {
        if !parent.is_dir() {
            return Err(Error::NotFound(format!(
                "--file-dir {}: no such directory",
                parent.display()
            )));
        }
        crate::store::strict::check_holds_new_dir(parent, "--file-dir directory")?;
        remove_stale_file_dirs(parent);
        // Another vault's sweep may find the new directory before it is locked, and remove
        // it (it is empty then): a directory that is gone once locked is made again.
        let mut attempts = 0;
        loop {
            let (dir, lock) = Self::create_locked(parent)?;
            if still_there(&dir, &lock) {
                let record = record(&dir);
                return Ok(FileDir {
                    dir,
                    _lock: lock,
                    record,
                });
            }
            attempts += 1;
            if attempts == 3 {
                return Err(Error::Failed(format!(
                    "--file-dir {}: each new directory was removed as soon as it was made; \
                     is another program removing secretsd-files-* directories there?",
                    parent.display()
                )));
            }
        }
    }

    /// A new 0700 directory in `parent`, and its shared lock.
    fn create_locked(parent: &Path) -> Result<(PathBuf, File)> {
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix)
            .map_err(|e| Error::Failed(format!("no randomness for a directory name: {e}")))?;
        let name: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let dir = parent.join(format!("{FILE_DIR_PREFIX}{name}"));
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("create", &dir, e))?;
        let lock = File::open(&dir)
            .and_then(|lock| lock.lock_shared().map(|()| lock))
            .map_err(|e| Error::io("lock", &dir, e))?;
        Ok((dir, lock))
    }

    /// The directory the files are in.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Writes `content` as the file for `variable`; returns its path.
    pub fn add(&mut self, variable: &str, content: &[u8]) -> Result<PathBuf> {
        let path = self.dir.join(variable);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        file.write_all(content)
            .map_err(|e| Error::io("write", &path, e))?;
        Ok(path)
    }
}

impl Drop for FileDir {
    fn drop(&mut self) {
        remove_file_dir(&self.dir);
        if let Some(record) = &self.record {
            let _ = std::fs::remove_file(record);
        }
    }
}

/// Where the `--file-dir` directories in use are recorded: one file each, named as the
/// directory, holding its path. None without a data directory.
fn ledger() -> Option<PathBuf> {
    crate::paths::data_dir().ok().map(|d| d.join("file-dirs"))
}

/// Records `dir` in the ledger; best effort (the sweep of its parent still finds it).
fn record(dir: &Path) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let ledger = ledger()?;
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&ledger)
        .ok()?;
    let dir = std::path::absolute(dir).ok()?;
    let record = ledger.join(dir.file_name()?);
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&record)
        .ok()?;
    if file.write_all(dir.as_os_str().as_bytes()).is_err() {
        let _ = std::fs::remove_file(&record);
        return None;
    }
    Some(record)
}

/// Removes the recorded `--file-dir` directories that no vault holds any more (their vault
/// and its keeper were killed), and their records. Called at the start of every command;
/// best effort, and silent.
pub fn remove_stale_recorded() {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let Some(ledger) = ledger() else { return };
    let Ok(entries) = std::fs::read_dir(&ledger) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.as_bytes().starts_with(FILE_DIR_PREFIX.as_bytes()) {
            continue;
        }
        let Ok(path) = std::fs::read(entry.path()) else {
            continue;
        };
        let dir = PathBuf::from(std::ffi::OsString::from_vec(path));
        // A record names only the directory it is named after.
        let gone = if dir.is_absolute() && dir.file_name() == Some(&name) {
            match remove_dir(&dir, true) {
                Ok(()) => true,
                Err(e) => e.kind() == std::io::ErrorKind::NotFound,
            }
        } else {
            true
        };
        if gone {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Whether the directory `lock` holds open is still the one at `path`.
fn still_there(path: &Path, lock: &File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (lock.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(held), Ok(there)) => {
            held.nlink() > 0 && held.dev() == there.dev() && held.ino() == there.ino()
        }
        _ => false,
    }
}

/// Removes a `--file-dir` directory: each file overwritten with zeros (so the blocks do
/// not keep the secret) and unlinked, then the directory. Best effort.
pub fn remove_file_dir(dir: &Path) {
    let _ = remove_dir(dir, false);
}

/// Whether `path` is named as vault names a `--file-dir` directory.
pub fn is_file_dir_name(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    path.file_name()
        .is_some_and(|name| name.as_bytes().starts_with(FILE_DIR_PREFIX.as_bytes()))
}

/// Removes the `--file-dir` directories in `parent` that no vault holds any more.
fn remove_stale_file_dirs(parent: &Path) {
    use std::os::unix::ffi::OsStrExt;
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry
            .file_name()
            .as_bytes()
            .starts_with(FILE_DIR_PREFIX.as_bytes())
        {
            let _ = remove_dir(&entry.path(), true);
        }
    }
}

/// Removes `path` as [`remove_file_dir`] does — only a directory (not a link to one) of this
/// user's that no other user may write to, and with `stale`, only if no vault holds its
/// lock. Everything inside is reached through the directory opened once, so swapping it
/// for something else halfway changes nothing.
fn remove_dir(path: &Path, stale: bool) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, CWD, FlockOperation, Mode, OFlags};
    // Only what vault made: a keeper is told its directory on its command line, which
    // anyone can write (`vault --internal-keeper PID --file-dir ~/.ssh`).
    if !is_file_dir_name(path) {
        return Ok(());
    }
    let dir = rustix::fs::openat(
        CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let stat = rustix::fs::fstat(&dir)?;
    if stat.st_uid != rustix::process::geteuid().as_raw() || stat.st_mode & 0o022 != 0 {
        return Ok(());
    }
    if stale {
        // Fails while a vault holds its shared lock.
        rustix::fs::flock(&dir, FlockOperation::NonBlockingLockExclusive)?;
    }
    for entry in rustix::fs::Dir::read_from(&dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_bytes() == b"." || name.to_bytes() == b".." {
            continue;
        }
        // Its own file in its own directory, 0400: writable again to be overwritten. Only
        // a regular file (chmod would follow a link).
        let regular = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)
            .is_ok_and(|s| rustix::fs::FileType::from_raw_mode(s.st_mode).is_file());
        if regular {
            let _ = rustix::fs::chmodat(&dir, name, Mode::from_raw_mode(0o600), AtFlags::empty());
            if let Ok(file) = rustix::fs::openat(
                &dir,
                name,
                OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                overwrite(File::from(file));
            }
        }
        let _ = rustix::fs::unlinkat(&dir, name, AtFlags::empty());
    }
    rustix::fs::unlinkat(CWD, path, AtFlags::REMOVEDIR)?;
    Ok(())
}

/// Overwrites a regular file with as many zeros as it holds, and syncs it.
fn overwrite(mut file: File) {
    let length = match file.metadata() {
        Ok(metadata) if metadata.is_file() => metadata.len(),
        _ => return,
    };
    let zeros = [0u8; 64 * 1024];
    let mut left = length;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        if file.write_all(&zeros[..n]).is_err() {
            return;
        }
        left -= n as u64;
    }
    let _ = file.sync_all();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_file_reads_back_and_refuses_writes() {
        let sealed = SealedFile::new("KUBECONFIG", b"apiVersion: v1\n").unwrap();
        assert_eq!(std::fs::read(sealed.path()).unwrap(), b"apiVersion: v1\n");
        let link = std::fs::read_link(sealed.path()).unwrap();
        assert!(
            link.to_string_lossy()
                .starts_with("/memfd:secretsd:KUBECONFIG"),
            "{link:?}"
        );
        // Root ignores the mode; the seal holds all the same.
        let mut file = OpenOptions::new().append(true).open(sealed.path());
        if let Ok(file) = &mut file {
            assert!(file.write_all(b"x").is_err());
        }
    }
}
