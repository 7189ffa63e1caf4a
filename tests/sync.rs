//! `vault sync`, `vault export --manifest/--from`, the docker and direnv formats and
//! `vault systemd timer`, on the two field cases: a shared root-owned .env file synced
//! into a local one, and two Infisical folders combined into one .env.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TestHome, mode, stderr, stdout};

fn bin_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `vault ARGS` with the workspace's providers on VAULT_PROVIDER_PATH.
fn vault(home: &TestHome, args: &[&str]) -> std::process::Output {
    home.vault(args)
        .env("VAULT_PROVIDER_PATH", bin_dir())
        .output()
        .unwrap()
}

fn config(home: &TestHome, text: &str) {
    fs::write(home.path().join("config/secretsd/config.toml"), text).unwrap();
}

/// Every variable of a .env file as python-dotenv reads it.
fn python_dotenv(path: &Path, interpolate: bool) -> serde_json::Value {
    let output = Command::new("python3")
        .args([
            "-c",
            "import sys, json; from dotenv import dotenv_values\n\
             print(json.dumps(dotenv_values(sys.argv[1], interpolate=sys.argv[2] == '1')))",
        ])
        .arg(path)
        .arg(if interpolate { "1" } else { "0" })
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

const SHARED: &str = "# Shared API secrets - owned by root\n\
# NinjaRMM\n\
NINJA_BASE_URL=https://app.ninjarmm.com\n\
NINJA_CLIENT_ID=ninja-client-new\n\
NINJA_CLIENT_SECRET='ninja secret with spaces & $dollar'\n\
NINJA_REFRESH_TOKEN=\"refresh#token\"\n\
\n\
# ThreatLocker\n\
THREATLOCKER_API_BASE_URL=https://portalapi.g.threatlocker.com\n\
THREATLOCKER_API_KEY=tl-key-new\n\
THREATLOCKER_ORGANIZATION_ID=org-42\n\
THREATLOCKER_BASE_URL=https://shared.example/not-for-us\n\
\n\
# ConnectWise\n\
CONNECTWISE_SERVER=na.myconnectwise.net\n\
CONNECTWISE_COMPANY_ID=acme\n\
CONNECTWISE_CLIENT_ID=cw-client\n\
CONNECTWISE_PUBLIC_KEY=cw-public\n\
CONNECTWISE_PRIVATE_KEY=cw-private-new\n\
\n\
# other teams' secrets\n\
BILLING_DB_PASSWORD=not-for-inventory\n";

const LOCAL: &str = "# ES Inventory Hub\n\
DB_DSN=postgresql://inventory:pw@localhost/es_inventory\n\
DATABASE_URL=postgresql://inventory:pw@localhost/es_inventory\n\
FLASK_ENV=production\n\
SECRET_KEY='local-only secret key'\n\
LOG_LEVEL=INFO\n\
LOG_FILE=/var/log/es-inventory-hub/app.log\n\
\n\
# API credentials (synced)\n\
NINJA_CLIENT_ID=ninja-client-old\n\
THREATLOCKER_BASE_URL=https://local.example/ours   # local-specific variant\n\
CONNECTWISE_PRIVATE_KEY=cw-private-old\n";

fn inventory_home() -> (TestHome, PathBuf, PathBuf) {
    let home = TestHome::initialised();
    let shared = home.path().join("opt/shared-secrets/api-secrets.env");
    let local = home.path().join("opt/es-inventory-hub/.env");
    fs::create_dir_all(shared.parent().unwrap()).unwrap();
    fs::create_dir_all(local.parent().unwrap()).unwrap();
    fs::write(&shared, SHARED).unwrap();
    fs::write(&local, LOCAL).unwrap();
    common::chmod(&local, 0o640);
    config(
        &home,
        &format!(
            r#"[providers.shared-file]
path = "{}"

[sync.inventory]
from = ["shared-file:"]
to = "dotenv:{}"
only = ["NINJA_*", "THREATLOCKER_*", "CONNECTWISE_*"]
preserve = ["DB_DSN", "DATABASE_URL", "FLASK_ENV", "SECRET_KEY", "LOG_LEVEL", "LOG_FILE", "THREATLOCKER_BASE_URL"]
"#,
            shared.display(),
            local.display()
        ),
    );
    (home, shared, local)
}

#[test]
fn field_case_one_a_shared_file_into_a_local_env_keeping_local_variables() {
    let (home, shared, local) = inventory_home();

    let output = vault(&home, &["sync", "inventory", "--dry-run"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let plan = stdout(&output);
    assert!(plan.contains("change    NINJA_CLIENT_ID"), "{plan}");
    assert!(plan.contains("add       NINJA_CLIENT_SECRET"), "{plan}");
    assert!(plan.contains("preserved THREATLOCKER_BASE_URL"), "{plan}");
    assert_eq!(fs::read_to_string(&local).unwrap(), LOCAL);

    let output = vault(&home, &["sync", "inventory"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    assert!(
        log.contains("sync inventory ")
            && log.contains("10 added, 2 changed, 0 unchanged, 1 preserved"),
        "{log}"
    );
    let read = python_dotenv(&local, false);
    let source = python_dotenv(&shared, false);
    for (name, value) in source.as_object().unwrap() {
        let synced = name.starts_with("NINJA_")
            || name.starts_with("CONNECTWISE_")
            || (name.starts_with("THREATLOCKER_") && name != "THREATLOCKER_BASE_URL");
        if synced {
            assert_eq!(&read[name], value, "{name}");
            let value = value.as_str().unwrap();
            assert!(!log.contains(value) && !stdout(&output).contains(value));
        } else {
            assert!(
                name == "THREATLOCKER_BASE_URL" || read.get(name).is_none(),
                "{name} was synced"
            );
        }
    }
    // Local-only lines, the preserved variant and comments are kept byte for byte.
    let text = fs::read_to_string(&local).unwrap();
    for line in LOCAL
        .lines()
        .filter(|l| !l.starts_with("NINJA_CLIENT_ID") && !l.starts_with("CONNECTWISE_PRIVATE"))
    {
        assert!(text.lines().any(|l| l == line), "lost {line:?}:\n{text}");
    }
    assert_eq!(read["THREATLOCKER_BASE_URL"], "https://local.example/ours");
    // Others had no access; the group keeps its own (the app reads it through its group).
    assert_eq!(mode(&local), 0o640);

    // The backup holds the file as it was.
    let backups: Vec<PathBuf> = fs::read_dir(local.parent().unwrap().join(".env-backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(fs::read_to_string(&backups[0]).unwrap(), LOCAL);
    assert_eq!(mode(&backups[0]), 0o600);
    assert_eq!(mode(backups[0].parent().unwrap()), 0o700);

    // A second run has nothing to do and writes nothing.
    let before = fs::read(&local).unwrap();
    let output = vault(&home, &["sync", "inventory"]);
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("nothing to do"),
        "{}",
        stderr(&output)
    );
    assert_eq!(fs::read(&local).unwrap(), before);

    // Retention: twelve more changes keep the newest ten backups.
    for i in 0..12 {
        let text = SHARED.replace("tl-key-new", &format!("tl-key-{i}"));
        fs::write(&shared, text).unwrap();
        let output = vault(&home, &["sync", "inventory", "-q"]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let count = fs::read_dir(local.parent().unwrap().join(".env-backups"))
        .unwrap()
        .count();
    assert_eq!(count, 10);
    assert_eq!(
        python_dotenv(&local, false)["THREATLOCKER_API_KEY"],
        "tl-key-11"
    );
}

#[test]
fn strict_fails_and_writes_nothing_when_an_allowed_name_is_missing() {
    let (home, _shared, local) = inventory_home();
    let output = vault(
        &home,
        &[
            "sync",
            "inventory",
            "--only",
            "NINJA_*,CONNECTWISE_SITE",
            "--strict",
        ],
    );
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("CONNECTWISE_SITE"),
        "{}",
        stderr(&output)
    );
    assert_eq!(fs::read_to_string(&local).unwrap(), LOCAL);
    // Without --strict it is a warning, and the rest is synced.
    let output = vault(
        &home,
        &["sync", "inventory", "--only", "NINJA_*,CONNECTWISE_SITE"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("warning: no source has CONNECTWISE_SITE"));
    assert_eq!(
        python_dotenv(&local, false)["NINJA_CLIENT_ID"],
        "ninja-client-new"
    );
    // A source that cannot be read stops everything.
    let output = vault(
        &home,
        &[
            "sync",
            "--from",
            "dotenv:/nonexistent/.env",
            "--to",
            &format!("dotenv:{}", local.display()),
        ],
    );
    assert_eq!(output.status.code(), Some(3));
    let output = vault(&home, &["sync", "--list"]);
    assert!(
        stdout(&output).starts_with("inventory"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn field_case_two_two_infisical_folders_into_one_env_with_the_secret_from_pass() {
    let home = TestHome::initialised();
    let dir = home.path();
    let pass = common::PassStore::new(dir);
    pass.insert(
        "infisical/machine-identities/glitchtip/client-secret",
        "machine-secret",
    );

    let seed = dir.join("seed.json");
    fs::write(
        &seed,
        r#"{"client_id":"glitchtip-machine","client_secret":"machine-secret","project_id":"glitchtip",
            "secrets":{"prod":{"/":{},"/glitchtip":{"UNRELATED":"x"},
              "/glitchtip/database":{"POSTGRES_PASSWORD":"pg pass'with\"quotes"},
              "/glitchtip/application":{"SECRET_KEY":"0123abcd","EMAIL_URL":"smtp://glitchtip%40app:pw@smtp.example:2525","DEFAULT_FROM_EMAIL":"glitchtip@example.com"}}}}"#,
    )
    .unwrap();
    let server = common::InfisicalServer::start(&seed);
    config(
        &home,
        &format!(
            r#"[providers.gopass]
command = "pass"

[providers.infisical]
base_url = "{}"
client_id = "glitchtip-machine"
client_secret = "gopass:infisical/machine-identities/glitchtip/client-secret"
project_id = "glitchtip"
environment = "prod"
"#,
            server.url
        ),
    );
    let target = dir.join("glitchtip/.env");
    fs::create_dir_all(target.parent().unwrap()).unwrap();
    let output = home
        .vault(&[
            "sync",
            "--from",
            "infisical:/glitchtip/database",
            "--from",
            "infisical:/glitchtip/application",
            "--to",
            &format!("dotenv:{}", target.display()),
        ])
        .env("VAULT_PROVIDER_PATH", bin_dir())
        .envs(pass.env())
        .output()
        .unwrap();
    drop(pass);
    drop(server);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&target), 0o600);
    let read = python_dotenv(&target, false);
    assert_eq!(
        read,
        serde_json::json!({
            "POSTGRES_PASSWORD": "pg pass'with\"quotes",
            "SECRET_KEY": "0123abcd",
            "EMAIL_URL": "smtp://glitchtip%40app:pw@smtp.example:2525",
            "DEFAULT_FROM_EMAIL": "glitchtip@example.com",
        })
    );
    assert!(stderr(&output).contains("4 added"), "{}", stderr(&output));
}

const TRICKY: &[(&str, &str)] = &[
    ("QUOTES", "it's \"quoted\""),
    ("DOLLAR", "pa$$word $HOME"),
    ("HASH", "value # not a comment"),
    ("SPACES", "  padded  "),
    ("UNICODE", "ünïcødé ✓ 密码"),
    ("NEWLINES", "line one\nline two\n"),
    (
        "PEM",
        "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n",
    ),
];

/// Stores TRICKY exactly (stdin to `vault set` would lose one trailing newline).
fn set_tricky(home: &TestHome) {
    let object: serde_json::Map<String, serde_json::Value> = TRICKY
        .iter()
        .map(|(n, v)| (n.to_string(), serde_json::Value::from(*v)))
        .collect();
    home.vault(&["import", "--json", "-"])
        .write_stdin(serde_json::Value::from(object).to_string())
        .assert()
        .success();
}

#[test]
fn values_survive_a_sync_into_a_env_that_python_dotenv_reads_back() {
    let home = TestHome::initialised();
    set_tricky(&home);
    let target = home.path().join("out.env");
    let output = vault(
        &home,
        &[
            "sync",
            "--from",
            "vault",
            "--to",
            &format!("dotenv:{}", target.display()),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    for interpolate in [false, true] {
        let read = python_dotenv(&target, interpolate);
        for (name, value) in TRICKY {
            assert_eq!(read[*name], *value, "{name} (interpolate={interpolate})");
        }
    }
    // And back into a vault target from that file: a no-op.
    let output = vault(
        &home,
        &["sync", "--from", &format!("dotenv:{}", target.display())],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("nothing to do"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_vault_target_uses_the_vault_backups_and_preserves_what_it_is_told() {
    let home = TestHome::initialised();
    home.set("API_KEY", "local-key");
    let source = home.path().join("source.env");
    fs::write(&source, "API_KEY=remote-key\nAPI_URL=https://api.example\n").unwrap();
    let from = format!("dotenv:{}", source.display());
    let output = vault(&home, &["sync", "--from", &from, "--preserve", "API_KEY"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(home.reveal("API_KEY"), "local-key");
    assert_eq!(home.reveal("API_URL"), "https://api.example");
    let list = home
        .vault(&["restore", "--list", "--json"])
        .output()
        .unwrap();
    let backups: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(backups[0]["operation"], "sync");
    assert_eq!(backups[0]["names"], serde_json::json!(["API_URL"]));
    // --verbose shows each change as masks, never whole values.
    fs::write(&source, "API_URL=https://api.example/v2-longer-url\n").unwrap();
    let output = vault(&home, &["sync", "--from", &from, "--verbose"]);
    let out = stdout(&output);
    assert!(out.contains("API_URL: ht***le -> ht***rl"), "{out}");
    assert!(!out.contains("https://api.example"), "{out}");
}

/// A .env file read by docker's rules (opts/envfile.go): a line is NAME=rest-of-line,
/// left-trimmed, comments and blank lines skipped.
fn docker_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.split_once('=').unwrap();
            (name.to_string(), value.to_string())
        })
        .collect()
}

#[test]
fn docker_and_direnv_exports_carry_what_they_can_and_name_what_they_cannot() {
    let home = TestHome::initialised();
    set_tricky(&home);
    home.set("PLAIN", "s3cr3t-value=with=equals");
    // docker: everything it cannot carry is named at once, and nothing is written.
    let output = home
        .vault(&["export", "--format", "docker"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6));
    let message = stderr(&output);
    for name in ["NEWLINES", "PEM", "SPACES", "DOLLAR", "HASH"] {
        assert!(
            message.contains(&format!("the value of {name} ")),
            "{name}: {message}"
        );
    }
    assert!(stdout(&output).is_empty());
    for (_, value) in TRICKY {
        assert!(!message.contains(value.trim()));
    }
    let output = home
        .vault(&[
            "export",
            "--format",
            "docker",
            "--only",
            "PLAIN,QUOTES,UNICODE",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        docker_env_file(&stdout(&output)),
        [
            ("PLAIN".to_string(), "s3cr3t-value=with=equals".to_string()),
            ("QUOTES".to_string(), "it's \"quoted\"".to_string()),
            ("UNICODE".to_string(), "ünïcødé ✓ 密码".to_string())
        ]
    );
    // direnv (.envrc): bash reads every value back exactly, PEM keys included.
    let envrc = home.path().join(".envrc");
    let output = home
        .vault(&[
            "export",
            "--format",
            "envrc",
            "-o",
            &envrc.display().to_string(),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    for (name, value) in TRICKY {
        let read = Command::new("bash")
            .arg("-c")
            .arg(format!(". '{}' && printf %s \"${name}\"", envrc.display()))
            .output()
            .unwrap();
        assert_eq!(stdout(&read), *value, "{name}");
    }
    // json carries the PEM key too.
    let output = home
        .vault(&["export", "--format", "json", "--only", "PEM"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["PEM"], TRICKY[6].1);
}

#[test]
fn export_resolves_a_manifest_from_several_places() {
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "from-the-vault");
    let shared = home.path().join("shared.env");
    fs::write(&shared, "NINJA_CLIENT_ID=from-shared-file\n").unwrap();
    let key = home.path().join("tls.key");
    fs::write(&key, TRICKY[6].1).unwrap();
    config(
        &home,
        &format!("[providers.shared-file]\npath = \"{}\"\n", shared.display()),
    );
    let manifest = home.path().join("app.toml");
    fs::write(
        &manifest,
        format!(
            "[env]\nDB_PASSWORD = \"secret:DB_PASSWORD\"\nNINJA_CLIENT_ID = \"shared-file:NINJA_CLIENT_ID\"\nTLS_KEY = \"file:{}\"\nLOG_LEVEL = \"info\"\n",
            key.display()
        ),
    )
    .unwrap();
    let out = home.path().join("app.env");
    let output = vault(
        &home,
        &[
            "export",
            "--manifest",
            &manifest.display().to_string(),
            "--format",
            "dotenv",
            "-o",
            &out.display().to_string(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&out), 0o600);
    let read = python_dotenv(&out, true);
    assert_eq!(read["DB_PASSWORD"], "from-the-vault");
    assert_eq!(read["NINJA_CLIENT_ID"], "from-shared-file");
    assert_eq!(read["TLS_KEY"], TRICKY[6].1.trim_end_matches('\n'));
    assert_eq!(read["LOG_LEVEL"], "info");
    // --from works for export too, with --only as an allow-list.
    let output = vault(
        &home,
        &[
            "export",
            "--from",
            "shared-file:",
            "--only",
            "NINJA_*",
            "--format",
            "shell",
        ],
    );
    assert_eq!(
        stdout(&output),
        "export NINJA_CLIENT_ID='from-shared-file'\n"
    );
}

#[test]
fn a_systemd_timer_runs_a_named_sync_and_verifies() {
    let (home, _shared, local) = inventory_home();
    let units = home.path().join("units");
    fs::create_dir(&units).unwrap();
    let output = vault(
        &home,
        &[
            "systemd",
            "timer",
            "sync-secrets",
            "--on-calendar",
            "*-*-* 08:00:00 UTC",
            "--randomized-delay",
            "15min",
            "--output-dir",
            &units.display().to_string(),
            "--",
            "vault",
            "sync",
            "inventory",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let service = fs::read_to_string(units.join("sync-secrets.service")).unwrap();
    let timer = fs::read_to_string(units.join("sync-secrets.timer")).unwrap();
    let vault_binary = assert_cmd::cargo::cargo_bin("vault");
    for line in [
        "Type=oneshot".to_string(),
        format!("ExecStart={} sync inventory", vault_binary.display()),
        "ProtectSystem=strict".into(),
        "NoNewPrivileges=yes".into(),
        format!("{}", local.parent().unwrap().display()),
    ] {
        assert!(service.contains(&line), "missing {line:?}:\n{service}");
    }
    for line in [
        "OnCalendar=*-*-* 08:00:00 UTC",
        "Persistent=true",
        "RandomizedDelaySec=15min",
        "Unit=sync-secrets.service",
        "WantedBy=timers.target",
    ] {
        assert!(timer.contains(line), "missing {line:?}:\n{timer}");
    }
    common::assert_systemd_verifies(&[
        &units.join("sync-secrets.service"),
        &units.join("sync-secrets.timer"),
    ]);
}

#[test]
fn a_provider_can_be_the_target_and_two_folders_with_one_name_are_refused() {
    let home = TestHome::initialised();
    let shared = home.path().join("shared.env");
    fs::write(&shared, "# kept\nKEEP=me\nAPI_KEY=old\n").unwrap();
    common::chmod(&shared, 0o640);
    let source = home.path().join("source.env");
    fs::write(&source, "API_KEY=new-key\nAPI_URL=https://api.example\n").unwrap();
    config(
        &home,
        &format!("[providers.shared-file]\npath = \"{}\"\n", shared.display()),
    );
    let output = vault(
        &home,
        &[
            "sync",
            "--from",
            &format!("dotenv:{}", source.display()),
            "--to",
            "shared-file:",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        fs::read_to_string(&shared).unwrap(),
        "# kept\nKEEP=me\nAPI_KEY=new-key\nAPI_URL=https://api.example\n"
    );

    // Two Infisical folders under one recursive prefix both hold PASSWORD.
    let seed = home.path().join("seed.json");
    fs::write(
        &seed,
        r#"{"client_id":"id","client_secret":"secret","project_id":"p",
            "secrets":{"prod":{"/":{},"/app":{},"/app/db":{"PASSWORD":"one"},"/app/cache":{"PASSWORD":"two"}}}}"#,
    )
    .unwrap();
    let server = common::InfisicalServer::start(&seed);
    config(
        &home,
        &format!(
            "[providers.infisical]\nbase_url = \"{}\"\nclient_id = \"id\"\nclient_secret = \"secret\"\nproject_id = \"p\"\nenvironment = \"prod\"\nrecursive = true\n",
            server.url
        ),
    );
    let target = home.path().join("app.env");
    let to = format!("dotenv:{}", target.display());
    let output = vault(&home, &["sync", "--from", "infisical:/app", "--to", &to]);
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("infisical:/app/cache/PASSWORD")
            && message.contains("infisical:/app/db/PASSWORD"),
        "{message}"
    );
    assert!(!target.exists());
    // Two sources instead: the later wins, and --verbose says so.
    let output = vault(
        &home,
        &[
            "sync",
            "--from",
            "infisical:/app/db",
            "--from",
            "infisical:/app/cache",
            "--to",
            &to,
            "-v",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("PASSWORD: infisical:/app/cache wins over infisical:/app/db"),
        "{}",
        stderr(&output)
    );
    assert_eq!(python_dotenv(&target, false)["PASSWORD"], "two");
}

/// Every file under `dir` and its bytes, to show that a refused sync changed nothing.
fn files_under(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else {
            out.insert(path.clone(), fs::read(&path).unwrap());
        }
    }
    out
}

/// `import` refuses a value with a NUL byte (no environment can carry it); sync does too,
/// from a .env source (naming the file and line) or a provider (naming the key), into any
/// target, before anything is written — and never shows the value.
#[test]
fn a_nul_byte_in_a_source_is_refused_by_line_and_nothing_changes() {
    let home = TestHome::initialised();
    home.set("KEPT", "kept-value");
    let source = home.path().join("source.env");
    fs::write(
        &source,
        "A=plain\nB=\"first-part\0hidden-tail\"\n# a comment\nC=x\0other-tail\n",
    )
    .unwrap();
    let target = home.path().join("target.env");
    fs::write(&target, "LOCAL=1\nA=old\n").unwrap();
    common::chmod(&target, 0o600);
    let from = format!("dotenv:{}", source.display());
    let before = files_under(home.path());
    for to in [format!("dotenv:{}", target.display()), "vault".to_string()] {
        let output = vault(&home, &["sync", "--from", &from, "--to", &to]);
        assert_eq!(output.status.code(), Some(6), "{to}: {}", stderr(&output));
        let message = stderr(&output);
        assert!(
            message.contains(&format!(
                "{}:2: the value for B contains a NUL byte",
                source.display()
            )) && message.contains(&format!(
                "{}:4: the value for C contains a NUL byte",
                source.display()
            )) && message.contains("nothing was written"),
            "{message}"
        );
        for text in [message, stdout(&output)] {
            assert!(
                !text.contains("first-part") && !text.contains("tail") && !text.contains('\0'),
                "{text}"
            );
        }
        assert_eq!(files_under(home.path()), before, "{to} changed something");
    }
    // Through a provider: the key is named.
    config(
        &home,
        &format!("[providers.shared-file]\npath = \"{}\"\n", source.display()),
    );
    let output = vault(
        &home,
        &[
            "sync",
            "--from",
            "shared-file:",
            "--to",
            &format!("dotenv:{}", target.display()),
        ],
    );
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("shared-file:B: the value for B contains a NUL byte"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("tail"), "{}", stderr(&output));
    assert_eq!(fs::read_to_string(&target).unwrap(), "LOCAL=1\nA=old\n");
    // A value that is not taken is not looked at.
    let output = vault(&home, &["sync", "--from", &from, "--only", "A"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(home.reveal("A"), "plain");
}

/// 100,000 variables from a .env into a .env that has half of them (in another order,
/// with its own lines around them): every value reads back, every other line is kept.
/// Setting the variables one by one re-read the whole file for each (quadratic: 40 s at
/// 10,000, hours at this size); this finishes in seconds, even in a debug build.
#[test]
fn a_hundred_thousand_variables_sync_into_a_env_and_read_back() {
    use secretsd::formats::dotenv;
    const COUNT: usize = 100_000;
    let home = TestHome::initialised();
    // Values that need each kind of quoting: spaces, '#', quotes, backslashes, non-ASCII.
    let value = |i: usize| match i % 5 {
        0 => format!("plain-{i}"),
        1 => format!("with space # not a comment {i}"),
        2 => format!("it's \"quoted\" {i}"),
        3 => format!("back\\slash\\{i}"),
        _ => format!("ünïcødé ✓ {i}"),
    };
    let mut source = String::new();
    for i in 0..COUNT {
        let escaped = value(i).replace('\\', "\\\\").replace('"', "\\\"");
        source.push_str(&format!("VAR_{i}=\"{escaped}\"\n"));
    }
    let source_path = home.path().join("big.env");
    fs::write(&source_path, &source).unwrap();
    let mut existing = String::from("# local settings\nLOCAL_ONLY=keep me\n");
    for i in (0..COUNT).step_by(2).rev() {
        existing.push_str(&format!("export VAR_{i}=old-{i} # was here\n"));
    }
    existing.push_str("TAIL=last");
    let target = home.path().join("app.env");
    fs::write(&target, &existing).unwrap();
    common::chmod(&target, 0o600);
    let output = vault(
        &home,
        &[
            "sync",
            "-q",
            "--from",
            &format!("dotenv:{}", source_path.display()),
            "--to",
            &format!("dotenv:{}", target.display()),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = fs::read_to_string(&target).unwrap();
    let read = dotenv::parse(&text).unwrap_or_else(|e| panic!("{e:?}"));
    let mut seen = vec![false; COUNT];
    for assignment in &read {
        use age::secrecy::ExposeSecret;
        match assignment.name.strip_prefix("VAR_") {
            Some(i) => {
                let i: usize = i.parse().unwrap();
                assert!(!seen[i], "VAR_{i} twice");
                seen[i] = true;
                assert_eq!(assignment.value.expose_secret(), value(i), "VAR_{i}");
            }
            None => assert!(
                ["LOCAL_ONLY", "TAIL"].contains(&assignment.name.as_str()),
                "{}",
                assignment.name
            ),
        }
    }
    assert!(seen.iter().all(|s| *s), "a variable is missing");
    // The existing ones were replaced where they stood, their `export` and comment kept.
    assert!(
        text.starts_with("# local settings\nLOCAL_ONLY=keep me\n"),
        "{}",
        &text[..200]
    );
    assert!(
        text.contains("\nexport VAR_99990=plain-99990 # was here\nexport VAR_99988="),
        "{}",
        &text[..200]
    );
    assert!(text.contains("\nTAIL=last\nVAR_1='with space # not a comment 1'\n"));
    assert_eq!(read.len(), COUNT + 2);
}

/// A stand-in docker daemon on a unix socket: it answers the docker CLI's handshake and
/// records the body of the container it is asked to create (then refuses to create it).
const FAKE_DOCKERD: &str = r#"
import sys, json, socketserver, http.server
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def address_string(self): return "local"
    def log_message(self, *args): pass
    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Api-Version", "1.45")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD": self.wfile.write(data)
    def do_HEAD(self): self.reply(200, {})
    def do_GET(self): self.reply(200, {"OSType": "linux"} if "info" in self.path else {})
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/containers/create" in self.path:
            with open(sys.argv[2], "wb") as f: f.write(body)
        self.reply(500, {"message": "recorded"})
socketserver.UnixStreamServer(sys.argv[1], Handler).serve_forever()
"#;

/// The environment `docker run --env-file PATH` gives a container, as NAME=value
/// strings, or docker's complaint. The real docker CLI reads the file when it is
/// installed; otherwise docker's documented rules (docker/cli pkg/kvfile) are applied
/// here: lines split at \n with a \r before it dropped, at most 64 KiB each, a BOM skipped
/// on the first, leading whitespace trimmed, blank and # lines skipped, the name up to the
/// first '=' without space or tab, the rest of the line raw.
fn docker_reads(path: &Path) -> Result<Vec<String>, String> {
    if which::which("docker").is_err() {
        eprintln!(
            "docker is not installed: reading {} by docker's documented rules",
            path.display()
        );
        let text = fs::read_to_string(path).unwrap();
        let mut env = Vec::new();
        for (i, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.len() > 65535 {
                return Err("bufio.Scanner: token too long".into());
            }
            let line = if i == 0 {
                line.trim_start_matches('\u{feff}')
            } else {
                line
            };
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some((name, _)) if name.contains([' ', '\t']) || name.is_empty() => {
                    return Err(format!("line {}: bad name", i + 1));
                }
                Some(_) => env.push(line.to_string()),
                None => {}
            }
        }
        return Ok(env);
    }
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let body = dir.path().join("create.json");
    let mut daemon = Command::new("python3")
        .args(["-c", FAKE_DOCKERD])
        .arg(&socket)
        .arg(&body)
        .spawn()
        .unwrap();
    while !socket.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = Command::new("docker")
        .env("DOCKER_HOST", format!("unix://{}", socket.display()))
        .env("DOCKER_CONFIG", dir.path().join("config"))
        .args(["run", "--rm", "--env-file"])
        .arg(path)
        .args(["busybox", "true"])
        .output()
        .unwrap();
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    if !body.exists() {
        return Err(stderr(&output));
    }
    let created: serde_json::Value = serde_json::from_slice(&fs::read(&body).unwrap()).unwrap();
    Ok(created["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect())
}

#[test]
fn a_docker_target_is_written_in_the_dialect_docker_reads() {
    let home = TestHome::initialised();
    let values = [
        ("PLAIN", "s3cr3t-value=with=equals"),
        ("QUOTES", "it's \"quoted\""),
        ("SPACES", "  padded both ends  "),
        ("DOLLAR", "pa$$word ${HOME} `x`"),
        ("HASH", "a #not-a-comment"),
        ("BACKSLASH", "C:\\path\\n"),
        ("UNICODE", "ünïcødé ✓ 密码"),
        ("EMPTY", ""),
    ];
    let object: serde_json::Map<String, serde_json::Value> = values
        .iter()
        .map(|(n, v)| (n.to_string(), serde_json::Value::from(*v)))
        .collect();
    home.vault(&["import", "--json", "-"])
        .write_stdin(serde_json::Value::from(object).to_string())
        .assert()
        .success();
    let target = home.path().join("app.env");
    fs::write(&target, "# for docker run\nKEEP=as it was  \nPLAIN=old\n").unwrap();
    let to = format!("docker:{}", target.display());
    let output = vault(&home, &["sync", "--from", "vault", "--to", &to]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = fs::read_to_string(&target).unwrap();
    assert!(
        text.starts_with("# for docker run\nKEEP=as it was  \nPLAIN=s3cr3t-value=with=equals\n"),
        "{text}"
    );
    assert_eq!(mode(&target) & 0o007, 0, "others lose access");
    let mut expected: Vec<String> = vec!["KEEP=as it was  ".to_string()];
    expected.extend(values.iter().map(|(n, v)| format!("{n}={v}")));
    let mut read = docker_reads(&target).unwrap();
    read.sort();
    expected.sort();
    assert_eq!(read, expected);
    // Read back as a source, every value is the same, and KEEP comes raw, spaces kept.
    let output = vault(&home, &["sync", "--from", &to, "--to", "vault"]);
    assert!(
        stderr(&output).contains("1 added, 0 changed, 8 unchanged"),
        "{}",
        stderr(&output)
    );
    assert_eq!(home.reveal("KEEP"), "as it was  ");

    // What docker cannot hold is refused by name, and nothing is written.
    home.set(
        "PEM",
        "-----BEGIN KEY-----\nsecret-line-two\n-----END KEY-----",
    );
    home.vault(&["import", "--json", "-"])
        .write_stdin(format!(
            "{{\"LONG\":\"{}\",\"PLAIN\":\"changed\"}}",
            "x".repeat(65536)
        ))
        .arg("--overwrite")
        .assert()
        .success();
    let before = fs::read(&target).unwrap();
    let output = vault(&home, &["sync", "--from", "vault", "--to", &to]);
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("the value of PEM has a line break"),
        "{message}"
    );
    assert!(
        message.contains("the value of LONG makes a line longer"),
        "{message}"
    );
    assert!(
        !message.contains("secret-line-two") && !message.contains("xxxx"),
        "{message}"
    );
    assert_eq!(fs::read(&target).unwrap(), before);
    // Docker itself would not have read them either.
    let probe = home.path().join("probe.env");
    fs::write(&probe, format!("LONG={}\n", "x".repeat(65536))).unwrap();
    assert!(docker_reads(&probe).is_err());
}

#[test]
fn a_dotenv_target_quotes_only_values_that_need_it() {
    let home = TestHome::initialised();
    home.set("TOKEN", "tok_0123-abc.def");
    home.set("URL", "postgres://app:pw@db:5432/app");
    home.set("SPACED", "two words");
    let target = home.path().join("out.env");
    let output = vault(
        &home,
        &[
            "sync",
            "--from",
            "vault",
            "--to",
            &format!("dotenv:{}", target.display()),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = fs::read_to_string(&target).unwrap();
    assert_eq!(
        text,
        "SPACED='two words'\nTOKEN=tok_0123-abc.def\nURL=postgres://app:pw@db:5432/app\n"
    );
    let read = python_dotenv(&target, true);
    assert_eq!(read["TOKEN"], "tok_0123-abc.def");
    assert_eq!(read["URL"], "postgres://app:pw@db:5432/app");
    assert_eq!(read["SPACED"], "two words");
    // Docker reads the plain ones as they are.
    let read = docker_reads(&target).unwrap();
    assert!(
        read.contains(&"TOKEN=tok_0123-abc.def".to_string()),
        "{read:?}"
    );
    assert!(
        read.contains(&"URL=postgres://app:pw@db:5432/app".to_string()),
        "{read:?}"
    );
}

/// Written unquoted, `NAME==ls` is `=ls` to python-dotenv, docker and bash, but zsh's
/// `source` (`set -a; source .env`) expands a word starting with `=` to a command's path
/// (`/usr/bin/ls`): a value starting with `=` is quoted, and every shell reads it back.
#[test]
fn a_value_starting_with_an_equals_sign_is_quoted_for_zsh() {
    let home = TestHome::initialised();
    home.set("EQ", "=ls");
    home.set("MID", "a=b");
    let target = home.path().join("out.env");
    let output = vault(
        &home,
        &[
            "sync",
            "--from",
            "vault",
            "--to",
            &format!("dotenv:{}", target.display()),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = fs::read_to_string(&target).unwrap();
    assert_eq!(text, "EQ='=ls'\nMID=a=b\n");
    for shell in ["zsh", "bash"] {
        let read = std::process::Command::new(shell)
            .arg("-c")
            .arg("source \"$1\"; printf '%s|%s' \"$EQ\" \"$MID\"")
            .arg(shell)
            .arg(&target)
            .output()
            .unwrap_or_else(|e| panic!("{shell} must be installed: {e}"));
        assert_eq!(String::from_utf8_lossy(&read.stdout), "=ls|a=b", "{shell}");
    }
    let read = python_dotenv(&target, true);
    assert_eq!(read["EQ"], "=ls");
}
