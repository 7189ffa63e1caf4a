//! The keyring provider against the real things: GNOME Keyring's Secret Service inside a
//! private D-Bus session, and the kernel keyring in a private session keyring.

mod common;

use std::process::Command;

use common::{TestHome, stderr, stdout};

/// PATH with the workspace's built binaries (vault and the providers) first.
fn binaries_path() -> String {
    let vault = assert_cmd::cargo::cargo_bin("vault");
    let dir = vault.parent().unwrap();
    assert!(
        dir.join("secretsd-provider-keyring").exists(),
        "build the providers first: cargo build --workspace (scripts/test does)"
    );
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Runs `script` with bash under `wrapper` (dbus-run-session or keyctl session) in a
/// clean home whose config selects `backend`.
fn run_under(wrapper: &[&str], backend: &str, script: &str) -> std::process::Output {
    let home = TestHome::new();
    std::fs::create_dir_all(home.path().join("config/secretsd")).unwrap();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!("[providers.keyring]\nbackend = \"{backend}\"\nservice = \"secretsd-test\"\n"),
    )
    .unwrap();
    let runtime = home.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    common::chmod(&runtime, 0o700);
    let output = Command::new(wrapper[0])
        .args(&wrapper[1..])
        .args(["bash", "-euc", script])
        .env_clear()
        .env("PATH", binaries_path())
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join("config"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .output()
        .expect("the wrapper (dbus-run-session from dbus, keyctl from keyutils) must be installed");
    drop(home);
    output
}

const UNLOCK: &str = "eval \"$(printf throwaway | gnome-keyring-daemon --unlock --components=secrets)\" >/dev/null\n";

#[test]
fn secret_service_items_flow_both_ways_with_secret_tool() {
    let script = format!(
        "{UNLOCK}printf 'stored-by-secret-tool' | secret-tool store --label=t service secretsd-test username FROM_TOOL
echo \"get: $(vault get --reveal keyring:FROM_TOOL)\"
printf 'stored-by-vault' | vault -q set keyring:FROM_VAULT
echo \"lookup: $(secret-tool lookup service secretsd-test username FROM_VAULT)\"
echo \"list: $(vault list keyring: | tr '\\n' ' ')\"
echo \"from: $(vault list keyring:FROM_ | tr '\\n' ' ')\"
vault -q rm keyring:FROM_VAULT
vault exists keyring:FROM_VAULT || echo \"gone: $?\"
"
    );
    let output = run_under(&["dbus-run-session", "--"], "secret-service", &script);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("get: stored-by-secret-tool\n"), "{text}");
    assert!(text.contains("lookup: stored-by-vault\n"), "{text}");
    assert!(text.contains("list: FROM_TOOL FROM_VAULT \n"), "{text}");
    assert!(text.contains("gone: 3\n"), "{text}");
}

#[test]
fn secret_service_provider_passes_the_conformance_kit() {
    let script = format!("{UNLOCK}vault provider check keyring\n");
    let output = run_under(&["dbus-run-session", "--"], "secret-service", &script);
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("15 passed, 0 failed"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn no_secret_service_on_the_bus_names_the_keyutils_backend() {
    // A session bus address where nothing answers. (On a private dbus-run-session bus,
    // D-Bus activation would start gnome-keyring-daemon on demand.)
    let output = run_under(
        &["env", "DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent/bus"],
        "secret-service",
        "vault get keyring:ANYTHING || echo \"exit $?\"",
    );
    let text = format!("{}{}", stdout(&output), stderr(&output));
    assert!(text.contains("no Secret Service"), "{text}");
    assert!(text.contains("backend = \"keyutils\""), "{text}");
    assert!(text.contains("exit 5"), "{text}");
}

#[test]
fn kernel_keyring_items_flow_both_ways_with_keyctl() {
    let script =
        "keyctl add user keyring-rs:FROM_KEYCTL@secretsd-test stored-by-keyctl @s >/dev/null
echo \"get: $(vault get --reveal keyring:FROM_KEYCTL)\"
printf 'stored-by-vault' | vault -q set keyring:FROM_VAULT
echo \"print: $(keyctl print $(keyctl search @s user keyring-rs:FROM_VAULT@secretsd-test))\"
keyctl add user keyring-rs:OF_ANOTHER_SERVICE@elsewhere other @s >/dev/null
ring=$(keyctl newring unreachable @s)
keyctl add user keyring-rs:UNREACHABLE@secretsd-test gone $ring >/dev/null
keyctl unlink $ring @s >/dev/null
echo \"list: $(vault list keyring: | tr '\\n' ' ')\"
echo \"from: $(vault list keyring:FROM_ | tr '\\n' ' ')\"
echo \"prefix: $(vault list keyring:FROM_K | tr '\\n' ' ')\"
vault -q rm keyring:FROM_VAULT
vault exists keyring:FROM_VAULT || echo \"gone: $?\"
";
    let output = run_under(&["keyctl", "session", "-"], "keyutils", script);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("get: stored-by-keyctl\n"), "{text}");
    assert!(text.contains("print: stored-by-vault\n"), "{text}");
    // Listed: this service's keys that get would find, never a value.
    // (Other tests' keys of this service may be there too: the keyring crate links every
    // key into the user's persistent keyring, which each session reaches.)
    assert!(text.contains("from: FROM_KEYCTL FROM_VAULT \n"), "{text}");
    let list = text.lines().find(|l| l.starts_with("list: ")).unwrap();
    assert!(list.contains(" FROM_KEYCTL FROM_VAULT "), "{text}");
    assert!(
        !list.contains("OF_ANOTHER_SERVICE") && !list.contains("UNREACHABLE"),
        "{text}"
    );
    assert!(text.contains("prefix: FROM_KEYCTL \n"), "{text}");
    assert!(!text.contains("stored-by-vault "), "{text}");
    assert!(text.contains("gone: 3\n"), "{text}");
}

#[test]
fn kernel_keyring_provider_passes_the_conformance_kit() {
    let output = run_under(
        &["keyctl", "session", "-"],
        "keyutils",
        "vault provider check keyring",
    );
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let text = stdout(&output);
    assert!(text.contains("0 failed"), "{text}");
    assert!(text.contains("1 MiB value: refused cleanly"), "{text}");
}

#[test]
fn the_kernel_keyring_keeps_a_key_between_logins_without_a_session_keyring() {
    // No `keyctl session` here: like a shell from su, cron or an ssh without pam_keyinit,
    // whose "session keyring" is the user-session one. Each vault is a process of its own,
    // so the key must outlive the one that stored it.
    let key = format!("PERSIST_{}", std::process::id());
    let script = format!(
        "printf 'kept' | vault -q set keyring:{key}
echo \"got: $(vault get --reveal keyring:{key})\"
vault -q rm keyring:{key}
vault exists keyring:{key} || echo \"gone: $?\"
"
    );
    let output = run_under(&["env"], "keyutils", &script);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("got: kept\n"), "{text}{}", stderr(&output));
    assert!(text.contains("gone: 3\n"), "{text}");
}
