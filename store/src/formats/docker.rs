//! Docker's env-file dialect, as `docker run --env-file` reads it (docker/cli
//! `pkg/kvfile`): one `NAME=value` per line, the value being the rest of the line, raw —
//! no quotes, no escapes, no comments after a value, trailing spaces kept.
//!
//! A line is split at `\n` (a `\r` before it is dropped), trimmed of leading whitespace,
//! and skipped when it is empty or starts with `#`. The name runs to the first `=` and may
//! hold no space or tab; a line with a name and no `=` takes the variable from the
//! environment of `docker` itself. Docker reads a line of at most 64 KiB.
//!
//! So a value with a line break cannot be written at all, and vault refuses it rather than
//! write a file docker reads differently (`tests/sync.rs` checks this against the real
//! `docker` CLI where it is installed).

use std::collections::HashMap;

use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The longest line docker reads: Go's `bufio.Scanner` holds 64 KiB, line break
/// included; a longer line fails with "token too long".
pub const MAX_LINE: usize = 64 * 1024 - 1;

/// One variable a docker env file names.
pub struct Line {
    /// The variable's name.
    pub name: String,
    /// `None` for a bare `NAME`, which takes the value from docker's environment.
    pub value: Option<String>,
    /// Bytes of the file from the name to the end of the value, so a writer can replace
    /// just this.
    pub span: std::ops::Range<usize>,
    /// Its line number, to name it by (never by its text, which may hold a secret).
    pub line: usize,
}

/// Reads a docker env file as docker does; `Err` names the line numbers docker would
/// refuse (never their text, which may hold a secret).
pub fn parse(text: &str) -> std::result::Result<Vec<Line>, Vec<usize>> {
    let mut lines = Vec::new();
    let mut bad = Vec::new();
    let mut start = 0;
    for (index, raw) in text.split_inclusive('\n').enumerate() {
        let line_start = start;
        start += raw.len();
        let mut content = raw.strip_suffix('\n').unwrap_or(raw);
        content = content.strip_suffix('\r').unwrap_or(content);
        if content.len() > MAX_LINE {
            bad.push(index + 1);
            continue;
        }
        // Docker skips a byte-order mark before the first line only.
        let bom = if index == 0 && content.starts_with('\u{feff}') {
            '\u{feff}'.len_utf8()
        } else {
            0
        };
        let trimmed = content[bom..].trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let offset = line_start + (content.len() - trimmed.len());
        let (name, value) = match trimmed.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (trimmed, None),
        };
        // Docker refuses a name with a space or tab only (its `whiteSpaces`).
        if name.is_empty() || name.contains([' ', '\t']) {
            bad.push(index + 1);
            continue;
        }
        lines.push(Line {
            name: name.to_string(),
            value,
            span: offset..offset + trimmed.len(),
            line: index + 1,
        });
    }
    if bad.is_empty() { Ok(lines) } else { Err(bad) }
}

/// [`parse`], with every line docker would refuse named by number in one error.
pub fn parse_file(text: &str, what: &str) -> Result<Vec<Line>> {
    parse(text).map_err(|lines| {
        let lines: Vec<String> = lines.iter().map(usize::to_string).collect();
        Error::BadData(format!(
            "{what} has lines docker does not read as NAME=value (lines {})",
            lines.join(", ")
        ))
    })
}

/// Why docker would not read `NAME=value` back as written, if it would not.
pub fn problem(name: &str, value: &str) -> Option<&'static str> {
    if value.contains(['\n', '\r']) {
        Some("has a line break, which a docker env file cannot hold")
    } else if value.contains('\0') {
        Some("has a NUL byte, which no environment can hold")
    } else if name.len() + 1 + value.len() > MAX_LINE {
        Some("makes a line longer than the 64 KiB docker reads")
    } else {
        None
    }
}

/// `text` with every `(name, value)` set, in one pass over the file whatever their
/// number: the last line naming a name is replaced where it stands, names the file does
/// not have are appended in the order given, and every other byte is kept; a name given
/// twice takes its last value. `Err` names every value docker could not hold.
pub fn set_all_in_text(
    text: &str,
    values: &[(&str, &str)],
) -> std::result::Result<Zeroizing<String>, Vec<Error>> {
    let problems: Vec<Error> = values
        .iter()
        .filter_map(|&(name, value)| {
            problem(name, value).map(|why| Error::BadData(format!("the value of {name} {why}")))
        })
        .collect();
    if !problems.is_empty() {
        return Err(problems);
    }
    let lines = parse_file(text, "the file").map_err(|e| vec![e])?;
    let mut wanted: HashMap<&str, &str> = HashMap::with_capacity(values.len());
    let mut order = Vec::with_capacity(values.len());
    for &(name, value) in values {
        if wanted.insert(name, value).is_none() {
            order.push(name);
        }
    }
    let mut last: HashMap<&str, &std::ops::Range<usize>> = HashMap::with_capacity(lines.len());
    for line in &lines {
        last.insert(line.name.as_str(), &line.span);
    }
    let mut replaced: Vec<(&std::ops::Range<usize>, &str)> = order
        .iter()
        .filter_map(|name| last.get(name).map(|span| (*span, *name)))
        .collect();
    replaced.sort_unstable_by_key(|(span, _)| span.start);
    // Sized so it never reallocates (a reallocation would leave a copy of the values
    // behind): what is replaced only shrinks the text, and each new line adds at most its
    // name, its value, `=` and a line break, plus one line break before the first.
    let most = text.len()
        + 1
        + values
            .iter()
            .map(|(n, v)| n.len() + v.len() + 2)
            .sum::<usize>();
    let mut out = Zeroizing::new(String::with_capacity(most));
    let mut kept_from = 0;
    for (span, name) in replaced {
        out.push_str(&text[kept_from..span.start]);
        out.push_str(name);
        out.push('=');
        out.push_str(wanted[name]);
        kept_from = span.end;
    }
    out.push_str(&text[kept_from..]);
    for name in order.iter().filter(|name| !last.contains_key(*name)) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(wanted[name]);
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Vec<(String, Option<String>)> {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|l| (l.name, l.value))
            .collect()
    }

    #[test]
    fn reads_the_rest_of_the_line_raw() {
        let text = "# c\n\n  A='quoted' # not a comment  \r\nB=\nexport=x\nC\nD=a=b\n";
        assert_eq!(
            read(text),
            [
                ("A".into(), Some("'quoted' # not a comment  ".into())),
                ("B".into(), Some(String::new())),
                ("export".into(), Some("x".into())),
                ("C".into(), None),
                ("D".into(), Some("a=b".into())),
            ]
        );
        assert_eq!(parse("A=1\nB C=2\n=3\n").err().unwrap(), [2, 3]);
    }

    fn set_in_text(text: &str, name: &str, value: &str) -> std::result::Result<String, String> {
        set_all_in_text(text, &[(name, value)])
            .map(|out| out.to_string())
            .map_err(|e| e[0].to_string())
    }

    #[test]
    fn set_in_text_replaces_in_place_and_keeps_the_rest() {
        let text = "# top\n  A=old\r\nB=1\nA=older # kept as value\nC";
        let out = set_in_text(text, "A", " new value ").unwrap();
        assert_eq!(out, "# top\n  A=old\r\nB=1\nA= new value \nC");
        assert_eq!(
            set_in_text(&out, "C", "c").unwrap(),
            "# top\n  A=old\r\nB=1\nA= new value \nC=c"
        );
        assert_eq!(set_in_text("", "D", "d").unwrap(), "D=d\n");
        assert_eq!(set_in_text("X=1", "D", "d").unwrap(), "X=1\nD=d\n");
        for value in ["two\nlines", "cr\r", "nul\0"] {
            let error = set_in_text("", "A", value).err().unwrap();
            assert!(error.contains("the value of A"), "{error}");
        }
    }

    #[test]
    fn setting_many_at_once_equals_setting_them_in_turn() {
        let texts = [
            "",
            "A=1",
            "# top\r\n A=old\nB\nA=older\nC=x",
            "B=1\nB=2\n# B=3\n",
        ];
        let values = [
            ("A", "new value"),
            ("NEW1", "it's"),
            ("B", " spaced "),
            ("NEW2", "$raw"),
            ("A", "last wins"),
            ("C", ""),
        ];
        for text in texts {
            let mut one_by_one = text.to_string();
            for (name, value) in values {
                one_by_one = set_in_text(&one_by_one, name, value).unwrap();
            }
            let at_once = set_all_in_text(text, &values).unwrap_or_else(|e| panic!("{e:?}"));
            assert_eq!(*at_once, one_by_one, "{text:?}");
        }
        let problems = set_all_in_text("", &[("A", "a\nb"), ("B", "ok"), ("C", "c\0")])
            .err()
            .unwrap();
        assert_eq!(problems.len(), 2);
    }
}
