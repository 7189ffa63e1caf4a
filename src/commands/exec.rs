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
        let selected = plaintext.values(&|name| wanted.contains(name))?;
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
        plaintext.values(&|_| true)?
    } else {
        plaintext.values(&|name| name.starts_with(prefix))?
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
    let found = plaintext.values(&|name| wanted.contains(name))?;
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

fn program_name(launch: &Launch) -> String {
    launch
        .command
        .first()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(super) fn start_error(launch: &Launch, error: std::io::Error) -> Error {
    let program = program_name(launch);
    if error.raw_os_error() != Some(libc::E2BIG) {
        return crate::process::spawn_error(&program, error);
    }
    match ChildEnvironment::build(&launch.variables, &launch.inherit) {
        Ok(environment) => crate::environment::too_big(
            &program,
            &environment,
            launch.command.iter().map(|a| a.len() + 1).sum(),
        ),
        Err(e) => e,
    }
}

/// Replaces this process with the command (`execvpe`); returns only if that fails.
///
/// The environment (see [`ChildEnvironment`]) goes to the kernel as is, without std's
/// `Command`, which would copy every variable into a map once more.
fn replace_process(launch: Launch) -> Result<u8> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let no_nul = |text: &[u8], what: &str| {
        CString::new(text).map_err(|_| {
            Error::Usage(format!(
                "{what} contains a NUL byte, which no program can receive"
            ))
        })
    };
    let argv = launch
        .command
        .iter()
        .map(|word| no_nul(word.as_bytes(), "an argument of the command"))
        .collect::<Result<Vec<CString>>>()?;
    if argv.is_empty() {
        return Err(Error::Usage("no command given after --".into()));
    }
    // The files stay open across execve: the command finds them at the paths it is given.
    let (_files, paths) = make_files(&launch)?;
    let mut variables = launch.variables.clone();
    variables.extend(paths.iter().map(|(v, p)| (v.as_str(), p.as_str())));
    // The secrets' entries are in a zeroizing buffer, so a failed exec leaves no copy of a
    // value behind.
    let environment = ChildEnvironment::build(&variables, &launch.inherit)?;
    let argv_pointers: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_pointers = environment.pointers();
    crate::process::restore_core_limit_here();
    // SAFETY: argv and envp are NUL-terminated arrays of pointers to NUL-terminated strings
    // that outlive the call; execvpe only returns on failure.
    unsafe {
        libc::execvpe(
            argv[0].as_ptr(),
            argv_pointers.as_ptr(),
            envp_pointers.as_ptr(),
        );
    }
    let error = std::io::Error::last_os_error();
    drop(environment);
    Err(start_error(&launch, error))
}

/// Runs the command as vault's child: its output filtered through the redactor when
/// `redact` says how, its secret files removed when it is done.
fn run_child(launch: Launch, redact: Option<crate::redact::Settings>) -> Result<u8> {
    use signal_hook::iterator::SignalsInfo;
    use signal_hook::iterator::exfiltrator::WithOrigin;
    use signal_hook::low_level::siginfo::Cause;
    use std::io::IsTerminal;
    use std::os::unix::process::CommandExt;

    // Built once, shared by every stream's redactor.
    let patterns = std::sync::Arc::new(match &redact {
        Some(settings) => Patterns::new(launch.masked().map(|(_, v)| *v), settings),
        None => Patterns::new([], &Default::default()),
    });
    let redact = redact.is_some();
    let (files, paths) = make_files(&launch)?;
    let mut command = build_command(&launch, &paths, &files)?;
    // Redacting output that goes to a terminal: the command gets a terminal of its own
    // (see `pty`), or colours, prompts and `isatty` would break. A stream redirected
    // elsewhere keeps the pipe, and goes on to where it was going.
    let stdout_tty = redact && std::io::stdout().is_terminal();
    let stderr_tty = redact && std::io::stderr().is_terminal();
    let screen = if stdout_tty {
        Screen::Stdout
    } else {
        Screen::Stderr
    };
    let terminal = if stdout_tty || stderr_tty {
        Some(Pty::open(screen)?)
    } else {
        None
    };
    let stdin_tty = terminal.is_some() && std::io::stdin().is_terminal();
    let slave = |terminal: &Option<Pty>| -> Result<Stdio> {
        let pty = terminal.as_ref().expect("a terminal was opened");
        pty.slave
            .try_clone()
            .map(Stdio::from)
            .map_err(|e| Error::Failed(format!("cannot share the pseudo-terminal: {e}")))
    };
    let stream = |on_terminal: bool| -> Result<Stdio> {
        Ok(match (on_terminal, redact) {
            (true, _) => slave(&terminal)?,
            (false, true) => Stdio::piped(),
            (false, false) => Stdio::inherit(),
        })
    };
    command
        .stdin(if stdin_tty {
            slave(&terminal)?
        } else {
            Stdio::inherit()
        })
        .stdout(stream(stdout_tty)?)
        .stderr(stream(stderr_tty)?);
    if let Some(opened) = &terminal {
        let controlling = opened
            .slave
            .try_clone()
            .map_err(|e| Error::Failed(format!("cannot share the pseudo-terminal: {e}")))?;
        // SAFETY: take_terminal makes two system calls, both async-signal-safe, and
        // allocates nothing.
        unsafe { command.pre_exec(move || pty::take_terminal(&controlling)) };
    }
    // Handlers first, so a signal between spawn and forwarding is queued, not lost.
    let mut signals = SignalsInfo::<WithOrigin>::new(crate::keeper::FORWARDED)
        .map_err(|e| Error::Failed(format!("cannot set up signal forwarding: {e}")))?;
    let signals_handle = signals.handle();
    let mut child = command.spawn().map_err(|e| start_error(&launch, e))?;
    // Taken before anything waits for the child: signals go through it, never to a PID
    // that the child's number may name once the `wait` below has reaped it.
    let handle = crate::process::ChildHandle::of(&child).map_err(|e| {
        let _ = child.kill();
        let _ = child.wait();
        Error::Failed(format!("cannot keep a handle on the command: {e}"))
    })?;
    // Our copies of the terminal's slave side close here: reading the master ends when
    // the command and what it started have closed theirs.
    drop(command);
    let master = terminal.map(|pty| pty.master);
    let resized = master
        .as_ref()
        .map(std::fs::File::try_clone)
        .transpose()
        .map_err(|e| Error::Failed(format!("cannot share the pseudo-terminal: {e}")))?;
    let forwarder = std::thread::spawn(move || {
        for origin in signals.forever() {
            if origin.signal == libc::SIGWINCH
                && let Some(master) = &resized
            {
                // The real terminal was resized: so is the command's, and the kernel
                // tells the command.
                pty::copy_size(master, screen);
            } else if origin.cause != Cause::Kernel {
                // A terminal's ^C or resize reaches the whole foreground process group,
                // the command included; pass on only what was sent to vault alone.
                handle.signal(origin.signal);
            }
        }
    });
    // Keys typed go to the command's terminal as they are; the modes come back when this
    // guard drops, however the command ends.
    let mut raw_mode = match &master {
        Some(master) if stdin_tty => pty::RawMode::enter(master),
        _ => None,
    };
    let mut pumps = Vec::new();
    if let Some(master) = master {
        let reader = master
            .try_clone()
            .map_err(|e| Error::Failed(format!("cannot read the pseudo-terminal: {e}")))?;
        pumps.push(if stdout_tty {
            spawn_pump(reader, std::io::stdout(), &patterns)
        } else {
            spawn_pump(reader, std::io::stderr(), &patterns)
        });
        if stdin_tty {
            // Not joined: it waits on the user's next key, which may never come.
            let mut writer = master;
            let typed_ahead = raw_mode
                .as_mut()
                .map(|raw| std::mem::take(&mut raw.typed_ahead))
                .unwrap_or_default();
            std::thread::spawn(move || {
                if writer.write_all(&typed_ahead).is_ok() {
                    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut writer);
                }
            });
        }
    }
    if let Some(stdout) = child.stdout.take() {
        pumps.push(spawn_pump(stdout, std::io::stdout(), &patterns));
    }
    if let Some(stderr) = child.stderr.take() {
        pumps.push(spawn_pump(stderr, std::io::stderr(), &patterns));
    }
    drop(patterns);
    let status = child
        .wait()
        .map_err(|e| Error::Failed(format!("cannot wait for the command: {e}")))?;
    for pump in pumps {
        let _ = pump.join();
    }
    drop(raw_mode);
    signals_handle.close();
    let _ = forwarder.join();
    drop(files);
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => 128u8.saturating_add(signal as u8),
        (None, None) => 1,
    })
}

/// Copies `from` to `to` through a redactor, on its own thread.
fn spawn_pump(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
    patterns: &std::sync::Arc<Patterns>,
) -> std::thread::JoinHandle<()> {
    let mut redactor = Redactor::new(patterns.clone());
    std::thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut out = Vec::with_capacity(buffer.len() + 64);
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            redactor.feed(&buffer[..n], &mut out);
            if to.write_all(&out).and_then(|()| to.flush()).is_err() {
                // Our reader went away; keep draining so the command is not blocked.
                out.clear();
                continue;
            }
            out.clear();
        }
        redactor.finish(&mut out);
        let _ = to.write_all(&out).and_then(|()| to.flush());
    })
}

/// `vault check`: every variable of the manifest, where its value comes from (masked),
/// and every required one without a value named at once (exit 3).
pub fn check(context: &Context, args: &crate::cli::CheckArgs) -> Result<u8> {
    let sources = Sources::load(context, args.manifest.as_deref(), &args.env_files)?;
    let bindings = &sources.bindings;
    if let Some(profile) = &context.profile {
        context.note(&format!("profile {profile}"));
    }
    // Where along the lookup chain each secret: reference was found (env, a .env, the
    // vault, a provider): a value from an unexpected place is what check is run to see.
    let (outcomes, answered) = context.with_resolver(|resolver| {
        let outcomes = resolver.resolve_each(bindings)?;
        let answered: Vec<Option<String>> = bindings
            .iter()
            .map(|binding| match &binding.reference {
                crate::resolve::Reference::Secret(name) => {
                    resolver.source_of(name).map(str::to_string)
                }
                _ => None,
            })
            .collect();
        Ok((outcomes, answered))
    })?;
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let mut failed = Vec::new();
    for ((binding, outcome), answered) in bindings.iter().zip(outcomes).zip(answered) {
        // Where the value came from, in full once it did: a reference that found nothing
        // may be a literal with a colon (`admin:hunter2`), shown as errors show it.
        let from = if outcome.is_ok() {
            binding.reference.to_string()
        } else {
            binding.reference.for_error()
        };
        // Said of every variable, so that a reference mistyped into a literal shows.
        let kind = match binding.reference {
            Reference::Literal(_) => "literal",
            _ => "reference",
        };
        let (state, shown) = match outcome {
            Ok(value) => match &answered {
                Some(answered) => (
                    "ok",
                    format!("{}  (from {answered})", crate::value::mask(&value)),
                ),
                None => ("ok", crate::value::mask(&value)),
            },
            Err(Error::NotFound(_)) if binding.default.is_some() => {
                ("default", "(the manifest's default)".to_string())
            }
            Err(Error::NotFound(_)) if !binding.required => ("unset", "(optional)".to_string()),
            Err(Error::NotFound(e)) => {
                missing.push(binding.variable.clone());
                ("MISSING", e)
            }
            Err(e) => {
                failed.push(binding.variable.clone());
                ("FAILED", e.to_string())
            }
        };
        rows.push((binding, kind, from, state, shown, answered));
    }
    if args.json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|(b, kind, from, state, shown, answered)| {
                serde_json::json!({
                    "name": b.variable,
                    "kind": kind,
                    "from": from,
                    "source": answered,
                    "description": b.description,
                    "required": b.required,
                    "state": state.to_lowercase(),
                    "shown": shown,
                })
            })
            .collect();
        let text = serde_json::to_string_pretty(&items)
            .map_err(|e| Error::Failed(format!("cannot write JSON: {e}")))?;
        print_stdout(&format!("{text}\n"))?;
    } else {
        let width = rows
            .iter()
            .map(|(b, ..)| b.variable.len())
            .max()
            .unwrap_or(4)
            .min(crate::names::MAX_COLUMN);
        // "literal", or "reference secret:NAME".
        let source = |kind: &str, from: &str| match kind {
            "literal" => kind.to_string(),
            _ => format!("{kind} {from}"),
        };
        let from_width = rows
            .iter()
            .map(|(_, kind, from, ..)| source(kind, from).chars().count())
            .max()
            .unwrap_or(4)
            .min(crate::names::MAX_COLUMN);
        let mut out = String::new();
        for (binding, kind, from, state, shown, _) in &rows {
            let line = format!(
                "{:width$}  {:from_width$}  {state:8} {shown}{}",
                binding.variable,
                source(kind, from),
                binding
                    .description
                    .as_deref()
                    .map(|d| format!("  # {}", crate::names::printable(d, false)))
                    .unwrap_or_default()
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        print_report(&out)?;
    }
    if !missing.is_empty() || !failed.is_empty() {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!(
                "required variables without a value: {}",
                missing.join(", ")
            ));
        }
        if !failed.is_empty() {
            problems.push(format!(
                "variables that could not be resolved: {}",
                failed.join(", ")
            ));
        }
        let message = format!("{} ({})", problems.join("; "), sources.names());
        return Err(if failed.is_empty() {
            Error::NotFound(message)
        } else {
            Error::Failed(message)
        });
    }
    context.note(&format!(
        "all {} variables of {} have a value",
        rows.len(),
        sources.names()
    ));
    SUCCESS
}
