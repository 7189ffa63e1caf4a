//! `vault edit`: the secrets as a .env text (or one value as it is) in the user's editor,
//! applied as one change through the vault's ordinary write.
//!
//! The plaintext exists only in a new private directory on a tmpfs (`scratch`), removed
//! when the edit ends however it ends: the editor failing, an error, or SIGINT, SIGTERM or
//! SIGHUP to vault (a thread waits for those, removes the directory and ends vault and the
//! editor). Only a SIGKILL leaves it, in memory, until the tmpfs goes (logout, reboot).
//!
//! The editor is `$VISUAL`, else `$EDITOR`, else `vi` on a terminal, run by `/bin/sh` as git
//! runs it (so `EDITOR="vim -n"` works) with the file's path as its one argument — never a
//! value. It keeps vault's zero core-file limit (a core dump of an editor holding the text
//! would be plaintext on disk) and is killed if vault ends first. Without a terminal the
//! editor still runs: it may be a program (a script, `sed -i`), which is how automation and
//! tests drive `vault edit`; vault itself never asks anything then, and a text it cannot
//! read aborts the edit with nothing changed.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::cli::EditArgs;
use crate::commands::{Context, SUCCESS, ask, print_stderr};
use crate::error::{Error, Result};
use crate::formats::dotenv;
use crate::names::{MAX_VALUE_BYTES, validate_name, validate_value};
use crate::scratch::{self, Place, ScratchDir};
use crate::store::Change;
use crate::store::document::{Document, timestamp_now};

/// The first lines of the text of all secrets; comments, so the reader skips them.
const HEADER: &str = "\
# vault edit: one NAME=value per line (.env syntax, as 'vault import' reads it).
# Change a value, add a line, or delete a line to remove that secret; save and quit to
# apply it all as one change ('vault restore --latest' undoes it). Quit without saving to
# change nothing. This file is removed when the edit ends.
";

pub fn edit(context: &Context, args: &EditArgs) -> Result<u8> {
    if let Some(name) = &args.name {
        validate_name(name)?;
    }
    let editor = editor_command(context)?;
    // Where the plaintext may go is settled before the vault is opened.
    let place = scratch::choose(args.allow_disk)?;
    let opened = context.vault().open(context)?;
    let original = original_values(&opened.document, args.name.as_deref())?;
    drop(opened);
    let text = match &args.name {
        Some(name) => single_text(original.get(name)),
        None => all_text(&original)?,
    };

    let parent = match &place {
        Place::Memory(path) => path.clone(),
        Place::Disk(path) => {
            context.note(&format!(
                "warning: no tmpfs found; the plaintext is on disk in {} for the length of the edit (--allow-disk)",
                path.display()
            ));
            path.clone()
        }
    };
    watch_signals()?;
    // Made and recorded under the lock the signal thread takes, so a signal finds it.
    let scratch = {
        let mut active = active_dir();
        let scratch = ScratchDir::new_in(&parent)?;
        *active = Some(scratch.path().to_path_buf());
        scratch
    };
    let file_name = match &args.name {
        Some(name) => name.clone(),
        None => "secrets.env".to_string(),
    };
    let result = (|| {
        let file = scratch.write_new(&file_name, text.as_bytes())?;
        context.explain(&format!("editing {}", file.display()));
        edit_until_readable(context, &editor, &file, &text, args.name.as_deref())
    })();
    // The plaintext goes before anything else happens: the write below needs only memory.
    {
        let mut active = active_dir();
        drop(scratch);
        *active = None;
    }
    let Some(edited) = result? else {
        context.note("nothing changed");
        return SUCCESS;
    };
    let changes = diff(&original, &edited, args.name.is_some());
    if changes.is_empty() {
        context.note("nothing changed");
        return SUCCESS;
    }
    apply(context, &original, &changes)
}

/// `$VISUAL`, `$EDITOR`, else `vi` when there is a terminal to run it on.
fn editor_command(context: &Context) -> Result<String> {
    for variable in ["VISUAL", "EDITOR"] {
        if let Ok(value) = std::env::var(variable)
            && !value.trim().is_empty()
        {
            context.explain(&format!("editor from ${variable}"));
            return Ok(value);
        }
    }
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return Ok("vi".to_string());
    }
    Err(Error::Usage(
        "no editor: set VISUAL or EDITOR (a program that edits the file named by its argument, e.g. EDITOR='vim -n')".into(),
    ))
}

/// The values the edit starts from: all secrets, or the one named (absent when new).
fn original_values(
    document: &Document,
    only: Option<&str>,
) -> Result<BTreeMap<String, SecretString>> {
    let mut values = BTreeMap::new();
    for entry in document.entries() {
        let (name, entry) = entry?;
        if only.is_none_or(|only| only == name) {
            let value = SecretString::from(entry.value().expose_secret().to_string());
            values.insert(name.to_string(), value);
        }
    }
    Ok(values)
}

/// One value as it is, and a line break an editor would add anyway.
fn single_text(value: Option<&SecretString>) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::new());
    if let Some(value) = value {
        text.push_str(value.expose_secret());
        text.push('\n');
    }
    text
}

/// Every secret as `NAME=value` lines vault reads back exactly; a value no .env quoting
/// can carry is named, and the edit refused before any plaintext is written.
fn all_text(values: &BTreeMap<String, SecretString>) -> Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::from(HEADER));
    let mut problems = Vec::new();
    for (name, value) in values {
        if let Err(e) = dotenv::write_literal(name, value.expose_secret(), &mut text) {
            problems.push(e.to_string());
        }
    }
    if !problems.is_empty() {
        return Err(Error::BadData(format!(
            "cannot show these values in a .env text:\n  {}\nedit each on its own with 'vault edit NAME'",
            problems.join("\n  ")
        )));
    }
    Ok(text)
}

/// What the edit gives: `None` when the text was saved as it was, else the values it
/// holds.
type Edited = Option<BTreeMap<String, SecretString>>;

/// Runs the editor until it leaves a text vault can read. A text that cannot be read is
/// opened again when vault may ask, else the edit stops with the reasons, changing nothing.
fn edit_until_readable(
    context: &Context,
    editor: &str,
    file: &Path,
    original: &str,
    single: Option<&str>,
) -> Result<Edited> {
    loop {
        run_editor(editor, file)?;
        let bytes = Zeroizing::new(std::fs::read(file).map_err(|e| {
            Error::io(
                "read the edited text back (was it moved or deleted?) from",
                file,
                e,
            )
        })?);
        if bytes.as_slice() == original.as_bytes() {
            return Ok(None);
        }
        let problems = match read_edited(&bytes, single) {
            Ok(values) => return Ok(Some(values)),
            Err(problems) => problems,
        };
        let message = format!(
            "the edited text cannot be read:\n  {}",
            problems.join("\n  ")
        );
        if !context.can_prompt() {
            return Err(Error::BadData(format!("{message}\nnothing changed")));
        }
        print_stderr(&message);
        let answer = ask("Edit again? [Y/n] ")?;
        // No answer at all (end of input) is no, too.
        let no = !answer.ends_with('\n')
            || answer.trim().eq_ignore_ascii_case("n")
            || answer.trim().eq_ignore_ascii_case("no");
        if no {
            return Err(Error::Failed(
                "the edit was abandoned; nothing changed".into(),
            ));
        }
    }
}

/// The values of an edited text, or what is wrong with it (line numbers and names, never
/// the text).
fn read_edited(
    bytes: &[u8],
    single: Option<&str>,
) -> std::result::Result<BTreeMap<String, SecretString>, Vec<String>> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Err(vec!["it is not UTF-8 text".into()]);
    };
    if bytes.len() > 64 * MAX_VALUE_BYTES {
        return Err(vec![format!(
            "it is larger than {} MiB",
            64 * MAX_VALUE_BYTES / (1024 * 1024)
        )]);
    }
    let mut values = BTreeMap::new();
    let mut problems = Vec::new();
    if let Some(name) = single {
        // The one line break the text was given (an editor adds it anyway); a CR before it
        // is part of the value.
        let value = text.strip_suffix('\n').unwrap_or(text);
        if value.is_empty() {
            problems.push(format!(
                "the value of {name} is empty; to remove the secret, run 'vault rm {name}'"
            ));
        } else if let Err(e) = validate_value(name, value) {
            problems.push(e.to_string());
        }
        values.insert(name.to_string(), SecretString::from(value.to_string()));
    } else {
        match dotenv::parse(text) {
            Err(errors) => {
                for error in errors {
                    problems.push(format!("line {}: {}", error.line, error.message));
                }
            }
            Ok(assignments) => {
                for assignment in assignments {
                    if let Err(e) =
                        validate_value(&assignment.name, assignment.value.expose_secret())
                    {
                        problems.push(format!("line {}: {e}", assignment.line));
                        continue;
                    }
                    let line = assignment.line;
                    match values.entry(assignment.name) {
                        std::collections::btree_map::Entry::Occupied(taken) => {
                            problems.push(format!(
                                "line {line}: {} is given more than once",
                                taken.key()
                            ));
                        }
                        std::collections::btree_map::Entry::Vacant(slot) => {
                            slot.insert(assignment.value);
                        }
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(values)
    } else {
        Err(problems)
    }
}

/// Runs `sh -c 'exec EDITOR "$@"' vault-edit FILE` and waits for it.
fn run_editor(editor: &str, file: &Path) -> Result<()> {
    let mut command = std::process::Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(format!("exec {editor} \"$@\""))
        .arg("vault-edit")
        .arg(file);
    // Not restore_core_limit: vault's limit of zero stays, so the editor, which holds the
    // plaintext, leaves no core file. And it ends with vault.
    crate::process::prepare_child(
        &mut command,
        crate::process::ChildSetup {
            core_limit: false,
            die_with_parent: true,
        },
    );
    let status = command
        .status()
        .map_err(|e| Error::Failed(format!("cannot start the editor ({editor}): {e}")))?;
    if !status.success() {
        return Err(Error::Failed(format!(
            "the editor ({editor}) failed ({status}); nothing changed"
        )));
    }
    Ok(())
}

/// One name's fate in an edit.
enum Edit {
    Set(SecretString),
    Remove,
}

/// What the edit changes against what it started from. In the text of all secrets, a name
/// that is gone was deleted; editing one value never removes it.
fn diff(
    original: &BTreeMap<String, SecretString>,
    edited: &BTreeMap<String, SecretString>,
    single: bool,
) -> BTreeMap<String, Edit> {
    let mut changes = BTreeMap::new();
    for (name, value) in edited {
        let same = original
            .get(name)
            .is_some_and(|old| old.expose_secret() == value.expose_secret());
        if !same {
            let value = SecretString::from(value.expose_secret().to_string());
            changes.insert(name.clone(), Edit::Set(value));
        }
    }
    if !single {
        for name in original.keys() {
            if !edited.contains_key(name) {
                changes.insert(name.clone(), Edit::Remove);
            }
        }
    }
    changes
}

/// Writes the changes as one change of the vault. A secret someone else changed while the
/// editor was open is not overwritten: the edit is refused, naming it.
fn apply(
    context: &Context,
    original: &BTreeMap<String, SecretString>,
    changes: &BTreeMap<String, Edit>,
) -> Result<u8> {
    let names: Vec<String> = changes.keys().cloned().collect();
    let (report, backup) = context.vault().update(
        context,
        &context.config.backup,
        Change {
            operation: "edit",
            keep_access: false,
        },
        |document| {
            let mut moved = Vec::new();
            for name in changes.keys() {
                let now = document.get(name)?.map(|e| e.value().expose_secret());
                let then = original.get(name).map(|v| v.expose_secret());
                if now != then {
                    moved.push(name.as_str());
                }
            }
            if !moved.is_empty() {
                return Err(Error::Failed(format!(
                    "{} changed in the vault while the editor was open; nothing changed, edit again",
                    moved.join(", ")
                )));
            }
            let now = timestamp_now();
            let mut report = Vec::new();
            for (name, change) in changes {
                match change {
                    Edit::Set(value) => {
                        let verb = if original.contains_key(name) {
                            "updated"
                        } else {
                            "added"
                        };
                        let value = SecretString::from(value.expose_secret().to_string());
                        document.set(name, value, None, &now)?;
                        report.push(format!("{verb} {name}"));
                    }
                    Edit::Remove => {
                        document.remove(name)?;
                        report.push(format!("removed {name}"));
                    }
                }
            }
            Ok((report, Some(names.clone())))
        },
    )?;
    for line in &report {
        context.note(line);
    }
    // A grant holding a changed (or removed) name gets what the vault has now.
    crate::commands::agent::refresh_grants(context, &changes.keys().cloned().collect::<Vec<_>>());
    if let Some(backup) = backup {
        context.explain(&format!(
            "backup of the previous vault: {}",
            backup.display()
        ));
    }
    SUCCESS
}

/// The scratch directory in use, for the signal thread to remove.
static ACTIVE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// The lock on [`ACTIVE`]. A panic while holding it leaves nothing half-done (it guards
/// one path), so a poisoned lock is used as it is.
fn active_dir() -> std::sync::MutexGuard<'static, Option<PathBuf>> {
    ACTIVE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// From now on SIGINT, SIGTERM and SIGHUP remove the scratch directory, if one is in use,
/// and end vault (128 + the signal, as the shell reports a signal); the editor, tied to
/// vault by PDEATHSIG, ends with it.
fn watch_signals() -> Result<()> {
    static STARTED: OnceLock<bool> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        else {
            return false;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                // Held until vault exits: the main thread makes no new directory meanwhile.
                let mut active = active_dir();
                let name = match signal {
                    SIGINT => "SIGINT",
                    SIGTERM => "SIGTERM",
                    _ => "SIGHUP",
                };
                match active.take() {
                    Some(dir) => {
                        scratch::wipe_and_remove(&dir);
                        print_stderr(&format!(
                            "{name}: the edit was stopped and its plaintext removed; nothing changed"
                        ));
                    }
                    None => print_stderr(&format!("{name}: stopped")),
                }
                std::process::exit(128 + signal);
            }
        });
        true
    });
    if *started {
        Ok(())
    } else {
        // Without the watcher a signal would leave the plaintext behind: no edit then.
        Err(Error::Failed(
            "cannot watch for signals, which vault edit needs to remove its plaintext when stopped"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretString> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), SecretString::from(v.to_string())))
            .collect()
    }

    #[test]
    fn the_text_of_all_secrets_reads_back_as_it_was() {
        let original = values(&[
            ("PLAIN", "abc"),
            ("MULTI", "line one\nline \"two\" it's\n"),
            ("DOLLAR", "x${HOME}y"),
            ("CR", "a\rb"),
        ]);
        let text = all_text(&original).unwrap();
        let read = read_edited(text.as_bytes(), None).ok().unwrap();
        assert!(diff(&original, &read, false).is_empty());
    }

    #[test]
    fn a_diff_names_what_was_added_changed_and_removed() {
        let original = values(&[("A", "1"), ("B", "2"), ("C", "3")]);
        let edited = values(&[("A", "1"), ("B", "20"), ("D", "4")]);
        let changes = diff(&original, &edited, false);
        let kinds: Vec<(&str, bool)> = changes
            .iter()
            .map(|(n, c)| (n.as_str(), matches!(c, Edit::Remove)))
            .collect();
        assert_eq!(kinds, [("B", false), ("C", true), ("D", false)]);
        assert!(diff(&original, &values(&[("B", "2")]), true).is_empty());
    }

    #[test]
    fn an_unreadable_text_is_described_without_its_content() {
        let problems = read_edited(b"A=1\nnot-a-line secret-word\nA=2\n", None)
            .err()
            .unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let all = problems.join(" ");
        assert!(
            all.contains("line 2") && !all.contains("secret-word"),
            "{all}"
        );
        let problems = read_edited(b"A=1\nA=2\n", None).err().unwrap();
        assert!(problems[0].contains("A is given more than once"));
        assert!(read_edited(b"\n", Some("A")).is_err());
        assert_eq!(
            read_edited(b"two\nlines\n", Some("A")).ok().unwrap()["A"].expose_secret(),
            "two\nlines"
        );
    }
}
