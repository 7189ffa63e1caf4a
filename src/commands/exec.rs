//! `vault exec` and `vault run`: secrets into a process's environment.
//!
//! The command replaces vault (`execvp`) so that its PID, signals and exit status are its
//! own — what `Type=notify` services and process supervisors need. Only `--redact` keeps
//! vault alive, as a filter between the command and the terminal.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::cli::{ExecArgs, RunArgs};
use crate::commands::{Context, SUCCESS, print_stdout};
use crate::error::{Error, Result};
use crate::formats::check_env_size;
use crate::manifest::Manifest;
use crate::names::validate_name;
use crate::redact::Redactor;

/// What to start and with which environment.
struct Launch {
    command: Vec<OsString>,
    /// Variables to set, in order; later ones win.
    variables: Vec<(String, SecretString)>,
    clean_env: bool,
    keep_path: bool,
    no_override: bool,
}

/// Picks the vault secrets `vault exec` passes on, under the names they get.
fn select_secrets(context: &Context, args: &ExecArgs) -> Result<Vec<(String, SecretString)>> {
    // The values are moved out of the document, not copied: at 10,000 secrets a second
    // copy of every value is most of vault's memory.
    let mut secrets = context.vault().open(context)?.document.secrets;
    if !args.only.is_empty() {
        let wanted: BTreeSet<&str> = args.only.iter().map(String::as_str).collect();
        let mut selected = Vec::with_capacity(wanted.len());
        for name in wanted {
            validate_name(name)?;
            let entry = secrets.remove(name).ok_or_else(|| {
                Error::NotFound(format!(
                    "--only names {name}, but the vault {} has no secret by that name",
                    context.vault_location.path.display()
                ))
            })?;
            selected.push((name.to_string(), entry.into_value()));
        }
        return Ok(selected);
    }
    let prefix = args.prefix.as_deref().unwrap_or("");
    let mut selected = Vec::with_capacity(secrets.len());
    for (name, entry) in secrets {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let variable = if args.strip_prefix {
            rest
        } else {
            name.as_str()
        };
        if variable.is_empty() {
            return Err(Error::BadData(format!(
                "with --strip-prefix the secret {name} would become a variable with no name"
            )));
        }
        validate_name(variable).map_err(|_| {
            Error::BadData(format!(
                "with --strip-prefix the secret {name} would become {variable}, which is not a valid variable name"
            ))
        })?;
        selected.push((variable.to_string(), entry.into_value()));
    }
    Ok(selected)
}

pub fn exec(context: &Context, args: &ExecArgs) -> Result<u8> {
    let variables = select_secrets(context, args)?;
    context.explain(&format!(
        "passing {} secrets to the command",
        variables.len()
    ));
    let launch = Launch {
        command: args.command.clone(),
        variables,
        clean_env: args.clean_env,
        keep_path: !args.no_path,
        no_override: args.no_override,
    };
    if args.redact {
        run_redacted(launch)
    } else {
        replace_process(launch)
    }
}

pub fn run(context: &Context, args: &RunArgs) -> Result<u8> {
    let manifest_path = crate::manifest::locate(args.manifest.as_deref())?;
    context.explain(&format!("manifest {}", manifest_path.display()));
    let manifest = Manifest::load(&manifest_path)?;
    let command = if args.command.is_empty() {
        manifest.command.iter().map(OsString::from).collect()
    } else {
        args.command.clone()
    };
    if command.is_empty() {
        return Err(Error::Usage(format!(
            "no command to run: give one after -- or as command = [...] in {}",
            manifest_path.display()
        )));
    }
    // The resolver, and with it every provider, is gone before the command takes over.
    let bindings = manifest.bindings_for(context.profile.as_deref());
    let resolved = context.with_resolver(|resolver| resolver.resolve_all(&bindings))?;
    context.explain(&format!("resolved {} references", resolved.len()));
    replace_process(Launch {
        command,
        variables: resolved
            .into_iter()
            .map(|r| (r.variable, r.value))
            .collect(),
        clean_env: false,
        keep_path: true,
        no_override: false,
    })
}

/// The command's whole environment as `NAME=value` entries, built in one pass over the
/// inherited one: `--clean-env` (keeping PATH unless `--no-path`), secrets replacing
/// inherited variables unless `--no-override`, the last value of a repeated name winning.
/// Asking getenv per secret, or letting std's `Command` copy every inherited variable into
/// a map, is quadratic or worse at thousands of variables.
fn child_environment(launch: &Launch) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    use std::os::unix::ffi::OsStrExt;
    let entry = |name: &[u8], value: &[u8]| {
        let mut entry = Zeroizing::new(Vec::with_capacity(name.len() + value.len() + 1));
        entry.extend_from_slice(name);
        entry.push(b'=');
        entry.extend_from_slice(value);
        entry
    };
    let mut chosen: std::collections::HashMap<&str, &SecretString> =
        std::collections::HashMap::with_capacity(launch.variables.len());
    for (name, value) in &launch.variables {
        chosen.insert(name.as_str(), value);
    }
    let mut environment = Vec::with_capacity(chosen.len() + 64);
    if launch.clean_env {
        if launch.keep_path
            && let Some(path) = std::env::var_os("PATH")
        {
            environment.push(entry(b"PATH", path.as_bytes()));
        }
    } else {
        for (name, value) in std::env::vars_os() {
            let replaced = name.to_str().is_some_and(|n| chosen.contains_key(n));
            if replaced && !launch.no_override {
                continue;
            }
            if replaced {
                // --no-override: the inherited value stays and the secret is not passed.
                chosen.remove(name.to_str().unwrap_or_default());
            }
            environment.push(entry(name.as_bytes(), value.as_bytes()));
        }
    }
    for (name, value) in chosen {
        check_env_size(name, value.expose_secret())?;
        environment.push(entry(name.as_bytes(), value.expose_secret().as_bytes()));
    }
    Ok(environment)
}

/// The command with its environment set up, not yet started (for `--redact`, which keeps
/// vault as its parent).
fn build_command(launch: &Launch) -> Result<Command> {
    use std::os::unix::ffi::OsStrExt;
    let (program, arguments) = launch
        .command
        .split_first()
        .ok_or_else(|| Error::Usage("no command given after --".into()))?;
    let mut command = Command::new(program);
    command.args(arguments).env_clear();
    crate::process::restore_core_limit(&mut command);
    for entry in child_environment(launch)? {
        let at = entry.iter().position(|b| *b == b'=').unwrap_or(entry.len());
        command.env(
            std::ffi::OsStr::from_bytes(&entry[..at]),
            std::ffi::OsStr::from_bytes(entry.get(at + 1..).unwrap_or_default()),
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

fn start_error(launch: &Launch, error: std::io::Error) -> Error {
    let program = program_name(launch);
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            Error::CommandNotFound(format!("{program}: command not found"))
        }
        std::io::ErrorKind::PermissionDenied => {
            Error::CommandNotExecutable(format!("{program}: permission denied"))
        }
        _ if error.raw_os_error() == Some(libc::E2BIG) => {
            Error::BeforeCommand(Box::new(Error::BadData(format!(
                "{program}: the environment and arguments are too large for the kernel (E2BIG); pass fewer secrets with --only or --prefix"
            ))))
        }
        _ => Error::CommandNotExecutable(format!("{program}: cannot execute: {error}")),
    }
}

/// Replaces this process with the command (`execvpe`); returns only if that fails.
///
/// The environment (see [`child_environment`]) goes to the kernel as is, without std's
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
    // Kept in zeroizing buffers, so a failed exec leaves no copy of a value behind; no
    // entry holds a NUL (values are checked when stored, inherited ones are C strings).
    let mut envp = child_environment(&launch)?;
    for entry in &mut envp {
        entry.push(0);
    }
    let argv_pointers: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_pointers: Vec<*const libc::c_char> = envp
        .iter()
        .map(|e| e.as_ptr().cast::<libc::c_char>())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
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
    Err(start_error(&launch, std::io::Error::last_os_error()))
}

/// The signals `--redact` passes on to the command.
const FORWARDED: [libc::c_int; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

fn run_redacted(launch: Launch) -> Result<u8> {
    use signal_hook::iterator::SignalsInfo;
    use signal_hook::iterator::exfiltrator::WithOrigin;
    use signal_hook::low_level::siginfo::Cause;

    let values: Vec<SecretString> = launch.variables.iter().map(|(_, v)| v.clone()).collect();
    let mut command = build_command(&launch)?;
    command
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::process::die_with_parent(&mut command);
    // Handlers first, so a signal between spawn and forwarding is queued, not lost.
    let mut signals = SignalsInfo::<WithOrigin>::new(FORWARDED)
        .map_err(|e| Error::Failed(format!("cannot set up signal forwarding: {e}")))?;
    let signals_handle = signals.handle();
    let mut child = command.spawn().map_err(|e| start_error(&launch, e))?;
    drop(command);
    let child_pid = child.id() as libc::pid_t;
    let forwarder = std::thread::spawn(move || {
        for origin in signals.forever() {
            // A terminal's ^C or resize reaches the whole foreground process group, the
            // command included; pass on only what was sent to vault alone.
            if origin.cause != Cause::Kernel {
                // SAFETY: kill(2) with a PID we spawned and have not reaped yet.
                unsafe { libc::kill(child_pid, origin.signal) };
            }
        }
    });
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let out_pump = spawn_pump(stdout, std::io::stdout(), &values);
    let err_pump = spawn_pump(stderr, std::io::stderr(), &values);
    drop(values);
    let status = child
        .wait()
        .map_err(|e| Error::Failed(format!("cannot wait for the command: {e}")))?;
    let _ = out_pump.join();
    let _ = err_pump.join();
    signals_handle.close();
    let _ = forwarder.join();
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
    values: &[SecretString],
) -> std::thread::JoinHandle<()> {
    let mut redactor = Redactor::new(values.iter().map(|v| v.expose_secret()));
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
    let path = crate::manifest::locate(args.manifest.as_deref())?;
    let manifest = Manifest::load(&path)?;
    let bindings = manifest.bindings_for(context.profile.as_deref());
    if let Some(profile) = &context.profile {
        context.note(&format!("profile {profile}"));
    }
    let outcomes = context.with_resolver(|resolver| resolver.resolve_each(&bindings))?;
    let mut rows = Vec::new();
    let mut missing = Vec::new();
    let mut failed = Vec::new();
    for (binding, outcome) in bindings.iter().zip(outcomes) {
        let (state, shown) = match outcome {
            Ok(value) => ("ok", crate::value::mask(&value)),
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
        rows.push((binding, state, shown));
    }
    if args.json {
        let items: Vec<serde_json::Value> = rows
            .iter()
            .map(|(b, state, shown)| {
                serde_json::json!({
                    "name": b.variable,
                    "from": b.reference.to_string(),
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
            .unwrap_or(4);
        let from_width = rows
            .iter()
            .map(|(b, ..)| b.reference.to_string().chars().count())
            .max()
            .unwrap_or(4);
        let mut out = String::new();
        for (binding, state, shown) in &rows {
            let line = format!(
                "{:width$}  {:from_width$}  {state:8} {shown}{}",
                binding.variable,
                binding.reference.to_string(),
                binding
                    .description
                    .as_deref()
                    .map(|d| format!("  # {}", crate::names::printable(d, false)))
                    .unwrap_or_default()
            );
            out.push_str(line.trim_end());
            out.push('\n');
        }
        print_stdout(&out)?;
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
        let message = format!("{} ({})", problems.join("; "), path.display());
        return Err(if failed.is_empty() {
            Error::NotFound(message)
        } else {
            Error::Failed(message)
        });
    }
    context.note(&format!(
        "all {} variables of {} have a value",
        rows.len(),
        path.display()
    ));
    SUCCESS
}
