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

/// A `sleep` duration no other run uses: this test process's id is in it.
fn unique_sleep(n: u32) -> String {
    format!("{}{n}", 4000 + std::process::id() % 100_000)
}

/// Whether a process with exactly this command line runs.
fn running(command_line: &str) -> bool {
    let found = std::process::Command::new("pgrep")
        .args(["-f", &format!("^{command_line}$")])
        .output()
        .unwrap();
    !stdout(&found).trim().is_empty()
}

/// The `secretsd-files-*` directories in `parent`.
fn file_dirs(parent: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("secretsd-files-")
        })
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

/// A vault that is killed if a test ends before it does (its keeper ends the rest).
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `until` holds, for at most ten seconds.
fn wait_for(what: &str, until: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !until() {
        assert!(std::time::Instant::now() < deadline, "waited for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Starts `vault exec --file-dir PARENT --file KUBECONFIG=KUBE_YAML -- sh -c SCRIPT` and
/// waits until the file is written.
fn exec_with_file_dir(
    home: &TestHome,
    parent: &Path,
    script: &str,
    own_group: bool,
) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let before = file_dirs(parent);
    let mut command = home.vault_std(&[
        "exec",
        "--file-dir",
        parent.to_str().unwrap(),
        "--file",
        "KUBECONFIG=KUBE_YAML",
        "--",
        "sh",
        "-c",
        script,
    ]);
    if own_group {
        command.process_group(0);
    }
    let child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the file", || {
        file_dirs(parent)
            .iter()
            .filter(|d| !before.contains(d))
            .any(|d| d.join("KUBECONFIG").exists())
    });
    child
}

/// vault killed: its keeper kills the command and what it started, and removes the files.
#[test]
fn file_dir_files_and_the_command_end_when_vault_is_killed() {
    let home = TestHome::initialised();
    home.set("KUBE_YAML", KUBECONFIG);
    let parent = home.path().join("runtime");
    std::fs::create_dir(&parent).unwrap();
    let (background, command) = (unique_sleep(1), unique_sleep(2));
    let mut vault = exec_with_file_dir(
        &home,
        &parent,
        &format!("sleep {background} & exec sleep {command}"),
        false,
    );
    wait_for("the command", || running(&format!("sleep {command}")));
    vault.kill().unwrap();
    vault.wait().unwrap();
    wait_for("the files to be removed", || file_dirs(&parent).is_empty());
    wait_for("the command and its job to end", || {
        !running(&format!("sleep {background}")) && !running(&format!("sleep {command}"))
    });
    assert!(
        files_holding(home.path(), "k8s.example", SystemTime::UNIX_EPOCH).is_empty(),
        "the secret is still on disk"
    );
}

/// vault and its keeper killed at once (the whole process group): nothing of them runs to
/// remove the files, so they stay — until the next vault given the same --file-dir, which
/// removes every such directory that no running vault holds, and only those.
#[test]
fn a_file_dir_left_by_a_killed_vault_is_removed_by_the_next_vault_using_that_directory() {
    let home = TestHome::initialised();
    home.set("KUBE_YAML", KUBECONFIG);
    let parent = home.path().join("runtime");
    std::fs::create_dir(&parent).unwrap();
    let (killed_sleep, live_sleep) = (unique_sleep(3), unique_sleep(4));
    let mut killed =
        exec_with_file_dir(&home, &parent, &format!("exec sleep {killed_sleep}"), true);
    let [stale] = &file_dirs(&parent)[..] else {
        panic!("one directory")
    };
    let stale = stale.clone();
    let mut live = Stopped(exec_with_file_dir(
        &home,
        &parent,
        &format!("exec sleep {live_sleep}"),
        false,
    ));
    let status = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", killed.id())])
        .status()
        .unwrap();
    assert!(status.success());
    killed.wait().unwrap();
    wait_for("the killed command to end", || {
        !running(&format!("sleep {killed_sleep}"))
    });
    assert!(
        stale.join("KUBECONFIG").exists(),
        "nothing was left to remove it"
    );
    home.vault(&[
        "exec",
        "--file-dir",
        parent.to_str().unwrap(),
        "--file",
        "KUBECONFIG=KUBE_YAML",
        "--",
        "true",
    ])
    .assert()
    .success();
    let left = file_dirs(&parent);
    assert!(
        !left.contains(&stale),
        "the stale directory stayed: {left:?}"
    );
    assert_eq!(
        left.len(),
        1,
        "the running vault's directory stays: {left:?}"
    );
    assert!(left[0].join("KUBECONFIG").exists());
    // The running one ends as usual, and takes its files with it.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &live.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    live.0.wait().unwrap();
    assert!(file_dirs(&parent).is_empty());
}

/// The same, found by any vault command: every --file-dir directory in use is recorded in
/// the data directory, and one whose vault and keeper are gone is removed by the next
/// vault command, whichever it is.
#[test]
fn a_file_dir_left_by_a_killed_vault_is_removed_by_the_next_vault_command() {
    let home = TestHome::initialised();
    home.set("KUBE_YAML", KUBECONFIG);
    let parent = home.path().join("runtime");
    std::fs::create_dir(&parent).unwrap();
    let killed_sleep = unique_sleep(5);
    let mut killed =
        exec_with_file_dir(&home, &parent, &format!("exec sleep {killed_sleep}"), true);
    let [stale] = &file_dirs(&parent)[..] else {
        panic!("one directory")
    };
    let status = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", killed.id())])
        .status()
        .unwrap();
    assert!(status.success());
    killed.wait().unwrap();
    wait_for("the killed command to end", || {
        !running(&format!("sleep {killed_sleep}"))
    });
    assert!(
        stale.join("KUBECONFIG").exists(),
        "nothing was left to remove it"
    );
    home.vault(&["list"]).assert().success();
    assert!(file_dirs(&parent).is_empty(), "the stale directory stayed");
    assert!(
        files_holding(home.path(), "k8s.example", SystemTime::UNIX_EPOCH).is_empty(),
        "the secret is still on disk"
    );
}

/// `vault --internal-keeper` takes its orders from its command line, which anyone can
/// write: told `--file-dir ~/.ssh` and orphaned, it overwrote and removed every file there.
/// A keeper removes only a directory named as vault names them, and refuses any other.
#[test]
fn a_keeper_removes_no_directory_vault_did_not_make() {
    let home = TestHome::new();
    let keep = home.path().join("keep");
    std::fs::create_dir(&keep).unwrap();
    common::chmod(&keep, 0o700);
    std::fs::write(keep.join("id_ed25519"), "precious\n").unwrap();
    let vault = assert_cmd::cargo::cargo_bin("vault");
    let script = format!(
        "'{}' --internal-keeper $$ --file-dir '{}' -- sleep {} & echo $!; sleep 1; kill -9 $$",
        vault.display(),
        keep.display(),
        unique_sleep(3)
    );
    let output = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    let keeper = stdout(&output).trim().to_string();
    assert!(!keeper.is_empty(), "{}", stderr(&output));
    // The keeper saw its parent go (or refused its orders at once): it ends either way.
    wait_for("the keeper to end", || {
        !Path::new(&format!("/proc/{keeper}")).exists()
            || std::fs::read_to_string(format!("/proc/{keeper}/stat"))
                .is_ok_and(|stat| stat.contains(") Z "))
    });
    assert_eq!(
        std::fs::read_to_string(keep.join("id_ed25519")).unwrap(),
        "precious\n"
    );
}
