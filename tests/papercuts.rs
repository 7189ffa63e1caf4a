//! Small things a newcomer tripped over (issue 24, item 7), each through the binary:
//! `vault backup --output FILE`, a YAML rotation policy named as YAML, a JWT's `exp` from
//! `exp_seconds` (and none unless asked), sync counts that mean the same in every run, and
//! man page synopses that show each option's value.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use common::{TestHome, chmod, mode, stderr, stdout};

#[test]
fn backup_output_writes_the_encrypted_vault_privately_and_atomically() {
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "backed-up-value");
    let file = home.path().join("offsite/vault-backup.age");
    let output = home
        .vault(&["backup", "--output", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(file.parent().unwrap()), 0o700);
    // Byte for byte the vault: an age file that opens with the identity.
    assert_eq!(
        fs::read(&file).unwrap(),
        fs::read(home.vault_file()).unwrap()
    );
    let plaintext = common::age_decrypt(&file, &home.identity_file());
    assert_eq!(
        plaintext["secrets"]["DB_PASSWORD"]["value"],
        "backed-up-value"
    );
    assert!(stdout(&output).contains("vault-backup.age"));
    assert!(!stderr(&output).contains("backed-up-value"));
    // backups/ is left alone: the backup went where it was asked to.
    let listed = home
        .vault(&["restore", "--list", "--json"])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(
        !listed
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["operation"] == "backup"),
        "{listed}"
    );

    // Over an existing file of yours: replaced, still 0600.
    fs::write(&file, "old").unwrap();
    chmod(&file, 0o644);
    home.vault(&["backup", "-o", file.to_str().unwrap()])
        .assert()
        .success();
    assert_eq!(mode(&file), 0o600);
    assert_eq!(
        fs::read(&file).unwrap(),
        fs::read(home.vault_file()).unwrap()
    );

    // The same checks as export -o: a directory others may write is refused.
    let shared = home.path().join("shared");
    fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o777);
    let output = home
        .vault(&["backup", "--output", shared.join("b.age").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(!shared.join("b.age").exists());
    // And never the vault itself.
    let output = home
        .vault(&["backup", "-o", home.vault_file().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

const YAML_POLICY: &str = "secrets:\n  ANON_KEY:\n    type: jwt-token\n    depends_on: JWT_SECRET\n    restart_services:\n      - api\n";

#[test]
fn a_yaml_policy_is_named_as_yaml_with_its_toml_form() {
    let home = TestHome::initialised();
    for name in ["secrets-config.yaml", "policy.toml"] {
        let policy = home.path().join(name);
        fs::write(&policy, YAML_POLICY).unwrap();
        let output = home
            .vault(&["rotate", "--policy", policy.to_str().unwrap(), "--dry-run"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
        let said = stderr(&output);
        assert!(said.contains("is YAML"), "{said}");
        assert!(said.contains("[secrets.ANON_KEY]"), "{said}");
    }
    // The TOML it names is read as written.
    let policy = home.path().join("policy.toml");
    fs::write(
        &policy,
        "[secrets.ANON_KEY]\ntype = \"jwt-token\"\ndepends_on = \"JWT_SECRET\"\nrestart_services = [\"api\"]\n\n[services.api]\nrestart = \"true\"\n",
    )
    .unwrap();
    home.set("JWT_SECRET", "a-signing-secret-of-some-length");
    let output = home
        .vault(&["rotate", "--policy", policy.to_str().unwrap(), "--dry-run"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
}

/// The claims of a JWT, checked by PyJWT against `key` (exp is verified when present).
fn pyjwt_claims(token: &str, key: &str) -> serde_json::Value {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, json, jwt\n\
             token, key = sys.argv[1], sys.stdin.read()\n\
             print(json.dumps(jwt.decode(token, key, algorithms=['HS256'])))",
            token,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(key.as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3 with PyJWT (scripts/test installs it)");
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_jwt_expires_after_exp_seconds_and_has_no_exp_or_iss_unless_asked() {
    let home = TestHome::initialised();
    let key = "a-signing-secret-of-some-length";
    home.set("JWT_SECRET", key);
    let policy = home.path().join("rotation.toml");
    fs::write(
        &policy,
        "[secrets.SHORT]\ntype = \"jwt\"\ndepends_on = \"JWT_SECRET\"\nexp_seconds = 3600\niss = \"billing\"\n\n[secrets.PLAIN]\ntype = \"jwt\"\ndepends_on = \"JWT_SECRET\"\n",
    )
    .unwrap();
    let output = home
        .vault(&["rotate", "--policy", policy.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let short = pyjwt_claims(&home.reveal("SHORT"), key);
    let iat = short["iat"].as_u64().unwrap();
    assert_eq!(short["exp"].as_u64(), Some(iat + 3600), "{short}");
    assert_eq!(short["iss"], "billing");
    let plain = pyjwt_claims(&home.reveal("PLAIN"), key);
    assert!(
        plain.get("exp").is_none() && plain.get("iss").is_none(),
        "{plain}"
    );

    fs::write(
        &policy,
        "[secrets.BOTH]\ntype = \"jwt\"\ndepends_on = \"JWT_SECRET\"\nexp_seconds = 60\nexp_days = 1\n",
    )
    .unwrap();
    let output = home
        .vault(&["rotate", "--policy", policy.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    assert!(stderr(&output).contains("exp_days or exp_seconds"));
}

fn bin_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn sync_counts_mean_the_same_in_every_run() {
    let home = TestHome::initialised();
    let source = home.path().join("source.env");
    fs::write(&source, "APP_A=1\nAPP_B=2\nAPP_LOCAL=from-source\n").unwrap();
    let target = home.path().join("app.env");
    fs::write(&target, "APP_A=1\nAPP_LOCAL=mine\nOTHER=x\n").unwrap();
    chmod(&target, 0o600);
    let sync = || {
        let output = home
            .vault(&[
                "sync",
                "--from",
                &format!("dotenv:{}", source.display()),
                "--to",
                &format!("dotenv:{}", target.display()),
                "--only",
                "APP_*",
                "--preserve",
                "APP_LOCAL",
            ])
            .env("VAULT_PROVIDER_PATH", bin_dir())
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        stderr(&output)
    };
    // APP_A already right, APP_B new, APP_LOCAL preserved; OTHER is not the sync's.
    let first = sync();
    assert!(
        first.contains("1 added, 0 changed, 1 unchanged, 1 preserved"),
        "{first}"
    );
    let second = sync();
    assert!(
        second.contains("nothing to do (2 unchanged, 1 preserved)"),
        "{second}"
    );
    assert!(!first.contains(" kept") && !second.contains(" kept"));
}

/// Every option that takes a value shows it in the SYNOPSIS of the man pages shipped
/// under man/ (`[--from SOURCE]`, not `[--from]`).
#[test]
fn man_page_synopses_show_option_values() {
    fn check(cmd: &clap::Command, page: &str, missing: &mut Vec<String>) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man").join(page);
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        let synopsis = text
            .split(".SH SYNOPSIS\n")
            .nth(1)
            .and_then(|rest| rest.split("\n.SH").next())
            .unwrap_or_else(|| panic!("{page} has no SYNOPSIS"));
        for arg in cmd.get_arguments() {
            let takes_values = arg.get_num_args().is_some_and(|n| n.takes_values());
            let (Some(long), Some(values), true) =
                (arg.get_long(), arg.get_value_names(), takes_values)
            else {
                continue;
            };
            let shown = format!(
                "\\fB\\-\\-{}\\fR \\fI{}\\fR",
                long.replace('-', "\\-"),
                values[0].replace('-', "\\-")
            );
            if !arg.is_hide_set() && !synopsis.contains(&shown) {
                missing.push(format!("{page}: {shown}"));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_name() == "help" || sub.is_hide_set() {
                continue;
            }
            let name = format!("{}-{}.1", page.trim_end_matches(".1"), sub.get_name());
            check(sub, &name, missing);
        }
    }
    let mut cmd = secretsd::cli::Cli::command();
    cmd.build();
    let mut missing = Vec::new();
    check(&cmd, "vault.1", &mut missing);
    assert!(missing.is_empty(), "synopses without values: {missing:#?}");
    let sync =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/vault-sync.1")).unwrap();
    assert!(sync.contains("[\\fB\\-\\-from\\fR \\fISOURCE\\fR]..."));
}
