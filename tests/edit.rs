//! `vault edit`: the secrets in an editor, applied as one change, the plaintext only in a
//! private directory on a tmpfs that is gone when the edit ends. The editors here are small
//! shell scripts, as automation drives `vault edit`.

mod common;

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{TestHome, stderr};

/// A private tmpfs directory to stand for $XDG_RUNTIME_DIR, so a test can see what is left
/// in it.
fn runtime_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("vault-edit-test")
        .tempdir_in("/dev/shm")
        .expect("/dev/shm (a tmpfs) for the tests of vault edit");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// An editor: a shell script run as `EDITOR`, given the file's path as `$1`.
fn editor(home: &TestHome, name: &str, body: &str) -> PathBuf {
    let path = home.path().join(name);
    fs::write(&path, format!("#!/bin/sh\nset -e\n{body}\n")).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn edit_command(home: &TestHome, runtime: &Path, editor: &Path, args: &[&str]) -> Command {
    let mut all = vec!["edit"];
    all.extend_from_slice(args);
    let mut command = home.vault_std(&all);
    command
        .env("XDG_RUNTIME_DIR", runtime)
        .env("EDITOR", editor)
        .stdin(Stdio::null());
    command
}

fn leftovers(runtime: &Path) -> Vec<String> {
    fs::read_dir(runtime)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn backups(home: &TestHome) -> usize {
    fs::read_dir(home.backup_dir())
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".age")
            })
            .count()
        })
        .unwrap_or(0)
}

fn import(home: &TestHome, values: &serde_json::Value) {
    home.vault(&["import", "--json", "-"])
        .write_stdin(values.to_string())
        .assert()
        .success();
}

#[test]
fn adds_changes_and_removes_in_one_change_leaving_no_plaintext() {
    let home = TestHome::initialised();
    import(
        &home,
        &serde_json::json!({"KEEP": "kept-value-1", "CHANGE": "old-value-2", "DROP": "dropped-value-3"}),
    );
    let runtime = runtime_dir();
    let log = home.path().join("editor.log");
    // The editor records where it was, the modes, the filesystem and its own argv.
    let script = editor(
        &home,
        "edit.sh",
        &format!(
            "log={log}\n\
             printf 'argv:%s\\n' \"$0\" \"$@\" >> $log\n\
             printf 'dir:%s\\n' \"$(dirname \"$1\")\" >> $log\n\
             stat -c 'dirmode:%a' \"$(dirname \"$1\")\" >> $log\n\
             stat -c 'filemode:%a' \"$1\" >> $log\n\
             stat -f -c 'fs:%T' \"$1\" >> $log\n\
             sed -i -e 's/^CHANGE=.*/CHANGE=\"new value 2\"/' -e '/^DROP=/d' \"$1\"\n\
             echo 'ADDED=added-value-4' >> \"$1\"",
            log = log.display()
        ),
    );
    let before = backups(&home);
    let output = edit_command(&home, runtime.path(), &script, &[])
        .output()
        .unwrap();
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    for line in ["updated CHANGE", "removed DROP", "added ADDED"] {
        assert!(message.contains(line), "{line}: {message}");
    }
    assert_eq!(home.reveal("KEEP"), "kept-value-1");
    assert_eq!(home.reveal("CHANGE"), "new value 2");
    assert_eq!(home.reveal("ADDED"), "added-value-4");
    home.vault(&["exists", "DROP"]).assert().code(3);
    // One change: one backup.
    assert_eq!(backups(&home), before + 1);

    let log = fs::read_to_string(&log).unwrap();
    assert!(log.contains("dirmode:700\n"), "{log}");
    assert!(log.contains("filemode:600\n"), "{log}");
    assert!(log.contains("fs:tmpfs\n"), "{log}");
    let dir = log
        .lines()
        .find_map(|l| l.strip_prefix("dir:"))
        .unwrap()
        .to_string();
    assert!(
        dir.starts_with(&runtime.path().display().to_string()),
        "{dir}"
    );
    assert!(!Path::new(&dir).exists(), "{dir} is left");
    assert!(leftovers(runtime.path()).is_empty());
    // No value in the editor's argv or in what vault said.
    for value in [
        "kept-value-1",
        "old-value-2",
        "dropped-value-3",
        "new value 2",
        "added-value-4",
    ] {
        assert!(
            !log.lines()
                .any(|l| l.starts_with("argv:") && l.contains(value)),
            "{log}"
        );
        assert!(!message.contains(value), "{message}");
    }
}

#[test]
fn an_unchanged_text_changes_nothing_and_writes_nothing() {
    let home = TestHome::initialised();
    home.set("A", "value-a");
    let runtime = runtime_dir();
    let vault_before = fs::read(home.vault_file()).unwrap();
    let before = backups(&home);
    for body in [
        "true",
        "touch \"$1\"",
        "cp \"$1\" \"$1.copy\" && mv \"$1.copy\" \"$1\"",
    ] {
        let script = editor(&home, "same.sh", body);
        let output = edit_command(&home, runtime.path(), &script, &[])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("nothing changed"),
            "{}",
            stderr(&output)
        );
    }
    // Only comments changed: the values are the same, so nothing is written either.
    let script = editor(&home, "comment.sh", "echo '# a note' >> \"$1\"");
    let output = edit_command(&home, runtime.path(), &script, &[])
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("nothing changed"),
        "{}",
        stderr(&output)
    );
    assert_eq!(fs::read(home.vault_file()).unwrap(), vault_before);
    assert_eq!(backups(&home), before);
    assert!(leftovers(runtime.path()).is_empty());
}

#[test]
fn a_text_vault_cannot_read_aborts_without_a_terminal_and_changes_nothing() {
    let home = TestHome::initialised();
    home.set("A", "value-a");
    let runtime = runtime_dir();
    let vault_before = fs::read(home.vault_file()).unwrap();
    let script = editor(
        &home,
        "broken.sh",
        "echo 'B=fine' >> \"$1\"\necho 'pasted-secret-word' >> \"$1\"\necho \"C='unclosed-secret-text\" >> \"$1\"",
    );
    let output = edit_command(&home, runtime.path(), &script, &[])
        .output()
        .unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(6), "{message}");
    // Four comment lines, A, B: the bad lines are 7 and 8, named without their text.
    assert!(
        message.contains("line 7") && message.contains("line 8"),
        "{message}"
    );
    assert!(message.contains("nothing changed"), "{message}");
    assert!(
        !message.contains("pasted-secret-word") && !message.contains("unclosed-secret-text"),
        "{message}"
    );
    assert_eq!(fs::read(home.vault_file()).unwrap(), vault_before);
    assert!(leftovers(runtime.path()).is_empty());
}

#[test]
fn an_editor_that_fails_changes_nothing_and_leaves_nothing() {
    let home = TestHome::initialised();
    home.set("A", "value-a");
    let runtime = runtime_dir();
    let vault_before = fs::read(home.vault_file()).unwrap();
    let script = editor(
        &home,
        "fails.sh",
        "echo 'B=written-then-failed' >> \"$1\"\nexit 3",
    );
    let output = edit_command(&home, runtime.path(), &script, &[])
        .output()
        .unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("failed") && message.contains("nothing changed"),
        "{message}"
    );
    assert_eq!(fs::read(home.vault_file()).unwrap(), vault_before);
    assert!(leftovers(runtime.path()).is_empty());
    // An editor that cannot be found fails the same way.
    let output = home
        .vault_std(&["edit"])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("EDITOR", "/nonexistent/editor")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(leftovers(runtime.path()).is_empty());
    // No editor at all, and no terminal to run vi on: a usage error before anything.
    let output = home
        .vault_std(&["edit"])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("EDITOR"), "{}", stderr(&output));
}

const TRICKY: &[(&str, &str)] = &[
    ("MULTI", "line one\nline \"two\" it's\n  indented\n"),
    ("QUOTES", "it's \"quoted\" \\ back\\slash"),
    ("DOLLAR", "pa$$ ${HOME} `x` #hash"),
    ("CRLF", "a\r\nb"),
    ("SPACES", "  padded  "),
];

#[test]
fn values_with_newlines_and_quotes_round_trip_through_the_text() {
    let home = TestHome::initialised();
    let object: serde_json::Map<String, serde_json::Value> = TRICKY
        .iter()
        .map(|(n, v)| (n.to_string(), serde_json::Value::from(*v)))
        .collect();
    import(&home, &serde_json::Value::from(object));
    home.set("OTHER", "before");
    let runtime = runtime_dir();
    // The editor changes one plain value; every tricky one is read back as it was.
    let script = editor(
        &home,
        "other.sh",
        "sed -i 's/^OTHER=.*/OTHER=after/' \"$1\"",
    );
    let output = edit_command(&home, runtime.path(), &script, &[])
        .output()
        .unwrap();
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    assert!(message.contains("updated OTHER"), "{message}");
    for name in ["MULTI", "QUOTES", "DOLLAR", "CRLF", "SPACES"] {
        assert!(!message.contains(name), "{name} changed: {message}");
    }
    assert_eq!(home.reveal("OTHER"), "after");
    for (name, value) in TRICKY {
        assert_eq!(home.reveal(name), *value, "{name}");
    }

    // One value alone: the file holds it as it is; an editor appends a line to it.
    let log = home.path().join("single.log");
    let script = editor(
        &home,
        "single.sh",
        &format!(
            "cp \"$1\" {log}\nprintf 'line three\\n' >> \"$1\"",
            log = log.display()
        ),
    );
    let output = edit_command(&home, runtime.path(), &script, &["MULTI"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        format!("{}\n", TRICKY[0].1)
    );
    assert_eq!(home.reveal("MULTI"), format!("{}\nline three", TRICKY[0].1));
    // A name not in the vault is added; an emptied value is refused.
    let script = editor(&home, "new.sh", "printf 'fresh\\nvalue\\n' > \"$1\"");
    let output = edit_command(&home, runtime.path(), &script, &["NEW_ONE"])
        .output()
        .unwrap();
    assert!(
        stderr(&output).contains("added NEW_ONE"),
        "{}",
        stderr(&output)
    );
    assert_eq!(home.reveal("NEW_ONE"), "fresh\nvalue");
    let script = editor(&home, "empty.sh", ": > \"$1\"");
    let output = edit_command(&home, runtime.path(), &script, &["NEW_ONE"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("vault rm NEW_ONE"),
        "{}",
        stderr(&output)
    );
    assert_eq!(home.reveal("NEW_ONE"), "fresh\nvalue");
    assert!(leftovers(runtime.path()).is_empty());
}

/// Starts `vault edit` with an editor that says it is running, then waits; returns vault's
/// process and the directory the editor was given.
fn editing(home: &TestHome, runtime: &Path) -> (std::process::Child, PathBuf, PathBuf) {
    let ready = home.path().join("ready");
    let _ = fs::remove_file(&ready);
    let pid_file = home.path().join("editor.pid");
    let script = editor(
        home,
        "waits.sh",
        &format!(
            "echo $$ > {pid}\ndirname \"$1\" > {ready}.tmp\nmv {ready}.tmp {ready}\nexec sleep 60",
            pid = pid_file.display(),
            ready = ready.display()
        ),
    );
    let child = edit_command(home, runtime, &script, &[])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while !ready.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the editor never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = PathBuf::from(fs::read_to_string(&ready).unwrap().trim());
    (child, dir, pid_file)
}

#[test]
fn sigint_or_sigterm_to_vault_removes_the_plaintext_and_ends_the_editor() {
    let home = TestHome::initialised();
    home.set("A", "value-a");
    let runtime = runtime_dir();
    let vault_before = fs::read(home.vault_file()).unwrap();
    for (signal, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let (mut child, dir, pid_file) = editing(&home, runtime.path());
        assert!(dir.join("secrets.env").exists());
        // SAFETY: kill has no memory preconditions; the pid is our own child's.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let status = child.wait().unwrap();
        let mut message = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut message)
            .unwrap();
        assert_eq!(status.code(), Some(code), "{message}");
        assert!(message.contains("plaintext removed"), "{message}");
        assert!(!dir.exists(), "{} is left", dir.display());
        assert!(leftovers(runtime.path()).is_empty());
        // The editor (the sleeping script) ended with vault.
        let editor_pid = fs::read_to_string(&pid_file).unwrap().trim().to_string();
        let start = Instant::now();
        while Path::new(&format!("/proc/{editor_pid}")).exists()
            && !fs::read_to_string(format!("/proc/{editor_pid}/stat"))
                .map(|s| s.contains(") Z "))
                .unwrap_or(true)
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the editor outlived vault"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(fs::read(home.vault_file()).unwrap(), vault_before);
}

#[test]
fn with_no_tmpfs_edit_refuses_unless_allowed_on_disk() {
    let home = TestHome::initialised();
    home.set("A", "value-a");
    let disk = tempfile::tempdir_in(home.path()).unwrap();
    let script = editor(&home, "add.sh", "echo 'B=on-disk' >> \"$1\"");
    let binary = assert_cmd::cargo::cargo_bin("vault");
    // A mount namespace where /dev/shm is a disk directory, and no $XDG_RUNTIME_DIR.
    let run = |extra: &str| {
        let template = home.vault_std(&[]);
        let environment: Vec<_> = template
            .get_envs()
            .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
            .collect();
        Command::new("unshare")
            .args(["-m", "sh", "-c"])
            .arg(format!(
                "mount --bind {disk} /dev/shm && exec {binary} edit {extra}",
                disk = disk.path().display(),
                binary = binary.display()
            ))
            .env_clear()
            .envs(environment)
            .env("EDITOR", &script)
            .env("TMPDIR", disk.path())
            .current_dir(home.path())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let probe = Command::new("unshare").args(["-m", "true"]).status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("skipped: no mount namespaces here (unshare -m)");
        return;
    }
    let output = run("");
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(4), "{message}");
    assert!(
        message.contains("/dev/shm") && message.contains("--allow-disk"),
        "{message}"
    );
    home.vault(&["exists", "B"]).assert().code(3);
    let output = run("--allow-disk");
    let message = stderr(&output);
    assert!(output.status.success(), "{message}");
    assert!(message.contains("on disk"), "{message}");
    assert_eq!(home.reveal("B"), "on-disk");
    assert_eq!(
        fs::read_dir(disk.path()).unwrap().count(),
        0,
        "plaintext left on disk"
    );
}

#[test]
fn on_a_terminal_a_text_vault_cannot_read_is_opened_again() {
    let home = TestHome::initialised();
    home.set("A", "value-a");
    let runtime = runtime_dir();
    let count = home.path().join("count");
    // The first time the editor breaks the text, the second time it mends it.
    let script = editor(
        &home,
        "twice.sh",
        &format!(
            "if [ -e {count} ]; then sed -i 's/^broken line$/B=mended/' \"$1\"; \
             else touch {count}; echo 'broken line' >> \"$1\"; fi",
            count = count.display()
        ),
    );
    let binary = assert_cmd::cargo::cargo_bin("vault");
    let template = home.vault_std(&[]);
    let environment: Vec<_> = template
        .get_envs()
        .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned())))
        .collect();
    let mut child = Command::new("script")
        .args(["-qec", &format!("{} edit", binary.display()), "/dev/null"])
        .env_clear()
        .envs(environment)
        .env("TERM", "dumb")
        .env("EDITOR", &script)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .current_dir(home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs commands on a pseudo-terminal");
    let mut stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 1024];
        while let Ok(n) = stdout.read(&mut buffer) {
            if n == 0 || sender.send(buffer[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = String::new();
    while !shown.contains("Edit again?") {
        let chunk = receiver
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no question; the terminal showed {shown:?}"));
        shown.push_str(&String::from_utf8_lossy(&chunk));
    }
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let status = child.wait().unwrap();
    while let Ok(chunk) = receiver.recv_timeout(Duration::from_millis(500)) {
        shown.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(status.success(), "{shown}");
    assert!(shown.contains("line 6"), "{shown}");
    assert!(shown.contains("added B"), "{shown}");
    assert_eq!(home.reveal("B"), "mended");
    assert!(leftovers(runtime.path()).is_empty());
}

#[test]
fn a_value_no_env_text_can_hold_is_named_and_edited_on_its_own() {
    let home = TestHome::initialised();
    // Leading spaces need quotes, and a closing quote after a backslash reads as escaped.
    import(&home, &serde_json::json!({"EDGE": "  edge-secret\\"}));
    let runtime = runtime_dir();
    let script = editor(&home, "append.sh", "echo 'B=1' >> \"$1\"");
    let output = edit_command(&home, runtime.path(), &script, &[])
        .output()
        .unwrap();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(6), "{message}");
    assert!(
        message.contains("EDGE") && message.contains("vault edit NAME"),
        "{message}"
    );
    assert!(!message.contains("edge-secret"), "{message}");
    home.vault(&["exists", "B"]).assert().code(3);
    let script = editor(&home, "upper.sh", "sed -i 's/edge/EDGE/' \"$1\"");
    let output = edit_command(&home, runtime.path(), &script, &["EDGE"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(home.reveal("EDGE"), "  EDGE-secret\\");
    assert!(leftovers(runtime.path()).is_empty());
}

/// `$XDG_RUNTIME_DIR` may be private itself and still sit in a directory another user
/// owns, who can then rename it and put a directory of theirs in its place while the
/// plaintext is being written: every directory on the way must be the user's or root's
/// (a root-owned sticky one such as /dev/shm excepted), else vault uses /dev/shm.
#[test]
fn a_runtime_dir_inside_another_users_directory_is_not_used() {
    let home = TestHome::initialised();
    home.set("A", "value-a");
    let outer = runtime_dir();
    // Another user's directory, holding one of ours that looks private.
    let theirs = outer.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    let ours = theirs.join("ours");
    fs::create_dir(&ours).unwrap();
    fs::set_permissions(&ours, fs::Permissions::from_mode(0o700)).unwrap();
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(outer.path(), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(64_024), Some(64_024)).unwrap();
    let log = home.path().join("edited-at");
    let script = editor(
        &home,
        "where.sh",
        &format!("echo \"$1\" > '{}'", log.display()),
    );
    let output = edit_command(&home, &ours, &script, &[]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let edited_at = fs::read_to_string(&log).unwrap();
    assert!(
        edited_at.starts_with("/dev/shm/vault-edit."),
        "the plaintext went to {edited_at}"
    );
    assert!(leftovers(&ours).is_empty());
}
