//! What vault does to its own process while it holds secrets: no core dumps, and not
//! dumpable (so another process of the same user cannot read its memory through
//! `/proc/PID/mem` or attach a debugger). The programs vault starts for the user get the
//! core limit vault was started with back; the dumpable flag resets by itself on `execve`
//! of a program that is not setuid.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::OnceLock;

use rustix::process::{DumpableBehavior, Resource, Rlimit, Signal};

use zeroize::Zeroizing;

/// `VAULT_IDENTITY_KEY`, taken out of the environment when vault starts.
static IDENTITY_KEY: OnceLock<Option<Zeroizing<String>>> = OnceLock::new();

/// The environment variable that may hold the identity itself (for CI, like `SOPS_AGE_KEY`).
pub use crate::paths::IDENTITY_KEY_VAR;

/// Takes `VAULT_IDENTITY_KEY` out of vault's environment, so no command, provider or
/// service command vault starts inherits it. Called at the start of `main`, before any
/// thread exists.
pub fn take_secret_environment() {
    let key = std::env::var(IDENTITY_KEY_VAR)
        .ok()
        .filter(|k| !k.trim().is_empty())
        .map(Zeroizing::new);
    if std::env::var_os(IDENTITY_KEY_VAR).is_some() {
        // SAFETY: called first thing in main, while vault has a single thread, so nothing
        // reads the environment concurrently.
        unsafe { std::env::remove_var(IDENTITY_KEY_VAR) };
    }
    let _ = IDENTITY_KEY.set(key);
}

/// The identity given in `VAULT_IDENTITY_KEY`, if any.
pub fn identity_key() -> Option<&'static str> {
    IDENTITY_KEY
        .get()
        .and_then(|k| k.as_ref())
        .map(|k| k.as_str())
}

/// The core-file limit vault was started with.
static CORE_LIMIT: OnceLock<Rlimit> = OnceLock::new();

/// Makes this process non-dumpable and core-less. Called first thing in `main`.
pub fn protect() {
    let _ = rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable);
    let limit = rustix::process::getrlimit(Resource::Core);
    let _ = CORE_LIMIT.set(limit);
    // Only the soft limit: the hard one stays, so the child can get it back.
    let _ = rustix::process::setrlimit(
        Resource::Core,
        Rlimit {
            current: Some(0),
            maximum: limit.maximum,
        },
    );
}

/// Gives this process back the core limit it was started with, just before it becomes
/// the user's command (`execve`).
pub fn restore_core_limit_here() {
    if let Some(limit) = CORE_LIMIT.get() {
        let _ = rustix::process::setrlimit(Resource::Core, *limit);
    }
}

/// What a program vault starts is given between fork and exec (see [`prepare_child`]).
pub struct ChildSetup {
    /// Vault's own core limit back (the programs vault starts for the user).
    pub core_limit: bool,
    /// SIGKILL when vault ends (see [`prepare_child`]).
    pub die_with_parent: bool,
}

/// Prepares a program vault starts: the core limit vault was started with, and, for a
/// command vault keeps as a child (`exec --redact`, `--file-dir`, `run --watch`), a
/// SIGKILL when vault ends, however vault ends: it holds secrets in its environment and
/// must not outlive the vault that filters its output or removes its files.
pub fn prepare_child(command: &mut Command, setup: ChildSetup) {
    let core_limit = if setup.core_limit {
        CORE_LIMIT.get().copied()
    } else {
        None
    };
    let parent = setup.die_with_parent.then(rustix::process::getpid);
    if core_limit.is_none() && parent.is_none() {
        return;
    }
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe work is allowed: it makes plain system calls (rustix, no libc
    // state), allocates nothing (its errors are raw OS errors) and takes no lock.
    unsafe {
        command.pre_exec(move || {
            if let Some(limit) = core_limit {
                let _ = rustix::process::setrlimit(Resource::Core, limit);
            }
            if let Some(parent) = parent {
                rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
                // vault may have ended before the line above: then nobody would send it.
                if rustix::process::getppid() != Some(parent) {
                    return Err(std::io::Error::from(rustix::io::Errno::SRCH));
                }
            }
            Ok(())
        });
    }
}

/// Gives a program vault starts for the user the core limit vault was started with.
pub fn restore_core_limit(command: &mut Command) {
    prepare_child(
        command,
        ChildSetup {
            core_limit: true,
            die_with_parent: false,
        },
    );
}

/// The error for a program that could not be started: not found (exit 127), not
/// executable (126).
pub fn spawn_error(program: &str, error: std::io::Error) -> crate::error::Error {
    use crate::error::Error;
    match error.kind() {
        std::io::ErrorKind::NotFound => {
            Error::CommandNotFound(format!("{program}: command not found"))
        }
        std::io::ErrorKind::PermissionDenied => {
            Error::CommandNotExecutable(format!("{program}: permission denied"))
        }
        _ => Error::CommandNotExecutable(format!("{program}: cannot execute: {error}")),
    }
}

/// A child vault started, named by a pidfd: a signal sent through it reaches that process
/// or none — never one that was given the same number after the child was reaped (which
/// another thread may do at any moment).
pub struct ChildHandle {
    pidfd: std::os::fd::OwnedFd,
}

impl ChildHandle {
    /// Taken right after `spawn`, before anything can have waited for the child: until it
    /// is reaped its number names it and nothing else.
    pub fn of(child: &std::process::Child) -> std::io::Result<ChildHandle> {
        let pid = rustix::process::Pid::from_child(child);
        Ok(ChildHandle {
            pidfd: rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())?,
        })
    }

    /// Sends the signal `number`; false if the process is gone (or the number names no
    /// signal).
    pub fn signal(&self, number: i32) -> bool {
        Signal::from_named_raw(number)
            .is_some_and(|signal| rustix::process::pidfd_send_signal(&self.pidfd, signal).is_ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The number of a reaped child is given to a new process (the kernel's next PID is set
    /// through `ns_last_pid`, which needs root): a signal for the old child must not reach it.
    #[test]
    fn a_signal_for_a_reaped_child_never_reaches_a_process_that_took_its_number() {
        let last_pid = "/proc/sys/kernel/ns_last_pid";
        let mut first = Command::new("true").spawn().unwrap();
        let handle = ChildHandle::of(&first).unwrap();
        let pid = first.id();
        first.wait().unwrap();
        // Other processes may take the number first: try a few times.
        for _ in 0..500 {
            if std::fs::write(last_pid, (pid - 1).to_string()).is_err() {
                eprintln!("skipped: {last_pid} is not writable here (not root?)");
                return;
            }
            let mut second = Command::new("sleep").arg("30").spawn().unwrap();
            if second.id() != pid {
                second.kill().unwrap();
                second.wait().unwrap();
                continue;
            }
            assert!(!handle.signal(libc::SIGTERM), "the signal was delivered");
            std::thread::sleep(std::time::Duration::from_millis(100));
            let still_running = second.try_wait().unwrap().is_none();
            second.kill().unwrap();
            second.wait().unwrap();
            assert!(
                still_running,
                "the new process with the old number was signalled"
            );
            return;
        }
        panic!("no new process got the number {pid} in 500 tries");
    }

    #[test]
    fn a_signal_reaches_a_running_child() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let handle = ChildHandle::of(&child).unwrap();
        assert!(handle.signal(libc::SIGTERM));
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGTERM));
    }
}
