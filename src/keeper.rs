//! The keeper: what makes a command vault keeps as its child (`exec --redact`,
//! `--file-dir`, `run --watch`) end with vault, together with everything it started.
//!
//! `PR_SET_PDEATHSIG` alone kills only the direct child when vault is killed; what the
//! command started (a pipeline, a background job, a daemon in a session of its own) would
//! run on with the secrets in its environment, and `--file-dir` files would stay on disk.
//! Nothing runs in a process killed with SIGKILL, so another process has to act: vault
//! starts itself again as the keeper (`/proc/self/exe`), which starts the command. The
//! keeper is a child subreaper (`PR_SET_CHILD_SUBREAPER`): whatever the command starts and
//! leaves behind becomes the keeper's child, however it detaches (`setsid`, a double fork),
//! so the keeper can always find it. It watches vault through a pidfd; when vault ends, or
//! the command does, it kills every process below it and, when vault is gone, removes the
//! `--file-dir` directory. The command gets `PR_SET_PDEATHSIG` from the keeper in turn, so
//! killing the keeper still takes the command with it.
//!
//! A cgroup would find the processes as surely, but needs a delegated cgroup, which a user
//! on a terminal rarely has; the keeper works for everyone.
//!
//! While vault runs the keeper is invisible: it passes on the signals vault sends it, never
//! those the terminal sends the whole foreground group (the command got those already),
//! and exits with the command's status (128 + N for signal N).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions};

use crate::error::{Error, Result};
use crate::process::{ChildHandle, ChildSetup};

/// The first argument that makes `vault` a keeper. Not an option of the command line:
/// only vault starts a keeper.
const KEEPER: &str = "--internal-keeper";

/// The signals vault passes on to a command it keeps as a child.
pub const FORWARDED: [i32; 7] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

/// Sent by vault to its keeper: kill the command and everything it started, now (what
/// SIGKILL does to a command vault started itself). Never passed on.
pub const END_TREE: i32 = libc::SIGALRM;

/// How long the keeper keeps killing what is left below it.
const KILL_DEADLINE: Duration = Duration::from_secs(5);

/// A command to start `command` (program and arguments) under a keeper. `file_dir` is a
/// `--file-dir` directory the keeper removes if vault is killed. The caller sets the
/// environment and standard streams the command is to have: the keeper passes them on.
pub fn command(command: &[OsString], file_dir: Option<&Path>) -> Command {
    command_for(command, file_dir, false)
}

/// [`command`] for a command that is to have no terminal: the keeper starts a session of
/// its own first (`setsid`), so the command cannot open `/dev/tty` and write past the
/// filters on its output — a command an AI agent runs under a grant.
pub fn detached_command(command: &[OsString]) -> Command {
    command_for(command, None, true)
}

fn command_for(command: &[OsString], file_dir: Option<&Path>, detach: bool) -> Command {
    let mut keeper = Command::new("/proc/self/exe");
    std::os::unix::process::CommandExt::arg0(&mut keeper, "vault");
    keeper
        .arg(KEEPER)
        .arg(rustix::process::getpid().as_raw_nonzero().to_string());
    if let Some(dir) = file_dir {
        keeper.arg("--file-dir").arg(dir);
    }
    if detach {
        keeper.arg("--detach");
    }
    keeper.arg("--").args(command);
    // The keeper starts the command with the core limit vault was started with.
    crate::process::prepare_child(
        &mut keeper,
        ChildSetup {
            core_limit: true,
            die_with_parent: false,
        },
    );
    keeper
}

/// What a keeper is told on its command line.
struct Orders {
    vault: Pid,
    file_dir: Option<PathBuf>,
    /// A session of its own, without a controlling terminal.
    detach: bool,
    command: Vec<OsString>,
}

fn orders(mut args: impl Iterator<Item = OsString>) -> Option<Orders> {
    let vault = Pid::from_raw(args.next()?.to_str()?.parse().ok()?)?;
    let mut file_dir = None;
    let mut detach = false;
    loop {
        let arg = args.next()?;
        if arg == "--" {
            break;
        }
        if arg == "--detach" {
            detach = true;
            continue;
        }
        if arg != "--file-dir" {
            return None;
        }
        // Only a directory vault made is ever removed: not one named by whoever ran this.
        let dir = PathBuf::from(args.next()?);
        if !crate::secret_files::is_file_dir_name(&dir) {
            return None;
        }
        file_dir = Some(dir);
    }
    let command: Vec<OsString> = args.collect();
    (!command.is_empty()).then_some(Orders {
        vault,
        file_dir,
        detach,
        command,
    })
}

/// Runs as the keeper if this process was started as one (see [`command`]); its result is
/// the exit code. Called first thing in `main`.
pub fn run_if_asked() -> Option<Result<u8>> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != KEEPER {
        return None;
    }
    Some(match orders(args) {
        // As vault's own: 127 or 126 for the command, 125 for what failed before it.
        Some(orders) => keep(orders).map_err(Error::before_command),
        None => Err(Error::Usage(format!(
            "{KEEPER} is how vault starts itself, not an option"
        ))),
    })
}

/// Taken by whichever thread ends the keeper, and never released: one ending at a time.
static ENDING: Mutex<()> = Mutex::new(());

fn keep(orders: Orders) -> Result<u8> {
    let failed = |what: &str, e: std::io::Error| Error::Failed(format!("cannot {what}: {e}"));
    if orders.detach {
        // vault started this process, so it leads no process group and setsid succeeds.
        rustix::process::setsid().map_err(|e| failed("start a session of its own", e.into()))?;
    }
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))
        .map_err(|e| failed("become the command's subreaper", e.into()))?;
    // Opened before looking at the parent: if vault ends after this, the pidfd says so;
    // if it ended before, this process has another parent already.
    let vault = rustix::process::pidfd_open(orders.vault, PidfdFlags::empty());
    let vault = match vault {
        Ok(vault) if rustix::process::getppid() == Some(orders.vault) => vault,
        _ => {
            end_tree(orders.file_dir.as_deref(), true);
            return Ok(1);
        }
    };
    // Before the command starts, so that none is lost.
    let mut signals = signal_hook::iterator::SignalsInfo::<
        signal_hook::iterator::exfiltrator::WithOrigin,
    >::new(FORWARDED.iter().copied().chain([END_TREE]))
    .map_err(|e| failed("set up signal forwarding", e))?;
    let (program, arguments) = orders.command.split_first().expect("a command");
    let mut command = Command::new(program);
    command.args(arguments);
    crate::process::prepare_child(
        &mut command,
        ChildSetup {
            core_limit: true,
            die_with_parent: true,
        },
    );
    let child = command
        .spawn()
        .map_err(|e| crate::process::spawn_error(&program.to_string_lossy(), e))?;
    let handle = ChildHandle::of(&child).map_err(|e| failed("keep a handle on the command", e))?;
    let command_pid = child.id();
    let file_dir = orders.file_dir;
    std::thread::spawn(move || {
        let mut watched = [rustix::event::PollFd::new(
            &vault,
            rustix::event::PollFlags::IN,
        )];
        while let Err(rustix::io::Errno::INTR) = rustix::event::poll(&mut watched, None) {}
        // vault is gone (or cannot be watched, which is treated alike).
        end(file_dir.as_deref(), true, 1);
    });
    std::thread::spawn(move || {
        use signal_hook::low_level::siginfo::Cause;
        for origin in signals.forever() {
            // What the terminal sends reaches the command directly.
            if origin.cause == Cause::Kernel {
                continue;
            }
            if origin.signal == END_TREE {
                end(None, false, 128 + libc::SIGKILL as u8);
            }
            handle.signal(origin.signal);
        }
    });
    // Reaps every child, the command and what it left behind alike (they all become ours).
    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid.as_raw_nonzero().get() as u32 == command_pid => {
                let code = match (status.exit_status(), status.terminating_signal()) {
                    (Some(code), _) => u8::try_from(code).unwrap_or(1),
                    (None, Some(signal)) => 128u8.saturating_add(signal as u8),
                    (None, None) => 1,
                };
                end(None, false, code);
            }
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            // No child left to wait for: not while the command runs.
            Err(_) => end(None, false, 1),
        }
    }
}

/// Kills everything below this process, removes `file_dir` when vault is gone, and exits.
fn end(file_dir: Option<&Path>, vault_gone: bool, code: u8) -> ! {
    let ending = ENDING.lock().unwrap_or_else(|e| e.into_inner());
    std::mem::forget(ending);
    end_tree(file_dir, vault_gone);
    std::process::exit(i32::from(code));
}

fn end_tree(file_dir: Option<&Path>, vault_gone: bool) {
    kill_children();
    if let (Some(dir), true) = (file_dir, vault_gone) {
        crate::secret_files::remove_file_dir(dir);
    }
}

/// SIGKILLs every child of this process until none is left: as each dies, what it started
/// becomes this process's child (a subreaper's), and is found in the next round.
fn kill_children() {
    let deadline = Instant::now() + KILL_DEADLINE;
    loop {
        let children = children();
        if children.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in children {
            // The number was a child's when it was read; a pidfd pins the process that
            // has it now, which is killed only if it is still a child of this one (not a
            // process that took the number after the child was reaped).
            if let Ok(pidfd) = rustix::process::pidfd_open(pid, PidfdFlags::empty())
                && parent_of(pid) == Some(std::process::id())
            {
                let _ = rustix::process::pidfd_send_signal(&pidfd, Signal::KILL);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The children of this process that have not exited yet.
fn children() -> Vec<Pid> {
    let me = std::process::id();
    let alive =
        |pid: &Pid| stat_of(*pid).is_some_and(|(state, parent)| state != 'Z' && parent == me);
    // Each thread's children, where the kernel lists them (CONFIG_PROC_CHILDREN);
    // otherwise every process's parent, from /proc.
    let mut listed = Vec::new();
    let mut listing = true;
    match std::fs::read_dir("/proc/self/task") {
        Ok(tasks) => {
            for task in tasks.flatten() {
                match std::fs::read_to_string(task.path().join("children")) {
                    Ok(text) => listed.extend(
                        text.split_whitespace()
                            .filter_map(|n| Pid::from_raw(n.parse().ok()?)),
                    ),
                    Err(_) => listing = false,
                }
            }
        }
        Err(_) => listing = false,
    }
    if !listing {
        listed = std::fs::read_dir("/proc")
            .map(|entries| {
                entries
                    .flatten()
                    .filter_map(|e| Pid::from_raw(e.file_name().to_str()?.parse().ok()?))
                    .collect()
            })
            .unwrap_or_default();
    }
    listed.retain(alive);
    listed
}

fn parent_of(pid: Pid) -> Option<u32> {
    stat_of(pid).map(|(_, parent)| parent)
}

/// A process's state letter and parent, from `/proc/PID/stat`.
fn stat_of(pid: Pid) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.as_raw_nonzero())).ok()?;
    // The name in parentheses may hold anything, spaces and parentheses included.
    let mut fields = stat.get(stat.rfind(')')? + 2..)?.split(' ');
    let state = fields.next()?.chars().next()?;
    let parent = fields.next()?.parse().ok()?;
    Some((state, parent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_read_as_vault_writes_them() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        let read = orders(
            args(&[
                "42",
                "--file-dir",
                "/run/secretsd-files-0a",
                "--",
                "sh",
                "-c",
                "--",
            ])
            .into_iter(),
        );
        let read = read.unwrap();
        assert_eq!(read.vault.as_raw_nonzero().get(), 42);
        assert_eq!(read.file_dir, Some(PathBuf::from("/run/secretsd-files-0a")));
        assert!(
            orders(args(&["42", "--file-dir", "/home/u/.ssh", "--", "true"]).into_iter()).is_none()
        );
        assert_eq!(read.command, args(&["sh", "-c", "--"]));
        let read = orders(args(&["7", "--", "true"]).into_iter()).unwrap();
        assert_eq!(read.file_dir, None);
        assert!(!read.detach);
        let read = orders(args(&["7", "--detach", "--", "true"]).into_iter()).unwrap();
        assert!(read.detach && read.command == args(&["true"]));
        assert!(orders(args(&["7", "--"]).into_iter()).is_none());
        assert!(orders(args(&["x", "--", "true"]).into_iter()).is_none());
        assert!(orders(args(&["7", "--other", "--", "true"]).into_iter()).is_none());
    }

    #[test]
    fn a_process_state_and_parent_are_read_from_proc() {
        let me = Pid::from_raw(std::process::id() as i32).unwrap();
        let (state, parent) = stat_of(me).unwrap();
        assert!(state == 'R' || state == 'S', "{state}");
        assert_eq!(parent, std::os::unix::process::parent_id());
    }
}
