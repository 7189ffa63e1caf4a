//! `vault rotate` and `vault check-services`: the rotation lifecycle that teams run as
//! scripts — plan, back up, generate, write the vault and the .env files, restart services
//! in dependency order with health checks — with every step named when it fails.

use std::collections::BTreeMap;
use std::path::Path;

use age::secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cli::{CheckServicesArgs, RotateArgs};
use crate::commands::backup::restore_backup;
use crate::commands::{Context, SUCCESS, print_report};
use crate::error::{Error, Result, exit};
use crate::formats::dotenv;
use crate::names::validate_name;
use crate::rotation::policy::{Kind, Policy};
use crate::rotation::services::{self, Event, Failure};
use crate::rotation::{self, Plan, Reason};
use crate::store::backup::{self, Record, SealedFiles};
use crate::store::document::timestamp_now;
use crate::store::files::{self, LockedFiles};
use crate::store::fs::{ensure_private_dir, parent_dir, write_atomic};

/// The policy from `--policy FILE`, else the `[rotate]` table of the configuration file.
fn load_policy(context: &Context, path: Option<&Path>) -> Result<Policy> {
    if let Some(path) = path {
        return Policy::from_file(path);
    }
    match &context.config.rotate {
        Some(table) => Policy::from_table(table.clone(), &context.config_location.path),
        None => Err(Error::Usage(format!(
            "no rotation policy: pass --policy FILE, or add [rotate.secrets.NAME] and [rotate.services.NAME] tables to {}",
            context.config_location.path.display()
        ))),
    }
}

fn describe(plan: &Plan, policy: &Policy) -> String {
    let mut out = String::new();
    for planned in &plan.secrets {
        let secret = &policy.secrets[&planned.name];
        let how = match planned.kind {
            Kind::Random => format!("random, {} characters", secret.length()),
            Kind::Jwt => format!(
                "jwt{}, signed with {}",
                secret
                    .role
                    .as_deref()
                    .map(|r| format!(" role {r}"))
                    .unwrap_or_default(),
                secret.depends_on.as_deref().unwrap_or_default()
            ),
            Kind::Static => "static".into(),
        };
        let why = match &planned.reason {
            Reason::SignedBy(signer) => format!(" (because {signer} changes)"),
            Reason::Asked | Reason::Auto => String::new(),
        };
        out.push_str(&format!("secret    {} ({how}){why}\n", planned.name));
    }
    for file in &plan.files {
        out.push_str(&format!(
            "file      {} ({})\n",
            file.target.path.display(),
            file.names.join(", ")
        ));
    }
    for (index, service) in plan.services.iter().enumerate() {
        out.push_str(&format!("restart   {}. {service}\n", index + 1));
    }
    out
}

/// The secrets a policy generates (random and jwt), which a rotation renews.
pub fn rotatable_names(context: &Context, policy: Option<&Path>) -> Result<Vec<String>> {
    let policy = load_policy(context, policy)?;
    Ok(policy
        .secrets
        .iter()
        .filter(|(_, secret)| secret.kind != Kind::Static)
        .map(|(name, _)| name.clone())
        .collect())
}

pub fn rotate(context: &Context, args: &RotateArgs) -> Result<u8> {
    let policy = load_policy(context, args.policy.as_deref())?;
    if args.restart_only {
        return restart_only(context, &policy, args);
    }
    for name in &args.secrets {
        validate_name(name)?;
    }
    if !args.dry_run {
        // The files a rotation rewrites are kept with its backup, signed by this user.
        context.ensure_writer_key()?;
    }
    let asked = (!args.secrets.is_empty()).then_some(args.secrets.as_slice());
    if args.dry_run {
        let opened = context.vault().open(context)?;
        let due = args
            .due
            .then(|| due_names(&policy, &opened.document))
            .transpose()?;
        if due.as_ref().is_some_and(Vec::is_empty) {
            context.note("nothing to rotate: no auto_rotate secret is due");
            return SUCCESS;
        }
        let asked = due.as_deref().or(asked);
        let plan = rotation::plan(&policy, asked, &opened.document)?;
        for warning in &plan.warnings {
            context.note(&format!("warning: {warning}"));
        }
        print_report(&describe(&plan, &policy))?;
        context.note("dry run: nothing was changed");
        return SUCCESS;
    }
    if args.skip_backup {
        context.note(
            "warning: --skip-backup: no backup is made, so this rotation cannot be undone with vault restore",
        );
    }
    let rotated = write_rotation(context, &policy, asked, args)?;
    let Some(rotated) = rotated else {
        return SUCCESS;
    };
    if args.restart && !rotated.plan.services.is_empty() {
        if let Err(failure) = restart(context, &policy, &rotated.plan.services, !args.no_health) {
            let state = format!(
                "the vault and every file hold the new values; {}",
                restart_state(&rotated.plan.services, &failure)
            );
            return Err(rotation_failed(
                context,
                &policy,
                args,
                &rotated,
                &format!(
                    "the {} of {} failed: {}",
                    failure.step.word(),
                    failure.service,
                    failure.detail
                ),
                &state,
            ));
        }
    } else if !rotated.plan.services.is_empty() {
        context.note(&format!(
            "these services use the new values once restarted: {} (vault rotate{} --restart-only)",
            rotated.plan.services.join(", "),
            policy_flag(args)
        ));
    }
    SUCCESS
}

/// The policy's auto_rotate secrets whose rotation date (`set --rotate-every`) has passed.
fn due_names(policy: &Policy, document: &crate::store::document::Document) -> Result<Vec<String>> {
    let now = std::time::SystemTime::now();
    let mut due = Vec::new();
    for (name, secret) in &policy.secrets {
        if secret.auto_rotates()
            && let Some(entry) = document.get(name)?
            && entry.is_due(now)
        {
            due.push(name.clone());
        }
    }
    Ok(due)
}

/// ` --policy FILE` when one was given, for the commands vault suggests.
fn policy_flag(args: &RotateArgs) -> String {
    args.policy
        .as_ref()
        .map(|p| format!(" --policy {}", p.display()))
        .unwrap_or_default()
}

/// A rotation written to the vault and files.
struct Rotated {
    plan: Plan,
    /// The backup taken first, which `vault restore` puts back.
    backup: Option<String>,
}

/// Plans under the lock, backs up, generates and writes the vault and every file. `None`
/// when there was nothing to rotate.
fn write_rotation(
    context: &Context,
    policy: &Policy,
    asked: Option<&[String]>,
    args: &RotateArgs,
) -> Result<Option<Rotated>> {
    let vault = context.vault();
    let mut transaction = vault.begin(context)?;
    // Judged under the lock, against the version being rewritten.
    let due = args
        .due
        .then(|| due_names(policy, transaction.document()))
        .transpose()?;
    if due.as_ref().is_some_and(Vec::is_empty) {
        context.note("nothing to rotate: no auto_rotate secret is due");
        return Ok(None);
    }
    let asked = due.as_deref().or(asked);
    let plan = rotation::plan(policy, asked, transaction.document())?;
    for warning in &plan.warnings {
        context.note(&format!("warning: {warning}"));
    }
    if plan.secrets.is_empty() {
        context.note(
            "nothing to rotate: no secret in the policy has auto_rotate; name some with --secrets",
        );
        return Ok(None);
    }
    let locked = LockedFiles::lock(&plan.targets(), false, transaction.lock_wait())?;
    let values = rotation::generate(&plan, policy, transaction.document())?;
    let new_texts = rewrite_files(&plan, &locked, &values)?;
    let names = plan.names();
    let backup = if args.skip_backup {
        None
    } else {
        let paths: Vec<String> = locked.files.iter().map(|f| f.path.clone()).collect();
        let bundle = backup::files_to_json(&locked.files, transaction.signing_key())?;
        let sealed = transaction.seal_bytes(&bundle)?;
        transaction
            .backup(
                &context.config.backup,
                &Record {
                    operation: "rotate",
                    names: &names,
                    services: &plan.services,
                    files: (!paths.is_empty()).then_some(SealedFiles {
                        paths: &paths,
                        ciphertext: &sealed,
                    }),
                    ..Default::default()
                },
            )?
            .map(|saved| saved.id)
    };
    let now = timestamp_now();
    for (name, value) in values {
        let description = policy.secrets[&name].description.clone();
        transaction
            .document_mut()
            .set(&name, value, description, &now)?;
    }
    let sealed = transaction.seal_document(false)?;
    transaction.write_sealed(sealed)?;
    // An agent grant holding a rotated value gets the new one.
    let rotated_names: Vec<String> = plan.secrets.iter().map(|s| s.name.clone()).collect();
    crate::commands::agent::refresh_grants(context, &rotated_names);
    let mut report = String::new();
    for planned in &plan.secrets {
        let verb = match planned.kind {
            Kind::Jwt => "re-signed",
            _ => "rotated",
        };
        report.push_str(&format!(
            "{verb} {} ({})\n",
            planned.name,
            planned.kind.word()
        ));
    }
    let rotated = Rotated { plan, backup };
    let targets = rotated.plan.files.iter().map(|f| &f.target);
    for (index, ((target, file), text)) in targets.zip(&locked.files).zip(&new_texts).enumerate() {
        let failed = match files::write(target, Some(file), text) {
            Ok(written) => {
                if let Some(notice) = written.notice(&target.path) {
                    context.note(&notice);
                }
                None
            }
            Err(e) => Some(e),
        };
        if let Some(e) = failed {
            let done: Vec<&str> = locked.files[..index]
                .iter()
                .map(|f| f.path.as_str())
                .collect();
            let left: Vec<&str> = locked.files[index..]
                .iter()
                .map(|f| f.path.as_str())
                .collect();
            let state = format!(
                "the vault{} hold{} the new values; {} still hold{} the old ones",
                if done.is_empty() {
                    String::new()
                } else {
                    format!(" and {}", done.join(", "))
                },
                if done.is_empty() { "s" } else { "" },
                left.join(", "),
                if left.len() == 1 { "s" } else { "" },
            );
            let step = format!("writing {} failed: {e}", file.path);
            // A rollback takes the locks again.
            drop(locked);
            drop(transaction);
            return Err(rotation_failed(
                context, policy, args, &rotated, &step, &state,
            ));
        }
        report.push_str(&format!("wrote {}\n", file.path));
    }
    if let Some(id) = &rotated.backup {
        report.push_str(&format!(
            "backup {id} (undo: vault restore --backup {id})\n"
        ));
    }
    print_report(&report)?;
    Ok(Some(rotated))
}

/// Each file's new text: every rotated secret it carries set in place.
fn rewrite_files(
    plan: &Plan,
    locked: &LockedFiles,
    values: &BTreeMap<String, SecretString>,
) -> Result<Vec<Zeroizing<String>>> {
    let mut texts = Vec::with_capacity(plan.files.len());
    for (planned, file) in plan.files.iter().zip(&locked.files) {
        let changes: Vec<(&str, &str)> = planned
            .names
            .iter()
            .filter_map(|name| Some((name.as_str(), values.get(name)?.expose_secret())))
            .collect();
        let text = dotenv::set_all_in_text(&file.content, &changes).map_err(|problems| {
            let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Error::BadData(format!(
                "{} cannot be rewritten ({}); nothing was changed",
                planned.target.path.display(),
                problems.join("; ")
            ))
        })?;
        texts.push(text);
    }
    Ok(texts)
}

/// Restarts `order`, printing each as it comes back.
fn restart(
    context: &Context,
    policy: &Policy,
    order: &[String],
    health: bool,
) -> std::result::Result<(), Failure> {
    let mut on_event = |event: Event<'_>| match event {
        Event::Restarting(name) => context.explain(&format!("restarting {name}")),
        Event::Healthy(name, took) => {
            let how = if health { "healthy after" } else { "took" };
            let _ = print_report(&format!(
                "restarted {name} ({how} {:.1}s)\n",
                took.as_secs_f32()
            ));
        }
    };
    services::restart_all(
        order,
        &policy.services,
        &policy.base_dir,
        health,
        &mut on_event,
    )
}

/// "restarted: a; failed: b; not restarted: c".
fn restart_state(order: &[String], failure: &Failure) -> String {
    let at = order
        .iter()
        .position(|s| s == &failure.service)
        .unwrap_or(order.len());
    let list = |s: &[String]| {
        if s.is_empty() {
            "none".to_string()
        } else {
            s.join(", ")
        }
    };
    format!(
        "restarted: {}; failed: {}; not restarted: {}",
        list(&order[..at]),
        failure.service,
        list(&order[(at + 1).min(order.len())..])
    )
}

/// The error for a rotation that failed after it changed something: the step, the state
/// things are in, and either the rollback's outcome or the command that undoes it.
fn rotation_failed(
    context: &Context,
    policy: &Policy,
    args: &RotateArgs,
    rotated: &Rotated,
    step: &str,
    state: &str,
) -> Error {
    let mut message = format!("rotation failed: {step}.\nAt that point: {state}.");
    let Some(id) = &rotated.backup else {
        message.push_str(
            "\nNo backup was made (--skip-backup or backups disabled), so vault cannot undo it.",
        );
        return Error::Failed(message);
    };
    if !args.rollback_on_failure {
        message.push_str(&format!(
            "\nTo undo: vault restore --backup {id}{}",
            if rotated.plan.services.is_empty() {
                String::new()
            } else {
                format!(" && vault rotate{} --restart-only", policy_flag(args))
            }
        ));
        return Error::Failed(message);
    }
    let rollback = backup::find(&context.vault_location.path, id)
        .map_err(Error::from)
        .and_then(|b| restore_backup(context, &b, true, false));
    match rollback {
        Err(e) => message.push_str(&format!(
            "\nRolling back failed too: {e}\nTo undo by hand: vault restore --backup {id}"
        )),
        Ok(restored) => {
            message.push_str(&format!(
                "\nRolled back: the vault{} restored from backup {id}.",
                if restored.files.is_empty() {
                    " was".to_string()
                } else {
                    format!(" and {} were", restored.files.join(", "))
                }
            ));
            if args.restart && !rotated.plan.services.is_empty() {
                match restart(context, policy, &rotated.plan.services, !args.no_health) {
                    Ok(()) => message.push_str(&format!(
                        "\nRestarted again with the old values: {}.",
                        rotated.plan.services.join(", ")
                    )),
                    Err(f) => message.push_str(&format!(
                        "\nRestarting with the old values failed too: the {} of {}: {}.",
                        f.step.word(),
                        f.service,
                        f.detail
                    )),
                }
            }
        }
    }
    Error::Failed(message)
}

/// `vault rotate --restart-only [--all]`: the restart stage alone, for the services the
/// latest rotation touched (from its backup record) or all of them.
fn restart_only(context: &Context, policy: &Policy, args: &RotateArgs) -> Result<u8> {
    let wanted: Vec<String> = if args.all {
        policy.services.keys().cloned().collect()
    } else {
        let backups = backup::list(&context.vault_location.path)?;
        let latest = backups
            .iter()
            .find(|b| b.metadata.operation == "rotate")
            .ok_or_else(|| {
                Error::NotFound(
                    "no rotation is recorded in the backups, so vault does not know which services it touched; use --restart-only --all".into(),
                )
            })?;
        context.explain(&format!("services of the rotation in backup {}", latest.id));
        latest.metadata.services.clone()
    };
    let order = policy.restart_order(wanted)?;
    if order.is_empty() {
        context.note("no services to restart");
        return SUCCESS;
    }
    restart(context, policy, &order, !args.no_health).map_err(|failure| {
        Error::Failed(format!(
            "the {} of {} failed: {}.\nNow: {}.",
            failure.step.word(),
            failure.service,
            failure.detail,
            restart_state(&order, &failure)
        ))
    })?;
    SUCCESS
}

/// A saved health check: per service, healthy or not. No values, no command output.
#[derive(Serialize, Deserialize)]
struct HealthSnapshot {
    format: String,
    version: u32,
    checked: String,
    services: BTreeMap<String, ServiceHealth>,
}

#[derive(Serialize, Deserialize, Clone)]
struct ServiceHealth {
    healthy: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

const HEALTH_FORMAT: &str = "secretsd-health";

pub fn check_services(context: &Context, args: &CheckServicesArgs) -> Result<u8> {
    let policy = load_policy(context, args.policy.as_deref())?;
    let previous = args.compare.as_deref().map(read_snapshot).transpose()?;
    let order = policy.restart_order(policy.services.keys().cloned().collect())?;
    let mut results = BTreeMap::new();
    let mut out = String::new();
    for name in &order {
        let result = services::check(&policy.services[name], &policy.base_dir);
        let health = ServiceHealth {
            healthy: result.is_ok(),
            detail: result.err(),
        };
        out.push_str(&match &health.detail {
            None => format!("{name:24} healthy\n"),
            Some(detail) => format!("{name:24} unhealthy: health command {detail}\n"),
        });
        results.insert(name.clone(), health);
    }
    if let Some(previous) = &previous {
        out.push_str(&compare(previous, &results));
    }
    print_report(&out)?;
    if let Some(path) = &args.save {
        let snapshot = HealthSnapshot {
            format: HEALTH_FORMAT.into(),
            version: 1,
            checked: timestamp_now(),
            services: results.clone(),
        };
        let json = serde_json::to_vec_pretty(&snapshot)
            .map_err(|e| Error::Failed(format!("cannot write JSON: {e}")))?;
        ensure_private_dir(&parent_dir(path))?;
        write_atomic(path, &json, false)?;
        context.note(&format!(
            "saved the health of {} services to {}",
            results.len(),
            path.display()
        ));
    }
    let all_healthy = results.values().all(|h| h.healthy);
    Ok(if all_healthy { exit::OK } else { exit::ERROR })
}

fn read_snapshot(path: &Path) -> Result<HealthSnapshot> {
    let text = std::fs::read(path).map_err(|e| Error::io("read the health snapshot", path, e))?;
    let snapshot: HealthSnapshot = serde_json::from_slice(&text)
        .ok()
        .filter(|s: &HealthSnapshot| s.format == HEALTH_FORMAT)
        .ok_or_else(|| {
            Error::BadData(format!(
                "{} is not a health snapshot written by vault check-services --save",
                path.display()
            ))
        })?;
    Ok(snapshot)
}

/// What changed since a saved check, one line each.
fn compare(previous: &HealthSnapshot, now: &BTreeMap<String, ServiceHealth>) -> String {
    let word = |healthy: bool| if healthy { "healthy" } else { "unhealthy" };
    let mut out = format!("compared with the check of {}:\n", previous.checked);
    let mut changes = 0;
    for (name, health) in now {
        match previous.services.get(name) {
            Some(before) if before.healthy != health.healthy => {
                out.push_str(&format!(
                    "  {name}: was {}, now {}\n",
                    word(before.healthy),
                    word(health.healthy)
                ));
                changes += 1;
            }
            Some(_) => {}
            None => {
                out.push_str(&format!("  {name}: new, {}\n", word(health.healthy)));
                changes += 1;
            }
        }
    }
    for name in previous.services.keys().filter(|n| !now.contains_key(*n)) {
        out.push_str(&format!("  {name}: no longer in the policy\n"));
        changes += 1;
    }
    if changes == 0 {
        out.push_str("  no change\n");
    }
    out
}
