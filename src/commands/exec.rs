//! `vault exec` and `vault run`: secrets into a process's environment.
//!
//! The command replaces vault (`execvp`) so that its PID, signals and exit status are its
//! own — what `Type=notify` services and process supervisors need. Only `--redact` keeps
//! vault alive, as a filter between the command and the terminal.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use age::secrecy::ExposeSecret;

use crate::cli::{ExecArgs, RunArgs};
use crate::code_env::Allowed;
use crate::commands::{Context, SUCCESS, print_report, print_stderr, print_stdout};
use crate::env_file;
use crate::environment::{ChildEnvironment, Inherit};
use crate::error::{Error, Result};
use crate::manifest::Manifest;
use crate::names::validate_name;
use crate::pty::{self, Pty, Screen};
use crate::redact::{Patterns, Redactor};
use crate::resolve::{Binding, Reference};
use crate::secret_files::{FileDir, SealedFile};
use crate::store::document::{Plaintext, SecretText};

mod check;
mod launch;

pub use check::check;

pub(in crate::commands) use launch::spawn_pump;
pub(super) use launch::start_error;
use launch::{replace_process, run_child};

/// What to start and with which environment.
pub(super) struct Launch<'a> {
    command: Vec<OsString>,
    /// Variables to set, in order; later ones win.
    variables: Vec<(&'a str, &'a str)>,
    /// Secrets given as files: the variable that gets the path, and the content.
    files: Vec<(&'a str, &'a str)>,
    /// Write those files here (a new private directory inside it) rather than in memory.
    file_dir: Option<PathBuf>,
    inherit: Inherit,
    /// Variables whose values the manifest or env file writes out (a literal, a default):
    /// passed, but not masked by `--redact` — `LOG_LEVEL = "info"` would mask every
    /// "info" — as `op run` masks only what references resolve to.
    literals: Vec<String>,
}

impl Launch<'_> {
    /// What `--redact` masks: every value given, but the literals written out.
    fn masked(&self) -> impl Iterator<Item = &(&str, &str)> {
        self.variables
            .iter()
            .chain(&self.files)
            .filter(|(name, _)| !self.literals.iter().any(|l| l == name))
    }
}

/// What holds a launch's secret files open or on disk until the command is done with them.
pub(super) enum FileHolder {
    Sealed(#[allow(dead_code)] Vec<SealedFile>),
    Dir(FileDir),
}

impl FileHolder {
    /// The `--file-dir` directory the files are in, if they are on disk.
    pub(super) fn dir(&self) -> Option<&std::path::Path> {
        match self {
            FileHolder::Sealed(_) => None,
            FileHolder::Dir(dir) => Some(dir.path()),
        }
    }
}

/// Makes the launch's secret files and returns the `VAR=path` pairs that name them.
pub(super) fn make_files(launch: &Launch) -> Result<(FileHolder, Vec<(String, String)>)> {
    let mut paths = Vec::with_capacity(launch.files.len());
    match &launch.file_dir {
        None => {
            let mut sealed = Vec::with_capacity(launch.files.len());
            for (variable, content) in &launch.files {
                let file = SealedFile::new(variable, content.as_bytes())?;
                paths.push((variable.to_string(), file.path()));
                sealed.push(file);
            }
            Ok((FileHolder::Sealed(sealed), paths))
        }
        Some(parent) => {
            let mut dir = FileDir::create(parent)?;
            for (variable, content) in &launch.files {
                let path = dir.add(variable, content.as_bytes())?;
                paths.push((variable.to_string(), path.display().to_string()));
            }
            Ok((FileHolder::Dir(dir), paths))
        }
    }
}

/// The names and values that pass `keep` as this reader sees them: their own personal
/// values in place of the shared ones.
#[allow(clippy::type_complexity)]
pub(crate) fn reader_values<'p>(
    plaintext: &'p Plaintext,
    context: &Context,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<(Cow<'p, str>, SecretText<'p>)>> {
    let (mut values, sealed) = plaintext.values_and_sealed(keep)?;
    crate::commands::overlay::overlay_values(context, &sealed, &mut values, keep)?;
    Ok(values)
}

/// The vault secrets `vault exec` passes on, under the names they get, borrowed from the
/// decrypted vault: only their names and values are decoded, and only for those chosen.
fn select_secrets<'p>(
    plaintext: &'p Plaintext,
    context: &Context,
    args: &ExecArgs,
) -> Result<Vec<(Cow<'p, str>, SecretText<'p>)>> {
    if !args.only.is_empty() {
        let wanted: BTreeSet<&str> = args.only.iter().map(String::as_str).collect();
        for name in &wanted {
            validate_name(name)?;
        }
        let selected = reader_values(plaintext, context, &|name| wanted.contains(name))?;
        if let Some(missing) = wanted
            .iter()
            .find(|name| !selected.iter().any(|(n, _)| n == *name))
        {
            return Err(Error::NotFound(format!(
                "--only names {missing}, but the vault {} has no secret by that name",
                context.vault_location.path.display()
            )));
        }
        return Ok(selected);
    }
    let prefix = args.prefix.as_deref().unwrap_or("");
    let mut selected = if prefix.is_empty() {
        reader_values(plaintext, context, &|_| true)?
    } else {
        reader_values(plaintext, context, &|name| name.starts_with(prefix))?
    };
    if !args.strip_prefix {
        return Ok(selected);
    }
    for (name, _) in &mut selected {
        let variable = match name {
            Cow::Borrowed(whole) => Cow::Borrowed(&whole[prefix.len()..]),
            Cow::Owned(whole) => Cow::Owned(whole[prefix.len()..].to_string()),
        };
        if variable.is_empty() {
            return Err(Error::BadData(format!(
                "with --strip-prefix the secret {name} would become a variable with no name"
            )));
        }
        validate_name(&variable).map_err(|_| {
            Error::BadData(format!(
                "with --strip-prefix the secret {name} would become {variable}, which is not a valid variable name"
            ))
        })?;
        *name = variable;
    }
    Ok(selected)
}

/// The secrets `--file VAR=NAME` names, in the order given, each found in the vault.
fn file_secrets<'p>(
    plaintext: &'p Plaintext,
    context: &Context,
    args: &ExecArgs,
) -> Result<Vec<(Cow<'p, str>, SecretText<'p>)>> {
    if args.files.is_empty() {
        return Ok(Vec::new());
    }
    for (variable, name) in &args.files {
        validate_name(variable)?;
        validate_name(name)?;
    }
    let wanted: BTreeSet<&str> = args.files.iter().map(|(_, n)| n.as_str()).collect();
    let found = reader_values(plaintext, context, &|name| wanted.contains(name))?;
    if let Some(missing) = wanted.iter().find(|w| !found.iter().any(|(n, _)| n == *w)) {
        return Err(Error::NotFound(format!(
            "--file names {missing}, but the vault {} has no secret by that name",
            context.vault_location.path.display()
        )));
    }
    Ok(found)
}

/// Says which variables were held back because they make programs load code (see
/// `code_env`), and how to pass them.
fn say_held_back(mut held: Vec<String>, from: &str) {
    if held.is_empty() {
        return;
    }
    held.sort();
    held.dedup();
    print_stderr(&format!(
        "held back {}: variables that make programs load or run code are passed {from} only when allowed by name (--allow-env NAME, or allow_env = [\"NAME\"] under [exec] in the configuration)",
        held.join(", ")
    ));
}

pub fn exec(context: &Context, args: &ExecArgs) -> Result<u8> {
    context.use_cache_args(&args.cache);
    let plaintext = context.vault().read(context)?;
    let allowed = Allowed::new(&args.allow_env, &context.config.exec.allow_env);
    let mut held = Vec::new();
    let mut secrets = select_secrets(&plaintext, context, args)?;
    secrets.retain(|(name, _)| {
        let hold = allowed.holds_back(name);
        if hold {
            held.push(name.to_string());
        }
        !hold
    });
    // A file's path in such a variable runs what the vault holds just the same.
    let files: Vec<&(String, String)> = args
        .files
        .iter()
        .filter(|(variable, _)| {
            let hold = allowed.holds_back(variable);
            if hold {
                held.push(variable.clone());
            }
            !hold
        })
        .collect();
    say_held_back(held, "from the vault");
    let file_secrets = file_secrets(&plaintext, context, args)?;
    context.explain(&format!("passing {} secrets to the command", secrets.len()));
    let content_of = |name: &str| {
        file_secrets
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    };
    let launch = Launch {
        command: args.command.clone(),
        variables: secrets
            .iter()
            .map(|(name, value)| (name.as_ref(), value.as_str()))
            .collect(),
        files: files
            .iter()
            .map(|(variable, name)| (variable.as_str(), content_of(name)))
            .collect(),
        file_dir: args.file_dir.clone(),
        inherit: Inherit {
            clean: args.clean_env,
            keep_path: !args.no_path,
            no_override: args.no_override,
        },
        literals: Vec::new(),
    };
    let redact = if args.redact {
        Some(redact_settings(context, &launch)?)
    } else {
        None
    };
    start(launch, redact)
}

/// What `--redact` masks, and the variables it cannot mask named once on stderr (their
/// values are too short to mask without garbling the output and giving them away).
fn redact_settings(context: &Context, launch: &Launch) -> Result<crate::redact::Settings> {
    let source = context.config_location.path.display().to_string();
    let settings = context.config.redact.settings(&source)?;
    let mut unmasked: Vec<&str> = launch
        .masked()
        .filter(|(_, value)| crate::redact::too_short(value, &settings))
        .map(|(name, _)| *name)
        .collect();
    unmasked.sort_unstable();
    unmasked.dedup();
    if !unmasked.is_empty() {
        context.note(&format!(
            "not masking {} in the output: shorter than {} characters (min_length in [redact] of {source})",
            unmasked.join(", "),
            settings.min_length
        ));
    }
    Ok(settings)
}

/// Replaces vault with the command, or — to filter its output (with these settings), or to
/// remove files written for it — runs it as a child.
fn start(launch: Launch, redact: Option<crate::redact::Settings>) -> Result<u8> {
    if redact.is_some() || launch.file_dir.is_some() {
        run_child(launch, redact)
    } else {
        replace_process(launch)
    }
}

/// What `vault run` and `vault check` read: the manifest's variables (under the profile),
/// then each env file's in order, a later one winning.
struct Sources {
    bindings: Vec<Binding>,
    /// The manifest's `command`.
    command: Vec<String>,
    manifest: Option<PathBuf>,
    env_files: Vec<PathBuf>,
}

impl Sources {
    /// The manifest given, else — unless env files are — the project's; then the env files.
    fn load(context: &Context, manifest: Option<&Path>, env_files: &[PathBuf]) -> Result<Sources> {
        let manifest = if manifest.is_some() || env_files.is_empty() {
            Some(crate::manifest::locate(manifest)?)
        } else {
            None
        };
        let mut sources = Sources {
            bindings: Vec::new(),
            command: Vec::new(),
            manifest,
            env_files: env_files.to_vec(),
        };
        if let Some(path) = &sources.manifest {
            context.explain(&format!("manifest {}", path.display()));
            let manifest = Manifest::load(path)?;
            sources.bindings = manifest.bindings_for(context.profile.as_deref());
            sources.command = manifest.command;
        }
        let configured: Vec<&str> = context
            .config
            .providers
            .tables
            .keys()
            .map(String::as_str)
            .collect();
        for path in env_files {
            context.explain(&format!("env file {}", path.display()));
            env_file::overlay(&mut sources.bindings, env_file::load(path, &configured)?);
        }
        Ok(sources)
    }

    /// The files read, for messages: "app.toml", "a.env, b.env".
    fn names(&self) -> String {
        self.manifest
            .iter()
            .chain(&self.env_files)
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn run(context: &Context, args: &RunArgs) -> Result<u8> {
    context.use_cache_args(&args.cache);
    let sources = Sources::load(context, args.manifest.as_deref(), &args.env_files)?;
    let command = if args.command.is_empty() {
        sources.command.iter().map(OsString::from).collect()
    } else {
        args.command.clone()
    };
    if command.is_empty() {
        return Err(Error::Usage(match &sources.manifest {
            Some(path) => format!(
                "no command to run: give one after -- or as command = [...] in {}",
                path.display()
            ),
            None => "no command to run: give one after --".to_string(),
        }));
    }
    // Where each value comes from, so that a reference mistyped into a literal shows.
    for binding in &sources.bindings {
        context.explain(&format!(
            "{}: {}",
            binding.variable,
            env_file::describe(&binding.reference)
        ));
    }
    // The resolver, and with it every provider, is gone before the command takes over.
    let mut bindings = sources.bindings;
    // Held back before anything is resolved, so `--watch` never passes them either.
    let allowed = Allowed::new(&args.allow_env, &context.config.exec.allow_env);
    let mut held = Vec::new();
    bindings.retain(|binding| {
        let from_outside = matches!(
            binding.reference,
            Reference::Secret(_) | Reference::Provider { .. }
        );
        let hold = from_outside && allowed.holds_back(&binding.variable);
        if hold {
            held.push(binding.variable.clone());
        }
        !hold
    });
    say_held_back(held, "from a vault or a provider");
    let resolved = context.with_resolver(|resolver| resolver.resolve_all(&bindings))?;
    context.explain(&format!("resolved {} references", resolved.len()));
    if args.watch {
        return super::watch::supervise(context, args, command, &bindings, resolved);
    }
    let launch = launch_of(command, &resolved, &bindings, args.file_dir.clone());
    let redact = if args.redact {
        Some(redact_settings(context, &launch)?)
    } else {
        None
    };
    start(launch, redact)
}

/// What `vault run` starts: the resolved values as variables, or as files for the
/// manifest's `[files]`, on top of vault's own environment.
pub(super) fn launch_of<'a>(
    command: Vec<OsString>,
    resolved: &'a [crate::resolve::Resolved],
    bindings: &[crate::resolve::Binding],
    file_dir: Option<PathBuf>,
) -> Launch<'a> {
    let is_file = |variable: &str| bindings.iter().any(|b| b.as_file && b.variable == variable);
    // What the manifest or env file writes out: a literal, or the default it gave.
    let written_out = |r: &&crate::resolve::Resolved| {
        bindings.iter().any(|b| {
            b.variable == r.variable
                && (matches!(b.reference, Reference::Literal(_))
                    || b.default.as_deref() == Some(r.value.expose_secret()))
        })
    };
    let literals = resolved
        .iter()
        .filter(written_out)
        .map(|r| r.variable.clone())
        .collect();
    let (files, variables): (Vec<_>, Vec<_>) = resolved
        .iter()
        .map(|r| (r.variable.as_str(), r.value.expose_secret()))
        .partition(|(variable, _)| is_file(variable));
    Launch {
        command,
        variables,
        files,
        file_dir,
        inherit: Inherit {
            clean: false,
            keep_path: true,
            no_override: false,
        },
        literals,
    }
}

/// The command with its environment set up, not yet started, for a command vault keeps as
/// its child: started under a keeper (see `keeper`), which ends it and everything it
/// started with vault, and removes `files`' directory if vault is killed.
pub(super) fn build_command(
    launch: &Launch,
    file_paths: &[(String, String)],
    files: &FileHolder,
) -> Result<Command> {
    use std::os::unix::ffi::OsStrExt;
    if launch.command.is_empty() {
        return Err(Error::Usage("no command given after --".into()));
    }
    let mut command = crate::keeper::command(&launch.command, files.dir());
    command.env_clear();
    let mut variables = launch.variables.clone();
    variables.extend(file_paths.iter().map(|(v, p)| (v.as_str(), p.as_str())));
    let environment = ChildEnvironment::build(&variables, &launch.inherit)?;
    for (name, value) in environment.pairs() {
        command.env(
            std::ffi::OsStr::from_bytes(name),
            std::ffi::OsStr::from_bytes(value),
        );
    }
    Ok(command)
}
