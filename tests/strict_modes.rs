//! Other local users (ssh's StrictModes): what another user can plant — a manifest above a
//! project, a target file, a link, a backups directory, a trust record — is refused before
//! it is used; a file that carries secrets loses others' access when vault writes it; and
//! a writer killed between naming its new file and renaming it leaves that plaintext only
//! until the next writer of the file.
//!
//! Other users are played with `setpriv` and numeric uids, so these tests need root; as
//! another user they say so and check nothing.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestHome, chmod, mode, stderr, stdout};

/// Another local user: a uid with no name, as an attacker's account looks to vault.
const MALLORY: u32 = 64_023;

fn is_root() -> bool {
    fs::metadata("/proc/self").unwrap().uid() == 0
}

/// Runs `script` with `sh` as `uid` (its own group, no others).
fn as_user(uid: u32, script: &str) {
    let output = Command::new("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "--",
            "sh",
            "-c",
            script,
        ])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .expect("setpriv (util-linux) must be installed; scripts/test installs it");
    assert!(
        output.status.success(),
        "as uid {uid}: {script}: {}",
        stderr(&output)
    );
}

/// A directory everybody may write, sticky and root's, like /tmp.
fn shared_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o1777);
    dir
}

/// A service's account (a name, for `--owner`); returns its uid and gid.
fn service_user(name: &str) -> (u32, u32) {
    // It may be there from an earlier run.
    let _ = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ])
        .output()
        .expect("useradd (passwd) must be installed");
    let id = |flag: &str| -> u32 {
        let output = Command::new("id").args([flag, name]).output().unwrap();
        assert!(output.status.success(), "id {flag} {name}");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap()
    };
    (id("-u"), id("-g"))
}

fn run(mut command: assert_cmd::Command) -> Output {
    command.output().unwrap()
}

/// vault refused, as it refuses what another user could have written: exit 4, naming
/// what and whose.
fn assert_refused(output: &Output, code: i32, names: &[&str]) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(code), "{message}");
    for name in names {
        assert!(message.contains(name), "{name:?} not in: {message}");
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_manifest_another_user_planted_above_the_project_runs_nothing() {
    if !is_root() {
        eprintln!("skipped: playing another user takes root");
        return;
    }
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "victim-db-password-2718");
    // Mallory's trap in a shared directory: a manifest above where the victim works, that
    // points Python at her module and hands it the password.
    let shared = shared_dir();
    let trap = shared.path().join("x");
    let t = trap.display();
    as_user(
        MALLORY,
        &format!(
            "mkdir -m 755 {t} {t}/m && mkdir -m 777 {t}/loot && \
             printf 'import os\\nopen(\"{t}/loot/taken\", \"w\").write(os.environ.get(\"LOOT\", \"ran\"))\\n' > {t}/m/sitecustomize.py && \
             printf '[env]\\nPYTHONPATH = \"literal:{t}/m\"\\nLOOT = \"secret:DB_PASSWORD\"\\n' > {t}/secretsd.toml && \
             chmod 644 {t}/secretsd.toml {t}/m/sitecustomize.py"
        ),
    );
    let work = trap.join("project");
    fs::create_dir(&work).unwrap();
    let loot = trap.join("loot/taken");
    let python = ["run", "--", "python3", "-c", "pass"];

    // The same manifest as the user's own does what it says (so the refusals below are
    // what stops it).
    let own = home.path().join("own");
    fs::create_dir(&own).unwrap();
    fs::copy(trap.join("secretsd.toml"), own.join("secretsd.toml")).unwrap();
    let output = run({
        let mut c = home.vault(&python);
        c.current_dir(&own);
        c
    });
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        fs::read_to_string(&loot).unwrap(),
        "victim-db-password-2718"
    );
    fs::remove_file(&loot).unwrap();

    // Found upward from the victim's directory: refused, naming the file and its owner.
    let manifest = trap.join("secretsd.toml");
    let output = run({
        let mut c = home.vault(&python);
        c.current_dir(&work);
        c
    });
    assert_refused(&output, 125, &[path_str(&manifest), "uid 64023"]);
    assert!(!loot.exists(), "Mallory's sitecustomize ran");
    // Named on the command line: refused the same way.
    let output = run(home.vault(&[
        "run",
        "--manifest",
        path_str(&manifest),
        "--",
        "python3",
        "-c",
        "pass",
    ]));
    assert_refused(&output, 125, &[path_str(&manifest), "uid 64023"]);
    let output = run(home.vault(&["check", "--manifest", path_str(&manifest)]));
    assert_refused(&output, 4, &["uid 64023"]);
    assert!(!loot.exists(), "Mallory's sitecustomize ran");

    // The user's own manifest, searched for from a directory others may write (where
    // another could have put one nearer): refused too.
    let open = own.join("sub");
    fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    let output = run({
        let mut c = home.vault(&python);
        c.current_dir(&open);
        c
    });
    assert_refused(
        &output,
        125,
        &[path_str(&open), "writable by group or others"],
    );
    assert!(!loot.exists());
}

#[test]
fn a_target_another_user_made_or_can_reach_is_refused() {
    if !is_root() {
        eprintln!("skipped: playing another user takes root");
        return;
    }
    let home = TestHome::initialised();
    home.set("API_KEY", "api-key-value-31415");
    let shared = shared_dir();
    let drop = shared.path();
    // Mallory's file, waiting for a secret in a sticky shared directory.
    let hers = drop.join("app.env");
    as_user(
        MALLORY,
        &format!("printf 'OTHER=1\\n' > {0} && chmod 666 {0}", hers.display()),
    );
    let sync_to = |target: &Path| {
        run(home.vault(&[
            "sync",
            "--from",
            "vault",
            "--to",
            &format!("dotenv:{}", target.display()),
            "--only",
            "API_KEY",
        ]))
    };
    let output = sync_to(&hers);
    assert_refused(&output, 4, &[path_str(&hers), "uid 64023", "--owner USER"]);
    assert_eq!(fs::read_to_string(&hers).unwrap(), "OTHER=1\n");
    let output = run(home.vault(&["export", "-o", path_str(&hers)]));
    assert_refused(&output, 4, &["uid 64023"]);
    assert_eq!(fs::read_to_string(&hers).unwrap(), "OTHER=1\n");
    let policy = home.path().join("policy.toml");
    fs::write(
        &policy,
        format!(
            "[secrets.API_KEY]\ntype = \"random\"\nfiles = [\"{}\"]\n",
            hers.display()
        ),
    )
    .unwrap();
    let output = run(home.vault(&["rotate", "--policy", path_str(&policy)]));
    assert_refused(&output, 4, &["uid 64023"]);
    assert_eq!(home.reveal("API_KEY"), "api-key-value-31415");
    assert_eq!(fs::read_to_string(&hers).unwrap(), "OTHER=1\n");

    // The user's own file, or a new one, in that shared directory: others may create
    // names there (the file, its lock, its temp file) before vault does.
    let mine = drop.join("mine.env");
    fs::write(&mine, "A=1\n").unwrap();
    chmod(&mine, 0o600);
    let output = sync_to(&mine);
    assert_refused(&output, 4, &[path_str(drop), "sticky"]);
    assert_eq!(fs::read_to_string(&mine).unwrap(), "A=1\n");
    let new = drop.join("new.env");
    let output = run(home.vault(&["export", "-o", path_str(&new)]));
    assert_refused(&output, 4, &[path_str(drop), "sticky"]);
    assert!(!new.exists());

    // A link Mallory made (in a directory that was open to her then) is not followed.
    let private = home.path().join("private");
    fs::create_dir(&private).unwrap();
    let real = home.path().join("real.env");
    fs::write(&real, "A=1\n").unwrap();
    chmod(&real, 0o600);
    chmod(&private, 0o777);
    let link = private.join("link.env");
    as_user(
        MALLORY,
        &format!("ln -s {} {}", real.display(), link.display()),
    );
    chmod(&private, 0o700);
    let output = sync_to(&link);
    assert_refused(
        &output,
        4,
        &[path_str(&link), "symbolic link owned by uid 64023"],
    );
    assert_eq!(fs::read_to_string(&real).unwrap(), "A=1\n");
    // The user's own link is followed, as before.
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let output = sync_to(&link);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        fs::read_to_string(&real)
            .unwrap()
            .contains("api-key-value-31415")
    );
    assert!(
        fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );

    // --file-dir: a directory Mallory owns could have vault's new directory swapped for
    // hers; one anybody may write (not sticky), the same.
    let hers_dir = drop.join("runtime");
    as_user(MALLORY, &format!("mkdir -m 755 {}", hers_dir.display()));
    let open_dir = home.path().join("open");
    fs::create_dir(&open_dir).unwrap();
    chmod(&open_dir, 0o777);
    for dir in [&hers_dir, &open_dir] {
        let marker = home.path().join("started");
        let output = run(home.vault(&[
            "exec",
            "--file-dir",
            path_str(dir),
            "--file",
            "KEY=API_KEY",
            "--",
            "touch",
            path_str(&marker),
        ]));
        assert_refused(&output, 125, &[path_str(dir), "--file-dir directory"]);
        assert!(!marker.exists());
        assert_eq!(
            fs::read_dir(dir).unwrap().count(),
            0,
            "vault wrote into {dir:?}"
        );
    }
}

#[test]
fn root_writes_a_services_env_file_when_told_whose_it_is() {
    if !is_root() {
        eprintln!("skipped: writing a file for another user takes root");
        return;
    }
    let (uid, gid) = service_user("strictmodes-svc");
    let home = TestHome::initialised();
    home.set("API_KEY", "api-key-value-27182");
    // /etc/app-like: root's directory, the service's file, readable by its group.
    let etc = home.path().join("etc-app");
    fs::create_dir(&etc).unwrap();
    chmod(&etc, 0o755);
    let env = etc.join("app.env");
    fs::write(&env, "PORT=8080\n").unwrap();
    std::os::unix::fs::chown(&env, Some(uid), Some(gid)).unwrap();
    chmod(&env, 0o640);
    let sync = |owner: Option<&str>, target: &Path| {
        let target = format!("dotenv:{}", target.display());
        let mut args = vec![
            "sync", "--from", "vault", "--to", &target, "--only", "API_KEY",
        ];
        if let Some(owner) = owner {
            args.extend(["--owner", owner]);
        }
        run(home.vault(&args))
    };
    let output = sync(None, &env);
    assert_refused(&output, 4, &["uid", "strictmodes-svc", "--owner USER"]);
    assert_eq!(fs::read_to_string(&env).unwrap(), "PORT=8080\n");
    let output = sync(Some("strictmodes-svc"), &env);
    assert!(output.status.success(), "{}", stderr(&output));
    let written = fs::metadata(&env).unwrap();
    assert_eq!((written.uid(), written.gid()), (uid, gid));
    assert_eq!(written.mode() & 0o7777, 0o640);
    assert!(
        fs::read_to_string(&env)
            .unwrap()
            .contains("api-key-value-27182")
    );

    // A new file for the service: theirs, in their group, 0600.
    let new = etc.join("new.env");
    let output = sync(Some("strictmodes-svc"), &new);
    assert!(output.status.success(), "{}", stderr(&output));
    let made = fs::metadata(&new).unwrap();
    assert_eq!(
        (made.uid(), made.gid(), made.mode() & 0o7777),
        (uid, gid, 0o600)
    );
    let export = etc.join("export.env");
    let output = run(home.vault(&[
        "export",
        "-o",
        path_str(&export),
        "--owner",
        "strictmodes-svc",
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(fs::metadata(&export).unwrap().uid(), uid);

    // A named sync and a rotation say it in their configuration.
    fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[sync.app]\nfrom = [\"vault\"]\nto = \"dotenv:{}\"\nonly = [\"API_KEY\"]\nowner = \"strictmodes-svc\"\n",
            env.display()
        ),
    )
    .unwrap();
    home.set("API_KEY", "api-key-value-16180");
    let output = run(home.vault(&["sync", "app"]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        fs::read_to_string(&env)
            .unwrap()
            .contains("api-key-value-16180")
    );
    let policy = home.path().join("policy.toml");
    let write_policy = |owner: &str| {
        fs::write(
            &policy,
            format!(
                "[secrets.API_KEY]\ntype = \"random\"\nfiles = [\"{}\"]\n{owner}",
                env.display()
            ),
        )
        .unwrap();
    };
    write_policy("");
    let output = run(home.vault(&["rotate", "--policy", path_str(&policy)]));
    assert_refused(&output, 4, &["strictmodes-svc"]);
    assert_eq!(home.reveal("API_KEY"), "api-key-value-16180");
    write_policy("owner = \"strictmodes-svc\"\n");
    let output = run(home.vault(&["rotate", "--policy", path_str(&policy)]));
    assert!(output.status.success(), "{}", stderr(&output));
    let rotated = home.reveal("API_KEY");
    assert_ne!(rotated, "api-key-value-16180");
    assert!(fs::read_to_string(&env).unwrap().contains(&rotated));
    assert_eq!(fs::metadata(&env).unwrap().uid(), uid);

    // The service's own directory is not enough: it could put links in vault's way.
    let theirs = home.path().join("srv-app");
    fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(uid), Some(gid)).unwrap();
    let output = sync(Some("strictmodes-svc"), &theirs.join("app.env"));
    assert_refused(&output, 4, &[path_str(&theirs), "strictmodes-svc"]);
    assert!(!theirs.join("app.env").exists());
}

#[test]
fn a_file_that_carries_secrets_loses_others_access_and_vault_says_so() {
    let home = TestHome::initialised();
    home.set("API_KEY", "api-key-value-14142");
    let project = home.path().join("project");
    fs::create_dir(&project).unwrap();
    let env = project.join("app.env");
    fs::write(&env, "API_KEY=old\nPORT=1\n").unwrap();
    chmod(&env, 0o644);
    fs::write(
        project.join("policy.toml"),
        "[secrets.API_KEY]\ntype = \"random\"\nfiles = [\"app.env\"]\n",
    )
    .unwrap();
    let rotate =
        || run(home.vault(&["rotate", "--policy", path_str(&project.join("policy.toml"))]));
    let output = rotate();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&env), 0o640, "the group keeps reading, others do not");
    assert!(
        stderr(&output).contains(&format!(
            "{} was readable by others (mode 0644)",
            fs::canonicalize(&env).unwrap().display()
        )),
        "{}",
        stderr(&output)
    );
    // Already private to owner and group: kept as it is, nothing said.
    let output = rotate();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&env), 0o640);
    assert!(
        !stderr(&output).contains("readable by others"),
        "{}",
        stderr(&output)
    );

    // sync: the same rule (it used to force 0600, taking the group's access too).
    chmod(&env, 0o664);
    let sync = || {
        run(home.vault(&[
            "sync",
            "--from",
            "vault",
            "--to",
            &format!("dotenv:{}", env.display()),
            "--only",
            "API_KEY",
        ]))
    };
    home.set("API_KEY", "api-key-value-17320");
    let output = sync();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&env), 0o660);
    assert!(
        stderr(&output).contains("(mode 0664)"),
        "{}",
        stderr(&output)
    );
    assert!(
        fs::read_to_string(&env)
            .unwrap()
            .contains("api-key-value-17320")
    );
    chmod(&env, 0o604);
    home.set("API_KEY", "api-key-value-22360");
    let output = sync();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(mode(&env), 0o600);
}

#[test]
fn a_shared_directory_is_no_place_for_a_vault_its_backups_or_its_trust_record() {
    if !is_root() {
        eprintln!("skipped: playing another user takes root");
        return;
    }
    // init refuses a sticky shared directory for the vault (as every later command
    // would), before it creates anything.
    let shared = shared_dir();
    let home = TestHome::new();
    let in_shared = shared.path().join("vault.age");
    let output = run(home.vault(&["--vault", path_str(&in_shared), "init"]));
    assert_refused(&output, 4, &[path_str(shared.path()), "sticky"]);
    assert!(!in_shared.exists());
    assert!(
        !home.identity_file().exists(),
        "init made an identity first"
    );

    // A vault whose directory became shared: Mallory pre-creates backups/ and plants a
    // backup; nothing uses the vault there, least of all a restore.
    let home = TestHome::initialised();
    home.set("API_KEY", "before");
    home.set("API_KEY", "after");
    let vault_dir = home.vault_file().parent().unwrap().to_path_buf();
    let backups = home.backup_dir();
    fs::rename(&backups, home.path().join("old-backups")).unwrap();
    // A home others may pass through, as many are.
    chmod(home.path(), 0o755);
    chmod(&home.path().join("data"), 0o755);
    chmod(&vault_dir, 0o1777);
    let staged = home.path().join("old-backups");
    chmod(&staged, 0o755);
    for file in fs::read_dir(&staged).unwrap() {
        chmod(&file.unwrap().path(), 0o644);
    }
    as_user(
        MALLORY,
        &format!(
            "mkdir -m 777 {0} && cp {1}/* {0}/",
            backups.display(),
            staged.display()
        ),
    );
    chmod(&staged, 0o700);
    for args in [&["get", "API_KEY"][..], &["set", "API_KEY", "x"]] {
        let output = run(home.vault(args));
        assert_refused(&output, 4, &[path_str(&vault_dir), "sticky"]);
    }
    for args in [&["restore", "--latest"][..], &["restore", "--list"]] {
        // Whichever it looks at first, the directory or what she put in it.
        let output = run(home.vault(args));
        assert_refused(&output, 4, &[path_str(&vault_dir)]);
        assert!(
            ["sticky", "uid 64023"]
                .iter()
                .any(|w| stderr(&output).contains(w)),
            "{}",
            stderr(&output)
        );
    }
    // Not sticky: she swaps the lock file for a link to a file of the victim's, which a
    // writer would truncate to write its PID in — were it not refused first.
    chmod(&vault_dir, 0o777);
    let precious = home.path().join("precious");
    fs::write(&precious, "keep me\n").unwrap();
    let lock = vault_dir.join("vault.age.lock");
    as_user(
        MALLORY,
        &format!(
            "rm -f {0} && ln -s {1} {0}",
            lock.display(),
            precious.display()
        ),
    );
    let output = run(home.vault(&["set", "API_KEY", "x"]));
    assert_refused(&output, 4, &[path_str(&vault_dir), "chmod go-w"]);
    assert_eq!(fs::read_to_string(&precious).unwrap(), "keep me\n");
    fs::remove_file(&lock).unwrap();
    chmod(&vault_dir, 0o700);
    // Owned by her: refused even once the vault's directory is private again.
    let output = run(home.vault(&["restore", "--latest"]));
    assert_refused(&output, 4, &[path_str(&backups), "uid 64023"]);
    assert_eq!(home.reveal("API_KEY"), "after");

    // Inside the home: a group-writable backups/, a world-writable trust/.
    fs::remove_dir_all(&backups).unwrap();
    fs::rename(home.path().join("old-backups"), &backups).unwrap();
    chmod(&backups, 0o770);
    for args in [&["restore", "--latest"][..], &["set", "API_KEY", "x"]] {
        let output = run(home.vault(args));
        assert_refused(&output, 4, &[path_str(&backups), "chmod go-w"]);
    }
    chmod(&backups, 0o700);
    home.vault(&["restore", "--list"]).assert().success();
    let state = home.trust_file().parent().unwrap().to_path_buf();
    let trust = state.join("trust");
    fs::create_dir(&trust).unwrap();
    chmod(&trust, 0o777);
    let output = run(home.vault(&["get", "API_KEY"]));
    assert_refused(&output, 4, &[path_str(&trust), "chmod go-w"]);
    chmod(&trust, 0o700);
    // The trust record's own directory, sticky and root's, is shared all the same.
    chmod(&state, 0o1777);
    let output = run(home.vault(&["get", "API_KEY"]));
    assert_refused(&output, 4, &[path_str(&state), "sticky"]);
    chmod(&state, 0o700);
    assert_eq!(home.reveal("API_KEY"), "after");
}

/// The temp files a writer of `dir/name` names before renaming over it.
fn temp_files(dir: &Path, name: &str) -> Vec<PathBuf> {
    let prefix = format!(".{name}.");
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with(&prefix) && n.ends_with(".tmp")
        })
        .map(|e| e.path())
        .collect()
}

/// The PID of the process whose parent is `parent`.
fn child_of(parent: u32) -> Option<u32> {
    fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(e.path().join("stat")).ok()?;
        let ppid = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .to_string();
        (ppid == parent.to_string()).then_some(pid)
    })
}

#[test]
fn an_export_killed_before_its_rename_leaves_plaintext_only_until_the_next_writer() {
    let home = TestHome::initialised();
    home.set("API_KEY", "api-key-value-57721");
    let out = home.path().join("e.env");
    home.vault(&["export", "-o", "e.env"]).assert().success();
    let whole = fs::read_to_string(&out).unwrap();
    // Every rename waits 4 s before it happens: the export is killed in that window,
    // with its new file named and not yet renamed over e.env.
    let export = home.vault_std(&["export", "-o", "e.env"]);
    let mut strace = Command::new("strace");
    strace
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=rename"])
        .args(["-e", "inject=rename:delay_enter=4000000", "--"])
        .arg(export.get_program())
        .args(export.get_args())
        .env_clear()
        .envs(export.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut tracer = strace
        .spawn()
        .expect("strace must be installed; scripts/test installs it");
    let deadline = Instant::now() + Duration::from_secs(20);
    while temp_files(home.path(), "e.env").is_empty() {
        assert!(Instant::now() < deadline, "the export never named its file");
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = child_of(tracer.id()).expect("vault under strace");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let _ = tracer.wait();
    // What the kernel cannot do — replace a file by another that has no name — leaves this
    // window: the new export under a temp name, e.env itself whole.
    let left = temp_files(home.path(), "e.env");
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        fs::read_to_string(&left[0])
            .unwrap()
            .contains("api-key-value-57721")
    );
    assert_eq!(mode(&left[0]), 0o600);
    assert_eq!(fs::read_to_string(&out).unwrap(), whole);
    // The next export takes the file's lock and removes it first.
    home.vault(&["export", "-o", "e.env"]).assert().success();
    assert_eq!(temp_files(home.path(), "e.env"), Vec::<PathBuf>::new());
    assert_eq!(fs::read_to_string(&out).unwrap(), whole);
}

/// Runs `vault ARGS` (as `home` would) under strace, holding the `nth` call of `syscall` on
/// `watched` four seconds; once vault is held there (strace has written the start of the
/// call), or has ended without that call, runs `meanwhile` — what another user does
/// between vault's check and its use. Returns vault's output.
fn with_call_held(
    home: &TestHome,
    args: &[&str],
    (syscall, nth, watched): (&str, usize, &Path),
    meanwhile: impl FnOnce(),
) -> Output {
    let log = tempfile::NamedTempFile::new().unwrap();
    let command = home.vault_std(args);
    let mut child = Command::new("strace")
        .args(["-f", "-qq", "-e", &format!("trace={syscall}")])
        .args([
            "-e",
            &format!("inject={syscall}:delay_enter=4000000:when={nth}"),
        ])
        .arg("-P")
        .arg(watched)
        .arg("-o")
        .arg(log.path())
        .arg("--")
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear()
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("strace must be installed; scripts/test installs it");
    let deadline = Instant::now() + Duration::from_secs(20);
    let call = format!("{syscall}(");
    loop {
        let logged = fs::read_to_string(log.path()).unwrap_or_default();
        let calls = logged.lines().filter(|l| l.contains(&call)).count();
        if calls >= nth || child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "vault never reached {syscall} #{nth}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    meanwhile();
    child.wait_with_output().unwrap()
}

/// `--manifest` is read by the path it was checked by: another user cannot create the file
/// vault found missing, nor turn a link of theirs on the way (in a shared directory) to
/// their own manifest, between vault's check and its read. Both made vault hand
/// Mallory's manifest the password.
#[test]
fn a_manifest_is_read_where_it_was_checked() {
    if !is_root() {
        eprintln!("skipped: playing another user takes root");
        return;
    }
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "victim-db-password-1414");
    let shared = shared_dir();
    let s = shared.path().display();
    as_user(
        MALLORY,
        &format!(
            "mkdir -m 755 {s}/mal && printf '[env]\\nLOOT = \"secret:DB_PASSWORD\"\\n' > {s}/mal/secretsd.toml"
        ),
    );
    let show = ["--", "sh", "-c", "echo loot=$LOOT"];

    // Missing when vault looks; Mallory's by the time it reads.
    let planted = shared.path().join("secretsd.toml");
    let args = [&["run", "--manifest", path_str(&planted)][..], &show[..]].concat();
    let output = with_call_held(&home, &args, ("openat", 1, &planted), || {
        as_user(MALLORY, &format!("cp {s}/mal/secretsd.toml {s}/"));
    });
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("victim-db-password-1414"),
        "a manifest created after the check was used"
    );
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("no such file"),
        "{}",
        stderr(&output)
    );

    // Mallory's link, in the shared directory, to the victim's own project: checked there,
    // turned to her directory before the read.
    let project = home.path().join("project");
    fs::create_dir(&project).unwrap();
    fs::write(
        project.join("secretsd.toml"),
        "[env]\nOWN = \"literal:mine\"\n",
    )
    .unwrap();
    let link = shared.path().join("link");
    as_user(
        MALLORY,
        &format!("ln -s {} {}", project.display(), link.display()),
    );
    let through = link.join("secretsd.toml");
    let args = [&["run", "--manifest", path_str(&through)][..], &show[..]].concat();
    let output = with_call_held(&home, &args, ("openat", 1, &through), || {
        as_user(MALLORY, &format!("ln -sfn {s}/mal {}", link.display()));
    });
    // Her link is refused before anything is read through it, wherever it points.
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("victim-db-password-1414"),
        "her manifest was used"
    );
    assert_refused(
        &output,
        125,
        &["a link owned by uid 64023", path_str(&link)],
    );
}

/// A file vault writes secrets into is written where it was checked: the directory's real
/// path is found once. Found twice, another user's link on the way (in a shared
/// directory) turned to her own directory between the check and the write had root's
/// rotation rewrite her file there with the new secret, owned by her as it was.
#[test]
fn a_target_is_written_where_it_was_checked() {
    if !is_root() {
        eprintln!("skipped: playing another user takes root");
        return;
    }
    let home = TestHome::initialised();
    home.set("API_KEY", "api-key-value-16180");
    let shared = shared_dir();
    let s = shared.path().display();
    // The victim's own directory and file, and Mallory's with her file waiting in it.
    let out = home.path().join("out");
    fs::create_dir(&out).unwrap();
    let mine = out.join("app.env");
    fs::write(&mine, "API_KEY=api-key-value-16180\n").unwrap();
    chmod(&mine, 0o600);
    as_user(
        MALLORY,
        &format!(
            "mkdir -m 755 {s}/mal && printf 'API_KEY=x\\n' > {s}/mal/app.env && chmod 644 {s}/mal/app.env"
        ),
    );
    let link = shared.path().join("link");
    as_user(
        MALLORY,
        &format!("ln -s {} {}", out.display(), link.display()),
    );
    let policy = home.path().join("policy.toml");
    fs::write(
        &policy,
        format!(
            "[secrets.API_KEY]\ntype = \"random\"\nfiles = [\"{}\"]\n",
            link.join("app.env").display()
        ),
    )
    .unwrap();
    let args = ["rotate", "--policy", path_str(&policy)];
    // Vault looks the link up to check the directory; the next lookup is held.
    let output = with_call_held(&home, &args, ("readlink", 2, &link), || {
        as_user(MALLORY, &format!("ln -sfn {s}/mal {}", link.display()));
    });
    let hers = shared.path().join("mal/app.env");
    assert_eq!(
        fs::read_to_string(&hers).unwrap(),
        "API_KEY=x\n",
        "the rotation wrote into Mallory's file: {}",
        stderr(&output)
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let rotated = home.reveal("API_KEY");
    assert_ne!(rotated, "api-key-value-16180");
    assert!(fs::read_to_string(&mine).unwrap().contains(&rotated));
}

/// A vault others may read is refused outside a git work tree (a passphrase vault's
/// ciphertext invites an offline guess): a `.git` that another user made in a shared
/// directory above it does not make it one.
#[test]
fn a_git_directory_another_user_made_does_not_let_others_read_the_vault() {
    if !is_root() {
        eprintln!("skipped: playing another user takes root");
        return;
    }
    let home = TestHome::initialised();
    home.set("API_KEY", "api-key-value-14142");
    let shared = shared_dir();
    let mine = shared.path().join("mine");
    fs::create_dir(&mine).unwrap();
    chmod(&mine, 0o700);
    let vault = mine.join("vault.age");
    fs::copy(home.vault_file(), &vault).unwrap();
    chmod(&vault, 0o644);
    let list = || run(home.vault(&["--vault", path_str(&vault), "list"]));
    let output = list();
    assert_refused(
        &output,
        4,
        &[path_str(&vault), "accessible by group or others"],
    );
    as_user(MALLORY, &format!("mkdir {}/.git", shared.path().display()));
    let output = list();
    assert_refused(
        &output,
        4,
        &[path_str(&vault), "accessible by group or others"],
    );
    // The user's own work tree is one: there the vault is checked out 0644 as git does.
    fs::create_dir(mine.join(".git")).unwrap();
    let output = list();
    assert!(
        !stderr(&output).contains("accessible by group or others"),
        "{}",
        stderr(&output)
    );
}

/// `import --manifest FILE` rewrites the manifest: like any file vault rewrites, never
/// through another user's link in a shared directory (the kernel refuses to open such a
/// link, but vault resolved it itself), which had a file of the user's replaced.
#[test]
fn import_never_rewrites_a_manifest_through_another_users_link() {
    if !is_root() {
        eprintln!("skipped: playing another user takes root");
        return;
    }
    let home = TestHome::initialised();
    let shared = shared_dir();
    let victim = home.path().join("victim.toml");
    fs::write(&victim, "").unwrap();
    let link = shared.path().join("m.toml");
    as_user(
        MALLORY,
        &format!("ln -s {} {}", victim.display(), link.display()),
    );
    fs::write(home.path().join("x.env"), "NEWVAR=abc\n").unwrap();
    let output = run(home.vault(&["import", "--dotenv", "x.env", "--manifest", path_str(&link)]));
    assert_refused(&output, 4, &[path_str(&link), "uid 64023"]);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "");
    // The user's own manifest is written as before.
    let output = run(home.vault(&[
        "import",
        "--dotenv",
        "x.env",
        "--manifest",
        path_str(&victim),
    ]));
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        fs::read_to_string(&victim)
            .unwrap()
            .contains("NEWVAR = \"secret:NEWVAR\"")
    );
}

/// vault resolves links itself when it replaces a file, where the kernel would refuse to
/// follow another user's link in a shared directory: root's `vault systemd timer
/// --output-dir /tmp` replaced whatever file Mallory's `NAME.service` link pointed to
/// (`/etc/shadow`…) with the unit, mode 0644. No file is replaced through a link another
/// user owns.
#[test]
fn no_file_is_replaced_through_another_users_link() {
    if !is_root() {
        eprintln!("skipped: playing another user takes root");
        return;
    }
    let home = TestHome::initialised();
    let precious = home.path().join("precious");
    fs::write(&precious, "precious\n").unwrap();
    chmod(&precious, 0o600);
    let timer = |dir: &Path| {
        run(home.vault(&[
            "systemd",
            "timer",
            "t1",
            "--on-calendar",
            "daily",
            "--output-dir",
            path_str(dir),
            "--",
            "/bin/true",
        ]))
    };
    // Planted in a shared directory: that directory is refused before any name in it.
    let shared = shared_dir();
    let planted = shared.path().join("t1.service");
    as_user(
        MALLORY,
        &format!("ln -s {} {}", precious.display(), planted.display()),
    );
    assert_refused(
        &timer(shared.path()),
        4,
        &[path_str(shared.path()), "shared directory"],
    );
    // A link of another user's in a directory that is the user's own (moved there, or
    // left from when it was shared): never followed either.
    let own = tempfile::tempdir().unwrap();
    chmod(own.path(), 0o700);
    let link = own.path().join("t1.service");
    std::os::unix::fs::symlink(&precious, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(MALLORY), Some(MALLORY)).unwrap();
    assert_refused(&timer(own.path()), 4, &[path_str(&link), "uid 64023"]);
    assert_eq!(fs::read_to_string(&precious).unwrap(), "precious\n");
    assert_eq!(mode(&precious), 0o600);
    // The user's own link is followed, as before.
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&precious, &link).unwrap();
    let output = timer(own.path());
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(fs::read_to_string(&precious).unwrap().contains("[Service]"));
}

/// A service made with `vault systemd unit` reads its manifest as a credential (a copy
/// that is root's), which every check passes: the manifest named is checked when the unit
/// is made, as `vault run` checks it. Another user's, or one in a directory another user
/// may write (to change it before the next start), is refused.
#[test]
fn a_service_unit_takes_no_manifest_another_user_could_change() {
    if !is_root() {
        eprintln!("skipped: playing another user takes root");
        return;
    }
    let home = TestHome::initialised();
    let shared = shared_dir();
    let s = shared.path().display();
    as_user(
        MALLORY,
        &format!(
            "mkdir -m 755 {s}/mal && printf '[env]\\nPYTHONPATH = \"literal:{s}/mal\"\\n' > {s}/mal/secretsd.toml"
        ),
    );
    let unit = |manifest: &Path| {
        run(home.vault(&[
            "systemd",
            "unit",
            "app",
            "--manifest",
            path_str(manifest),
            "--",
            "/bin/true",
        ]))
    };
    let hers = shared.path().join("mal/secretsd.toml");
    let output = unit(&hers);
    assert_refused(&output, 4, &[path_str(&hers), "uid 64023"]);
    assert!(!stdout(&output).contains("LoadCredential"));
    // The user's own file, in her directory: she could replace it before a start.
    let mine_there = shared.path().join("mal/mine.toml");
    fs::write(&mine_there, "[env]\n").unwrap();
    let output = unit(&mine_there);
    assert_refused(&output, 4, &["uid 64023"]);
    // The user's own, in their own directory: the unit is made.
    let own = home.path().join("secretsd.toml");
    fs::write(&own, "[env]\n").unwrap();
    let output = unit(&own);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&format!("LoadCredential=vault-manifest:{}", own.display())));
}

/// A `dotenv:PATH` in `[lookup] order` answers `secret:NAME` before the vault does: a file
/// another user owns, or could replace, would choose the values a command gets. It is
/// refused as a manifest or an env file is.
#[test]
fn a_lookup_file_another_user_could_write_is_refused() {
    if !is_root() {
        eprintln!("skipped: needs root to play another user");
        return;
    }
    let home = TestHome::initialised();
    home.set("API_KEY", "from-the-vault");
    let theirs = home.path().join("theirs");
    fs::create_dir(&theirs).unwrap();
    chmod(&theirs, 0o755);
    let file = theirs.join("app.env");
    fs::write(&file, "API_KEY=chosen-by-mallory\n").unwrap();
    chmod(&file, 0o644);
    std::os::unix::fs::chown(&theirs, Some(MALLORY), Some(MALLORY)).unwrap();
    std::os::unix::fs::chown(&file, Some(MALLORY), Some(MALLORY)).unwrap();
    let config = home.path().join("config/secretsd/config.toml");
    let order = |path: &Path| {
        fs::write(
            &config,
            format!(
                "[lookup]\norder = [\"env\", \"dotenv:{}\", \"vault\"]\n",
                path.display()
            ),
        )
        .unwrap();
    };
    order(&file);
    let output = home
        .vault(&["get", "--reveal", "API_KEY"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", common::stdout(&output));
    assert!(!common::stdout(&output).contains("mallory"));
    assert!(
        stderr(&output).contains("lookup file"),
        "{}",
        stderr(&output)
    );
    // Ours, in a directory others may write: refused too.
    let open = home.path().join("open");
    fs::create_dir(&open).unwrap();
    chmod(&open, 0o777);
    let ours = open.join("app.env");
    fs::write(&ours, "API_KEY=replaceable\n").unwrap();
    chmod(&ours, 0o600);
    order(&ours);
    let output = home
        .vault(&["get", "--reveal", "API_KEY"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", common::stdout(&output));
    // Ours, private: used.
    chmod(&open, 0o700);
    assert_eq!(home.reveal("API_KEY"), "replaceable");
}
