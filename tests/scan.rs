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

/// A value every encoder writes its own way: a '/', a space, quotes, '!', non-ASCII.
const TRICKY: &str = "sk_live/0123 \"q\" é!x?~";

/// Writes the lines the Python expression `lines` (a list of str, with `v` the value, `b`
/// its UTF-8 bytes, `lower` lowering percent-escapes and the encoders imported) makes of
/// TRICKY into `project/leak.txt` — so that the encodings come from Python's standard
/// library, not from vault's own code — and checks that `vault scan` finds the value on
/// each line in `form` and nothing else, never shows it, and finds nothing once the vault
/// holds another value differing only in its last character (the forms are the value's own).
fn found_on_every_line(lines: &str, form: &str) {
    let program = format!(
        r#"
import base64, json, re, sys
from urllib.parse import quote, quote_plus
v = sys.argv[1]
b = v.encode()
lower = lambda s: re.sub("%[0-9A-F]{{2}}", lambda m: m.group().lower(), s)
print(json.dumps({lines}))
"#
    );
    let home = TestHome::initialised();
    home.set("TRICKY_KEY", TRICKY);
    let tree = home.path().join("project");
    std::fs::create_dir(&tree).unwrap();
    let output = std::process::Command::new("python3")
        .args(["-c", &program, TRICKY])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let lines: Vec<String> = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!lines.is_empty());
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    assert!(
        !text.contains(TRICKY),
        "the form is not the value as is: {text}"
    );
    std::fs::write(tree.join("leak.txt"), &text).unwrap();
    let output = home.vault(&["scan", "project"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let expected: String = (1..=lines.len())
        .map(|n| format!("project/leak.txt:{n}: TRICKY_KEY ({form})\n"))
        .collect();
    assert_eq!(stdout(&output), expected, "in:\n{text}");
    assert!(!stderr(&output).contains("sk_live"), "{}", stderr(&output));
    home.set("TRICKY_KEY", "sk_live/0123 \"q\" é!x?+");
    home.vault(&["scan", "project"]).assert().code(0);
}

/// HTTP Basic: base64 of "user:" + value, the value at each of base64's three alignments
/// (users of 2, 3 and 4 bytes before the colon).
#[test]
fn http_basic_credentials_are_found() {
    found_on_every_line(
        r#"["Authorization: Basic " + base64.b64encode(u + b":" + b).decode() for u in [b"ab", b"api", b"user"]]"#,
        "base64",
    );
}

/// base64 and base64url of a longer text holding the value at byte 1 or 2 of a 3-byte
/// group (a JWT payload, a config blob), padded or not, with text after the value or none.
#[test]
fn base64_at_the_other_two_alignments_inside_a_longer_text_is_found() {
    found_on_every_line(
        r#"[base64.b64encode(p + b + s).decode() for p in [b"x", b"xy", b"four"] for s in [b"", b" and after"]]"#,
        "base64",
    );
    found_on_every_line(
        r#"["xx." + base64.urlsafe_b64encode(p + b + b'"}').decode().rstrip("=") + ".sig" for p in [b'{"sub":"', b'{"token":"']]"#,
        "base64url",
    );
}

/// Percent-encoding with lowercase hex digits (%2f), as some encoders and people write it.
#[test]
fn lowercase_percent_encoding_is_found() {
    found_on_every_line(
        r#"["https://h/?k=" + lower(quote(v, safe="")), "k=" + lower(quote_plus(v))]"#,
        "URL-encoded",
    );
}

/// Python's `quote` keeps '/' by default; `quote_plus` writes a space as '+'.
#[test]
fn pythons_quote_and_quote_plus_are_found() {
    found_on_every_line(
        r#"["https://h/" + quote(v), "https://h/?k=" + quote_plus(v)]"#,
        "URL-encoded",
    );
}

/// A value percent-encoded twice (%252F), as a URL put inside another URL's query is.
#[test]
fn double_percent_encoding_is_found() {
    found_on_every_line(
        r#"["https://h/?next=" + quote("https://i/?k=" + quote(v, safe=""), safe=""), quote(quote(v))]"#,
        "URL-encoded twice",
    );
}

/// A JSON string: quotes escaped, '/' as '\/' (PHP's json_encode) or not, non-ASCII as
/// \uXXXX (Python's default) or not.
#[test]
fn json_strings_with_escaped_slashes_are_found() {
    found_on_every_line(
        r#"[json.dumps({"k": v}), json.dumps({"k": v}, ensure_ascii=False), json.dumps({"k": v}).replace("/", "\\/"), json.dumps({"k": v}, ensure_ascii=False).replace("/", "\\/")]"#,
        "JSON string",
    );
}

/// Hex with ':', '-' or ' ' between the bytes (certificate and key dumps), either case.
#[test]
fn hex_with_separators_is_found() {
    found_on_every_line(
        r#"[b.hex(":"), b.hex("-").upper(), b.hex(" "), b.hex(":").upper()]"#,
        "hex",
    );
}

/// The history is read as committed: a textconv filter the repository's `.git/config`
/// names is neither run (a program someone else chose) nor allowed to hide a value, and
/// the repository's `core.fsmonitor` is not started either.
#[test]
fn history_is_read_without_the_repositorys_own_programs() {
    let home = TestHome::initialised();
    home.set("STRIPE_KEY", VALUE);
    let repo = home.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    git(&repo, &["init", "-q"]);
    let marker = home.path().join("PROGRAM-RAN");
    let run = format!("touch '{}'", marker.display());
    git(
        &repo,
        &["config", "diff.hide.textconv", &format!("{run}; true")],
    );
    git(
        &repo,
        &["config", "core.fsmonitor", &format!("{run}; false")],
    );
    std::fs::write(repo.join(".gitattributes"), "*.env diff=hide\n").unwrap();
    std::fs::write(repo.join(".env"), format!("STRIPE_KEY={VALUE}\n")).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "oops"]);
    let _ = std::fs::remove_file(&marker);
    let output = home.vault(&["scan", "--git", "repo"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stdout(&output).ends_with(" .env:1: STRIPE_KEY (as is)\n"),
        "{}",
        stdout(&output)
    );
    assert!(
        !marker.exists(),
        "vault scan ran a program of the repository"
    );
}
