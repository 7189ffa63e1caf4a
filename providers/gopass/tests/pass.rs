//! secretsd-provider-gopass against the real `pass` with a throwaway GnuPG key.

use std::path::{Path, PathBuf};
use std::process::Command;

use secretsd_protocol::client::{ClientError, ClientOptions, ProviderProcess};
use secretsd_protocol::conformance::{CheckOptions, check, failures};
use secretsd_protocol::{Config, ErrorKind, SecretValue};

const BINARY: &str = env!("CARGO_BIN_EXE_secretsd-provider-gopass");

/// A GnuPG home with one passphrase-less key and a pass store encrypted to it. The gpg
/// agent it starts is stopped on drop.
struct Store {
    dir: tempfile::TempDir,
}

impl Store {
    fn new() -> Store {
        let dir = tempfile::Builder::new()
            .prefix("pass")
            .tempdir_in("/tmp")
            .unwrap();
        let store = Store { dir };
        std::fs::create_dir(store.gnupg()).unwrap();
        std::fs::set_permissions(
            store.gnupg(),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        store.command(
            "gpg",
            &[
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                "vault test <test@secretsd.invalid>",
                "default",
                "default",
                "never",
            ],
        );
        let listing = store.command("gpg", &["--list-keys", "--with-colons"]);
        let fingerprint = listing
            .lines()
            .find_map(|l| {
                l.strip_prefix("fpr:")
                    .map(|r| r.trim_matches(':').to_string())
            })
            .unwrap();
        store.command("pass", &["init", &fingerprint]);
        store
    }

    fn gnupg(&self) -> PathBuf {
        self.dir.path().join("gnupg")
    }

    fn passwords(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    fn command(&self, program: &str, args: &[&str]) -> String {
        let output = Command::new(program)
            .args(args)
            .env("GNUPGHOME", self.gnupg())
            .env("PASSWORD_STORE_DIR", self.passwords())
            .output()
            .unwrap_or_else(|e| {
                panic!("{program} must be installed (scripts/test installs it): {e}")
            });
        assert!(
            output.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    fn options(&self) -> ClientOptions {
        let mut options = ClientOptions::default();
        options
            .env
            .retain(|(k, _)| k != "GNUPGHOME" && k != "PASSWORD_STORE_DIR");
        options.env.push(("GNUPGHOME".into(), self.gnupg().into()));
        options
            .env
            .push(("PASSWORD_STORE_DIR".into(), self.passwords().into()));
        options
    }

    fn start(&self) -> ProviderProcess {
        ProviderProcess::spawn("gopass", Path::new(BINARY), self.options()).unwrap()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .args(["--kill", "gpg-agent"])
            .env("GNUPGHOME", self.gnupg())
            .status();
    }
}

fn pass_config(field: &str) -> Config {
    let mut config = Config::new();
    config.insert("command".into(), "pass".into());
    config.insert("field".into(), field.into());
    config
}

#[test]
fn passes_the_conformance_kit_with_pass() {
    let store = Store::new();
    let options = CheckOptions {
        config: pass_config("full"),
        key_prefix: "secretsd-check/".into(),
        client: store.options(),
    };
    let cases = check("gopass", Path::new(BINARY), &options);
    let failures = failures(&cases);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn reads_what_pass_wrote_first_line_or_whole() {
    let store = Store::new();
    let entry = "hunter2-password\nusername: alice\nurl: https://example.com\n";
    let mut insert = Command::new("pass")
        .args(["insert", "--multiline", "app/db"])
        .env("GNUPGHOME", store.gnupg())
        .env("PASSWORD_STORE_DIR", store.passwords())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::Write;
    insert
        .stdin
        .take()
        .unwrap()
        .write_all(entry.as_bytes())
        .unwrap();
    assert!(insert.wait().unwrap().success());

    let mut provider = store.start();
    let first = provider
        .get(
            &pass_config("first-line"),
            &["app/db".into(), "app/nope".into()],
        )
        .unwrap();
    assert_eq!(first.values["app/db"].expose(), "hunter2-password");
    assert_eq!(first.errors["app/nope"].kind, ErrorKind::NotFound);
    let full = provider
        .get(&pass_config("full"), &["app/db".into()])
        .unwrap();
    assert_eq!(full.values["app/db"].expose(), entry);
    let listed = provider.list(&pass_config("full"), Some("app/")).unwrap();
    assert_eq!(listed.keys, ["app/db"]);
}

#[test]
fn writes_what_pass_reads() {
    let store = Store::new();
    let mut provider = store.start();
    provider
        .set(
            &pass_config("first-line"),
            "infisical/client-secret",
            SecretValue::new("cs-123 'q' $x"),
        )
        .unwrap();
    assert_eq!(
        store.command("pass", &["show", "infisical/client-secret"]),
        "cs-123 'q' $x"
    );
    provider
        .delete(&pass_config("first-line"), "infisical/client-secret")
        .unwrap();
    match provider.delete(&pass_config("first-line"), "infisical/client-secret") {
        Err(ClientError::Failed { error, .. }) => assert_eq!(error.kind, ErrorKind::NotFound),
        other => panic!("{:?}", other.is_ok()),
    }
    match provider.set(
        &pass_config("first-line"),
        "x",
        SecretValue::new("two\nlines"),
    ) {
        Err(ClientError::Failed { error, .. }) => assert_eq!(error.kind, ErrorKind::Invalid),
        other => panic!("{:?}", other.is_ok()),
    }
}

#[test]
fn a_gpg_failure_is_denied_with_gpgs_reason() {
    let store = Store::new();
    store.command("pass", &["generate", "app/token", "20"]);
    // A GnuPG home without the secret key cannot decrypt.
    let empty = store.dir.path().join("empty-gnupg");
    std::fs::create_dir(&empty).unwrap();
    std::fs::set_permissions(&empty, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let mut options = store.options();
    options.env.retain(|(k, _)| k != "GNUPGHOME");
    options.env.push(("GNUPGHOME".into(), empty.clone().into()));
    let mut provider = ProviderProcess::spawn("gopass", Path::new(BINARY), options).unwrap();
    match provider.get(&pass_config("first-line"), &["app/token".into()]) {
        Err(ClientError::Failed { error, .. }) => {
            assert_eq!(error.kind, ErrorKind::Denied, "{error}");
            assert!(error.to_string().contains("gpg"), "{error}");
        }
        other => panic!("expected denied, got {:?}", other.map(|a| a.values.len())),
    }
    drop(provider);
    let _ = Command::new("gpgconf")
        .args(["--kill", "gpg-agent"])
        .env("GNUPGHOME", &empty)
        .status();
}

#[test]
fn entry_names_cannot_escape_the_store_or_pose_as_options() {
    let store = Store::new();
    let mut provider = store.start();
    for key in ["../outside", "/etc/passwd", "-rf", "a//b", ""] {
        match provider.get(&pass_config("full"), &[key.to_string()]) {
            Err(ClientError::Failed { error, .. }) => {
                assert_eq!(error.kind, ErrorKind::Invalid, "{key:?}")
            }
            other => panic!("{key:?}: {:?}", other.is_ok()),
        }
    }
}

/// gopasspw's gopass cannot be installed here (Debian's package named gopass is another
/// program); its dialect is exercised when it is on PATH.
#[test]
fn gopass_dialect_when_gopass_is_installed() {
    let is_gopasspw = Command::new("gopass")
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .to_lowercase()
                .contains("gopass")
        })
        .unwrap_or(false);
    if !is_gopasspw {
        eprintln!(
            "SKIPPED gopass_dialect_when_gopass_is_installed: gopasspw's gopass is not on PATH"
        );
        return;
    }
    let store = Store::new();
    let mut config = Config::new();
    config.insert("command".into(), "gopass".into());
    let options = CheckOptions {
        config,
        key_prefix: "secretsd-check/".into(),
        client: store.options(),
    };
    let cases = check("gopass", Path::new(BINARY), &options);
    assert!(cases.iter().all(|c| c.outcome.is_ok()));
}
