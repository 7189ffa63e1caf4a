//! One rule for every path written in the configuration, manifests and rotation policies:
//! `~` and `~/…` are the home directory; nothing else (`~user`, `$VAR`) is expanded. One
//! test per kind of path, each through the binary with HOME pointing at the test's home.

mod common;

use std::fs;
use std::path::PathBuf;

use common::{TestHome, chmod, stderr, stdout};

fn bin_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf()
}

fn config(home: &TestHome, text: &str) {
    fs::write(home.path().join("config/secretsd/config.toml"), text).unwrap();
}

/// A private file under the home directory.
fn home_file(home: &TestHome, relative: &str, text: &str) -> PathBuf {
    let path = home.path().join(relative);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, text).unwrap();
    chmod(&path, 0o600);
    path
}

#[test]
fn a_provider_path_setting_starts_at_home() {
    let home = TestHome::initialised();
    home_file(&home, ".deeptempo/.env", "API_KEY=from-the-shared-file\n");
    config(
        &home,
        "[providers.shared-file]\npath = \"~/.deeptempo/.env\"\n",
    );
    let output = home
        .vault(&["get", "--reveal", "shared-file:API_KEY"])
        .env("VAULT_PROVIDER_PATH", bin_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "from-the-shared-file");
    // The conformance kit runs against the file under ~ as well.
    config(
        &home,
        "[providers.shared-file]\npath = \"~/.deeptempo/.env\"\nworld_readable = false\n",
    );
    home.vault(&["provider", "check", "shared-file"])
        .env("VAULT_PROVIDER_PATH", bin_dir())
        .assert()
        .success();
}

#[test]
fn a_lookup_dotenv_starts_at_home() {
    let home = TestHome::initialised();
    home_file(&home, "app/.env", "FROM_DOTENV=dotenv-value\n");
    config(
        &home,
        "[lookup]\norder = [\"dotenv:~/app/.env\", \"vault\"]\n",
    );
    assert_eq!(home.reveal("FROM_DOTENV"), "dotenv-value");
}

#[test]
fn sync_sources_and_targets_start_at_home() {
    let home = TestHome::initialised();
    home_file(&home, "src.env", "NINJA_ID=synced\n");
    let target = home_file(&home, "out/.env", "KEEP=1\n");
    config(
        &home,
        "[sync.app]\nfrom = [\"dotenv:~/src.env\"]\nto = \"dotenv:~/out/.env\"\nonly = [\"NINJA_*\"]\n",
    );
    let output = home.vault(&["sync", "app"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = fs::read_to_string(&target).unwrap();
    assert!(text.starts_with("KEEP=1\nNINJA_ID="), "{text}");
    assert!(text.contains("synced"), "{text}");
}

#[test]
fn a_profile_vault_starts_at_home() {
    let home = TestHome::initialised();
    config(
        &home,
        "[profiles.staging]\nvault = \"~/vaults/staging.age\"\n",
    );
    let output = home
        .vault(&["--profile", "staging", "status", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        report["vault"]["path"],
        home.path().join("vaults/staging.age").to_str().unwrap()
    );
}

#[test]
fn a_rotation_policy_file_starts_at_home() {
    let home = TestHome::initialised();
    home.set("TOKEN", "old-token");
    let env = home_file(&home, "svc/.env", "TOKEN=old-token\n");
    let policy = home.path().join("policy/rotation.toml");
    fs::create_dir_all(policy.parent().unwrap()).unwrap();
    fs::write(
        &policy,
        "[secrets.TOKEN]\ntype = \"random\"\nlength = 24\nfiles = [\"~/svc/.env\"]\n",
    )
    .unwrap();
    let output = home
        .vault(&["rotate", "--policy", policy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let rotated = home.reveal("TOKEN");
    assert_ne!(rotated, "old-token");
    assert!(
        fs::read_to_string(&env).unwrap().contains(&rotated),
        "the .env under ~ was not rewritten"
    );
}

#[test]
fn a_file_reference_starts_at_home_and_nothing_else_is_expanded() {
    let home = TestHome::initialised();
    home_file(&home, "tls/key.pem", "key-material\n");
    let manifest = home.path().join("app.toml");
    fs::write(&manifest, "[env]\nTLS_KEY = \"file:~/tls/key.pem\"\n").unwrap();
    let output = home
        .vault(&[
            "run",
            "-m",
            manifest.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "printf %s \"$TLS_KEY\"",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "key-material");
    // $VAR is not a path rule: the reference names the file as written.
    fs::write(&manifest, "[env]\nTLS_KEY = \"file:$HOME/tls/key.pem\"\n").unwrap();
    let output = home
        .vault(&["run", "-m", manifest.to_str().unwrap(), "--", "true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("$HOME/tls/key.pem"),
        "{}",
        stderr(&output)
    );
}
