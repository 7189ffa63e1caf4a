//! The vault file: an age-encrypted JSON document, read without a lock and changed only
//! under the writer lock with an atomic replace and a backup (docs/DESIGN.md).

pub mod backup;
pub mod crypto;
pub mod document;
pub mod files;
pub mod fs;
pub mod identity;
pub mod recipients;

use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use crate::config::BackupPolicy;
use crate::error::{Error, Result};
use crate::store::crypto::{Key, Lock};
use crate::store::document::{Document, Plaintext};
use crate::store::identity::Identities;

/// Where the keys to a vault come from. Commands implement it, because getting a key may
/// mean asking the user, and the store never talks to the user.
pub trait KeySource {
    /// The identities to try on a vault encrypted to recipients.
    fn identities(&self) -> Result<Identities>;
    /// The passphrase of a passphrase vault.
    fn passphrase(&self) -> Result<SecretString>;
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
    pub document: Document,
    pub protection: Protection,
    pub armored: bool,
}

/// A vault just decrypted, with the key that opened it.
struct Decrypted {
    plaintext: Zeroizing<Vec<u8>>,
    protection: Protection,
    armored: bool,
    key: Key,
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
}

impl Vault {
    /// The vault at `path`; a symbolic link is followed once, here, so the lock, the
    /// backups and every write are the target's and the link stays a link.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Vault {
            path: fs::resolve_links(&path.into()),
            lock_wait: fs::LockWait::default(),
        }
    }

    /// How long a write waits for another writer's lock, and whom it tells.
    pub fn with_lock_wait(mut self, wait: fs::LockWait) -> Self {
        self.lock_wait = wait;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

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

    fn read_ciphertext(&self) -> Result<Vec<u8>> {
        if !self.path.exists() {
            return Err(self.missing());
        }
        fs::check_private_file(&self.path, "vault")?;
        std::fs::read(&self.path).map_err(|e| Error::io("read", &self.path, e))
    }

    /// Decrypts `ciphertext` with the keys from `keys`.
    fn decrypt(&self, ciphertext: &[u8], keys: &dyn KeySource) -> Result<Decrypted> {
        let what = self.describe();
        let (key, protection) = if crypto::is_passphrase_protected(ciphertext, &what)? {
            let passphrase = keys.passphrase()?;
            (
                Key::Passphrase(passphrase.clone()),
                Protection::Passphrase(passphrase),
            )
        } else {
            (Key::Identities(keys.identities()?), Protection::Recipients)
        };
        let plaintext = crypto::decrypt(ciphertext, &key, &what)?;
        Ok(Decrypted {
            plaintext,
            protection,
            armored: crypto::is_armored(ciphertext),
            key,
        })
    }

    fn parse(&self, plaintext: &[u8], protection: Protection, armored: bool) -> Result<Opened> {
        Ok(Opened {
            document: Document::from_json(plaintext, &self.describe())?,
            protection,
            armored,
        })
    }

    /// Decrypts the vault for reading.
    pub fn open(&self, keys: &dyn KeySource) -> Result<Opened> {
        let ciphertext = self.read_ciphertext()?;
        let decrypted = self.decrypt(&ciphertext, keys)?;
        // Not needed any more: free it before the parse allocates the document.
        drop(ciphertext);
        self.parse(
            &decrypted.plaintext,
            decrypted.protection,
            decrypted.armored,
        )
    }

    /// Decrypts the vault for a reader that parses only what it needs of it (one secret,
    /// the names, the values without their metadata).
    pub fn read(&self, keys: &dyn KeySource) -> Result<Plaintext> {
        let ciphertext = self.read_ciphertext()?;
        let decrypted = self.decrypt(&ciphertext, keys)?;
        Ok(Plaintext::new(decrypted.plaintext, self.describe()))
    }

    fn seal(document: &Document, protection: &Protection, armor: bool) -> Result<Vec<u8>> {
        encrypt_as(
            protection,
            &document.recipients,
            &document.to_json()?,
            armor,
        )
    }

    /// Writes a new vault; fails if one exists already.
    pub fn create(&self, document: &Document, protection: &Protection, armor: bool) -> Result<()> {
        fs::ensure_private_dir(&fs::parent_dir(&self.path))?;
        let _lock = fs::WriterLock::acquire_waiting(&self.path, &self.lock_wait)?;
        if self.path.exists() {
            return Err(Error::Failed(format!(
                "a vault already exists at {}",
                self.path.display()
            )));
        }
        let ciphertext = Self::seal(document, protection, armor)?;
        fs::write_atomic(&self.path, &ciphertext, true)
    }

    /// Takes the writer lock and decrypts the vault for a change. Nothing is written until
    /// [`Transaction::write`]; the lock is released when the transaction is dropped.
    pub fn begin(&self, keys: &dyn KeySource) -> Result<Transaction<'_>> {
        // Before the lock, which would otherwise leave a `.lock` file for a vault that
        // does not exist, or fail in a directory that does not.
        if !self.path.exists() {
            return Err(self.missing());
        }
        let lock = fs::WriterLock::acquire_waiting(&self.path, &self.lock_wait)?;
        // With the lock held no other writer is mid-write: temp files and half backups
        // are what killed writers left (plaintext, in the case of other files' temps).
        fs::remove_stale_temp_files(&self.path);
        backup::remove_leftovers(&self.path);
        let ciphertext = self.read_ciphertext()?;
        let Decrypted {
            plaintext,
            protection,
            armored,
            key,
        } = self.decrypt(&ciphertext, keys)?;
        let opened = self.parse(&plaintext, protection, armored)?;
        drop(plaintext);
        Ok(Transaction {
            vault: self,
            _lock: lock,
            ciphertext,
            opened,
            key,
        })
    }

    /// Read, change, write under the writer lock. `change` returns its result and the
    /// secret names it touched (for the backup record), or `None` when it changed nothing.
    /// Nothing is written when `change` changed nothing or when any step fails.
    /// Returns the result and the backup made, if any.
    pub fn update<T>(
        &self,
        keys: &dyn KeySource,
        backups: &BackupPolicy,
        what: Change<'_>,
        change: impl FnOnce(&mut Document) -> Result<(T, Option<Vec<String>>)>,
    ) -> Result<(T, Option<PathBuf>)> {
        let mut transaction = self.begin(keys)?;
        let (result, names) = change(transaction.document_mut())?;
        let Some(names) = names else {
            return Ok((result, None));
        };
        let sealed = transaction.seal_document(what.keep_access)?;
        let backup = transaction.backup(
            backups,
            &backup::Record {
                operation: what.operation,
                names: &names,
                ..Default::default()
            },
        )?;
        transaction.write(&sealed)?;
        Ok((result, backup.map(|b| b.path)))
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
    match protection {
        Protection::Recipients => {
            if recipients.is_empty() {
                return Err(Error::BadData(
                    "the vault would have no recipients, so nobody could open it".into(),
                ));
            }
            let recipients = recipients::parse_all(recipients)?;
            crypto::encrypt(plaintext, Lock::Recipients(&recipients), armor)
        }
        Protection::Passphrase(passphrase) => {
            crypto::encrypt(plaintext, Lock::Passphrase(passphrase), armor)
        }
    }
}

/// A vault opened for a change, holding the writer lock until dropped.
pub struct Transaction<'v> {
    vault: &'v Vault,
    _lock: fs::WriterLock,
    /// The vault as it is on disk, which a backup copies.
    ciphertext: Vec<u8>,
    opened: Opened,
    key: Key,
}

impl Transaction<'_> {
    pub fn document(&self) -> &Document {
        &self.opened.document
    }

    /// How this vault's writers wait for locks, for other files locked with it.
    pub fn lock_wait(&self) -> &fs::LockWait {
        &self.vault.lock_wait
    }

    pub fn document_mut(&mut self) -> &mut Document {
        &mut self.opened.document
    }

    /// Encrypts `plaintext` the way the vault is encrypted: to the recipients listed in the
    /// document, or to its passphrase. Used for what must be kept beside the vault.
    pub fn seal_bytes(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let opened = &self.opened;
        encrypt_as(
            &opened.protection,
            &opened.document.recipients,
            plaintext,
            false,
        )
    }

    /// Decrypts bytes sealed for this vault (a backup) with the key that opened it.
    pub fn unseal_bytes(&self, ciphertext: &[u8], what: &str) -> Result<Zeroizing<Vec<u8>>> {
        crypto::decrypt(ciphertext, &self.key, what)
    }

    /// Decrypts and parses a vault file's bytes (a backup) with the key that opened this one.
    pub fn open_bytes(&self, ciphertext: &[u8], what: &str) -> Result<Document> {
        let plaintext = self.unseal_bytes(ciphertext, what)?;
        Document::from_json(&plaintext, what)
    }

    /// The document encrypted as the vault will be written. With `keep_access`, refuses a
    /// result that none of the identities that opened the vault could open.
    pub fn seal_document(&self, keep_access: bool) -> Result<Vec<u8>> {
        let opened = &self.opened;
        let sealed = Vault::seal(&opened.document, &opened.protection, opened.armored)?;
        if keep_access
            && matches!(opened.protection, Protection::Recipients)
            && crypto::decrypt(&sealed, &self.key, &self.vault.describe()).is_err()
        {
            return Err(Error::LockedOut(
                "after this change none of your identities could open the vault; nothing was changed (use --force if that is what you want)".into(),
            ));
        }
        Ok(sealed)
    }

    /// Saves the vault as it was when the transaction began, with `record`, unless backups
    /// are disabled.
    pub fn backup(
        &self,
        policy: &BackupPolicy,
        record: &backup::Record<'_>,
    ) -> Result<Option<backup::Saved>> {
        backup::save(&self.vault.path, &self.ciphertext, record, policy)
    }

    /// Replaces the vault with `ciphertext` (atomically).
    pub fn write(&self, ciphertext: &[u8]) -> Result<()> {
        fs::write_atomic(&self.vault.path, ciphertext, false)
    }
}
