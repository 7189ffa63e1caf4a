//! secretsd-provider-infisical against a local server that follows Infisical's documented
//! API (infisical-test-server): auth enforced, tokens that expire, retries, error bodies.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use secretsd_protocol::client::{ClientError, ClientOptions, ProviderProcess};
use secretsd_protocol::conformance::{CheckOptions, check, failures};
use secretsd_protocol::{Config, ErrorKind, SecretValue};
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_secretsd-provider-infisical");

/// The test server, built beside the provider by `cargo build --workspace`.
fn server_binary() -> PathBuf {
    let path = Path::new(BINARY).with_file_name("infisical-test-server");
    assert!(
        path.exists(),
        "{} is missing: run cargo build --workspace first (scripts/test does)",
        path.display()
    );
    path
}

struct Server {
    child: Child,
    url: String,
    _seed: tempfile::NamedTempFile,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let seed = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            seed.path(),
            json!({
                "client_id": "machine-id",
                "client_secret": "machine-secret",
                "project_id": "project-1",
                "secrets": {
                    "prod": {
                        "/": { "ROOT_KEY": "root-value" },
                        "/app": { "SHARED": "app-shared" },
                        "/app/db": { "PASSWORD": "db-password", "USER": "db-user", "SHARED": "own-wins" },
                        "/common": { "SHARED": "imported-loses", "SMTP": "smtp-from-import" }
                    },
                    "dev": { "/": {} }
                },
                "imports": { "prod": { "/app/db": [["prod", "/common"]] } }
            })
            .to_string(),
        )
        .unwrap();
        let mut child = Command::new(server_binary())
            .arg("--seed")
            .arg(seed.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap()
            .to_string();
        Server {
            child,
            url,
            _seed: seed,
        }
    }

    fn config(&self) -> Config {
        let Value::Object(map) = json!({
            "base_url": self.url,
            "client_id": "machine-id",
            "client_secret": "machine-secret",
            "project_id": "project-1",
            "environment": "prod",
        }) else {
            unreachable!()
        };
        map
    }

    fn stats(&self) -> Value {
        let agent = ureq::Agent::new_with_defaults();
        agent
            .get(format!("{}/test/stats", self.url))
            .call()
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_provider() -> ProviderProcess {
    ProviderProcess::spawn("infisical", Path::new(BINARY), ClientOptions::default()).unwrap()
}

fn provider_error<T>(result: Result<T, ClientError>) -> secretsd_protocol::ProviderError {
    match result {
        Err(ClientError::Failed { error, .. }) => error,
        Err(other) => panic!("expected a provider error, got {other}"),
        Ok(_) => panic!("expected a provider error, got success"),
    }
}

#[test]
fn passes_the_conformance_kit() {
    let server = Server::start(&[]);
    let options = CheckOptions {
        config: server.config(),
        // vault provider check's default: keys in the root folder, without a leading /.
        key_prefix: "SECRETSD_CHECK_".into(),
        client: ClientOptions::default(),
    };
    let cases = check("infisical", Path::new(BINARY), &options);
    let failures = failures(&cases);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn reads_folders_with_imports_in_one_request_per_folder() {
    let server = Server::start(&[]);
    let mut provider = start_provider();
    let keys: Vec<String> = [
        "/app/db/PASSWORD",
        "/app/db/USER",
        "/app/db/SHARED",
        "/app/db/SMTP",
        "/app/db/NOPE",
        "ROOT_KEY",
    ]
    .iter()
    .map(|k| k.to_string())
    .collect();
    let answer = provider.get(&server.config(), &keys).unwrap();
    let value = |k: &str| answer.values[k].expose().to_string();
    assert_eq!(value("/app/db/PASSWORD"), "db-password");
    assert_eq!(value("/app/db/USER"), "db-user");
    assert_eq!(
        value("/app/db/SHARED"),
        "own-wins",
        "a folder's own secret wins over an import"
    );
    assert_eq!(value("/app/db/SMTP"), "smtp-from-import");
    assert_eq!(value("ROOT_KEY"), "root-value");
    assert_eq!(answer.errors["/app/db/NOPE"].kind, ErrorKind::NotFound);
    // One login, then one list per folder (/app/db and /).
    assert_eq!(server.stats()["logins"], 1);
    assert_eq!(server.stats()["requests"], 1 + 2);
}

#[test]
fn lists_a_folder_and_optionally_its_subfolders() {
    let server = Server::start(&[]);
    let mut provider = start_provider();
    let listed = provider.list(&server.config(), Some("/app/")).unwrap();
    assert_eq!(listed.keys, ["/app/SHARED"]);
    let mut config = server.config();
    config.insert("recursive".into(), true.into());
    config.insert("include_imports".into(), false.into());
    let listed = provider.list(&config, Some("/app/")).unwrap();
    assert_eq!(
        listed.keys,
        [
            "/app/SHARED",
            "/app/db/PASSWORD",
            "/app/db/SHARED",
            "/app/db/USER"
        ]
    );
}

/// A prefix that names a folder, without the trailing slash, lists that folder; one that
/// ends inside a name filters names; keys come back spelled as the prefix is, so each
/// one reads back as listed.
#[test]
fn a_folder_named_without_a_slash_is_listed_and_keys_read_back_as_listed() {
    let server = Server::start(&[]);
    let mut provider = start_provider();
    let config = server.config();
    let listed = provider.list(&config, Some("/app/db")).unwrap();
    assert_eq!(
        listed.keys,
        [
            "/app/db/PASSWORD",
            "/app/db/SHARED",
            "/app/db/SMTP",
            "/app/db/USER"
        ]
    );
    let listed = provider.list(&config, Some("app/db/P")).unwrap();
    assert_eq!(listed.keys, ["app/db/PASSWORD"]);
    let listed = provider.list(&config, Some("ROOT")).unwrap();
    assert_eq!(listed.keys, ["ROOT_KEY"]);
    let everything = provider.list(&config, None).unwrap();
    assert!(
        everything.keys.contains(&"/ROOT_KEY".to_string()),
        "{:?}",
        everything.keys
    );
    for keys in [listed.keys, everything.keys, vec!["app/db/PASSWORD".into()]] {
        let answer = provider.get(&config, &keys).unwrap();
        assert!(
            answer.errors.is_empty(),
            "{keys:?}: {:?}",
            answer.errors.keys()
        );
        assert_eq!(answer.values.len(), keys.len());
    }
}

#[test]
fn creates_updates_and_deletes() {
    let server = Server::start(&[]);
    let mut provider = start_provider();
    let config = server.config();
    provider
        .set(&config, "/app/NEW_KEY", SecretValue::new("first"))
        .unwrap();
    provider
        .set(&config, "/app/NEW_KEY", SecretValue::new("second"))
        .unwrap();
    let answer = provider.get(&config, &["/app/NEW_KEY".into()]).unwrap();
    assert_eq!(answer.values["/app/NEW_KEY"].expose(), "second");
    provider.delete(&config, "/app/NEW_KEY").unwrap();
    let error = provider_error(provider.delete(&config, "/app/NEW_KEY"));
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(error.to_string().contains("404"), "{error}");
}

#[test]
fn logs_in_again_before_the_token_expires() {
    // Tokens announced to live 6 s are renewed after 1 s (at least 5 s early).
    let server = Server::start(&["--token-ttl", "6"]);
    let mut provider = start_provider();
    provider
        .get(&server.config(), &["ROOT_KEY".into()])
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1300));
    provider
        .get(&server.config(), &["ROOT_KEY".into()])
        .unwrap();
    let stats = server.stats();
    assert_eq!(stats["logins"], 2);
    assert_eq!(
        stats["rejected_tokens"], 0,
        "renewed before the server refused it"
    );
}

#[test]
fn logs_in_again_when_a_token_is_refused() {
    // The server says tokens live two hours but revokes them after 300 ms.
    let server = Server::start(&["--revoke-after", "300"]);
    let mut provider = start_provider();
    provider
        .get(&server.config(), &["ROOT_KEY".into()])
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let answer = provider
        .get(&server.config(), &["ROOT_KEY".into()])
        .unwrap();
    assert_eq!(answer.values["ROOT_KEY"].expose(), "root-value");
    let stats = server.stats();
    assert_eq!(
        (stats["logins"].as_u64(), stats["rejected_tokens"].as_u64()),
        (Some(2), Some(1))
    );
}

#[test]
fn retries_rate_limits_and_server_errors() {
    let server = Server::start(&["--fail-first", "2", "429"]);
    let mut provider = start_provider();
    let answer = provider
        .get(&server.config(), &["ROOT_KEY".into()])
        .unwrap();
    assert_eq!(answer.values["ROOT_KEY"].expose(), "root-value");

    let server = Server::start(&["--fail-first", "9", "503"]);
    let mut provider = start_provider();
    let error = provider_error(provider.get(&server.config(), &["ROOT_KEY".into()]));
    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert!(error.to_string().contains("503"), "{error}");
    assert_eq!(
        server.stats()["requests"],
        1 + 4,
        "one login, then 1 try and 3 retries"
    );
}

#[test]
fn wrong_credentials_are_denied_without_echoing_the_secret() {
    let server = Server::start(&[]);
    let mut provider = start_provider();
    let mut config = server.config();
    config.insert("client_secret".into(), "wrong-secret-value".into());
    let error = provider_error(provider.get(&config, &["ROOT_KEY".into()]));
    assert_eq!(error.kind, ErrorKind::Denied);
    assert!(
        error.to_string().contains("Universal Auth login failed"),
        "{error}"
    );
    assert!(!error.to_string().contains("wrong-secret-value"), "{error}");
}

#[test]
fn a_project_it_may_not_read_is_denied_and_a_missing_setting_invalid() {
    let server = Server::start(&[]);
    let mut provider = start_provider();
    let mut config = server.config();
    config.insert("project_id".into(), "someone-elses".into());
    assert_eq!(
        provider_error(provider.get(&config, &["ROOT_KEY".into()])).kind,
        ErrorKind::Denied
    );
    let mut config = server.config();
    config.remove("client_id");
    let error = provider_error(provider.get(&config, &["ROOT_KEY".into()]));
    assert_eq!(error.kind, ErrorKind::Invalid);
    assert!(error.message.contains("client_id"));
}

#[test]
fn an_unreachable_server_is_unavailable() {
    let mut provider = start_provider();
    let mut config = Server::start(&[]).config();
    // The server is gone once dropped above; its port answers nothing now.
    config.insert("timeout_seconds".into(), 2.into());
    let error = provider_error(provider.get(&config, &["ROOT_KEY".into()]));
    assert_eq!(error.kind, ErrorKind::Unavailable);
    assert!(
        error.to_string().contains("cannot reach Infisical"),
        "{error}"
    );
}
