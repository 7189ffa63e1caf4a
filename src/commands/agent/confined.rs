//! Running a command under a grant — `vault agent exec`, `exec`/`run` under `VAULT_GRANT`,
//! and the MCP server's run tool all come here: the program checked against the grant,
//! stdin `/dev/null`, the working directory inside the project, the inherited environment
//! scrubbed, the granted values added, the output masked, and the command started under a
//! keeper (a child subreaper, see `keeper`) that kills everything it started when it ends.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use age::secrecy::ExposeSecret;

use crate::agent::{audit, confine, grant::Grant, sandbox};
use crate::environment::{ChildEnvironment, Inherit};
use crate::error::{Error, Result};
use crate::redact::{Patterns, Redactor};

/// How long the output is still read once the command has ended.
const PUMP_GRACE: Duration = Duration::from_secs(2);

/// A command to run under a grant.
pub struct Request<'a> {
    pub grant: &'a Grant,
    pub argv: Vec<OsString>,
    /// Where it runs: checked to be inside the grant's project.
    pub cwd: PathBuf,
    /// The granted names it gets, under the variable names given: (variable, name).
    pub variables: Vec<(String, String)>,
    /// Variables the manifest writes out (literals, defaults): passed, not masked —
    /// `LOG_LEVEL = "info"` would mask every "info".
    pub literals: Vec<(String, String)>,
    /// Killed (with everything it started) after this long.
    pub timeout: Option<Duration>,
    /// What the audit log calls it: `exec`, `run`, `mcp run`.
    pub action: &'static str,
}

/// How it ended.
pub struct Outcome {
    pub code: u8,
    pub timed_out: bool,
}

/// The patterns every granted value is masked by.
pub fn patterns(grant: &Grant) -> Arc<Patterns> {
    Arc::new(confine::patterns(
        grant.secrets.values().map(|v| v.expose_secret()),
    ))
}

/// `words` with every granted value masked, for the audit log and messages.
pub fn masked_words(patterns: &Arc<Patterns>, words: &[OsString]) -> Vec<String> {
    words
        .iter()
        .map(|word| {
            let mut redactor = Redactor::new(patterns.clone());
            let mut out = Vec::new();
            redactor.feed(word.as_encoded_bytes(), &mut out);
            redactor.finish(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
        .collect()
}

/// Runs the request, its output masked into `stdout` and `stderr`; records it in the audit
/// log, refused or run. The result is the command's exit code.
pub fn run(
    request: Request<'_>,
    stdout: impl Write + Send + 'static,
    stderr: impl Write + Send + 'static,
) -> Result<Outcome> {
    let patterns = patterns(request.grant);
    let names: Vec<String> = request.variables.iter().map(|(_, n)| n.clone()).collect();
    let argv_shown = masked_words(&patterns, &request.argv);
    let record = |action: String, exit: Option<i32>, error: Option<String>| {
        audit::append(audit::Action {
            grant: &request.grant.scope.name,
            action: &action,
            argv: argv_shown.clone(),
            names: names.clone(),
            exit,
            error,
        })
    };
    // Recorded before it starts: a vault killed while the command runs leaves the line,
    // and a log that cannot be written stops the command from starting.
    let started = match check(&request) {
        Ok(checked) => {
            record(request.action.to_string(), None, None)?;
            start(&request, checked)
        }
        Err(e) => Err(e),
    };
    let (child, handle) = match started {
        Ok(started) => started,
        Err(e) => {
            record(
                format!("{} refused", request.action),
                None,
                Some(e.to_string()),
            )?;
            return Err(e);
        }
    };
    let outcome = wait(child, handle, &patterns, request.timeout, stdout, stderr);
    let ended = format!("{} ended", request.action);
    match &outcome {
        Ok(outcome) => record(ended, Some(i32::from(outcome.code)), None)?,
        Err(e) => record(ended, None, Some(e.to_string()))?,
    };
    outcome
}

/// What the grant says of the request: the program to start and where, or why not.
fn check(request: &Request<'_>) -> Result<(PathBuf, PathBuf)> {
    let grant = request.grant;
    grant.check_expiry()?;
    let scope = &grant.scope;
    let cwd = confine::confine_cwd(scope, &request.cwd)?;
    let program =
        confine::check_command(scope, &request.argv, std::env::var_os("PATH").as_deref())?;
    Ok((program, cwd))
}

fn start(
    request: &Request<'_>,
    (program, cwd): (PathBuf, PathBuf),
) -> Result<(std::process::Child, crate::process::ChildHandle)> {
    let grant = request.grant;
    let scope = &grant.scope;
    let mut values: Vec<(&str, &str)> = Vec::with_capacity(request.variables.len());
    for (variable, name) in &request.variables {
        let value = grant
            .secrets
            .get(name)
            .ok_or_else(|| Error::NotFound(format!("{name} is not granted to {}", scope.name)))?;
        if crate::code_env::loads_code(variable) {
            return Err(Error::LockedOut(format!(
                "{variable} makes programs load or run code: a grant never sets it"
            )));
        }
        values.push((variable.as_str(), value.expose_secret()));
    }
    for (variable, text) in &request.literals {
        if crate::code_env::loads_code(variable) {
            return Err(Error::LockedOut(format!(
                "{variable} makes programs load or run code: under a grant no manifest sets it"
            )));
        }
        values.push((variable.as_str(), text.as_str()));
    }
    let mut argv = Vec::with_capacity(request.argv.len());
    argv.push(program.into_os_string());
    argv.extend(request.argv.iter().skip(1).cloned());
    // In vault's sandbox: the identity, the grant keys and the rest of vault's files out
    // of sight, and every process it starts in a PID namespace that dies with it.
    let argv = sandbox::wrap(
        &argv,
        &sandbox::hidden(Some(&grant.key_path)),
        &scope.project,
    )?;
    let mut command = crate::keeper::detached_command(&argv);
    command.env_clear();
    let environment = ChildEnvironment::build(
        &values,
        &Inherit {
            clean: false,
            keep_path: true,
            no_override: false,
        },
    )?;
    let inherited_count = environment.len() - environment.secret_count;
    for (index, (name, value)) in environment.pairs().enumerate() {
        // What the agent's own environment says is no business of a granted command: not
        // the user's agents and buses, and no variable that makes it load other code
        // (NODE_OPTIONS would turn an allowed `npm test` into any program). PATH stays:
        // the program is resolved already, and SECURITY.md says what PATH still steers.
        let inherited = index < inherited_count;
        if confine::scrubbed(name)
            || (inherited
                && name != b"PATH"
                && std::str::from_utf8(name).is_ok_and(crate::code_env::loads_code))
        {
            continue;
        }
        use std::os::unix::ffi::OsStrExt;
        command.env(
            std::ffi::OsStr::from_bytes(name),
            std::ffi::OsStr::from_bytes(value),
        );
    }
    command
        .current_dir(&cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| crate::process::spawn_error(&argv[0].to_string_lossy(), e))?;
    let handle = crate::process::ChildHandle::of(&child).map_err(|e| {
        let _ = child.kill();
        let _ = child.wait();
        Error::Failed(format!("cannot keep a handle on the command: {e}"))
    })?;
    Ok((child, handle))
}

fn wait(
    mut child: std::process::Child,
    handle: crate::process::ChildHandle,
    patterns: &Arc<Patterns>,
    timeout: Option<Duration>,
    stdout: impl Write + Send + 'static,
    stderr: impl Write + Send + 'static,
) -> Result<Outcome> {
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(crate::commands::exec::spawn_pump(out, stdout, patterns));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(crate::commands::exec::spawn_pump(err, stderr, patterns));
    }
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let timer = timeout.map(|limit| {
        let timed_out = timed_out.clone();
        std::thread::spawn(move || {
            if finished.recv_timeout(limit).is_err() {
                timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
                // The keeper kills the command and everything it started.
                handle.signal(crate::keeper::END_TREE);
            }
        })
    });
    let status = child
        .wait()
        .map_err(|e| Error::Failed(format!("cannot wait for the command: {e}")));
    let _ = done.send(());
    if let Some(timer) = timer {
        let _ = timer.join();
    }
    // The output is read until the pipes close, but not for ever: a process that got out
    // of the sandbox's PID namespace (it should not be able to) and kept a pipe open would
    // otherwise hold the call past its timeout. What it writes later is not reported.
    let deadline = std::time::Instant::now() + PUMP_GRACE;
    for pump in pumps {
        while !pump.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if pump.is_finished() {
            let _ = pump.join();
        }
    }
    let status = status?;
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => 128u8.saturating_add(signal as u8),
        (None, None) => 1,
    };
    Ok(Outcome {
        code,
        timed_out: timed_out.load(std::sync::atomic::Ordering::SeqCst),
    })
}

/// The current directory, for a command run where the agent is.
pub fn current_dir() -> Result<PathBuf> {
    std::env::current_dir().map_err(|e| Error::io("find", Path::new("."), e))
}
