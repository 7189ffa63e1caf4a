//! What the agent tests share: a home with two secrets, its grants' directory, and
//! `vault agent grant`.

use std::path::PathBuf;

use super::{TestHome, stderr, stdout};

pub const API_KEY: &str = "sk_live_4f9a8b7c6d5e4f3a2b1c";
pub const DB_PASSWORD: &str = "other-secret-value-123";

/// An initialised home holding `API_KEY` and `DB_PASSWORD`.
pub fn home() -> TestHome {
    let home = TestHome::initialised();
    home.set("API_KEY", API_KEY);
    home.set("DB_PASSWORD", DB_PASSWORD);
    home
}

/// Where the home's grants live.
pub fn agents_dir(home: &TestHome) -> PathBuf {
    home.path().join(".local/state/secretsd/agents")
}

/// `vault agent grant ARGS`: the key's path, the last line of stdout.
pub fn grant(home: &TestHome, args: &[&str]) -> PathBuf {
    let mut all = vec!["agent", "grant"];
    all.extend_from_slice(args);
    let output = home.vault(&all).output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    PathBuf::from(stdout(&output).lines().last().unwrap())
}
