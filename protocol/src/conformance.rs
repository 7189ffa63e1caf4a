//! The conformance kit: runs a provider binary through the protocol's promises.
//! `vault provider check NAME` prints one line per case.

use std::path::Path;

use crate::client::{ClientError, ClientOptions, ProviderProcess};
use crate::messages::*;

/// The result of one case: `Ok(detail)` or `Err(reason)`.
pub struct Case {
    pub name: &'static str,
    pub outcome: Result<String, String>,
}

/// The failed cases, as `name: reason` lines.
pub fn failures(cases: &[Case]) -> Vec<String> {
    cases
        .iter()
        .filter_map(|c| c.outcome.as_ref().err().map(|e| format!("{}: {e}", c.name)))
        .collect()
}

/// What the checks need.
pub struct CheckOptions {
    /// The provider's configuration (as vault would send it).
    pub config: Config,
    /// Keys written by the checks start with this, and are deleted afterwards.
    pub key_prefix: String,
    pub client: ClientOptions,
}

struct Checker<'a> {
    process: ProviderProcess,
    options: &'a CheckOptions,
    cases: Vec<Case>,
    written: Vec<String>,
    next_raw_id: u64,
}

const UNICODE_VALUE: &str = "ünïcødé ✓ 🔑 'single' \"double\" $HOME \\ back#slash =";

impl Checker<'_> {
    fn record(&mut self, name: &'static str, outcome: Result<String, String>) {
        self.cases.push(Case { name, outcome });
    }

    fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.options.key_prefix)
    }

    fn raw(&mut self, line: &str, during: &str) -> Result<Response, String> {
        self.process
            .exchange_raw(line, during)
            .map_err(|e| e.to_string())
    }

    fn version_mismatch(&mut self) -> Result<String, String> {
        self.next_raw_id += 1;
        let id = self.next_raw_id;
        let config = serde_json::Value::Object(self.options.config.clone());
        let line = format!(r#"{{"v":99,"id":{id},"op":"get","config":{config},"keys":["x"]}}"#);
        let response = self.raw(&line, "a request of protocol version 99")?;
        match (response.id, response.err) {
            (Some(got), Some(error)) if got == id => Ok(format!("answered {}", error.kind)),
            (_, None) => Err("answered a version-99 request as if it understood it".into()),
            (got, _) => Err(format!(
                "answered with id {} instead of {id}",
                crate::client::describe_id(got)
            )),
        }
    }

    fn malformed(&mut self) -> Result<String, String> {
        let response = self.raw("this is not JSON", "a malformed request")?;
        let Some(error) = response.err else {
            return Err("answered a malformed request without an error".into());
        };
        // It must still be serving.
        let missing = self.key("MISSING_AFTER_MALFORMED");
        let config = self.options.config.clone();
        self.process
            .get(&config, &[missing])
            .map_err(|e| format!("stopped serving after a malformed request: {e}"))?;
        Ok(format!("answered {} and kept serving", error.kind))
    }

    fn unknown_op(&mut self) -> Result<String, String> {
        self.next_raw_id += 1;
        let id = self.next_raw_id;
        let config = serde_json::Value::Object(self.options.config.clone());
        let line = format!(r#"{{"v":1,"id":{id},"op":"frobnicate","config":{config}}}"#);
        let response = self.raw(&line, "an unknown operation")?;
        match response.err {
            Some(error) if matches!(error.kind, ErrorKind::Unsupported | ErrorKind::Invalid) => {
                Ok(format!("answered {}", error.kind))
            }
            Some(error) => Err(format!("answered {} instead of unsupported", error.kind)),
            None => Err("answered an unknown operation with ok".into()),
        }
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), ClientError> {
        let config = self.options.config.clone();
        self.written.push(key.to_string());
        self.process.set(&config, key, SecretValue::new(value))
    }

    fn get_one(&mut self, key: &str) -> Result<Option<String>, String> {
        let config = self.options.config.clone();
        let answer = self
            .process
            .get(&config, &[key.to_string()])
            .map_err(|e| e.to_string())?;
        if let Some(value) = answer.values.get(key) {
            return Ok(Some(value.expose().to_string()));
        }
        match answer.errors.get(key) {
            Some(error) if error.kind == ErrorKind::NotFound => Ok(None),
            Some(error) => Err(format!("get {key}: {}", error.kind)),
            None => Err(format!("get {key}: no answer for the key")),
        }
    }

    fn batched_get(&mut self) -> Result<String, String> {
        let present = self.key("PRESENT");
        let missing = self.key("MISSING");
        let can_set = self.process.supports(Op::Set);
        if can_set {
            self.set(&present, "present-value")
                .map_err(|e| e.to_string())?;
        }
        let config = self.options.config.clone();
        let answer = self
            .process
            .get(&config, &[present.clone(), missing.clone()])
            .map_err(|e| e.to_string())?;
        if answer.errors.get(&missing).map(|e| e.kind) != Some(ErrorKind::NotFound) {
            return Err(format!("{missing} was not answered as not-found"));
        }
        if can_set && answer.values.get(&present).map(SecretValue::expose) != Some("present-value")
        {
            return Err(format!("{present} did not come back as it was set"));
        }
        Ok(if can_set {
            "one key found, one not-found, in one request".into()
        } else {
            "missing keys answered not-found (no set, so nothing to find)".into()
        })
    }

    fn list(&mut self) -> Result<String, String> {
        let config = self.options.config.clone();
        let listed = match self.process.list(&config, Some(&self.options.key_prefix)) {
            Ok(listed) => listed,
            // Whether a backend can list may depend on the configuration (a kernel keyring
            // cannot); saying so is conformant.
            Err(ClientError::Failed { error, .. }) if error.kind == ErrorKind::Unsupported => {
                return Ok(format!(
                    "unsupported with this configuration: {}",
                    error.message
                ));
            }
            Err(e) => return Err(e.to_string()),
        };
        let present = self.key("PRESENT");
        if self.process.supports(Op::Set) && !listed.keys.contains(&present) {
            return Err(format!("{present} was set but is not listed"));
        }
        Ok(format!("{} keys under the prefix", listed.keys.len()))
    }

    fn round_trip(&mut self, suffix: &str, value: &str) -> Result<String, String> {
        let key = self.key(suffix);
        match self.set(&key, value) {
            Ok(()) => {}
            // Refusing a value it cannot hold, with a clear error, is conformant.
            Err(ClientError::Failed { error, .. })
                if matches!(error.kind, ErrorKind::Invalid | ErrorKind::Unsupported) =>
            {
                return Ok(format!("refused cleanly: {error}"));
            }
            Err(e) => return Err(e.to_string()),
        }
        match self.get_one(&key)? {
            Some(read) if read == value => Ok(format!("{} bytes round-tripped", value.len())),
            Some(_) => Err("the value read back differs from the value set".into()),
            None => Err("the value set is not found".into()),
        }
    }

    fn set_delete(&mut self) -> Result<String, String> {
        let key = self.key("ROUND_TRIP");
        self.round_trip("ROUND_TRIP", "round-trip-value")?;
        if !self.process.supports(Op::Delete) {
            return Ok("set and get (no delete advertised)".into());
        }
        let config = self.options.config.clone();
        self.process
            .delete(&config, &key)
            .map_err(|e| e.to_string())?;
        match self.get_one(&key)? {
            None => Ok("set, get, delete, then not-found".into()),
            Some(_) => Err(format!("{key} is still there after delete")),
        }
    }

    fn cleanup(&mut self) {
        if !self.process.supports(Op::Delete) {
            return;
        }
        let config = self.options.config.clone();
        for key in std::mem::take(&mut self.written) {
            let _ = self.process.delete(&config, &key);
        }
    }
}

/// Runs every case against the provider binary at `path`.
pub fn check(name: &str, path: &Path, options: &CheckOptions) -> Vec<Case> {
    let process = match ProviderProcess::spawn(name, path, options.client.clone()) {
        Ok(process) => process,
        Err(e) => {
            return vec![Case {
                name: "hello",
                outcome: Err(e.to_string()),
            }];
        }
    };
    let hello = process.hello().clone();
    let mut checker = Checker {
        process,
        options,
        cases: Vec::new(),
        written: Vec::new(),
        next_raw_id: 1_000_000,
    };
    let hello_outcome = if hello.provider == name {
        let ops: Vec<String> = hello.ops.iter().map(Op::to_string).collect();
        Ok(format!(
            "{} {}, versions {:?}, ops {}",
            hello.provider,
            hello.version,
            hello.v,
            ops.join(",")
        ))
    } else {
        Err(format!(
            "the hello names provider {:?}, not {name:?}",
            hello.provider
        ))
    };
    checker.record("hello", hello_outcome);
    let outcome = checker.version_mismatch();
    checker.record("version mismatch", outcome);
    let outcome = checker.batched_get();
    checker.record("batched get with a missing key", outcome);
    if hello.ops.contains(&Op::List) {
        let outcome = checker.list();
        checker.record("list", outcome);
    }
    if hello.ops.contains(&Op::Set) {
        let outcome = checker.set_delete();
        checker.record("set/delete round trip", outcome);
        let outcome = checker.round_trip("UNICODE", UNICODE_VALUE);
        checker.record("unicode value", outcome);
        let big: String = (0..1024 * 1024)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let outcome = checker.round_trip("ONE_MIB", &big);
        checker.record("1 MiB value", outcome);
    }
    let outcome = checker.malformed();
    checker.record("malformed request", outcome);
    let outcome = checker.unknown_op();
    checker.record("unknown operation", outcome);
    checker.cleanup();
    let Checker {
        process, mut cases, ..
    } = checker;
    let outcome = process
        .close()
        .map(|()| "exited 0 when stdin closed".to_string())
        .map_err(|e| e.to_string());
    cases.push(Case {
        name: "stdin close",
        outcome,
    });
    cases
}
