//! Round trips of the everyday commands: init, set, get, list, exists, rm, mv.

mod common;

use common::{TestHome, mode, stderr, stdout};
use predicates::prelude::*;

#[test]
fn init_creates_a_private_identity_and_vault_and_prints_them() {
    let home = TestHome::new();
    let output = home.vault(&["init"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let identity = std::fs::read_to_string(home.identity_file()).unwrap();
    let public = identity
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap();
    assert!(text.contains(&format!("recipient: {public}")), "{text}");
    assert!(
        text.contains(&home.vault_file().display().to_string()),
        "{text}"
    );
    assert!(
        text.contains(&home.identity_file().display().to_string()),
        "{text}"
    );
    assert_eq!(mode(&home.identity_file()), 0o600);
    assert_eq!(mode(&home.vault_file()), 0o600);
    assert_eq!(mode(home.identity_file().parent().unwrap()), 0o700);
    assert_eq!(mode(home.vault_file().parent().unwrap()), 0o700);
    let document = home.age_decrypt();
    assert_eq!(document["recipients"][0], public);
    assert_eq!(document["secrets"], serde_json::json!({}));
}

#[test]
fn init_again_changes_nothing_and_never_overwrites_the_identity() {
    let home = TestHome::initialised();
    let identity = std::fs::read(home.identity_file()).unwrap();
    let vault = std::fs::read(home.vault_file()).unwrap();
    home.vault(&["init"])
        .assert()
        .success()
        .stderr(predicate::str::contains("already exists"));
    home.vault(&["init", "--armor"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("already exists"));
    assert_eq!(std::fs::read(home.identity_file()).unwrap(), identity);
    assert_eq!(std::fs::read(home.vault_file()).unwrap(), vault);
}

#[test]
fn init_reuses_an_existing_identity_for_a_second_vault() {
    let home = TestHome::initialised();
    let identity = std::fs::read(home.identity_file()).unwrap();
    let second = home.path().join("second.age");
    home.vault(&["--vault", second.to_str().unwrap(), "init"])
        .assert()
        .success()
        .stdout(predicate::str::contains("(existing)"));
    assert_eq!(std::fs::read(home.identity_file()).unwrap(), identity);
    common::age_decrypt(&second, &home.identity_file());
}

#[test]
fn set_then_get_round_trips_exactly() {
    let home = TestHome::initialised();
    let value = "p@ss w0rd with $pecial \"quotes\" \\ and ünïcode ✓";
    home.set("DB_PASSWORD", value);
    assert_eq!(home.reveal("DB_PASSWORD"), value);
    assert_eq!(home.age_decrypt()["secrets"]["DB_PASSWORD"]["value"], value);
}

#[test]
fn set_reads_stdin_exactly_except_one_trailing_newline() {
    let home = TestHome::initialised();
    home.vault(&["set", "MULTI", "-"])
        .write_stdin("line one\nline two\n\n")
        .assert()
        .success();
    assert_eq!(home.reveal("MULTI"), "line one\nline two\n");
    home.vault(&["set", "NO_NEWLINE"])
        .write_stdin("abc")
        .assert()
        .success();
    assert_eq!(home.reveal("NO_NEWLINE"), "abc");
}

#[test]
fn set_with_a_value_argument_warns_about_the_process_list() {
    let home = TestHome::initialised();
    home.vault(&["set", "TOKEN", "visible-value"])
        .assert()
        .success()
        .stderr(predicate::str::contains("visible in the process list"))
        .stderr(predicate::str::contains("visible-value").not());
    assert_eq!(home.reveal("TOKEN"), "visible-value");
}

#[test]
fn set_updates_keep_created_and_description() {
    let home = TestHome::initialised();
    home.vault(&["set", "API", "--description", "billing API key"])
        .write_stdin("one")
        .assert()
        .success()
        .stderr(predicate::str::contains("stored API"));
    let created = home.age_decrypt()["secrets"]["API"]["created"].clone();
    home.vault(&["set", "API"])
        .write_stdin("two")
        .assert()
        .success()
        .stderr(predicate::str::contains("updated API"));
    let entry = home.age_decrypt()["secrets"]["API"].clone();
    assert_eq!(entry["value"], "two");
    assert_eq!(entry["created"], created);
    assert_eq!(entry["description"], "billing API key");
}

#[test]
fn generate_stores_a_random_value_of_the_charset_without_printing_it() {
    let home = TestHome::initialised();
    for (charset, length, alphabet) in [
        (
            "alnum",
            "32",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        ),
        ("hex", "64", "0123456789abcdef"),
        (
            "base64url",
            "100",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
        ),
    ] {
        let name = format!("GEN_{}", charset.to_uppercase());
        let output = home
            .vault(&[
                "set",
                &name,
                "--generate",
                "--charset",
                charset,
                "--length",
                length,
            ])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let value = home.reveal(&name);
        assert_eq!(value.len(), length.parse::<usize>().unwrap());
        assert!(value.chars().all(|c| alphabet.contains(c)), "{value}");
        assert!(!stdout(&output).contains(&value) && !stderr(&output).contains(&value));
    }
    assert_ne!(home.reveal("GEN_ALNUM"), {
        home.vault(&["set", "OTHER", "-g"]).assert().success();
        home.reveal("OTHER")
    });
}

#[test]
fn get_masks_unless_revealed() {
    let home = TestHome::initialised();
    home.set("LONG", "sk-live-1234567890abcdef");
    home.set("SHORT", "hunter2");
    home.vault(&["get", "LONG"])
        .assert()
        .success()
        .stdout("sk***ef\n");
    home.vault(&["get", "SHORT"])
        .assert()
        .success()
        .stdout("********\n");
    // Not a terminal: exactly the value, no newline added.
    home.vault(&["get", "--reveal", "SHORT"])
        .assert()
        .success()
        .stdout("hunter2");
}

#[test]
fn get_json_carries_metadata_and_masks_by_default() {
    let home = TestHome::initialised();
    home.vault(&["set", "KEY", "-d", "for tests"])
        .write_stdin("sk-live-1234567890abcdef")
        .assert()
        .success();
    let masked: serde_json::Value = serde_json::from_slice(
        &home
            .vault(&["get", "--json", "KEY"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(masked["name"], "KEY");
    assert_eq!(masked["value"], "sk***ef");
    assert_eq!(masked["masked"], true);
    assert_eq!(masked["description"], "for tests");
    let revealed: serde_json::Value = serde_json::from_slice(
        &home
            .vault(&["get", "--json", "--reveal", "KEY"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert_eq!(revealed["value"], "sk-live-1234567890abcdef");
    assert_eq!(revealed["masked"], false);
}

#[test]
fn list_shows_names_and_times_never_values() {
    let home = TestHome::initialised();
    home.vault(&["list"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("no secrets yet"));
    home.set("B_SECRET", "value-of-b-1234567890");
    home.set("A_SECRET", "value-of-a-1234567890");
    let output = home.vault(&["list"]).output().unwrap();
    let text = stdout(&output);
    let names: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(names, ["A_SECRET", "B_SECRET"]);
    assert!(!text.contains("value-of"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&home.vault(&["ls", "--json"]).output().unwrap().stdout).unwrap();
    assert_eq!(json[0]["name"], "A_SECRET");
    assert!(json[0]["created"].as_str().unwrap().ends_with('Z'));
    assert!(!json.to_string().contains("value-of"));
}

#[test]
fn exists_answers_with_its_exit_code() {
    let home = TestHome::initialised();
    home.set("PRESENT", "x");
    home.vault(&["exists", "PRESENT"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");
    home.vault(&["exists", "ABSENT"])
        .assert()
        .code(3)
        .stdout("")
        .stderr("");
}

#[test]
fn get_of_a_missing_secret_exits_3_naming_it() {
    let home = TestHome::initialised();
    home.vault(&["get", "MISSING"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no secret named MISSING"));
}

#[test]
fn rm_removes_and_fails_on_missing_names_unless_forced() {
    let home = TestHome::initialised();
    home.set("ONE", "1");
    home.set("TWO", "2");
    // One missing name: nothing is removed.
    home.vault(&["rm", "ONE", "NOPE"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("NOPE"));
    home.vault(&["exists", "ONE"]).assert().code(0);
    home.vault(&["rm", "ONE", "NOPE", "--force"])
        .assert()
        .success();
    home.vault(&["exists", "ONE"]).assert().code(3);
    home.vault(&["rm", "TWO"]).assert().success();
    assert_eq!(home.age_decrypt()["secrets"], serde_json::json!({}));
}

#[test]
fn mv_renames_and_refuses_to_clobber_unless_forced() {
    let home = TestHome::initialised();
    home.set("OLD", "value-1");
    home.set("TAKEN", "value-2");
    home.vault(&["mv", "OLD", "NEW"]).assert().success();
    assert_eq!(home.reveal("NEW"), "value-1");
    home.vault(&["exists", "OLD"]).assert().code(3);
    home.vault(&["mv", "NEW", "TAKEN"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--force"));
    assert_eq!(home.reveal("TAKEN"), "value-2");
    home.vault(&["mv", "NEW", "TAKEN", "--force"])
        .assert()
        .success();
    assert_eq!(home.reveal("TAKEN"), "value-1");
    home.vault(&["mv", "MISSING", "OTHER"]).assert().code(3);
}

#[test]
fn every_change_leaves_an_encrypted_backup_naming_no_values() {
    let home = TestHome::initialised();
    home.set("FIRST", "first-value");
    home.set("FIRST", "second-value");
    let mut backups: Vec<_> = std::fs::read_dir(home.backup_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    backups.sort();
    let ages: Vec<_> = backups
        .iter()
        .filter(|p| p.extension().unwrap() == "age")
        .collect();
    assert_eq!(ages.len(), 2, "{backups:?}");
    let values: Vec<_> = ages
        .iter()
        .map(|p| common::age_decrypt(p, &home.identity_file())["secrets"]["FIRST"]["value"].clone())
        .collect();
    assert!(
        values.contains(&serde_json::Value::Null),
        "backup before the first set"
    );
    assert!(values.contains(&serde_json::json!("first-value")));
    for path in &backups {
        assert_eq!(mode(path), 0o600);
        if path.extension().unwrap() == "json" {
            let text = std::fs::read_to_string(path).unwrap();
            assert!(text.contains("\"set\"") && text.contains("FIRST"), "{text}");
            assert!(!text.contains("-value"), "{text}");
        }
    }
}

#[test]
fn backup_retention_follows_the_config() {
    let home = TestHome::initialised();
    let config = home.path().join("config/secretsd/config.toml");
    std::fs::write(&config, "[backup]\nkeep = 3\n").unwrap();
    for i in 0..6 {
        home.set("COUNTER", &i.to_string());
    }
    let count = std::fs::read_dir(home.backup_dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "age")
        .count();
    assert_eq!(count, 3);
    std::fs::write(&config, "[backup]\nkeep = \"many\"\n").unwrap();
    home.vault(&["list"])
        .assert()
        .code(6)
        .stderr(predicate::str::contains(config.display().to_string()));
}

#[test]
fn quiet_prints_only_what_was_asked_for() {
    let home = TestHome::initialised();
    home.vault(&["--quiet", "set", "A", "value-in-argv"])
        .assert()
        .success()
        .stderr("");
    home.vault(&["-q", "rm", "A"]).assert().success().stderr("");
    home.vault(&["-q", "list"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    // Errors are never silenced.
    home.vault(&["-q", "get", "A"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("no secret named A"));
}
