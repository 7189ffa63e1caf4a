//! `vault agent …` and everything vault does as an agent under a grant (`VAULT_GRANT`,
//! `--grant`): grants made, listed and revoked by the user; exec, run, check, get, list
//! and exists as the agent sees them; the audit log; the agent host's configuration.

pub mod confined;
mod connect;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::PathBuf;

use crate::agent::{audit, confine, grant};
use crate::cli::{AgentCommand, AgentGrantArgs, Cli, Command};
use crate::commands::{Context, SUCCESS, print_report, print_stderr, print_stdout};
use crate::error::{Error, Result, exit};
use crate::resolve::Reference;

/// The grant key named by `--grant` or `VAULT_GRANT`, if vault is to act as an agent.
pub fn grant_key(cli: &Cli) -> Option<PathBuf> {
    cli.global.grant.clone().or_else(|| {
        std::env::var_os("VAULT_GRANT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    })
}

/// `vault agent …` as the user.
pub fn run(context: &Context, command: &AgentCommand) -> Result<u8> {
    match command {
        AgentCommand::Grant(args) => grant(context, args),
        AgentCommand::List => list(context, context.global.quiet),
        AgentCommand::Revoke {
            name,
            rotate,
            policy,
        } => revoke(context, name, *rotate, policy.as_deref()),
        AgentCommand::Exec { .. } => Err(Error::Usage(
            "vault agent exec runs under a grant: give --grant KEY or set VAULT_GRANT (vault agent grant prints the key's path)".into(),
        )),
        AgentCommand::Log { name } => log(name.as_deref(), context.global.quiet),
        AgentCommand::Connect {
            host,
            name,
            allow_run,
        } => connect::connect(*host, name, *allow_run),
    }
}

/// Granted names with their values borrowed from the decrypted vault.
type Granted<'p> = Vec<(String, crate::store::document::SecretText<'p>)>;

/// The vault's values of the names `patterns` match, code-loading variables left out
/// (returned apart).
/// The values are the user's own, as `vault exec` would give them: their personal value in
/// place of the shared one, and the values of their groups.
fn granted_values<'p>(
    context: &Context,
    plaintext: &'p crate::store::document::Plaintext,
    patterns: &[String],
) -> Result<(Granted<'p>, Vec<String>)> {
    let selected = crate::commands::exec::reader_values(plaintext, context, &|name| {
        patterns.iter().any(|p| grant::matches(p, name))
    })?;
    let mut held = Vec::new();
    let mut kept = Vec::new();
    for (name, value) in selected {
        if crate::code_env::loads_code(&name) {
            held.push(name.into_owned());
        } else {
            kept.push((name.into_owned(), value));
        }
    }
    Ok((kept, held))
}

fn grant(context: &Context, args: &AgentGrantArgs) -> Result<u8> {
    grant::validate_name(&args.name)?;
    let ttl = humantime::parse_duration(&args.ttl).map_err(|e| {
        Error::Usage(format!(
            "--ttl {:?} is not a duration (30m, 8h, 2d): {e}",
            args.ttl
        ))
    })?;
    if ttl.as_secs() == 0 {
        return Err(Error::Usage("--ttl must be at least one second".into()));
    }
    for pattern in &args.only {
        if pattern.is_empty()
            || !pattern
                .chars()
                .all(|c| c == '*' || c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(Error::Usage(format!(
                "--only {pattern:?} is not a secret name or a pattern of one (letters, digits, '_' and '*')"
            )));
        }
    }
    let project = match &args.project {
        Some(dir) => dir.clone(),
        None => confined::current_dir()?,
    };
    let project = std::fs::canonicalize(&project).map_err(|e| Error::io("find", &project, e))?;
    if !project.is_dir() {
        return Err(Error::Usage(format!(
            "--project {} is not a directory",
            project.display()
        )));
    }
    let commands = args
        .commands
        .iter()
        .map(|c| confine::allowed_command(c))
        .collect::<Result<Vec<_>>>()?;
    let plaintext = context.vault().read(context)?;
    let (values, held) = granted_values(context, &plaintext, &args.only)?;
    if !held.is_empty() {
        context.note(&format!(
            "not granted {}: variables that make programs load or run code are never granted",
            held.join(", ")
        ));
    }
    for pattern in &args.only {
        if !values.iter().any(|(name, _)| grant::matches(pattern, name)) {
            return Err(Error::NotFound(format!(
                "--only {pattern} matches no secret of the vault {} that can be granted; nothing was granted",
                context.vault_location.path.display()
            )));
        }
    }
    let now = grant::now();
    let scope = grant::Scope {
        name: args.name.clone(),
        patterns: args.only.clone(),
        names: values.iter().map(|(n, _)| n.clone()).collect(),
        commands,
        project,
        created_at: now,
        expires_at: now.saturating_add(ttl.as_secs()),
    };
    let pairs: Vec<(&str, &str)> = values
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let key = grant::create(&scope, &pairs, signer(context)?)?;
    audit::append(audit::Action {
        grant: &scope.name,
        action: "grant",
        argv: Vec::new(),
        names: scope.names.clone(),
        exit: None,
        error: None,
    })?;
    context.note(&format!(
        "granted {} to {} until {} (project {}{}); the agent uses it with VAULT_GRANT={} or vault agent connect",
        scope.names.join(", "),
        scope.name,
        grant::format_time(scope.expires_at),
        scope.project.display(),
        if scope.commands.is_empty() {
            "; any program but a shell".to_string()
        } else {
            format!(
                "; only {}",
                scope.commands_text()
            )
        },
        key.display()
    ));
    print_stdout(&format!("{}\n", key.display()))?;
    SUCCESS
}

/// The key grant scope files are signed with: this user's writer key.
fn signer(context: &Context) -> Result<&crate::store::signature::SigningKey> {
    context.own().map(|own| &own.key).ok_or_else(|| {
        Error::LockedOut(
            "a grant's scope is signed with your writer key, and no identity of yours was found to derive it from (vault init, or VAULT_IDENTITY)".into(),
        )
    })
}

fn list(context: &Context, quiet: bool) -> Result<u8> {
    let listed = grant::list_checked(context.own().map(|own| &own.key))?;
    let mut out = String::new();
    let now = grant::now();
    let mut forged = Vec::new();
    for grant::Listed { scope, signed } in &listed {
        let state = match signed {
            Some(false) => {
                forged.push(scope.name.clone());
                "FORGED (not signed by you)"
            }
            _ if now >= scope.expires_at => "expired",
            Some(true) => "active",
            None => "active (unchecked: no identity)",
        };
        out.push_str(&format!(
            "{}\t{state} until {}\tonly {}\tnames {}\tcommands {}\tproject {}\n",
            scope.name,
            grant::format_time(scope.expires_at),
            scope.patterns.join(","),
            scope.names.join(","),
            if scope.commands.is_empty() {
                "any but a shell".to_string()
            } else {
                scope.commands_text()
            },
            scope.project.display()
        ));
    }
    if listed.is_empty() && !quiet {
        print_stderr("no grants");
    }
    print_report(&out)?;
    if !forged.is_empty() {
        print_stderr(&format!(
            "warning: the scope file of {} is not signed by you: someone else wrote it, and no write of yours refreshes it; revoke it (vault agent revoke NAME)",
            forged.join(", ")
        ));
    }
    SUCCESS
}

fn revoke(
    context: &Context,
    name: &str,
    rotate: bool,
    policy: Option<&std::path::Path>,
) -> Result<u8> {
    let scope =
        grant::scope_of(name)?.ok_or_else(|| Error::NotFound(format!("no grant named {name}")))?;
    // The policy is read first: a revocation that cannot then rotate is refused whole.
    let rotatable = if rotate {
        Some(crate::commands::rotate::rotatable_names(context, policy)?)
    } else {
        None
    };
    grant::revoke(name)?;
    audit::append(audit::Action {
        grant: name,
        action: "revoke",
        argv: Vec::new(),
        names: scope.names.clone(),
        exit: None,
        error: None,
    })?;
    context.note(&format!(
        "revoked {name}: its key and bundle are deleted. A copy the agent made of them, or of the values, is not: rotate what it could read (--rotate)"
    ));
    let Some(rotatable) = rotatable else {
        return SUCCESS;
    };
    let (now, never): (Vec<String>, Vec<String>) = scope
        .names
        .iter()
        .cloned()
        .partition(|n| rotatable.contains(n));
    if !now.is_empty() {
        let args = crate::cli::RotateArgs {
            policy: policy.map(PathBuf::from),
            secrets: now.clone(),
            dry_run: false,
            skip_backup: false,
            restart: false,
            rollback_on_failure: false,
            restart_only: false,
            all: false,
            due: false,
            no_health: false,
        };
        crate::commands::rotate::rotate(context, &args)?;
    }
    if !never.is_empty() {
        context.note(&format!(
            "not rotated (static, or without a rotation policy), so the agent may still hold them: {}; change them where they are issued, then 'vault set' them",
            never.join(", ")
        ));
    }
    SUCCESS
}

fn log(name: Option<&str>, quiet: bool) -> Result<u8> {
    let log_path = audit::path()?;
    let grants = grant::list()?;
    // Making a grant writes its first line: a grant without a log, or with an empty one,
    // means the log was deleted or emptied.
    let empty = std::fs::metadata(&log_path).map_or(true, |m| m.len() == 0);
    if empty && !grants.is_empty() {
        return Err(Error::BadData(format!(
            "the agent audit log {} is missing or empty, but grants exist ({}): it was deleted or emptied, and what was run under them is not known",
            log_path.display(),
            grants
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let checked = audit::read()?;
    let mut out = String::new();
    for entry in checked
        .entries
        .iter()
        .filter(|e| name.is_none_or(|n| e.grant == n))
    {
        let mut line = format!("{}  {}  {}", entry.time, entry.grant, entry.action);
        if !entry.argv.is_empty() {
            line.push_str(&format!("  {}", entry.argv.join(" ")));
        }
        if !entry.names.is_empty() {
            line.push_str(&format!("  names={}", entry.names.join(",")));
        }
        if let Some(code) = entry.exit {
            line.push_str(&format!("  exit={code}"));
        }
        if let Some(error) = &entry.error {
            line.push_str(&format!("  error: {error}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    print_report(&out)?;
    match checked.broken {
        Some(broken) => Err(Error::BadData(format!(
            "the agent audit log {} is broken: {broken}",
            audit::path()?.display()
        ))),
        None if quiet => SUCCESS,
        None => {
            let anchor = if audit::journal_runs() {
                "the chain only shows careless edits: a rewritten or shortened log still reads intact, so compare with the journal's copy (journalctl -t vault-agent)"
            } else {
                "not anchored: no journal here, so a rewritten or shortened log cannot be told from a true one"
            };
            print_stderr(&format!(
                "{} entries, chain intact; {anchor}",
                checked.entries.len()
            ));
            SUCCESS
        }
    }
}

/// After the user changed `names` in the vault: the bundles of the grants they are in
/// are written again with the new values, so the agent runs with what the user has. The
/// change itself is done: a grant that cannot be refreshed is named, not an error.
pub fn refresh_grants(context: &Context, names: &[String]) {
    if let Err(e) = try_refresh(context, names) {
        print_stderr(&format!(
            "warning: the change is written, but an agent grant holding {} was not refreshed: {e}; grant it again (vault agent grant)",
            names.join(", ")
        ));
    }
}

fn try_refresh(context: &Context, names: &[String]) -> Result<()> {
    // With no place for state there can be no grants to refresh.
    if names.is_empty() || grant::state_dir().is_err() || grant::list()?.is_empty() {
        return Ok(());
    }
    let signer = signer(context)?;
    let (concerned, forged) = grant::concerned(names, signer)?;
    if !forged.is_empty() {
        print_stderr(&format!(
            "warning: not refreshed, and nothing written for them: the scope file of {} is not signed by you (forged or damaged); revoke it (vault agent revoke NAME)",
            forged.join(", ")
        ));
    }
    if concerned.is_empty() {
        return Ok(());
    }
    let plaintext = context.vault().read(context)?;
    for scope in concerned {
        let (values, _) = granted_values(context, &plaintext, &scope.names)?;
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        grant::refresh(&scope.name, &pairs, signer)?;
        context.explain(&format!("refreshed the bundle of grant {}", scope.name));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// As the agent.

/// Runs the command line as the agent under the grant at `key`: nothing else is read to
/// open anything, and only what the grant allows runs.
pub fn as_agent(cli: Cli, key: PathBuf) -> Result<u8> {
    let opened = grant::open(&key)?;
    let name = opened.scope.name.clone();
    let outcome = act(cli, &opened);
    if let Err(e) = &outcome
        && matches!(e, Error::LockedOut(_) | Error::Usage(_))
    {
        // Refusals are part of the trail too: what the agent tried.
        let _ = audit::append(audit::Action {
            grant: &name,
            action: "refused",
            argv: Vec::new(),
            names: Vec::new(),
            exit: None,
            error: Some(e.to_string()),
        });
    }
    outcome
}

fn act(cli: Cli, opened: &grant::Grant) -> Result<u8> {
    opened.check_expiry()?;
    let name = &opened.scope.name;
    let refuse = |what: &str| {
        Err(Error::LockedOut(format!(
            "under the grant {name} vault does not {what}: an agent runs exec, run, check, get (masked), list, exists, agent exec, agent log and mcp; writes and values are the user's"
        )))
    };
    match cli.command {
        Command::Exec(args) => {
            if args.prefix.is_some()
                || !args.files.is_empty()
                || args.file_dir.is_some()
                || !args.allow_env.is_empty()
                || args.no_override
                || args.clean_env
            {
                return Err(Error::Usage(format!(
                    "under the grant {name} vault exec takes only --only and the command: the environment, files and masking are the grant's"
                )));
            }
            exec_granted(opened, args.command, &args.only, "exec")
        }
        Command::Agent(AgentCommand::Exec { command }) => {
            exec_granted(opened, command, &[], "exec")
        }
        Command::Run(args) => run_granted(opened, args),
        Command::Check(args) => {
            if !args.env_files.is_empty() {
                return refuse("read env files");
            }
            check_granted(opened, args.manifest.as_deref(), args.json)
        }
        Command::Get(args) => {
            if args.reveal {
                return refuse("reveal a value (--reveal)");
            }
            if !opened.secrets.contains_key(&args.name) {
                return Err(Error::NotFound(format!(
                    "{} is not granted to {name}",
                    args.name
                )));
            }
            audit::append(audit::Action {
                grant: name,
                action: "get",
                argv: Vec::new(),
                names: vec![args.name.clone()],
                exit: None,
                error: None,
            })?;
            print_stdout(&format!("{MASK}\n"))?;
            SUCCESS
        }
        Command::List(args) => {
            if args.address.is_some() {
                return refuse("list a provider");
            }
            let names: String = opened.secrets.keys().map(|n| format!("{n}\n")).collect();
            print_report(&names)?;
            SUCCESS
        }
        Command::Exists(args) => Ok(if opened.secrets.contains_key(&args.name) {
            exit::OK
        } else {
            exit::NOT_FOUND
        }),
        Command::Agent(AgentCommand::Log { name }) => log(name.as_deref(), cli.global.quiet),
        Command::Mcp(args) => crate::commands::mcp::serve(opened, &args),
        Command::Completions { shell } => print_stdout(&shell.script()).map(|()| exit::OK),
        Command::Set(_)
        | Command::Edit(_)
        | Command::Rm(_)
        | Command::Mv(_)
        | Command::Import(_)
        | Command::Rotate(_)
        | Command::Restore(_)
        | Command::Sync(_)
        | Command::Merge(_)
        | Command::Init(_) => refuse("write (writes are refused under a grant)"),
        _ => refuse("run this command"),
    }
}

/// What a value is shown as under a grant: nothing of it.
const MASK: &str = "********";

fn exec_granted(
    opened: &grant::Grant,
    command: Vec<OsString>,
    only: &[String],
    action: &'static str,
) -> Result<u8> {
    let wanted: BTreeSet<&str> = only.iter().map(String::as_str).collect();
    for name in &wanted {
        if !opened.secrets.contains_key(*name) {
            return Err(Error::NotFound(format!(
                "--only names {name}, which is not granted to {}",
                opened.scope.name
            )));
        }
    }
    let variables = opened
        .secrets
        .keys()
        .filter(|n| wanted.is_empty() || wanted.contains(n.as_str()))
        .map(|n| (n.clone(), n.clone()))
        .collect();
    let outcome = confined::run(
        confined::Request {
            grant: opened,
            argv: command,
            cwd: confined::current_dir()?,
            variables,
            literals: Vec::new(),
            timeout: None,
            action,
        },
        std::io::stdout(),
        std::io::stderr(),
    )
    .map_err(Error::before_command)?;
    Ok(outcome.code)
}

/// The manifest's variables as the agent may have them: `secret:` references to granted
/// names and literals; any other reference refused — the manifest is a file the agent can
/// write, and a `provider:`, `file:` or `env:` line would fetch what was not granted.
fn granted_bindings(
    opened: &grant::Grant,
    manifest: Option<&std::path::Path>,
) -> Result<(PathBuf, Vec<crate::resolve::Binding>)> {
    let path = crate::manifest::locate(manifest)?;
    // Only a file of the project, read as it is: vault mcp runs outside the agent's
    // sandbox, and a manifest linked to the identity file would quote it in a parse error.
    let outside = || {
        Error::LockedOut(format!(
            "under the grant {} a manifest is read only inside the project {} and not through a symbolic link: {} is not",
            opened.scope.name,
            opened.scope.project.display(),
            path.display()
        ))
    };
    let is_link = std::fs::symlink_metadata(&path)
        .map_err(|e| Error::io("read", &path, e))?
        .file_type()
        .is_symlink();
    let real = std::fs::canonicalize(&path).map_err(|e| Error::io("read", &path, e))?;
    if is_link || !real.starts_with(&opened.scope.project) {
        return Err(outside());
    }
    let bindings = crate::manifest::Manifest::load(&real)
        .map_err(|_| {
            Error::BadData(format!(
                "the manifest {} is not valid (run vault check outside the grant to see why)",
                path.display()
            ))
        })?
        .bindings_for(None);
    for binding in &bindings {
        match &binding.reference {
            Reference::Secret(_) | Reference::Literal(_) => {}
            other => {
                return Err(Error::LockedOut(format!(
                    "{} in {} is {}: under the grant {} only secret: references to granted names and literals are used (a manifest is the agent's to edit)",
                    binding.variable,
                    path.display(),
                    other.for_error(),
                    opened.scope.name
                )));
            }
        }
    }
    Ok((path, bindings))
}

fn run_granted(opened: &grant::Grant, args: crate::cli::RunArgs) -> Result<u8> {
    let name = &opened.scope.name;
    if !args.env_files.is_empty()
        || args.watch
        || args.file_dir.is_some()
        || !args.allow_env.is_empty()
    {
        return Err(Error::Usage(format!(
            "under the grant {name} vault run takes only --manifest and the command"
        ))
        .before_command());
    }
    let (path, bindings) =
        granted_bindings(opened, args.manifest.as_deref()).map_err(Error::before_command)?;
    let mut variables = Vec::new();
    let mut literals = Vec::new();
    for binding in &bindings {
        if binding.as_file {
            return Err(Error::Usage(format!(
                "{} in {} is a [files] entry: under a grant values are passed as variables only",
                binding.variable,
                path.display()
            ))
            .before_command());
        }
        match &binding.reference {
            Reference::Secret(secret) if opened.secrets.contains_key(secret) => {
                variables.push((binding.variable.clone(), secret.clone()));
            }
            Reference::Secret(secret) => {
                if binding.required && binding.default.is_none() {
                    return Err(Error::NotFound(format!(
                        "{} needs secret:{secret}, which is not granted to {name}",
                        binding.variable
                    ))
                    .before_command());
                }
                if let Some(default) = &binding.default {
                    literals.push((binding.variable.clone(), default.clone()));
                }
            }
            Reference::Literal(text) => literals.push((binding.variable.clone(), text.clone())),
            _ => unreachable!("refused above"),
        }
    }
    let manifest_command = crate::manifest::Manifest::load(&path)
        .map(|m| m.command)
        .unwrap_or_default();
    let command: Vec<OsString> = if args.command.is_empty() {
        manifest_command.iter().map(OsString::from).collect()
    } else {
        args.command
    };
    if command.is_empty() {
        return Err(Error::Usage(format!(
            "no command to run: give one after -- or as command = [...] in {}",
            path.display()
        ))
        .before_command());
    }
    let outcome = confined::run(
        confined::Request {
            grant: opened,
            argv: command,
            cwd: confined::current_dir().map_err(Error::before_command)?,
            variables,
            literals,
            timeout: None,
            action: "run",
        },
        std::io::stdout(),
        std::io::stderr(),
    )
    .map_err(Error::before_command)?;
    Ok(outcome.code)
}

/// One row of `check` under a grant.
pub struct CheckRow {
    pub variable: String,
    pub from: String,
    pub description: Option<String>,
    pub state: &'static str,
}

/// The manifest's variables as the agent sees them: granted (masked), a literal, or
/// missing (not granted).
pub fn check_rows(
    opened: &grant::Grant,
    manifest: Option<&std::path::Path>,
) -> Result<(PathBuf, Vec<CheckRow>)> {
    let (path, bindings) = granted_bindings(opened, manifest)?;
    let rows = bindings
        .iter()
        .map(|binding| {
            let (from, state) = match &binding.reference {
                Reference::Secret(secret) if opened.secrets.contains_key(secret) => {
                    (format!("secret:{secret}"), "granted")
                }
                Reference::Secret(secret) if binding.default.is_some() => {
                    (format!("secret:{secret}"), "default")
                }
                Reference::Secret(secret) if !binding.required => {
                    (format!("secret:{secret}"), "unset")
                }
                Reference::Secret(secret) => (format!("secret:{secret}"), "missing"),
                _ => ("a literal value".to_string(), "literal"),
            };
            CheckRow {
                variable: binding.variable.clone(),
                from,
                description: binding.description.clone(),
                state,
            }
        })
        .collect();
    Ok((path, rows))
}

fn check_granted(
    opened: &grant::Grant,
    manifest: Option<&std::path::Path>,
    json: bool,
) -> Result<u8> {
    let (path, rows) = check_rows(opened, manifest)?;
    audit::append(audit::Action {
        grant: &opened.scope.name,
        action: "check",
        argv: Vec::new(),
        names: Vec::new(),
        exit: None,
        error: None,
    })?;
    if json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.variable, "from": r.from, "description": r.description,
                    "state": r.state, "shown": if r.state == "granted" { MASK } else { "" },
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&items)
            .map_err(|e| Error::Failed(format!("cannot write JSON: {e}")))?;
        print_stdout(&format!("{text}\n"))?;
    } else {
        let out: String = rows
            .iter()
            .map(|r| {
                format!(
                    "{}  {}  {}{}\n",
                    r.variable,
                    r.from,
                    r.state,
                    if r.state == "granted" {
                        format!(" {MASK}")
                    } else {
                        String::new()
                    }
                )
            })
            .collect();
        print_report(&out)?;
    }
    let missing: Vec<&str> = rows
        .iter()
        .filter(|r| r.state == "missing")
        .map(|r| r.variable.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(Error::NotFound(format!(
            "required variables not granted to {}: {} ({})",
            opened.scope.name,
            missing.join(", "),
            path.display()
        )));
    }
    SUCCESS
}
