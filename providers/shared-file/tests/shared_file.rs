//! secretsd-provider-shared-file, driven through the protocol client as vault drives it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use secretsd_protocol::client::{ClientError, ClientOptions, ProviderProcess};
use secretsd_protocol::conformance::{CheckOptions, check, failures};
use secretsd_protocol::{Config, ErrorKind, SecretValue};

const BINARY: &str = env!("CARGO_BIN_EXE_secretsd-provider-shared-file");

fn config(path: &Path) -> Config {
    let mut config = Config::new();
    config.insert("path".into(), path.display().to_string().into());
    config
}

fn start(binary: &Path) -> ProviderProcess {
    ProviderProcess::spawn("shared-file", binary, ClientOptions::default()).unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn passes_the_conformance_kit() {
    let dir = tempfile::tempdir().unwrap();
    let options = CheckOptions {
        config: config(&dir.path().join("shared.env")),
        key_prefix: "SECRETSD_CHECK_".into(),
        client: ClientOptions::default(),
    };
    let cases = check("shared-file", Path::new(BINARY), &options);
    let failures = failures(&cases);
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(cases.len() >= 10);
}

#[test]
fn edits_keep_comments_order_unrelated_lines_and_mode() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api-secrets.env");
    let original = "# Shared API secrets — managed by ops\n\
export NINJA_CLIENT_ID=ninja-id   # from the portal\n\
THREATLOCKER_API_KEY=\"tl-key\"\n\
\n\
# trailing comment\n";
    std::fs::write(&file, original).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let mut provider = start(Path::new(BINARY));
    let config = config(&file);
    provider
        .set(
            &config,
            "THREATLOCKER_API_KEY",
            SecretValue::new("new key with 'quotes'"),
        )
        .unwrap();
    provider
        .set(&config, "CONNECTWISE_PRIVATE_KEY", SecretValue::new("cw"))
        .unwrap();
    provider.delete(&config, "NINJA_CLIENT_ID").unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        text,
        "# Shared API secrets — managed by ops\n\
THREATLOCKER_API_KEY='new key with \\'quotes\\''\n\
\n\
# trailing comment\n\
CONNECTWISE_PRIVATE_KEY=cw\n"
    );
    assert_eq!(mode(&file), 0o640, "the file keeps its mode");
    let answer = provider
        .get(
            &config,
            &["THREATLOCKER_API_KEY".into(), "NINJA_CLIENT_ID".into()],
        )
        .unwrap();
    assert_eq!(
        answer.values["THREATLOCKER_API_KEY"].expose(),
        "new key with 'quotes'"
    );
    assert_eq!(answer.errors["NINJA_CLIENT_ID"].kind, ErrorKind::NotFound);
    provider.close().unwrap();
}

#[test]
fn a_new_file_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new.env");
    let mut provider = start(Path::new(BINARY));
    provider
        .set(&config(&file), "FIRST", SecretValue::new("1"))
        .unwrap();
    assert_eq!(mode(&file), 0o600);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "FIRST=1\n");
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("busy.env");
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let file = file.clone();
            scope.spawn(move || {
                let mut provider = start(Path::new(BINARY));
                for i in 0..25 {
                    provider
                        .set(
                            &config(&file),
                            &format!("W{writer}_{i}"),
                            SecretValue::new(format!("{writer}-{i}")),
                        )
                        .unwrap();
                }
                provider.close().unwrap();
            });
        }
    });
    let mut provider = start(Path::new(BINARY));
    let keys = provider.list(&config(&file), None).unwrap().keys;
    assert_eq!(keys.len(), 100);
}

/// A wrapper that runs the provider as `nobody`, so that file permissions apply even when
/// the tests run as root.
fn as_nobody(dir: &Path) -> PathBuf {
    let wrapper = dir.join("provider-as-nobody");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nexec setpriv --reuid=65534 --regid=65534 --clear-groups {BINARY}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

#[test]
fn an_unreadable_file_is_denied_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let file = dir.path().join("root-only.env");
    std::fs::write(&file, "SECRET=x\n").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let binary = if running_as_root() {
        as_nobody(dir.path())
    } else {
        PathBuf::from(BINARY)
    };
    let mut provider = start(&binary);
    match provider.get(&config(&file), &["SECRET".into()]) {
        Err(ClientError::Failed { error, .. }) => {
            assert_eq!(error.kind, ErrorKind::Denied);
            assert!(
                error.to_string().contains(&file.display().to_string()),
                "{error}"
            );
        }
        other => panic!("expected denied, got {:?}", other.map(|a| a.values.len())),
    }
}

#[test]
fn a_missing_path_setting_is_invalid() {
    let mut provider = start(Path::new(BINARY));
    match provider.get(&Config::new(), &["X".into()]) {
        Err(ClientError::Failed { error, .. }) => {
            assert_eq!(error.kind, ErrorKind::Invalid);
            assert!(error.message.contains("[providers.shared-file]"));
        }
        other => panic!("expected invalid, got {:?}", other.map(|a| a.values.len())),
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
