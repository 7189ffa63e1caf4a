//! age plugin identities and recipients (YubiKey, TPM, Secure Enclave in real life) work as
//! they do in `age`: tested with `age-plugin-vaulttest`, a plugin of this workspace that
//! speaks the real plugin protocol (built by `cargo build --workspace`).

mod common;

use std::fs;
use std::path::PathBuf;

use common::{TestHome, stderr};

fn bin_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf()
}

fn path_with_plugin() -> String {
    format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// A plugin identity in `file`; returns its recipient.
fn plugin_identity(file: &std::path::Path) -> String {
    let output = std::process::Command::new(bin_dir().join("age-plugin-vaulttest"))
        .arg("--generate")
        .output()
        .expect("age-plugin-vaulttest: run cargo build --workspace first (scripts/test does)");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    common::chmod(file.parent().unwrap(), 0o700);
    fs::write(file, &text).unwrap();
    common::chmod(file, 0o600);
    text.lines()
        .find_map(|l| l.strip_prefix("# recipient: ").map(str::to_string))
        .unwrap()
}

#[test]
fn a_vault_encrypted_to_a_plugin_recipient_opens_with_the_plugin_identity() {
    let home = TestHome::new();
    let recipient = plugin_identity(&home.identity_file());
    assert!(recipient.starts_with("age1vaulttest1"), "{recipient}");
    let log = home.path().join("plugin.log");
    let vault = |args: &[&str]| {
        let mut command = home.vault(args);
        command
            .env("PATH", path_with_plugin())
            .env("VAULTTEST_LOG", &log);
        command
    };
    vault(&["init", "--recipient", &recipient])
        .assert()
        .success();
    vault(&["set", "TOKEN"])
        .write_stdin("held-by-hardware")
        .assert()
        .success();
    let output = vault(&["get", "--reveal", "TOKEN"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "held-by-hardware");
    // The plugin's own words reach the user, as a hardware key's "touch" prompt would.
    assert!(
        stderr(&output).contains("touch your vaulttest key"),
        "{}",
        stderr(&output)
    );
    let calls = fs::read_to_string(&log).unwrap();
    assert!(
        calls.contains("wrap") && calls.contains("unwrap"),
        "{calls}"
    );
    // The real age CLI opens it with the same identity and plugin.
    let output = std::process::Command::new("age")
        .args(["-d", "-i"])
        .arg(home.identity_file())
        .arg(home.vault_file())
        .env("PATH", path_with_plugin())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["secrets"]["TOKEN"]["value"], "held-by-hardware");
}

#[test]
fn a_plugin_recipient_joins_a_team_vault_and_a_missing_plugin_is_named() {
    let home = TestHome::initialised();
    home.set("SHARED", "for-the-team");
    let token = home.path().join("token.txt");
    let recipient = plugin_identity(&token);
    home.vault(&["recipients", "add", &recipient])
        .env("PATH", path_with_plugin())
        .assert()
        .success();
    let token_arg = token.display().to_string();
    let output = home
        .vault(&["--identity", &token_arg, "get", "--reveal", "SHARED"])
        .env("PATH", path_with_plugin())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(String::from_utf8_lossy(&output.stdout), "for-the-team");
    // Without the plugin on PATH, a write (which must encrypt to every recipient) says
    // which plugin is missing, and changes nothing.
    let before = fs::read(home.vault_file()).unwrap();
    let output = home
        .vault(&["set", "OTHER", "x"])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("age-plugin-vaulttest"),
        "{}",
        stderr(&output)
    );
    assert_eq!(fs::read(home.vault_file()).unwrap(), before);
}
