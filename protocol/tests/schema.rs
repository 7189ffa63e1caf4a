//! The JSON Schemas under schema/ and the Rust types describe the same messages: what the
//! types write validates against the schemas, and the schemas' examples parse as the types.

use secretsd_protocol::*;
use serde_json::{Value, json};

fn schema(name: &str) -> jsonschema::Validator {
    let path = format!("{}/schema/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

fn examples(name: &str) -> Vec<Value> {
    let path = format!("{}/schema/{name}.json", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    schema["examples"].as_array().unwrap().clone()
}

fn assert_valid(validator: &jsonschema::Validator, message: &Value) {
    let errors: Vec<String> = validator
        .iter_errors(message)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{message} is invalid: {errors:?}");
}

#[test]
fn hellos_written_by_the_types_validate() {
    let hello = Hello {
        v: vec![1],
        provider: "shared-file".into(),
        version: "0.1.0".into(),
        ops: vec![Op::Get, Op::List, Op::Set, Op::Delete],
    };
    assert_valid(&schema("hello"), &serde_json::to_value(&hello).unwrap());
    for example in examples("hello") {
        assert_valid(&schema("hello"), &example);
        serde_json::from_value::<Hello>(example).unwrap();
    }
    assert!(!schema("hello").is_valid(&json!({"provider": "x", "version": "1"})));
}

#[test]
fn requests_written_by_the_types_validate() {
    let validator = schema("request");
    let bodies = [
        RequestBody::Get {
            keys: vec!["a".into(), "b".into()],
        },
        RequestBody::List {
            prefix: Some("app/".into()),
        },
        RequestBody::List { prefix: None },
        RequestBody::Set {
            key: "a".into(),
            value: SecretValue::new("v"),
        },
        RequestBody::Delete { key: "a".into() },
    ];
    for (id, body) in bodies.into_iter().enumerate() {
        let request = Request {
            v: 1,
            id: id as u64,
            body,
            config: Config::new(),
            max_line: Some(1024),
        };
        let value = serde_json::to_value(&request).unwrap();
        assert_valid(&validator, &value);
        assert_eq!(serde_json::from_value::<Request>(value).unwrap(), request);
    }
    for example in examples("request") {
        assert_valid(&validator, &example);
        serde_json::from_value::<Request>(example).unwrap();
    }
    assert!(
        !validator.is_valid(&json!({"v": 1, "id": 1, "op": "get"})),
        "get needs keys"
    );
    assert!(
        !validator.is_valid(&json!({"v": 1, "id": 1, "op": "set", "key": "a"})),
        "set needs a value"
    );
}

fn written<T: serde::Serialize>(
    id: Option<u64>,
    ok: Option<&T>,
    err: Option<&ProviderError>,
) -> Value {
    serde_json::to_value(ResponseRef { id, ok, err }).unwrap()
}

#[test]
fn responses_written_by_the_types_validate() {
    let validator = schema("response");
    let mut get = GetOk::default();
    get.values.insert("a".into(), SecretValue::new("1"));
    get.not_found("b");
    let error = ProviderError::new(ErrorKind::Denied, "no").caused_by("gpg: decryption failed");
    for message in [
        written(Some(1), Some(&get), None),
        written(
            Some(2),
            Some(&ListOk {
                keys: vec!["a".into()],
            }),
            None,
        ),
        written(Some(3), Some(&Empty {}), None),
        written::<Empty>(Some(4), None, Some(&error)),
        written::<Empty>(None, None, Some(&error)),
    ] {
        assert_valid(&validator, &message);
        let read: Response = serde_json::from_value(message).unwrap();
        assert!(read.ok.is_some() != read.err.is_some());
    }
    for example in examples("response") {
        assert_valid(&validator, &example);
        let read: Response = serde_json::from_value(example).unwrap();
        if let Some(ok) = read.ok {
            // Each ok payload parses as one of the answer types.
            let text = ok.get();
            assert!(
                serde_json::from_str::<GetOk>(text).is_ok()
                    || serde_json::from_str::<ListOk>(text).is_ok()
                    || serde_json::from_str::<Empty>(text).is_ok()
            );
        }
    }
    assert!(
        !validator.is_valid(&json!({"id": 1})),
        "an answer needs ok or err"
    );
    assert!(!validator.is_valid(&json!({"id": 1, "ok": {}, "err": {"kind": "internal"}})));
}

#[test]
fn newer_peers_are_understood() {
    // Unknown fields are ignored; unknown kinds and ops do not fail the parse.
    let hello: Hello = serde_json::from_value(json!({
        "v": [1, 2], "provider": "x", "version": "2", "ops": ["get", "rotate"], "features": {}
    }))
    .unwrap();
    assert_eq!(hello.ops, [Op::Get, Op::Unknown]);
    let error: ProviderError =
        serde_json::from_value(json!({"kind": "rate-limited", "message": "slow down", "retry": 3}))
            .unwrap();
    assert_eq!(error.kind, ErrorKind::Unknown);
    let get: GetOk = serde_json::from_value(json!({
        "values": {}, "errors": {"k": {"kind": "quota"}}, "meta": 1
    }))
    .unwrap();
    assert_eq!(get.errors["k"].kind, ErrorKind::Unknown);
}

#[test]
fn debug_output_never_shows_a_value() {
    let body = RequestBody::Set {
        key: "k".into(),
        value: SecretValue::new("hunter2"),
    };
    assert!(!format!("{body:?}").contains("hunter2"));
}
