//! secretsd-provider-openbao over the protocol, for what one short vault command cannot
//! show: an AppRole login token kept for the provider's life and renewed before its TTL.

#[path = "../../../tests/common/bao.rs"]
#[allow(dead_code)]
mod bao;

use std::path::Path;
use std::time::Duration;

use secretsd_protocol::client::{ClientOptions, ProviderProcess};
use secretsd_protocol::{Config, SecretValue};
use serde_json::json;

const BINARY: &str = env!("CARGO_BIN_EXE_secretsd-provider-openbao");

#[test]
fn an_approle_token_is_renewed_before_its_ttl_without_logging_in_again() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=renewed-read"]);
    server.ok(&["auth", "enable", "approle"]);
    let policy = server.dir.path().join("read.hcl");
    std::fs::write(&policy, "path \"secret/*\" { capabilities = [\"read\"] }\n").unwrap();
    server.ok(&["policy", "write", "read", policy.to_str().unwrap()]);
    // A 3 s token, and a secret_id that logs in once: a second login would fail, so
    // reads past 3 s succeed only through renewals.
    server.ok(&[
        "write",
        "auth/approle/role/app",
        "token_policies=read",
        "token_ttl=3s",
        "token_max_ttl=60s",
        "secret_id_num_uses=1",
    ]);
    let role_id = server.ok(&["read", "-field=role_id", "auth/approle/role/app/role-id"]);
    let secret_id = server.ok(&[
        "write",
        "-f",
        "-field=secret_id",
        "auth/approle/role/app/secret-id",
    ]);
    let config: Config = json!({
        "address": server.address(),
        "auth": "approle",
        "role_id": role_id.trim(),
        "secret_id": secret_id.trim(),
    })
    .as_object()
    .unwrap()
    .clone();
    let mut provider =
        ProviderProcess::spawn("openbao", Path::new(BINARY), ClientOptions::default()).unwrap();
    let key = "secret/app#A".to_string();
    for round in 0..4 {
        let answer = provider.get(&config, std::slice::from_ref(&key)).unwrap();
        assert_eq!(
            answer.values.get(&key).map(|v| v.expose()),
            Some("renewed-read"),
            "round {round}: {:?}",
            answer.errors.get(&key).map(|e| (e.kind, e.message.clone()))
        );
        std::thread::sleep(Duration::from_millis(2_300));
    }
    // Its policy reads only: a write is denied as such, not taken for an expired token
    // (a new login would fail here: the secret_id was good for one).
    let denied = provider
        .set(&config, &key, SecretValue::new("not-written"))
        .unwrap_err()
        .to_string();
    assert!(
        denied.contains("denied") && denied.contains("permission denied"),
        "{denied}"
    );
    assert!(!denied.contains("AppRole"), "{denied}");
    let _ = provider.close();
}
