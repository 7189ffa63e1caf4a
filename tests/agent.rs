//! Grants for AI agents, through the binary: `vault agent grant/list/revoke/exec/log/
//! connect`, vault under `VAULT_GRANT`, and `vault mcp` driven by the official MCP Python
//! SDK (a real client from another ecosystem).

mod common;

use std::path::{Path, PathBuf};

use common::agent::{API_KEY, DB_PASSWORD, agents_dir, grant, home};
use common::{TestHome, stderr, stdout};

/// `vault ARGS` as the agent under the grant `key`, with what a user's session has in its
/// environment besides.
fn as_agent(home: &TestHome, key: &Path, args: &[&str]) -> std::process::Output {
    let mut command = home.vault_std(args);
    command
        .env("VAULT_GRANT", key)
        .env("SSH_AUTH_SOCK", "/tmp/agent.sock")
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1/bus")
        .env("XDG_RUNTIME_DIR", "/run/user/1")
        .env("CREDENTIALS_DIRECTORY", "/run/credentials/x")
        .env("VAULT_IDENTITY", home.identity_file())
        .env("KEPT_VARIABLE", "kept")
        .env("NODE_OPTIONS", "--require /tmp/evil.js")
        .env("BASH_ENV", "/tmp/evil.sh");
    command.output().unwrap()
}

fn no_value_in(output: &std::process::Output) {
    for value in [API_KEY, DB_PASSWORD] {
        assert!(!stdout(output).contains(value), "{}", stdout(output));
        assert!(!stderr(output).contains(value), "{}", stderr(output));
    }
}

#[test]
fn a_grant_is_a_private_key_and_bundle_the_vault_is_not_encrypted_to() {
    let home = home();
    let key = grant(&home, &["claude", "--only", "API_KEY", "--ttl", "1h"]);
    let dir = agents_dir(&home).join("claude");
    assert_eq!(key, dir.join("grant.key"));
    assert_eq!(common::mode(&dir), 0o700);
    for file in ["grant.key", "bundle.age", "grant.json"] {
        assert_eq!(common::mode(&dir.join(file)), 0o600, "{file}");
    }
    // The grant key opens its bundle, which holds the granted value only…
    let bundle = std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key)
        .arg(dir.join("bundle.age"))
        .output()
        .unwrap();
    assert!(bundle.status.success());
    let text = String::from_utf8(bundle.stdout).unwrap();
    assert!(
        text.contains(API_KEY) && !text.contains("DB_PASSWORD"),
        "{text}"
    );
    // …and never the vault.
    let vault = std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key)
        .arg(home.vault_file())
        .output()
        .unwrap();
    assert!(!vault.status.success());
    assert!(String::from_utf8_lossy(&vault.stderr).contains("no identity matched"));
    // The scope file and the listing name no value.
    let scope = std::fs::read_to_string(dir.join("grant.json")).unwrap();
    assert!(!scope.contains(API_KEY));
    let list = home.vault(&["agent", "list"]).output().unwrap();
    assert!(
        stdout(&list).starts_with("claude\tactive until "),
        "{}",
        stdout(&list)
    );
    assert!(stdout(&list).contains("names API_KEY"));
    no_value_in(&list);
}

#[test]
fn code_loading_variables_are_never_granted() {
    let home = home();
    home.set("LD_PRELOAD", "/tmp/evil.so");
    home.set("BASH_ENV", "/tmp/evil.sh");
    let output = home
        .vault(&["agent", "grant", "g", "--only", "*", "--ttl", "1h"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("not granted BASH_ENV, LD_PRELOAD"));
    let key = PathBuf::from(stdout(&output).trim());
    let env = as_agent(&home, &key, &["agent", "exec", "--", "env"]);
    assert!(!stdout(&env).contains("LD_PRELOAD") && !stdout(&env).contains("BASH_ENV"));
    // Bad input changes nothing.
    for args in [
        &["agent", "grant", "x", "--only", "API_KEY", "--ttl", "soon"][..],
        &["agent", "grant", "../x", "--only", "API_KEY", "--ttl", "1h"],
        &["agent", "grant", "x", "--only", "API-KEY", "--ttl", "1h"],
        &[
            "agent",
            "grant",
            "x",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--command",
            "no-such-program-here",
        ],
    ] {
        let output = home.vault(args).output().unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert!(!agents_dir(&home).join("x").exists(), "{args:?}");
    }
    // Asked for by name alone, there is nothing to grant: nothing is made.
    home.vault(&["agent", "grant", "h", "--only", "LD_PRELOAD", "--ttl", "1h"])
        .assert()
        .code(3);
    assert!(!agents_dir(&home).join("h").exists());
}

#[test]
fn exec_gets_only_granted_values_in_a_scrubbed_environment_with_no_stdin() {
    let home = home();
    let key = grant(&home, &["claude", "--only", "API_KEY", "--ttl", "1h"]);
    // printenv, not env: without --command a launcher is refused.
    let output = as_agent(&home, &key, &["agent", "exec", "--", "printenv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let env = stdout(&output);
    // The granted value is there (masked in the output); the other secret is not, by name
    // either; the user's agents, buses, credentials and vault's own settings are gone.
    assert!(env.lines().any(|l| l == "API_KEY=********"), "{env}");
    assert!(!env.contains("DB_PASSWORD"), "{env}");
    for name in [
        "SSH_AUTH_SOCK",
        "DBUS_SESSION_BUS_ADDRESS",
        "XDG_RUNTIME_DIR",
        "CREDENTIALS_DIRECTORY",
        "VAULT_GRANT",
        "VAULT_IDENTITY",
        "NODE_OPTIONS",
        "BASH_ENV",
    ] {
        assert!(!env.contains(&format!("{name}=")), "{name} passed: {env}");
    }
    assert!(env.contains("KEPT_VARIABLE=kept"));
    no_value_in(&output);
    let stdin = as_agent(
        &home,
        &key,
        &["agent", "exec", "--", "readlink", "/proc/self/fd/0"],
    );
    assert_eq!(stdout(&stdin), "/dev/null\n");
    // `vault exec` under the grant is the same confined run.
    let plain = as_agent(&home, &key, &["exec", "--", "printenv"]);
    assert!(stdout(&plain).lines().any(|l| l == "API_KEY=********"));
    assert!(!stdout(&plain).contains("DB_PASSWORD") && !stdout(&plain).contains("SSH_AUTH_SOCK"));
}

#[test]
fn values_reveal_and_writes_are_refused_and_nothing_changes() {
    let home = home();
    let key = grant(&home, &["claude", "--only", "API_KEY", "--ttl", "1h"]);
    let before = std::fs::read(home.vault_file()).unwrap();
    let masked = as_agent(&home, &key, &["get", "API_KEY"]);
    assert_eq!(stdout(&masked), "********\n");
    let reveal = as_agent(&home, &key, &["get", "API_KEY", "--reveal"]);
    assert_eq!(reveal.status.code(), Some(4));
    assert!(stderr(&reveal).contains("does not reveal a value"));
    no_value_in(&reveal);
    let ungranted = as_agent(&home, &key, &["get", "DB_PASSWORD"]);
    assert_eq!(ungranted.status.code(), Some(3));
    for args in [
        &["set", "API_KEY", "--generate"][..],
        &["rm", "API_KEY", "--force"],
        &["mv", "API_KEY", "OTHER"],
        &["import", "--from-env"],
        &["rotate"],
        &["export"],
        &["recipients", "add", "age1xyz"],
    ] {
        let output = as_agent(&home, &key, args);
        assert_eq!(
            output.status.code(),
            Some(4),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains("under the grant claude vault does not"));
    }
    assert_eq!(std::fs::read(home.vault_file()).unwrap(), before);
    let list = as_agent(&home, &key, &["list"]);
    assert_eq!(stdout(&list), "API_KEY\n");
}

#[test]
fn a_manifest_may_only_reference_granted_secrets_and_literals() {
    let home = home();
    let key = grant(&home, &["claude", "--only", "API_KEY", "--ttl", "1h"]);
    let manifest = home.path().join("secretsd.toml");
    std::fs::write(
        &manifest,
        "command = [\"printenv\"]\n[env]\nKEY = \"secret:API_KEY\"\nMODE = \"literal:test\"\n",
    )
    .unwrap();
    let output = as_agent(&home, &key, &["run"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).lines().any(|l| l == "KEY=********"));
    assert!(stdout(&output).lines().any(|l| l == "MODE=test"));
    no_value_in(&output);
    // An agent edits the manifest to fetch what it was not granted, with the user's
    // credentials: each reference is refused before anything runs.
    for reference in [
        "shared-file:team/API_KEY",
        "file:/etc/passwd",
        "env:SSH_AUTH_SOCK",
    ] {
        std::fs::write(
            &manifest,
            format!("command = [\"env\"]\n[env]\nLEAK = \"{reference}\"\n"),
        )
        .unwrap();
        let output = as_agent(&home, &key, &["run"]);
        assert_eq!(output.status.code(), Some(125), "{reference}");
        assert!(
            stderr(&output).contains("only secret: references to granted names and literals"),
            "{}",
            stderr(&output)
        );
        let check = as_agent(&home, &key, &["check"]);
        assert_eq!(check.status.code(), Some(4), "{reference}");
    }
    std::fs::write(
        &manifest,
        "command = [\"env\"]\n[env]\nDB = \"secret:DB_PASSWORD\"\n",
    )
    .unwrap();
    let output = as_agent(&home, &key, &["run"]);
    assert_eq!(output.status.code(), Some(125));
    assert!(stderr(&output).contains("secret:DB_PASSWORD, which is not granted to claude"));
    no_value_in(&output);
    // A manifest linked to a file outside the project is not read (its parse error could
    // quote it).
    std::fs::remove_file(&manifest).unwrap();
    std::os::unix::fs::symlink(home.identity_file(), &manifest).unwrap();
    let output = as_agent(&home, &key, &["check"]);
    assert_eq!(output.status.code(), Some(4));
    assert!(!stderr(&output).contains("AGE-SECRET-KEY"));
}

#[test]
fn a_two_second_grant_expires() {
    let home = home();
    let key = grant(&home, &["brief", "--only", "API_KEY", "--ttl", "2s"]);
    let before = as_agent(&home, &key, &["get", "API_KEY"]);
    assert!(before.status.success(), "{}", stderr(&before));
    std::thread::sleep(std::time::Duration::from_secs(3));
    for args in [
        &["agent", "exec", "--", "env"][..],
        &["get", "API_KEY"],
        &["list"],
        &["mcp"],
    ] {
        let output = as_agent(&home, &key, args);
        // exec says 125 for whatever stopped it before the command started.
        let code = if args[0] == "agent" { 125 } else { 4 };
        assert_eq!(output.status.code(), Some(code), "{args:?}");
        assert!(
            stderr(&output).contains("grant brief expired at "),
            "{}",
            stderr(&output)
        );
    }
    let list = home.vault(&["agent", "list"]).output().unwrap();
    assert!(stdout(&list).contains("brief\texpired until "));
}

#[test]
fn revocation_deletes_the_key_and_bundle_and_later_calls_fail() {
    let home = home();
    let key = grant(&home, &["claude", "--only", "API_KEY", "--ttl", "1h"]);
    home.vault(&["agent", "revoke", "claude"])
        .assert()
        .success();
    assert!(!agents_dir(&home).join("claude").exists());
    let output = as_agent(&home, &key, &["agent", "exec", "--", "env"]);
    assert_ne!(output.status.code(), Some(0));
    assert!(stdout(&output).is_empty());
    let list = home.vault(&["agent", "list"]).output().unwrap();
    assert!(stdout(&list).is_empty());
    home.vault(&["agent", "revoke", "claude"]).assert().code(3);
}

#[test]
fn revoke_rotate_renews_the_granted_values_that_have_a_policy() {
    let home = home();
    grant(
        &home,
        &["claude", "--only", "API_KEY,DB_PASSWORD", "--ttl", "1h"],
    );
    let policy = home.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[secrets.API_KEY]\ntype = \"random\"\nlength = 40\n",
    )
    .unwrap();
    let output = home
        .vault(&["agent", "revoke", "claude", "--rotate", "--policy"])
        .arg(&policy)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_ne!(home.reveal("API_KEY"), API_KEY);
    assert_eq!(home.reveal("API_KEY").len(), 40);
    assert_eq!(home.reveal("DB_PASSWORD"), DB_PASSWORD);
    assert!(stderr(&output).contains("not rotated (static, or without a rotation policy), so the agent may still hold them: DB_PASSWORD"));
}

#[test]
fn a_users_set_refreshes_the_bundle() {
    let home = home();
    let key = grant(&home, &["claude", "--only", "API_*", "--ttl", "1h"]);
    home.set("API_KEY", "a-brand-new-value-for-the-key");
    let same = |expected: &str| {
        as_agent(
            &home,
            &key,
            &[
                "agent",
                "exec",
                "--",
                "python3",
                "-c",
                &format!(
                    "import os,sys; sys.exit(0 if os.environ['API_KEY'] == '{expected}' else 1)"
                ),
            ],
        )
        .status
        .code()
    };
    assert_eq!(same("a-brand-new-value-for-the-key"), Some(0));
    assert_eq!(same(API_KEY), Some(1));
    // A new name the patterns match does not join the grant: a refresh never widens it
    // (tests/agent_hostile.rs).
    home.set("API_OTHER", "another-granted-value-xyz");
    let list = as_agent(&home, &key, &["list"]);
    assert_eq!(stdout(&list), "API_KEY\n");
    // A rotation reaches the grant too, and a removal takes the name out of it.
    let policy = home.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[secrets.API_KEY]\ntype = \"random\"\nlength = 40\n",
    )
    .unwrap();
    home.vault(&["rotate", "--policy"])
        .arg(&policy)
        .assert()
        .success();
    let rotated = home.reveal("API_KEY");
    assert_eq!(same(&rotated), Some(0));
    home.vault(&["rm", "API_OTHER"]).assert().success();
    let list = as_agent(&home, &key, &["list"]);
    assert_eq!(stdout(&list), "API_KEY\n");
}

/// The agent gets what `vault exec` gives the user: their personal value in place of the
/// shared one, kept current as they set and drop it.
#[test]
fn a_grant_carries_the_users_personal_value() {
    let home = home();
    let key = grant(&home, &["claude", "--only", "API_KEY", "--ttl", "1h"]);
    let sees = |expected: &str| {
        as_agent(
            &home,
            &key,
            &[
                "agent",
                "exec",
                "--",
                "python3",
                "-c",
                &format!(
                    "import os,sys; sys.exit(0 if os.environ['API_KEY'] == '{expected}' else 1)"
                ),
            ],
        )
        .status
        .code()
    };
    let output = home
        .vault(&["set", "API_KEY", "--personal"])
        .write_stdin("my-own-personal-api-key")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(sees("my-own-personal-api-key"), Some(0));
    let output = home
        .vault(&["rm", "API_KEY", "--personal"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(sees(API_KEY), Some(0));
    // A grant made while the personal value exists starts with it.
    home.vault(&["set", "API_KEY", "--personal"])
        .write_stdin("my-own-personal-api-key")
        .assert()
        .success();
    let key = grant(&home, &["second", "--only", "API_KEY", "--ttl", "1h"]);
    let output = as_agent(
        &home,
        &key,
        &[
            "agent",
            "exec",
            "--",
            "python3",
            "-c",
            "import os,sys; sys.exit(0 if os.environ['API_KEY'] == 'my-own-personal-api-key' else 1)",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn commands_are_matched_on_the_resolved_program_and_whole_argv_and_shells_need_naming() {
    let home = home();
    let key = grant(
        &home,
        &[
            "ci",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--command",
            "printenv API_KEY",
            "--command",
            "env ...",
        ],
    );
    let ok = as_agent(&home, &key, &["agent", "exec", "--", "printenv", "API_KEY"]);
    assert_eq!(stdout(&ok), "********\n");
    let any = as_agent(&home, &key, &["agent", "exec", "--", "env", "-u", "HOME"]);
    assert!(any.status.success());
    for argv in [
        &["printenv"][..],
        &["printenv", "API_KEY", "HOME"],
        &["sh", "-c", "echo $API_KEY"],
        &["python3", "-c", "print(1)"],
    ] {
        let mut args = vec!["agent", "exec", "--"];
        args.extend_from_slice(argv);
        let output = as_agent(&home, &key, &args);
        // 125: vault refused before the command started, as exec says of itself.
        assert_eq!(output.status.code(), Some(125), "{argv:?}");
        assert!(stderr(&output).contains("grant ci does not allow this command"));
        no_value_in(&output);
    }
    // A program of the same name earlier in PATH is another program.
    let bin = home.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::write(bin.join("printenv"), "#!/bin/sh\necho fake\n").unwrap();
    common::chmod(&bin.join("printenv"), 0o755);
    let mut command = home.vault_std(&["agent", "exec", "--", "printenv", "API_KEY"]);
    command.env("VAULT_GRANT", &key).env(
        "PATH",
        format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()),
    );
    assert_eq!(command.output().unwrap().status.code(), Some(125));
    // Without --command, any program but a shell.
    let open = grant(&home, &["open", "--only", "API_KEY", "--ttl", "1h"]);
    for argv in [
        &["bash", "-c", "env"][..],
        &["env", "sh", "-c", "env"],
        &["nice", "-n", "5", "/bin/sh", "-c", "env"],
    ] {
        let mut args = vec!["agent", "exec", "--"];
        args.extend_from_slice(argv);
        let shell = as_agent(&home, &open, &args);
        assert_eq!(shell.status.code(), Some(125), "{argv:?}");
        assert!(
            stderr(&shell).contains("runs only when the grant names it"),
            "{}",
            stderr(&shell)
        );
    }
}

#[test]
fn commands_run_only_inside_the_project() {
    let home = home();
    let project = home.path().join("project");
    std::fs::create_dir(&project).unwrap();
    let key = grant(
        &home,
        &[
            "p",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--project",
            project.to_str().unwrap(),
        ],
    );
    let outside = as_agent(&home, &key, &["agent", "exec", "--", "true"]);
    assert_eq!(outside.status.code(), Some(125));
    assert!(stderr(&outside).contains("runs commands only inside its project"));
    let mut inside = home.vault_std(&["agent", "exec", "--", "pwd"]);
    inside.env("VAULT_GRANT", &key).current_dir(&project);
    let output = inside.output().unwrap();
    assert_eq!(
        stdout(&output).trim(),
        project.canonicalize().unwrap().to_str().unwrap()
    );
}

#[test]
fn a_setsid_grandchild_is_gone_after_the_call() {
    let home = home();
    let key = grant(
        &home,
        &[
            "s",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--command",
            "sh ...",
        ],
    );
    let output = as_agent(
        &home,
        &key,
        &[
            "agent",
            "exec",
            "--",
            "sh",
            "-c",
            "setsid sleep 300.0625 & echo started",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "started\n");
    // Gone with the sandbox's PID namespace (or at most a zombie: it runs nothing). The
    // number it had inside means nothing here, so it is found by its command line.
    let running = || {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
                let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
                String::from_utf8_lossy(&cmdline).contains("300.0625")
                    && stat
                        .rfind(')')
                        .and_then(|i| stat[i + 2..].chars().next())
                        .is_some_and(|state| state != 'Z')
            })
            .count()
    };
    let mut left = running();
    for _ in 0..250 {
        if left == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        left = running();
    }
    assert_eq!(left, 0, "the setsid grandchild still runs");
}

/// On a terminal, a command under a grant has none: `/dev/tty` would write past the masking
/// (what `exec --redact` with both streams redirected allows, SECURITY.md says).
#[test]
fn a_command_under_a_grant_cannot_write_to_the_terminal() {
    let home = home();
    let key = grant(
        &home,
        &[
            "t",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--command",
            "sh ...",
        ],
    );
    let vault = assert_cmd::cargo::cargo_bin("vault");
    let inner = format!(
        "VAULT_GRANT={} {} agent exec -- sh -c 'printf %s \"$API_KEY\" > /dev/tty' 2>&1; echo rc=$?",
        key.display(),
        vault.display()
    );
    // script(1) gives the agent a terminal, as a person's would.
    let output = std::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .current_dir(home.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains(API_KEY), "{text}");
    assert!(text.contains("/dev/tty"), "{text}");
    assert!(text.contains("rc=2"), "{text}");
}

/// What an agent can do to get a value past the masking, and what comes out: masked
/// whole or in part, or — by design — not at all.
#[test]
fn adversarial_output_is_masked_except_what_cannot_be() {
    let home = home();
    let key = grant(
        &home,
        &[
            "adv",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--command",
            "sh ...",
        ],
    );
    let run = |script: &str| as_agent(&home, &key, &["agent", "exec", "--", "sh", "-c", script]);
    // The first 14 characters: a run of 12 or more of the value, masked.
    assert_eq!(stdout(&run("printf %.14s \"$API_KEY\"")), "********");
    // base64 of the value: every character made of the value's bits alone is masked; the
    // last carries padding bits and is left ("c2tf…Yw==" becomes this).
    assert_eq!(
        stdout(&run("printf %s \"$API_KEY\" | base64")),
        "********w==\n"
    );
    // Inside a longer base64 text, at another alignment: masked in the middle.
    assert_eq!(
        stdout(&run("printf 'x%sy' \"$API_KEY\" | base64")),
        "eH********N5\n"
    );
    // Hex, as od prints it (split over two lines): each line's run masked.
    assert_eq!(
        stdout(&run("printf %s \"$API_KEY\" | od -An -tx1")),
        " ********\n********\n"
    );
    // Reversed: not an encoding vault knows. It leaks, by design (SECURITY.md).
    assert_eq!(
        stdout(&run("printf %s \"$API_KEY\" | rev")),
        "c1b2a3f4e5d6c7b8a9f4_evil_ks"
    );
    // Pieces under 12 characters are not masked (masking shorter runs garbles ordinary
    // output): three calls give the whole value. It leaks, by design.
    assert_eq!(
        stdout(&run("printf %s \"${API_KEY%???????????????????}\"")),
        "sk_live_4"
    );
    // The exit code: a byte per call ('s' is 115). It leaks, by design.
    assert_eq!(
        run("exit $(printf %d \"'$API_KEY\")").status.code(),
        Some(115)
    );
}

#[test]
fn the_audit_log_is_a_hash_chain_that_shows_a_removed_line() {
    let home = home();
    let key = grant(&home, &["claude", "--only", "API_KEY", "--ttl", "1h"]);
    as_agent(&home, &key, &["agent", "exec", "--", "true"]);
    as_agent(&home, &key, &["get", "API_KEY"]);
    as_agent(&home, &key, &["get", "API_KEY", "--reveal"]);
    as_agent(&home, &key, &["agent", "exec", "--", "printenv", "API_KEY"]);
    let log = home.path().join(".local/state/secretsd/agent-audit.jsonl");
    assert_eq!(common::mode(&log), 0o600);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(API_KEY));
    let lines: Vec<&str> = text.lines().collect();
    // grant; exec and its end; get; the refused reveal; exec and its end.
    assert_eq!(lines.len(), 7, "{text}");
    let started: serde_json::Value = serde_json::from_str(lines[5]).unwrap();
    assert_eq!(started["action"], "exec");
    assert_eq!(started["exit"], serde_json::Value::Null);
    let entry: serde_json::Value = serde_json::from_str(lines[6]).unwrap();
    assert_eq!(entry["action"], "exec ended");
    assert_eq!(entry["argv"], serde_json::json!(["printenv", "API_KEY"]));
    assert_eq!(entry["names"], serde_json::json!(["API_KEY"]));
    assert_eq!(entry["exit"], 0);
    let ok = home.vault(&["agent", "log", "claude"]).output().unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(
        stdout(&ok)
            .contains("claude  refused  error: under the grant claude vault does not reveal")
    );
    assert!(stderr(&ok).contains("7 entries, chain intact"));
    // Remove the third line.
    let cut: Vec<&str> = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 2)
        .map(|(_, l)| *l)
        .collect();
    std::fs::write(&log, format!("{}\n", cut.join("\n"))).unwrap();
    let broken = home.vault(&["agent", "log"]).output().unwrap();
    assert_eq!(broken.status.code(), Some(6));
    assert!(
        stderr(&broken).contains(
            "line 3 does not follow line 2: a line between them was removed, added or changed"
        ),
        "{}",
        stderr(&broken)
    );
    // The first line removed shows too.
    std::fs::write(&log, format!("{}\n", lines[1..].join("\n"))).unwrap();
    let headless = home.vault(&["agent", "log"]).output().unwrap();
    assert_eq!(headless.status.code(), Some(6));
    assert!(stderr(&headless).contains("line 1 does not start the log"));
}

/// Each audit line also goes to the journal's native socket, where the user's processes
/// cannot delete it. Where no journal runs and the test may make its socket (root), the
/// test listens there itself.
#[test]
fn each_audit_line_goes_to_the_journal_when_one_runs() {
    let socket = Path::new("/run/systemd/journal/socket");
    if socket.exists() {
        eprintln!("skipped: a journal runs here, and this test does not read it");
        return;
    }
    // What the test makes, it removes: /run/systemd tells programs that systemd runs.
    let made = ["/run/systemd", "/run/systemd/journal"]
        .into_iter()
        .filter(|d| !Path::new(d).exists())
        .collect::<Vec<_>>();
    if std::fs::create_dir_all("/run/systemd/journal").is_err() {
        eprintln!("skipped: /run/systemd/journal cannot be made here (not root?)");
        return;
    }
    let Ok(listener) = std::os::unix::net::UnixDatagram::bind(socket) else {
        eprintln!("skipped: cannot listen at {}", socket.display());
        return;
    };
    struct Remove<'a>(&'a Path, Vec<&'static str>);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
            for dir in self.1.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
    let _remove = Remove(socket, made);
    let home = home();
    let key = grant(&home, &["journaled", "--only", "API_KEY", "--ttl", "1h"]);
    as_agent(&home, &key, &["agent", "exec", "--", "printenv", "API_KEY"]);
    // Other tests' vaults may write here too: this grant's lines are looked for.
    listener
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let log = std::fs::read_to_string(home.path().join(".local/state/secretsd/agent-audit.jsonl"))
        .unwrap();
    let mut seen = Vec::new();
    let mut buffer = vec![0u8; 65536];
    while seen.len() < log.lines().count() {
        let n = listener.recv(&mut buffer).expect("a journal message");
        let message = String::from_utf8_lossy(&buffer[..n]).into_owned();
        if message.contains("\"grant\":\"journaled\"") {
            seen.push(message);
        }
    }
    for (message, line) in seen.iter().zip(log.lines()) {
        assert!(
            message.starts_with("SYSLOG_IDENTIFIER=vault-agent\n"),
            "{message}"
        );
        assert!(message.contains(&format!("MESSAGE={line}\n")), "{message}");
        assert!(!message.contains(API_KEY));
    }
}

/// Each command is recorded before it starts: with the log unwritable nothing runs.
#[test]
fn a_command_that_cannot_be_recorded_does_not_run() {
    let home = home();
    let key = grant(&home, &["g", "--only", "API_KEY", "--ttl", "1h"]);
    let log = home.path().join(".local/state/secretsd/agent-audit.jsonl");
    std::fs::remove_file(&log).unwrap();
    std::fs::create_dir(&log).unwrap();
    let output = as_agent(&home, &key, &["agent", "exec", "--", "touch", "ran"]);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("agent-audit.jsonl"),
        "{}",
        stderr(&output)
    );
    assert!(!home.path().join("ran").exists());
}

#[test]
fn mcp_refuses_to_start_without_a_grant_and_run_needs_named_commands() {
    let home = home();
    let output = home.vault(&["mcp"]).output().unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(stderr(&output).contains("vault mcp runs only under a grant"));
    let open = grant(&home, &["open", "--only", "API_KEY", "--ttl", "1h"]);
    let output = as_agent(&home, &open, &["mcp", "--allow-run"]);
    assert_eq!(output.status.code(), Some(4));
    assert!(stderr(&output).contains("needs a grant that names its commands"));
}

/// The official MCP Python SDK spawns `vault mcp --allow-run`, lists the tools and calls
/// each: no result holds a value.
#[test]
fn the_python_mcp_sdk_lists_and_calls_every_tool_and_never_sees_a_value() {
    let home = home();
    let project = home.path();
    std::fs::write(
        project.join("secretsd.toml"),
        "[env]\nAPI_KEY = { from = \"secret:API_KEY\", description = \"the payment API key\" }\nDB = \"secret:DB_PASSWORD\"\nMODE = \"literal:dev\"\n",
    )
    .unwrap();
    let key = grant(
        &home,
        &[
            "mcp",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--command",
            "printenv ...",
            "--command",
            "sh ...",
        ],
    );
    let script = home.path().join("client.py");
    std::fs::write(&script, PYTHON_CLIENT).unwrap();
    let vault = assert_cmd::cargo::cargo_bin("vault");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(&vault)
        .arg(&key)
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("PATH", std::env::var_os("PATH").unwrap())
        .current_dir(home.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    no_value_in(&output);
    let results: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(
        results["tools"],
        serde_json::json!(["check_manifest", "list_secrets", "run_command"])
    );
    assert_eq!(
        results["tools_without_run"],
        serde_json::json!(["check_manifest", "list_secrets"])
    );
    let listed: serde_json::Value =
        serde_json::from_str(results["list_secrets"].as_str().unwrap()).unwrap();
    assert_eq!(
        listed["secrets"],
        serde_json::json!([{ "name": "API_KEY", "description": "the payment API key" }])
    );
    let checked: serde_json::Value =
        serde_json::from_str(results["check_manifest"].as_str().unwrap()).unwrap();
    assert_eq!(checked["missing"], serde_json::json!(["DB"]));
    assert_eq!(checked["variables"][0]["shown"], "********");
    let printed: serde_json::Value =
        serde_json::from_str(results["run_printenv"].as_str().unwrap()).unwrap();
    assert_eq!(printed["exit_code"], 0);
    assert_eq!(printed["stdout"], "********\n");
    let encoded: serde_json::Value =
        serde_json::from_str(results["run_base64"].as_str().unwrap()).unwrap();
    assert_eq!(encoded["stdout"], "********w==\n");
    assert_eq!(results["run_refused_is_error"], true);
    assert!(
        results["run_refused"]
            .as_str()
            .unwrap()
            .contains("does not allow this command")
    );
    let slow: serde_json::Value =
        serde_json::from_str(results["run_timeout"].as_str().unwrap()).unwrap();
    assert_eq!(slow["timed_out"], true);
    // Every call is in the audit log.
    let log = home.vault(&["agent", "log", "mcp"]).output().unwrap();
    assert!(log.status.success());
    for action in ["mcp list", "mcp check", "mcp run"] {
        assert!(stdout(&log).contains(action), "{action}: {}", stdout(&log));
    }
}

const PYTHON_CLIENT: &str = r#"
import asyncio, json, sys
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

vault, key = sys.argv[1], sys.argv[2]

def text(result):
    return "".join(c.text for c in result.content if getattr(c, "type", "") == "text")

async def session(args, work):
    params = StdioServerParameters(command=vault, args=["--grant", key, "mcp"] + args)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as s:
            await s.initialize()
            return await work(s)

async def main():
    out = {}
    async def everything(s):
        tools = await s.list_tools()
        out["tools"] = sorted(t.name for t in tools.tools)
        out["list_secrets"] = text(await s.call_tool("list_secrets", {}))
        out["check_manifest"] = text(await s.call_tool("check_manifest", {}))
        out["run_printenv"] = text(await s.call_tool("run_command", {"command": ["printenv", "API_KEY"]}))
        out["run_base64"] = text(await s.call_tool("run_command", {"command": ["sh", "-c", "printf %s \"$API_KEY\" | base64"]}))
        refused = await s.call_tool("run_command", {"command": ["env"]})
        out["run_refused"] = text(refused)
        out["run_refused_is_error"] = refused.is_error
        out["run_timeout"] = text(await s.call_tool("run_command", {"command": ["sh", "-c", "sleep 30"], "timeout_seconds": 1}))
    await session(["--allow-run"], everything)
    async def listing(s):
        tools = await s.list_tools()
        out["tools_without_run"] = sorted(t.name for t in tools.tools)
    await session([], listing)
    print(json.dumps(out))

asyncio.run(main())
"#;

#[test]
fn connect_writes_the_user_scope_configuration_and_prints_the_sandbox_settings() {
    let home = home();
    grant(
        &home,
        &[
            "cc",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--command",
            "npm test",
        ],
    );
    std::fs::write(
        home.path().join(".claude.json"),
        "{\"theme\": \"dark\", \"mcpServers\": {\"other\": {\"command\": \"x\"}}}",
    )
    .unwrap();
    let output = home
        .vault(&["agent", "connect", "claude-code", "cc", "--allow-run"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.path().join(".claude.json")).unwrap())
            .unwrap();
    assert_eq!(config["theme"], "dark");
    assert_eq!(config["mcpServers"]["other"]["command"], "x");
    let entry = &config["mcpServers"]["vault-cc"];
    assert_eq!(entry["type"], "stdio");
    let key = agents_dir(&home).join("cc/grant.key");
    assert_eq!(
        entry["args"],
        serde_json::json!(["--grant", key.to_str().unwrap(), "mcp", "--allow-run"])
    );
    assert!(stdout(&output).contains("\"denyRead\""));
    assert!(stdout(&output).contains("\"failIfUnavailable\": true"));
    // Under the home directory, written from ~ (a plain /path is relative in Claude's
    // settings).
    assert!(
        stdout(&output).contains("\"~/config/secretsd\""),
        "{}",
        stdout(&output)
    );
    assert!(stdout(&output).contains("\"Read(~/.local/state/secretsd/**)\""));

    let codex_dir = home.path().join(".codex");
    std::fs::create_dir(&codex_dir).unwrap();
    std::fs::write(
        codex_dir.join("config.toml"),
        "# mine\nmodel = \"o4\"\n\n[mcp_servers.vault-cc]\ncommand = \"old\"\n\n[mcp_servers.other]\ncommand = \"x\"\n",
    )
    .unwrap();
    let output = home
        .vault(&["agent", "connect", "codex", "cc"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = std::fs::read_to_string(codex_dir.join("config.toml")).unwrap();
    assert!(text.starts_with("# mine\nmodel = \"o4\"\n"), "{text}");
    let parsed: toml::Table = toml::from_str(&text).unwrap();
    assert_eq!(
        parsed["mcp_servers"]["other"]["command"].as_str(),
        Some("x")
    );
    let ours = &parsed["mcp_servers"]["vault-cc"];
    assert_eq!(
        ours["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect::<Vec<_>>(),
        vec!["--grant", key.to_str().unwrap(), "mcp"]
    );
    assert!(stdout(&output).contains("[permissions.vault-agent.filesystem]"));
    // A configuration vault cannot read is left as it is.
    std::fs::write(home.path().join(".claude.json"), "{not json").unwrap();
    let output = home
        .vault(&["agent", "connect", "claude-code", "cc"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6));
    assert!(stderr(&output).contains("nothing was written"));
    assert_eq!(
        std::fs::read_to_string(home.path().join(".claude.json")).unwrap(),
        "{not json"
    );
    // A grant for any program is not offered to run through MCP.
    grant(&home, &["any", "--only", "API_KEY", "--ttl", "1h"]);
    home.vault(&["agent", "connect", "codex", "any", "--allow-run"])
        .assert()
        .code(4);
}
