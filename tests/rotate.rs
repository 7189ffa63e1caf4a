//! `vault rotate` and `vault check-services`, on the field notes' setup: a Supabase-style
//! policy (a database password, a JWT secret and two JWTs signed with it, an external
//! static key), two .env files with comments and unrelated lines, three services whose
//! restart and health commands append to a log.

mod common;

use std::fs;
use std::path::PathBuf;

use common::{TestHome, chmod, mode, stderr, stdout};

const POLICY: &str = r#"
[secrets.POSTGRES_PASSWORD]
type = "random"
length = 32
files = [".env"]
restart = ["supabase-db"]
description = "PostgreSQL password"

[secrets.JWT_SECRET]
type = "random"
length = 40
files = [".env", "supabase/docker/.env"]
restart_services = ["supabase-auth", "supabase-rest"]

[secrets.ANON_KEY]
type = "jwt-token"
role = "anon"
iss = "supabase"
exp_days = 1825
depends_on = "JWT_SECRET"
files = ["supabase/docker/.env"]
restart = ["supabase-rest"]

[secrets.SERVICE_ROLE_KEY]
type = "jwt"
role = "service_role"
iss = "supabase"
depends_on = "JWT_SECRET"
files = ["supabase/docker/.env"]
restart = ["supabase-rest"]

[secrets.OPENAI_API_KEY]
type = "static"
description = "user-managed"

[services.supabase-db]
restart = "echo restart supabase-db >> services.log"
health = "echo health supabase-db >> services.log"
timeout = 5

[services.supabase-auth]
restart = "echo restart supabase-auth >> services.log"
health = "echo health supabase-auth >> services.log"
after = ["supabase-db"]
timeout = "5s"

[services.supabase-rest]
restart = "echo restart supabase-rest >> services.log"
health = "echo health supabase-rest >> services.log"
after = ["supabase-auth"]
timeout = 5
"#;

const ROOT_ENV: &str = "# Local AI environment\n\
COMPOSE_PROJECT_NAME=localai\n\
\n\
# database\n\
POSTGRES_PASSWORD=old-postgres-password\n\
export JWT_SECRET='old-jwt-secret-old-jwt-secret-old-jwt'  # shared\n\
OPENAI_API_KEY=sk-user-managed\n\
LOG_LEVEL=info\n";

const SUPABASE_ENV: &str = "############\n\
# Secrets\n\
############\n\
JWT_SECRET=old-jwt-secret-old-jwt-secret-old-jwt\n\
ANON_KEY=old-anon\n\
SERVICE_ROLE_KEY=\"old-service\"\n\
\n\
STUDIO_PORT=3000\n";

struct Setup {
    home: TestHome,
    project: PathBuf,
    /// The passphrase file of a passphrase vault (no identity at all).
    passphrase: Option<PathBuf>,
}

impl Setup {
    fn new() -> Setup {
        Self::with_policy(POLICY)
    }

    fn with_policy(policy: &str) -> Setup {
        Self::made(policy, TestHome::initialised(), None)
    }

    /// A passphrase vault, used with no identity anywhere.
    fn with_passphrase(policy: &str) -> Setup {
        let home = TestHome::new();
        let passphrase = home.path().join("passphrase");
        fs::write(&passphrase, "correct horse battery\n").unwrap();
        chmod(&passphrase, 0o600);
        home.vault(&["init", "--passphrase"])
            .env("VAULT_PASSPHRASE_FILE", &passphrase)
            .assert()
            .success();
        Self::made(policy, home, Some(passphrase))
    }

    fn made(policy: &str, home: TestHome, passphrase: Option<PathBuf>) -> Setup {
        let project = home.path().join("project");
        fs::create_dir_all(project.join("supabase/docker")).unwrap();
        fs::write(project.join("rotation.toml"), policy).unwrap();
        fs::write(project.join(".env"), ROOT_ENV).unwrap();
        chmod(&project.join(".env"), 0o640);
        fs::write(project.join("supabase/docker/.env"), SUPABASE_ENV).unwrap();
        chmod(&project.join("supabase/docker/.env"), 0o600);
        let setup = Setup {
            home,
            project,
            passphrase,
        };
        for (name, value) in [
            ("POSTGRES_PASSWORD", "old-postgres-password"),
            ("JWT_SECRET", "old-jwt-secret-old-jwt-secret-old-jwt"),
            ("ANON_KEY", "old-anon"),
            ("SERVICE_ROLE_KEY", "old-service"),
            ("OPENAI_API_KEY", "sk-user-managed"),
        ] {
            setup
                .vault(&["set", name])
                .write_stdin(value)
                .assert()
                .success();
        }
        setup
    }

    /// `vault ARGS` in this home (with the passphrase, for a passphrase vault).
    fn vault(&self, args: &[&str]) -> assert_cmd::Command {
        let mut command = self.home.vault(args);
        if let Some(passphrase) = &self.passphrase {
            command.env("VAULT_PASSPHRASE_FILE", passphrase);
        }
        command
    }

    fn policy(&self) -> String {
        self.project.join("rotation.toml").display().to_string()
    }

    /// `vault rotate --policy … ARGS`.
    fn rotate(&self, args: &[&str]) -> std::process::Output {
        let policy = self.policy();
        let mut all = vec!["rotate", "--policy", &policy];
        all.extend_from_slice(args);
        self.vault(&all).output().unwrap()
    }

    fn log(&self) -> Vec<String> {
        fs::read_to_string(self.project.join("services.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn read(&self, file: &str) -> String {
        fs::read_to_string(self.project.join(file)).unwrap()
    }

    fn values(&self) -> serde_json::Value {
        if self.passphrase.is_some() {
            let output = self
                .vault(&["export", "--format", "json"])
                .output()
                .unwrap();
            assert!(output.status.success(), "{}", stderr(&output));
            return serde_json::from_slice(&output.stdout).unwrap();
        }
        let document = self.home.age_decrypt();
        let mut values = serde_json::Map::new();
        for (name, entry) in document["secrets"].as_object().unwrap() {
            values.insert(name.clone(), entry["value"].clone());
        }
        values.into()
    }

    fn backup_count(&self) -> usize {
        fs::read_dir(self.home.backup_dir()).unwrap().count()
    }
}

/// The value of `name` in a .env file, read by python-dotenv (an independent reader).
fn dotenv_value(path: &std::path::Path, name: &str) -> String {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys; from dotenv import dotenv_values; print(dotenv_values(sys.argv[1])[sys.argv[2]], end='')",
        ])
        .arg(path)
        .arg(name)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

/// Decodes a JWT with PyJWT; `Err` is PyJWT's complaint.
fn pyjwt_decode(token: &str, key: &str) -> Result<serde_json::Value, String> {
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, json, jwt\n\
             try:\n    print(json.dumps(jwt.decode(sys.stdin.readline().strip(), sys.stdin.readline().strip(), algorithms=['HS256'])))\n\
             except jwt.InvalidTokenError as e:\n    print(type(e).__name__, file=sys.stderr); sys.exit(1)",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{token}\n{key}\n").as_bytes())?;
            child.wait_with_output()
        })
        .expect("python3 with PyJWT (scripts/test installs it)");
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).unwrap())
    } else {
        Err(stderr(&output))
    }
}

#[test]
fn the_field_notes_rotation_end_to_end() {
    let setup = Setup::new();
    let before = setup.values();

    // The plan first: secrets, files and services in restart order; nothing changes.
    let output = setup.rotate(&["--dry-run"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let plan = stdout(&output);
    assert!(
        plan.contains("secret    ANON_KEY (jwt role anon, signed with JWT_SECRET)"),
        "{plan}"
    );
    let restarts: Vec<&str> = plan.lines().filter(|l| l.starts_with("restart")).collect();
    assert_eq!(
        restarts,
        [
            "restart   1. supabase-db",
            "restart   2. supabase-auth",
            "restart   3. supabase-rest"
        ]
    );
    assert_eq!(setup.values(), before);
    assert!(setup.log().is_empty());

    let output = setup.rotate(&["--restart"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let after = setup.values();
    for name in [
        "POSTGRES_PASSWORD",
        "JWT_SECRET",
        "ANON_KEY",
        "SERVICE_ROLE_KEY",
    ] {
        assert_ne!(after[name], before[name], "{name}");
        let value = after[name].as_str().unwrap();
        assert!(
            !stdout(&output).contains(value) && !stderr(&output).contains(value),
            "{name}'s value was printed"
        );
    }
    assert_eq!(after["OPENAI_API_KEY"], "sk-user-managed");
    assert_eq!(after["POSTGRES_PASSWORD"].as_str().unwrap().len(), 32);
    assert_eq!(after["JWT_SECRET"].as_str().unwrap().len(), 40);

    // Services restarted in dependency order, each health-checked before the next.
    assert_eq!(
        setup.log(),
        [
            "restart supabase-db",
            "health supabase-db",
            "restart supabase-auth",
            "health supabase-auth",
            "restart supabase-rest",
            "health supabase-rest",
        ]
    );

    // The files carry the new values, unquoted (generated values need no quotes, and
    // docker's --env-file would keep quotes as part of the value); every other line,
    // comment and mode is kept.
    let root = setup.read(".env");
    let expected_root = ROOT_ENV
        .replace(
            "POSTGRES_PASSWORD=old-postgres-password",
            &format!(
                "POSTGRES_PASSWORD={}",
                after["POSTGRES_PASSWORD"].as_str().unwrap()
            ),
        )
        .replace(
            "JWT_SECRET='old-jwt-secret-old-jwt-secret-old-jwt'",
            &format!("JWT_SECRET={}", after["JWT_SECRET"].as_str().unwrap()),
        );
    assert_eq!(root, expected_root);
    let docker = setup.project.join("supabase/docker/.env");
    for name in ["JWT_SECRET", "ANON_KEY", "SERVICE_ROLE_KEY"] {
        assert_eq!(dotenv_value(&docker, name), after[name].as_str().unwrap());
    }
    let docker_text = setup.read("supabase/docker/.env");
    for line in ["############", "# Secrets", "STUDIO_PORT=3000"] {
        assert!(docker_text.lines().any(|l| l == line), "{docker_text}");
    }
    assert_eq!(mode(&setup.project.join(".env")), 0o640);
    assert_eq!(mode(&docker), 0o600);

    // The backup's record names the rotation, never a value; its files are encrypted.
    let output = setup
        .home
        .vault(&["restore", "--list", "--json"])
        .output()
        .unwrap();
    let backups: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let record = &backups[0];
    assert_eq!(record["operation"], "rotate");
    let mut names: Vec<&str> = record["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ANON_KEY",
            "JWT_SECRET",
            "POSTGRES_PASSWORD",
            "SERVICE_ROLE_KEY"
        ]
    );
    assert_eq!(
        record["services"],
        serde_json::json!(["supabase-db", "supabase-auth", "supabase-rest"])
    );
    assert_eq!(record["files"].as_array().unwrap().len(), 2);
    let data = PathBuf::from(record["path"].as_str().unwrap());
    let metadata = fs::read_to_string(data.with_extension("json")).unwrap();
    let bundle = fs::read(data.with_extension("files.age")).unwrap();
    for value in [
        "old-postgres-password",
        "old-anon",
        after["JWT_SECRET"].as_str().unwrap(),
    ] {
        assert!(!metadata.contains(value));
        assert!(!String::from_utf8_lossy(&bundle).contains(value));
    }
    // The age CLI opens the files bundle with the vault's identity.
    let files = common::age_decrypt(
        &data.with_extension("files.age"),
        &setup.home.identity_file(),
    );
    assert_eq!(files["files"][0]["content"], ROOT_ENV);

    // restore --latest brings back the vault and both files, byte for byte.
    let output = setup.home.vault(&["restore", "--latest"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(setup.values(), before);
    assert_eq!(setup.read(".env"), ROOT_ENV);
    assert_eq!(setup.read("supabase/docker/.env"), SUPABASE_ENV);
    assert_eq!(mode(&setup.project.join(".env")), 0o640);
}

#[test]
fn generated_values_have_the_declared_length_and_alphabet_and_never_repeat() {
    let setup = Setup::with_policy(
        r#"
        [secrets.HEX_KEY]
        type = "random"
        length = 48
        charset = "hex"
        [secrets.URL_KEY]
        type = "random"
        charset = "base64url"
        [secrets.PIN_LIKE]
        type = "random"
        length = 40
        alphabet = "0123456789"
        "#,
    );
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let output = setup.rotate(&[]);
        assert!(output.status.success(), "{}", stderr(&output));
        let values = setup.values();
        let check = |name: &str, length: usize, alphabet: &str| {
            let value = values[name].as_str().unwrap();
            assert_eq!(value.chars().count(), length, "{name}");
            assert!(
                value.chars().all(|c| alphabet.contains(c)),
                "{name}: {value}"
            );
        };
        check("HEX_KEY", 48, "0123456789abcdef");
        check(
            "URL_KEY",
            32,
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        );
        check("PIN_LIKE", 40, "0123456789");
        for name in ["HEX_KEY", "URL_KEY", "PIN_LIKE"] {
            assert!(
                seen.insert(values[name].as_str().unwrap().to_string()),
                "{name} repeated"
            );
        }
    }
}

#[test]
fn a_rotated_jwt_verifies_with_the_new_secret_in_pyjwt_and_not_with_the_old() {
    let setup = Setup::new();
    let output = setup.rotate(&["--secrets", "JWT_SECRET"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let values = setup.values();
    // Rotating JWT_SECRET re-signed both JWTs, and touched nothing else.
    assert_eq!(values["POSTGRES_PASSWORD"], "old-postgres-password");
    let secret = values["JWT_SECRET"].as_str().unwrap();
    let anon = values["ANON_KEY"].as_str().unwrap();
    let claims = pyjwt_decode(anon, secret).unwrap();
    assert_eq!(claims["role"], "anon");
    assert_eq!(claims["iss"], "supabase");
    // The header is byte for byte the one vault always wrote: {"typ":"JWT","alg":"HS256"}.
    assert_eq!(
        anon.split('.').next(),
        Some("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9")
    );
    let iat = claims["iat"].as_u64().unwrap();
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 1825 * 86_400);
    let service = pyjwt_decode(values["SERVICE_ROLE_KEY"].as_str().unwrap(), secret).unwrap();
    assert_eq!(service["role"], "service_role");
    let old = pyjwt_decode(anon, "old-jwt-secret-old-jwt-secret-old-jwt").unwrap_err();
    assert!(old.contains("InvalidSignatureError"), "{old}");

    // ANON_KEY alone is re-signed with the current JWT_SECRET, which stays.
    let output = setup.rotate(&["--secrets", "ANON_KEY"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let again = setup.values();
    assert_eq!(again["JWT_SECRET"], values["JWT_SECRET"]);
    assert_eq!(again["SERVICE_ROLE_KEY"], values["SERVICE_ROLE_KEY"]);
    let claims = pyjwt_decode(again["ANON_KEY"].as_str().unwrap(), secret).unwrap();
    assert_eq!(claims["role"], "anon");
}

#[test]
fn a_plan_that_cannot_work_is_refused_before_anything_changes() {
    let broken_policies = [
        // depends_on names a secret that exists nowhere
        (
            "[secrets.TOKEN]\ntype='jwt'\ndepends_on='NO_SUCH_SECRET'\n",
            &[][..],
            3,
            "NO_SUCH_SECRET",
        ),
        // a dependency cycle
        (
            "[secrets.A]\ntype='jwt'\ndepends_on='B'\n[secrets.B]\ntype='jwt'\ndepends_on='A'\n",
            &[],
            6,
            "cycle",
        ),
        // a service nobody declared
        (
            "[secrets.A]\ntype='random'\nrestart=['ghost']\n",
            &[],
            6,
            "[services.ghost]",
        ),
        // a file that does not exist
        (
            "[secrets.A]\ntype='random'\nfiles=['missing/.env']\n",
            &[],
            3,
            "missing/.env",
        ),
        // a jwt without the secret that signs it
        (
            "[secrets.A]\ntype='jwt'\nrole='anon'\n",
            &[],
            6,
            "depends_on",
        ),
        // an unknown field
        ("[secrets.A]\ntype='random'\nlenght=40\n", &[], 6, "lenght"),
    ];
    for (policy, args, code, needle) in broken_policies {
        let setup = Setup::with_policy(policy);
        let vault_before = fs::read(setup.home.vault_file()).unwrap();
        let backups = setup.backup_count();
        let output = setup.rotate(args);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{policy}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(needle),
            "{policy}: {}",
            stderr(&output)
        );
        assert_eq!(fs::read(setup.home.vault_file()).unwrap(), vault_before);
        assert_eq!(setup.backup_count(), backups);
        assert_eq!(setup.read(".env"), ROOT_ENV);
    }
    let setup = Setup::new();
    let vault_before = fs::read(setup.home.vault_file()).unwrap();
    for (args, code, needle) in [
        (&["--secrets", "NOPE"][..], 3, "NOPE has no rotation policy"),
        (&["--secrets", "OPENAI_API_KEY"], 2, "static"),
        (&["--secrets", "bad name"], 6, "invalid secret name"),
    ] {
        let output = setup.rotate(args);
        assert_eq!(
            output.status.code(),
            Some(code),
            "{args:?}: {}",
            stderr(&output)
        );
        assert!(stderr(&output).contains(needle), "{}", stderr(&output));
    }
    assert_eq!(fs::read(setup.home.vault_file()).unwrap(), vault_before);
    // No policy at all says where one goes.
    let output = setup.home.vault(&["rotate"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--policy FILE"),
        "{}",
        stderr(&output)
    );
}

fn failing_auth_policy() -> String {
    POLICY
        .replace(
            "health = \"echo health supabase-auth >> services.log\"",
            "health = \"echo health supabase-auth >> services.log; exit 1\"",
        )
        .replace("timeout = \"5s\"", "timeout = \"1s\"")
}

#[test]
fn a_failing_health_check_names_the_service_and_the_step_and_how_to_undo() {
    let setup = Setup::with_policy(&failing_auth_policy());
    let before = setup.values();
    let output = setup.rotate(&["--restart"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("the health check of supabase-auth failed"),
        "{message}"
    );
    assert!(
        message.contains(
            "restarted: supabase-db; failed: supabase-auth; not restarted: supabase-rest"
        ),
        "{message}"
    );
    let id = message
        .split("vault restore --backup ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no restore command in: {message}"));
    // The vault and files hold the new values, as the message says, and none is printed.
    let now = setup.values();
    assert_ne!(now["JWT_SECRET"], before["JWT_SECRET"]);
    for name in ["POSTGRES_PASSWORD", "JWT_SECRET", "ANON_KEY"] {
        assert!(
            !message.contains(now[name].as_str().unwrap()),
            "{name} in {message}"
        );
    }
    assert!(!setup.log().iter().any(|l| l == "restart supabase-rest"));
    setup
        .home
        .vault(&["restore", "--backup", id])
        .assert()
        .success();
    assert_eq!(setup.values(), before);
    assert_eq!(setup.read(".env"), ROOT_ENV);
}

#[test]
fn rollback_on_failure_puts_back_the_old_values_and_restarts_again() {
    rollback_on_failure(Setup::with_policy(&failing_auth_policy()));
}

/// With no identity at all (a passphrase vault), the files a rotation keeps with its
/// backup are signed with a writer key made for it, so a rollback puts them back too.
#[test]
fn rollback_on_failure_works_for_a_passphrase_vault_without_an_identity() {
    let setup = Setup::with_passphrase(&failing_auth_policy());
    rollback_on_failure(setup);
}

fn rollback_on_failure(setup: Setup) {
    let before = setup.values();
    let output = setup.rotate(&["--restart", "--rollback-on-failure"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("Rolled back"), "{message}");
    assert_eq!(setup.values(), before);
    assert_eq!(setup.read(".env"), ROOT_ENV);
    assert_eq!(setup.read("supabase/docker/.env"), SUPABASE_ENV);
    // Restarted once with the new values (stopping at auth), then again with the old.
    let restarts_of_db = setup
        .log()
        .iter()
        .filter(|l| *l == "restart supabase-db")
        .count();
    assert_eq!(restarts_of_db, 2, "{:?}", setup.log());
}

#[test]
fn restart_only_reruns_the_restart_stage_of_the_latest_rotation() {
    let setup = Setup::new();
    let output = setup.rotate(&["--secrets", "POSTGRES_PASSWORD"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--restart-only)"),
        "{}",
        stderr(&output)
    );
    assert!(setup.log().is_empty());
    let output = setup.rotate(&["--restart-only"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(setup.log(), ["restart supabase-db", "health supabase-db"]);
    fs::remove_file(setup.project.join("services.log")).unwrap();
    let output = setup.rotate(&["--restart-only", "--all", "--no-health"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        setup.log(),
        [
            "restart supabase-db",
            "restart supabase-auth",
            "restart supabase-rest"
        ]
    );
}

#[test]
fn a_hanging_restart_is_stopped_at_its_timeout() {
    let setup = Setup::with_policy(&POLICY.replace(
        "restart = \"echo restart supabase-db >> services.log\"",
        "restart = \"sleep 600\"",
    ));
    let output = setup.rotate(&["--secrets", "POSTGRES_PASSWORD", "--restart"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("the restart of supabase-db failed: did not finish within 5s"),
        "{}",
        stderr(&output)
    );
    // The sleep was killed with its process group.
    let ps = std::process::Command::new("pgrep")
        .args(["-f", "^sleep 600$"])
        .output()
        .unwrap();
    assert!(
        stdout(&ps).trim().is_empty(),
        "left running: {}",
        stdout(&ps)
    );
}

#[test]
fn check_services_reports_saves_and_compares_health() {
    let setup = Setup::with_policy(&POLICY.replace(
        "health = \"echo health supabase-rest >> services.log\"",
        "health = \"test ! -e rest-down\"",
    ));
    let policy = setup.policy();
    let snapshot = setup.home.path().join("state/pre-rotation.json");
    let snapshot_arg = snapshot.display().to_string();
    let output = setup
        .home
        .vault(&[
            "check-services",
            "--policy",
            &policy,
            "--save",
            &snapshot_arg,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).matches(" healthy").count(),
        3,
        "{}",
        stdout(&output)
    );
    assert_eq!(mode(&snapshot), 0o600);
    let saved: serde_json::Value = serde_json::from_slice(&fs::read(&snapshot).unwrap()).unwrap();
    assert_eq!(saved["services"]["supabase-rest"]["healthy"], true);

    fs::write(setup.project.join("rest-down"), "").unwrap();
    let output = setup
        .home
        .vault(&[
            "check-services",
            "--policy",
            &policy,
            "--compare",
            &snapshot_arg,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(
        out.contains("supabase-rest            unhealthy: health command exited with status 1"),
        "{out}"
    );
    assert!(
        out.contains("supabase-rest: was healthy, now unhealthy"),
        "{out}"
    );
}

#[test]
fn the_policy_can_live_in_the_config_file_under_rotate() {
    let setup = Setup::new();
    let config = setup.home.path().join("config/secretsd/config.toml");
    let project = setup.project.display().to_string();
    // Relative paths start in the config file's directory; absolute ones are as written.
    fs::write(
        &config,
        format!(
            "[rotate.secrets.POSTGRES_PASSWORD]\ntype = \"random\"\nfiles = [\"{project}/.env\"]\nrestart = [\"db\"]\n\n[rotate.services.db]\nrestart = \"echo restart >> {project}/services.log\"\n"
        ),
    )
    .unwrap();
    let before = setup.values();
    let output = setup.home.vault(&["rotate", "--restart"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let after = setup.values();
    assert_ne!(after["POSTGRES_PASSWORD"], before["POSTGRES_PASSWORD"]);
    assert_eq!(after["JWT_SECRET"], before["JWT_SECRET"]);
    assert_eq!(
        dotenv_value(&setup.project.join(".env"), "POSTGRES_PASSWORD"),
        after["POSTGRES_PASSWORD"].as_str().unwrap()
    );
    assert_eq!(setup.log(), ["restart"]);
}

#[test]
fn the_wrong_identity_or_a_file_that_is_not_dotenv_changes_nothing() {
    let setup = Setup::new();
    let vault_before = fs::read(setup.home.vault_file()).unwrap();
    let other = setup.home.path().join("other.key");
    common::age_keygen(&other);
    let policy = setup.policy();
    let other = other.display().to_string();
    let output = setup
        .home
        .vault(&["--identity", &other, "rotate", "--policy", &policy])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    // A .env file with a line that is not NAME=value: refused by line number, not echoed.
    fs::write(
        setup.project.join(".env"),
        format!("{ROOT_ENV}sk-pasted-secret-line\n"),
    )
    .unwrap();
    let output = setup.rotate(&[]);
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("line") && message.contains(".env"),
        "{message}"
    );
    assert!(!message.contains("sk-pasted-secret-line"), "{message}");
    assert_eq!(fs::read(setup.home.vault_file()).unwrap(), vault_before);
    assert_eq!(setup.read("supabase/docker/.env"), SUPABASE_ENV);
    assert!(setup.log().is_empty());
}
