//! The provider side: a trait to implement and the loop that speaks the protocol for it.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use serde::Serialize;
use zeroize::Zeroizing;

use crate::VERSIONS;
use crate::messages::*;

/// What a provider does. Only `get` is required; an operation that is not implemented
/// answers `unsupported`, and should be left out of [`Provider::ops`].
pub trait Provider {
    /// The provider's name, as in `secretsd-provider-<name>`.
    fn name(&self) -> &str;
    /// The provider's own version.
    fn version(&self) -> &str;
    /// The operations advertised in the hello.
    fn ops(&self) -> Vec<Op>;

    /// Values of `keys`; each key ends up in `values` or in `errors`.
    fn get(&mut self, config: &Config, keys: &[String]) -> Result<GetOk, ProviderError>;

    fn list(&mut self, _config: &Config, _prefix: Option<&str>) -> Result<ListOk, ProviderError> {
        Err(ProviderError::unsupported(Op::List))
    }

    fn set(
        &mut self,
        _config: &Config,
        _key: &str,
        _value: &SecretValue,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::unsupported(Op::Set))
    }

    fn delete(&mut self, _config: &Config, _key: &str) -> Result<(), ProviderError> {
        Err(ProviderError::unsupported(Op::Delete))
    }
}

/// Serves `provider` on stdin/stdout until vault closes stdin. Use as the whole `main`.
pub fn serve(provider: impl Provider) -> ExitCode {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    match serve_io(provider, stdin.lock(), stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Diagnostics go to stderr, never values.
            eprintln!("provider: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_line<T: Serialize>(out: &mut impl Write, message: &T) -> std::io::Result<()> {
    let line = Zeroizing::new(serde_json::to_vec(message).map_err(std::io::Error::other)?);
    write_bytes(out, &line)
}

fn write_bytes(out: &mut impl Write, line: &[u8]) -> std::io::Result<()> {
    out.write_all(line)?;
    out.write_all(b"\n")?;
    out.flush()
}

fn answer<T: Serialize>(
    out: &mut impl Write,
    id: Option<u64>,
    result: Result<T, ProviderError>,
) -> std::io::Result<()> {
    match &result {
        Ok(payload) => write_line(
            out,
            &ResponseRef {
                id,
                ok: Some(payload),
                err: None,
            },
        ),
        Err(error) => write_line(
            out,
            &ResponseRef::<Empty> {
                id,
                ok: None,
                err: Some(error),
            },
        ),
    }
}

/// Answers within `max_line` (SPEC §2): an answer that would be longer is not sent. A `get`
/// of several keys is answered `too-large` as a whole, and vault asks again in smaller
/// batches; a `get` of one key whose value alone is too long answers that key `too-large`;
/// anything else is `too-large` as a whole.
fn answer_within<T: Serialize + TooLargeKeys>(
    out: &mut impl Write,
    id: Option<u64>,
    result: Result<T, ProviderError>,
    max_line: u64,
    keys: &[String],
) -> std::io::Result<()> {
    let Ok(payload) = &result else {
        return answer(out, id, result);
    };
    let response = ResponseRef {
        id,
        ok: Some(payload),
        err: None,
    };
    let line = Zeroizing::new(serde_json::to_vec(&response).map_err(std::io::Error::other)?);
    if line.len() as u64 <= max_line {
        return write_bytes(out, &line);
    }
    let message = format!(
        "the answer is {} bytes, over the {max_line} bytes of one line",
        line.len()
    );
    if let [key] = keys
        && let Some(single) = T::one_too_large(key, &message)
    {
        return answer(out, id, Ok(single));
    }
    answer::<Empty>(
        out,
        id,
        Err(ProviderError::new(ErrorKind::TooLarge, message)),
    )
}

/// How an answer says that one key's value is too large to send.
trait TooLargeKeys: Sized {
    fn one_too_large(_key: &str, _message: &str) -> Option<Self> {
        None
    }
}

impl TooLargeKeys for GetOk {
    fn one_too_large(key: &str, message: &str) -> Option<Self> {
        let mut answer = GetOk::default();
        answer.errors.insert(
            key.to_string(),
            KeyError {
                kind: ErrorKind::TooLarge,
                message: Some(message.to_string()),
            },
        );
        Some(answer)
    }
}

impl TooLargeKeys for ListOk {}

/// Why a line is not a request, said without quoting it (a `set` carries a value), and the
/// id to answer with when the line has a readable one.
fn refuse(line: &str, error: &serde_json::Error) -> (Option<u64>, ProviderError) {
    use serde_json::Value;
    let invalid = |message: String| ProviderError::new(ErrorKind::Invalid, message);
    let value = match serde_json::from_str::<Value>(line) {
        Ok(value) => value,
        Err(_) => {
            return (
                None,
                invalid(format!(
                    "the line is not JSON (line {}, column {})",
                    error.line(),
                    error.column()
                )),
            );
        }
    };
    let Some(object) = value.as_object() else {
        return (None, invalid("the request is not a JSON object".into()));
    };
    let id = object.get("id").and_then(Value::as_u64);
    let kind = crate::json_type;
    let problem = match (object.get("v"), object.get("id"), object.get("op")) {
        (None, ..) => "the request has no \"v\"".to_string(),
        (Some(v), ..) if v.as_u64().is_none_or(|v| v > u64::from(u32::MAX)) => {
            format!("\"v\" is {}, not a protocol version number", kind(v))
        }
        (_, None, _) => "the request has no \"id\"".to_string(),
        (_, Some(v), _) if id.is_none() => {
            format!("\"id\" is {}, not a whole number from 0", kind(v))
        }
        (_, _, Some(Value::String(op)))
            if !["get", "list", "set", "delete"].contains(&op.as_str()) =>
        {
            return (
                id,
                ProviderError::new(ErrorKind::Unsupported, format!("unknown operation '{op}'")),
            );
        }
        (_, _, None) => "the request has no \"op\"".to_string(),
        (_, _, Some(op)) if !op.is_string() => format!("\"op\" is {}, not a string", kind(op)),
        _ => {
            // The fields of the operation itself: name the first that is missing or of
            // the wrong type.
            let op = object["op"].as_str().unwrap_or_default();
            let fields: &[(&str, &str)] = match op {
                "get" => &[("keys", "an array of strings")],
                "set" => &[("key", "a string"), ("value", "a string")],
                "delete" => &[("key", "a string")],
                _ => &[],
            };
            let wrong = fields.iter().find_map(|(field, wanted)| {
                let ok = match (object.get(*field), *wanted) {
                    (Some(Value::String(_)), "a string") => true,
                    (Some(Value::Array(items)), _) => items.iter().all(Value::is_string),
                    _ => false,
                };
                (!ok).then(|| match object.get(*field) {
                    None => format!("'{op}' needs \"{field}\" ({wanted})"),
                    Some(v) => format!("\"{field}\" is {}; '{op}' needs {wanted}", kind(v)),
                })
            });
            wrong.unwrap_or_else(|| match (object.get("prefix"), object.get("config")) {
                (Some(p), _) if !p.is_string() && !p.is_null() => {
                    format!("\"prefix\" is {}, not a string", kind(p))
                }
                (_, Some(c)) if !c.is_object() => {
                    format!("\"config\" is {}, not an object", kind(c))
                }
                _ => "the request does not follow the protocol".to_string(),
            })
        }
    };
    (id, invalid(problem))
}

/// The protocol loop over any reader and writer (tests use buffers).
pub fn serve_io(
    mut provider: impl Provider,
    mut input: impl BufRead,
    mut output: impl Write,
) -> std::io::Result<()> {
    let hello = Hello {
        v: VERSIONS.to_vec(),
        provider: provider.name().to_string(),
        version: provider.version().to_string(),
        ops: provider.ops(),
    };
    write_line(&mut output, &hello)?;
    let mut line = Zeroizing::new(String::new());
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if line.trim().is_empty() {
            continue;
        }
        let request: Request = match serde_json::from_str(&line) {
            Ok(request) => request,
            Err(e) => {
                let (id, error) = refuse(&line, &e);
                answer::<Empty>(&mut output, id, Err(error))?;
                continue;
            }
        };
        let id = Some(request.id);
        if !VERSIONS.contains(&request.v) {
            let error = ProviderError::new(
                ErrorKind::Unsupported,
                format!(
                    "protocol version {} is not spoken here (only {})",
                    request.v,
                    crate::versions_text(VERSIONS)
                ),
            );
            answer::<Empty>(&mut output, id, Err(error))?;
            continue;
        }
        let config = &request.config;
        let max_line = request.max_line.unwrap_or(MAX_LINE);
        match &request.body {
            RequestBody::Get { keys } => {
                let result = provider.get(config, keys);
                answer_within(&mut output, id, result, max_line, keys)?
            }
            RequestBody::List { prefix } => {
                let result = provider.list(config, prefix.as_deref());
                answer_within(&mut output, id, result, max_line, &[])?
            }
            RequestBody::Set { key, value } => answer(
                &mut output,
                id,
                provider.set(config, key, value).map(|()| Empty {}),
            )?,
            RequestBody::Delete { key } => answer(
                &mut output,
                id,
                provider.delete(config, key).map(|()| Empty {}),
            )?,
        }
    }
}
