//! `vault`: answer shell completion, parse, dispatch, map errors to exit codes — nothing else.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use secretsd::cli::Cli;

fn main() -> ExitCode {
    // When a completion script calls `vault` with COMPLETE set, answer and exit.
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var("COMPLETE")
        .complete();
    let cli = Cli::parse();
    match secretsd::commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("vault: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
