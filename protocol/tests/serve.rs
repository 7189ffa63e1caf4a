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
