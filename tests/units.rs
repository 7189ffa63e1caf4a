//! The units `vault systemd unit` and `vault systemd timer` write, started as systemd
//! starts them: `systemd-analyze verify`, then each unit's `ExecStart=` under `env -i
//! PATH=/usr/bin:/bin` with only what the unit itself sets (its `Environment=`, its
//! credentials in `$CREDENTIALS_DIRECTORY`, its state directory for `%S`). A unit that
//! works only with the shell's PATH or HOME fails here.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use common::{TestHome, chmod, mode, stderr, stdout};

fn bin_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// One word of a unit line split as systemd splits it: double quotes with C escapes.
fn unit_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let Some(&first) = chars.peek() else {
            return words;
        };
        let mut word = String::new();
        if first == '"' {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => match chars.next() {
                        Some('n') => word.push('\n'),
                        Some('t') => word.push('\t'),
                        Some(other) => word.push(other),
                        None => {}
                    },
                    c => word.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
}

/// The specifiers and escapes systemd expands in a setting: `%d` (the credentials
/// directory), `%S` (the state root), `%%`; and in `ExecStart=` also `$$`.
fn expand(word: &str, credentials: &Path, state: &Path, exec: bool) -> String {
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('%', Some('d')) => {
                chars.next();
                out.push_str(&credentials.display().to_string());
            }
            ('%', Some('S')) => {
                chars.next();
                out.push_str(&state.display().to_string());
            }
            ('%', Some('%')) => {
                chars.next();
                out.push('%');
            }
            ('$', Some('$')) if exec => {
                chars.next();
                out.push('$');
            }
            (c, _) => out.push(c),
        }
    }
    out
}

/// Starts the `[Service]` of `unit` as systemd would, with nothing from this process's
/// environment: `env -i PATH=/usr/bin:/bin`, the unit's `Environment=` lines, its
/// `LoadCredential=` files copied into a private credentials directory, a state root for
/// `%S` with its `StateDirectory=`, and `/` as the working directory.
fn start_like_systemd(unit: &str) -> Output {
    let (mut command, _dirs) = as_systemd_starts(unit);
    command.output().unwrap()
}

/// The command [`start_like_systemd`] runs, and the directories it needs kept.
fn as_systemd_starts(unit: &str) -> (std::process::Command, [tempfile::TempDir; 2]) {
    let credentials = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new("env");
    command.arg("-i").arg("PATH=/usr/bin:/bin").current_dir("/");
    command.env_clear();
    command.arg(format!(
        "CREDENTIALS_DIRECTORY={}",
        credentials.path().display()
    ));
    let mut exec_start = None;
    for line in unit.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key {
            "Environment" => {
                for word in unit_words(value) {
                    command.arg(expand(&word, credentials.path(), state.path(), false));
                }
            }
            "LoadCredential" => {
                let (name, path) = value.split_once(':').unwrap();
                let path = expand(path, credentials.path(), state.path(), false);
                let copy = credentials.path().join(name);
                fs::copy(&path, &copy).unwrap_or_else(|e| panic!("{path}: {e}"));
                chmod(&copy, 0o400);
            }
            "StateDirectory" => fs::create_dir_all(state.path().join(value)).unwrap(),
            "ExecStart" => exec_start = Some(value.to_string()),
            _ => {}
        }
    }
    let exec_start = exec_start.expect("a unit has ExecStart=");
    for word in unit_words(&exec_start) {
        command.arg(expand(&word, credentials.path(), state.path(), true));
    }
    (command, [credentials, state])
}

/// A home whose configuration points the shared-file provider at a file holding
/// NINJA_CLIENT_ID, and whose vault holds DB_PASSWORD.
fn home_with_a_shared_file() -> TestHome {
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "db-password-value");
    let shared = home.path().join("api-secrets.env");
    fs::write(&shared, "NINJA_CLIENT_ID=ninja-from-shared-file\n").unwrap();
    chmod(&shared, 0o600);
    let local = home.path().join("app/.env");
    fs::create_dir_all(local.parent().unwrap()).unwrap();
    fs::write(&local, "KEEP=me\n").unwrap();
    chmod(&local, 0o600);
    fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[providers.shared-file]\npath = \"{}\"\n\n[sync.app]\nfrom = [\"shared-file:\"]\nto = \"dotenv:{}\"\nonly = [\"NINJA_*\"]\n",
            shared.display(),
            local.display()
        ),
    )
    .unwrap();
    home
}

fn write_unit(home: &TestHome, name: &str, text: &str) -> PathBuf {
    let path = home.path().join(name);
    fs::write(&path, text).unwrap();
    path
}

/// `vault systemd timer sync-app ... --output-dir DIR -- vault sync app`, with the
/// workspace's providers on VAULT_PROVIDER_PATH.
fn sync_timer(home: &TestHome, dir: &Path) -> Output {
    home.vault(&[
        "systemd",
        "timer",
        "sync-app",
        "--on-calendar",
        "daily",
        "--output-dir",
        dir.to_str().unwrap(),
        "--",
        "vault",
        "sync",
        "app",
    ])
    .env("VAULT_PROVIDER_PATH", bin_dir())
    .output()
    .unwrap()
}

/// The shell's providers (here: the workspace's, on VAULT_PROVIDER_PATH) reach the
/// service, and so does the configuration that tells them where to look.
#[test]
fn a_service_unit_starts_with_only_what_it_sets() {
    let home = home_with_a_shared_file();
    let manifest = home.path().join("app.toml");
    fs::write(
        &manifest,
        "[env]\nDB_PASSWORD = \"secret:DB_PASSWORD\"\nNINJA_CLIENT_ID = \"shared-file:NINJA_CLIENT_ID\"\n",
    )
    .unwrap();
    let output = home
        .vault(&[
            "systemd",
            "unit",
            "app",
            "--manifest",
            manifest.to_str().unwrap(),
            "--",
            "/usr/bin/env",
        ])
        .env("VAULT_PROVIDER_PATH", bin_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let unit = stdout(&output);
    let providers = fs::canonicalize(bin_dir()).unwrap();
    for line in [
        format!("Environment=VAULT_PROVIDER_PATH={}", providers.display()),
        "Environment=VAULT_CONFIG=%d/vault-config".to_string(),
        "ProtectHome=yes".to_string(),
    ] {
        assert!(unit.lines().any(|l| l == line), "no {line:?} in\n{unit}");
    }
    common::assert_systemd_verifies(&[&write_unit(&home, "app.service", &unit)]);
    let started = start_like_systemd(&unit);
    assert!(started.status.success(), "{}", stderr(&started));
    let env = stdout(&started);
    assert!(env.contains("DB_PASSWORD=db-password-value\n"), "{env}");
    assert!(
        env.contains("NINJA_CLIENT_ID=ninja-from-shared-file\n"),
        "{env}"
    );
}

/// The timer's `vault sync --from shared-file:` finds its provider under systemd's PATH.
#[test]
fn a_timer_service_syncs_with_only_what_it_sets() {
    let home = home_with_a_shared_file();
    let units = home.path().join("units");
    fs::create_dir(&units).unwrap();
    let output = sync_timer(&home, &units);
    assert!(output.status.success(), "{}", stderr(&output));
    let service = fs::read_to_string(units.join("sync-app.service")).unwrap();
    let providers = fs::canonicalize(bin_dir()).unwrap();
    let line = format!("Environment=VAULT_PROVIDER_PATH={}", providers.display());
    assert!(
        service.lines().any(|l| l == line),
        "no {line:?}:\n{service}"
    );
    common::assert_systemd_verifies(&[
        &units.join("sync-app.service"),
        &units.join("sync-app.timer"),
    ]);
    let started = start_like_systemd(&service);
    assert!(started.status.success(), "{}", stderr(&started));
    let synced = fs::read_to_string(home.path().join("app/.env")).unwrap();
    assert!(synced.starts_with("KEEP=me\n"), "{synced}");
    assert!(
        synced.lines().any(|l| l.starts_with("NINJA_CLIENT_ID=")
            && l.trim_matches('\'').ends_with("ninja-from-shared-file")),
        "{synced}"
    );
}

/// `--output-dir` that does not exist yet is made, private; one another user could write
/// is refused before anything is written.
#[test]
fn a_timer_makes_its_output_directory_private_or_refuses_a_shared_one() {
    let home = home_with_a_shared_file();
    let timer = |dir: &Path| sync_timer(&home, dir);
    let units = home.path().join("deploy/units");
    let output = timer(&units);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).contains("created"), "{}", stderr(&output));
    assert_eq!(mode(&units), 0o700);
    assert_eq!(mode(&home.path().join("deploy")), 0o700);
    assert!(units.join("sync-app.timer").is_file());

    let shared = home.path().join("shared");
    fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o777);
    let output = timer(&shared.join("units"));
    assert_eq!(output.status.code(), Some(4), "{}", stderr(&output));
    assert!(stderr(&output).contains("chmod"), "{}", stderr(&output));
    assert!(!shared.join("units").exists());
}

/// A user install (vault and its providers in a home directory): a unit the service can
/// still reach there keeps homes read-only and says so; one it cannot reach is refused.
#[test]
fn a_user_install_gets_a_read_only_home_or_a_refusal() {
    let install = tempfile::Builder::new()
        .prefix("units-user-install")
        .tempdir_in("/home")
        .unwrap();
    let bin = install.path().join(".cargo/bin");
    fs::create_dir_all(&bin).unwrap();
    for program in ["vault", "secretsd-provider-shared-file"] {
        fs::copy(bin_dir().join(program), bin.join(program)).unwrap();
        chmod(&bin.join(program), 0o755);
    }
    let home = home_with_a_shared_file();
    let manifest = home.path().join("app.toml");
    fs::write(
        &manifest,
        "[env]\nNINJA_CLIENT_ID = \"shared-file:NINJA_CLIENT_ID\"\n",
    )
    .unwrap();
    // The installed copy, run as the test's vault is run.
    let generate = || {
        let template = home.vault_std(&[
            "systemd",
            "unit",
            "app",
            "--manifest",
            manifest.to_str().unwrap(),
            "--",
            "/usr/bin/env",
        ]);
        let mut command = std::process::Command::new(bin.join("vault"));
        command.args(template.get_args()).env_clear();
        for (key, value) in template.get_envs() {
            if let Some(value) = value {
                command.env(key, value);
            }
        }
        command
            .env("VAULT_PROVIDER_PATH", &bin)
            .current_dir(home.path())
            .output()
            .unwrap()
    };
    // A home only its owner may enter: a dynamic user cannot.
    chmod(install.path(), 0o700);
    let output = generate();
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains(&format!(
            "the vault binary is {}",
            bin.join("vault").display()
        )) && said.contains("cannot reach")
            && said.contains("mode 0700"),
        "{said}"
    );
    assert!(stdout(&output).is_empty());

    chmod(install.path(), 0o755);
    let output = generate();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("ProtectHome=read-only"),
        "{}",
        stderr(&output)
    );
    let unit = stdout(&output);
    assert!(unit.lines().any(|l| l == "ProtectHome=read-only"), "{unit}");
    assert!(!unit.contains("ProtectHome=yes"), "{unit}");
    let line = format!("Environment=VAULT_PROVIDER_PATH={}", bin.display());
    assert!(unit.lines().any(|l| l == line), "no {line:?} in\n{unit}");
    common::assert_systemd_verifies(&[&write_unit(&home, "app.service", &unit)]);
    let started = start_like_systemd(&unit);
    assert!(started.status.success(), "{}", stderr(&started));
    assert!(
        stdout(&started).contains("NINJA_CLIENT_ID=ninja-from-shared-file\n"),
        "{}",
        stdout(&started)
    );
}

/// `--watch` reads the live vault (no credential copy) and stays as a supervisor: started
/// with only what the unit sets, its command gets the vault's and a provider's values.
#[test]
fn a_watching_unit_starts_with_only_what_it_sets() {
    let home = home_with_a_shared_file();
    let manifest = home.path().join("app.toml");
    fs::write(
        &manifest,
        "[env]\nDB_PASSWORD = \"secret:DB_PASSWORD\"\nNINJA_CLIENT_ID = \"shared-file:NINJA_CLIENT_ID\"\n",
    )
    .unwrap();
    let seen = home.path().join("seen");
    let script = format!(
        "echo \"$DB_PASSWORD $NINJA_CLIENT_ID\" > {}; exec sleep 600",
        seen.display()
    );
    let output = home
        .vault(&[
            "systemd",
            "unit",
            "app",
            "--watch",
            "--user",
            "root",
            "-m",
            manifest.to_str().unwrap(),
            "--",
            "/bin/sh",
            "-c",
            &script,
        ])
        .env("VAULT_PROVIDER_PATH", bin_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let unit = stdout(&output);
    common::assert_systemd_verifies(&[&write_unit(&home, "app.service", &unit)]);
    let (mut command, _dirs) = as_systemd_starts(&unit);
    let mut supervisor = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !fs::read_to_string(&seen).is_ok_and(|t| t.ends_with('\n'))
        && std::time::Instant::now() < deadline
        && supervisor.try_wait().unwrap().is_none()
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = supervisor.kill();
    let ended = supervisor.wait_with_output().unwrap();
    assert_eq!(
        fs::read_to_string(&seen).unwrap_or_default(),
        "db-password-value ninja-from-shared-file\n",
        "{}",
        stderr(&ended)
    );
}

/// A line break in anything vault writes into a unit would start a setting of its own
/// (`ExecStartPre=`, run as the service's user, root for a timer); and a `--user` that is
/// not one line must never become an empty `User=`, which runs the service as root.
#[test]
fn a_line_break_in_any_unit_setting_is_refused_not_written() {
    let home = TestHome::initialised();
    home.set("A", "a-value");
    let manifest = home.path().join("app.toml");
    fs::write(&manifest, "[env]\nA = \"secret:A\"\n").unwrap();
    let injected = "x\nExecStartPre=/bin/touch /tmp/pwned";
    let manifest = manifest.to_str().unwrap();
    let unit = |flag: &str| -> Vec<String> {
        [
            "systemd",
            "unit",
            "app",
            "--manifest",
            manifest,
            flag,
            injected,
            "--",
            "/usr/bin/env",
        ]
        .map(String::from)
        .to_vec()
    };
    let timer = |flag: &str| -> Vec<String> {
        [
            "systemd",
            "timer",
            "t",
            "--on-calendar",
            "daily",
            flag,
            injected,
            "--",
            "/usr/bin/true",
        ]
        .map(String::from)
        .to_vec()
    };
    for args in [
        unit("--description"),
        unit("--user"),
        timer("--description"),
        timer("--user"),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = home.vault(&args).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            stdout(&output)
        );
        assert!(
            !stdout(&output).contains("ExecStartPre") && !stdout(&output).contains("User=\n"),
            "{args:?}: {}",
            stdout(&output)
        );
        assert!(
            stderr(&output).contains("one non-empty line"),
            "{}",
            stderr(&output)
        );
    }
    // A vault in a directory whose name holds a line break.
    let dir = home.path().join("v\nExecStartPre=touch pwned");
    fs::create_dir_all(&dir).unwrap();
    let vault = dir.join("vault.age");
    let vault = vault.to_str().unwrap();
    home.vault(&["init"])
        .env("VAULT_FILE", vault)
        .assert()
        .success();
    let output = home
        .vault(&[
            "systemd",
            "timer",
            "t",
            "--on-calendar",
            "daily",
            "--",
            "/usr/bin/true",
        ])
        .env("VAULT_FILE", vault)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(
        !stdout(&output).contains("ExecStartPre"),
        "{}",
        stdout(&output)
    );
}

/// `ReadWritePaths=` is a list split at spaces, with `%` specifiers and no `$` expansion:
/// a vault directory named `a b%c$d` reaches systemd as that one path.
#[test]
fn a_writable_path_with_a_space_a_percent_and_a_dollar_reaches_systemd_as_it_is() {
    let home = TestHome::new();
    let dir = home.path().join("a b%c$d");
    fs::create_dir_all(&dir).unwrap();
    chmod(&dir, 0o700);
    let vault = dir.join("vault.age");
    let vault = vault.to_str().unwrap();
    home.vault(&["init"])
        .env("VAULT_FILE", vault)
        .assert()
        .success();
    let units = home.path().join("units");
    let output = home
        .vault(&[
            "systemd",
            "timer",
            "t",
            "--on-calendar",
            "daily",
            "--output-dir",
            units.to_str().unwrap(),
            "--",
            "/usr/bin/true",
        ])
        .env("VAULT_FILE", vault)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let service = fs::read_to_string(units.join("t.service")).unwrap();
    let line = service
        .lines()
        .find_map(|l| l.strip_prefix("ReadWritePaths="))
        .expect("ReadWritePaths=");
    let here = Path::new("/");
    let paths: Vec<String> = unit_words(line)
        .iter()
        .map(|w| expand(w, here, here, false))
        .collect();
    assert_eq!(paths, [dir.display().to_string()], "{line}");
    common::assert_systemd_verifies(&[&units.join("t.service"), &units.join("t.timer")]);
}

/// Without `--user` a timer's service runs as root, and root refuses a vault and a
/// configuration another user owns: a timer a user makes for their own files would fail
/// at its first tick (exit 4). It is refused when made, naming `--user`; with `--user`
/// it is written to run as that user.
#[test]
fn a_users_timer_without_user_is_refused_when_made_not_at_its_first_run() {
    use std::os::unix::fs::MetadataExt;
    if fs::metadata("/proc/self").unwrap().uid() != 0 {
        eprintln!("skipped: needs root to play another user");
        return;
    }
    const UID: u32 = 64_031;
    let home = TestHome::new();
    let as_user = |args: &[&str]| -> Output {
        let template = home.vault_std(args);
        std::process::Command::new("setpriv")
            .args([
                &format!("--reuid={UID}"),
                &format!("--regid={UID}"),
                "--clear-groups",
                "--",
            ])
            .arg(template.get_program())
            .args(template.get_args())
            .env_clear()
            .envs(
                template
                    .get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .current_dir(home.path())
            .output()
            .unwrap()
    };
    std::os::unix::fs::chown(home.path(), Some(UID), Some(UID)).unwrap();
    let init = as_user(&["init"]);
    assert!(init.status.success(), "{}", stderr(&init));
    let timer = |user: Option<&str>| {
        let mut args = vec!["systemd", "timer", "t", "--on-calendar", "daily"];
        if let Some(user) = user {
            args.extend(["--user", user]);
        }
        args.extend(["--", "vault", "list"]);
        as_user(&args)
    };
    let refused = timer(None);
    assert_eq!(refused.status.code(), Some(2), "{}", stdout(&refused));
    assert!(stdout(&refused).is_empty());
    assert!(
        stderr(&refused).contains(&format!("pass --user {UID}")),
        "{}",
        stderr(&refused)
    );
    let made = timer(Some(&UID.to_string()));
    assert!(made.status.success(), "{}", stderr(&made));
    assert!(
        stdout(&made).lines().any(|l| l == format!("User={UID}")),
        "{}",
        stdout(&made)
    );
}

/// An AWS service as the README writes it: the unit's `Environment=` names the region,
/// the endpoint (here moto_server's) and a credentials file `LoadCredential=` puts in
/// `%d`; with nothing else, the aws provider resolves the manifest's references.
#[test]
fn an_aws_service_finds_its_credentials_in_the_units_environment() {
    let server = common::MotoServer::start();
    server.boto(
        "ssm.put_parameter(Name='/prod/app/key', Value='unit-param-value', Type='SecureString')",
    );
    let home = TestHome::initialised();
    let credentials = home.path().join("aws-credentials");
    fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            common::MOTO_KEY_ID,
            common::MOTO_SECRET_KEY
        ),
    )
    .unwrap();
    chmod(&credentials, 0o600);
    // The configuration names no region, endpoint or key: the unit's environment does.
    fs::write(
        home.path().join("config/secretsd/config.toml"),
        "[providers.aws]\ntimeout_seconds = 20\n",
    )
    .unwrap();
    let manifest = home.path().join("app.toml");
    fs::write(&manifest, "[env]\nAPP_KEY = \"aws:ssm:/prod/app/key\"\n").unwrap();
    let output = home
        .vault(&[
            "systemd",
            "unit",
            "app",
            "--manifest",
            manifest.to_str().unwrap(),
            "--",
            "/usr/bin/env",
        ])
        .env("VAULT_PROVIDER_PATH", bin_dir())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let unit = stdout(&output).replacen(
        "[Service]\n",
        &format!(
            "[Service]\nEnvironment=AWS_REGION=us-east-1\nEnvironment=AWS_ENDPOINT_URL={}\n\
             LoadCredential=aws-credentials:{}\n\
             Environment=AWS_SHARED_CREDENTIALS_FILE=%d/aws-credentials\n",
            server.url,
            credentials.display()
        ),
        1,
    );
    common::assert_systemd_verifies(&[&write_unit(&home, "app.service", &unit)]);
    let started = start_like_systemd(&unit);
    assert!(started.status.success(), "{}", stderr(&started));
    let env = stdout(&started);
    assert!(env.contains("APP_KEY=unit-param-value\n"), "{env}");
    // The provider's locators are vault's to pass on, not the service's to inherit.
    assert!(!env.contains(common::MOTO_SECRET_KEY), "{env}");
}
