//! Bad input and hostile conditions: each gets a clear error with the documented exit code
//! (docs/DESIGN.md), never shows a secret value, and changes nothing on disk.

mod common;

use common::{TestHome, chmod, stderr};
use predicates::prelude::*;

const SECRET: &str = "correct-horse-battery-staple-4242";

/// A vault holding SECRET, and its bytes before the test does anything.
fn vault_with_secret() -> (TestHome, Vec<u8>) {
    let home = TestHome::initialised();
    home.set("KEPT", SECRET);
    let bytes = std::fs::read(home.vault_file()).unwrap();
    (home, bytes)
}

fn assert_unchanged(home: &TestHome, before: &[u8]) {
    assert_eq!(
        std::fs::read(home.vault_file()).unwrap(),
        before,
        "the vault changed"
    );
}

#[test]
fn a_wrong_identity_is_locked_out_and_changes_nothing() {
    let (home, before) = vault_with_secret();
    let other = TestHome::initialised();
    let output = home
        .vault(&[
            "--identity",
            other.identity_file().to_str().unwrap(),
            "set",
            "NEW",
        ])
        .write_stdin("x")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--identity"),
        "{}",
        stderr(&output)
    );
    assert_unchanged(&home, &before);
    home.vault(&["get", "KEPT"])
        .env("VAULT_IDENTITY", other.identity_file())
        .assert()
        .code(4)
        .stderr(predicate::str::contains(SECRET).not());
}

#[test]
fn a_missing_identity_names_the_ways_to_provide_one() {
    let (home, before) = vault_with_secret();
    std::fs::remove_file(home.identity_file()).unwrap();
    home.vault(&["get", "KEPT"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("--identity FILE"))
        .stderr(predicate::str::contains("VAULT_IDENTITY"))
        .stderr(predicate::str::contains("vault init"));
    assert_unchanged(&home, &before);
}

#[test]
fn a_missing_vault_says_how_to_create_one() {
    let home = TestHome::new();
    home.vault(&["list"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("vault init"));
}

#[test]
fn a_truncated_vault_is_bad_data_and_nothing_is_written() {
    let (home, before) = vault_with_secret();
    let truncated = &before[..before.len() - 20];
    std::fs::write(home.vault_file(), truncated).unwrap();
    for args in [&["get", "KEPT"][..], &["list"][..]] {
        home.vault(args)
            .assert()
            .code(6)
            .stderr(predicate::str::contains("corrupt"))
            .stderr(predicate::str::contains(SECRET).not());
    }
    home.vault(&["set", "OTHER"])
        .write_stdin("v")
        .assert()
        .code(6);
    assert_eq!(std::fs::read(home.vault_file()).unwrap(), truncated);
}

#[test]
fn a_bit_flip_anywhere_in_the_payload_or_header_mac_is_bad_data() {
    let (home, before) = vault_with_secret();
    let header_end = before.windows(4).position(|w| w == b"--- ").unwrap();
    // A flip in the header MAC, in the payload nonce, and in the encrypted payload.
    for position in [
        header_end + 10,
        header_end + 50,
        before.len() - 30,
        before.len() - 1,
    ] {
        let mut flipped = before.clone();
        flipped[position] ^= 0x01;
        std::fs::write(home.vault_file(), &flipped).unwrap();
        home.vault(&["set", "OTHER"])
            .write_stdin("v")
            .assert()
            .code(6)
            .stderr(predicate::str::contains(
                home.vault_file().display().to_string(),
            ));
        assert_eq!(std::fs::read(home.vault_file()).unwrap(), flipped);
    }
}

#[test]
fn a_file_that_is_not_age_is_bad_data() {
    let home = TestHome::initialised();
    std::fs::write(home.vault_file(), "API_KEY=plaintext\n").unwrap();
    home.vault(&["list"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("not a valid age file"));
}

#[test]
fn invalid_names_are_bad_data() {
    let (home, before) = vault_with_secret();
    for name in ["1ABC", "A-B", "", "A B", "WITH.DOT"] {
        home.vault(&["set", name])
            .write_stdin("value")
            .assert()
            .code(6)
            .stderr(predicate::str::contains("invalid secret name"));
        home.vault(&["get", name]).assert().code(6);
    }
    assert_unchanged(&home, &before);
}

#[test]
fn a_value_with_nul_is_bad_data_and_not_echoed() {
    let (home, before) = vault_with_secret();
    home.vault(&["set", "NUL"])
        .write_stdin("before\0after-secret-part")
        .assert()
        .code(6)
        .stderr(predicate::str::contains("NUL"))
        .stderr(predicate::str::contains("after-secret-part").not());
    assert_unchanged(&home, &before);
}

#[test]
fn a_value_that_is_not_utf8_is_bad_data() {
    let (home, before) = vault_with_secret();
    home.vault(&["set", "BINARY"])
        .write_stdin(vec![0xff, 0xfe, 0x41])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("UTF-8"));
    assert_unchanged(&home, &before);
}

#[test]
fn a_one_mib_value_round_trips() {
    let home = TestHome::initialised();
    let value: String = (0..1024 * 1024)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    home.vault(&["set", "BIG"])
        .write_stdin(value.clone())
        .assert()
        .success();
    assert_eq!(home.reveal("BIG"), value);
}

#[test]
fn a_value_over_the_limit_is_refused() {
    let (home, before) = vault_with_secret();
    let value = vec![b'x'; 16 * 1024 * 1024 + 10];
    home.vault(&["set", "HUGE"])
        .write_stdin(value)
        .assert()
        .code(6)
        .stderr(predicate::str::contains("limited to 16 MiB"));
    assert_unchanged(&home, &before);
}

#[test]
fn no_terminal_and_no_value_names_stdin_and_generate() {
    let (home, before) = vault_with_secret();
    // The command line is right (exit 2 would say it is not): the data on stdin is no
    // value, which is bad input (exit 6).
    for empty in ["", "\n"] {
        home.vault(&["set", "EMPTY"])
            .write_stdin(empty)
            .assert()
            .code(6)
            .stderr(predicate::str::contains("stdin"))
            .stderr(predicate::str::contains("--generate"));
    }
    assert_unchanged(&home, &before);
}

#[test]
fn group_readable_vault_or_identity_is_refused_with_the_fix() {
    let (home, before) = vault_with_secret();
    chmod(&home.vault_file(), 0o644);
    home.vault(&["get", "KEPT"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(format!(
            "chmod 600 {}",
            home.vault_file().display()
        )));
    chmod(&home.vault_file(), 0o600);
    chmod(&home.identity_file(), 0o640);
    home.vault(&["set", "X"])
        .write_stdin("v")
        .assert()
        .code(4)
        .stderr(predicate::str::contains(format!(
            "chmod 600 {}",
            home.identity_file().display()
        )));
    assert_unchanged(&home, &before);
    chmod(&home.identity_file(), 0o600);
    assert_eq!(home.reveal("KEPT"), SECRET);
}

#[test]
fn a_newer_vault_format_is_refused() {
    let home = TestHome::initialised();
    let mut document = home.age_decrypt();
    document["version"] = serde_json::json!(3);
    home.age_encrypt(&document);
    home.vault(&["list"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains("version 3"))
        .stderr(predicate::str::contains("upgrade vault"));
}

#[test]
fn secret_values_never_appear_in_errors_or_verbose_output() {
    let (home, _) = vault_with_secret();
    let mut stderr_text = String::new();
    let outputs = [
        home.vault(&["-v", "get", "KEPT"]).output().unwrap(),
        home.vault(&["-v", "list"]).output().unwrap(),
        home.vault(&["-v", "set", "KEPT"])
            .write_stdin(SECRET)
            .output()
            .unwrap(),
        home.vault(&["-v", "mv", "KEPT", "1BAD"]).output().unwrap(),
        home.vault(&["-v", "set", "BAD-NAME"])
            .write_stdin(SECRET)
            .output()
            .unwrap(),
        home.vault(&["-v", "set", "NUL"])
            .write_stdin(format!("{SECRET}\0"))
            .output()
            .unwrap(),
    ];
    for output in &outputs {
        stderr_text.push_str(&stderr(output));
    }
    assert!(!stderr_text.is_empty());
    assert!(!stderr_text.contains(SECRET), "{stderr_text}");
    assert!(!stderr_text.contains("horse"), "{stderr_text}");
}

#[test]
fn no_input_with_a_passphrase_vault_names_the_passphrase_file() {
    let home = TestHome::new();
    let passphrase = home.path().join("passphrase");
    std::fs::write(&passphrase, "a long passphrase\n").unwrap();
    chmod(&passphrase, 0o600);
    home.vault(&["init", "--passphrase"])
        .env("VAULT_PASSPHRASE_FILE", &passphrase)
        .assert()
        .success();
    home.vault(&["--no-input", "list"])
        .assert()
        .code(4)
        .stderr(predicate::str::contains("VAULT_PASSPHRASE_FILE"));
}

#[test]
fn usage_errors_exit_2() {
    let home = TestHome::initialised();
    home.vault(&["set"]).assert().code(2);
    home.vault(&["frobnicate"]).assert().code(2);
    home.vault(&["set", "X", "--length", "8"]).assert().code(2);
}

/// Names are bounded where they come in (255 bytes, exit 6 beyond: bad input), and a
/// longer one that arrives anyway — a vault written by another tool — is listed without a
/// panic (a table column's width has a limit in Rust's formatting).
#[test]
fn a_name_is_bounded_and_a_long_one_never_panics() {
    let (home, before) = vault_with_secret();
    let long = "A".repeat(256);
    home.vault(&["set", &long])
        .write_stdin("x")
        .assert()
        .code(6)
        .stderr(predicate::str::contains("at most 255 bytes"));
    home.vault(&["import", "--dotenv", "-"])
        .write_stdin(format!("{long}=x\n"))
        .assert()
        .code(6);
    home.vault(&["import", "--json", "-"])
        .write_stdin(format!("{{\"{long}\": \"x\"}}"))
        .assert()
        .code(6);
    assert_unchanged(&home, &before);
    home.set(&"B".repeat(255), "x");

    let huge = "N".repeat(65_536);
    let recipient = home.public_key();
    home.age_encrypt_text(&format!(
        r#"{{"format":"secretsd-vault","version":1,"recipients":["{recipient}"],"secrets":{{"{huge}":{{"value":"x"}},"SHORT":{{"value":"y"}}}}}}"#
    ));
    home.forget_trust();
    let output = home.vault(&["list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let listed = common::stdout(&output);
    assert!(
        listed.contains(&huge) && listed.contains("SHORT"),
        "{}",
        &listed[..200]
    );
    home.vault(&["list", "--json"]).assert().success();
}
