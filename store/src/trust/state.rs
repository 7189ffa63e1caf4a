//! What this machine remembers of the vaults it has trusted: one file,
//! `$XDG_STATE_HOME/secretsd/trust.json` (else `$HOME/.local/state/…`, else for root
//! `/var/lib/secretsd/…`). Per vault id: the owners it trusts, the highest membership
//! epoch and content generation it has seen (the floors), the membership block at that
//! epoch, and every owner key it has known; per location (a path, or a git repository's
//! common directory and the path inside it), the vault id last read there.
//!
//! It fails closed: no place for it is an error naming `XDG_STATE_HOME`, and a file that
//! cannot be read, parsed or written is an error, never "nothing seen yet". Writers take
//! a lock beside it and re-read before they change it, and floors only ever move up.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::{fs, strict};

/// What this machine knows of one vault.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VaultRecord {
    /// The vault's label, as shown.
    pub label: String,
    /// The owners it trusts to change membership, as of `epoch`.
    pub owners: Vec<String>,
    /// Every key it has known as an owner, at any epoch: what history is judged by.
    #[serde(default)]
    pub owners_ever: Vec<String>,
    /// The highest membership epoch seen.
    pub epoch: u64,
    /// The highest content generation seen.
    pub generation: u64,
    /// The membership block at `epoch`, as stored: an old version accepted is written
    /// forward under it.
    #[serde(default)]
    pub membership: Option<String>,
    /// The vault is a passphrase vault (no membership to pin).
    #[serde(default)]
    pub passphrase: bool,
}

/// A location a vault was read at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Place {
    /// The id of the vault read there.
    pub vault_id: String,
    /// The file's path when it was last read there.
    pub path: String,
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// What is known of each vault, by id.
    #[serde(default)]
    pub vaults: BTreeMap<String, VaultRecord>,
    /// Which vault was last read at each location.
    #[serde(default)]
    pub locations: BTreeMap<String, Place>,
}

impl State {
    /// Other locations that held `vault_id` and still hold a file: copies of one vault.
    pub fn other_locations(&self, vault_id: &str, here: &str) -> Vec<&str> {
        self.locations
            .iter()
            .filter(|(key, place)| {
                *key != here && place.vault_id == vault_id && Path::new(&place.path).exists()
            })
            .map(|(_, place)| place.path.as_str())
            .collect()
    }
}

/// Where the trust file lives, as the environment says: `XDG_STATE_HOME` if absolute,
/// else `HOME/.local/state` if `HOME` is absolute, else `/var/lib` for root.
pub fn state_dir(
    xdg_state_home: Option<&str>,
    home: Option<&str>,
    is_root: bool,
) -> Result<PathBuf> {
    let absolute = |dir: Option<&str>| {
        dir.filter(|d| Path::new(d).is_absolute())
            .map(PathBuf::from)
    };
    if let Some(dir) = absolute(xdg_state_home) {
        return Ok(dir.join("secretsd"));
    }
    if let Some(home) = absolute(home) {
        return Ok(home.join(".local/state/secretsd"));
    }
    if is_root {
        return Ok(PathBuf::from("/var/lib/secretsd"));
    }
    Err(Error::LockedOut(
        "vault has nowhere to keep what it has seen of your vaults (neither XDG_STATE_HOME nor HOME is an absolute path), and will not check a vault without it; set XDG_STATE_HOME to a directory of yours (in a systemd unit: StateDirectory= and XDG_STATE_HOME=%S/NAME)".into(),
    ))
}

/// The trust file.
pub struct TrustFile {
    path: PathBuf,
}

impl TrustFile {
    /// The trust file of this environment (see [`state_dir`]).
    pub fn locate() -> Result<TrustFile> {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        let dir = state_dir(
            var("XDG_STATE_HOME").as_deref(),
            var("HOME").as_deref(),
            rustix::process::geteuid().is_root(),
        )?;
        Ok(TrustFile {
            path: dir.join("trust.json"),
        })
    }

    /// The trust record's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What it holds; nothing yet if it does not exist. An error when it cannot be read or
    /// parsed, or another user could have written it.
    pub fn load(&self) -> Result<State> {
        self.check_directories()?;
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(e) => return Err(self.unreadable(&e.to_string())),
        };
        strict::check_private_file(&self.path, "trust record")?;
        serde_json::from_slice(&bytes).map_err(|e| self.unreadable(&e.to_string()))
    }

    /// Refuses a directory of the record (its own, and the `trust/` that version 1 kept
    /// records in) that another user could write: they could put a record of their own
    /// there — with lower floors, or owners of their choosing — before vault writes one.
    fn check_directories(&self) -> Result<()> {
        let dir = fs::parent_dir(&self.path);
        strict::check_private_dir(&dir, "trust record directory")?;
        strict::check_private_dir(&dir.join("trust"), "trust record directory")
    }

    fn unreadable(&self, why: &str) -> Error {
        Error::LockedOut(format!(
            "the trust record {} cannot be read ({why}); vault will not check a vault without it. Fix it, or move it away to start again (every vault is then seen for the first time)",
            self.path.display()
        ))
    }

    /// Changes it under its lock: re-read, `change`, written back (atomically) if
    /// anything changed.
    pub fn update(&self, change: impl FnOnce(&mut State)) -> Result<()> {
        let dir = fs::parent_dir(&self.path);
        fs::ensure_private_dir(&dir)?;
        let _lock = fs::WriterLock::acquire(&self.path)?;
        let before = self.load()?;
        let mut state = before.clone();
        change(&mut state);
        if state == before {
            return Ok(());
        }
        let json = serde_json::to_vec_pretty(&state)
            .map_err(|e| Error::Failed(format!("cannot write the trust record: {e}")))?;
        fs::write_atomic(&self.path, &json, false).map_err(|e| {
            Error::LockedOut(format!(
                "the trust record {} cannot be written ({e}); nothing it would remember was kept",
                self.path.display()
            ))
        })
    }
}

impl TrustFile {
    /// The recipients this machine remembered for the vault at `vault` before membership
    /// blocks: vault kept one small record per vault path then
    /// (`secretsd/trust/<digest of the path>.json`). A vault from then, signed by this user
    /// and still encrypted to the same recipients, is read as it was (see
    /// `policy::judge`); anything else is a first sight.
    pub fn version_1_recipients(&self, vault: &Path) -> Option<std::collections::BTreeSet<String>> {
        use sha2::Digest;
        #[derive(Deserialize)]
        struct Version1Record {
            recipients: std::collections::BTreeSet<String>,
        }
        let real = std::fs::canonicalize(vault).ok()?;
        let digest = sha2::Sha256::digest(real.display().to_string().as_bytes());
        let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        let path = fs::parent_dir(&self.path)
            .join("trust")
            .join(format!("{name}.json"));
        strict::check_private_file(&path, "trust record").ok()?;
        let record: Version1Record = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        Some(record.recipients)
    }
}

/// A key for where a vault file is: inside a git work tree, the repository's common
/// directory and the path within the work tree (so every worktree of a repository agrees);
/// elsewhere the file's canonical path.
pub fn location_key(path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    for root in real.ancestors().skip(1) {
        let dot_git = root.join(".git");
        // One stat for both questions: this runs on every read, for each directory up to `/`.
        let common = match std::fs::symlink_metadata(&dot_git) {
            // As strict::git_work_tree: in a shared directory anyone can make a `.git`
            // (a link is not followed: its owner would not be the one asked about).
            Ok(found) if !crate::strict::trusted(found.uid()) => None,
            Ok(found) if found.is_dir() => Some(dot_git),
            Ok(found) if found.is_file() => common_dir_of_worktree(&dot_git),
            _ => None,
        };
        if let Some(common) = common {
            let common = std::fs::canonicalize(&common).unwrap_or(common);
            let inside = real.strip_prefix(root).unwrap_or(&real);
            return format!("git:{}:{}", common.display(), inside.display());
        }
    }
    format!("path:{}", real.display())
}

/// The common git directory of a worktree whose `.git` is a file (`gitdir: …`).
fn common_dir_of_worktree(dot_git: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(dot_git).ok()?;
    let gitdir = text.trim().strip_prefix("gitdir:")?.trim();
    let gitdir = fs::parent_dir(dot_git).join(gitdir);
    match std::fs::read_to_string(gitdir.join("commondir")) {
        Ok(common) => Some(gitdir.join(common.trim())),
        Err(_) => Some(gitdir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_directory_is_absolute_or_refused() {
        type Row<'a> = (Option<&'a str>, Option<&'a str>, bool, Option<&'a str>);
        let table: [Row<'_>; 6] = [
            (Some("/s"), Some("/h"), false, Some("/s/secretsd")),
            (None, Some("/h"), false, Some("/h/.local/state/secretsd")),
            (
                Some("relative"),
                Some("/h"),
                false,
                Some("/h/.local/state/secretsd"),
            ),
            (None, None, true, Some("/var/lib/secretsd")),
            (None, Some("rel"), false, None),
            (None, None, false, None),
        ];
        for (xdg, home, root, expected) in table {
            let found = state_dir(xdg, home, root).ok();
            assert_eq!(
                found.as_deref(),
                expected.map(Path::new),
                "{xdg:?} {home:?} {root}"
            );
        }
    }

    #[test]
    fn worktrees_of_one_repository_share_a_location() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main");
        std::fs::create_dir_all(main.join(".git/worktrees/other")).unwrap();
        std::fs::write(main.join(".git/worktrees/other/commondir"), "../..\n").unwrap();
        let other = dir.path().join("other");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(
            other.join(".git"),
            format!("gitdir: {}\n", main.join(".git/worktrees/other").display()),
        )
        .unwrap();
        for tree in [&main, &other] {
            std::fs::write(tree.join("vault.age"), "x").unwrap();
        }
        let key = location_key(&main.join("vault.age"));
        assert!(
            key.starts_with("git:") && key.ends_with(":vault.age"),
            "{key}"
        );
        assert_eq!(key, location_key(&other.join("vault.age")));
        assert!(location_key(dir.path()).starts_with("path:"));
    }
}
