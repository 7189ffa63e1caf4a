//! Property tests over everything vault decodes from outside: the vault payload, .env
//! text, provider protocol lines, manifests and references. CI runs them with proptest's
//! default case count; `scripts/fuzz` runs them for as long as it is given, with fresh
//! seeds. A failure proptest finds is saved under `tests/fuzz.proptest-regressions` and
//! replayed by every later run.

use age::secrecy::{ExposeSecret, SecretString};
use proptest::prelude::*;
use secretsd::formats::dotenv;
use secretsd::manifest::Manifest;
use secretsd::resolve::Reference;
use secretsd::store::document::Document;
use secretsd_protocol::{Hello, Request, Response};

/// Text made of what decoders trip on: quotes, backslashes, braces, line breaks, NUL,
/// control and Unicode whitespace characters, and plain letters.
fn nasty_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => proptest::char::range('a', 'z'),
            2 => proptest::sample::select(vec![
                '"', '\'', '\\', '{', '}', '[', ']', ':', ',', '=', '#', '$', ' ', '\t', '\n',
                '\r', '\0', '\u{1b}', '\u{85}', '\u{a0}', '\u{2028}', '\u{feff}', 'é', '✓',
            ]),
            1 => any::<char>(),
        ],
        0..80,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

fn env_name() -> impl Strategy<Value = String> {
    "[A-Z_][A-Z0-9_]{0,12}"
}

proptest! {
    #[test]
    fn the_vault_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Document::from_json(&bytes, "fuzz");
    }

    #[test]
    fn the_vault_decoder_never_panics_on_near_valid_json(text in nasty_text()) {
        let json = format!(
            r#"{{"format":"secretsd-vault","version":1,"recipients":[],"secrets":{{"A":{{"value":"{text}"}}}}{text}"#
        );
        let _ = Document::from_json(json.as_bytes(), "fuzz");
    }

    #[test]
    fn a_vault_document_round_trips(
        secrets in proptest::collection::btree_map(env_name(), nasty_text(), 0..8)
    ) {
        let mut document = Document::new(vec!["age1example".into()]);
        for (name, value) in &secrets {
            document
                .set(name, SecretString::from(value.clone()), None, "2026-01-01T00:00:00Z")
                .unwrap();
        }
        let json = document.to_json().unwrap();
        let read = Document::from_json(&json, "fuzz").unwrap();
        prop_assert_eq!(read.len(), secrets.len());
        for (name, value) in &secrets {
            prop_assert_eq!(read.get(name).unwrap().unwrap().value().expose_secret(), value.as_str());
        }
        // Read for a change, one secret rewritten and the rest copied as text: the same.
        let mut changed = Document::for_change(json, "fuzz").unwrap();
        let mut expected = secrets.clone();
        if let Some((first, _)) = secrets.iter().next() {
            changed.set(first, SecretString::from("new \"\n\u{0}".to_string()), None, "now").unwrap();
            expected.insert(first.clone(), "new \"\n\u{0}".to_string());
        }
        let reread = Document::from_json(&changed.to_json().unwrap(), "fuzz").unwrap();
        prop_assert_eq!(reread.len(), expected.len());
        for (name, value) in &expected {
            prop_assert_eq!(reread.get(name).unwrap().unwrap().value().expose_secret(), value.as_str());
        }
    }

    #[test]
    fn the_dotenv_reader_never_panics(text in nasty_text()) {
        let _ = dotenv::parse(&text);
    }

    #[test]
    fn what_the_dotenv_writer_writes_reads_back_exactly(name in env_name(), value in nasty_text()) {
        let value = value.replace('\0', "");
        let mut out = String::new();
        if dotenv::write_assignment(&name, &value, &mut out).is_ok() {
            let read = dotenv::parse(&out).map_err(|e| TestCaseError::fail(format!("{e:?} for {out:?}")))?;
            prop_assert_eq!(read.len(), 1);
            prop_assert_eq!(read[0].value.expose_secret(), value.as_str());
            // And set_in_text, which edits files in place, agrees.
            let edited = dotenv::set_in_text("# keep\nOTHER=1\n", &name, &value).unwrap();
            let read = dotenv::parse(&edited).unwrap();
            prop_assert_eq!(read.last().unwrap().value.expose_secret(), value.as_str());
        }
    }

    #[test]
    fn protocol_lines_never_panic_the_decoders(text in nasty_text()) {
        let _ = serde_json::from_str::<Response>(&text);
        let _ = serde_json::from_str::<Request>(&text);
        let _ = serde_json::from_str::<Hello>(&text);
        let wrapped = format!(r#"{{"id":1,"ok":{{"values":{{"k":"{text}"}}}},"err":{text}}}"#);
        let _ = serde_json::from_str::<Response>(&wrapped);
    }

    #[test]
    fn manifests_and_references_never_panic_and_never_echo_a_literal(text in nasty_text()) {
        let _ = Manifest::parse(&text, "fuzz");
        let _ = Manifest::parse(&format!("[env]\nA = \"{text}\"\ncommand = [\"{text}\"]\n"), "fuzz");
        let reference = Reference::parse(&text);
        if let Reference::Literal(value) = &reference
            && value.len() > 3
        {
            prop_assert!(!reference.to_string().contains(value.as_str()));
        }
        let _ = Reference::check_near_miss(&text, "A");
    }
}
