//! Tests of `document`.

use super::*;

#[test]
fn unknown_fields_survive_a_round_trip() {
    let json = br#"{"format":"secretsd-vault","version":1,"recipients":["age1x"],"future":{"a":1},
            "secrets":{"A":{"value":"v","created":"c","updated":"u","labels":["x"]}}}"#;
    let doc = Document::from_json(json, "test").unwrap();
    let out = doc.to_json().unwrap();
    let reparsed: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(reparsed["future"]["a"], 1);
    assert_eq!(reparsed["secrets"]["A"]["labels"][0], "x");
    assert_eq!(reparsed["secrets"]["A"]["value"], "v");
}

#[test]
fn a_document_that_is_not_utf8_is_refused_naming_where() {
    let text = b"{\"format\":\"secretsd-vault\",\"version\":1,\"recipients\":[],\"secrets\":{\"A\":{\"value\":\"\xff\"}}}";
    let at = text.iter().position(|&b| b == 0xff).unwrap();
    let error = Document::from_json(text, "the vault v")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!(
            "not a valid vault document (not UTF-8 at byte {at})"
        )),
        "{error}"
    );
}

/// Names read for a change (plain, or escaped in the JSON) stay right when the document
/// moves, and after changes.
#[test]
fn names_read_for_a_change_survive_moves_and_changes() {
    let text = br#"{"format":"secretsd-vault","version":1,"recipients":[],
            "secrets":{"B":{"value":"b"},"A\u0041":{"value":"aa"},"C":{"value":"c"}}}"#;
    let document = Document::for_change(SecretBytes::new(text.to_vec()), "v").unwrap();
    let mut moved = vec![Box::new(document)];
    let document = &mut moved[0];
    assert_eq!(document.names().collect::<Vec<_>>(), ["AA", "B", "C"]);
    document
        .set("AB", SecretString::from("ab".to_string()), None, "t")
        .unwrap();
    assert!(document.rename("C", "0", "t").unwrap());
    let document = moved.pop().unwrap();
    assert_eq!(document.names().collect::<Vec<_>>(), ["0", "AA", "AB", "B"]);
    assert_eq!(
        document.get("AA").unwrap().unwrap().value().expose_secret(),
        "aa"
    );
    assert_eq!(
        document.get("B").unwrap().unwrap().value().expose_secret(),
        "b"
    );
    assert!(format!("{document:?}").contains(r#"["0", "AA", "AB", "B"]"#));
}

#[test]
fn newer_versions_are_refused() {
    let json = br#"{"format":"secretsd-vault","version":3,"secrets":{}}"#;
    let err = Document::from_json(json, "test").unwrap_err();
    assert!(err.to_string().contains("version 3"), "{err}");
}

#[test]
fn debug_output_hides_values() {
    let mut doc = Document::new(vec![]);
    doc.set("A", SecretString::from("hunter2".to_string()), None, "now")
        .unwrap();
    assert!(!format!("{doc:?}").contains("hunter2"));
    let text = doc.to_json().unwrap();
    let read = Document::for_change(text, "test").unwrap();
    assert!(!format!("{read:?}").contains("hunter2"));
}

/// A change rewrites what it touched and copies every other secret byte for byte,
/// whatever spacing or field order another writer used.
#[test]
fn untouched_secrets_are_written_back_as_they_were_read() {
    let text = br#"{"format":"secretsd-vault","version":1,"recipients":["age1x"],
            "secrets":{"A":{ "updated":"u", "value":"a\u0041", "x":[1,{"y":null}] },
            "B":{"value":"b","created":"c","updated":"u"},"C":{"value":"c"}},"future":true}"#;
    let mut doc = Document::for_change(SecretBytes::new(text.to_vec()), "test").unwrap();
    doc.set("B", SecretString::from("b2".to_string()), None, "now")
        .unwrap();
    assert!(doc.remove("C").unwrap().is_some());
    assert!(doc.rename("A", "Z", "now").is_ok());
    let out = String::from_utf8(doc.to_json().unwrap().to_vec()).unwrap();
    assert!(
        out.contains(r#""B":{"value":"b2","created":"c","updated":"now"}"#),
        "{out}"
    );
    assert!(!out.contains(r#""C""#), "{out}");
    let reparsed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reparsed["secrets"]["Z"]["value"], "aA");
    assert_eq!(reparsed["secrets"]["Z"]["x"][1]["y"], Value::Null);
    assert_eq!(reparsed["future"], true);
    let mut doc = Document::for_change(SecretBytes::new(text.to_vec()), "test").unwrap();
    doc.set("D", SecretString::from("d".to_string()), None, "now")
        .unwrap();
    let out = String::from_utf8(doc.to_json().unwrap().to_vec()).unwrap();
    assert!(
            out.contains(r#""A":{ "updated":"u", "value":"a\u0041", "x":[1,{"y":null}] },"B":{"value":"b","created":"c","updated":"u"},"C":{"value":"c"},"D":"#),
            "{out}"
        );
}

/// A document read for a change copies runs of untouched secrets in one piece: after
/// any change, the bytes are those of the same change made to the document decoded
/// whole and written entry by entry.
#[test]
fn runs_of_untouched_secrets_are_copied_as_the_whole_document_would_write_them() {
    let value = |v: &str| SecretString::from(v.to_string());
    let mut written = Document::new(vec!["age1x".into()]);
    for name in ["A", "B", "C", "D", "E", "F\u{e9}"] {
        written.set(name, value(name), None, "t0").unwrap();
    }
    let text = written.to_json().unwrap();
    type Change = fn(&mut Document);
    let changes: [(&str, Change); 8] = [
        ("nothing", |_| {}),
        ("set the first", |d| {
            d.set("A", SecretString::from("a".to_string()), None, "t1")
                .unwrap()
        }),
        ("set one between", |d| {
            d.set("C", SecretString::from("c".to_string()), None, "t1")
                .unwrap()
        }),
        ("set the last", |d| {
            d.set("F\u{e9}", SecretString::from("f".to_string()), None, "t1")
                .unwrap()
        }),
        ("remove the first", |d| drop(d.remove("A").unwrap())),
        ("remove one between", |d| drop(d.remove("C").unwrap())),
        ("add between", |d| {
            d.set("BB", SecretString::from("bb".to_string()), None, "t1")
                .unwrap()
        }),
        ("rename", |d| assert!(d.rename("B", "Z", "t1").unwrap())),
    ];
    for (what, change) in changes {
        let mut spans = Document::for_change(SecretBytes::new(text.to_vec()), "v").unwrap();
        let mut whole = Document::from_json(&text, "v").unwrap();
        change(&mut spans);
        change(&mut whole);
        assert_eq!(
            String::from_utf8(spans.to_json().unwrap().to_vec()).unwrap(),
            String::from_utf8(whole.to_json().unwrap().to_vec()).unwrap(),
            "{what}"
        );
    }
}

/// Every reader hands the vet what the signature says, for a small document and a
/// large one, and returns nothing the vet refuses.
#[test]
fn every_reader_has_the_signature_checked_before_it_returns() {
    use std::sync::{Arc, Mutex};
    let key =
        crate::signature::SigningKey::from_identity(&age::x25519::Identity::generate()).unwrap();
    for count in [3, 8_000] {
        let mut document = Document::new(vec!["age1x".into()]);
        for i in 0..count {
            document
                .set(
                    &format!("S{i:05}"),
                    SecretString::from(format!("v{i:040}")),
                    None,
                    "t",
                )
                .unwrap();
        }
        let json = document.to_json().unwrap();
        let signed =
            crate::signature::sign_object(crate::signature::Domain::Vault, Some(&key), &json)
                .unwrap();
        let mut tampered = signed.to_vec();
        let at = memchr::memmem::find(&tampered, b"v000").unwrap();
        tampered[at + 1] = b'9';
        for (bytes, valid) in [(signed.to_vec(), true), (tampered, false)] {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let plaintext = Plaintext::new(SecretBytes::new(bytes), "v".into()).vetted_by({
                let seen = Arc::clone(&seen);
                Box::new(move |_said: &Said<'_>, signed: &Signed| {
                    seen.lock()
                        .unwrap()
                        .push(matches!(signed, Signed::Valid { .. }));
                    if matches!(signed, Signed::Valid { .. }) {
                        Ok(())
                    } else {
                        Err(Error::LockedOut("refused".into()))
                    }
                })
            });
            assert_eq!(plaintext.select_one("S00001").is_ok(), valid, "{count}");
            assert_eq!(plaintext.values(&|_| true).is_ok(), valid, "{count}");
            assert_eq!(plaintext.names_starting_with("S").is_ok(), valid, "{count}");
            assert_eq!(*seen.lock().unwrap(), [valid; 3], "{count}");
        }
    }
}

/// Every reader reads the whole document, so what follows the secret it wants is
/// checked too; and the fields that say whom the document is for come once.
#[test]
fn readers_read_it_all_and_refuse_a_field_given_twice() {
    let head = br#"{"format":"secretsd-vault","version":1,"recipients":["age1x"],"secrets":{"A":{"value":"a"},"C":{"value":"c"},"#;
    let broken = [&head[..], b"\"E\":{\"value\":broken}}}"].concat();
    let plaintext = Plaintext::new(SecretBytes::new(broken), "v".into());
    assert!(plaintext.select_one("A").is_err());
    assert!(plaintext.names_starting_with("A").is_err());
    for twice in [
        r#""recipients":["age1x"],"recipients":["age1y"]"#,
        r#""generation":3,"generation":9"#,
        r#""membership":{},"membership":{}"#,
    ] {
        let text = format!(r#"{{"format":"secretsd-vault","version":2,{twice},"secrets":{{}}}}"#);
        let error = Document::from_json(text.as_bytes(), "v").unwrap_err();
        assert!(error.to_string().contains("duplicate field"), "{error}");
    }
}

#[test]
fn names_out_of_order_or_repeated_are_noticed() {
    for (secrets, in_order) in [
        (r#"{}"#, true),
        (r#"{"A":{"value":"a"},"B":{"value":"b"}}"#, true),
        (r#"{"B":{"value":"b"},"A":{"value":"a"}}"#, false),
        (r#"{"A":{"value":"a"},"A":{"value":"b"}}"#, false),
    ] {
        let text = format!(
            r#"{{"format":"secretsd-vault","version":1,"recipients":[],"secrets":{secrets}}}"#
        );
        let document = Document::from_json(text.as_bytes(), "v").unwrap();
        assert_eq!(document.names_in_order(), in_order, "{secrets}");
        let document = Document::for_change(SecretBytes::new(text.into_bytes()), "v").unwrap();
        assert_eq!(document.names_in_order(), in_order, "{secrets}");
    }
}

/// A secret that is JSON but not a secret (no value) is found when it is used, and
/// named; the others still read.
#[test]
fn a_broken_secret_is_named_when_it_is_used() {
    let text = br#"{"format":"secretsd-vault","version":1,"recipients":[],
            "secrets":{"A":{"value":"a"},"B":{"created":"c"}}}"#;
    let doc = Document::for_change(SecretBytes::new(text.to_vec()), "the vault v").unwrap();
    assert_eq!(doc.get("A").unwrap().unwrap().value().expose_secret(), "a");
    let error = doc.get("B").unwrap_err().to_string();
    assert!(error.contains("secret B is not valid"), "{error}");
}

#[test]
fn a_value_of_the_wrong_type_is_not_repeated_in_the_error() {
    for secrets in [
        r#"{"A":{"value":"well-formed"},"B":{"value":1234567}}"#,
        r#"{"A":{"value":"well-formed"},"B":"hunter2-bare-string"}"#,
        r#"{"A":{"value":"well-formed"},"B":{"value":["hunter2-in-a-list"]}}"#,
    ] {
        let text = format!(
            r#"{{"format":"secretsd-vault","version":1,"recipients":["age1x"],"secrets":{secrets}}}"#
        );
        let shown = match Document::from_json(text.as_bytes(), "v") {
            Err(error) => error.to_string(),
            Ok(document) => {
                let plaintext = Plaintext::new(SecretBytes::new(text.into_bytes()), "v".into());
                let mut said = String::new();
                if let Err(e) = plaintext.select_one("B") {
                    said.push_str(&e.to_string());
                }
                if let Err(e) = document.get("B") {
                    said.push_str(&e.to_string());
                }
                assert!(!said.is_empty(), "{secrets} was read");
                said
            }
        };
        for value in ["1234567", "hunter2-bare-string", "hunter2-in-a-list"] {
            assert!(!shown.contains(value), "{shown}");
        }
    }
}
