//! `vault run --env-file` (and `vault check --env-file`): a .env whose values are
//! references or literals as `op run --env-file` reads one, held to the same StrictModes,
//! ordering and fail-closed rules as a manifest.

mod common;

use std::path::{Path, PathBuf};

use common::{TestHome, chmod, stderr, stdout};

/// A provider that answers `value-of-KEY` (see tests/providers.rs).
const RECORDER: &str = include_str!("fixtures/recorder-provider.py");

/// A home with the recorder provider installed as `recorder` and a provider `ghost`
/// configured but not installed.
fn home_with_providers() -> (TestHome, PathBuf) {
    let home = TestHome::initialised();
    let providers = home.path().join("providers");
    std::fs::create_dir_all(&providers).unwrap();
    let path = providers.join("secretsd-provider-recorder");
    std::fs::write(&path, RECORDER).unwrap();
    chmod(&path, 0o755);
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        "[providers.ghost]\nsetting = \"x\"\n",
    )
    .unwrap();
    (home, providers)
}

fn write(home: &TestHome, name: &str, text: &str) -> String {
    let path = home.path().join(name);
    std::fs::write(&path, text).unwrap();
    chmod(&path, 0o600);
    path.to_str().unwrap().to_string()
}

fn vault(home: &TestHome, providers: &Path, args: &[&str]) -> assert_cmd::Command {
    let mut command = home.vault(args);
    command.env("VAULT_PROVIDER_PATH", providers);
    command
}

const ENV_FILE: &str = "\
# references, and values that only look like them
A=secret:A
B=recorder:app/B
C=localhost:8080
D=redis:6379
E='has #hash'
F=literal:secret:X
G=env:SOURCE_VAR
H=https://example.test/x
";

#[test]
fn values_are_references_only_with_a_known_scheme_or_provider() {
    let (home, providers) = home_with_providers();
    home.set("A", "a-secret-value-from-the-vault");
    let env = write(&home, "app.env", ENV_FILE);
    let output = vault(
        &home,
        &providers,
        &[
            "-v",
            "run",
            "--env-file",
            &env,
            "--",
            "sh",
            "-c",
            "printf '%s|' \"$A\" \"$B\" \"$C\" \"$D\" \"$E\" \"$F\" \"$G\" \"$H\"",
        ],
    )
    .env("SOURCE_VAR", "from-the-environment")
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "a-secret-value-from-the-vault|value-of-app/B|localhost:8080|redis:6379|has #hash|secret:X|from-the-environment|https://example.test/x|"
    );
    // -v says which is which, never a value: a typo (secrte:A) would show as a literal.
    let told = stderr(&output);
    for line in [
        "A: reference secret:A",
        "B: reference recorder:…",
        "C: literal",
        "D: literal",
        "F: literal",
        "G: reference env:SOURCE_VAR",
        "H: literal",
    ] {
        assert!(told.contains(line), "no {line:?} in {told}");
    }
    for value in ["a-secret-value", "localhost:8080", "has #hash"] {
        assert!(!told.contains(value), "{value} in {told}");
    }

    // check labels every variable the same way, the values masked.
    let output = vault(&home, &providers, &["check", "--env-file", &env])
        .env("SOURCE_VAR", "from-the-environment")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{table}"))
            .to_string()
    };
    assert!(row("A").contains("reference secret:A"), "{table}");
    assert!(row("B").contains("reference recorder:app/B"), "{table}");
    assert!(row("D").contains("literal"), "{table}");
    assert!(!row("D").contains("reference"), "{table}");
    assert!(!table.contains("a-secret-value") && !table.contains("6379"));
    let output = vault(&home, &providers, &["check", "--json", "--env-file", &env])
        .env("SOURCE_VAR", "x")
        .output()
        .unwrap();
    let items: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let kind = |name: &str| {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap()["kind"]
            .clone()
    };
    assert_eq!(kind("A"), "reference");
    assert_eq!(kind("C"), "literal");
}

#[test]
fn several_env_files_apply_in_order_after_the_manifest() {
    let home = TestHome::initialised();
    home.set("Y", "y-from-the-vault");
    let manifest = write(
        &home,
        "app.toml",
        "[env]\nX = \"from-manifest\"\nY = \"secret:Y\"\nW = \"kept\"\n",
    );
    let first = write(&home, "first.env", "X=from-first\nZ=z-first\n");
    let second = write(
        &home,
        "second.env",
        "Z=z-second\nX=from-second\nX=last-line\n",
    );
    let print = "printf '%s|' \"$X\" \"$Y\" \"$Z\" \"$W\"";
    home.vault(&[
        "run",
        "-m",
        &manifest,
        "--env-file",
        &first,
        "--env-file",
        &second,
        "--",
        "sh",
        "-c",
        print,
    ])
    .assert()
    .success()
    .stdout("last-line|y-from-the-vault|z-second|kept|");
    // Given only env files, run looks for no project manifest.
    std::fs::write(
        home.path().join("secretsd.toml"),
        "[env]\nFROM_PROJECT = \"literal:yes\"\n",
    )
    .unwrap();
    home.vault(&[
        "run",
        "--env-file",
        &first,
        "--",
        "sh",
        "-c",
        "printf '%s|%s' \"$X\" \"${FROM_PROJECT-none}\"",
    ])
    .assert()
    .success()
    .stdout("from-first|none");
}

#[test]
fn a_reference_that_fails_means_nothing_starts() {
    let (home, providers) = home_with_providers();
    home.set("PRESENT", "present-secret-value");
    let marker = home.path().join("started");
    let touch = format!("touch {}", marker.display());
    for (line, expected) in [
        ("BROKEN=secret:ABSENT", "BROKEN = secret:ABSENT"),
        // Configured, so a reference, but not installed.
        ("BROKEN=ghost:app/key", "no provider named ghost"),
        ("BROKEN=recorder:missing-key", "BROKEN = recorder:…"),
        // A mistyped case of a scheme is refused, not read as a literal.
        (
            "BROKEN=Secret:PRESENT",
            "looks like secret: with the wrong case",
        ),
    ] {
        let env = write(&home, "app.env", &format!("GOOD=secret:PRESENT\n{line}\n"));
        let output = vault(
            &home,
            &providers,
            &["run", "--env-file", &env, "--", "sh", "-c", &touch],
        )
        .output()
        .unwrap();
        assert_eq!(
            output.status.code(),
            Some(125),
            "{line}: {}",
            stderr(&output)
        );
        let text = stderr(&output);
        assert!(text.contains(expected), "{line}: {text}");
        assert!(!text.contains("present-secret-value"), "{text}");
        assert!(!marker.exists(), "the command started despite {line}");
    }
    // A missing env file: nothing starts either; check says not found (exit 3).
    let output = home
        .vault(&[
            "run",
            "--env-file",
            "/no/such.env",
            "--",
            "sh",
            "-c",
            &touch,
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(125));
    assert!(
        stderr(&output).contains("/no/such.env"),
        "{}",
        stderr(&output)
    );
    assert!(!marker.exists());
    home.vault(&["check", "--env-file", "/no/such.env"])
        .assert()
        .code(3);
}

#[test]
fn an_env_file_others_could_write_is_refused() {
    let home = TestHome::initialised();
    home.set("TOKEN", "token-value");
    let env = write(&home, "app.env", "TOKEN=secret:TOKEN\n");
    let marker = home.path().join("started");
    let touch = format!("touch {}", marker.display());
    chmod(Path::new(&env), 0o666);
    let output = home
        .vault(&["run", "--env-file", &env, "--", "sh", "-c", &touch])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(stderr(&output).contains("writable by group or others"));
    assert!(stderr(&output).contains(&env));
    home.vault(&["check", "--env-file", &env]).assert().code(4);
    // Another user's, even unwritable by others.
    chmod(Path::new(&env), 0o644);
    std::os::unix::fs::chown(&env, Some(64025), Some(64025)).unwrap();
    let output = home
        .vault(&["run", "--env-file", &env, "--", "sh", "-c", &touch])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(stderr(&output).contains("uid 64025"), "{}", stderr(&output));
    assert!(!marker.exists());
}

#[test]
fn code_loading_variables_pass_from_an_env_file_only_as_literals_or_when_allowed() {
    let home = TestHome::initialised();
    home.set("PP", "/planted/by/a/teammate");
    let env = write(
        &home,
        "app.env",
        "PYTHONPATH=secret:PP\nNODE_OPTIONS=--max-old-space-size=64\n",
    );
    let print = "printf '%s|%s' \"${PYTHONPATH-unset}\" \"$NODE_OPTIONS\"";
    let output = home
        .vault(&["run", "--env-file", &env, "--", "sh", "-c", print])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "unset|--max-old-space-size=64");
    assert!(
        stderr(&output).contains("held back PYTHONPATH"),
        "{}",
        stderr(&output)
    );
    home.vault(&[
        "run",
        "--env-file",
        &env,
        "--allow-env",
        "PYTHONPATH",
        "--",
        "sh",
        "-c",
        print,
    ])
    .assert()
    .success()
    .stdout("/planted/by/a/teammate|--max-old-space-size=64");
}

/// A link is only as safe as the directory it is in and its owner: through a link another
/// user may re-point (one they own, or one in a directory they may write), they choose the
/// file — ours when vault checks, theirs when it reads. Refused; and a link of ours in a
/// private directory is fine.
#[test]
fn an_env_file_reached_through_a_link_another_user_controls_is_refused() {
    let home = TestHome::initialised();
    home.set("TOKEN", "token-value");
    let env = write(&home, "app.env", "TOKEN=secret:TOKEN\n");
    let theirs = home.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    chmod(&theirs, 0o755);
    let link = theirs.join("link.env");
    std::os::unix::fs::symlink(&env, &link).unwrap();
    std::os::unix::fs::chown(&theirs, Some(64025), Some(64025)).unwrap();
    let print = "printf %s \"$TOKEN\"";
    let run = |path: &Path| {
        home.vault(&[
            "run",
            "--env-file",
            path.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            print,
        ])
        .output()
        .unwrap()
    };
    let output = run(&link);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(stderr(&output).contains("uid 64025"), "{}", stderr(&output));
    // Their link in a directory of ours.
    let planted = home.path().join("planted.env");
    std::os::unix::fs::symlink(&env, &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(64025), Some(64025)).unwrap();
    let output = run(&planted);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("a link owned by"),
        "{}",
        stderr(&output)
    );
    // Our link in our directory.
    let ours = home.path().join("ours.env");
    std::os::unix::fs::symlink(&env, &ours).unwrap();
    let output = run(&ours);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "token-value");
}

/// A FIFO where an env file or a manifest belongs is refused at once: read as a file, it
/// would hang vault before any deadline.
#[test]
fn a_fifo_given_as_env_file_or_manifest_is_refused_not_waited_on() {
    let home = TestHome::initialised();
    let fifo = home.path().join("app.env");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for flag in ["--env-file", "--manifest"] {
        let mut child = home
            .vault_std(&["run", flag, fifo.to_str().unwrap(), "--", "true"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > std::time::Duration::from_secs(10) {
                child.kill().unwrap();
                panic!("vault run {flag} waited on a FIFO");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("is not a regular file"),
            "{flag}: {}",
            stderr(&output)
        );
    }
}
