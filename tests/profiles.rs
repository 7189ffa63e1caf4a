//! Profiles: one manifest, several environments. `--profile NAME` (or VAULT_PROFILE)
//! picks the vault file, the lookup order and provider settings from `[profiles.NAME]` of
//! the configuration, and a manifest's `[profiles.NAME.env]` overrides.

mod common;

use std::fs;

use common::{TestHome, stderr, stdout};

const MANIFEST: &str = r#"
[env]
DB_PASSWORD = "secret:DB_PASSWORD"
API_URL = "shared-file:API_URL"
LOG_LEVEL = "debug"

[profiles.prod.env]
LOG_LEVEL = "warn"
"#;

#[test]
fn one_manifest_resolves_differently_in_dev_staging_and_prod() {
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "dev-password");
    let dir = home.path();
    // A second vault for staging and prod, encrypted to the same identity.
    let staging = dir.join("staging.age");
    let staging_arg = staging.display().to_string();
    home.vault(&["--vault", &staging_arg, "init"])
        .assert()
        .success();
    home.vault(&["--vault", &staging_arg, "set", "DB_PASSWORD"])
        .write_stdin("staging-password")
        .assert()
        .success();
    for (file, url) in [
        ("dev.env", "http://localhost:8000"),
        ("prod.env", "https://api.example"),
    ] {
        fs::write(dir.join(file), format!("API_URL={url}\n")).unwrap();
        common::chmod(&dir.join(file), 0o600);
    }
    fs::write(
        dir.join("config/secretsd/config.toml"),
        format!(
            r#"[providers.shared-file]
path = "{dev}"

[profiles.staging]
vault = "{staging}"

[profiles.prod]
vault = "{staging}"
providers.shared-file.path = "{prod}"
"#,
            dev = dir.join("dev.env").display(),
            staging = staging.display(),
            prod = dir.join("prod.env").display(),
        ),
    )
    .unwrap();
    fs::write(dir.join("secretsd.toml"), MANIFEST).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf();
    let run = |profile: Option<&str>, by_env: bool| {
        let mut args = vec![];
        if let (Some(p), false) = (profile, by_env) {
            args.extend(["--profile", p]);
        }
        args.extend([
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s|%s|%s' \"$DB_PASSWORD\" \"$API_URL\" \"$LOG_LEVEL\"",
        ]);
        let mut command = home.vault(&args);
        command.env("VAULT_PROVIDER_PATH", &bin);
        if let (Some(p), true) = (profile, by_env) {
            command.env("VAULT_PROFILE", p);
        }
        let output = command.output().unwrap();
        assert!(output.status.success(), "{profile:?}: {}", stderr(&output));
        stdout(&output)
    };
    assert_eq!(run(None, false), "dev-password|http://localhost:8000|debug");
    assert_eq!(
        run(Some("staging"), false),
        "staging-password|http://localhost:8000|debug"
    );
    assert_eq!(
        run(Some("prod"), false),
        "staging-password|https://api.example|warn"
    );
    assert_eq!(
        run(Some("prod"), true),
        "staging-password|https://api.example|warn"
    );

    // status and check say which profile is active.
    let output = home
        .vault(&["--profile", "staging", "status", "--json"])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["profile"], "staging");
    assert_eq!(status["vault"]["path"], staging_arg.as_str());
    let output = home
        .vault(&["--profile", "prod", "check"])
        .env("VAULT_PROVIDER_PATH", &bin)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("profile prod"),
        "{}",
        stderr(&output)
    );

    // --vault still wins over the profile's vault; an unknown profile names the known ones.
    let default_vault = home.vault_file().display().to_string();
    let output = home
        .vault(&[
            "--profile",
            "staging",
            "--vault",
            &default_vault,
            "get",
            "--reveal",
            "DB_PASSWORD",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&output), "dev-password");
    let output = home.vault(&["--profile", "qa", "list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("the profiles are prod, staging"),
        "{}",
        stderr(&output)
    );
}
