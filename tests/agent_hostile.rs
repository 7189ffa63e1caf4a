//! The AI-agent features under attack (issue #28's outside review), through the binary:
//! forged grant scope files, a granted command reading vault's keys or escaping its
//! keeper, launchers and copies of shells, code-loading variables, the connect deny list,
//! a deleted audit log.

mod common;

use std::path::Path;

use common::agent::{API_KEY, DB_PASSWORD, agents_dir, grant, home};
use common::{TestHome, stderr, stdout};

fn as_agent_command(home: &TestHome, key: &Path, args: &[&str]) -> std::process::Command {
    let mut command = home.vault_std(args);
    command
        .env("VAULT_GRANT", key)
        .env("VAULT_IDENTITY", home.identity_file());
    command
}

fn as_agent(home: &TestHome, key: &Path, args: &[&str]) -> std::process::Output {
    as_agent_command(home, key, args).output().unwrap()
}

/// The bundle's values as the agent's command sees them: `NAME=value` lines.
fn granted_env(home: &TestHome, key: &Path) -> String {
    let output = as_agent(
        home,
        key,
        &[
            "agent",
            "exec",
            "--",
            "python3",
            "-c",
            "import os\nfor n in ('API_KEY','DB_PASSWORD'):\n  print(n, n in os.environ, len(os.environ.get(n,'')))",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

fn forever() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 10 * 365 * 86400
}

/// H1 repro A: an edited grant.json (every name, far expiry) widens nothing on a user's
/// write, and `agent list` calls it forged.
#[test]
fn an_edited_scope_file_is_refused_on_refresh_and_listed_as_forged() {
    let home = home();
    let key = grant(&home, &["g1", "--only", "API_KEY", "--ttl", "1h"]);
    let path = agents_dir(&home).join("g1/grant.json");
    let mut scope: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    scope["patterns"] = serde_json::json!(["*"]);
    scope["names"] = serde_json::json!(["API_KEY", "DB_PASSWORD"]);
    scope["expires_at"] = serde_json::json!(forever());
    std::fs::write(&path, serde_json::to_vec(&scope).unwrap()).unwrap();
    let bundle = agents_dir(&home).join("g1/bundle.age");
    let before = std::fs::read(&bundle).unwrap();

    let output = home
        .vault(&["set", "API_KEY"])
        .write_stdin("a-new-value-for-api-key-0001")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("g1") && stderr(&output).contains("not signed by you"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read(&bundle).unwrap(),
        before,
        "the bundle was rewritten"
    );
    let seen = granted_env(&home, &key);
    assert!(seen.contains("DB_PASSWORD False 0"), "{seen}");

    let list = home.vault(&["agent", "list"]).output().unwrap();
    assert!(list.status.success(), "{}", stderr(&list));
    assert!(stdout(&list).contains("g1\tFORGED"), "{}", stdout(&list));
}

/// H1 repro B: a planted grant directory whose scope names the attacker's key gets
/// nothing written to it.
#[test]
fn a_planted_grant_to_another_key_gets_no_bundle() {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let home = home();
    // A real grant, so the agents directory exists as vault makes it.
    grant(&home, &["real", "--only", "API_KEY", "--ttl", "1h"]);
    let evil = agents_dir(&home).join("evil");
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&evil)
        .unwrap();
    let attacker = common::age_keygen(&home.path().join("attacker.key"));
    let scope = serde_json::json!({
        "name": "evil",
        "patterns": ["*"],
        "names": ["API_KEY", "DB_PASSWORD"],
        "commands": [],
        "project": home.path(),
        "created_at": 1,
        "expires_at": forever(),
        "recipient": attacker,
    });
    let scope_file = evil.join("grant.json");
    std::fs::write(&scope_file, serde_json::to_vec(&scope).unwrap()).unwrap();
    std::fs::set_permissions(&scope_file, std::fs::Permissions::from_mode(0o600)).unwrap();

    let output = home
        .vault(&["set", "API_KEY"])
        .write_stdin("a-new-value-for-api-key-0002")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("evil") && stderr(&output).contains("not signed by you"),
        "{}",
        stderr(&output)
    );
    assert!(
        !evil.join("bundle.age").exists(),
        "a bundle was written for the attacker"
    );
    let list = home.vault(&["agent", "list"]).output().unwrap();
    assert!(stdout(&list).contains("evil\tFORGED"), "{}", stdout(&list));
    assert!(stdout(&list).contains("real\tactive"), "{}", stdout(&list));
}

/// A refresh never widens a grant: a new secret its pattern matches does not join it.
#[test]
fn a_refresh_writes_only_the_names_the_signed_scope_lists() {
    let home = home();
    let key = grant(&home, &["narrow", "--only", "API_*", "--ttl", "1h"]);
    home.set("API_OTHER", "another-value-the-pattern-matches");
    let list = as_agent(&home, &key, &["list"]);
    assert_eq!(stdout(&list), "API_KEY\n", "{}", stderr(&list));
}

const PROBE: &str = r#"
import os, sys
found = []
paths = sys.argv[1:]
pids = [p for p in os.listdir('/proc') if p.isdigit()]
for p in paths:
    for where in [p] + ['/proc/%s/root%s' % (pid, p) for pid in pids]:
        try:
            if os.path.isdir(where):
                found.append('%s: %s' % (where, os.listdir(where)))
            else:
                found.append('%s: %s' % (where, open(where).read()))
        except Exception as e:
            pass
print('\n'.join(found))
print('pids', len(pids))
print('probe done')
"#;

/// H2: what a granted command runs (an allowed program reading an agent-edited file)
/// cannot read the identity — default path, `VAULT_IDENTITY` elsewhere, through another
/// process's `/proc/PID/root` — the grant keys or vault's state.
#[test]
fn a_granted_command_sees_no_identity_grant_key_or_vault_state() {
    let home = home();
    let key = grant(&home, &["h2", "--only", "API_KEY", "--ttl", "1h"]);
    let elsewhere = home.path().join(".ssh/vault-id.txt");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    std::fs::copy(home.identity_file(), &elsewhere).unwrap();
    let state = home.path().join(".local/state/secretsd");
    let paths = [
        home.identity_file(),
        elsewhere.clone(),
        key.clone(),
        state.clone(),
        home.path().join("config/secretsd"),
    ];
    let mut args = vec!["agent", "exec", "--", "python3", "-c", PROBE];
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(shown.iter().map(String::as_str));
    let output = as_agent_command(&home, &key, &args)
        .env("VAULT_IDENTITY", &elsewhere)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("probe done"), "{out}");
    assert!(!out.contains("AGE-SECRET-KEY"), "a key was read: {out}");
    assert!(
        !out.contains("agents"),
        "the state directory was listed: {out}"
    );
    // Its own PID namespace: the keeper, vault and the test are not there.
    let pids: usize = out
        .lines()
        .find_map(|l| l.strip_prefix("pids "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(pids < 5, "{out}");
    // The files are still there for the user.
    assert!(
        std::fs::read_to_string(&elsewhere)
            .unwrap()
            .contains("AGE-SECRET-KEY")
    );
}

/// H2 as a user who is not root (setpriv to nobody, when the tests run as root): the
/// sandbox is made with an unprivileged user namespace and hides the identity there too.
#[test]
fn the_sandbox_works_for_a_user_who_is_not_root() {
    let uid = std::process::Command::new("id").arg("-u").output().unwrap();
    if stdout(&uid).trim() != "0" {
        eprintln!("skipped: needs root to become another user with setpriv");
        return;
    }
    let dir = tempfile::Builder::new()
        .prefix("vault-nonroot")
        .tempdir_in("/tmp")
        .unwrap();
    let home_dir = dir.path().join("home");
    std::fs::create_dir(&home_dir).unwrap();
    let chown = std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(chown.success());
    let vault = assert_cmd::cargo::cargo_bin("vault");
    // `unshare --user` first: vault in a user namespace without a mapping, where no
    // further one can be made — the sandbox cannot be made there.
    let run_in = |nested: bool, args: &[&str], stdin: &str, grant_key: Option<&str>| {
        let mut command = std::process::Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]);
        if nested {
            command.args(["unshare", "--user", "--"]);
        }
        command
            .arg(&vault)
            .args(args)
            .env_clear()
            .env("HOME", &home_dir)
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .current_dir(&home_dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(key) = grant_key {
            command.env("VAULT_GRANT", key);
        }
        let mut child = command.spawn().unwrap();
        use std::io::Write;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).unwrap();
        drop(input);
        child.wait_with_output().unwrap()
    };
    let run =
        |args: &[&str], stdin: &str, grant_key: Option<&str>| run_in(false, args, stdin, grant_key);
    let init = run(&["init"], "", None);
    assert!(init.status.success(), "{}", stderr(&init));
    let set = run(&["set", "API_KEY"], API_KEY, None);
    assert!(set.status.success(), "{}", stderr(&set));
    let granted = run(
        &["agent", "grant", "nr", "--only", "API_KEY", "--ttl", "1h"],
        "",
        None,
    );
    assert!(granted.status.success(), "{}", stderr(&granted));
    let key = stdout(&granted).lines().last().unwrap().to_string();
    let identity = home_dir.join(".config/secretsd/identity.txt");
    assert!(identity.exists());
    let identity_text = identity.display().to_string();
    let output = run(
        &[
            "agent",
            "exec",
            "--",
            "python3",
            "-c",
            PROBE,
            &identity_text,
            &key,
        ],
        "",
        Some(&key),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("probe done"), "{out}");
    assert!(!out.contains("AGE-SECRET-KEY"), "a key was read: {out}");
    assert!(!out.contains(API_KEY));
    // Fail closed: where the sandbox cannot be made, nothing runs, and vault says why.
    let marker = home_dir.join("ran");
    let marker_text = marker.display().to_string();
    let refused = run_in(
        true,
        &["agent", "exec", "--", "touch", &marker_text],
        "",
        Some(&key),
    );
    assert_eq!(refused.status.code(), Some(125), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("vault's sandbox, which cannot be made here"),
        "{}",
        stderr(&refused)
    );
    assert!(!marker.exists(), "the command ran without the sandbox");
}

fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let state = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = state.rfind(')').and_then(|i| state[i + 2..].chars().next()) == Some('Z');
        if cmdline.contains(marker) && !zombie {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

/// Waits (bounded) until no process runs with `marker` in its command line.
fn gone(marker: &str) -> Vec<String> {
    for _ in 0..500 {
        if processes_with(marker).is_empty() {
            return Vec::new();
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    processes_with(marker)
}

const ESCAPE: &str = r#"
import os, subprocess, time, sys
subprocess.Popen(['setsid', 'sleep', sys.argv[1]])
# What the outside attack did: walk up to vault (the keeper) and SIGKILL it.
try:
    p = os.getpid()
    while p > 1:
        p = int(open('/proc/%d/stat' % p).read().rsplit(')', 1)[1].split()[1])
        if p > 0 and open('/proc/%d/comm' % p).read().strip() == 'vault':
            os.kill(p, 9)
            print('killed the keeper')
            break
except Exception:
    pass
try:
    os.kill(1, 9)
except Exception:
    pass
print('escape tried', flush=True)
open(sys.argv[2], 'w').write('ready')
time.sleep(600)
"#;

/// H3 and M1: a descendant cannot find the keeper to kill it; when the keeper is killed
/// anyway (from outside), everything the command started dies with the namespace's init,
/// nothing keeps the output pipe open, and vault returns.
#[test]
fn killing_the_keeper_leaves_no_process_holding_the_values() {
    let home = home();
    let key = grant(
        &home,
        &[
            "h3",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--command",
            "python3 ...",
        ],
    );
    let marker = "4321.25";
    let ready = home.path().join("ready");
    let child = as_agent_command(
        &home,
        &key,
        &[
            "agent",
            "exec",
            "--",
            "python3",
            "-c",
            ESCAPE,
            marker,
            ready.to_str().unwrap(),
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .unwrap();
    for _ in 0..1500 {
        if ready.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(ready.exists(), "the command did not start");
    assert!(
        !processes_with(marker).is_empty(),
        "the grandchild did not start"
    );
    // The keeper: vault's child, `vault --internal-keeper`.
    let vault_pid = child.id().to_string();
    let keeper = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            stat.rfind(')')
                .is_some_and(|i| stat[i + 2..].split(' ').nth(1) == Some(vault_pid.as_str()))
                && String::from_utf8_lossy(&cmdline).contains("--internal-keeper")
        })
        .expect("the keeper runs: the command did not kill it")
        .file_name();
    let killed = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(&keeper)
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        !stdout(&output).contains("killed the keeper"),
        "{}",
        stdout(&output)
    );
    let left = gone(marker);
    assert!(left.is_empty(), "still running with the values: {left:?}");
}

/// L1: without --command, a launcher (env, nohup, setsid…) is refused whatever it would
/// start, and so is a copy of a shell under another name.
#[test]
fn launchers_and_copies_of_shells_are_refused_without_named_commands() {
    let home = home();
    let key = grant(&home, &["l1", "--only", "API_KEY", "--ttl", "1h"]);
    let copy = home.path().join("build");
    std::fs::copy("/bin/dash", &copy)
        .or_else(|_| std::fs::copy("/bin/sh", &copy))
        .unwrap();
    let copy_text = copy.display().to_string();
    for argv in [
        vec!["env", "sh", "-c", "echo $API_KEY"],
        vec!["nohup", "sh", "-c", "true"],
        vec!["env", "python3", "-c", "print(1)"],
        vec!["setsid", "true"],
        vec![copy_text.as_str(), "-c", "echo hi"],
    ] {
        let mut args = vec!["agent", "exec", "--"];
        args.extend(argv.iter().copied());
        let output = as_agent(&home, &key, &args);
        assert_eq!(
            output.status.code(),
            Some(125),
            "{argv:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("does not allow this command"),
            "{argv:?}: {}",
            stderr(&output)
        );
    }
    let output = as_agent(
        &home,
        &key,
        &["agent", "exec", "--", "python3", "-c", "print(7)"],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "7\n");
}

/// L2: cargo's and npm's code-running settings, and PYTHONINSPECT, are not passed on from
/// the agent's environment.
#[test]
fn more_code_loading_variables_are_scrubbed() {
    let home = home();
    let key = grant(&home, &["l2", "--only", "API_KEY", "--ttl", "1h"]);
    let output = as_agent_command(&home, &key, &["agent", "exec", "--", "printenv"])
        .env("CARGO_BUILD_RUSTC_WRAPPER", "/tmp/evil")
        .env("RUSTC_WRAPPER", "/tmp/evil")
        .env("npm_config_script_shell", "/tmp/evil")
        .env("PYTHONINSPECT", "1")
        .env("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER", "/tmp/evil")
        .env("KEPT_VARIABLE", "kept")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(!out.contains("/tmp/evil"), "{out}");
    assert!(!out.contains("PYTHONINSPECT"), "{out}");
    assert!(out.contains("KEPT_VARIABLE=kept"), "{out}");
}

/// M3: `agent connect` denies the agent's shell the identity actually in use and the cache.
#[test]
fn connect_denies_the_identity_in_use_wherever_it_is() {
    let home = home();
    grant(
        &home,
        &[
            "m3",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--command",
            "npm test",
        ],
    );
    let elsewhere = home.path().join(".ssh/vault-id.txt");
    std::fs::create_dir_all(elsewhere.parent().unwrap()).unwrap();
    std::fs::copy(home.identity_file(), &elsewhere).unwrap();
    let output = home
        .vault(&["agent", "connect", "claude-code", "m3"])
        .env("VAULT_IDENTITY", &elsewhere)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("\"~/.ssh/vault-id.txt\""), "{out}");
    assert!(out.contains("\"Read(~/.ssh/vault-id.txt)\""), "{out}");
    assert!(out.contains("\"~/.cache/secretsd\""), "{out}");
}

/// M2: a deleted log while grants exist is reported, and an intact chain says it is not
/// anchored when no journal runs.
#[test]
fn a_deleted_audit_log_is_reported_and_an_unanchored_chain_says_so() {
    let home = home();
    grant(&home, &["m2", "--only", "API_KEY", "--ttl", "1h"]);
    let log = home.path().join(".local/state/secretsd/agent-audit.jsonl");
    let ok = home.vault(&["agent", "log"]).output().unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    if !Path::new("/run/systemd/journal/socket").exists() {
        assert!(stderr(&ok).contains("not anchored"), "{}", stderr(&ok));
    }
    // Emptied, then deleted: both said, neither read as an intact chain.
    for cut in ["empty", "delete"] {
        if cut == "empty" {
            std::fs::write(&log, "").unwrap();
        } else {
            std::fs::remove_file(&log).unwrap();
        }
        let output = home.vault(&["agent", "log"]).output().unwrap();
        assert_eq!(output.status.code(), Some(6), "{cut}: {}", stderr(&output));
        assert!(
            stderr(&output).contains("is missing or empty, but grants exist (m2)"),
            "{cut}: {}",
            stderr(&output)
        );
        assert!(!stderr(&output).contains("chain intact"));
    }
}

/// What a granted command may write: the project and a private /tmp — never the home, where
/// it could plant what runs later outside any sandbox (the agent host's MCP configuration, a
/// shell's startup file).
#[test]
fn a_granted_command_writes_only_the_project_and_a_private_tmp() {
    let home = home();
    let project = home.path().join("proj");
    std::fs::create_dir_all(&project).unwrap();
    let key = grant(
        &home,
        &[
            "writes",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--project",
            project.to_str().unwrap(),
        ],
    );
    // A file outside /tmp, as a real home is (the test's home is in /tmp, which the sandbox
    // replaces with its own).
    let elsewhere = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let outside = elsewhere.path().join(".claude.json");
    std::fs::write(&outside, "{}").unwrap();
    let _ = std::fs::remove_file("/tmp/scratch-of-the-command");
    let script = format!(
        "import os\n\
         open('in-project.txt', 'w').write('ok')\n\
         open('/tmp/scratch-of-the-command', 'w').write('ok')\n\
         try:\n    open({outside:?}, 'w').write('planted')\n    print('HOME-WRITTEN')\n\
         except OSError:\n    print('home refused')\n"
    );
    let mut command = as_agent_command(
        &home,
        &key,
        &["agent", "exec", "--", "python3", "-c", &script],
    );
    let output = command.current_dir(&project).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "home refused\n");
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "{}");
    assert_eq!(
        std::fs::read_to_string(project.join("in-project.txt")).unwrap(),
        "ok"
    );
    // Its /tmp was its own.
    assert!(!Path::new("/tmp/scratch-of-the-command").exists());
}

#[test]
fn no_value_reaches_the_outputs_of_these_attacks() {
    // The values never appear in what the forged-grant and launcher paths print.
    let home = home();
    let key = grant(&home, &["quiet", "--only", "API_KEY", "--ttl", "1h"]);
    let output = as_agent(
        &home,
        &key,
        &["agent", "exec", "--", "env", "sh", "-c", "echo $API_KEY"],
    );
    for value in [API_KEY, DB_PASSWORD] {
        assert!(!stdout(&output).contains(value));
        assert!(!stderr(&output).contains(value));
    }
}

/// INFO: a value with every byte percent-encoded, or every character `\\u`-escaped, is
/// masked too.
#[test]
fn every_byte_percent_encoded_or_u_escaped_is_masked() {
    let home = home();
    let key = grant(&home, &["info", "--only", "API_KEY", "--ttl", "1h"]);
    let output = as_agent(
        &home,
        &key,
        &[
            "agent",
            "exec",
            "--",
            "python3",
            "-c",
            "import os\nv = os.environ['API_KEY']\nprint(''.join('%%%02X' % b for b in v.encode()))\nprint(''.join('%%%02x' % b for b in v.encode()))\nprint(''.join('\\\\u%04x' % ord(c) for c in v))\nprint('end')",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("end"), "{out}");
    let every: String = API_KEY.bytes().map(|b| format!("%{b:02X}")).collect();
    let lower: String = API_KEY.bytes().map(|b| format!("%{b:02x}")).collect();
    let escaped: String = API_KEY
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    for form in [&every, &lower, &escaped] {
        assert!(!out.contains(form.as_str()), "{form} shown: {out}");
        // Not a long piece of it either.
        assert!(!out.contains(&form[..24]), "{form} shown: {out}");
    }
}

/// A hand-written JSON-RPC client for `vault mcp`: initialize, then each tool call; prints
/// each reply as a line.
const MCP_CLIENT: &str = r#"
import json, subprocess, sys
vault, key, calls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
p = subprocess.Popen([vault, '--grant', key, 'mcp', '--allow-run'], stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, text=True)
def send(m):
    p.stdin.write(json.dumps(m) + '\n'); p.stdin.flush()
send({'jsonrpc': '2.0', 'id': 0, 'method': 'initialize', 'params': {'protocolVersion': '2025-03-26', 'capabilities': {}, 'clientInfo': {'name': 't', 'version': '1'}}})
p.stdout.readline()
send({'jsonrpc': '2.0', 'method': 'notifications/initialized'})
for i, (name, args) in enumerate(calls, 1):
    send({'jsonrpc': '2.0', 'id': i, 'method': 'tools/call', 'params': {'name': name, 'arguments': args}})
    print(p.stdout.readline().strip(), flush=True)
p.stdin.close()
p.wait(timeout=60)
"#;

/// M1: the MCP run tool's timeout holds — the command and what it started in the
/// background (holding the output pipe) are killed, and the reply comes back.
#[test]
fn the_mcp_timeout_ends_the_run_and_everything_it_started() {
    let home = home();
    let key = grant(
        &home,
        &[
            "m1",
            "--only",
            "API_KEY",
            "--ttl",
            "1h",
            "--command",
            "sh ...",
        ],
    );
    let marker = "4321.75";
    let command = serde_json::json!([[
        "run_command",
        {
            "command": [
                "sh",
                "-c",
                "setsid sleep \"$0\" & echo started; sleep 600",
                marker
            ],
            "timeout_seconds": 1
        }
    ]]);
    let vault = assert_cmd::cargo::cargo_bin("vault");
    let output = std::process::Command::new("python3")
        .arg("-c")
        .arg(MCP_CLIENT)
        .arg(&vault)
        .arg(&key)
        .arg(command.to_string())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("PATH", std::env::var_os("PATH").unwrap())
        .current_dir(home.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let reply: serde_json::Value = serde_json::from_str(stdout(&output).trim())
        .unwrap_or_else(|e| panic!("{e}: {} {}", stdout(&output), stderr(&output)));
    let text = reply["result"]["content"][0]["text"].as_str().unwrap();
    let result: serde_json::Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(result["timed_out"], true, "{result}");
    assert_eq!(result["stdout"], "started\n", "{result}");
    let left = gone(marker);
    assert!(left.is_empty(), "still running: {left:?}");
}
