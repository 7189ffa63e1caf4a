//! A team in one vault (issue 30): tags and rotation dates, secrets left stale by a
//! removal, personal overrides and groups. Alice, Bob and Carol each have a home of their
//! own (identity, configuration, what their machine trusts) and reach one vault file, as a
//! team does through git; the real `age` CLI reads what vault writes.

mod common;

use std::path::{Path, PathBuf};

use common::{TestHome, stderr, stdout};

/// One person on their own machine, using the vault at `vault`.
struct Person {
    home: std::rc::Rc<TestHome>,
    vault: PathBuf,
}

impl Person {
    /// The owner: makes the vault at `vault`.
    fn owner(vault: &Path) -> Person {
        let person = Person {
            home: TestHome::new().into(),
            vault: vault.to_path_buf(),
        };
        person.ok(&["init", "--label", "team"]);
        person
    }

    /// Someone with an identity of their own, added by `owner` and trusting the vault.
    fn joined(owner: &Person) -> Person {
        let person = Person {
            home: TestHome::new().into(),
            vault: owner.vault.clone(),
        };
        let name = person.home.name();
        person.ok(&["identity", "new", "--name", &name]);
        owner.ok(&["recipients", "add", &person.line()]);
        person.ok(&["verify", "--accept"]);
        person
    }

    /// The same person (home, identity, trust) using the vault at `vault` instead.
    fn at(&self, vault: &Path) -> Person {
        Person {
            home: self.home.clone(),
            vault: vault.to_path_buf(),
        }
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
        let output = self.run(args, "x");
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

    /// `git ARGS` in the directory of the vault, as this person.
    fn git(&self, args: &[&str]) -> std::process::Output {
        let template = self.home.vault_std(&[]);
        std::process::Command::new("git")
            .env_clear()
            .envs(
                template
                    .get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .env("VAULT_FILE", &self.vault)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .current_dir(self.vault.parent().unwrap())
            .args(args)
            .output()
            .unwrap()
    }

    fn git_ok(&self, args: &[&str]) -> String {
        let output = self.git(args);
        assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
        stdout(&output)
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

    /// The vault's plaintext, parsed, as the real `age` CLI decrypts it.
    fn age_decrypt_json(&self) -> serde_json::Value {
        let output = self.age_decrypt();
        assert!(output.status.success(), "{}", stderr(&output));
        serde_json::from_slice(&output.stdout).unwrap()
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
    // The removed recipient by the member name they had.
    assert!(
        table.contains(&format!("since {} (age1", carol.home.name())),
        "{table}"
    );
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

/// Bob's personal DATABASE_URL wins on his machine only: Alice and Carol keep the shared
/// value, Alice's plaintext holds only a ciphertext for it, and `rm --personal` gives Bob
/// the shared value back.
#[test]
fn bobs_override_is_his_alone() {
    let (_shared, alice, bob, carol) = team();
    alice.set(&["DATABASE_URL"], "postgres://shared-db/app");
    alice.set(&["API_KEY"], "api-shared");
    // Only over a shared secret, and only for a writer identity.
    bob.refused(&["set", "NOPE", "--personal"], 3, "set it first");
    bob.set(&["DATABASE_URL", "--personal"], "postgres://bob-laptop/app");
    assert_eq!(bob.reveal("DATABASE_URL"), "postgres://bob-laptop/app");
    assert_eq!(alice.reveal("DATABASE_URL"), "postgres://shared-db/app");
    assert_eq!(carol.reveal("DATABASE_URL"), "postgres://shared-db/app");
    // --group me is the same as --personal, as murk users type it.
    carol.set(&["API_KEY", "--group", "me"], "api-carol");
    assert_eq!(carol.reveal("API_KEY"), "api-carol");
    assert_eq!(bob.reveal("API_KEY"), "api-shared");

    // Alice's plaintext, as the age CLI decrypts it: Bob's value nowhere, a ciphertext in
    // its place, bound to his recipient.
    let output = alice.age_decrypt();
    assert!(output.status.success());
    let plaintext = String::from_utf8(output.stdout).unwrap();
    assert!(!plaintext.contains("bob-laptop"), "{plaintext}");
    assert!(!plaintext.contains("api-carol"), "{plaintext}");
    let document: serde_json::Value = serde_json::from_str(&plaintext).unwrap();
    let overrides = document["personal"]["DATABASE_URL"].as_object().unwrap();
    assert_eq!(overrides.len(), 1);
    let ciphertext = overrides.values().next().unwrap().as_str().unwrap();
    assert!(ciphertext.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    // The ciphertext opens for Bob alone.
    let sealed = bob.home.path().join("sealed.age");
    std::fs::write(&sealed, ciphertext).unwrap();
    let opened = |person: &Person| {
        std::process::Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(person.home.identity_file())
            .arg(&sealed)
            .output()
            .unwrap()
    };
    assert!(stdout(&opened(&bob)).contains("bob-laptop"));
    assert!(!opened(&alice).status.success());

    // exec and export: the same choice, and nobody else's value.
    let printed = |person: &Person| {
        person.ok(&[
            "exec",
            "--",
            "sh",
            "-c",
            "printf '%s|%s' \"$DATABASE_URL\" \"$API_KEY\"",
        ])
    };
    assert_eq!(printed(&bob), "postgres://bob-laptop/app|api-shared");
    assert_eq!(printed(&carol), "postgres://shared-db/app|api-carol");
    assert_eq!(printed(&alice), "postgres://shared-db/app|api-shared");
    let exported = bob.ok(&["export", "--format", "dotenv"]);
    assert!(exported.contains("bob-laptop"), "{exported}");
    assert!(
        !alice
            .ok(&["export", "--format", "dotenv"])
            .contains("bob-laptop")
    );

    // list: Bob's own mark, and the others see that one exists.
    let listed = |person: &Person| -> serde_json::Value {
        serde_json::from_str(&person.ok(&["list", "--json"])).unwrap()
    };
    let bobs = listed(&bob);
    let row = |list: &serde_json::Value, name: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(row(&bobs, "DATABASE_URL")["personal"], true);
    assert_eq!(row(&listed(&alice), "DATABASE_URL")["personal"], false);
    assert_eq!(row(&listed(&alice), "DATABASE_URL")["overrides"], 1);
    assert!(
        bob.ok(&["list"])
            .contains("[personal: yours wins here, sealed ")
    );

    // A shared change leaves the override in place; rm --personal drops it.
    alice.set(&["DATABASE_URL"], "postgres://shared-db-2/app");
    assert_eq!(bob.reveal("DATABASE_URL"), "postgres://bob-laptop/app");
    bob.refused(
        &["rm", "API_KEY", "--personal"],
        3,
        "no personal value of API_KEY",
    );
    bob.ok(&["rm", "DATABASE_URL", "--personal"]);
    assert_eq!(bob.reveal("DATABASE_URL"), "postgres://shared-db-2/app");
    assert_eq!(carol.reveal("API_KEY"), "api-carol");
    // Carol removed: her override goes with her.
    alice.ok(&["recipients", "remove", &carol.home.name()]);
    assert!(alice.age_decrypt_json().get("personal").is_none());
    // An override is sealed to its name: a rename drops it, and says so.
    bob.set(&["API_KEY", "--personal"], "api-bob");
    let output = alice.run(&["mv", "API_KEY", "API_TOKEN"], "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("1 personal value(s) of API_KEY were dropped"),
        "{}",
        stderr(&output)
    );
    assert_eq!(bob.reveal("API_TOKEN"), "api-shared");
}

/// A group value opens for Bob (a member) and not for Carol: `get` fails naming the
/// group, `exec` omits it (and `-v` says so), a manifest that needs it fails `check`, and
/// `age -d` as Carol shows only a ciphertext. Taking Bob out seals it again without him
/// and lists it as stale until it changes.
#[test]
fn a_group_value_opens_for_its_members_only() {
    let (_shared, alice, bob, carol) = team();
    alice.set(&["SHARED"], "for-everyone");
    // Reserved and bad names, unknown members: refused, nothing written.
    alice.refused(
        &["group", "create", "me", "--member", &bob.home.name()],
        2,
        "reserved",
    );
    alice.refused(
        &["group", "create", "ops", "--member", "nobody"],
        3,
        "not a member",
    );
    alice.ok(&[
        "group",
        "create",
        "ops",
        "--member",
        &alice.line(),
        "--member",
        &bob.home.name(),
    ]);
    // Membership is the owners': Bob, a member, cannot change it.
    bob.refused(
        &["group", "add", "ops", &carol.home.name()],
        4,
        "only an owner",
    );
    let groups = carol.ok(&["group", "list"]);
    assert!(groups.contains("ops: "), "{groups}");
    // The group is in the owner-signed block, and the epoch went up.
    let block = &alice.age_decrypt_json()["membership"]["body"];
    assert_eq!(block["groups"]["ops"].as_array().unwrap().len(), 2);

    bob.set(&["PAGER_TOKEN", "--group", "ops"], "pager-secret-for-ops");
    carol.refused(
        &["set", "PAGER_TOKEN", "--group", "ops"],
        4,
        "only members of the group ops",
    );
    assert_eq!(bob.reveal("PAGER_TOKEN"), "pager-secret-for-ops");
    assert_eq!(alice.reveal("PAGER_TOKEN"), "pager-secret-for-ops");
    carol.refused(
        &["get", "--reveal", "PAGER_TOKEN"],
        4,
        "a value of the group ops",
    );

    // Carol's age -d: the name and its group, a ciphertext, no value.
    let output = carol.age_decrypt();
    assert!(output.status.success());
    let plaintext = String::from_utf8(output.stdout).unwrap();
    assert!(!plaintext.contains("pager-secret-for-ops"));
    let document: serde_json::Value = serde_json::from_str(&plaintext).unwrap();
    assert_eq!(document["group_values"]["PAGER_TOKEN"]["group"], "ops");
    assert!(
        document["group_values"]["PAGER_TOKEN"]["value"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
    );

    // exec: Carol's command runs without it, and -v says why.
    let script = "printf '%s|%s' \"$SHARED\" \"${PAGER_TOKEN-unset}\"";
    assert_eq!(
        bob.ok(&["exec", "--", "sh", "-c", script]),
        "for-everyone|pager-secret-for-ops"
    );
    let output = carol.run(&["-v", "exec", "--", "sh", "-c", script], "");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "for-everyone|unset");
    assert!(
        stderr(&output).contains("omitted PAGER_TOKEN: a value of the group ops"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("pager-secret"));
    // A manifest that needs it: fine for Bob, a failed check for Carol.
    for person in [&bob, &carol] {
        std::fs::write(
            person.home.path().join("secretsd.toml"),
            "[env]\nPAGER_TOKEN = \"secret:PAGER_TOKEN\"\n",
        )
        .unwrap();
    }
    bob.ok(&["check"]);
    let output = carol.run(&["check"], "");
    assert!(!output.status.success(), "{}", stdout(&output));
    let listed = carol.ok(&["list"]);
    assert!(
        listed.contains("[group ops: sealed to its members]"),
        "{listed}"
    );
    // Shared and group names do not mix.
    alice.refused(&["set", "PAGER_TOKEN"], 2, "a value of the group ops");

    // Carol joins: the value is sealed for her too, in the same write as the new block.
    alice.ok(&["group", "add", "ops", &carol.home.name()]);
    assert_eq!(carol.reveal("PAGER_TOKEN"), "pager-secret-for-ops");
    // Bob leaves the group: sealed again without him, stale until changed.
    alice.ok(&["group", "remove", "ops", &bob.home.name()]);
    bob.refused(&["get", "--reveal", "PAGER_TOKEN"], 4, "the group ops");
    assert_eq!(carol.reveal("PAGER_TOKEN"), "pager-secret-for-ops");
    assert_eq!(alice.listed(&["--stale"]), ["PAGER_TOKEN"]);
    // The same value set again is still what Bob saw: stale, as a shared value stays.
    carol.set(&["PAGER_TOKEN", "--group", "ops"], "pager-secret-for-ops");
    assert_eq!(alice.listed(&["--stale"]), ["PAGER_TOKEN"]);
    carol.set(&["PAGER_TOKEN", "--group", "ops"], "pager-v2");
    assert!(alice.listed(&["--stale"]).is_empty());
    assert_eq!(alice.reveal("PAGER_TOKEN"), "pager-v2");
    // A member in a group leaves the group before the vault.
    alice.refused(
        &["recipients", "remove", &carol.home.name()],
        2,
        "is in the group ops",
    );
    alice.ok(&["rm", "PAGER_TOKEN"]);
    assert!(alice.age_decrypt_json().get("group_values").is_none());
}

/// Two branches, each changing a different member's override (and a tag on one, a group
/// value on the other), merge secret by secret through vault's merge driver with real git;
/// the diff shows the overrides as ciphertext marks and the tags, never a value.
#[test]
fn branches_that_change_different_overrides_merge() {
    let shared = tempfile::tempdir().unwrap();
    let repo = shared.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let alice = Person::owner(&repo.join("vault.age"));
    let bob = Person::joined(&alice);
    let carol = Person::joined(&alice);
    alice.set(&["DATABASE_URL"], "postgres://shared/app");
    alice.ok(&[
        "group",
        "create",
        "ops",
        "--member",
        &alice.line(),
        "--member",
        &bob.home.name(),
    ]);
    alice.set(&["PAGER_TOKEN", "--group", "ops"], "pager-v1");
    alice.git_ok(&["init", "-q", "-b", "main"]);
    alice.ok(&["git", "setup"]);
    alice.git_ok(&["add", "."]);
    alice.git_ok(&["commit", "-q", "-m", "team vault"]);

    alice.git_ok(&["checkout", "-q", "-b", "bob"]);
    bob.set(&["DATABASE_URL", "--personal"], "postgres://bob-laptop/app");
    bob.set(&["PAGER_TOKEN", "--group", "ops"], "pager-v2-from-bob");
    alice.git_ok(&["commit", "-q", "-am", "bob's override"]);
    alice.git_ok(&["checkout", "-q", "main"]);
    carol.set(
        &["DATABASE_URL", "--personal"],
        "postgres://carol-laptop/app",
    );
    alice.ok(&["set", "DATABASE_URL", "--keep-value", "--tag", "db"]);
    alice.git_ok(&["commit", "-q", "-am", "carol's override"]);
    let diff = alice.git_ok(&["diff", "HEAD~1", "HEAD"]);
    assert!(diff.contains("+DATABASE_URL = personal value of"), "{diff}");
    assert!(diff.contains("tags db"), "{diff}");
    assert!(!diff.contains("laptop"), "{diff}");

    let merged = alice.git(&["merge", "-q", "--no-edit", "bob"]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(bob.reveal("DATABASE_URL"), "postgres://bob-laptop/app");
    assert_eq!(carol.reveal("DATABASE_URL"), "postgres://carol-laptop/app");
    assert_eq!(alice.reveal("DATABASE_URL"), "postgres://shared/app");
    assert_eq!(alice.reveal("PAGER_TOKEN"), "pager-v2-from-bob");
    assert_eq!(alice.listed(&["--tag", "db"]), ["DATABASE_URL"]);
    let document = alice.age_decrypt_json();
    assert_eq!(
        document["personal"]["DATABASE_URL"]
            .as_object()
            .unwrap()
            .len(),
        2
    );

    // The same member's override changed on both branches: a conflict, settled by side.
    alice.git_ok(&["checkout", "-q", "-b", "again"]);
    bob.set(&["DATABASE_URL", "--personal"], "postgres://bob-one/app");
    alice.git_ok(&["commit", "-q", "-am", "one"]);
    alice.git_ok(&["checkout", "-q", "main"]);
    bob.set(&["DATABASE_URL", "--personal"], "postgres://bob-two/app");
    alice.git_ok(&["commit", "-q", "-am", "two"]);
    let stopped = alice.git(&["merge", "-q", "--no-edit", "again"]);
    assert!(!stopped.status.success());
    assert!(
        stderr(&stopped).contains("both branches: DATABASE_URL"),
        "{}",
        stderr(&stopped)
    );
    alice.ok(&["merge", "--resolve", "DATABASE_URL", "--theirs"]);
    assert_eq!(bob.reveal("DATABASE_URL"), "postgres://bob-one/app");
    assert_eq!(carol.reveal("DATABASE_URL"), "postgres://carol-laptop/app");
}

/// A member who moves Bob's override ciphertext to another secret (re-signing the
/// document with their own key, as any member can) gets a refusal on Bob's machine, not a
/// value under the wrong name.
#[test]
fn an_override_moved_to_another_name_is_refused() {
    let (_shared, alice, bob, _carol) = team();
    alice.set(&["DATABASE_URL"], "postgres://shared/app");
    alice.set(&["API_KEY"], "api-shared");
    bob.set(&["DATABASE_URL", "--personal"], "postgres://bob-laptop/app");
    let mut document = alice.age_decrypt_json();
    let moved = document["personal"]["DATABASE_URL"].clone();
    document["personal"] = serde_json::json!({ "API_KEY": moved });
    document["generation"] = serde_json::json!(document["generation"].as_u64().unwrap() + 1);
    document.as_object_mut().unwrap().remove("signature");
    let forged = common::sign_with(&alice.home.identity_file(), &document.to_string());
    let recipients: Vec<String> = document["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    let recipients: Vec<&str> = recipients.iter().map(String::as_str).collect();
    common::age_encrypt_to(&forged, &recipients, &bob.vault);
    // Alice's write is genuine (she is a member): the shared values still read.
    assert_eq!(alice.reveal("API_KEY"), "api-shared");
    let said = bob.refused(
        &["get", "--reveal", "API_KEY"],
        6,
        "sealed for another secret",
    );
    assert!(!said.contains("bob-laptop"), "{said}");
    let output = bob.run(&["exec", "--", "sh", "-c", "printf %s \"$API_KEY\""], "");
    // vault failed before the command: 125, and the command never ran.
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("sealed for another secret"),
        "{}",
        stderr(&output)
    );
    assert!(stdout(&output).is_empty());
}

// ---- What a hostile member can write (issue 30's attack report) ----
//
// Any member can decrypt the vault, change it, sign it with their own writer key and
// encrypt it again: the document's signature is theirs and valid. These tests do just
// that, with the real `age` CLI, and check honest readers refuse what was planted.

/// Rewrites the vault as `by` would: decrypted with `age`, changed by `change`, signed
/// with `by`'s writer key, encrypted again to the same recipients.
fn forge(by: &Person, change: impl FnOnce(&mut serde_json::Value)) {
    let mut document = by.age_decrypt_json();
    change(&mut document);
    document["generation"] = serde_json::json!(document["generation"].as_u64().unwrap() + 1);
    document.as_object_mut().unwrap().remove("signature");
    let forged = common::sign_with(&by.home.identity_file(), &document.to_string());
    let recipients: Vec<String> = document["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_string())
        .collect();
    let recipients: Vec<&str> = recipients.iter().map(String::as_str).collect();
    common::age_encrypt_to(&forged, &recipients, &by.vault);
}

/// A value sealed by `by` with vault's own sealing (a hostile member has the library):
/// validly signed, by `by`.
fn sealed_by(by: &Person, name: &str, scope: &str, to: &[&Person], value: &str) -> String {
    let key = signing_key(by);
    let recipients: Vec<String> = to.iter().map(|p| p.recipient()).collect();
    secretsd::store::sealed::seal(
        name,
        scope,
        &vault_id(by),
        &recipients,
        &secretsd::store::secrecy::SecretString::from(value.to_string()),
        &key,
    )
    .unwrap()
}

fn signing_key(by: &Person) -> secretsd::store::signature::SigningKey {
    let contents = std::fs::read_to_string(by.home.identity_file()).unwrap();
    let identity = secretsd::store::identity::x25519_identity(&contents).unwrap();
    secretsd::store::signature::SigningKey::from_identity(&identity).unwrap()
}

/// The id of the vault `by` uses, as its membership block says.
fn vault_id(by: &Person) -> String {
    by.age_decrypt_json()["membership"]["body"]["vault_id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A value sealed by `by` and signed as sealed to `signed_to`, but encrypted (with the
/// `age` CLI) to `extra` too, as the attacker's script did: age stanzas are the sealer's to
/// choose, and nothing inside says who else they let in.
fn sealed_with_extra_stanzas(
    by: &Person,
    name: &str,
    scope: &str,
    signed_to: &[&Person],
    extra: &[&Person],
    value: &str,
) -> String {
    use sha2::{Digest, Sha256};
    let key = signing_key(by);
    let vault = vault_id(by);
    let mut sealed_to: Vec<String> = signed_to.iter().map(|p| p.recipient()).collect();
    sealed_to.sort();
    let sealed_at = "2026-12-06T01:40:00Z";
    let writer = key.writer();
    let mut hasher = Sha256::new();
    hasher.update(b"secretsd sealed value v1\0");
    let joined = sealed_to.join("\n");
    for field in [name, scope, &vault, value, &joined, sealed_at, &writer] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    let sig = key.sign_digest(&hasher.finalize());
    let inner = serde_json::json!({
        "name": name, "scope": scope, "vault": vault, "value": value,
        "sealed_to": sealed_to, "sealed_at": sealed_at, "writer": writer, "sig": sig,
    });
    age_armored(&inner.to_string(), &[signed_to, extra].concat())
}

/// `plaintext` encrypted with the `age` CLI to `to`, armored.
fn age_armored(plaintext: &str, to: &[&Person]) -> String {
    let mut age = std::process::Command::new("age");
    age.arg("-a");
    for person in to {
        age.args(["-r", &person.recipient()]);
    }
    let mut child = age
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), plaintext.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

/// A value sealed as the attacker's script did, with the `age` CLI alone: no signature.
fn sealed_unsigned(name: &str, scope: &str, to: &[&Person], value: &str) -> String {
    let inner = serde_json::json!({"name": name, "scope": scope, "value": value}).to_string();
    age_armored(&inner, to)
}

impl Person {
    /// This person's age recipient.
    fn recipient(&self) -> String {
        self.line().split_whitespace().next().unwrap().to_string()
    }
}

/// Finding 1: Carol plants a "personal override" for Alice. Signed by Carol, or not signed
/// at all, it is refused on Alice's machine for that name alone, naming it; the value
/// never shows, and other secrets still read.
#[test]
fn an_override_planted_for_another_member_is_refused() {
    let (_shared, alice, _bob, carol) = team();
    alice.set(&["DB_URL"], "postgres://shared/app");
    alice.set(&["OTHER"], "other-value");
    let scope = format!("personal:{}", alice.recipient());
    for (planted, why) in [
        (
            sealed_by(
                &carol,
                "DB_URL",
                &scope,
                &[&alice],
                "postgres://carol-controlled/steal",
            ),
            "not sealed by you",
        ),
        (
            sealed_unsigned(
                "DB_URL",
                &scope,
                &[&alice],
                "postgres://carol-controlled/steal",
            ),
            "not signed",
        ),
    ] {
        let key = alice.recipient();
        forge(&carol, |document| {
            document["personal"] = serde_json::json!({"DB_URL": {key: planted}});
        });
        let said = alice.refused(&["get", "--reveal", "DB_URL"], 6, why);
        assert!(said.contains("DB_URL"), "{said}");
        assert!(!said.contains("carol-controlled"), "{said}");
        let output = alice.run(&["exec", "--", "sh", "-c", "printf %s \"$DB_URL\""], "");
        assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
        assert!(stdout(&output).is_empty());
        let output = alice.run(&["export", "--format", "dotenv"], "");
        assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
        assert!(!stdout(&output).contains("carol-controlled"));
        // Finding 7: one bad entry blocks only its own name.
        assert_eq!(alice.reveal("OTHER"), "other-value");
        let listed = alice.ok(&["list"]);
        assert!(
            listed.contains("[personal: yours refused, not used:"),
            "{listed}"
        );
        assert!(!listed.contains("carol-controlled"), "{listed}");
    }
    // Alice's own override (signed by her) is hers.
    alice.ok(&["rm", "DB_URL", "--personal"]);
    alice.set(&["DB_URL", "--personal"], "postgres://alice-laptop/app");
    assert_eq!(alice.reveal("DB_URL"), "postgres://alice-laptop/app");
    // When it was sealed, as signed: an old date would be an override put back.
    let listed = alice.ok(&["list"]);
    assert!(
        listed.contains("[personal: yours wins here, sealed 2"),
        "{listed}"
    );
}

fn oncall(alice: &Person, bob: &Person) {
    alice.ok(&[
        "group",
        "create",
        "oncall",
        "--member",
        &alice.line(),
        "--member",
        &bob.home.name(),
    ]);
}

/// Finding 2: Carol, not in the group, seals a group value of her choosing (signed by her,
/// to everyone): members refuse it. With the stock CLI she cannot remove a group's value
/// (to set a shared one in its place) either.
#[test]
fn a_group_value_set_by_a_non_member_is_refused() {
    let (_shared, alice, bob, carol) = team();
    oncall(&alice, &bob);
    bob.set(&["PAGER_TOKEN", "--group", "oncall"], "pager-genuine");
    alice.set(&["OTHER"], "other-value");
    let before = std::fs::read(&alice.vault).unwrap();
    let said = carol.refused(&["rm", "PAGER_TOKEN"], 4, "group oncall");
    assert!(said.contains("PAGER_TOKEN"), "{said}");
    assert_eq!(std::fs::read(&alice.vault).unwrap(), before);
    let planted = sealed_by(
        &carol,
        "PAGER_TOKEN",
        "group:oncall",
        &[&alice, &bob, &carol],
        "carol-chose-this",
    );
    forge(&carol, |document| {
        document["group_values"]["PAGER_TOKEN"]["value"] = serde_json::json!(planted);
    });
    for reader in [&alice, &bob] {
        let said = reader.refused(
            &["get", "--reveal", "PAGER_TOKEN"],
            6,
            "not a member of the group oncall",
        );
        assert!(!said.contains("carol-chose-this"), "{said}");
        assert_eq!(reader.reveal("OTHER"), "other-value");
    }
    // Bob, a member, sets it again: genuine once more.
    bob.ok(&["rm", "PAGER_TOKEN"]);
    bob.set(&["PAGER_TOKEN", "--group", "oncall"], "pager-v2");
    assert_eq!(alice.reveal("PAGER_TOKEN"), "pager-v2");
}

/// Finding 3: after Carol leaves the group, the value as it was sealed before (to her too)
/// put back in the vault is refused by every member: sealed for an older membership.
#[test]
fn a_group_value_sealed_before_a_removal_is_refused_when_replayed() {
    let (_shared, alice, bob, carol) = team();
    alice.ok(&[
        "group",
        "create",
        "oncall",
        "--member",
        &alice.line(),
        "--member",
        &bob.home.name(),
        "--member",
        &carol.home.name(),
    ]);
    bob.set(&["PAGER_TOKEN", "--group", "oncall"], "pager-v3");
    let old = carol.age_decrypt_json()["group_values"]["PAGER_TOKEN"].clone();
    alice.ok(&["group", "remove", "oncall", &carol.home.name()]);
    assert_eq!(bob.reveal("PAGER_TOKEN"), "pager-v3");
    forge(&carol, |document| {
        document["group_values"]["PAGER_TOKEN"] = old;
    });
    for reader in [&alice, &bob, &carol] {
        reader.refused(
            &["get", "--reveal", "PAGER_TOKEN"],
            6,
            "sealed for an older membership of the group oncall",
        );
    }
}

/// Second round, finding 1: Carol, a member of two vaults with the same team and group,
/// copies vault A's group value and Alice's personal value into vault B and signs B. The
/// values are sealed to the right people and signed by a member, but in another vault:
/// refused in B, naming the name, never shown.
#[test]
fn sealed_values_copied_from_another_vault_are_refused() {
    let (_shared, alice, bob, carol) = team();
    oncall(&alice, &bob);
    bob.set(&["PAGER_TOKEN", "--group", "oncall"], "pager-of-vault-a");
    alice.set(&["DB_URL"], "shared-of-vault-a");
    alice.set(&["DB_URL", "--personal"], "alice-of-vault-a");
    let from_a = carol.age_decrypt_json();
    let elsewhere = tempfile::tempdir().unwrap();
    let b = elsewhere.path().join("vault.age");
    let (alice, bob, carol) = (alice.at(&b), bob.at(&b), carol.at(&b));
    alice.ok(&["init", "--label", "team-b"]);
    for person in [&bob, &carol] {
        alice.ok(&["recipients", "add", &person.line()]);
        person.ok(&["verify", "--accept"]);
    }
    oncall(&alice, &bob);
    bob.set(&["PAGER_TOKEN", "--group", "oncall"], "pager-of-vault-b");
    alice.set(&["DB_URL"], "shared-of-vault-b");
    alice.set(&["DB_URL", "--personal"], "alice-of-vault-b");
    forge(&carol, |document| {
        document["group_values"]["PAGER_TOKEN"] = from_a["group_values"]["PAGER_TOKEN"].clone();
        document["personal"]["DB_URL"] = from_a["personal"]["DB_URL"].clone();
    });
    for (reader, name) in [
        (&alice, "PAGER_TOKEN"),
        (&bob, "PAGER_TOKEN"),
        (&alice, "DB_URL"),
    ] {
        let said = reader.refused(&["get", "--reveal", name], 6, "sealed in another vault");
        assert!(said.contains(name), "{said}");
        assert!(!said.contains("of-vault-a"), "{said}");
        let output = reader.run(
            &["exec", "--", "sh", "-c", "printf %s \"$PAGER_TOKEN\""],
            "",
        );
        assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
        assert!(stdout(&output).is_empty());
    }
}

/// Second round, finding 3: Bob, a member, seals a group value signed as for the members
/// but with an age stanza for Carol too. Carol's identity opens it; vault still withholds
/// it from her, as from any non-member (exit 4, naming the group), while members read it.
#[test]
fn a_group_value_with_a_stanza_for_an_outsider_is_withheld_from_her() {
    let (_shared, alice, bob, carol) = team();
    oncall(&alice, &bob);
    bob.set(&["PAGER_TOKEN", "--group", "oncall"], "pager-genuine");
    let leaky = sealed_with_extra_stanzas(
        &bob,
        "PAGER_TOKEN",
        "group:oncall",
        &[&alice, &bob],
        &[&carol],
        "bob-leaks-to-carol",
    );
    forge(&bob, |document| {
        document["group_values"]["PAGER_TOKEN"]["value"] = serde_json::json!(leaky);
    });
    assert_eq!(alice.reveal("PAGER_TOKEN"), "bob-leaks-to-carol");
    let said = carol.refused(
        &["get", "--reveal", "PAGER_TOKEN"],
        4,
        "you are not a member of oncall",
    );
    assert!(!said.contains("bob-leaks"), "{said}");
    for args in [
        &["exec", "--", "sh", "-c", "printf %s \"$PAGER_TOKEN\""][..],
        &["export", "--format", "dotenv"][..],
    ] {
        let output = carol.run(args, "");
        assert!(!stdout(&output).contains("bob-leaks"), "{args:?}");
        assert!(!stderr(&output).contains("bob-leaks"), "{args:?}");
    }
}

/// Second round, finding 4: Carol puts a ciphertext to herself alone in place of the group
/// value. Members are not told "not a member" nor run without it: the name is refused,
/// saying it was not sealed to them; other secrets still read.
#[test]
fn a_group_value_not_sealed_to_a_member_is_refused_not_withheld() {
    let (_shared, alice, bob, carol) = team();
    oncall(&alice, &bob);
    bob.set(&["PAGER_TOKEN", "--group", "oncall"], "pager-genuine");
    alice.set(&["OTHER"], "other-value");
    let hers = sealed_by(&carol, "PAGER_TOKEN", "group:oncall", &[&carol], "x");
    forge(&carol, |document| {
        document["group_values"]["PAGER_TOKEN"]["value"] = serde_json::json!(hers);
    });
    for reader in [&alice, &bob] {
        reader.refused(
            &["get", "--reveal", "PAGER_TOKEN"],
            6,
            "was not sealed to you, though the membership block lists you in the group oncall",
        );
        let output = reader.run(
            &["exec", "--", "sh", "-c", "printf %s \"$PAGER_TOKEN\""],
            "",
        );
        assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
        assert!(stdout(&output).is_empty());
        assert_eq!(reader.reveal("OTHER"), "other-value");
    }
    // A member sets it again: genuine once more.
    bob.set(&["PAGER_TOKEN", "--group", "oncall"], "pager-v2");
    assert_eq!(alice.reveal("PAGER_TOKEN"), "pager-v2");
}

/// Finding 7: a group value that is not even a ciphertext blocks nobody's other reads;
/// reading it, or running a command that would get it, fails closed.
#[test]
fn one_bad_sealed_entry_blocks_only_its_name() {
    let (_shared, alice, bob, carol) = team();
    oncall(&alice, &bob);
    alice.set(&["PLACEHOLDER"], "placeholder-value");
    forge(&carol, |document| {
        document["group_values"] =
            serde_json::json!({"JUNK": {"group": "oncall", "value": "not age", "updated": "x"}});
    });
    assert_eq!(alice.reveal("PLACEHOLDER"), "placeholder-value");
    alice.refused(&["get", "--reveal", "JUNK"], 6, "JUNK");
    let script = "printf %s \"$PLACEHOLDER\"";
    let output = alice.run(&["exec", "--", "sh", "-c", script], "");
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert_eq!(
        alice.ok(&["exec", "--only", "PLACEHOLDER", "--", "sh", "-c", script]),
        "placeholder-value"
    );
}

/// Finding 4: Carol is removed from the group on main while Bob, on a branch where she was
/// still in it, sets a new group value. Alice's merge seals it again for the merged
/// members: Carol cannot open it (not with vault, not with `age -d`), and it is stale.
#[test]
fn a_merge_seals_group_values_again_for_the_merged_members() {
    let shared = tempfile::tempdir().unwrap();
    let repo = shared.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let alice = Person::owner(&repo.join("vault.age"));
    let bob = Person::joined(&alice);
    let carol = Person::joined(&alice);
    oncall(&alice, &bob);
    alice.ok(&["group", "add", "oncall", &carol.home.name()]);
    alice.git_ok(&["init", "-q", "-b", "main"]);
    alice.ok(&["git", "setup"]);
    alice.git_ok(&["add", "."]);
    alice.git_ok(&["commit", "-q", "-m", "team vault"]);
    alice.git_ok(&["branch", "bobwork"]);
    alice.ok(&["group", "remove", "oncall", &carol.home.name()]);
    alice.git_ok(&["commit", "-q", "-am", "carol leaves oncall"]);
    alice.git_ok(&["checkout", "-q", "bobwork"]);
    bob.set(&["NEW_TOKEN", "--group", "oncall"], "new-token-value");
    alice.git_ok(&["commit", "-q", "-am", "bob's token"]);
    alice.git_ok(&["checkout", "-q", "main"]);
    let merged = alice.git(&["merge", "-q", "--no-edit", "bobwork"]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(bob.reveal("NEW_TOKEN"), "new-token-value");
    carol.refused(&["get", "--reveal", "NEW_TOKEN"], 4, "group oncall");
    let ciphertext = alice.age_decrypt_json()["group_values"]["NEW_TOKEN"]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let mut age = std::process::Command::new("age");
    let mut child = age
        .args(["-d", "-i"])
        .arg(carol.home.identity_file())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), ciphertext.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    assert!(!stdout(&output).contains("new-token-value"));
    assert!(
        alice
            .listed(&["--stale"])
            .contains(&"NEW_TOKEN".to_string())
    );
}

/// Finding 5: a value typed to settle a group value's conflict is refused (it would be
/// kept for every member until the merge ends); settled by side, the merge finishes.
#[test]
fn a_group_conflict_is_not_settled_by_a_typed_value() {
    let shared = tempfile::tempdir().unwrap();
    let repo = shared.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let alice = Person::owner(&repo.join("vault.age"));
    let bob = Person::joined(&alice);
    oncall(&alice, &bob);
    bob.set(&["G1", "--group", "oncall"], "g1-base");
    bob.set(&["G2", "--group", "oncall"], "g2-base");
    alice.git_ok(&["init", "-q", "-b", "main"]);
    alice.ok(&["git", "setup"]);
    alice.git_ok(&["add", "."]);
    alice.git_ok(&["commit", "-q", "-m", "team vault"]);
    alice.git_ok(&["checkout", "-q", "-b", "other"]);
    bob.set(&["G1", "--group", "oncall"], "g1-theirs");
    bob.set(&["G2", "--group", "oncall"], "g2-theirs");
    alice.git_ok(&["commit", "-q", "-am", "theirs"]);
    alice.git_ok(&["checkout", "-q", "main"]);
    bob.set(&["G1", "--group", "oncall"], "g1-ours");
    bob.set(&["G2", "--group", "oncall"], "g2-ours");
    alice.git_ok(&["commit", "-q", "-am", "ours"]);
    let stopped = alice.git(&["merge", "-q", "--no-edit", "other"]);
    assert!(!stopped.status.success());
    let output = alice.run(
        &["merge", "--resolve", "G1", "--value-from-stdin"],
        "typed-for-g1\n",
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("vault set G1 --group oncall"),
        "{}",
        stderr(&output)
    );
    assert!(!repo.join(".git/secretsd-merge/values.age").exists());
    alice.ok(&["merge", "--resolve", "G1", "--theirs"]);
    alice.ok(&["merge", "--resolve", "G2", "--ours"]);
    assert_eq!(bob.reveal("G1"), "g1-theirs");
    assert_eq!(bob.reveal("G2"), "g2-ours");
}
