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
    seen = {"token": req["config"].get("token"), "ca_cert": req["config"].get("ca_cert"),
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
    common::chmod(&setup.home.path().join(".vault-token"), 0o600);

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
    // An empty BAO_TOKEN is no token: the search goes on, as the bao CLI's does.
    let (seen, err) = setup.seen(&[("BAO_TOKEN", ""), ("VAULT_TOKEN", "token-from-vault-22")]);
    assert_eq!(seen["token"], "token-from-vault-22");
    assert!(
        err.contains("token from env:VAULT_TOKEN (a default"),
        "{err}"
    );
    let (seen, _) = setup.seen(&[("BAO_TOKEN", ""), ("VAULT_TOKEN", "")]);
    assert_eq!(seen["token"], "token-from-file-77");

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
fn a_configured_token_or_another_auth_method_wins_over_the_defaults_but_auth_token_does_not() {
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

    // The token method named explicitly still takes the token its users keep.
    let token_method = setup("[providers.openbao]\nauth = \"token\"\n");
    let (seen, err) = token_method.seen(&[("BAO_TOKEN", "token-from-bao-11")]);
    assert_eq!(seen["token"], "token-from-bao-11");
    assert!(err.contains("token from env:BAO_TOKEN (a default"), "{err}");

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
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("[providers.openbao] token"),
        "{}",
        stderr(&output)
    );
}

/// What `vault get openbao:…` says with the token file as `prepare` leaves it (BAO_TOKEN
/// and VAULT_TOKEN unset), within 10 s.
fn with_token_file(prepare: impl FnOnce(&std::path::Path)) -> (Option<i32>, String) {
    let setup = setup("");
    prepare(&setup.home.path().join(".vault-token"));
    let mut child = setup
        .home
        .vault_std(&["get", "openbao:secret/x#y"])
        .env("VAULT_PROVIDER_PATH", &setup.providers)
        .env_remove("BAO_TOKEN")
        .env_remove("VAULT_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(10) {
            child.kill().unwrap();
            panic!("vault hung on the token file");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (output.status.code(), stderr(&output))
}

#[test]
fn a_token_file_others_may_read_a_fifo_or_a_device_is_refused_not_read() {
    // `bao login` writes it 0600; one others may read is refused with the fix.
    let (code, err) = with_token_file(|path| {
        std::fs::write(path, "token-world-readable-44\n").unwrap();
        common::chmod(path, 0o644);
    });
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains("token-world-readable-44"), "{err}");

    // A FIFO would block vault before any deadline; a device would fill its memory.
    let (code, err) = with_token_file(|path| {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
    });
    assert_eq!(code, Some(6), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    let (code, err) = with_token_file(|path| {
        std::os::unix::fs::symlink("/dev/zero", path).unwrap();
    });
    // Refused before it is opened: /dev/zero is a file anyone may write.
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("/dev/zero"), "{err}");
}

/// Says no to everything, quoting the token it was configured with, on stderr and in its
/// errors: what a server that echoes its request would make a provider do.
const ECHOER: &str = r#"#!/usr/bin/env python3
import json, sys
print(json.dumps({"v": [1], "provider": "openbao", "version": "0", "ops": ["get", "set", "delete", "list"]}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    token = req.get("config", {}).get("token")
    sys.stderr.write("asked with token %s\n" % token)
    sys.stderr.flush()
    print(json.dumps({"id": req.get("id"), "err": {"kind": "denied", "message": "permission denied for token %s" % token}}), flush=True)
"#;

fn echoing(config: &str) -> Setup {
    let setup = setup(config);
    std::fs::write(setup.providers.join("secretsd-provider-openbao"), ECHOER).unwrap();
    setup
}

#[test]
fn a_path_setting_is_expanded_from_home_and_a_relative_one_refused() {
    let home = setup("[providers.openbao]\nca_cert = \"~/bao-ca.pem\"\n");
    let (seen, _) = home.seen(&[]);
    assert_eq!(
        seen["ca_cert"],
        home.home.path().join("bao-ca.pem").display().to_string()
    );

    // A relative one would be read from wherever vault runs: a checkout's own CA.
    let relative = setup("[providers.openbao]\nca_cert = \"bao-ca.pem\"\n");
    let output = relative
        .home
        .vault_std(&["get", "openbao:secret/x#y"])
        .env("VAULT_PROVIDER_PATH", &relative.providers)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("ca_cert = \"bao-ca.pem\" is a relative path"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_token_is_kept_out_of_what_the_provider_says_however_it_was_given() {
    // Written literally in the configuration: still a token.
    let literal = echoing("[providers.openbao]\ntoken = \"literal-token-5151\"\n");
    let output = literal
        .home
        .vault_std(&["-v", "get", "openbao:secret/x#y"])
        .env("VAULT_PROVIDER_PATH", &literal.providers)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("permission denied for token"),
        "{}",
        stderr(&output)
    );
    assert!(
        !stderr(&output).contains("literal-token-5151"),
        "{}",
        stderr(&output)
    );

    // The conformance kit starts its own provider process, and reports what it says.
    let kit = echoing("");
    let output = kit
        .home
        .vault_std(&[
            "-v",
            "provider",
            "check",
            "openbao",
            "--key-prefix",
            "secret/x#",
        ])
        .env("VAULT_PROVIDER_PATH", &kit.providers)
        .env("BAO_TOKEN", "default-token-6262")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    let said = format!("{}{}", stdout(&output), stderr(&output));
    assert!(said.contains("permission denied for token"), "{said}");
    assert!(!said.contains("default-token-6262"), "{said}");
}

#[test]
fn a_provider_in_a_relative_path_entry_is_not_started() {
    // With `.` on PATH, a checkout's own secretsd-provider-openbao would get the token.
    let setup = setup("");
    let output = setup
        .home
        .vault_std(&["get", "openbao:secret/x#y"])
        .current_dir(&setup.providers)
        // Nothing else on it: an installed provider would be found instead.
        .env("PATH", ".:/usr/bin:/bin")
        .env_remove("VAULT_PROVIDER_PATH")
        .env("BAO_TOKEN", "token-for-the-real-one-7373")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no provider named openbao"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_provider_another_user_could_replace_is_not_started() {
    // The default token goes to whatever answers as openbao: a provider in a directory
    // others may write (or owned by another user) could be theirs.
    let setup = setup("");
    common::chmod(&setup.providers, 0o777);
    let output = setup
        .home
        .vault_std(&["get", "--reveal", "openbao:secret/x#y"])
        .env("VAULT_PROVIDER_PATH", &setup.providers)
        .env("BAO_TOKEN", "token-for-a-trusted-one-8484")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(stderr(&output).contains("provider"), "{}", stderr(&output));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert!(!stderr(&output).contains("token-for-a-trusted-one-8484"));

    // `vault provider list` names it and does not start it either.
    let output = setup
        .home
        .vault_std(&["provider", "list"])
        .env("VAULT_PROVIDER_PATH", &setup.providers)
        .output()
        .unwrap();
    assert!(
        stdout(&output).contains("writable by group or others")
            || stderr(&output).contains("writable by group or others"),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
}
