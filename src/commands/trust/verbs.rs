//! The commands around trust: `vault verify [--accept]`, `vault owners`, `vault renew`,
//! and the changes of membership `vault recipients` makes.

use super::*;

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
    pub(super) fn trusts_block(&self, block: &Membership, state: &State) -> bool {
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
pub(super) fn write_forward(
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
    change_membership_and_document(context, operation, keep_access, |body, _| change(body))
}

/// [`change_membership`] for a change that also rewrites what the membership governs in
/// the document (a group's values, sealed again for its new members): `change` gets the
/// new body and the document, both written together or not at all.
pub fn change_membership_and_document(
    context: &Context,
    operation: &str,
    keep_access: bool,
    change: impl FnOnce(&mut crate::store::membership::Body, &mut Document) -> Result<Changed>,
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
            let said = match change(&mut body, document)? {
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
