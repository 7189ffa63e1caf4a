//! `vault run --watch`: the command restarts (or is signalled) once per changed value, never
//! for an unchanged one, keeps running through a provider outage, and vault passes
//! signals on and ends with the command's status.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{TestHome, stderr};

struct Watched {
    home: TestHome,
    log: PathBuf,
    child: Child,
}

/// Starts `vault run --watch` with `manifest` and `extra` options; the command appends
/// "start <WATCHED>" (or "signal <WATCHED>") to a log, then waits.
fn watch(home: TestHome, manifest: &str, extra: &[&str], path: Option<String>) -> Watched {
    let log = home.path().join("command.log");
    let manifest_path = home.path().join("watch.toml");
    std::fs::write(&manifest_path, manifest).unwrap();
    let script = format!(
        "echo \"start $WATCHED\" >> {log}; trap 'echo \"signal $WATCHED\" >> {log}' USR1; trap 'echo stopped >> {log}; exit 3' TERM; while true; do sleep 0.05; done",
        log = log.display()
    );
    let mut args = vec!["run", "--watch", "--interval", "300ms", "--grace", "2s"];
    args.extend_from_slice(extra);
    let manifest_arg = manifest_path.to_str().unwrap().to_string();
    args.extend_from_slice(&["-m", &manifest_arg, "--", "sh", "-c", &script]);
    let mut command = home.vault_std(&args);
    if let Some(path) = path {
        command.env("PATH", path);
    }
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let watched = Watched { home, log, child };
    watched.wait_for_lines(1);
    watched
}

impl Watched {
    fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn wait_for_lines(&self, count: usize) -> Vec<String> {
        let started = Instant::now();
        loop {
            let lines = self.lines();
            if lines.len() >= count {
                return lines;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "waited for {count} lines: {lines:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops vault with SIGTERM; returns its exit code and stderr.
    fn stop(mut self) -> (Option<i32>, String) {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let output = std::mem::replace(
            &mut self.child,
            std::process::Command::new("true").spawn().unwrap(),
        )
        .wait_with_output()
        .unwrap();
        (output.status.code(), stderr(&output))
    }
}

fn set(home: &TestHome, value: &str) {
    home.vault(&["set", "WATCHED"])
        .write_stdin(value)
        .assert()
        .success();
}

#[test]
fn a_changed_vault_secret_restarts_the_command_once_and_an_unchanged_one_never() {
    let home = TestHome::initialised();
    set(&home, "first-value");
    let watched = watch(home, "[env]\nWATCHED = \"secret:WATCHED\"\n", &[], None);
    set(&watched.home, "second-value");
    assert_eq!(
        watched.wait_for_lines(3),
        ["start first-value", "stopped", "start second-value"]
    );
    // The same value again, and several intervals: nothing restarts.
    set(&watched.home, "second-value");
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(watched.lines().len(), 3, "{:?}", watched.lines());
    set(&watched.home, "third-value");
    watched.wait_for_lines(5);
    let (code, stderr) = watched.stop();
    assert_eq!(code, Some(3), "the command's own status: {stderr}");
    assert!(!stderr.contains("-value"), "a value in the log: {stderr}");
    assert_eq!(
        stderr.matches("WATCHED changed: restarting").count(),
        2,
        "{stderr}"
    );
}

fn provider_path() -> String {
    let binary = assert_cmd::cargo::cargo_bin("vault");
    format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn shared_file(home: &TestHome, value: &str) -> PathBuf {
    let file = home.path().join("shared.env");
    std::fs::write(&file, format!("WATCHED={value}\n")).unwrap();
    common::chmod(&file, 0o600);
    file
}

fn configure_shared_file(home: &TestHome, file: &Path) {
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!("[providers.shared-file]\npath = \"{}\"\n", file.display()),
    )
    .unwrap();
}

/// A provider's value is polled each interval; an outage keeps the command running and is
/// logged without a value; the value changing afterwards restarts it.
#[test]
fn a_provider_change_restarts_and_an_outage_does_not_stop_the_command() {
    let home = TestHome::initialised();
    let file = shared_file(&home, "from-provider-1");
    configure_shared_file(&home, &file);
    let watched = watch(
        home,
        "[env]\nWATCHED = \"shared-file:WATCHED\"\n",
        &[],
        Some(provider_path()),
    );
    std::fs::write(&file, "WATCHED=from-provider-2\n").unwrap();
    assert_eq!(watched.wait_for_lines(3)[2], "start from-provider-2");
    // An outage: the file cannot be read.
    std::fs::write(&file, "this is not a .env line\n").unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(watched.lines().len(), 3, "{:?}", watched.lines());
    std::fs::write(&file, "WATCHED=from-provider-3\n").unwrap();
    assert_eq!(watched.wait_for_lines(5)[4], "start from-provider-3");
    let (_, stderr) = watched.stop();
    assert!(stderr.contains("keeps running"), "{stderr}");
    assert!(!stderr.contains("from-provider"), "{stderr}");
}

#[test]
fn on_change_signal_sends_the_signal_instead_of_restarting() {
    let home = TestHome::initialised();
    set(&home, "first-value");
    let watched = watch(
        home,
        "[env]\nWATCHED = \"secret:WATCHED\"\n",
        &["--on-change", "signal:USR1"],
        None,
    );
    set(&watched.home, "second-value");
    // The running command keeps the environment it started with.
    assert_eq!(
        watched.wait_for_lines(2),
        ["start first-value", "signal first-value"]
    );
    let (code, _) = watched.stop();
    assert_eq!(code, Some(3));
}

#[test]
fn a_watching_unit_reads_the_live_vault_and_verifies() {
    let home = TestHome::initialised();
    set(&home, "v");
    let manifest = home.path().join("app.toml");
    std::fs::write(&manifest, "[env]\nWATCHED = \"secret:WATCHED\"\n").unwrap();
    let output = home
        .vault(&[
            "systemd",
            "unit",
            "app",
            "--watch",
            "--user",
            "root",
            "--type",
            "notify",
            "-m",
            manifest.to_str().unwrap(),
            "--",
            "/usr/bin/sleep",
            "1000",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let unit = String::from_utf8(output.stdout).unwrap();
    for line in [
        "run --manifest %d/vault-manifest --watch -- /usr/bin/sleep 1000",
        "NotifyAccess=all",
        "ExecReload=/bin/kill -HUP $MAINPID",
        &format!("Environment=VAULT_FILE={}", home.vault_file().display()),
    ] {
        assert!(unit.contains(line), "{line}: {unit}");
    }
    assert!(!unit.contains("LoadCredential=vault-file"), "{unit}");
    let path = home.path().join("app.service");
    std::fs::write(&path, &unit).unwrap();
    common::assert_systemd_verifies(&[&path]);
    home.vault(&[
        "systemd",
        "unit",
        "app",
        "--watch",
        "-m",
        manifest.to_str().unwrap(),
        "--",
        "/usr/bin/true",
    ])
    .assert()
    .code(2);
}

/// Whether a process with exactly this command line runs.
fn running(command_line: &str) -> bool {
    let found = std::process::Command::new("pgrep")
        .args(["-f", &format!("^{command_line}$")])
        .output()
        .unwrap();
    !String::from_utf8_lossy(&found.stdout).trim().is_empty()
}

/// A command that ignores SIGTERM is killed after the grace, and so is what it started (a
/// background job with the old value in its environment); the new one starts.
#[test]
fn after_the_grace_a_restart_kills_the_command_and_what_it_started() {
    let home = TestHome::initialised();
    // Each value is also how long its background job sleeps: a command line of its own.
    let base = 5_000_000 + std::process::id() % 1_000_000 * 10;
    let (first, second) = (base.to_string(), (base + 1).to_string());
    set(&home, &first);
    let log = home.path().join("command.log");
    std::fs::write(
        home.path().join("watch.toml"),
        "[env]\nWATCHED = \"secret:WATCHED\"\n",
    )
    .unwrap();
    let script = format!(
        "trap '' TERM; sleep $WATCHED & echo \"start $WATCHED\" >> {}; while true; do sleep 0.05; done",
        log.display()
    );
    let manifest = home.path().join("watch.toml");
    let mut vault = home
        .vault_std(&[
            "run",
            "--watch",
            "--interval",
            "300ms",
            "--grace",
            "1s",
            "-m",
            manifest.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = || -> Vec<String> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let wait = |what: &str, until: &dyn Fn() -> bool| {
        let started = Instant::now();
        while !until() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "waited for {what}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait("the first start", &|| lines().len() == 1);
    assert!(running(&format!("sleep {first}")));
    set(&home, &second);
    wait("the restart", &|| lines().len() == 2);
    assert_eq!(
        lines(),
        [format!("start {first}"), format!("start {second}")]
    );
    assert!(
        !running(&format!("sleep {first}")),
        "the first command's job outlived the restart"
    );
    assert!(running(&format!("sleep {second}")));
    // The new command ignores SIGTERM too: vault is killed, and the keeper ends the rest.
    vault.kill().unwrap();
    vault.wait().unwrap();
    wait("the second command's job to end", &|| {
        !running(&format!("sleep {second}"))
    });
}
