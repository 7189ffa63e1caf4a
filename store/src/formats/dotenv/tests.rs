//! Tests of `dotenv`.

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
fn only_what_python_dotenv_would_expand_is_refused() {
    let write = |value: &str| write_assignment("A", value, &mut String::new()).is_ok();
    // ${NAME} and ${NAME:-default} are expanded; ${NAME:x} and an unclosed one are not.
    assert!(!write("x${HOME}"));
    assert!(!write("x${HOME:-fallback}"));
    assert!(write("x${HOME:fallback}"));
    assert!(write("x${HOME:-unclosed"));
    assert!(write("aaaa${B:x}}"));
    assert!(write("$HOME and {braces}"));
}

#[test]
fn values_ending_in_a_backslash_are_written_unquoted_when_they_can_be() {
    for value in ["a#b\\", "a b\\", "#\\", "x'y\\"] {
        let mut out = String::new();
        write_assignment("A", value, &mut out).unwrap_or_else(|e| panic!("{value:?}: {e}"));
        assert_eq!(out, format!("A={value}\n"));
    }
    for value in ["a #b\\", " a\\", "'a\\", "two\nlines\\"] {
        assert!(
            write_assignment("A", value, &mut String::new()).is_err(),
            "{value:?}"
        );
    }
}

#[test]
fn set_in_text_appends_on_a_line_of_its_own() {
    assert_eq!(set_in_text("A=1\n", "B", "v w").unwrap(), "A=1\nB='v w'\n");
    assert_eq!(set_in_text("A=1", "B", "v").unwrap(), "A=1\nB=v\n");
    assert_eq!(set_in_text("", "B", "v").unwrap(), "B=v\n");
}

#[test]
fn errors_name_the_right_line_whatever_the_line_ends() {
    for (text, expected) in [
        ("A=1\r\nB=2\r\nnot a line\r\n", 3),
        ("A=1\rB=2\rnot a line\r", 3),
        ("# c\r\n\r\nA=1\n\rnot a line", 5),
        ("A='two\r\nlines'\r\nnot a line\r\n", 3),
    ] {
        let errors = parse(text).err().unwrap();
        assert_eq!(errors[0].line, expected, "{text:?}");
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
    assert!(out.ends_with("C=1\nD=d\n"), "{out}");
    assert!(set_in_text("oops\n", "A", "v").is_err());
}

#[test]
fn setting_many_at_once_equals_setting_them_in_turn() {
    let texts = [
        "",
        "A=1",
        "# top\r\nexport A=old # why\r\n\r\nB='multi\nline' # c\nA=older\nC=\"x\"  \nD=1",
        "B=1\nB=2\n# B=3\nE=\\\n",
    ];
    let values = [
        ("A", "new value"),
        ("NEW1", "it's"),
        ("B", "cr\rlf"),
        ("NEW2", "ends\\"),
        ("A", "last wins"),
        ("C", ""),
        ("E", "#x"),
    ];
    for text in texts {
        let mut one_by_one = text.to_string();
        for (name, value) in values {
            one_by_one = set_in_text(&one_by_one, name, value).unwrap();
        }
        let at_once = set_all_in_text(text, &values).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(*at_once, one_by_one, "{text:?}");
    }
}

#[test]
fn only_values_that_need_quotes_get_them() {
    let written = |value: &str| {
        let mut out = String::new();
        write_assignment("A", value, &mut out).unwrap();
        out
    };
    for plain in [
        "s3cr3t",
        "postgres://u:p@h:5432/db",
        "a=b,c+d%e^f",
        "eyJ.x-y_z",
    ] {
        assert_eq!(written(plain), format!("A={plain}\n"));
    }
    for quoted in [
        "",
        "with space",
        "it's",
        "$HOME",
        "a#b",
        "~/x",
        "a&b",
        "ü",
        "x\\y",
    ] {
        assert!(written(quoted).starts_with("A='"), "{quoted:?}");
    }
}

#[test]
fn setting_many_names_every_value_that_cannot_be_written() {
    let problems = set_all_in_text("A=1\n", &[("A", "${HOME}"), ("B", "fine"), ("C", " x\\")])
        .err()
        .unwrap();
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert_eq!(text.len(), 2, "{text:?}");
    assert!(text[0].contains("value of A") && text[1].contains("value of C"));
    assert!(set_all_in_text("oops\n", &[("A", "v")]).is_err());
}

#[test]
fn refuses_what_readers_would_change() {
    let mut out = String::new();
    assert!(write_assignment("A", "x${HOME}", &mut out).is_err());
    assert!(write_assignment("A", "two\nlines\\", &mut out).is_err());
    assert!(write_assignment("A", "${not closed", &mut out).is_ok());
}
