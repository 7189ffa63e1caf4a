//! What vault does to its own process while it holds secrets: no core dumps, and not
//! dumpable (so another process of the same user cannot read its memory through
//! `/proc/PID/mem` or attach a debugger). The programs vault starts for the user get the
//! core limit vault was started with back; the dumpable flag resets by itself on `execve`
//! of a program that is not setuid.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::OnceLock;

use zeroize::Zeroizing;

/// `VAULT_IDENTITY_KEY`, taken out of the environment when vault starts.
static IDENTITY_KEY: OnceLock<Option<Zeroizing<String>>> = OnceLock::new();

/// The environment variable that may hold the identity itself (for CI, like `SOPS_AGE_KEY`).
pub const IDENTITY_KEY_VAR: &str = "VAULT_IDENTITY_KEY";

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
static CORE_LIMIT: OnceLock<libc::rlimit> = OnceLock::new();

/// Makes this process non-dumpable and core-less. Called first thing in `main`.
pub fn protect() {
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) only changes a flag of this process.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills in the rlimit it is given a valid pointer to.
    if unsafe { libc::getrlimit(libc::RLIMIT_CORE, &mut limit) } == 0 {
        let _ = CORE_LIMIT.set(limit);
        // Only the soft limit: the hard one stays, so the child can get it back.
        let none = libc::rlimit {
            rlim_cur: 0,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads the rlimit it is given a valid pointer to.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, &none);
        }
    }
}

/// Gives this process back the core limit it was started with, just before it becomes
/// the user's command (`execve`).
pub fn restore_core_limit_here() {
    if let Some(limit) = CORE_LIMIT.get() {
        // SAFETY: setrlimit reads the rlimit it is given a valid pointer to.
        unsafe {
            libc::setrlimit(libc::RLIMIT_CORE, limit);
        }
    }
}

/// Gives a program vault starts for the user the core limit vault was started with.
pub fn restore_core_limit(command: &mut Command) {
    let Some(limit) = CORE_LIMIT.get().copied() else {
        return;
    };
    // SAFETY: the closure runs in the child between fork and exec and only calls
    // setrlimit, which is async-signal-safe; it touches no lock or allocation.
    unsafe {
        command.pre_exec(move || {
            libc::setrlimit(libc::RLIMIT_CORE, &limit);
            Ok(())
        });
    }
}

/// Makes the command end (SIGKILL) when vault does, however vault ends: a command vault
/// keeps as a child (`exec --redact`) holds secrets in its environment and must not outlive
/// the vault that filters its output.
pub fn die_with_parent(command: &mut Command) {
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl and
    // getppid, which are async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0);
            // vault may have died before the line above: then nobody would send it.
            if libc::getppid() != parent {
                return Err(std::io::Error::other(
                    "vault ended before the command started",
                ));
            }
            Ok(())
        });
    }
}
