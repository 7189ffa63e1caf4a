//! `vault exec`: the command replaces vault and gets the secrets in its environment.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use common::{TestHome, stderr, stdout};
use predicates::prelude::*;

fn home_with_secrets() -> TestHome {
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "db-secret-value");
    home.set("APP_TOKEN", "app-token-value");
    home.set("APP_URL", "https://app.example");
    home
}

#[test]
fn the_command_sees_every_secret() {
    let home = home_with_secrets();
    home.vault(&[
        "exec",
        "--",
        "sh",
        "-c",
        "echo $DB_PASSWORD $APP_TOKEN $APP_URL",
    ])
    .assert()
    .success()
    .stdout("db-secret-value app-token-value https://app.example\n");
}

#[test]
fn the_command_replaces_vault_keeping_its_pid_stdio_and_status() {
    let home = home_with_secrets();
    let mut child = home
        .vault_std(&[
            "exec",
            "--",
            "sh",
            "-c",
            "echo $$; read line; echo got:$line; exit 42",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let vault_pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert_eq!(
        first.trim(),
        vault_pid.to_string(),
        "the command has vault's PID"
    );
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "hello").unwrap();
    let mut second = String::new();
    stdout.read_line(&mut second).unwrap();
    assert_eq!(second, "got:hello\n");
    assert_eq!(child.wait().unwrap().code(), Some(42));
}

#[test]
fn a_signal_that_kills_the_command_is_its_own() {
    let home = home_with_secrets();
    let status = home
        .vault_std(&["exec", "--", "sh", "-c", "kill -TERM $$"])
        .status()
        .unwrap();
    assert_eq!(status.signal(), Some(libc_sigterm()));
}

fn libc_sigterm() -> i32 {
    15
}

#[test]
fn only_and_prefix_select_secrets() {
    let home = home_with_secrets();
    let show = "echo ${DB_PASSWORD:-unset} ${APP_TOKEN:-unset} ${TOKEN:-unset} ${URL:-unset}";
    home.vault(&["exec", "--only", "DB_PASSWORD", "--", "sh", "-c", show])
        .assert()
        .success()
        .stdout("db-secret-value unset unset unset\n");
    home.vault(&["exec", "--prefix", "APP_", "--", "sh", "-c", show])
        .assert()
        .success()
        .stdout("unset app-token-value unset unset\n");
    home.vault(&[
        "exec",
        "--prefix",
        "APP_",
        "--strip-prefix",
        "--",
        "sh",
        "-c",
        show,
    ])
    .assert()
    .success()
    .stdout("unset unset app-token-value https://app.example\n");
}

#[test]
fn vault_values_override_the_environment_unless_told_not_to() {
    let home = home_with_secrets();
    home.vault(&["exec", "--", "sh", "-c", "echo $DB_PASSWORD"])
        .env("DB_PASSWORD", "from-environment")
        .assert()
        .success()
        .stdout("db-secret-value\n");
    home.vault(&[
        "exec",
        "--no-override",
        "--",
        "sh",
        "-c",
        "echo $DB_PASSWORD $APP_TOKEN",
    ])
    .env("DB_PASSWORD", "from-environment")
    .assert()
    .success()
    .stdout("from-environment app-token-value\n");
}

#[test]
fn clean_env_keeps_only_secrets_and_path() {
    let home = home_with_secrets();
    let output = home
        .vault(&["exec", "--clean-env", "--only", "DB_PASSWORD", "--", "env"])
        .env("SHOULD_VANISH", "x")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let mut names: Vec<String> = stdout(&output)
        .lines()
        .map(|l| l.split('=').next().unwrap().to_string())
        .collect();
    names.sort();
    assert_eq!(names, ["DB_PASSWORD", "PATH"]);
    let env_path = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v env"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let output = home
        .vault(&[
            "exec",
            "--clean-env",
            "--no-path",
            "--only",
            "DB_PASSWORD",
            "--",
            env_path.trim(),
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&output), "DB_PASSWORD=db-secret-value\n");
}

#[test]
fn vaults_own_failures_exit_125_with_a_vault_prefix() {
    let home = home_with_secrets();
    home.vault(&["exec", "--only", "MISSING", "--", "true"])
        .assert()
        .code(125)
        .stderr(predicate::str::starts_with("vault: "))
        .stderr(predicate::str::contains("MISSING"));
    let empty = TestHome::new();
    empty
        .vault(&["exec", "--", "true"])
        .assert()
        .code(125)
        .stderr(predicate::str::contains("vault init"));
    home.vault(&["exec", "--", "true"])
        .env("VAULT_IDENTITY", empty.path().join("nope"))
        .assert()
        .code(125);
}

#[test]
fn command_not_found_is_127_and_not_executable_is_126() {
    let home = home_with_secrets();
    home.vault(&["exec", "--", "no-such-command-anywhere"])
        .assert()
        .code(127)
        .stderr(predicate::str::contains("command not found"));
    let script = home.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    home.vault(&["exec", "--", script.to_str().unwrap()])
        .assert()
        .code(126);
    // The same for a command vault keeps as a child (started by its keeper).
    home.vault(&["exec", "--redact", "--", "no-such-command-anywhere"])
        .assert()
        .code(127)
        .stderr(predicate::str::contains(
            "no-such-command-anywhere: command not found",
        ));
    home.vault(&["exec", "--redact", "--", script.to_str().unwrap()])
        .assert()
        .code(126);
}

#[test]
fn a_value_too_large_for_the_environment_is_refused_by_name() {
    let home = home_with_secrets();
    home.vault(&["set", "HUGE"])
        .write_stdin("y".repeat(200 * 1024))
        .assert()
        .success();
    home.vault(&["exec", "--", "true"])
        .assert()
        .code(125)
        .stderr(predicate::str::contains("HUGE"))
        .stderr(predicate::str::contains("MAX_ARG_STRLEN"));
    home.vault(&["exec", "--only", "DB_PASSWORD", "--", "true"])
        .assert()
        .success();
}

#[test]
fn redact_masks_values_even_when_split_across_writes() {
    let home = home_with_secrets();
    let script = r#"printf 'token=%s\n' "$APP_TOKEN"
printf 'half=%s' "$(printf %s "$DB_PASSWORD" | cut -c1-5)"; sleep 0.3; printf '%s\n' "$(printf %s "$DB_PASSWORD" | cut -c6-)"
echo "err=$APP_URL" >&2
exit 3"#;
    let output = home
        .vault(&["exec", "--redact", "--", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(stdout(&output), "token=********\nhalf=********\n");
    assert_eq!(stderr(&output), "err=********\n");
}

/// A value shorter than 4 characters is not masked — masking `x` garbled every word with
/// an x in it, and so gave the value away — and vault names it once on stderr, by name
/// only. `[redact] min_length` moves the minimum; a setting that would mask ordinary text
/// everywhere is refused.
#[test]
fn redact_leaves_short_values_alone_and_names_them_once() {
    let home = home_with_secrets();
    home.set("DB_USER", "x");
    home.set("DB_PORT", "543");
    let output = home
        .vault(&[
            "exec",
            "--redact",
            "--",
            "sh",
            "-c",
            "echo max box 5432; echo $APP_TOKEN >&2",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(stdout(&output), "max box 5432\n");
    let message = stderr(&output);
    assert_eq!(message.matches("DB_PORT, DB_USER").count(), 1, "{message}");
    assert!(message.contains("shorter than 4 characters"), "{message}");
    assert!(message.contains("min_length"), "{message}");
    assert!(message.ends_with("********\n"), "{message}");
    // With --quiet the note goes, the behaviour stays.
    home.vault(&["--quiet", "exec", "--redact", "--", "echo", "max box"])
        .assert()
        .success()
        .stdout("max box\n")
        .stderr("");
    let config = home.path().join("config/secretsd/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "[redact]\nmin_length = 3\n").unwrap();
    let output = home
        .vault(&["exec", "--redact", "--", "echo", "max box 5432"])
        .output()
        .unwrap();
    assert_eq!(stdout(&output), "max box ********2\n");
    assert!(
        stderr(&output).contains("not masking DB_USER in"),
        "{}",
        stderr(&output)
    );
    std::fs::write(&config, "[redact]\nmin_fragment = 2\n").unwrap();
    home.vault(&["exec", "--redact", "--", "true"])
        .assert()
        .code(125)
        .stderr(predicate::str::contains("min_fragment at least 4"));
}

#[test]
fn redact_exits_128_plus_the_signal_that_killed_the_command() {
    let home = home_with_secrets();
    home.vault(&["exec", "--redact", "--", "sh", "-c", "kill -KILL $$"])
        .assert()
        .code(128 + 9);
}

#[test]
fn redact_forwards_signals_to_the_command() {
    let home = home_with_secrets();
    for (signal, name) in [(10, "USR1"), (15, "TERM"), (1, "HUP"), (28, "WINCH")] {
        let script = format!(
            "trap 'echo got-{name} $APP_TOKEN; exit 7' {name}; echo ready; while :; do sleep 0.05; done"
        );
        let mut child = home
            .vault_std(&["exec", "--redact", "--", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        line.clear();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line, format!("got-{name} ********\n"));
        let exit = wait_with_timeout(&mut child, Duration::from_secs(10));
        assert_eq!(exit, Some(7), "SIG{name}");
    }
}

fn wait_with_timeout(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the command did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Linux refuses an exec whose arguments and environment exceed a quarter of the stack
/// limit (E2BIG): 20 secrets of 120 KiB under an 8 MiB stack do. vault says why, in
/// figures, exits 125, and shows no value; a smaller selection of the same vault starts.
#[test]
fn an_environment_too_large_for_the_kernel_is_explained() {
    use std::os::unix::process::CommandExt;
    let home = TestHome::initialised();
    let marker = "e2big-marker-value";
    let dotenv: String = (0..20)
        .map(|i| format!("BIG_{i}={marker}{}\n", "x".repeat(120 * 1024)))
        .collect();
    std::fs::write(home.path().join("big.env"), dotenv).unwrap();
    home.vault(&["import", "--dotenv", "big.env"])
        .current_dir(home.path())
        .assert()
        .success();
    let with_8_mib_stack = |args: &[&str]| {
        let mut command = home.vault_std(args);
        // SAFETY: setrlimit is async-signal-safe and touches only the child.
        unsafe {
            command.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 8 * 1024 * 1024,
                    rlim_max: libc::RLIM_INFINITY,
                };
                if libc::setrlimit(libc::RLIMIT_STACK, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        command.output().unwrap()
    };
    let output = with_8_mib_stack(&["exec", "--", "true"]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(125), "{message}");
    for expected in [
        "E2BIG",
        "(20 of them secrets)",
        "bytes",
        "ulimit -s",
        "--only",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
    assert!(!message.contains(marker), "{message}");
    let output = with_8_mib_stack(&["exec", "--only", "BIG_0,BIG_1", "--", "true"]);
    assert!(output.status.success(), "{}", stderr(&output));
}

/// A member's `vault set BASH_ENV` (or LD_PRELOAD, PYTHONPATH, PATH…) would run their code
/// on every machine that execs: such variables pass from the vault only when allowed by
/// name, on the command line or in the configuration, and vault names what it held back.
/// In a manifest, a literal is the user's own choice and passes; a secret: reference does
/// not, nor does a file given for such a variable.
#[test]
fn variables_that_load_code_pass_from_the_vault_only_when_allowed() {
    let home = home_with_secrets();
    let marker = home.path().join("pwned");
    let evil = home.path().join("evil.sh");
    std::fs::write(&evil, format!("/usr/bin/touch {}\n", marker.display())).unwrap();
    home.set("BASH_ENV", evil.to_str().unwrap());
    home.set("LD_PRELOAD", "/nonexistent/evil.so");
    home.set("PATH", "/nonexistent/evil-bin");
    let probe = "echo ${BASH_ENV-unset} ${LD_PRELOAD-unset} $DB_PASSWORD; command -v true";
    let output = home
        .vault(&["exec", "--", "bash", "-c", probe])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!marker.exists(), "BASH_ENV from the vault ran");
    let shown = stdout(&output);
    assert!(
        shown.starts_with("unset unset db-secret-value\n"),
        "{shown}"
    );
    // The inherited PATH stays: `true` is found where it always is.
    assert!(!shown.contains("evil-bin"), "{shown}");
    let said = stderr(&output);
    assert!(
        said.contains("held back BASH_ENV, LD_PRELOAD, PATH:") && said.contains("--allow-env"),
        "{said}"
    );
    // Names only: not a value.
    assert!(
        !said.contains("evil.sh") && !said.contains("evil.so"),
        "{said}"
    );

    // Allowed on the command line, the one named passes (and the others stay held).
    let output = home
        .vault(&["exec", "--allow-env", "BASH_ENV", "--", "bash", "-c", probe])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(marker.exists(), "an allowed BASH_ENV is passed");
    assert!(stderr(&output).contains("held back LD_PRELOAD, PATH:"));
    std::fs::remove_file(&marker).unwrap();

    // Allowed in the configuration.
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        "[exec]\nallow_env = [\"BASH_ENV\", \"LD_PRELOAD\", \"PATH\"]\n",
    )
    .unwrap();
    let output = home
        .vault(&["exec", "--", "/bin/bash", "-c", "echo $PATH"])
        .output()
        .unwrap();
    assert!(marker.exists(), "BASH_ENV allowed by the configuration");
    assert_eq!(stdout(&output), "/nonexistent/evil-bin\n");
    assert!(
        !stderr(&output).contains("held back"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_file(&marker).unwrap();
    std::fs::remove_file(home.path().join("config/secretsd/config.toml")).unwrap();

    // A file for such a variable holds the vault's text just the same.
    home.vault(&[
        "exec",
        "--file",
        "BASH_ENV=BASH_ENV",
        "--",
        "bash",
        "-c",
        "true",
    ])
    .assert()
    .success()
    .stderr(predicate::str::contains("held back BASH_ENV"));
    assert!(!marker.exists(), "a file from the vault in BASH_ENV ran");

    // A manifest: a secret: reference is held back, a literal is the user's choice.
    let manifest = home.path().join("app.toml");
    let manifest_arg = manifest.to_str().unwrap();
    std::fs::write(
        &manifest,
        "[env]\nBASH_ENV = \"secret:BASH_ENV\"\nDB = \"secret:DB_PASSWORD\"\n",
    )
    .unwrap();
    home.vault(&["run", "-m", manifest_arg, "--", "bash", "-c", "echo $DB"])
        .assert()
        .success()
        .stdout("db-secret-value\n")
        .stderr(predicate::str::contains("held back BASH_ENV"));
    assert!(!marker.exists(), "BASH_ENV from a manifest's secret: ran");
    home.vault(&[
        "run",
        "--allow-env",
        "BASH_ENV",
        "-m",
        manifest_arg,
        "--",
        "bash",
        "-c",
        "true",
    ])
    .assert()
    .success();
    assert!(marker.exists(), "an allowed BASH_ENV from a manifest");
    std::fs::remove_file(&marker).unwrap();
    std::fs::write(
        &manifest,
        format!("[env]\nBASH_ENV = \"literal:{}\"\n", evil.display()),
    )
    .unwrap();
    home.vault(&["run", "-m", manifest_arg, "--", "bash", "-c", "true"])
        .assert()
        .success()
        .stderr(predicate::str::contains("held back").not());
    assert!(
        marker.exists(),
        "a literal in the user's own manifest passes"
    );
}

/// `vault exec` passes every secret of the vault, in a project with a secretsd.toml too:
/// a manifest maps variables to references, and `vault run` is what reads it. `--only`,
/// `--prefix` and `vault run` narrow what the command gets, and `exec --help` says so.
#[test]
fn exec_passes_every_secret_even_in_a_project_and_says_how_to_narrow() {
    let home = home_with_secrets();
    std::fs::write(
        home.path().join("secretsd.toml"),
        "[env]\nDB_PASSWORD = \"secret:DB_PASSWORD\"\n",
    )
    .unwrap();
    let print = "printf '%s|%s' \"${DB_PASSWORD-unset}\" \"${APP_TOKEN-unset}\"";
    home.vault(&["exec", "--", "sh", "-c", print])
        .assert()
        .success()
        .stdout("db-secret-value|app-token-value");
    home.vault(&["exec", "--only", "DB_PASSWORD", "--", "sh", "-c", print])
        .assert()
        .success()
        .stdout("db-secret-value|unset");
    home.vault(&["run", "--", "sh", "-c", print])
        .assert()
        .success()
        .stdout("db-secret-value|unset");
    let help = stdout(&home.vault(&["exec", "--help"]).output().unwrap());
    // As one line: clap wraps the text to the terminal's width.
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for words in [
        "in a project with a secretsd.toml too",
        "--only NAMES or --prefix PREFIX",
        "`vault run -- CMD`",
    ] {
        assert!(help.contains(words), "no {words:?} in\n{help}");
    }
}

/// Not only loaders and runtimes: tools take commands from their own variables — GNU tar's
/// `TAR_OPTIONS` (`--checkpoint-action=exec=…`), git's `GIT_SEQUENCE_EDITOR`, vim's
/// `VIMINIT` (`:!…`) — with the code in the value itself, no file planted. A member's
/// `vault set TAR_OPTIONS` ran on every machine that ran `vault exec -- tar …`.
#[test]
fn variables_that_make_tools_run_commands_are_held_back_too() {
    let home = home_with_secrets();
    let marker = home.path().join("pwned");
    let touch = format!("/usr/bin/touch {}", marker.display());
    // tar splits its options at spaces that are not escaped.
    home.set(
        "TAR_OPTIONS",
        &format!(
            "--checkpoint=1 --checkpoint-action=exec={}",
            touch.replace(' ', "\\ ")
        ),
    );
    home.set("GIT_SEQUENCE_EDITOR", &format!("{touch}; true"));
    home.set("VIMINIT", &format!(":silent !{touch}"));
    std::fs::write(home.path().join("f"), "x").unwrap();
    let output = home
        .vault(&["exec", "--", "tar", "cf", "/dev/null", "f"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!marker.exists(), "TAR_OPTIONS from the vault ran a command");
    let said = stderr(&output);
    assert!(
        said.contains("held back GIT_SEQUENCE_EDITOR, TAR_OPTIONS, VIMINIT:"),
        "{said}"
    );
    // git runs the sequence editor of an interactive rebase.
    let repo = home.path().join("repo");
    let git = |args: &[&str]| {
        let status = std::process::Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(&repo)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    };
    std::fs::create_dir(&repo).unwrap();
    git(&["init", "-q"]);
    git(&["commit", "-q", "--allow-empty", "-m", "one"]);
    git(&["commit", "-q", "--allow-empty", "-m", "two"]);
    let output = home
        .vault(&[
            "exec", "--", "git", "-C", "repo", "rebase", "-q", "-i", "HEAD~1",
        ])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // What git falls back to without a sequence editor: vault's own environment.
        .env("GIT_EDITOR", "true")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(!marker.exists(), "GIT_SEQUENCE_EDITOR from the vault ran");
    // Allowed by name, it passes: the test would see it run.
    home.vault(&[
        "exec",
        "--allow-env",
        "TAR_OPTIONS",
        "--",
        "tar",
        "cf",
        "/dev/null",
        "f",
    ])
    .assert()
    .success();
    assert!(marker.exists(), "an allowed TAR_OPTIONS is passed");
}

/// A value that repeats itself (the base64 of a zero-filled key is `AAAA…`) is masked in
/// time linear in its length: every piece of it is found in thousands of places, and
/// extending from each took 85 s for 64 KiB in a debug build.
#[test]
fn redact_masks_a_value_that_repeats_itself_in_linear_time() {
    let home = home_with_secrets();
    let value = "A".repeat(100_000);
    home.set("ZERO_KEY", &value);
    let started = std::time::Instant::now();
    let output = home
        .vault(&[
            "exec",
            "--redact",
            "--",
            "sh",
            "-c",
            r#"printf 'key=%s\n' "$ZERO_KEY"; printf '%.40s|' "$ZERO_KEY""#,
        ])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "key=********\n********|");
    // Output that repeats it without end is masked as it comes, not held back whole.
    let output = home
        .vault(&[
            "exec",
            "--redact",
            "--",
            "sh",
            "-c",
            "head -c 3000000 /dev/zero | base64 -w0; echo",
        ])
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output);
    assert!(
        shown.len() >= 8 * 30 && shown.len() < 10_000,
        "{}",
        shown.len()
    );
    assert_eq!(shown.trim_end().trim_matches('*'), "", "{shown}");
}
