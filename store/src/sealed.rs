//! Values sealed inside the vault document for some of its readers only: a member's
//! personal override of a shared secret, and (in `group_values`) a group's values.
//!
//! Each is an armored age ciphertext, in the (itself encrypted and signed) document, to the
//! recipients who may read it. Its plaintext names the secret and the scope it was sealed
//! for (`personal:RECIPIENT`, `group:NAME`) and the vault it was sealed in (the membership
//! block's `vault_id`), and opening checks all three: a ciphertext moved to another name,
//! member, group or vault is refused, not used (a member can re-sign the document, so the
//! signature alone would not notice).

use std::collections::BTreeMap;

use age::secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::crypto::{self, Key, Lock};
use crate::error::{Error, Result};
use crate::names::printable;
use crate::signature::SigningKey;

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
    /// The document's membership block as stored: who may seal a group's values.
    pub membership: Option<String>,
}

impl SealedValues {
    /// Reads them from a document's top-level fields; a field of another shape (written
    /// by hand) contributes nothing it cannot read.
    pub fn from_fields(fields: &Map<String, Value>, membership: Option<&str>) -> SealedValues {
        let mut sealed = SealedValues {
            membership: membership.map(str::to_string),
            ..SealedValues::default()
        };
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

    /// The id of the vault these values are bound to (see [`vault_of`]).
    pub fn vault(&self) -> String {
        vault_of(self.membership.as_deref())
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

/// The vault a value sealed in a document with `membership` (its block as stored) is bound
/// to: the block's `vault_id`, fixed at `vault init`. A document without a block (written
/// before vault had them) binds its values to the empty id, which every such vault shares.
pub fn vault_of(membership: Option<&str>) -> String {
    membership
        .and_then(|json| crate::membership::Membership::parse_unchecked(json).ok())
        .map(|block| block.body.vault_id)
        .unwrap_or_default()
}

/// The scope of a personal override.
pub fn personal_scope(recipient: &str) -> String {
    format!("personal:{}", crate::recipients::key_part(recipient))
}

/// The scope of a group value.
pub fn group_scope(group: &str) -> String {
    format!("group:{group}")
}

/// What a sealer's signature is for: a sealed value, never a document or anything else
/// signed with the same writer key.
const SEALED_CONTEXT: &[u8] = b"secretsd sealed value v1\0";

/// The digest a sealer signs: every field, length-prefixed, so no two sealed values
/// share one. The recipients are sorted, each spelled by its key alone.
fn digest(
    name: &str,
    scope: &str,
    vault: &str,
    value: &str,
    sealed_to: &[String],
    sealed_at: &str,
    writer: &str,
) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(SEALED_CONTEXT);
    let recipients = sealed_to.join("\n");
    for field in [name, scope, vault, value, &recipients, sealed_at, writer] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    hasher.finalize().into()
}

/// The recipients a value is sealed to, as signed: each by its key, sorted, once.
fn canonical_recipients<'r>(recipients: impl IntoIterator<Item = &'r String>) -> Vec<String> {
    let mut keys: Vec<String> = recipients
        .into_iter()
        .map(|r| crate::recipients::key_part(r))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Seals `value` of the secret `name` for `scope` in the vault `vault` (see [`vault_of`])
/// to `recipients`, as armored age text, signed by `signer`: age says nothing of who
/// encrypted, so the plaintext carries the sealer's writer key and signature over the name,
/// scope, vault, value, recipients and time.
pub fn seal(
    name: &str,
    scope: &str,
    vault: &str,
    recipients: &[String],
    value: &SecretString,
    signer: &SigningKey,
) -> Result<String> {
    let parsed = crate::recipients::parse_all(recipients)?;
    let sealed_to = canonical_recipients(recipients);
    let sealed_at = crate::document::timestamp_now();
    let writer = signer.writer();
    let sig = signer.sign_digest(&digest(
        name,
        scope,
        vault,
        value.expose_secret(),
        &sealed_to,
        &sealed_at,
        &writer,
    ));
    let inner = Zeroizing::new(
        serde_json::json!({
            "name": name,
            "scope": scope,
            "vault": vault,
            "value": value.expose_secret(),
            "sealed_to": sealed_to,
            "sealed_at": sealed_at,
            "writer": writer,
            "sig": sig,
        })
        .to_string(),
    );
    let sealed = crypto::encrypt(inner.as_bytes(), Lock::Recipients(&parsed), true)?;
    String::from_utf8(sealed)
        .map_err(|_| Error::Failed("an armored age ciphertext is not text".into()))
}

/// A sealed value opened, its signature checked: who sealed it, to whom, and when. Whether
/// that sealer may speak for its scope is for [`Opened::check_personal`] and
/// [`Opened::check_group`].
pub struct Opened {
    /// The value.
    pub value: SecretString,
    /// The writer key that signed it.
    pub writer: String,
    /// The recipients it was sealed to, as signed (keys, sorted).
    pub sealed_to: Vec<String>,
    /// When it was sealed (RFC 3339), as signed.
    pub sealed_at: String,
}

impl Opened {
    /// A personal override opens only as its own reader sealed it: nobody else may put a
    /// value in front of theirs.
    pub fn check_personal(&self, name: &str, own_writer: &str) -> Result<()> {
        if self.writer != own_writer {
            return Err(Error::BadData(format!(
                "your personal value of {} was not sealed by you (it is signed by the writer {}): refused; drop it with 'vault rm {} --personal' and set yours again",
                printable(name, false),
                self.writer,
                printable(name, false)
            )));
        }
        Ok(())
    }

    /// A group value opens only when a current member of `group` sealed it, to exactly the
    /// group's current members (`members`, from the owner-signed membership block). Whether
    /// its reader is one of them is the caller's to check: a sealer can add a stanza for
    /// anyone.
    pub fn check_group(
        &self,
        name: &str,
        group: &str,
        members: &[&crate::membership::Member],
    ) -> Result<()> {
        let what = printable(name, false);
        let group_shown = printable(group, false);
        if !members.iter().any(|m| m.writer == self.writer) {
            return Err(Error::BadData(format!(
                "the value of {what} was sealed by the writer {}, who is not a member of the group {group_shown}: refused; a member sets it again with 'vault set {what} --group {group_shown}'",
                self.writer
            )));
        }
        if canonical_recipients(members.iter().map(|m| &m.recipient)) != self.sealed_to {
            return Err(Error::BadData(format!(
                "the value of {what} was sealed for an older membership of the group {group_shown} (sealed {}): refused; a member sets it again with 'vault set {what} --group {group_shown}'",
                printable(&self.sealed_at, false)
            )));
        }
        Ok(())
    }
}

/// Opens a sealed value with `key`, checking it was sealed for `name` and `scope` in the
/// vault `vault` and is signed by the writer it names (who that writer may be is checked by
/// the caller).
pub fn open(ciphertext: &str, name: &str, scope: &str, vault: &str, key: &Key) -> Result<Opened> {
    #[derive(Deserialize)]
    struct Inner {
        name: String,
        scope: String,
        #[serde(default)]
        vault: Option<String>,
        value: SecretString,
        #[serde(default)]
        sealed_to: Option<Vec<String>>,
        #[serde(default)]
        sealed_at: Option<String>,
        #[serde(default)]
        writer: Option<String>,
        #[serde(default)]
        sig: Option<String>,
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
    let (Some(sealed_in), Some(sealed_to), Some(sealed_at), Some(writer), Some(sig)) = (
        inner.vault,
        inner.sealed_to,
        inner.sealed_at,
        inner.writer,
        inner.sig,
    ) else {
        return Err(Error::BadData(format!(
            "{what} is not signed by whoever sealed it for this vault: refused; set it again"
        )));
    };
    if sealed_in != vault {
        return Err(Error::BadData(format!(
            "{what} was sealed in another vault ({}), not this one ({}): refused; the vault was edited by hand or by a member copying values between vaults; set it again",
            shown_vault(&sealed_in),
            shown_vault(vault)
        )));
    }
    let digest = digest(
        name,
        scope,
        &sealed_in,
        inner.value.expose_secret(),
        &sealed_to,
        &sealed_at,
        &writer,
    );
    if !crate::signature::verify_digest(&writer, &digest, &sig) {
        return Err(Error::BadData(format!(
            "{what} has a signature that does not match it: refused; the vault was edited by hand or by a hostile writer"
        )));
    }
    Ok(Opened {
        value: inner.value,
        writer,
        sealed_to,
        sealed_at,
    })
}

/// A vault id as an error shows it.
fn shown_vault(id: &str) -> String {
    if id.is_empty() {
        "one without a membership block".to_string()
    } else {
        format!("id {}", printable(id, false))
    }
}

/// [`open`], or `None` when `key` is not among the recipients it was sealed to (a value of
/// a group this reader is not in).
pub fn open_if_mine(
    ciphertext: &str,
    name: &str,
    scope: &str,
    vault: &str,
    key: &Key,
) -> Result<Option<Opened>> {
    match open(ciphertext, name, scope, vault, key) {
        Ok(value) => Ok(Some(value)),
        Err(Error::LockedOut(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> (Key, String, SigningKey) {
        let identity = age::x25519::Identity::generate();
        let recipient = identity.to_public().to_string();
        let signer = SigningKey::from_identity(&identity).unwrap();
        (Key::Identities(vec![Box::new(identity)]), recipient, signer)
    }

    fn member(recipient: &str, signer: &SigningKey) -> crate::membership::Member {
        crate::membership::Member {
            recipient: recipient.to_string(),
            writer: signer.writer(),
            name: "m".into(),
        }
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_name_scope_and_recipients() {
        let (key, recipient, signer) = identity();
        let (other_key, _, _) = identity();
        let value = SecretString::from("bob-only".to_string());
        let scope = personal_scope(&recipient);
        let sealed = seal(
            "DATABASE_URL",
            &scope,
            "V",
            std::slice::from_ref(&recipient),
            &value,
            &signer,
        )
        .unwrap();
        assert!(!sealed.contains("bob-only"));
        let opened = open(&sealed, "DATABASE_URL", &scope, "V", &key).unwrap();
        assert_eq!(opened.value.expose_secret(), "bob-only");
        opened
            .check_personal("DATABASE_URL", &signer.writer())
            .unwrap();
        // Moved to another name, or read as a group's: refused, naming neither value.
        for (name, scope) in [("API_KEY", scope.as_str()), ("DATABASE_URL", "group:ops")] {
            let error = open(&sealed, name, scope, "V", &key).err().unwrap();
            assert!(matches!(error, Error::BadData(_)), "{error}");
            assert!(!error.to_string().contains("bob-only"));
        }
        // Copied into another vault (a member re-signs it there): refused, naming both.
        let error = open(&sealed, "DATABASE_URL", &scope, "W", &key)
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .contains("sealed in another vault (id V), not this one (id W)"),
            "{error}"
        );
        assert!(!error.to_string().contains("bob-only"));
        // Another identity: not theirs, which a group reader takes as "not a member".
        assert!(
            open_if_mine(&sealed, "DATABASE_URL", &scope, "V", &other_key)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn a_value_sealed_by_someone_else_or_for_other_members_is_refused() {
        let (key, recipient, signer) = identity();
        let (_, other_recipient, other_signer) = identity();
        let value = SecretString::from("planted".to_string());
        // An override sealed to me by another writer.
        let scope = personal_scope(&recipient);
        let sealed = seal(
            "DB",
            &scope,
            "V",
            std::slice::from_ref(&recipient),
            &value,
            &other_signer,
        )
        .unwrap();
        let opened = open(&sealed, "DB", &scope, "V", &key).unwrap();
        let error = opened.check_personal("DB", &signer.writer()).err().unwrap();
        assert!(!error.to_string().contains("planted"));
        // A group value sealed by a non-member; then one sealed to a former member too.
        let me = member(&recipient, &signer);
        let scope = group_scope("ops");
        let sealed = seal(
            "T",
            &scope,
            "V",
            std::slice::from_ref(&recipient),
            &value,
            &other_signer,
        )
        .unwrap();
        let opened = open(&sealed, "T", &scope, "V", &key).unwrap();
        assert!(opened.check_group("T", "ops", &[&me]).is_err());
        let both = [recipient.clone(), other_recipient];
        let sealed = seal("T", &scope, "V", &both, &value, &signer).unwrap();
        let opened = open(&sealed, "T", &scope, "V", &key).unwrap();
        let error = opened.check_group("T", "ops", &[&me]).err().unwrap();
        assert!(error.to_string().contains("older membership"), "{error}");
        let sealed = seal(
            "T",
            &scope,
            "V",
            std::slice::from_ref(&recipient),
            &value,
            &signer,
        )
        .unwrap();
        open(&sealed, "T", &scope, "V", &key)
            .unwrap()
            .check_group("T", "ops", &[&me])
            .unwrap();
    }
}
