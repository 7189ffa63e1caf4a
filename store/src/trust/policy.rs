//! The trust verdict on one version of a vault: pure functions of what the version says
//! about itself and what this machine has seen, with table tests. No I/O, no output.
//!
//! Two questions, kept apart as TUF keeps them: *is it genuine* — its content signed by a
//! member of a membership block signed by an owner this machine trusts, encrypted to the
//! recipients that block lists — and *is it the latest* — its membership epoch not below
//! the highest this machine has seen (a lower epoch may put a removed member back). A
//! lower content generation under the current epoch is only a notice: a `git revert` or
//! a checkout of an older commit is normal.

use std::collections::BTreeSet;
use std::time::SystemTime;

use crate::crypto::Header;
use crate::membership::{Membership, canonical};
use crate::recipients::{header_matches, key_part};
use crate::signature::Signed;
use crate::trust::state::VaultRecord;

/// What one version of a vault says about itself.
pub struct Facts<'a> {
    /// Encrypted to a passphrase (an scrypt stanza) rather than to recipients.
    pub passphrase: bool,
    /// What its age header says.
    pub header: &'a Header,
    /// The recipients its document lists.
    pub recipients: &'a [String],
    /// Its membership block: none in a version-1 document, an error when it does not
    /// parse or is not consistent with itself.
    pub membership: Option<Result<Membership, String>>,
    /// Whether and by whom its content is signed.
    pub signed: &'a Signed,
    /// Its content generation.
    pub generation: u64,
}

impl Facts<'_> {
    /// The vault id its membership block names, if it has a valid one.
    pub fn vault_id(&self) -> Option<&str> {
        match &self.membership {
            Some(Ok(membership)) => Some(&membership.body.vault_id),
            _ => None,
        }
    }

    /// Its membership block, if it has a valid one.
    pub fn block(&self) -> Option<&Membership> {
        self.membership.as_ref().and_then(|m| m.as_ref().ok())
    }
}

/// What this machine knows that bears on a version.
pub struct Seen<'a> {
    /// The record of the vault the version names (by its id).
    pub record: Option<&'a VaultRecord>,
    /// The id of the vault this location held when last read here.
    pub bound_to: Option<&'a str>,
    /// Owners named for the version's vault id in configuration (`[security] vaults`,
    /// `VAULT_TRUST`): a first answer, used only while there is no record.
    pub configured: Option<&'a Configured>,
    /// This user's writer key.
    pub own: Option<&'a str>,
    /// The recipients this machine remembered for this location before membership blocks
    /// (the record vault kept then), if any.
    pub version_1: Option<&'a BTreeSet<String>>,
    /// The time expiry is judged at.
    pub now: SystemTime,
}

/// Owners pinned by configuration for one vault id, and the epoch they own it at, when
/// given (`ID@EPOCH:KEYS`): no version below that epoch is trusted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configured {
    /// The owners the configuration names.
    pub owners: BTreeSet<String>,
    /// The epoch the configuration names, if any.
    pub epoch: Option<u64>,
}

/// What to do with a version.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Genuine and not older in membership than what this machine has seen.
    Trusted,
    /// Seen for the first time, with nothing to check its owners against: the user must
    /// say whether to trust them (a terminal's question, `vault verify --accept`,
    /// `VAULT_TRUST`). Values are not used, nothing is written, until then.
    FirstSight(String),
    /// Something is wrong, said for a person: nothing of it is used or written.
    Suspect(String),
}

/// A verdict with notices worth telling (an older generation, an expired block).
#[derive(Debug, PartialEq, Eq)]
pub struct Judgment {
    /// The verdict.
    pub verdict: Verdict,
    /// What the user should hear even when the verdict is to go on.
    pub notices: Vec<String>,
}

impl Judgment {
    fn of(verdict: Verdict) -> Judgment {
        Judgment {
            verdict,
            notices: Vec::new(),
        }
    }
}

fn suspect(why: impl Into<String>) -> Judgment {
    Judgment::of(Verdict::Suspect(why.into()))
}

/// Judges a version read from a vault's location.
pub fn judge(facts: &Facts<'_>, seen: &Seen<'_>) -> Judgment {
    let membership = match &facts.membership {
        None => return judge_version_1(facts, seen),
        Some(Err(why)) => return suspect(format!("its membership block is not valid: {why}")),
        Some(Ok(membership)) => membership,
    };
    let body = &membership.body;
    if let Some(bound) = seen.bound_to
        && bound != body.vault_id
    {
        return suspect(format!(
            "this location held the vault {bound}, and now holds another one, {} ({}): copied over it, or a file moved in git",
            body.vault_id,
            printable(&body.label)
        ));
    }
    if facts.passphrase != body.passphrase {
        return suspect(if facts.passphrase {
            "its membership block lists members, but it is encrypted to a passphrase"
        } else {
            "its membership block is a passphrase vault's, but it is encrypted to recipients"
        });
    }
    if !facts.passphrase
        && let Some(problem) = genuine_content(facts, membership)
    {
        return suspect(problem);
    }
    // Without a record or configured owners, even a block this user signed is a first
    // sight: an old one may still list someone removed since.
    if !facts.passphrase && seen.record.is_none() && seen.configured.is_none() {
        return Judgment::of(Verdict::FirstSight(format!(
            "this machine has not seen the vault {} ({}) before: it is owned by {}",
            body.vault_id,
            printable(&body.label),
            owners_of(membership)
        )));
    }
    if let Err(why) = membership_trusted(membership, seen) {
        return suspect(why);
    }
    let mut notices = Vec::new();
    if let Some(expires) = expired(membership, seen.now) {
        notices.push(format!(
            "the vault's membership expired at {expires}: writes are refused until an owner runs 'vault renew'"
        ));
    }
    if let Some(record) = seen.record
        && facts.generation < record.generation
    {
        notices.push(format!(
            "this is an older version of the vault (generation {}; this machine has seen {}), as after a git checkout or revert; the next write goes on from generation {}",
            facts.generation,
            record.generation,
            record.generation.saturating_add(1)
        ));
    }
    Judgment {
        verdict: Verdict::Trusted,
        notices,
    }
}

/// Whether this machine trusts a membership block (of a vault it has a record of, or
/// owners configured for, or signed by this user): not older than the epoch it has seen,
/// signed by an owner it can trace from the owners it trusts, and the very block it knows
/// at that epoch. A passphrase vault's block needs nothing.
pub fn membership_trusted(membership: &Membership, seen: &Seen<'_>) -> Result<(), String> {
    let body = &membership.body;
    if let Some(record) = seen.record
        && record.passphrase != body.passphrase
    {
        return Err(if body.passphrase {
            "it is a passphrase vault where this machine knows a vault encrypted to its members"
                .into()
        } else {
            "it is encrypted to members where this machine knows a passphrase vault".into()
        });
    }
    let floor = seen
        .record
        .map(|r| r.epoch)
        .or(seen.configured.and_then(|c| c.epoch));
    if let Some(floor) = floor
        && body.epoch < floor
    {
        return Err(match seen.record {
            Some(record) => rollback(membership, record),
            None => format!(
                "its membership epoch {} is lower than epoch {floor} configured for it: an old copy",
                body.epoch
            ),
        });
    }
    if let Some(record) = seen.record
        && body.epoch == record.epoch
    {
        // The very block this machine trusted at that epoch, or a rival to it. A record
        // of a member vault that keeps no block (written by hand) vouches for none.
        let Some(known) = record.membership.as_deref() else {
            if body.passphrase {
                return Ok(());
            }
            return Err(format!(
                "this machine's record of it keeps no membership block for epoch {}, so nothing vouches for this one ('vault verify' shows it)",
                body.epoch
            ));
        };
        let same = known == membership.to_json()
            || serde_json::from_str::<serde_json::Value>(known)
                .is_ok_and(|known| canonical(&known) == membership.canonical());
        if !same {
            return Err(format!(
                "its membership differs from the one this machine knows at the same epoch {}: two owners changed it apart, or someone forged it",
                body.epoch
            ));
        }
        return Ok(());
    }
    // A block this user signed earns nothing by that alone: an old one may still list
    // someone removed since. Its owners are traced from the record or the pin like any.
    if body.passphrase {
        return Ok(());
    }
    let authorized = match (seen.record, seen.configured) {
        (Some(record), _) => {
            membership.authorized_by(&record.owners.iter().cloned().collect(), Some(record.epoch))
        }
        (None, Some(configured)) => membership.authorized_by(&configured.owners, configured.epoch),
        (None, None) => Err(format!(
            "this machine has not pinned the owners of the vault {}",
            body.vault_id
        )),
    };
    authorized.map_err(|why| {
        format!("its membership is not signed by an owner this machine trusts: {why}")
    })
}

/// A version-1 document: no membership block, so no owners to pin.
fn judge_version_1(facts: &Facts<'_>, seen: &Seen<'_>) -> Judgment {
    if let Some(bound) = seen.bound_to {
        return suspect(format!(
            "it is a version-1 vault without a membership block where this machine has seen version 2 (the vault {bound}): an old copy put back"
        ));
    }
    if facts.passphrase {
        return Judgment::of(Verdict::Trusted);
    }
    // Read as before only where this machine, before membership blocks, saw this very
    // vault with these recipients, and its last writer was this user.
    let listed: BTreeSet<String> = facts.recipients.iter().map(|r| key_part(r)).collect();
    let seen_before = seen.version_1.is_some_and(|recipients| {
        recipients
            .iter()
            .map(|r| key_part(r))
            .collect::<BTreeSet<_>>()
            == listed
    });
    match facts.signed {
        Signed::Valid { writer } if seen_before && Some(writer.as_str()) == seen.own => {
            Judgment::of(Verdict::Trusted)
        }
        Signed::Invalid { .. } => suspect("its signature does not match its content"),
        _ => Judgment::of(Verdict::FirstSight(format!(
            "it is a vault from before membership blocks (version 1), encrypted to {}; if you trust it, 'vault verify --accept' makes you its owner (the other recipients read it, and write once you add their lines)",
            facts
                .recipients
                .iter()
                .map(|r| printable(&key_part(r)))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// What is wrong with the content of a version under its own (valid) membership block:
/// recipients, age header, content signature.
fn genuine_content(facts: &Facts<'_>, membership: &Membership) -> Option<String> {
    let body = &membership.body;
    let listed: Vec<String> = facts.recipients.iter().map(|r| key_part(r)).collect();
    let members: Vec<String> = body.recipients().iter().map(|r| key_part(r)).collect();
    if listed != members {
        return Some("the recipients it lists are not those of its membership block".into());
    }
    if let Err(why) = header_matches(&body.recipients(), facts.header) {
        return Some(why);
    }
    match facts.signed {
        Signed::Unsigned => {
            Some("it is not signed (made with the plain age CLI, or its signature stripped)".into())
        }
        Signed::Invalid { .. } => Some("its signature does not match its content".into()),
        Signed::Valid { writer } if body.member_by_writer(writer).is_none() => Some(format!(
            "it is signed by {writer}, who is not a member of the vault"
        )),
        Signed::Valid { .. } => None,
    }
}

/// Why a lower epoch is suspect, naming who it would put back.
fn rollback(membership: &Membership, record: &VaultRecord) -> String {
    let back: Vec<String> = record
        .membership
        .as_deref()
        .and_then(|json| Membership::parse(json).ok())
        .map(|known| {
            let now: BTreeSet<String> = known
                .body
                .recipients()
                .iter()
                .map(|r| key_part(r))
                .collect();
            membership
                .body
                .members
                .iter()
                .filter(|m| !now.contains(&key_part(&m.recipient)))
                .map(|m| m.name.clone())
                .chain(
                    membership
                        .body
                        .read_only
                        .iter()
                        .filter(|r| !now.contains(&key_part(r)))
                        .map(|r| key_part(r)),
                )
                .collect()
        })
        .unwrap_or_default();
    format!(
        "its membership epoch {} is lower than epoch {} this machine has seen: an old copy put back{}",
        membership.body.epoch,
        record.epoch,
        if back.is_empty() {
            String::new()
        } else {
            format!(", which would give {} access again", back.join(", "))
        }
    )
}

/// When the block expired, if it has.
pub fn expired(membership: &Membership, now: SystemTime) -> Option<String> {
    let expires = membership.body.expires.as_deref()?;
    let at = humantime::parse_rfc3339(expires).ok()?;
    (at < now).then(|| expires.to_string())
}

/// The owners of a block, as people know them.
pub fn owners_of(membership: &Membership) -> String {
    membership
        .body
        .owners
        .iter()
        .map(|o| membership.body.who(o))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a version of history (a git revision, a side of a merge, a backup) is, judged
/// for authenticity only: nothing about it moves a floor.
#[derive(Debug, PartialEq, Eq)]
pub enum Authenticity {
    /// Genuine: content signed by a member of a block an owner this machine knows signed.
    Genuine,
    /// A version-1 document, from before membership blocks: nothing to verify it by.
    Version1,
    /// Not genuine, said for a person.
    Not(String),
}

/// Judges a version of history of the vault `expected_id` (when known), by the owners this
/// machine has known for it at any time.
pub fn authenticity(facts: &Facts<'_>, seen: &Seen<'_>, expected_id: Option<&str>) -> Authenticity {
    let membership = match &facts.membership {
        None => {
            return match facts.signed {
                Signed::Invalid { .. } => {
                    Authenticity::Not("its signature does not match its content".into())
                }
                _ => Authenticity::Version1,
            };
        }
        Some(Err(why)) => {
            return Authenticity::Not(format!("its membership block is not valid: {why}"));
        }
        Some(Ok(membership)) => membership,
    };
    let body = &membership.body;
    if let Some(expected) = expected_id
        && expected != body.vault_id
    {
        return Authenticity::Not(format!(
            "it is another vault ({}, {}), not {expected}",
            body.vault_id,
            printable(&body.label)
        ));
    }
    if facts.passphrase != body.passphrase {
        return Authenticity::Not("its protection does not match its membership block".into());
    }
    if facts.passphrase {
        if seen.record.is_some_and(|r| !r.passphrase) {
            return Authenticity::Not(
                "it is a passphrase vault where this machine knows a vault encrypted to members"
                    .into(),
            );
        }
        return Authenticity::Genuine;
    }
    if let Some(problem) = genuine_content(facts, membership) {
        return Authenticity::Not(problem);
    }
    let mut known: BTreeSet<String> = seen
        .configured
        .map(|c| c.owners.clone())
        .unwrap_or_default();
    if let Some(record) = seen.record {
        known.extend(record.owners.iter().cloned());
        known.extend(record.owners_ever.iter().cloned());
    }
    known.extend(seen.own.map(str::to_string));
    match &membership.signer {
        Some(signer) if known.contains(signer) => Authenticity::Genuine,
        _ if known.is_empty() => Authenticity::Not(format!(
            "this machine has not pinned the vault {} ({}): run 'vault verify' on it, or set VAULT_TRUST",
            body.vault_id,
            printable(&body.label)
        )),
        _ => Authenticity::Not(
            "its membership is not signed by an owner this machine has known for it".into(),
        ),
    }
}

/// The record of a vault after trusting `membership` at `generation`: the floor and the
/// owners move up, never down.
pub fn advance(
    record: Option<&VaultRecord>,
    membership: &Membership,
    generation: u64,
) -> VaultRecord {
    let mut next = record.cloned().unwrap_or_default();
    let body = &membership.body;
    if record.is_none() || body.epoch > next.epoch {
        next.epoch = body.epoch;
        next.owners = body.owners.clone();
        next.membership = Some(membership.to_json());
        next.label = body.label.clone();
    } else if body.epoch == next.epoch && next.membership.is_none() {
        next.membership = Some(membership.to_json());
    }
    next.passphrase = body.passphrase;
    next.generation = next.generation.max(generation);
    let mut ever: BTreeSet<String> = next.owners_ever.iter().cloned().collect();
    ever.extend(membership.owners_ever());
    next.owners_ever = ever.into_iter().collect();
    next
}

fn printable(text: &str) -> String {
    crate::names::printable(text, false).into_owned()
}

#[cfg(test)]
mod tests;
