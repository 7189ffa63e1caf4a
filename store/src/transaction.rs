//! The write path: a vault opened for a change under the writer lock, and everything a
//! change does before the new version is in place — the backup written ahead, the
//! document sealed into an unnamed file, the rename.

use std::cell::RefCell;
use std::io::Write;
use std::path::PathBuf;

use crate::backup::{self, BackupPolicy};
use crate::crypto::Key;
use crate::document::Document;
use crate::error::{Error, Result};
use crate::secret_bytes::SecretBytes;
use crate::{
    Change, Decrypted, KeySource, Opened, Protection, Vault, Version, crypto, encrypt_as,
    encrypt_as_into, fs, signature, strict,
};

impl Vault {
    /// Takes the writer lock and decrypts the vault for a change. Nothing is written until
    /// the transaction commits; the lock is released when the transaction is dropped.
    pub fn begin(&self, keys: &dyn KeySource) -> Result<Transaction<'_>> {
        // Before the lock, which would otherwise leave a `.lock` file for a vault that
        // does not exist, or fail in a directory that does not.
        if !self.path.exists() {
            return Err(self.missing());
        }
        // Before the lock and the clean-up of stale temp files: in a directory another
        // user may write, the lock file could be their link to a file of ours.
        strict::check_vault_file(&self.path)?;
        let lock = fs::WriterLock::acquire_waiting(&self.path, &self.lock_wait)?;
        // With the lock held no other writer is mid-write: temp files and half backups
        // are what killed writers left (plaintext, in the case of other files' temps).
        fs::remove_stale_temp_files(&self.path);
        backup::remove_leftovers(&self.path);
        let (source, ciphertext) = self.read_file()?;
        let source_len = ciphertext.len() as u64;
        // The backup is the file as read, copied by the kernel from the open file (the same
        // inode, whatever now has its name) into an unnamed file — so a change that does not
        // happen leaves nothing — while this thread decrypts, changes and encrypts.
        let early_backup = self
            .backups
            .then(|| source.try_clone().ok())
            .flatten()
            .map(|copy| {
                let path = self.path.clone();
                std::thread::spawn(move || backup::prepare(&path, copy, source_len))
            });
        // Opened in place: the ciphertext's buffer becomes the plaintext's.
        let Decrypted {
            plaintext,
            protection,
            armored,
            key,
            header,
        } = self.decrypt(ciphertext, keys)?;
        // Read for a change: each secret stays text until it is used (see `Document`).
        let signed = signature::check(&plaintext);
        let mut document = Document::for_change(plaintext, &self.describe())?;
        let opened = Opened {
            document: Document::new(Vec::new()),
            protection,
            armored,
            header,
            signed,
        };
        self.vet(
            &Version {
                header: &opened.header,
                signed: &opened.signed,
                said: document.said(),
            },
            true,
        )?;
        document.ensure_fingerprint_key()?;
        let opened = Opened { document, ..opened };
        Ok(Transaction {
            vault: self,
            _lock: lock,
            source,
            source_len,
            early_backup: RefCell::new(early_backup),
            opened,
            key,
        })
    }

    /// Read, change, write under the writer lock. `change` returns its result and the
    /// secret names it touched (for the backup record), or `None` when it changed nothing.
    /// Nothing is written when `change` changed nothing or when any step fails.
    /// Returns the result and the backup made, if any. `change` fails in the caller's own
    /// error type, which this passes back untouched (the store's own failures convert).
    pub fn update<T, E: From<Error>>(
        &self,
        keys: &dyn KeySource,
        backups: &BackupPolicy,
        what: Change<'_>,
        change: impl FnOnce(&mut Document) -> Result<(T, Option<Vec<String>>), E>,
    ) -> Result<(T, Option<PathBuf>), E> {
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
        transaction.write_sealed(sealed)?;
        Ok((result, backup.map(|b| b.path)))
    }
}

/// A new vault, encrypted and durable but not yet in place (see [`Transaction::write_sealed`]).
pub struct Sealed(SealedAs);

enum SealedAs {
    /// Streamed into an unnamed file beside the vault.
    File(fs::PreparedFile),
    /// In memory, where the filesystem has no unnamed files or the bytes are checked.
    Bytes(Vec<u8>),
}

type EarlyBackup = std::thread::JoinHandle<Result<Option<fs::PreparedFile>>>;

/// A vault opened for a change, holding the writer lock until dropped.
pub struct Transaction<'v> {
    vault: &'v Vault,
    _lock: fs::WriterLock,
    /// The vault file as it was opened, which a backup copies, and its length then.
    source: std::fs::File,
    source_len: u64,
    /// That copy, being written ahead (see [`Vault::with_backups`]).
    early_backup: RefCell<Option<EarlyBackup>>,
    opened: Opened,
    key: Key,
}

impl Transaction<'_> {
    /// The document as read under the lock (and as changed so far).
    pub fn document(&self) -> &Document {
        &self.opened.document
    }

    /// The key this writer signs with (what it writes beside the vault is signed too).
    pub fn signing_key(&self) -> Option<&signature::SigningKey> {
        self.vault.signing_key()
    }

    /// The version as read (and as changed so far), for the trust layer.
    pub fn version(&self) -> Version<'_> {
        self.opened.version()
    }

    /// How this vault's writers wait for locks, for other files locked with it.
    pub fn lock_wait(&self) -> &fs::LockWait {
        &self.vault.lock_wait
    }

    /// The document, to change; the change is written by `commit`.
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
    pub fn unseal_bytes(&self, ciphertext: &[u8], what: &str) -> Result<SecretBytes> {
        crypto::decrypt(ciphertext, &self.key, what)
    }

    /// Decrypts and parses a vault file's bytes (a backup) with the key that opened this
    /// one; not judged (see [`Vault::open_ciphertext`]).
    pub fn open_bytes(&self, ciphertext: &[u8], what: &str) -> Result<Opened> {
        let (plaintext, header) = crypto::decrypt_with_header(ciphertext, &self.key, what)?;
        let signed = signature::check(&plaintext);
        Ok(Opened {
            document: Document::from_json(&plaintext, what)?,
            protection: match &self.opened.protection {
                Protection::Recipients => Protection::Recipients,
                Protection::Passphrase(p) => Protection::Passphrase(p.clone()),
            },
            armored: crypto::is_armored(ciphertext),
            header,
            signed,
        })
    }

    /// The document encrypted as the vault will be written, durable but not yet in place:
    /// readied by the guard first (its generation, its membership), which refuses a
    /// version this writer may not write. With `keep_access`, refuses a result that none
    /// of the identities that opened the vault could open.
    pub fn seal_document(&mut self, keep_access: bool) -> Result<Sealed> {
        if let Some(guard) = &self.vault.guard {
            let passphrase = matches!(self.opened.protection, Protection::Passphrase(_));
            guard.prepare_write(&self.vault.path, &mut self.opened.document, passphrase)?;
        }
        let opened = &self.opened;
        let checked = keep_access && matches!(opened.protection, Protection::Recipients);
        let prepared = if checked {
            None
        } else {
            fs::PreparedFile::create(&fs::parent_dir(&self.vault.path))?
        };
        let Some(mut file) = prepared else {
            let sealed = self
                .vault
                .seal(&opened.document, &opened.protection, opened.armored)?;
            if checked && crypto::decrypt(&sealed, &self.key, &self.vault.describe()).is_err() {
                return Err(Error::LockedOut(
                    "after this change none of your identities could open the vault; nothing was changed (use --force if that is what you want)".into(),
                ));
            }
            return Ok(Sealed(SealedAs::Bytes(sealed)));
        };
        // Streamed: the document is encrypted as it is written out, with no copy of the
        // whole plaintext or ciphertext in memory.
        let mut output =
            std::io::BufWriter::with_capacity(64 * 1024, fs::EarlyWriteback::new(file.file()));
        let key = self.vault.signing_key();
        encrypt_as_into(
            &opened.protection,
            &opened.document.recipients,
            opened.armored,
            &mut output,
            &mut |w| signature::write_document(w, key, |w| opened.document.write_json_open(w)),
        )?;
        output
            .flush()
            .map_err(|e| Error::io("write the new", &self.vault.path, e))?;
        drop(output);
        file.finish(0o600, None, &self.vault.path)?;
        Ok(Sealed(SealedAs::File(file)))
    }

    /// Saves the vault as it was when the transaction began, with `record`, unless backups
    /// are disabled.
    pub fn backup(
        &self,
        policy: &BackupPolicy,
        record: &backup::Record<'_>,
    ) -> Result<Option<backup::Saved>> {
        let early = self.early_backup.borrow_mut().take();
        if let Some(Ok(Ok(Some(file)))) = early.map(|writer| writer.join()) {
            return backup::save(
                &self.vault.path,
                backup::Data::Prepared(file),
                record,
                policy,
            );
        }
        // Not written ahead, or that failed: write it now, and report a failure then.
        let ciphertext = self.ciphertext()?;
        backup::save(
            &self.vault.path,
            backup::Data::Bytes(&ciphertext),
            record,
            policy,
        )
    }

    /// The vault file as this transaction read it (the same inode, whatever now has its
    /// name): what a backup keeps.
    pub fn ciphertext(&self) -> Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut ciphertext = vec![0; self.source_len as usize];
        self.source
            .read_exact_at(&mut ciphertext, 0)
            .map_err(|e| Error::io("read", &self.vault.path, e))?;
        Ok(ciphertext)
    }

    /// Puts the sealed document in place of the vault (atomically).
    pub fn write_sealed(&self, sealed: Sealed) -> Result<()> {
        match sealed.0 {
            SealedAs::File(file) => drop(file.persist(&self.vault.path, false)?),
            SealedAs::Bytes(bytes) => fs::write_atomic(&self.vault.path, &bytes, false)?,
        }
        match &self.vault.guard {
            Some(guard) => guard.wrote(&self.vault.path, &self.opened.document),
            None => Ok(()),
        }
    }
}
