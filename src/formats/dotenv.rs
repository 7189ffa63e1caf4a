//! `.env` files: reading what people write, and writing what python-dotenv reads back
//! exactly.
//!
//! Reading follows python-dotenv's grammar (the de-facto standard): blank lines and `#`
//! comments, an optional `export `, `NAME=value` where the value is unquoted (trimmed, a
//! ` #` starts a comment), single-quoted (`\\` and `\'` are escapes; newlines allowed) or
//! double-quoted (`\\ \' \" \a \b \f \n \r \t \v` are escapes). `${VAR}` is kept as written:
//! an import never pulls in vault's own environment by surprise.
//!
//! Errors carry line numbers and never the text of a line, which may hold a secret.

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::names::validate_name;

/// One `NAME=value` read from a file.
pub struct Assignment {
    pub name: String,
    pub value: SecretString,
    pub line: usize,
    /// Bytes of the file from the name to the end of the value (an `export ` before it
    /// and a comment after it are outside), so an editor can replace just this.
    pub span: std::ops::Range<usize>,
}

/// Something wrong on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

struct Cursor<'a> {
    text: &'a [u8],
    position: usize,
    line: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.position).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.position += 1;
        if c == b'\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_inline_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
    }

    fn skip_rest_of_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == b'\n' {
                break;
            }
        }
    }

    fn starts_with(&self, prefix: &[u8]) -> bool {
        self.text[self.position..].starts_with(prefix)
    }
}

/// Parses a whole file; every problem is reported, each with its line number.
pub fn parse(text: &str) -> std::result::Result<Vec<Assignment>, Vec<LineError>> {
    let mut cursor = Cursor {
        text: text.as_bytes(),
        position: 0,
        line: 1,
    };
    let mut assignments = Vec::new();
    let mut errors = Vec::new();
    loop {
        while matches!(cursor.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            cursor.bump();
        }
        let Some(first) = cursor.peek() else { break };
        let line = cursor.line;
        if first == b'#' {
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
                Err(e) => errors.push(LineError {
                    line,
                    message: e.to_string(),
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
    if cursor.starts_with(b"export ") || cursor.starts_with(b"export\t") {
        cursor.position += "export".len();
        cursor.skip_inline_space();
    }
    let start = cursor.position;
    while let Some(c) = cursor.peek() {
        if c == b'=' || c == b'#' || c.is_ascii_whitespace() {
            break;
        }
        cursor.bump();
    }
    let name = String::from_utf8_lossy(&cursor.text[start..cursor.position]).into_owned();
    cursor.skip_inline_space();
    if cursor.peek() != Some(b'=') {
        // The line is not echoed, not even its first word: a line without '=' may be a
        // value pasted on its own.
        return Err("expected NAME=value, and this line has no '=' after a name".to_string());
    }
    cursor.bump();
    cursor.skip_inline_space();
    let value_start = cursor.position;
    let value = match cursor.peek() {
        Some(b'\'') => quoted(cursor, b'\'', |c| matches!(c, b'\\' | b'\''))?,
        Some(b'"') => quoted(cursor, b'"', |c| b"\\'\"abfnrtv".contains(&c))?,
        _ => unquoted(cursor),
    };
    let end = cursor.position;
    // An unquoted value's span stops before its comment and trailing spaces.
    let span_end = if matches!(cursor.text.get(value_start), Some(b'\'' | b'"')) {
        end
    } else {
        value_start + unquoted_len(&cursor.text[value_start..end])
    };
    // After a value: only spaces and an optional comment.
    cursor.skip_inline_space();
    match cursor.peek() {
        None | Some(b'\n') => {}
        Some(b'\r')
            if cursor
                .text
                .get(cursor.position + 1)
                .is_none_or(|c| *c == b'\n') => {}
        Some(b'#') => cursor.skip_rest_of_line(),
        Some(_) => return Err(format!("unexpected text after the value of {name}")),
    }
    Ok((name, value, start..span_end))
}

/// The length of an unquoted value as read: up to a whitespace-then-'#' comment, without
/// trailing whitespace.
fn unquoted_len(raw: &[u8]) -> usize {
    let end = raw
        .windows(2)
        .position(|w| w[0].is_ascii_whitespace() && w[1] == b'#')
        .unwrap_or(raw.len());
    let text = &raw[..end];
    text.len()
        - text
            .iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count()
}

fn unquoted(cursor: &mut Cursor<'_>) -> SecretString {
    let start = cursor.position;
    while let Some(c) = cursor.peek() {
        if c == b'\n' || c == b'\r' {
            break;
        }
        cursor.bump();
    }
    let raw = &cursor.text[start..cursor.position];
    let value = String::from_utf8_lossy(&raw[..unquoted_len(raw)]).into_owned();
    SecretString::from(value)
}

/// A quoted value; `escapes` says which characters a backslash escapes.
fn quoted(
    cursor: &mut Cursor<'_>,
    quote: u8,
    escapes: impl Fn(u8) -> bool,
) -> std::result::Result<SecretString, String> {
    let opened_on = cursor.line;
    cursor.bump();
    let mut value = Zeroizing::new(Vec::new());
    loop {
        let Some(c) = cursor.bump() else {
            return Err(format!(
                "the quote opened on line {opened_on} is never closed"
            ));
        };
        if c == quote {
            break;
        }
        if c == b'\\' && cursor.peek().is_some_and(&escapes) {
            let escaped = cursor.bump().unwrap_or_default();
            value.push(match escaped {
                b'a' => 0x07,
                b'b' => 0x08,
                b'f' => 0x0c,
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'v' => 0x0b,
                other => other,
            });
        } else {
            value.push(c);
        }
    }
    let text =
        String::from_utf8(value.to_vec()).map_err(|_| "the value is not UTF-8".to_string())?;
    Ok(SecretString::from(text))
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

/// Whether a value reads back identically when written without quotes.
fn safe_unquoted(value: &str) -> bool {
    !value.is_empty()
        && !value.contains(['\n', '\r'])
        && !value.starts_with(['\'', '"', ' ', '\t', '#'])
        && !value.ends_with([' ', '\t'])
        && !value
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_whitespace() && w[1] == b'#')
}

/// `NAME='value'`, escaped for python-dotenv's single-quote rules (double quotes when the
/// value holds a CR); `Err` names why a value cannot be written so that python-dotenv
/// reads it back unchanged.
pub fn write_assignment(name: &str, value: &str, out: &mut String) -> Result<()> {
    if would_be_interpolated(value) {
        return Err(Error::BadData(format!(
            "the value of {name} contains ${{…}}, which dotenv readers expand; export it with --format json or shell instead"
        )));
    }
    if value.ends_with('\\') {
        // python-dotenv reads a backslash before the closing quote as an escaped quote.
        if safe_unquoted(value) {
            out.push_str(&format!("{name}={value}\n"));
            return Ok(());
        }
        return Err(Error::BadData(format!(
            "the value of {name} ends with a backslash and has spaces or newlines, which dotenv cannot represent; export it with --format json or shell instead"
        )));
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

/// `text` with `name` set to `value`: the last assignment of `name` is replaced where it
/// stands (an `export ` before it and a comment after it stay), or a line is appended.
/// Every other byte of `text` is kept. `Err` when `text` is not a .env file (by line
/// number) or the value cannot be written.
pub fn set_in_text(text: &str, name: &str, value: &str) -> Result<String> {
    let assignments = parse(text).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(|e| e.line.to_string()).collect();
        Error::BadData(format!(
            "lines that are not NAME=value (lines {})",
            lines.join(", ")
        ))
    })?;
    let mut line = String::new();
    write_assignment(name, value, &mut line)?;
    let assignment = line.trim_end_matches('\n');
    let mut out = String::with_capacity(text.len() + assignment.len() + 1);
    match assignments.iter().rev().find(|a| a.name == name) {
        Some(existing) => {
            out.push_str(&text[..existing.span.start]);
            out.push_str(assignment);
            out.push_str(&text[existing.span.end..]);
        }
        None => {
            out.push_str(text);
            if !text.is_empty() && !text.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(assignment);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    fn values(text: &str) -> Vec<(String, String)> {
        parse(text)
            .unwrap_or_else(|e| panic!("{e:?}"))
            .into_iter()
            .map(|a| (a.name, a.value.expose_secret().to_string()))
            .collect()
    }

    #[test]
    fn reads_the_common_forms() {
        let text = "# comment\n\nexport A=plain value # comment\nB = 'single # kept'\nC=\"a\\nb\\\"c\"\nD=\nE='multi\nline'\nF=x#y\n";
        assert_eq!(
            values(text),
            [
                ("A".into(), "plain value".into()),
                ("B".into(), "single # kept".into()),
                ("C".into(), "a\nb\"c".into()),
                ("D".into(), "".into()),
                ("E".into(), "multi\nline".into()),
                ("F".into(), "x#y".into()),
            ]
        );
    }

    #[test]
    fn spans_cover_name_to_value_end() {
        let text = "# c\nexport A=plain # comment\nB='q v'  # c\nC=\"x\"\n";
        let spans: Vec<&str> = parse(text)
            .unwrap()
            .iter()
            .map(|a| &text[a.span.clone()])
            .collect();
        assert_eq!(spans, ["A=plain", "B='q v'", "C=\"x\""]);
    }

    #[test]
    fn reports_every_bad_line_without_its_text() {
        let errors = parse("GOOD=1\n1BAD=secret-one\nsecret-three\nQ='unterminated secret-two\n")
            .err()
            .unwrap();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        let all = format!("{errors:?}");
        assert!(
            !all.contains("secret-one") && !all.contains("secret-two"),
            "{all}"
        );
    }

    #[test]
    fn written_values_read_back_exactly() {
        let samples = [
            "plain",
            "with space",
            "it's",
            "say \"hi\"",
            "back\\slash",
            "a\\'b",
            "$HOME and $",
            "#hash",
            "a=b",
            "new\nline",
            "tab\there",
            "ünïcødé ✓",
            "",
            "  padded  ",
            "ends\\",
            "cr\rlf \"q\" \\ x",
        ];
        let mut out = String::new();
        for (i, value) in samples.iter().enumerate() {
            write_assignment(&format!("V{i}"), value, &mut out).unwrap();
        }
        let read = values(&out);
        for (i, value) in samples.iter().enumerate() {
            assert_eq!(read[i].1, *value, "sample {i}");
        }
    }

    #[test]
    fn set_in_text_keeps_every_other_byte() {
        let text = "# top\nexport A=old # why\n\nB='x'\nA=older\nC=1";
        let out = set_in_text(text, "A", "new value").unwrap();
        assert_eq!(
            out,
            "# top\nexport A=old # why\n\nB='x'\nA='new value'\nC=1"
        );
        let out = set_in_text(&out, "D", "d").unwrap();
        assert!(out.ends_with("C=1\nD='d'\n"), "{out}");
        assert!(set_in_text("oops\n", "A", "v").is_err());
    }

    #[test]
    fn refuses_what_readers_would_change() {
        let mut out = String::new();
        assert!(write_assignment("A", "x${HOME}", &mut out).is_err());
        assert!(write_assignment("A", "two\nlines\\", &mut out).is_err());
        assert!(write_assignment("A", "${not closed", &mut out).is_ok());
    }
}
