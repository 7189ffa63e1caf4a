//! `vault systemd unit`: a hardened service unit that resolves its secrets at start.
//!
//! The identity, the vault and the manifest reach the service as systemd credentials
//! (`LoadCredential=`): the service manager reads them with its own privileges and hands
//! the service private read-only copies, so the service may run as a dynamic user behind
//! `ProtectSystem=strict` and `ProtectHome=yes` and still open the vault. What systemd
//! does not give a service — the shell's `PATH` to the providers, a home to find the
//! configuration in — the unit names itself (`VAULT_PROVIDER_PATH`, `VAULT_CONFIG`), and
//! a program it must run from a home directory is checked before the unit is printed
//! (`service_access`): `ProtectHome=read-only` when the service can reach it, said on
//! stderr, else a refusal.

use std::path::{Path, PathBuf};

use crate::cli::{ServiceType, SystemdCommand, SystemdTimerArgs, SystemdUnitArgs};
use crate::commands::{Context, SUCCESS, print_stdout};
use crate::error::{Error, Result};
use crate::paths::CREDENTIAL_NAME;
use crate::service_access::{self, ServiceUser};
use crate::store::fs::write_atomic_with_mode;
use crate::sync::Endpoint;

mod text;

use text::*;

pub fn run(context: &Context, command: &SystemdCommand) -> Result<u8> {
    match command {
        SystemdCommand::Unit(args) => unit(context, args),
        SystemdCommand::Timer(args) => timer(context, args),
    }
}

/// An absolute path to a file that must exist.
fn absolute(path: &Path, what: &str) -> Result<PathBuf> {
    std::fs::canonicalize(path)
        .map_err(|e| Error::NotFound(format!("the {what} {} cannot be used: {e}", path.display())))
}

/// How a unit reaches its programs: the `VAULT_PROVIDER_PATH` it sets and whether a home
/// directory must stay visible (read-only) for it.
struct Reach {
    provider_path: Option<String>,
    home_read_only: bool,
}

/// Decides how the service reaches its programs, or refuses: `required` (vault, the
/// command, each with what it is) and every provider found here, run as `User=` `user`
/// (else as `default_user`). A required program that `ProtectHome=yes` would hide makes
/// the home directories read-only instead — said on stderr — when the service's user can
/// reach it there; when it cannot (a dynamic user and a 0700 home), the unit could never
/// start, so it is refused. A provider out of reach is left out of `VAULT_PROVIDER_PATH`,
/// and said. `hides_home`: the unit would otherwise set `ProtectHome=yes` (a timer's
/// service keeps homes read-only anyway).
fn reach(
    context: &Context,
    user: Option<&str>,
    default_user: ServiceUser,
    required: &[(String, PathBuf)],
    hides_home: bool,
) -> Result<Reach> {
    let user = &user.map(ServiceUser::named).unwrap_or(default_user);
    let who = match user {
        ServiceUser::Other => "the service's dynamic user (DynamicUser=yes)".to_string(),
        ServiceUser::Named { uid, .. } => {
            format!(
                "the service's user, {}",
                crate::store::strict::describe_user(*uid)
            )
        }
        ServiceUser::Root => "root".to_string(),
    };
    let mut under_home = Vec::new();
    for (what, path) in required {
        if let Some((place, mode)) = user.blocked_at(path) {
            return Err(Error::Usage(format!(
                "{what} is {}, which {who} cannot reach: {} (mode {mode:04o}) does not let it through; install it system-wide first (sudo install -m 755 {} /usr/local/bin/, or sudo scripts/install) and run this from there{}",
                path.display(),
                place.display(),
                path.display(),
                if matches!(user, ServiceUser::Other) {
                    ", or give the unit a --user who can"
                } else {
                    ""
                }
            )));
        }
        if service_access::under_home(path) {
            under_home.push(format!("{what} ({})", path.display()));
        }
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (name, path) in &found_providers() {
        if let Some((place, mode)) = user.blocked_at(path) {
            context.note(&format!(
                "warning: the provider {name} ({}) is left out of the unit: {who} cannot reach it ({} has mode {mode:04o}); a reference to {name}: will fail there until it is installed where the service can run it",
                path.display(),
                place.display()
            ));
            continue;
        }
        if service_access::under_home(path) {
            under_home.push(format!("the provider {name} ({})", path.display()));
        }
        let dir = crate::store::fs::parent_dir(path);
        if !dirs.contains(&dir) {
            dirs.push(dir);
        }
    }
    // In search order: where two directories hold one provider, the same one answers.
    let dirs: Vec<PathBuf> = crate::providers::directories()
        .into_iter()
        .filter(|d| dirs.contains(d))
        .collect();
    let provider_path = std::env::join_paths(&dirs)
        .ok()
        .filter(|p| !p.is_empty())
        .map(|p| p.to_string_lossy().into_owned());
    if hides_home && !under_home.is_empty() {
        context.note(&format!(
            "the unit sets ProtectHome=read-only: {} under a home directory, which ProtectHome=yes would hide from the service; for ProtectHome=yes install vault and its providers system-wide (sudo scripts/install) and generate the unit again",
            under_home.join(", ")
        ));
    }
    Ok(Reach {
        provider_path,
        home_read_only: !under_home.is_empty(),
    })
}

/// The providers found here, each as its canonical directory and file name: the
/// directory is what `VAULT_PROVIDER_PATH` names.
fn found_providers() -> Vec<(String, PathBuf)> {
    crate::providers::discover()
        .into_iter()
        .map(|(name, path)| {
            let dir = crate::store::fs::parent_dir(&path);
            let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
            let file = path.file_name().map(PathBuf::from).unwrap_or_default();
            (name, dir.join(file))
        })
        .collect()
}

/// The sandboxing every generated service gets, beyond `ProtectSystem=` and the user.
const HARDENING: &str = "NoNewPrivileges=yes\n\
PrivateTmp=yes\n\
PrivateDevices=yes\n\
ProtectKernelTunables=yes\n\
ProtectKernelModules=yes\n\
ProtectKernelLogs=yes\n\
ProtectControlGroups=yes\n\
ProtectClock=yes\n\
ProtectHostname=yes\n\
RestrictSUIDSGID=yes\n\
RestrictRealtime=yes\n\
RestrictNamespaces=yes\n\
LockPersonality=yes\n\
SystemCallArchitectures=native\n\
UMask=0077\n";

/// The lines that let a unit's vault check the vault it reads: a state directory of its
/// own for what it has seen (vault refuses to check a vault without one, and a service
/// has no home), and the vault's id and owners as this machine trusts them
/// (`VAULT_TRUST`), so its first start needs no one to accept the vault. The vault is
/// opened to read them: a unit is generated only for a vault this machine trusts.
fn trust_settings(context: &Context, unit: &str) -> Result<String> {
    let opened = context.vault().open(context)?;
    let mut lines =
        format!("StateDirectory=secretsd-{unit}\nEnvironment=XDG_STATE_HOME=%S/secretsd-{unit}\n");
    if let Some(block) = opened
        .document
        .membership()
        .and_then(|json| crate::store::membership::Membership::parse(json).ok())
        .filter(|block| !block.body.passphrase)
    {
        lines.push_str(&format!(
            "Environment=VAULT_TRUST={}\n",
            crate::commands::trust::pin_line(&block)
        ));
    }
    Ok(lines)
}

/// When the manifest refers to a provider whose configuration sets `cache`: a cache
/// directory of the service's own (`CacheDirectory=`, private to it, skipped by backups)
/// for the offline cache, so the service starts when the provider is briefly down.
fn cache_settings(context: &Context, manifest: &Path, unit: &str) -> Result<String> {
    let bindings =
        crate::manifest::Manifest::load(manifest)?.bindings_for(context.profile.as_deref());
    let cached = bindings.iter().any(|binding| {
        matches!(&binding.reference, crate::resolve::Reference::Provider { provider, .. }
            if context.config.providers.tables.get(provider).is_some_and(|t| t.contains_key("cache")))
    });
    Ok(if cached {
        format!("CacheDirectory=secretsd-{unit}\nEnvironment=XDG_CACHE_HOME=%C/secretsd-{unit}\n")
    } else {
        String::new()
    })
}

/// `name` without `suffix`, checked as a unit name.
fn unit_name<'a>(name: &'a str, suffix: &str) -> Result<&'a str> {
    let name = name.strip_suffix(suffix).unwrap_or(name);
    if !valid_unit_name(name) {
        return Err(Error::Usage(format!(
            "{name:?} is not a valid unit name (letters, digits, ':', '-', '_', '.', '@')"
        )));
    }
    Ok(name)
}

fn unit(context: &Context, args: &SystemdUnitArgs) -> Result<u8> {
    let name = unit_name(&args.name, ".service")?;
    let vault_binary = std::env::current_exe()
        .map_err(|e| Error::Failed(format!("cannot find the vault binary: {e}")))?;
    let mut required = vec![("the vault binary".to_string(), vault_binary.clone())];
    if let Some(program) = args
        .command
        .first()
        .map(Path::new)
        .filter(|p| p.is_absolute())
    {
        required.push(("the command".to_string(), program.to_path_buf()));
    }
    let reach = reach(
        context,
        args.user.as_deref(),
        ServiceUser::Other,
        &required,
        true,
    )?;
    // The service reads its copy (a credential, root's), which passes any check: so the
    // manifest is checked here as `vault run` checks it — neither another user's nor
    // where another user could replace it before a start.
    let manifest = crate::manifest::locate(Some(&args.manifest))?;
    let cache = cache_settings(context, &manifest, name)?;
    let vault_file = absolute(&context.vault_location.path, "vault")?;
    let trust = trust_settings(context, name)?;
    let identity = context.identity_location()?;
    let identity = absolute(&identity.path, "identity")?;
    let description = match &args.description {
        Some(d) => unit_text(d, "--description")?,
        None => format!("{name} (secrets resolved by vault)"),
    };
    let service_type = match args.service_type {
        ServiceType::Simple => "simple",
        ServiceType::Exec => "exec",
        ServiceType::Notify => "notify",
        ServiceType::Oneshot => "oneshot",
    };
    let mut exec_start = vec![
        exec_word(&vault_binary.display().to_string()),
        "run".into(),
        "--manifest".into(),
        "%d/vault-manifest".into(),
    ];
    if args.watch {
        exec_start.push("--watch".into());
    }
    if args.redact {
        exec_start.push("--redact".into());
    }
    exec_start.push("--".into());
    exec_start.extend(args.command.iter().map(|w| exec_word(w)));
    let user = match &args.user {
        Some(user) => format!("User={}", unit_text(user, "--user")?),
        None => "DynamicUser=yes".to_string(),
    };
    // Watching, the service reads the live vault rather than a copy made at start: its
    // directory is readable (and only readable), and a reload re-resolves. The command,
    // not vault, reports readiness, so notifications from it are accepted.
    let vault_setting = if args.watch {
        let dir = crate::store::fs::parent_dir(&vault_file);
        let under_home = service_access::under_home(&dir) || reach.home_read_only;
        format!(
            "Environment=VAULT_FILE={}\nReadOnlyPaths={}\nExecReload=/bin/kill -HUP $MAINPID\n{}{}",
            setting_path(&vault_file, "the vault's path")?,
            list_path(&dir, "the vault's directory")?,
            if matches!(args.service_type, ServiceType::Notify) {
                "NotifyAccess=all\n"
            } else {
                ""
            },
            if under_home {
                "ProtectHome=read-only\n"
            } else {
                "ProtectHome=yes\n"
            }
        )
    } else {
        format!(
            "LoadCredential=vault-file:{}\nEnvironment=VAULT_FILE=%d/vault-file\nProtectHome={}\n",
            setting_path(&vault_file, "the vault's path")?,
            if reach.home_read_only {
                "read-only"
            } else {
                "yes"
            }
        )
    };
    // Redacting, vault stays as the main process and filters the command's output; the
    // command, not vault, reports readiness.
    let redact_setting = if args.redact && matches!(args.service_type, ServiceType::Notify) {
        "NotifyAccess=all\n"
    } else {
        ""
    };
    // The providers vault may start, and their settings: systemd's PATH is not the
    // shell's, and the service has no home to find a configuration in.
    let mut providers = String::new();
    if let Some(path) = &reach.provider_path {
        providers.push_str(&environment_line("VAULT_PROVIDER_PATH", path)?);
    }
    if context.config_location.path.exists() {
        let config = absolute(&context.config_location.path, "configuration file")?;
        providers.push_str(&format!(
            "LoadCredential=vault-config:{}\nEnvironment=VAULT_CONFIG=%d/vault-config\n",
            setting_path(&config, "the configuration's path")?
        ));
    }
    let unit = format!(
        "# Generated by vault systemd unit {name}. Secrets are resolved when the service\n\
# starts; the vault, identity, manifest and configuration are read as credentials then.\n\
[Unit]\n\
Description={description}\n\
Wants=network-online.target\n\
After=network-online.target\n\
\n\
[Service]\n\
Type={service_type}\n\
ExecStart={exec_start}\n\
LoadCredential={CREDENTIAL_NAME}:{identity}\n\
LoadCredential=vault-manifest:{manifest}\n\
{vault_setting}\
{redact_setting}\
{providers}\
{cache}\
{trust}\
{user}\n\
ProtectSystem=strict\n\
{HARDENING}\
\n\
[Install]\n\
WantedBy=multi-user.target\n",
        exec_start = exec_start.join(" "),
        identity = setting_path(&identity, "the identity's path")?,
        manifest = setting_path(&manifest, "the manifest's path")?,
    );
    print_stdout(&unit)?;
    SUCCESS
}

/// Directories a timer's command writes: the vault's, each `--read-write`, and the
/// directory of a sync's dotenv target (from `--to dotenv:PATH` or the named profile).
fn writable_paths(context: &Context, args: &SystemdTimerArgs) -> Vec<PathBuf> {
    let mut paths = vec![crate::store::fs::parent_dir(&context.vault_location.path)];
    paths.extend(args.read_write.iter().cloned());
    let words = &args.command;
    if words.get(1).map(String::as_str) == Some("sync") {
        let mut target = words
            .windows(2)
            .find(|w| w[0] == "--to")
            .map(|w| w[1].clone())
            .or_else(|| {
                words
                    .iter()
                    .find_map(|w| w.strip_prefix("--to=").map(str::to_string))
            });
        if target.is_none() {
            let profile = words[2..].iter().find(|w| !w.starts_with('-'));
            target = profile
                .and_then(|p| context.config.sync.get(p))
                .and_then(|p| p.to.clone());
        }
        if let Some(Ok(Endpoint::Dotenv(path) | Endpoint::Docker(path))) =
            target.as_deref().map(Endpoint::parse)
        {
            paths.push(crate::store::fs::parent_dir(&path));
        }
    }
    let mut absolute: Vec<PathBuf> = paths
        .into_iter()
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .collect();
    absolute.sort();
    absolute.dedup();
    absolute
}

fn timer(context: &Context, args: &SystemdTimerArgs) -> Result<u8> {
    let name = unit_name(&args.name, ".timer")?;
    let name = name.strip_suffix(".service").unwrap_or(name);
    // Without --user the service runs as root, which refuses a configuration and a vault
    // another user owns (StrictModes): made by a user for their own files, it could never
    // run. Said now, not at the first tick of the timer.
    let me = rustix::process::geteuid();
    if args.user.is_none() && !me.is_root() {
        return Err(Error::Usage(format!(
            "without --user this timer's service runs as root, and root refuses a vault and a configuration that you ({}) own: pass --user {} to run it as you (its sources must then be readable by you), or generate it as root (sudo -i) with root's own vault and configuration, as a root-owned source needs",
            crate::store::strict::describe_user(me.as_raw()),
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(me.as_raw()))
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| me.as_raw().to_string())
        )));
    }
    let on_calendar = unit_text(&args.on_calendar, "--on-calendar")?;
    let vault_binary = std::env::current_exe()
        .map_err(|e| Error::Failed(format!("cannot find the vault binary: {e}")))?;
    let mut words = args.command.clone();
    if words.first().map(String::as_str) == Some("vault") {
        words[0] = vault_binary.display().to_string();
    }
    let required: Vec<(String, PathBuf)> = words
        .first()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .map(|p| {
            let what = if p == vault_binary {
                "the vault binary"
            } else {
                "the command"
            };
            vec![(what.to_string(), p)]
        })
        .unwrap_or_default();
    // No User= runs it as root; ProtectHome=read-only keeps a user install visible.
    let reach = reach(
        context,
        args.user.as_deref(),
        ServiceUser::Root,
        &required,
        false,
    )?;
    let exec_start: Vec<String> = words.iter().map(|w| exec_word(w)).collect();
    let trust = trust_settings(context, name)?;
    let description = match &args.description {
        Some(d) => unit_text(d, "--description")?,
        None => format!("{name} (vault)"),
    };
    let mut environment = environment_line(
        "VAULT_FILE",
        &std::path::absolute(&context.vault_location.path)
            .unwrap_or_else(|_| context.vault_location.path.clone())
            .display()
            .to_string(),
    )?;
    if context.config_location.path.exists() {
        let config = absolute(&context.config_location.path, "configuration file")?;
        environment.push_str(&environment_line(
            "VAULT_CONFIG",
            &config.display().to_string(),
        )?);
    }
    // systemd's PATH is not the shell's: without this, `vault sync --from shared-file:`
    // finds no provider after a user install.
    if let Some(path) = &reach.provider_path {
        environment.push_str(&environment_line("VAULT_PROVIDER_PATH", path)?);
    }
    // The identity, when there is one, reaches the service as a credential.
    if let Ok(identity) = context.identity_location()
        && let Ok(identity) = absolute(&identity.path, "identity")
    {
        environment.push_str(&format!(
            "LoadCredential={CREDENTIAL_NAME}:{}\n",
            setting_path(&identity, "the identity's path")?
        ));
    }
    let read_write = writable_paths(context, args)
        .iter()
        .map(|p| list_path(p, "a writable path"))
        .collect::<Result<Vec<String>>>()?;
    let user = match args.user.as_deref() {
        Some(user) => format!("User={}\n", unit_text(user, "--user")?),
        None => String::new(),
    };
    let service = format!(
        "# Generated by vault systemd timer {name}: started by {name}.timer.\n\
[Unit]\n\
Description={description}\n\
Wants=network-online.target\n\
After=network-online.target\n\
\n\
[Service]\n\
Type=oneshot\n\
ExecStart={exec_start}\n\
{environment}\
{trust}\
{user}\
ProtectSystem=strict\n\
ProtectHome=read-only\n\
ReadWritePaths={read_write}\n\
{HARDENING}",
        exec_start = exec_start.join(" "),
        read_write = read_write.join(" "),
    );
    let delay = match &args.randomized_delay {
        Some(delay) => format!(
            "RandomizedDelaySec={}\n",
            unit_text(delay, "--randomized-delay")?
        ),
        None => String::new(),
    };
    let timer = format!(
        "# Generated by vault systemd timer {name}.\n\
[Unit]\n\
Description=Run {name}.service on a schedule\n\
\n\
[Timer]\n\
OnCalendar={on_calendar}\n\
Persistent=true\n\
{delay}\
Unit={name}.service\n\
\n\
[Install]\n\
WantedBy=timers.target\n"
    );
    match &args.output_dir {
        Some(dir) => {
            // Made when missing (0700, as every directory vault makes), refused where
            // another user could swap the units before they are installed.
            if !dir.is_dir() {
                crate::store::strict::check_future_dir(dir, "output directory")?;
                crate::store::fs::ensure_private_dir(dir)?;
                context.note(&format!("created {} (mode 0700)", dir.display()));
            } else {
                crate::store::strict::check_not_replaceable(dir, "output directory")?;
            }
            for (file, text) in [
                (format!("{name}.service"), &service),
                (format!("{name}.timer"), &timer),
            ] {
                let path = dir.join(&file);
                // Units hold no secret and systemd reads them as another user.
                write_atomic_with_mode(&path, text.as_bytes(), false, 0o644)?;
                context.note(&format!("wrote {}", path.display()));
            }
            context.note(&format!(
                "enable with: systemctl daemon-reload && systemctl enable --now {name}.timer"
            ));
        }
        None => print_stdout(&format!(
            "# {name}.service\n{service}\n# {name}.timer\n{timer}"
        ))?,
    }
    SUCCESS
}
