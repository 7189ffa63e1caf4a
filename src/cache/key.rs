//! The machine key of the offline cache: the local X25519 identity, which entries are
//! encrypted to, and an authentication key derived from its secret.
//!
//! Encryption alone proves nothing: anyone can encrypt to a public recipient, so a file
//! made with `age -r` would be read back as a value vault fetched. Every cache file also
//! carries an HMAC-SHA256 under a key only the holder of the identity's secret can derive
//! (HMAC-SHA256 keyed by the 32-byte X25519 secret, over a domain label), checked before
//! anything in the file is decrypted or believed.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Separates this use of the identity's secret from every other.
const MAC_KEY_LABEL: &[u8] = b"secretsd offline cache v1: entry authentication key";

type HmacSha256 = Hmac<Sha256>;

/// The local identity, as the cache uses it.
pub struct MachineKey {
    identity: age::x25519::Identity,
    recipient: age::x25519::Recipient,
    mac_key: Zeroizing<[u8; 32]>,
}

impl MachineKey {
    /// The key of `identity`: its recipient names the cache directory, its secret derives
    /// the authentication key.
    pub fn new(identity: age::x25519::Identity) -> Result<MachineKey> {
        let secret = crate::store::identity::x25519_secret(&identity)?;
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&secret)
            .map_err(|_| Error::Failed("the identity's secret is not a key".into()))?;
        mac.update(MAC_KEY_LABEL);
        let mut mac_key = Zeroizing::new([0u8; 32]);
        mac_key.copy_from_slice(&mac.finalize().into_bytes());
        let recipient = identity.to_public();
        Ok(MachineKey {
            identity,
            recipient,
            mac_key,
        })
    }

    /// The X25519 identity in an identity file's text, if it holds one.
    pub fn from_text(text: &str) -> Option<Result<MachineKey>> {
        crate::store::identity::x25519_identity(text).map(MachineKey::new)
    }

    pub fn recipient(&self) -> String {
        self.recipient.to_string()
    }

    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let recipients: Vec<Box<dyn age::Recipient + Send>> =
            vec![Box::new(self.recipient.clone())];
        Ok(crate::store::crypto::encrypt(
            plaintext,
            crate::store::crypto::Lock::Recipients(&recipients),
            false,
        )?)
    }

    pub fn decrypt(
        &self,
        ciphertext: &[u8],
        what: &str,
    ) -> Result<crate::store::secret_bytes::SecretBytes> {
        let key = crate::store::crypto::Key::Identities(vec![Box::new(self.identity.clone())]);
        Ok(crate::store::crypto::decrypt(ciphertext, &key, what)?)
    }

    /// The MAC of `parts`, each length-prefixed so no two sequences of parts collide.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        self.hmac(parts).finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of `parts`, compared in constant time.
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.hmac(parts).verify_slice(tag).is_ok()
    }

    fn hmac(&self, parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(self.mac_key.as_slice())
            .expect("HMAC takes a key of any length");
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }
}
