//! Where the key comes from when there is no identity file: the identity itself in
//! VAULT_IDENTITY_KEY (CI), a command that prints it (a password manager,
//! `systemd-creds decrypt`), a command that prints a vault's passphrase — and which source
//! wins when several are set.

mod common;

use std::fs;

use common::{TestHome, stderr, stdout};

/// A home whose identity file has been moved away, with its text returned.
fn without_identity_file() -> (TestHome, String) {
    let home = TestHome::initialised();
    home.set("API_KEY", "from-the-vault");
    let key = fs::read_to_string(home.identity_file()).unwrap();
    fs::rename(home.identity_file(), home.path().join("moved.txt")).unwrap();
    home.vault(&["get", "API_KEY"]).assert().code(4);
    (home, key)
}

#[test]
fn the_identity_itself_in_the_environment_opens_the_vault_and_is_passed_on_to_nobody() {
    let (home, key) = without_identity_file();
    let output = home
        .vault(&["get", "--reveal", "API_KEY"])
        .env("VAULT_IDENTITY_KEY", &key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "from-the-vault");
    // The command vault starts does not inherit it.
    let output = home
        .vault(&[
            "exec",
            "--",
            "sh",
            "-c",
            "printf %s \"${VAULT_IDENTITY_KEY-unset}\"",
        ])
        .env("VAULT_IDENTITY_KEY", &key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "unset");
    // status says which source won.
    let output = home
        .vault(&["status", "--json"])
        .env("VAULT_IDENTITY_KEY", &key)
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(status["identity"]["source"], "$VAULT_IDENTITY_KEY");
    // A key that is not one is refused without being quoted.
    let output = home
        .vault(&["get", "API_KEY"])
        .env("VAULT_IDENTITY_KEY", "AGE-SECRET-KEY-1NOTAREALKEYATALL")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(
        stderr(&output).contains("VAULT_IDENTITY_KEY"),
        "{}",
        stderr(&output)
    );
    assert!(
        !stderr(&output).contains("NOTAREALKEY"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_command_can_print_the_identity() {
    let (home, _key) = without_identity_file();
    let moved = home.path().join("moved.txt");
    let output = home
        .vault(&["get", "--reveal", "API_KEY"])
        .env(
            "VAULT_IDENTITY_COMMAND",
            format!("cat '{}'", moved.display()),
        )
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "from-the-vault");
    let output = home
        .vault(&["get", "API_KEY"])
        .env(
            "VAULT_IDENTITY_COMMAND",
            "echo AGE-SECRET-KEY-1PRINTEDBYMISTAKE; exit 3",
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(
        stderr(&output).contains("VAULT_IDENTITY_COMMAND failed"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("PRINTEDBYMISTAKE"));
    // The member line comes from the command's identity too (run once for it).
    let output = home
        .vault(&["identity", "public", "--name", "ci"])
        .env(
            "VAULT_IDENTITY_COMMAND",
            format!("cat '{}'", moved.display()),
        )
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let line = stdout(&output);
    assert!(
        line.starts_with("age1") && line.contains(" writer:"),
        "{line}"
    );
    assert!(!home.path().join("config/secretsd/writer.key").exists());
}

#[test]
fn the_flag_wins_then_the_key_then_the_command_then_the_file_variable() {
    let (home, key) = without_identity_file();
    let moved = home.path().join("moved.txt");
    let other = home.path().join("other.key");
    common::age_keygen(&other);
    let wrong_key = fs::read_to_string(&other).unwrap();
    let reveal = |envs: &[(&str, String)], flag: Option<&str>| {
        let mut args = vec![];
        if let Some(flag) = flag {
            args.extend(["--identity", flag]);
        }
        args.extend(["get", "--reveal", "API_KEY"]);
        let mut command = home.vault(&args);
        for (k, v) in envs {
            command.env(k, v);
        }
        command.output().unwrap().status.code()
    };
    let moved = moved.display().to_string();
    let other = other.display().to_string();
    // --identity beats a wrong key in the environment.
    assert_eq!(
        reveal(&[("VAULT_IDENTITY_KEY", wrong_key.clone())], Some(&moved)),
        Some(0)
    );
    // VAULT_IDENTITY_KEY beats VAULT_IDENTITY_COMMAND and VAULT_IDENTITY.
    assert_eq!(
        reveal(
            &[
                ("VAULT_IDENTITY_KEY", key.clone()),
                ("VAULT_IDENTITY_COMMAND", format!("cat {other}")),
                ("VAULT_IDENTITY", other.clone()),
            ],
            None
        ),
        Some(0)
    );
    // VAULT_IDENTITY_COMMAND beats VAULT_IDENTITY.
    assert_eq!(
        reveal(
            &[
                ("VAULT_IDENTITY_COMMAND", format!("cat {moved}")),
                ("VAULT_IDENTITY", other.clone()),
            ],
            None
        ),
        Some(0)
    );
    assert_eq!(
        reveal(
            &[
                ("VAULT_IDENTITY_COMMAND", format!("cat {other}")),
                ("VAULT_IDENTITY", moved.clone()),
            ],
            None
        ),
        Some(4)
    );
}

#[test]
fn a_command_can_print_the_passphrase_of_a_passphrase_vault() {
    let home = TestHome::new();
    let passphrase = home.path().join("pass");
    fs::write(&passphrase, "correct passphrase\n").unwrap();
    common::chmod(&passphrase, 0o600);
    home.vault(&["init", "--passphrase"])
        .env("VAULT_PASSPHRASE_FILE", &passphrase)
        .assert()
        .success();
    home.vault(&["set", "K"])
        .env("VAULT_PASSPHRASE_COMMAND", "echo 'correct passphrase'")
        .write_stdin("v")
        .assert()
        .success();
    home.vault(&["get", "--reveal", "K"])
        .env("VAULT_PASSPHRASE_COMMAND", "printf %s 'correct passphrase'")
        .assert()
        .success()
        .stdout("v");
    let output = home
        .vault(&["get", "K"])
        .env("VAULT_PASSPHRASE_COMMAND", "echo 'incorrect-words-xyz'")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4));
    assert!(!stderr(&output).contains("incorrect-words-xyz"));
}

#[test]
fn a_lost_identity_is_explained_and_a_new_one_can_be_added_by_a_recipient() {
    let (home, _key) = without_identity_file();
    let output = home.vault(&["get", "API_KEY"]).output().unwrap();
    assert_eq!(output.status.code(), Some(4));
    let message = stderr(&output);
    assert!(
        message.contains("restore your copy of it there") && message.contains("--new-identity"),
        "{message}"
    );
    let output = home.vault(&["init", "--new-identity"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--force"), "{}", stderr(&output));
    assert!(!home.identity_file().exists());
    let output = home
        .vault(&["init", "--new-identity", "--force"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let recipient = stdout(&output)
        .lines()
        .find_map(|l| l.strip_prefix("recipient: ").map(str::to_string))
        .unwrap();
    home.vault(&["get", "API_KEY"]).assert().code(4);
    // Someone who still has the old identity adds the new key.
    let old = home.path().join("moved.txt").display().to_string();
    home.vault(&["--identity", &old, "recipients", "add", &recipient])
        .assert()
        .success();
    assert_eq!(home.reveal("API_KEY"), "from-the-vault");
}
