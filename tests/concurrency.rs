//! Concurrent writers lose no update, and a writer killed at any instant leaves the old or
//! the new vault, never a broken one (docs/DESIGN.md).

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{TestHome, XorShift};

#[test]
fn eight_concurrent_writers_lose_no_update() {
    let home = TestHome::initialised();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        "[backup]\nkeep = 5\n",
    )
    .unwrap();
    std::thread::scope(|scope| {
        for writer in 0..8 {
            let home = &home;
            scope.spawn(move || {
                for i in 0..50 {
                    home.vault(&["set", &format!("W{writer}_N{i}")])
                        .write_stdin(format!("value-{writer}-{i}"))
                        .assert()
                        .success();
                }
            });
        }
    });
    let document = home.age_decrypt();
    let secrets = document["secrets"].as_object().unwrap();
    assert_eq!(secrets.len(), 400);
    for writer in 0..8 {
        for i in 0..50 {
            assert_eq!(
                secrets[&format!("W{writer}_N{i}")]["value"],
                format!("value-{writer}-{i}")
            );
        }
    }
}

fn spawn_set(home: &TestHome, value: &str) -> std::process::Child {
    let mut child = home
        .vault_std(&["set", "KEY"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    child
}

#[test]
fn a_writer_killed_at_any_moment_leaves_the_old_or_the_new_vault() {
    let home = TestHome::initialised();
    // Padding makes each write large enough that kills land inside it, not only around it.
    for i in 0..200 {
        home.set(&format!("PAD_{i}"), &"p".repeat(500));
    }
    home.set("KEY", "value-initial");
    let started = Instant::now();
    spawn_set(&home, "value-timing").wait().unwrap();
    let one_write = started.elapsed().as_micros() as u64;
    let mut current = "value-timing".to_string();

    let seed = 0x5eed_1234_abcd_0042u64;
    let mut random = XorShift(seed);
    let mut completed = 0;
    for attempt in 0..100 {
        let next = format!("value-{attempt}");
        let mut child = spawn_set(&home, &next);
        std::thread::sleep(Duration::from_micros(
            random.next() % (one_write + one_write / 4),
        ));
        let _ = child.kill();
        let status = child.wait().unwrap();
        let document = home.age_decrypt();
        let value = document["secrets"]["KEY"]["value"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            value == current || value == next,
            "attempt {attempt} (seed {seed:#x}): found {value:?}, expected {current:?} or {next:?}"
        );
        assert_eq!(document["secrets"].as_object().unwrap().len(), 201);
        if value == next {
            current = next;
        }
        if status.success() {
            completed += 1;
        }
    }
    // The kills must have interrupted some writes, or the test proved nothing.
    assert!(completed < 100, "no write was interrupted");
    // A later writer clears temp files the killed ones left behind.
    home.set("KEY", "after");
    let leftovers: Vec<_> = std::fs::read_dir(home.vault_file().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
