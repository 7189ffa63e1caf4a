//! `vault`: answer shell completion, parse, dispatch, map errors to exit codes — nothing else.

use std::process::ExitCode;

use clap::FromArgMatches;
use secretsd::cli::Cli;

fn main() -> ExitCode {
    // Before anything holds a secret: no core dumps, no reading of this process's memory;
    // vault started as the keeper of a command it keeps as a child ends here.
    if let Some(outcome) = secretsd::start() {
        return exit_code(outcome);
    }
    // When a completion script calls `vault` with COMPLETE set, answer and exit.
    secretsd::complete_if_asked();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let mut command = secretsd::parser(&args);
    let mut matches = command
        .try_get_matches_from_mut(args)
        .unwrap_or_else(|e| e.exit());
    let cli =
        Cli::from_arg_matches_mut(&mut matches).unwrap_or_else(|e| e.format(&mut command).exit());
    // Freeing the parser's tables (every subcommand's) costs about a fifth of building
    // them; vault exits or execs soon, which frees them at once.
    std::mem::forget(command);
    std::mem::forget(matches);
    exit_code(secretsd::run(cli))
}

fn exit_code(outcome: secretsd::error::Result<u8>) -> ExitCode {
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            secretsd::print_error(&error);
            ExitCode::from(error.exit_code())
        }
    }
}
