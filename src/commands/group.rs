//! `vault group create|add|remove|list` and `vault set NAME --group G`: values only a
//! group's members decrypt. The groups live in the owner-signed membership block; each
//! value is sealed to its group's members (`store::sealed`), and sealed again when they
//! change, in the same write as the new block.

use age::secrecy::{ExposeSecret, SecretString};

use crate::cli::{GroupCommand, SetArgs};
use crate::commands::overlay::Opener;
use crate::commands::trust::{self, Changed};
use crate::commands::{Context, SUCCESS, print_report};
use crate::error::{Error, Result};
use crate::names::{validate_name, validate_value};
use crate::store::Change;
use crate::store::document::{Document, timestamp_now};
use crate::store::membership::{Body, check_group_name};
use crate::store::sealed;

pub fn run(context: &Context, command: &GroupCommand) -> Result<u8> {
    match command {
        GroupCommand::Create { name, members } => create(context, name, members),
        GroupCommand::Add { name, members } => add(context, name, members),
        GroupCommand::Remove { name, members } => remove(context, name, members),
        GroupCommand::List => list(context),
    }
}

fn checked_name(name: &str) -> Result<()> {
    check_group_name(name).map_err(|why| Error::Usage(format!("the group name {why}")))
}

fn no_writer() -> Error {
    Error::Usage("a group value is sealed by a member, and your identity has no writer key".into())
}

fn no_group(name: &str) -> Error {
    Error::NotFound(format!(
        "no group named {name} in this vault; see 'vault group list'"
    ))
}

/// The members' names, for messages.
fn names_of(body: &Body, writers: &[String]) -> String {
    writers
        .iter()
        .map(|w| {
            body.member_by_writer(w)
                .map_or_else(|| w.clone(), |m| m.name.clone())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn create(context: &Context, name: &str, members: &[String]) -> Result<u8> {
    checked_name(name)?;
    trust::change_membership(context, "group-create", true, |body| {
        if body.groups.contains_key(name) {
            return Err(Error::Usage(format!(
                "the group {name} exists already; add members with 'vault group add {name} MEMBER'"
            )));
        }
        let mut writers: Vec<String> = Vec::new();
        for member in members {
            let writer = trust::find_member(body, member)?;
            if !writers.contains(&writer) {
                writers.push(writer);
            }
        }
        let said = format!("created the group {name}: {}", names_of(body, &writers));
        body.groups.insert(name.to_string(), writers);
        Ok(Changed::Yes(said))
    })
}

/// Seals every value of `group` again for the members `body` lists now: opened with this
/// owner's identity, which must be one of the group's.
fn reseal(context: &Context, body: &Body, document: &mut Document, group: &str) -> Result<()> {
    let recipients: Vec<String> = body
        .group_members(group)
        .unwrap_or_default()
        .iter()
        .map(|m| m.recipient.clone())
        .collect();
    let scope = sealed::group_scope(group);
    let opener = Opener::new(context);
    let signer = &context.own().ok_or_else(no_writer)?.key;
    // Opened as the block still in the document (the one before this change) says.
    let membership = document.membership().map(str::to_string);
    let values: Vec<(String, String)> = document
        .sealed()
        .groups
        .into_iter()
        .filter(|(_, v)| v.group == group)
        .map(|(name, v)| (name, v.ciphertext))
        .collect();
    for (name, ciphertext) in values {
        let value = opener.open_group(&ciphertext, &name, group, membership.as_deref())?.ok_or_else(|| {
            Error::LockedOut(format!(
                "the group {group} holds values sealed to its members, and you are not one, so they cannot be sealed again for the new members; a member of {group} who is an owner can do this"
            ))
        })?;
        let again = sealed::seal(&name, &scope, &body.vault_id, &recipients, &value, signer)?;
        document.reseal_group_value(&name, again);
    }
    Ok(())
}

fn add(context: &Context, name: &str, members: &[String]) -> Result<u8> {
    checked_name(name)?;
    trust::change_membership_and_document(context, "group-add", true, |body, document| {
        let mut added = Vec::new();
        for member in members {
            let writer = trust::find_member(body, member)?;
            let listed = body.groups.get_mut(name).ok_or_else(|| no_group(name))?;
            if !listed.contains(&writer) {
                listed.push(writer.clone());
                added.push(writer);
            }
        }
        if added.is_empty() {
            return Ok(Changed::No(format!(
                "{} already in the group {name}; nothing changed",
                members.join(", ")
            )));
        }
        reseal(context, body, document, name)?;
        Ok(Changed::Yes(format!(
            "added {} to the group {name}; its values are sealed for them too",
            names_of(body, &added)
        )))
    })
}

fn remove(context: &Context, name: &str, members: &[String]) -> Result<u8> {
    checked_name(name)?;
    trust::change_membership_and_document(context, "group-remove", true, |body, document| {
        let mut removed = Vec::new();
        for member in members {
            let writer = trust::find_member(body, member)?;
            let listed = body.groups.get_mut(name).ok_or_else(|| no_group(name))?;
            let before = listed.len();
            listed.retain(|w| *w != writer);
            if listed.len() == before {
                return Err(Error::NotFound(format!(
                    "{member} is not in the group {name}; see 'vault group list'"
                )));
            }
            removed.push(writer);
        }
        if body.groups.get(name).is_some_and(Vec::is_empty) {
            return Err(Error::Usage(format!(
                "the group {name} would have no members, and its values nobody to open them; keep one member, or remove its values first"
            )));
        }
        reseal(context, body, document, name)?;
        let values: Vec<String> = document
            .sealed()
            .groups
            .into_iter()
            .filter(|(_, v)| v.group == name)
            .map(|(n, _)| n)
            .collect();
        let who = names_of(body, &removed);
        let now = timestamp_now();
        for writer in &removed {
            let label = format!(
                "{} from group {name}",
                names_of(body, std::slice::from_ref(writer))
            );
            document.record_stale(&label, &now, values.clone());
        }
        Ok(Changed::Yes(format!(
            "removed {who} from the group {name}; its values are sealed again without them. They may have copied the {} value(s) they could read: 'vault list --stale' names them until they change",
            values.len()
        )))
    })
}

fn list(context: &Context) -> Result<u8> {
    let opened = context.vault_for_names().open(context)?;
    let block = trust::block_of(context, &opened.document)?;
    let sealed = opened.document.sealed();
    if block.body.groups.is_empty() {
        context.note(
            "this vault has no groups; create one with 'vault group create NAME --member MEMBER'",
        );
        return SUCCESS;
    }
    let mut out = String::new();
    for (group, writers) in &block.body.groups {
        let count = sealed.groups.values().filter(|v| v.group == *group).count();
        out.push_str(&format!(
            "{group}: {} ({count} value(s))\n",
            names_of(&block.body, writers)
        ));
    }
    print_report(&out)?;
    SUCCESS
}

/// Refuses unless this user is a member of `group` (as the document's membership block
/// lists it): only members change or remove a group's values.
pub fn require_member(
    context: &Context,
    document: &Document,
    group: &str,
    name: &str,
) -> Result<()> {
    let writer = context.own().ok_or_else(no_writer)?.key.writer();
    let block = trust::block_of(context, document)?;
    let members = block.body.group_members(group).unwrap_or_default();
    if !members.iter().any(|m| m.writer == writer) {
        return Err(Error::LockedOut(format!(
            "{name} is a value of the group {group}, and only its members change or remove it ({})",
            members
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(())
}

/// `set NAME --group G`: a value sealed to G's members, set by one of them.
pub fn set_value(
    context: &Context,
    args: &SetArgs,
    group: &str,
    value: SecretString,
) -> Result<u8> {
    checked_name(group)?;
    validate_name(&args.name)?;
    validate_value(
        &args.name,
        age::secrecy::ExposeSecret::expose_secret(&value),
    )?;
    let signer = &context.own().ok_or_else(no_writer)?.key;
    let writer = signer.writer();
    context.vault().update(
        context,
        &context.config.backup,
        Change {
            operation: "set",
            keep_access: false,
        },
        |document| {
            let block = trust::block_of(context, document)?;
            let members = block.body.group_members(group).ok_or_else(|| no_group(group))?;
            if !members.iter().any(|m| m.writer == writer) {
                return Err(Error::LockedOut(format!(
                    "only members of the group {group} set its values ({})",
                    members.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ")
                )));
            }
            if document.contains(&args.name) {
                return Err(Error::Usage(format!(
                    "{} is a shared secret; a name is shared or a group's, not both: 'vault rm {}' first",
                    args.name, args.name
                )));
            }
            if let Some(other) = document.sealed().groups.get(&args.name).filter(|v| v.group != group) {
                return Err(Error::Usage(format!(
                    "{} is a value of the group {}; 'vault rm {}' first to give it to {group}",
                    args.name, other.group, args.name
                )));
            }
            // The same value set again is sealed again but stays what a removed reader saw.
            let opener = Opener::new(context);
            let changed = match document.sealed().groups.get(&args.name) {
                Some(old) => !matches!(
                    opener.open_group(&old.ciphertext, &args.name, group, document.membership()),
                    Ok(Some(previous)) if previous.expose_secret() == value.expose_secret()
                ),
                None => true,
            };
            let recipients: Vec<String> = members.iter().map(|m| m.recipient.clone()).collect();
            let ciphertext = sealed::seal(
                &args.name,
                &sealed::group_scope(group),
                &block.body.vault_id,
                &recipients,
                &value,
                signer,
            )?;
            document.set_group_value(&args.name, group, ciphertext, changed);
            Ok::<_, Error>(((), Some(vec![args.name.clone()])))
        },
    )?;
    context.note(&format!(
        "stored {} for the group {group} (sealed to its members alone)",
        args.name
    ));
    crate::commands::agent::refresh_grants(context, std::slice::from_ref(&args.name));
    SUCCESS
}
