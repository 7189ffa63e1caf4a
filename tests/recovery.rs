//! Recovery phrases: the 24 words of an X25519 identity, shown only when asked for, and an
//! identity rebuilt from them that opens the vault.

mod common;

use common::{TestHome, mode, stderr, stdout};

#[test]
fn an_identity_recovered_from_its_phrase_opens_the_vault() {
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "recover-me");
    // Not on a terminal and without --yes: refused, and the way to do it named.
    let output = home.vault(&["identity", "export-phrase"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--yes"), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    let output = home
        .vault(&["identity", "export-phrase", "--yes"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let phrase = stdout(&output);
    assert_eq!(phrase.split_whitespace().count(), 24, "{phrase}");
    // The identity is lost; the words bring it back.
    let public = home.public_key();
    std::fs::remove_file(home.identity_file()).unwrap();
    home.vault(&["get", "DB_PASSWORD"]).assert().code(4);
    let output = home
        .vault(&["identity", "recover"])
        .write_stdin(format!("  {}  \n", phrase.trim().to_uppercase()))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&public), "{}", stdout(&output));
    assert_eq!(mode(&home.identity_file()), 0o600);
    assert_eq!(home.reveal("DB_PASSWORD"), "recover-me");
    // The age CLI takes the rebuilt file as it took the original.
    let plain = common::age_decrypt(&home.vault_file(), &home.identity_file());
    assert_eq!(plain["secrets"]["DB_PASSWORD"]["value"], "recover-me");
}

#[test]
fn a_wrong_phrase_is_refused_without_repeating_it() {
    let home = TestHome::initialised();
    let phrase = stdout(
        &home
            .vault(&["identity", "export-phrase", "--yes"])
            .output()
            .unwrap(),
    );
    let original: Vec<&str> = phrase.split_whitespace().collect();
    // Two words swapped, as a person copying the phrase might. The 8-bit checksum lets one
    // swap in 256 through (and swapping equal words changes nothing), so take the first
    // swap that the BIP39 checksum does catch.
    let words = (1..original.len())
        .map(|other| {
            let mut words = original.clone();
            words.swap(0, other);
            words
        })
        .find(|words| bip39::Mnemonic::parse_in(bip39::Language::English, words.join(" ")).is_err())
        .expect("some swap breaks the checksum");
    let output = home
        .vault(&["identity", "recover", "--output", "other.txt"])
        .write_stdin(words.join(" "))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    assert!(stderr(&output).contains("not valid"), "{}", stderr(&output));
    assert!(!stderr(&output).contains(words[2]), "{}", stderr(&output));
    assert!(!home.path().join("other.txt").exists());
    // Never over an existing identity.
    let output = home
        .vault(&["identity", "recover"])
        .write_stdin(phrase)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
}
