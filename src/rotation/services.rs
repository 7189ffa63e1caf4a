//! Restarting services and checking their health: each command runs as `sh -c` in the
//! policy's directory, in its own process group, and is killed (with the group) when its
//! time is up. No secret is put in their environment or arguments.

use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::rotation::policy::Service;

/// Which part of a service's restart failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Restart,
    Health,
}

impl Step {
    pub fn word(self) -> &'static str {
        match self {
            Step::Restart => "restart",
            Step::Health => "health check",
        }
    }
}

/// A service that did not come back, and why (never output of the command).
#[derive(Debug, Clone)]
pub struct Failure {
    pub service: String,
    pub step: Step,
    pub detail: String,
}

/// What happened while services restarted, for the caller to show as it happens.
pub enum Event<'a> {
    Restarting(&'a str),
    Healthy(&'a str, Duration),
}

/// How long to wait between two health checks of a service coming up.
const HEALTH_INTERVAL: Duration = Duration::from_millis(250);

/// Runs `command` with `sh -c` in `dir`, its stdout sent to stderr (vault's stdout is
/// its report), for at most `limit`. `Err` says how it failed.
pub fn run_command(command: &str, dir: &Path, limit: Duration) -> Result<(), String> {
    let stdout_to_stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null());
    let mut shell = Command::new("/bin/sh");
    crate::process::restore_core_limit(&mut shell);
    let mut child = shell
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(stdout_to_stderr)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run /bin/sh in {}: {e}", dir.display()))?;
    let deadline = later(limit);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(match status.code() {
                    Some(code) => format!("exited with status {code}"),
                    None => "was killed by a signal".to_string(),
                });
            }
            Ok(None) if Instant::now() >= deadline => {
                kill_group(&mut child);
                return Err(format!("did not finish within {}s", limit.as_secs_f32()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                kill_group(&mut child);
                return Err(format!("could not be waited for: {e}"));
            }
        }
    }
}

/// The instant `limit` from now; a limit too large for the clock is as good as forever.
fn later(limit: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(limit)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

/// Kills the child and everything it started in its group, and reaps it.
fn kill_group(child: &mut std::process::Child) {
    // The group the child leads (it was started with process_group(0)); not yet reaped,
    // so its number names no other group.
    let _ = rustix::process::kill_process_group(
        rustix::process::Pid::from_child(child),
        rustix::process::Signal::KILL,
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// Checks a service once: its health command passes within its timeout. A service
/// without a health command counts as healthy.
pub fn check(service: &Service, dir: &Path) -> Result<(), String> {
    match &service.health {
        Some(health) => run_command(health, dir, service.timeout()),
        None => Ok(()),
    }
}

/// Restarts one service, then runs its health command until it passes or the service's
/// timeout is over. Returns how long it took to become healthy.
pub fn restart(
    name: &str,
    service: &Service,
    dir: &Path,
    health: bool,
) -> Result<Duration, Failure> {
    let started = Instant::now();
    let fail = |step, detail| Failure {
        service: name.to_string(),
        step,
        detail,
    };
    run_command(&service.restart, dir, service.timeout())
        .map_err(|detail| fail(Step::Restart, detail))?;
    let Some(command) = service.health.as_deref().filter(|_| health) else {
        return Ok(started.elapsed());
    };
    let deadline = later(service.timeout());
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match run_command(command, dir, left.max(Duration::from_millis(100))) {
            Ok(()) => return Ok(started.elapsed()),
            Err(detail) if Instant::now() + HEALTH_INTERVAL >= deadline => {
                return Err(fail(
                    Step::Health,
                    format!(
                        "not healthy within {}s (last check {detail})",
                        service.timeout().as_secs_f32()
                    ),
                ));
            }
            Err(_) => std::thread::sleep(HEALTH_INTERVAL),
        }
    }
}

/// Restarts `order` one after another, stopping at the first that fails.
pub fn restart_all(
    order: &[String],
    services: &std::collections::BTreeMap<String, Service>,
    dir: &Path,
    health: bool,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<(), Failure> {
    for name in order {
        let Some(service) = services.get(name) else {
            return Err(Failure {
                service: name.clone(),
                step: Step::Restart,
                detail: "it is not in the policy any more".into(),
            });
        };
        on_event(Event::Restarting(name));
        let took = restart(name, service, dir, health)?;
        on_event(Event::Healthy(name, took));
    }
    Ok(())
}
