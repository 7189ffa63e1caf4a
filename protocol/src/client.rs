//! The host side: how `vault` runs one provider process and talks to it.
//!
//! One process per provider per invocation. Every answer has a deadline and a size limit;
//! a provider that hangs, crashes, exits early or prints garbage becomes a [`ClientError`]
//! naming it and what it did, and the process is killed and reaped. Secrets travel only
//! through the pipes: the provider gets no secret in argv, and only an allow-listed
//! environment.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::VERSIONS;
use crate::messages::*;

mod error;
mod pipes;

pub use error::{ClientError, describe_id};
use error::{Expected, describe_bad_line};
use pipes::{Hidden, Line, StderrTail, spawn_reader, spawn_stderr};

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

/// A running provider that has said hello.
pub struct ProviderProcess {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Line>,
    stderr: StderrTail,
    /// What it was sent that may be secret, shared with its stderr reader.
    hidden: Hidden,
    options: ClientOptions,
    hello: Hello,
    version: u32,
    next_id: u64,
}

/// `text` with every occurrence of what a provider was sent replaced by `…`, longest
/// first (so a value inside a longer one is not left half shown).
pub fn without_sent(text: &str, sent: &[Zeroizing<String>]) -> String {
    let mut known: Vec<&str> = sent.iter().map(|t| t.as_str()).collect();
    known.sort_unstable_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    known.dedup();
    let mut out = Zeroizing::new(text.to_string());
    for secret in known {
        if out.contains(secret) {
            out = Zeroizing::new(out.replace(secret, "…"));
        }
    }
    out.to_string()
}

impl ProviderProcess {
    /// Notes `text`, sent or about to be sent, as possibly secret: from now on it is taken
    /// out of what the provider says on stderr, shown (`-v`) or kept for an error.
    pub fn hide(&self, text: &str) {
        if let Ok(mut hidden) = self.hidden.lock() {
            hidden.push(Zeroizing::new(text.to_string()));
        }
    }

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
        let hidden = Hidden::default();
        let stderr = spawn_stderr(
            child.stderr.take().expect("piped"),
            name.to_string(),
            options.show_stderr,
            Arc::clone(&hidden),
        );
        let stdin = child.stdin.take();
        let mut process = ProviderProcess {
            name: name.to_string(),
            child,
            stdin,
            lines,
            stderr,
            hidden,
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
        // promise, not a missing secret, and one answered both ways says nothing that
        // can be believed (a value and a not-found: which stands?) (SPEC §4).
        let broken = keys.iter().find_map(|k| {
            match (answer.values.contains_key(k), answer.errors.contains_key(k)) {
                (false, false) => Some(format!("leaves out the key \"{k}\"")),
                (true, true) => Some(format!(
                    "answers the key \"{k}\" both with a value and with an error"
                )),
                _ => None,
            }
        });
        if let Some(what) = broken {
            self.stop();
            return Err(ClientError::Garbage {
                provider: self.name.clone(),
                during: "'get'".into(),
                detail: format!(
                    "the answer {what} (every key asked for belongs in \"values\" or \"errors\", once)"
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
