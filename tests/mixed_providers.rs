//! One `vault run` whose manifest mixes `aws:`, `openbao:` and `secret:` references: both
//! remote providers (against moto_server and a real OpenBao dev server, on free loopback
//! ports, stopped when the test ends) and the vault itself resolve into one command's
//! environment, and no value reaches stderr, even under -v.

#[path = "common/bao.rs"]
#[allow(dead_code)]
mod bao;
mod common;

use common::{MOTO_KEY_ID, MOTO_SECRET_KEY, MotoServer, TestHome, stderr, stdout};

#[test]
fn run_resolves_aws_openbao_and_vault_references_together() {
    let moto = MotoServer::start();
    moto.boto(
        "sm.create_secret(Name='prod/db', SecretString='{\"password\":\"aws-db-pw-31\"}')\n\
         ssm.put_parameter(Name='/prod/api', Value='aws-param-47', Type='SecureString')\n",
    );
    let openbao = bao::DevServer::start();
    openbao.ok(&["kv", "put", "secret/app", "SMTP=bao-smtp-58"]);
    let home = TestHome::initialised();
    std::fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[providers.aws]\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\n\n\
             [providers.openbao]\naddress = \"{}\"\n",
            moto.url,
            openbao.address()
        ),
    )
    .unwrap();
    home.set("LOCAL_KEY", "vault-local-69");
    let manifest = home.path().join("app.toml");
    std::fs::write(
        &manifest,
        "[env]\nDB_PASSWORD = \"aws:sm:prod/db#password\"\nAPI_KEY = \"aws:ssm:/prod/api\"\n\
         SMTP = \"openbao:secret/app#SMTP\"\nLOCAL = \"secret:LOCAL_KEY\"\n",
    )
    .unwrap();
    let binaries = assert_cmd::cargo::cargo_bin("vault");
    for verbose in [false, true] {
        let mut args = vec!["run", "--manifest", manifest.to_str().unwrap()];
        if verbose {
            args.insert(0, "-v");
        }
        args.extend([
            "--",
            "sh",
            "-c",
            "echo \"$DB_PASSWORD $API_KEY $SMTP $LOCAL\"",
        ]);
        let output = home
            .vault_std(&args)
            .env("VAULT_PROVIDER_PATH", binaries.parent().unwrap())
            .env("AWS_ACCESS_KEY_ID", MOTO_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", MOTO_SECRET_KEY)
            .env("BAO_TOKEN", &openbao.root_token)
            .output()
            .unwrap();
        let said = stderr(&output);
        assert!(output.status.success(), "{said}");
        assert_eq!(
            stdout(&output),
            "aws-db-pw-31 aws-param-47 bao-smtp-58 vault-local-69\n"
        );
        for value in [
            "aws-db-pw-31",
            "aws-param-47",
            "bao-smtp-58",
            "vault-local-69",
            MOTO_SECRET_KEY,
            openbao.root_token.as_str(),
        ] {
            assert!(!said.contains(value), "{value} on stderr: {said}");
        }
        if verbose {
            // The -v run did say something: both providers were asked.
            assert!(said.contains("provider openbao"), "{said}");
            assert!(said.contains("provider aws"), "{said}");
        }
    }
}
