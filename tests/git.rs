//! The vault in a git repository, with real git: setup, the checkout mode, readable diffs,
//! and merges of two branches — clean ones by the driver, a conflict settled with
//! `vault merge`.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{TestHome, chmod, stderr, stdout};

struct Repo {
    home: TestHome,
    dir: PathBuf,
}

impl Repo {
    /// A repository holding the vault (A, B, C set), committed on main.
    fn new() -> Repo {
        let home = TestHome::initialised();
        let dir = home.path().join("repo");
        std::fs::create_dir(&dir).unwrap();
        std::fs::rename(home.vault_file(), dir.join("vault.age")).unwrap();
        let repo = Repo { home, dir };
        repo.git(&["init", "-q", "-b", "main"]);
        for (name, value) in [("A", "a-value-0"), ("B", "b-value-0"), ("C", "c-value-0")] {
            repo.set(name, value);
        }
        repo.vault(&["git", "setup"]);
        repo.git(&["add", "."]);
        repo.git(&["commit", "-q", "-m", "vault"]);
        repo
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let template = self.home.vault_std(&[]);
        let mut command = Command::new(program);
        command
            .env_clear()
            .envs(
                template
                    .get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .env("VAULT_FILE", self.dir.join("vault.age"))
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .current_dir(&self.dir)
            .args(args);
        command
    }

    fn git_output(&self, args: &[&str]) -> std::process::Output {
        self.command("git", args).output().unwrap()
    }

    fn git(&self, args: &[&str]) -> String {
        let output = self.git_output(args);
        assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
        stdout(&output)
    }

    fn vault_output(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let binary = assert_cmd::cargo::cargo_bin("vault");
        let mut command =
            assert_cmd::Command::from_std(self.command(binary.to_str().unwrap(), args));
        if let Some(input) = stdin {
            command.write_stdin(input);
        }
        command.output().unwrap()
    }

    fn vault(&self, args: &[&str]) -> String {
        let output = self.vault_output(args, None);
        assert!(
            output.status.success(),
            "vault {args:?}: {}",
            stderr(&output)
        );
        stdout(&output)
    }

    fn set(&self, name: &str, value: &str) {
        let output = self.vault_output(&["set", name], Some(value));
        assert!(output.status.success(), "{}", stderr(&output));
    }

    fn reveal(&self, name: &str) -> String {
        self.vault(&["get", "--reveal", name])
    }
}

#[test]
fn setup_writes_the_attributes_and_a_checked_out_vault_is_accepted() {
    let repo = Repo::new();
    let attributes = std::fs::read_to_string(repo.dir.join(".gitattributes")).unwrap();
    assert_eq!(attributes, "/vault.age diff=secretsd merge=secretsd\n");
    let ignored = std::fs::read_to_string(repo.dir.join(".gitignore")).unwrap();
    assert_eq!(ignored, "/vault.age.lock\n/backups/\n");
    let config = repo.git(&["config", "--get", "merge.secretsd.driver"]);
    assert!(config.contains("git merge-driver %O %A %B %P"), "{config}");
    // As git checks files out: 0644. Ciphertext in a work tree is fine to read...
    chmod(&repo.dir.join("vault.age"), 0o644);
    assert_eq!(repo.reveal("A"), "a-value-0");
    // ...but never writable by others, and the identity stays private.
    chmod(&repo.dir.join("vault.age"), 0o664);
    let output = repo.vault_output(&["get", "A"], None);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    chmod(&repo.dir.join("vault.age"), 0o644);
    chmod(&repo.home.identity_file(), 0o644);
    let output = repo.vault_output(&["get", "A"], None);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
}

#[test]
fn diffs_show_names_and_masked_values_never_whole_values() {
    let repo = Repo::new();
    repo.set("A", "a-value-changed-and-long");
    repo.set("D", "d-value-new");
    repo.vault(&["rm", "C"]);
    let git_diff = repo.git(&["diff"]);
    assert!(git_diff.contains("+D = "), "{git_diff}");
    assert!(git_diff.contains("-C = "), "{git_diff}");
    assert!(
        git_diff.contains("+A = a-…ng") || git_diff.contains("+A = "),
        "{git_diff}"
    );
    let ours = repo.vault(&["diff"]);
    assert!(ours.contains("add       D"), "{ours}");
    assert!(ours.contains("change    A"), "{ours}");
    assert!(ours.contains("remove    C"), "{ours}");
    for text in [&git_diff, &ours] {
        for value in ["a-value-changed-and-long", "d-value-new", "c-value-0"] {
            assert!(!text.contains(value), "{value} in {text}");
        }
    }
    // Without the identity, the diff says why it shows nothing.
    let output = repo
        .command("git", &["diff"])
        .env("VAULT_IDENTITY", repo.home.path().join("none"))
        .output()
        .unwrap();
    assert!(stdout(&output).contains("not shown"), "{}", stdout(&output));
}

#[test]
fn branches_merge_secret_by_secret_and_a_conflict_is_settled() {
    let repo = Repo::new();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.set("A", "a-from-feature");
    repo.set("D", "d-from-feature");
    repo.git(&["commit", "-q", "-am", "feature"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.set("B", "b-from-main");
    repo.git(&["commit", "-q", "-am", "main"]);
    let merged = repo.git_output(&["merge", "-q", "--no-edit", "feature"]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(repo.reveal("A"), "a-from-feature");
    assert_eq!(repo.reveal("B"), "b-from-main");
    assert_eq!(repo.reveal("C"), "c-value-0");
    assert_eq!(repo.reveal("D"), "d-from-feature");
    // The real age CLI opens the merged file.
    let plain = common::age_decrypt(&repo.dir.join("vault.age"), &repo.home.identity_file());
    assert_eq!(plain["secrets"]["D"]["value"], "d-from-feature");

    // Both branches change C: git stops, and nothing secret is in the work tree.
    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.set("C", "c-from-other");
    repo.git(&["commit", "-q", "-am", "other"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.set("C", "c-from-main");
    repo.git(&["commit", "-q", "-am", "main again"]);
    let stopped = repo.git_output(&["merge", "-q", "--no-edit", "other"]);
    assert!(!stopped.status.success());
    assert!(
        stderr(&stopped).contains("secrets changed on both branches: C"),
        "{}",
        stderr(&stopped)
    );
    let grep = repo
        .command("grep", &["-r", "c-from-", "."])
        .output()
        .unwrap();
    assert!(
        grep.stdout.is_empty(),
        "plaintext in the tree: {}",
        stdout(&grep)
    );
    assert_eq!(repo.vault(&["merge"]), "C\n");
    repo.vault(&["merge", "--resolve", "C", "--theirs"]);
    assert_eq!(repo.reveal("C"), "c-from-other");
    repo.git(&["add", "vault.age"]);
    repo.git(&["commit", "-q", "--no-edit"]);
    assert_eq!(repo.reveal("A"), "a-from-feature");
    let output = repo.vault_output(&["merge"], None);
    assert_eq!(output.status.code(), Some(3), "nothing left to settle");
}

/// The generation a version of the vault in the work tree carries.
fn generation(repo: &Repo) -> u64 {
    common::age_decrypt(&repo.dir.join("vault.age"), &repo.home.identity_file())["generation"]
        .as_u64()
        .unwrap()
}

/// Two branches that each change a secret merge into a version one generation above
/// both, signed by whoever merged.
#[test]
fn a_clean_merge_is_a_new_generation_above_both_sides() {
    let repo = Repo::new();
    repo.git(&["checkout", "-q", "-b", "feature"]);
    for i in 0..3 {
        repo.set("A", &format!("a-feature-{i}"));
    }
    let feature = generation(&repo);
    repo.git(&["commit", "-q", "-am", "feature"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.set("B", "b-main");
    let main = generation(&repo);
    repo.git(&["commit", "-q", "-am", "main"]);
    let merged = repo.git_output(&["merge", "-q", "--no-edit", "feature"]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(generation(&repo), feature.max(main) + 1);
    let shown = repo.vault(&["verify"]);
    assert!(shown.contains("state: trusted"), "{shown}");
}

/// A branch whose vault was made with the plain age CLI (unsigned, encrypted to the
/// attacker too) does not merge: git stops, nothing is written or signed as the user, and
/// the attacker's key opens nothing in the work tree.
#[test]
fn a_hostile_branch_made_with_the_age_cli_does_not_merge() {
    let repo = Repo::new();
    let attacker = repo.dir.parent().unwrap().join("attacker.key");
    let attacker_public = common::age_keygen(&attacker);
    repo.git(&["checkout", "-q", "-b", "hostile"]);
    let mut document = common::age_decrypt(&repo.dir.join("vault.age"), &repo.home.identity_file());
    document["recipients"]
        .as_array_mut()
        .unwrap()
        .push(attacker_public.clone().into());
    document["secrets"]["A"]["value"] = "planted".into();
    document.as_object_mut().unwrap().remove("signature");
    common::age_encrypt_to(
        &document.to_string(),
        &[&repo.home.public_key(), &attacker_public],
        &repo.dir.join("vault.age"),
    );
    repo.git(&["commit", "-q", "-am", "add a recipient"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.set("B", "b-main");
    repo.git(&["commit", "-q", "-am", "main"]);
    let head = repo.git(&["rev-parse", "HEAD"]);
    let ours = std::fs::read(repo.dir.join("vault.age")).unwrap();
    let merged = repo.git_output(&["merge", "-q", "--no-edit", "hostile"]);
    assert!(!merged.status.success(), "the hostile branch merged");
    assert!(
        stderr(&merged).contains("not merged: their side is not a genuine version"),
        "{}",
        stderr(&merged)
    );
    assert_eq!(std::fs::read(repo.dir.join("vault.age")).unwrap(), ours);
    assert_eq!(
        repo.git(&["rev-parse", "HEAD"]),
        head,
        "nothing was committed"
    );
    let opened = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&attacker)
        .arg(repo.dir.join("vault.age"))
        .output()
        .unwrap();
    assert!(
        !opened.status.success(),
        "the merge encrypted the vault to the attacker"
    );
    // Its diff says so instead of showing the planted content as a change.
    let shown = repo.git(&["diff", "HEAD", "hostile"]);
    assert!(shown.contains("NOT GENUINE"), "{shown}");
}

/// Two vaults in one repository are each judged as what they are: a branch that puts
/// staging's vault in prod's place does not merge, while changes to both merge.
#[test]
fn two_vaults_in_one_repository_are_judged_each_on_its_own() {
    let repo = Repo::new();
    let staging = repo.dir.join("staging.age");
    let at_staging = |args: &[&str]| {
        let binary = assert_cmd::cargo::cargo_bin("vault");
        let output = repo
            .command(binary.to_str().unwrap(), args)
            .env("VAULT_FILE", &staging)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    };
    at_staging(&["init", "--label", "staging"]);
    at_staging(&["git", "setup"]);
    repo.git(&["add", "."]);
    repo.git(&["commit", "-q", "-m", "staging"]);
    repo.git(&["checkout", "-q", "-b", "swap"]);
    std::fs::copy(&staging, repo.dir.join("vault.age")).unwrap();
    repo.git(&["commit", "-q", "-am", "staging in prod's place"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.set("A", "a-main");
    repo.git(&["commit", "-q", "-am", "main"]);
    let merged = repo.git_output(&["merge", "-q", "--no-edit", "swap"]);
    assert!(!merged.status.success());
    assert!(
        stderr(&merged).contains("another vault"),
        "{}",
        stderr(&merged)
    );
    repo.git(&["merge", "--abort"]);
    // A branch that changes both merges both.
    repo.git(&["checkout", "-q", "-b", "both"]);
    repo.set("C", "c-both");
    at_staging(&["set", "S", "s-both"]);
    repo.git(&["commit", "-q", "-am", "both"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.set("B", "b-main");
    repo.git(&["commit", "-q", "-am", "main again"]);
    let merged = repo.git_output(&["merge", "-q", "--no-edit", "both"]);
    assert!(merged.status.success(), "{}", stderr(&merged));
    assert_eq!(repo.reveal("C"), "c-both");
}

/// History is normal: checking out an older commit, reverting, bisecting, rebasing and
/// reading `git log -p` all work, with at most a notice that a version is older.
#[test]
fn history_works_with_at_most_a_notice() {
    let repo = Repo::new();
    for i in 1..=4 {
        repo.set("A", &format!("a-{i}"));
        repo.git(&["commit", "-q", "-am", &format!("a {i}")]);
    }
    // An older commit: readable, with a notice; a write goes on from the newest
    // generation.
    repo.git(&["checkout", "-q", "HEAD~2"]);
    let output = repo.vault_output(&["get", "--reveal", "A"], None);
    assert_eq!(stdout(&output), "a-2", "{}", stderr(&output));
    assert!(
        stderr(&output).contains("older version"),
        "{}",
        stderr(&output)
    );
    repo.git(&["checkout", "-q", "main"]);
    let newest = generation(&repo);
    // git revert of the last change.
    repo.git(&["revert", "--no-edit", "HEAD"]);
    assert_eq!(repo.reveal("A"), "a-3");
    repo.set("A", "a-5");
    assert_eq!(generation(&repo), newest + 1);
    repo.git(&["commit", "-q", "-am", "a 5"]);
    // bisect: every step reads.
    repo.git(&["bisect", "start", "HEAD", "HEAD~4"]);
    let output = repo.vault_output(&["get", "--reveal", "A"], None);
    assert!(output.status.success(), "{}", stderr(&output));
    repo.git(&["bisect", "reset"]);
    // rebase a branch onto a newer main.
    repo.git(&["checkout", "-q", "-b", "topic", "HEAD~1"]);
    repo.set("D", "d-topic");
    repo.git(&["commit", "-q", "-am", "topic"]);
    let rebased = repo.git_output(&["rebase", "main"]);
    assert!(rebased.status.success(), "{}", stderr(&rebased));
    assert_eq!(repo.reveal("D"), "d-topic");
    assert_eq!(repo.reveal("A"), "a-5");
    // git log -p reads every version through textconv.
    let log = repo.git(&["log", "-p", "--", "vault.age"]);
    assert!(log.contains("+A = "), "{log}");
    assert!(!log.contains("NOT GENUINE"), "{log}");
    assert!(!log.contains("a-5"), "no value in the log");
}

/// A removed member's branch does not merge — not even one that changes only a
/// description, which a reader would still follow.
#[test]
fn a_removed_members_branch_does_not_merge_even_for_metadata() {
    let repo = Repo::new();
    let carol = TestHome::new();
    let in_repo = |args: &[&str], stdin: &str| {
        carol
            .vault(args)
            .env("VAULT_FILE", repo.dir.join("vault.age"))
            .current_dir(&repo.dir)
            .write_stdin(stdin)
            .output()
            .unwrap()
    };
    let line = stdout(&in_repo(&["identity", "new", "--name", "carol"], ""));
    repo.vault(&["recipients", "add", line.trim()]);
    repo.git(&["commit", "-q", "-am", "carol joins"]);
    assert!(in_repo(&["verify", "--accept"], "").status.success());
    repo.git(&["checkout", "-q", "-b", "carol"]);
    let output = in_repo(
        &[
            "set",
            "A",
            "--description",
            "moved: use https://evil.example/db",
        ],
        "a-value-0",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    repo.git(&["commit", "-q", "-am", "only a description"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.vault(&["recipients", "remove", "carol"]);
    repo.git(&["commit", "-q", "-am", "carol leaves"]);
    let head = repo.git(&["rev-parse", "HEAD"]);
    let merged = repo.git_output(&["merge", "-q", "--no-edit", "carol"]);
    assert!(
        !merged.status.success(),
        "the removed member's change merged"
    );
    assert!(
        stderr(&merged).contains("not a member of the merged vault"),
        "{}",
        stderr(&merged)
    );
    assert_eq!(repo.git(&["rev-parse", "HEAD"]), head);
}

/// What a stopped merge keeps in .git/secretsd-merge/ is checked before it is used: its
/// state must be of this vault, and values kept there must be signed by this user.
#[test]
fn a_stopped_merge_cannot_be_steered_through_its_files() {
    let repo = Repo::new();
    repo.git(&["checkout", "-q", "-b", "other"]);
    repo.set("C", "c-from-other");
    repo.git(&["commit", "-q", "-am", "other"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.set("C", "c-from-main");
    repo.git(&["commit", "-q", "-am", "main"]);
    assert!(
        !repo
            .git_output(&["merge", "-q", "--no-edit", "other"])
            .status
            .success()
    );
    let pending = repo.dir.join(".git/secretsd-merge");
    let state_path = pending.join("state.json");
    let state = std::fs::read_to_string(&state_path).unwrap();
    let target = repo.dir.parent().unwrap().join("elsewhere.txt");
    std::fs::write(
        &state_path,
        state.replace(
            "\"vault.age\"",
            &format!("{:?}", target.display().to_string()),
        ),
    )
    .unwrap();
    let output = repo.vault_output(&["merge", "--resolve", "C", "--theirs"], None);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not of this vault"),
        "{}",
        stderr(&output)
    );
    assert!(!target.exists());
    std::fs::write(&state_path, &state).unwrap();
    // Values for the conflict, encrypted to the vault's recipients by anyone.
    common::age_encrypt_to(
        r#"{"values":{"C":"chosen-by-someone-else"}}"#,
        &[&repo.home.public_key()],
        &pending.join("values.age"),
    );
    let output = repo.vault_output(&["merge", "--resolve", "C", "--ours"], None);
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not signed by you"),
        "{}",
        stderr(&output)
    );
}

/// Past its expiry, a membership takes no merge either: an owner renews it first.
#[test]
fn an_expired_membership_takes_no_merge() {
    let repo = Repo::new();
    repo.vault(&["renew", "--max-age", "2s"]);
    repo.git(&["commit", "-q", "-am", "expiring"]);
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.set("A", "a-feature");
    repo.git(&["commit", "-q", "-am", "feature"]);
    repo.git(&["checkout", "-q", "main"]);
    repo.set("B", "b-main");
    repo.git(&["commit", "-q", "-am", "main"]);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let merged = repo.git_output(&["merge", "-q", "--no-edit", "feature"]);
    assert!(!merged.status.success());
    assert!(stderr(&merged).contains("expired"), "{}", stderr(&merged));
    repo.git(&["merge", "--abort"]);
    repo.vault(&["renew", "--no-expiry"]);
    repo.git(&["commit", "-q", "-am", "renewed"]);
    let merged = repo.git_output(&["merge", "-q", "--no-edit", "feature"]);
    assert!(merged.status.success(), "{}", stderr(&merged));
}

/// In a rebase git hands the driver the upstream branch as "ours": an upstream commit that
/// puts back a removed member's copy (an older membership) stops the rebase, and nothing
/// is signed or encrypted to them.
#[test]
fn a_rebase_onto_an_old_membership_stops() {
    let repo = Repo::new();
    let carol = TestHome::new();
    let as_carol = |vault: &std::path::Path, args: &[&str], stdin: &str| {
        carol
            .vault(args)
            .env("VAULT_FILE", vault)
            .write_stdin(stdin)
            .output()
            .unwrap()
    };
    let file = repo.dir.join("vault.age");
    let line = stdout(&as_carol(
        &file,
        &["identity", "new", "--name", "carol"],
        "",
    ));
    repo.vault(&["recipients", "add", line.trim()]);
    repo.git(&["commit", "-q", "-am", "carol joins"]);
    assert!(
        as_carol(&file, &["verify", "--accept"], "")
            .status
            .success()
    );
    let copy = repo.dir.parent().unwrap().join("carols-copy.age");
    std::fs::copy(&file, &copy).unwrap();
    repo.vault(&["recipients", "remove", "carol"]);
    repo.git(&["commit", "-q", "-am", "carol leaves"]);
    // Upstream: Carol's old copy, written again by her, pushed on top of main.
    repo.git(&["checkout", "-q", "-b", "upstream"]);
    assert!(as_carol(&copy, &["set", "PLANTED"], "x").status.success());
    std::fs::copy(&copy, &file).unwrap();
    repo.git(&["commit", "-q", "-am", "carol's copy"]);
    let planted = std::fs::read(&file).unwrap();
    // Alice's local work on main, rebased onto upstream.
    repo.git(&["checkout", "-q", "main"]);
    repo.set("API_KEY", "new-after-carol-left");
    repo.git(&["commit", "-q", "-am", "api key"]);
    let rebased = repo.git_output(&["rebase", "upstream"]);
    assert!(!rebased.status.success(), "the rebase went on");
    let said = format!("{}{}", stdout(&rebased), stderr(&rebased));
    assert!(said.contains("without a higher epoch"), "{said}");
    assert_eq!(
        std::fs::read(&file).unwrap(),
        planted,
        "nothing was written"
    );
    repo.git(&["rebase", "--abort"]);
    let opened = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(carol.identity_file())
        .arg(&file)
        .output()
        .unwrap();
    assert!(!opened.status.success());
}

/// The fingerprint the last commit's diff (through textconv) shows for `name`'s new value.
fn shown_fingerprint(repo: &Repo, name: &str) -> String {
    let diff = repo.git(&["show", "HEAD", "--", "vault.age"]);
    diff.lines()
        .find_map(|l| l.strip_prefix(&format!("+{name} = ")))
        .and_then(|rest| rest.split("fingerprint ").nth(1))
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no fingerprint of {name} in\n{diff}"))
        .to_string()
}

/// What someone holding the fingerprint key finds for a 4-digit value: every guess tried.
fn brute_force(key: &str, name: &str, fingerprint: &str) -> Option<String> {
    use hmac::Mac;
    (0..10_000).map(|n| format!("{n:04}")).find(|guess| {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(name.as_bytes());
        mac.update(&[0]);
        mac.update(guess.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        hex == fingerprint
    })
}

/// Carol, a member, knew the fingerprint key (it is in the document she could decrypt):
/// with it she tries every 4-digit PIN against a diff's fingerprint in a moment. Once she
/// is removed, the key is renewed, so the fingerprints of later diffs are keyed with
/// something she never had.
#[test]
fn a_removed_member_cannot_test_guesses_against_later_diffs() {
    let repo = Repo::new();
    let carol = TestHome::initialised();
    repo.vault(&["recipients", "add", &carol.line()]);
    repo.set("PIN", "1234");
    repo.git(&["commit", "-q", "-am", "pin"]);
    // What Carol holds: the vault as she could decrypt it, diff key included.
    let hers = common::age_decrypt(&repo.dir.join("vault.age"), &carol.identity_file());
    let key = hers["diff_key"].as_str().unwrap().to_string();
    let started = std::time::Instant::now();
    assert_eq!(
        brute_force(&key, "PIN", &shown_fingerprint(&repo, "PIN")).as_deref(),
        Some("1234"),
        "the attack this guards against"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    repo.vault(&["recipients", "remove", &carol.name()]);
    repo.set("PIN", "5678");
    repo.git(&["commit", "-q", "-am", "new pin"]);
    let fingerprint = shown_fingerprint(&repo, "PIN");
    assert_eq!(brute_force(&key, "PIN", &fingerprint), None);
    // The owner's diffs still work: the new key is in the document, and it is new.
    let now = common::age_decrypt(&repo.dir.join("vault.age"), &repo.home.identity_file());
    let renewed = now["diff_key"].as_str().unwrap();
    assert_ne!(renewed, key);
    assert_eq!(
        brute_force(renewed, "PIN", &fingerprint).as_deref(),
        Some("5678")
    );
}

/// A name with escapes, written by a member with another tool on two branches: git's
/// merge stops on it, and neither the driver's message nor `vault merge`'s list of what is
/// left to settle puts the escapes on the terminal.
#[test]
fn a_name_with_escapes_is_shown_escaped_in_diffs_and_merges() {
    let repo = Repo::new();
    // The membership block byte for byte, as the base holds it.
    let decrypted = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(repo.home.identity_file())
        .arg(repo.dir.join("vault.age"))
        .output()
        .unwrap();
    let fields: std::collections::HashMap<String, Box<serde_json::value::RawValue>> =
        serde_json::from_slice(&decrypted.stdout).unwrap();
    let membership = fields["membership"].get().to_string();
    let recipient = repo.home.public_key();
    let write = |generation: u64, value: &str| {
        let text = format!(
            r#"{{"format":"secretsd-vault","version":2,"membership":{membership},"generation":{generation},"recipients":["{recipient}"],"secrets":{{"EVIL\u001b]0;owned\u0007\u001b[31m":{{"value":"{value}","created":"t","updated":"t"}}}}}}"#
        );
        common::age_encrypt_to(
            &repo.home.sign(&text),
            &[&recipient],
            &repo.dir.join("vault.age"),
        );
    };
    repo.git(&["checkout", "-q", "-b", "other"]);
    write(100, "from-other");
    repo.git(&["commit", "-q", "-am", "other"]);
    repo.git(&["checkout", "-q", "main"]);
    write(101, "from-main");
    repo.git(&["commit", "-q", "-am", "main"]);
    let diff = repo.vault_output(&["diff", "HEAD~1"], None);
    assert!(
        stdout(&diff).contains("add       EVIL\\u{1b}]0;owned"),
        "{}{}",
        stdout(&diff),
        stderr(&diff)
    );
    let stopped = repo.git_output(&["merge", "-q", "--no-edit", "other"]);
    assert!(!stopped.status.success());
    assert!(
        stderr(&stopped).contains("secrets changed on both branches: EVIL\\u{1b}]0;owned"),
        "{}",
        stderr(&stopped)
    );
    let listed = repo.vault_output(&["merge"], None);
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert_eq!(stdout(&listed), "EVIL\\u{1b}]0;owned\\u{7}\\u{1b}[31m\n");
    for output in [&diff, &stopped, &listed] {
        assert!(
            !output.stdout.contains(&0x1b) && !output.stderr.contains(&0x1b),
            "{:?}",
            stdout(output)
        );
    }
}

/// git does not clone .git/config: a fresh clone has the attributes but not the driver.
/// vault says so, where git would only say CONFLICT, until `vault git setup` is run there.
#[test]
fn a_fresh_clone_is_told_to_run_git_setup_once() {
    let repo = Repo::new();
    let clone = repo.home.path().join("clone");
    repo.git(&[
        "clone",
        "-q",
        repo.dir.to_str().unwrap(),
        clone.to_str().unwrap(),
    ]);
    let in_clone = |program: &str, args: &[&str]| {
        let mut command = repo.command(program, args);
        command
            .current_dir(&clone)
            .env("VAULT_FILE", clone.join("vault.age"));
        command.output().unwrap()
    };
    let vault = assert_cmd::cargo::cargo_bin("vault");
    let vault = vault.to_str().unwrap();
    let status = in_clone(vault, &["status"]);
    assert!(status.status.success(), "{}", stderr(&status));
    let said = stdout(&status);
    assert!(
        said.contains(
            "problem:  vault.age: .gitattributes asks git for vault's merge and diff driver"
        ) && said.contains("run 'vault git setup' once in this clone"),
        "{said}"
    );
    let diff = in_clone(vault, &["diff"]);
    assert!(
        stderr(&diff).contains("run 'vault git setup' once in this clone"),
        "{}",
        stderr(&diff)
    );
    // Without the driver git stops with a plain conflict; vault merge says why.
    for (branch, value) in [("other", "c-from-other"), ("main", "c-from-main")] {
        let git = |args: &[&str]| {
            let output = in_clone("git", args);
            assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        };
        if branch == "other" {
            git(&["checkout", "-q", "-b", "other"]);
        } else {
            git(&["checkout", "-q", "main"]);
        }
        let output = assert_cmd::Command::from_std(repo.command(vault, &["set", "C"]))
            .current_dir(&clone)
            .env("VAULT_FILE", clone.join("vault.age"))
            .write_stdin(value)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        git(&["commit", "-q", "-am", branch]);
    }
    let merged = in_clone("git", &["merge", "-q", "--no-edit", "other"]);
    assert!(!merged.status.success());
    assert!(
        stdout(&merged).contains("CONFLICT (content)"),
        "{}",
        stdout(&merged)
    );
    let settle = in_clone(vault, &["merge"]);
    assert_eq!(settle.status.code(), Some(3));
    assert!(
        stderr(&settle).contains("run 'vault git setup' once in this clone, or git merge stops"),
        "{}",
        stderr(&settle)
    );
    assert!(in_clone("git", &["merge", "--abort"]).status.success());

    let setup = in_clone(vault, &["git", "setup"]);
    assert!(setup.status.success(), "{}", stderr(&setup));
    let status = in_clone(vault, &["status"]);
    assert!(
        !stdout(&status).contains("vault git setup"),
        "{}",
        stdout(&status)
    );
    // And now the same merge goes through vault's driver.
    let merged = in_clone("git", &["merge", "-q", "--no-edit", "other"]);
    assert!(
        stderr(&merged).contains("secrets changed on both branches: C"),
        "{}",
        stderr(&merged)
    );
    // The original repository, set up when it was made, is told nothing.
    assert!(!repo.vault(&["status"]).contains("vault git setup"));
}

/// `vault status` and `vault get` are not git commands: the hint that a clone lacks
/// vault's driver asks git read-only questions, and a repository's own configuration (an
/// unpacked archive with a `.git`, a directory someone prepared) never makes them run a
/// program — `core.fsmonitor` is what `git check-attr` would start.
#[test]
fn status_runs_no_program_the_repository_configures() {
    let repo = Repo::new();
    let marker = repo.home.path().join("FSMONITOR-RAN");
    repo.git(&[
        "config",
        "core.fsmonitor",
        &format!("touch '{}'; false", marker.display()),
    ]);
    repo.git(&["config", "--unset", "merge.secretsd.driver"]);
    let status = repo.vault(&["status"]);
    assert!(
        status.contains("run 'vault git setup' once in this clone"),
        "{status}"
    );
    let diff = repo.vault_output(&["diff"], None);
    assert!(
        stderr(&diff).contains("run 'vault git setup' once in this clone"),
        "{}",
        stderr(&diff)
    );
    assert!(
        !marker.exists(),
        "vault ran the repository's core.fsmonitor"
    );
}
