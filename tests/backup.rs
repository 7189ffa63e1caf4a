//! `vault backup` and `vault restore`: backups on demand, listed, restored (and a restore
//! undone), a backup that does not open refused, retention, and leftovers of killed
//! writes cleaned up.

mod common;

use std::fs;

use common::{TestHome, chmod, stderr, stdout};

fn list_json(home: &TestHome) -> Vec<serde_json::Value> {
    let output = home
        .vault(&["restore", "--list", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice::<serde_json::Value>(&output.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn backup_files(home: &TestHome) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(home.backup_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_backup_on_demand_keeps_its_note_and_is_listed_first() {
    let home = TestHome::initialised();
    home.set("API_KEY", "value-one");
    let output = home
        .vault(&["backup", "--note", "before the migration"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let id = stdout(&output).trim().to_string();
    let backups = list_json(&home);
    assert_eq!(backups[0]["id"], id.as_str());
    assert_eq!(backups[0]["operation"], "backup");
    assert_eq!(backups[0]["note"], "before the migration");
    assert_eq!(backups[1]["operation"], "set");
    assert_eq!(backups[1]["names"][0], "API_KEY");
    let text = home.vault(&["restore", "--list"]).output().unwrap();
    let text = stdout(&text);
    let first = text.lines().next().unwrap();
    assert!(
        first.starts_with(&id) && first.contains("note: before the migration"),
        "{text}"
    );
    // The backup is the vault as it was: the age CLI opens it.
    let path = backups[0]["path"].as_str().unwrap();
    let document = common::age_decrypt(path.as_ref(), &home.identity_file());
    assert_eq!(document["secrets"]["API_KEY"]["value"], "value-one");
}

#[test]
fn restore_latest_undoes_the_last_change_and_can_itself_be_undone() {
    let home = TestHome::initialised();
    home.set("A", "one");
    home.set("A", "two");
    home.set("B", "three");
    home.vault(&["restore", "--latest"]).assert().success();
    assert_eq!(home.reveal("A"), "two");
    home.vault(&["exists", "B"]).assert().code(3);
    // The restore backed up what it replaced, so restoring the newest backup undoes it.
    assert_eq!(list_json(&home)[0]["operation"], "restore");
    home.vault(&["restore", "--latest"]).assert().success();
    assert_eq!(home.reveal("B"), "three");
    assert_eq!(home.age_decrypt()["secrets"]["A"]["value"], "two");
}

/// A backup the vault already matches: restoring it says so, and only so (not also
/// "restored"), and writes nothing.
#[test]
fn restoring_a_backup_the_vault_matches_says_only_that() {
    let home = TestHome::initialised();
    home.set("A", "one");
    let output = home.vault(&["backup"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let id = stdout(&output).trim().to_string();
    let before = fs::read(home.vault_file()).unwrap();
    let backups = backup_files(&home);
    let output = home.vault(&["restore", "--backup", &id]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(said.contains("nothing to restore"), "{said}");
    assert!(!said.contains("restored"), "{said}");
    assert_eq!(fs::read(home.vault_file()).unwrap(), before);
    assert_eq!(backup_files(&home), backups);
}

#[test]
fn backups_are_chosen_by_an_unambiguous_prefix_of_their_id() {
    let home = TestHome::initialised();
    home.set("A", "one");
    home.set("A", "two");
    home.set("A", "three");
    let backups = list_json(&home);
    let oldest = backups.last().unwrap()["id"].as_str().unwrap().to_string();
    // Ids share their time; the whole id of the oldest is a prefix of the others only
    // when it has no sequence number, so ask for the exact one.
    home.vault(&["restore", "--backup", &oldest])
        .assert()
        .success();
    home.vault(&["exists", "A"]).assert().code(3);
    let output = home.vault(&["restore", "--backup", "2"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("give more of the id"));
    let output = home
        .vault(&["restore", "--backup", "19990101"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("restore --list"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_dry_run_names_what_would_change_masked_and_changes_nothing() {
    let home = TestHome::initialised();
    home.set("KEEP", "kept-value-1234567890");
    home.set("CHANGED", "old-value-abcdefghijkl");
    home.vault(&["backup"]).assert().success();
    home.set("CHANGED", "new-value-mnopqrstuvwx");
    home.set("ADDED", "added-value-0987654321");
    home.vault(&["rm", "KEEP"]).assert().success();
    let id = list_json(&home)
        .iter()
        .find(|b| b["operation"] == "backup")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = fs::read(home.vault_file()).unwrap();
    let count = backup_files(&home).len();
    let output = home
        .vault(&["restore", "--backup", &id, "--dry-run"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("change    CHANGED"), "{out}");
    assert!(out.contains("add       KEEP"), "{out}");
    assert!(out.contains("remove    ADDED"), "{out}");
    for value in [
        "kept-value-1234567890",
        "old-value-abcdefghijkl",
        "new-value-mnopqrstuvwx",
    ] {
        assert!(!out.contains(value) && !stderr(&output).contains(value));
    }
    assert_eq!(fs::read(home.vault_file()).unwrap(), before);
    assert_eq!(backup_files(&home).len(), count);
}

#[test]
fn a_backup_that_does_not_open_is_named_and_nothing_changes() {
    let home = TestHome::initialised();
    home.set("A", "one");
    home.set("A", "two");
    let victim = list_json(&home)[0].clone();
    // Replace the backup with an age file for somebody else's key.
    let other = home.path().join("other.key");
    let public = common::age_keygen(&other);
    let path = victim["path"].as_str().unwrap();
    fs::remove_file(path).unwrap();
    let status = std::process::Command::new("age")
        .args(["-r", &public, "-o", path])
        .arg(home.path().join("other.key"))
        .status()
        .unwrap();
    assert!(status.success());
    let before = fs::read(home.vault_file()).unwrap();
    let count = backup_files(&home).len();
    let output = home.vault(&["restore", "--latest"]).output().unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(victim["id"].as_str().unwrap()) && message.contains("nothing was changed"),
        "{message}"
    );
    assert_eq!(fs::read(home.vault_file()).unwrap(), before);
    assert_eq!(backup_files(&home).len(), count);
}

#[test]
fn retention_keeps_the_newest_and_a_huge_age_deletes_nothing() {
    let home = TestHome::initialised();
    let config = home.path().join("config/secretsd/config.toml");
    fs::write(
        &config,
        "[backup]\nkeep = 3\nmax_age_days = 144115188075855872\n",
    )
    .unwrap();
    for i in 0..6 {
        home.set("A", &format!("value-{i}"));
    }
    let backups = list_json(&home);
    assert_eq!(backups.len(), 3, "{backups:?}");
    // Every kept backup is whole: data and record, nothing else.
    assert_eq!(backup_files(&home).len(), 6, "{:?}", backup_files(&home));
    let newest = common::age_decrypt(
        backups[0]["path"].as_str().unwrap().as_ref(),
        &home.identity_file(),
    );
    assert_eq!(newest["secrets"]["A"]["value"], "value-4");
    // keep = 0 still keeps the newest.
    fs::write(&config, "[backup]\nkeep = 0\n").unwrap();
    home.set("A", "value-6");
    assert_eq!(list_json(&home).len(), 1);
}

#[test]
fn the_next_write_removes_what_killed_writers_left_in_backups() {
    let home = TestHome::initialised();
    home.set("A", "one");
    let dir = home.backup_dir();
    let leftovers = [
        ".vault-20200101T000000Z.age.Xyz12.tmp",
        "vault-20200101T000000Z.age",
        "vault-20200101T000001Z.files.age",
    ];
    for name in leftovers {
        fs::write(dir.join(name), "leftover").unwrap();
        chmod(&dir.join(name), 0o600);
    }
    // Data without its record is not a backup.
    assert_eq!(list_json(&home).len(), 1);
    home.set("A", "two");
    let names = backup_files(&home);
    for name in leftovers {
        assert!(!names.contains(&name.to_string()), "{names:?}");
    }
    assert_eq!(list_json(&home).len(), 2);
}

#[test]
fn restore_needs_a_backup_to_exist() {
    let home = TestHome::initialised();
    let output = home.vault(&["restore", "--latest"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(
        stderr(&output).contains("no backups"),
        "{}",
        stderr(&output)
    );
    home.vault(&["restore"]).assert().code(2);
}

#[test]
fn a_truncated_backup_is_named_and_nothing_changes() {
    let home = TestHome::initialised();
    home.set("A", "one");
    home.set("A", "two");
    let newest = list_json(&home)[0].clone();
    let path = newest["path"].as_str().unwrap();
    let bytes = fs::read(path).unwrap();
    fs::write(path, &bytes[..bytes.len() - 20]).unwrap();
    let before = fs::read(home.vault_file()).unwrap();
    let output = home.vault(&["restore", "--latest"]).output().unwrap();
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(newest["id"].as_str().unwrap()),
        "{}",
        stderr(&output)
    );
    assert_eq!(fs::read(home.vault_file()).unwrap(), before);
}

/// A change starts writing its backup before it knows whether it will happen; one that
/// fails, or changes nothing, leaves no backup and no file behind, and a change made with
/// backups disabled makes none.
#[test]
fn a_change_that_does_not_happen_leaves_no_backup() {
    let home = TestHome::initialised();
    home.set("A", "a-value");
    home.set("B", "b-value");
    let before = backup_files(&home);
    let vault_dir_before = fs::read_dir(home.vault_file().parent().unwrap())
        .unwrap()
        .count();
    home.vault(&["rm", "NO_SUCH_SECRET"]).assert().code(3);
    home.vault(&["mv", "A", "B"]).assert().failure();
    home.vault(&["import", "--dotenv", "-"])
        .write_stdin("A=a-value\n")
        .assert()
        .success();
    assert_eq!(
        backup_files(&home),
        before,
        "no backup of changes that did not happen"
    );
    assert_eq!(
        fs::read_dir(home.vault_file().parent().unwrap())
            .unwrap()
            .count(),
        vault_dir_before,
        "nothing new beside the vault"
    );
    let config = home.path().join("config.toml");
    fs::write(&config, "[backup]\nenabled = false\n").unwrap();
    home.vault(&["--config", config.to_str().unwrap(), "set", "C"])
        .write_stdin("c-value")
        .assert()
        .success();
    assert_eq!(backup_files(&home), before, "backups disabled");
    home.vault(&["set", "C"])
        .write_stdin("c-value-2")
        .assert()
        .success();
    assert_eq!(
        backup_files(&home).len(),
        before.len() + 2,
        "data and record"
    );
}

#[test]
fn a_backup_holds_the_vault_byte_for_byte_as_it_was_before_the_change() {
    let home = TestHome::initialised();
    // Over a few age chunks, so the copy is more than one read's worth.
    let big = "v".repeat(200_000);
    home.set("BIG", &big);
    let before = fs::read(home.vault_file()).unwrap();
    home.set("A", "a-value");
    let backups: Vec<String> = backup_files(&home)
        .into_iter()
        .filter(|name| name.ends_with(".age"))
        .collect();
    assert!(
        backups
            .iter()
            .any(|name| fs::read(home.backup_dir().join(name)).unwrap() == before),
        "no backup holds the vault as it was: {backups:?}"
    );
    assert!(fs::read(home.vault_file()).unwrap() != before);
}
