//! Default references and passed-on locators (src/provider_defaults.rs), through the vault
//! binary: a provider named `openbao` (here a stand-in that reports what it was given, found
//! first on VAULT_PROVIDER_PATH) gets the token its users already keep, and the address
//! they already export, without either being configured.

mod common;

use std::path::PathBuf;

use common::{TestHome, stderr, stdout};

/// Answers every key with a JSON text of what it was given: the `token` of its
/// configuration, and the locator and token variables of its environment.
const REPORTER: &str = r#"#!/usr/bin/env python3
import json, os, sys
print(json.dumps({"v": [1], "provider": "openbao", "version": "0", "ops": ["get"]}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    seen = {"token": req["config"].get("token"),
            "env": {k: v for k, v in os.environ.items() if k.startswith(("BAO_", "VAULT_"))}}
    print(json.dumps({"id": req["id"], "ok": {"values": {k: json.dumps(seen, sort_keys=True) for k in req["keys"]}}}), flush=True)
"#;

struct Setup {
    home: TestHome,
    providers: PathBuf,
}

fn setup(config: &str) -> Setup {
    let home = TestHome::initialised();
    let providers = home.path().join("providers");
    std::fs::create_dir_all(&providers).unwrap();
    let path = providers.join("secretsd-provider-openbao");
    std::fs::write(&path, REPORTER).unwrap();
    common::chmod(&path, 0o755);
    std::fs::write(home.path().join("config/secretsd/config.toml"), config).unwrap();
    Setup { home, providers }
}

impl Setup {
    /// `vault -v get --reveal openbao:x` with `env` added to vault's environment: what the
    /// provider saw, and vault's stderr.
    fn seen(&self, env: &[(&str, &str)]) -> (serde_json::Value, String) {
        let output = self
            .home
            .vault_std(&["-v", "get", "--reveal", "openbao:secret/x#y"])
            .env("VAULT_PROVIDER_PATH", &self.providers)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        (
            serde_json::from_str(&stdout(&output)).unwrap(),
            stderr(&output),
        )
    }
}

#[test]
fn the_token_defaults_to_bao_token_then_vault_token_then_the_token_file() {
    let setup = setup("");
    std::fs::write(
        setup.home.path().join(".vault-token"),
        "token-from-file-77\n",
    )
    .unwrap();

    let (seen, err) = setup.seen(&[
        ("BAO_TOKEN", "token-from-bao-11"),
        ("VAULT_TOKEN", "token-from-vault-22"),
    ]);
    assert_eq!(seen["token"], "token-from-bao-11");
    assert!(
        err.contains("provider openbao: token from env:BAO_TOKEN (a default"),
        "{err}"
    );
    // Sent in the configuration, never in the provider's environment, never shown.
    assert_eq!(seen["env"], serde_json::json!({}));
    assert!(!err.contains("token-from"), "{err}");

    let (seen, err) = setup.seen(&[("VAULT_TOKEN", "token-from-vault-22")]);
    assert_eq!(seen["token"], "token-from-vault-22");
    assert!(
        err.contains("token from env:VAULT_TOKEN (a default"),
        "{err}"
    );

    let (seen, err) = setup.seen(&[]);
    assert_eq!(seen["token"], "token-from-file-77");
    assert!(
        err.contains("token from file:~/.vault-token (a default"),
        "{err}"
    );

    std::fs::remove_file(setup.home.path().join(".vault-token")).unwrap();
    let (seen, err) = setup.seen(&[]);
    assert_eq!(seen["token"], serde_json::Value::Null);
    assert!(!err.contains("token from"), "{err}");
}

#[test]
fn a_configured_token_or_another_auth_method_wins_over_the_defaults() {
    let configured = setup("[providers.openbao]\ntoken = \"env:MY_BAO_TOKEN\"\n");
    let (seen, err) = configured.seen(&[
        ("BAO_TOKEN", "token-from-bao-11"),
        ("MY_BAO_TOKEN", "token-configured-33"),
    ]);
    assert_eq!(seen["token"], "token-configured-33");
    assert!(
        err.contains("provider openbao: token from env:MY_BAO_TOKEN\n"),
        "{err}"
    );

    let approle = setup("[providers.openbao]\nauth = \"approle\"\n");
    let (seen, err) = approle.seen(&[("BAO_TOKEN", "token-from-bao-11")]);
    assert_eq!(seen["token"], serde_json::Value::Null);
    assert!(!err.contains("token from"), "{err}");
}

#[test]
fn locators_are_passed_on_and_nothing_else_of_vaults_environment() {
    let setup = setup("");
    let (seen, err) = setup.seen(&[
        ("BAO_ADDR", "http://127.0.0.1:1"),
        ("VAULT_NAMESPACE", "team-a"),
        ("BAO_CACERT", "/etc/ssl/bao-ca.pem"),
        ("BAO_TOKEN", "token-from-bao-11"),
        ("BAO_UNLISTED", "not-passed"),
    ]);
    assert_eq!(
        seen["env"],
        serde_json::json!({
            "BAO_ADDR": "http://127.0.0.1:1",
            "VAULT_NAMESPACE": "team-a",
            "BAO_CACERT": "/etc/ssl/bao-ca.pem",
        })
    );
    for variable in ["BAO_ADDR", "VAULT_NAMESPACE", "BAO_CACERT"] {
        assert!(
            err.contains(&format!(
                "provider openbao: {variable} passed on from vault's environment"
            )),
            "{err}"
        );
    }
}

#[test]
fn a_token_file_that_cannot_be_read_is_an_error_not_a_silent_skip() {
    // A directory where the file should be: not "missing", so not skipped for the next.
    let setup = setup("");
    std::fs::create_dir(setup.home.path().join(".vault-token")).unwrap();
    let output = setup
        .home
        .vault_std(&["get", "openbao:secret/x#y"])
        .env("VAULT_PROVIDER_PATH", &setup.providers)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("[providers.openbao] token"),
        "{}",
        stderr(&output)
    );
}
