//! What went wrong with a provider, said so a person can act on it: by provider, request
//! and field, never by quoting a line (it may hold values).

use std::fmt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

use crate::VERSIONS;
use crate::messages::*;

/// What went wrong with a provider. Messages name the provider and never carry a value.
#[derive(Debug)]
pub enum ClientError {
    Spawn {
        provider: String,
        path: PathBuf,
        source: std::io::Error,
    },
    Timeout {
        provider: String,
        during: String,
        timeout: Duration,
    },
    Exited {
        provider: String,
        during: String,
        status: Option<ExitStatus>,
        stderr: String,
    },
    Garbage {
        provider: String,
        during: String,
        detail: String,
    },
    TooLarge {
        provider: String,
        during: String,
        limit: usize,
    },
    Version {
        provider: String,
        offered: Vec<u32>,
    },
    Unsupported {
        provider: String,
        op: Op,
    },
    /// The provider answered with an error.
    Failed {
        provider: String,
        error: ProviderError,
    },
}

impl ClientError {
    /// The provider's own error kind, when it answered one.
    pub fn kind(&self) -> Option<ErrorKind> {
        match self {
            ClientError::Failed { error, .. } => Some(error.kind),
            ClientError::Unsupported { .. } => Some(ErrorKind::Unsupported),
            _ => None,
        }
    }
}

/// An answer's id as a person reads it: the number, or "none".
/// What a line from a provider should have been.
#[derive(Clone, Copy)]
pub(super) enum Expected {
    Hello,
    Answer,
    /// The `ok` payload of an answer to this operation.
    Ok(Op),
}

/// Says which field of a provider's line has which wrong type — by path and type only,
/// because the line may carry secret values.
pub(super) fn describe_bad_line(
    text: &str,
    error: &serde_json::Error,
    expected: Expected,
) -> String {
    use serde_json::Value;
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return format!(
            "a line that is not JSON (line {}, column {})",
            error.line(),
            error.column()
        );
    };
    let Some(object) = value.as_object() else {
        return format!("{} where a JSON object belongs", crate::json_type(&value));
    };
    let field = |name: &str, wanted: &str, ok: &dyn Fn(&Value) -> bool| -> Option<String> {
        match object.get(name) {
            Some(v) if !ok(v) => Some(format!(
                "\"{name}\" is {}, not {wanted}",
                crate::json_type(v)
            )),
            _ => None,
        }
    };
    let is_string_map = |v: &Value| {
        v.as_object()
            .is_some_and(|m| m.values().all(Value::is_string))
    };
    let problem = match expected {
        Expected::Hello => field("v", "an array of version numbers", &|v| {
            v.as_array()
                .is_some_and(|a| a.iter().all(|n| n.as_u64().is_some()))
        })
        .or_else(|| field("provider", "a string", &Value::is_string))
        .or_else(|| field("version", "a string", &Value::is_string))
        .or_else(|| {
            field("ops", "an array of strings", &|v| {
                v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
            })
        })
        .or_else(|| {
            ["v", "provider", "version"]
                .iter()
                .find(|f| !object.contains_key(**f))
                .map(|f| format!("the hello has no \"{f}\""))
        }),
        Expected::Answer => field("id", "a whole number from 0 (or null)", &|v| {
            v.is_null() || v.as_u64().is_some()
        })
        .or_else(|| field("ok", "an object", &Value::is_object))
        .or_else(|| field("err", "an object", &Value::is_object))
        .or_else(|| {
            let kind = object.get("err").and_then(|e| e.get("kind"));
            match kind {
                Some(k) if !k.is_string() => Some(format!(
                    "\"err\".\"kind\" is {}, not a string",
                    crate::json_type(k)
                )),
                None if object.contains_key("err") => Some("\"err\" has no \"kind\"".into()),
                _ => None,
            }
        }),
        Expected::Ok(Op::Get) => field("values", "an object of key to string", &is_string_map)
            .map(|problem| {
                // Name the first key whose value is not a string; keys are not secret.
                let bad = object
                    .get("values")
                    .and_then(Value::as_object)
                    .and_then(|m| {
                        m.iter().find(|(_, v)| !v.is_string()).map(|(k, v)| {
                            format!(
                                "the value of \"{k}\" is {}, not a string",
                                crate::json_type(v)
                            )
                        })
                    });
                bad.unwrap_or(problem)
            })
            .or_else(|| {
                field("errors", "an object of key to error", &|v| {
                    v.as_object().is_some_and(|m| {
                        m.values()
                            .all(|e| e.get("kind").is_some_and(Value::is_string))
                    })
                })
            }),
        Expected::Ok(Op::List) => field("keys", "an array of strings", &|v| {
            v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
        }),
        Expected::Ok(_) => None,
    };
    problem.unwrap_or_else(|| {
        format!(
            "a line that does not follow the protocol (line {}, column {})",
            error.line(),
            error.column()
        )
    })
}

pub fn describe_id(id: Option<u64>) -> String {
    id.map_or_else(|| "none".to_string(), |id| id.to_string())
}

pub(super) fn describe_status(status: &Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt;
    match status {
        Some(s) if s.code().is_some() => format!("exited with status {}", s.code().unwrap_or(-1)),
        Some(s) => format!("was killed by signal {}", s.signal().unwrap_or(0)),
        None => "closed its output".to_string(),
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Spawn {
                provider,
                path,
                source,
            } => {
                write!(
                    f,
                    "provider {provider} ({}) could not be started: {source}",
                    path.display()
                )
            }
            ClientError::Timeout {
                provider,
                during,
                timeout,
            } => write!(
                f,
                "provider {provider} did not answer {during} within {} s; it was stopped",
                timeout.as_secs_f64()
            ),
            ClientError::Exited {
                provider,
                during,
                status,
                stderr,
            } => {
                write!(
                    f,
                    "provider {provider} {} during {during}",
                    describe_status(status)
                )?;
                if !stderr.is_empty() {
                    write!(f, "; its stderr ended with: {stderr}")?;
                }
                Ok(())
            }
            ClientError::Garbage {
                provider,
                during,
                detail,
            } => write!(
                f,
                "provider {provider} answered {during} with something that is not the protocol ({detail}); it was stopped"
            ),
            ClientError::TooLarge {
                provider,
                during,
                limit,
            } => write!(
                f,
                "provider {provider} sent more than {} MiB in one line during {during}; it was stopped",
                limit / (1024 * 1024)
            ),
            ClientError::Version { provider, offered } => write!(
                f,
                "provider {provider} speaks protocol versions {}, this vault speaks {}; upgrade whichever is older",
                crate::versions_text(offered),
                crate::versions_text(VERSIONS)
            ),
            ClientError::Unsupported { provider, op } => {
                write!(f, "provider {provider} does not support '{op}'")
            }
            ClientError::Failed { provider, error } => write!(f, "provider {provider}: {error}"),
        }
    }
}

impl std::error::Error for ClientError {}
