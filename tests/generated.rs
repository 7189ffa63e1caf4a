//! `man/` and `completions/` are generated from `src/cli.rs` (and `protocol/SPEC.md`).
//! These tests fail when the checked-in files are stale; regenerate them with
//!
//!     VAULT_REGENERATE=1 cargo test --test generated

use std::path::{Path, PathBuf};

use secretsd::cli::Shell;

/// The man-page generator: a developer's tool, so it lives with this test, not in vault.
#[path = "generated/manpages.rs"]
mod manpages;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `files` with what is under `dir`, or rewrites them when asked to.
fn check_generated(dir: &Path, files: &[(String, String)]) {
    let regenerate = std::env::var_os("VAULT_REGENERATE").is_some();
    if regenerate {
        if dir.exists() {
            std::fs::remove_dir_all(dir).unwrap();
        }
        std::fs::create_dir_all(dir).unwrap();
    }
    let mut stale = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        if regenerate {
            std::fs::write(&path, text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
    }
    let mut present: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    present.retain(|name| !files.iter().any(|(n, _)| n == name));
    assert!(
        stale.is_empty() && present.is_empty(),
        "{} is stale (changed: {stale:?}; no longer generated: {present:?}); run VAULT_REGENERATE=1 cargo test --test generated",
        dir.display()
    );
}

#[test]
fn man_pages_are_fresh() {
    check_generated(&root().join("man"), &manpages::pages());
}

#[test]
fn completion_scripts_are_fresh() {
    let files: Vec<(String, String)> = Shell::ALL
        .iter()
        .map(|shell| (shell.file_name().to_string(), shell.script()))
        .collect();
    check_generated(&root().join("completions"), &files);
}

#[test]
fn man_pages_pass_mandoc_lint() {
    let pages = manpages::pages();
    assert!(pages.iter().any(|(n, _)| n == "vault-exec.1"));
    assert!(pages.iter().any(|(n, _)| n == "secretsd-provider.7"));
    let mut reports = Vec::new();
    for (name, text) in pages {
        for section in ["EXIT STATUS", "SECURITY", "SEE ALSO"] {
            if name.ends_with(".1") {
                assert!(
                    text.contains(&format!(".SH \"{section}\"")),
                    "{name} lacks {section}"
                );
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(&name);
        std::fs::write(&file, &text).unwrap();
        let output = std::process::Command::new("mandoc")
            .args(["-T", "lint"])
            .arg(&file)
            .output()
            .expect("mandoc (Debian package mandoc) must be installed; scripts/test installs it");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !report.trim().is_empty() {
            reports.push(format!("{name}:\n{report}"));
        }
    }
    assert!(
        reports.is_empty(),
        "mandoc -T lint:\n{}",
        reports.join("\n")
    );
}

#[test]
fn the_completions_command_prints_the_checked_in_scripts() {
    for shell in Shell::ALL {
        let name = format!("{shell:?}").to_lowercase();
        let output = assert_cmd::Command::cargo_bin("vault")
            .unwrap()
            .args(["completions", &name])
            .env("HOME", std::env::temp_dir())
            .output()
            .unwrap();
        assert!(output.status.success());
        assert_eq!(String::from_utf8(output.stdout).unwrap(), shell.script());
    }
}
