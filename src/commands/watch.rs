//! `vault run --watch`: vault stays as the command's supervisor and restarts (or signals)
//! it when a secret it was started with changes — without an agent or a server.
//!
//! Every reference is resolved again each `--interval`, on SIGHUP (systemd's
//! `ExecReload=`), and when the vault file is replaced (inotify on its directory). Values
//! are compared in memory; only a change acts. A re-resolve that fails keeps the running
//! command and says why (never a value). SIGTERM, SIGINT and SIGQUIT are passed on, and
//! vault exits with the command's status once it ends. `NOTIFY_SOCKET` stays in the
//! command's environment, so a `Type=notify` command reports its own readiness (the unit
//! sets `NotifyAccess=all`, since the command is not the main process).

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use age::secrecy::ExposeSecret;
use signal_hook::iterator::Signals;

use crate::cli::{OnChange, RunArgs};
use crate::commands::exec::{FileHolder, build_command, launch_of, make_files, start_error};
use crate::commands::{Context, print_stderr};
use crate::error::{Error, Result};
use crate::process::ChildHandle;
use crate::resolve::{Binding, Resolved};

/// What the supervisor reacts to.
enum Event {
    /// SIGHUP: re-resolve now.
    Reload,
    /// The vault file was replaced or written.
    VaultChanged,
    /// A signal to pass on, after which vault ends with the command.
    Stop(i32),
    /// A command vault started ended (its PID, its status as an exit code).
    Exited(u32, u8),
}

/// The exit code for a command's status: its code, or 128 + the signal that ended it.
fn exit_code(status: std::process::ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => 128u8.saturating_add(signal as u8),
        (None, None) => 1,
    }
}

/// The running command, and what keeps its secret files alive.
struct Running {
    pid: u32,
    /// Signals go through this, never to `pid`: the command is reaped on another thread,
    /// after which its number may belong to another process.
    handle: ChildHandle,
    _files: FileHolder,
}

impl Running {
    fn signal(&self, signal: i32) {
        self.handle.signal(signal);
    }
}

fn start(
    command: &[OsString],
    resolved: &[Resolved],
    bindings: &[Binding],
    args: &RunArgs,
    events: &Sender<Event>,
) -> Result<Running> {
    let launch = launch_of(command.to_vec(), resolved, bindings, args.file_dir.clone());
    let (files, paths) = make_files(&launch)?;
    let mut child_command = build_command(&launch, &paths, &files)?;
    let mut child = child_command.spawn().map_err(|e| start_error(&launch, e))?;
    let pid = child.id();
    // Before the thread below can reap it.
    let handle = ChildHandle::of(&child).map_err(|e| {
        let _ = child.kill();
        let _ = child.wait();
        Error::Failed(format!("cannot keep a handle on the command: {e}"))
    })?;
    let events = events.clone();
    std::thread::spawn(move || {
        let code = child.wait().map(exit_code).unwrap_or(1);
        let _ = events.send(Event::Exited(pid, code));
    });
    Ok(Running {
        pid,
        handle,
        _files: files,
    })
}

/// Whether two resolutions give every variable the same value.
fn same_values(a: &[Resolved], b: &[Resolved]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.variable == y.variable && x.value.expose_secret() == y.value.expose_secret()
        })
}

/// Watches the vault's directory for the vault being replaced (vault writes by rename) or
/// written in place. Best effort: without inotify, the interval still catches changes.
fn watch_vault(path: &Path, events: Sender<Event>) -> Result<()> {
    use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
    use std::os::unix::ffi::OsStrExt;
    let dir = crate::store::fs::parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    let fd = inotify::init(CreateFlags::CLOEXEC).map_err(|e| {
        Error::Failed(format!(
            "cannot watch the vault for changes: {}",
            std::io::Error::from(e)
        ))
    })?;
    let mask = WatchFlags::MOVED_TO | WatchFlags::CLOSE_WRITE | WatchFlags::CREATE;
    inotify::add_watch(&fd, dir.as_path(), mask).map_err(|e| {
        Error::Failed(format!(
            "cannot watch {} for changes to the vault: {}",
            dir.display(),
            std::io::Error::from(e)
        ))
    })?;
    std::thread::spawn(move || {
        let mut buffer = [std::mem::MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&fd, &mut buffer);
        let mut changed = false;
        loop {
            match reader.next() {
                Ok(event) => {
                    changed |= event
                        .file_name()
                        .is_some_and(|n| n.to_bytes() == name.as_slice());
                }
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            }
            // One notice for everything a read returned.
            if reader.is_buffer_empty()
                && std::mem::take(&mut changed)
                && events.send(Event::VaultChanged).is_err()
            {
                return;
            }
        }
    });
    Ok(())
}

/// Waits for the command `pid` to end after asking it to (SIGTERM, then SIGKILL after
/// `grace`). Returns its exit code, and whether vault was told to stop meanwhile.
fn stop(running: &Running, grace: Duration, events: &Receiver<Event>) -> (u8, Option<i32>) {
    let pid = running.pid;
    running.signal(libc::SIGTERM);
    // After the grace the keeper kills the command and all it started; should the keeper
    // itself not end within a second more, SIGKILL (which takes the command with it).
    let mut deadline = Some(Instant::now() + grace);
    let mut told_keeper = false;
    let mut stopping = None;
    loop {
        let wait = deadline.map_or(Duration::from_secs(3600), |deadline| {
            deadline.saturating_duration_since(Instant::now())
        });
        match events.recv_timeout(wait) {
            Ok(Event::Exited(exited, code)) if exited == pid => return (code, stopping),
            Ok(Event::Stop(signal)) => stopping = Some(signal),
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) if !told_keeper => {
                running.signal(crate::keeper::END_TREE);
                told_keeper = true;
                deadline = Some(Instant::now() + Duration::from_secs(1));
            }
            Err(RecvTimeoutError::Timeout) => {
                running.signal(libc::SIGKILL);
                deadline = None;
            }
            Err(RecvTimeoutError::Disconnected) => return (1, stopping),
        }
    }
}

pub fn supervise(
    context: &Context,
    args: &RunArgs,
    command: Vec<OsString>,
    bindings: &[Binding],
    resolved: Vec<Resolved>,
) -> Result<u8> {
    let (sender, events) = channel();
    let mut signals = Signals::new([libc::SIGHUP, libc::SIGTERM, libc::SIGINT, libc::SIGQUIT])
        .map_err(|e| Error::Failed(format!("cannot set up signal handling: {e}")))?;
    let signal_sender = sender.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            let event = if signal == libc::SIGHUP {
                Event::Reload
            } else {
                Event::Stop(signal)
            };
            if signal_sender.send(event).is_err() {
                return;
            }
        }
    });
    if let Err(e) = watch_vault(&context.vault_location.path, sender.clone()) {
        print_stderr(&format!(
            "{e}; changes are found every {:?} instead",
            args.interval
        ));
    }
    let mut values = resolved;
    // Providers whose values the command runs with came from the cache: a later `denied`
    // from one of them means the command holds what it may no longer have.
    let mut from_cache = context.cache_outcome.borrow().served.clone();
    let mut running = start(&command, &values, bindings, args, &sender)?;
    context.note(&format!(
        "watching {} references; the command runs as PID {}",
        values.len(),
        running.pid
    ));
    let mut next_check = Instant::now() + args.interval;
    loop {
        let event = events.recv_timeout(next_check.saturating_duration_since(Instant::now()));
        let recheck = match event {
            Ok(Event::Exited(pid, code)) if pid == running.pid => return Ok(code),
            Ok(Event::Exited(..)) => false,
            Ok(Event::Stop(signal_number)) => {
                // Passed on; vault ends with the command.
                running.signal(signal_number);
                false
            }
            Ok(Event::Reload) | Ok(Event::VaultChanged) => true,
            Err(RecvTimeoutError::Timeout) => true,
            Err(RecvTimeoutError::Disconnected) => return Ok(1),
        };
        if !recheck {
            continue;
        }
        next_check = Instant::now() + args.interval;
        let fresh = context.with_resolver(|resolver| resolver.resolve_all(bindings));
        let outcome = context.cache_outcome.borrow().clone();
        if let Some(provider) = outcome
            .denied
            .iter()
            .find(|p| from_cache.get(*p).is_some_and(|keys| !keys.is_empty()))
        {
            // Its cache is cleared; the command is stopped rather than left running on
            // values a revoked credential can no longer read.
            print_stderr(&format!(
                "provider {provider} now answers denied, and the command runs with values of it served from the cache ({}): stopping the command",
                from_cache[provider]
                    .iter()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            let (_, _) = stop(&running, args.grace, &events);
            return Err(Error::Provider(format!(
                "the command was stopped: provider {provider} denied access to values it had run with from the cache"
            )));
        }
        let fresh = match fresh {
            Ok(fresh) => {
                from_cache = outcome.served;
                fresh
            }
            Err(e) => {
                print_stderr(&format!(
                    "re-resolving the references failed, so the command keeps running with the values it has: {e}"
                ));
                continue;
            }
        };
        if same_values(&fresh, &values) {
            continue;
        }
        let changed: Vec<String> = fresh
            .iter()
            .filter(|f| {
                !values.iter().any(|v| {
                    v.variable == f.variable && v.value.expose_secret() == f.value.expose_secret()
                })
            })
            .map(|f| f.variable.clone())
            .collect();
        values = fresh;
        match args.on_change {
            OnChange::Signal(signal_number) => {
                context.note(&format!(
                    "{} changed: sent signal {signal_number} to the command",
                    changed.join(", ")
                ));
                running.signal(signal_number);
            }
            OnChange::Restart => {
                context.note(&format!(
                    "{} changed: restarting the command",
                    changed.join(", ")
                ));
                let (code, stopping) = stop(&running, args.grace, &events);
                if stopping.is_some() {
                    return Ok(code);
                }
                running = start(&command, &values, bindings, args, &sender)?;
            }
        }
    }
}
