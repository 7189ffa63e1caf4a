//! Secrets as files without a file: `vault exec --file VAR=NAME` and a manifest's `[files]`
//! give the command a sealed in-memory file; `--file-dir` writes real files for as long as
//! the command runs.

mod common;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use common::{TestHome, stderr, stdout};

const KUBECONFIG: &str = "apiVersion: v1\nclusters:\n- name: prod  \n  server: https://k8s.example:6443\nusers: [{name: \u{e9}}]\n";

/// Regular files under `dir` changed since `since` that contain `needle`.
fn files_holding(dir: &Path, needle: &str, since: SystemTime) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file()
                && meta.modified().is_ok_and(|m| m >= since)
                && meta.len() < 16 * 1024 * 1024
                && std::fs::read(entry.path())
                    .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(needle))
            {
                found.push(entry.path());
            }
        }
    }
    found
}

#[test]
fn a_file_secret_is_a_sealed_memfd_with_the_exact_bytes_and_never_touches_disk() {
    let home = TestHome::initialised();
    home.vault(&["set", "KUBE_YAML"])
        .write_stdin(format!("{KUBECONFIG}\n"))
        .assert()
        .success();
    let stored = home.reveal("KUBE_YAML");
    let started = SystemTime::now();
    let output = home
        .vault(&[
            "exec",
            "--file",
            "KUBECONFIG=KUBE_YAML",
            "--",
            "sh",
            "-c",
            // A kubectl-style reader, the link it is, and a write that the seal refuses
            // (even to root, whom the 0400 mode does not stop).
            r#"cat "$KUBECONFIG"; echo "--$(readlink "$KUBECONFIG")--"; printf tamper >> "$KUBECONFIG" && echo WRITTEN; cat "$KUBECONFIG" | wc -c"#,
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with(&stored), "{text}");
    assert!(
        text.contains("--/memfd:secretsd:KUBECONFIG (deleted)--"),
        "{text}"
    );
    assert!(
        !text.contains("WRITTEN"),
        "the seal let a write through: {text}"
    );
    assert!(
        text.ends_with(&format!("{}\n", stored.len())),
        "the content changed: {text}"
    );
    let marker = "server: https://k8s.example:6443";
    for place in [home.path(), Path::new("/tmp")] {
        let leaked = files_holding(place, marker, started);
        assert!(leaked.is_empty(), "the secret reached {leaked:?}");
    }
}

#[test]
fn a_manifests_files_come_from_any_reference() {
    let home = TestHome::initialised();
    home.set("TLS_KEY", "-----BEGIN KEY-----\nabc\n-----END KEY-----");
    let shared = home.path().join("shared.env");
    std::fs::write(&shared, "SA_JSON='{\"type\":\"service_account\"}'\n").unwrap();
    common::chmod(&shared, 0o600);
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!("[providers.shared-file]\npath = \"{}\"\n", shared.display()),
    )
    .unwrap();
    let manifest = home.path().join("app.toml");
    std::fs::write(
        &manifest,
        "[env]\nMODE = \"prod\"\n[files]\nTLS_KEY_FILE = \"secret:TLS_KEY\"\nGOOGLE_APPLICATION_CREDENTIALS = \"shared-file:SA_JSON\"\n",
    )
    .unwrap();
    let binaries = assert_cmd::cargo::cargo_bin("vault");
    let path = format!(
        "{}:{}",
        binaries.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = home
        .vault(&[
            "run",
            "-m",
            manifest.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            r#"echo "$MODE"; cat "$TLS_KEY_FILE"; echo; cat "$GOOGLE_APPLICATION_CREDENTIALS"; echo; env | grep -c BEGIN || true"#,
        ])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "prod\n-----BEGIN KEY-----\nabc\n-----END KEY-----\n{\"type\":\"service_account\"}\n0\n",
        "file contents are files, not variables"
    );
}

#[test]
fn file_dir_writes_private_files_for_as_long_as_the_command_runs() {
    let home = TestHome::initialised();
    home.set("KUBE_YAML", "kind: Config");
    let parent = home.path().join("runtime");
    std::fs::create_dir(&parent).unwrap();
    let output = home
        .vault(&[
            "exec",
            "--file-dir",
            parent.to_str().unwrap(),
            "--file",
            "KUBECONFIG=KUBE_YAML",
            "--",
            "sh",
            "-c",
            r#"cat "$KUBECONFIG"; echo; stat -c '%a' "$KUBECONFIG" "$(dirname "$KUBECONFIG")"; exit 7"#,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(7), "{}", stderr(&output));
    assert_eq!(stdout(&output), "kind: Config\n400\n700\n");
    assert_eq!(
        std::fs::read_dir(&parent).unwrap().count(),
        0,
        "the files and their directory are gone"
    );
}

#[test]
fn a_file_naming_a_missing_secret_starts_nothing() {
    let home = TestHome::initialised();
    let marker = home.path().join("started");
    let output = home
        .vault(&[
            "exec",
            "--file",
            "KUBECONFIG=NOPE",
            "--",
            "touch",
            marker.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(125));
    assert!(
        stderr(&output).contains("--file names NOPE"),
        "{}",
        stderr(&output)
    );
    assert!(!marker.exists());
    home.vault(&["exec", "--file", "NO_EQUALS", "--", "true"])
        .assert()
        .code(2);
}
