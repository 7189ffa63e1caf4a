//! secretsd-vault: the `vault` command line, a user of the vault file (`secretsd-store`)
//! and of providers (`secretsd-protocol`).
//!
//! This library target exists for `src/main.rs` and the integration tests, not as an API:
//! what it exports is the command line's definition (`cli`, which `man/` and
//! `completions/` are generated from), the reference and manifest parsers the fuzz tests
//! drive, and the few calls `main` makes. `commands` (which prints) and everything else
//! are private; a program that wants to open a vault uses `secretsd-store`.

pub mod cli;
pub use secretsd_store as store;
pub use secretsd_store::formats;

pub mod error;

mod agent;
mod cache;
mod code_env;
mod commands;
mod complete;
mod config;
mod env_file;
mod environment;
mod file_reference;
mod keeper;
pub mod manifest;
mod merge;
mod parse;
mod process;
mod provider_defaults;
mod providers;
mod pty;
mod redact;
mod regular_file;
pub mod resolve;
mod rotation;
mod scan;
mod scratch;
mod secret_files;
mod secret_meta;
mod service_access;
mod sync;
mod value;

use secretsd_store::{names, paths, trust};

/// What `main` does before anything holds a secret: no core dumps and no reading of this
/// process's memory; then, when vault was started as the keeper of a command it keeps as a
/// child (see `keeper`), that keeper's whole run and its outcome; else `VAULT_IDENTITY_KEY`
/// is taken out of the environment and `None` is returned.
pub fn start() -> Option<error::Result<u8>> {
    process::protect();
    // Before anything touches the environment, which is the command's.
    if let Some(outcome) = keeper::run_if_asked() {
        return Some(outcome);
    }
    process::take_secret_environment();
    None
}

/// When a completion script calls `vault` with COMPLETE set, answers and exits.
pub fn complete_if_asked() {
    complete::answer_if_asked();
}

/// The parser for this run's arguments (the program's name first): the command line of
/// `cli`, with the global options handed only to the subcommand the arguments name.
pub fn parser(args: &[std::ffi::OsString]) -> clap::Command {
    parse::command_for(args)
}

/// Runs one parsed command line; `Ok` is the exit code.
pub fn run(cli: cli::Cli) -> error::Result<u8> {
    commands::run(cli)
}

/// Says an error on stderr as `vault: MESSAGE`, control characters escaped.
pub fn print_error(error: &error::Error) {
    commands::print_stderr(&error.to_string());
}
