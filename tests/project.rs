//! Project manifests: `secretsd.toml` found upward from the current directory, variables
//! with descriptions, optional ones and defaults, `vault check`, `vault init --project`.

mod common;

use std::fs;

use common::{TestHome, stderr, stdout};

#[test]
fn init_project_writes_a_template_that_checks_clean_and_is_never_overwritten() {
    let home = TestHome::initialised();
    home.vault(&["init", "--project"]).assert().success();
    let template = fs::read_to_string(home.path().join("secretsd.toml")).unwrap();
    assert!(template.contains("[env]"), "{template}");
    let output = home.vault(&["check"]).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let output = home.vault(&["init", "--project"]).output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        fs::read_to_string(home.path().join("secretsd.toml")).unwrap(),
        template
    );
}

#[test]
fn run_finds_the_project_manifest_from_a_subdirectory() {
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "from-the-vault");
    let output = home.vault(&["run", "--", "true"]).output().unwrap();
    assert_eq!(output.status.code(), Some(125));
    assert!(
        stderr(&output).contains("vault init --project"),
        "{}",
        stderr(&output)
    );
    fs::write(
        home.path().join("secretsd.toml"),
        "[env]\nDB_PASSWORD = \"secret:DB_PASSWORD\"\n",
    )
    .unwrap();
    let deep = home.path().join("src/app/views");
    fs::create_dir_all(&deep).unwrap();
    let output = home
        .vault(&["run", "--", "sh", "-c", "printf %s \"$DB_PASSWORD\""])
        .current_dir(&deep)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "from-the-vault");
}

const MANIFEST: &str = r#"
[env]
DB_PASSWORD = { from = "secret:DB_PASSWORD", description = "the app's database" }
API_KEY = { description = "the payment provider" }
WEBHOOK_SECRET = "secret:WEBHOOK_SECRET"
LOG_LEVEL = { required = false, default = "info" }
SENTRY_DSN = { required = false }
"#;

#[test]
fn check_lists_every_variable_and_names_all_missing_required_ones() {
    let home = TestHome::initialised();
    home.set("DB_PASSWORD", "a-long-database-password");
    fs::write(home.path().join("secretsd.toml"), MANIFEST).unwrap();
    let output = home.vault(&["check"]).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let table = stdout(&output);
    let state = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in\n{table}"))
            .to_string()
    };
    assert!(
        state("DB_PASSWORD").contains("ok") && state("DB_PASSWORD").contains("a-***rd"),
        "{table}"
    );
    assert!(
        state("DB_PASSWORD").contains("# the app's database"),
        "{table}"
    );
    assert!(state("API_KEY").contains("MISSING"), "{table}");
    assert!(state("WEBHOOK_SECRET").contains("MISSING"), "{table}");
    assert!(state("LOG_LEVEL").contains("default"), "{table}");
    assert!(state("SENTRY_DSN").contains("unset"), "{table}");
    assert!(!table.contains("a-long-database-password"));
    assert!(
        stderr(&output).contains("required variables without a value: API_KEY, WEBHOOK_SECRET"),
        "{}",
        stderr(&output)
    );
    // JSON for tools.
    let output = home.vault(&["check", "--json"]).output().unwrap();
    let items: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let api = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "API_KEY")
        .unwrap();
    assert_eq!(api["state"], "missing");
    assert_eq!(api["from"], "secret:API_KEY");
    assert_eq!(api["description"], "the payment provider");

    // With the two set, run gets the default and leaves the optional one unset.
    home.set("API_KEY", "k");
    home.set("WEBHOOK_SECRET", "w");
    home.vault(&["check"]).assert().success();
    let output = home
        .vault(&[
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s|%s' \"$LOG_LEVEL\" \"${SENTRY_DSN-unset}\"",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "info|unset");
    // A value in the vault wins over the default.
    home.set("LOG_LEVEL", "debug");
    let output = home
        .vault(&["run", "--", "sh", "-c", "printf %s \"$LOG_LEVEL\""])
        .output()
        .unwrap();
    assert_eq!(stdout(&output), "debug");
}

#[test]
fn a_variable_table_with_an_unknown_field_is_refused() {
    let home = TestHome::initialised();
    fs::write(
        home.path().join("secretsd.toml"),
        "[env]\nA = { form = \"secret:A\" }\n",
    )
    .unwrap();
    let output = home.vault(&["check"]).output().unwrap();
    assert_eq!(output.status.code(), Some(6));
    assert!(
        stderr(&output).contains("unknown field \"form\""),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_project_moves_from_a_env_file_to_vault_in_two_commands() {
    let home = TestHome::initialised();
    let project = home.path().join("shop");
    fs::create_dir_all(project.join("src")).unwrap();
    fs::write(
        project.join(".env"),
        "DATABASE_URL=postgres://shop:pw@localhost/shop\nSTRIPE_KEY='sk_test_123'\n",
    )
    .unwrap();
    let output = home
        .vault(&["import", "--dotenv", ".env", "--manifest"])
        .current_dir(&project)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let manifest = fs::read_to_string(project.join("secretsd.toml")).unwrap();
    assert!(
        manifest.contains("DATABASE_URL = \"secret:DATABASE_URL\""),
        "{manifest}"
    );
    assert!(
        manifest.contains("STRIPE_KEY = \"secret:STRIPE_KEY\""),
        "{manifest}"
    );
    fs::remove_file(project.join(".env")).unwrap();
    let output = home
        .vault(&[
            "run",
            "--",
            "sh",
            "-c",
            "printf '%s|%s' \"$DATABASE_URL\" \"$STRIPE_KEY\"",
        ])
        .current_dir(project.join("src"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "postgres://shop:pw@localhost/shop|sk_test_123"
    );
    // Importing again adds nothing twice.
    fs::write(
        project.join(".env"),
        "STRIPE_KEY='sk_test_123'\nNEW_ONE=1\n",
    )
    .unwrap();
    home.vault(&[
        "import",
        "--dotenv",
        ".env",
        "--manifest",
        "--skip-existing",
    ])
    .current_dir(&project)
    .assert()
    .success();
    let manifest = fs::read_to_string(project.join("secretsd.toml")).unwrap();
    assert_eq!(manifest.matches("STRIPE_KEY =").count(), 1, "{manifest}");
    assert!(manifest.contains("NEW_ONE = \"secret:NEW_ONE\""));
    home.vault(&["check"])
        .current_dir(&project)
        .assert()
        .success();
}

/// With a lookup chain, `get -v` and `check` say which place answered, never the value.
#[test]
fn get_verbose_and_check_name_the_place_of_the_chain_that_answered() {
    let home = TestHome::initialised();
    for name in ["FROM_ENV", "FROM_DOTENV", "FROM_VAULT"] {
        home.set(name, &format!("vault-value-of-{name}"));
    }
    let dotenv = home.path().join("lookup.env");
    fs::write(&dotenv, "FROM_DOTENV=dotenv-value-0123456789\n").unwrap();
    fs::write(
        home.path().join("config/secretsd/config.toml"),
        format!(
            "[lookup]\norder = [\"env\", \"dotenv:{}\", \"vault\"]\n",
            dotenv.display()
        ),
    )
    .unwrap();
    let place = |name: &str| {
        let output = home
            .vault(&["get", "-v", name])
            .env("FROM_ENV", "env-value-0123456789")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        let said = format!("{}{}", stdout(&output), stderr(&output));
        assert!(!said.contains("value-"), "a value shown: {said}");
        stderr(&output)
    };
    assert!(place("FROM_ENV").contains("FROM_ENV: from env"));
    assert!(
        place("FROM_DOTENV").contains(&format!("FROM_DOTENV: from dotenv:{}", dotenv.display()))
    );
    assert!(place("FROM_VAULT").contains("FROM_VAULT: from vault"));

    fs::write(
        home.path().join("secretsd.toml"),
        "[env]\nA = \"secret:FROM_ENV\"\nB = \"secret:FROM_DOTENV\"\nC = \"secret:FROM_VAULT\"\nD = \"literal:x\"\n",
    )
    .unwrap();
    let output = home
        .vault(&["check"])
        .env("FROM_ENV", "env-value-0123456789")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let table = stdout(&output);
    let row = |variable: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{variable} ")))
            .unwrap_or_else(|| panic!("no {variable} in\n{table}"))
            .to_string()
    };
    assert!(row("A").ends_with("(from env)"), "{table}");
    assert!(
        row("B").ends_with(&format!("(from dotenv:{})", dotenv.display())),
        "{table}"
    );
    assert!(row("C").ends_with("(from vault)"), "{table}");
    assert!(!row("D").contains("(from"), "{table}");
    assert!(!table.contains("value-"), "{table}");
    let output = home
        .vault(&["check", "--json"])
        .env("FROM_ENV", "env-value-0123456789")
        .output()
        .unwrap();
    let items: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let source = |name: &str| {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap()["source"]
            .clone()
    };
    assert_eq!(source("A"), "env");
    assert_eq!(source("C"), "vault");
    assert_eq!(source("D"), serde_json::Value::Null);
}
