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
    let mut line = Zeroizing::new(serde_json::to_vec(message).map_err(std::io::Error::other)?);
    line.push(b'\n');
    out.write_all(&line)?;
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
                // Answer what can be answered: the id, if the line has one.
                let value = serde_json::from_str::<serde_json::Value>(&line).ok();
                let id = value
                    .as_ref()
                    .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64));
                let op = value.as_ref().and_then(|v| {
                    v.get("op")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_string)
                });
                let error = match op {
                    Some(op) if !["get", "list", "set", "delete"].contains(&op.as_str()) => {
                        ProviderError::new(
                            ErrorKind::Unsupported,
                            format!("unknown operation '{op}'"),
                        )
                    }
                    _ => ProviderError::new(
                        ErrorKind::Invalid,
                        format!(
                            "malformed request (line {}, column {})",
                            e.line(),
                            e.column()
                        ),
                    ),
                };
                answer::<Empty>(&mut output, id, Err(error))?;
                continue;
            }
        };
        let id = Some(request.id);
        if !VERSIONS.contains(&request.v) {
            let error = ProviderError::new(
                ErrorKind::Unsupported,
                format!(
                    "protocol version {} is not spoken here (only {VERSIONS:?})",
                    request.v
                ),
            );
            answer::<Empty>(&mut output, id, Err(error))?;
            continue;
        }
        let config = &request.config;
        match &request.body {
            RequestBody::Get { keys } => answer(&mut output, id, provider.get(config, keys))?,
            RequestBody::List { prefix } => {
                answer(&mut output, id, provider.list(config, prefix.as_deref()))?
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
