//! What a new user runs into first: a command without `--`, a provider that is not
//! installed, a password-store tool that is not there.

mod common;

use common::{TestHome, stderr, stdout};

#[test]
fn exec_takes_the_command_with_or_without_a_double_dash() {
    let home = TestHome::initialised();
    home.set("API_KEY", "k");
    for args in [
        &["exec", "sh", "-c", "printf %s \"$API_KEY\""][..],
        &["exec", "--", "sh", "-c", "printf %s \"$API_KEY\""],
        &[
            "exec",
            "--only",
            "API_KEY",
            "sh",
            "-c",
            "printf %s \"$API_KEY\"",
        ],
    ] {
        let output = home.vault(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert_eq!(stdout(&output), "k", "{args:?}");
    }
    // Options after the command are the command's.
    let output = home
        .vault(&["exec", "printf", "--", "%s", "-v"])
        .output()
        .unwrap();
    assert_eq!(stdout(&output), "-v");
}

#[test]
fn a_provider_that_is_not_installed_is_a_provider_failure() {
    let home = TestHome::initialised();
    let output = home.vault(&["get", "nosuch:KEY"]).output().unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no provider named nosuch"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_missing_gopass_says_how_to_use_pass_instead() {
    if std::process::Command::new("gopass")
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .to_lowercase()
                .contains("gopass")
        })
    {
        eprintln!("gopasspw's gopass is installed here: nothing to check");
        return;
    }
    let home = TestHome::initialised();
    let bin = assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf();
    // PATH without any gopass (Debian's package of that name is another program).
    let output = home
        .vault(&["get", "gopass:app/db"])
        .env("VAULT_PROVIDER_PATH", &bin)
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("command = \"pass\""),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_unit_refuses_a_vault_binary_that_protect_home_would_hide() {
    // Only root can put a binary under /root here; elsewhere there is nothing to try.
    if !std::fs::metadata("/root").is_ok_and(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid() == 0
    }) || std::fs::write("/root/.vault-write-probe", "").is_err()
    {
        return;
    }
    let _ = std::fs::remove_file("/root/.vault-write-probe");
    let home = TestHome::initialised();
    let dir = tempfile::Builder::new()
        .prefix("vault-unit-test")
        .tempdir_in("/root")
        .unwrap();
    let binary = dir.path().join("vault");
    std::fs::copy(assert_cmd::cargo::cargo_bin("vault"), &binary).unwrap();
    let manifest = home.path().join("app.toml");
    std::fs::write(&manifest, "[env]\nX = \"literal:1\"\n").unwrap();
    let command = home.vault_std(&[
        "systemd",
        "unit",
        "app",
        "--manifest",
        &manifest.display().to_string(),
        "--",
        "/usr/bin/env",
    ]);
    let args: Vec<_> = command.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = command
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
        .collect();
    let output = std::process::Command::new(&binary)
        .args(args)
        .env_clear()
        .envs(envs)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    // The dynamic user cannot pass /root (0700), hidden by ProtectHome=yes or not.
    assert!(
        stderr(&output).contains("cannot reach: /root (mode 0700)"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_manifest_that_does_not_exist_is_not_found() {
    let home = TestHome::initialised();
    let output = home
        .vault(&["export", "--manifest", "no-such-manifest.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no-such-manifest.toml: no such file"),
        "{}",
        stderr(&output)
    );
}
