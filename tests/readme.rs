//! The README's quick start and how-tos, run as written: each one in a fresh home, after
//! the quick start, with the workspace's binaries on PATH.

use std::path::PathBuf;
use std::process::{Command, Stdio};

#[path = "common/bao.rs"]
#[allow(dead_code)]
mod bao;
mod common;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The shell block after `<!-- howto: NAME -->`.
fn howto(name: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let marker = format!("<!-- howto: {name} -->\n```sh\n");
    let start = readme
        .find(&marker)
        .unwrap_or_else(|| panic!("README has no how-to {name}"))
        + marker.len();
    let end = readme[start..].find("\n```\n").expect("the block ends") + start;
    readme[start..end].to_string()
}

struct Sandbox {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    wrapper: Vec<String>,
    server: Option<common::InfisicalServer>,
    moto: Option<common::MotoServer>,
    bao: Option<bao::DevServer>,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::Builder::new()
            .prefix("readme")
            .tempdir_in("/tmp")
            .unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("work/protocol")).unwrap();
        std::fs::copy(
            root().join("protocol/SPEC.md"),
            home.join("work/protocol/SPEC.md"),
        )
        .unwrap();
        let bin = assert_cmd::cargo::cargo_bin("vault")
            .parent()
            .unwrap()
            .to_path_buf();
        let env = vec![
            (
                "PATH".into(),
                format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
            ),
            ("HOME".into(), home.display().to_string()),
            (
                "XDG_CONFIG_HOME".into(),
                home.join(".config").display().to_string(),
            ),
            (
                "XDG_DATA_HOME".into(),
                home.join(".local/share").display().to_string(),
            ),
        ];
        Sandbox {
            dir,
            env,
            wrapper: Vec::new(),
            server: None,
            moto: None,
            bao: None,
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn set(&mut self, key: &str, value: impl Into<String>) {
        self.env.push((key.into(), value.into()));
    }

    /// Runs the quick start, then `script`, with bash -e; returns stdout.
    fn run(&self, script: &str) -> String {
        let full = format!("set -euo pipefail\n{}\n{script}\n", howto("quick-start"));
        let mut command = if self.wrapper.is_empty() {
            Command::new("bash")
        } else {
            let mut c = Command::new(&self.wrapper[0]);
            c.args(&self.wrapper[1..]).arg("bash");
            c
        };
        let output = command
            .args(["-c", &full])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.home().join("work"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "the how-to failed:\n{script}\n--- stdout\n{text}\n--- stderr\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        text
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.server.take();
        self.moto.take();
        self.bao.take();
        let gnupg = self.home().join(".gnupg");
        if gnupg.exists() {
            common::stop_gpg_agent(&gnupg);
        }
    }
}

/// Every how-to block in the order the README has them.
fn all_howtos_in_order() -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    readme
        .split("<!-- howto: ")
        .skip(1)
        .map(|part| part.split_once(" -->").unwrap().0.to_string())
        .filter(|name| name != "quick-start")
        .map(|name| format!("# --- {name}\n{}\n", howto(&name)))
        .collect()
}

#[test]
fn the_whole_readme_runs_top_to_bottom_as_a_reader_would() {
    let mut sandbox = Sandbox::new();
    make_gpg_key(&mut sandbox);
    start_infisical(&mut sandbox);
    start_moto(&mut sandbox);
    start_openbao(&mut sandbox);
    sandbox.wrapper = vec!["keyctl".into(), "session".into(), "-".into()];
    let output = sandbox.run(&all_howtos_in_order());
    // The last how-to (writing a provider) ends by reading its value back.
    assert!(output.ends_with("s3cr3t"), "{output}");
}

#[test]
fn howto_everyday() {
    let output = Sandbox::new().run(&howto("everyday"));
    // get --reveal prints exactly the value (no newline into a pipe), then exists says yes.
    assert!(output.ends_with("correct horseyes\n"), "{output}");
}

#[test]
fn howto_edit() {
    let output = Sandbox::new().run(&howto("edit"));
    assert!(output.ends_with("yes\n"), "{output}");
}

#[test]
fn quick_start() {
    let output = Sandbox::new().run("");
    assert!(output.contains("DB_PASSWORD"), "{output}");
    assert!(output.contains("the command sees DB_PASSWORD"), "{output}");
}

#[test]
fn howto_systemd_service() {
    let output = Sandbox::new().run(&howto("systemd-service"));
    assert!(output.contains("LOG_LEVEL=info"), "{output}");
}

#[test]
fn howto_redact_terminal() {
    let output = Sandbox::new().run(&howto("redact-terminal"));
    assert!(output.contains("on a terminal\r\n"), "{output:?}");
    assert!(output.contains("key=********\r\n"), "{output:?}");
    assert!(
        output.ends_with("key=********") || output.ends_with("key=********\n"),
        "{output:?}"
    );
    assert!(!output.contains("sk-live"), "{output:?}");
}

#[test]
fn howto_ai_agents() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&howto("ai-agents"));
    let value = "sk_live_4f9a8b7c6d5e4f3a2b1c";
    assert!(!output.contains(value), "{output}");
    assert!(output.contains("claude\tactive until "), "{output}");
    // printenv, masked; base64 of the value, masked but for its padding; the reveal refused.
    assert!(
        output.contains("********\n********w==\nrefused\n"),
        "{output}"
    );
    let home = sandbox.home();
    let claude = std::fs::read_to_string(home.join(".claude.json")).unwrap();
    assert!(claude.contains("\"vault-claude\""), "{claude}");
    let codex = std::fs::read_to_string(home.join(".codex/config.toml")).unwrap();
    assert!(codex.contains("[mcp_servers.vault-claude]"), "{codex}");
    let setup = std::fs::read_to_string(home.join("work/claude-setup.txt")).unwrap();
    assert!(setup.contains("\"denyRead\"") && setup.contains("\"failIfUnavailable\": true"));
}

#[test]
fn howto_env_file() {
    let output = Sandbox::new().run(&howto("env-file"));
    // check's row, after the quick start's `vault list`.
    let row = |name: &str| {
        output
            .lines()
            .rev()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in {output}"))
            .to_string()
    };
    assert!(
        row("DB_PASSWORD").contains("reference secret:DB_PASSWORD"),
        "{output}"
    );
    assert!(row("REDIS_URL").contains("literal"), "{output}");
    assert!(output.contains("redis:6379 hello #1 13\n"), "{output}");
    assert!(output.ends_with("db=********\n"), "{output}");
    assert!(!output.contains("correct horse"), "{output}");
}

#[test]
fn howto_watch() {
    let output = Sandbox::new().run(&howto("watch"));
    assert!(
        output.ends_with("started with v1\nstarted with v2\n"),
        "{output:?}"
    );
}

#[test]
fn howto_offboarding() {
    let output = Sandbox::new().run(&howto("offboarding"));
    // list --stale: what Carol could read and nobody changed since; the rotated one is not.
    let stale = output.rsplit("NAME\n").next().unwrap();
    assert!(stale.starts_with("DB_PASSWORD\n"), "{output}");
    assert!(!stale.contains("SESSION_SECRET"), "{output}");
    assert!(
        output.contains("rotated SESSION_SECRET (random)"),
        "{output}"
    );
    assert!(
        output.contains("\nDB_PASSWORD\n"),
        "not rotated, and named: {output}"
    );
    assert!(
        output.ends_with("carol can no longer open the vault\n"),
        "{output}"
    );
    assert!(!output.contains("session-secret-carol-saw"), "{output}");
}

#[test]
fn howto_git() {
    let output = Sandbox::new().run(&howto("git"));
    assert!(output.contains("-DATABASE_URL = po"), "{output}");
    assert!(output.contains("+DATABASE_URL = po"), "{output}");
    assert!(output.contains("change    DATABASE_URL"), "{output}");
    assert!(
        output.ends_with("no value found in the tree or its history\n"),
        "{output}"
    );
    assert!(!output.contains("rotated"), "{output}");
}

#[test]
fn howto_secret_files() {
    let output = Sandbox::new().run(&howto("secret-files"));
    assert!(output.contains("apiVersion: v1\nkind: Config"), "{output}");
    assert!(output.contains("/memfd:secretsd:KUBECONFIG"), "{output}");
    assert!(
        output.ends_with("1\n400") || output.ends_with("1\n400\n"),
        "{output}"
    );
}

#[test]
fn howto_team_vault() {
    let output = Sandbox::new().run(&howto("team-vault"));
    assert!(output.contains("member: bob "), "{output}");
    assert!(output.contains("from-bob\n"), "{output}");
    assert!(
        output.contains("correct horsepostgres://localhost/bob\n"),
        "{output}"
    );
    assert!(
        output.ends_with("oncall: bob, me (1 value(s))\n"),
        "{output}"
    );
}

#[test]
fn howto_writing_a_provider() {
    let output = Sandbox::new().run(&howto("write-a-provider"));
    assert!(output.contains("15 passed, 0 failed"), "{output}");
    assert!(output.ends_with("s3cr3t"), "{output}");
}

#[test]
fn howto_rotate() {
    let output = Sandbox::new().run(&howto("rotate"));
    assert!(output.contains("restart   1. db"), "{output}");
    assert!(output.contains("restarted api"), "{output}");
    assert!(output.contains("re-signed ANON_KEY"), "{output}");
    assert!(
        output.contains("db                       healthy"),
        "{output}"
    );
    assert!(
        output
            .lines()
            .any(|l| l.contains(" rotate ") && l.contains("JWT_SECRET")),
        "{output}"
    );
}

#[test]
fn howto_sync_timer() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&howto("sync-timer"));
    assert!(output.contains("change    NINJA_CLIENT_ID"), "{output}");
    let env = std::fs::read_to_string(sandbox.home().join("inventory/.env")).unwrap();
    assert_eq!(
        env,
        // Plain values go unquoted, as docker's --env-file would read them too.
        "DB_DSN=postgresql://localhost/inventory\nNINJA_CLIENT_ID=ninja-id\nNINJA_CLIENT_SECRET=ninja-secret\n"
    );
}

#[test]
fn howto_rotation_due() {
    let output = Sandbox::new().run(&howto("rotation-due"));
    assert!(output.contains("STRIPE_KEY"), "{output}");
    assert!(output.contains("1 due for rotation"), "{output}");
    assert!(output.contains("rotated SESSION_KEY (random)"), "{output}");
    let due = output
        .split("1 due for rotation")
        .next()
        .unwrap()
        .rsplit("NAME")
        .next()
        .unwrap()
        .to_string();
    assert!(
        due.contains("SESSION_KEY") && !due.contains("STRIPE_KEY"),
        "{output}"
    );
}

fn start_infisical(sandbox: &mut Sandbox) {
    let seed = sandbox.home().join("seed.json");
    std::fs::write(
        &seed,
        r#"{"client_id":"machine-id","client_secret":"machine-secret","project_id":"billing",
            "secrets":{"prod":{"/":{},"/app":{},"/app/db":{"PASSWORD":"replica-password"}}}}"#,
    )
    .unwrap();
    let server = common::InfisicalServer::start(&seed);
    let url = server.url.clone();
    sandbox.server = Some(server);
    sandbox.set("INFISICAL_URL", url);
    sandbox.set("INFISICAL_CLIENT_ID", "machine-id");
    sandbox.set("INFISICAL_CLIENT_SECRET", "machine-secret");
    sandbox.set("INFISICAL_PROJECT", "billing");
}

/// moto_server standing in for AWS, reached as a reader's shell reaches AWS: the key
/// variables and AWS_REGION exported, and AWS_ENDPOINT_URL pointing at moto.
fn start_moto(sandbox: &mut Sandbox) {
    let server = common::MotoServer::start();
    sandbox.set("AWS_ENDPOINT_URL", server.url.clone());
    sandbox.set("AWS_REGION", "us-east-1");
    sandbox.set("AWS_ACCESS_KEY_ID", common::MOTO_KEY_ID);
    sandbox.set("AWS_SECRET_ACCESS_KEY", common::MOTO_SECRET_KEY);
    sandbox.moto = Some(server);
}

#[test]
fn howto_aws() {
    let mut sandbox = Sandbox::new();
    start_moto(&mut sandbox);
    let output = sandbox.run(&howto("aws"));
    let server = sandbox.moto.as_ref().unwrap();
    assert!(
        output.ends_with("ssm:/prod/billing/stripe-key\nbilling 13 12\n"),
        "{output}"
    );
    // What AWS holds, read by boto3: one JSON secret with both fields, a SecureString.
    let held = server.boto(
        "print(sm.get_secret_value(SecretId='prod/billing/db')['SecretString'])\n\
         print(ssm.get_parameter(Name='/prod/billing/stripe-key')['Parameter']['Type'])",
    );
    assert_eq!(
        held,
        "{\"username\":\"billing\",\"password\":\"db-password-1\"}\nSecureString\n"
    );
}

/// A real OpenBao dev server, with `bao` (the real binary) first on PATH and BAO_ADDR and
/// BAO_TOKEN set as a user of it has them.
fn start_openbao(sandbox: &mut Sandbox) {
    let server = bao::DevServer::start();
    sandbox.set("BAO_ADDR", server.address());
    sandbox.set("BAO_TOKEN", server.root_token.clone());
    let bin = bao::binary().parent().unwrap().display().to_string();
    for (key, value) in sandbox.env.iter_mut() {
        if key == "PATH" {
            *value = format!("{bin}:{value}");
        }
    }
    sandbox.bao = Some(server);
}

fn make_gpg_key(sandbox: &mut Sandbox) {
    let gnupg = sandbox.home().join(".gnupg");
    let fingerprint = common::make_gpg_key(&gnupg);
    sandbox.set("GNUPGHOME", gnupg.display().to_string());
    sandbox.set("GPG_KEY", fingerprint);
}

#[test]
fn howto_providers_together() {
    let mut sandbox = Sandbox::new();
    make_gpg_key(&mut sandbox);
    start_infisical(&mut sandbox);
    // The kernel keyring of this how-to lives in a private session keyring.
    sandbox.wrapper = vec!["keyctl".into(), "session".into(), "-".into()];
    let output = sandbox.run(&howto("providers-together"));
    let last = output.lines().last().unwrap_or_default();
    assert_eq!(last, "13 16 token-from-the-keyring", "{output}");
}

#[test]
fn howto_offline_cache() {
    let mut sandbox = Sandbox::new();
    start_openbao(&mut sandbox);
    let output = sandbox.run(&format!("{}\n{}", howto("openbao"), howto("offline-cache")));
    let lines: Vec<&str> = output.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "14 api-key-from-vault")
        .unwrap();
    assert_eq!(
        &lines[at + 1..],
        [
            "from-openbao-7",
            "offline: api-key-from-vault",
            "rotated-8",
            "openbao secret/billing#API_KEY",
            "openbao secret/billing#DB_PASSWORD",
        ],
        "{output}"
    );
}

#[test]
fn howto_openbao() {
    let mut sandbox = Sandbox::new();
    start_openbao(&mut sandbox);
    let output = sandbox.run(&howto("openbao"));
    let lines: Vec<&str> = output.lines().collect();
    assert!(lines.contains(&"from-openbao-7"), "{output}");
    assert!(lines.contains(&"billing"), "{output}");
    assert!(lines.contains(&"secret/billing#API_KEY"), "{output}");
    assert_eq!(lines.last(), Some(&"14 api-key-from-vault"), "{output}");
}
