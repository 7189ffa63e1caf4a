//! The membership block: who may open a vault, who may write it, and who may change that.
//!
//! Inside the encrypted document, beside the secrets:
//!
//! `"membership":{"body":{…},"signer":"<owner key>","sig":"<signature>","chain":[…]}`
//!
//! The body names the vault (`vault_id`, `label`), counts its changes of membership
//! (`epoch`), and lists its `owners` (writer keys that may change membership), its
//! `members` (an age recipient bound to a writer key and a name: they read and write) and
//! its `read_only` recipients. It is signed by an owner, over its canonical form (keys
//! sorted, no spaces), so it can be carried from one version of the document to the next
//! unchanged — and survives a tool that reorders JSON keys — and any member's content
//! signature (`signature`) covers it with the rest.
//!
//! The `chain` records each change of owners since the vault began, each link signed by
//! an owner of the link before it (the first by itself): a machine that trusts the owners
//! of some earlier epoch can follow it to the owners of today, as TUF follows its root
//! metadata. Owners rarely change; the chain stays short.
//!
//! A passphrase vault has a body too (`passphrase: true`), for its id and label, with no
//! owners, members or signature: whoever knows the passphrase reads and writes it.
//!
//! Nothing here does I/O or decides whom this machine trusts (`trust::policy` does); it
//! parses, checks that a block is consistent with itself, signs and verifies.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::recipients::key_part;
use crate::signature::{SigningKey, hex, is_writer_key, verify_digest};

mod check;

const BLOCK_CONTEXT: &[u8] = b"secretsd membership v1\0";
const LINK_CONTEXT: &[u8] = b"secretsd owners v1\0";
const FINGERPRINT_CONTEXT: &[u8] = b"secretsd member v1\0";

/// The longest a renewal may last: expiry times stay well inside what RFC 3339 can say.
pub const MAX_AGE_LIMIT: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);
/// The shortest `max_age` `vault renew` sets: none at all would expire as it is signed.
pub const MAX_AGE_FLOOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Someone who reads and writes the vault: the age recipient the vault is encrypted to,
/// bound to the writer key their writes are signed with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The age recipient the vault is encrypted to for this member.
    pub recipient: String,
    /// The writer key their writes are signed with.
    pub writer: String,
    /// Their name, as shown.
    pub name: String,
}

impl Member {
    /// The short fingerprint people compare aloud (see [`fingerprint`]).
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.recipient, &self.writer)
    }

    /// The line `vault identity public` prints and `vault recipients add` takes.
    pub fn line(&self) -> String {
        format!(
            "{} writer:{} name:{} fp:{}",
            key_part(&self.recipient),
            self.writer,
            self.name,
            self.fingerprint()
        )
    }
}

/// What a membership block says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// The vault's id, fixed at `vault init`.
    pub vault_id: String,
    /// Its label, as shown.
    pub label: String,
    /// The membership epoch: raised by each change of membership.
    pub epoch: u64,
    /// The writer keys that may change membership.
    #[serde(default)]
    pub owners: Vec<String>,
    /// Who may read and write.
    #[serde(default)]
    pub members: Vec<Member>,
    /// Recipients that may read but not write.
    #[serde(default)]
    pub read_only: Vec<String>,
    /// Groups: each name with the writer keys of its members, who alone open the group's
    /// values (`store::sealed`). Changed by owners, as the rest of the block.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub groups: BTreeMap<String, Vec<String>>,
    /// After this time (RFC 3339) writes are refused and reads warn, until an owner renews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// How long a renewal lasts ("30d"); `expires` is set from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    /// The id of the vault this one was started from (`vault init --from`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forked_from: Option<String>,
    /// A passphrase vault: no owners, no members, no signature.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub passphrase: bool,
    /// Fields a newer vault wrote: kept when the block is signed again.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Body {
    /// The recipients the vault must be encrypted to: members' then read-only ones.
    pub fn recipients(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| m.recipient.clone())
            .chain(self.read_only.iter().cloned())
            .collect()
    }

    /// The member whose writer key this is.
    pub fn member_by_writer(&self, writer: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.writer == writer)
    }

    /// The members of group `group`, in the order listed; `None` when there is no such
    /// group.
    pub fn group_members(&self, group: &str) -> Option<Vec<&Member>> {
        let writers = self.groups.get(group)?;
        Some(
            writers
                .iter()
                .filter_map(|w| self.member_by_writer(w))
                .collect(),
        )
    }

    /// Whether this writer key is an owner's.
    pub fn is_owner(&self, writer: &str) -> bool {
        self.owners.iter().any(|o| o == writer)
    }

    /// A writer key as people know it: its member's name, or the key.
    pub fn who(&self, writer: &str) -> String {
        match self.member_by_writer(writer) {
            Some(member) => format!("{} ({})", member.name, member.fingerprint()),
            None => writer.to_string(),
        }
    }

    fn owner_set(&self) -> BTreeSet<String> {
        self.owners.iter().cloned().collect()
    }
}

/// One change of owners: from this epoch on, `owners` own the vault; signed by an owner of
/// the link before it (the first link by one of its own owners).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The epoch this link moves to.
    pub epoch: u64,
    /// The owners from that epoch on.
    pub owners: Vec<String>,
    /// The owner who signed it.
    pub signer: String,
    /// The signature.
    pub sig: String,
}

impl Link {
    fn digest(vault_id: &str, epoch: u64, owners: &[String]) -> [u8; 32] {
        let mut sorted = owners.to_vec();
        sorted.sort();
        let mut hasher = Sha256::new();
        hasher.update(LINK_CONTEXT);
        hasher.update(vault_id.as_bytes());
        hasher.update([0]);
        hasher.update(epoch.to_string().as_bytes());
        hasher.update([0]);
        hasher.update(sorted.join(",").as_bytes());
        hasher.finalize().into()
    }

    fn signed(vault_id: &str, epoch: u64, owners: &[String], key: &SigningKey) -> Link {
        Link {
            epoch,
            owners: owners.to_vec(),
            signer: key.writer(),
            sig: key.sign_digest(&Link::digest(vault_id, epoch, owners)),
        }
    }

    fn valid(&self, vault_id: &str) -> bool {
        verify_digest(
            &self.signer,
            &Link::digest(vault_id, self.epoch, &self.owners),
            &self.sig,
        )
    }

    fn owner_set(&self) -> BTreeSet<String> {
        self.owners.iter().cloned().collect()
    }
}

/// The block as the document stores it.
#[derive(Deserialize)]
struct Stored<'a> {
    #[serde(borrow)]
    body: &'a RawValue,
    #[serde(default)]
    signer: Option<String>,
    #[serde(default)]
    sig: Option<String>,
    #[serde(default)]
    chain: Vec<Link>,
}

/// A membership block: its body as stored, and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    raw_body: String,
    /// What the block says.
    pub body: Body,
    /// The owner who signed it.
    pub signer: Option<String>,
    /// The owner's signature over the body.
    pub sig: Option<String>,
    /// How the owners changed since an earlier epoch, each link signed.
    pub chain: Vec<Link>,
}

impl Membership {
    /// Parses a block as stored, and checks that it is consistent with itself (see
    /// [`Membership::problem`]). The error says what is wrong, for a person.
    pub fn parse(json: &str) -> Result<Membership, String> {
        let membership = Membership::parse_unchecked(json)?;
        match membership.problem() {
            Some(problem) => Err(problem),
            None => Ok(membership),
        }
    }

    /// Parses a block as stored without checking it: for a block known to have been
    /// checked (the very text of one this machine trusted), or to be checked with
    /// [`Membership::problem`] next.
    pub fn parse_unchecked(json: &str) -> Result<Membership, String> {
        let stored: Stored<'_> =
            serde_json::from_str(json).map_err(|e| format!("it does not parse ({e})"))?;
        let body: Body = serde_json::from_str(stored.body.get())
            .map_err(|e| format!("its body does not parse ({e})"))?;
        Ok(Membership {
            raw_body: stored.body.get().to_string(),
            body,
            signer: stored.signer,
            sig: stored.sig,
            chain: stored.chain,
        })
    }

    /// The block as the document stores it.
    pub fn to_json(&self) -> String {
        let mut out = format!("{{\"body\":{}", self.raw_body);
        if let (Some(signer), Some(sig)) = (&self.signer, &self.sig) {
            out.push_str(&format!(",\"signer\":\"{signer}\",\"sig\":\"{sig}\""));
        }
        if !self.chain.is_empty() {
            out.push_str(",\"chain\":");
            out.push_str(&serde_json::to_string(&self.chain).unwrap_or_else(|_| "[]".into()));
        }
        out.push('}');
        out
    }

    /// The whole block in canonical form: two blocks are the same block when these are
    /// equal, however their JSON was laid out.
    pub fn canonical(&self) -> String {
        match serde_json::from_str::<serde_json::Value>(&self.to_json()) {
            Ok(value) => canonical(&value),
            Err(_) => self.to_json(),
        }
    }

    /// What the owner signs: the body and the chain of owners, each in canonical form. The
    /// chain is signed too, so nobody can swap in a history of owners of their own under a
    /// genuine body (a rival block at the same epoch, and their key among "every owner").
    fn signed_digest(canonical_body: &str, chain: &[Link]) -> Result<[u8; 32], String> {
        let chain = serde_json::to_value(chain).map_err(|e| e.to_string())?;
        let mut hasher = Sha256::new();
        hasher.update(BLOCK_CONTEXT);
        hasher.update(canonical_body.as_bytes());
        hasher.update([0]);
        hasher.update(canonical(&chain).as_bytes());
        Ok(hasher.finalize().into())
    }

    /// The block of a new vault owned by `owner` (whose writer key is `key`'s), with
    /// `others` as members too.
    pub fn genesis(
        label: &str,
        owner: Member,
        others: Vec<Member>,
        read_only: Vec<String>,
        forked_from: Option<String>,
        key: &SigningKey,
    ) -> Result<Membership, String> {
        let vault_id = new_vault_id()?;
        let owners = vec![owner.writer.clone()];
        let chain = vec![Link::signed(&vault_id, 1, &owners, key)];
        let mut members = vec![owner];
        members.extend(others);
        let body = Body {
            vault_id,
            label: label.to_string(),
            epoch: 1,
            owners,
            members,
            read_only,
            expires: None,
            max_age: None,
            forked_from,
            passphrase: false,
            groups: BTreeMap::new(),
            extra: Default::default(),
        };
        Membership::signed(body, chain, key)
    }

    /// The block of a passphrase vault: an id and a label, nothing to sign.
    pub fn for_passphrase(label: &str) -> Result<Membership, String> {
        let body = Body {
            vault_id: new_vault_id()?,
            label: label.to_string(),
            epoch: 1,
            owners: Vec::new(),
            members: Vec::new(),
            read_only: Vec::new(),
            expires: None,
            max_age: None,
            forked_from: None,
            passphrase: true,
            groups: BTreeMap::new(),
            extra: Default::default(),
        };
        let raw_body = serde_json::to_string(&body).map_err(|e| e.to_string())?;
        Ok(Membership {
            raw_body,
            body,
            signer: None,
            sig: None,
            chain: Vec::new(),
        })
    }

    /// The next block: `body` (its epoch one higher than this one's), signed by `key`, an
    /// owner of this block. A change of owners adds a link to the chain.
    pub fn next(&self, mut body: Body, key: &SigningKey) -> Result<Membership, String> {
        let signer = key.writer();
        if !self.body.is_owner(&signer) {
            return Err("only an owner of the vault can change its membership".into());
        }
        body.epoch = self.body.epoch.checked_add(1).ok_or(
            "its epoch cannot grow any further; start a new vault with 'vault init --from'",
        )?;
        body.owners.sort();
        body.owners.dedup();
        let mut chain = self.chain.clone();
        if body.owner_set() != self.body.owner_set() {
            chain.push(Link::signed(&body.vault_id, body.epoch, &body.owners, key));
        }
        Membership::signed(body, chain, key)
    }

    fn signed(body: Body, chain: Vec<Link>, key: &SigningKey) -> Result<Membership, String> {
        let raw_body = serde_json::to_string(&body).map_err(|e| e.to_string())?;
        let canonical_body = canonical_of(&body)?;
        let sig = key.sign_digest(&Membership::signed_digest(&canonical_body, &chain)?);
        let membership = Membership {
            raw_body,
            body,
            signer: Some(key.writer()),
            sig: Some(sig),
            chain,
        };
        match membership.problem() {
            Some(problem) => Err(problem),
            None => Ok(membership),
        }
    }
}

/// JSON with every object's keys sorted and no insignificant space: the same text for
/// the same value, whatever order a writer put its keys in.
pub fn canonical(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|key| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(key).unwrap_or_default(),
                        canonical(&map[key])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

fn canonical_of(body: &Body) -> Result<String, String> {
    serde_json::to_value(body)
        .map(|value| canonical(&value))
        .map_err(|e| e.to_string())
}

/// A new vault id: 16 random bytes as hex.
fn new_vault_id() -> Result<String, String> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| format!("no randomness for a vault id: {e}"))?;
    Ok(hex(&id))
}

/// The short fingerprint of a member (recipient and writer key), in four groups of four
/// hex digits: what two people compare aloud before one adds the other.
pub fn fingerprint(recipient: &str, writer: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(FINGERPRINT_CONTEXT);
    hasher.update(key_part(recipient).as_bytes());
    hasher.update([0]);
    hasher.update(writer.as_bytes());
    let digest = hasher.finalize();
    let hex = hex(&digest[..8]).to_uppercase();
    format!(
        "{}-{}-{}-{}",
        &hex[0..4],
        &hex[4..8],
        &hex[8..12],
        &hex[12..16]
    )
}

/// What `vault recipients add` was given: a member's line, or a plain recipient.
#[derive(Debug, PartialEq, Eq)]
pub enum Joining {
    /// A member who may read and write.
    Member(Member),
    /// A recipient who may only read.
    ReadOnly(String),
}

impl Joining {
    /// `RECIPIENT writer:KEY name:NAME [fp:FINGERPRINT]` (as `vault identity public`
    /// prints it), or a recipient alone. A fingerprint given must match.
    pub fn parse(line: &str) -> Result<Joining, String> {
        let mut recipient = Vec::new();
        let (mut writer, mut name, mut fp) = (None, None, None);
        for word in line.split_whitespace() {
            if let Some(value) = word.strip_prefix("writer:") {
                writer = Some(value.to_string());
            } else if let Some(value) = word.strip_prefix("name:") {
                name = Some(value.to_string());
            } else if let Some(value) = word.strip_prefix("fp:") {
                fp = Some(value.to_string());
            } else {
                recipient.push(word);
            }
        }
        let recipient = recipient.join(" ");
        if recipient.is_empty() {
            return Err("it names no recipient".into());
        }
        let Some(writer) = writer else {
            if name.is_some() || fp.is_some() {
                return Err("it has a name or fingerprint but no writer:KEY".into());
            }
            return Ok(Joining::ReadOnly(recipient));
        };
        if !is_writer_key(&writer) {
            return Err(format!(
                "writer:{writer} is not a writer key (64 hex digits)"
            ));
        }
        let name = name.ok_or("it has no name:NAME")?;
        check_name(&name).map_err(|why| format!("the name {why}"))?;
        let member = Member {
            recipient,
            writer,
            name,
        };
        if let Some(fp) = fp
            && !fp.eq_ignore_ascii_case(&member.fingerprint())
        {
            return Err(format!(
                "its fingerprint fp:{fp} does not match its recipient and writer key ({}): a character was changed on the way",
                member.fingerprint()
            ));
        }
        Ok(Joining::Member(member))
    }
}

/// A member's name: 1 to 64 of letters, digits and `. _ @ + -`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b))
    {
        return Err(format!(
            "{} may hold only letters, digits and . _ @ + -",
            printable(name)
        ));
    }
    Ok(())
}

/// A group's name: 1 to 64 of letters, digits and `. _ -`, and not `me` or `everyone`,
/// which `set --group` reserves for a personal and the shared value.
pub fn check_group_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(format!(
            "{} may hold only letters, digits and . _ -",
            printable(name)
        ));
    }
    if name == "me" || name == "everyone" {
        return Err(format!(
            "{name} is reserved: --group me is a personal value, --group everyone the shared one"
        ));
    }
    Ok(())
}

/// A vault's label: 1 to 64 printable characters.
pub fn check_label(label: &str) -> Result<(), String> {
    // Control characters, and the format characters that reorder or hide text on a
    // terminal (bidirectional overrides and isolates, zero-width marks).
    let hidden = |c: char| {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}' | '\u{feff}')
    };
    if label.is_empty() || label.chars().count() > 64 || label.chars().any(hidden) {
        return Err("must be 1 to 64 printable characters".into());
    }
    Ok(())
}

fn is_recipient_text(text: &str) -> bool {
    crate::recipients::is_valid(text)
}

fn printable(text: &str) -> String {
    crate::names::printable(text, false).into_owned()
}

#[cfg(test)]
mod tests;
