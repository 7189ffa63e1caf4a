//! The setup from the field notes, end to end: Infisical machine-identity credentials kept
//! in pass, and one `vault run` manifest mixing the vault, Infisical, the kernel keyring
//! and a shared .env file — each provider started once, everything resolved before the
//! command starts.

mod common;

use std::process::Command;

use common::{TestHome, stderr, stdout};

#[test]
fn infisical_credentials_in_pass_and_one_manifest_over_four_backends() {
    let home = TestHome::initialised();
    home.set("DB_USER", "billing");
    let dir = home.path();
    let bin = assert_cmd::cargo::cargo_bin("vault")
        .parent()
        .unwrap()
        .to_path_buf();

    // pass with a throwaway GnuPG key, holding the Infisical machine identity.
    let pass = common::PassStore::new(dir);
    for (entry, value) in [
        ("infisical/client-id", "machine-id"),
        ("infisical/client-secret", "machine-secret"),
    ] {
        pass.insert(entry, value);
    }

    // Infisical: the local server that follows its documented API.
    let seed = dir.join("seed.json");
    std::fs::write(
        &seed,
        r#"{"client_id":"machine-id","client_secret":"machine-secret","project_id":"billing-project",
            "secrets":{"prod":{"/":{},"/app":{},"/app/db":{"PASSWORD":"from-infisical"}}}}"#,
    )
    .unwrap();
    let server = common::InfisicalServer::start(&seed);
    let url = server.url.clone();

    // A shared, root-style .env file.
    let shared = dir.join("api-secrets.env");
    std::fs::write(
        &shared,
        "# shared by several services\nNINJA_CLIENT_ID=ninja-from-shared-file\n",
    )
    .unwrap();

    // Wrappers that log each provider start, then become the real provider.
    let wrappers = dir.join("providers");
    std::fs::create_dir(&wrappers).unwrap();
    let starts = dir.join("starts.log");
    for name in ["gopass", "infisical", "keyring", "shared-file"] {
        let wrapper = wrappers.join(format!("secretsd-provider-{name}"));
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\necho {name} >> {}\nexec {} \"$@\"\n",
                starts.display(),
                bin.join(format!("secretsd-provider-{name}")).display()
            ),
        )
        .unwrap();
        common::chmod(&wrapper, 0o755);
    }

    std::fs::write(
        dir.join("config/secretsd/config.toml"),
        format!(
            r#"[providers.gopass]
command = "pass"

[providers.infisical]
base_url = "{url}"
client_id = "gopass:infisical/client-id"
client_secret = "gopass:infisical/client-secret"
project_id = "billing-project"
environment = "prod"

[providers.keyring]
backend = "keyutils"

[providers.shared-file]
path = "{}"
"#,
            shared.display()
        ),
    )
    .unwrap();
    let manifest = dir.join("billing.toml");
    std::fs::write(
        &manifest,
        r#"[env]
DB_USER = "secret:DB_USER"
DB_PASSWORD = "infisical:/app/db/PASSWORD"
API_TOKEN = "keyring:API_TOKEN"
NINJA_CLIENT_ID = "shared-file:NINJA_CLIENT_ID"
"#,
    )
    .unwrap();

    // The kernel keyring lives in a private session keyring for this test.
    let script = format!(
        "printf 'from-kernel-keyring' | vault -q set keyring:API_TOKEN && rm -f {starts} && \
         vault run --manifest {manifest} -- sh -c 'echo \"$DB_USER|$DB_PASSWORD|$API_TOKEN|$NINJA_CLIENT_ID\"'",
        starts = starts.display(),
        manifest = manifest.display(),
    );
    let mut command = Command::new("keyctl");
    command
        .args(["session", "-", "sh", "-c", &script])
        .env_clear()
        .env(
            "PATH",
            format!(
                "{}:{}",
                bin.display(),
                std::env::var("PATH").unwrap_or_default()
            ),
        )
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("VAULT_PROVIDER_PATH", &wrappers)
        .envs(pass.env());
    let result = command.output().unwrap();
    drop(pass);
    drop(server);

    assert!(
        result.status.success(),
        "{}{}",
        stdout(&result),
        stderr(&result)
    );
    assert_eq!(
        stdout(&result).lines().last().unwrap(),
        "billing|from-infisical|from-kernel-keyring|ninja-from-shared-file"
    );
    let mut started: Vec<String> = std::fs::read_to_string(&starts)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    started.sort();
    assert_eq!(
        started,
        ["gopass", "infisical", "keyring", "shared-file"],
        "one process per provider"
    );
}
