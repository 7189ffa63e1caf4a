//! StrictModes, as ssh has them: vault reads a file, keeps files in a directory or writes
//! a secret into a file only when nobody but the user and root could have put it there,
//! replaced it, or redirected the write.
//!
//! * A file vault reads (the vault, an identity, the configuration, a manifest, the trust
//!   record) and every directory above it up to the home directory (or `/`): owned by the
//!   user or root and not writable by group or others. Above the places vault uses, a
//!   root-owned sticky directory such as `/tmp` is fine: nobody else can rename or remove
//!   what is in it.
//! * A directory vault keeps files in (the vault's, `backups/`, the trust record's,
//!   `.env-backups/`, the directory of a file it writes a secret into): the same, and
//!   writable by nobody else even when it is sticky — there, another user could create
//!   the names vault is about to use (a backup, a lock, the target itself) before it does.
//! * A file vault writes a secret into ([`SecretTarget`]): in such a directory, reached
//!   through no link another user owns, and owned by the user or root — or by the user
//!   named as its owner on purpose (`--owner`, `owner =`): root writing a service's env
//!   file.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The user vault runs as. Asked once: a walk checks every directory up to the home
/// directory against it, several files a command, and vault never changes its user.
fn me() -> u32 {
    static ME: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *ME.get_or_init(|| rustix::process::geteuid().as_raw())
}

/// The home directory's canonical path, where a walk stops. Resolved once per value of
/// `HOME` (each walk resolving it again cost a `readlink` per component, several walks a
/// command); HOME is the user's own, and a walk that misses it only checks further up.
fn canonical_home() -> Option<PathBuf> {
    static HOME: std::sync::Mutex<Option<(std::ffi::OsString, Option<PathBuf>)>> =
        std::sync::Mutex::new(None);
    let home = std::env::var_os("HOME")?;
    let mut cached = HOME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match &*cached {
        Some((seen, real)) if *seen == home => real.clone(),
        _ => {
            let real = fs::canonicalize(&home).ok();
            *cached = Some((home, real.clone()));
            real
        }
    }
}

/// The user vault runs as, or root.
pub fn trusted(uid: u32) -> bool {
    uid == me() || uid == 0
}

/// "uid 1001 (mallory)", or "uid 1001" for a user with no name here.
pub fn describe_user(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => format!("uid {uid} ({})", user.name),
        _ => format!("uid {uid}"),
    }
}

/// How strict to be about one place.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    /// A directory above what vault uses: a root-owned sticky one is fine.
    Above,
    /// What vault uses itself, or the directory it keeps files in: nobody else may write
    /// it, sticky or not.
    Used,
}

/// What is wrong with a place for vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Problem {
    /// Another user (not root) owns it.
    Owner(u32),
    /// Group or others may write it.
    Writable(u32),
    /// A root-owned sticky directory where vault creates names.
    Shared(u32),
}

/// The verdict on a place owned by `uid` with `mode`, for a process running as `me`.
fn problem(uid: u32, mode: u32, is_dir: bool, level: Level, me: u32) -> Option<Problem> {
    if uid != me && uid != 0 {
        return Some(Problem::Owner(uid));
    }
    let mode = mode & 0o7777;
    if mode & 0o022 == 0 {
        return None;
    }
    let sticky_root = is_dir && mode & 0o1000 != 0 && uid == 0;
    match (sticky_root, level) {
        (true, Level::Above) => None,
        (true, Level::Used) => Some(Problem::Shared(mode)),
        (false, _) => Some(Problem::Writable(mode)),
    }
}

/// Refuses `place` (described by `which`) if it belongs to someone else, or others may
/// write it.
fn check_place(place: &Path, which: &str, level: Level) -> Result<()> {
    let metadata = fs::metadata(place).map_err(|e| Error::io("inspect", place, e))?;
    let found = problem(
        metadata.uid(),
        metadata.mode(),
        metadata.is_dir(),
        level,
        me(),
    );
    let Some(found) = found else {
        return Ok(());
    };
    Err(Error::LockedOut(match found {
        Problem::Owner(uid) => format!(
            "{which} is owned by {}, not by you (uid {}), so another user could have written or replaced it; vault refuses it. If it is yours, fix it with: chown {} {}",
            describe_user(uid),
            me(),
            me(),
            place.display()
        ),
        Problem::Shared(mode) => format!(
            "{which} is a shared directory (mode {mode:04o}): sticky, but others may still create there the names vault uses (a backup, a lock, a file it writes) before it does; vault refuses it. Use a directory of your own inside it (mkdir -m 700 {}/NAME)",
            place.display()
        ),
        Problem::Writable(mode) => format!(
            "{which} is writable by group or others (mode {:04o}), so another user could replace what vault reads; vault refuses it. Fix it with: chmod go-w {}",
            mode & 0o777,
            place.display()
        ),
    }))
}

/// Checks `path` and every directory above it up to the home directory (or `/`); the
/// first `used` of them (the path, then its directory) are places vault uses itself.
/// `name` says what `path` is in messages ("the vault /x/vault.age").
fn walk(path: &Path, name: &str, used: usize) -> Result<()> {
    let real = fs::canonicalize(path).map_err(|e| Error::io("read", path, e))?;
    let home = canonical_home();
    for (index, place) in real.ancestors().enumerate() {
        let which = match index {
            0 => name.to_string(),
            1 => format!("{}, the directory of {name},", place.display()),
            _ => format!("{}, a directory above {name},", place.display()),
        };
        let level = if index < used {
            Level::Used
        } else {
            Level::Above
        };
        check_place(place, &which, level)?;
        if home.as_deref() == Some(place) {
            break;
        }
    }
    Ok(())
}

/// "the vault /x/vault.age".
fn named(what: &str, path: &Path) -> String {
    format!("the {what} {}", path.display())
}

/// Refuses a file or directory that another user could have written or replaced: it, or a
/// directory above it up to the home directory (or `/`), owned by another user (root
/// excepted) or writable by group or others. Above it, a root-owned sticky directory such
/// as `/tmp` is fine: others may add files there but not replace ours.
pub fn check_not_replaceable(path: &Path, what: &str) -> Result<()> {
    walk(path, &named(what, path), 1)
}

/// The real path of a file vault is about to read, checked as [`check_not_replaceable`]
/// checks it; `None` when there is no such file. Read it by this path, never by the one
/// given: through a link on the way (another user's, in `/tmp`) the file read could be
/// another than the one checked, and a file missing when checked could be another user's
/// when read. Every directory of the real path is one nobody else could replace.
///
/// A link on the way is refused when another user owns it, or when it sits in a directory
/// another user may write: either could point it at a file of the user's that vault was
/// not asked to read.
pub fn real_checked(path: &Path, what: &str) -> Result<Option<PathBuf>> {
    let absolute = std::path::absolute(path).map_err(|e| Error::io("find", path, e))?;
    let mut prefix = PathBuf::new();
    for component in absolute.components() {
        prefix.push(component);
        let Some(link) = fs::symlink_metadata(&prefix)
            .ok()
            .filter(|m| m.file_type().is_symlink())
        else {
            continue;
        };
        if !trusted(link.uid()) {
            return Err(Error::LockedOut(format!(
                "{} is a link owned by {}, not by you (uid {}), on the way to {}: they can point it anywhere, so vault refuses it",
                prefix.display(),
                describe_user(link.uid()),
                me(),
                named(what, path)
            )));
        }
        if let Some(dir) = prefix.parent() {
            walk(
                dir,
                &format!(
                    "{}, the directory of a link on the way to {}",
                    dir.display(),
                    named(what, path)
                ),
                0,
            )?;
        }
    }
    let real = match fs::canonicalize(path) {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&format!("read the {what}"), path, e)),
    };
    walk(&real, &named(what, path), 1)?;
    Ok(Some(real))
}

/// [`check_not_replaceable`] for a directory vault keeps files in, when it exists.
pub fn check_private_dir(dir: &Path, what: &str) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        _ => walk(dir, &named(what, dir), 1),
    }
}

/// A directory vault will keep files in, which may not exist yet: refused where
/// [`check_private_dir`] would refuse it once made, so that `vault init` refuses before
/// it creates anything. A missing directory is made 0700 inside the nearest one that
/// exists, which must not be replaceable (a root-owned sticky one is fine).
pub fn check_future_dir(dir: &Path, what: &str) -> Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let existing = dir
        .ancestors()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .find(|d| d.exists())
        .unwrap_or(Path::new("/"));
    if existing == dir {
        walk(dir, &named(what, dir), 1)
    } else {
        let name = format!(
            "{}, where vault would make {},",
            existing.display(),
            named(what, dir)
        );
        walk(existing, &name, 0)
    }
}

/// For a directory vault makes one new private directory in (`--file-dir`): `mkdir`
/// fails on a name that is there already, so a root-owned sticky directory such as `/tmp`
/// is fine; one another user owns or may write is not (they could rename vault's
/// directory and put theirs in its place).
pub fn check_holds_new_dir(dir: &Path, what: &str) -> Result<()> {
    walk(dir, &named(what, dir), 0)
}

/// Refuses a key or vault file that group or others may access, or that another user
/// could replace (see [`check_not_replaceable`]), as ssh does.
pub fn check_private_file(path: &Path, what: &str) -> Result<()> {
    check_file_mode(path, what, false)
}

/// The directory of the git work tree `path` is in, if any (a `.git` directory or file
/// in it or above it, the user's or root's: in a shared directory such as `/tmp`, anyone
/// can make one).
pub fn git_work_tree(path: &Path) -> Option<PathBuf> {
    let real = fs::canonicalize(path).ok()?;
    real.ancestors()
        .skip(1)
        .find(|dir| fs::symlink_metadata(dir.join(".git")).is_ok_and(|git| trusted(git.uid())))
        .map(Path::to_path_buf)
}

/// Like [`check_private_file`], for the vault: inside a git work tree it may also be
/// readable by others, as git checks files out (0644) — it is ciphertext, and what
/// protects it there is that nobody else can write it (and its signature). Never
/// writable by group or others, and its directory — where its lock, its temp files and
/// its backups are — writable by nobody else, sticky or not.
pub fn check_vault_file(path: &Path) -> Result<()> {
    check_file_mode(path, "vault", true)
}

fn check_file_mode(path: &Path, what: &str, vault: bool) -> Result<()> {
    let metadata = fs::metadata(path).map_err(|e| Error::io("read", path, e))?;
    let mode = metadata.mode() & 0o777;
    let only_read = mode & 0o033 == 0;
    let accessible = mode & 0o077 != 0;
    if accessible && !(vault && only_read && git_work_tree(path).is_some()) {
        return Err(Error::LockedOut(format!(
            "the {what} {} is accessible by group or others (mode {mode:04o}); vault refuses to use it. Fix it with: chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    walk(path, &named(what, path), if vault { 2 } else { 1 })
}

/// A project manifest found upward from `start`: besides the file itself, every
/// directory from `start` up to the manifest's own is one another user could have put a
/// manifest (or a link to one) in, nearer than this one.
pub fn check_found_upward(manifest: &Path, start: &Path, what: &str) -> Result<()> {
    check_not_replaceable(manifest, what)?;
    let dir = crate::paths::parent_dir(manifest);
    for place in start.ancestors() {
        let which = format!(
            "{}, searched for the {what} {},",
            place.display(),
            manifest.display()
        );
        check_place(place, &which, Level::Used)?;
        if place == dir {
            break;
        }
    }
    Ok(())
}

/// A user named as the owner of a file vault writes secrets into (`--owner USER`,
/// `owner = "USER"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Their user id.
    pub uid: u32,
    /// Their primary group: a new file's group.
    pub gid: u32,
    /// As given, for messages.
    pub name: String,
}

impl Owner {
    /// The user `user` names: a login name, or a numeric uid.
    pub fn named(user: &str) -> Result<Owner> {
        use nix::unistd::{Uid, User};
        let found = match user.parse::<u32>() {
            Ok(uid) => User::from_uid(Uid::from_raw(uid)),
            Err(_) => User::from_name(user),
        };
        match found {
            Ok(Some(entry)) => Ok(Owner {
                uid: entry.uid.as_raw(),
                gid: entry.gid.as_raw(),
                name: user.to_string(),
            }),
            Ok(None) => Err(Error::Usage(format!(
                "no user {user:?} on this machine to own the file; name an existing user (or a uid)"
            ))),
            Err(e) => Err(Error::Failed(format!(
                "cannot look up the user {user:?}: {e}"
            ))),
        }
    }

    /// The owner a file had, which a restore gives it back.
    pub fn of_file(uid: u32, gid: u32) -> Owner {
        Owner {
            uid,
            gid,
            name: describe_user(uid),
        }
    }
}

/// A file vault is about to write a secret into, checked (see the module doc): it is
/// then written where [`SecretTarget::path`] says, through no link.
#[derive(Debug, Clone)]
pub struct SecretTarget {
    /// The real path: the links of the path given followed, its directory canonical.
    pub path: PathBuf,
    /// The user named as its owner on purpose.
    pub owner: Option<Owner>,
}

/// Links followed at most, as the kernel does.
const MAX_LINKS: usize = 40;

impl SecretTarget {
    /// Checks `path` (which need not exist yet; its directory must): each link on the way
    /// must be the user's or root's, in a directory nobody else may write; the directory
    /// of the file the same; the file, when it exists, a regular file owned by the user,
    /// root or `owner`.
    pub fn check(path: &Path, owner: Option<&Owner>) -> Result<SecretTarget> {
        let mut current = path.to_path_buf();
        for _ in 0..MAX_LINKS {
            let dir = crate::paths::parent_dir(&current);
            let name = current.file_name().ok_or_else(|| {
                Error::Usage(format!("{} does not name a file", current.display()))
            })?;
            // The directory's real path, found once: what is checked below is what is
            // written (a link of another user's on the way could be turned elsewhere
            // between two lookups).
            let real_dir = fs::canonicalize(&dir).map_err(|e| Error::io("read", &dir, e))?;
            let real = real_dir.join(name);
            let found = match fs::symlink_metadata(&real) {
                Ok(metadata) => Some(metadata),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(Error::io("inspect", &current, e)),
            };
            // Whose it is first: that names the user to ask about.
            match &found {
                Some(link) if link.file_type().is_symlink() && !trusted(link.uid()) => {
                    return Err(Error::LockedOut(format!(
                        "{} is a symbolic link owned by {}, not by you (uid {}); vault will not follow it with a secret. Remove it, or write to the file it points to",
                        current.display(),
                        describe_user(link.uid()),
                        me()
                    )));
                }
                Some(file) if !file.file_type().is_symlink() && !file.is_file() => {
                    return Err(Error::Usage(format!(
                        "{} is not a regular file; vault writes secrets only into regular files (it replaces the file with a new one)",
                        current.display()
                    )));
                }
                Some(file)
                    if file.is_file()
                        && !trusted(file.uid())
                        && owner.is_none_or(|o| o.uid != file.uid()) =>
                {
                    return Err(Error::LockedOut(format!(
                        "{} is owned by {}, not by you (uid {}): another user could read the secrets vault would write into it, so vault refuses it. If it belongs to that user on purpose (a service's env file), name them as its owner (--owner USER, or owner = \"USER\"); else remove it",
                        current.display(),
                        describe_user(file.uid()),
                        me()
                    )));
                }
                _ => {}
            }
            let which = format!("{}, the directory of {},", dir.display(), current.display());
            walk(&real_dir, &which, 1)?;
            match found {
                Some(link) if link.file_type().is_symlink() => {
                    let to = fs::read_link(&real).map_err(|e| Error::io("read", &current, e))?;
                    current = real_dir.join(to);
                }
                _ => {
                    return Ok(SecretTarget {
                        path: real,
                        owner: owner.cloned(),
                    });
                }
            }
        }
        Err(Error::Usage(format!(
            "{} goes through more than {MAX_LINKS} symbolic links",
            path.display()
        )))
    }
}

/// The mode a file that carries secrets is written with, from the mode it had: others
/// lose every access, the group keeps what it had (a service's group reading its env
/// file), special bits go.
pub fn secret_mode(mode: u32) -> u32 {
    mode & 0o770
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_on_a_place() {
        use Level::{Above, Used};
        let me = 1000;
        let table = [
            // uid, mode, directory, level: verdict
            (1000, 0o700, true, Used, None),
            (0, 0o755, true, Used, None),
            (1000, 0o600, false, Used, None),
            (1001, 0o700, true, Above, Some(Problem::Owner(1001))),
            (1001, 0o644, false, Used, Some(Problem::Owner(1001))),
            (1000, 0o770, true, Above, Some(Problem::Writable(0o770))),
            (1000, 0o666, false, Used, Some(Problem::Writable(0o666))),
            // /tmp: fine above what vault uses, not as the place it makes names in.
            (0, 0o1777, true, Above, None),
            (0, 0o1777, true, Used, Some(Problem::Shared(0o1777))),
            // Sticky counts only for root's directories (their owner may rename).
            (1000, 0o1777, true, Above, Some(Problem::Writable(0o1777))),
            (0, 0o1777, false, Above, Some(Problem::Writable(0o1777))),
        ];
        for (uid, mode, is_dir, level, verdict) in table {
            assert_eq!(
                problem(uid, mode, is_dir, level, me),
                verdict,
                "uid {uid} mode {mode:o}"
            );
        }
        // Root's own files are root's.
        assert_eq!(problem(0, 0o600, false, Used, 0), None);
    }

    #[test]
    fn others_lose_access_and_the_group_keeps_its_own() {
        assert_eq!(secret_mode(0o644), 0o640);
        assert_eq!(secret_mode(0o600), 0o600);
        assert_eq!(secret_mode(0o666), 0o660);
        assert_eq!(secret_mode(0o4755), 0o750);
        assert_eq!(secret_mode(0o604), 0o600);
    }
}
