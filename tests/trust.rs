//! Tamper evidence that fails closed, tried as an attacker would: with only the victim's
//! public key, an old copy of the vault, or a seat in the team they were removed from.
//! Each person has a home of their own (their identity, configuration and what their
//! machine remembers) and reaches one shared vault file, as a team does through git.

mod common;

use std::path::{Path, PathBuf};

use common::{TestHome, age_keygen, chmod, stderr, stdout};

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

    /// Someone with an identity of their own and no vault yet.
    fn joining(vault: &Path) -> Person {
        let person = Person {
            home: TestHome::new(),
            vault: vault.to_path_buf(),
        };
        let name = person.home.name();
        person.ok(&["identity", "new", "--name", &name]);
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
        assert_refused(&self.run(args, "x"), code, words)
    }

    fn set(&self, name: &str, value: &str) {
        let output = self.run(&["set", name], value);
        assert!(output.status.success(), "set {name}: {}", stderr(&output));
    }

    fn reveal(&self, name: &str) -> String {
        self.ok(&["get", "--reveal", name])
    }

    fn line(&self) -> String {
        self.ok(&["identity", "public", "--name", &self.home.name()])
            .trim()
            .to_string()
    }

    /// Whether this person's identity opens `file` with the real age CLI.
    fn can_decrypt(&self, file: &Path) -> bool {
        std::process::Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(self.home.identity_file())
            .arg(file)
            .output()
            .unwrap()
            .status
            .success()
    }
}

/// `output` is of a command that failed with `code`, saying `words`; returns its stderr.
fn assert_refused(output: &std::process::Output, code: i32, words: &str) -> String {
    let said = stderr(output);
    assert_eq!(output.status.code(), Some(code), "{said}");
    assert!(said.contains(words), "{words:?} not in {said}");
    said
}

fn shared_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Alice owns; Bob and Carol join by their lines; Dave reads only. Bob's writes are
/// accepted everywhere with no `--accept`; Carol, removed, cannot come back with her old
/// copy re-signed: every machine that saw her removal refuses it, nothing is written, and
/// no program gets its values.
#[test]
fn four_people_share_a_vault_and_a_removed_member_stays_out() {
    let shared = shared_dir();
    let file = shared.path().join("vault.age");
    let alice = Person::owner(&file);
    let (bob, carol) = (Person::joining(&file), Person::joining(&file));
    let dave = Person {
        home: TestHome::new(),
        vault: file.clone(),
    };
    std::fs::create_dir_all(dave.home.identity_file().parent().unwrap()).unwrap();
    let dave_public = age_keygen(&dave.home.identity_file());
    for line in [bob.line(), carol.line(), dave_public] {
        alice.ok(&["recipients", "add", &line]);
    }
    alice.set("DB_PASSWORD", "db-v1");
    // Each newcomer sees the vault for the first time: no value until they trust it.
    for person in [&bob, &carol, &dave] {
        let said = person.refused(
            &["get", "--reveal", "DB_PASSWORD"],
            4,
            "not trusted on this machine yet",
        );
        assert!(said.contains("VAULT_TRUST="), "{said}");
        assert!(!said.contains("db-v1"), "{said}");
        let shown = person.ok(&["verify", "--accept"]);
        assert!(shown.contains("label: team"), "{shown}");
        assert!(shown.contains("owner: "), "{shown}");
        assert_eq!(person.reveal("DB_PASSWORD"), "db-v1");
    }
    // Bob, a member, writes: everyone reads it, with no question and no warning.
    bob.set("API_KEY", "from-bob");
    for person in [&alice, &carol, &dave] {
        let output = person.run(&["get", "--reveal", "API_KEY"], "");
        assert_eq!(stdout(&output), "from-bob");
        assert_eq!(stderr(&output), "", "a member's write needs no --accept");
    }
    // Dave reads only.
    dave.refused(&["set", "X"], 4, "not a member");
    // Carol keeps a copy, and is removed.
    let old_copy = carol.home.path().join("old.age");
    std::fs::copy(&file, &old_copy).unwrap();
    alice.ok(&["recipients", "remove", &carol.home.name()]);
    assert!(!carol.can_decrypt(&file));
    assert!(alice.ok(&["verify"]).contains("epoch: 5"));
    // Everyone else reads once after it: their machines saw epoch 5.
    bob.ok(&["get", "DB_PASSWORD"]);
    dave.ok(&["get", "DB_PASSWORD"]);
    // She re-signs her old copy (epoch 4, which lists her) and puts it back.
    let as_carol_on_copy = Person {
        home: carol.home,
        vault: old_copy.clone(),
    };
    as_carol_on_copy.set("PLANTED", "carol-was-here");
    std::fs::copy(&old_copy, &file).unwrap();
    chmod(&file, 0o600);
    let planted = std::fs::read(&file).unwrap();
    for person in [&alice, &bob, &dave] {
        let said = person.refused(
            &["get", "--reveal", "DB_PASSWORD"],
            4,
            "epoch 4 is lower than epoch 5",
        );
        assert!(
            said.contains(&as_carol_on_copy.home.name()),
            "names who would be back: {said}"
        );
        person.refused(&["exec", "--", "true"], 125, "may have been tampered with");
        person.refused(
            &["export", "--format", "json"],
            4,
            "may have been tampered with",
        );
        let shown = stdout(&person.run(&["verify"], ""));
        assert!(shown.contains("state: SUSPECT"), "{shown}");
    }
    alice.refused(&["set", "NEW_SECRET"], 4, "Nothing was read or changed");
    bob.refused(&["set", "NEW_SECRET"], 4, "Nothing was read or changed");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        planted,
        "nothing was written"
    );
    // Accepting it would sign Carol's content as Alice's: refused. Alice restores the
    // latest backup instead, written under the membership she trusts (epoch 5, without
    // Carol), never the old one.
    alice.refused(&["verify", "--accept"], 4, "not by a member of the vault");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        planted,
        "nothing was written"
    );
    alice.ok(&["restore", "--latest"]);
    assert!(!as_carol_on_copy.can_decrypt(&file));
    assert!(alice.ok(&["verify"]).contains("state: trusted"));
    assert_eq!(bob.reveal("DB_PASSWORD"), "db-v1");
    assert!(!alice.ok(&["list"]).contains("PLANTED"));
}

/// A vault forged with the plain age CLI and the victim's public key, holding a
/// `BASH_ENV` that would run the attacker's script, feeds no program and takes no write;
/// `list` still shows the names, with a warning, so the victim can look.
#[test]
fn a_forged_vault_feeds_no_program() {
    let victim = TestHome::initialised();
    victim.set("DB_PASSWORD", "real");
    let evil = victim.path().join("evil.sh");
    let marker = victim.path().join("evil-ran");
    std::fs::write(&evil, format!("touch {}\n", marker.display())).unwrap();
    let membership = victim.membership();
    let recipient = victim.public_key();
    let bash_env = evil.display().to_string();
    // Unsigned; with the victim's own (genuine) membership block copied in; with none.
    for forged in [
        format!(
            r#"{{"format":"secretsd-vault","version":2,"membership":{membership},"generation":99,"recipients":["{recipient}"],"secrets":{{"BASH_ENV":{{"value":"{bash_env}"}}}}}}"#
        ),
        format!(
            r#"{{"format":"secretsd-vault","version":1,"recipients":["{recipient}"],"secrets":{{"BASH_ENV":{{"value":"{bash_env}"}}}}}}"#
        ),
    ] {
        victim.age_encrypt_text(&forged);
        let manifest = victim.path().join("app.toml");
        std::fs::write(&manifest, "[env]\nBASH_ENV = \"secret:BASH_ENV\"\n").unwrap();
        for (args, code) in [
            (&["exec", "--", "bash", "-c", "true"][..], 125),
            (
                // Allowed by name, so the vault is read and judged, not the name.
                &[
                    "run",
                    "--allow-env",
                    "BASH_ENV",
                    "--manifest",
                    "app.toml",
                    "--",
                    "bash",
                    "-c",
                    "true",
                ],
                125,
            ),
            (&["get", "--reveal", "BASH_ENV"], 4),
            (&["get", "BASH_ENV"], 4),
            (&["export", "--format", "shell"], 4),
            (&["sync", "--from", "vault", "--to", "dotenv:out.env"], 4),
            (&["set", "OTHER"], 4),
        ] {
            let output = victim.vault(args).write_stdin("x").output().unwrap();
            assert_eq!(
                output.status.code(),
                Some(code),
                "{args:?}: {}",
                stderr(&output)
            );
            assert!(
                stderr(&output).contains("tampered with"),
                "{args:?}: {}",
                stderr(&output)
            );
            assert!(!stderr(&output).contains(&bash_env), "no value in messages");
        }
        assert!(!marker.exists(), "the forged BASH_ENV ran");
        assert!(!victim.path().join("out.env").exists());
        let output = victim.vault(&["list"]).output().unwrap();
        assert!(output.status.success());
        assert!(stdout(&output).contains("BASH_ENV"));
        assert!(stderr(&output).contains("warning"), "{}", stderr(&output));
    }
    // Signed, but by a key that is not a member's.
    let attacker = victim.path().join("attacker.key");
    age_keygen(&attacker);
    let forged = format!(
        r#"{{"format":"secretsd-vault","version":2,"membership":{membership},"generation":99,"recipients":["{recipient}"],"secrets":{{"BASH_ENV":{{"value":"{bash_env}"}}}}}}"#
    );
    victim.age_encrypt_text(&common::sign_with(&attacker, &forged));
    let output = victim
        .vault(&["exec", "--", "bash", "-c", "true"])
        .output()
        .unwrap();
    assert_refused(&output, 125, "who is not a member");
    assert!(!marker.exists());
}

/// Encrypted to one key more than its membership lists (a member re-encrypting content
/// to an outsider): refused.
#[test]
fn a_vault_encrypted_to_an_extra_key_is_refused() {
    let home = TestHome::initialised();
    home.set("A", "a-value");
    let text = home.age_decrypt_text();
    let outsider = home.path().join("outsider.key");
    let outsider_public = age_keygen(&outsider);
    common::age_encrypt_to(
        &text,
        &[&home.public_key(), &outsider_public],
        &home.vault_file(),
    );
    let output = home.vault(&["get", "--reveal", "A"]).output().unwrap();
    assert_refused(&output, 4, "encrypted it to a key it does not list");
}

/// Every read is checked: a file rewritten in place (same inode, size and times) after a
/// read that found it genuine is checked again, and refused.
#[test]
fn a_file_rewritten_in_place_is_checked_again() {
    use std::io::{Seek, Write};
    let home = TestHome::initialised();
    home.set("A", "a-value");
    assert_eq!(home.reveal("A"), "a-value");
    let before = std::fs::metadata(home.vault_file()).unwrap();
    // The same plaintext with one value changed (same length) and the signature
    // stripped, padded with spaces until its ciphertext is exactly as long as the vault.
    let text = home.age_decrypt_text();
    let at = text.find(",\"signature\"").unwrap();
    let forged = text[..at].replace("a-value", "b-value") + "}";
    let plain = home.path().join("plain.json");
    let encrypt = |padding: usize| {
        std::fs::write(&plain, format!("{forged}{}", " ".repeat(padding))).unwrap();
        let output = std::process::Command::new("age")
            .args(["-e", "-r", &home.public_key()])
            .arg(&plain)
            .output()
            .unwrap();
        output.stdout
    };
    let short = encrypt(0);
    let ciphertext = encrypt(before.len() as usize - short.len());
    assert_eq!(ciphertext.len() as u64, before.len());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .open(home.vault_file())
        .unwrap();
    file.rewind().unwrap();
    file.write_all(&ciphertext).unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    drop(file);
    let output = home.vault(&["get", "--reveal", "A"]).output().unwrap();
    assert_refused(&output, 4, "not signed");
}

/// With no place for what it has seen, vault checks nothing and so uses nothing; a
/// record it cannot read, or that another could have written, is an error too.
#[test]
fn trust_fails_closed_without_a_record() {
    let home = TestHome::initialised();
    home.set("A", "a-value");
    // As another (unprivileged) user, in a home of theirs, with neither HOME nor
    // XDG_STATE_HOME (a cron job, a root-less timer).
    std::fs::write(home.path().join("empty.toml"), "").unwrap();
    let status = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(home.path())
        .status()
        .unwrap();
    assert!(status.success());
    for xdg_state_home in [None, Some("relative/state")] {
        let mut command = std::process::Command::new("setpriv");
        command
            .args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                "--",
            ])
            .arg(assert_cmd::cargo::cargo_bin("vault"))
            .args(["get", "--reveal", "A"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("VAULT_FILE", home.vault_file())
            .env("VAULT_IDENTITY", home.identity_file())
            .env("VAULT_CONFIG", home.path().join("empty.toml"))
            .current_dir(home.path());
        if let Some(dir) = xdg_state_home {
            command.env("XDG_STATE_HOME", dir);
        }
        let output = command.output().unwrap();
        assert_refused(&output, 4, "XDG_STATE_HOME");
        assert!(output.stdout.is_empty());
    }
    let status = std::process::Command::new("chown")
        .args(["-R", "0:0"])
        .arg(home.path())
        .status()
        .unwrap();
    assert!(status.success());
    // A record that does not parse.
    let record = home.trust_file();
    let kept = std::fs::read(&record).unwrap();
    std::fs::write(&record, "{ not json").unwrap();
    let output = home.vault(&["get", "--reveal", "A"]).output().unwrap();
    assert_refused(&output, 4, &record.display().to_string());
    std::fs::write(&record, &kept).unwrap();
    // A record in a directory others may write.
    let dir = record.parent().unwrap();
    chmod(dir, 0o777);
    let output = home.vault(&["get", "--reveal", "A"]).output().unwrap();
    assert_refused(&output, 4, "chmod go-w");
    chmod(dir, 0o700);
    assert_eq!(home.reveal("A"), "a-value");
}

/// A restore puts back a backup's secrets as a new version under the current membership,
/// never the backup's: a member removed since stays removed.
#[test]
fn a_restore_keeps_the_current_membership() {
    let shared = shared_dir();
    let file = shared.path().join("vault.age");
    let alice = Person::owner(&file);
    let carol = Person::joining(&file);
    alice.ok(&["recipients", "add", &carol.line()]);
    alice.set("SESSION", "old-session");
    alice.ok(&["recipients", "remove", &carol.home.name()]);
    alice.set("SESSION", "new-session");
    let listed = alice.ok(&["restore", "--list"]);
    // The newest backups: before the last set (Carol already gone), before her removal
    // (Carol still in it), before the set of the old value.
    let ids: Vec<&str> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .collect();
    let with_carol = ids
        .iter()
        .find(|id| {
            let backup = shared.path().join(format!("backups/vault-{id}.age"));
            carol.can_decrypt(&backup)
                && common::age_decrypt(&backup, &alice.home.identity_file())["secrets"]["SESSION"]
                    ["value"]
                    == "old-session"
        })
        .expect("a backup from when Carol was a member, holding the old value");
    let epoch = |p: &Person| {
        p.ok(&["verify"])
            .lines()
            .find(|l| l.starts_with("epoch:"))
            .unwrap()
            .to_string()
    };
    let before = epoch(&alice);
    alice.ok(&["restore", "--backup", with_carol]);
    assert_eq!(alice.reveal("SESSION"), "old-session");
    assert!(
        !carol.can_decrypt(&file),
        "the restore let a removed member back"
    );
    assert_eq!(epoch(&alice), before);
}

/// A vault seen for the first time (a fresh clone, a CI runner) uses no value and writes
/// nothing until its owners are trusted: by `VAULT_TRUST`, `[security] vaults`, or
/// `vault verify --accept`. Owners that do not match refuse it.
#[test]
fn a_first_sight_is_not_trusted_silently() {
    let shared = shared_dir();
    let file = shared.path().join("vault.age");
    let alice = Person::owner(&file);
    let ci = Person::joining(&file);
    alice.ok(&["recipients", "add", &ci.line()]);
    alice.set("TOKEN", "ci-token");
    let id = alice
        .ok(&["verify"])
        .lines()
        .find_map(|l| l.strip_prefix("id: ").map(str::to_string))
        .unwrap();
    let owner = alice.home.writer();
    // Names only, with a warning.
    let output = ci.run(&["list"], "");
    assert!(output.status.success());
    assert!(
        stderr(&output).contains("not seen the vault"),
        "{}",
        stderr(&output)
    );
    ci.refused(&["exec", "--", "true"], 125, "VAULT_TRUST=");
    ci.refused(&["set", "X"], 4, "not trusted on this machine yet");
    // The wrong owner.
    let stranger = TestHome::initialised().writer();
    let output = ci
        .vault(&["get", "--reveal", "TOKEN"])
        .env("VAULT_TRUST", format!("{id}:{stranger}"))
        .output()
        .unwrap();
    assert_refused(&output, 4, "not signed by an owner this machine trusts");
    // The right one, from the environment, then from the configuration.
    let output = ci
        .vault(&["get", "--reveal", "TOKEN"])
        .env("VAULT_TRUST", format!("{id}:{owner}"))
        .output()
        .unwrap();
    assert_eq!(stdout(&output), "ci-token", "{}", stderr(&output));
    ci.home.forget_trust();
    std::fs::write(
        ci.home.path().join("config/secretsd/config.toml"),
        format!("[security.vaults]\n\"{id}\" = [\"{owner}\"]\n"),
    )
    .unwrap();
    assert_eq!(ci.reveal("TOKEN"), "ci-token");
    // Remembered from then on.
    std::fs::remove_file(ci.home.path().join("config/secretsd/config.toml")).unwrap();
    assert_eq!(ci.reveal("TOKEN"), "ci-token");
    // The pin `vault verify` prints carries the epoch: a fresh runner given an older copy
    // (one from before a change of membership) refuses it.
    let old = shared.path().join("old.age");
    std::fs::copy(&file, &old).unwrap();
    let reader = shared.path().join("reader.key");
    alice.ok(&["recipients", "add", &age_keygen(&reader)]);
    let pin = alice
        .ok(&["verify"])
        .lines()
        .find_map(|l| {
            l.strip_prefix("pin it elsewhere with: VAULT_TRUST=")
                .map(str::to_string)
        })
        .unwrap();
    assert!(pin.starts_with(&format!("{id}@")), "{pin}");
    std::fs::copy(&old, &file).unwrap();
    ci.home.forget_trust();
    let output = ci
        .vault(&["get", "--reveal", "TOKEN"])
        .env("VAULT_TRUST", &pin)
        .output()
        .unwrap();
    assert_refused(&output, 4, "configured for it");
}

/// A member cannot change who the vault is for: not with vault, and not by forging a
/// block that binds another member's recipient to a key of their own, which every other
/// machine refuses. An owner cannot bind a recipient twice either.
#[test]
fn a_member_cannot_bind_another_members_recipient_to_their_own_key() {
    use secretsd::store::membership::{Member, Membership};
    let shared = shared_dir();
    let file = shared.path().join("vault.age");
    let alice = Person::owner(&file);
    let (bob, carol) = (Person::joining(&file), Person::joining(&file));
    alice.ok(&["recipients", "add", &bob.line()]);
    alice.ok(&["recipients", "add", &carol.line()]);
    for person in [&bob, &carol] {
        person.ok(&["verify", "--accept"]);
    }
    let carol_recipient = carol.home.public_key();
    let bob_second = bob.home.path().join("second.key");
    age_keygen(&bob_second);
    let second_identity =
        secretsd::store::identity::x25519_identity(&std::fs::read_to_string(&bob_second).unwrap())
            .unwrap();
    let second_key =
        secretsd::store::signature::SigningKey::from_identity(&second_identity).unwrap();
    let pair = Member {
        recipient: carol_recipient.clone(),
        writer: second_key.writer(),
        name: "carol2".into(),
    };
    // With vault: only an owner changes membership; a recipient appears once.
    bob.refused(&["recipients", "add", &pair.line()], 4, "only an owner");
    alice.refused(
        &["recipients", "add", &pair.line()],
        2,
        "a recipient of this vault already",
    );
    // By hand: Bob builds the block himself and signs the content.
    let document = common::age_decrypt(&file, &alice.home.identity_file());
    let block = Membership::parse(&document["membership"].to_string()).unwrap();
    let mut body = block.body.clone();
    body.members.push(pair);
    body.epoch += 1;
    let bob_identity = secretsd::store::identity::x25519_identity(
        &std::fs::read_to_string(bob.home.identity_file()).unwrap(),
    )
    .unwrap();
    let bob_key = secretsd::store::signature::SigningKey::from_identity(&bob_identity).unwrap();
    assert!(
        block.next(body, &bob_key).is_err(),
        "the library refuses too"
    );
    let mut forged = document.clone();
    let mut stored: serde_json::Value = document["membership"].clone();
    let members = stored["body"]["members"].as_array_mut().unwrap();
    members.push(serde_json::json!({"recipient": carol_recipient, "writer": second_key.writer(), "name": "carol2"}));
    stored["body"]["epoch"] = serde_json::json!(block.body.epoch + 1);
    forged["membership"] = stored;
    forged.as_object_mut().unwrap().remove("signature");
    let forged = common::sign_with(&bob.home.identity_file(), &forged.to_string());
    let recipients: Vec<String> = block.body.recipients();
    let recipients: Vec<&str> = recipients.iter().map(String::as_str).collect();
    common::age_encrypt_to(&forged, &recipients, &file);
    for person in [&alice, &carol] {
        person.refused(
            &["get", "--reveal", "X"],
            4,
            "membership block is not valid",
        );
    }
}

/// Owners change by the chain: a machine that trusted Alice follows her handing the vault
/// to Bob. An expiring membership refuses writes once expired, until an owner renews it.
#[test]
fn owners_change_by_the_chain_and_a_membership_can_expire() {
    let shared = shared_dir();
    let file = shared.path().join("vault.age");
    let alice = Person::owner(&file);
    let (bob, carol) = (Person::joining(&file), Person::joining(&file));
    alice.ok(&["recipients", "add", &bob.line()]);
    alice.ok(&["recipients", "add", &carol.line()]);
    carol.ok(&["verify", "--accept"]);
    alice.ok(&["owners", "add", &bob.home.name()]);
    bob.ok(&["verify", "--accept"]);
    bob.ok(&["owners", "remove", &alice.home.writer()]);
    bob.ok(&["recipients", "remove", &alice.home.writer()]);
    bob.set("AFTER", "handed-over");
    // Carol pinned Alice; she follows the chain to Bob without being asked.
    let output = carol.run(&["get", "--reveal", "AFTER"], "");
    assert_eq!(stdout(&output), "handed-over", "{}", stderr(&output));
    assert!(carol.ok(&["owners", "list"]).starts_with(&bob.home.name()));
    carol.refused(&["owners", "add", &carol.home.name()], 4, "only an owner");
    // Expiry.
    bob.refused(&["renew", "--max-age", "5000000y"], 2, "at most 100 years");
    bob.ok(&["renew", "--max-age", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let said = carol.refused(&["set", "X"], 4, "expired");
    assert!(said.contains("vault renew"), "{said}");
    let output = carol.run(&["get", "--reveal", "AFTER"], "");
    assert!(output.status.success());
    assert!(stderr(&output).contains("expired"), "{}", stderr(&output));
    bob.ok(&["renew", "--no-expiry"]);
    carol.set("X", "after-renewal");
}

/// `vault init --from` starts an independent vault (a new id) from a copy; a plain copy
/// keeps the id, which is noticed; a copy put over another vault's place is refused
/// until accepted there.
#[test]
fn copies_forks_and_places() {
    let shared = shared_dir();
    let prod = shared.path().join("prod.age");
    let staging = shared.path().join("staging.age");
    let alice = Person::owner(&prod);
    alice.set("DB", "prod-db");
    let copy = shared.path().join("copy.age");
    std::fs::copy(&prod, &copy).unwrap();
    let at_copy = Person {
        home: alice.home,
        vault: copy.clone(),
    };
    let output = at_copy.run(&["get", "--reveal", "DB"], "");
    assert!(output.status.success());
    assert!(
        stderr(&output).contains(&prod.display().to_string()),
        "the same vault at two places: {}",
        stderr(&output)
    );
    let at_staging = Person {
        home: at_copy.home,
        vault: staging.clone(),
    };
    at_staging.ok(&[
        "init",
        "--from",
        copy.to_str().unwrap(),
        "--label",
        "staging",
    ]);
    assert_eq!(at_staging.reveal("DB"), "prod-db");
    let shown = at_staging.ok(&["verify"]);
    assert!(shown.contains("label: staging"), "{shown}");
    // staging.age copied over prod.age: the place held another vault.
    std::fs::copy(&staging, &prod).unwrap();
    let at_prod = Person {
        home: at_staging.home,
        vault: prod.clone(),
    };
    at_prod.refused(&["get", "--reveal", "DB"], 4, "now holds another one");
    // Accepting it here is not enough: the place changes vault only when told so.
    at_prod.refused(&["verify", "--accept"], 4, "--rebind");
    at_prod.ok(&["verify", "--accept", "--rebind"]);
    assert_eq!(at_prod.reveal("DB"), "prod-db");
}

/// A vault from before membership blocks (version 1): read as it is where this machine saw
/// it before (vault kept a record per path then) with the same recipients and its writer
/// is this user, and given a block (its writer the owner, the other recipients read-only)
/// by the next write; anywhere else — a fresh clone, an old own-signed copy — a first
/// sight, which shows its recipients; put back where version 2 was seen, suspect.
#[test]
fn a_version_1_vault_is_upgraded_by_its_writer() {
    use sha2::Digest;
    let home = TestHome::initialised();
    let teammate = home.path().join("teammate.key");
    let teammate_public = age_keygen(&teammate);
    let recipient = home.public_key();
    let version_1 = format!(
        r#"{{"format":"secretsd-vault","version":1,"recipients":["{recipient}","{teammate_public}"],"secrets":{{"OLD":{{"value":"from-v1","created":"c","updated":"u"}}}}}}"#
    );
    let encrypt = |text: &str| {
        common::age_encrypt_to(text, &[&recipient, &teammate_public], &home.vault_file());
    };
    // Put back where version 2 was seen: suspect.
    encrypt(&home.sign(&version_1));
    let output = home.vault(&["get", "--reveal", "OLD"]).output().unwrap();
    assert_refused(&output, 4, "version-1");
    // A machine with nothing but an old record of it: its own writer's vault reads.
    home.forget_trust();
    let output = home.vault(&["get", "--reveal", "OLD"]).output().unwrap();
    let said = assert_refused(&output, 4, "from before membership blocks");
    assert!(
        said.contains(&teammate_public),
        "the recipients are shown: {said}"
    );
    let real = std::fs::canonicalize(home.vault_file()).unwrap();
    let digest = sha2::Sha256::digest(real.display().to_string().as_bytes());
    let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    let old_records = home.path().join(".local/state/secretsd/trust");
    std::fs::create_dir_all(&old_records).unwrap();
    chmod(&old_records, 0o700);
    let old_record = old_records.join(format!("{name}.json"));
    std::fs::write(
        &old_record,
        serde_json::json!({"vault": real, "recipients": [recipient, teammate_public], "writers": [], "signed": true})
            .to_string(),
    )
    .unwrap();
    chmod(&old_record, 0o600);
    assert_eq!(home.reveal("OLD"), "from-v1");
    home.set("NEW", "written");
    let document = home.age_decrypt();
    assert_eq!(document["version"], 2);
    assert_eq!(
        document["membership"]["body"]["read_only"][0],
        teammate_public.as_str()
    );
    assert!(common::age_decrypt(&home.vault_file(), &teammate)["secrets"]["NEW"].is_object());
    // Not written by you: a first sight even with the old record; accepting it makes you
    // its owner.
    encrypt(&version_1);
    home.forget_trust();
    let output = home.vault(&["get", "--reveal", "OLD"]).output().unwrap();
    assert_refused(&output, 4, "from before membership blocks");
    home.vault(&["verify", "--accept"]).assert().success();
    assert_eq!(home.reveal("OLD"), "from-v1");
    assert_eq!(home.age_decrypt()["version"], 2);
}

/// A generated unit keeps what its vault has seen in a state directory of its own and
/// pins the vault's owners: its first start needs nobody to accept the vault, and an
/// older copy handed to it after it saw a newer one is refused.
#[test]
fn a_service_keeps_its_record_across_starts() {
    let home = TestHome::initialised();
    home.set("DB", "db-1");
    let manifest = home.path().join("app.toml");
    std::fs::write(&manifest, "[env]\nDB = \"secret:DB\"\n").unwrap();
    let output = home
        .vault(&[
            "systemd",
            "unit",
            "app",
            "--manifest",
            manifest.to_str().unwrap(),
            "--",
            "/usr/bin/env",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let unit = stdout(&output);
    let setting = |prefix: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {unit}"))
            .to_string()
    };
    assert_eq!(setting("StateDirectory="), "secretsd-app");
    assert_eq!(setting("Environment=XDG_STATE_HOME="), "%S/secretsd-app");
    let pinned = setting("Environment=VAULT_TRUST=");
    assert!(pinned.ends_with(&home.writer()), "{pinned}");
    let file = home.path().join("app.service");
    std::fs::write(&file, &unit).unwrap();
    common::assert_systemd_verifies(&[&file]);
    // Started as systemd starts it: no HOME, its credentials, its state directory (%S).
    let state = tempfile::tempdir().unwrap();
    let credentials = tempfile::tempdir().unwrap();
    std::fs::copy(
        home.identity_file(),
        credentials.path().join("vault-identity"),
    )
    .unwrap();
    std::fs::copy(&manifest, credentials.path().join("vault-manifest")).unwrap();
    let start = |vault: &Path| {
        std::fs::copy(vault, credentials.path().join("vault-file")).unwrap();
        std::process::Command::new(assert_cmd::cargo::cargo_bin("vault"))
            .args(["run", "--manifest"])
            .arg(credentials.path().join("vault-manifest"))
            .args(["--", "/usr/bin/env"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CREDENTIALS_DIRECTORY", credentials.path())
            .env("VAULT_FILE", credentials.path().join("vault-file"))
            .env("VAULT_CONFIG", credentials.path().join("none.toml"))
            .env("XDG_STATE_HOME", state.path().join("secretsd-app"))
            .env("VAULT_TRUST", &pinned)
            .output()
            .unwrap()
    };
    std::fs::write(credentials.path().join("none.toml"), "").unwrap();
    let old = home.path().join("epoch-1.age");
    std::fs::copy(home.vault_file(), &old).unwrap();
    let output = start(&home.vault_file());
    assert!(stdout(&output).contains("DB=db-1"), "{}", stderr(&output));
    assert!(
        state
            .path()
            .join("secretsd-app/secretsd/trust.json")
            .exists()
    );
    // The owner changes the membership (epoch 2); the service starts with it...
    let reader = home.path().join("reader.key");
    home.vault(&["recipients", "add", &age_keygen(&reader)])
        .assert()
        .success();
    assert!(start(&home.vault_file()).status.success());
    // ...and is then handed the older copy: refused, nothing started.
    let output = start(&old);
    assert_refused(&output, 125, "epoch 1 is lower than epoch 2");
    assert!(!stdout(&output).contains("DB="));
}

/// A restore takes only what a current member (or you) wrote, and only files your own
/// vault recorded: a backup of a version a removed member wrote, or a files bundle anyone
/// could have encrypted to the recipients (a backups directory can arrive through git),
/// is refused and nothing changes.
#[test]
fn a_restore_takes_only_what_members_and_you_wrote() {
    let shared = shared_dir();
    let file = shared.path().join("vault.age");
    let alice = Person::owner(&file);
    let carol = Person::joining(&file);
    alice.ok(&["recipients", "add", &carol.line()]);
    carol.ok(&["verify", "--accept"]);
    carol.set("FROM_CAROL", "carol-wrote-this");
    alice.set("AFTER", "alice-wrote-this");
    alice.ok(&["recipients", "remove", &carol.home.name()]);
    let carol_writer = carol.home.writer();
    let backups = shared.path().join("backups");
    let written_by = |backup: &Path| {
        let text = std::process::Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(alice.home.identity_file())
            .arg(backup)
            .output()
            .unwrap()
            .stdout;
        let document: serde_json::Value = serde_json::from_slice(&text).unwrap();
        document["signature"]["writer"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    let carols = std::fs::read_dir(&backups)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "age")
                && !p.to_string_lossy().ends_with(".files.age")
                && written_by(p) == carol_writer
        })
        .expect("a backup of the version Carol wrote");
    let id = carols
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("vault-")
        .to_string();
    let before = std::fs::read(&file).unwrap();
    alice.refused(
        &["restore", "--backup", &id],
        4,
        "not a member of the vault now",
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // A files bundle encrypted to Alice by anyone: it would overwrite any file, as any
    // owner. Refused; the vault alone can still be restored.
    let mine = std::fs::read_dir(&backups)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|x| x == "age")
                && !p.to_string_lossy().ends_with(".files.age")
                && written_by(p) == alice.home.writer()
        })
        .unwrap();
    let target = alice.home.path().join("victim.txt");
    let bundle = serde_json::json!({"format": "secretsd-backup-files", "version": 1,
        "files": [{"path": target.display().to_string(), "mode": 0o4755, "uid": 0, "gid": 0, "content": "planted"}]});
    let planted = mine.with_extension("files.age");
    let record = mine.with_extension("json");
    let mut metadata: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    metadata["files"] = serde_json::json!([".env"]);
    std::fs::write(&record, metadata.to_string()).unwrap();
    common::age_encrypt_to(&bundle.to_string(), &[&alice.home.public_key()], &planted);
    let id = mine
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .trim_start_matches("vault-")
        .to_string();
    alice.refused(&["restore", "--backup", &id], 4, "not signed by you");
    assert!(!target.exists());
    alice.ok(&["restore", "--backup", &id, "--no-files"]);
    assert!(!target.exists());
}

/// A passphrase vault made with the id of a vault this machine knows encrypted to its
/// members — by whoever can guess or learn a passphrase the user has set in
/// VAULT_PASSPHRASE_FILE — is refused; so is an empty passphrase at a prompt.
#[test]
fn a_passphrase_vault_in_a_members_vaults_place_is_refused() {
    use std::io::Write;
    let home = TestHome::initialised();
    home.set("DB", "real");
    let id = home.age_decrypt()["membership"]["body"]["vault_id"]
        .as_str()
        .unwrap()
        .to_string();
    let forged = format!(
        r#"{{"format":"secretsd-vault","version":2,"membership":{{"body":{{"vault_id":"{id}","label":"vault","epoch":9,"passphrase":true}}}},"generation":99,"recipients":[],"secrets":{{"DB":{{"value":"attacker"}}}}}}"#
    );
    let passphrase = age::secrecy::SecretString::from("known-to-the-attacker".to_string());
    let encryptor = age::Encryptor::with_user_passphrase(passphrase);
    let mut ciphertext = Vec::new();
    let mut writer = encryptor.wrap_output(&mut ciphertext).unwrap();
    writer.write_all(forged.as_bytes()).unwrap();
    writer.finish().unwrap();
    std::fs::write(home.vault_file(), &ciphertext).unwrap();
    let passphrase_file = home.path().join("passphrase");
    std::fs::write(&passphrase_file, "known-to-the-attacker\n").unwrap();
    chmod(&passphrase_file, 0o600);
    for args in [&["get", "--reveal", "DB"][..], &["set", "NEW"]] {
        let output = home
            .vault(args)
            .env("VAULT_PASSPHRASE_FILE", &passphrase_file)
            .write_stdin("x")
            .output()
            .unwrap();
        assert_refused(&output, 4, "passphrase vault where this machine knows");
        assert!(!stdout(&output).contains("attacker"));
        assert_eq!(std::fs::read(home.vault_file()).unwrap(), ciphertext);
    }
}

/// A member can sign a generation at the very end of the range: nobody's reads or writes
/// stop for it.
#[test]
fn a_generation_at_the_limit_stops_nobody() {
    let home = TestHome::initialised();
    home.set("A", "a-value");
    let recipient = home.public_key();
    let membership = home.membership();
    home.age_encrypt_text(&home.sign(&format!(
        r#"{{"format":"secretsd-vault","version":2,"membership":{membership},"generation":18446744073709551615,"recipients":["{recipient}"],"secrets":{{"A":{{"value":"a-value"}}}}}}"#
    )));
    assert_eq!(home.reveal("A"), "a-value");
    home.set("B", "b-value");
    home.vault(&["list"]).assert().success();
    assert_eq!(home.reveal("B"), "b-value");
}

/// Nothing a vault not trusted yet says about itself drives the terminal: names,
/// recipients and members with control characters are shown escaped, or refused.
#[test]
fn untrusted_text_never_drives_the_terminal() {
    let home = TestHome::initialised();
    let recipient = home.public_key();
    let membership = home.membership();
    home.age_encrypt_text(&format!(
        r#"{{"format":"secretsd-vault","version":1,"recipients":["{recipient}"],"secrets":{{"A\u001b[2J":{{"value":"x"}}}}}}"#
    ));
    home.forget_trust();
    for args in [&["list"][..], &["verify"], &["recipients", "list"]] {
        let output = home.vault(args).output().unwrap();
        assert!(
            !output.stdout.contains(&0x1b) && !output.stderr.contains(&0x1b),
            "{args:?}: {:?}",
            stdout(&output)
        );
    }
    // A membership block naming a recipient with an escape in it is not valid.
    let escaped = membership.replacen(&recipient, &format!("{recipient}\\u001b[C"), 1);
    home.age_encrypt_text(&home.sign(&format!(
        r#"{{"format":"secretsd-vault","version":2,"membership":{escaped},"generation":1,"recipients":["{recipient}"],"secrets":{{}}}}"#
    )));
    let output = home.vault(&["verify"]).output().unwrap();
    assert!(!output.stdout.contains(&0x1b), "{}", stdout(&output));
    assert!(stdout(&output).contains("NOT VALID"), "{}", stdout(&output));
}

/// A restore writes only under a membership this machine trusts, as that very vault: not
/// into a version-1 file at a place it never saw (whose recipients someone else chose),
/// nor into a file encrypted to a passphrase where the vault is its members'.
#[test]
fn a_restore_needs_the_membership_it_writes_under() {
    use std::io::Write;
    let home = TestHome::initialised();
    home.set("DB", "prod-db-password");
    home.set("OTHER", "x");
    let attacker = home.path().join("attacker.key");
    let attacker_public = age_keygen(&attacker);
    // A fresh clone: the backups (as git could bring them) beside an unsigned version-1
    // file encrypted to the victim and the attacker.
    let clone = home.path().join("clone");
    std::fs::create_dir(&clone).unwrap();
    chmod(&clone, 0o700);
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(home.backup_dir())
        .arg(clone.join("backups"))
        .status()
        .unwrap();
    assert!(status.success());
    for entry in std::fs::read_dir(clone.join("backups")).unwrap().flatten() {
        let name = entry
            .file_name()
            .to_string_lossy()
            .replace("vault-", "forged-");
        std::fs::rename(entry.path(), clone.join("backups").join(name)).unwrap();
    }
    let forged = clone.join("forged.age");
    let recipient = home.public_key();
    common::age_encrypt_to(
        &format!(
            r#"{{"format":"secretsd-vault","version":1,"recipients":["{recipient}","{attacker_public}"],"secrets":{{}}}}"#
        ),
        &[&recipient, &attacker_public],
        &forged,
    );
    let output = home
        .vault(&["--vault", forged.to_str().unwrap(), "restore", "--latest"])
        .output()
        .unwrap();
    assert_refused(&output, 4, "no membership this machine trusts");
    let opened = std::process::Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&attacker)
        .arg(&forged)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&opened.stdout).contains("prod-db-password"));
    // The vault's own place, now holding a file encrypted to a passphrase the attacker
    // knows (and the user has set), with the vault's id.
    let id = home.age_decrypt()["membership"]["body"]["vault_id"]
        .as_str()
        .unwrap()
        .to_string();
    let passphrase = age::secrecy::SecretString::from("shared-with-the-attacker".to_string());
    let mut ciphertext = Vec::new();
    let mut writer = age::Encryptor::with_user_passphrase(passphrase)
        .wrap_output(&mut ciphertext)
        .unwrap();
    writer
        .write_all(
            format!(
                r#"{{"format":"secretsd-vault","version":2,"membership":{{"body":{{"vault_id":"{id}","label":"vault","epoch":1,"passphrase":true}}}},"generation":1,"recipients":[],"secrets":{{}}}}"#
            )
            .as_bytes(),
        )
        .unwrap();
    writer.finish().unwrap();
    std::fs::write(home.vault_file(), &ciphertext).unwrap();
    let passphrase_file = home.path().join("passphrase");
    std::fs::write(&passphrase_file, "shared-with-the-attacker\n").unwrap();
    chmod(&passphrase_file, 0o600);
    // A backup of the vault's own (encrypted to its members) does not open with the
    // passphrase; one encrypted to the passphrase is not a backup of a members' vault.
    let planted = home.backup_dir().join("vault-20200101T000000Z.age");
    std::fs::write(&planted, &ciphertext).unwrap();
    std::fs::write(
        planted.with_extension("json"),
        r#"{"format":"secretsd-backup","version":1,"vault":"v","created":"2020","operation":"set","names":["DB"]}"#,
    )
    .unwrap();
    for (args, why) in [
        (&["restore", "--latest"][..], "does not open"),
        (
            &["restore", "--backup", "20200101T000000Z"],
            "a passphrase vault where this machine knows a vault encrypted to members",
        ),
    ] {
        let output = home
            .vault(args)
            .env("VAULT_PASSPHRASE_FILE", &passphrase_file)
            .output()
            .unwrap();
        let said = assert_refused(&output, 4, "nothing was changed");
        assert!(said.contains(why), "{said}");
        assert_eq!(std::fs::read(home.vault_file()).unwrap(), ciphertext);
    }
}

/// Backups named for a time to come (planted through git, say) are not the newest: they
/// neither become what `--latest` restores nor push real backups out of retention, and
/// what a record says never drives the terminal.
#[test]
fn backups_from_the_future_are_ignored() {
    let home = TestHome::initialised();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        "[backup]\nkeep = 3\n",
    )
    .unwrap();
    home.set("A", "1");
    home.set("A", "2");
    let real: Vec<std::path::PathBuf> = std::fs::read_dir(home.backup_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "age"))
        .collect();
    let template = real[0].clone();
    for year in 2990..2999 {
        let data = home
            .backup_dir()
            .join(format!("vault-{year}1231T235959Z.age"));
        std::fs::copy(&template, &data).unwrap();
        std::fs::write(
            data.with_extension("json"),
            format!(
                r#"{{"format":"secretsd-backup","version":1,"vault":"v","created":"{year}","operation":"set\u001b]52;c;ZXZpbA==\u0007","names":["A"]}}"#
            ),
        )
        .unwrap();
    }
    home.set("A", "3");
    home.set("A", "4");
    let output = home.vault(&["restore", "--list"]).output().unwrap();
    let listed = stdout(&output);
    assert!(!listed.contains("2990"), "{listed}");
    assert!(!output.stdout.contains(&0x1b));
    assert_eq!(
        listed.lines().count(),
        3,
        "the newest real backups are kept: {listed}"
    );
    home.vault(&["restore", "--latest"]).assert().success();
    assert_eq!(home.reveal("A"), "3");
}

/// A stanza whose type starts as an SSH one and ends as age's grease does: counted once,
/// refused with a message that adds up, never a panic.
#[test]
fn a_stanza_that_looks_like_ssh_and_grease_is_refused_plainly() {
    use std::io::Write;
    struct Odd;
    impl age::Recipient for Odd {
        fn wrap_file_key(
            &self,
            _: &age_core::format::FileKey,
        ) -> Result<
            (
                Vec<age_core::format::Stanza>,
                std::collections::HashSet<String>,
            ),
            age::EncryptError,
        > {
            let stanza = age_core::format::Stanza {
                tag: "ssh-x-grease".into(),
                args: vec!["AAAA".into()],
                body: vec![1, 2, 3],
            };
            Ok((vec![stanza], Default::default()))
        }
    }
    let home = TestHome::initialised();
    home.set("A", "a-value");
    let text = home.age_decrypt_text();
    let identity = std::fs::read_to_string(home.identity_file()).unwrap();
    let key = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .parse::<age::x25519::Identity>()
        .unwrap();
    let ours = key.to_public();
    let recipients: [&dyn age::Recipient; 2] = [&ours, &Odd];
    let encryptor = age::Encryptor::with_recipients(recipients.into_iter()).unwrap();
    let mut ciphertext = Vec::new();
    let mut writer = encryptor.wrap_output(&mut ciphertext).unwrap();
    writer.write_all(text.as_bytes()).unwrap();
    writer.finish().unwrap();
    std::fs::write(home.vault_file(), &ciphertext).unwrap();
    let output = home.vault(&["get", "--reveal", "A"]).output().unwrap();
    let said = assert_refused(&output, 4, "encrypted it to a key it does not list");
    assert!(
        said.contains("encrypted to 2 key(s) (1 X25519, 1 SSH, 0 other)"),
        "{said}"
    );
    assert_eq!(std::fs::read(home.vault_file()).unwrap(), ciphertext);
}

/// Without a record, a block this user signed is a first sight like any other: a restore
/// writes nothing under it, and nothing is remembered of it.
#[test]
fn a_restore_does_not_trust_a_block_by_its_signer_alone() {
    let home = TestHome::initialised();
    home.set("A", "one");
    home.set("A", "two");
    home.forget_trust();
    let vault_before = std::fs::read(home.vault_file()).unwrap();
    let output = home
        .vault(&["restore", "--latest", "--no-input"])
        .output()
        .unwrap();
    assert_refused(&output, 4, "has a membership this machine does not trust");
    assert_eq!(std::fs::read(home.vault_file()).unwrap(), vault_before);
    let output = home.vault(&["get", "--reveal", "A"]).output().unwrap();
    assert_refused(&output, 4, "not trusted on this machine yet");
}

/// A vault whose recipients list had a key added (its signature broken) is put right by
/// a restore and by `vault verify --accept-content`: written to its members alone.
#[test]
fn an_added_recipient_is_dropped_by_restore_and_accept() {
    for accept in [false, true] {
        let home = TestHome::initialised();
        home.set("A", "one");
        home.set("A", "two");
        let outsider = home.path().join("outsider.key");
        let outsider_public = age_keygen(&outsider);
        let text = home.age_decrypt_text();
        let me = home.public_key();
        let widened = text.replacen(
            &format!("\"recipients\":[\"{me}\"]"),
            &format!("\"recipients\":[\"{me}\",\"{outsider_public}\"]"),
            1,
        );
        assert_ne!(widened, text);
        common::age_encrypt_to(&widened, &[&me, &outsider_public], &home.vault_file());
        let output = home.vault(&["get", "--reveal", "A"]).output().unwrap();
        assert_refused(&output, 4, "");
        let args: &[&str] = if accept {
            &["verify", "--accept", "--accept-content"]
        } else {
            &["restore", "--latest"]
        };
        let output = home.vault(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        assert_eq!(home.reveal("A"), if accept { "two" } else { "one" });
        let outsider_reads = std::process::Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&outsider)
            .arg(home.vault_file())
            .output()
            .unwrap();
        assert!(!outsider_reads.status.success(), "{args:?}");
        assert_eq!(home.age_decrypt()["recipients"], serde_json::json!([me]));
    }
}

/// What a vault says of itself is shown one field a line: a recipient with line breaks
/// in it cannot print lines of its own in `vault verify` or the first-sight question.
#[test]
fn a_recipient_cannot_add_lines_to_verify() {
    let home = TestHome::initialised();
    let me = home.public_key();
    home.age_encrypt_text(&format!(
        r#"{{"format":"secretsd-vault","version":1,"recipients":["{me}","x\nstate: trusted\nowner: alice"],"secrets":{{}}}}"#
    ));
    let output = home.vault(&["verify"]).output().unwrap();
    let shown = stdout(&output);
    assert!(
        !shown
            .lines()
            .any(|l| l == "state: trusted" || l.starts_with("owner: alice")),
        "{shown}"
    );
    assert!(shown.contains("\\u{a}state: trusted"), "{shown}");
    assert_ne!(output.status.code(), Some(0));
}

/// Pins for one vault in the configuration and in `VAULT_TRUST` are not merged: the
/// environment's replaces the configuration's.
#[test]
fn a_pin_in_the_environment_replaces_the_configured_one() {
    let shared = shared_dir();
    let file = shared.path().join("vault.age");
    let alice = Person::owner(&file);
    alice.set("A", "a-value");
    let pin = alice
        .ok(&["verify"])
        .lines()
        .find_map(|l| l.strip_prefix("pin it elsewhere with: VAULT_TRUST="))
        .unwrap()
        .to_string();
    let (id_epoch, owner) = pin.split_once(':').unwrap();
    let id = id_epoch.split('@').next().unwrap();
    let ci = Person::joining(&file);
    alice.ok(&["recipients", "add", &ci.line()]);
    ci.home.forget_trust();
    let stranger = Person::joining(&file).home.writer();
    // The configuration pins the true owner; the environment names a stranger for the
    // same vault: the stranger's pin is the one that counts, and it does not match.
    std::fs::create_dir_all(ci.home.path().join("config/secretsd")).unwrap();
    std::fs::write(
        ci.home.path().join("config/secretsd/config.toml"),
        format!("[security.vaults]\n\"{id}\" = [\"{owner}\"]\n"),
    )
    .unwrap();
    let output = ci
        .vault(&["list"])
        .env("VAULT_TRUST", format!("{id}:{stranger}"))
        .output()
        .unwrap();
    let said = stderr(&output);
    assert!(said.contains("warning"), "{said}");
    let output = ci
        .vault(&["verify"])
        .env("VAULT_TRUST", format!("{id}:{stranger}"))
        .output()
        .unwrap();
    assert!(stdout(&output).contains("SUSPECT"), "{}", stdout(&output));
    // The configured pin alone trusts it.
    let output = ci.vault(&["verify"]).output().unwrap();
    assert!(
        stdout(&output).contains("state: trusted"),
        "{}",
        stdout(&output)
    );
}

/// A renewal of no time at all is refused before anything is signed.
#[test]
fn a_renewal_too_short_to_use_is_refused() {
    let home = TestHome::initialised();
    let before = std::fs::read(home.vault_file()).unwrap();
    let output = home.vault(&["renew", "--max-age", "0s"]).output().unwrap();
    assert_refused(&output, 2, "at least 1s");
    assert_eq!(std::fs::read(home.vault_file()).unwrap(), before);
    home.vault(&["renew", "--max-age", "2h"]).assert().success();
}

/// `vault init --from` with a member of the old vault named again by `--recipient`: one
/// member, not a refusal.
#[test]
fn a_fork_keeps_each_member_once() {
    let shared = shared_dir();
    let old = shared.path().join("old.age");
    let alice = Person::owner(&old);
    let bob = Person::joining(&old);
    let line = bob.line();
    alice.ok(&["recipients", "add", &line]);
    alice.set("A", "a-value");
    let new = shared.path().join("new.age");
    let at_new = Person {
        home: alice.home,
        vault: new.clone(),
    };
    at_new.ok(&[
        "init",
        "--from",
        old.to_str().unwrap(),
        "--recipient",
        &line,
        "--recipient",
        &line,
    ]);
    let shown = at_new.ok(&["verify"]);
    assert_eq!(
        shown.lines().filter(|l| l.starts_with("member:")).count(),
        1,
        "{shown}"
    );
    assert!(bob.can_decrypt(&new));
}

/// Where a vault was read is kept as an absolute path: a copy read later from another
/// directory names the first place truly.
#[test]
fn places_are_remembered_wherever_they_were_read_from() {
    let shared = shared_dir();
    let prod = shared.path().join("prod.age");
    let alice = Person::owner(&prod);
    alice.set("DB", "prod-db");
    alice.home.forget_trust();
    let output = alice
        .home
        .vault(&["--vault", "prod.age", "verify", "--accept"])
        .current_dir(shared.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let copy = alice.home.path().join("copy.age");
    std::fs::copy(&prod, &copy).unwrap();
    let output = alice
        .home
        .vault(&["--vault", copy.to_str().unwrap(), "get", "--reveal", "DB"])
        .current_dir(alice.home.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(&prod.display().to_string()),
        "{}",
        stderr(&output)
    );
}

/// A writer key has one spelling. The field naming the writer is not itself signed, so a
/// vault whose writer is the same key spelled otherwise (capitals, or `+x` for `0x` as a
/// lenient hex parser reads it), or whose signature is spelled in capitals, still carries a
/// matching signature: it is refused all the same, as not signed the way vault signs, and
/// never read as written by that key.
#[test]
fn a_writer_spelled_another_way_is_refused() {
    use secretsd::store::signature::SigningKey;
    // An identity whose writer key has a `0` starting a byte, so `+` can spell it.
    let (identity, writer) = std::iter::repeat_with(age::x25519::Identity::generate)
        .map(|identity| {
            let writer = SigningKey::from_identity(&identity).unwrap().writer();
            (identity, writer)
        })
        .find(|(_, writer)| (0..64).step_by(2).any(|i| writer.as_bytes()[i] == b'0'))
        .unwrap();
    let home = TestHome::new();
    let dir = home.identity_file().parent().unwrap().to_path_buf();
    std::fs::create_dir_all(&dir).unwrap();
    chmod(&dir, 0o700);
    {
        use age::secrecy::ExposeSecret;
        std::fs::write(
            home.identity_file(),
            format!(
                "# public key: {}\n{}\n",
                identity.to_public(),
                identity.to_string().expose_secret()
            ),
        )
        .unwrap();
    }
    chmod(&home.identity_file(), 0o600);
    home.vault(&["init"]).assert().success();
    home.set("A", "a-value");
    let text = home.age_decrypt_text();
    let field = format!(r#","signature":{{"writer":"{writer}","sig":""#);
    let at = text
        .rfind(&field)
        .expect("signed by this home's writer key");
    let sig_at = at + field.len();

    // Encrypted anew by the age CLI, as it was: genuine, and read.
    home.age_encrypt_text(&text);
    assert_eq!(home.reveal("A"), "a-value");

    let zero = (0..64)
        .step_by(2)
        .find(|&i| writer.as_bytes()[i] == b'0')
        .unwrap();
    let plus = format!("{}+{}", &writer[..zero], &writer[zero + 1..]);
    let respelled = [
        format!(
            "{}{}",
            &text[..at],
            text[at..].replace(&writer, &writer.to_uppercase())
        ),
        format!("{}{}", &text[..at], text[at..].replace(&writer, &plus)),
        format!("{}{}", &text[..sig_at], text[sig_at..].to_uppercase()),
    ];
    for forged in respelled {
        home.age_encrypt_text(&forged);
        let output = home.vault(&["get", "--reveal", "A"]).output().unwrap();
        let said = assert_refused(&output, 4, "its signature does not match its content");
        assert!(!stdout(&output).contains("a-value"), "{said}");
        let output = home
            .vault(&["exec", "--", "sh", "-c", "echo $A"])
            .output()
            .unwrap();
        assert_refused(&output, 125, "its signature does not match its content");
        assert!(!stdout(&output).contains("a-value"));
    }
}
