//! The openbao provider through the vault binary against a node that misbehaves as a real
//! OpenBao never does but a compromised node, a proxy in front of one or an attacker on
//! the path may (tests/common/fake_bao.rs): a 307 to another host, a success answered with
//! an HTML page, an error quoting the request, megabytes of error text, an absurd lease.

mod common;
#[path = "common/fake_bao.rs"]
mod fake_bao;

use std::path::PathBuf;

use common::{TestHome, stderr, stdout};
use fake_bao::{FakeNode, Reply, mount_answer};
use serde_json::json;

const TOKEN: &str = "token-for-a-fake-node-5c1e";

fn provider_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A vault home whose `[providers.openbao]` is `config` plus the address of `node`.
fn home_for(node: &FakeNode, config: &str) -> TestHome {
    let home = TestHome::initialised();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[providers.openbao]\naddress = \"{}\"\n{config}\n",
            node.address
        ),
    )
    .unwrap();
    home
}

/// `vault ARGS` with the built providers, BAO_TOKEN set and `input` on stdin.
fn vault(home: &TestHome, args: &[&str], input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = home
        .vault_std(args)
        .env("VAULT_PROVIDER_PATH", provider_dir())
        .env("BAO_TOKEN", TOKEN)
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

fn failed(output: &std::process::Output, code: i32) -> String {
    let said = stderr(output);
    assert_eq!(output.status.code(), Some(code), "{said}");
    said
}

#[test]
fn a_refused_write_does_not_quote_the_fields_it_sent() {
    // The other field of the secret: read by the provider for the write, never by vault.
    let other = "other-field-secret-777";
    let node = FakeNode::start(move |request| {
        if let Some(reply) = mount_answer(request, 2) {
            return reply;
        }
        if request.method == "GET" {
            return Reply::json(
                200,
                json!({"data": {"data": {"DB": other}, "metadata": {"version": 3}}}),
            );
        }
        // A server (or a proxy) quoting the request body in its refusal.
        Reply::json(
            400,
            json!({"errors": [format!("cannot decode: {}", request.body)]}),
        )
    });
    let home = home_for(&node, "");
    let output = vault(
        &home,
        &["-v", "set", "openbao:secret/app#NEW"],
        "new-value-4242\n",
    );
    let said = failed(&output, 5);
    assert!(said.contains("cannot decode"), "{said}");
    assert!(!said.contains(other), "{said}");
    assert!(!said.contains("new-value-4242"), "{said}");
    // The write did carry it: the test would pass for nothing otherwise.
    assert!(
        node.requests()
            .iter()
            .any(|r| r.method == "POST" && r.body.contains(other))
    );
}

#[test]
fn a_307_to_another_host_is_refused_and_nothing_is_sent_there() {
    let elsewhere = FakeNode::start_on("127.0.0.2", |request| {
        Reply::json(
            200,
            json!({"data": {"data": {"A": "from-elsewhere"}, "metadata": {"version": 1}}, "path": request.path}),
        )
    });
    let target = elsewhere.address.clone();
    let node = FakeNode::start(move |request| {
        if request.path == "/v1/sys/leader" {
            return Reply::json(404, json!({"errors": []}));
        }
        Reply::redirect(&format!("{target}{}", request.path))
    });
    let home = home_for(&node, "");
    for (args, input) in [
        (&["get", "--reveal", "openbao:secret/app#A"][..], ""),
        (
            &["set", "openbao:secret/app#B"][..],
            "value-not-to-leak-99\n",
        ),
    ] {
        let output = vault(&home, args, input);
        let said = failed(&output, 5);
        assert!(
            said.contains(&format!("a 307 to {}/v1/", elsewhere.address))
                && said.contains("refused"),
            "{said}"
        );
        assert!(!stdout(&output).contains("from-elsewhere"));
        assert!(!said.contains("value-not-to-leak-99"), "{said}");
    }
    assert!(
        elsewhere.requests().is_empty(),
        "{:?}",
        elsewhere.requests()
    );
}

#[test]
fn a_307_to_another_listed_node_is_followed_and_said_under_v() {
    let serving = FakeNode::start(|request| {
        if let Some(reply) = mount_answer(request, 2) {
            return reply;
        }
        if request.path == "/v1/sys/leader" {
            return Reply::json(404, json!({"errors": []}));
        }
        Reply::json(
            200,
            json!({"data": {"data": {"A": "from-the-listed-node"}, "metadata": {"version": 1}}}),
        )
    });
    let target = serving.address.clone();
    let standby = FakeNode::start(move |request| {
        if request.path == "/v1/sys/leader" {
            return Reply::json(404, json!({"errors": []}));
        }
        Reply::redirect(&format!("{target}{}", request.path))
    });
    let home = TestHome::initialised();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[providers.openbao]\naddress = [\"{}\", \"{}\"]\n",
            standby.address, serving.address
        ),
    )
    .unwrap();
    let output = vault(
        &home,
        &["-v", "get", "--reveal", "openbao:secret/app#A"],
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim_end(), "from-the-listed-node");
    assert!(
        stderr(&output).contains(&format!(
            "followed a 307 from {} to {}",
            standby.address, serving.address
        )),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_success_that_is_not_json_is_unavailable_not_an_empty_secret() {
    let node = FakeNode::start(|request| {
        if let Some(reply) = mount_answer(request, 1) {
            return reply;
        }
        if request.method == "GET" {
            return Reply::text(200, "<html>maintenance</html>");
        }
        Reply::json(204, json!(null))
    });
    let home = home_for(&node, "");
    let get = vault(&home, &["get", "openbao:secret/app#A"], "");
    let said = failed(&get, 5);
    assert!(
        said.contains(&node.address) && said.contains("not JSON"),
        "{said}"
    );
    // On KV v1 a write rewrites the whole secret: read as empty, it would erase the rest.
    let set = vault(&home, &["set", "openbao:secret/app#B"], "b-value\n");
    let said = failed(&set, 5);
    assert!(said.contains("not JSON"), "{said}");
    assert!(
        node.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        node.requests()
    );
}

#[test]
fn a_success_without_data_is_unavailable_not_an_empty_secret() {
    for version in [1, 2] {
        let node = FakeNode::start(move |request| {
            if let Some(reply) = mount_answer(request, version) {
                return reply;
            }
            if request.method == "GET" {
                return Reply::json(200, json!({"maintenance": true}));
            }
            Reply::json(204, json!(null))
        });
        let home = home_for(&node, "");
        let get = vault(&home, &["get", "openbao:secret/app#A"], "");
        let said = failed(&get, 5);
        assert!(said.contains("without its data"), "v{version}: {said}");
        let set = vault(&home, &["set", "openbao:secret/app#B"], "b-value\n");
        let said = failed(&set, 5);
        assert!(said.contains("without its data"), "v{version}: {said}");
        assert!(
            node.requests().iter().all(|r| r.method == "GET"),
            "v{version}: {:?}",
            node.requests()
        );
    }
}

#[test]
fn megabytes_of_error_text_are_cut() {
    let node = FakeNode::start(|_| {
        Reply::json(
            403,
            json!({"errors": [format!("denied {}", "A".repeat(5_000_000))]}),
        )
    });
    let home = home_for(&node, "");
    let output = vault(&home, &["-v", "get", "openbao:secret/app#A"], "");
    let said = failed(&output, 5);
    assert!(
        said.contains("denied AAAA"),
        "{}",
        &said[..said.len().min(2000)]
    );
    assert!(
        said.contains("bytes cut"),
        "{}",
        &said[..said.len().min(2000)]
    );
    assert!(said.len() < 8_000, "{} bytes on stderr", said.len());
}

#[test]
fn an_absurd_lease_on_a_login_does_not_crash_the_provider() {
    let node = FakeNode::start(|request| {
        if let Some(reply) = mount_answer(request, 2) {
            return reply;
        }
        if request.path.starts_with("/v1/auth/approle/login") {
            return Reply::json(
                200,
                json!({"auth": {"client_token": "login-token-xyz", "lease_duration": u64::MAX}}),
            );
        }
        Reply::json(
            200,
            json!({"data": {"data": {"A": "read-after-login"}, "metadata": {"version": 1}}}),
        )
    });
    let home = home_for(
        &node,
        "auth = \"approle\"\nrole_id = \"literal:role\"\nsecret_id = \"literal:sid\"",
    );
    let output = vault(&home, &["get", "--reveal", "openbao:secret/app#A"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim_end(), "read-after-login");
    assert!(node.requests().iter().any(|r| {
        r.path.starts_with("/v1/secret/data/app") && r.token.as_deref() == Some("login-token-xyz")
    }));
}

#[test]
fn an_address_with_a_password_is_refused_without_showing_it() {
    let node = FakeNode::start(|_| Reply::json(500, json!({"errors": ["asked"]})));
    let home = TestHome::initialised();
    let with_user = node
        .address
        .replace("http://", "http://admin:hunter2-pass@");
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!("[providers.openbao]\naddress = [\"{with_user}\"]\n"),
    )
    .unwrap();
    for args in [
        &["get", "openbao:secret/app#A"][..],
        &["-v", "get", "openbao:secret/app#A"][..],
    ] {
        let output = vault(&home, args, "");
        let said = failed(&output, 5);
        assert!(said.contains("address names a user"), "{said}");
        assert!(!said.contains("hunter2-pass"), "{said}");
    }
    assert!(node.requests().is_empty());
}

#[test]
fn list_refuses_dot_segments_and_asks_nothing() {
    let node = FakeNode::start(|_| Reply::json(500, json!({"errors": ["asked"]})));
    let home = home_for(&node, "");
    for prefix in [
        "openbao:secret/../sys/",
        "openbao:secret/./app#",
        "openbao:secret/..",
    ] {
        let output = vault(&home, &["list", prefix], "");
        let said = failed(&output, 5);
        assert!(said.contains("a . or .. path segment"), "{prefix}: {said}");
    }
    assert!(node.requests().is_empty(), "{:?}", node.requests());
}

#[test]
fn nodes_that_never_answer_are_given_up_within_failover_seconds() {
    // Listening, never accepting: a connection opens and no answer ever comes.
    let silent: Vec<std::net::TcpListener> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let addresses: Vec<String> = silent
        .iter()
        .map(|l| format!("\"http://{}\"", l.local_addr().unwrap()))
        .collect();
    let home = TestHome::initialised();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[providers.openbao]\naddress = [{}]\ntimeout_seconds = 20\nfailover_seconds = 2\n",
            addresses.join(", ")
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let output = vault(&home, &["get", "openbao:secret/app#A"], "");
    let took = started.elapsed();
    let said = failed(&output, 5);
    assert!(said.contains("no OpenBao node could serve"), "{said}");
    // Three 20 s timeouts in a row were 60 s; vault itself gives up at 30.
    assert!(took < std::time::Duration::from_secs(8), "{took:?}: {said}");
}
