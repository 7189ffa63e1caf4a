//! What confines a command run under a grant: which program it is (resolved to an absolute
//! path, matched with the grant's `--command` list), where it runs (inside the project),
//! which inherited variables it never gets, and what its output is masked for.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::agent::grant::Scope;
use crate::error::{Error, Result};
use crate::redact::{Patterns, Settings};

/// Inherited variables a command run under a grant never gets: the user's agents and
/// buses (an SSH or GPG agent signs with the user's keys; the session bus reaches the
/// keyring), the runtime directory they live in, systemd's credentials, and everything
/// that tells vault or sops where a key is.
pub const SCRUBBED: &[&str] = &[
    "SSH_AUTH_SOCK",
    "SSH_AGENT_PID",
    "GPG_AGENT_INFO",
    "DBUS_SESSION_BUS_ADDRESS",
    "DBUS_SYSTEM_BUS_ADDRESS",
    "XDG_RUNTIME_DIR",
    "CREDENTIALS_DIRECTORY",
    "SOPS_AGE_KEY",
    "SOPS_AGE_KEY_FILE",
    "SOPS_AGE_KEY_CMD",
];

/// Prefixes of scrubbed names: vault's own settings (`VAULT_GRANT`, `VAULT_IDENTITY`…).
pub const SCRUBBED_PREFIXES: &[&str] = &["VAULT_"];

/// Whether an inherited variable is kept from a command run under a grant.
pub fn scrubbed(name: &[u8]) -> bool {
    SCRUBBED.iter().any(|s| s.as_bytes() == name)
        || SCRUBBED_PREFIXES
            .iter()
            .any(|p| name.starts_with(p.as_bytes()))
}

/// Programs that run what their arguments say as shell code: never started under a grant
/// unless the grant's `--command` names them.
pub const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "yash", "csh", "tcsh",
    "fish", "rc", "es", "nu", "elvish", "xonsh", "pwsh", "busybox",
];

/// Programs that start another program named in their arguments (`env sh -c …`): refused
/// under a grant without `--command`, whatever they would start.
pub const LAUNCHERS: &[&str] = &[
    "env",
    "nice",
    "nohup",
    "timeout",
    "stdbuf",
    "setsid",
    "xargs",
    "sudo",
    "doas",
    "chroot",
    "unshare",
    "flock",
    "script",
    "watch",
    "time",
    "ionice",
    "chrt",
    "taskset",
    "runuser",
    "su",
    "systemd-run",
    "strace",
    "ltrace",
    "exec",
    "busybox",
    "toybox",
    "parallel",
    "nsenter",
    "setpriv",
    "prlimit",
    "cgexec",
    "firejail",
    "bwrap",
    "ssh",
    "expect",
    "dbus-run-session",
    "sg",
    "newgrp",
    "pkexec",
    "start-stop-daemon",
    "daemonize",
];

fn is_shell(path: &Path) -> bool {
    path.file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|name| SHELLS.contains(&name))
}

fn is_launcher(path: &Path) -> bool {
    path.file_name()
        .and_then(OsStr::to_str)
        .is_some_and(|name| LAUNCHERS.contains(&name))
}

/// Whether the file at `path` is a shell under another name: the same file (device and
/// inode) as a program `/etc/shells` lists or a known shell in the system directories, or
/// a copy of one (the same bytes) — `cp /bin/dash build` is still a shell.
fn is_shell_file(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(file) = std::fs::metadata(path) else {
        return false;
    };
    let listed = std::fs::read_to_string("/etc/shells").unwrap_or_default();
    let known: Vec<PathBuf> = listed
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('/'))
        .map(PathBuf::from)
        .chain(SHELLS.iter().flat_map(|name| {
            ["/bin", "/usr/bin", "/usr/local/bin"].map(|dir| Path::new(dir).join(name))
        }))
        .collect();
    let mut contents: Option<Vec<u8>> = None;
    for other in &known {
        let Ok(meta) = std::fs::metadata(other) else {
            continue;
        };
        if meta.dev() == file.dev() && meta.ino() == file.ino() {
            return true;
        }
        if meta.len() != file.len() {
            continue;
        }
        if contents.is_none() {
            contents = std::fs::read(path).ok();
        }
        if contents.is_some() && std::fs::read(other).ok() == contents {
            return true;
        }
    }
    false
}

/// The absolute, link-free path of `program`: as given when it holds a `/`, else the first
/// executable regular file of that name in the absolute directories of `path_var`.
pub fn resolve_program(program: &OsStr, path_var: Option<&OsStr>) -> Result<PathBuf> {
    let not_found =
        || Error::CommandNotFound(format!("{}: command not found", program.to_string_lossy()));
    if program.is_empty() {
        return Err(Error::Usage("no command given".into()));
    }
    let candidate = if program.as_bytes().contains(&b'/') {
        PathBuf::from(program)
    } else {
        let dirs = path_var.unwrap_or_default();
        std::env::split_paths(dirs)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(program))
            .find(|path| is_executable(path))
            .ok_or_else(not_found)?
    };
    let real = std::fs::canonicalize(&candidate).map_err(|_| not_found())?;
    if !is_executable(&real) {
        return Err(Error::CommandNotExecutable(format!(
            "{}: permission denied",
            program.to_string_lossy()
        )));
    }
    Ok(real)
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A `--command` given to `vault agent grant` ("npm test ...") as the grant keeps it: the
/// program resolved now, with the user's PATH, and the words after it.
pub fn allowed_command(text: &str) -> Result<Vec<String>> {
    let mut words = text.split_whitespace();
    let program = words
        .next()
        .ok_or_else(|| Error::Usage("--command needs a program".into()))?;
    let resolved = resolve_program(OsStr::new(program), std::env::var_os("PATH").as_deref())?;
    let resolved = resolved.to_str().ok_or_else(|| {
        Error::Usage(format!(
            "the program {program} resolves to a path that is not UTF-8"
        ))
    })?;
    Ok(std::iter::once(resolved.to_string())
        .chain(words.map(str::to_string))
        .collect())
}

/// Whether the allowed command `entry` is `program` with `args`: the same resolved program
/// and exactly these arguments, or — when the entry ends in `...` — these first.
fn entry_matches(entry: &[String], program: &Path, args: &[OsString]) -> bool {
    let Some((allowed_program, words)) = entry.split_first() else {
        return false;
    };
    if Path::new(allowed_program) != program {
        return false;
    }
    let same = |word: &String, arg: &OsString| OsStr::new(word) == arg.as_os_str();
    match words.split_last() {
        Some((last, fixed)) if last == "..." => {
            args.len() >= fixed.len() && fixed.iter().zip(args).all(|(w, a)| same(w, a))
        }
        _ => words.len() == args.len() && words.iter().zip(args).all(|(w, a)| same(w, a)),
    }
}

/// The program to start for `argv` under `scope`, resolved with `path_var`: refused unless
/// the grant's commands allow it (with no list: any program but a shell).
pub fn check_command(
    scope: &Scope,
    argv: &[OsString],
    path_var: Option<&OsStr>,
) -> Result<PathBuf> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Error::Usage("no command given".into()))?;
    let resolved = resolve_program(program, path_var)?;
    let refused = |why: String| {
        Err(Error::LockedOut(format!(
            "grant {} does not allow this command ({} with {} argument{}): {why}",
            scope.name,
            resolved.display(),
            args.len(),
            if args.len() == 1 { "" } else { "s" }
        )))
    };
    if scope.commands.is_empty() {
        // Against accidents only: a grant without --command allows any program, and an
        // interpreter runs what it is told (SECURITY.md).
        if is_launcher(&resolved) || is_launcher(Path::new(program)) {
            return refused(
                "a program that starts another (env, nohup, setsid, xargs…) runs only when the grant names it (vault agent grant --command)".into(),
            );
        }
        if is_shell(&resolved) || is_shell(Path::new(program)) || is_shell_file(&resolved) {
            return refused(
                "a shell runs only when the grant names it (vault agent grant --command)".into(),
            );
        }
        return Ok(resolved);
    }
    if scope
        .commands
        .iter()
        .any(|entry| entry_matches(entry, &resolved, args))
    {
        return Ok(resolved);
    }
    refused(format!("it allows only {}", scope.commands_text()))
}

/// The directory a command under `scope` runs in: `wanted` (canonical), which must be the
/// grant's project or inside it.
pub fn confine_cwd(scope: &Scope, wanted: &Path) -> Result<PathBuf> {
    let real = std::fs::canonicalize(wanted).map_err(|e| Error::io("find", wanted, e))?;
    if !real.starts_with(&scope.project) {
        return Err(Error::LockedOut(format!(
            "grant {} runs commands only inside its project {}, not in {}",
            scope.name,
            scope.project.display(),
            real.display()
        )));
    }
    Ok(real)
}

/// The redaction settings under a grant: the defaults, whatever the configuration says —
/// it is a file the agent may be able to edit.
pub fn settings() -> Settings {
    Settings::default()
}

/// What output under a grant is masked for: every granted value, any run of
/// `min_fragment` characters of one, and each encoding `vault scan` knows (base64 at every
/// alignment, hex, URL and JSON escapes) long enough to mask without garbling output.
pub fn patterns<'a>(values: impl IntoIterator<Item = &'a str>) -> Patterns {
    let settings = settings();
    let mut forms: Vec<zeroize::Zeroizing<String>> = Vec::new();
    let mut plain: Vec<&str> = Vec::new();
    for value in values {
        plain.push(value);
        for (_, form) in crate::scan::forms::forms(value).into_iter().skip(1) {
            if form.len() >= settings.min_fragment
                && let Ok(text) = std::str::from_utf8(&form)
            {
                forms.push(zeroize::Zeroizing::new(text.to_string()));
            }
        }
    }
    Patterns::new(
        plain.into_iter().chain(forms.iter().map(|f| f.as_str())),
        &settings,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn commands_match_program_and_whole_argv() {
        let entry = vec!["/usr/bin/npm".to_string(), "test".to_string()];
        let npm = Path::new("/usr/bin/npm");
        assert!(entry_matches(&entry, npm, &args(&["test"])));
        assert!(!entry_matches(&entry, npm, &args(&["test", "--", "x"])));
        assert!(!entry_matches(&entry, npm, &args(&[])));
        assert!(!entry_matches(
            &entry,
            Path::new("/tmp/npm"),
            &args(&["test"])
        ));
        let open = vec![
            "/usr/bin/npm".to_string(),
            "run".to_string(),
            "...".to_string(),
        ];
        assert!(entry_matches(&open, npm, &args(&["run", "build"])));
        assert!(entry_matches(&open, npm, &args(&["run"])));
        assert!(!entry_matches(&open, npm, &args(&["exec", "x"])));
    }

    #[test]
    fn scrubbed_names() {
        for name in [
            "SSH_AUTH_SOCK",
            "VAULT_GRANT",
            "VAULT_IDENTITY",
            "XDG_RUNTIME_DIR",
        ] {
            assert!(scrubbed(name.as_bytes()), "{name}");
        }
        assert!(!scrubbed(b"HOME") && !scrubbed(b"PATH"));
    }
}
