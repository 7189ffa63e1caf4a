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

/// A clear record: `CLEARED_MAGIC`, the MAC of it, the record's name and the time, then
/// the [`moment`] (nanoseconds since the epoch, big-endian) the entries it names were
/// last cleared.
/// It is named `PROVIDER.HASH.cleared` (one configuration), `PROVIDER.cleared` (`vault
/// cache clear PROVIDER`) or `EVERY_PROVIDER.cleared` (`vault cache clear`).
const CLEARED_MAGIC: &[u8] = b"secretsd-cache-cleared v1\n";
const CLEARED_SUFFIX: &str = ".cleared";
/// Upper case: no provider is named so.
const EVERY_PROVIDER: &str = "ALL";

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
        format!("{}{SUFFIX}", self.stem())
    }

    /// `PROVIDER.HASH`: the name of its files without their suffix.
    fn stem(&self) -> String {
        format!("{}.{}", self.provider, &self.hash[..32])
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
    /// read or replace, a link or anything but a regular file, one that fails its
    /// authentication check, or one for another configuration is an error: it is never
    /// used. A directory vault cannot look into is said as such, never as a missing entry.
    pub fn read(&self, id: &ConfigId) -> Result<Option<Entries>> {
        crate::store::strict::check_private_dir(&self.dir, "cache directory")?;
        let path = self.path(id);
        match std::fs::symlink_metadata(&path) {
            Ok(_) => self.read_file(&path, Some(id)).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read the cache file", &path, e)),
        }
    }

    fn read_file(&self, path: &Path, id: Option<&ConfigId>) -> Result<Entries> {
        let Some(bytes) = read_private(path, "cache file")? else {
            return Err(Error::NotFound(format!(
                "the cache file {} is gone",
                path.display()
            )));
        };
        let refused = |why: &str| {
            Error::BadData(format!(
                "the cache file {} {why}: it is not used (vault cache clear removes it)",
                path.display()
            ))
        };
        // Not a file vault wrote (a file of the user's moved or linked here): it is never
        // replaced, only refused — removing it is the user's call.
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            return Err(Error::LockedOut(format!(
                "the file {} is not a vault cache file: vault neither uses nor replaces it; remove it (rm {}) or run vault cache clear",
                path.display(),
                path.display()
            )));
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
    /// atomically (or removes the file when none are left). `change` is given the last
    /// [`moment`] this configuration's entries were cleared or dropped from, if ever, and
    /// returns whether it dropped entries, which is then recorded as such a time. A file
    /// that cannot be believed (forged, corrupt) is replaced, and why is returned to be
    /// said; one with unsafe ownership or mode, a link, anything but a regular file, or a
    /// file that is not a cache file is refused and left as it is.
    pub fn update(
        &self,
        id: &ConfigId,
        profile: Option<&str>,
        change: impl FnOnce(&mut Entries, Option<u64>) -> bool,
    ) -> Result<Option<String>> {
        self.prepare()?;
        let path = self.path(id);
        let _lock = crate::store::fs::WriterLock::acquire(&path)?;
        // What a writer killed before its rename left (ciphertext, but no use to anyone).
        crate::store::fs::remove_stale_temp_files(&path);
        // The last moment this configuration's entries were cleared or dropped from: by a
        // denial, a `not-found`, or `vault cache clear` of its provider or of every one.
        let elsewhere = self.cleared_elsewhere(id)?;
        let cleared = elsewhere.max(self.read_clear(&id.stem())?);
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
        if change(&mut entries, cleared) {
            self.record_clear(&id.stem())?;
        }
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
        // `vault cache clear` records its clear without this file's lock, then removes
        // the files it lists: one recorded after the check above and before this file
        // was in place would miss it. Its record is seen here, and the file goes.
        if self.cleared_elsewhere(id)? != elsewhere {
            remove_file(&path)?;
        }
        Ok(replaced)
    }

    /// Removes `id`'s file, under its lock, and records the clear: an answer to a request
    /// sent before now is never written after it (a revoked token's values would come
    /// back).
    pub fn clear(&self, id: &ConfigId) -> Result<()> {
        self.prepare()?;
        let path = self.path(id);
        let _lock = crate::store::fs::WriterLock::acquire(&path)?;
        // A record that cannot be written does not keep the entries: they go all the same,
        // and the failure is said after.
        let recorded = self.record_clear(&id.stem());
        remove_file(&path)?;
        recorded
    }

    /// The last `vault cache clear` of `id`'s provider or of every provider: recorded
    /// without `id`'s lock.
    fn cleared_elsewhere(&self, id: &ConfigId) -> Result<Option<u64>> {
        Ok(self
            .read_clear(&id.provider)?
            .max(self.read_clear(EVERY_PROVIDER)?))
    }

    /// The time recorded in the clear record `stem`, None when there is none. A record
    /// that fails its authentication check is an error (nothing is cached until it is
    /// rewritten), as is a link or anything but a private regular file.
    fn read_clear(&self, stem: &str) -> Result<Option<u64>> {
        let path = self.dir.join(format!("{stem}{CLEARED_SUFFIX}"));
        let Some(bytes) = read_private(&path, "cache clear record")? else {
            return Ok(None);
        };
        let believed = bytes
            .strip_prefix(CLEARED_MAGIC)
            .filter(|rest| rest.len() == MAC_LEN + 8)
            .map(|rest| rest.split_at(MAC_LEN))
            .filter(|(tag, time)| {
                self.key
                    .verify(&[CLEARED_MAGIC, stem.as_bytes(), time], tag)
            })
            .map(|(_, time)| u64::from_be_bytes(time.try_into().expect("8 bytes")));
        match believed {
            Some(time) => Ok(Some(time)),
            None => Err(Error::BadData(format!(
                "the cache clear record {} fails its authentication check: nothing it covers is cached until it is removed (rm {})",
                path.display(),
                path.display()
            ))),
        }
    }

    /// Records that the entries under `stem` were cleared now (or later, when a record
    /// says so: the clock may have gone back). The caller holds the lock of what it
    /// clears.
    fn record_clear(&self, stem: &str) -> Result<()> {
        let previous = match self.read_clear(stem) {
            Ok(time) => time,
            // One that cannot be believed is replaced by a later time: only safer.
            Err(Error::BadData(_)) => None,
            Err(e) => return Err(e),
        };
        let time = previous.max(Some(moment())).unwrap_or_default();
        let tag = self
            .key
            .mac(&[CLEARED_MAGIC, stem.as_bytes(), &time.to_be_bytes()]);
        let mut bytes = CLEARED_MAGIC.to_vec();
        bytes.extend_from_slice(&tag);
        bytes.extend_from_slice(&time.to_be_bytes());
        let path = self.dir.join(format!("{stem}{CLEARED_SUFFIX}"));
        crate::store::fs::write_atomic(&path, &bytes, false).map_err(Into::into)
    }

    /// Every cache file of this identity (of `provider` alone when given), in name order.
    pub fn files(&self, provider: Option<&str>) -> Result<Vec<PathBuf>> {
        // Checked first: a directory another user owns is said as such, not as one vault
        // may not read.
        crate::store::strict::check_private_dir(&self.dir, "cache directory")?;
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("read the cache directory", &self.dir, e)),
        };
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
    /// under its lock; returns how many. The clear is recorded first, so that no request
    /// sent before it writes its answer afterwards.
    pub fn clear_all(&self, provider: Option<&str>) -> Result<usize> {
        self.prepare()?;
        let stem = provider.unwrap_or(EVERY_PROVIDER);
        let recorded = crate::store::fs::WriterLock::acquire(
            &self.dir.join(format!("{stem}{CLEARED_SUFFIX}")),
        )
        .map_err(Error::from)
        .and_then(|_lock| self.record_clear(stem));
        // Every file goes even when the record, or another file, could not: one that stays
        // is named after.
        let files = self.files(provider)?;
        let mut failed = None;
        for path in &files {
            let removed = crate::store::fs::WriterLock::acquire(path)
                .map_err(Error::from)
                .and_then(|_lock| remove_file(path));
            if let Err(e) = removed {
                failed.get_or_insert(e);
            }
        }
        recorded?;
        match failed {
            Some(e) => Err(e),
            None => Ok(files.len()),
        }
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

/// The bytes of the private regular file `path` (a `what`), None when there is none. It is
/// opened without following a link and without blocking: a link put in the cache
/// directory is refused, never read or written through, as is a FIFO or a directory.
fn read_private(path: &Path, what: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(Error::LockedOut(format!(
                "the {what} {} is a symbolic link: vault neither follows nor replaces links in its cache; remove it (rm {}) or run vault cache clear",
                path.display(),
                path.display()
            )));
        }
        Err(e) => return Err(Error::io(&format!("read the {what}"), path, e)),
    };
    let metadata = file
        .metadata()
        .map_err(|e| Error::io(&format!("read the {what}"), path, e))?;
    if !metadata.is_file() {
        return Err(Error::LockedOut(format!(
            "the {what} {} is not a regular file: vault neither uses nor replaces it; remove it (rm -r {}) or run vault cache clear",
            path.display(),
            path.display()
        )));
    }
    crate::store::strict::check_private_file(path, what)?;
    let opened = crate::regular_file::Opened::new(file, metadata);
    opened.read(path, path, what).map(Some)
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

/// When a request was sent: [`now`] (what its entries are stamped with) and the
/// [`moment`] (what is compared with the last clear).
#[derive(Clone, Copy, Debug)]
pub struct Asked {
    pub at: u64,
    pub moment: u64,
}

impl Asked {
    pub fn now() -> Asked {
        Asked {
            at: now(),
            moment: moment(),
        }
    }
}

/// Now, in nanoseconds since the epoch, by the real clock (never `VAULT_TEST_NOW`): what
/// orders a request and a clear. Seconds would not do — a request sent in the second a
/// clear was made could not be told from one sent before it.
pub fn moment() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
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
