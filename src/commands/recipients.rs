//! `vault recipients list|add|remove`: who can open the vault.

use crate::cli::RecipientsCommand;
use crate::commands::{Context, SUCCESS, print_stdout};
use crate::error::{Error, Result};
use crate::store::{Change, Protection, recipients};

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

fn passphrase_vault(context: &Context) -> Error {
    Error::Usage(format!(
        "the vault {} is protected by a passphrase, not by recipients",
        context.vault_location.path.display()
    ))
}

fn list(context: &Context) -> Result<u8> {
    let opened = context.vault().open(context)?;
    if let Protection::Passphrase(_) = opened.protection {
        context.note("this vault is protected by a passphrase and has no recipients");
        return SUCCESS;
    }
    let mut out = String::new();
    for recipient in &opened.document.recipients {
        out.push_str(recipient);
        out.push('\n');
    }
    print_stdout(&out)?;
    SUCCESS
}

fn add(context: &Context, recipient: &str) -> Result<u8> {
    recipients::parse(recipient)?;
    let recipient = recipient.trim().to_string();
    let (added, _) = context.vault().update(
        context,
        &context.config.backup,
        Change {
            operation: "recipients-add",
            keep_access: false,
        },
        |document| {
            if document.recipients.is_empty() {
                return Err(passphrase_vault(context));
            }
            if document
                .recipients
                .iter()
                .any(|r| recipients::same_key(r, &recipient))
            {
                return Ok((false, None));
            }
            document.recipients.push(recipient.clone());
            Ok((true, Some(Vec::new())))
        },
    )?;
    if added {
        context.note(&format!(
            "added {recipient}; the vault is re-encrypted to every recipient"
        ));
    } else {
        context.note(&format!(
            "{recipient} is a recipient already; nothing changed"
        ));
    }
    SUCCESS
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
        print_stdout(&left.iter().map(|n| format!("{n}\n")).collect::<String>())?;
        context.note(&format!(
            "not rotated (static, or without a rotation policy), so the removed recipient may still hold them: {}; change them where they are issued, then 'vault set' them. Older copies of the vault (backups, git history) still open with the removed key",
            left.join(", ")
        ));
    }
    Ok(())
}

fn remove(context: &Context, recipient: &str, force: bool) -> Result<u8> {
    let recipient = recipient.trim().to_string();
    context.vault().update(
        context,
        &context.config.backup,
        Change {
            operation: "recipients-remove",
            keep_access: !force,
        },
        |document| {
            if document.recipients.is_empty() {
                return Err(passphrase_vault(context));
            }
            let before = document.recipients.len();
            document
                .recipients
                .retain(|r| !recipients::same_key(r, &recipient));
            if document.recipients.len() == before {
                return Err(Error::NotFound(format!(
                    "{recipient} is not a recipient of this vault; see 'vault recipients list'"
                )));
            }
            if document.recipients.is_empty() {
                return Err(Error::Failed(
                    "refusing to remove the last recipient: nobody could open the vault".into(),
                ));
            }
            Ok(((), Some(Vec::new())))
        },
    )?;
    context.note(&format!(
        "removed {recipient}; the vault is re-encrypted. Backups made before now can still be opened by it, and it may have copied the secrets: rotate any it could read"
    ));
    SUCCESS
}
