//! The vault in git: `vault git setup`, readable diffs (`vault diff`, git's textconv) and
//! a merge driver that merges secret by secret (`vault merge` finishes one that stopped).
//!
//! Nothing here writes a secret in plaintext: a stopped merge keeps the three versions as
//! the ciphertexts git gave it, and values typed to settle a conflict encrypted to the
//! vault's recipients, under `.git/secretsd-merge/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use age::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cli::{GitCommand, MergeArgs};
use crate::commands::backup::Difference;
use crate::commands::trust::{Purpose, Trust};
use crate::commands::{Context, SUCCESS, print_report, read_stdin_limited};
use crate::error::{Error, Result, exit};
use crate::merge::{Resolution, merge};
use crate::names::{MAX_VALUE_BYTES, validate_name, validate_value};
use crate::store::document::{Document, timestamp_now};
use crate::store::fs::{parent_dir, write_atomic};
use crate::store::membership::Membership;
use crate::store::signature::Signed;
use crate::store::{Opened, Vault};
use crate::trust::policy::Authenticity;
use crate::value::mask;

mod merge;

use merge::merge_driver;
pub use merge::resolve;

pub fn run(context: &Context, command: &GitCommand) -> Result<u8> {
    match command {
        GitCommand::Setup { global } => setup(context, *global),
        GitCommand::Textconv { file } => textconv(context, file),
        GitCommand::MergeDriver {
            base,
            ours,
            theirs,
            path,
        } => merge_driver(context, base, ours, theirs, path),
    }
}

/// Runs git in `dir`; its stdout, or an error naming what failed. Never with the
/// repository's `core.fsmonitor`: that is a program `.git/config` names, and git starts
/// it for questions as plain as `check-attr`, which `vault status` asks of whatever
/// repository the vault is in (an unpacked archive's `.git` included).
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let output = Command::new("git")
        .args(["-c", "core.fsmonitor=false"])
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| Error::Failed(format!("cannot run git: {e}")))?;
    if !output.status.success() {
        return Err(Error::Failed(format!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(output.stdout)
}

fn git_text(dir: &Path, args: &[&str]) -> Result<String> {
    Ok(String::from_utf8_lossy(&git(dir, args)?).trim().to_string())
}

/// The work tree the vault is in, and the vault's path inside it.
fn repository(context: &Context) -> Result<(PathBuf, String)> {
    let vault = std::fs::canonicalize(&context.vault_location.path)
        .map_err(|e| Error::io("find", &context.vault_location.path, e))?;
    let root = git_text(&parent_dir(&vault), &["rev-parse", "--show-toplevel"]).map_err(|_| {
        Error::Usage(format!(
            "the vault {} is not in a git work tree",
            vault.display()
        ))
    })?;
    let root = PathBuf::from(root);
    let relative = vault
        .strip_prefix(&root)
        .map_err(|_| Error::Failed("the vault is outside its own work tree".into()))?
        .display()
        .to_string();
    Ok((root, relative))
}

fn setup(context: &Context, global: bool) -> Result<u8> {
    let (root, relative) = repository(context)?;
    let binary = std::env::current_exe()
        .map_err(|e| Error::Failed(format!("cannot find the vault binary: {e}")))?;
    let binary = binary.display().to_string().replace('\'', "'\\''");
    let scope = if global { "--global" } else { "--local" };
    for (key, value) in [
        ("diff.secretsd.textconv", format!("'{binary}' git textconv")),
        ("diff.secretsd.cachetextconv", "false".to_string()),
        (
            "merge.secretsd.name",
            "secretsd vault, secret by secret".to_string(),
        ),
        (
            "merge.secretsd.driver",
            format!("'{binary}' git merge-driver %O %A %B %P"),
        ),
    ] {
        git(&root, &["config", scope, key, &value])?;
    }
    add_lines(
        &root.join(".gitattributes"),
        &[format!("/{relative} diff=secretsd merge=secretsd")],
    )?;
    // The writer lock and the local backups are this machine's, not the team's.
    let dir = Path::new(&relative)
        .parent()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty())
        .map(|p| format!("/{p}"))
        .unwrap_or_default();
    add_lines(
        &root.join(".gitignore"),
        &[format!("/{relative}.lock"), format!("{dir}/backups/")],
    )?;
    context.note(&format!(
        "git diff and git merge now read {relative} secret by secret ({} config); commit .gitattributes",
        if global { "your global" } else { "this repository's" }
    ));
    SUCCESS
}

/// What to say when `.gitattributes` asks git for vault's diff or merge driver on the vault
/// but this clone's git configuration lacks it: git does not clone `.git/config`, so every
/// clone runs `vault git setup` once, and until then `git merge` stops at a plain
/// `CONFLICT (content)` with no word of vault. None when that is not the case (no work
/// tree, no such attribute, or set up).
pub fn missing_setup(context: &Context) -> Option<String> {
    let (root, relative) = repository(context).ok()?;
    let attributes = git_text(&root, &["check-attr", "diff", "merge", "--", &relative]).ok()?;
    let asks = |attribute: &str| {
        attributes
            .lines()
            .any(|line| line.ends_with(&format!(": {attribute}: secretsd")))
    };
    let configured = |key: &str| git_text(&root, &["config", "--get", key]).is_ok();
    let missing: Vec<&str> = [
        ("merge", "merge.secretsd.driver"),
        ("diff", "diff.secretsd.textconv"),
    ]
    .into_iter()
    .filter(|(attribute, key)| asks(attribute) && !configured(key))
    .map(|(attribute, _)| attribute)
    .collect();
    if missing.is_empty() {
        return None;
    }
    Some(format!(
        "{relative}: .gitattributes asks git for vault's {} driver, which this clone lacks \
         (git does not clone .git/config): run 'vault git setup' once in this clone, \
         or git merge stops at a plain CONFLICT on {relative}",
        missing.join(" and ")
    ))
}

/// Appends each of `lines` that `path` does not hold yet.
fn add_lines(path: &Path, lines: &[String]) -> Result<()> {
    let mut text = std::fs::read_to_string(path).unwrap_or_default();
    let before = text.len();
    for line in lines {
        if !text.lines().any(|l| l.trim() == line) {
            if !text.is_empty() && !text.ends_with('\n') {
                text.push('\n');
            }
            text.push_str(line);
            text.push('\n');
        }
    }
    if text.len() != before {
        crate::store::fs::write_atomic_with_mode(path, text.as_bytes(), false, 0o644)?;
    }
    Ok(())
}

/// A vault as text for git's diff: who it is for, and one line per secret, values masked.
/// A sealed value as a diff shows it: which ciphertext, never what it holds (the
/// ciphertext is the others' to see anyway; a new one is a new value or new readers).
fn sealed_mark(ciphertext: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(ciphertext.as_bytes());
    format!(
        "sealed {}",
        digest[..4]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

fn as_text(document: &Document) -> Result<String> {
    let mut out = format!(
        "secretsd vault: {} secrets, {} recipients\n",
        document.len(),
        document.recipients.len()
    );
    let block = document
        .membership()
        .and_then(|j| Membership::parse(j).ok());
    let who = |recipient: &str| -> String {
        block
            .as_ref()
            .and_then(|b| {
                b.body
                    .members
                    .iter()
                    .find(|m| crate::store::recipients::same_key(&m.recipient, recipient))
                    .map(|m| m.name.clone())
            })
            .unwrap_or_else(|| crate::store::recipients::key_part(recipient))
    };
    if let Some(block) = &block {
        let body = &block.body;
        out.push_str(&format!(
            "vault {} ({}), epoch {}, generation {}\n",
            body.vault_id,
            crate::names::printable(&body.label, false),
            body.epoch,
            document.generation
        ));
        for member in &body.members {
            out.push_str(&format!(
                "{} {} fp:{}\n",
                if body.is_owner(&member.writer) {
                    "owner"
                } else {
                    "member"
                },
                member.name,
                member.fingerprint()
            ));
        }
        for (group, writers) in &body.groups {
            let names: Vec<String> = writers
                .iter()
                .map(|w| {
                    body.member_by_writer(w)
                        .map_or_else(|| w.clone(), |m| m.name.clone())
                })
                .collect();
            out.push_str(&format!(
                "group {}: {}\n",
                crate::names::printable(group, false),
                crate::names::printable(&names.join(", "), false)
            ));
        }
    }
    for recipient in &document.recipients {
        out.push_str(&format!(
            "recipient {}\n",
            crate::names::printable(recipient, false)
        ));
    }
    for entry in document.entries() {
        let (name, entry) = entry?;
        let fingerprint = document
            .fingerprint(name, entry.value())
            .map(|f| format!("fingerprint {f}, "))
            .unwrap_or_default();
        let mut beside = String::new();
        let tags = entry.tags();
        if !tags.is_empty() {
            beside.push_str(&format!(", tags {}", tags.join(",")));
        }
        if let Some(period) = entry.rotate_every() {
            beside.push_str(&format!(
                ", rotate every {}",
                crate::secret_meta::format_period(period)
            ));
        }
        out.push_str(&format!(
            "{} = {} ({fingerprint}updated {}{})\n",
            crate::names::printable(name, false),
            mask(entry.value()),
            crate::names::printable(&entry.updated, false),
            crate::names::printable(&beside, false)
        ));
    }
    let sealed = document.sealed();
    for (name, by) in &sealed.personal {
        for (recipient, ciphertext) in by {
            out.push_str(&format!(
                "{} = personal value of {} ({})\n",
                crate::names::printable(name, false),
                crate::names::printable(&who(recipient), false),
                sealed_mark(ciphertext)
            ));
        }
    }
    for (name, value) in &sealed.groups {
        out.push_str(&format!(
            "{} = value of group {} ({}, updated {})\n",
            crate::names::printable(name, false),
            crate::names::printable(&value.group, false),
            sealed_mark(&value.ciphertext),
            crate::names::printable(&value.updated, false)
        ));
    }
    Ok(out)
}

/// git's textconv: a version as text, once it is known to be genuine (by every owner
/// this machine has known for it; nothing is remembered of it).
fn textconv(context: &Context, file: &Path) -> Result<u8> {
    let ciphertext = std::fs::read(file).map_err(|e| Error::io("read", file, e))?;
    let text = if ciphertext.is_empty() {
        "secretsd vault: none\n".to_string()
    } else {
        let trust = Trust::new(context, Purpose::Values);
        match context
            .vault_with(trust.clone())
            .open_ciphertext(&ciphertext, context)
        {
            Ok(opened) => match trust.authenticity(&opened.version(), None)? {
                Authenticity::Genuine => as_text(&opened.document)?,
                Authenticity::Version1 => format!(
                    "secretsd vault: version 1, from before membership blocks: who wrote it is not verified\n{}",
                    as_text(&opened.document)?
                ),
                Authenticity::Not(why) => format!(
                    "secretsd vault: {} bytes of ciphertext; NOT GENUINE, not shown: {}\n",
                    ciphertext.len(),
                    crate::names::printable(&why, false)
                ),
            },
            // git needs text either way; say why there is nothing to show.
            Err(e) => format!(
                "secretsd vault: {} bytes of ciphertext; not shown: {e}\n",
                ciphertext.len()
            ),
        }
    };
    // git shows it in a terminal: names, member names and labels are any member's text.
    print_report(&text)?;
    SUCCESS
}

pub fn diff(context: &Context, reference: &str) -> Result<u8> {
    let (root, relative) = repository(context)?;
    let trust = Trust::new(context, Purpose::Values);
    let vault = context.vault_with(trust.clone());
    let now = vault.open(context)?;
    let old = git(&root, &["show", &format!("{reference}:{relative}")]).unwrap_or_default();
    let then = if old.is_empty() {
        now.document.empty_like()
    } else {
        let then = vault.open_ciphertext(&old, context)?;
        trust
            .check_history(&then.version(), vault_id(&now.document).as_deref())
            .map_err(|why| {
                Error::LockedOut(format!(
                    "{relative} at {reference} is not a genuine version of this vault: {why}"
                ))
            })?;
        then.document
    };
    if let Some(why) = missing_setup(context) {
        context.note(&why);
    }
    let difference = Difference::between(&then, &now.document)?;
    if difference.is_empty() {
        context.note(&format!("no change to {relative} since {reference}"));
        return SUCCESS;
    }
    print_report(&difference.report(&now.document))?;
    SUCCESS
}

/// The id a document's membership block names.
fn vault_id(document: &Document) -> Option<String> {
    document
        .membership()
        .and_then(|j| Membership::parse(j).ok())
        .map(|b| b.body.vault_id)
}
