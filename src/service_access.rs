//! Whether a generated systemd service can start the programs it names: `ProtectHome=yes`
//! hides every home directory from it, and its user (a dynamic one, or `User=`) needs
//! search permission on each directory above a program and execute permission on it.
//! `vault systemd` asks this before it prints a unit, so a unit that cannot start is
//! never printed silently (a user install puts vault in `~/.cargo/bin`).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The directories `ProtectHome=` hides (`yes`) or makes read-only (`read-only`).
pub const HOME_DIRS: [&str; 3] = ["/home", "/root", "/run/user"];

/// Whether `path` (as it really is, links followed) lies where `ProtectHome=yes` hides it.
pub fn under_home(path: &Path) -> bool {
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    HOME_DIRS.iter().any(|dir| real.starts_with(dir))
}

/// Who a service runs as, for permission checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceUser {
    /// root: passes every permission check.
    Root,
    /// A user of this machine, with its groups.
    Named { uid: u32, gids: Vec<u32> },
    /// `DynamicUser=yes`, or a user this machine does not know: owner of nothing and in
    /// no group, so only the bits for others count.
    Other,
}

impl ServiceUser {
    /// The user `User=NAME` (a login name or a uid) starts a service as.
    pub fn named(user: &str) -> ServiceUser {
        use nix::unistd::{Uid, User};
        let found = match user.parse::<u32>() {
            Ok(uid) => User::from_uid(Uid::from_raw(uid)),
            Err(_) => User::from_name(user),
        };
        let Ok(Some(entry)) = found else {
            return ServiceUser::Other;
        };
        if entry.uid.is_root() {
            return ServiceUser::Root;
        }
        let mut gids = vec![entry.gid.as_raw()];
        if let Ok(name) = std::ffi::CString::new(entry.name.as_str())
            && let Ok(groups) = nix::unistd::getgrouplist(&name, entry.gid)
        {
            gids.extend(groups.iter().map(|g| g.as_raw()));
        }
        ServiceUser::Named {
            uid: entry.uid.as_raw(),
            gids,
        }
    }

    /// Whether the permission bits `want` (0o1 execute, 0o4 read) of `metadata` let this
    /// user in. ACLs are not read: a unit that relies on one is refused, which errs safe.
    fn allows(&self, metadata: &std::fs::Metadata, want: u32) -> bool {
        let mode = metadata.mode();
        let bits = match self {
            ServiceUser::Root => return true,
            ServiceUser::Named { uid, .. } if metadata.uid() == *uid => mode >> 6,
            ServiceUser::Named { gids, .. } if gids.contains(&metadata.gid()) => mode >> 3,
            _ => mode,
        };
        bits & want == want
    }

    /// The first place on the way to the program `path` this user cannot pass, with its
    /// mode: a directory it cannot search, or the program it cannot execute. `None` when
    /// it can start the program.
    pub fn blocked_at(&self, path: &Path) -> Option<(PathBuf, u32)> {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut places: Vec<&Path> = real.ancestors().collect();
        places.reverse();
        for place in places {
            let Ok(metadata) = std::fs::metadata(place) else {
                return Some((place.to_path_buf(), 0));
            };
            if !self.allows(&metadata, 0o1) {
                return Some((place.to_path_buf(), metadata.mode() & 0o7777));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_directories_are_recognised_by_their_real_path() {
        assert!(under_home(Path::new("/root/.cargo/bin/vault")));
        assert!(under_home(Path::new("/home/alice/.cargo/bin/vault")));
        assert!(under_home(Path::new("/run/user/1000/x")));
        assert!(!under_home(Path::new("/usr/local/bin/vault")));
        assert!(!under_home(Path::new("/homework/vault")));
    }

    #[test]
    fn others_need_the_bits_for_others() {
        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("program");
        std::fs::write(&program, "").unwrap();
        let set = |path: &Path, mode: u32| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        set(&program, 0o755);
        set(dir.path(), 0o700);
        let real_dir = std::fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            ServiceUser::Other.blocked_at(&program),
            Some((real_dir.clone(), 0o700))
        );
        assert_eq!(ServiceUser::Root.blocked_at(&program), None);
        set(dir.path(), 0o711);
        assert_eq!(ServiceUser::Other.blocked_at(&program), None);
        set(&program, 0o750);
        assert_eq!(
            ServiceUser::Other.blocked_at(&program),
            Some((real_dir.join("program"), 0o750))
        );
        let owner = ServiceUser::Named {
            uid: std::fs::metadata(&program).unwrap().uid(),
            gids: vec![],
        };
        assert_eq!(owner.blocked_at(&program), None);
    }
}
