//! Starting the command: replacing vault with it (`execvpe`, the plain `exec`), or keeping
//! vault as its parent through the keeper when output is redacted or files are on disk,
//! with the pumps that carry its output through the redactor.

use super::*;

pub(super) fn program_name(launch: &Launch) -> String {
    launch
        .command
        .first()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub(in crate::commands) fn start_error(launch: &Launch, error: std::io::Error) -> Error {
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
pub(super) fn replace_process(launch: Launch) -> Result<u8> {
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
pub(super) fn run_child(launch: Launch, redact: Option<crate::redact::Settings>) -> Result<u8> {
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
pub(in crate::commands) fn spawn_pump(
    mut from: impl Read + Send + 'static,
    mut to: impl Write + Send + 'static,
    patterns: &std::sync::Arc<Patterns>,
) -> std::thread::JoinHandle<()> {
    let mut redactor = Redactor::new(patterns.clone());
    std::thread::spawn(move || {
        // The command's output as it came, values and all: wiped when the pump ends.
        let mut buffer = zeroize::Zeroizing::new(vec![0u8; 64 * 1024]);
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
