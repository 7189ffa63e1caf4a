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

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::recipients::key_part;
use crate::signature::{SigningKey, hex, is_writer_key, verify_digest};

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

    /// What makes this block inconsistent with itself, if anything: a malformed id, key
    /// or recipient, a recipient or writer listed twice, an owner who is not a member, a
    /// broken chain, or a signature that does not match the body or is not an owner's.
    pub fn problem(&self) -> Option<String> {
        let body = &self.body;
        if body.vault_id.len() != 32
            || !body
                .vault_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Some("its vault id is not 32 lowercase hex digits".into());
        }
        if let Err(why) = check_label(&body.label) {
            return Some(format!("its label {why}"));
        }
        if body.epoch == 0 {
            return Some("its epoch is 0".into());
        }
        if let Some(expires) = &body.expires
            && humantime::parse_rfc3339(expires).is_err()
        {
            return Some("its expiry is not an RFC 3339 time".into());
        }
        if let Some(max_age) = &body.max_age
            && humantime::parse_duration(max_age).map_or(true, |age| age > MAX_AGE_LIMIT)
        {
            return Some("its max_age is not a duration of at most 100 years".into());
        }
        if body.passphrase {
            if !body.owners.is_empty()
                || !body.members.is_empty()
                || !body.read_only.is_empty()
                || !self.chain.is_empty()
                || self.signer.is_some()
            {
                return Some(
                    "a passphrase vault's block lists owners, members or a signature".into(),
                );
            }
            return None;
        }
        self.members_problem()
            .or_else(|| self.chain_problem())
            .or_else(|| self.signature_problem())
    }

    fn members_problem(&self) -> Option<String> {
        let body = &self.body;
        if body.members.is_empty() {
            return Some("it lists no members".into());
        }
        let mut recipients = BTreeSet::new();
        let mut writers = BTreeSet::new();
        let mut names = BTreeSet::new();
        for member in &body.members {
            if !is_recipient_text(&member.recipient) {
                return Some(format!(
                    "the member {} has no valid recipient",
                    printable(&member.name)
                ));
            }
            if !is_writer_key(&member.writer) {
                return Some(format!(
                    "the member {} has no valid writer key",
                    printable(&member.name)
                ));
            }
            if let Err(why) = check_name(&member.name) {
                return Some(format!("a member's name {why}"));
            }
            if !recipients.insert(key_part(&member.recipient)) {
                return Some(format!(
                    "the recipient {} is listed twice",
                    printable(&key_part(&member.recipient))
                ));
            }
            if !writers.insert(member.writer.as_str()) {
                return Some(format!("the writer key {} is listed twice", member.writer));
            }
            if !names.insert(member.name.as_str()) {
                return Some(format!(
                    "the name {} is listed twice",
                    printable(&member.name)
                ));
            }
        }
        for recipient in &body.read_only {
            if !is_recipient_text(recipient) {
                return Some(format!(
                    "{} is not a valid recipient",
                    printable(&key_part(recipient))
                ));
            }
            if !recipients.insert(key_part(recipient)) {
                return Some(format!(
                    "the recipient {} is listed twice",
                    printable(&key_part(recipient))
                ));
            }
        }
        if body.owners.is_empty() {
            return Some("it lists no owners".into());
        }
        let owners = body.owner_set();
        if owners.len() != body.owners.len() {
            return Some("an owner is listed twice".into());
        }
        if let Some(owner) = owners.iter().find(|o| !writers.contains(o.as_str())) {
            return Some(format!("the owner {owner} is not a member"));
        }
        None
    }

    fn chain_problem(&self) -> Option<String> {
        let body = &self.body;
        let Some(first) = self.chain.first() else {
            return Some("it has no chain of owners".into());
        };
        if !first.owners.contains(&first.signer) {
            return Some(
                "the first link of its chain of owners is not signed by its owners".into(),
            );
        }
        let mut previous: Option<&Link> = None;
        for link in &self.chain {
            if !link.valid(&body.vault_id) {
                return Some(format!(
                    "the signature of its change of owners at epoch {} does not match",
                    link.epoch
                ));
            }
            if let Some(previous) = previous {
                if link.epoch <= previous.epoch {
                    return Some("its chain of owners is out of order".into());
                }
                if !previous.owners.contains(&link.signer) {
                    return Some(format!(
                        "its change of owners at epoch {} is not signed by an owner of the epoch before",
                        link.epoch
                    ));
                }
            }
            previous = Some(link);
        }
        let last = self.chain.last()?;
        if last.epoch > body.epoch || last.owner_set() != body.owner_set() {
            return Some("its owners are not those its chain of owners ends with".into());
        }
        None
    }

    fn signature_problem(&self) -> Option<String> {
        let (Some(signer), Some(sig)) = (&self.signer, &self.sig) else {
            return Some("it is not signed".into());
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&self.raw_body) else {
            return Some("its body does not parse".into());
        };
        let Ok(digest) = Membership::signed_digest(&canonical(&value), &self.chain) else {
            return Some("its chain of owners does not encode".into());
        };
        if !verify_digest(signer, &digest, sig) {
            return Some("its signature does not match it".into());
        }
        // An owner signs, or the owner who handed ownership over in this very epoch.
        let handed_over = self
            .chain
            .last()
            .is_some_and(|l| l.epoch == self.body.epoch && &l.signer == signer);
        if !self.body.is_owner(signer) && !handed_over {
            return Some(format!("it is signed by {signer}, who is not an owner"));
        }
        None
    }

    /// Whether a machine that trusts `pinned` as the owners (at epoch `pinned_epoch`;
    /// `None` when not known, as for owners named in configuration) must trust this block:
    /// its chain must lead from them, each change of owners after that point signed by an
    /// owner of the set before it, to the owners this block names, and the block must be
    /// signed by one of those owners (or by the owner who handed over in a change of this
    /// very epoch that the walk followed). Without an epoch, the walk starts at the last
    /// link that names exactly `pinned`, signed by one of them: links signed by anyone
    /// else are never followed. The error says why not.
    pub fn authorized_by(
        &self,
        pinned: &BTreeSet<String>,
        pinned_epoch: Option<u64>,
    ) -> Result<(), String> {
        if self.body.passphrase {
            return Ok(());
        }
        let names = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
        let start = match pinned_epoch {
            Some(epoch) => self
                .chain
                .iter()
                .position(|l| l.epoch > epoch)
                .unwrap_or(self.chain.len()),
            None => {
                let anchor = self
                    .chain
                    .iter()
                    .rposition(|l| l.owner_set() == *pinned && pinned.contains(&l.signer))
                    .ok_or_else(|| {
                        format!(
                            "its chain of owners never names the owners this machine trusts for it ({}) in a change one of them signed",
                            names(pinned)
                        )
                    })?;
                anchor + 1
            }
        };
        let mut trusted = pinned.clone();
        let mut handed_over_by = None;
        for link in &self.chain[start..] {
            if !trusted.contains(&link.signer) {
                return Err(format!(
                    "its owners changed at epoch {} by {}, whom this machine does not know as an owner",
                    link.epoch, link.signer
                ));
            }
            handed_over_by = (link.epoch == self.body.epoch).then(|| link.signer.clone());
            trusted = link.owner_set();
        }
        if trusted != self.body.owner_set() {
            return Err(format!(
                "its owners ({}) are not the owners this machine trusts for it ({})",
                self.body.owners.join(", "),
                names(&trusted)
            ));
        }
        let signer = self.signer.clone().unwrap_or_default();
        if !trusted.contains(&signer) && handed_over_by.as_ref() != Some(&signer) {
            return Err(format!(
                "it is signed by {signer}, not by an owner this machine trusts for it"
            ));
        }
        Ok(())
    }

    /// Every key its chain names as an owner at some epoch.
    pub fn owners_ever(&self) -> BTreeSet<String> {
        self.chain
            .iter()
            .flat_map(|l| l.owners.iter().cloned())
            .chain(self.body.owners.iter().cloned())
            .collect()
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
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_identity(&age::x25519::Identity::generate()).unwrap()
    }

    fn member(key: &SigningKey, name: &str) -> Member {
        Member {
            recipient: age::x25519::Identity::generate().to_public().to_string(),
            writer: key.writer(),
            name: name.into(),
        }
    }

    /// A new vault's block, owned by `key` under `name`.
    fn owned_by(key: &SigningKey, name: &str) -> Membership {
        Membership::genesis("team", member(key, name), vec![], vec![], None, key).unwrap()
    }

    fn owners(keys: &[&SigningKey]) -> BTreeSet<String> {
        keys.iter().map(|k| k.writer()).collect()
    }

    #[test]
    fn a_block_round_trips_and_any_change_to_it_breaks_it() {
        let alice = key();
        let block = owned_by(&alice, "alice");
        let json = block.to_json();
        assert_eq!(Membership::parse(&json).unwrap(), block);
        let tampered = json.replace("\"team\"", "\"tame\"");
        assert_eq!(
            Membership::parse(&tampered).unwrap_err(),
            "its signature does not match it"
        );
        let unsigned = json.replace(&block.sig.clone().unwrap(), &"0".repeat(128));
        assert!(Membership::parse(&unsigned).is_err());
        // Laid out anew by another tool (keys reordered, spaces added): the same block.
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let mut reordered = serde_json::to_string_pretty(&value).unwrap();
        reordered = reordered.replacen("\"label\": \"team\",", "", 1).replacen(
            "\"epoch\": 1,",
            "\"epoch\": 1, \"label\": \"team\",",
            1,
        );
        let again = Membership::parse(&reordered).unwrap();
        assert_eq!(again.canonical(), block.canonical());
    }

    #[test]
    fn only_owners_sign_and_each_recipient_and_writer_appears_once() {
        let (alice, bob, mallory) = (key(), key(), key());
        let block = owned_by(&alice, "alice");
        let mut body = block.body.clone();
        body.members.push(member(&bob, "bob"));
        let with_bob = block.next(body.clone(), &alice).unwrap();
        assert_eq!(with_bob.body.epoch, 2);
        // Bob is a member, not an owner: he cannot sign a change.
        assert!(with_bob.next(with_bob.body.clone(), &bob).is_err());
        // A block Mallory signs herself is not consistent: she is not an owner.
        let forged = Membership::signed(with_bob.body.clone(), with_bob.chain.clone(), &mallory);
        assert!(forged.unwrap_err().contains("not an owner"));
        // Bob's recipient bound to another key: listed twice.
        let mut twice = with_bob.body.clone();
        let mut pair = member(&mallory, "mallory");
        pair.recipient = twice.members[1].recipient.clone();
        twice.members.push(pair);
        assert!(
            with_bob
                .next(twice, &alice)
                .unwrap_err()
                .contains("listed twice")
        );
    }

    /// The trust verdict's core: whom a machine trusts as owners after following the chain.
    #[test]
    fn the_chain_leads_from_earlier_owners_to_todays() {
        let (alice, bob, carol) = (key(), key(), key());
        let e1 = owned_by(&alice, "alice");
        let mut body = e1.body.clone();
        body.members.push(member(&bob, "bob"));
        body.owners.push(bob.writer());
        let e2 = e1.next(body, &alice).unwrap();
        let mut body = e2.body.clone();
        body.owners.retain(|o| *o != alice.writer());
        let e3 = e2.next(body, &bob).unwrap();
        assert_eq!(e3.chain.len(), 3);
        let table: [(&Membership, BTreeSet<String>, Option<u64>, bool); 8] = [
            (&e3, owners(&[&alice]), Some(1), true),
            (&e3, owners(&[&alice, &bob]), Some(2), true),
            (&e3, owners(&[&bob]), Some(3), true),
            (&e3, owners(&[&carol]), Some(1), false),
            (&e3, owners(&[&alice]), None, true),
            (&e3, owners(&[&bob]), None, true),
            (&e3, owners(&[&carol]), None, false),
            // Pinned after Alice left: her old block no longer matches today's owners.
            (&e1, owners(&[&bob]), Some(3), false),
        ];
        for (index, (block, pinned, epoch, ok)) in table.into_iter().enumerate() {
            assert_eq!(
                block.authorized_by(&pinned, epoch).is_ok(),
                ok,
                "row {index}"
            );
        }
        // A lineage of Mallory's own that ends by naming Alice the owner, its block signed
        // by Mallory as the one who "handed over": consistent with itself, but no walk
        // from Alice (pinned with or without an epoch) ever follows a link Mallory signed.
        let mut lineage = Membership::genesis(
            "team",
            member(&carol, "mallory"),
            vec![Member {
                name: "alice".into(),
                ..e3.body.member_by_writer(&alice.writer()).unwrap().clone()
            }],
            vec![],
            None,
            &carol,
        )
        .unwrap();
        let mut body = lineage.body.clone();
        body.owners = vec![alice.writer()];
        lineage = lineage.next(body, &carol).unwrap();
        assert_eq!(lineage.problem(), None, "consistent with itself");
        for epoch in [None, Some(1)] {
            assert!(
                lineage.authorized_by(&owners(&[&alice]), epoch).is_err(),
                "{epoch:?}"
            );
        }
        // Under a genuine body, a history of owners of Mallory's own that also ends with
        // today's owners: the owner's signature covers the chain, so it no longer matches.
        let mut rechained = e3.clone();
        let vault_id = &e3.body.vault_id;
        rechained.chain = vec![
            Link::signed(vault_id, 1, &[carol.writer()], &carol),
            Link::signed(vault_id, 2, &[carol.writer(), bob.writer()], &carol),
            Link::signed(vault_id, 3, &[bob.writer()], &carol),
        ];
        assert_eq!(
            rechained.problem().as_deref(),
            Some("its signature does not match it")
        );
        // A link forged into the chain by someone who is not an owner breaks it.
        let mut forged = e3.clone();
        forged.chain.insert(
            1,
            Link::signed(&e3.body.vault_id, 2, &[carol.writer()], &carol),
        );
        assert!(forged.problem().is_some());
    }

    #[test]
    fn lines_carry_a_fingerprint_that_catches_a_changed_character() {
        let alice = key();
        let member = member(&alice, "alice");
        let line = member.line();
        assert_eq!(
            Joining::parse(&line).unwrap(),
            Joining::Member(member.clone())
        );
        // One hex digit of the writer key changed on the way, into another valid key.
        let changed = (0..16u8)
            .map(|d| {
                let mut writer = member.writer.clone().into_bytes();
                writer[10] = b"0123456789abcdef"[d as usize];
                String::from_utf8(writer).unwrap()
            })
            .find(|w| *w != member.writer && is_writer_key(w))
            .map(|w| line.replace(&member.writer, &w))
            .unwrap();
        assert!(
            Joining::parse(&changed)
                .unwrap_err()
                .contains("fingerprint")
        );
        assert_eq!(
            Joining::parse(&member.recipient).unwrap(),
            Joining::ReadOnly(member.recipient.clone())
        );
        assert!(Joining::parse("age1x name:bob").is_err());
        // Labels and names that would reorder or hide text on a terminal.
        assert!(check_label("prod\u{202e}dorp").is_err());
        assert!(check_label("a\u{200b}b").is_err());
        assert!(check_label("prod (eu)").is_ok());
        assert!(check_name("bob\u{202e}").is_err());
    }
}
