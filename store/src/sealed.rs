//! Values sealed inside the vault document for some of its readers only: a member's
//! personal override of a shared secret, and (in `group_values`) a group's values.
//!
//! Each is an armored age ciphertext, in the (itself encrypted and signed) document, to the
//! recipients who may read it. Its plaintext names the secret and the scope it was sealed
//! for (`personal:RECIPIENT`, `group:NAME`), and opening checks both: a ciphertext moved to
//! another name, member or group is refused, not used (a member can re-sign the document,
//! so the signature alone would not notice).

use std::collections::BTreeMap;

use age::secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::crypto::{self, Key, Lock};
use crate::error::{Error, Result};
use crate::names::printable;

/// The top-level field of personal overrides: `{NAME: {RECIPIENT: CIPHERTEXT}}`.
pub const PERSONAL_FIELD: &str = "personal";
/// The top-level field of group values: `{NAME: {"group": G, "value": CIPHERTEXT}}`.
pub const GROUP_VALUES_FIELD: &str = "group_values";

/// A group's value of one secret, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupValue {
    /// The group whose members can open it.
    pub group: String,
    /// The armored age ciphertext.
    pub ciphertext: String,
    /// When its value last changed (RFC 3339).
    pub updated: String,
}

/// The sealed values of a document, as stored (ciphertexts only).
#[derive(Debug, Clone, Default)]
pub struct SealedValues {
    /// Per secret, per recipient: that recipient's personal override.
    pub personal: BTreeMap<String, BTreeMap<String, String>>,
    /// Per secret: the group value.
    pub groups: BTreeMap<String, GroupValue>,
}

impl SealedValues {
    /// Reads them from a document's top-level fields; a field of another shape (written
    /// by hand) contributes nothing it cannot read.
    pub fn from_fields(fields: &Map<String, Value>) -> SealedValues {
        let mut sealed = SealedValues::default();
        if let Some(Value::Object(names)) = fields.get(PERSONAL_FIELD) {
            for (name, by_recipient) in names {
                let Value::Object(by_recipient) = by_recipient else {
                    continue;
                };
                let entries: BTreeMap<String, String> = by_recipient
                    .iter()
                    .filter_map(|(r, c)| Some((r.clone(), c.as_str()?.to_string())))
                    .collect();
                if !entries.is_empty() {
                    sealed.personal.insert(name.clone(), entries);
                }
            }
        }
        if let Some(Value::Object(names)) = fields.get(GROUP_VALUES_FIELD) {
            for (name, value) in names {
                let group = value.get("group").and_then(Value::as_str);
                let ciphertext = value.get("value").and_then(Value::as_str);
                let updated = value.get("updated").and_then(Value::as_str);
                if let (Some(group), Some(ciphertext)) = (group, ciphertext) {
                    sealed.groups.insert(
                        name.clone(),
                        GroupValue {
                            group: group.to_string(),
                            ciphertext: ciphertext.to_string(),
                            updated: updated.unwrap_or_default().to_string(),
                        },
                    );
                }
            }
        }
        sealed
    }

    /// The secrets `recipient` has a personal override of, each with its ciphertext.
    pub fn personal_of(&self, recipient: &str) -> Vec<(&str, &str)> {
        self.personal
            .iter()
            .filter_map(|(name, by)| {
                by.iter()
                    .find(|(r, _)| crate::recipients::same_key(r, recipient))
                    .map(|(_, c)| (name.as_str(), c.as_str()))
            })
            .collect()
    }
}

/// The scope of a personal override.
pub fn personal_scope(recipient: &str) -> String {
    format!("personal:{}", crate::recipients::key_part(recipient))
}

/// The scope of a group value.
pub fn group_scope(group: &str) -> String {
    format!("group:{group}")
}

/// Seals `value` of the secret `name` for `scope` to `recipients`, as armored age text.
pub fn seal(
    name: &str,
    scope: &str,
    recipients: &[String],
    value: &SecretString,
) -> Result<String> {
    let parsed = crate::recipients::parse_all(recipients)?;
    let inner = Zeroizing::new(
        serde_json::json!({"name": name, "scope": scope, "value": value.expose_secret()})
            .to_string(),
    );
    let sealed = crypto::encrypt(inner.as_bytes(), Lock::Recipients(&parsed), true)?;
    String::from_utf8(sealed)
        .map_err(|_| Error::Failed("an armored age ciphertext is not text".into()))
}

/// Opens a sealed value with `key`, checking it was sealed for `name` and `scope`.
pub fn open(ciphertext: &str, name: &str, scope: &str, key: &Key) -> Result<SecretString> {
    #[derive(Deserialize)]
    struct Inner {
        name: String,
        scope: String,
        value: SecretString,
    }
    let what = format!("the {scope} value of {}", printable(name, false));
    let plaintext = crypto::decrypt(ciphertext.as_bytes(), key, &what)?;
    let inner: Inner = serde_json::from_slice(&plaintext)
        .map_err(|_| Error::BadData(format!("{what} decrypts but is not a sealed value")))?;
    if inner.name != name || inner.scope != scope {
        return Err(Error::BadData(format!(
            "{what} was sealed for another secret or reader ({} of {}): refused; the vault was edited by hand or by a member moving values",
            printable(&inner.scope, false),
            printable(&inner.name, false)
        )));
    }
    Ok(inner.value)
}

/// [`open`], or `None` when `key` is not among the recipients it was sealed to (a value of
/// a group this reader is not in).
pub fn open_if_mine(
    ciphertext: &str,
    name: &str,
    scope: &str,
    key: &Key,
) -> Result<Option<SecretString>> {
    match open(ciphertext, name, scope, key) {
        Ok(value) => Ok(Some(value)),
        Err(Error::LockedOut(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> (Key, String) {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public().to_string();
        (Key::Identities(vec![Box::new(identity)]), recipient)
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_name_scope_and_recipients() {
        let (key, recipient) = identity();
        let (other_key, _) = identity();
        let value = SecretString::from("bob-only".to_string());
        let scope = personal_scope(&recipient);
        let sealed = seal(
            "DATABASE_URL",
            &scope,
            std::slice::from_ref(&recipient),
            &value,
        )
        .unwrap();
        assert!(!sealed.contains("bob-only"));
        let opened = open(&sealed, "DATABASE_URL", &scope, &key).unwrap();
        assert_eq!(opened.expose_secret(), "bob-only");
        // Moved to another name, or read as a group's: refused, naming neither value.
        for (name, scope) in [("API_KEY", scope.as_str()), ("DATABASE_URL", "group:ops")] {
            let error = open(&sealed, name, scope, &key).unwrap_err();
            assert!(matches!(error, Error::BadData(_)), "{error}");
            assert!(!error.to_string().contains("bob-only"));
        }
        // Another identity: not theirs, which a group reader takes as "not a member".
        assert!(
            open_if_mine(&sealed, "DATABASE_URL", &scope, &other_key)
                .unwrap()
                .is_none()
        );
    }
}
