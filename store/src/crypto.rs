//! age encryption and decryption of the vault payload.
//!
//! Plaintext only ever lives in memory, in buffers that are zeroed on drop.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::io::{Read, Write};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::secrecy::{ExposeSecret, SecretString};
use age::{DecryptError, Decryptor, EncryptError, Encryptor};
use age_core::format::{FileKey, Stanza};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::payload::{self, NONCE_LEN, PayloadKey};
use crate::secret_bytes::SecretBytes;

/// What opens a vault.
pub enum Key {
    /// age identities (X25519 or SSH) from an identity file.
    Identities(Vec<Box<dyn age::Identity + Send + Sync>>),
    /// The passphrase of a passphrase (scrypt) vault.
    Passphrase(SecretString),
}

/// What a vault is encrypted to.
pub enum Lock<'a> {
    /// To these recipients.
    Recipients(&'a [Box<dyn age::Recipient + Send>]),
    /// To this passphrase (scrypt).
    Passphrase(&'a SecretString),
}

const ARMOR_BEGIN: &[u8] = b"-----BEGIN AGE ENCRYPTED FILE-----";

/// What an age file's header says of whom it is encrypted to: each stanza's type and, for
/// SSH stanzas, the tag of the key it is for. X25519 stanzas name no key, so only their
/// number can be checked against the recipients a vault lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The stanzas, in order.
    pub stanzas: Vec<StanzaKind>,
}

/// One stanza of an age header, as much as it says without a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StanzaKind {
    /// The stanza type (`X25519`, `ssh-ed25519`, `scrypt`…).
    pub kind: String,
    /// The key tag of an `ssh-ed25519` or `ssh-rsa` stanza.
    pub tag: Option<String>,
}

impl Header {
    fn of(stanzas: &[Stanza]) -> Header {
        Header {
            stanzas: stanzas
                .iter()
                .map(|stanza| StanzaKind {
                    kind: stanza.tag.clone(),
                    tag: stanza
                        .tag
                        .starts_with("ssh-")
                        .then(|| stanza.args.first().cloned())
                        .flatten(),
                })
                .collect(),
        }
    }
}

/// Whether an age file is ASCII-armored, so a rewrite keeps the form the user chose.
pub fn is_armored(ciphertext: &[u8]) -> bool {
    armored_text(ciphertext).is_some()
}

/// An armored file from its first line on. The age format allows whitespace around the
/// armor, which the age crate's reader takes only after it (a file pasted with a blank
/// line first would not open: C2SP vector `armor_whitespace_outside`).
fn armored_text(ciphertext: &[u8]) -> Option<&[u8]> {
    let start = ciphertext
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(ciphertext.len());
    Some(&ciphertext[start..]).filter(|text| text.starts_with(ARMOR_BEGIN))
}

/// Whether an age file is encrypted to a passphrase rather than to recipients.
pub fn is_passphrase_protected(ciphertext: &[u8], what: &str) -> Result<bool> {
    let armored = armored_text(ciphertext);
    if !ciphertext.starts_with(b"age-encryption.org/") && armored.is_none() {
        return Err(Error::BadData(format!(
            "{what} is not a valid age file (it lacks the age header); restore it from a backup"
        )));
    }
    let decryptor = Decryptor::new_buffered(ArmoredReader::new(armored.unwrap_or(ciphertext)))
        .map_err(|e| decrypt_error(e, what))?;
    Ok(decryptor.is_scrypt())
}

/// Encrypts `plaintext` into an age file (armored when asked).
pub fn encrypt(plaintext: &[u8], lock: Lock<'_>, armor: bool) -> Result<Vec<u8>> {
    let mut output = Vec::with_capacity(plaintext.len() + 1024);
    encrypt_into(&mut output, lock, armor, &mut |writer| {
        writer.write_all(plaintext)
    })?;
    Ok(output)
}

/// Encrypts what `write_plaintext` writes, straight into `output`: no buffer holds the
/// whole plaintext or the whole ciphertext.
///
/// The age crate makes the file key, wraps it for each recipient and writes the header
/// (stanzas and MAC) and the payload nonce; the payload is sealed by `payload`.
pub fn encrypt_into(
    output: &mut dyn Write,
    lock: Lock<'_>,
    armor: bool,
    write_plaintext: &mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let caught = FileKeyCatch::default();
    let passphrase_recipient;
    let recipients: Vec<&dyn age::Recipient> = match lock {
        Lock::Recipients(recipients) => recipients.iter().map(|r| r.as_ref() as _).collect(),
        Lock::Passphrase(passphrase) => {
            passphrase_recipient = age::scrypt::Recipient::new(passphrase.clone());
            vec![&passphrase_recipient]
        }
    };
    let catching = caught.around(recipients);
    let encryptor =
        Encryptor::with_recipients(catching.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| Error::BadData(format!("cannot encrypt to these recipients: {e}")))?;
    let failed = |e: std::io::Error| Error::Failed(format!("encryption failed: {e}"));
    let mut head = Vec::with_capacity(1024);
    // age's own payload writer is dropped unused: nothing was written to it.
    drop(encryptor.wrap_output(&mut head).map_err(failed)?);
    let (file_key, nonce) = caught.key_and_nonce(&head)?;
    let format = if armor {
        Format::AsciiArmor
    } else {
        Format::Binary
    };
    let mut armored = ArmoredWriter::wrap_output(output, format).map_err(failed)?;
    armored.write_all(&head).map_err(failed)?;
    let mut writer = payload::SealingWriter::new(PayloadKey::derive(&file_key, &nonce), armored);
    write_plaintext(&mut writer).map_err(failed)?;
    writer.finish().and_then(|a| a.finish()).map_err(failed)?;
    Ok(())
}

/// Decrypts `ciphertext`; `what` names the file in errors ("the vault /path"). Given the
/// bytes by value (a file just read), it opens them in place, with no second buffer.
///
/// The age crate reads the header, finds the identity that unwraps the file key and checks
/// the header's MAC with it; the payload is opened by `payload`.
pub fn decrypt<'c>(
    ciphertext: impl Into<Cow<'c, [u8]>>,
    key: &Key,
    what: &str,
) -> Result<SecretBytes> {
    decrypt_with_header(ciphertext, key, what).map(|(plaintext, _)| plaintext)
}

/// [`decrypt`], with what the header says of whom the file is encrypted to.
pub fn decrypt_with_header<'c>(
    ciphertext: impl Into<Cow<'c, [u8]>>,
    key: &Key,
    what: &str,
) -> Result<(SecretBytes, Header)> {
    let ciphertext = ciphertext.into();
    let corrupt = |detail: &dyn std::fmt::Display| {
        Error::BadData(format!(
            "{what} is corrupt or truncated: {detail}; restore it from a backup"
        ))
    };
    let binary = if let Some(armored) = armored_text(&ciphertext) {
        let mut bytes = Vec::with_capacity(ciphertext.len());
        ArmoredReader::new(armored)
            .read_to_end(&mut bytes)
            .map_err(|e| corrupt(&e))?;
        Cow::Owned(bytes)
    } else {
        ciphertext
    };
    let Unwrapped {
        file_key,
        nonce,
        payload_start,
        header,
    } = unwrap_file_key(&binary, key, what)?;
    let (mut buffer, start) = match binary {
        Cow::Owned(bytes) => (SecretBytes::new(bytes), payload_start),
        Cow::Borrowed(bytes) => {
            // Reserved up front: the plaintext is never copied into a reallocated (unwiped)
            // buffer.
            let mut copy = SecretBytes::with_capacity(bytes.len() - payload_start);
            copy.extend_from_slice(&bytes[payload_start..]);
            (copy, 0)
        }
    };
    payload::open(&PayloadKey::derive(&file_key, &nonce), &mut buffer, start)
        .map_err(|e| corrupt(&e))?;
    Ok((buffer, header))
}

/// What reading an age header gives the payload's reader.
struct Unwrapped {
    file_key: Zeroizing<[u8; 16]>,
    nonce: [u8; NONCE_LEN],
    /// Where the payload starts.
    payload_start: usize,
    header: Header,
}

/// Reads and checks the header of the binary age file `binary` with age: the file key one of
/// the identities unwraps, the payload nonce, where the payload starts, and the stanzas.
fn unwrap_file_key(binary: &[u8], key: &Key, what: &str) -> Result<Unwrapped> {
    let mut payload = binary;
    let decryptor = Decryptor::new_buffered(&mut payload).map_err(|e| decrypt_error(e, what))?;
    let scrypt_identity;
    let identities: Vec<&dyn age::Identity> = match key {
        Key::Identities(identities) => identities.iter().map(|i| i.as_ref() as _).collect(),
        Key::Passphrase(passphrase) => {
            scrypt_identity = age::scrypt::Identity::new(passphrase.clone());
            vec![&scrypt_identity]
        }
    };
    let caught = FileKeyCatch::default();
    let catching = caught.around(identities);
    // age's own payload reader is dropped unread; what it leaves of the input is the payload.
    drop(
        decryptor
            .decrypt(catching.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| decrypt_error(e, what))?,
    );
    let payload_start = binary.len() - payload.len();
    let (file_key, nonce) = caught.key_and_nonce(&binary[..payload_start])?;
    let header = caught.header.take();
    Ok(Unwrapped {
        file_key,
        nonce,
        payload_start,
        header,
    })
}

/// The file key an identity unwrapped or a recipient wrapped, kept for the payload, and
/// the header's stanzas as an identity saw them.
#[derive(Default)]
struct FileKeyCatch {
    key: RefCell<Option<Zeroizing<[u8; 16]>>>,
    header: RefCell<Header>,
}

impl FileKeyCatch {
    /// Each identity or recipient of `inner`, wrapped so this sees the file key it handles.
    fn around<T>(&self, inner: Vec<T>) -> Vec<Catching<'_, T>> {
        inner
            .into_iter()
            .map(|inner| Catching {
                inner,
                caught: self,
            })
            .collect()
    }

    fn catch(&self, file_key: &FileKey) {
        *self.key.borrow_mut() = Some(Zeroizing::new(*file_key.expose_secret()));
    }

    /// The caught file key, and the payload nonce that ends `head` (header and nonce).
    fn key_and_nonce(&self, head: &[u8]) -> Result<(Zeroizing<[u8; 16]>, [u8; NONCE_LEN])> {
        let file_key = self.key.borrow_mut().take();
        let nonce = head
            .len()
            .checked_sub(NONCE_LEN)
            .and_then(|start| head[start..].try_into().ok());
        match (file_key, nonce) {
            (Some(file_key), Some(nonce)) => Ok((file_key, nonce)),
            _ => Err(Error::Failed(
                "the age library used a file key vault did not see; nothing was changed".into(),
            )),
        }
    }
}

/// An identity or recipient that lets [`FileKeyCatch`] see the file key passing through.
struct Catching<'a, T> {
    inner: T,
    caught: &'a FileKeyCatch,
}

impl age::Identity for Catching<'_, &dyn age::Identity> {
    fn unwrap_stanza(&self, stanza: &Stanza) -> Option<std::result::Result<FileKey, DecryptError>> {
        let unwrapped = self.inner.unwrap_stanza(stanza);
        if let Some(Ok(file_key)) = &unwrapped {
            self.caught.catch(file_key);
        }
        unwrapped
    }

    fn unwrap_stanzas(
        &self,
        stanzas: &[Stanza],
    ) -> Option<std::result::Result<FileKey, DecryptError>> {
        // Every identity is shown the whole header; the first one to see it says what it is.
        if self.caught.header.borrow().stanzas.is_empty() {
            *self.caught.header.borrow_mut() = Header::of(stanzas);
        }
        // The inner identity's own rule for a whole header (an scrypt stanza must be alone).
        let unwrapped = self.inner.unwrap_stanzas(stanzas);
        if let Some(Ok(file_key)) = &unwrapped {
            self.caught.catch(file_key);
        }
        unwrapped
    }
}

impl age::Recipient for Catching<'_, &dyn age::Recipient> {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> std::result::Result<(Vec<Stanza>, HashSet<String>), EncryptError> {
        self.caught.catch(file_key);
        self.inner.wrap_file_key(file_key)
    }
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

#[cfg(test)]
mod tests {
    //! The payload is sealed and opened here, not by the age crate: each direction is held
    //! to the age crate's own reader and writer, at every chunk edge.
    use super::*;

    const SIZES: [usize; 8] = [0, 1, 65_535, 65_536, 65_537, 131_072, 200_000, 1_300_000];

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 253) as u8).collect()
    }

    fn identity() -> age::x25519::Identity {
        age::x25519::Identity::generate()
    }

    fn age_crate_decrypt(ciphertext: &[u8], identity: &age::x25519::Identity) -> Vec<u8> {
        let decryptor = Decryptor::new_buffered(ArmoredReader::new(ciphertext)).unwrap();
        let mut reader = decryptor
            .decrypt(std::iter::once(identity as &dyn age::Identity))
            .unwrap();
        let mut plaintext = Vec::new();
        reader.read_to_end(&mut plaintext).unwrap();
        plaintext
    }

    fn age_crate_encrypt(
        plaintext: &[u8],
        recipient: &age::x25519::Recipient,
        armor: bool,
    ) -> Vec<u8> {
        let encryptor =
            Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient)).unwrap();
        let format = if armor {
            Format::AsciiArmor
        } else {
            Format::Binary
        };
        let mut output = Vec::new();
        let armored = ArmoredWriter::wrap_output(&mut output, format).unwrap();
        let mut writer = encryptor.wrap_output(armored).unwrap();
        writer.write_all(plaintext).unwrap();
        writer.finish().unwrap().finish().unwrap();
        output
    }

    fn key_of(identity: &age::x25519::Identity) -> Key {
        Key::Identities(vec![Box::new(identity.clone())])
    }

    #[test]
    fn what_vault_writes_the_age_crate_reads() {
        let identity = identity();
        let recipients: Vec<Box<dyn age::Recipient + Send>> = vec![Box::new(identity.to_public())];
        for armor in [false, true] {
            for len in SIZES {
                let plaintext = sample(len);
                let ciphertext = encrypt(&plaintext, Lock::Recipients(&recipients), armor).unwrap();
                assert_eq!(is_armored(&ciphertext), armor);
                assert_eq!(
                    age_crate_decrypt(&ciphertext, &identity),
                    plaintext,
                    "{len} bytes, armor {armor}"
                );
            }
        }
    }

    #[test]
    fn what_the_age_crate_writes_vault_reads() {
        let identity = identity();
        for armor in [false, true] {
            for len in SIZES {
                let plaintext = sample(len);
                let ciphertext = age_crate_encrypt(&plaintext, &identity.to_public(), armor);
                let opened = decrypt(&ciphertext, &key_of(&identity), "the vault").unwrap();
                assert_eq!(*opened, plaintext, "{len} bytes, armor {armor}");
            }
        }
    }

    #[test]
    fn a_passphrase_file_round_trips_both_ways() {
        let passphrase = SecretString::from("correct horse battery staple".to_string());
        let plaintext = sample(70_000);
        let ours = encrypt(&plaintext, Lock::Passphrase(&passphrase), false).unwrap();
        let mut identity = age::scrypt::Identity::new(passphrase.clone());
        identity.set_max_work_factor(22);
        let mut reader = Decryptor::new_buffered(&ours[..])
            .unwrap()
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .unwrap();
        let mut theirs_read = Vec::new();
        reader.read_to_end(&mut theirs_read).unwrap();
        assert_eq!(theirs_read, plaintext);
        let key = Key::Passphrase(passphrase.clone());
        assert_eq!(*decrypt(&ours, &key, "the vault").unwrap(), plaintext);
        let wrong = Key::Passphrase(SecretString::from("wrong".to_string()));
        assert!(matches!(
            decrypt(&ours, &wrong, "the vault"),
            Err(Error::LockedOut(_))
        ));
    }

    #[test]
    fn cut_or_flipped_payloads_are_refused_as_corrupt() {
        let identity = identity();
        let ciphertext = age_crate_encrypt(&sample(150_000), &identity.to_public(), false);
        let key = key_of(&identity);
        // Cut at the boundary after the first full chunk: what is left is a valid chunk
        // sealed as "not last", which must not pass for a shorter file.
        let header_and_nonce = ciphertext.len() - (150_000 + 3 * 16);
        for cut in [
            ciphertext.len() - 1,
            header_and_nonce + 65_536 + 16,
            header_and_nonce + 2 * (65_536 + 16),
            header_and_nonce,
        ] {
            let error = decrypt(&ciphertext[..cut], &key, "the vault /v").unwrap_err();
            assert!(matches!(error, Error::BadData(_)), "cut at {cut}: {error}");
            assert!(
                error.to_string().contains("corrupt or truncated"),
                "{error}"
            );
        }
        let mut flipped = ciphertext.clone();
        flipped[header_and_nonce + 100_000] ^= 0x40;
        assert!(matches!(
            decrypt(&flipped, &key, "the vault"),
            Err(Error::BadData(_))
        ));
        let other = age::x25519::Identity::generate();
        assert!(matches!(
            decrypt(&ciphertext, &key_of(&other), "the vault"),
            Err(Error::LockedOut(_))
        ));
    }
}
