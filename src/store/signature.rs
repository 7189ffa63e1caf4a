//! Tamper evidence: every write signs the vault's plaintext, recipients included, with an
//! Ed25519 key derived from the writer's X25519 identity, and records the writer's public
//! key — inside the encryption, as the document's last field:
//!
//! `…,"signature":{"writer":"<32-byte key, hex>","sig":"<64-byte signature, hex>"}}`
//!
//! What is signed is SHA-256 of a fixed context string and the document as it reads without
//! that field (the bytes before `,"signature"` and the closing brace), so checking needs no
//! re-serialization. The key is derived (HKDF-SHA256) rather than stored: nothing new to
//! keep safe or back up, and a recovery phrase brings it back with the identity. Who may
//! write is decided above the store, by what this machine has seen (`commands::trust`).

use ed25519_dalek::{Signer, Verifier};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const CONTEXT: &[u8] = b"secretsd vault signature v1\0";
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

    /// The public half, as written in signatures and `[security] trusted_writers`.
    pub fn writer(&self) -> String {
        hex(self.0.verifying_key().as_bytes())
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

/// The hasher a signed document's bytes are fed to.
pub fn start() -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(CONTEXT);
    hasher
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A digest of a whole plaintext, which this machine can remember as accepted.
pub fn digest(plaintext: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"secretsd accepted content v1\0");
    hasher.update(plaintext);
    hex(&hasher.finalize())
}

/// What a document's signature says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    /// Written before vault signed, or by a writer without an X25519 identity.
    Unsigned,
    /// Signed by `writer`, and the signature matches the content.
    Valid { writer: String },
    /// A signature that does not match the content (or cannot be read).
    Invalid { writer: Option<String> },
}

/// Checks the signature that ends `plaintext`, if any.
pub fn check(plaintext: &[u8]) -> Signed {
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
    let (Some(key), Some(signature)) = (unhex::<32>(&field.writer), unhex::<64>(&field.sig)) else {
        return invalid();
    };
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else {
        return invalid();
    };
    let mut hasher = start();
    hasher.update(&plaintext[..at]);
    hasher.update(b"}");
    let digest = hasher.finalize();
    match key.verify(&digest, &ed25519_dalek::Signature::from_bytes(&signature)) {
        Ok(()) => Signed::Valid {
            writer: field.writer,
        },
        Err(_) => invalid(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_covers_every_byte_before_it() {
        let key = SigningKey::from_identity(&age::x25519::Identity::generate()).unwrap();
        let body = br#"{"format":"secretsd-vault","version":1,"recipients":["age1x"],"secrets":{"A":{"value":"a"}}"#;
        let mut hasher = start();
        hasher.update(body);
        let mut signed = body.to_vec();
        signed.extend_from_slice(key.suffix(hasher).as_bytes());
        assert_eq!(
            check(&signed),
            Signed::Valid {
                writer: key.writer()
            }
        );
        let document: serde_json::Value = serde_json::from_slice(&signed).unwrap();
        assert_eq!(document["signature"]["writer"], key.writer());
        let mut tampered = signed.clone();
        let at = memchr::memmem::find(&tampered, b"\"a\"").unwrap();
        tampered[at + 1] = b'b';
        assert!(matches!(check(&tampered), Signed::Invalid { .. }));
        assert_eq!(check(body), Signed::Unsigned);
    }
}
