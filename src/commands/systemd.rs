//! `vault systemd unit`: a hardened service unit that resolves its secrets at start.
//!
//! The identity, the vault and the manifest reach the service as systemd credentials
//! (`LoadCredential=`): the service manager reads them with its own privileges and hands
//! the service private read-only copies, so the service may run as a dynamic user behind
//! `ProtectSystem=strict` and `ProtectHome=yes` and still open the vault.

use std::path::{Path, PathBuf};

use crate::cli::{ServiceType, SystemdCommand, SystemdTimerArgs, SystemdUnitArgs};
use crate::commands::{Context, SUCCESS, print_stdout};
use crate::error::{Error, Result};
use crate::paths::CREDENTIAL_NAME;
use crate::store::fs::write_atomic_with_mode;
use crate::sync::Endpoint;

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

/// One word of an `ExecStart=` line, quoted so systemd reads it back unchanged.
fn exec_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c));
    if plain {
        return word.to_string();
    }
    let mut quoted = String::from("\"");
    for c in word.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '%' => quoted.push_str("%%"),
            '$' => quoted.push_str("$$"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A path in a setting where specifiers (`%`) are expanded.
fn setting_path(path: &Path) -> String {
    path.display().to_string().replace('%', "%%")
}

fn valid_unit_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
}

/// Refuses a program under a directory `ProtectHome=yes` hides from the service (as
/// `cargo install` puts vault in ~/.cargo/bin): the unit could never start it.
fn refuse_hidden_by_protect_home(program: &Path, what: &str) -> Result<()> {
    let real = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    let hidden = ["/home", "/root", "/run/user"]
        .iter()
        .any(|dir| real.starts_with(dir));
    if hidden {
        return Err(Error::Usage(format!(
            "{what} is {}, under a home directory, which the unit's ProtectHome=yes hides from the service; install it system-wide first (sudo install -m 755 {} /usr/local/bin/, or sudo scripts/install) and run this from there",
            real.display(),
            real.display()
        )));
    }
    Ok(())
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

/// A setting value on one line: systemd reads a unit line by line.
fn one_line(value: &str, what: &str) -> Result<String> {
    if value.contains(['\n', '\r']) || value.trim().is_empty() {
        return Err(Error::Usage(format!("{what} must be one non-empty line")));
    }
    Ok(value.replace('%', "%%"))
}

fn unit(context: &Context, args: &SystemdUnitArgs) -> Result<u8> {
    let name = unit_name(&args.name, ".service")?;
    let vault_binary = std::env::current_exe()
        .map_err(|e| Error::Failed(format!("cannot find the vault binary: {e}")))?;
    refuse_hidden_by_protect_home(&vault_binary, "the vault binary")?;
    if let Some(program) = args
        .command
        .first()
        .map(Path::new)
        .filter(|p| p.is_absolute())
    {
        refuse_hidden_by_protect_home(program, "the command")?;
    }
    // The service reads its copy (a credential, root's), which passes any check: so the
    // manifest is checked here as `vault run` checks it — neither another user's nor
    // where another user could replace it before a start.
    let manifest = crate::manifest::locate(Some(&args.manifest))?;
    let vault_file = absolute(&context.vault_location.path, "vault")?;
    let trust = trust_settings(context, name)?;
    let identity = context.identity_location()?;
    let identity = absolute(&identity.path, "identity")?;
    let description = args
        .description
        .clone()
        .unwrap_or_else(|| format!("{name} (secrets resolved by vault)"));
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
    exec_start.push("--".into());
    exec_start.extend(args.command.iter().map(|w| exec_word(w)));
    let user = match &args.user {
        Some(user) => format!("User={user}"),
        None => "DynamicUser=yes".to_string(),
    };
    // Watching, the service reads the live vault rather than a copy made at start: its
    // directory is readable (and only readable), and a reload re-resolves. The command,
    // not vault, reports readiness, so notifications from it are accepted.
    let vault_setting = if args.watch {
        let dir = crate::store::fs::parent_dir(&vault_file);
        let under_home = ["/home", "/root", "/run/user"]
            .iter()
            .any(|d| dir.starts_with(d));
        format!(
            "Environment=VAULT_FILE={}\nReadOnlyPaths={}\nExecReload=/bin/kill -HUP $MAINPID\n{}{}",
            setting_path(&vault_file),
            setting_path(&dir),
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
            "LoadCredential=vault-file:{}\nEnvironment=VAULT_FILE=%d/vault-file\nProtectHome=yes\n",
            setting_path(&vault_file)
        )
    };
    let unit = format!(
        "# Generated by vault systemd unit {name}. Secrets are resolved when the service\n\
# starts; the vault, identity and manifest are read as credentials at that moment.\n\
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
{trust}\
{user}\n\
ProtectSystem=strict\n\
{HARDENING}\
\n\
[Install]\n\
WantedBy=multi-user.target\n",
        exec_start = exec_start.join(" "),
        identity = setting_path(&identity),
        manifest = setting_path(&manifest),
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
        if let Some(Ok(Endpoint::Dotenv(path))) = target.as_deref().map(Endpoint::parse) {
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
    let on_calendar = one_line(&args.on_calendar, "--on-calendar")?;
    let vault_binary = std::env::current_exe()
        .map_err(|e| Error::Failed(format!("cannot find the vault binary: {e}")))?;
    let mut words = args.command.clone();
    if words.first().map(String::as_str) == Some("vault") {
        words[0] = vault_binary.display().to_string();
    }
    let exec_start: Vec<String> = words.iter().map(|w| exec_word(w)).collect();
    let trust = trust_settings(context, name)?;
    let description = match &args.description {
        Some(d) => one_line(d, "--description")?,
        None => format!("{name} (vault)"),
    };
    let mut environment = format!(
        "Environment={}\n",
        exec_word(&format!(
            "VAULT_FILE={}",
            std::path::absolute(&context.vault_location.path)
                .unwrap_or_else(|_| context.vault_location.path.clone())
                .display()
        ))
    );
    if context.config_location.path.exists() {
        let config = absolute(&context.config_location.path, "configuration file")?;
        environment.push_str(&format!(
            "Environment={}\n",
            exec_word(&format!("VAULT_CONFIG={}", config.display()))
        ));
    }
    // The identity, when there is one, reaches the service as a credential.
    if let Ok(identity) = context.identity_location()
        && let Ok(identity) = absolute(&identity.path, "identity")
    {
        environment.push_str(&format!(
            "LoadCredential={CREDENTIAL_NAME}:{}\n",
            setting_path(&identity)
        ));
    }
    let read_write: Vec<String> = writable_paths(context, args)
        .iter()
        .map(|p| exec_word(&setting_path(p)))
        .collect();
    let user = args
        .user
        .as_deref()
        .map(|u| format!("User={}\n", one_line(u, "--user").unwrap_or_default()))
        .unwrap_or_default();
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
            one_line(delay, "--randomized-delay")?
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
