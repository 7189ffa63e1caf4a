//! Safe file operations: private directories and files, permission checks, atomic
//! replacement and the writer lock (docs/DESIGN.md).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
pub use crate::paths::parent_dir;

/// Creates `dir` and any missing parents with mode 0700, and refuses a directory another
/// user could write files into, sticky or not (see `strict`): vault keeps files there.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if !dir.is_dir() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io("create directory", dir, e))?;
    }
    crate::strict::check_not_replaceable(dir, "directory")
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

/// [`resolve_links`] for a file about to be replaced: a link another user owns (not root)
/// is not followed, as the kernel's `protected_symlinks` would not follow it in a shared
/// directory — vault resolves links itself, and through such a link another user would
/// choose which file of yours (or, for root, of anyone's) gets replaced.
fn links_to_replace(path: &Path) -> Result<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        let Ok(target) = fs::read_link(&current) else {
            return Ok(current);
        };
        let owner = fs::symlink_metadata(&current)
            .map_err(|e| Error::io("inspect", &current, e))?
            .uid();
        if !crate::strict::trusted(owner) {
            return Err(Error::LockedOut(format!(
                "{} is a symbolic link owned by {}, not by you; vault will not replace the file it points to. Remove it, or name the file itself",
                current.display(),
                crate::strict::describe_user(owner)
            )));
        }
        current = if target.is_absolute() {
            target
        } else {
            parent_dir(&current).join(target)
        };
    }
    Ok(path.to_path_buf())
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
    let resolved = links_to_replace(path)?;
    let path = resolved.as_path();
    let dir = parent_dir(path);
    match PreparedFile::create(&dir)? {
        Some(mut file) => {
            file.write(bytes, path)?;
            file.finish(mode, owner, path)?;
            file.persist(path, no_clobber).map(drop)
        }
        None => {
            let mut temp = tempfile::Builder::new()
                .prefix(&temp_prefix(path))
                .suffix(".tmp")
                .permissions(fs::Permissions::from_mode(mode & 0o600))
                .tempfile_in(&dir)
                .map_err(|e| Error::io("create a temporary file in", &dir, e))?;
            fill(temp.as_file_mut(), bytes, mode, owner, path)?;
            if no_clobber {
                temp.persist_noclobber(path)
            } else {
                temp.persist(path)
            }
            .map_err(|e| Error::io("replace", path, e.error))?;
            sync_dir(&dir)
        }
    }
}

/// A file being written in a directory without a name there yet (`O_TMPFILE`): whole and
/// durable before [`PreparedFile::persist`] names it, gone without a trace if it is
/// dropped instead — also when the writer is killed. This lets a change write its backup
/// and its new vault while it is still working out whether it will commit.
pub struct PreparedFile {
    file: File,
    dir: PathBuf,
}

impl PreparedFile {
    /// A new empty file in `dir`; `None` where the filesystem cannot make anonymous files
    /// (then callers write a named temp file as before).
    pub fn create(dir: &Path) -> Result<Option<PreparedFile>> {
        match anonymous_file(dir) {
            Some(file) => Ok(Some(PreparedFile {
                file: file.map_err(|e| Error::io("create a temporary file in", dir, e))?,
                dir: dir.to_path_buf(),
            })),
            None => Ok(None),
        }
    }

    /// Appends `bytes`; `path` is the file's future name, for errors.
    pub fn write(&mut self, bytes: &[u8], path: &Path) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io("write the new", path, e))
    }

    /// The file to stream into.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Gives the file its owner and exact mode (not reduced by the umask) and makes its
    /// content durable.
    pub fn finish(&mut self, mode: u32, owner: Option<(u32, u32)>, path: &Path) -> Result<()> {
        fill(&mut self.file, &[], mode, owner, path)
    }

    /// Names the file `path` (replacing what is there unless `no_clobber`) and makes the
    /// name durable. Returns the file, still open.
    pub fn persist(self, path: &Path, no_clobber: bool) -> Result<File> {
        link_into_place(&self.file, path, &self.dir, no_clobber)?;
        sync_dir(&self.dir)?;
        Ok(self.file)
    }
}

/// A file in `dir` with no name (`O_TMPFILE`, mode 0600), so a writer killed while
/// writing it leaves nothing behind. `None` where the filesystem cannot make one.
fn anonymous_file(dir: &Path) -> Option<std::io::Result<File>> {
    let opened = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .mode(0o600)
        .open(dir);
    match opened {
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::ENOENT)
            ) && dir.is_dir() =>
        {
            None
        }
        other => Some(other),
    }
}

/// Writes `bytes`, gives the file its owner and exact mode (not reduced by the umask) and
/// makes it durable.
fn fill(
    file: &mut File,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, u32)>,
    path: &Path,
) -> Result<()> {
    if let Some((uid, gid)) = owner {
        let current = file
            .metadata()
            .map_err(|e| Error::io("inspect the new", path, e))?;
        if (current.uid(), current.gid()) != (uid, gid) {
            std::os::unix::fs::fchown(&*file, Some(uid), Some(gid)).map_err(|e| {
                Error::io(
                    &format!(
                        "give the owner {uid}:{gid} (the file's, or the one named) to the new"
                    ),
                    path,
                    e,
                )
            })?;
        }
    }
    file.write_all(bytes)
        .and_then(|()| file.set_permissions(fs::Permissions::from_mode(mode)))
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("write the new", path, e))
}

/// Gives an anonymous file its name: straight to `path` when it must not replace one (the
/// link fails if `path` exists), else to a temp name renamed over `path`.
fn link_into_place(file: &File, path: &Path, dir: &Path, no_clobber: bool) -> Result<()> {
    use std::os::fd::AsRawFd;
    let source = format!("/proc/self/fd/{}", file.as_raw_fd());
    // AT_SYMLINK_FOLLOW: the file the /proc entry refers to is linked, not the entry.
    let link = |target: &Path| -> std::io::Result<()> {
        use rustix::fs::{AtFlags, CWD};
        Ok(rustix::fs::linkat(
            CWD,
            source.as_str(),
            CWD,
            target,
            AtFlags::SYMLINK_FOLLOW,
        )?)
    };
    if no_clobber {
        return link(path).map_err(|e| Error::io("create", path, e));
    }
    let temp = dir.join(format!("{}{:016x}.tmp", temp_prefix(path), random_suffix()));
    link(&temp).map_err(|e| Error::io("name the new file", &temp, e))?;
    fs::rename(&temp, path).map_err(|e| {
        let _ = fs::remove_file(&temp);
        Error::io("replace", path, e)
    })
}

/// A random number for a temp file's name.
fn random_suffix() -> u64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    u64::from_le_bytes(bytes)
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

/// Told, once, who holds the lock a writer waits for (see [`lock_holder`]).
pub type OnWait = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// How long a writer waits for the lock, and whom to tell that it waits.
#[derive(Clone)]
pub struct LockWait {
    /// Give up after this long.
    pub timeout: std::time::Duration,
    /// Called once, after a second of waiting.
    pub on_wait: Option<OnWait>,
}

impl Default for LockWait {
    fn default() -> Self {
        LockWait {
            timeout: std::time::Duration::from_secs(30),
            on_wait: None,
        }
    }
}

impl WriterLock {
    /// Takes the lock, waiting as long as the default allows.
    pub fn acquire(path: &Path) -> Result<Self> {
        Self::acquire_waiting(path, &LockWait::default())
    }

    /// Takes the exclusive lock on `<path>.lock`, waiting at most `wait.timeout`.
    pub fn acquire_waiting(path: &Path, wait: &LockWait) -> Result<Self> {
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(0o600)
            // Never through a link: the holder truncates it to write its PID.
            .custom_flags(libc::O_NOFOLLOW)
            .open(&lock_path)
            .map_err(|e| Error::io("open the lock file", &lock_path, e))?;
        let started = std::time::Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(Error::io("lock", &lock_path, e));
                }
            }
            let waited = started.elapsed();
            if waited >= wait.timeout {
                return Err(Error::Failed(format!(
                    "{} is locked by {}, which has held it for more than {} s; nothing was changed. Try again once it is done, or wait longer with [lock] timeout_seconds in the configuration",
                    path.display(),
                    lock_holder(&file),
                    wait.timeout.as_secs()
                )));
            }
            if !told && waited >= std::time::Duration::from_secs(1) {
                told = true;
                if let Some(notify) = &wait.on_wait {
                    notify(&lock_holder(&file));
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        Ok(WriterLock { _file: file })
    }
}

/// Who holds the lock on the open lock file `file`, for a message: "PID N (command)" when
/// that can be checked, else "another process" (with what the kernel says, if anything).
///
/// The lock is flock(2) (std's `File::lock`), which — unlike a POSIX lock's `F_GETLK` —
/// reports no holder, and what the lock file says is whatever its last writer put there.
/// `/proc/locks` names the process that *took* each flock lock; it may have exited since,
/// leaving the lock to a child that inherited the descriptor, and its PID may then belong
/// to someone else. So a PID is claimed only when that process has this very file open
/// (its `/proc/PID/fd`, readable for the same user's dumpable processes, or as root);
/// otherwise the kernel's word is passed on as such.
pub fn lock_holder(file: &File) -> String {
    let unknown = "another process".to_string();
    let Ok(ours) = file.metadata() else {
        return unknown;
    };
    let Some(pid) = flock_taker(&ours) else {
        return unknown;
    };
    let command = fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| crate::names::printable(c.trim(), false).into_owned())
        .ok();
    let Some(command) = command else {
        // Gone since it took the lock: a child that inherited the descriptor holds it.
        return unknown;
    };
    let same_file = |m: &fs::Metadata| m.dev() == ours.dev() && m.ino() == ours.ino();
    let has_it_open = fs::read_dir(format!("/proc/{pid}/fd")).map(|fds| {
        fds.flatten()
            .any(|fd| fs::metadata(fd.path()).is_ok_and(|m| same_file(&m)))
    });
    match has_it_open {
        Ok(true) => format!("PID {pid} ({command})"),
        // Its descriptors say it does not have the file open: its PID was reused.
        Ok(false) => unknown,
        Err(_) => format!(
            "another process (the kernel's lock table says PID {pid}, {command}, took it; vault cannot check that it still holds it)"
        ),
    }
}

/// The PID `/proc/locks` gives for the flock lock held on the file `ours` describes.
fn flock_taker(ours: &fs::Metadata) -> Option<u32> {
    let table = fs::read_to_string("/proc/locks").ok()?;
    // "1: FLOCK  ADVISORY  WRITE 1234 fe:00:5564645 0 EOF": major and minor in hex, the
    // inode in decimal. A line with "->" is a request waiting for the lock, not a holder.
    let device = format!(
        "{:02x}:{:02x}:{}",
        libc::major(ours.dev()),
        libc::minor(ours.dev()),
        ours.ino()
    );
    table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [_, "FLOCK", _, _, pid, file, ..] if *file == device => pid.parse().ok(),
            _ => None,
        }
    })
}

/// A file being written whose pages the kernel starts writing to disk every few hundred
/// KiB (`sync_file_range`, a hint that waits for nothing), so the `fsync` that makes it
/// durable finds most of it on its way already: disk and encryption overlap.
pub struct EarlyWriteback<'f> {
    file: &'f mut File,
    written: u64,
    started: u64,
}

/// How much is written before the kernel is asked to start writing it back.
const WRITEBACK_STEP: u64 = 256 * 1024;

impl<'f> EarlyWriteback<'f> {
    /// Starts tracking writes to `file`.
    pub fn new(file: &'f mut File) -> Self {
        EarlyWriteback {
            file,
            written: 0,
            started: 0,
        }
    }
}

impl Write for EarlyWriteback<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(bytes)?;
        self.written += n as u64;
        if self.written - self.started >= WRITEBACK_STEP {
            // SAFETY: a plain syscall on an open descriptor; its only effect is I/O started
            // early. Its result does not matter: the fsync that follows is what counts.
            unsafe {
                libc::sync_file_range(
                    std::os::fd::AsRawFd::as_raw_fd(&*self.file),
                    self.started as libc::off64_t,
                    (self.written - self.started) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                );
            }
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_being_written_has_no_name_until_it_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = anonymous_file(dir.path())
            .expect("this filesystem makes O_TMPFILE files")
            .unwrap();
        file.write_all(b"half of a secret").unwrap();
        // A crash now would leave nothing: the directory is empty.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
        let target = dir.path().join("out.env");
        fs::write(&target, "old").unwrap();
        link_into_place(&file, &target, dir.path(), false).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "half of a secret");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
        // Without clobbering, an existing file is an error, not a replacement.
        assert!(link_into_place(&file, &target, dir.path(), true).is_err());
    }

    #[test]
    fn the_lock_holder_is_the_process_the_kernel_names_not_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.age.lock");
        fs::write(&path, "4242").unwrap();
        let waiter = File::open(&path).unwrap();
        assert_eq!(lock_holder(&waiter), "another process");
        let held = File::open(&path).unwrap();
        held.lock().unwrap();
        let named = lock_holder(&waiter);
        assert!(
            named.starts_with(&format!("PID {} (", std::process::id())),
            "{named}"
        );
        drop(held);
        assert_eq!(lock_holder(&waiter), "another process");
    }
}
