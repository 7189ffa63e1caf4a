//! age encryption and decryption of the vault payload.
//!
//! Plaintext only ever lives in memory, in buffers that are zeroed on drop.

use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::SecretString;
use age::{DecryptError, Decryptor, Encryptor};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// What opens a vault.
pub enum Key {
    /// age identities (X25519 or SSH) from an identity file.
    Identities(Vec<Box<dyn age::Identity + Send + Sync>>),
    /// The passphrase of a passphrase (scrypt) vault.
    Passphrase(SecretString),
}

/// What a vault is encrypted to.
pub enum Lock<'a> {
    Recipients(&'a [Box<dyn age::Recipient + Send>]),
    Passphrase(&'a SecretString),
}

const ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// Whether an age file is ASCII-armored, so a rewrite keeps the form the user chose.
pub fn is_armored(ciphertext: &[u8]) -> bool {
    let start = ciphertext
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(ciphertext.len());
    ciphertext[start..].starts_with(ARMOR_BEGIN)
}

/// Whether an age file is encrypted to a passphrase rather than to recipients.
pub fn is_passphrase_protected(ciphertext: &[u8], what: &str) -> Result<bool> {
    if !ciphertext.starts_with(b"age-encryption.org/") && !is_armored(ciphertext) {
        return Err(Error::BadData(format!(
            "{what} is not a valid age file (it lacks the age header); restore it from a backup"
        )));
    }
    let decryptor = Decryptor::new_buffered(ArmoredReader::new(ciphertext))
        .map_err(|e| decrypt_error(e, what))?;
    Ok(decryptor.is_scrypt())
}

pub fn encrypt(plaintext: &[u8], lock: Lock<'_>, armor: bool) -> Result<Vec<u8>> {
    let mut output = Vec::with_capacity(plaintext.len() + 1024);
    encrypt_into(&mut output, lock, armor, &mut |writer| {
        writer.write_all(plaintext)
    })?;
    Ok(output)
}

/// Encrypts what `write_plaintext` writes, straight into `output`: no buffer holds the
/// whole plaintext or the whole ciphertext.
pub fn encrypt_into(
    output: &mut dyn Write,
    lock: Lock<'_>,
    armor: bool,
    write_plaintext: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let encryptor = match lock {
        Lock::Recipients(recipients) => {
            Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
                .map_err(|e| Error::BadData(format!("cannot encrypt to these recipients: {e}")))?
        }
        Lock::Passphrase(passphrase) => Encryptor::with_user_passphrase(passphrase.clone()),
    };
    let format = if armor {
        Format::AsciiArmor
    } else {
        Format::Binary
    };
    let failed = |e: std::io::Error| Error::Failed(format!("encryption failed: {e}"));
    let armored = ArmoredWriter::wrap_output(output, format).map_err(failed)?;
    let mut writer = encryptor.wrap_output(armored).map_err(failed)?;
    write_plaintext(&mut writer).map_err(failed)?;
    writer.finish().and_then(|a| a.finish()).map_err(failed)?;
    Ok(())
}

/// Decrypts `ciphertext`; `what` names the file in errors ("the vault /path").
pub fn decrypt(ciphertext: &[u8], key: &Key, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let decryptor = Decryptor::new_buffered(ArmoredReader::new(ciphertext))
        .map_err(|e| decrypt_error(e, what))?;
    let scrypt_identity;
    let mut reader = match key {
        Key::Identities(identities) => decryptor
            .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| decrypt_error(e, what))?,
        Key::Passphrase(passphrase) => {
            scrypt_identity = age::scrypt::Identity::new(passphrase.clone());
            decryptor
                .decrypt(std::iter::once(&scrypt_identity as &dyn age::Identity))
                .map_err(|e| decrypt_error(e, what))?
        }
    };
    // Reserve up front so the plaintext is not copied into reallocated (unzeroed) buffers.
    let mut plaintext = Zeroizing::new(Vec::with_capacity(ciphertext.len()));
    reader.read_to_end(&mut plaintext).map_err(|e| {
        Error::BadData(format!(
            "{what} is corrupt or truncated: {e}; restore it from a backup"
        ))
    })?;
    Ok(plaintext)
}

fn decrypt_error(error: DecryptError, what: &str) -> Error {
    match error {
        DecryptError::NoMatchingKeys => Error::LockedOut(format!(
            "none of the given identities can open {what}; pass the right one with --identity FILE or VAULT_IDENTITY"
        )),
        DecryptError::DecryptionFailed | DecryptError::KeyDecryptionFailed => Error::LockedOut(
            format!("{what} could not be decrypted: wrong passphrase or key"),
        ),
        DecryptError::ExcessiveWork { required, target } => Error::BadData(format!(
            "{what} asks for scrypt work factor {required}, far above what this machine does in a second ({target}); refusing"
        )),
        DecryptError::Io(e) => Error::BadData(format!(
            "{what} is corrupt or truncated ({e}); restore it from a backup"
        )),
        other => Error::BadData(format!(
            "{what} is not a valid age file or is corrupt ({other}); restore it from a backup"
        )),
    }
}
