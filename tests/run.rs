//! `vault run --manifest`: every reference resolved before the command starts, or it does
//! not start; and the systemd unit that runs it.

mod common;

use common::{TestHome, chmod, stderr, stdout};
use predicates::prelude::*;

fn write_manifest(home: &TestHome, text: &str) -> String {
    let path = home.path().join("app.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn every_kind_of_reference_reaches_the_command() {
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "db-secret-value");
    let tls = home.path().join("tls.key");
    std::fs::write(&tls, "-----KEY-----\n").unwrap();
    let manifest = write_manifest(
        &home,
        &format!(
            r#"
[env]
DB_PASSWORD = "secret:DB_PASSWORD"
FROM_ENV = "env:SOURCE_VAR"
TLS_KEY = "file:{}"
LOG_LEVEL = "info"
FORCED = "literal:secret:not-a-reference"
DATABASE_URL = "postgres://app@db:5432/app"
"#,
            tls.display()
        ),
    );
    home.vault(&[
        "run", "--manifest", &manifest, "--", "sh", "-c",
        "printf '%s|' \"$DB_PASSWORD\" \"$FROM_ENV\" \"$TLS_KEY\" \"$LOG_LEVEL\" \"$FORCED\" \"$DATABASE_URL\"",
    ])
    .env("SOURCE_VAR", "from-the-environment")
    .assert()
    .success()
    .stdout("db-secret-value|from-the-environment|-----KEY-----|info|secret:not-a-reference|postgres://app@db:5432/app|");
}

#[test]
fn the_command_may_come_from_the_manifest() {
    let home = TestHome::initialised();
    home.set("TOKEN", "t0k3n");
    let manifest = write_manifest(
        &home,
        "command = [\"sh\", \"-c\", \"echo manifest:$TOKEN\"]\nTOKEN = \"secret:TOKEN\"\n",
    );
    home.vault(&["run", "-m", &manifest])
        .assert()
        .success()
        .stdout("manifest:t0k3n\n");
    // A command after -- wins.
    home.vault(&["run", "-m", &manifest, "--", "sh", "-c", "echo cli:$TOKEN"])
        .assert()
        .success()
        .stdout("cli:t0k3n\n");
}

#[test]
fn one_failing_reference_means_nothing_starts() {
    let home = TestHome::initialised();
    home.set("PRESENT", "present-secret-value");
    let marker = home.path().join("started");
    let command = format!("touch {}", marker.display());
    // Each named by its variable and its reference as errors show it: a provider key may
    // be a literal with a colon, so only the scheme.
    for (reference, shown, expected) in [
        (
            "secret:ABSENT",
            "secret:ABSENT",
            "no such secret in the vault",
        ),
        (
            "env:UNSET_VARIABLE_XYZ",
            "env:UNSET_VARIABLE_XYZ",
            "not set in vault's environment",
        ),
        ("file:/no/such/file", "file:/no/such/file", "does not exist"),
        (
            "nosuchprovider:/app/db/PASSWORD",
            "nosuchprovider:…",
            "no provider named nosuchprovider on PATH",
        ),
    ] {
        let manifest = write_manifest(
            &home,
            &format!("[env]\nGOOD = \"secret:PRESENT\"\nBROKEN = \"{reference}\"\n"),
        );
        let output = home
            .vault(&["run", "-m", &manifest, "--", "sh", "-c", &command])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(125), "{reference}");
        let text = stderr(&output);
        assert!(text.contains(&format!("BROKEN = {shown}")), "{text}");
        assert!(text.contains(expected), "{text}");
        assert!(!text.contains("present-secret-value"), "{text}");
        assert!(!marker.exists(), "the command started despite {reference}");
    }
}

#[test]
fn a_bad_manifest_is_reported_by_name_and_nothing_starts() {
    let home = TestHome::initialised();
    let manifest = write_manifest(&home, "[env]\n1BAD = \"literal:x\"\n");
    home.vault(&["run", "-m", &manifest, "--", "true"])
        .assert()
        .code(125)
        .stderr(predicate::str::contains("app.toml"))
        .stderr(predicate::str::contains("1BAD"));
    home.vault(&["run", "-m", "/no/such/manifest.toml", "--", "true"])
        .assert()
        .code(125)
        .stderr(predicate::str::contains("/no/such/manifest.toml"));
    let manifest = write_manifest(&home, "[env]\nA = \"literal:x\"\n");
    home.vault(&["run", "-m", &manifest])
        .assert()
        .code(125)
        .stderr(predicate::str::contains("no command"));
}

#[test]
fn literal_values_never_appear_in_errors() {
    let home = TestHome::initialised();
    let manifest = write_manifest(&home, "[env]\nPASTED = \"literal:pasted-secret\\u0000\"\n");
    let output = home
        .vault(&["run", "-m", &manifest, "--", "true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(125));
    assert!(stderr(&output).contains("PASTED"), "{}", stderr(&output));
    assert!(
        !stderr(&output).contains("pasted-secret"),
        "{}",
        stderr(&output)
    );
}

/// A literal with a colon reads as a provider reference (`word:rest`); when that fails, the
/// error names the variable and the scheme, never the rest — in `run` and in `check`.
#[test]
fn a_literal_with_a_colon_is_not_echoed_in_errors() {
    let home = TestHome::initialised();
    let manifest = write_manifest(
        &home,
        "[env]\nA = \"nosuchprov:PASSWORD-hunter2\"\nB = \"secret:not a name hunter3\"\nC = \"env:hunter4 x\"\n",
    );
    for (args, code) in [
        (&["run", "-m", &manifest, "--", "true"][..], 125),
        (&["check", "-m", &manifest][..], 5),
    ] {
        let output = home.vault(args).output().unwrap();
        assert_eq!(output.status.code(), Some(code), "{}", stderr(&output));
        let text = format!("{}{}", stdout(&output), stderr(&output));
        for secret in ["hunter2", "hunter3", "hunter4"] {
            assert!(!text.contains(secret), "{args:?}: {text}");
        }
        assert!(text.contains("nosuchprov:…"), "{args:?}: {text}");
    }
    let output = home
        .vault(&["run", "-m", &manifest, "--", "true"])
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("cannot resolve A = nosuchprov:…: no provider named nosuchprov"),
        "{}",
        stderr(&output)
    );
    // A name that is a name is shown: it is what there is to fix.
    let manifest = write_manifest(&home, "[env]\nA = \"secret:MISSING_ONE\"\n");
    home.vault(&["run", "-m", &manifest, "--", "true"])
        .assert()
        .code(125)
        .stderr(predicate::str::contains(
            "cannot resolve A = secret:MISSING_ONE: no such secret in the vault",
        ));
}

#[test]
fn systemd_environment_is_kept_and_credentials_identity_is_used() {
    let home = TestHome::initialised();
    home.set("API_KEY", "api-key-value");
    let credentials = home.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::rename(home.identity_file(), credentials.join("vault-identity")).unwrap();
    chmod(&credentials.join("vault-identity"), 0o400);
    let manifest = write_manifest(&home, "[env]\nAPI_KEY = \"secret:API_KEY\"\n");
    home.vault(&[
        "run",
        "-m",
        &manifest,
        "--",
        "sh",
        "-c",
        "echo $API_KEY $NOTIFY_SOCKET $LISTEN_FDS $LISTEN_PID",
    ])
    .env("CREDENTIALS_DIRECTORY", &credentials)
    .env("NOTIFY_SOCKET", "/run/notify.sock")
    .env("LISTEN_FDS", "2")
    .env("LISTEN_PID", "1234")
    .assert()
    .success()
    .stdout("api-key-value /run/notify.sock 2 1234\n");
}

#[test]
fn run_never_prompts_even_on_a_terminal() {
    let home = TestHome::new();
    let passphrase = home.path().join("pass");
    std::fs::write(&passphrase, "pass phrase\n").unwrap();
    chmod(&passphrase, 0o600);
    home.vault(&["init", "--passphrase"])
        .env("VAULT_PASSPHRASE_FILE", &passphrase)
        .assert()
        .success();
    let manifest = write_manifest(&home, "[env]\nX = \"secret:X\"\n");
    let binary = assert_cmd::cargo::cargo_bin("vault");
    let output = std::process::Command::new("script")
        .args([
            "-qec",
            &format!("{} run -m {manifest} -- true", binary.display()),
            "/dev/null",
        ])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let shown = stdout(&output);
    assert!(!shown.contains("passphrase:"), "it prompted: {shown}");
    assert!(shown.contains("VAULT_PASSPHRASE_FILE"), "{shown}");
    assert_eq!(output.status.code(), Some(125), "{shown}");
}

#[test]
fn systemd_unit_is_hardened_and_verifies() {
    let home = TestHome::initialised();
    let manifest = write_manifest(&home, "[env]\nX = \"secret:X\"\n");
    let output = home
        .vault(&[
            "systemd",
            "unit",
            "billing-api",
            "--manifest",
            &manifest,
            "--",
            "/usr/bin/env",
            "--arg=1",
            "two words",
            "100%",
            "$HOME",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let unit = stdout(&output);
    for line in [
        "ExecStart=",
        " run --manifest %d/vault-manifest -- /usr/bin/env --arg=1 \"two words\" \"100%%\" \"$$HOME\"",
        &format!(
            "LoadCredential=vault-identity:{}",
            home.identity_file().display()
        ),
        &format!("LoadCredential=vault-file:{}", home.vault_file().display()),
        "Environment=VAULT_FILE=%d/vault-file",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "PrivateTmp=yes",
        "DynamicUser=yes",
    ] {
        assert!(unit.contains(line), "missing {line:?} in\n{unit}");
    }
    let file = home.path().join("billing-api.service");
    std::fs::write(&file, &unit).unwrap();
    common::assert_systemd_verifies(&[&file]);
}

#[test]
fn systemd_unit_needs_an_existing_vault_and_manifest() {
    let home = TestHome::new();
    home.vault(&[
        "systemd",
        "unit",
        "app",
        "--manifest",
        "/no/such.toml",
        "--",
        "/bin/true",
    ])
    .assert()
    .code(3)
    .stderr(predicate::str::contains("/no/such.toml"));
}

#[test]
fn status_reports_a_usable_vault() {
    let home = TestHome::initialised();
    home.set("A", "1");
    let output = home.vault(&["status", "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["usable"], true);
    assert_eq!(report["vault"]["secrets"], 1);
    assert_eq!(report["vault"]["path"], home.vault_file().to_str().unwrap());
    assert_eq!(report["identity"]["source"], "default location");
    assert_eq!(report["problems"], serde_json::json!([]));
    home.vault(&["status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("opens; 1 secrets"));
}

#[test]
fn status_names_problems_and_exits_4() {
    let home = TestHome::initialised();
    chmod(&home.identity_file(), 0o644);
    let output = home.vault(&["status", "--json"]).output().unwrap();
    assert_eq!(output.status.code(), Some(4));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["usable"], false);
    assert!(
        report["problems"][0]
            .as_str()
            .unwrap()
            .contains("chmod 600")
    );
    let fresh = TestHome::new();
    fresh
        .vault(&["status"])
        .assert()
        .code(4)
        .stdout(predicate::str::contains("vault init"));
    fresh
        .vault(&["status"])
        .env("VAULT_IDENTITY", fresh.path().join("id"))
        .assert()
        .code(4)
        .stdout(predicate::str::contains("(from $VAULT_IDENTITY)"));
}

/// `run --redact` filters the command's output as `exec --redact` does (here through a
/// pipe; tests/terminal.rs has the terminal): every value a reference resolved to is
/// masked, a literal or default the manifest writes out is not, and the status is the
/// command's.
#[test]
fn redact_masks_what_references_resolve_to_but_not_literals() {
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "db-secret-value");
    let manifest = write_manifest(
        &home,
        "[env]\nDB_PASSWORD = \"secret:DB_PASSWORD\"\nTOKEN = \"env:SOURCE_TOKEN\"\nLOG_LEVEL = \"info\"\nMODE = { from = \"secret:NO_MODE\", required = false, default = \"debug\" }\n",
    );
    let script =
        r#"echo "db=$DB_PASSWORD level=$LOG_LEVEL mode=$MODE"; echo "token=$TOKEN" >&2; exit 3"#;
    let output = home
        .vault(&["run", "--redact", "-m", &manifest, "--", "sh", "-c", script])
        .env("SOURCE_TOKEN", "token-from-env")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert_eq!(stdout(&output), "db=******** level=info mode=debug\n");
    assert_eq!(stderr(&output), "token=********\n");
    // Without it, the command's output is its own.
    let output = home
        .vault(&["run", "-m", &manifest, "--", "sh", "-c", script])
        .env("SOURCE_TOKEN", "token-from-env")
        .output()
        .unwrap();
    assert_eq!(
        stdout(&output),
        "db=db-secret-value level=info mode=debug\n"
    );
    // --watch restarts its command without a filter in between: refused together.
    home.vault(&["run", "--redact", "--watch", "-m", &manifest, "--", "true"])
        .assert()
        .code(2);
}

/// A unit asks for redaction with `vault systemd unit --redact`: its ExecStart runs
/// `vault run --redact`, which masks the service's output on its way to the journal.
#[test]
fn a_systemd_unit_can_ask_for_redacted_output() {
    let home = TestHome::initialised();
    home.set("API_KEY", "api-key-value-for-the-unit");
    let manifest = write_manifest(&home, "[env]\nAPI_KEY = \"secret:API_KEY\"\n");
    let output = home
        .vault(&[
            "systemd",
            "unit",
            "billing-api",
            "--manifest",
            &manifest,
            "--type",
            "notify",
            "--redact",
            "--",
            "/usr/bin/env",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let unit = stdout(&output);
    assert!(
        unit.contains(" run --manifest %d/vault-manifest --redact -- /usr/bin/env\n"),
        "{unit}"
    );
    // vault is the main process; the command reports readiness.
    assert!(unit.contains("NotifyAccess=all\n"), "{unit}");
    let file = home.path().join("billing-api.service");
    std::fs::write(&file, &unit).unwrap();
    common::assert_systemd_verifies(&[&file]);
    // Its ExecStart, run with the credentials systemd would give it.
    let credentials = home.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    std::fs::copy(home.identity_file(), credentials.join("vault-identity")).unwrap();
    std::fs::copy(home.vault_file(), credentials.join("vault-file")).unwrap();
    std::fs::copy(&manifest, credentials.join("vault-manifest")).unwrap();
    let exec_start = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap()
        .replace("%d", credentials.to_str().unwrap());
    let words: Vec<&str> = exec_start.split(' ').collect();
    let state = home.path().join("state");
    let mut command = std::process::Command::new(words[0]);
    command
        .args(&words[1..])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        // What systemd gives a DynamicUser.
        .env("HOME", "/")
        .env("CREDENTIALS_DIRECTORY", &credentials);
    for setting in unit.lines().filter_map(|l| l.strip_prefix("Environment=")) {
        let setting = setting
            .replace("%d", credentials.to_str().unwrap())
            .replace("%S", state.to_str().unwrap());
        let (name, value) = setting.split_once('=').unwrap();
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("API_KEY=********\n"),
        "{}",
        stdout(&output)
    );
    assert!(!stdout(&output).contains("api-key-value-for-the-unit"));
}
