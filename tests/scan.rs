//! `vault scan`: values found in files and git history, in every usual encoding, reported
//! by name only; exit 1 when anything is found.

mod common;

use base64::Engine;
use common::{TestHome, stderr, stdout};

const VALUE: &str = "sk_live/0123456789abcdef";

fn git(dir: &std::path::Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

#[test]
fn values_are_found_in_every_form_by_name_and_never_shown() {
    let home = TestHome::initialised();
    home.set("STRIPE_KEY", VALUE);
    home.set("PIN", "1234");
    let tree = home.path().join("project");
    std::fs::create_dir_all(tree.join("config")).unwrap();
    std::fs::write(tree.join("clean.txt"), "nothing here\n").unwrap();
    std::fs::write(
        tree.join("config/app.yaml"),
        format!(
            "name: app\nkey: {VALUE}\ntoken: {}\n",
            base64::engine::general_purpose::STANDARD.encode(VALUE)
        ),
    )
    .unwrap();
    let hex: String = VALUE.bytes().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        tree.join("notes.md"),
        format!("see https://example.com/?k=sk_live%2F0123456789abcdef\n\n{hex}\n1234\n"),
    )
    .unwrap();
    let output = home.vault(&["scan", "project"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "project/config/app.yaml:2: STRIPE_KEY (as is)\nproject/config/app.yaml:3: STRIPE_KEY (base64)\nproject/notes.md:1: STRIPE_KEY (URL-encoded)\nproject/notes.md:3: STRIPE_KEY (hex)\n"
    );
    assert!(stderr(&output).contains("not looked for (shorter than 8 bytes): PIN"));
    for text in [stdout(&output), stderr(&output)] {
        assert!(
            !text.contains(VALUE) && !text.contains("0123456789"),
            "{text}"
        );
    }
    std::fs::remove_dir_all(tree.join("config")).unwrap();
    std::fs::remove_file(tree.join("notes.md")).unwrap();
    home.vault(&["scan", "project"]).assert().code(0);
}

/// A secret committed once and deleted since is still in the history; the vault's own
/// file, committed beside it, is not a finding.
#[test]
fn history_keeps_what_the_work_tree_lost() {
    let home = TestHome::initialised();
    home.set("STRIPE_KEY", VALUE);
    let repo = home.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::write(repo.join(".env"), format!("A=1\nSTRIPE_KEY={VALUE}\n")).unwrap();
    std::fs::copy(home.vault_file(), repo.join("vault.age")).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "oops"]);
    std::fs::remove_file(repo.join(".env")).unwrap();
    git(&repo, &["commit", "-q", "-a", "-m", "remove the .env"]);
    home.vault(&["scan", "repo"]).assert().code(0);
    let output = home.vault(&["scan", "--git", "repo"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("repo: commit "), "{text}");
    assert!(text.ends_with(" .env:2: STRIPE_KEY (as is)\n"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
}
