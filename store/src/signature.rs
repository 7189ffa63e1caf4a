//! Tamper evidence: every write signs the vault's plaintext, recipients included, with an
//! Ed25519 key derived from the writer's X25519 identity, and records the writer's public
//! key — inside the encryption, as the document's last field:
//!
//! `…,"signature":{"writer":"<32-byte key, hex>","sig":"<64-byte signature, hex>"}}`
//!
//! What is signed is SHA-256 of a fixed context string and the document as it reads without
//! that field (the bytes before `,"signature"` and the closing brace), so checking needs no
//! re-serialization. For an age X25519 identity the key is derived from it (HKDF-SHA256):
//! nothing new to keep safe, and a recovery phrase brings it back with the identity. SSH
//! and plugin identities have no secret vault can derive from, so their writer key is kept
//! in `writer.key` beside the configuration (`store::identity`). Who may write is decided
//! above the store, by the vault's membership and what this machine has seen
//! (`commands::trust`).

use ed25519_dalek::Signer;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::secret_bytes::SecretBytes;

/// What a signature is for. Its hash starts with a context of its own, so a signature
/// made for one kind of object never passes for another (a vault signed by a member is no
/// files bundle of the user's, even if it parses as one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// A vault document.
    Vault,
    /// The files a backup keeps (`store::backup`).
    Files,
    /// Values typed to settle a merge, kept between calls.
    MergeValues,
    /// An AI agent grant's scope file (`grant.json`): what a user's write may put in the
    /// grant's bundle, and for whom.
    AgentScope,
}

impl Domain {
    fn context(self) -> &'static [u8] {
        match self {
            Domain::Vault => b"secretsd vault signature v1\0",
            Domain::Files => b"secretsd backup files v1\0",
            Domain::MergeValues => b"secretsd merge values v1\0",
            Domain::AgentScope => b"secretsd agent grant scope v1\0",
        }
    }
}
const MARKER: &[u8] = b",\"signature\":{\"writer\":\"";

/// A writer's signing key.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The key of the writer holding `identity`.
    pub fn from_identity(identity: &age::x25519::Identity) -> Result<SigningKey> {
        use age::secrecy::ExposeSecret;
        let encoded = identity.to_string();
        let (_, secret) = bech32::decode(encoded.expose_secret())
            .map_err(|e| Error::Failed(format!("the identity does not decode: {e}")))?;
        let secret = Zeroizing::new(secret);
        let mut seed = Zeroizing::new([0u8; 32]);
        hkdf::Hkdf::<Sha256>::new(Some(b"secretsd-signing-key-v1"), &secret)
            .expand(b"ed25519 seed", &mut *seed)
            .map_err(|e| Error::Failed(format!("cannot derive the signing key: {e}")))?;
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// The public half, as written in signatures and membership blocks.
    pub fn writer(&self) -> String {
        hex(self.0.verifying_key().as_bytes())
    }

    /// A key from its 32-byte seed (a writer key file, for identities without X25519).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The signature of a 32-byte digest, in hex.
    pub fn sign_digest(&self, digest: &[u8]) -> String {
        hex(&self.0.sign(digest).to_bytes())
    }

    /// The field that ends a signed document whose bytes before it (everything but the
    /// closing brace) were fed to `hasher`, opened with [`start`].
    pub fn suffix(&self, mut hasher: Sha256) -> String {
        hasher.update(b"}");
        let digest = hasher.finalize();
        let signature = self.0.sign(&digest);
        format!(
            ",\"signature\":{{\"writer\":\"{}\",\"sig\":\"{}\"}}}}",
            self.writer(),
            hex(&signature.to_bytes())
        )
    }
}

/// How much of a document [`write_document`] gathers before passing it on.
const BLOCK: usize = 64 * 1024;

/// Writes a document — `open_document` writes all of it but the closing brace — to `out`,
/// signed by `key` when given, in blocks of 64 KiB. The signature's hash (~1 ms per MB)
/// runs on a second thread, block by block, while this one encrypts: it overlaps the
/// encryption instead of adding to it. The serializer's many small writes (a name, a colon,
/// a secret's text) reach the encryption as few large ones.
pub fn write_document(
    out: &mut dyn std::io::Write,
    key: Option<&SigningKey>,
    open_document: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_document_in(Domain::Vault, out, key, open_document)
}

/// [`write_document`] for an object of another [`Domain`].
fn write_document_in(
    domain: Domain,
    out: &mut dyn std::io::Write,
    key: Option<&SigningKey>,
    open_document: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let Some(key) = key else {
        let mut blocks = Blocks::new(out, Hash::None);
        open_document(&mut blocks)?;
        blocks.write_block()?;
        return blocks.out.write_all(b"}");
    };
    std::thread::scope(|scope| {
        let (to_hasher, blocks_to_hash) = std::sync::mpsc::sync_channel::<SecretBytes>(4);
        let hasher = std::thread::Builder::new()
            .name("signature-hash".into())
            .spawn_scoped(scope, move || {
                let mut hasher = start_in(domain);
                for block in blocks_to_hash {
                    hasher.update(&block[..]);
                }
                hasher
            });
        // Without a thread (none left to start), the hash is taken here.
        let (mut blocks, hasher) = match hasher {
            Ok(hasher) => (Blocks::new(out, Hash::Aside(to_hasher)), Some(hasher)),
            Err(_) => (Blocks::new(out, Hash::Here(start_in(domain))), None),
        };
        open_document(&mut blocks)?;
        blocks.write_block()?;
        let hasher = match (std::mem::replace(&mut blocks.hash, Hash::None), hasher) {
            (Hash::Here(hasher), _) => hasher,
            (to_hasher, Some(hasher)) => {
                // Without a sender the hasher's loop ends.
                drop(to_hasher);
                hasher
                    .join()
                    .map_err(|_| std::io::Error::other("the signature's hash failed"))?
            }
            (_, None) => unreachable!("without a thread the hash is taken here"),
        };
        blocks.out.write_all(key.suffix(hasher).as_bytes())
    })
}

/// `object` (a whole JSON object, `{…}`) with a signature by `key` as its last field, as
/// a vault document is signed; unsigned without a key. For what vault keeps beside the
/// vault and must know it wrote itself (a backup's files, values typed in a merge).
pub fn sign_object(
    domain: Domain,
    key: Option<&SigningKey>,
    object: &[u8],
) -> std::io::Result<SecretBytes> {
    let open = object
        .strip_suffix(b"}")
        .ok_or_else(|| std::io::Error::other("not a JSON object"))?;
    let mut out = SecretBytes::with_capacity(object.len() + 256);
    write_document_in(domain, &mut out, key, |w| w.write_all(open))?;
    Ok(out)
}

/// Whether `plaintext` ends with a valid signature by `writer`, made for `domain`.
pub fn signed_by(domain: Domain, plaintext: &[u8], writer: &str) -> bool {
    matches!(check_in(domain, plaintext), Signed::Valid { writer: w } if w == writer)
}

/// Where the blocks of a document go besides the output.
enum Hash {
    None,
    Here(Sha256),
    Aside(std::sync::mpsc::SyncSender<SecretBytes>),
}

/// Gathers writes into blocks of [`BLOCK`] bytes, each written to `out` and hashed.
struct Blocks<'o> {
    out: &'o mut dyn std::io::Write,
    /// Plaintext: wiped when dropped, and never grown (so never reallocated).
    block: SecretBytes,
    hash: Hash,
}

impl<'o> Blocks<'o> {
    fn new(out: &'o mut dyn std::io::Write, hash: Hash) -> Self {
        Blocks {
            out,
            block: SecretBytes::with_capacity(BLOCK),
            hash,
        }
    }

    fn write_block(&mut self) -> std::io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        self.out.write_all(&self.block)?;
        match &mut self.hash {
            Hash::None => self.block.clear(),
            Hash::Here(hasher) => {
                hasher.update(&self.block[..]);
                self.block.clear();
            }
            Hash::Aside(to_hasher) => {
                let block = std::mem::replace(&mut self.block, SecretBytes::with_capacity(BLOCK));
                to_hasher
                    .send(block)
                    .map_err(|_| std::io::Error::other("the signature's hash stopped"))?;
            }
        }
        Ok(())
    }
}

impl std::io::Write for Blocks<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let taken = bytes.len().min(BLOCK - self.block.len());
        self.block.extend_from_slice(&bytes[..taken]);
        if self.block.len() == BLOCK {
            self.write_block()?;
        }
        Ok(taken)
    }

    /// Nothing: the blocks are written when full and at the end, and `out` (an age
    /// stream, perhaps armored) must not be flushed before its end.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The hasher a signed vault document's bytes are fed to.
pub fn start() -> Sha256 {
    start_in(Domain::Vault)
}

fn start_in(domain: Domain) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(domain.context());
    hasher
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    // By table, not a `format!` per byte: every read spells its writer's key (32 formatted
    // strings cost as many instructions as the rest of the trust check's bookkeeping).
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

/// Whether `sig` (hex) is `writer`'s (hex) signature of `digest`.
pub fn verify_digest(writer: &str, digest: &[u8], sig: &str) -> bool {
    let (Some(key), Some(signature)) = (writer_key(writer), unhex::<64>(sig)) else {
        return false;
    };
    key.verify_strict(digest, &ed25519_dalek::Signature::from_bytes(&signature))
        .is_ok()
}

/// Whether `text` is a writer key: 64 lowercase hex digits of a valid Ed25519 public key,
/// spelled as vault writes it.
pub fn is_writer_key(text: &str) -> bool {
    writer_key(text).is_some()
}

/// The Ed25519 key `text` names, when `text` is the one spelling vault writes of it:
/// lowercase hex of the key's canonical encoding. Writers are told apart, and looked up
/// among members and owners, by their text; a second spelling of one key (`+` signs or
/// capitals in the hex, a point encoded non-canonically) would be a second writer who
/// signs as the first, so it is no key at all.
fn writer_key(text: &str) -> Option<ed25519_dalek::VerifyingKey> {
    let bytes = unhex::<32>(text)?;
    if !canonical_encoding(&bytes) {
        return None;
    }
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok()
}

/// Whether `bytes`, if they decode to a point, are that point's one canonical encoding:
/// what re-encoding the decoded point (a field inversion, as costly as the rest of reading
/// the key) would give back. Decoding takes y modulo p = 2^255 - 19 and negates x by the
/// top bit, so two encodings decode alike only when y >= p (y - p spells the same y) or
/// when x = 0 (y = 1 or p - 1) with the sign bit set (-0 = 0).
fn canonical_encoding(bytes: &[u8; 32]) -> bool {
    let sign = bytes[31] >> 7 == 1;
    let mut y = *bytes;
    y[31] &= 0x7f;
    // y >= p: 0x7fff...ffed or above, little-endian.
    let at_least_p = y[31] == 0x7f && y[1..31].iter().all(|&b| b == 0xff) && y[0] >= 0xed;
    let mut one = [0u8; 32];
    one[0] = 1;
    let mut p_minus_one = [0xffu8; 32];
    p_minus_one[0] = 0xec;
    p_minus_one[31] = 0x7f;
    !at_least_p && !(sign && (y == one || y == p_minus_one))
}

/// The `N` bytes that `text` spells in exactly `2 * N` lowercase hex digits (as [`hex`]
/// writes them); anything else (capitals, signs, another length) is `None`.
pub(crate) fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// What a document's signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    /// Written before vault signed, or by a writer without an X25519 identity.
    Unsigned,
    /// Signed by `writer`, and the signature matches the content.
    Valid {
        /// The writer key that signed it.
        writer: String,
    },
    /// A signature that does not match the content (or cannot be read).
    Invalid {
        /// The writer key the signature names, if it could be read.
        writer: Option<String>,
    },
}

/// Checks the signature that ends `plaintext` (a vault document), if any.
pub fn check(plaintext: &[u8]) -> Signed {
    check_in(Domain::Vault, plaintext)
}

/// [`check`] for an object of another [`Domain`].
fn check_in(domain: Domain, plaintext: &[u8]) -> Signed {
    let Some(at) = memchr::memmem::rfind(plaintext, MARKER) else {
        return Signed::Unsigned;
    };
    #[derive(serde::Deserialize)]
    struct Field {
        writer: String,
        sig: String,
    }
    // The field, without the document's closing brace after it.
    let rest = &plaintext[at + 1..];
    let field = rest
        .strip_suffix(b"}")
        .and_then(|r| r.strip_prefix(b"\"signature\":"))
        .and_then(|r| serde_json::from_slice::<Field>(r).ok());
    let Some(field) = field else {
        return Signed::Invalid { writer: None };
    };
    let invalid = || Signed::Invalid {
        writer: Some(field.writer.clone()),
    };
    // A writer spelled otherwise than vault spells it is refused here, not merely left to
    // match no member: the writer reported is the key's one spelling, so every comparison
    // above this one compares keys.
    let (Some(key), Some(signature)) = (writer_key(&field.writer), unhex::<64>(&field.sig)) else {
        return invalid();
    };
    let mut hasher = start_in(domain);
    hasher.update(&plaintext[..at]);
    hasher.update(b"}");
    let digest = hasher.finalize();
    match key.verify_strict(&digest, &ed25519_dalek::Signature::from_bytes(&signature)) {
        Ok(()) => Signed::Valid {
            writer: hex(key.as_bytes()),
        },
        Err(_) => invalid(),
    }
}

#[cfg(test)]
mod tests;
