//! The completion scripts under completions/, driven by the real shells: subcommands,
//! flags, flag values, and dynamic secret and provider names.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::{TestHome, stderr, stdout};

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("completions")
        .join(name)
}

fn home_with_secrets() -> TestHome {
    let home = TestHome::initialised();
    for name in ["API_KEY", "API_URL", "DB_PASSWORD"] {
        home.set(name, "value");
    }
    // A provider, to complete PROVIDER: addresses.
    let providers = home.path().join("providers");
    std::fs::create_dir(&providers).unwrap();
    let provider = providers.join("secretsd-provider-demo");
    std::fs::write(
        &provider,
        "#!/bin/sh\necho '{\"v\":[1],\"provider\":\"demo\",\"version\":\"1\",\"ops\":[\"get\",\"list\"]}'\n\
         while read -r line; do id=$(echo \"$line\" | sed 's/.*\"id\":\\([0-9]*\\).*/\\1/'); \
         echo \"{\\\"id\\\":$id,\\\"ok\\\":{\\\"keys\\\":[\\\"app/db\\\",\\\"app/api\\\"]}}\"; done\n",
    )
    .unwrap();
    common::chmod(&provider, 0o755);
    home
}

/// Runs a shell with vault on PATH and the test home as its environment.
fn shell(home: &TestHome, program: &str, args: &[&str]) -> Output {
    let vault_dir = assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf();
    Command::new(program)
        .args(args)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", vault_dir.display()))
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("VAULT_PROVIDER_PATH", home.path().join("providers"))
        .env("ZDOTDIR", home.path())
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} must be installed (scripts/test installs it): {e}"))
}

fn lines(output: &Output) -> Vec<String> {
    assert!(
        output.status.success(),
        "{}{}",
        stdout(output),
        stderr(output)
    );
    let mut lines: Vec<String> = stdout(output)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect();
    lines.sort();
    lines
}

fn bash(home: &TestHome, words: &[&str]) -> Vec<String> {
    let current = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let code = format!(
        "source {}; COMP_WORDS=({}); COMP_CWORD={current}; _clap_complete_vault vault '{}' '{}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script("vault.bash").display(),
        quoted.join(" "),
        words[current],
        words[current - 1],
    );
    lines(&shell(
        home,
        "bash",
        &["--noprofile", "--norc", "-c", &code],
    ))
}

fn zsh(home: &TestHome, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    // compinit in the test's ZDOTDIR; _describe is replaced by a printer so that the
    // candidates the script offers can be read.
    let code = format!(
        "autoload -Uz compinit && compinit -u -d \"$ZDOTDIR/.zcompdump\"; source {}; \
         _describe() {{ print -rl -- \"${{(@P)3}}\" }}; \
         words=({}); CURRENT={}; _clap_dynamic_completer_vault",
        script("_vault").display(),
        quoted.join(" "),
        words.len(),
    );
    lines(&shell(home, "zsh", &["-f", "-c", &code]))
        .into_iter()
        .map(|c| {
            c.split(":")
                .next()
                .unwrap()
                .trim_end_matches('\\')
                .to_string()
        })
        .collect()
}

fn fish(home: &TestHome, line: &str) -> Vec<String> {
    let code = format!(
        "source {}; complete -C '{line}'",
        script("vault.fish").display()
    );
    lines(&shell(home, "fish", &["--no-config", "-c", &code]))
}

#[test]
fn bash_completes_commands_flags_values_and_names() {
    let home = home_with_secrets();
    assert_eq!(bash(&home, &["vault", "ge"]), ["get"]);
    assert!(bash(&home, &["vault", "exec", "--cl"]).contains(&"--clean-env".to_string()));
    assert_eq!(
        bash(&home, &["vault", "export", "--format", ""]),
        ["direnv", "docker", "dotenv", "json", "shell", "systemd"]
    );
    assert_eq!(
        bash(&home, &["vault", "get", "API_"]),
        ["API_KEY", "API_URL"]
    );
    assert_eq!(bash(&home, &["vault", "rm", "DB"]), ["DB_PASSWORD"]);
    assert_eq!(bash(&home, &["vault", "mv", "A"]), ["API_KEY", "API_URL"]);
    assert_eq!(
        bash(&home, &["vault", "exec", "--only", "API_KEY,A"]),
        ["API_KEY,API_KEY", "API_KEY,API_URL"]
    );
    assert_eq!(bash(&home, &["vault", "get", "de"]), ["demo:"]);
    let everything = bash(&home, &["vault", "get", ""]);
    for offered in ["API_KEY", "API_URL", "DB_PASSWORD", "demo:", "--reveal"] {
        assert!(everything.contains(&offered.to_string()), "{everything:?}");
    }
    assert_eq!(
        bash(&home, &["vault", "get", "demo:app/d"]),
        ["demo:app/db"]
    );
    assert_eq!(bash(&home, &["vault", "provider", "check", "d"]), ["demo"]);
}

#[test]
fn zsh_completes_names_and_provider_addresses() {
    let home = home_with_secrets();
    assert!(zsh(&home, &["vault", "ge"]).contains(&"get".to_string()));
    assert_eq!(
        zsh(&home, &["vault", "get", "API_"]),
        ["API_KEY", "API_URL"]
    );
    assert_eq!(zsh(&home, &["vault", "export", "--format", "j"]), ["json"]);
    assert_eq!(zsh(&home, &["vault", "list", "de"]), ["demo"]);
}

#[test]
fn fish_completes_names_and_subcommands() {
    let home = home_with_secrets();
    assert!(fish(&home, "vault ge").contains(&"get".to_string()));
    assert_eq!(fish(&home, "vault get API_"), ["API_KEY", "API_URL"]);
    assert_eq!(fish(&home, "vault completions z"), ["zsh"]);
}

#[test]
fn a_vault_that_would_prompt_offers_no_names_and_makes_no_noise() {
    let home = TestHome::new();
    let passphrase = home.path().join("pass");
    std::fs::write(&passphrase, "passphrase\n").unwrap();
    common::chmod(&passphrase, 0o600);
    home.vault(&["init", "--passphrase"])
        .env("VAULT_PASSPHRASE_FILE", &passphrase)
        .assert()
        .success();
    home.vault(&["set", "HIDDEN"])
        .env("VAULT_PASSPHRASE_FILE", &passphrase)
        .write_stdin("x")
        .assert()
        .success();
    std::fs::create_dir(home.path().join("providers")).unwrap();
    let started = std::time::Instant::now();
    let output = shell(
        &home,
        "bash",
        &[
            "--noprofile",
            "--norc",
            "-c",
            &format!(
                "source {}; COMP_WORDS=(vault get H); COMP_CWORD=2; _clap_complete_vault vault H get; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script("vault.bash").display()
            ),
        ],
    );
    assert!(output.status.success());
    assert_eq!(
        stdout(&output).trim(),
        "",
        "no names without the passphrase"
    );
    assert_eq!(stderr(&output), "", "no noise on the terminal");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "no prompt waited for"
    );
}
