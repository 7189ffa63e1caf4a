//! A team in one vault (issue 30): tags and rotation dates, secrets left stale by a
//! removal, personal overrides and groups. Alice, Bob and Carol each have a home of their
//! own (identity, configuration, what their machine trusts) and reach one vault file, as a
//! team does through git; the real `age` CLI reads what vault writes.

mod common;

use std::path::{Path, PathBuf};

use common::{TestHome, stderr, stdout};

/// One person on their own machine, using the vault at `vault`.
struct Person {
    home: TestHome,
    vault: PathBuf,
}

impl Person {
    /// The owner: makes the vault at `vault`.
    fn owner(vault: &Path) -> Person {
        let person = Person {
            home: TestHome::new(),
            vault: vault.to_path_buf(),
        };
        person.ok(&["init", "--label", "team"]);
        person
    }

    /// Someone with an identity of their own, added by `owner` and trusting the vault.
    fn joined(owner: &Person) -> Person {
        let person = Person {
            home: TestHome::new(),
            vault: owner.vault.clone(),
        };
        let name = person.home.name();
        person.ok(&["identity", "new", "--name", &name]);
        owner.ok(&["recipients", "add", &person.line()]);
        person.ok(&["verify", "--accept"]);
        person
    }

    fn vault(&self, args: &[&str]) -> assert_cmd::Command {
        let mut command = self.home.vault(args);
        command.env("VAULT_FILE", &self.vault);
        command
    }

    fn run(&self, args: &[&str], stdin: &str) -> std::process::Output {
        self.vault(args).write_stdin(stdin).output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args, "");
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        stdout(&output)
    }

    /// Fails with `code`, saying `words`; returns stderr.
    fn refused(&self, args: &[&str], code: i32, words: &str) -> String {
        let output = self.run(args, "");
        let said = stderr(&output);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {said}");
        assert!(said.contains(words), "{words:?} not in {said}");
        said
    }

    fn set(&self, args: &[&str], value: &str) {
        let mut all = vec!["set"];
        all.extend_from_slice(args);
        let output = self.run(&all, value);
        assert!(output.status.success(), "{all:?}: {}", stderr(&output));
    }

    fn reveal(&self, name: &str) -> String {
        self.ok(&["get", "--reveal", name])
    }

    fn line(&self) -> String {
        self.ok(&["identity", "public", "--name", &self.home.name()])
            .trim()
            .to_string()
    }

    /// The names `vault list ARGS --json` prints.
    fn listed(&self, args: &[&str]) -> Vec<String> {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        let items: serde_json::Value = serde_json::from_str(&self.ok(&all)).unwrap();
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// The vault's plaintext as the real `age` CLI decrypts it with this person's identity.
    fn age_decrypt(&self) -> std::process::Output {
        std::process::Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(self.home.identity_file())
            .arg(&self.vault)
            .output()
            .unwrap()
    }
}

fn team() -> (tempfile::TempDir, Person, Person, Person) {
    let shared = tempfile::tempdir().unwrap();
    let alice = Person::owner(&shared.path().join("vault.age"));
    let bob = Person::joined(&alice);
    let carol = Person::joined(&alice);
    (shared, alice, bob, carol)
}

/// Tags add up and come off one at a time; a 1-second period makes a secret due, `list
/// --due` and `status` say so, and `rotate --due` renews the due auto_rotate secrets only.
#[test]
fn tags_and_rotation_dates() {
    let home = TestHome::initialised();
    let set = |args: &[&str], value: &str| {
        let mut all = vec!["set"];
        all.extend_from_slice(args);
        home.vault(&all).write_stdin(value).assert().success();
    };
    set(
        &["DB_PASSWORD", "--tag", "db", "--rotate-every", "1s"],
        "db-v1",
    );
    set(&["API_KEY", "--tag", "api", "--tag", "prod"], "api-v1");
    set(&["CACHE_KEY", "--rotate-every", "90d"], "cache-v1");
    // Tags add: a second set with another tag keeps the first; --untag takes one off.
    home.vault(&[
        "set",
        "API_KEY",
        "--keep-value",
        "--tag",
        "edge",
        "--untag",
        "prod",
    ])
    .assert()
    .success();
    let names = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        let output = home.vault(&all).output().unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let items: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&["--tag", "api"]), ["API_KEY"]);
    assert_eq!(names(&["--tag", "edge"]), ["API_KEY"]);
    assert!(names(&["--tag", "prod"]).is_empty());
    assert_eq!(
        home.reveal("API_KEY"),
        "api-v1",
        "--keep-value kept the value"
    );
    // Metadata stays inside the encryption: the age CLI sees it only after decrypting.
    let raw = std::fs::read(home.vault_file()).unwrap();
    assert!(!raw.windows(4).any(|w| w == b"edge"));
    let plaintext = home.age_decrypt();
    assert_eq!(
        plaintext["secrets"]["API_KEY"]["tags"],
        serde_json::json!(["api", "edge"])
    );
    assert_eq!(
        plaintext["secrets"]["CACHE_KEY"]["rotate_every"],
        90 * 86400
    );

    // Bad input: named, exit 2, nothing changed.
    let before = std::fs::read(home.vault_file()).unwrap();
    for args in [
        &["set", "X", "--rotate-every", "soon"][..],
        &["set", "X", "--tag", "a b"][..],
        &["set", "NOPE", "--keep-value", "--tag", "x"][..],
        &["set", "API_KEY", "--keep-value"][..],
    ] {
        let output = home.vault(args).write_stdin("v").output().unwrap();
        assert!(
            matches!(output.status.code(), Some(2 | 3)),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    assert_eq!(std::fs::read(home.vault_file()).unwrap(), before);

    // One second on, DB_PASSWORD is due and the others are not.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(names(&["--due"]), ["DB_PASSWORD"]);
    let status = home.vault(&["status"]).output().unwrap();
    assert!(
        stdout(&status).contains("1 due for rotation"),
        "{}",
        stdout(&status)
    );
    let status = home.vault(&["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_str(&stdout(&status)).unwrap();
    assert_eq!(status["vault"]["due"], 1);

    let policy = home.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[secrets.DB_PASSWORD]\ntype = \"random\"\n\n[secrets.CACHE_KEY]\ntype = \"random\"\n",
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let plan = home
        .vault(&["rotate", "--due", "--dry-run", "--policy", policy])
        .output()
        .unwrap();
    assert!(stdout(&plan).contains("DB_PASSWORD"), "{}", stdout(&plan));
    assert!(!stdout(&plan).contains("CACHE_KEY"), "{}", stdout(&plan));
    let rotated = home
        .vault(&["rotate", "--due", "--policy", policy])
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{}", stderr(&rotated));
    assert!(
        stdout(&rotated).contains("rotated DB_PASSWORD"),
        "{}",
        stdout(&rotated)
    );
    assert_ne!(home.reveal("DB_PASSWORD"), "db-v1");
    assert_eq!(home.reveal("CACHE_KEY"), "cache-v1", "not due: not rotated");
    // Rotated now, so due again only a second later; the period and tag stay.
    let plaintext = home.age_decrypt();
    assert_eq!(plaintext["secrets"]["DB_PASSWORD"]["rotate_every"], 1);
    assert_eq!(
        plaintext["secrets"]["DB_PASSWORD"]["tags"],
        serde_json::json!(["db"])
    );
    // --rotate-every never takes the period off: never due again.
    home.vault(&[
        "set",
        "DB_PASSWORD",
        "--keep-value",
        "--rotate-every",
        "never",
    ])
    .assert()
    .success();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(names(&["--due"]).is_empty());
    let nothing = home
        .vault(&["rotate", "--due", "--policy", policy])
        .output()
        .unwrap();
    assert!(nothing.status.success());
    assert!(
        stderr(&nothing).contains("no auto_rotate secret is due"),
        "{}",
        stderr(&nothing)
    );
}

/// After Carol is removed, `list --stale` names what she could read; each secret leaves
/// the list when its value changes (not when it is set to the same value).
#[test]
fn secrets_carol_saw_are_stale_until_changed() {
    let (_shared, alice, bob, carol) = team();
    alice.set(&["DB_PASSWORD"], "db-v1");
    alice.set(&["API_KEY"], "api-v1");
    assert!(alice.listed(&["--stale"]).is_empty());
    alice.ok(&["recipients", "remove", &carol.home.name()]);
    assert_eq!(alice.listed(&["--stale"]), ["API_KEY", "DB_PASSWORD"]);
    // Added after the removal: Carol never saw it.
    alice.set(&["NEW_ONE"], "new");
    // The same value again is still what Carol saw.
    alice.set(&["API_KEY"], "api-v1");
    assert_eq!(bob.listed(&["--stale"]), ["API_KEY", "DB_PASSWORD"]);
    let table = bob.ok(&["list", "--stale"]);
    assert!(table.contains("stale: unchanged since"), "{table}");
    let status = bob.ok(&["status"]);
    assert!(status.contains("2 stale since a removal"), "{status}");
    bob.set(&["DB_PASSWORD"], "db-v2");
    assert_eq!(alice.listed(&["--stale"]), ["API_KEY"]);
    alice.ok(&["rm", "API_KEY"]);
    assert!(alice.listed(&["--stale"]).is_empty());
    assert_eq!(alice.reveal("DB_PASSWORD"), "db-v2");
    carol.refused(&["get", "--reveal", "DB_PASSWORD"], 4, "");
    assert!(!carol.age_decrypt().status.success());
    assert!(bob.age_decrypt().status.success());
}
