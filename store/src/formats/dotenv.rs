//! `.env` files: reading what people write, and writing what python-dotenv reads back
//! exactly.
//!
//! Reading follows python-dotenv's grammar (the de-facto standard), as a differential test
//! against it checks (`tests/dotenv_differential.rs`): blank lines and `#` comments, an
//! optional `export `, `NAME=value` where the value is unquoted (trimmed of Unicode
//! whitespace, a whitespace-then-`#` starts a comment), single-quoted (`\\` and `\'` are
//! escapes; newlines allowed) or double-quoted (`\\ \' \" \a \b \f \n \r \t \v` are
//! escapes). Lines end at `\n`, `\r\n` or a lone `\r`, and a line break inside quotes is a
//! `\n`, as Python reads text files. `${VAR}` is kept as written: an import never pulls in
//! vault's own environment by surprise.
//!
//! Where vault differs on purpose: a name must be an environment-variable name, a line
//! without `=` is an error (python-dotenv reads a name without a value; the line may be a
//! pasted secret), and a UTF-8 byte-order mark is skipped (python-dotenv makes it part of
//! the first name). Duplicate names: the last wins when read, and `vault import` refuses them.
//!
//! Errors carry line numbers and never the text of a line, which may hold a secret.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::names::validate_name;

/// One `NAME=value` read from a file.
pub struct Assignment {
    /// The variable's name.
    pub name: String,
    /// Its value.
    pub value: SecretString,
    /// The line it starts on (1-based).
    pub line: usize,
    /// Bytes of the file from the name to the end of the value (an `export ` before it
    /// and a comment after it are outside), so an editor can replace just this.
    pub span: std::ops::Range<usize>,
}

/// Something wrong on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The line (1-based).
    pub line: usize,
    /// What is wrong, never quoting a value.
    pub message: String,
}

/// Whitespace as python-dotenv (Python's `str.isspace`, and `\s` in its regexes) sees it:
/// Unicode's, plus the ASCII separators U+001C–U+001F.
pub fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Whitespace within a line: `[^\S\r\n]`.
fn is_inline_space(c: char) -> bool {
    is_python_space(c) && c != '\r' && c != '\n'
}

struct Cursor<'a> {
    text: &'a str,
    position: usize,
    line: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.position..].chars().next()
    }

    /// Moves past one character. A line ends at `\n`, `\r\n` or a lone `\r`, as Python
    /// reads text files.
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.position += c.len_utf8();
        if c == '\n' || (c == '\r' && self.peek() != Some('\n')) {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_while(&mut self, keep: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&keep) {
            self.bump();
        }
    }

    fn skip_inline_space(&mut self) {
        self.skip_while(is_inline_space);
    }

    /// Moves past the rest of the line and its line break.
    fn skip_rest_of_line(&mut self) {
        self.skip_while(|c| c != '\n' && c != '\r');
        if self.peek() == Some('\r') {
            self.bump();
        }
        if self.peek() == Some('\n') {
            self.bump();
        }
    }

    fn starts_with(&self, prefix: &str) -> bool {
        self.text[self.position..].starts_with(prefix)
    }
}

/// Parses a whole file; every problem is reported, each with its line number. A UTF-8
/// byte-order mark before the first line is skipped.
pub fn parse(text: &str) -> std::result::Result<Vec<Assignment>, Vec<LineError>> {
    let mut cursor = Cursor {
        text,
        position: if text.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        },
        line: 1,
    };
    let mut assignments = Vec::new();
    let mut errors = Vec::new();
    loop {
        cursor.skip_while(is_python_space);
        let Some(first) = cursor.peek() else { break };
        let line = cursor.line;
        if first == '#' {
            cursor.skip_rest_of_line();
            continue;
        }
        match parse_assignment(&mut cursor) {
            Ok((name, value, span)) => match validate_name(&name) {
                Ok(()) => assignments.push(Assignment {
                    name,
                    value,
                    line,
                    span,
                }),
                Err(_) => errors.push(LineError {
                    line,
                    // Not the name: a line that is not NAME=value may be a pasted value.
                    message: "the name is not a valid variable name (letters, digits and '_', not starting with a digit)".to_string(),
                }),
            },
            Err(message) => {
                errors.push(LineError { line, message });
                if cursor.line == line {
                    cursor.skip_rest_of_line();
                }
            }
        }
    }
    if errors.is_empty() {
        Ok(assignments)
    } else {
        Err(errors)
    }
}

fn parse_assignment(
    cursor: &mut Cursor<'_>,
) -> std::result::Result<(String, SecretString, std::ops::Range<usize>), String> {
    if cursor.starts_with("export")
        && cursor.text[cursor.position + "export".len()..]
            .chars()
            .next()
            .is_some_and(is_inline_space)
    {
        cursor.position += "export".len();
        cursor.skip_inline_space();
    }
    let start = cursor.position;
    cursor.skip_while(|c| c != '=' && c != '#' && !is_python_space(c));
    let name = cursor.text[start..cursor.position].to_string();
    cursor.skip_inline_space();
    if cursor.peek() != Some('=') {
        // The line is not echoed, not even its first word: a line without '=' may be a
        // value pasted on its own.
        return Err("expected NAME=value, and this line has no '=' after a name".to_string());
    }
    cursor.bump();
    cursor.skip_inline_space();
    let value_start = cursor.position;
    let quote = cursor.peek().filter(|c| *c == '\'' || *c == '"');
    let value = match quote {
        Some('\'') => quoted(cursor, '\'', |c| matches!(c, '\\' | '\''))?,
        Some(_) => quoted(cursor, '"', |c| "\\'\"abfnrtv".contains(c))?,
        None => unquoted(cursor),
    };
    let end = cursor.position;
    // An unquoted value's span stops before its comment and trailing spaces.
    let span_end = if quote.is_some() {
        end
    } else {
        value_start + unquoted_len(&cursor.text[value_start..end])
    };
    // After a value: only spaces and an optional comment.
    cursor.skip_inline_space();
    match cursor.peek() {
        None | Some('\n' | '\r') => {}
        Some('#') => cursor.skip_rest_of_line(),
        Some(_) => return Err(format!("unexpected text after the value of {name}")),
    }
    Ok((name, value, start..span_end))
}

/// The length in bytes of an unquoted value as read: up to a whitespace-then-'#' comment,
/// without trailing whitespace (Unicode's, as python-dotenv strips it).
fn unquoted_len(raw: &str) -> usize {
    let mut previous_space = false;
    let mut end = raw.len();
    for (at, c) in raw.char_indices() {
        if c == '#' && previous_space {
            end = at;
            break;
        }
        previous_space = is_python_space(c);
    }
    raw[..end].trim_end_matches(is_python_space).len()
}

fn unquoted(cursor: &mut Cursor<'_>) -> SecretString {
    let start = cursor.position;
    cursor.skip_while(|c| c != '\n' && c != '\r');
    let raw = &cursor.text[start..cursor.position];
    SecretString::from(raw[..unquoted_len(raw)].to_string())
}

/// A quoted value, read as python-dotenv reads it: the value runs to the first quote not
/// preceded by a backslash (or, when there is none, to the quote of the last `\'`), then
/// `escapes` says which characters a backslash escapes. A line break inside it (`\r\n`
/// or a lone `\r` too) is a `\n`, as Python reads text files.
fn quoted(
    cursor: &mut Cursor<'_>,
    quote: char,
    escapes: impl Fn(char) -> bool,
) -> std::result::Result<SecretString, String> {
    let opened_on = cursor.line;
    cursor.bump();
    let start = cursor.position;
    let rest = &cursor.text[start..];
    let mut close = None;
    let mut last_escaped_quote = None;
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '\\' && chars.peek().is_some_and(|(_, next)| *next == quote) {
            let (quote_at, _) = chars.next().unwrap_or_default();
            last_escaped_quote = Some(quote_at);
        } else if c == quote {
            close = Some(at);
            break;
        }
    }
    let Some(close) = close.or(last_escaped_quote) else {
        return Err(format!(
            "the quote opened on line {opened_on} is never closed"
        ));
    };
    let raw = &rest[..close];
    let mut value = Zeroizing::new(String::with_capacity(raw.len()));
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|next| escapes(*next)) => {
                value.push(match chars.next().unwrap_or_default() {
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\u{b}',
                    other => other,
                });
            }
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                value.push('\n');
            }
            c => value.push(c),
        }
    }
    // Past the closing quote, counting the lines the value spanned.
    while cursor.position < start + close + quote.len_utf8() {
        cursor.bump();
    }
    Ok(SecretString::from(value.to_string()))
}

/// Whether python-dotenv (which expands `${NAME}` and `${NAME:-default}` in every value)
/// would change this value on reading.
fn would_be_interpolated(value: &str) -> bool {
    let mut rest = value;
    while let Some(at) = rest.find("${") {
        let after = &rest[at + 2..];
        let name_end = after.find(['}', ':']).unwrap_or(after.len());
        match after[name_end..].chars().next() {
            Some('}') => return true,
            Some(':') if after[name_end..].starts_with(":-") && after[name_end..].contains('}') => {
                return true;
            }
            _ => {}
        }
        rest = &rest[at + 2..];
    }
    false
}

/// Why a value would not read back identically written without quotes, if it would not:
/// python-dotenv strips leading and trailing whitespace (Unicode's), cuts a comment at
/// whitespace then `#`, ends the value at a line break and reads a leading quote as
/// quoting.
fn unquoted_problem(value: &str) -> Option<&'static str> {
    let mut previous_space = false;
    for c in value.chars() {
        if c == '\n' || c == '\r' {
            return Some("has a line break");
        }
        if c == '#' && previous_space {
            return Some("has whitespace before a '#'");
        }
        previous_space = is_python_space(c);
    }
    if value.starts_with(['\'', '"']) {
        Some("starts with a quote")
    } else if value.starts_with(is_python_space) || value.ends_with(is_python_space) {
        Some("starts or ends with whitespace")
    } else if value.is_empty() {
        Some("is empty")
    } else {
        None
    }
}

/// Whether a value is written without quotes: only characters that python-dotenv, docker's
/// `--env-file`, compose, systemd's `EnvironmentFile=` and a POSIX shell all read as
/// themselves (no space, quote, backslash, `$`, `#`, `~` or shell syntax). Anything else
/// is quoted, as python-dotenv reads it back. Nor a leading `=`: zsh expands a word
/// starting with `=` to a command's path (`A==ls` sourced is `/usr/bin/ls`).
pub fn is_plain(value: &str) -> bool {
    !value.is_empty()
        && !value.starts_with('=')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.,:/@%+=^".contains(&b))
}

/// `NAME=value` when the value [`is_plain`], else `NAME='value'` escaped for
/// python-dotenv's single-quote rules (double quotes when the value holds a CR); `Err`
/// names why a value cannot be written so that python-dotenv reads it back unchanged.
pub fn write_assignment(name: &str, value: &str, out: &mut String) -> Result<()> {
    if would_be_interpolated(value) {
        return Err(Error::BadData(format!(
            "the value of {name} contains ${{…}}, which dotenv readers expand; export it with --format json or shell instead"
        )));
    }
    write_literal(name, value, out)
}

/// `NAME=value` and a line break, written in place (a `format!` would leave a copy of the
/// value behind).
fn push_line(name: &str, value: &str, out: &mut String) {
    out.push_str(name);
    out.push('=');
    out.push_str(value);
    out.push('\n');
}

/// As [`write_assignment`], for a text only vault reads back (`vault edit`): vault's
/// reader keeps `${…}` as written, so such a value needs no refusal.
pub fn write_literal(name: &str, value: &str, out: &mut String) -> Result<()> {
    if is_plain(value) {
        push_line(name, value, out);
        return Ok(());
    }
    if value.ends_with('\\') {
        // python-dotenv reads a backslash before a closing quote as an escaped quote, so
        // such a value can only be written unquoted.
        return match unquoted_problem(value) {
            None => {
                push_line(name, value, out);
                Ok(())
            }
            Some(why) => Err(Error::BadData(format!(
                "the value of {name} ends with a backslash and {why}, which no .env quoting can carry"
            ))),
        };
    }
    out.push_str(name);
    if value.contains('\r') {
        // Readers open .env files in text mode, where a raw CR becomes a newline; only
        // the double-quoted form can spell it as an escape.
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push_str("\"\n");
        return Ok(());
    }
    out.push_str("='");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push_str("'\n");
    Ok(())
}

/// [`parse`], with every bad line of `what` (a file's name) named by number in one error.
pub fn parse_file(text: &str, what: &str) -> Result<Vec<Assignment>> {
    parse(text).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.line.to_string()).collect();
        Error::BadData(format!(
            "{what} has lines that are not NAME=value (lines {})",
            lines.join(", ")
        ))
    })
}

/// `text` with `name` set to `value`: the last assignment of `name` is replaced where it
/// stands (an `export ` before it and a comment after it stay), or a line is appended.
/// Every other byte of `text` is kept. `Err` when `text` is not a .env file (by line
/// number) or the value cannot be written.
pub fn set_in_text(text: &str, name: &str, value: &str) -> Result<String> {
    match set_all_in_text(text, &[(name, value)]) {
        Ok(mut out) => Ok(std::mem::take(&mut *out)),
        Err(mut problems) => Err(problems.remove(0)),
    }
}

/// `text` with every `(name, value)` set as [`set_in_text`] sets one, in one parse and one
/// pass: setting them one by one would parse and copy the whole text once per name, which
/// is quadratic (a sync of 10,000 variables into a .env took 40 s). The result equals
/// setting them in order: a name given twice takes its last value; names the text does not
/// have are appended in the order given. `Err` lists every value that cannot be written
/// (or the lines that are not NAME=value), so all can be fixed at once.
pub fn set_all_in_text(
    text: &str,
    values: &[(&str, &str)],
) -> std::result::Result<Zeroizing<String>, Vec<Error>> {
    /// One name to set: its value, its rendered assignment and what it replaces.
    struct Setting<'a> {
        name: &'a str,
        value: &'a str,
        rendered: std::ops::Range<usize>,
        replaces: Option<std::ops::Range<usize>>,
    }
    let assignments = parse_file(text, "the file").map_err(|e| vec![e])?;
    // Each name once, where it first comes, with its last value.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(values.len());
    let mut settings: Vec<Setting<'_>> = Vec::with_capacity(values.len());
    for &(name, value) in values {
        match index.entry(name) {
            Entry::Occupied(at) => settings[*at.get()].value = value,
            Entry::Vacant(at) => {
                at.insert(settings.len());
                settings.push(Setting {
                    name,
                    value,
                    rendered: 0..0,
                    replaces: None,
                });
            }
        }
    }
    // Every new assignment rendered into one buffer sized so it never reallocates (a
    // reallocation would leave a copy of the values behind): escaping at most doubles a
    // value, plus `=`, two quotes and the line break.
    let most: usize = settings
        .iter()
        .map(|s| s.name.len() + 2 * s.value.len() + 4)
        .sum();
    let mut rendered = Zeroizing::new(String::with_capacity(most));
    let mut problems = Vec::new();
    for setting in &mut settings {
        let start = rendered.len();
        match write_assignment(setting.name, setting.value, &mut rendered) {
            // Without its line break: a replaced assignment keeps what followed it.
            Ok(()) => setting.rendered = start..rendered.len() - 1,
            Err(e) => {
                rendered.truncate(start);
                problems.push(e);
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // The last assignment of a name is the one replaced, as a reader takes the last.
    for assignment in &assignments {
        if let Some(&at) = index.get(assignment.name.as_str()) {
            settings[at].replaces = Some(assignment.span.clone());
        }
    }
    let mut replaced: Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> = Vec::new();
    let mut appended: Vec<std::ops::Range<usize>> = Vec::new();
    for setting in settings {
        match setting.replaces {
            Some(span) => replaced.push((span, setting.rendered)),
            None => appended.push(setting.rendered),
        }
    }
    replaced.sort_by_key(|(span, _)| span.start);
    let needs_break = !appended.is_empty() && !text.is_empty() && !text.ends_with('\n');
    let size = text.len() - replaced.iter().map(|(span, _)| span.len()).sum::<usize>()
        + replaced.iter().map(|(_, line)| line.len()).sum::<usize>()
        + appended.iter().map(|line| line.len() + 1).sum::<usize>()
        + usize::from(needs_break);
    let mut out = Zeroizing::new(String::with_capacity(size));
    let mut copied = 0;
    for (span, line) in replaced {
        out.push_str(&text[copied..span.start]);
        out.push_str(&rendered[line]);
        copied = span.end;
    }
    out.push_str(&text[copied..]);
    if needs_break {
        out.push('\n');
    }
    for line in appended {
        out.push_str(&rendered[line]);
        out.push('\n');
    }
    debug_assert_eq!(out.len(), size);
    Ok(out)
}

#[cfg(test)]
mod tests;
