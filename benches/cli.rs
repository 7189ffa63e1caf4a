//! End-to-end timings of the `vault` binary against the floor of doing the same work with
//! nothing of ours in the way: the `age` CLI for get and set, `env /bin/true` with the same
//! N variables already in its environment for exec (vault gets that environment too), cp
//! for file work. Prints tables of medians and ratios; run it with `benches/run`.
//!
//! Figures are ratios from one run on one machine: compare them, never hard-code them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use age::secrecy::SecretString;
use secretsd::store::document::{Document, timestamp_now};
use secretsd::store::{Protection, Vault};

const SIZES: [usize; 3] = [10, 1_000, 10_000];
const TARGET_SET_10K: Duration = Duration::from_millis(25);
/// `vault exec -- true` against `env VARS… true`: at most these ratios at SIZES.
const TARGET_EXEC_RATIO: [f64; 3] = [1.5, 1.5, 2.0];

struct Bench {
    _dir: tempfile::TempDir,
    /// The plaintext `NAME=value` pairs, as the floor passes them to `env`.
    pairs: Vec<String>,
    plaintext_bytes: usize,
    home: PathBuf,
    vault: PathBuf,
    identity: PathBuf,
    recipient: String,
}

fn vault_command(bench: &Bench, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vault"));
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &bench.home)
        .env("VAULT_FILE", &bench.vault)
        .env("VAULT_IDENTITY", &bench.identity)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// A vault holding `count` secrets of realistic size (40-character values).
fn prepare(count: usize) -> Bench {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().to_path_buf();
    let vault = home.join("vault.age");
    let identity = home.join("identity.txt");
    let mut bench = Bench {
        _dir: dir,
        pairs: Vec::new(),
        plaintext_bytes: 0,
        home,
        vault,
        identity,
        recipient: String::new(),
    };
    let output = vault_command(&bench, &["init"])
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    assert!(output.status.success());
    bench.recipient = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("recipient: ").map(str::to_string))
        .unwrap();
    std::fs::remove_file(&bench.vault).unwrap();
    let mut document = Document::new(vec![bench.recipient.clone()]);
    let now = timestamp_now();
    for i in 0..count {
        let value = format!("{i:08}-abcdefghijklmnopqrstuvwxyz-0123");
        bench.pairs.push(format!("SECRET_{i}={value}"));
        let name = format!("SECRET_{i}");
        document
            .set(&name, SecretString::from(value), None, &now)
            .unwrap();
    }
    bench.plaintext_bytes = document.to_json().unwrap().len();
    Vault::new(&bench.vault)
        .create(&document, &Protection::Recipients, false)
        .unwrap();
    // Keep backups from growing without bound while benchmarking.
    std::fs::create_dir_all(bench.home.join(".config/secretsd")).unwrap();
    std::fs::write(
        bench.home.join(".config/secretsd/config.toml"),
        "[backup]\nkeep = 5\n",
    )
    .unwrap();
    bench
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Runs `make()` `runs` times (after one warm-up) and returns the median wall time.
fn time(runs: usize, stdin: Option<&str>, mut make: impl FnMut() -> Command) -> Duration {
    let mut samples = Vec::with_capacity(runs);
    for run in 0..=runs {
        let mut command = make();
        command.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let started = Instant::now();
        let mut child = command.spawn().unwrap();
        if let Some(input) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let status = child.wait().unwrap();
        let elapsed = started.elapsed();
        assert!(status.success(), "{command:?} failed");
        if run > 0 {
            samples.push(elapsed);
        }
    }
    median(samples)
}

/// Peak resident memory (KiB) of one run of `command`, from wait4's rusage. The kernel
/// keeps the high-water mark across exec, so this covers vault before it became `true`.
#[allow(clippy::zombie_processes)] // reaped by wait4 below, which std's wait cannot replace
fn peak_memory_kib(mut command: Command) -> i64 {
    let child = command.stdin(Stdio::null()).spawn().unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own unreaped child, with valid pointers to locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
    usage.ru_maxrss
}

fn shell(script: &str, dir: &Path) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdout(Stdio::null());
    command
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

/// A provider that answers after a configured delay, standing in for a networked backend.
const RECORDER: &str = include_str!("../tests/fixtures/recorder-provider.py");

/// `vault run` with 100 references across 4 providers (answering after 100, 150, 200 and
/// 250 ms) against `vault run` with only the slowest provider's 25 references.
fn provider_benchmark(runs: usize) {
    let bench = prepare(10);
    let providers = bench.home.join("providers");
    std::fs::create_dir_all(&providers).unwrap();
    let log = bench.home.join("provider.log");
    let names = ["p-100", "p-150", "p-200", "p-250"];
    // The interpreter itself, not a version-manager shim whose start-up would dominate.
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let interpreter = String::from_utf8(python.stdout).unwrap();
    let script = RECORDER.replacen("/usr/bin/env python3", interpreter.trim(), 1);
    let mut config = String::from("[backup]\nkeep = 5\n");
    for (name, delay) in names.iter().zip(["0.1", "0.15", "0.2", "0.25"]) {
        let path = providers.join(format!("secretsd-provider-{name}"));
        std::fs::write(&path, &script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        config.push_str(&format!(
            "[providers.{name}]\ndelay = \"{delay}\"\nlog = \"{}\"\n",
            log.display()
        ));
    }
    std::fs::write(bench.home.join(".config/secretsd/config.toml"), config).unwrap();
    let manifest = |only: Option<&str>| {
        let mut text = String::from("[env]\n");
        for i in 0..100 {
            let name = names[i % 4];
            if only.is_none_or(|o| o == name) {
                text.push_str(&format!("VAR_{i} = \"{name}:key/{i}\"\n"));
            }
        }
        text
    };
    let all = bench.home.join("all.toml");
    let slowest = bench.home.join("slowest.toml");
    std::fs::write(&all, manifest(None)).unwrap();
    std::fs::write(&slowest, manifest(Some("p-250"))).unwrap();
    let run = |manifest: &Path| {
        let mut command = vault_command(
            &bench,
            &[
                "run",
                "--manifest",
                manifest.to_str().unwrap(),
                "--",
                "true",
            ],
        );
        command.env("VAULT_PROVIDER_PATH", &providers);
        command
    };
    let runs = runs.min(7);
    let together = time(runs, None, || run(&all));
    let alone = time(runs, None, || run(&slowest));
    let _ = std::fs::remove_file(&log);
    let status = run(&all).status().unwrap();
    assert!(status.success());
    let logged = std::fs::read_to_string(&log).unwrap();
    let starts = logged.lines().filter(|l| l.starts_with("start ")).count();
    let gets = logged.lines().filter(|l| l.starts_with("get ")).count();
    let ratio = together.as_secs_f64() / alone.as_secs_f64();
    println!(
        "| 100 refs, 4 providers | run | {} | {} | {ratio:.2}x | run with the slowest provider's 25 refs |",
        ms(together),
        ms(alone)
    );
    println!();
    println!(
        "target: vault run over 4 providers: {ratio:.2}x the slowest alone (target <= 1.2x: {}); {starts} provider starts and {gets} get requests for 100 references",
        if ratio <= 1.2 { "met" } else { "MISSED" }
    );
}

/// The lifecycle commands on a 10,000-secret vault, against the floor of the same file
/// work done by the age CLI and cp: a rotation (4 secrets, one of them a JWT, 2 .env files)
/// against decrypting and re-encrypting the vault and copying both files; a restore
/// against decrypting the backup and copying it into place; a sync of 12 variables from
/// one .env into another against copying the file.
fn lifecycle_benchmark(runs: usize) {
    let bench = prepare(10_000);
    let dir = &bench.home;
    std::fs::write(
        dir.join("app.env"),
        "# app\nDB_PASSWORD=x\nJWT_SECRET=y\nLOG_LEVEL=info\n",
    )
    .unwrap();
    std::fs::write(dir.join("api.env"), "ANON_KEY=a\nAPI_TOKEN=b\nPORT=8080\n").unwrap();
    std::fs::write(
        dir.join("policy.toml"),
        r#"[secrets.DB_PASSWORD]
type = "random"
files = ["app.env"]
[secrets.JWT_SECRET]
type = "random"
length = 40
files = ["app.env"]
[secrets.ANON_KEY]
type = "jwt"
depends_on = "JWT_SECRET"
role = "anon"
files = ["api.env"]
[secrets.API_TOKEN]
type = "random"
files = ["api.env"]
"#,
    )
    .unwrap();
    let source: String = (0..12)
        .map(|i| format!("API_{i}=value-{i}-{}\n", "x".repeat(30)))
        .collect();
    std::fs::write(dir.join("source.env"), &source).unwrap();
    let decrypt = format!(
        "age -d -i '{}' '{}'",
        bench.identity.display(),
        bench.vault.display()
    );
    let rotate = time(runs, None, || {
        let mut command = vault_command(&bench, &["rotate", "--policy", "policy.toml"]);
        command.current_dir(dir);
        command
    });
    let rotate_floor = time(runs, None, || {
        shell(
            &format!(
                "{decrypt} | age -e -r {} -o next.age && cp app.env app.next && cp api.env api.next",
                bench.recipient
            ),
            dir,
        )
    });
    let restore = time(runs, None, || {
        vault_command(&bench, &["restore", "--latest", "--no-files"])
    });
    let restore_floor = time(runs, None, || {
        shell(
            &format!(
                "{decrypt} > /dev/null && cp '{}' restored.age",
                bench.vault.display()
            ),
            dir,
        )
    });
    let target = dir.join("target.env");
    let sync_args = [
        "sync".to_string(),
        "--from".into(),
        format!("dotenv:{}", dir.join("source.env").display()),
        "--to".into(),
        format!("dotenv:{}", target.display()),
    ];
    let sync = time(runs, None, || {
        // Each run finds the target as it was, so each one writes.
        std::fs::write(&target, "LOCAL=1\n").unwrap();
        let args: Vec<&str> = sync_args.iter().map(String::as_str).collect();
        vault_command(&bench, &args)
    });
    let sync_floor = time(runs, None, || {
        std::fs::write(&target, "LOCAL=1\n").unwrap();
        shell("cp source.env target.env", dir)
    });
    for (name, vault, floor, floor_name) in [
        (
            "rotate 4 secrets + 2 .env files, 10,000 secrets",
            rotate,
            rotate_floor,
            "age -d piped to age -e, cp 2 files",
        ),
        (
            "restore --latest, 10,000 secrets",
            restore,
            restore_floor,
            "age -d, cp",
        ),
        ("sync 12 variables .env -> .env", sync, sync_floor, "cp"),
    ] {
        println!(
            "| {name} | vault | {} | {} | {:.2}x | {floor_name} |",
            ms(vault),
            ms(floor),
            vault.as_secs_f64() / floor.as_secs_f64()
        );
    }
}

fn main() {
    // `cargo bench` passes --bench; there are no filters to honour.
    let runs: usize = std::env::var("VAULT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    println!(
        "vault benchmarks: median of {runs} runs each; floor = the same work with the age CLI"
    );
    println!();
    println!("| secrets | command | vault (ms) | floor (ms) | ratio | floor command |");
    println!("|--------:|---------|-----------:|-----------:|------:|---------------|");
    let mut set_10k = Duration::ZERO;
    let mut exec_verdicts = Vec::new();
    let mut memory_line = String::new();
    for (size_index, count) in SIZES.into_iter().enumerate() {
        let bench = prepare(count);
        let decrypt = format!(
            "age -d -i '{}' '{}'",
            bench.identity.display(),
            bench.vault.display()
        );
        let get_floor = time(runs, None, || shell(&decrypt, &bench.home));
        let get = time(runs, None, || {
            vault_command(&bench, &["get", "--reveal", "SECRET_5"])
        });
        let reencrypt = format!("{decrypt} | age -e -r {} -o next.age", bench.recipient);
        let set_floor = time(runs, None, || shell(&reencrypt, &bench.home));
        let set = time(runs, Some("new-value-0123456789"), || {
            vault_command(&bench, &["set", "SECRET_5"])
        });
        if count == 10_000 {
            set_10k = set;
        }
        // The floor has the N variables in its environment already, as a shell that
        // sourced a .env has — never on argv, where GNU env's own setenv loop is quadratic —
        // and vault gets the same environment, so both pay for inheriting it.
        let inherited: Vec<(String, String)> = bench
            .pairs
            .iter()
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        let env_floor = time(runs, None, || {
            let mut command = Command::new("env");
            command.arg("/bin/true").envs(inherited.iter().cloned());
            command
        });
        let age_env = time(runs, None, || {
            let mut command = shell(
                &format!("{decrypt} > /dev/null && exec env /bin/true"),
                &bench.home,
            );
            command.envs(inherited.iter().cloned());
            command
        });
        let exec = time(runs, None, || {
            let mut command = vault_command(&bench, &["exec", "--", "/bin/true"]);
            command.envs(inherited.iter().cloned());
            command
        });
        // And with nothing inherited: vault delivers the N variables itself, against the
        // same floor (a program that starts with those N variables).
        let empty_floor = env_floor;
        let exec_empty = time(runs, None, || {
            vault_command(&bench, &["exec", "--", "/bin/true"])
        });
        let ratio = exec.as_secs_f64() / env_floor.as_secs_f64();
        let target = TARGET_EXEC_RATIO[size_index];
        let empty_ratio = exec_empty.as_secs_f64() / empty_floor.as_secs_f64();
        exec_verdicts.push(format!(
            "vault exec at {count} with nothing inherited: {empty_ratio:.2}x env /bin/true (target <= {target}x: {})",
            if empty_ratio <= target { "met" } else { "MISSED" }
        ));
        exec_verdicts.push(format!(
            "vault exec at {count} with them inherited: {ratio:.2}x env /bin/true (target <= {target}x: {})",
            if ratio <= target { "met" } else { "MISSED" }
        ));
        if count == 1_000 {
            // What a TAB press costs: the completion script asks vault for names.
            let complete = time(runs, None, || {
                let mut command = vault_command(&bench, &["--", "vault", "get", "SECRET_9"]);
                command
                    .env("COMPLETE", "bash")
                    .env("_CLAP_COMPLETE_INDEX", "2")
                    .env("_CLAP_IFS", "\n");
                command
            });
            exec_verdicts.push(format!(
                "completing a secret name at 1,000 secrets: {} ms (target <= 50 ms: {}; {:.2} of the budget)",
                ms(complete),
                if complete <= Duration::from_millis(50) { "met" } else { "MISSED" },
                complete.as_secs_f64() / 0.050
            ));
        }
        if count == 10_000 {
            let peak_kib = peak_memory_kib(vault_command(&bench, &["exec", "--", "true"]));
            let budget_kib = (3 * bench.plaintext_bytes as i64 + 8 * 1024 * 1024) / 1024;
            memory_line = format!(
                "peak memory of vault exec at 10,000: {peak_kib} KiB; budget 3 x {} KiB plaintext + 8 MiB = {budget_kib} KiB ({:.2} of the budget: {})",
                bench.plaintext_bytes / 1024,
                peak_kib as f64 / budget_kib as f64,
                if peak_kib <= budget_kib {
                    "met"
                } else {
                    "MISSED"
                }
            );
        }
        for (name, vault, floor, floor_name) in [
            ("get --reveal", get, get_floor, "age -d"),
            ("set", set, set_floor, "age -d, piped to age -e"),
            (
                "exec -- true, N variables inherited",
                exec,
                env_floor,
                "env /bin/true, same N inherited",
            ),
            (
                "exec -- true, N variables inherited",
                exec,
                age_env,
                "age -d, then env /bin/true, same N inherited",
            ),
            (
                "exec -- true, nothing inherited",
                exec_empty,
                empty_floor,
                "env /bin/true, the N variables inherited",
            ),
        ] {
            println!(
                "| {count} | {name} | {} | {} | {:.2}x | {floor_name} |",
                ms(vault),
                ms(floor),
                vault.as_secs_f64() / floor.as_secs_f64()
            );
        }
    }
    println!();
    for line in exec_verdicts {
        println!("target: {line}");
    }
    println!("target: {memory_line}");
    println!();
    println!("| workload | command | vault (ms) | floor (ms) | ratio | floor command |");
    println!("|----------|---------|-----------:|-----------:|------:|---------------|");
    provider_benchmark(runs);
    println!();
    println!("| lifecycle | command | vault (ms) | floor (ms) | ratio | floor command |");
    println!("|-----------|---------|-----------:|-----------:|------:|---------------|");
    lifecycle_benchmark(runs);
    let verdict = if set_10k <= TARGET_SET_10K {
        "met"
    } else {
        "MISSED"
    };
    println!(
        "target: vault set into 10,000 secrets <= {} ms median: {} ms ({verdict}; {:.2} of the budget)",
        TARGET_SET_10K.as_millis(),
        ms(set_10k),
        set_10k.as_secs_f64() / TARGET_SET_10K.as_secs_f64()
    );
}
