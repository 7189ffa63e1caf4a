//! A private place in memory for plaintext a person edits (`vault edit`): a new directory,
//! 0700, on a tmpfs, whose files are overwritten before it is removed.
//!
//! A tmpfs lives in RAM (and swap, which SECURITY.md names): nothing written there reaches a
//! disk's blocks, so a plaintext file cannot outlive the machine's next boot, and nothing
//! a crash leaves behind survives it either. `$XDG_RUNTIME_DIR` (the user's own tmpfs,
//! removed at logout) is preferred to `/dev/shm` (shared, sticky). The filesystem is checked
//! with statfs, not guessed from the path.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// statfs(2) magic numbers of the filesystems that keep files in memory only.
const TMPFS_MAGIC: u64 = 0x0102_1994;
const RAMFS_MAGIC: u64 = 0x8584_58f6;

/// Where a scratch directory may go, best first: `$XDG_RUNTIME_DIR`, then `/dev/shm`.
pub fn memory_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from)
        && runtime.is_absolute()
    {
        candidates.push(runtime);
    }
    candidates.push(PathBuf::from("/dev/shm"));
    candidates
}

/// Whether `path` is a directory on a filesystem that keeps its files in memory.
pub fn in_memory(path: &Path) -> bool {
    match rustix::fs::statfs(path) {
        // f_type is a signed word on some architectures; the magic numbers fit in 32 bits.
        Ok(stat) => {
            let kind = stat.f_type as u64 & 0xffff_ffff;
            path.is_dir() && (kind == TMPFS_MAGIC || kind == RAMFS_MAGIC)
        }
        Err(_) => false,
    }
}

/// Whether a new directory in `parent` stays ours: `parent` and every directory above it
/// (links resolved) is the user's or root's, and nobody else may write it, or it is
/// sticky (`/dev/shm`, `/tmp`), where nobody else can rename or remove what we make in
/// it. A private directory inside one another user owns is not enough: they can rename it
/// and put theirs in its place.
pub fn safe_parent(parent: &Path) -> bool {
    let Ok(real) = fs::canonicalize(parent) else {
        return false;
    };
    let me = rustix::process::geteuid().as_raw();
    real.ancestors().all(|dir| {
        let Ok(metadata) = fs::metadata(dir) else {
            return false;
        };
        let owner_ok = metadata.uid() == 0 || metadata.uid() == me;
        let mode = metadata.mode();
        metadata.is_dir() && owner_ok && (mode & 0o022 == 0 || mode & 0o1000 != 0)
    })
}

/// Where a scratch directory goes.
pub enum Place {
    /// A tmpfs.
    Memory(PathBuf),
    /// No tmpfs was found, and a disk was allowed: the system's temporary directory.
    Disk(PathBuf),
}

/// Picks the place: the first candidate in memory; else, when `allow_disk`, the temporary
/// directory; else `Err` naming what was looked at and the ways out.
pub fn choose(allow_disk: bool) -> Result<Place> {
    let candidates = memory_candidates();
    // The path checked is the path used: a link resolved once, not again at mkdir.
    if let Some(found) = candidates
        .iter()
        .filter_map(|c| fs::canonicalize(c).ok())
        .find(|c| in_memory(c) && safe_parent(c))
    {
        return Ok(Place::Memory(found));
    }
    if allow_disk {
        let temp = std::env::temp_dir();
        let temp = fs::canonicalize(&temp).unwrap_or(temp);
        if !safe_parent(&temp) {
            return Err(Error::LockedOut(format!(
                "{} is not a place for plaintext: another user owns it or may write it without it being sticky; set TMPDIR to a directory of yours",
                temp.display()
            )));
        }
        return Ok(Place::Disk(temp));
    }
    let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
    Err(Error::LockedOut(format!(
        "no tmpfs to keep the plaintext in memory ({} {} not one, or not private); set XDG_RUNTIME_DIR to a directory of yours on a tmpfs, or pass --allow-disk to accept a plaintext file on disk for the length of the edit",
        looked.join(" and "),
        if looked.len() == 1 { "is" } else { "are" }
    )))
}

/// A new private directory; its files are overwritten and it is removed when dropped.
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// Makes a new directory `vault-edit.RANDOM` in `parent`, 0700. The name is new
    /// (mkdir fails on anything that exists, a link included), so nobody else's directory
    /// is ever used, even in a shared sticky parent.
    pub fn new_in(parent: &Path) -> Result<ScratchDir> {
        for _ in 0..16 {
            let mut random = [0u8; 8];
            getrandom::fill(&mut random)
                .map_err(|e| Error::Failed(format!("no randomness from the OS: {e}")))?;
            let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
            let path = parent.join(format!("vault-edit.{suffix}"));
            match fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {
                    let dir = ScratchDir { path };
                    // The umask can only take bits away; make sure of the mode anyway.
                    fs::set_permissions(&dir.path, fs::Permissions::from_mode(0o700))
                        .map_err(|e| Error::io("set the mode of", &dir.path, e))?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io("create a directory in", parent, e)),
            }
        }
        Err(Error::Failed(format!(
            "cannot find a new name for a directory in {}",
            parent.display()
        )))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes a new file `name` in the directory, 0600, holding `content`.
    pub fn write_new(&self, name: &str, content: &[u8]) -> Result<PathBuf> {
        let path = self.path.join(name);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        file.write_all(content)
            .map_err(|e| Error::io("write", &path, e))?;
        Ok(path)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        wipe_and_remove(&self.path);
    }
}

/// Overwrites every regular file in `dir` (an editor's swap and backup files too) with
/// zeros, then removes the directory. Best effort: nothing here may fail a command that
/// has done its work, and a signal handler calls it too.
pub fn wipe_and_remove(dir: &Path) {
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            // Never through a link: only what is in the directory itself.
            let Ok(metadata) = fs::symlink_metadata(&path) else {
                continue;
            };
            if metadata.is_file()
                && let Ok(mut file) = fs::OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&path)
            {
                let zeros = vec![0u8; 64 * 1024];
                let mut left = metadata.size();
                while left > 0 {
                    let n = left.min(zeros.len() as u64) as usize;
                    if file.write_all(&zeros[..n]).is_err() {
                        break;
                    }
                    left -= n as u64;
                }
                let _ = file.sync_data();
            }
        }
    }
    let _ = fs::remove_dir_all(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_shm_is_memory_and_a_plain_directory_is_not() {
        if Path::new("/dev/shm").is_dir() {
            assert!(in_memory(Path::new("/dev/shm")));
        }
        assert!(!in_memory(Path::new("/nonexistent-vault-scratch")));
    }

    #[test]
    fn only_a_private_or_sticky_parent_is_safe() {
        let parent = tempfile::tempdir().unwrap();
        let set = |mode: u32| {
            fs::set_permissions(parent.path(), fs::Permissions::from_mode(mode)).unwrap()
        };
        set(0o700);
        assert!(safe_parent(parent.path()));
        set(0o777);
        assert!(!safe_parent(parent.path()));
        set(0o1777);
        assert!(safe_parent(parent.path()));
        set(0o700);
    }

    #[test]
    fn a_scratch_dir_is_private_and_gone_after_drop() {
        let parent = tempfile::tempdir().unwrap();
        let dir = ScratchDir::new_in(parent.path()).unwrap();
        let mode = fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let file = dir.write_new("secrets.env", b"A=1\n").unwrap();
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(dir.write_new("secrets.env", b"again").is_err());
        let path = dir.path().to_path_buf();
        drop(dir);
        assert!(!path.exists());
    }
}
