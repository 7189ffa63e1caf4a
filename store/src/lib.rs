//! The vault file of secretsd: an age-encrypted JSON document, read without a lock and
//! changed only under the writer lock with an atomic replace and a backup.
//!
//! This crate is the file and nothing around it: its format ([`document`]), encryption
//! ([`crypto`], [`identity`], [`recipients`]), writer signatures and membership
//! ([`signature`], [`membership`]), the trust verdict as pure functions ([`trust`]),
//! atomic locked writes and permission checks ([`fs`], [`strict`], [`files`]), backups
//! ([`backup`]) and the .env codec ([`formats`]). It never prints, never prompts and never
//! starts a process; every failure is an [`error::Error`] that says what went wrong. The
//! `vault` command line is one user of it; the shared-file provider is another.
//!
//! Two things come from the caller, because getting them may mean asking a person: the
//! keys ([`KeySource`]) and the judge of what was read and who signs writes ([`Guard`]).
//! A [`Vault`] without a guard judges nothing: `vault` reads through one that holds every
//! version to this machine's trust record (see [`trust::policy`]), and so should any
//! program that reads a vault others can write.
//!
//! Opening a vault and reading one secret:
//!
//! ```
//! use secretsd_store::{KeySource, Protection, Vault};
//! use secretsd_store::document::Document;
//! use secretsd_store::error::Result;
//! use secretsd_store::identity::Identities;
//! use secretsd_store::secrecy::{ExposeSecret, SecretString};
//!
//! /// The keys: here one age identity held in memory.
//! struct Key(age::x25519::Identity);
//!
//! impl KeySource for Key {
//!     fn identities(&self) -> Result<Identities> {
//!         Ok(vec![Box::new(self.0.clone())])
//!     }
//!     fn passphrase(&self) -> Result<SecretString> {
//!         unreachable!("this vault is encrypted to a recipient")
//!     }
//! }
//!
//! # fn main() -> Result<()> {
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("vault.age");
//! let key = Key(age::x25519::Identity::generate());
//!
//! // A vault with one secret, encrypted to the key's recipient.
//! let mut document = Document::new(vec![key.0.to_public().to_string()]);
//! let now = "2026-12-05T00:00:00Z";
//! document.set("DATABASE_URL", SecretString::from("postgres://db".to_string()), None, now)?;
//! Vault::new(&path).create(document, &Protection::Recipients, false)?;
//!
//! // Open it and read the secret.
//! let opened = Vault::new(&path).open(&key)?;
//! let entry = opened.document.get("DATABASE_URL")?.expect("it was set");
//! assert_eq!(entry.value().expose_secret(), "postgres://db");
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod backup;
#[cfg(test)]
mod cctv_vectors;
pub mod crypto;
pub mod document;
pub mod error;
pub mod files;
pub mod formats;
pub mod fs;
pub mod identity;
pub mod membership;
pub mod names;
pub mod paths;
mod payload;
pub mod plugin_ui;
pub mod recipients;
pub mod sealed;
pub mod secret_bytes;
pub mod signature;
pub mod strict;
mod transaction;
pub mod trust;

pub use transaction::{Sealed, Transaction};

/// The `secrecy` crate this one holds secret values in.
pub use age::secrecy;

use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use age::secrecy::SecretString;

use crate::crypto::{Header, Key, Lock};
use crate::document::{Document, Plaintext, Said};
use crate::error::{Error, Result};
use crate::identity::Identities;
use crate::secret_bytes::SecretBytes;
use crate::signature::Signed;

/// Where the keys to a vault come from. Commands implement it, because getting a key may
/// mean asking the user, and the store never talks to the user.
pub trait KeySource {
    /// The identities to try on a vault encrypted to recipients.
    fn identities(&self) -> Result<Identities>;
    /// The passphrase of a passphrase vault.
    fn passphrase(&self) -> Result<SecretString>;
}

/// One version of a vault as decrypted: what its age header, its signature and the
/// document itself say. The trust layer judges it.
pub struct Version<'a> {
    /// Whom the file is encrypted to, as its age header says.
    pub header: &'a Header,
    /// Whether and by whom the content is signed.
    pub signed: &'a Signed,
    /// What the document says about itself.
    pub said: Said<'a>,
}

/// Who signs writes, and whether a version of the vault as read may be trusted: decided
/// above the store (`commands::trust`, by `trust::policy`), from what the version says
/// and what this machine has seen. The store asks it on every read and every write:
/// nothing is read unchecked.
pub trait Guard: Send + Sync {
    /// The key this writer signs with, if it has one.
    fn signing_key(&self) -> Option<&signature::SigningKey>;
    /// Judges a version read from the vault file, before anything of it is used;
    /// `writing` when a change will follow. An error refuses the read or the change.
    fn vet(&self, vault: &Path, version: &Version<'_>, writing: bool) -> Result<()>;
    /// Readies `document` to be written over the version read (its generation, and a
    /// membership block for a vault that has none yet), and refuses a version this writer
    /// may not write. `passphrase`: the vault is protected by a passphrase.
    fn prepare_write(&self, vault: &Path, document: &mut Document, passphrase: bool) -> Result<()>;
    /// Called once a version this writer prepared is in place. An error says the
    /// version is written but this machine could not remember it.
    fn wrote(&self, vault: &Path, document: &Document) -> Result<()>;
}

/// The document as JSON, signed when `key` is given (see `signature`).
fn signed_json(document: &Document, key: Option<&signature::SigningKey>) -> Result<SecretBytes> {
    let mut json = document.to_json()?;
    if let Some(key) = key {
        json.pop();
        let mut hasher = signature::start();
        sha2::Digest::update(&mut hasher, &json[..]);
        let suffix = key.suffix(hasher);
        let mut signed = SecretBytes::with_capacity(json.len() + suffix.len());
        signed.extend_from_slice(&json);
        signed.extend_from_slice(suffix.as_bytes());
        return Ok(signed);
    }
    Ok(json)
}

/// How a vault is protected, remembered from opening it so a rewrite keeps it.
pub enum Protection {
    /// Encrypted to the recipients listed inside the document.
    Recipients,
    /// Encrypted to a passphrase (scrypt).
    Passphrase(SecretString),
}

/// A decrypted vault.
pub struct Opened {
    /// The document.
    pub document: Document,
    /// How it is locked: recipients or a passphrase.
    pub protection: Protection,
    /// Whether the file was ASCII-armored (rewrites keep it so).
    pub armored: bool,
    /// What its age header says (to whom it is encrypted).
    pub header: Header,
    /// What its signature says.
    pub signed: Signed,
}

impl Opened {
    /// This version, for the trust layer to judge.
    pub fn version(&self) -> Version<'_> {
        Version {
            header: &self.header,
            signed: &self.signed,
            said: self.document.said(),
        }
    }
}

/// A vault just decrypted, with the key that opened it.
struct Decrypted {
    plaintext: SecretBytes,
    protection: Protection,
    armored: bool,
    key: Key,
    header: Header,
}

/// What a change is, for the backup record and its safety checks.
pub struct Change<'a> {
    /// A word for the backup record: "set", "rm", "recipients-add", ….
    pub operation: &'a str,
    /// Refuse the change if none of the caller's identities could open the result.
    pub keep_access: bool,
}

/// The vault at a path.
pub struct Vault {
    path: PathBuf,
    lock_wait: fs::LockWait,
    guard: Option<Arc<dyn Guard>>,
    /// Changes will be backed up: a transaction starts writing the backup as soon as it
    /// has read the vault, on another thread, while it decrypts and changes it.
    backups: bool,
}

impl Vault {
    /// The vault at `path`; a symbolic link is followed once, here, so the lock, the
    /// backups and every write are the target's and the link stays a link.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Vault {
            path: fs::resolve_links(&path.into()),
            lock_wait: fs::LockWait::default(),
            backups: false,
            guard: None,
        }
    }

    /// Signs writes and vets reads with `guard`.
    pub fn with_guard(mut self, guard: Arc<dyn Guard>) -> Self {
        self.guard = Some(guard);
        self
    }

    fn signing_key(&self) -> Option<&signature::SigningKey> {
        self.guard.as_deref().and_then(|g| g.signing_key())
    }

    fn vet(&self, version: &Version<'_>, writing: bool) -> Result<()> {
        match &self.guard {
            Some(guard) => guard.vet(&self.path, version, writing),
            None => Ok(()),
        }
    }

    /// Whether changes are backed up (`[backup] enabled`), so transactions can start
    /// writing the backup early. Without it backups are still made, only later.
    pub fn with_backups(mut self, enabled: bool) -> Self {
        self.backups = enabled;
        self
    }

    /// How long a write waits for another writer's lock, and whom it tells.
    pub fn with_lock_wait(mut self, wait: fs::LockWait) -> Self {
        self.lock_wait = wait;
        self
    }

    /// The vault file (a symbolic link already resolved).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the vault file exists.
    pub fn exists(&self) -> bool {
        self.path.exists()
    }

    fn describe(&self) -> String {
        format!("the vault {}", self.path.display())
    }

    /// The error for a vault that does not exist (yet).
    fn missing(&self) -> Error {
        Error::LockedOut(format!(
            "no vault at {}; run 'vault init' to create one, or point to another with --vault FILE or VAULT_FILE",
            self.path.display()
        ))
    }

    /// The vault's bytes, and the file they were read from, still open (a backup copies
    /// it).
    fn read_file(&self) -> Result<(std::fs::File, Vec<u8>)> {
        use std::io::Read;
        use std::os::unix::fs::MetadataExt;
        if !self.path.exists() {
            return Err(self.missing());
        }
        strict::check_vault_file(&self.path)?;
        let mut file =
            std::fs::File::open(&self.path).map_err(|e| Error::io("read", &self.path, e))?;
        let size = file
            .metadata()
            .map_err(|e| Error::io("read", &self.path, e))?
            .size();
        let mut bytes = Vec::with_capacity(size as usize);
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io("read", &self.path, e))?;
        Ok((file, bytes))
    }

    /// Decrypts `ciphertext` with the keys from `keys`; in place when given it by value.
    fn decrypt<'c>(
        &self,
        ciphertext: impl Into<Cow<'c, [u8]>>,
        keys: &dyn KeySource,
    ) -> Result<Decrypted> {
        let ciphertext = ciphertext.into();
        let what = self.describe();
        let armored = crypto::is_armored(&ciphertext);
        let (key, protection) = if crypto::is_passphrase_protected(&ciphertext, &what)? {
            let passphrase = keys.passphrase()?;
            (
                Key::Passphrase(passphrase.clone()),
                Protection::Passphrase(passphrase),
            )
        } else {
            (Key::Identities(keys.identities()?), Protection::Recipients)
        };
        let (plaintext, header) = crypto::decrypt_with_header(ciphertext, &key, &what)?;
        Ok(Decrypted {
            plaintext,
            protection,
            armored,
            key,
            header,
        })
    }

    /// Parses a decrypted version whole, with what its signature says.
    fn parse(&self, decrypted: Decrypted) -> Result<Opened> {
        let signed = signature::check(&decrypted.plaintext);
        Ok(Opened {
            document: Document::from_json(&decrypted.plaintext, &self.describe())?,
            protection: decrypted.protection,
            armored: decrypted.armored,
            header: decrypted.header,
            signed,
        })
    }

    /// Decrypts the vault for reading, and has the guard judge it.
    pub fn open(&self, keys: &dyn KeySource) -> Result<Opened> {
        let (_, ciphertext) = self.read_file()?;
        // Opened in place: the ciphertext's buffer becomes the plaintext's.
        let opened = self.parse(self.decrypt(ciphertext, keys)?)?;
        self.vet(&opened.version(), false)?;
        Ok(opened)
    }

    /// Decrypts `ciphertext` as a version of this vault (another side of a git merge, a
    /// file git handed to textconv, a backup) with the keys from `keys`; no file checks,
    /// and not judged: the caller judges it for what it is (see `Opened::version`).
    pub fn open_ciphertext(&self, ciphertext: &[u8], keys: &dyn KeySource) -> Result<Opened> {
        self.parse(self.decrypt(ciphertext, keys)?)
    }

    /// Encrypts `plaintext` the way a vault with `recipients` and `protection` is
    /// encrypted (what a pending merge keeps beside the repository).
    pub fn seal_plaintext(
        plaintext: &[u8],
        recipients: &[String],
        protection: &Protection,
    ) -> Result<Vec<u8>> {
        encrypt_as(protection, recipients, plaintext, false)
    }

    /// Decrypts bytes sealed by [`Vault::seal_plaintext`] with the keys from `keys`.
    pub fn unseal_plaintext(&self, ciphertext: &[u8], keys: &dyn KeySource) -> Result<SecretBytes> {
        Ok(self.decrypt(ciphertext, keys)?.plaintext)
    }

    /// Encrypts `document` as a vault protected by `protection`, signed by this writer (a
    /// merge's result).
    pub fn seal_as(
        &self,
        document: &Document,
        protection: &Protection,
        armor: bool,
    ) -> Result<Vec<u8>> {
        self.seal(document, protection, armor)
    }

    /// Decrypts the vault for a reader that parses only what it needs of it (one secret,
    /// the names, the values without their metadata). Every reader has the guard judge
    /// the version, with what its one pass over the document finds, before it returns.
    pub fn read(&self, keys: &dyn KeySource) -> Result<Plaintext> {
        let (_, ciphertext) = self.read_file()?;
        let decrypted = self.decrypt(ciphertext, keys)?;
        let header = decrypted.header;
        let plaintext = Plaintext::new(decrypted.plaintext, self.describe());
        Ok(match &self.guard {
            Some(guard) => {
                let guard = Arc::clone(guard);
                let path = self.path.clone();
                plaintext.vetted_by(Box::new(move |said: &Said<'_>, signed: &Signed| {
                    let version = Version {
                        header: &header,
                        signed,
                        said: *said,
                    };
                    guard.vet(&path, &version, false)
                }))
            }
            None => plaintext,
        })
    }

    fn seal(&self, document: &Document, protection: &Protection, armor: bool) -> Result<Vec<u8>> {
        encrypt_as(
            protection,
            &document.recipients,
            &signed_json(document, self.signing_key())?,
            armor,
        )
    }

    /// Writes a new vault; fails if one exists already.
    pub fn create(
        &self,
        mut document: Document,
        protection: &Protection,
        armor: bool,
    ) -> Result<()> {
        document.ensure_fingerprint_key()?;
        fs::ensure_private_dir(&fs::parent_dir(&self.path))?;
        let _lock = fs::WriterLock::acquire_waiting(&self.path, &self.lock_wait)?;
        if self.path.exists() {
            return Err(Error::Failed(format!(
                "a vault already exists at {}",
                self.path.display()
            )));
        }
        if let Some(guard) = &self.guard {
            let passphrase = matches!(protection, Protection::Passphrase(_));
            guard.prepare_write(&self.path, &mut document, passphrase)?;
        }
        let ciphertext = self.seal(&document, protection, armor)?;
        fs::write_atomic(&self.path, &ciphertext, true)?;
        match &self.guard {
            Some(guard) => guard.wrote(&self.path, &document),
            None => Ok(()),
        }
    }
}

/// Encrypts `plaintext` as a vault with `protection` is: to `recipients`, or to the
/// passphrase.
fn encrypt_as(
    protection: &Protection,
    recipients: &[String],
    plaintext: &[u8],
    armor: bool,
) -> Result<Vec<u8>> {
    let mut output = Vec::with_capacity(plaintext.len() + 1024);
    encrypt_as_into(protection, recipients, armor, &mut output, &mut |w| {
        w.write_all(plaintext)
    })?;
    Ok(output)
}

/// Like [`encrypt_as`], for a plaintext written by `write_plaintext` into `output`.
fn encrypt_as_into(
    protection: &Protection,
    recipients: &[String],
    armor: bool,
    output: &mut dyn Write,
    write_plaintext: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    match protection {
        Protection::Recipients => {
            if recipients.is_empty() {
                return Err(Error::BadData(
                    "the vault would have no recipients, so nobody could open it".into(),
                ));
            }
            let recipients = recipients::parse_all(recipients)?;
            crypto::encrypt_into(
                output,
                Lock::Recipients(&recipients),
                armor,
                write_plaintext,
            )
        }
        Protection::Passphrase(passphrase) => {
            crypto::encrypt_into(output, Lock::Passphrase(passphrase), armor, write_plaintext)
        }
    }
}
