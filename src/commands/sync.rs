//! `vault sync`: copy an allow-list of variables from sources of truth into the vault, a
//! .env file or a provider; everything else in the target is left alone. Made to run from
//! a timer: one log line per run, no prompt, nothing written when anything fails.

use std::collections::BTreeMap;
use std::path::Path;

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::cli::SyncArgs;
use crate::commands::{Context, SUCCESS, print_report};
use crate::config::SyncProfile;
use crate::error::{Error, Result};
use crate::formats::{docker, dotenv};
use crate::names::validate_name;
use crate::store::Change;
use crate::store::document::timestamp_now;
use crate::store::files::{self, LockedFiles};
use crate::store::fs::parent_dir;
use crate::store::strict::{Owner, SecretTarget};
use crate::sync::{self, Action, AllowList, Endpoint, Gathered};
use crate::value::mask;

/// .env backups kept beside a .env target unless told otherwise.
const DEFAULT_KEEP_BACKUPS: usize = 10;

/// A sync's settings: a profile's, with what the command line gives replacing them.
struct Settings {
    profile: Option<String>,
    sources: Vec<Endpoint>,
    target: Endpoint,
    only: Vec<String>,
    preserve: Vec<String>,
    strict: bool,
    keep_backups: usize,
    /// The user a .env target belongs to on purpose.
    owner: Option<Owner>,
}

fn settings(context: &Context, args: &SyncArgs) -> Result<Settings> {
    let profile = match &args.name {
        Some(name) => context.config.sync.get(name).cloned().ok_or_else(|| {
            Error::NotFound(format!(
                "no sync named {name} in {}; 'vault sync --list' shows the named syncs",
                context.config_location.path.display()
            ))
        })?,
        None => SyncProfile::default(),
    };
    let pick = |given: &Vec<String>, saved: Vec<String>| {
        if given.is_empty() {
            saved
        } else {
            given.clone()
        }
    };
    let from = pick(&args.from, profile.from);
    if from.is_empty() {
        return Err(Error::Usage(
            "nothing to sync from: give --from SOURCE (vault, dotenv:PATH or PROVIDER:PREFIX) or the name of a [sync.NAME] profile".into(),
        ));
    }
    let sources = from
        .iter()
        .map(|s| Endpoint::parse(s))
        .collect::<Result<Vec<_>>>()?;
    let target = Endpoint::parse(
        args.to
            .as_deref()
            .or(profile.to.as_deref())
            .unwrap_or("vault"),
    )?;
    if sources.contains(&target) {
        return Err(Error::Usage(format!(
            "{target} is both a source and the target"
        )));
    }
    if (args.owner.is_some() || profile.owner.is_some())
        && !matches!(target, Endpoint::Dotenv(_) | Endpoint::Docker(_))
    {
        return Err(Error::Usage(format!(
            "--owner names who a .env target belongs to; {target} is not one"
        )));
    }
    let preserve = pick(&args.preserve, profile.preserve);
    AllowList::new(&preserve)?;
    Ok(Settings {
        profile: args.name.clone(),
        sources,
        target,
        only: pick(&args.only, profile.only),
        preserve,
        strict: args.strict || profile.strict,
        keep_backups: args
            .keep_backups
            .or(profile.keep_backups)
            .unwrap_or(DEFAULT_KEEP_BACKUPS),
        owner: args
            .owner
            .as_deref()
            .or(profile.owner.as_deref())
            .map(Owner::named)
            .transpose()?,
    })
}

pub fn run(context: &Context, args: &SyncArgs) -> Result<u8> {
    if args.cache.offline && !args.allow_stale {
        return Err(Error::Usage(
            "sync --offline copies values from the cache, which may be stale, into the target as if just fetched: add --allow-stale to do so".into(),
        ));
    }
    context.use_cache_args(&args.cache);
    if args.list {
        return list(context);
    }
    let settings = settings(context, args)?;
    let allow = AllowList::new(&settings.only)?;
    let outcome = context.with_resolver(|resolver| {
        let gathered = sync::gather(resolver, &settings.sources, &allow)?;
        for (name, loser, winner) in &gathered.overridden {
            context.explain(&format!("{name}: {winner} wins over {loser}"));
        }
        for key in &gathered.skipped {
            context.explain(&format!(
                "skipped {key}: its last segment is not a variable name"
            ));
        }
        if !gathered.missing.is_empty() {
            let message = format!("no source has {}", gathered.missing.join(", "));
            if settings.strict {
                return Err(Error::NotFound(format!(
                    "{message} (--strict); nothing was written"
                )));
            }
            context.note(&format!("warning: {message}"));
        }
        apply(context, resolver, &settings, &gathered, args.dry_run)
    });
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(e) => {
            // The reason follows on the next line, as every error does.
            log_line(context, &settings, "failed");
            return Err(e);
        }
    };
    let count = |wanted: Action| outcome.iter().filter(|(_, a)| *a == wanted).count();
    let (added, changed) = (count(Action::Add), count(Action::Change));
    // Two counts, each with one meaning whatever the run: "unchanged" are allow-listed
    // variables the target already had with the sources' value; "preserved" are those
    // --preserve kept although a source has them. Other variables are never counted.
    let (unchanged, preserved) = (count(Action::Unchanged), count(Action::Preserved));
    let summary = if args.dry_run {
        format!(
            "dry run: would add {added}, change {changed}; {unchanged} unchanged, {preserved} preserved"
        )
    } else if added + changed == 0 {
        format!("nothing to do ({unchanged} unchanged, {preserved} preserved)")
    } else {
        format!("{added} added, {changed} changed, {unchanged} unchanged, {preserved} preserved")
    };
    log_line(context, &settings, &summary);
    SUCCESS
}

/// The line a timer's journal keeps: time, profile, target, counts. Never values.
fn log_line(context: &Context, settings: &Settings, what: &str) {
    let profile = settings
        .profile
        .as_deref()
        .map(|p| format!(" {p}"))
        .unwrap_or_default();
    context.note(&format!(
        "sync{profile} {} -> {}: {what}",
        timestamp_now(),
        settings.target
    ));
}

fn list(context: &Context) -> Result<u8> {
    if context.config.sync.is_empty() {
        context.note(&format!(
            "no named syncs; add [sync.NAME] tables to {}",
            context.config_location.path.display()
        ));
        return SUCCESS;
    }
    let mut out = String::new();
    for (name, profile) in &context.config.sync {
        out.push_str(&format!(
            "{name:16} {} -> {}{}\n",
            profile.from.join(" + "),
            profile.to.as_deref().unwrap_or("vault"),
            if profile.only.is_empty() {
                String::new()
            } else {
                format!("  only {}", profile.only.join(","))
            }
        ));
    }
    print_report(&out)?;
    SUCCESS
}

/// Prints the plan: every line in a dry run or with --verbose, else what changes.
fn report(
    context: &Context,
    plan: &[(String, Action)],
    gathered: &Gathered,
    current: &BTreeMap<String, SecretString>,
    dry_run: bool,
) -> Result<()> {
    let mut out = String::new();
    for (name, action) in plan {
        let word = match action {
            Action::Add => "add",
            Action::Change => "change",
            Action::Unchanged => "unchanged",
            Action::Preserved => "preserved",
        };
        let shown =
            dry_run || context.global.verbose || matches!(action, Action::Add | Action::Change);
        if !shown {
            continue;
        }
        let new = mask(&gathered.values[name].value);
        let detail = match (action, current.get(name)) {
            (Action::Change, Some(old)) if context.global.verbose => {
                format!("{name}: {} -> {new}", mask(old))
            }
            (Action::Add | Action::Change, _) => format!("{name} {new}"),
            _ => name.clone(),
        };
        out.push_str(&format!("{word:9} {detail}\n"));
    }
    print_report(&out)
}

fn changes(plan: &[(String, Action)]) -> Vec<String> {
    plan.iter()
        .filter(|(_, a)| matches!(a, Action::Add | Action::Change))
        .map(|(n, _)| n.clone())
        .collect()
}

fn apply(
    context: &Context,
    resolver: &mut crate::resolve::Resolver<'_>,
    settings: &Settings,
    gathered: &Gathered,
    dry_run: bool,
) -> Result<Vec<(String, Action)>> {
    match &settings.target {
        Endpoint::Vault => to_vault(context, settings, gathered, dry_run),
        Endpoint::Dotenv(path) => {
            to_file(context, path, Dialect::Dotenv, settings, gathered, dry_run)
        }
        Endpoint::Docker(path) => {
            to_file(context, path, Dialect::Docker, settings, gathered, dry_run)
        }
        Endpoint::Provider { provider, prefix } => {
            let config = resolver.provider_config(provider)?;
            let keys: Vec<String> = gathered
                .values
                .keys()
                .map(|n| Endpoint::key_for(prefix, n))
                .collect();
            let mut answer = resolver.providers().get(provider, &config, &keys)?;
            let current: BTreeMap<String, SecretString> = gathered
                .values
                .keys()
                .filter_map(|n| {
                    answer
                        .values
                        .remove(&Endpoint::key_for(prefix, n))
                        .map(|v| (n.clone(), v.into_secret()))
                })
                .collect();
            let plan = sync::plan(gathered, &current, &settings.preserve);
            report(context, &plan, gathered, &current, dry_run)?;
            if !dry_run {
                for name in changes(&plan) {
                    let value = SecretString::from(
                        gathered.values[&name].value.expose_secret().to_string(),
                    );
                    resolver.providers().set(
                        provider,
                        &config,
                        &Endpoint::key_for(prefix, &name),
                        value.into(),
                    )?;
                }
            }
            Ok(plan)
        }
    }
}

fn to_vault(
    context: &Context,
    settings: &Settings,
    gathered: &Gathered,
    dry_run: bool,
) -> Result<Vec<(String, Action)>> {
    let current_of =
        |document: &crate::store::document::Document| -> Result<BTreeMap<String, SecretString>> {
            let mut current = BTreeMap::new();
            for name in gathered.values.keys() {
                if let Some(entry) = document.get(name)? {
                    let value = SecretString::from(entry.value().expose_secret().to_string());
                    current.insert(name.clone(), value);
                }
            }
            Ok(current)
        };
    if dry_run {
        let opened = context.vault().open(context)?;
        let current = current_of(&opened.document)?;
        let plan = sync::plan(gathered, &current, &settings.preserve);
        report(context, &plan, gathered, &current, true)?;
        return Ok(plan);
    }
    let (plan, _) = context.vault().update(
        context,
        &context.config.backup,
        Change {
            operation: "sync",
            keep_access: false,
        },
        |document| {
            let current = current_of(document)?;
            let plan = sync::plan(gathered, &current, &settings.preserve);
            report(context, &plan, gathered, &current, false)?;
            let touched = changes(&plan);
            let now = timestamp_now();
            for name in &touched {
                validate_name(name)?;
                let value =
                    SecretString::from(gathered.values[name].value.expose_secret().to_string());
                document.set(name, value, None, &now)?;
            }
            Ok::<_, Error>((plan, (!touched.is_empty()).then_some(touched)))
        },
    )?;
    Ok(plan)
}

/// How a file target is read and written.
#[derive(Clone, Copy)]
enum Dialect {
    /// python-dotenv's grammar; values quoted only when they need it.
    Dotenv,
    /// `docker run --env-file`: raw `NAME=value` lines.
    Docker,
}

impl Dialect {
    /// The variables the file gives now.
    fn current(self, text: &str, path: &Path) -> Result<BTreeMap<String, SecretString>> {
        let what = path.display().to_string();
        Ok(match self {
            Dialect::Dotenv => dotenv::parse_file(text, &what)?
                .into_iter()
                .map(|a| (a.name, a.value))
                .collect(),
            Dialect::Docker => docker::parse_file(text, &what)?
                .into_iter()
                .filter_map(|l| Some((l.name, SecretString::from(l.value?))))
                .collect(),
        })
    }

    /// `text` with every value set, in one pass; `Err` names every value it cannot hold.
    fn set_all_in_text(
        self,
        text: &str,
        values: &[(&str, &str)],
    ) -> std::result::Result<Zeroizing<String>, Vec<Error>> {
        match self {
            Dialect::Dotenv => dotenv::set_all_in_text(text, values),
            Dialect::Docker => docker::set_all_in_text(text, values),
        }
        .map_err(|problems| problems.into_iter().map(Error::from).collect())
    }
}

fn to_file(
    context: &Context,
    path: &Path,
    dialect: Dialect,
    settings: &Settings,
    gathered: &Gathered,
    dry_run: bool,
) -> Result<Vec<(String, Action)>> {
    if !parent_dir(path).is_dir() {
        return Err(Error::NotFound(format!(
            "the directory of {} does not exist",
            path.display()
        )));
    }
    let target = SecretTarget::check(path, settings.owner.as_ref())?;
    let locked = LockedFiles::lock(std::slice::from_ref(&target), true, &context.lock_wait())?;
    let existing = locked.files.first();
    let text = Zeroizing::new(existing.map(|f| f.content.clone()).unwrap_or_default());
    let current = dialect
        .current(&text, path)
        .map_err(|e| Error::BadData(format!("{e}; nothing was written")))?;
    let plan = sync::plan(gathered, &current, &settings.preserve);
    report(context, &plan, gathered, &current, dry_run)?;
    let touched = changes(&plan);
    if dry_run || touched.is_empty() {
        return Ok(plan);
    }
    // Every value is checked before anything is written, and all bad ones are named.
    let values: Vec<(&str, &str)> = touched
        .iter()
        .map(|name| (name.as_str(), gathered.values[name].value.expose_secret()))
        .collect();
    let new_text = dialect
        .set_all_in_text(&text, &values)
        .map_err(|problems| {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Error::BadData(format!(
                "nothing was written to {}:\n  {}",
                path.display(),
                problems.join("\n  ")
            ))
        })?;
    if let Some(file) = existing {
        let backup = files::backup_beside(file, settings.keep_backups)?;
        context.explain(&format!(
            "backup of {}: {}",
            path.display(),
            backup.display()
        ));
    }
    let written = files::write(&target, existing, &new_text)?;
    if let Some(notice) = written.notice(path) {
        context.note(&notice);
    }
    Ok(plan)
}
