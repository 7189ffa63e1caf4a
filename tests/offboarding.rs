//! `vault recipients remove KEY --rotate`: the key loses access, what a policy generates is
//! rotated, the rest is named; without a usable policy nothing changes at all.

mod common;

use common::{TestHome, age_keygen, stderr, stdout};

#[test]
fn removing_with_rotate_rotates_and_names_the_rest() {
    let home = TestHome::initialised();
    let carol = home.path().join("carol.key");
    let carol_public = age_keygen(&carol);
    home.vault(&["recipients", "add", &carol_public])
        .assert()
        .success();
    home.set("SESSION_SECRET", "seen-by-carol");
    home.set("API_TOKEN", "external-token");
    let policy = home.path().join("policy.toml");
    // Without a policy to read: refused, and Carol is still a recipient.
    let output = home
        .vault(&[
            "recipients",
            "remove",
            &carol_public,
            "--rotate",
            "--policy",
            "missing.toml",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        home.vault(&["recipients", "list"])
            .output()
            .map(|o| stdout(&o))
            .unwrap()
            .contains(&carol_public)
    );
    std::fs::write(&policy, "[secrets.SESSION_SECRET]\ntype = \"random\"\n").unwrap();
    let output = home
        .vault(&[
            "recipients",
            "remove",
            &carol_public,
            "--rotate",
            "--policy",
            policy.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).ends_with("API_TOKEN\n"),
        "{}",
        stdout(&output)
    );
    assert!(
        stderr(&output).contains("may still hold them: API_TOKEN"),
        "{}",
        stderr(&output)
    );
    assert_ne!(home.reveal("SESSION_SECRET"), "seen-by-carol");
    assert_eq!(home.reveal("API_TOKEN"), "external-token");
    home.vault(&["get", "SESSION_SECRET"])
        .env("VAULT_IDENTITY", &carol)
        .assert()
        .code(4);
}
