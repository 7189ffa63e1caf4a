//! The vault is a standard age file: the real `age` CLI opens it, other key types and
//! armor work, unknown fields survive, and identities are found where docs/DESIGN.md says.

mod common;

use std::process::Command;

use common::{TestHome, chmod, stderr, stdout};
use predicates::prelude::*;

#[test]
fn unknown_fields_survive_a_rewrite() {
    let home = TestHome::initialised();
    home.set("A", "a-value");
    let mut document = home.age_decrypt();
    document["written_by"] = serde_json::json!({"tool": "vault 9.0", "flags": [1, 2]});
    document["secrets"]["A"]["rotation"] = serde_json::json!({"every": "30d"});
    home.age_encrypt(&document);
    // Written by something other than vault: accepted deliberately (see tests/trust.rs),
    // which writes it forward, signed by its owner, who vouches for content nobody signed.
    home.vault(&["verify", "--accept"]).assert().code(4);
    home.vault(&["verify", "--accept-content"])
        .assert()
        .success();
    home.set("B", "b-value");
    home.set("A", "a-value-2");
    let after = home.age_decrypt();
    assert_eq!(after["written_by"]["flags"][1], 2);
    assert_eq!(after["secrets"]["A"]["rotation"]["every"], "30d");
    assert_eq!(after["secrets"]["A"]["value"], "a-value-2");
    assert_eq!(after["secrets"]["B"]["value"], "b-value");
}

#[test]
fn an_armored_vault_stays_armored_and_age_reads_it() {
    let home = TestHome::new();
    home.vault(&["init", "--armor"]).assert().success();
    home.set("K", "v1");
    let text = std::fs::read_to_string(home.vault_file()).unwrap();
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    assert_eq!(home.age_decrypt()["secrets"]["K"]["value"], "v1");
}

#[test]
fn a_passphrase_vault_opens_with_the_passphrase_file_only() {
    let home = TestHome::new();
    let passphrase = home.path().join("pass");
    std::fs::write(&passphrase, "correct passphrase\n").unwrap();
    chmod(&passphrase, 0o600);
    let with_pass = |args: &[&str]| {
        let mut command = home.vault(args);
        command.env("VAULT_PASSPHRASE_FILE", &passphrase);
        command
    };
    with_pass(&["init", "--passphrase"])
        .assert()
        .success()
        .stdout(predicate::str::contains("passphrase"));
    assert!(
        !home.identity_file().exists(),
        "a passphrase vault needs no identity"
    );
    with_pass(&["set", "K"]).write_stdin("v").assert().success();
    with_pass(&["get", "--reveal", "K"])
        .assert()
        .success()
        .stdout("v");
    with_pass(&["recipients", "list"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("passphrase"));
    let header = std::fs::read(home.vault_file()).unwrap();
    assert!(
        header.windows(8).any(|w| w == b"-> scryp"),
        "not an scrypt age file"
    );
    std::fs::write(&passphrase, "wrong passphrase\n").unwrap();
    with_pass(&["get", "K"]).assert().code(4);
}

#[test]
fn ssh_keys_work_as_recipient_and_identity() {
    let home = TestHome::initialised();
    let key = home.path().join("id_ed25519");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    home.set("SHARED", "team-value");
    home.vault(&["recipients", "add", public.trim()])
        .assert()
        .success();
    home.vault(&[
        "--identity",
        key.to_str().unwrap(),
        "get",
        "--reveal",
        "SHARED",
    ])
    .assert()
    .success()
    .stdout("team-value");
    assert_eq!(
        common::age_decrypt(&home.vault_file(), &key)["secrets"]["SHARED"]["value"],
        "team-value"
    );
    // Removing by key without its comment finds it.
    let without_comment: Vec<&str> = public.split_whitespace().take(2).collect();
    home.vault(&["recipients", "remove", &without_comment.join(" ")])
        .assert()
        .success();
    home.vault(&["--identity", key.to_str().unwrap(), "get", "SHARED"])
        .assert()
        .code(4);
}

#[test]
fn recipients_add_and_remove_reencrypt_for_a_team() {
    let alice = TestHome::initialised();
    let bob = TestHome::initialised();
    let bob_key = bob.public_key();
    let bob_line = bob.line();
    alice.set("TEAM", "team-secret");
    let as_bob = |args: &[&str]| {
        let mut command = alice.vault(args);
        command.env("VAULT_IDENTITY", bob.identity_file());
        command
    };
    as_bob(&["get", "TEAM"]).assert().code(4);
    alice
        .vault(&["recipients", "add", &bob_line])
        .assert()
        .success();
    alice
        .vault(&["recipients", "add", &bob_line])
        .assert()
        .success()
        .stderr(predicate::str::contains("already"));
    alice
        .vault(&["recipients", "list"])
        .assert()
        .success()
        .stdout(format!("{}\n{bob_key}\n", alice.public_key()));
    as_bob(&["get", "--reveal", "TEAM"])
        .assert()
        .success()
        .stdout("team-secret");
    // Bob, a member, can write too, and the vault stays encrypted to both.
    as_bob(&["set", "FROM_BOB"])
        .write_stdin("b")
        .assert()
        .success();
    assert_eq!(alice.reveal("FROM_BOB"), "b");
    alice
        .vault(&["recipients", "remove", &bob_key])
        .assert()
        .success()
        .stderr(predicate::str::contains("rotate"));
    as_bob(&["get", "TEAM"]).assert().code(4);
}

#[test]
fn recipients_guard_against_locking_everyone_out() {
    let home = TestHome::initialised();
    let other = TestHome::initialised();
    let own = home.public_key();
    // The owner stays: removing them would leave nobody to change the membership.
    home.vault(&["recipients", "remove", &own])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is an owner"));
    home.vault(&["recipients", "add", &other.line()])
        .assert()
        .success();
    let before = std::fs::read(home.vault_file()).unwrap();
    home.vault(&["owners", "remove", &home.writer()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("last owner"));
    assert_eq!(std::fs::read(home.vault_file()).unwrap(), before);
    home.vault(&["recipients", "remove", "age1notarecipient"])
        .assert()
        .code(3);
    home.vault(&["recipients", "add", "not-a-key"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("age1"));
    home.vault(&["recipients", "remove", &other.name()])
        .assert()
        .success();
    assert_eq!(
        stdout_of(&home, &["recipients", "list"]),
        format!("{own}\n")
    );
}

#[test]
fn init_with_recipients_encrypts_to_them_too() {
    let alice = TestHome::new();
    let bob = TestHome::initialised();
    alice
        .vault(&["init", "--recipient", &bob.public_key()])
        .assert()
        .success();
    alice.set("X", "for-both");
    assert_eq!(
        common::age_decrypt(&alice.vault_file(), &bob.identity_file())["secrets"]["X"]["value"],
        "for-both"
    );
    let fresh = TestHome::new();
    fresh
        .vault(&["init", "--recipient", "age1bogus"])
        .assert()
        .code(6);
    assert!(!fresh.vault_file().exists() && !fresh.identity_file().exists());
}

#[test]
fn the_identity_is_found_in_the_documented_order() {
    let home = TestHome::initialised();
    home.set("K", "found");
    let other = TestHome::initialised();
    let credentials = home.path().join("credentials");
    std::fs::create_dir(&credentials).unwrap();
    let moved = credentials.join("vault-identity");
    std::fs::rename(home.identity_file(), &moved).unwrap();
    // systemd LoadCredential=: $CREDENTIALS_DIRECTORY/vault-identity.
    home.vault(&["-v", "get", "--reveal", "K"])
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .assert()
        .success()
        .stdout("found")
        .stderr(predicate::str::contains("CREDENTIALS_DIRECTORY"));
    // VAULT_IDENTITY wins over the credentials directory, --identity over both.
    home.vault(&["get", "K"])
        .env("CREDENTIALS_DIRECTORY", &credentials)
        .env("VAULT_IDENTITY", other.identity_file())
        .assert()
        .code(4);
    home.vault(&[
        "--identity",
        moved.to_str().unwrap(),
        "get",
        "--reveal",
        "K",
    ])
    .env("VAULT_IDENTITY", other.identity_file())
    .assert()
    .success()
    .stdout("found");
}

#[test]
fn vault_file_comes_from_flag_then_environment() {
    let home = TestHome::initialised();
    let elsewhere = home.path().join("team/vault.age");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    home.vault(&["init"])
        .env("VAULT_FILE", &elsewhere)
        .assert()
        .success();
    home.vault(&["set", "ONLY_THERE"])
        .env("VAULT_FILE", &elsewhere)
        .write_stdin("v")
        .assert()
        .success();
    home.vault(&["exists", "ONLY_THERE"]).assert().code(3);
    let output = home
        .vault(&[
            "--vault",
            elsewhere.to_str().unwrap(),
            "exists",
            "ONLY_THERE",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

/// A document as another tool might write it: escaped names and values, unknown fields
/// with nested objects that look like secrets, a repeated name. `get` and `exec` decode
/// only what they need and `list` only the names; every reader must agree with the full
/// parse that writes use.
#[test]
fn every_reader_agrees_on_a_document_written_by_hand() {
    let home = TestHome::initialised();
    let recipient = home.public_key();
    let membership = home.membership();
    home.age_encrypt_text(&home.sign(&format!(
        r#"{{"format":"secretsd-vault","version":2,"membership":{membership},"generation":9,"recipients":["{recipient}"],
  "decoy":{{"secrets":{{"FAKE":{{"value":"not-a-secret"}}}}}},
  "secrets":{{
    "PLAIN":{{"value":"plain-value","created":"c","updated":"u","labels":{{"PLAIN":{{"value":"nested"}}}}}},
    "ESC\u0041PED":{{"value":"line1\nline2 \"q\" \\ \u00e9 /","created":"c"}},
    "TWICE":{{"value":"first"}},
    "TWICE":{{"value":"second","extra":[1,{{"value":"x"}}]}}
  }},
  "trailer":[null,true,1.5e3]}}
"#
    )));
    let reveal = |name: &str| stdout_of(&home, &["get", "--reveal", name]);
    assert_eq!(reveal("PLAIN"), "plain-value");
    assert_eq!(reveal("ESCAPED"), "line1\nline2 \"q\" \\ \u{e9} /");
    assert_eq!(reveal("TWICE"), "second");
    home.vault(&["get", "--reveal", "FAKE"]).assert().code(3);
    let listed = stdout_of(&home, &["list"]);
    let names: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, ["ESCAPED", "PLAIN", "TWICE"]);
    let environment = stdout_of(
        &home,
        &["exec", "--clean-env", "--no-path", "--", "/usr/bin/env"],
    );
    assert_eq!(
        environment,
        "ESCAPED=line1\nline2 \"q\" \\ \u{e9} /\nPLAIN=plain-value\nTWICE=second\n"
    );
    let exported = stdout_of(&home, &["export", "--format", "json"]);
    let exported: serde_json::Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(exported["ESCAPED"], "line1\nline2 \"q\" \\ \u{e9} /");
    assert_eq!(exported["TWICE"], "second");
    assert_eq!(exported.as_object().unwrap().len(), 3);
}

/// A document written by hand (and signed by a member) out of order, or with a name
/// twice, reads the same every time, as the full parse reads it.
#[test]
fn a_document_out_of_order_reads_the_same_every_time() {
    let home = TestHome::initialised();
    let recipient = home.public_key();
    let membership = home.membership();
    home.age_encrypt_text(&home.sign(&format!(
        r#"{{"format":"secretsd-vault","version":2,"membership":{membership},"generation":9,"recipients":["{recipient}"],"secrets":{{
    "B":{{"value":"b"}},"A":{{"value":"a"}},"C":{{"value":"first"}},"C":{{"value":"second"}}}}}}"#
    )));
    for round in 0..3 {
        for (name, value) in [("A", "a"), ("C", "second"), ("B", "b")] {
            let output = home.vault(&["get", "--reveal", name]).output().unwrap();
            assert!(
                output.status.success(),
                "round {round}: {name}: {}",
                stderr(&output)
            );
            assert_eq!(stderr(&output), "", "round {round}: {name}");
            assert_eq!(stdout(&output), value, "round {round}");
        }
    }
}

/// What follows the document, or a broken value anywhere in it, is an error for every
/// reader — also for those that skip over the secrets they were not asked for.
#[test]
fn a_broken_document_fails_readers_that_skip_as_well() {
    let home = TestHome::initialised();
    let recipient = home.public_key();
    let head = format!(
        r#"{{"format":"secretsd-vault","version":1,"recipients":["{recipient}"],"secrets":{{"A":{{"value":"a"}}"#
    );
    for (broken, what) in [
        (format!("{head}}}}} trailing"), "trailing characters"),
        (
            format!(r#"{head},"B":{{"value":"b\q"}}}}}}"#),
            "invalid escape",
        ),
        (
            format!(r#"{head},"B":{{"value":"b",}}}}}}"#),
            "trailing comma",
        ),
        (
            format!("{head},\"B\":{{\"value\":\"b\u{1}\"}}}}}}"),
            "control character",
        ),
    ] {
        home.age_encrypt_text(&broken);
        for args in [
            &["get", "--reveal", "A"][..],
            &["list"],
            &["exec", "--", "true"],
            &["exec", "--only", "A", "--", "true"],
        ] {
            let output = home.vault(args).output().unwrap();
            assert_eq!(
                output.status.code(),
                Some(if args[0] == "exec" { 125 } else { 6 }),
                "{what}: {args:?}"
            );
            assert!(
                stderr(&output).contains("not a valid vault document"),
                "{what}: {args:?}: {}",
                stderr(&output)
            );
        }
    }
}

fn stdout_of(home: &TestHome, args: &[&str]) -> String {
    let output = home.vault(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    String::from_utf8(output.stdout).unwrap()
}

/// A writer key file that is there but unusable (readable by others) is named, never taken
/// for none and never replaced.
#[test]
fn an_unusable_writer_key_is_named() {
    let home = TestHome::new();
    let key = home.path().join("id_ed25519");
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let ssh = |args: &[&str]| {
        let mut all = vec!["--identity", key.to_str().unwrap()];
        all.extend_from_slice(args);
        home.vault(&all).output().unwrap()
    };
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let public = public.trim();
    let output = ssh(&[
        "identity",
        "public",
        "--name",
        "alice",
        "--recipient",
        public,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let writer_key = home.path().join("config/secretsd/writer.key");
    let before = std::fs::read(&writer_key).unwrap();
    chmod(&writer_key, 0o644);
    let output = ssh(&[
        "identity",
        "public",
        "--name",
        "alice",
        "--recipient",
        public,
    ]);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("writer.key"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("exists"), "{}", stderr(&output));
    assert_eq!(std::fs::read(&writer_key).unwrap(), before);
}
