//! What another process of the same user, a crash or a full disk can do to a running vault:
//! its memory is not readable, it leaves no core file, the command it starts gets its own
//! settings back, and a stderr that cannot be written does not turn success into a panic.

mod common;

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestHome, chmod, stderr, stdout};

/// A provider that says hello, then takes 30 s to answer: vault waits with secrets-to-be
/// in its hands, long enough to look at it.
const SLOW_PROVIDER: &str = "#!/usr/bin/env python3
import json, sys, time
print(json.dumps({'v': [1], 'provider': 'slow', 'version': '1', 'ops': ['get']}), flush=True)
time.sleep(30)
";

/// A world-readable directory with the slow provider and a manifest that uses it, so a
/// vault started as another user can run there.
fn slow_setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let provider = dir.path().join("secretsd-provider-slow");
    std::fs::write(&provider, SLOW_PROVIDER).unwrap();
    chmod(&provider, 0o755);
    let manifest = dir.path().join("app.toml");
    std::fs::write(&manifest, "[env]\nTOKEN = \"slow:TOKEN\"\n").unwrap();
    chmod(&manifest, 0o644);
    dir
}

fn vault_run(dir: &Path, user_prefix: &[&str], shell_prefix: &str) -> Command {
    let vault = assert_cmd::cargo::cargo_bin("vault");
    let script = format!(
        "{shell_prefix}exec {} run --manifest {}/app.toml -- true",
        vault.display(),
        dir.display()
    );
    let mut command = Command::new(user_prefix.first().copied().unwrap_or("sh"));
    if user_prefix.is_empty() {
        command.args(["-c", &script]);
    } else {
        command.args(&user_prefix[1..]).args(["sh", "-c", &script]);
    }
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("VAULT_PROVIDER_PATH", dir)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Waits until the vault process (the child, after its shell exec'd it) has started the
/// provider, i.e. is waiting for the answer.
fn wait_for_provider(vault_pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let has_child = || {
        std::fs::read_dir("/proc").unwrap().flatten().any(|e| {
            std::fs::read_to_string(e.path().join("stat"))
                .ok()
                .and_then(|stat| {
                    // pid (comm) state ppid …; comm may hold spaces, so split after ')'.
                    let after = stat.rsplit_once(')')?.1.to_string();
                    after.split_whitespace().nth(1).map(str::to_string)
                })
                .is_some_and(|ppid| ppid == vault_pid.to_string())
        })
    };
    loop {
        if has_child() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "vault never started the provider"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").unwrap().uid() == 0
}

#[test]
fn a_running_vault_is_not_dumpable_and_has_no_core_limit() {
    let dir = slow_setup();
    // As root, run vault as nobody: /proc shows a non-dumpable process as owned by root,
    // which is what makes /proc/PID/mem and environ unreadable to the process's own user.
    let as_nobody: &[&str] = if is_root() {
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
        ]
    } else {
        &[]
    };
    let mut child = vault_run(dir.path(), as_nobody, "").spawn().unwrap();
    wait_for_provider(child.id());
    let pid = child.id();
    let environ = std::fs::metadata(format!("/proc/{pid}/environ")).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    assert_ne!(uid, "0", "the vault under test must not run as root");
    assert_eq!(
        environ.uid(),
        0,
        "/proc/PID/environ of a vault running as uid {uid} is owned by {}: vault is dumpable",
        environ.uid()
    );
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(core.split_whitespace().nth(4), Some("0"), "{core}");
}

#[test]
fn sigabrt_leaves_no_core_file() {
    let pattern = std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap_or_default();
    if pattern.starts_with('|') || pattern.contains('/') {
        eprintln!("core_pattern {pattern:?} sends cores elsewhere; only the limit is checked");
    }
    let dir = slow_setup();
    let mut child = vault_run(dir.path(), &[], "ulimit -c unlimited; ")
        .spawn()
        .unwrap();
    wait_for_provider(child.id());
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGABRT);
    }
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGABRT));
    assert!(!status.core_dumped(), "vault dumped core");
    let cores: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("core"))
        .collect();
    assert!(cores.is_empty(), "{cores:?}");
}

#[test]
fn the_command_gets_the_core_limit_vault_was_started_with() {
    let home = TestHome::initialised();
    let vault = assert_cmd::cargo::cargo_bin("vault");
    // Through a shell that sets the limit first, as a user's shell or systemd would.
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -c 2048; exec {} exec -- sh -c 'ulimit -c'",
            vault.display()
        ))
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "2048");
}

#[test]
fn a_stderr_that_cannot_be_written_does_not_turn_success_into_a_panic() {
    let home = TestHome::initialised();
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let output = home
        .vault_std(&["set", "P", "argv-value"])
        .stderr(Stdio::from(full))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(home.reveal("P"), "argv-value");
}

#[test]
fn write_commands_before_init_say_to_run_init_and_leave_nothing() {
    let home = TestHome::new();
    std::fs::create_dir_all(home.path().join("data/secretsd")).unwrap();
    for args in [
        &["set", "A", "value"][..],
        &["set", "A", "--generate"],
        &["rm", "A"],
        &["mv", "A", "B"],
        &["import", "--from-env"],
        &[
            "recipients",
            "add",
            "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq",
        ],
        &["backup"],
    ] {
        let output = home.vault(args).env("SECRET_X", "x").output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(4),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("run 'vault init'"),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let left: Vec<_> = std::fs::read_dir(home.path().join("data/secretsd"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_symlinked_vault_is_written_through_and_stays_a_link() {
    let home = TestHome::initialised();
    let synced = home.path().join("sync");
    std::fs::create_dir(&synced).unwrap();
    chmod(&synced, 0o700);
    let target = synced.join("team.age");
    std::fs::rename(home.vault_file(), &target).unwrap();
    // init's lock file; a write through the link must not make one here again.
    std::fs::remove_file(home.vault_file().with_extension("age.lock")).unwrap();
    std::os::unix::fs::symlink(&target, home.vault_file()).unwrap();
    home.set("API_KEY", "through-the-link");
    let link = std::fs::symlink_metadata(home.vault_file()).unwrap();
    assert!(
        link.file_type().is_symlink(),
        "the link was replaced by a file"
    );
    let document = common::age_decrypt(&target, &home.identity_file());
    assert_eq!(document["secrets"]["API_KEY"]["value"], "through-the-link");
    // The lock and the backups are the target's.
    assert!(synced.join("team.age.lock").exists());
    assert!(synced.join("backups").is_dir());
    assert!(!home.vault_file().with_extension("age.lock").exists());

    // export -o onto a link writes the file it points to, and keeps the link.
    let real = home.path().join("real.env");
    std::fs::write(&real, "old").unwrap();
    let out = home.path().join("out.env");
    std::os::unix::fs::symlink(&real, &out).unwrap();
    home.vault(&["export", "-o", &out.display().to_string()])
        .assert()
        .success();
    assert!(
        std::fs::symlink_metadata(&out)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(&real).unwrap(),
        "API_KEY='through-the-link'\n"
    );
}

#[test]
fn a_vault_another_user_could_replace_is_refused_with_the_fix() {
    let home = TestHome::initialised();
    home.set("API_KEY", "before");
    let before = std::fs::read(home.vault_file()).unwrap();
    let vault_dir = home.vault_file().parent().unwrap().to_path_buf();
    // The attack: a world-writable directory lets another user swap the vault for one
    // encrypted to them too; the next write must not go ahead.
    chmod(&vault_dir, 0o777);
    let output = home
        .vault(&["set", "API_KEY", "new-secret"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("chmod go-w {}", vault_dir.display())),
        "{message}"
    );
    assert!(!message.contains("new-secret"));
    assert_eq!(std::fs::read(home.vault_file()).unwrap(), before);
    let status = home.vault(&["status"]).output().unwrap();
    assert_ne!(status.status.code(), Some(0));
    assert!(
        (stdout(&status) + &stderr(&status)).contains("writable by group or others"),
        "{}{}",
        stdout(&status),
        stderr(&status)
    );
    chmod(&vault_dir, 0o700);
    home.vault(&["get", "API_KEY"]).assert().success();

    // The same for the identity's directory and the configuration file.
    let identity_dir = home.identity_file().parent().unwrap().to_path_buf();
    chmod(&identity_dir, 0o770);
    let output = home.vault(&["get", "API_KEY"]).output().unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("chmod go-w"),
        "{}",
        stderr(&output)
    );
    chmod(&identity_dir, 0o700);
    let config = home.path().join("config/secretsd/config.toml");
    std::fs::write(&config, "").unwrap();
    chmod(&config, 0o666);
    let output = home.vault(&["list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("configuration file"),
        "{}",
        stderr(&output)
    );
    chmod(&config, 0o644);
    home.vault(&["list"]).assert().success();

    // A vault owned by another user (only root can arrange that here).
    if is_root() {
        std::os::unix::fs::chown(home.vault_file(), Some(65534), Some(65534)).unwrap();
        let output = home.vault(&["get", "API_KEY"]).output().unwrap();
        assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("owned by uid 65534"),
            "{}",
            stderr(&output)
        );
    }
}

#[test]
fn init_refuses_an_existing_identity_that_others_can_read() {
    let home = TestHome::new();
    let identity = home.identity_file();
    std::fs::create_dir_all(identity.parent().unwrap()).unwrap();
    chmod(identity.parent().unwrap(), 0o700);
    common::age_keygen(&identity);
    chmod(&identity, 0o644);
    let output = home.vault(&["init"]).output().unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&format!("chmod 600 {}", identity.display())),
        "{}",
        stderr(&output)
    );
    assert!(!home.vault_file().exists());
    chmod(&identity, 0o600);
    home.vault(&["init"]).assert().success();
}

/// A provider script in a directory of its own; returns the directory.
fn provider_dir(name: &str, script: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("secretsd-provider-{name}"));
    std::fs::write(&path, script).unwrap();
    chmod(&path, 0o755);
    dir
}

/// Peak resident memory (KiB) and exit status of `command`, from wait4's rusage.
fn peak_memory(mut command: Command) -> (i64, i32, Duration) {
    let started = Instant::now();
    let child = command.spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own unreaped child, with valid pointers to locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    std::mem::forget(child);
    (
        usage.ru_maxrss,
        libc::WEXITSTATUS(status),
        started.elapsed(),
    )
}

const ANSWERING: &str = "import json, sys
print(json.dumps({'v': [1], 'provider': 'flood', 'version': '1', 'ops': ['get']}), flush=True)
request = json.loads(sys.stdin.readline())
print(json.dumps({'id': request['id'], 'ok': {'values': {'KEY': 'the-value'}}}), flush=True)
";

#[test]
fn a_provider_that_floods_stdout_or_stderr_costs_vault_bounded_memory() {
    let home = TestHome::initialised();
    for (what, script) in [
        (
            "stderr",
            format!(
                "#!/usr/bin/env python3\nimport sys\nfor _ in range(100):\n    sys.stderr.write('x' * (1 << 20))\nsys.stderr.flush()\n{ANSWERING}"
            ),
        ),
        (
            "stdout",
            format!("#!/usr/bin/env python3\n{ANSWERING}while True:\n    print('{{}}' * 8)\n"),
        ),
    ] {
        let dir = provider_dir("flood", &script);
        let mut command = home.vault_std(&["get", "--reveal", "flood:KEY"]);
        command
            .env("VAULT_PROVIDER_PATH", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let (peak_kib, code, took) = peak_memory(command);
        assert_eq!(code, 0, "{what}");
        assert!(
            peak_kib < 64 * 1024,
            "a provider flooding its {what} took vault to {peak_kib} KiB"
        );
        assert!(took < Duration::from_secs(20), "{what}: {took:?}");
    }
}

#[test]
fn a_provider_and_what_it_forked_are_stopped_with_it() {
    let home = TestHome::initialised();
    // Forks a child, then never says hello.
    // Markers unique to this run, so nothing left by another run is mistaken for ours.
    let (grandchild, child) = (unique_sleep(1), unique_sleep(2));
    let dir = provider_dir(
        "forker",
        &format!("#!/bin/sh\nsleep {grandchild} &\nexec sleep {child}\n"),
    );
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        "[providers]\ntimeout_seconds = 1\n",
    )
    .unwrap();
    let output = home
        .vault(&["get", "forker:KEY"])
        .env("VAULT_PROVIDER_PATH", dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    std::thread::sleep(Duration::from_millis(200));
    for marker in [grandchild, child] {
        assert!(
            !running(&format!("sleep {marker}")),
            "sleep {marker} was left running"
        );
    }
}

#[test]
fn the_command_of_exec_redact_ends_when_vault_is_killed() {
    let home = TestHome::initialised();
    home.set("TOKEN", "a-secret-value");
    let marker = unique_sleep(3);
    let mut vault = home
        .vault_std(&["exec", "--redact", "--", "sleep", &marker])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_provider(vault.id());
    vault.kill().unwrap();
    vault.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if !running(&format!("sleep {marker}")) {
            break;
        }
        assert!(Instant::now() < deadline, "the command outlived vault");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the command started ends with it: a background job, one in a session of its own
/// (`setsid`) and the orphan of a double fork, each with the secrets in its environment.
/// vault's keeper (a subreaper) finds and kills them all when vault is killed.
#[test]
fn everything_the_command_of_exec_redact_started_ends_when_vault_is_killed() {
    let home = TestHome::initialised();
    home.set("TOKEN", "a-secret-value");
    let sleeps: Vec<String> = (4..8).map(unique_sleep).collect();
    let script = format!(
        "sleep {} & setsid sleep {} & (sleep {} &); echo started; exec sleep {}",
        sleeps[0], sleeps[1], sleeps[2], sleeps[3]
    );
    let mut vault = home
        .vault_std(&["exec", "--redact", "--", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(vault.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "started\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sleeps.iter().all(|s| running(&format!("sleep {s}"))) {
        assert!(
            Instant::now() < deadline,
            "the command's processes never all ran"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    vault.kill().unwrap();
    vault.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left: Vec<&String> = sleeps
            .iter()
            .filter(|s| running(&format!("sleep {s}")))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "outlived vault: sleep {left:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What the command leaves running when it exits (here in a session of its own, with the
/// secret in its environment and vault's pipe as its output) ends with it: vault does not
/// wait on it, and it does not run on unfiltered.
#[test]
fn what_the_command_of_exec_redact_leaves_running_ends_when_the_command_exits() {
    let home = TestHome::initialised();
    home.set("TOKEN", "a-secret-value");
    let left = unique_sleep(8);
    let script = format!(
        "setsid sleep {left} & while ! pgrep -f '^sleep {left}$' >/dev/null; do sleep 0.01; done; echo started"
    );
    home.vault(&["exec", "--redact", "--", "sh", "-c", &script])
        .timeout(Duration::from_secs(20))
        .assert()
        .success()
        .stdout("started\n");
    let deadline = Instant::now() + Duration::from_secs(5);
    while running(&format!("sleep {left}")) {
        assert!(
            Instant::now() < deadline,
            "sleep {left} outlived the command"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A provider that answers every request with `message` as a `denied` error.
fn refusing_provider(message: &str) -> tempfile::TempDir {
    provider_dir(
        "refuser",
        &format!(
            "#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps({{'v': [1], 'provider': 'refuser', 'version': '1', 'ops': ['get']}}), flush=True)\nfor line in sys.stdin:\n    request = json.loads(line)\n    print(json.dumps({{'id': request['id'], 'err': {{'kind': 'denied', 'message': {message:?}}}}}), flush=True)\n"
        ),
    )
}

#[test]
fn untrusted_text_reaches_the_terminal_without_control_characters() {
    let home = TestHome::initialised();
    let dir = refusing_provider("no \u{1b}[2J\u{1b}]0;owned\u{7} way\r");
    let manifest = home.path().join("app.toml");
    std::fs::write(
        &manifest,
        "[env]\nTOKEN = \"refuser:KEY\"\nOTHER = \"refuser:OTHER\"\n",
    )
    .unwrap();
    let output = home
        .vault(&[
            "run",
            "--manifest",
            &manifest.display().to_string(),
            "--",
            "true",
        ])
        .env("VAULT_PROVIDER_PATH", dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(125));
    let message = stderr(&output);
    // The failing provider is named with the variables that needed it.
    assert!(
        message.contains("cannot resolve OTHER = refuser:…")
            || message.contains("cannot resolve TOKEN = refuser:…"),
        "{message}"
    );
    assert!(
        message.contains("and 1 more variables from refuser"),
        "{message}"
    );
    assert!(
        !output
            .stderr
            .iter()
            .any(|b| *b == 0x1b || *b == 0x07 || *b == b'\r'),
        "{message:?}"
    );
    assert!(message.contains("\\u{1b}[2J"), "{message}");

    // Names from an imported JSON file, and a pasted secret on a .env line.
    let output = home
        .vault(&["import", "--json", "-"])
        .write_stdin("{\"A\\u001b[31mB\": \"x\"}")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6));
    assert!(!output.stderr.contains(&0x1b), "{:?}", stderr(&output));
    let output = home
        .vault(&["import", "--dotenv", "-"])
        .write_stdin("GOOD=1\nTOKEN+c2VjcmV0LXRva2Vu==\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6));
    assert!(stderr(&output).contains("stdin:2"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("c2VjcmV0"), "{}", stderr(&output));
    home.vault(&["exists", "GOOD"]).assert().code(3);
}

#[test]
fn a_near_miss_of_a_scheme_is_an_error_not_a_literal() {
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "the-real-password");
    let manifest = home.path().join("app.toml");
    for (reference, code) in [
        ("Secret:DB_PASSWORD", 125),
        ("ENV:HOME", 125),
        ("literal:Secret:DB_PASSWORD", 0),
    ] {
        std::fs::write(&manifest, format!("[env]\nX = \"{reference}\"\n")).unwrap();
        let output = home
            .vault(&[
                "run",
                "--manifest",
                &manifest.display().to_string(),
                "--",
                "sh",
                "-c",
                "printf %s \"$X\"",
            ])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(code),
            "{reference}: {}",
            stderr(&output)
        );
        if code == 0 {
            assert_eq!(stdout(&output), "Secret:DB_PASSWORD");
        } else {
            assert!(
                stderr(&output).contains("wrong case"),
                "{}",
                stderr(&output)
            );
        }
    }
}

#[test]
fn the_shared_file_provider_will_not_write_a_secret_into_a_world_readable_file() {
    let home = TestHome::initialised();
    let shared = home.path().join("shared.env");
    std::fs::write(&shared, "A=1\n").unwrap();
    chmod(&shared, 0o644);
    let config = home.path().join("config/secretsd/config.toml");
    std::fs::write(
        &config,
        format!("[providers.shared-file]\npath = \"{}\"\n", shared.display()),
    )
    .unwrap();
    let bin = assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf();
    let output = home
        .vault(&["set", "shared-file:TOKEN"])
        .env("VAULT_PROVIDER_PATH", &bin)
        .write_stdin("s3cr3t")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(stderr(&output).contains("chmod o-r"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&shared).unwrap(), "A=1\n");
    std::fs::write(
        &config,
        format!(
            "[providers.shared-file]\npath = \"{}\"\nworld_readable = true\n",
            shared.display()
        ),
    )
    .unwrap();
    home.vault(&["set", "shared-file:TOKEN"])
        .env("VAULT_PROVIDER_PATH", &bin)
        .write_stdin("s3cr3t")
        .assert()
        .success();
}

/// A `sleep` duration no other run uses: this test process's id is in it.
fn unique_sleep(n: u32) -> String {
    format!("{}{n}", 3000 + std::process::id() % 100_000)
}

/// Whether a process with exactly this command line runs.
fn running(command_line: &str) -> bool {
    let found = Command::new("pgrep")
        .args(["-f", &format!("^{command_line}$")])
        .output()
        .unwrap();
    !stdout(&found).trim().is_empty()
}

#[test]
fn a_writer_waiting_for_the_lock_says_who_holds_it_and_gives_up_in_time() {
    let home = TestHome::initialised();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        "[lock]\ntimeout_seconds = 2\n",
    )
    .unwrap();
    let lock = home.vault_file().with_extension("age.lock");
    // Another process holds the lock (flock(1) takes the same kind of lock vault does);
    // the lock file names some other PID, which is not to be believed.
    std::fs::write(&lock, "4242").unwrap();
    let mut holder = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "10"])
        .process_group(0)
        .spawn()
        .expect("flock (util-linux)");
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let output = home.vault(&["set", "A", "value"]).output().unwrap();
    let took = started.elapsed();
    // SAFETY: kill(2) of the process group we started (flock and its sleep, which holds
    // the lock too).
    unsafe {
        libc::kill(-(holder.id() as i32), libc::SIGKILL);
    }
    let _ = holder.wait();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    // The holder the kernel knows, checked to have the lock file open: flock itself.
    assert!(
        message.contains(&format!(
            "waiting for the lock held by PID {} (flock)",
            holder.id()
        )),
        "{message}"
    );
    assert!(!message.contains("4242"), "{message}");
    assert!(
        message.contains("more than 2 s; nothing was changed"),
        "{message}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(6),
        "{took:?}"
    );
    // Free again: the write goes through.
    home.vault(&["set", "A", "value"]).assert().success();
    home.vault(&["exists", "A"]).assert().success();
}

/// Whether `bytes` hold something a terminal acts on: ESC, BEL, CR, or a C1 control
/// (U+0080..U+009F, two bytes in UTF-8).
fn drives_a_terminal(bytes: &[u8]) -> bool {
    bytes.iter().any(|b| matches!(b, 0x1b | 0x07 | b'\r'))
        || bytes
            .windows(2)
            .any(|w| w[0] == 0xc2 && (0x80..=0x9f).contains(&w[1]))
}

/// A member can write any name and description into the vault they sign (vault's own
/// `set` refuses them, another tool does not); a provider says what it likes. None of it
/// reaches the terminal as control characters, in any report: list, git's textconv, scan,
/// sync's plan, check's table, provider list and a provider's keys.
#[test]
fn names_and_provider_text_in_every_report_never_drive_the_terminal() {
    let home = TestHome::initialised();
    let recipient = home.public_key();
    let membership = home.membership();
    let evil = "EVIL\\u001b]0;owned\\u0007\\u001b[31m\\r\\u009b2J";
    let value = "evil-value-long-enough-to-find";
    home.age_encrypt_text(&home.sign(&format!(
        r#"{{"format":"secretsd-vault","version":2,"membership":{membership},"generation":50,"recipients":["{recipient}"],"secrets":{{"{evil}":{{"value":"{value}","created":"x\u001b[2J","updated":"y","description":"d\u001b[2J"}}}},"diff_key":"00"}}"#
    )));
    let found = home.path().join("found");
    std::fs::create_dir(&found).unwrap();
    std::fs::write(found.join("leak.txt"), format!("token={value}\n")).unwrap();
    let vault = home.vault_file().display().to_string();
    let target = format!("dotenv:{}", home.path().join("out.env").display());
    let found_dir = found.display().to_string();
    let mut checked: Vec<(Vec<&str>, std::process::Output)> = Vec::new();
    for args in [
        vec!["list"],
        vec!["git", "textconv", &vault],
        vec!["scan", &found_dir],
        vec!["sync", "--from", "vault", "--to", &target, "--dry-run"],
    ] {
        let output = home.vault(&args).output().unwrap();
        checked.push((args, output));
    }
    // The runs above must have shown the name (escaped), or they prove nothing.
    for (args, output) in &checked[..3] {
        assert!(
            stdout(output).contains("EVIL\\u{1b}]0;owned"),
            "{args:?}: {}{}",
            stdout(output),
            stderr(output)
        );
    }

    // A provider whose version, keys and errors carry escapes.
    let dir = provider_dir(
        "shouty",
        "#!/usr/bin/env python3\nimport json, sys\nprint(json.dumps({'v': [1], 'provider': 'shouty', 'version': '1\\x1b[2J', 'ops': ['get', 'list']}), flush=True)\nfor line in sys.stdin:\n    r = json.loads(line)\n    if r['op'] == 'list':\n        print(json.dumps({'id': r['id'], 'ok': {'keys': ['k\\x1b[31m', 'k\\x9b2J']}}), flush=True)\n    else:\n        print(json.dumps({'id': r['id'], 'ok': {'values': {}, 'errors': {k: {'kind': 'denied', 'message': 'no \\x1b]0;owned\\x07 way\\r'} for k in r['keys']}}}), flush=True)\n",
    );
    let manifest = home.path().join("app.toml");
    std::fs::write(&manifest, "[env]\nTOKEN = \"shouty:KEY\"\n").unwrap();
    let manifest = manifest.display().to_string();
    for args in [
        vec!["provider", "list"],
        vec!["list", "shouty:"],
        vec!["check", "-m", &manifest],
    ] {
        let output = home
            .vault(&args)
            .env("VAULT_PROVIDER_PATH", dir.path())
            .output()
            .unwrap();
        assert!(
            stdout(&output).contains("\\u{1b}"),
            "{args:?}: {}{}",
            stdout(&output),
            stderr(&output)
        );
        checked.push((args, output));
    }
    for (args, output) in &checked {
        assert!(
            !drives_a_terminal(&output.stdout) && !drives_a_terminal(&output.stderr),
            "{args:?}: {:?} {:?}",
            stdout(output),
            stderr(output)
        );
    }
}
