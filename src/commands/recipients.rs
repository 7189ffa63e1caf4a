//! `vault recipients list|add|remove`: who can open the vault.

use crate::cli::RecipientsCommand;
use crate::commands::trust::{self, Changed};
use crate::commands::{Context, SUCCESS, print_report, print_stdout};
use crate::error::{Error, Result};
use crate::store::membership::Joining;
use crate::store::{Protection, recipients};

pub fn run(context: &Context, command: &RecipientsCommand) -> Result<u8> {
    match command {
        RecipientsCommand::List => list(context),
        RecipientsCommand::Add { recipient } => add(context, recipient),
        RecipientsCommand::Remove {
            recipient,
            force,
            rotate,
            policy,
            restart,
        } => {
            // The policy is read first: a removal that cannot then rotate is refused whole.
            let rotatable = if *rotate {
                Some(crate::commands::rotate::rotatable_names(
                    context,
                    policy.as_deref(),
                )?)
            } else {
                None
            };
            remove(context, recipient, *force)?;
            if let Some(rotatable) = rotatable {
                offboard(context, policy.clone(), *restart, &rotatable)?;
            }
            SUCCESS
        }
    }
}

fn list(context: &Context) -> Result<u8> {
    let opened = context.vault_for_names().open(context)?;
    if let Protection::Passphrase(_) = opened.protection {
        context.note("this vault is protected by a passphrase and has no recipients");
        return SUCCESS;
    }
    let mut out = String::new();
    for recipient in &opened.document.recipients {
        // A vault read with a warning may have been written by anyone.
        out.push_str(&crate::names::printable(recipient, false));
        out.push('\n');
    }
    print_stdout(&out)?;
    SUCCESS
}

/// Adds a member (a line from `vault identity public`) or a read-only recipient.
fn add(context: &Context, line: &str) -> Result<u8> {
    let joining = Joining::parse(line).map_err(|why| Error::Usage(format!("{line:?}: {why}")))?;
    if let Joining::ReadOnly(recipient) = &joining {
        recipients::parse(recipient)?;
    }
    trust::change_membership(context, "recipients-add", true, |body| {
        let taken = |recipient: &str| {
            body.recipients()
                .iter()
                .any(|r| recipients::same_key(r, recipient))
        };
        match &joining {
            Joining::Member(member) => {
                if let Some(known) = body.member_by_writer(&member.writer) {
                    if recipients::same_key(&known.recipient, &member.recipient) {
                        return Ok(Changed::No(format!(
                            "{} is a member already; nothing changed",
                            known.name
                        )));
                    }
                    return Err(Error::Usage(format!(
                        "the writer key {} is {}'s already, with another recipient; each writer key belongs to one member",
                        member.writer, known.name
                    )));
                }
                if taken(&member.recipient) {
                    return Err(Error::Usage(format!(
                        "{} is a recipient of this vault already; remove it first to bind it to a writer key (each recipient appears once)",
                        recipients::key_part(&member.recipient)
                    )));
                }
                if body.members.iter().any(|m| m.name == member.name) {
                    return Err(Error::Usage(format!(
                        "a member is named {} already; ask for a line with another name ('vault identity public --name NAME')",
                        member.name
                    )));
                }
                body.members.push(member.clone());
                Ok(Changed::Yes(format!(
                    "added {} (fp:{}) as a member: they read and write; the vault is re-encrypted to every recipient",
                    member.name,
                    member.fingerprint()
                )))
            }
            Joining::ReadOnly(recipient) => {
                if taken(recipient) {
                    return Ok(Changed::No(format!(
                        "{} is a recipient already; nothing changed",
                        recipients::key_part(recipient)
                    )));
                }
                body.read_only.push(recipient.trim().to_string());
                Ok(Changed::Yes(format!(
                    "added {} as a read-only recipient; the vault is re-encrypted to every recipient",
                    recipients::key_part(recipient)
                )))
            }
        }
    })
}

/// After a recipient is removed: rotate what a policy can rotate, and name the rest, which
/// the departed person may still hold.
fn offboard(
    context: &Context,
    policy: Option<std::path::PathBuf>,
    restart: bool,
    rotatable: &[String],
) -> Result<()> {
    let args = crate::cli::RotateArgs {
        policy,
        secrets: Vec::new(),
        due: false,
        dry_run: false,
        skip_backup: false,
        restart,
        rollback_on_failure: false,
        restart_only: false,
        all: false,
        no_health: false,
    };
    crate::commands::rotate::rotate(context, &args)?;
    let opened = context.vault().open(context)?;
    let left: Vec<&str> = opened
        .document
        .names()
        .filter(|name| !rotatable.iter().any(|r| r == name))
        .collect();
    if left.is_empty() {
        context.note("every secret in the vault was rotated");
    } else {
        print_report(&left.iter().map(|n| format!("{n}\n")).collect::<String>())?;
        context.note(&format!(
            "not rotated (static, or without a rotation policy), so the removed recipient may still hold them: {}; change them where they are issued, then 'vault set' them. Older copies of the vault (backups, git history) still open with the removed key",
            left.join(", ")
        ));
    }
    Ok(())
}

fn remove(context: &Context, who: &str, force: bool) -> Result<u8> {
    let who = who.trim();
    trust::change_membership(context, "recipients-remove", !force, |body| {
        if let Some(member) = body
            .members
            .iter()
            .find(|m| recipients::same_key(&m.recipient, who) || m.writer == who || m.name == who)
            .cloned()
        {
            if let Some(group) = body
                .groups
                .iter()
                .find(|(_, writers)| writers.contains(&member.writer))
                .map(|(group, _)| group.clone())
            {
                return Err(Error::Usage(format!(
                    "{} is in the group {group}; remove them from it first ('vault group remove {group} {}'), which seals its values again without them",
                    member.name, member.name
                )));
            }
            if body.is_owner(&member.writer) {
                return Err(Error::Usage(format!(
                    "{} is an owner; make them a member only first ('vault owners remove {}')",
                    member.name, member.name
                )));
            }
            body.members.retain(|m| m.writer != member.writer);
            return Ok(Changed::Yes(format!(
                "removed {} (their recipient and writer key); the vault is re-encrypted. Backups made before now can still be opened by them, and they may have copied the secrets: rotate any they could read",
                member.name
            )));
        }
        let before = body.read_only.len();
        body.read_only.retain(|r| !recipients::same_key(r, who));
        if body.read_only.len() == before {
            return Err(Error::NotFound(format!(
                "{who} is not a recipient or member of this vault; see 'vault recipients list' and 'vault verify'"
            )));
        }
        Ok(Changed::Yes(format!(
            "removed {who}; the vault is re-encrypted. Backups made before now can still be opened by it, and it may have copied the secrets: rotate any it could read"
        )))
    })?;
    SUCCESS
}
