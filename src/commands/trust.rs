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
        self.file()?.update(|state| {
            let next = policy::advance(state.vaults.get(&id), block, generation);
            state.vaults.insert(id.clone(), next);
            state.locations.insert(here.to_string(), place);
        })
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

    fn vet(&self, vault: &Path, version: &Version<'_>, writing: bool) -> Result<()> {
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

    fn prepare_write(&self, vault: &Path, document: &mut Document, passphrase: bool) -> Result<()> {
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

    fn wrote(&self, vault: &Path, document: &Document) -> Result<()> {
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
            .and_then(|f| f.load())
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
        return problem;
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

/// The facts of a version as the policy reads them.
pub fn facts_of<'a>(version: &Version<'a>) -> Facts<'a> {
    Facts {
        passphrase: version.header.stanzas.iter().any(|s| s.kind == "scrypt"),
        header: version.header,
        recipients: version.said.recipients,
        membership: version.said.membership.map(Membership::parse),
        signed: version.signed,
        generation: version.said.generation,
    }
}

/// Loads this user's writer from an identity file (or `VAULT_IDENTITY_KEY`), or the
/// writer key file for identities that are not X25519 keys.
pub fn load_own(identity: Option<&Path>) -> Option<Own> {
    let text = match crate::process::identity_key() {
        Some(key) => Some(zeroize::Zeroizing::new(key.to_string())),
        None => identity
            .and_then(|path| std::fs::read_to_string(path).ok())
            .map(zeroize::Zeroizing::new),
    };
    // No identity at all (a passphrase vault) may still have a writer key of its own.
    text.and_then(|text| crate::store::identity::own_from_text(&text))
        .or_else(|| {
            crate::paths::writer_key_file().ok().and_then(|path| {
                crate::store::identity::writer_key_from_file(&path)
                    .ok()
                    .flatten()
            })
        })
}

/// Owners pinned by configuration: `[security.vaults]`, then `VAULT_TRUST=ID:KEY,…`
/// (several separated by spaces or `;`); `ID@EPOCH` also names the epoch they own it at,
/// below which no version is trusted. Entries that do not parse pin nothing. A pin in
/// `VAULT_TRUST` replaces the configuration's for the same vault (the environment is the
/// more specific setting), and a later entry an earlier one: owners named in two places
/// are never merged, which would trust more than either says.
fn configured_owners(context: &Context) -> BTreeMap<String, Configured> {
    fn pin(pins: &mut BTreeMap<String, Configured>, key: &str, owners: Vec<String>) {
        let (id, epoch) = match key.split_once('@') {
            Some((id, epoch)) => match epoch.parse::<u64>() {
                Ok(epoch) => (id, Some(epoch)),
                Err(_) => return,
            },
            None => (key, None),
        };
        let owners = owners.into_iter().filter(|k| !k.is_empty()).collect();
        pins.insert(id.to_string(), Configured { owners, epoch });
    }
    let mut pins: BTreeMap<String, Configured> = BTreeMap::new();
    for (key, owners) in &context.config.security.vaults {
        pin(&mut pins, key, owners.clone());
    }
    if let Ok(text) = std::env::var("VAULT_TRUST") {
        for entry in text.split([';', ' ', '\n']).filter(|e| !e.is_empty()) {
            if let Some((key, owners)) = entry.split_once(':') {
                pin(
                    &mut pins,
                    key,
                    owners.split(',').map(str::to_string).collect(),
                );
            }
        }
    }
    pins
}

/// How to pin a vault's owners elsewhere (`VAULT_TRUST`), as of its epoch.
pub fn pin_line(block: &Membership) -> String {
    format!(
        "{}@{}:{}",
        block.body.vault_id,
        block.body.epoch,
        block.body.owners.join(",")
    )
}

/// A new vault's label: its file name without `.age`.
pub fn default_label(vault: &Path) -> String {
    let stem = vault
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if crate::store::membership::check_label(&stem).is_ok() {
        stem
    } else {
        "vault".into()
    }
}

/// The name in this user's line: `$USER`, when it is a valid name.
pub fn default_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|n| crate::store::membership::check_name(n).is_ok())
        .unwrap_or_else(|| "me".into())
}

/// Where a vault is, as a record keeps it: absolute, so a later run from elsewhere finds
/// the same file (and says true things about copies).
fn shown_path(vault: &Path) -> String {
    std::path::absolute(vault)
        .unwrap_or_else(|_| vault.to_path_buf())
        .display()
        .to_string()
}

fn vault_flag(vault: &Path) -> String {
    format!("--vault {}", vault.display())
}

/// The vault as `vault verify` shows it: id, label, epoch, owners, members with their
/// fingerprints, who wrote it.
fn describe(vault: &Path, facts: &Facts<'_>, own: Option<&str>) -> String {
    // Each field is escaped on its own, with line breaks too: the whole is shown with its
    // lines kept, and nothing read from the file may start a line of its own.
    let shown = one_line;
    let mut out = format!("vault: {}\n", shown(&vault.display().to_string()));
    match &facts.membership {
        None | Some(Err(_)) => {
            match &facts.membership {
                Some(Err(why)) => out.push_str(&format!("membership: NOT VALID: {}\n", shown(why))),
                _ => out.push_str(
                    "membership: none (a version-1 vault, from before membership blocks)\n",
                ),
            }
            for recipient in facts.recipients {
                out.push_str(&format!(
                    "recipient: {}\n",
                    shown(&crate::store::recipients::key_part(recipient))
                ));
            }
        }
        Some(Ok(block)) => {
            let body = &block.body;
            out.push_str(&format!(
                "id: {}\nlabel: {}\nepoch: {}\ngeneration: {}\n",
                shown(&body.vault_id),
                shown(&body.label),
                body.epoch,
                facts.generation
            ));
            if let Some(expires) = &body.expires {
                out.push_str(&format!("expires: {}\n", shown(expires)));
            }
            if body.passphrase {
                out.push_str("protection: passphrase (whoever knows it reads and writes)\n");
            }
            for member in &body.members {
                let role = if body.is_owner(&member.writer) {
                    "owner"
                } else {
                    "member"
                };
                out.push_str(&format!(
                    "{role}: {} {} fp:{} writer:{}\n",
                    shown(&member.name),
                    shown(&crate::store::recipients::key_part(&member.recipient)),
                    member.fingerprint(),
                    shown(&member.writer)
                ));
            }
            for recipient in &body.read_only {
                out.push_str(&format!(
                    "read-only: {}\n",
                    shown(&crate::store::recipients::key_part(recipient))
                ));
            }
            if let Some(signer) = &block.signer {
                out.push_str(&format!(
                    "membership signed by: {}\n",
                    shown(&body.who(signer))
                ));
            }
        }
    }
    match facts.signed {
        Signed::Unsigned => out.push_str("signature: none\n"),
        Signed::Valid { writer } => {
            let who = facts
                .block()
                .map(|b| b.body.who(writer))
                .unwrap_or_else(|| writer.clone());
            out.push_str(&format!("signature: valid, written by {}\n", shown(&who)));
        }
        Signed::Invalid { .. } => out.push_str("signature: DOES NOT MATCH the content\n"),
    }
    if let Some(own) = own {
        out.push_str(&format!("you sign as: {own}\n"));
    }
    out
}

/// `text` (which may quote the file) as one line: nothing it says starts a line of its own.
fn one_line(text: &str) -> String {
    crate::names::printable(text, false).into_owned()
}

/// What `vault verify` is to accept.
pub struct Accepting {
    pub accept: bool,
    /// Content no current member wrote (`--accept-content`).
    pub content: bool,
    /// Another vault at this place than it held before (`--rebind`).
    pub rebind: bool,
}

/// `vault verify [--accept [--accept-content] [--rebind]]`.
pub fn verify(context: &Context, accepting: Accepting) -> Result<u8> {
    let accept = accepting.accept;
    let trust = Trust::new(context, Purpose::Accept);
    let vault = context.vault_with(trust.clone());
    let opened = vault.open(context)?;
    let version = opened.version();
    let facts = facts_of(&version);
    let (judgment, state, here) = trust.judge(vault.path(), &facts)?;
    let mut out = describe(vault.path(), &facts, trust.own_writer().as_deref());
    if let Some(block) = facts.block()
        && let Some(record) = state.vaults.get(&block.body.vault_id)
    {
        out.push_str(&format!(
            "this machine has seen: epoch {}, generation {}\n",
            record.epoch, record.generation
        ));
    }
    for notice in &judgment.notices {
        out.push_str(&format!("note: {}\n", one_line(notice)));
    }
    match &judgment.verdict {
        Verdict::Trusted => out.push_str("state: trusted\n"),
        Verdict::FirstSight(what) => {
            out.push_str(&format!("state: NOT YET TRUSTED: {}\n", one_line(what)))
        }
        Verdict::Suspect(why) => out.push_str(&format!("state: SUSPECT: {}\n", one_line(why))),
    }
    if let Some(block) = facts.block().filter(|b| !b.body.passphrase)
        && judgment.verdict == Verdict::Trusted
    {
        out.push_str(&format!(
            "pin it elsewhere with: VAULT_TRUST={}\n",
            pin_line(block)
        ));
    }
    // A vault not trusted yet may say anything about itself: nothing of it drives the
    // terminal.
    print_stdout(&crate::names::printable(&out, true))?;
    match (&judgment.verdict, accept) {
        (Verdict::Trusted, _) => {
            trust.remember(vault.path(), &here, &facts, &state)?;
            SUCCESS
        }
        (_, false) => Ok(exit::ERROR),
        (Verdict::FirstSight(_), true) if facts.block().is_some() => {
            trust.remember(vault.path(), &here, &facts, &state)?;
            context.note("accepted: this machine now trusts this vault's owners");
            SUCCESS
        }
        (_, true) => {
            drop(facts);
            drop(opened);
            write_forward(context, &trust, (&state, &here), &accepting)
        }
    }
}

impl Trust {
    /// Whether this machine trusts `block` now (its owners, its epoch), by `state`.
    fn trusts_block(&self, block: &Membership, state: &State) -> bool {
        let own = self.own_writer();
        self.check_block(block, state, own.as_deref()).is_ok()
    }

    /// Gives `document` (read from the vault at `here`) the membership it may be written
    /// forward under: its own when this machine trusts it for the vault that location
    /// holds, else the newest this machine recorded for that vault — never an older one,
    /// so no floor moves down and nobody removed comes back. A version-1 document seen for
    /// the first time keeps none (its first write gives it one). An error when there is
    /// no trusted membership to write under.
    pub fn put_trusted_membership(&self, vault: &Path, document: &mut Document) -> Result<()> {
        let state = self.file()?.load()?;
        let here = location_key(vault);
        let own_block = document
            .membership()
            .and_then(|j| Membership::parse(j).ok());
        let bound = state.locations.get(&here).map(|p| p.vault_id.clone());
        let keep = own_block.as_ref().is_some_and(|b| {
            self.trusts_block(b, &state) && bound.as_ref().is_none_or(|id| *id == b.body.vault_id)
        });
        if let (true, Some(block)) = (keep, &own_block) {
            // Written to exactly the members it lists: a recipients list someone added a
            // key to is put right, not carried forward.
            let json = document.membership().unwrap_or_default().to_string();
            document.set_membership(json, block.body.recipients());
            return Ok(());
        }
        let id = bound.or_else(|| own_block.as_ref().map(|b| b.body.vault_id.clone()));
        match id
            .and_then(|id| state.vaults.get(&id))
            .and_then(|r| r.membership.clone())
        {
            Some(json) => {
                let block = Membership::parse(&json).map_err(Error::Failed)?;
                let recipients = block.body.recipients();
                document.set_membership(json, recipients);
                Ok(())
            }
            None if own_block.is_none() && document.membership().is_none() => Ok(()),
            None => Err(Error::LockedOut(format!(
                "the vault {} has a membership this machine does not trust, and none it trusts to put in its place; nothing was changed. To trust its owners as they are, copy it to a new place and 'vault verify --accept' its first sight there",
                vault.display()
            ))),
        }
    }
}

/// `vault verify --accept` of a version that cannot simply be pinned: its content,
/// signed by you, written forward as a new generation under the newest membership this
/// machine trusts for it (see [`Trust::put_trusted_membership`]) — content a member of
/// that membership wrote, unless `accept_content`. A location that held another vault,
/// now holding one this machine trusts, is only rebound.
fn write_forward(
    context: &Context,
    trust: &Arc<Trust>,
    (state, here): (&State, &str),
    accepting: &Accepting,
) -> Result<u8> {
    let vault = context.vault_with(trust.clone());
    let path = vault.path().to_path_buf();
    let mut transaction = vault.begin(context)?;
    let version_block = transaction
        .document()
        .membership()
        .and_then(|j| Membership::parse(j).ok());
    let held = state.locations.get(here).map(|p| p.vault_id.clone());
    if let Some(block) = &version_block
        && let Some(held) = held.filter(|held| *held != block.body.vault_id)
    {
        let label_of = |id: &str| {
            state
                .vaults
                .get(id)
                .map(|r| crate::names::printable(&r.label, false).into_owned())
                .unwrap_or_default()
        };
        if !accepting.rebind || !trust.trusts_block(block, state) {
            return Err(Error::LockedOut(format!(
                "{} held the vault {held} ({}) and now holds {} ({}){}; nothing was changed. If this place is to hold the other vault from now on, 'vault verify --accept --rebind'; to get the vault it held back, restore it from git or a copy",
                path.display(),
                label_of(&held),
                block.body.vault_id,
                crate::names::printable(&block.body.label, false),
                if trust.trusts_block(block, state) {
                    ""
                } else {
                    ", which this machine does not trust either"
                }
            )));
        }
        let version = transaction.version();
        trust.remember(&path, here, &facts_of(&version), state)?;
        context.note(&format!(
            "accepted: {} now holds the vault {} ({})",
            path.display(),
            block.body.vault_id,
            block.body.label
        ));
        return SUCCESS;
    }
    let writer = match &transaction.version().signed {
        Signed::Valid { writer } => Some(writer.clone()),
        _ => None,
    };
    trust.put_trusted_membership(&path, transaction.document_mut())?;
    let first_sight_of_version_1 = transaction.document().membership().is_none();
    // The content, written forward, is signed by you: vouch for it only if a member of the
    // membership it goes under wrote it (or you did), unless told to vouch for it anyway.
    let block = transaction
        .document()
        .membership()
        .and_then(|j| Membership::parse(j).ok());
    let own = trust.own_writer();
    let by_a_member = writer.as_ref().is_some_and(|w| {
        own.as_ref() == Some(w)
            || block
                .as_ref()
                .is_some_and(|b| b.body.member_by_writer(w).is_some())
    });
    if !by_a_member && !first_sight_of_version_1 && !accepting.content {
        let names: Vec<&str> = transaction.document().names().collect();
        return Err(Error::LockedOut(format!(
            "the content of {} was written by {}, not by a member of the vault: vault will not sign it as yours. Its secrets: {}. Get a version you trust back ('vault restore --latest', or from git), or, if you know every value in it, 'vault verify --accept-content'; nothing was changed",
            path.display(),
            writer
                .as_deref()
                .unwrap_or("nobody it can name (it is not signed)"),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        )));
    }
    let sealed = transaction.seal_document(true)?;
    transaction.backup(
        &context.config.backup,
        &crate::store::backup::Record {
            operation: "accept",
            names: &[],
            ..Default::default()
        },
    )?;
    transaction.write_sealed(sealed)?;
    context.note(&format!(
        "accepted: {} is written forward, signed by you, under the membership this machine trusts",
        path.display()
    ));
    SUCCESS
}

/// `vault owners list|add|remove`.
pub fn owners(context: &Context, command: &OwnersCommand) -> Result<u8> {
    match command {
        OwnersCommand::List => {
            let opened = context.vault().open(context)?;
            let block = block_of(context, &opened.document)?;
            let mut out = String::new();
            for owner in &block.body.owners {
                match block.body.member_by_writer(owner) {
                    Some(m) => out.push_str(&format!(
                        "{} fp:{} writer:{}\n",
                        m.name,
                        m.fingerprint(),
                        owner
                    )),
                    None => out.push_str(&format!("writer:{owner}\n")),
                }
            }
            print_report(&out)?;
            SUCCESS
        }
        OwnersCommand::Add { member } | OwnersCommand::Remove { member } => {
            let adding = matches!(command, OwnersCommand::Add { .. });
            change_membership(
                context,
                if adding {
                    "owners-add"
                } else {
                    "owners-remove"
                },
                true,
                |body| {
                    let writer = find_member(body, member)?;
                    if adding {
                        if body.is_owner(&writer) {
                            return Ok(Changed::No(format!(
                                "{} is an owner already; nothing changed",
                                body.who(&writer)
                            )));
                        }
                        body.owners.push(writer.clone());
                    } else {
                        if !body.is_owner(&writer) {
                            return Ok(Changed::No(format!(
                                "{} is not an owner; nothing changed",
                                body.who(&writer)
                            )));
                        }
                        if body.owners.len() == 1 {
                            return Err(Error::Usage(
                            "refusing to remove the last owner: nobody could change the membership again".into(),
                        ));
                        }
                        body.owners.retain(|o| *o != writer);
                    }
                    Ok(Changed::Yes(format!(
                        "{} is {} an owner",
                        body.who(&writer),
                        if adding { "now" } else { "no longer" }
                    )))
                },
            )
        }
    }
}

/// `vault renew [--max-age D | --no-expiry]`.
pub fn renew(context: &Context, max_age: Option<&str>, no_expiry: bool) -> Result<u8> {
    if let Some(text) = max_age {
        let age = humantime::parse_duration(text)
            .map_err(|e| Error::Usage(format!("--max-age {text}: {e}")))?;
        if age > crate::store::membership::MAX_AGE_LIMIT {
            return Err(Error::Usage(format!("--max-age {text}: at most 100 years")));
        }
        // No window at all would expire as it is signed (and its refusal would ask for
        // the very renewal that made it).
        if age < crate::store::membership::MAX_AGE_FLOOR {
            return Err(Error::Usage(format!(
                "--max-age {text}: at least 1s (a membership that expires as it is signed is no renewal)"
            )));
        }
    }
    change_membership(context, "renew", true, |body| {
        if no_expiry {
            body.max_age = None;
        } else if let Some(text) = max_age {
            body.max_age = Some(text.to_string());
        }
        body.expires = match &body.max_age {
            Some(text) => {
                let age = humantime::parse_duration(text)
                    .map_err(|e| Error::BadData(format!("the max age {text}: {e}")))?;
                // Rounded up to the second it is shown in: never earlier than asked.
                let at = SystemTime::now() + age;
                let past = at
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let at = match past {
                    0 => at,
                    nanos => at + std::time::Duration::from_nanos(1_000_000_000 - u64::from(nanos)),
                };
                Some(humantime::format_rfc3339_seconds(at).to_string())
            }
            None => None,
        };
        Ok(Changed::Yes(match &body.expires {
            Some(expires) => format!("the membership is renewed until {expires}"),
            None => "the membership no longer expires".to_string(),
        }))
    })
}

/// The vault's membership block, or why it has none to change.
pub fn block_of(context: &Context, document: &Document) -> Result<Membership> {
    let json = document.membership().ok_or_else(|| {
        Error::Usage(format!(
            "the vault {} has no membership block yet (a version-1 vault); any write gives it one",
            context.vault_location.path.display()
        ))
    })?;
    Membership::parse(json).map_err(|why| Error::BadData(format!("the membership block: {why}")))
}

/// A member's writer key, by name, writer key or line.
pub fn find_member(body: &crate::store::membership::Body, text: &str) -> Result<String> {
    let wanted = match Joining::parse(text) {
        Ok(Joining::Member(member)) => member.writer,
        _ => text.trim().to_string(),
    };
    body.members
        .iter()
        .find(|m| m.writer == wanted || m.name == wanted)
        .map(|m| m.writer.clone())
        .ok_or_else(|| {
            Error::NotFound(format!(
                "{wanted} is not a member of this vault (by name or writer key); see 'vault verify'"
            ))
        })
}

/// What a change of membership did, said for the user.
pub enum Changed {
    Yes(String),
    /// Nothing to do: the vault is not written.
    No(String),
}

/// Changes the membership block (as an owner: signed by you, the epoch one higher) with
/// `change`, which says what it did.
pub fn change_membership(
    context: &Context,
    operation: &str,
    keep_access: bool,
    change: impl FnOnce(&mut crate::store::membership::Body) -> Result<Changed>,
) -> Result<u8> {
    let (said, _) = context.vault().update(
        context,
        &context.config.backup,
        Change {
            operation,
            keep_access,
        },
        |document| {
            // Asked once the vault is open: an identity from a command is loaded then.
            let key = &context.own().ok_or_else(no_writer_key)?.key;
            let block = block_of(context, document)?;
            if block.body.passphrase {
                return Err(Error::Usage(
                    "a passphrase vault has no owners or members: whoever knows the passphrase reads and writes it".into(),
                ));
            }
            if !block.body.is_owner(&key.writer()) {
                return Err(Error::LockedOut(format!(
                    "only an owner can change the vault's membership; its owners are {}",
                    policy::owners_of(&block)
                )));
            }
            let mut body = block.body.clone();
            let said = match change(&mut body)? {
                Changed::No(said) => return Ok((said, None)),
                Changed::Yes(said) => said,
            };
            let next = block.next(body, key).map_err(Error::BadData)?;
            let recipients = next.body.recipients();
            document.set_membership(next.to_json(), recipients);
            Ok((said, Some(Vec::new())))
        },
    )?;
    context.note(&said);
    SUCCESS
}
