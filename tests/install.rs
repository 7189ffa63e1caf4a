//! scripts/install puts every piece where the system looks for it, under PREFIX.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs scripts/install (debug build) as `configure` sets it up; it must succeed.
fn install(configure: impl FnOnce(&mut Command) -> &mut Command) -> Output {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut command = Command::new(root.join("scripts/install"));
    command.env("PROFILE", "debug");
    let output = configure(&mut command).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn installs_binaries_man_pages_and_completions_under_prefix() {
    let prefix = tempfile::tempdir().unwrap();
    install(|c| c.env("PREFIX", prefix.path()));
    for file in [
        "bin/vault",
        "bin/secretsd-provider-shared-file",
        "bin/secretsd-provider-gopass",
        "bin/secretsd-provider-keyring",
        "bin/secretsd-provider-infisical",
        "bin/secretsd-provider-openbao",
        "bin/secretsd-provider-aws",
        "share/man/man1/vault.1",
        "share/man/man1/vault-exec.1",
        "share/man/man7/secretsd-provider.7",
        "share/bash-completion/completions/vault",
        "share/zsh/site-functions/_vault",
        "share/fish/vendor_completions.d/vault.fish",
    ] {
        assert!(
            prefix.path().join(file).is_file(),
            "{file} was not installed"
        );
    }
    let version = Command::new(prefix.path().join("bin/vault"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("vault "));
    // The installed page renders.
    let man = Command::new("mandoc")
        .args(["-T", "html"])
        .arg(prefix.path().join("share/man/man1/vault-run.1"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&man.stdout).contains("id=\"EXIT_STATUS\""));
}

#[test]
fn user_mode_needs_no_root_and_puts_completions_where_shells_look() {
    let home = tempfile::tempdir().unwrap();
    let output = install(|c| {
        c.arg("--user")
            .env_remove("PREFIX")
            .env_remove("XDG_DATA_HOME")
            .env_remove("XDG_CONFIG_HOME")
            .env("HOME", home.path())
    });
    for file in [
        ".cargo/bin/vault",
        ".cargo/bin/secretsd-provider-infisical",
        ".cargo/bin/secretsd-provider-openbao",
        ".cargo/share/man/man1/vault.1",
        ".cargo/share/zsh/site-functions/_vault",
        ".local/share/bash-completion/completions/vault",
        ".config/fish/completions/vault.fish",
    ] {
        assert!(home.path().join(file).is_file(), "{file} was not installed");
    }
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("fpath+=("), "{said}");
}
