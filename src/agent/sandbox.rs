//! The sandbox a command under a grant runs in (bubblewrap): what an agent may run is
//! agent-controlled code (an allowed `make test` reads an agent-edited Makefile), and it
//! runs outside the agent host's sandbox, so vault builds one of its own:
//!
//! * its own mount namespace, where vault's configuration, state, data and cache
//!   directories are an empty read-only tmpfs, and every identity file in use (wherever
//!   `VAULT_IDENTITY`, `VAULT_PASSPHRASE_FILE`, systemd's credential or the grant's key
//!   point) is `/dev/null`, read-only;
//! * its own PID namespace with a fresh `/proc`: it sees no process outside (no keeper to
//!   kill, no `/proc/PID/root` of a process that sees the real files), and when the
//!   namespace's init ends — with the command, or killed with the keeper and vault
//!   (`--die-with-parent`) — the kernel kills everything in it;
//! * no capabilities (`--cap-drop ALL`, which matters when the user is root), and a
//!   session of its own (no terminal to write past the masking);
//! * nothing writable but the project and a private `/tmp`, `/var/tmp` and `/dev/shm`: the
//!   command runs outside the agent host's sandbox, so a home it could write would let it
//!   plant what runs there later with no sandbox at all (the host's MCP configuration, a
//!   shell's startup file, a user unit, a program in `~/.cargo/bin`).
//!
//! The network, the project's files and the values the command is given are not hidden:
//! SECURITY.md says so. When the sandbox cannot be made, nothing runs (fail closed).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// Where bubblewrap is looked for: system directories only — never `PATH`, which the
/// agent sets.
const BWRAP: &[&str] = &["/usr/bin/bwrap", "/bin/bwrap", "/usr/local/bin/bwrap"];

/// What the sandbox hides: directories become an empty read-only tmpfs, files `/dev/null`.
#[derive(Debug, Default)]
pub struct Hidden {
    pub dirs: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
}

/// Every place vault keeps or finds a key, as this process's environment says: the
/// configuration (identity, writer key), state (grant keys, trust record, audit log), data
/// (the vault, its backups) and cache directories, and each identity file in use. Only
/// paths are computed: under a grant no identity is read.
pub fn hidden(grant_key: Option<&Path>) -> Hidden {
    let mut candidates: Vec<PathBuf> = Vec::new();
    candidates.extend(crate::store::paths::config_dir().ok());
    candidates.extend(crate::agent::grant::state_dir().ok());
    candidates.extend(crate::store::paths::data_dir().ok());
    candidates.extend(cache_dir());
    candidates.extend(
        crate::store::paths::identity_file(None)
            .ok()
            .map(|l| l.path),
    );
    candidates.extend(crate::store::paths::default_identity_file().ok());
    candidates.extend(crate::store::paths::writer_key_file().ok());
    candidates.extend(crate::store::paths::passphrase_file());
    for var in ["VAULT_IDENTITY", "SOPS_AGE_KEY_FILE"] {
        candidates.extend(
            std::env::var_os(var)
                .filter(|v| !v.is_empty())
                .map(|v| crate::store::paths::expand_home(Path::new(&v))),
        );
    }
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY").filter(|v| !v.is_empty()) {
        candidates.push(PathBuf::from(dir).join(crate::store::paths::CREDENTIAL_NAME));
    }
    candidates.extend(grant_key.map(Path::to_path_buf));
    // The environment is the caller's to set (under a grant vault reads no configuration,
    // so pointing XDG_CONFIG_HOME elsewhere would cost an agent nothing): the default
    // places under the home the password database gives are hidden too.
    if let Some(home) = passwd_home() {
        for dir in [
            ".config/secretsd",
            ".local/state/secretsd",
            ".local/share/secretsd",
            ".cache/secretsd",
        ] {
            candidates.push(home.join(dir));
        }
    }
    let mut hidden = Hidden::default();
    for path in candidates {
        // What does not exist holds nothing to hide (and bubblewrap would create it).
        let Ok(real) = std::fs::canonicalize(&path) else {
            continue;
        };
        if real == Path::new("/") {
            continue;
        }
        let list = if real.is_dir() {
            &mut hidden.dirs
        } else {
            &mut hidden.files
        };
        if !list.contains(&real) {
            list.push(real);
        }
    }
    // What lies inside a hidden directory is hidden with it.
    let dirs = hidden.dirs.clone();
    let inside = |p: &PathBuf| dirs.iter().any(|d| d != p && p.starts_with(d));
    hidden.dirs.retain(|p| !inside(p));
    hidden.files.retain(|p| !inside(p));
    hidden
}

/// This user's home as /etc/passwd gives it (not `HOME`, which the caller sets).
fn passwd_home() -> Option<PathBuf> {
    let uid = rustix::process::getuid().as_raw().to_string();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 7 && fields[2] == uid && fields[5].starts_with('/'))
            .then(|| PathBuf::from(fields[5]))
    })
}

/// `$XDG_CACHE_HOME/secretsd`, else `~/.cache/secretsd`.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|p| p.join("secretsd"))
}

fn bwrap() -> Result<&'static str> {
    BWRAP
        .iter()
        .copied()
        .find(|p| crate::agent::confine::resolve_program(p.as_ref(), None).is_ok())
        .ok_or_else(|| {
            Error::LockedOut(
                "a command under a grant runs only in vault's sandbox, and bubblewrap (bwrap) is not installed in /usr/bin: install it (apt install bubblewrap, dnf install bubblewrap); nothing was run".into(),
            )
        })
}

/// bubblewrap's options for `hidden`, with `project` the one place written through to,
/// up to and including `--`.
fn options(hidden: &Hidden, project: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "--ro-bind",
        "/",
        "/",
        "--dev-bind",
        "/dev",
        "/dev",
        "--tmpfs",
        "/dev/shm",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/var/tmp",
        "--unshare-pid",
        "--proc",
        "/proc",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.extend(["--bind".into(), project.into(), project.into()]);
    for file in &hidden.files {
        args.extend(["--ro-bind".into(), "/dev/null".into(), file.into()]);
    }
    for dir in &hidden.dirs {
        args.extend([
            "--tmpfs".into(),
            dir.into(),
            "--remount-ro".into(),
            dir.into(),
        ]);
    }
    args.push("--".into());
    args
}

/// `argv` (a resolved program and its arguments) as run inside the sandbox. The sandbox
/// is tried first, running bubblewrap's `--version` in it: if it cannot be made (no user
/// namespaces, say), this refuses, saying why.
pub fn wrap(argv: &[OsString], hidden: &Hidden, project: &Path) -> Result<Vec<OsString>> {
    let bwrap = bwrap()?;
    let options = options(hidden, project);
    let probe = Command::new(bwrap)
        .args(&options)
        .arg(bwrap)
        .arg("--version")
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| Error::LockedOut(format!("cannot start {bwrap} for the sandbox: {e}")))?;
    if !probe.status.success() {
        let said = String::from_utf8_lossy(&probe.stderr);
        return Err(Error::LockedOut(format!(
            "a command under a grant runs only in vault's sandbox, which cannot be made here ({}): allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, or kernel.apparmor_restrict_unprivileged_userns=0) or run bubblewrap setuid; nothing was run",
            said.trim()
        )));
    }
    let mut wrapped = Vec::with_capacity(options.len() + argv.len() + 1);
    wrapped.push(OsString::from(bwrap));
    wrapped.extend(options);
    wrapped.extend(argv.iter().cloned());
    Ok(wrapped)
}
