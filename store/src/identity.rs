//! age identities: loading them from a file and creating a new one.

use std::fs;
use std::path::Path;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use crate::document::timestamp_now;
use crate::error::{Error, Result};
use crate::fs::{ensure_private_dir, parent_dir, write_atomic};
use crate::paths::{Located, Source};
use crate::strict::check_private_file;

/// The identities a vault may be opened with.
pub type Identities = Vec<Box<dyn age::Identity + Send + Sync>>;

/// Loads the identities in an age identity file (as written by `age-keygen` or `vault
/// init`) or an unencrypted OpenSSH ed25519/RSA private key.
pub fn load(location: &Located) -> Result<Identities> {
    let path = &location.path;
    if !path.exists() {
        let hint = match location.source {
            Source::Default => {
                "; pass --identity FILE, set VAULT_IDENTITY, or run 'vault init' to create one"
            }
            _ => "",
        };
        return Err(Error::LockedOut(format!(
            "no identity found at {} (from {}){hint}",
            path.display(),
            location.source
        )));
    }
    check_private_file(path, "identity file")?;
    let contents = Zeroizing::new(fs::read(path).map_err(|e| Error::io("read", path, e))?);
    parse(
        &contents,
        &format!("the identity file {}", path.display()),
        Some(path.display().to_string()),
    )
}

/// Identities from the text of an identity file (age identities, one or more
/// `AGE-SECRET-KEY-1…` lines, or an unencrypted OpenSSH key); `what` names where the text
/// came from in errors, which never quote it.
pub fn parse(contents: &[u8], what: &str, filename: Option<String>) -> Result<Identities> {
    let invalid = |detail: String| Error::LockedOut(format!("{what} is not usable: {detail}"));
    if contents.starts_with(b"-----BEGIN OPENSSH PRIVATE KEY-----")
        || contents.starts_with(b"-----BEGIN RSA PRIVATE KEY-----")
    {
        let identity = age::ssh::Identity::from_buffer(contents, filename)
            .map_err(|e| invalid(e.to_string()))?;
        return match identity {
            age::ssh::Identity::Unencrypted(_) => Ok(vec![Box::new(identity)]),
            age::ssh::Identity::Encrypted(_) => Err(invalid(
                "passphrase-protected SSH keys are not supported; use an age identity (vault init) or an unencrypted key".into(),
            )),
            age::ssh::Identity::Unsupported(_) => {
                Err(invalid("this SSH key type is not supported (use ed25519 or RSA)".into()))
            }
        };
    }
    let identities = age::IdentityFile::from_buffer(contents)
        .map(|file| file.with_callbacks(crate::plugin_ui::PluginUi))
        .map_err(|e| invalid(e.to_string()))?
        .into_identities()
        .map_err(|e| invalid(e.to_string()))?;
    if identities.is_empty() {
        return Err(invalid("it contains no identities".into()));
    }
    Ok(identities)
}

/// Creates a new X25519 identity file at `path` (0600, in a 0700 directory) in the format
/// of `age-keygen`, and returns its public recipient. Never overwrites an existing file.
pub fn create(path: &Path) -> Result<age::x25519::Recipient> {
    write(path, &age::x25519::Identity::generate())
}

/// The X25519 identity in an identity file's text (its first `AGE-SECRET-KEY-1…` line).
pub fn x25519_identity(contents: &str) -> Option<age::x25519::Identity> {
    contents
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("AGE-SECRET-KEY-"))
        .and_then(|line| age::x25519::Identity::from_str(line).ok())
}

/// The 32-byte secret of an X25519 identity, for deriving keys from it (the offline cache's
/// authentication key). Never shown, zeroed when dropped.
pub fn x25519_secret(identity: &age::x25519::Identity) -> Result<Zeroizing<Vec<u8>>> {
    let encoded = identity.to_string();
    let (_, key) = bech32::decode(encoded.expose_secret())
        .map_err(|e| Error::Failed(format!("the identity does not decode: {e}")))?;
    Ok(Zeroizing::new(key))
}

/// The 24 BIP39 words (English list) that encode an X25519 identity's 32-byte secret: what
/// a person can write on paper and type back in.
pub fn recovery_phrase(identity: &age::x25519::Identity) -> Result<Zeroizing<String>> {
    let key = x25519_secret(identity)?;
    let mnemonic = bip39::Mnemonic::from_entropy(&key)
        .map_err(|e| Error::Failed(format!("cannot make a recovery phrase: {e}")))?;
    Ok(Zeroizing::new(mnemonic.to_string()))
}

/// The identity a recovery phrase encodes; errors say what is wrong with the words, never
/// repeat them.
pub fn from_recovery_phrase(phrase: &str) -> Result<age::x25519::Identity> {
    let words: Vec<&str> = phrase.split_whitespace().collect();
    if words.len() != 24 {
        return Err(Error::BadData(format!(
            "a recovery phrase is 24 words; this one has {}",
            words.len()
        )));
    }
    let normalized = Zeroizing::new(words.join(" ").to_lowercase());
    let mnemonic = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &normalized)
        .map_err(|e| {
            Error::BadData(format!(
                "the recovery phrase is not valid ({e}); check each word and their order"
            ))
        })?;
    let key = Zeroizing::new(mnemonic.to_entropy());
    let hrp = bech32::Hrp::parse("age-secret-key-")
        .map_err(|e| Error::Failed(format!("internal: {e}")))?;
    let encoded = Zeroizing::new(
        bech32::encode::<bech32::Bech32>(hrp, &key)
            .map_err(|e| Error::Failed(format!("cannot encode the identity: {e}")))?
            .to_uppercase(),
    );
    age::x25519::Identity::from_str(&encoded)
        .map_err(|e| Error::Failed(format!("the recovered key is not an identity: {e}")))
}

/// Writes `identity` as a new identity file at `path`, as [`create`] does.
pub fn write(path: &Path, identity: &age::x25519::Identity) -> Result<age::x25519::Recipient> {
    if path.exists() {
        return Err(Error::Failed(format!(
            "an identity already exists at {}; vault never overwrites one",
            path.display()
        )));
    }
    ensure_private_dir(&parent_dir(path))?;
    let recipient = identity.to_public();
    let contents = Zeroizing::new(format!(
        "# created: {}\n# public key: {recipient}\n{}\n",
        timestamp_now(),
        identity.to_string().expose_secret()
    ));
    write_atomic(path, contents.as_bytes(), true)?;
    Ok(recipient)
}

/// This user as a writer: the key their writes are signed with (see `signature`) and,
/// when it comes from an age X25519 identity, the recipient that identity opens.
pub struct Own {
    /// The key this user signs writes with.
    pub key: crate::signature::SigningKey,
    /// The recipient their identity opens, when it is an age X25519 identity.
    pub recipient: Option<String>,
}

/// The writer of an identity file's text, when it holds an age X25519 identity: its
/// signing key is derived from the identity, so there is nothing else to keep.
pub fn own_from_text(text: &str) -> Option<Own> {
    let identity = x25519_identity(text)?;
    let key = crate::signature::SigningKey::from_identity(&identity).ok()?;
    Some(Own {
        key,
        recipient: Some(identity.to_public().to_string()),
    })
}

/// The writer key kept in `path` for an identity that is not an X25519 key (SSH, a
/// plugin): none if the file does not exist.
pub fn writer_key_from_file(path: &Path) -> Result<Option<Own>> {
    if !path.exists() {
        return Ok(None);
    }
    check_private_file(path, "writer key file")?;
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?);
    let seed = text
        .lines()
        .map(str::trim)
        .find_map(|line| line.strip_prefix("SECRETSD-WRITER-KEY-"))
        .and_then(crate::signature::unhex::<32>)
        .map(Zeroizing::new)
        .ok_or_else(|| {
            Error::LockedOut(format!(
                "the writer key file {} holds no SECRETSD-WRITER-KEY- line",
                path.display()
            ))
        })?;
    Ok(Some(Own {
        key: crate::signature::SigningKey::from_seed(&seed),
        recipient: None,
    }))
}

/// Makes a new writer key file at `path` (0600), for an identity that is not an X25519 key;
/// never over an existing one.
pub fn create_writer_key(path: &Path) -> Result<Own> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed)
        .map_err(|e| Error::Failed(format!("no randomness for a writer key: {e}")))?;
    let key = crate::signature::SigningKey::from_seed(&seed);
    ensure_private_dir(&parent_dir(path))?;
    let contents = Zeroizing::new(format!(
        "# created: {}\n# the key vault signs your writes with (your identity is not an age X25519 key)\n# public: {}\nSECRETSD-WRITER-KEY-{}\n",
        timestamp_now(),
        key.writer(),
        crate::signature::hex(&*seed)
    ));
    write_atomic(path, contents.as_bytes(), true)?;
    Ok(Own {
        key,
        recipient: None,
    })
}
