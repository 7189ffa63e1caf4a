//! `vault rotate` and `vault restore` killed (SIGKILL) at random moments: the vault and
//! each .env file are always the old or the new version, never torn; every listed backup
//! opens; no temp file with plaintext survives the next write.

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{TestHome, XorShift, chmod, stderr};

const ENV: &str = "# app\nexport DB_PASSWORD=initial-db-password-0123456789\n\n# keep me\nSIGNING_KEY='initial-signing-key-0123456789ab'\nTOKEN=initial\nUNRELATED=value # note\n";

const POLICY: &str = r#"
[secrets.DB_PASSWORD]
type = "random"
length = 32
files = ["app.env"]
[secrets.SIGNING_KEY]
type = "random"
length = 40
files = ["app.env"]
[secrets.TOKEN]
type = "jwt"
role = "anon"
depends_on = "SIGNING_KEY"
files = ["app.env"]
"#;

/// The file with every rotated value replaced by `*`: equal for the old and every new
/// version, different for a torn or truncated one.
fn shape(text: &str) -> String {
    text.lines()
        .map(|line| {
            for name in ["DB_PASSWORD", "SIGNING_KEY", "TOKEN"] {
                for prefix in [format!("{name}="), format!("export {name}=")] {
                    if line.starts_with(&prefix) {
                        return format!("{prefix}*");
                    }
                }
            }
            line.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn value_in(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("export ")
                .unwrap_or(l)
                .strip_prefix(&format!("{name}="))
        })
        .unwrap()
        .trim_matches('\'')
        .to_string()
}

fn check_backups(home: &TestHome) {
    let output = home
        .vault(&["restore", "--list", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let backups: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for backup in backups.as_array().unwrap() {
        let data = Path::new(backup["path"].as_str().unwrap());
        common::age_decrypt(data, &home.identity_file());
        if !backup["files"].as_array().unwrap().is_empty() {
            common::age_decrypt(&data.with_extension("files.age"), &home.identity_file());
        }
    }
}

fn setup() -> TestHome {
    let home = TestHome::initialised();
    fs::write(
        home.path().join("config/secretsd/config.toml"),
        "[backup]\nkeep = 8\n",
    )
    .unwrap();
    // Padding makes each write long enough that kills land inside it.
    let padding: serde_json::Map<String, serde_json::Value> = (0..300)
        .map(|i| (format!("PAD_{i}"), serde_json::json!("p".repeat(400))))
        .collect();
    let mut secrets = padding;
    for (name, value) in [
        ("DB_PASSWORD", "initial-db-password-0123456789"),
        ("SIGNING_KEY", "initial-signing-key-0123456789ab"),
        ("TOKEN", "initial"),
    ] {
        secrets.insert(name.into(), serde_json::json!(value));
    }
    home.import_json(&serde_json::Value::Object(secrets));
    fs::write(home.path().join("app.env"), ENV).unwrap();
    chmod(&home.path().join("app.env"), 0o640);
    fs::write(home.path().join("policy.toml"), POLICY).unwrap();
    home
}

/// Starts `vault ARGS`, kills it (SIGKILL) after `delay` and reaps it; true when the kill
/// interrupted it.
fn kill_during(home: &TestHome, args: &[&str], delay: Duration) -> bool {
    let mut child = home
        .vault_std(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    !child.wait().unwrap().success()
}

fn run_killed(home: &TestHome, args: &[&str], seed: u64, rounds: u32) -> u32 {
    let timing = Instant::now();
    assert!(home.vault_std(args).output().unwrap().status.success());
    let one_run = timing.elapsed().as_micros() as u64;
    let mut random = XorShift(seed);
    let mut completed = 0;
    let template = shape(ENV);
    for round in 0..rounds {
        if !kill_during(
            home,
            args,
            Duration::from_micros(random.next() % (one_run + one_run / 4)),
        ) {
            completed += 1;
        }
        // The vault opens, and the file is a whole version of itself.
        let document = home.age_decrypt();
        let text = fs::read_to_string(home.path().join("app.env")).unwrap();
        assert_eq!(
            shape(&text),
            template,
            "round {round} (seed {seed:#x}): torn file\n{text}"
        );
        assert_eq!(common::mode(&home.path().join("app.env")), 0o640);
        assert_eq!(document["secrets"].as_object().unwrap().len(), 303);
        let _ = value_in(&text, "SIGNING_KEY");
    }
    // A later write removes the temp files killed writers left (they hold plaintext).
    assert!(home.vault_std(args).output().unwrap().status.success());
    let leftovers: Vec<String> = fs::read_dir(home.path())
        .unwrap()
        .chain(fs::read_dir(home.vault_file().parent().unwrap()).unwrap())
        .chain(fs::read_dir(home.backup_dir()).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    check_backups(home);
    completed
}

#[test]
fn rotate_killed_at_any_moment_leaves_whole_versions() {
    let home = setup();
    let completed = run_killed(
        &home,
        &["rotate", "--policy", "policy.toml"],
        0x5eed_0001_0000_0009,
        40,
    );
    assert!(completed < 40, "no rotation was interrupted");
    // After the last (complete) rotation the vault and the file agree.
    let document = home.age_decrypt();
    let text = fs::read_to_string(home.path().join("app.env")).unwrap();
    for name in ["DB_PASSWORD", "SIGNING_KEY", "TOKEN"] {
        assert_eq!(document["secrets"][name]["value"], value_in(&text, name));
    }
}

#[test]
fn restore_killed_at_any_moment_leaves_whole_versions() {
    let home = setup();
    assert!(
        home.vault_std(&["rotate", "--policy", "policy.toml"])
            .output()
            .unwrap()
            .status
            .success()
    );
    // Each restore of the newest backup undoes the one before: the state flips between
    // two whole versions, and a kill must leave one of them.
    let completed = run_killed(&home, &["restore", "--latest"], 0x5eed_0002_0000_0011, 40);
    assert!(completed < 40, "no restore was interrupted");
}

#[test]
fn sync_killed_at_any_moment_leaves_a_whole_env_file() {
    let home = TestHome::initialised();
    let dir = home.path();
    // A large target, so kills land inside its rewrite.
    let local: String = (0..3000)
        .map(|i| format!("LOCAL_{i}='local value {i}'\n"))
        .collect::<String>()
        + "API_KEY=old\n";
    fs::write(dir.join("local.env"), &local).unwrap();
    let source = dir.join("source.env");
    let args = [
        "sync".to_string(),
        "--from".into(),
        format!("dotenv:{}", source.display()),
        "--to".into(),
        format!("dotenv:{}", dir.join("local.env").display()),
        "--keep-backups".into(),
        "3".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut random = XorShift(0x5eed_0003_0000_0013);
    fs::write(&source, "API_KEY=timing\n").unwrap();
    let started = Instant::now();
    assert!(home.vault_std(&args).output().unwrap().status.success());
    let one_run = started.elapsed().as_micros() as u64;
    let mut interrupted = 0;
    for round in 0..40 {
        fs::write(&source, format!("API_KEY=value-{round}\n")).unwrap();
        if kill_during(
            &home,
            &args,
            Duration::from_micros(random.next() % (one_run + one_run / 4)),
        ) {
            interrupted += 1;
        }
        let text = fs::read_to_string(dir.join("local.env")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3001, "round {round}: torn file");
        assert_eq!(
            &lines[..3000].join("\n"),
            &local.lines().take(3000).collect::<Vec<_>>().join("\n")
        );
        assert!(
            lines[3000].starts_with("API_KEY="),
            "round {round}: {}",
            lines[3000]
        );
        // Every backup kept is a whole earlier version.
        for entry in fs::read_dir(dir.join(".env-backups")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "tmp") {
                continue;
            }
            assert_eq!(fs::read_to_string(&path).unwrap().lines().count(), 3001);
        }
    }
    assert!(interrupted > 0, "no sync was interrupted");
    // The next sync clears what killed ones left, plaintext temp files included.
    fs::write(&source, "API_KEY=final\n").unwrap();
    assert!(home.vault_std(&args).output().unwrap().status.success());
    for directory in [dir.to_path_buf(), dir.join(".env-backups")] {
        let leftovers: Vec<String> = fs::read_dir(&directory)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn export_killed_at_any_moment_leaves_no_plaintext_temp_file() {
    let home = TestHome::initialised();
    let padding: serde_json::Map<String, serde_json::Value> = (0..500)
        .map(|i| {
            (
                format!("PAD_{i}"),
                serde_json::json!(format!("secret-padding-{i}-{}", "p".repeat(200))),
            )
        })
        .collect();
    home.import_json(&serde_json::Value::Object(padding));
    let args = ["export", "-o", "out.env"];
    let started = Instant::now();
    assert!(home.vault_std(&args).output().unwrap().status.success());
    let one_run = started.elapsed().as_micros() as u64;
    let mut random = XorShift(0x5eed_0004_0000_0017);
    let mut interrupted = 0;
    for _ in 0..40 {
        if kill_during(
            &home,
            &args,
            Duration::from_micros(random.next() % (one_run + one_run / 4)),
        ) {
            interrupted += 1;
        }
        // out.env is always a whole export.
        let text = fs::read_to_string(home.path().join("out.env")).unwrap();
        assert_eq!(text.lines().count(), 500);
    }
    assert!(interrupted > 0, "no export was interrupted");
    // The file is written with no name until it is complete; the moment between naming
    // it and renaming it over out.env is a few microseconds, so at most a rare leftover.
    let leftovers = fs::read_dir(home.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .count();
    assert!(
        leftovers <= 2,
        "{leftovers} temp files with plaintext were left"
    );
}

#[test]
fn import_killed_at_any_moment_imports_all_or_nothing() {
    let home = TestHome::initialised();
    let mut random = XorShift(0x5eed_0005_0000_0019);
    let started = Instant::now();
    let file = |round: usize| {
        let text: String = (0..400)
            .map(|i| format!("R{round}_VAR_{i}='value {i} of round {round}'\n"))
            .collect();
        let path = home.path().join(format!("round-{round}.env"));
        fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let first = file(0);
    assert!(
        home.vault_std(&["import", "--dotenv", &first])
            .output()
            .unwrap()
            .status
            .success()
    );
    let one_run = started.elapsed().as_micros() as u64;
    let mut interrupted = 0;
    for round in 1..30 {
        let path = file(round);
        if kill_during(
            &home,
            &["import", "--dotenv", &path],
            Duration::from_micros(random.next() % (one_run + one_run / 4)),
        ) {
            interrupted += 1;
        }
        let document = home.age_decrypt();
        let count = document["secrets"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|n| n.starts_with(&format!("R{round}_")))
            .count();
        assert!(
            count == 0 || count == 400,
            "round {round}: {count} of 400 imported"
        );
    }
    assert!(interrupted > 0, "no import was interrupted");
}
