//! The parser one run of `vault` uses: the whole command line of `cli`, with the global
//! options handed only to the subcommand the arguments name.
//!
//! Why: clap copies every `global = true` option into every subcommand before it parses,
//! subcommands that are never built included — here 7 options into 31 subcommands, 217
//! copies, about a tenth of the instructions and 66 of the ~290 page faults of a
//! `vault exec` at 10 secrets (1.94 → 1.78 ms of CPU). Copying them into the one subcommand
//! the arguments name does what clap would do for that subcommand (the same `Arg`s, marked
//! global there, so they reach its own subcommands and their values reach the top), and
//! skips the other 30.
//!
//! When the arguments name no subcommand plainly — help, a typo, an option this does not
//! know — the full tree is parsed, exactly as `cli::Cli::command()` defines it, so
//! suggestions and help see everything. `tests/parse.rs` holds the two to the same help
//! text and the same choices for every subcommand.

use std::ffi::OsString;

use clap::{Arg, Command, CommandFactory};

use crate::cli::Cli;

/// The parser for `args` (the program's arguments, the program's name first).
pub fn command_for(args: &[OsString]) -> Command {
    let command = Cli::command();
    match named_subcommand(&command, args) {
        Some(name) => globals_only_in(command, &name),
        None => command,
    }
}

/// `command` with its global options moved into the subcommand `name`: local (not global)
/// at the top, where they still parse before the subcommand, and global in `name`.
fn globals_only_in(command: Command, name: &str) -> Command {
    let globals: Vec<Arg> = command
        .get_arguments()
        .filter(|arg| arg.is_global_set())
        .cloned()
        .collect();
    let mut command = command.mut_subcommand(name, |sub| sub.args(globals.iter().cloned()));
    for arg in &globals {
        command = command.mut_arg(arg.get_id().clone(), |arg| arg.global(false));
    }
    command
}

/// The subcommand `args` name, when it can be told without parsing: the first argument
/// that is neither a top-level option nor an option's value, if it names a subcommand (or
/// an alias) other than `help`. `None` for anything else.
fn named_subcommand(command: &Command, args: &[OsString]) -> Option<String> {
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        if arg == "--" {
            return None;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((name, _)) => (name, true),
                None => (long, false),
            };
            let option = command
                .get_arguments()
                .find(|option| option.get_long() == Some(name))?;
            if takes_value(option) && !value {
                rest.next()?;
            }
            continue;
        }
        if let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            // Top-level short options are flags (-q, -v, -h, -V); one that takes a value
            // or is unknown leaves the choice to the full parser.
            for short in shorts.chars() {
                let option = command
                    .get_arguments()
                    .find(|option| option.get_short() == Some(short))?;
                if takes_value(option) {
                    return None;
                }
            }
            continue;
        }
        let sub = command.find_subcommand(arg)?;
        return (sub.get_name() != "help").then(|| sub.get_name().to_string());
    }
    None
}

fn takes_value(option: &Arg) -> bool {
    option.get_action().takes_values()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(args: &[&str]) -> Option<String> {
        let args: Vec<OsString> = std::iter::once("vault")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        named_subcommand(&Cli::command(), &args)
    }

    #[test]
    fn the_subcommand_is_found_past_top_level_options_and_their_values() {
        assert_eq!(named(&["exec", "--", "true"]).as_deref(), Some("exec"));
        assert_eq!(named(&["--vault", "exec", "list"]).as_deref(), Some("list"));
        assert_eq!(
            named(&["--vault=exec", "-qv", "get"]).as_deref(),
            Some("get")
        );
        assert_eq!(named(&["--profile", "p", "ls"]).as_deref(), Some("list"));
    }

    /// What the full tree and the run's parser make of `args`: the parsed command line,
    /// or the error as clap words it.
    fn both(args: &[&str]) -> (String, String) {
        use clap::FromArgMatches;
        let args: Vec<OsString> = std::iter::once("vault")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect();
        let parse = |mut command: Command| match command.try_get_matches_from_mut(args.clone()) {
            Ok(mut matches) => format!("{:?}", Cli::from_arg_matches_mut(&mut matches)),
            Err(error) => format!("{:?}: {}", error.kind(), error.render()),
        };
        (parse(Cli::command()), parse(command_for(&args)))
    }

    #[test]
    fn the_run_s_parser_reads_every_command_line_as_the_full_tree_does() {
        for args in [
            &["exec", "--", "/bin/true"][..],
            &["--vault", "/v", "exec", "-q", "--only", "A", "--", "env"],
            &["exec", "--vault", "/v", "--identity", "/i", "--", "env"],
            &["-v", "get", "NAME", "--profile", "p", "--reveal"],
            &["--config=/c", "ls", "--no-input"],
            &["recipients", "add", "--vault", "/v", "age1xyz"],
            &["--vault", "/a", "recipients", "list", "--vault", "/b"],
            &["git", "setup", "-q"],
            &["systemd", "unit", "--profile", "p", "--help"],
            &["-q", "set", "X", "-v"],
            &["exec", "--bogus"],
            &["get"],
            &["get", "--vault"],
            &["exec", "--help"],
            &["ls", "-h"],
            &["--version"],
            &["exec", "--version"],
        ] {
            let (full, run) = both(args);
            assert_eq!(full, run, "vault {}", args.join(" "));
        }
    }

    #[test]
    fn anything_unplain_is_left_to_the_full_parser() {
        assert_eq!(named(&[]), None);
        assert_eq!(named(&["help", "exec"]), None);
        assert_eq!(named(&["exce"]), None);
        assert_eq!(named(&["--bogus", "exec"]), None);
        assert_eq!(named(&["-x", "exec"]), None);
        assert_eq!(named(&["--vault"]), None);
        assert_eq!(named(&["--", "exec"]), None);
    }
}
