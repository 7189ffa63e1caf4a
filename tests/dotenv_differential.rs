//! vault's .env reader and writer against python-dotenv, the reader most users have.
//!
//! * Reader: hand-written cases over the grammar (export, quotes, escapes, comments,
//!   multi-line values, CR and CRLF endings, Unicode whitespace) and seeded random lines.
//!   vault must read what python-dotenv reads, and refuse a file exactly when
//!   python-dotenv reports a line it could not parse.
//! * Writer: seeded random values over quotes, backslashes, `#`, `$`, line breaks, C0/C1
//!   controls and Unicode whitespace. Every value vault writes reads back identically in
//!   python-dotenv (with and without interpolation) and in vault; every value it refuses
//!   is refused by name.
//!
//! Where vault differs on purpose: names must be environment-variable names, a line
//! without '=' is an error (python-dotenv reads it as a name without a value), and a
//! UTF-8 byte-order mark is skipped (python-dotenv makes it part of the first name).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use age::secrecy::ExposeSecret;
use common::XorShift;
use secretsd::formats::dotenv;

/// What python-dotenv made of one file.
#[derive(Debug)]
struct PythonRead {
    /// It logged that it could not parse a statement.
    complained: bool,
    plain: BTreeMap<String, Option<String>>,
    interpolated: BTreeMap<String, Option<String>>,
}

/// Reads every file of `dir` (named 0.env, 1.env, …) with python-dotenv, in one process.
fn python_read_all(dir: &Path, count: usize) -> Vec<PythonRead> {
    let script = r#"
import json, logging, sys
from dotenv import dotenv_values
class Flag(logging.Handler):
    def emit(self, record):
        self.seen = True
flag = Flag()
logging.getLogger("dotenv").addHandler(flag)
logging.getLogger("dotenv").setLevel(logging.WARNING)
out = []
for i in range(int(sys.argv[2])):
    path = f"{sys.argv[1]}/{i}.env"
    flag.seen = False
    plain = dotenv_values(path, interpolate=False, encoding="utf-8")
    interpolated = dotenv_values(path, interpolate=True, encoding="utf-8")
    out.append({"complained": flag.seen, "plain": plain, "interpolated": interpolated})
print(json.dumps(out))
"#;
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(dir)
        .arg(count.to_string())
        .output()
        .expect("python3 with python-dotenv (scripts/test installs it)");
    assert!(output.status.success(), "{}", common::stderr(&output));
    let all: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    all.into_iter()
        .map(|v| {
            let map = |m: &serde_json::Value| {
                m.as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map(str::to_string)))
                    .collect()
            };
            PythonRead {
                complained: v["complained"].as_bool().unwrap(),
                plain: map(&v["plain"]),
                interpolated: map(&v["interpolated"]),
            }
        })
        .collect()
}

/// vault's reading of a file: the values (last one wins), or that it refused it.
fn vault_read(text: &str) -> Option<BTreeMap<String, Option<String>>> {
    dotenv::parse(text).ok().map(|assignments| {
        assignments
            .into_iter()
            .map(|a| (a.name, Some(a.value.expose_secret().to_string())))
            .collect()
    })
}

/// Compares vault and python-dotenv on every text.
fn differential(texts: &[String]) {
    let dir = tempfile::tempdir().unwrap();
    for (i, text) in texts.iter().enumerate() {
        std::fs::write(dir.path().join(format!("{i}.env")), text).unwrap();
    }
    let python = python_read_all(dir.path(), texts.len());
    let mut disagreements = Vec::new();
    for (i, (text, python)) in texts.iter().zip(&python).enumerate() {
        let ours = vault_read(text);
        let agrees = match &ours {
            Some(values) => {
                !python.complained
                    && *values == python.plain
                    && (text.contains('$') || *values == python.interpolated)
            }
            // A line without '=' is a name without a value to python-dotenv, an error to
            // vault (on purpose: it may be a value pasted on its own).
            None => python.complained || python.plain.values().any(Option::is_none),
        };
        if !agrees {
            disagreements.push(format!(
                "case {i}: {text:?}\n  vault:  {ours:?}\n  python: {python:?}"
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree:\n{}",
        disagreements.len(),
        texts.len(),
        disagreements.join("\n")
    );
}

#[test]
fn the_reader_agrees_with_python_dotenv_on_the_grammar() {
    let cases = [
        "A=b",
        "A=b\nB=c\n",
        "export A=b",
        "export  A = b ",
        "A= b  ",
        "A='b c'",
        "A=\"b c\"",
        "A='b\\'c'",
        "A=\"b\\\"c\"",
        "A=\"b\\nc\"",
        "A='b\\nc'",
        "A=\"a\\tb\\\\c\"",
        "A=b # comment",
        "A=b#not-a-comment",
        "A='b' # comment",
        "A=\"multi\nline\"",
        "A='multi\nline'",
        "# comment\nA=b",
        "\n\n  A=b\n\n",
        "A=",
        "A=''",
        "A=\"\"",
        "A=b\r\nB=c\r\n",
        "A=b\rB=c",
        "A='x\r\ny'",
        "A=\"x\ry\"",
        "A=b\u{a0}#c",
        "A=b\u{3000}",
        "A=\u{2003}b",
        "A=b\u{1f}",
        "A=ünïcødé ✓",
        "A=a=b=c",
        "A=\"$HOME and ${HOME}\"",
        "A=b\t# tab comment",
        "A='a # b'",
        "A=\"a # b\"",
        "export A='x'\nexport B=\"y\"",
        "A= 'quoted after a space'",
        "A=\"\\a\\b\\f\\v\"",
        "A='single \"double\" inside'",
        "A=\"double 'single' inside\"",
        "A=ends with a backslash\\",
        "A=\"x\" \t # c\nB=y",
        "_A1=b",
        "A='x\\'\nB=y'",
        "A='x\\\\' # c",
        "A='unterminated\nB=c",
        "A=\"x\" junk",
        "A=\u{85}x\u{85}",
        "A='\u{2028}' # c",
    ];
    differential(&cases.iter().map(|c| c.to_string()).collect::<Vec<_>>());
}

/// Characters random lines and values are made of: the ones parsers trip on.
const POOL: &[char] = &[
    'a', 'b', 'z', '0', ' ', ' ', '\t', '#', '\'', '"', '\\', '\\', '$', '{', '}', '=', 'n', 't',
    'é', '✓', '\u{a0}', '\u{3000}', '\u{2028}', '\u{85}', '\u{1c}', '\u{1f}', '\u{b}', '\u{c}',
    '\u{7}', '\u{1b}', '\u{202f}', '\r', '\n',
];

fn random_text(random: &mut XorShift, max: u64, pool: &[char]) -> String {
    let length = random.next() % (max + 1);
    (0..length)
        .map(|_| pool[(random.next() % pool.len() as u64) as usize])
        .collect()
}

#[test]
fn the_reader_agrees_with_python_dotenv_on_random_lines() {
    let seed = 0x5eed_d07e_0000_0001u64;
    let mut random = XorShift(seed);
    let inline: Vec<char> = POOL
        .iter()
        .copied()
        .filter(|c| *c != '\r' && *c != '\n')
        .collect();
    let names = ["A", "B_1", "_C", "DB_URL"];
    let mut texts = Vec::new();
    for _ in 0..400 {
        let mut text = String::new();
        let lines = 1 + random.next() % 3;
        for line in 0..lines {
            if random.next().is_multiple_of(4) {
                text.push_str(["  ", "\t", "\u{a0}"][(random.next() % 3) as usize]);
            }
            if random.next().is_multiple_of(4) {
                text.push_str("export ");
            }
            text.push_str(names[line as usize]);
            text.push_str(["=", " = ", "=\t"][(random.next() % 3) as usize]);
            let pool = if random.next().is_multiple_of(5) {
                POOL
            } else {
                &inline
            };
            let body = random_text(&mut random, 8, pool);
            match random.next() % 3 {
                0 => text.push_str(&body),
                1 => text.push_str(&format!("'{body}'")),
                _ => text.push_str(&format!("\"{body}\"")),
            }
            if random.next().is_multiple_of(4) {
                text.push_str(" # note");
            }
            text.push_str(["\n", "\r\n", "\r", "\n\n"][(random.next() % 4) as usize]);
        }
        texts.push(text);
    }
    differential(&texts);
}

#[test]
fn every_written_value_reads_back_exactly_or_is_refused_by_name() {
    let seed = 0x5eed_d07e_0000_0002u64;
    let mut random = XorShift(seed);
    let mut values: Vec<String> = (0..2000)
        .map(|_| random_text(&mut random, 10, POOL))
        .collect();
    // The values the first differential run found python-dotenv reading differently.
    values.extend(
        [
            "\u{1d}\u{3000}\\",
            "\u{a0}x\\",
            "#\\",
            "a \u{2028}#\\",
            "\u{85}\\",
            "x\u{1f}",
            "\r\n",
            "\\",
        ]
        .map(str::to_string),
    );
    let dir = tempfile::tempdir().unwrap();
    let mut written = Vec::new();
    let mut refused = 0;
    for (i, value) in values.iter().enumerate() {
        let name = format!("V{i}");
        let mut out = String::new();
        match dotenv::write_assignment(&name, value, &mut out) {
            Ok(()) => {
                std::fs::write(dir.path().join(format!("{}.env", written.len())), &out).unwrap();
                written.push((name, value.clone(), out));
            }
            Err(e) => {
                refused += 1;
                let message = e.to_string();
                assert!(
                    message.contains(&format!("the value of {name} ")),
                    "{message}"
                );
            }
        }
    }
    let python = python_read_all(dir.path(), written.len());
    let mut wrong = Vec::new();
    for ((name, value, line), read) in written.iter().zip(&python) {
        let expected = Some(value.clone());
        let ours = vault_read(line).and_then(|m| m.get(name).cloned().flatten());
        if read.complained
            || read.plain.get(name) != Some(&expected)
            || read.interpolated.get(name) != Some(&expected)
            || ours.as_ref() != Some(value)
        {
            wrong.push(format!(
                "{value:?} written as {line:?}: python {read:?}, vault {ours:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} values do not read back:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // The writer refuses only what cannot be written (values ending in a backslash that
    // also need quotes, and ${…}); most values are written.
    assert!(
        refused * 4 < values.len(),
        "{refused} of {} refused",
        values.len()
    );
}

#[test]
fn a_byte_order_mark_is_skipped_on_purpose() {
    let read = vault_read("\u{feff}A=b\n").unwrap();
    assert_eq!(read.get("A"), Some(&Some("b".to_string())));
}
