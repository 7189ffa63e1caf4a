//! `vault import` and `vault export`: moving secrets in and out as text.

use std::collections::BTreeSet;
use std::path::Path;

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::cli::{ExportArgs, ImportArgs};
use crate::commands::{Context, SUCCESS, print_report, print_stdout, read_stdin_limited};
use crate::error::{Error, Result};
use crate::formats::{self, dotenv};
use crate::names::{MAX_VALUE_BYTES, validate_name, validate_value};
use crate::store::Change;
use crate::store::document::timestamp_now;
use crate::store::files::{self, LockedFiles};
use crate::store::fs::{ensure_private_dir, parent_dir};
use crate::store::strict::{Owner, SecretTarget};
use crate::sync::{self, AllowList, Endpoint};
use crate::value::mask;

/// Reads a whole input file ('-' = stdin) into a buffer zeroed on drop.
fn read_input(path: &Path) -> Result<Zeroizing<String>> {
    let bytes = if path == Path::new("-") {
        read_stdin_limited(64 * MAX_VALUE_BYTES)?
    } else {
        Zeroizing::new(std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                Error::NotFound(format!("cannot read {}: no such file", path.display()))
            }
            _ => Error::io("read", path, e),
        })?)
    };
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| Error::BadData(format!("{} is not UTF-8 text", path.display())))?;
    Ok(Zeroizing::new(text))
}

fn source_name(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".into()
    } else {
        path.display().to_string()
    }
}

/// The (name, value) pairs an import brings, validated, in input order.
fn read_import(args: &ImportArgs) -> Result<Vec<(String, SecretString)>> {
    let pairs = if let Some(path) = &args.dotenv {
        let text = read_input(path)?;
        let source = source_name(path);
        dotenv::parse(&text)
            .map_err(|errors| {
                let lines: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{source}:{}: {}", e.line, e.message))
                    .collect();
                Error::BadData(format!(
                    "nothing imported; fix these lines:\n  {}",
                    lines.join("\n  ")
                ))
            })?
            .into_iter()
            .map(|a| (a.name, a.value))
            .collect()
    } else if let Some(path) = &args.json {
        let text = read_input(path)?;
        formats::parse_json(&text, &source_name(path))?
    } else {
        from_environment(&args.prefix)?
    };
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for (name, value) in &pairs {
        if let Err(e) =
            validate_name(name).and_then(|()| validate_value(name, value.expose_secret()))
        {
            problems.push(e.to_string());
        } else if !seen.insert(name.as_str()) {
            problems.push(format!("{name} is given more than once"));
        }
    }
    if !problems.is_empty() {
        return Err(Error::BadData(format!(
            "nothing imported:\n  {}",
            problems.join("\n  ")
        )));
    }
    Ok(pairs)
}

/// `SECRET_SLACK_WEBHOOK=…` in vault's environment becomes `SLACK_WEBHOOK`.
fn from_environment(prefix: &str) -> Result<Vec<(String, SecretString)>> {
    if prefix.is_empty() {
        return Err(Error::Usage(
            "--from-env needs a non-empty --prefix, or it would import the whole environment"
                .into(),
        ));
    }
    let mut pairs = Vec::new();
    for (name, value) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        let Some(stripped) = name.strip_prefix(prefix) else {
            continue;
        };
        let value = value
            .into_string()
            .map_err(|_| Error::BadData(format!("the value of ${name} is not UTF-8")))?;
        pairs.push((stripped.to_string(), SecretString::from(value)));
    }
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(pairs)
}

/// What an import does to one name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Plan {
    Add,
    Update,
    Unchanged,
    Skip,
}

pub fn import(context: &Context, args: &ImportArgs) -> Result<u8> {
    let pairs = read_import(args)?;
    if pairs.is_empty() {
        context.note("nothing to import");
        return SUCCESS;
    }
    let plan_for =
        |document: &crate::store::document::Document, name: &str, value: &SecretString| {
            Ok::<_, Error>(match document.get(name)? {
                None => Plan::Add,
                Some(e) if e.value().expose_secret() == value.expose_secret() => Plan::Unchanged,
                Some(_) if args.skip_existing => Plan::Skip,
                Some(_) => Plan::Update,
            })
        };
    let check_conflicts = |plans: &[(String, Plan)]| -> Result<()> {
        let conflicts: Vec<&str> = plans
            .iter()
            .filter(|(_, p)| *p == Plan::Update)
            .map(|(n, _)| n.as_str())
            .collect();
        if !args.overwrite && !conflicts.is_empty() {
            return Err(Error::Failed(format!(
                "nothing imported: these secrets exist already with other values: {}; pass --overwrite to replace them or --skip-existing to keep them",
                conflicts.join(", ")
            )));
        }
        Ok(())
    };
    let plans: Vec<(String, Plan)> = if args.dry_run {
        let opened = context.vault().open(context)?;
        let plans: Vec<(String, Plan)> = pairs
            .iter()
            .map(|(n, v)| Ok((n.clone(), plan_for(&opened.document, n, v)?)))
            .collect::<Result<_>>()?;
        let mut report = String::new();
        for ((name, plan), (_, value)) in plans.iter().zip(&pairs) {
            let verb = match plan {
                Plan::Add => "add",
                Plan::Update if args.overwrite => "update",
                Plan::Update => "conflict",
                Plan::Unchanged => "unchanged",
                Plan::Skip => "skip",
            };
            report.push_str(&format!("{verb:9} {name} {}\n", mask(value)));
        }
        print_report(&report)?;
        context.note("dry run: nothing was changed");
        return SUCCESS;
    } else {
        let (plans, _) = context.vault().update(
            context,
            &context.config.backup,
            Change {
                operation: "import",
                keep_access: false,
            },
            |document| {
                let plans: Vec<(String, Plan)> = pairs
                    .iter()
                    .map(|(n, v)| Ok((n.clone(), plan_for(document, n, v)?)))
                    .collect::<Result<_>>()?;
                check_conflicts(&plans)?;
                let now = timestamp_now();
                let mut touched = Vec::new();
                for ((name, plan), (_, value)) in plans.iter().zip(pairs) {
                    if matches!(plan, Plan::Add | Plan::Update) {
                        document.set(name, value, None, &now)?;
                        touched.push(name.clone());
                    }
                }
                let touched = (!touched.is_empty()).then_some(touched);
                Ok::<_, Error>((plans, touched))
            },
        )?;
        plans
    };
    let written: Vec<String> = plans
        .iter()
        .filter(|(_, p)| matches!(p, Plan::Add | Plan::Update))
        .map(|(n, _)| n.clone())
        .collect();
    crate::commands::agent::refresh_grants(context, &written);
    let count = |wanted: Plan| plans.iter().filter(|(_, p)| *p == wanted).count();
    context.note(&format!(
        "imported {} new, {} updated; {} unchanged, {} skipped",
        count(Plan::Add),
        count(Plan::Update),
        count(Plan::Unchanged),
        count(Plan::Skip)
    ));
    if let Some(given) = &args.manifest {
        let names: Vec<String> = plans.iter().map(|(n, _)| n.clone()).collect();
        add_to_manifest(context, given, &names)?;
    }
    SUCCESS
}

/// `import --manifest`: the imported names as `secret:` references in the project
/// manifest (the file given, else the nearest secretsd.toml, else a new one here).
fn add_to_manifest(context: &Context, given: &Path, names: &[String]) -> Result<()> {
    let path = if given == Path::new(crate::manifest::PROJECT_MANIFEST) {
        let here = std::env::current_dir()
            .map_err(|e| Error::Failed(format!("cannot tell the current directory: {e}")))?;
        crate::manifest::find_project_manifest(&here)?
            .unwrap_or_else(|| here.join(crate::manifest::PROJECT_MANIFEST))
    } else {
        // Written like a file that gets secrets (it is rewritten whole, by rename): never
        // through another user's link, nor in a directory others may write — there a
        // link of theirs to a file of yours had it replaced.
        SecretTarget::check(given, None)?.path
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            crate::manifest::PROJECT_TEMPLATE.to_string()
        }
        Err(e) => return Err(Error::io("read the manifest", &path, e)),
    };
    let (updated, added) = crate::manifest::add_secret_references(&text, names)?;
    if added.is_empty() {
        context.note(&format!(
            "{} sets every imported name already",
            path.display()
        ));
        return Ok(());
    }
    // References, not values: as readable as any project file, or as it was.
    let mode = std::fs::metadata(&path)
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o7777)
        .unwrap_or(0o644);
    crate::store::fs::write_atomic_with_mode(&path, updated.as_bytes(), false, mode)?;
    context.note(&format!(
        "added {} to {}; the .env file can go once 'vault check' passes",
        added.join(", "),
        path.display()
    ));
    Ok(())
}

/// The (name, value) pairs `--manifest` or `--from` give, filtered by `--only`.
fn export_from_elsewhere(
    context: &Context,
    args: &ExportArgs,
) -> Result<Vec<(String, SecretString)>> {
    if let Some(manifest) = &args.manifest {
        let loaded = crate::manifest::Manifest::load(&crate::manifest::locate(Some(manifest))?)?;
        if let Some(unknown) = args
            .only
            .iter()
            .find(|n| !loaded.bindings.iter().any(|b| &b.variable == *n))
        {
            return Err(Error::NotFound(format!(
                "--only names {unknown}, which {} does not set",
                manifest.display()
            )));
        }
        let bindings: Vec<_> = loaded
            .bindings_for(context.profile.as_deref())
            .into_iter()
            .filter(|b| args.only.is_empty() || args.only.contains(&b.variable))
            .collect();
        let resolved = context.with_resolver(|resolver| resolver.resolve_all(&bindings))?;
        return Ok(resolved
            .into_iter()
            .map(|r| (r.variable, r.value))
            .collect());
    }
    let sources = args
        .from
        .iter()
        .map(|s| Endpoint::parse(s))
        .collect::<Result<Vec<_>>>()?;
    let allow = AllowList::new(&args.only)?;
    let gathered = context.with_resolver(|resolver| sync::gather(resolver, &sources, &allow))?;
    if !gathered.missing.is_empty() {
        return Err(Error::NotFound(format!(
            "--only names {}, but no source has it",
            gathered.missing.join(", ")
        )));
    }
    Ok(gathered
        .values
        .into_iter()
        .map(|(name, sourced)| (name, sourced.value))
        .collect())
}

pub fn export(context: &Context, args: &ExportArgs) -> Result<u8> {
    let elsewhere;
    let opened;
    let mut selected: Vec<(&str, &SecretString)> = Vec::new();
    if args.manifest.is_some() || !args.from.is_empty() {
        elsewhere = export_from_elsewhere(context, args)?;
        selected.extend(elsewhere.iter().map(|(n, v)| (n.as_str(), v)));
    } else {
        opened = {
            let mut opened = context.vault().open(context)?;
            let withheld =
                crate::commands::overlay::overlay_document(context, &mut opened.document)?;
            crate::commands::overlay::explain_withheld(context, &withheld);
            opened
        };
        let document = &opened.document;
        if args.only.is_empty() {
            for entry in document.entries() {
                let (name, entry) = entry?;
                selected.push((name, entry.value()));
            }
        } else {
            for name in &args.only {
                validate_name(name)?;
                let entry = document.get(name)?.ok_or_else(|| {
                    Error::NotFound(format!(
                        "--only names {name}, but the vault has no secret by that name"
                    ))
                })?;
                selected.push((name.as_str(), entry.value()));
            }
        }
    }
    let text = formats::render(args.format.into(), &selected)?;
    match &args.output {
        Some(path) => {
            let owner = args.owner.as_deref().map(Owner::named).transpose()?;
            let dir = parent_dir(path);
            if !dir.exists() {
                ensure_private_dir(&dir)?;
            }
            let target = SecretTarget::check(path, owner.as_ref())?;
            // Under the file's lock, as a sync or a rotation writes it: what a killed
            // writer left under a temp name (every value, in plaintext) goes first.
            let _locked =
                LockedFiles::lock(std::slice::from_ref(&target), true, &context.lock_wait())?;
            files::write(&target, None, &text)?;
            context.note(&format!(
                "wrote {} secrets in plaintext to {} (mode 0600); delete it when done",
                selected.len(),
                path.display()
            ));
        }
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                context.note(&format!(
                    "warning: printing {} secrets in plaintext to the terminal (scrollback keeps them); -o FILE writes a 0600 file instead",
                    selected.len()
                ));
            }
            print_stdout(&text)?
        }
    }
    SUCCESS
}
