//! Providers through the vault binary: real provider processes, well-behaved and not.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{TestHome, stderr, stdout};
use predicates::prelude::*;

/// A well-behaved provider that logs every start and request to the file in its config
/// (`log`), answers `value-of-KEY` for any key except those starting with `missing`,
/// and waits `delay` seconds before each answer.
const RECORDER: &str = include_str!("fixtures/recorder-provider.py");

fn install(dir: &Path, name: &str, script: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("secretsd-provider-{name}"));
    std::fs::write(&path, script).unwrap();
    common::chmod(&path, 0o755);
    path
}

/// A provider that says hello and then does `behaviour` (Python) for every request.
fn misbehaving(behaviour: &str) -> String {
    format!(
        r#"#!/usr/bin/env python3
import json, sys, time
print(json.dumps({{"v": [1], "provider": sys.argv[0].rsplit("secretsd-provider-", 1)[1], "version": "0", "ops": ["get", "set"]}}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
{behaviour}
"#
    )
}

struct Setup {
    home: TestHome,
    providers: PathBuf,
    log: PathBuf,
}

fn setup(config_extra: &str) -> Setup {
    let home = TestHome::initialised();
    let providers = home.path().join("providers");
    let log = home.path().join("provider.log");
    std::fs::create_dir_all(&providers).unwrap();
    let config = format!(
        "[providers]\ntimeout_seconds = 2\n\n[providers.recorder]\nlog = \"{}\"\n{config_extra}",
        log.display()
    );
    std::fs::write(home.path().join("config/secretsd/config.toml"), config).unwrap();
    install(&providers, "recorder", RECORDER);
    Setup {
        home,
        providers,
        log,
    }
}

impl Setup {
    fn vault(&self, args: &[&str]) -> assert_cmd::Command {
        let mut command = self.home.vault(args);
        command.env("VAULT_PROVIDER_PATH", &self.providers);
        command
    }

    fn vault_std(&self, args: &[&str]) -> std::process::Command {
        let mut command = self.home.vault_std(args);
        command.env("VAULT_PROVIDER_PATH", &self.providers);
        command
    }

    fn manifest(&self, text: &str) -> String {
        let path = self.home.path().join("app.toml");
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    /// Appends `text` to the configuration file.
    fn add_config(&self, text: &str) {
        let path = self.home.path().join("config/secretsd/config.toml");
        let mut config = std::fs::read_to_string(&path).unwrap();
        config.push_str(text);
        std::fs::write(&path, config).unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

#[test]
fn provider_list_shows_version_and_operations() {
    let setup = setup("");
    install(
        &setup.providers,
        "future",
        r#"#!/bin/sh
echo '{"v":[99],"provider":"future","version":"9.9","ops":["get"]}'
cat >/dev/null
"#,
    );
    let output = setup.vault(&["provider", "list"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("recorder") && text.contains("1.0"), "{text}");
    assert!(text.contains("get,list,set,delete"), "{text}");
    assert!(
        text.contains("future") && text.contains("BROKEN") && text.contains("versions 99,"),
        "{text}"
    );
}

#[test]
fn provider_addresses_work_in_the_ordinary_verbs() {
    let setup = setup("");
    setup
        .vault(&["get", "--reveal", "recorder:app/db"])
        .assert()
        .success()
        .stdout("value-of-app/db");
    setup
        .vault(&["get", "recorder:missing-key"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("missing-key"));
    setup.vault(&["exists", "recorder:app/x"]).assert().code(0);
    setup
        .vault(&["exists", "recorder:missing-x"])
        .assert()
        .code(3);
    setup
        .vault(&["set", "recorder:app/new"])
        .write_stdin("v")
        .assert()
        .success();
    setup.vault(&["rm", "recorder:app/new"]).assert().success();
    setup
        .vault(&["list", "recorder:"])
        .assert()
        .success()
        .stdout("a\nb\n");
    let log = setup.log();
    assert!(
        log.contains("set recorder") && log.contains("delete recorder"),
        "{log}"
    );
    // A bare name still means the vault.
    setup
        .vault(&["get", "app"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("vault"));
}

#[test]
fn run_starts_each_provider_once_and_asks_once() {
    let setup = setup("");
    for name in ["rec-a", "rec-b", "rec-c"] {
        install(&setup.providers, name, RECORDER);
        setup.add_config(&format!(
            "\n[providers.{name}]\nlog = \"{}\"\n",
            setup.log.display()
        ));
    }
    let mut manifest = String::from("[env]\n");
    for i in 0..100 {
        let provider = ["recorder", "rec-a", "rec-b", "rec-c"][i % 4];
        manifest.push_str(&format!("VAR_{i} = \"{provider}:key/{i}\"\n"));
    }
    let manifest = setup.manifest(&manifest);
    setup
        .vault(&[
            "run",
            "-m",
            &manifest,
            "--",
            "sh",
            "-c",
            "echo $VAR_0 $VAR_99",
        ])
        .assert()
        .success()
        .stdout("value-of-key/0 value-of-key/99\n");
    let log = setup.log();
    for provider in ["recorder", "rec-a", "rec-b", "rec-c"] {
        let starts = log
            .lines()
            .filter(|l| l.starts_with(&format!("start {provider} ")))
            .count();
        let gets: Vec<&str> = log
            .lines()
            .filter(|l| l.starts_with(&format!("get {provider} ")))
            .collect();
        assert_eq!(starts, 1, "{provider} started {starts} times:\n{log}");
        assert_eq!(gets, [format!("get {provider} 25")], "{log}");
    }
}

/// Two providers are asked at once: each answers only after the other was asked (a
/// rendezvous through a shared log), so asking one after the other would never finish
/// within the providers' timeout. No clock is read: a loaded machine cannot fail it.
#[test]
fn providers_are_asked_in_parallel() {
    let setup = setup("wait_for = \"slow-b\"\n");
    install(&setup.providers, "slow-b", RECORDER);
    setup.add_config(&format!(
        "\n[providers.slow-b]\nlog = \"{}\"\nwait_for = \"recorder\"\n",
        setup.log.display()
    ));
    let config = setup.home.path().join("config/secretsd/config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("timeout_seconds = 2", "timeout_seconds = 30"),
    )
    .unwrap();
    let manifest = setup.manifest("[env]\nA = \"recorder:a\"\nB = \"slow-b:b\"\n");
    let output = setup
        .vault(&["run", "-m", &manifest, "--", "sh", "-c", "echo \"$A $B\""])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "value-of-a value-of-b\n");
}

#[test]
fn a_missing_provider_key_names_the_variable_and_nothing_starts() {
    let setup = setup("");
    let marker = setup.home.path().join("started");
    let manifest =
        setup.manifest("[env]\nGOOD = \"recorder:fine\"\nBAD = \"recorder:missing-thing\"\n");
    setup
        .vault(&[
            "run",
            "-m",
            &manifest,
            "--",
            "touch",
            marker.to_str().unwrap(),
        ])
        .assert()
        .code(125)
        // The variable and the scheme; the key could be a literal with a colon.
        .stderr(predicate::str::contains("BAD = recorder:…"))
        .stderr(predicate::str::contains("missing-thing").not())
        .stderr(predicate::str::contains("not-found"));
    assert!(!marker.exists());
}

/// Runs `vault run` and `vault set` through provider `name` doing `behaviour`; each test
/// names its provider differently so that parallel tests can tell their processes apart.
fn assert_provider_failure(name: &str, behaviour: &str, expected: &[&str]) {
    let setup = setup("");
    install(&setup.providers, name, &misbehaving(behaviour));
    let marker = setup.home.path().join("started");
    let manifest = setup.manifest(&format!(
        "[env]\nX = \"{name}:key\"\nY = \"recorder:fine\"\n"
    ));
    let started = Instant::now();
    let output = setup
        .vault(&[
            "run",
            "-m",
            &manifest,
            "--",
            "touch",
            marker.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains(&format!("provider {name}")), "{text}");
    for part in expected {
        assert!(text.contains(part), "{part:?} missing from {text}");
    }
    // Its failure is the error; nothing claims that what it answered was complete.
    assert!(
        !text.contains("complete") && !text.contains("every request"),
        "{text}"
    );
    assert!(!marker.exists(), "the command started");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    // No provider process is left behind.
    std::thread::sleep(Duration::from_millis(200));
    let ps = std::process::Command::new("pgrep")
        .args(["-f", &format!("secretsd-provider-{name}")])
        .output()
        .unwrap();
    assert!(ps.stdout.is_empty(), "still running: {}", stdout(&ps));
    // And set through it changes nothing.
    let before = std::fs::read(setup.home.vault_file()).unwrap();
    setup
        .vault(&["set", &format!("{name}:key")])
        .write_stdin("v")
        .assert()
        .code(5);
    assert_eq!(std::fs::read(setup.home.vault_file()).unwrap(), before);
}

/// A provider that answered everything and only then misbehaves (exits non-zero once stdin
/// closes) fails nothing, and the warning says why that is so.
#[test]
fn a_provider_misbehaving_after_its_last_answer_fails_nothing_and_says_why() {
    let setup = setup("");
    install(
        &setup.providers,
        "sloppy",
        &misbehaving(
            "    print(json.dumps({'id': req['id'], 'ok': {'values': {k: 'v' for k in req['keys']}}}), flush=True)\nsys.exit(7)",
        ),
    );
    let manifest = setup.manifest("[env]\nX = \"sloppy:key\"\n");
    let output = setup
        .vault(&["run", "-m", &manifest, "--", "sh", "-c", "echo $X"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout(&output), "v\n");
    let text = stderr(&output);
    assert!(
        text.contains("provider sloppy") && text.contains("status 7"),
        "{text}"
    );
    assert!(
        text.contains("it had answered every request in full before, so this fails nothing"),
        "{text}"
    );
}

/// A provider's own messages that echo what it was sent — a key (which may be a literal
/// with a colon), a token from its configuration, a value to store — reach the user with
/// those taken out: in a per-key error, a whole-request error, its stderr when it exits,
/// and the warning about how it ended.
#[test]
fn what_a_provider_was_sent_is_taken_out_of_what_it_says() {
    let setup = setup("");
    setup.add_config("\n[providers.echoer]\ntoken = \"env:ECHO_TOKEN\"\n");
    install(
        &setup.providers,
        "echoer",
        &misbehaving(
            r#"    token = req['config'].get('token', '')
    if req['op'] == 'get' and req['keys'][0].startswith('per-key'):
        errors = {k: {'kind': 'denied', 'message': f'no entry {k} for token {token}'} for k in req['keys']}
        print(json.dumps({'id': req['id'], 'ok': {'values': {}, 'errors': errors}}), flush=True)
    elif req['op'] == 'get' and req['keys'][0].startswith('whole'):
        print(json.dumps({'id': req['id'], 'err': {'kind': 'invalid', 'message': f'bad key {req["keys"][0]}, token {token}'}}), flush=True)
    elif req['op'] == 'get':
        print(f'crashing on {req["keys"][0]} with {token}', file=sys.stderr, flush=True)
        sys.exit(4)
    else:
        print(json.dumps({'id': req['id'], 'err': {'kind': 'invalid', 'message': f'cannot store {req["value"]} under {req["key"]}'}}), flush=True)"#,
        ),
    );
    let token = "tok-0123456789-secret";
    for key in ["per-key-hunter2", "whole-hunter2", "crash-hunter2"] {
        let manifest = setup.manifest(&format!("[env]\nX = \"echoer:{key}\"\n"));
        let output = setup
            .vault(&["run", "-m", &manifest, "--", "true"])
            .env("ECHO_TOKEN", token)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
        let text = stderr(&output);
        assert!(text.contains("cannot resolve X = echoer:…"), "{text}");
        assert!(!text.contains("hunter2") && !text.contains(token), "{text}");
        assert!(text.contains('…'), "{text}");
    }
    // `check` shows a reference that found nothing as errors do, in its table and JSON.
    let manifest = setup.manifest("[env]\nX = \"echoer:per-key-hunter2\"\nY = \"recorder:fine\"\n");
    for json in [false, true] {
        let mut args = vec!["check", "-m", &manifest];
        if json {
            args.push("--json");
        }
        let output = setup
            .vault(&args)
            .env("ECHO_TOKEN", token)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        let text = format!("{}{}", stdout(&output), stderr(&output));
        assert!(!text.contains("hunter2") && !text.contains(token), "{text}");
        assert!(
            text.contains("echoer:…") && text.contains("recorder:fine"),
            "{text}"
        );
    }
    let output = setup
        .vault(&["set", "echoer:store-hunter2"])
        .env("ECHO_TOKEN", token)
        .write_stdin("value-to-store-hunter5")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("cannot store … under …"), "{text}");
    assert!(!text.contains("hunter") && !text.contains(token), "{text}");
}

#[test]
fn a_hanging_provider_is_stopped_at_the_timeout() {
    assert_provider_failure(
        "hangs",
        "    time.sleep(3600)",
        &["did not answer 'get' within 2 s", "stopped"],
    );
}

#[test]
fn a_provider_that_crashes_mid_answer_is_reported() {
    assert_provider_failure(
        "crashes",
        "    sys.stdout.write('{\"id\": 1, \"ok\": {\"val'); sys.stdout.flush(); print('crashes: exploding', file=sys.stderr, flush=True); sys.exit(3)",
        &["exited with status 3", "crashes: exploding"],
    );
}

#[test]
fn a_provider_printing_garbage_is_reported() {
    assert_provider_failure(
        "garbles",
        "    print('Traceback: this is not json', flush=True)",
        &["not the protocol"],
    );
}

#[test]
fn a_provider_answering_twenty_mib_is_cut_off() {
    assert_provider_failure(
        "floods",
        "    sys.stdout.write('{\"id\": 1, \"ok\": {\"values\": {\"key\": \"' + 'x' * (20 * 1024 * 1024) + '\"}}}\\n'); sys.stdout.flush()",
        &["more than 16 MiB"],
    );
}

#[test]
fn a_provider_of_another_protocol_version_is_refused() {
    let setup = setup("");
    install(
        &setup.providers,
        "bad",
        r#"#!/bin/sh
echo '{"v":[99],"provider":"bad","version":"9","ops":["get"]}'
cat > /dev/null
"#,
    );
    let manifest = setup.manifest("[env]\nX = \"bad:key\"\n");
    setup
        .vault(&["run", "-m", &manifest, "--", "true"])
        .assert()
        .code(125)
        .stderr(predicate::str::contains(
            "speaks protocol versions 99, this vault speaks 1",
        ));
}

#[test]
fn a_provider_that_never_says_hello_times_out() {
    let setup = setup("");
    install(&setup.providers, "bad", "#!/bin/sh\nsleep 3600\n");
    setup
        .vault(&["get", "bad:key"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains(
            "did not answer its hello within 2 s",
        ));
}

#[test]
fn verbose_shows_provider_stderr_with_its_name() {
    let setup = setup("");
    setup
        .vault(&["-v", "get", "recorder:k"])
        .assert()
        .success()
        .stderr(predicate::str::contains("[recorder] recorder: serving"));
    setup
        .vault(&["get", "recorder:k"])
        .assert()
        .success()
        .stderr(predicate::str::contains("serving").not());
}

#[test]
fn no_secret_reaches_a_providers_argv_or_environment() {
    let setup = setup("");
    setup.home.set("DB_PASSWORD", "vault-secret-value-123");
    let pid_file = setup.home.path().join("snoop.pid");
    install(
        &setup.providers,
        "snoop",
        r#"#!/usr/bin/env python3
import json, os, sys, time
print(json.dumps({"v": [1], "provider": "snoop", "version": "1", "ops": ["get"]}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    with open(req["config"]["pidfile"], "w") as f:
        f.write(str(os.getpid()))
    time.sleep(1.5)
    print(json.dumps({"id": req["id"], "ok": {"values": {k: req["config"]["token"] for k in req["keys"]}}}), flush=True)
"#,
    );
    setup.add_config(&format!(
        "\n[providers.snoop]\npidfile = \"{}\"\ntoken = \"secret:DB_PASSWORD\"\n",
        pid_file.display()
    ));
    let manifest = setup
        .manifest("[env]\nFROM_SNOOP = \"snoop:anything\"\nFROM_ENV = \"env:PARENT_SECRET\"\n");
    let child = setup
        .vault_std(&["run", "-m", &manifest, "--", "sh", "-c", "echo $FROM_SNOOP"])
        .env("PARENT_SECRET", "environment-secret-456")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pid_file.exists() {
        assert!(Instant::now() < deadline, "the provider never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(50));
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    // The secret did reach the provider — through its stdin, as config.
    assert_eq!(stdout(&output), "vault-secret-value-123\n");
    for (what, bytes) in [("cmdline", &cmdline), ("environ", &environ)] {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains("vault-secret-value-123"), "{what}: {text}");
        assert!(!text.contains("environment-secret-456"), "{what}: {text}");
        assert!(!text.contains("PARENT_SECRET"), "{what}: {text}");
    }
}

#[test]
fn provider_config_values_may_be_references_to_other_providers() {
    let setup = setup("");
    install(
        &setup.providers,
        "echo-config",
        r#"#!/usr/bin/env python3
import json, sys
print(json.dumps({"v": [1], "provider": "echo-config", "version": "1", "ops": ["get"]}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    print(json.dumps({"id": req["id"], "ok": {"values": {k: req["config"]["client_secret"] for k in req["keys"]}}}), flush=True)
"#,
    );
    setup.add_config(
        "\n[providers.echo-config]\nclient_secret = \"recorder:infisical/client-secret\"\n",
    );
    setup
        .vault(&["get", "--reveal", "echo-config:x"])
        .assert()
        .success()
        .stdout("value-of-infisical/client-secret");
}

#[test]
fn the_lookup_chain_decides_where_names_are_found() {
    let setup = setup("");
    let dotenv = setup.home.path().join("app.env");
    std::fs::write(&dotenv, "FROM_DOTENV=dotenv-value\nIN_BOTH=dotenv-wins\n").unwrap();
    setup.home.set("IN_BOTH", "vault-loses");
    setup.home.set("ONLY_VAULT", "vault-value");
    setup.add_config(&format!(
        "\n[lookup]\norder = [\"env\", \"dotenv:{}\", \"vault\", \"recorder\"]\n",
        dotenv.display()
    ));
    let manifest = setup.manifest(
        "[env]\nA = \"secret:FROM_ENV\"\nB = \"secret:FROM_DOTENV\"\nC = \"secret:IN_BOTH\"\nD = \"secret:ONLY_VAULT\"\nE = \"secret:ELSEWHERE\"\n",
    );
    setup
        .vault(&[
            "run",
            "-m",
            &manifest,
            "--",
            "sh",
            "-c",
            "echo $A $B $C $D $E",
        ])
        .env("FROM_ENV", "env-value")
        .assert()
        .success()
        .stdout("env-value dotenv-value dotenv-wins vault-value value-of-ELSEWHERE\n");
    let output = setup
        .vault(&["get", "--json", "--reveal", "FROM_DOTENV"])
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["value"], "dotenv-value");
    assert!(json["source"].as_str().unwrap().starts_with("dotenv:"));
    setup.vault(&["get", "missing-nowhere"]).assert().code(6); // not a valid name: a bare name must be a variable name
    setup
        .vault(&["get", "missing_everywhere"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("env, dotenv:"))
        .stderr(predicate::str::contains("vault, recorder"));
    let output = setup.vault(&["status", "--json"]).output().unwrap();
    let status: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let chain: Vec<(String, bool)> = status["lookup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["entry"].as_str().unwrap().to_string(),
                e["available"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        chain,
        [
            ("env".to_string(), true),
            (format!("dotenv:{}", dotenv.display()), true),
            ("vault".to_string(), true),
            ("recorder".to_string(), true),
        ]
    );
    assert!(
        status["providers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "recorder")
    );
}

#[test]
fn the_shared_file_provider_passes_the_conformance_kit() {
    let setup = setup("");
    let file = setup.home.path().join("shared.env");
    setup.add_config(&format!(
        "\n[providers.shared-file]\npath = \"{}\"\n",
        file.display()
    ));
    let output = setup
        .vault(&["provider", "check", "shared-file"])
        .env("PATH", provider_bin_path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(stdout(&output).contains("0 failed"), "{}", stdout(&output));
}

#[test]
fn the_spec_example_provider_passes_the_conformance_kit() {
    let setup = setup("");
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/protocol/SPEC.md")).unwrap();
    let code = spec
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("SPEC.md has a python example");
    assert!(
        code.lines().count() <= 80,
        "the worked example should stay short"
    );
    install(&setup.providers, "jsonfile", code);
    setup.add_config(&format!(
        "\n[providers.jsonfile]\npath = \"{}\"\n",
        setup.home.path().join("store.json").display()
    ));
    let output = setup
        .vault(&["provider", "check", "jsonfile"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert_eq!(
        stdout(&output)
            .lines()
            .filter(|l| l.starts_with("ok "))
            .count(),
        15,
        "{}",
        stdout(&output)
    );
}

#[test]
fn the_conformance_kit_fails_a_broken_provider() {
    let setup = setup("");
    install(
        &setup.providers,
        "bad",
        &misbehaving(
            "    print(json.dumps({'id': req['id'], 'ok': {'values': {}}}), flush=True)\n    sys.exit(0) if req.get('op') == 'never' else None",
        ),
    );
    let output = setup.vault(&["provider", "check", "bad"]).output().unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", stdout(&output));
    assert!(stdout(&output).contains("FAIL"), "{}", stdout(&output));
}

/// PATH with the workspace's built provider binaries first.
fn provider_bin_path() -> String {
    let binary = assert_cmd::cargo::cargo_bin("vault");
    format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

#[test]
fn a_provider_that_leaves_a_key_out_of_its_answer_is_broken() {
    assert_provider_failure(
        "forgets",
        "    print(json.dumps({'id': req['id'], 'ok': {'values': {}, 'errors': {}}} if req['op'] == 'get' else {'id': req['id'], 'err': {'kind': 'unavailable'}}), flush=True)",
        &["leaves out the key \"key\""],
    );
}

/// A key answered both with a value and with an error (not-found) is a broken answer, not a
/// value: neither is believed, nothing runs (and nothing is kept for a cache to serve).
#[test]
fn a_provider_that_answers_a_key_both_ways_is_broken() {
    assert_provider_failure(
        "contradicts",
        "    print(json.dumps({'id': req['id'], 'ok': {'values': {'key': 'contradicted-value-8812'}, 'errors': {'key': {'kind': 'not-found', 'message': 'gone'}}}} if req['op'] == 'get' else {'id': req['id'], 'err': {'kind': 'unavailable'}}), flush=True)",
        &["answers the key \"key\" both with a value and with an error"],
    );
}

/// An answer of the wrong shape is described by field and type, never by quoting it: the
/// number could be a value.
#[test]
fn a_mistyped_answer_names_the_field_and_its_type_not_the_value() {
    assert_provider_failure(
        "mistypes",
        "    print(json.dumps({'id': req['id'], 'ok': {'values': {'key': 424242}}} if req['op'] == 'get' else {'id': req['id'], 'err': {'kind': 'unavailable'}}), flush=True)",
        &["the value of \"key\" is a number, not a string"],
    );
    let setup = setup("");
    install(
        &setup.providers,
        "badid",
        &misbehaving("    print(json.dumps({'id': 'one', 'ok': {}}), flush=True)"),
    );
    let output = setup.vault(&["get", "badid:key"]).output().unwrap();
    assert_eq!(output.status.code(), Some(5));
    assert!(
        stderr(&output).contains("\"id\" is a string, not a whole number"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("Some("), "{}", stderr(&output));
}

#[test]
fn a_provider_that_names_itself_wrongly_is_refused() {
    let setup = setup("");
    let script = RECORDER.replace("\"provider\": name", "\"provider\": \"someone-else\"");
    assert_ne!(script, RECORDER, "the fixture's hello names it");
    install(&setup.providers, "impostor", &script);
    let output = setup.vault(&["get", "impostor:key"]).output().unwrap();
    assert_eq!(output.status.code(), Some(5));
    assert!(
        stderr(&output).contains("introduced itself as provider someone-else, not impostor"),
        "{}",
        stderr(&output)
    );
}

/// Complete answers are used even when the provider then exits badly or lingers; vault
/// stops it and says so (SPEC §5).
#[test]
fn a_provider_that_misbehaves_after_answering_is_warned_about() {
    let setup = setup("");
    let answer = "    print(json.dumps({'id': req['id'], 'ok': {'values': {k: 'v-' + k for k in req['keys']}}}), flush=True)";
    install(
        &setup.providers,
        "exits-badly",
        &format!("{}sys.exit(1)\n", misbehaving(answer)),
    );
    install(
        &setup.providers,
        "lingers",
        &format!(
            "{}import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(3600)\n",
            misbehaving(answer)
        ),
    );
    let output = setup
        .vault(&["get", "--reveal", "exits-badly:key"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim_end(), "v-key");
    assert!(
        stderr(&output).contains("warning: provider exits-badly exited with status 1"),
        "{}",
        stderr(&output)
    );
    let started = Instant::now();
    let output = setup.vault(&["get", "lingers:key"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("warning: provider lingers"),
        "{}",
        stderr(&output)
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

/// Answers over `max_line` (here 1 MiB): a batch is asked again in halves; one value that
/// does not fit alone is `too-large`, named, exit 5 — through a Rust provider, where the
/// protocol crate does the splitting.
#[test]
fn answers_over_the_line_limit_are_split_or_refused() {
    let setup = setup("");
    let store = setup.home.path().join("shared.env");
    // Ten values of 120 KiB: together over 1 MiB, each small enough for the environment.
    let mut text: String = (0..10)
        .map(|i| {
            format!(
                "K{i}={}\n",
                char::from(b'a' + i).to_string().repeat(120 * 1024)
            )
        })
        .collect();
    text.push_str(&format!("HUGE={}\n", "h".repeat(1100 * 1024)));
    std::fs::write(&store, text).unwrap();
    common::chmod(&store, 0o600);
    setup.add_config(&format!(
        "\n[providers.shared-file]\npath = \"{}\"\n",
        store.display()
    ));
    let config = setup.home.path().join("config/secretsd/config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "timeout_seconds = 2",
        "timeout_seconds = 10\nmax_response_mib = 1",
    );
    std::fs::write(&config, text).unwrap();
    let manifest: String = (0..10)
        .map(|i| format!("K{i} = \"shared-file:K{i}\"\n"))
        .collect();
    let manifest = setup.manifest(&format!("[env]\n{manifest}"));
    let output = setup
        .vault(&[
            "run",
            "-m",
            &manifest,
            "--",
            "sh",
            "-c",
            "echo ${#K0} ${#K9}",
        ])
        .env("PATH", provider_bin_path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), format!("{0} {0}\n", 120 * 1024));
    let output = setup
        .vault(&["get", "shared-file:HUGE"])
        .env("PATH", provider_bin_path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(stderr(&output).contains("too-large"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("hhhh"), "no value in the message");
}

/// The example seed shipped beside infisical-test-server.
fn example_seed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("providers/infisical/test-server/seed.example.json")
}

fn infisical_test_server() -> std::process::Command {
    std::process::Command::new(
        assert_cmd::cargo::cargo_bin("vault").with_file_name("infisical-test-server"),
    )
}

/// A home whose `[providers.infisical]` points at `url` with the example seed's identity.
fn infisical_home(url: &str, environment: &str) -> TestHome {
    let home = TestHome::initialised();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[providers.infisical]\nbase_url = \"{url}\"\nclient_id = \"machine-id\"\n\
             client_secret = \"machine-secret\"\nproject_id = \"project-1\"\nenvironment = \"{environment}\"\n"
        ),
    )
    .unwrap();
    home
}

fn with_provider_path(mut command: assert_cmd::Command) -> assert_cmd::Command {
    let binaries = assert_cmd::cargo::cargo_bin("vault");
    command.env("VAULT_PROVIDER_PATH", binaries.parent().unwrap());
    command
}

#[test]
fn infisical_test_server_explains_itself_and_refuses_nonsense_without_a_panic() {
    let help = infisical_test_server().arg("--help").output().unwrap();
    assert!(help.status.success(), "{}", stderr(&help));
    let text = stdout(&help);
    for promised in [
        "Usage: infisical-test-server --seed FILE",
        "seed.example.json",
        "--port",
    ] {
        assert!(text.contains(promised), "{text}");
    }
    for wrong in [
        &["--bogus"][..],
        &[][..],
        &["--seed"][..],
        &["--seed", "/nonexistent/seed.json"][..],
    ] {
        let output = infisical_test_server().args(wrong).output().unwrap();
        assert!(!output.status.success(), "{wrong:?}");
        let said = stderr(&output);
        assert!(
            said.starts_with("infisical-test-server: "),
            "{wrong:?}: {said}"
        );
        assert!(
            !said.contains("panicked") && !said.contains("backtrace"),
            "{said}"
        );
    }
}

#[test]
fn infisical_test_server_serves_with_stdin_from_dev_null() {
    use std::io::BufRead;
    let mut server = infisical_test_server()
        .arg("--seed")
        .arg(example_seed())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(300));
    let running = server.try_wait().unwrap().is_none();
    let home = infisical_home(&url, "prod");
    let listed = with_provider_path(home.vault(&["list", "infisical:/app/db/"]))
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(running, "the server exited although nobody closed a pipe");
    assert_eq!(
        stdout(&listed),
        "/app/db/PASSWORD\n/app/db/SMTP_PASSWORD\n/app/db/USER\n",
        "{}",
        stderr(&listed)
    );
}

/// Infisical has a root folder in every environment: the conformance kit's default keys
/// (in /) pass against a seed that names only deeper folders, and so does a prefix in one.
#[test]
fn provider_check_passes_against_the_example_seed_in_any_folder() {
    let server = common::InfisicalServer::start(&example_seed());
    let home = infisical_home(&server.url, "prod");
    for prefix in [
        None,
        Some("/app/db/SECRETSD_CHECK_"),
        Some("app/SECRETSD_CHECK_"),
    ] {
        let mut args = vec!["provider", "check", "infisical"];
        if let Some(prefix) = prefix {
            args.extend(["--key-prefix", prefix]);
        }
        let output = with_provider_path(home.vault(&args)).output().unwrap();
        let report = stdout(&output);
        assert!(
            output.status.success(),
            "{prefix:?}: {report}{}",
            stderr(&output)
        );
        assert!(report.contains("15 passed, 0 failed"), "{report}");
    }
    // The check's keys are gone again, and the seed's are untouched.
    let listed = with_provider_path(home.vault(&["list", "infisical:/app/db/"]))
        .output()
        .unwrap();
    assert_eq!(
        stdout(&listed),
        "/app/db/PASSWORD\n/app/db/SMTP_PASSWORD\n/app/db/USER\n"
    );
}

#[test]
fn an_infisical_key_in_the_root_folder_is_named_with_one_slash() {
    let server = common::InfisicalServer::start(&example_seed());
    // An environment the project lacks: the writes fail, and say which key they were.
    let home = infisical_home(&server.url, "staging");
    let output = with_provider_path(home.vault(&["provider", "check", "infisical"]))
        .output()
        .unwrap();
    let report = stdout(&output);
    assert_eq!(output.status.code(), Some(5), "{report}");
    assert!(
        report.contains("writing /SECRETSD_CHECK_PRESENT:"),
        "{report}"
    );
    assert!(!report.contains("//"), "{report}");
}

/// A lookup chain with no vault in it (env, then a .env: the setup of an app that never
/// had a vault file) is a working setup: `vault status` says the vault is not used and
/// exits 0, where a missing vault the lookup does use is still a problem (exit 4).
#[test]
fn status_of_a_lookup_chain_without_a_vault_is_usable() {
    let home = TestHome::new();
    let config = home.path().join("config/secretsd");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(home.path().join("app.env"), "API_KEY=from-dotenv\n").unwrap();
    common::chmod(&home.path().join("app.env"), 0o600);
    std::fs::write(
        config.join("config.toml"),
        "[lookup]\norder = [\"env\", \"dotenv:~/app.env\"]\n",
    )
    .unwrap();
    home.vault(&["get", "--reveal", "API_KEY"])
        .assert()
        .success()
        .stdout("from-dotenv");
    let output = home.vault(&["status"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("missing (not used: the lookup order has no vault)")
            && !stdout(&output).contains("problem:"),
        "{}",
        stdout(&output)
    );
    std::fs::write(
        config.join("config.toml"),
        "[lookup]\norder = [\"env\", \"dotenv:~/app.env\", \"vault\"]\n",
    )
    .unwrap();
    let output = home.vault(&["status"]).output().unwrap();
    assert_eq!(output.status.code(), Some(4), "{}", stdout(&output));
    assert!(
        stdout(&output).contains("problem:  no vault"),
        "{}",
        stdout(&output)
    );
}

/// What a provider says on stderr is shown with `-v` and quoted when it fails: what it was
/// sent — a value to store, a configuration value from a reference — is taken out of the
/// whole line first, so neither `-v` nor a line cut to fit a message shows it or a piece
/// of it.
#[test]
fn a_provider_repeating_what_it_was_sent_on_stderr_shows_none_of_it() {
    let setup = setup("[providers.tattles]\napi_key = \"secret:TOKEN\"\n");
    setup.home.set("API", "topsecret-XYZ123");
    setup.home.set("TOKEN", "second-SEKRIT99");
    install(
        &setup.providers,
        "tattles",
        &misbehaving(
            "    told = json.dumps(req)\n    print('got ' + told, file=sys.stderr, flush=True)\n    value = req.get('value', '')\n    print('P' * (300 - len(value) // 2) + value, file=sys.stderr, flush=True)\n    sys.exit(7)",
        ),
    );
    for verbose in [true, false] {
        let mut args = vec![
            "sync",
            "--from",
            "vault",
            "--only",
            "API",
            "--to",
            "tattles:app/",
        ];
        if verbose {
            args.insert(0, "-v");
        }
        let output = setup.vault(&args).output().unwrap();
        assert!(!output.status.success());
        let said = stderr(&output);
        assert!(said.contains("[tattles]") || !verbose, "{said}");
        for piece in ["topsecret", "second-SEK", "SEKRIT99", "XYZ123"] {
            assert!(!said.contains(piece), "{piece} in: {said}");
        }
    }
}
