//! `vault scan`: where the vault's values have leaked to, by secret name.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::ScanArgs;
use crate::commands::{Context, print_report};
use crate::error::{Error, Result, exit};
use crate::scan::{Finding, Scanner};

/// Regular files under `path`, depth first, without `.git` directories, symbolic links or
/// `skip` (the vault and its backups).
fn files(path: &Path, skip: &[PathBuf], out: &mut Vec<PathBuf>) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io("read", path, e))?;
    if skip.iter().any(|s| path.starts_with(s)) {
        return Ok(());
    }
    if meta.is_file() {
        out.push(path.to_path_buf());
    } else if meta.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io("read the directory", path, e))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.file_name().is_none_or(|n| n != ".git"))
            .collect();
        entries.sort();
        for entry in entries {
            files(&entry, skip, out)?;
        }
    }
    Ok(())
}

/// Searches the lines each commit of the repository at `repository` added.
fn scan_history(scanner: &Scanner, repository: &Path, found: &mut Vec<Finding>) -> Result<()> {
    // As committed: no textconv or fsmonitor program the repository's .git/config names
    // (someone else's choice, which could also hide a value from the search).
    let output = Command::new("git")
        .args([
            "-c",
            "core.fsmonitor=false",
            "log",
            "-p",
            "--all",
            "--no-color",
            "--no-ext-diff",
            "--no-textconv",
            "--format=commit %h",
        ])
        .current_dir(repository)
        .output()
        .map_err(|e| {
            Error::Failed(format!(
                "cannot run git log in {}: {e}",
                repository.display()
            ))
        })?;
    if !output.status.success() {
        return Err(Error::Failed(format!(
            "git log failed in {}: {}",
            repository.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let mut commit = String::new();
    let mut file = String::new();
    let mut line = 0usize;
    let mut hits = Vec::new();
    for text in output.stdout.split(|b| *b == b'\n') {
        if let Some(hash) = text.strip_prefix(b"commit ") {
            commit = String::from_utf8_lossy(hash).into_owned();
        } else if let Some(path) = text.strip_prefix(b"+++ b/") {
            file = String::from_utf8_lossy(path).into_owned();
        } else if let Some(hunk) = text.strip_prefix(b"@@ ") {
            // "@@ -a,b +c,d @@": the next added line is line c of the new file.
            let hunk = String::from_utf8_lossy(hunk);
            line = hunk
                .split_whitespace()
                .find_map(|w| w.strip_prefix('+'))
                .and_then(|w| w.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
        } else if let Some(added) = text.strip_prefix(b"+") {
            hits.clear();
            scanner.scan(added, "", &mut hits);
            for hit in hits.drain(..) {
                found.push(Finding {
                    place: format!("{}: commit {commit} {file}", repository.display()),
                    line,
                    ..hit
                });
            }
            line += 1;
        } else if text.starts_with(b" ") {
            line += 1;
        }
    }
    Ok(())
}

pub fn scan(context: &Context, args: &ScanArgs) -> Result<u8> {
    let plaintext = context.vault().read(context)?;
    let values = plaintext.values(&|_| true)?;
    let pairs: Vec<(&str, &str)> = values
        .iter()
        .map(|(n, v)| (n.as_ref(), v.as_str()))
        .collect();
    let (scanner, skipped) = Scanner::new(&pairs, args.min_length)?;
    drop(pairs);
    drop(values);
    if !skipped.is_empty() {
        context.note(&format!(
            "not looked for (shorter than {} bytes): {}",
            args.min_length,
            skipped.join(", ")
        ));
    }
    let roots = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let vault_path = &context.vault_location.path;
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let skip = vec![
        canonical(vault_path),
        canonical(&crate::store::backup::backup_dir(vault_path)),
    ];
    let here = std::env::current_dir()
        .map(|d| canonical(&d))
        .unwrap_or_default();
    let mut found = Vec::new();
    let mut searched = 0u64;
    for root in &roots {
        let mut list = Vec::new();
        // Walked by real path, so the vault is recognised however it is reached; shown
        // relative to the current directory where it is inside it.
        files(&canonical(root), &skip, &mut list)?;
        for file in list {
            let bytes = std::fs::read(&file).map_err(|e| Error::io("read", &file, e))?;
            searched += bytes.len() as u64;
            let shown = file.strip_prefix(&here).unwrap_or(&file);
            scanner.scan(&bytes, &shown.display().to_string(), &mut found);
        }
        if args.git {
            scan_history(&scanner, root, &mut found)?;
        }
    }
    found.sort();
    found.dedup();
    let report: String = found
        .iter()
        .map(|f| {
            format!(
                "{}:{}: {} ({})\n",
                crate::names::printable(&f.place, false),
                f.line,
                f.name,
                f.form
            )
        })
        .collect();
    print_report(&report)?;
    context.note(&format!(
        "{} finding(s) in {:.1} MiB{}",
        found.len(),
        searched as f64 / (1024.0 * 1024.0),
        if args.git { " and git history" } else { "" }
    ));
    Ok(if found.is_empty() {
        exit::OK
    } else {
        exit::ERROR
    })
}
