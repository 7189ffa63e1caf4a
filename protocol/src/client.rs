//! The host side: how `vault` runs one provider process and talks to it.
//!
//! One process per provider per invocation. Every answer has a deadline and a size limit;
//! a provider that hangs, crashes, exits early or prints garbage becomes a [`ClientError`]
//! naming it and what it did, and the process is killed and reaped. Secrets travel only
//! through the pipes: the provider gets no secret in argv, and only an allow-listed
//! environment.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::VERSIONS;
use crate::messages::*;

/// How long a provider may take to exit once its stdin is closed.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How vault runs providers.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// How long one answer (the hello included) may take.
    pub timeout: Duration,
    /// The longest line a provider may write.
    pub max_line_bytes: usize,
    /// The provider's whole environment.
    pub env: Vec<(OsString, OsString)>,
    /// Copy the provider's stderr to ours, each line prefixed with its name.
    pub show_stderr: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(30),
            max_line_bytes: 16 * 1024 * 1024,
            env: default_environment(),
            show_stderr: false,
        }
    }
}

/// Variables a provider may need to find its backend (a gpg agent, a D-Bus session, a
/// password store) — and nothing else, because vault's own environment can hold secrets.
pub const PASSED_ENVIRONMENT: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
    "DBUS_SESSION_BUS_ADDRESS",
    "GNUPGHOME",
    "GPG_TTY",
    "PASSWORD_STORE_DIR",
    "GOPASS_HOMEDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// The allow-listed part of this process's environment.
pub fn default_environment() -> Vec<(OsString, OsString)> {
    PASSED_ENVIRONMENT
        .iter()
        .filter_map(|name| std::env::var_os(name).map(|value| (OsString::from(name), value)))
        .collect()
}

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
enum Expected {
    Hello,
    Answer,
    /// The `ok` payload of an answer to this operation.
    Ok(Op),
}

/// Says which field of a provider's line has which wrong type — by path and type only,
/// because the line may carry secret values.
fn describe_bad_line(text: &str, error: &serde_json::Error, expected: Expected) -> String {
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

fn describe_status(status: &Option<ExitStatus>) -> String {
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

enum Line {
    Text(Zeroizing<String>),
    TooLong,
    NotUtf8,
    End,
}

/// Reads newline-terminated lines of at most `limit` bytes, on its own thread. The channel
/// holds no line: the thread reads the next line only once vault has taken the last, so a
/// provider that floods its stdout blocks on its own pipe instead of filling vault's memory.
fn spawn_reader(stdout: impl Read + Send + 'static, limit: usize) -> Receiver<Line> {
    let (sender, receiver) = sync_channel(0);
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(64 * 1024, stdout);
        loop {
            let mut line = Zeroizing::new(Vec::new());
            let outcome = loop {
                let buffer = match reader.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break Line::End,
                };
                if buffer.is_empty() {
                    break Line::End;
                }
                let (chunk, done) = match buffer.iter().position(|b| *b == b'\n') {
                    Some(at) => (&buffer[..at], at + 1),
                    None => (buffer, buffer.len()),
                };
                let complete = done > chunk.len();
                line.extend_from_slice(chunk);
                reader.consume(done);
                if line.len() > limit {
                    break Line::TooLong;
                }
                if complete {
                    break match String::from_utf8(std::mem::take(&mut *line)) {
                        Ok(text) => Line::Text(Zeroizing::new(text)),
                        Err(_) => Line::NotUtf8,
                    };
                }
            };
            let last = !matches!(outcome, Line::Text(_));
            if sender.send(outcome).is_err() || last {
                return;
            }
        }
    });
    receiver
}

/// The last lines of the provider's stderr, for error messages.
type StderrTail = Arc<Mutex<VecDeque<String>>>;

/// How much of one stderr line is kept or shown; the rest of a longer line is dropped, so a
/// provider that writes endless stderr without a newline costs vault nothing.
const STDERR_LINE_LIMIT: usize = 4096;

fn spawn_stderr(mut stderr: impl Read + Send + 'static, name: String, show: bool) -> StderrTail {
    let tail: StderrTail = Arc::new(Mutex::new(VecDeque::new()));
    let keep = Arc::clone(&tail);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        let mut line: Vec<u8> = Vec::with_capacity(256);
        let finish = |line: &mut Vec<u8>| {
            // Shown on a terminal: no control characters from the provider.
            let text: String = String::from_utf8_lossy(line)
                .chars()
                .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
                .collect();
            line.clear();
            if show {
                let mut out = std::io::stderr().lock();
                let _ = writeln!(out, "[{name}] {text}");
            }
            if let Ok(mut tail) = keep.lock() {
                if tail.len() == 3 {
                    tail.pop_front();
                }
                tail.push_back(text.chars().take(300).collect());
            }
        };
        loop {
            let read = match stderr.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            for &byte in &chunk[..read] {
                if byte == b'\n' {
                    finish(&mut line);
                } else if line.len() < STDERR_LINE_LIMIT {
                    line.push(byte);
                }
            }
        }
        if !line.is_empty() {
            finish(&mut line);
        }
    });
    tail
}

/// A running provider that has said hello.
pub struct ProviderProcess {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Line>,
    stderr: StderrTail,
    options: ClientOptions,
    hello: Hello,
    version: u32,
    next_id: u64,
}

impl ProviderProcess {
    /// Starts `path` as provider `name` and waits for its hello.
    pub fn spawn(name: &str, path: &Path, options: ClientOptions) -> Result<Self, ClientError> {
        let mut child = Command::new(path)
            // Its own process group, so whatever it starts is stopped with it.
            .process_group(0)
            .env_clear()
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ClientError::Spawn {
                provider: name.to_string(),
                path: path.to_path_buf(),
                source,
            })?;
        let lines = spawn_reader(child.stdout.take().expect("piped"), options.max_line_bytes);
        let stderr = spawn_stderr(
            child.stderr.take().expect("piped"),
            name.to_string(),
            options.show_stderr,
        );
        let stdin = child.stdin.take();
        let mut process = ProviderProcess {
            name: name.to_string(),
            child,
            stdin,
            lines,
            stderr,
            options,
            hello: Hello {
                v: Vec::new(),
                provider: String::new(),
                version: String::new(),
                ops: Vec::new(),
            },
            version: 0,
            next_id: 1,
        };
        let line = process.receive("its hello")?;
        let hello: Hello = serde_json::from_str(&line)
            .map_err(|e| process.garbage("its hello", &line, &e, Expected::Hello))?;
        let Some(version) = hello
            .v
            .iter()
            .copied()
            .filter(|v| VERSIONS.contains(v))
            .max()
        else {
            let offered = hello.v.clone();
            process.stop();
            return Err(ClientError::Version {
                provider: process.name.clone(),
                offered,
            });
        };
        process.version = version;
        process.hello = hello;
        Ok(process)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// Whether the provider advertised `op`.
    pub fn supports(&self, op: Op) -> bool {
        self.hello.ops.contains(&op)
    }

    fn stop(&mut self) {
        self.stdin.take();
        kill_group(&mut self.child);
    }

    /// The error for a line that is not the message expected; `text` is the line (or the
    /// `ok` payload of `op`), described by shape, never quoted: it may hold values.
    fn garbage(
        &mut self,
        during: &str,
        text: &str,
        error: &serde_json::Error,
        expected: Expected,
    ) -> ClientError {
        self.stop();
        ClientError::Garbage {
            provider: self.name.clone(),
            during: during.to_string(),
            detail: describe_bad_line(text, error, expected),
        }
    }

    fn stderr_tail(&self) -> String {
        self.stderr
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join(" | "))
            .unwrap_or_default()
    }

    /// The next line, within the deadline.
    fn receive(&mut self, during: &str) -> Result<Zeroizing<String>, ClientError> {
        let outcome = match self.lines.recv_timeout(self.options.timeout) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                self.stop();
                return Err(ClientError::Timeout {
                    provider: self.name.clone(),
                    during: during.to_string(),
                    timeout: self.options.timeout,
                });
            }
            Err(RecvTimeoutError::Disconnected) => Line::End,
        };
        match outcome {
            Line::Text(text) => Ok(text),
            Line::TooLong => {
                self.stop();
                Err(ClientError::TooLarge {
                    provider: self.name.clone(),
                    during: during.to_string(),
                    limit: self.options.max_line_bytes,
                })
            }
            Line::NotUtf8 => {
                self.stop();
                Err(ClientError::Garbage {
                    provider: self.name.clone(),
                    during: during.to_string(),
                    detail: "not UTF-8".into(),
                })
            }
            Line::End => {
                // Give the process a moment to be reaped so its status can be told.
                let status = self.wait_briefly();
                self.stop();
                // Let the stderr thread drain what the process left behind.
                std::thread::sleep(Duration::from_millis(20));
                Err(ClientError::Exited {
                    provider: self.name.clone(),
                    during: during.to_string(),
                    status,
                    stderr: self.stderr_tail(),
                })
            }
        }
    }

    fn wait_briefly(&mut self) -> Option<ExitStatus> {
        let deadline = Instant::now() + Duration::from_millis(500);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends one line as is (the conformance kit uses this for malformed input) and
    /// returns the response.
    pub fn exchange_raw(&mut self, line: &str, during: &str) -> Result<Response, ClientError> {
        let sent = self.stdin.as_mut().map(|stdin| {
            stdin
                .write_all(line.as_bytes())
                .and_then(|()| stdin.write_all(b"\n"))
                .and_then(|()| stdin.flush())
        });
        if !matches!(sent, Some(Ok(()))) {
            // It stopped reading: find out how it ended.
            return Err(self
                .receive(during)
                .err()
                .unwrap_or_else(|| ClientError::Exited {
                    provider: self.name.clone(),
                    during: during.to_string(),
                    status: None,
                    stderr: String::new(),
                }));
        }
        let text = self.receive(during)?;
        serde_json::from_str::<Response>(&text)
            .map_err(|e| self.garbage(during, &text, &e, Expected::Answer))
    }

    /// Sends a request and returns the raw `ok` payload, or the provider's error.
    fn call(
        &mut self,
        body: RequestBody,
        config: &Config,
    ) -> Result<Box<serde_json::value::RawValue>, ClientError> {
        let op = body.op();
        if !self.supports(op) {
            return Err(ClientError::Unsupported {
                provider: self.name.clone(),
                op,
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        let request = Request {
            v: self.version,
            id,
            body,
            config: config.clone(),
            max_line: Some(self.options.max_line_bytes as u64),
        };
        let line =
            Zeroizing::new(
                serde_json::to_string(&request).map_err(|e| ClientError::Garbage {
                    provider: self.name.clone(),
                    during: format!("'{op}'"),
                    detail: format!("cannot encode the request: {e}"),
                })?,
            );
        drop(request);
        let during = format!("'{op}'");
        let response = self.exchange_raw(&line, &during)?;
        if response.id != Some(id) {
            self.stop();
            return Err(ClientError::Garbage {
                provider: self.name.clone(),
                during,
                detail: format!(
                    "the answer has id {}, the request had {id}",
                    describe_id(response.id)
                ),
            });
        }
        match (response.ok, response.err) {
            (Some(ok), None) => Ok(ok),
            (None, Some(error)) => Err(ClientError::Failed {
                provider: self.name.clone(),
                error,
            }),
            _ => {
                self.stop();
                Err(ClientError::Garbage {
                    provider: self.name.clone(),
                    during,
                    detail: "an answer needs exactly one of \"ok\" and \"err\"".into(),
                })
            }
        }
    }

    fn typed<T: serde::de::DeserializeOwned>(
        &mut self,
        raw: &serde_json::value::RawValue,
        op: Op,
    ) -> Result<T, ClientError> {
        serde_json::from_str(raw.get())
            .map_err(|e| self.garbage(&format!("'{op}'"), raw.get(), &e, Expected::Ok(op)))
    }

    /// Values of many keys in one request — or, when the provider says the answer would
    /// not fit in one line (`too-large`), in halves, and halves of those (SPEC §2).
    pub fn get(&mut self, config: &Config, keys: &[String]) -> Result<GetOk, ClientError> {
        let result = self.call(
            RequestBody::Get {
                keys: keys.to_vec(),
            },
            config,
        );
        let raw = match result {
            Err(ClientError::Failed { error, .. })
                if error.kind == ErrorKind::TooLarge && keys.len() > 1 =>
            {
                let (first, second) = keys.split_at(keys.len() / 2);
                let mut answer = self.get(config, first)?;
                let rest = self.get(config, second)?;
                answer.values.extend(rest.values);
                answer.errors.extend(rest.errors);
                return Ok(answer);
            }
            other => other?,
        };
        let answer: GetOk = self.typed(&raw, Op::Get)?;
        // Every key must be answered one way or the other: one left out is a broken
        // promise, not a missing secret (SPEC §4).
        if let Some(key) = keys
            .iter()
            .find(|k| !answer.values.contains_key(*k) && !answer.errors.contains_key(*k))
        {
            self.stop();
            return Err(ClientError::Garbage {
                provider: self.name.clone(),
                during: "'get'".into(),
                detail: format!(
                    "the answer leaves out the key \"{key}\" (every key asked for belongs in \"values\" or \"errors\")"
                ),
            });
        }
        Ok(answer)
    }

    pub fn list(&mut self, config: &Config, prefix: Option<&str>) -> Result<ListOk, ClientError> {
        let raw = self.call(
            RequestBody::List {
                prefix: prefix.map(str::to_string),
            },
            config,
        )?;
        self.typed(&raw, Op::List)
    }

    pub fn set(
        &mut self,
        config: &Config,
        key: &str,
        value: SecretValue,
    ) -> Result<(), ClientError> {
        let raw = self.call(
            RequestBody::Set {
                key: key.to_string(),
                value,
            },
            config,
        )?;
        self.typed::<Empty>(&raw, Op::Set).map(|_| ())
    }

    pub fn delete(&mut self, config: &Config, key: &str) -> Result<(), ClientError> {
        let raw = self.call(
            RequestBody::Delete {
                key: key.to_string(),
            },
            config,
        )?;
        self.typed::<Empty>(&raw, Op::Delete).map(|_| ())
    }

    /// Closes stdin: the provider should now exit. [`ProviderProcess::close`] waits for
    /// that; closing several providers' stdin first lets them exit in parallel.
    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Closes stdin and waits for the provider to exit, as the protocol asks of it.
    pub fn close(mut self) -> Result<(), ClientError> {
        self.stdin.take();
        // Exiting takes no work: a provider still running after a few seconds is stopped
        // rather than holding vault up for a whole answer timeout.
        let grace = self.options.timeout.min(SHUTDOWN_GRACE);
        let deadline = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return Ok(()),
                Ok(Some(status)) => {
                    return Err(ClientError::Exited {
                        provider: self.name.clone(),
                        during: "shutdown".into(),
                        status: Some(status),
                        stderr: self.stderr_tail(),
                    });
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                _ => {
                    self.stop();
                    return Err(ClientError::Timeout {
                        provider: self.name.clone(),
                        during: "shutdown (after stdin was closed)".into(),
                        timeout: grace,
                    });
                }
            }
        }
    }
}

impl Drop for ProviderProcess {
    fn drop(&mut self) {
        self.stdin.take();
        if let Ok(None) = self.child.try_wait() {
            // Give a well-behaved provider a moment to exit on its own, then stop it.
            let deadline = Instant::now() + Duration::from_millis(200);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            kill_group(&mut self.child);
        }
    }
}

/// Kills a provider and every process of its group (what it forked), and reaps it.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) with a negative pid signals the process group the provider leads
        // (it was started with process_group(0)); it touches no memory.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
