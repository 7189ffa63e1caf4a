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
use crate::commands::{Context, SUCCESS, print_stdout, read_stdin_limited};
use crate::error::{Error, Result, exit};
use crate::merge::{Resolution, merge};
use crate::names::{MAX_VALUE_BYTES, validate_name, validate_value};
use crate::store::document::{Document, timestamp_now};
use crate::store::fs::{parent_dir, write_atomic};
use crate::store::{Opened, Vault};
use crate::value::mask;

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

/// Runs git in `dir`; its stdout, or an error naming what failed.
fn git(dir: &Path, args: &[&str]) -> Result<Vec<u8>> {
    let output = Command::new("git")
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

/// A vault as text for git's diff: recipients and one line per secret, values masked.
fn as_text(document: &Document) -> Result<String> {
    let mut out = format!(
        "secretsd vault: {} secrets, {} recipients\n",
        document.len(),
        document.recipients.len()
    );
    for recipient in &document.recipients {
        out.push_str(&format!("recipient {recipient}\n"));
    }
    for entry in document.entries() {
        let (name, entry) = entry?;
        let fingerprint = document
            .fingerprint(name, entry.value())
            .map(|f| format!("fingerprint {f}, "))
            .unwrap_or_default();
        out.push_str(&format!(
            "{name} = {} ({fingerprint}updated {})\n",
            mask(entry.value()),
            crate::names::printable(&entry.updated, false)
        ));
    }
    Ok(out)
}

fn textconv(context: &Context, file: &Path) -> Result<u8> {
    let ciphertext = std::fs::read(file).map_err(|e| Error::io("read", file, e))?;
    let text = if ciphertext.is_empty() {
        "secretsd vault: none\n".to_string()
    } else {
        match context.vault().open_ciphertext(&ciphertext, context) {
            Ok(opened) => as_text(&opened.document)?,
            // git needs text either way; say why there is nothing to show.
            Err(e) => format!(
                "secretsd vault: {} bytes of ciphertext; not shown: {e}\n",
                ciphertext.len()
            ),
        }
    };
    print_stdout(&text)?;
    SUCCESS
}

pub fn diff(context: &Context, reference: &str) -> Result<u8> {
    let (root, relative) = repository(context)?;
    let now = context.vault().open(context)?;
    let old = git(&root, &["show", &format!("{reference}:{relative}")]).unwrap_or_default();
    let then = if old.is_empty() {
        now.document.empty_like()
    } else {
        context.vault().open_ciphertext(&old, context)?.document
    };
    let difference = Difference::between(&then, &now.document)?;
    if difference.is_empty() {
        context.note(&format!("no change to {relative} since {reference}"));
        return SUCCESS;
    }
    print_stdout(&difference.report(&now.document))?;
    SUCCESS
}

/// A merge that stopped, kept under `.git/secretsd-merge/`.
#[derive(Serialize, Deserialize)]
struct Pending {
    /// The vault's path in the work tree.
    path: String,
    conflicts: Vec<String>,
    /// Settled so far: "ours" or "theirs" (values typed are in `values.age`).
    resolutions: BTreeMap<String, String>,
}

fn pending_dir(root: &Path) -> Result<PathBuf> {
    let git_dir = git_text(root, &["rev-parse", "--absolute-git-dir"])?;
    Ok(PathBuf::from(git_dir).join("secretsd-merge"))
}

fn open_side(context: &Context, ciphertext: &[u8], template: &Opened) -> Result<Document> {
    if ciphertext.is_empty() {
        return Ok(template.document.empty_like());
    }
    Ok(context
        .vault()
        .open_ciphertext(ciphertext, context)?
        .document)
}

fn merge_driver(
    context: &Context,
    base: &Path,
    ours: &Path,
    theirs: &Path,
    path: &str,
) -> Result<u8> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| Error::io("read", p, e));
    let (base_text, ours_text, theirs_text) = (read(base)?, read(ours)?, read(theirs)?);
    let vault = context.vault();
    let ours_opened = vault.open_ciphertext(&ours_text, context)?;
    let base_doc = open_side(context, &base_text, &ours_opened)?;
    let theirs_doc = open_side(context, &theirs_text, &ours_opened)?;
    let merged = merge(
        &base_doc,
        &ours_opened.document,
        &theirs_doc,
        &BTreeMap::new(),
        &timestamp_now(),
    )?;
    if merged.conflicts.is_empty() {
        let sealed = vault.seal_as(
            &merged.document,
            &ours_opened.protection,
            ours_opened.armored,
        )?;
        write_atomic(ours, &sealed, false)?;
        return SUCCESS;
    }
    // Stopped: keep the three ciphertexts (nothing in plaintext), leave ours in place.
    let here = std::env::current_dir().unwrap_or_default();
    let root = PathBuf::from(git_text(&here, &["rev-parse", "--show-toplevel"])?);
    let dir = pending_dir(&root)?;
    crate::store::fs::ensure_private_dir(&dir)?;
    write_atomic(&dir.join("base.age"), &base_text, false)?;
    write_atomic(&dir.join("ours.age"), &ours_text, false)?;
    write_atomic(&dir.join("theirs.age"), &theirs_text, false)?;
    let _ = std::fs::remove_file(dir.join("values.age"));
    let pending = Pending {
        path: path.to_string(),
        conflicts: merged.conflicts.clone(),
        resolutions: BTreeMap::new(),
    };
    write_atomic(
        &dir.join("state.json"),
        &serde_json::to_vec_pretty(&pending).map_err(|e| Error::Failed(e.to_string()))?,
        false,
    )?;
    crate::commands::print_stderr(&format!(
        "{path}: secrets changed on both branches: {}; settle each with 'vault merge --resolve NAME --ours|--theirs|--value-from-stdin'",
        merged.conflicts.join(", ")
    ));
    Ok(exit::ERROR)
}

pub fn resolve(context: &Context, args: &MergeArgs) -> Result<u8> {
    let (root, relative) = repository(context)?;
    let dir = pending_dir(&root)?;
    let state_path = dir.join("state.json");
    let mut pending: Pending = match std::fs::read(&state_path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| Error::BadData(format!("{}: {e}", state_path.display())))?,
        Err(_) => {
            return Err(Error::NotFound(format!(
                "no merge of {relative} is waiting to be settled"
            )));
        }
    };
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| Error::io("read", &p, e))
    };
    let vault = context.vault();
    let ours = vault.open_ciphertext(&read("ours.age")?, context)?;
    let base = open_side(context, &read("base.age")?, &ours)?;
    let theirs = open_side(context, &read("theirs.age")?, &ours)?;
    // Values typed for earlier conflicts, kept encrypted between calls.
    let mut typed: BTreeMap<String, String> = match std::fs::read(dir.join("values.age")) {
        Ok(sealed) => {
            let plain = vault.unseal_plaintext(&sealed, context)?;
            serde_json::from_slice(&plain)
                .map_err(|e| Error::BadData(format!("the values typed for the merge: {e}")))?
        }
        Err(_) => BTreeMap::new(),
    };
    let Some(name) = &args.resolve else {
        let open: Vec<&String> = pending
            .conflicts
            .iter()
            .filter(|c| !pending.resolutions.contains_key(*c) && !typed.contains_key(*c))
            .collect();
        let text: String = open.iter().map(|c| format!("{c}\n")).collect();
        print_stdout(&text)?;
        return SUCCESS;
    };
    validate_name(name)?;
    if !pending.conflicts.contains(name) {
        return Err(Error::Usage(format!(
            "{name} is not in conflict; the conflicts are {}",
            pending.conflicts.join(", ")
        )));
    }
    if args.value_from_stdin {
        let bytes = read_stdin_limited(MAX_VALUE_BYTES + 2)?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::BadData(format!("the value for {name} is not UTF-8")))?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        validate_value(name, text)?;
        typed.insert(name.clone(), text.to_string());
        pending.resolutions.remove(name);
    } else if args.ours || args.theirs {
        pending.resolutions.insert(
            name.clone(),
            if args.ours { "ours" } else { "theirs" }.into(),
        );
        typed.remove(name);
    } else {
        return Err(Error::Usage(
            "say how: --ours, --theirs or --value-from-stdin".into(),
        ));
    }
    let mut resolutions: BTreeMap<String, Resolution> = pending
        .resolutions
        .iter()
        .map(|(n, side)| {
            let side = if side == "ours" {
                Resolution::Ours
            } else {
                Resolution::Theirs
            };
            (n.clone(), side)
        })
        .collect();
    for (n, value) in &typed {
        resolutions.insert(
            n.clone(),
            Resolution::Value(SecretString::from(value.clone())),
        );
    }
    let merged = merge(
        &base,
        &ours.document,
        &theirs,
        &resolutions,
        &timestamp_now(),
    )?;
    if !merged.conflicts.is_empty() {
        // Keep the choice for the next call: sides in the state, values encrypted.
        let json =
            Zeroizing::new(serde_json::to_vec(&typed).map_err(|e| Error::Failed(e.to_string()))?);
        let sealed = Vault::seal_plaintext(&json, &ours.document.recipients, &ours.protection)?;
        write_atomic(&dir.join("values.age"), &sealed, false)?;
        write_atomic(
            &state_path,
            &serde_json::to_vec_pretty(&pending).map_err(|e| Error::Failed(e.to_string()))?,
            false,
        )?;
        context.note(&format!(
            "settled {name}; still in conflict: {}",
            merged.conflicts.join(", ")
        ));
        return SUCCESS;
    }
    let sealed = vault.seal_as(&merged.document, &ours.protection, ours.armored)?;
    write_atomic(&root.join(&pending.path), &sealed, false)?;
    let _ = std::fs::remove_dir_all(&dir);
    context.note(&format!(
        "every conflict is settled and {} is merged; now: git add {} && git commit",
        pending.path, pending.path
    ));
    SUCCESS
}
