//! `vault backup` and `vault restore`: encrypted backups made on demand, listed, and put
//! back — the vault and the files a rotation rewrote — through the same locked, atomic
//! write path as every change, after backing up what is replaced.

use std::collections::BTreeSet;
use std::path::Path;

use age::secrecy::ExposeSecret;
use serde_json::json;

use crate::cli::{BackupArgs, RestoreArgs};
use crate::commands::{Context, SUCCESS, print_stdout};
use crate::error::{Error, Result};
use crate::store::backup::{self, Backup, Record, SavedFile, SealedFiles};
use crate::store::document::Document;
use crate::store::files::{self, LockedFiles};
use crate::store::strict::{Owner, SecretTarget, secret_mode};
use crate::value::mask;

pub fn backup(context: &Context, args: &BackupArgs) -> Result<u8> {
    if args
        .note
        .as_deref()
        .is_some_and(|n| n.chars().any(char::is_control))
    {
        return Err(Error::Usage(
            "a backup note is one line of text without control characters".into(),
        ));
    }
    let vault = context.vault();
    let transaction = vault.begin(context)?;
    if let Some(path) = &args.output {
        return backup_to(context, &transaction, path);
    }
    let mut policy = context.config.backup.clone();
    // Asked for explicitly, so made even where automatic backups are turned off.
    policy.enabled = true;
    let saved = transaction
        .backup(
            &policy,
            &Record {
                operation: "backup",
                note: args.note.as_deref(),
                ..Default::default()
            },
        )?
        .ok_or_else(|| Error::Failed("no backup was made".into()))?;
    print_stdout(&format!("{}\n", saved.id))?;
    context.note(&format!("backed up the vault as {}", saved.path.display()));
    SUCCESS
}

/// `vault backup --output FILE`: the vault's ciphertext, as read under the writer lock,
/// into FILE — checked and written as `export -o` writes (a missing directory made 0700;
/// no link, file or directory another user controls; 0600, atomically). It is ciphertext,
/// but a copy of who may read the vault all the same.
fn backup_to(
    context: &Context,
    transaction: &crate::store::Transaction,
    path: &Path,
) -> Result<u8> {
    let dir = crate::store::fs::parent_dir(path);
    if !dir.exists() {
        crate::store::fs::ensure_private_dir(&dir)?;
    }
    let target = SecretTarget::check(path, None)?;
    let vault = std::fs::canonicalize(&context.vault_location.path)
        .unwrap_or_else(|_| context.vault_location.path.clone());
    if target.path == vault {
        return Err(Error::Usage(format!(
            "{} is the vault itself; name another file for its backup",
            path.display()
        )));
    }
    crate::store::fs::write_atomic_as(
        &target.path,
        &transaction.ciphertext()?,
        false,
        0o600,
        None,
    )?;
    print_stdout(&format!("{}\n", target.path.display()))?;
    context.note(&format!(
        "backed up the vault to {} (encrypted, mode 0600); to restore it, copy it over {}",
        target.path.display(),
        context.vault_location.path.display()
    ));
    SUCCESS
}

pub fn restore(context: &Context, args: &RestoreArgs) -> Result<u8> {
    let vault_path = &context.vault_location.path;
    if args.list {
        return list(context, args.json);
    }
    let backup = match &args.backup {
        Some(id) => backup::find(vault_path, id)?,
        None => backup::list(vault_path)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "there are no backups of {} yet",
                    vault_path.display()
                ))
            })?,
    };
    let restored = restore_backup(context, &backup, !args.no_files, args.dry_run)?;
    if args.dry_run {
        context.note("dry run: nothing was changed");
        return SUCCESS;
    }
    if !restored.changed {
        // Said already: the vault and its files match the backup.
        return SUCCESS;
    }
    match &restored.undo {
        Some(undo) => context.note(&format!(
            "restored backup {}; to undo: vault restore --backup {undo}",
            backup.id
        )),
        None => context.note(&format!("restored backup {}", backup.id)),
    }
    SUCCESS
}

fn list(context: &Context, as_json: bool) -> Result<u8> {
    let backups = backup::list(&context.vault_location.path)?;
    if as_json {
        let items: Vec<serde_json::Value> = backups
            .iter()
            .map(|b| {
                json!({
                    "id": b.id,
                    "created": b.metadata.created,
                    "operation": b.metadata.operation,
                    "names": b.metadata.names,
                    "note": b.metadata.note,
                    "services": b.metadata.services,
                    "files": b.metadata.files,
                    "path": b.path,
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&items)
            .map_err(|e| Error::Failed(format!("cannot write JSON: {e}")))?;
        return print_stdout(&format!("{text}\n")).map(|()| crate::error::exit::OK);
    }
    if backups.is_empty() {
        context.note(&format!(
            "no backups of {} yet",
            context.vault_location.path.display()
        ));
        return SUCCESS;
    }
    let mut out = String::new();
    for b in &backups {
        let mut names = b.metadata.names.join(",");
        if names.is_empty() {
            names.push('-');
        }
        out.push_str(&format!(
            "{:20} {:20} {:16} {}",
            b.id, b.metadata.created, b.metadata.operation, names
        ));
        if !b.metadata.files.is_empty() {
            out.push_str(&format!("  files: {}", b.metadata.files.join(",")));
        }
        if let Some(note) = &b.metadata.note {
            out.push_str(&format!("  note: {note}"));
        }
        out.push('\n');
    }
    // A record is a file anyone with write access to the directory (or a git branch) may
    // have put there: nothing in it drives the terminal.
    print_stdout(&crate::names::printable(&out, true))?;
    SUCCESS
}

/// What a restore changed.
pub struct Restored {
    /// The backup of the state the restore replaced, which undoes it.
    pub undo: Option<String>,
    /// The files put back.
    pub files: Vec<String>,
    /// Whether anything was written (a vault that already matches is left as it is).
    pub changed: bool,
}

/// Which secrets differ between the vault now and a backup.
pub(super) struct Difference {
    added: Vec<String>,
    changed: Vec<String>,
    removed: Vec<String>,
    recipients_added: Vec<String>,
    recipients_removed: Vec<String>,
}

impl Difference {
    /// What going from `now` to `then` changes.
    pub(super) fn between(now: &Document, then: &Document) -> Result<Difference> {
        let now_names: BTreeSet<&str> = now.names().collect();
        let then_names: BTreeSet<&str> = then.names().collect();
        let recipients = |a: &Document, b: &Document| -> Vec<String> {
            a.recipients
                .iter()
                .filter(|r| !b.recipients.contains(r))
                .cloned()
                .collect()
        };
        let mut changed = Vec::new();
        for entry in now.entries() {
            let (name, entry) = entry?;
            if then
                .get(name)?
                .is_some_and(|old| old.value().expose_secret() != entry.value().expose_secret())
            {
                changed.push(name.to_string());
            }
        }
        Ok(Difference {
            added: then_names
                .difference(&now_names)
                .map(|n| n.to_string())
                .collect(),
            removed: now_names
                .difference(&then_names)
                .map(|n| n.to_string())
                .collect(),
            changed,
            recipients_added: recipients(then, now),
            recipients_removed: recipients(now, then),
        })
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = [&self.added, &self.changed, &self.removed]
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// The same without recipients: what a restore changes, which keeps the membership.
    fn secrets_only(mut self) -> Difference {
        self.recipients_added.clear();
        self.recipients_removed.clear();
        self
    }

    pub(super) fn is_empty(&self) -> bool {
        self.names().is_empty()
            && self.recipients_added.is_empty()
            && self.recipients_removed.is_empty()
    }

    /// One line per difference, values masked.
    pub(super) fn report(&self, then: &Document) -> String {
        let masked = |name: &str| {
            then.get(name)
                .ok()
                .flatten()
                .map(|e| mask(e.value()))
                .unwrap_or_default()
        };
        let mut out = String::new();
        for name in &self.added {
            out.push_str(&format!("add       {name} {}\n", masked(name)));
        }
        for name in &self.changed {
            out.push_str(&format!("change    {name} {}\n", masked(name)));
        }
        for name in &self.removed {
            out.push_str(&format!("remove    {name}\n"));
        }
        for r in &self.recipients_added {
            out.push_str(&format!("recipient + {r}\n"));
        }
        for r in &self.recipients_removed {
            out.push_str(&format!("recipient - {r}\n"));
        }
        out
    }
}

/// Whether the secrets of `then` (a backup) were written by someone who is a member of
/// `block` (the membership the restore writes under), or by this user: a member removed
/// since may have written what is there. A passphrase vault's backup (by its own header)
/// restores only into a passphrase vault.
fn written_by_a_member(
    block: &crate::store::membership::Membership,
    then: &crate::store::Opened,
    own: Option<&crate::store::signature::SigningKey>,
) -> std::result::Result<(), String> {
    let passphrase = then.header.stanzas.iter().any(|s| s.kind == "scrypt");
    if passphrase != block.body.passphrase {
        return Err("it is protected otherwise than the vault (a passphrase where members are, or the other way)".into());
    }
    if passphrase {
        return Ok(());
    }
    let crate::store::signature::Signed::Valid { writer } = &then.signed else {
        return Err("it is not signed".into());
    };
    let member = block.body.member_by_writer(writer).is_some();
    if member || own.is_some_and(|key| key.writer() == *writer) {
        return Ok(());
    }
    Err(format!(
        "it was written by {writer}, who is not a member of the vault now"
    ))
}

/// Puts `backup` back: its secrets and, with `with_files`, the files it holds, each
/// atomically with its mode and owner. The secrets are written as a new generation of the
/// vault under its current membership — never the backup's, which may list someone
/// removed since. The current vault and files are backed up first, so a restore can be
/// undone. A backup that does not open with the current key, or is not a genuine version
/// of this vault, is refused and nothing changes.
pub fn restore_backup(
    context: &Context,
    backup: &Backup,
    with_files: bool,
    dry_run: bool,
) -> Result<Restored> {
    if with_files && !dry_run {
        // The files it puts back are kept with its own backup, signed by this user.
        context.ensure_writer_key()?;
    }
    // The vault as it is now may be suspect — an old copy put back over it is what a
    // restore is for: its content goes, and the backup's is written under the newest
    // membership this machine trusts.
    let trust =
        crate::commands::trust::Trust::new(context, crate::commands::trust::Purpose::Accept);
    let vault = context.vault_with(trust.clone());
    let mut transaction = vault.begin(context)?;
    trust.put_trusted_membership(vault.path(), transaction.document_mut())?;
    let what = format!("the backup {}", backup.id);
    let ciphertext =
        std::fs::read(&backup.path).map_err(|e| Error::io("read the backup", &backup.path, e))?;
    let refuse = |e: secretsd_store::error::Error| match Error::from(e) {
        Error::LockedOut(_) => Error::LockedOut(format!(
            "the backup {} ({}) does not open with your identity or passphrase, so it cannot be restored; nothing was changed",
            backup.id,
            backup.path.display()
        )),
        other => other,
    };
    let then = transaction.open_bytes(&ciphertext, &what).map_err(refuse)?;
    // Written under the membership this machine trusts, and only as a version of that very
    // vault: a vault with none (a version-1 file at a place never seen) takes no restore.
    let block = transaction
        .document()
        .membership()
        .and_then(|json| crate::store::membership::Membership::parse(json).ok())
        .ok_or_else(|| {
            Error::LockedOut(format!(
                "the vault {} has no membership this machine trusts, so nothing can be restored into it; see 'vault verify'",
                vault.path().display()
            ))
        })?;
    trust
        .check_history(&then.version(), Some(&block.body.vault_id))
        .and_then(|()| written_by_a_member(&block, &then, transaction.signing_key()))
        .map_err(|why| {
            Error::LockedOut(format!(
                "the backup {} ({}) is not a genuine version of this vault: {why}; nothing was changed",
                backup.id,
                backup.path.display()
            ))
        })?;
    let then = then.document;
    let saved_files: Vec<SavedFile> = match backup.files_path().filter(|_| with_files) {
        Some(path) => {
            let sealed =
                std::fs::read(&path).map_err(|e| Error::io("read the backup", &path, e))?;
            let plaintext = transaction.unseal_bytes(&sealed, &what).map_err(refuse)?;
            // Files are this machine's, not the team's: only a bundle this user's vault
            // signed is put back (anyone can encrypt a bundle to the recipients, and a
            // backups directory can arrive through git).
            let own = transaction.signing_key().map(|k| k.writer());
            match own {
                Some(own)
                    if crate::store::signature::signed_by(
                        crate::store::signature::Domain::Files,
                        &plaintext,
                        &own,
                    ) => {}
                _ => {
                    return Err(Error::LockedOut(format!(
                        "the files in backup {} ({}) are not signed by you (written by an older vault, or put there by someone else); nothing was changed. Restore the vault alone with --no-files",
                        backup.id,
                        path.display()
                    )));
                }
            }
            backup::files_from_json(&plaintext, &what)?
        }
        None => Vec::new(),
    };
    let difference = Difference::between(transaction.document(), &then)?.secrets_only();
    // Each goes back to its owner as it was then (a service's env file that root
    // rewrote), checked like any file vault writes secrets into.
    let targets = saved_files
        .iter()
        .map(|f| SecretTarget::check(Path::new(&f.path), Some(&Owner::of_file(f.uid, f.gid))))
        .collect::<secretsd_store::error::Result<Vec<_>>>()?;
    let current = LockedFiles::lock(&targets, true, transaction.lock_wait())?;
    let stale: Vec<(&SavedFile, &SecretTarget)> = saved_files
        .iter()
        .zip(&targets)
        .filter(|(f, target)| {
            current
                .get(&target.path)
                .is_none_or(|now| now.content != f.content || now.mode != secret_mode(f.mode))
        })
        .collect();
    let mut report = format!(
        "backup {} ({}, {})\n",
        backup.id, backup.metadata.operation, backup.metadata.created
    );
    report.push_str(&difference.report(&then));
    for (file, _) in &stale {
        report.push_str(&format!("file      {}\n", file.path));
    }
    if dry_run {
        print_stdout(&crate::names::printable(&report, true))?;
        return Ok(Restored {
            undo: None,
            files: Vec::new(),
            changed: false,
        });
    }
    if difference.is_empty() && stale.is_empty() {
        context.note(&format!(
            "the vault and its files already match backup {}; nothing to restore",
            backup.id
        ));
        return Ok(Restored {
            undo: None,
            files: Vec::new(),
            changed: false,
        });
    }
    if !stale.is_empty() {
        let names: Vec<&str> = stale.iter().map(|(f, _)| f.path.as_str()).collect();
        context.note(&format!("restoring these files too: {}", names.join(", ")));
    }
    // What is about to be replaced, files included, goes into a backup of its own.
    let replaced_paths: Vec<String> = current.files.iter().map(|f| f.path.clone()).collect();
    let bundle = backup::files_to_json(&current.files, transaction.signing_key())?;
    let sealed_current = transaction.seal_bytes(&bundle)?;
    // Sealed before anything is saved: a restore this writer may not make leaves nothing.
    transaction.document_mut().replace_secrets(&then)?;
    let sealed = transaction.seal_document(false)?;
    let names = difference.names();
    let note = format!("before restoring {}", backup.id);
    let undo = transaction.backup(
        &context.config.backup,
        &Record {
            operation: "restore",
            names: &names,
            note: Some(&note),
            files: (!replaced_paths.is_empty()).then_some(SealedFiles {
                paths: &replaced_paths,
                ciphertext: &sealed_current,
            }),
            ..Default::default()
        },
    )?;
    transaction.write_sealed(sealed)?;
    let mut restored_files = Vec::new();
    for (file, target) in stale {
        let written = files::write(target, Some(file), &file.content).map_err(|e| {
            Error::Failed(format!(
                "the vault was restored from backup {}, but {} could not be: {e}; files restored before it: {}",
                backup.id,
                file.path,
                if restored_files.is_empty() { "none".to_string() } else { restored_files.join(", ") }
            ))
        })?;
        if let Some(notice) = written.notice(&target.path) {
            context.note(&notice);
        }
        restored_files.push(file.path.clone());
    }
    print_stdout(&crate::names::printable(&report, true))?;
    Ok(Restored {
        undo: undo.map(|u| u.id),
        files: restored_files,
        changed: true,
    })
}
