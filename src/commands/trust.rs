//! The store's guard and the commands around trust: `vault verify [--accept]`, `vault
//! owners`, `vault renew`.
//!
//! Every version the store reads is judged by `trust::policy` against what this machine
//! remembers (`trust::state`). A trusted version moves the floors up; a version seen for
//! the first time is not used until the user trusts its owners (on a terminal, asked;
//! elsewhere `vault verify --accept` or `VAULT_TRUST`); a suspect one is not used at all.
//! Readers of names only (`list`, `recipients list`, completion) go on with a warning, so
//! the user can look; nothing that reads a value or writes does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use crate::cli::OwnersCommand;
use crate::commands::{Context, SUCCESS, ask, print_report, print_stderr, print_stdout};
use crate::error::{Error, Result, exit};
use crate::store::document::Document;
use crate::store::identity::Own;
use crate::store::membership::{Joining, Membership};
use crate::store::signature::{Signed, SigningKey};
use crate::store::{Change, Guard, Version};
use crate::trust::policy::{self, Configured, Facts, Judgment, Seen, Verdict};
use crate::trust::state::{Place, State, TrustFile, location_key};
use secretsd_store::error::Result as StoreResult;

mod facts;
mod verbs;

use facts::*;
pub use facts::{default_label, default_name, facts_of, load_own, pin_line};
pub use verbs::{
    Accepting, Changed, block_of, change_membership, change_membership_and_document, find_member,
    owners, renew, verify,
};

/// What a command does with the vault it opens: a reader of names may look at a vault
/// that is not trusted (with a warning); a reader of values or a writer may not.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Names,
    Values,
    /// `vault verify` (with or without `--accept`) and `vault restore`: the caller decides
    /// what to do with a version that is not trusted (nothing is remembered of it here).
    Accept,
}

/// This user's writer, loaded once: from the identity the context loaded, or from the
/// identity file (or the writer key file) when the vault needed no identity (a
/// passphrase vault).
pub type OwnSlot = Arc<OnceLock<Option<Own>>>;

/// The guard of one command's vault.
pub struct Trust {
    file: std::result::Result<TrustFile, String>,
    own: OwnSlot,
    identity: Option<PathBuf>,
    /// Owners named in `[security] vaults` and `VAULT_TRUST`, by vault id.
    configured: BTreeMap<String, Configured>,
    purpose: Purpose,
    can_prompt: bool,
    quiet: bool,
    /// Membership blocks this very run made (a new vault's, a version-1 vault's first):
    /// the only blocks trusted for a write with no record or pin behind them. A block the
    /// user signed before is traced like anyone's: an old one may list someone removed.
    made: std::sync::Mutex<Vec<String>>,
}

impl Trust {
    pub fn new(context: &Context, purpose: Purpose) -> Arc<Trust> {
        Arc::new(Trust {
            file: TrustFile::locate().map_err(|e| e.to_string()),
            own: Arc::clone(&context.own),
            identity: context.identity_location().ok().map(|l| l.path),
            configured: configured_owners(context),
            purpose,
            can_prompt: context.can_prompt(),
            quiet: context.global.quiet,
            made: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// Vouches for `block`, which this run made and signed just now, for the write that
    /// creates it.
    pub fn made(&self, block: &Membership) {
        if let Ok(mut made) = self.made.lock() {
            made.push(block.to_json());
        }
    }

    fn file(&self) -> Result<&TrustFile> {
        self.file
            .as_ref()
            .map_err(|message| Error::LockedOut(message.clone()))
    }

    fn own(&self) -> Option<&Own> {
        self.own
            .get_or_init(|| load_own(self.identity.as_deref()))
            .as_ref()
    }

    fn own_writer(&self) -> Option<String> {
        self.own().map(|o| o.key.writer())
    }

    fn tell(&self, message: &str) {
        if !self.quiet {
            print_stderr(message);
        }
    }

    /// What this machine knows of the vault `id`, wherever it is read, by `state`.
    fn seen_of<'s>(&'s self, state: &'s State, id: Option<&str>, own: Option<&'s str>) -> Seen<'s> {
        Seen {
            record: id.and_then(|id| state.vaults.get(id)),
            bound_to: None,
            configured: id.and_then(|id| self.configured.get(id)),
            own,
            now: SystemTime::now(),
            version_1: None,
        }
    }

    /// What this machine knows that bears on `facts`, read at `here`.
    fn seen<'s>(
        &'s self,
        state: &'s State,
        facts: &Facts<'_>,
        here: &str,
        own: Option<&'s str>,
    ) -> Seen<'s> {
        Seen {
            bound_to: state.locations.get(here).map(|p| p.vault_id.as_str()),
            ..self.seen_of(state, facts.vault_id(), own)
        }
    }

    /// Whether this machine trusts `block` now (its owners, its epoch), by `state`; why not.
    fn check_block(
        &self,
        block: &Membership,
        state: &State,
        own: Option<&str>,
    ) -> std::result::Result<(), String> {
        let json = block.to_json();
        if self.made.lock().is_ok_and(|made| made.contains(&json)) {
            return Ok(());
        }
        policy::membership_trusted(block, &self.seen_of(state, Some(&block.body.vault_id), own))
    }

    /// Judges a version read from `vault`, by what this machine remembers.
    fn judge(&self, vault: &Path, facts: &Facts<'_>) -> Result<(Judgment, State, String)> {
        let state = self.file()?.load()?;
        let (judgment, here) = self.judge_by(vault, facts, &state);
        Ok((judgment, state, here))
    }

    /// [`Trust::judge`] by `state`, as loaded; also the location key of `vault`.
    fn judge_by(&self, vault: &Path, facts: &Facts<'_>, state: &State) -> (Judgment, String) {
        let here = location_key(vault);
        // This user's key matters only where the machine has no record of the vault: it
        // is derived from the identity (two scalar multiplications) only then.
        let known = facts
            .vault_id()
            .is_some_and(|id| state.vaults.contains_key(id));
        let own = if known { None } else { self.own_writer() };
        let version_1 = facts
            .membership
            .is_none()
            .then(|| self.file.as_ref().ok()?.version_1_recipients(vault))
            .flatten();
        let seen = Seen {
            version_1: version_1.as_ref(),
            ..self.seen(state, facts, &here, own.as_deref())
        };
        (policy::judge(facts, &seen), here)
    }

    /// Remembers a trusted version: its floors, its owners, where it was read. Nothing is
    /// written when `known` (the state it was judged by) says it all already.
    fn remember(&self, vault: &Path, here: &str, facts: &Facts<'_>, known: &State) -> Result<()> {
        let Some(block) = facts.block() else {
            return Ok(());
        };
        let id = block.body.vault_id.clone();
        let generation = facts.generation;
        let place = Place {
            vault_id: id.clone(),
            path: shown_path(vault),
        };
        let record = known.vaults.get(&id);
        if record.is_some_and(|r| *r == policy::advance(Some(r), block, generation))
            && known.locations.get(here) == Some(&place)
        {
            return Ok(());
        }
        Ok(self.file()?.update(|state| {
            let next = policy::advance(state.vaults.get(&id), block, generation);
            state.vaults.insert(id.clone(), next);
            state.locations.insert(here.to_string(), place);
        })?)
    }

    fn first_sight(
        &self,
        vault: &Path,
        (here, known): (&str, &State),
        facts: &Facts<'_>,
        what: &str,
        writing: bool,
    ) -> Result<()> {
        if self.purpose == Purpose::Names && !writing {
            self.tell(&format!(
                "warning: {what}. Its values are not used until you trust it: see 'vault verify {}'",
                vault_flag(vault)
            ));
            return Ok(());
        }
        if self.can_prompt {
            let mut question = describe(vault, facts, self.own_writer().as_deref());
            question.push_str(&format!(
                "{}.\nTrust this vault and its owners? Type yes: ",
                one_line(what)
            ));
            let answer = ask(&question)?;
            if answer.trim() == "yes" {
                return self.remember(vault, here, facts, known);
            }
        }
        // Which owners to pin is not said here: this file is not trusted yet, and its
        // owners are only worth pinning once someone has checked them.
        Err(Error::LockedOut(format!(
            "the vault {} is not trusted on this machine yet: {what}. Nothing was read or changed. Look at it, with its owners' fingerprints, with 'vault verify', and trust it with 'vault verify --accept' — or pin the owners you know in advance with VAULT_TRUST=ID@EPOCH:OWNERS (CI) or [security.vaults]",
            vault.display()
        )))
    }
}

impl Guard for Trust {
    fn signing_key(&self) -> Option<&SigningKey> {
        self.own().map(|o| &o.key)
    }

    fn vet(&self, vault: &Path, version: &Version<'_>, writing: bool) -> StoreResult<()> {
        Ok(self.vet_version(vault, version, writing)?)
    }

    fn prepare_write(
        &self,
        vault: &Path,
        document: &mut Document,
        passphrase: bool,
    ) -> StoreResult<()> {
        Ok(self.prepare_to_write(vault, document, passphrase)?)
    }

    fn wrote(&self, vault: &Path, document: &Document) -> StoreResult<()> {
        Ok(self.remember_write(vault, document)?)
    }
}

/// The guard's work, in vault's own errors (the store sees them as its own kinds).
impl Trust {
    fn vet_version(&self, vault: &Path, version: &Version<'_>, writing: bool) -> Result<()> {
        let state = self.file()?.load()?;
        let facts = self.facts_known(version, &state);
        let (judgment, here) = self.judge_by(vault, &facts, &state);
        match judgment.verdict {
            Verdict::Trusted => {
                for notice in &judgment.notices {
                    self.tell(&format!("note: {notice}"));
                }
                if let Some(id) = facts.vault_id()
                    && !state.vaults.contains_key(id)
                    && self.configured.get(id).is_some_and(|c| c.epoch.is_none())
                {
                    self.tell(&format!(
                        "note: the owners of the vault {id} are pinned without an epoch: a version from before someone was removed would pass too. Pin them as 'vault verify' prints them (VAULT_TRUST=ID@EPOCH:OWNERS)"
                    ));
                }
                if let Some(id) = facts.vault_id() {
                    let copies = state.other_locations(id, &here);
                    if !copies.is_empty() {
                        self.tell(&format!(
                            "note: the vault {} is also at {}: a copy of the same vault (the same id). To make an independent vault of a copy, use 'vault init --from'",
                            vault.display(),
                            copies.join(", ")
                        ));
                    }
                }
                if self.purpose != Purpose::Accept {
                    self.remember(vault, &here, &facts, &state)?;
                }
                Ok(())
            }
            _ if self.purpose == Purpose::Accept => Ok(()),
            Verdict::FirstSight(what) => {
                self.first_sight(vault, (&here, &state), &facts, &what, writing)
            }
            Verdict::Suspect(why) => {
                let message = format!(
                    "the vault {} may have been tampered with: {why}",
                    vault.display()
                );
                if self.purpose == Purpose::Names && !writing {
                    self.tell(&format!(
                        "warning: {message}. No value is used and nothing is written until this is settled: see 'vault verify'"
                    ));
                    return Ok(());
                }
                Err(Error::LockedOut(format!(
                    "{message}. Nothing was read or changed; see it with 'vault verify', and write it forward under the membership you trust with 'vault verify --accept' only if you know why"
                )))
            }
        }
    }

    fn prepare_to_write(
        &self,
        vault: &Path,
        document: &mut Document,
        passphrase: bool,
    ) -> Result<()> {
        let state = self.file()?.load()?;
        if document.membership().is_none() {
            self.give_membership(vault, document, passphrase)?;
        }
        let block = document
            .membership()
            .map(Membership::parse)
            .transpose()
            .map_err(|why| {
                Error::LockedOut(format!(
                    "the vault {}'s membership block is not valid ({why}); nothing was changed",
                    vault.display()
                ))
            })?
            .ok_or_else(|| {
                Error::Failed("internal error: a write without a membership block".into())
            })?;
        // Protected as the block says, and as this machine knows the vault: a block of
        // members written to a passphrase, or the other way, is someone's trick.
        let known = state.vaults.get(&block.body.vault_id);
        if block.body.passphrase != passphrase || known.is_some_and(|r| r.passphrase != passphrase)
        {
            return Err(Error::LockedOut(format!(
                "the vault {} would be written {} where its membership says {}; nothing was changed",
                vault.display(),
                if passphrase {
                    "to a passphrase"
                } else {
                    "to members"
                },
                if block.body.passphrase || known.is_some_and(|r| r.passphrase) {
                    "a passphrase"
                } else {
                    "members"
                }
            )));
        }
        if !passphrase {
            self.may_write(vault, &block, document, &state)?;
        }
        let seen_generation = known.map_or(0, |r| r.generation);
        // Saturating: a member who signed a generation near the limit cannot make every
        // later write fail (it stops counting up there; the notices say so).
        document.generation = document.generation.max(seen_generation).saturating_add(1);
        Ok(())
    }

    fn remember_write(&self, vault: &Path, document: &Document) -> Result<()> {
        let Some(block) = document
            .membership()
            .and_then(|j| Membership::parse(j).ok())
        else {
            return Ok(());
        };
        let id = block.body.vault_id.clone();
        let here = location_key(vault);
        let place = Place {
            vault_id: id.clone(),
            path: shown_path(vault),
        };
        self.file()?
            .update(|state| {
                let next = policy::advance(state.vaults.get(&id), &block, document.generation);
                state.vaults.insert(id.clone(), next);
                state.locations.insert(here, place);
            })
            .map_err(|e| {
                Error::Failed(format!(
                    "the vault {} was written, but this machine could not remember it: {e}",
                    vault.display()
                ))
            })
    }
}

impl Trust {
    /// Whether a version of history (a git revision, a side of a merge, a backup) is
    /// genuine, by every owner this machine has known for the vault `expected_id`;
    /// nothing is remembered of it.
    pub fn authenticity(
        &self,
        version: &Version<'_>,
        expected_id: Option<&str>,
    ) -> Result<policy::Authenticity> {
        let facts = facts_of(version);
        let state = self.file()?.load()?;
        let own = self.own_writer();
        let id = expected_id.or(facts.vault_id());
        let seen = self.seen_of(&state, id, own.as_deref());
        Ok(policy::authenticity(&facts, &seen, expected_id))
    }

    /// The id of the vault this machine last read at location `here`, if any.
    pub fn vault_at(&self, here: &str) -> Result<Option<String>> {
        Ok(self
            .file()?
            .load()?
            .locations
            .get(here)
            .map(|p| p.vault_id.clone()))
    }

    /// Whether this machine trusts a membership block now (its owners, its epoch): what a
    /// side of a merge that changes the membership must pass. Nothing is remembered.
    pub fn trusts_membership(&self, block: &Membership) -> std::result::Result<(), String> {
        let state = self
            .file()
            .and_then(|f| Ok(f.load()?))
            .map_err(|e| e.to_string())?;
        let own = self.own_writer();
        self.check_block(block, &state, own.as_deref())
    }

    /// [`Trust::authenticity`], where only a genuine version will do (a version-1 one
    /// only if this user signed it); the error says why not.
    pub fn check_history(
        &self,
        version: &Version<'_>,
        expected_id: Option<&str>,
    ) -> std::result::Result<(), String> {
        match self.authenticity(version, expected_id) {
            Ok(policy::Authenticity::Genuine) => Ok(()),
            Ok(policy::Authenticity::Version1) if matches!(version.signed, Signed::Valid { writer } if Some(writer) == self.own_writer().as_ref()) => {
                Ok(())
            }
            Ok(policy::Authenticity::Version1) => Err(
                "it is a version-1 vault from before membership blocks, not signed by you".into(),
            ),
            Ok(policy::Authenticity::Not(why)) => Err(why),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A membership block for a vault that has none yet (version 1): the writer owns it,
    /// and the other recipients stay, read-only until their lines are added.
    fn give_membership(
        &self,
        vault: &Path,
        document: &mut Document,
        passphrase: bool,
    ) -> Result<()> {
        let label = default_label(vault);
        if passphrase {
            let block = Membership::for_passphrase(&label).map_err(Error::Failed)?;
            document.set_membership(block.to_json(), Vec::new());
            return Ok(());
        }
        let own = self.own().ok_or_else(no_writer_key)?;
        let recipient = own.recipient.clone().ok_or_else(|| {
            Error::LockedOut(format!(
                "the vault {} has no membership block yet, and your identity is not an age X25519 key, so vault cannot tell which recipient is yours; upgrade it with an X25519 identity ('vault init' makes one)",
                vault.display()
            ))
        })?;
        if !document
            .recipients
            .iter()
            .any(|r| crate::store::recipients::same_key(r, &recipient))
        {
            return Err(Error::LockedOut(format!(
                "the vault {} has no membership block yet, and your recipient {recipient} is not among its recipients",
                vault.display()
            )));
        }
        let member = crate::store::membership::Member {
            recipient: recipient.clone(),
            writer: own.key.writer(),
            name: default_name(),
        };
        let read_only: Vec<String> = document
            .recipients
            .iter()
            .filter(|r| !crate::store::recipients::same_key(r, &recipient))
            .cloned()
            .collect();
        let others = read_only.len();
        let block = Membership::genesis(&label, member, Vec::new(), read_only, None, &own.key)
            .map_err(Error::Failed)?;
        document.set_membership(block.to_json(), block.body.recipients());
        self.made(&block);
        self.tell(&format!(
            "the vault {} now has a membership block (id {}): you own it{}",
            vault.display(),
            block.body.vault_id,
            if others > 0 {
                format!(
                    "; its {others} other recipient(s) read it, and write again once you add their lines ('vault identity public' prints one; 'vault recipients add LINE')"
                )
            } else {
                String::new()
            }
        ));
        Ok(())
    }

    /// Refuses a version this writer may not write: not a member, a membership this
    /// machine does not trust or older than it has seen, an expired one.
    fn may_write(
        &self,
        vault: &Path,
        block: &Membership,
        document: &Document,
        state: &State,
    ) -> Result<()> {
        let own = self.own().ok_or_else(no_writer_key)?;
        let writer = own.key.writer();
        let body = &block.body;
        if body.member_by_writer(&writer).is_none() {
            return Err(Error::LockedOut(format!(
                "you are not a member of the vault {} (your writer key {writer} is not in its membership: a read-only recipient reads, members write); ask an owner to add the line 'vault identity public' prints; nothing was changed",
                vault.display()
            )));
        }
        self.check_block(block, state, Some(&writer)).map_err(|why| {
            Error::LockedOut(format!(
                "the vault {}'s membership is not one this machine trusts ({why}); nothing was changed",
                vault.display()
            ))
        })?;
        if let Some(expired) = policy::expired(block, SystemTime::now()) {
            return Err(Error::LockedOut(format!(
                "the vault {}'s membership expired at {expired}; an owner renews it with 'vault renew'; nothing was changed",
                vault.display()
            )));
        }
        let listed: Vec<String> = document
            .recipients
            .iter()
            .map(|r| crate::store::recipients::key_part(r))
            .collect();
        let members: Vec<String> = body
            .recipients()
            .iter()
            .map(|r| crate::store::recipients::key_part(r))
            .collect();
        if listed != members {
            return Err(Error::Failed(
                "internal error: the recipients differ from the membership block; nothing was changed".into(),
            ));
        }
        Ok(())
    }
}

fn no_writer_key() -> Error {
    // A writer key file that is there but cannot be used is named, not taken for none.
    if let Some(Err(problem)) = crate::paths::writer_key_file()
        .ok()
        .map(|path| crate::store::identity::writer_key_from_file(&path))
    {
        return problem.into();
    }
    Error::LockedOut(
        "you have no writer key to sign with: vault derives it from an age X25519 identity, or keeps one in writer.key beside your configuration for other identities ('vault identity public' makes it); nothing was changed".into(),
    )
}

impl Trust {
    /// [`facts_of`] by `state`, where a membership block that is the very text of the one this
    /// machine recorded at its floor is not checked again: the same bytes were checked
    /// when they were recorded, and the check depends on nothing else (its two or more
    /// Ed25519 signatures were half of what a read of a small vault cost).
    fn facts_known<'a>(&self, version: &Version<'a>, state: &State) -> Facts<'a> {
        let Some(json) = version.said.membership else {
            return facts_of(version);
        };
        let membership = Membership::parse_unchecked(json).and_then(|block| {
            let recorded = state
                .vaults
                .get(&block.body.vault_id)
                .and_then(|r| r.membership.as_deref());
            if recorded == Some(json) {
                return Ok(block);
            }
            match block.problem() {
                Some(problem) => Err(problem),
                None => Ok(block),
            }
        });
        Facts {
            membership: Some(membership),
            ..facts_of(&Version {
                said: crate::store::document::Said {
                    membership: None,
                    ..version.said
                },
                ..*version
            })
        }
    }
}
