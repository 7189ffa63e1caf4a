//! `vault` parses its arguments with a leaner tree than `cli::Cli::command()` (the global
//! options are handed only to the subcommand the arguments name; see `src/parse.rs`). These
//! tests hold the binary to what the full tree says: the same help for every subcommand, and
//! the same error for a command line it refuses.

use clap::{Command, CommandFactory};
use secretsd::cli::Cli;

/// Every subcommand's path below the top (`["recipients", "add"]`), parents before children.
fn subcommand_paths(command: &Command, prefix: &[String], paths: &mut Vec<Vec<String>>) {
    for sub in command.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_string());
        paths.push(path.clone());
        subcommand_paths(sub, &path, paths);
    }
}

/// What the full tree prints for `args`: help or version on stdout, an error on stderr.
fn full_tree_says(args: &[String]) -> (String, String) {
    let argv = std::iter::once("vault".to_string()).chain(args.iter().cloned());
    match Cli::command().term_width(100).try_get_matches_from(argv) {
        Ok(_) => panic!(
            "vault {} parsed; this test wants help or an error",
            args.join(" ")
        ),
        Err(error) if error.use_stderr() => (String::new(), error.render().to_string()),
        Err(error) => (error.render().to_string(), String::new()),
    }
}

fn binary_says(args: &[String]) -> (String, String) {
    let output = assert_cmd::Command::cargo_bin("vault")
        .unwrap()
        .args(args)
        .env("COLUMNS", "100")
        .env_remove("COMPLETE")
        .output()
        .unwrap();
    (
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn every_subcommand_s_help_is_the_full_tree_s() {
    let mut paths = Vec::new();
    subcommand_paths(&Cli::command(), &[], &mut paths);
    assert!(paths.len() > 30, "found only {} subcommands", paths.len());
    let mut differ = Vec::new();
    for path in &paths {
        for help in ["--help", "-h"] {
            let mut args = path.clone();
            args.push(help.to_string());
            let (full_stdout, _) = full_tree_says(&args);
            let (stdout, _) = binary_says(&args);
            assert!(
                full_stdout.contains("Usage:"),
                "vault {}: {full_stdout}",
                args.join(" ")
            );
            if stdout != full_stdout {
                differ.push(format!(
                    "vault {}\n--- full tree\n{full_stdout}\n--- vault\n{stdout}",
                    args.join(" ")
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn a_refused_command_line_gets_the_full_tree_s_error() {
    for args in [
        &["get", "NAME", "--bogus"][..],
        &["get"],
        &["get", "NAME", "--vault"],
        &["--vault", "/v", "set"],
        &["recipients", "add"],
        &["exce"],
        &["ls", "--revael"],
    ] {
        let args: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        let (_, full_stderr) = full_tree_says(&args);
        let (_, stderr) = binary_says(&args);
        assert!(full_stderr.starts_with("error:"), "{full_stderr}");
        assert_eq!(stderr, full_stderr, "vault {}", args.join(" "));
    }
}
