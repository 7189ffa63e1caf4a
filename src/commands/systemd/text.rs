//! How values are written into a unit file so systemd reads them back unchanged: words of
//! `ExecStart=`, settings, path lists, `Environment=` lines; what cannot be is refused.

use std::path::Path;

use crate::error::{Error, Result};

/// One word of an `ExecStart=` line, quoted so systemd reads it back unchanged.
pub(super) fn exec_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c));
    if plain {
        return word.to_string();
    }
    let mut quoted = String::from("\"");
    for c in word.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '%' => quoted.push_str("%%"),
            '$' => quoted.push_str("$$"),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A value on one line of a unit, where specifiers (`%`) are expanded. systemd reads a
/// unit line by line: a line break (or any control character) in a value would start a
/// setting of its own (`ExecStartPre=`), so it is refused, never written.
pub(super) fn unit_text(value: &str, what: &str) -> Result<String> {
    if value.chars().any(char::is_control) || value.trim().is_empty() {
        return Err(Error::Usage(format!(
            "{what} must be one non-empty line without control characters (a line break would add a line of its own to the unit)"
        )));
    }
    Ok(value.replace('%', "%%"))
}

/// A path in a setting where specifiers (`%`) are expanded.
pub(super) fn setting_path(path: &Path, what: &str) -> Result<String> {
    unit_text(&path.display().to_string(), what)
}

/// A path in a space-separated list (`ReadOnlyPaths=`, `ReadWritePaths=`): quoted when
/// it holds anything but plain characters, so a space stays inside it; these settings
/// expand specifiers but no `$`.
pub(super) fn list_path(path: &Path, what: &str) -> Result<String> {
    let text = setting_path(path, what)?;
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c))
    {
        return Ok(text);
    }
    Ok(format!(
        "\"{}\"",
        text.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

pub(super) fn valid_unit_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c))
}

/// One `Environment=` line, quoted so systemd reads the value back unchanged (it expands
/// `%` specifiers there, but not `$`).
pub(super) fn environment_line(name: &str, value: &str) -> Result<String> {
    unit_text(value, name)?;
    let assignment = format!("{name}={value}");
    let plain = assignment
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c));
    if plain {
        return Ok(format!("Environment={assignment}\n"));
    }
    let mut quoted = String::from("\"");
    for c in assignment.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '%' => quoted.push_str("%%"),
            c => quoted.push(c),
        }
    }
    Ok(format!("Environment={quoted}\"\n"))
}
