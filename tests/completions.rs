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

/// Tags come from the vault's secrets, groups from its membership block (with the
/// reserved `me` and `everyone` for `set --group`).
#[test]
fn tags_and_groups_complete() {
    let home = home_with_secrets();
    home.vault(&[
        "set",
        "API_KEY",
        "--keep-value",
        "--tag",
        "payments",
        "--tag",
        "prod",
    ])
    .assert()
    .success();
    home.vault(&["group", "create", "oncall", "--member", &home.line()])
        .assert()
        .success();
    assert_eq!(
        bash(&home, &["vault", "list", "--tag", "p"]),
        ["payments", "prod"]
    );
    assert_eq!(
        bash(&home, &["vault", "set", "X", "--untag", "pa"]),
        ["payments"]
    );
    assert_eq!(
        bash(&home, &["vault", "set", "X", "--group", ""]),
        ["everyone", "me", "oncall"]
    );
    assert_eq!(bash(&home, &["vault", "group", "add", "on"]), ["oncall"]);
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

/// A shell running interactively in a tmux session of its own, as a person types in it.
struct Terminal {
    dir: tempfile::TempDir,
}

impl Terminal {
    /// Starts `shell` ("bash", "zsh" or "fish") with the completion script installed the
    /// way each shell loads one, vault on PATH and `home` as its world.
    fn start(home: &TestHome, shell: &str) -> Terminal {
        let dir = tempfile::tempdir().unwrap();
        let vault_dir = assert_cmd::cargo::cargo_bin("vault")
            .parent()
            .unwrap()
            .to_path_buf();
        let exports = [
            ("PATH", format!("{}:/usr/bin:/bin", vault_dir.display())),
            ("HOME", home.path().display().to_string()),
            (
                "XDG_CONFIG_HOME",
                home.path().join("config").display().to_string(),
            ),
            (
                "XDG_DATA_HOME",
                home.path().join("data").display().to_string(),
            ),
            (
                "VAULT_PROVIDER_PATH",
                home.path().join("providers").display().to_string(),
            ),
        ];
        let rc = dir.path().join("rc");
        let command = match shell {
            "bash" => {
                let mut text: String = exports
                    .iter()
                    .map(|(k, v)| format!("export {k}='{v}'\n"))
                    .collect();
                text += &format!("PS1='READY> '\nsource {}\n", script("vault.bash").display());
                std::fs::write(&rc, text).unwrap();
                format!("bash --noprofile --rcfile {} -i", rc.display())
            }
            "zsh" => {
                let functions = dir.path().join("functions");
                std::fs::create_dir(&functions).unwrap();
                std::fs::copy(script("_vault"), functions.join("_vault")).unwrap();
                let mut text: String = exports
                    .iter()
                    .map(|(k, v)| format!("export {k}='{v}'\n"))
                    .collect();
                text += &format!(
                    "PROMPT='READY> '\nfpath=({} $fpath)\nautoload -Uz compinit && compinit -u -d {}/.zcompdump\n",
                    functions.display(),
                    dir.path().display()
                );
                std::fs::write(dir.path().join(".zshrc"), text).unwrap();
                format!("env ZDOTDIR={} zsh -i", dir.path().display())
            }
            "fish" => {
                let mut text: String = exports
                    .iter()
                    .map(|(k, v)| format!("set -gx {k} '{v}'\n"))
                    .collect();
                text += &format!(
                    "function fish_prompt; echo -n 'READY> '; end\nfunction fish_greeting; end\nset -g fish_autosuggestion_enabled 0\nsource {}\n",
                    script("vault.fish").display()
                );
                std::fs::write(&rc, text).unwrap();
                format!("fish --no-config -C 'source {}'", rc.display())
            }
            other => panic!("no such shell {other}"),
        };
        let terminal = Terminal { dir };
        terminal
            .tmux(&["new-session", "-d", "-x", "200", "-y", "50", &command])
            .unwrap_or_else(|| panic!("tmux must be installed (scripts/test installs it)"));
        terminal.wait_for(|screen| prompt_line(screen).as_deref() == Some(""));
        terminal
    }

    fn tmux(&self, args: &[&str]) -> Option<String> {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(self.dir.path().join("socket"))
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("TERM", "xterm")
            .output()
            .ok()?;
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            stderr(&output)
        );
        Some(stdout(&output))
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p"]).unwrap()
    }

    /// Waits (10 s at most) until the screen satisfies `done`; returns the screen.
    fn wait_for(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let screen = self.screen();
            if done(&screen) || std::time::Instant::now() > deadline {
                return screen;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Types `typed` on an empty command line and presses Tab `tabs` times; returns the
    /// screen once the command line changed (or 10 s passed), and empties the line.
    fn tab(&self, typed: &str, tabs: usize, done: impl Fn(&str) -> bool) -> String {
        self.tmux(&["send-keys", "-l", typed]).unwrap();
        self.wait_for(|screen| prompt_line(screen).as_deref() == Some(typed));
        for _ in 0..tabs {
            self.tmux(&["send-keys", "Tab"]).unwrap();
        }
        let screen = self.wait_for(&done);
        // Let the shell finish drawing, then read the settled screen.
        std::thread::sleep(std::time::Duration::from_millis(300));
        let screen = if done(&self.screen()) {
            self.screen()
        } else {
            screen
        };
        self.tmux(&["send-keys", "C-u"]).unwrap();
        self.tmux(&["send-keys", "C-l"]).unwrap();
        self.wait_for(|screen| prompt_line(screen).as_deref() == Some(""));
        screen
    }

    /// The command line after pressing Tab once on `typed`.
    fn complete(&self, typed: &str) -> String {
        let screen = self.tab(typed, 1, |screen| {
            prompt_line(screen).is_some_and(|line| line != typed)
        });
        prompt_line(&screen).unwrap_or_default()
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// What follows the last prompt on the screen, without trailing blanks.
fn prompt_line(screen: &str) -> Option<String> {
    screen
        .lines()
        .filter_map(|line| line.strip_prefix("READY> "))
        .next_back()
        .map(|line| line.trim_end().to_string())
        .or_else(|| {
            screen
                .lines()
                .any(|line| line.trim_end() == "READY>")
                .then(String::new)
        })
}

/// A home whose shared-file provider (the real one) holds NINJA_CLIENT_ID and
/// NINJA_CLIENT_SECRET, as in the README.
fn home_with_shared_file() -> TestHome {
    let home = TestHome::initialised();
    let providers = home.path().join("providers");
    std::fs::create_dir(&providers).unwrap();
    std::os::unix::fs::symlink(
        assert_cmd::cargo::cargo_bin("vault").with_file_name("secretsd-provider-shared-file"),
        providers.join("secretsd-provider-shared-file"),
    )
    .unwrap();
    let shared = home.path().join("api-secrets.env");
    std::fs::write(
        &shared,
        "NINJA_CLIENT_ID=id\nNINJA_CLIENT_SECRET=secret\nOTHER=x\n",
    )
    .unwrap();
    common::chmod(&shared, 0o600);
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!("[providers.shared-file]\npath = \"{}\"\n", shared.display()),
    )
    .unwrap();
    home
}

/// `PROVIDER:KEY` completes in each shell as a person types it: bash splits words at ':'
/// (COMP_WORDBREAKS), which its glue must undo.
fn provider_addresses_complete_interactively(shell: &str) {
    let home = home_with_shared_file();
    let terminal = Terminal::start(&home, shell);
    let listing_tabs = if shell == "bash" { 2 } else { 1 };
    assert_eq!(
        terminal.complete("vault get shared-file:NINJA_CLIENT_S"),
        "vault get shared-file:NINJA_CLIENT_SECRET"
    );
    assert_eq!(
        terminal.complete("vault get shared-file:NINJA_C"),
        "vault get shared-file:NINJA_CLIENT_"
    );
    assert_eq!(
        terminal.complete("vault get shared-f"),
        "vault get shared-file:"
    );
    assert_eq!(
        terminal.complete("vault list shared-file:O"),
        "vault list shared-file:OTHER"
    );
    // Nothing typed after the colon: the keys are offered, the line is left as it was.
    let screen = terminal.tab("vault get shared-file:", listing_tabs, |screen| {
        screen.contains("NINJA_CLIENT_ID") && screen.contains("OTHER")
    });
    assert!(screen.contains("NINJA_CLIENT_SECRET"), "{screen}");
    assert_eq!(
        prompt_line(&screen).as_deref(),
        Some("vault get shared-file:"),
        "{screen}"
    );
}

#[test]
fn bash_completes_provider_addresses_in_a_terminal() {
    provider_addresses_complete_interactively("bash");
}

#[test]
fn zsh_completes_provider_addresses_in_a_terminal() {
    provider_addresses_complete_interactively("zsh");
}

#[test]
fn fish_completes_provider_addresses_in_a_terminal() {
    provider_addresses_complete_interactively("fish");
}

/// A key name is the provider's to choose, and another person may choose it (a shared
/// store's keys). bash inserts a completion into the command line as it is, and lists
/// candidates on the terminal: a key with shell syntax (`;`, `$(…)`, a glob) or a control
/// character (a terminal escape) is never offered, in any shell.
#[test]
fn a_provider_key_with_shell_syntax_or_a_control_character_is_not_offered() {
    let home = TestHome::initialised();
    let providers = home.path().join("providers");
    std::fs::create_dir(&providers).unwrap();
    let keys = home.path().join("keys.json");
    std::fs::write(
        &keys,
        r#"{"keys":["app/ok","app/x;touch PWNED","app/$(touch PWNED2)","app/*","app/a\u001b]0;t\u0007","app/sp ace","app/q'uote"]}"#,
    )
    .unwrap();
    let provider = providers.join("secretsd-provider-demo");
    std::fs::write(
        &provider,
        format!(
            "#!/bin/sh\necho '{{\"v\":[1],\"provider\":\"demo\",\"version\":\"1\",\"ops\":[\"get\",\"list\"]}}'\n\
             while read -r line; do id=$(echo \"$line\" | sed 's/.*\"id\":\\([0-9]*\\).*/\\1/'); \
             printf '{{\"id\":%s,\"ok\":' \"$id\"; tr -d '\\n' < '{}'; echo '}}'; done\n",
            keys.display()
        ),
    )
    .unwrap();
    common::chmod(&provider, 0o755);
    assert_eq!(bash(&home, &["vault", "get", "demo:app/"]), ["demo:app/ok"]);
    assert_eq!(fish(&home, "vault get demo:app/"), ["demo:app/ok"]);
    assert!(!home.path().join("PWNED").exists() && !home.path().join("PWNED2").exists());
}
