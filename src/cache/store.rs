//! The cache on disk: one directory per local recipient under `$XDG_CACHE_HOME/secretsd/`
//! (0700, with a `CACHEDIR.TAG` so backup tools skip it), one file per provider
//! configuration (0600), written atomically under an exclusive lock as the vault is.
//!
//! A file is `MAGIC`, the 32-byte HMAC-SHA256 (see `key`) of the magic, the provider's
//! name, the configuration's hash and the ciphertext, then the age ciphertext (to the
//! local recipient alone) of [`Entries`] as JSON. The MAC is checked before the file is
//! decrypted; the entries must then name the provider and configuration the file is for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use secretsd_protocol::SecretValue;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::key::MachineKey;
use crate::error::{Error, Result};

const MAGIC: &[u8] = b"secretsd-cache v1\n";
const MAC_LEN: usize = 32;
const SUFFIX: &str = ".cache";

/// What backup tools look for (https://bford.info/cachedir/).
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by vault (secretsd).\n# For information about cache directory tags, see https://bford.info/cachedir/\n";

/// Which configuration a file holds values of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigId {
    pub provider: String,
    /// Hex SHA-256 of the unresolved configuration, profile and locators (see `policy`).
    pub hash: String,
}

impl ConfigId {
    fn file_name(&self) -> String {
        format!("{}.{}{SUFFIX}", self.provider, &self.hash[..32])
    }
}

/// One cached value.
#[derive(Serialize, Deserialize)]
pub struct Entry {
    pub value: SecretValue,
    /// Seconds since the epoch of the fetch that gave it.
    pub fetched_at: u64,
    /// When the provider's lease on it ends (seconds since the epoch), if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

/// The decrypted content of one file.
#[derive(Serialize, Deserialize)]
pub struct Entries {
    pub provider: String,
    pub config: String,
    /// The profile the configuration was merged for (shown by `vault cache list`).
    #[serde(default)]
    pub profile: Option<String>,
    pub entries: BTreeMap<String, Entry>,
}

impl Entries {
    pub fn new(id: &ConfigId, profile: Option<&str>) -> Entries {
        Entries {
            provider: id.provider.clone(),
            config: id.hash.clone(),
            profile: profile.map(str::to_string),
            entries: BTreeMap::new(),
        }
    }
}

/// The cache directory of one local identity.
pub struct Store {
    root: PathBuf,
    dir: PathBuf,
    key: MachineKey,
}

/// A file's path and what reading it gave, for `vault cache list` and `status`.
pub type Listed = (PathBuf, Result<Entries>);

impl Store {
    pub fn new(key: MachineKey) -> Result<Store> {
        let root = crate::store::paths::cache_dir()?;
        let dir = root.join(key.recipient());
        Ok(Store { root, dir, key })
    }

    /// A keyed hash of a configuration's description (see `policy::config_id`).
    pub fn hash(&self, description: &[u8]) -> [u8; 32] {
        self.key
            .mac(&[b"secretsd offline cache v1: configuration", description])
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of `id`'s file.
    pub fn path(&self, id: &ConfigId) -> PathBuf {
        self.dir.join(id.file_name())
    }

    /// The entries of `id`, None when there is no file. A file another user owns or could
    /// read or replace, one that fails its authentication check, or one for another
    /// configuration is an error: it is never used.
    pub fn read(&self, id: &ConfigId) -> Result<Option<Entries>> {
        let path = self.path(id);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        crate::store::strict::check_private_dir(&self.dir, "cache directory")?;
        self.read_file(&path, Some(id)).map(Some)
    }

    fn read_file(&self, path: &Path, id: Option<&ConfigId>) -> Result<Entries> {
        crate::store::strict::check_private_file(path, "cache file")?;
        let bytes =
            crate::regular_file::open(path, path, "cache file")?.read(path, path, "cache file")?;
        let refused = |why: &str| {
            Error::BadData(format!(
                "the cache file {} {why}: it is not used (vault cache clear removes it)",
                path.display()
            ))
        };
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            return Err(refused("is not a vault cache file"));
        };
        if rest.len() < MAC_LEN {
            return Err(refused("is truncated"));
        }
        let (tag, ciphertext) = rest.split_at(MAC_LEN);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(SUFFIX))
            .unwrap_or_default();
        let Some((provider, hash_prefix)) = name.split_once('.') else {
            return Err(refused("has a name vault does not give its files"));
        };
        if let Some(id) = id
            && (id.provider != provider || !id.hash.starts_with(hash_prefix))
        {
            return Err(refused("is not the file of this configuration"));
        }
        // The MAC covers the file's name (provider and configuration) and everything
        // encrypted in it (keys, values, fetch times): a file made by anyone without this
        // identity's secret — `age -r` to its public recipient — fails here.
        if !self.key.verify(
            &[
                MAGIC,
                provider.as_bytes(),
                hash_prefix.as_bytes(),
                ciphertext,
            ],
            tag,
        ) {
            return Err(refused(
                "fails its authentication check (it was not written by vault with this identity)",
            ));
        }
        let plaintext = self
            .key
            .decrypt(ciphertext, &format!("the cache file {}", path.display()))?;
        let entries: Entries = serde_json::from_slice(&plaintext)
            .map_err(|_| refused("holds entries vault cannot read"))?;
        if entries.provider != provider || !entries.config.starts_with(hash_prefix) {
            return Err(refused("holds the entries of another configuration"));
        }
        Ok(entries)
    }

    /// Reads `id`'s entries under the lock, lets `change` change them, and writes them back
    /// atomically (or removes the file when none are left). A file that cannot be believed
    /// (forged, corrupt) is replaced, and why is returned to be said; one with unsafe
    /// ownership or mode is refused.
    pub fn update(
        &self,
        id: &ConfigId,
        profile: Option<&str>,
        change: impl FnOnce(&mut Entries),
    ) -> Result<Option<String>> {
        self.prepare()?;
        let path = self.path(id);
        let _lock = crate::store::fs::WriterLock::acquire(&path)?;
        // What a writer killed before its rename left (ciphertext, but no use to anyone).
        crate::store::fs::remove_stale_temp_files(&path);
        let mut replaced = None;
        let mut entries = match self.read(id) {
            Ok(Some(entries)) => entries,
            Ok(None) => Entries::new(id, profile),
            Err(Error::BadData(why)) => {
                replaced = Some(why);
                Entries::new(id, profile)
            }
            Err(e) => return Err(e),
        };
        change(&mut entries);
        if entries.entries.is_empty() {
            return remove_file(&path).map(|()| replaced);
        }
        // Sized up front: a buffer that grew would leave unwiped copies of values behind.
        let room: usize = entries
            .entries
            .iter()
            .map(|(key, entry)| 6 * (key.len() + entry.value.expose().len()) + 128)
            .sum::<usize>()
            + 512;
        let mut plaintext = Zeroizing::new(Vec::with_capacity(room));
        serde_json::to_writer(&mut *plaintext, &entries)
            .map_err(|e| Error::Failed(format!("cannot write the cache: {e}")))?;
        let ciphertext = self.key.encrypt(&plaintext)?;
        let name = id.file_name();
        let (provider, hash_prefix) = name
            .strip_suffix(SUFFIX)
            .and_then(|n| n.split_once('.'))
            .expect("file names are PROVIDER.HASH.cache");
        let tag = self.key.mac(&[
            MAGIC,
            provider.as_bytes(),
            hash_prefix.as_bytes(),
            &ciphertext,
        ]);
        let mut bytes = Vec::with_capacity(MAGIC.len() + MAC_LEN + ciphertext.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&tag);
        bytes.extend_from_slice(&ciphertext);
        crate::store::fs::write_atomic(&path, &bytes, false)?;
        Ok(replaced)
    }

    /// Removes `id`'s file, under its lock.
    pub fn clear(&self, id: &ConfigId) -> Result<()> {
        let path = self.path(id);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(());
        }
        crate::store::strict::check_private_dir(&self.dir, "cache directory")?;
        let _lock = crate::store::fs::WriterLock::acquire(&path)?;
        remove_file(&path)
    }

    /// Every cache file of this identity (of `provider` alone when given), in name order.
    pub fn files(&self, provider: Option<&str>) -> Result<Vec<PathBuf>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read the cache directory", &self.dir, e)),
        };
        crate::store::strict::check_private_dir(&self.dir, "cache directory")?;
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                    return false;
                };
                name.ends_with(SUFFIX)
                    && !name.starts_with('.')
                    && provider.is_none_or(|provider| {
                        name.strip_prefix(provider)
                            .is_some_and(|rest| rest.starts_with('.'))
                    })
            })
            .collect();
        files.sort();
        Ok(files)
    }

    /// Every cache file of this identity and what it holds.
    pub fn list(&self, provider: Option<&str>) -> Result<Vec<Listed>> {
        Ok(self
            .files(provider)?
            .into_iter()
            .map(|path| {
                let read = self.read_file(&path, None);
                (path, read)
            })
            .collect())
    }

    /// Removes every cache file of this identity (of `provider` alone when given), each
    /// under its lock; returns how many.
    pub fn clear_all(&self, provider: Option<&str>) -> Result<usize> {
        let files = self.files(provider)?;
        for path in &files {
            let _lock = crate::store::fs::WriterLock::acquire(path)?;
            remove_file(path)?;
        }
        Ok(files.len())
    }

    /// The directories, made private, with the tag backup tools look for.
    fn prepare(&self) -> Result<()> {
        crate::store::fs::ensure_private_dir(&self.root)?;
        crate::store::fs::ensure_private_dir(&self.dir)?;
        let tag = self.root.join("CACHEDIR.TAG");
        if std::fs::symlink_metadata(&tag).is_err() {
            crate::store::fs::write_atomic(&tag, CACHEDIR_TAG.as_bytes(), false)?;
        }
        Ok(())
    }
}

fn remove_file(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => {
            crate::store::fs::sync_dir(&crate::store::fs::parent_dir(path)).map_err(Into::into)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove the cache file", path, e)),
    }
}

/// Now, in seconds since the epoch. Debug builds (the tests') take `VAULT_TEST_NOW` instead
/// when it is set, to show what an entry from a clock set back does; a release build
/// never reads it.
pub fn now() -> u64 {
    #[cfg(debug_assertions)]
    if let Some(now) = std::env::var("VAULT_TEST_NOW")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        return now;
    }
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
