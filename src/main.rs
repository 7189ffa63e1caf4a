//! `vault`: parse, dispatch, map errors to exit codes — nothing else.

use std::process::ExitCode;

use clap::Parser;
use secretsd::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match secretsd::commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("vault: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
