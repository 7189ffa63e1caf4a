//! The serve loop, driven with in-memory input: hello first, answers in order, malformed
//! lines answered and survived, unknown versions and operations refused.

use secretsd_protocol::*;
use serde_json::Value;

struct Memory(std::collections::BTreeMap<String, String>);

impl Provider for Memory {
    fn name(&self) -> &str {
        "memory"
    }
    fn version(&self) -> &str {
        "1"
    }
    fn ops(&self) -> Vec<Op> {
        vec![Op::Get, Op::Set]
    }
    fn get(&mut self, _: &Config, keys: &[String]) -> Result<GetOk, ProviderError> {
        let mut answer = GetOk::default();
        for key in keys {
            match self.0.get(key) {
                Some(v) => {
                    answer
                        .values
                        .insert(key.clone(), SecretValue::new(v.clone()));
                }
                None => answer.not_found(key),
            }
        }
        Ok(answer)
    }
    fn set(&mut self, _: &Config, key: &str, value: &SecretValue) -> Result<(), ProviderError> {
        self.0.insert(key.into(), value.expose().into());
        Ok(())
    }
}

fn run(input: &str) -> Vec<Value> {
    let mut output = Vec::new();
    serve_io(Memory(Default::default()), input.as_bytes(), &mut output).unwrap();
    String::from_utf8(output)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn hello_then_answers_in_order() {
    let lines = run(concat!(
        r#"{"v":1,"id":1,"op":"set","config":{},"key":"a","value":"x\ny"}"#,
        "\n",
        r#"{"v":1,"id":2,"op":"get","config":{},"keys":["a","b"]}"#,
        "\n",
    ));
    assert_eq!(lines[0]["provider"], "memory");
    assert_eq!(lines[0]["ops"], serde_json::json!(["get", "set"]));
    assert_eq!(lines[1], serde_json::json!({"id": 1, "ok": {}}));
    assert_eq!(lines[2]["ok"]["values"]["a"], "x\ny");
    assert_eq!(lines[2]["ok"]["errors"]["b"]["kind"], "not-found");
}

#[test]
fn bad_input_is_answered_and_survived() {
    let lines = run(concat!(
        "not json\n",
        r#"{"v":99,"id":5,"op":"get","keys":[]}"#,
        "\n",
        r#"{"v":1,"id":6,"op":"rotate"}"#,
        "\n",
        r#"{"v":1,"id":7,"op":"list"}"#,
        "\n",
        r#"{"v":1,"id":8,"op":"get","keys":["a"]}"#,
        "\n",
    ));
    assert_eq!(lines[1]["id"], Value::Null);
    assert_eq!(lines[1]["err"]["kind"], "invalid");
    assert_eq!(
        (lines[2]["id"].as_u64(), lines[2]["err"]["kind"].as_str()),
        (Some(5), Some("unsupported"))
    );
    assert_eq!(lines[3]["err"]["kind"], "unsupported");
    assert_eq!(
        lines[4]["err"]["kind"], "unsupported",
        "list is not implemented here"
    );
    assert_eq!(lines[5]["ok"]["errors"]["a"]["kind"], "not-found");
}

/// Each kind of bad line gets `invalid`, with the id when it is readable, a message that
/// names the field and its type — never the value, which a `set` carries — and the loop
/// goes on. Empty lines and CRLF endings are not requests and not errors.
#[test]
fn bad_requests_are_named_by_field_and_type_without_their_values() {
    let lines = run(concat!(
        "[]\n",
        "\n",
        r#"{"id":3,"op":"get","keys":["a"]}"#,
        "\n",
        r#"{"v":"1","id":4,"op":"get","keys":["a"]}"#,
        "\n",
        r#"{"v":1,"id":5,"op":"set","key":"a","value":987654321}"#,
        "\n",
        r#"{"v":1,"id":6,"op":"get"}"#,
        "\r\n",
        r#"{"v":1,"id":7,"op":"get","keys":["a"],"config":[]}"#,
        "\n",
        r#"{"v":1,"id":8,"op":"get","keys":["a"]}"#,
        "\r\n",
    ));
    let answers: Vec<(Option<u64>, String, String)> = lines[1..]
        .iter()
        .map(|l| {
            (
                l["id"].as_u64(),
                l["err"]["kind"].as_str().unwrap_or("ok").to_string(),
                l["err"]["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let expected = [
        (None, "invalid", "the request is not a JSON object"),
        (Some(3), "invalid", "the request has no \"v\""),
        (
            Some(4),
            "invalid",
            "\"v\" is a string, not a protocol version number",
        ),
        (
            Some(5),
            "invalid",
            "\"value\" is a number; 'set' needs a string",
        ),
        (
            Some(6),
            "invalid",
            "'get' needs \"keys\" (an array of strings)",
        ),
        (Some(7), "invalid", "\"config\" is an array, not an object"),
        (Some(8), "ok", ""),
    ];
    assert_eq!(answers.len(), expected.len(), "{answers:?}");
    for (got, want) in answers.iter().zip(expected) {
        assert_eq!((got.0, got.1.as_str(), got.2.as_str()), want);
    }
    assert!(!lines.iter().any(|l| l.to_string().contains("987654321")));
}

/// An answer longer than the request's `max_line` is never written: a batch is refused
/// `too-large` as a whole, one key alone gets `too-large` in `errors`.
#[test]
fn answers_over_max_line_are_too_large() {
    let value = "x".repeat(300);
    let lines = run(&format!(
        concat!(
            r#"{{"v":1,"id":1,"op":"set","key":"a","value":"{v}"}}"#,
            "\n",
            r#"{{"v":1,"id":2,"op":"set","key":"b","value":"{v}"}}"#,
            "\n",
            r#"{{"v":1,"id":3,"op":"get","keys":["a","b"],"max_line":500}}"#,
            "\n",
            r#"{{"v":1,"id":4,"op":"get","keys":["a"],"max_line":500}}"#,
            "\n",
            r#"{{"v":1,"id":5,"op":"get","keys":["a"],"max_line":100}}"#,
            "\n",
        ),
        v = value
    ));
    assert_eq!(lines[3]["err"]["kind"], "too-large");
    assert_eq!(lines[4]["ok"]["values"]["a"], value.as_str());
    assert_eq!(lines[5]["ok"]["errors"]["a"]["kind"], "too-large");
    for line in &lines {
        assert!(line.to_string().len() <= 500 || line["id"].as_u64() < Some(3));
    }
}
