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

    /// A request line written by hand, with `{config}` standing for the configuration:
    /// sent with it, shown without it (it may hold resolved credentials).
    fn probe(&mut self, template: &str) -> (u64, String, String) {
        self.next_raw_id += 1;
        let id = self.next_raw_id;
        let config = serde_json::Value::Object(self.options.config.clone()).to_string();
        let template = template.replace("{id}", &id.to_string());
        (
            id,
            template.replace("{config}", &config),
            template.replace("{config}", "{…}"),
        )
    }

    /// Sends `line` and reads one answer; a failure says what was sent and what came back.
    fn raw(&mut self, line: &str, shown: &str, during: &str) -> Result<(Response, String), String> {
        self.process
            .exchange_raw(line, during)
            .map(|response| {
                let got = describe_response(&response);
                (response, got)
            })
            .map_err(|e| format!("sent {shown}; got no answer: {e}"))
    }

    /// Whether the provider still answers: any answer with the right id will do (with an
    /// empty configuration most providers answer `invalid`, which is serving all the same).
    fn still_serving(&mut self, after: &str) -> Result<(), String> {
        let (id, line, shown) = self.probe(
            r#"{"v":1,"id":{id},"op":"get","config":{config},"keys":["SECRETSD_CHECK_ALIVE"]}"#,
        );
        let (response, got) = self
            .raw(&line, &shown, "a request after a bad one")
            .map_err(|e| format!("stopped serving after {after}: {e}"))?;
        if response.id != Some(id) {
            return Err(format!("after {after}: sent {shown}; got {got}"));
        }
        Ok(())
    }

    /// A line that is not a request is answered `invalid` — with the request's id when it
    /// was readable, else null — and the provider keeps serving.
    fn refused(&mut self, template: &str, readable_id: bool, what: &str) -> Result<String, String> {
        let (id, line, shown) = self.probe(template);
        let (response, got) = self.raw(&line, &shown, what)?;
        let expected = readable_id.then_some(id);
        let fail = |why: &str| Err(format!("{why}: sent {shown}; got {got}"));
        match &response.err {
            None => return fail("answered without an error"),
            Some(error) if error.kind != ErrorKind::Invalid => {
                return fail("answered another kind than invalid");
            }
            Some(_) if response.id != expected => {
                return fail(&format!(
                    "answered with id {} instead of {}",
                    crate::client::describe_id(response.id),
                    crate::client::describe_id(expected)
                ));
            }
            Some(_) => {}
        }
        self.still_serving(what)?;
        Ok(format!(
            "answered invalid with id {} and kept serving",
            crate::client::describe_id(expected)
        ))
    }

    fn version_mismatch(&mut self) -> Result<String, String> {
        let (id, line, shown) =
            self.probe(r#"{"v":99,"id":{id},"op":"get","config":{config},"keys":["x"]}"#);
        let (response, got) = self.raw(&line, &shown, "a request of protocol version 99")?;
        match (response.id, &response.err) {
            (Some(answered), Some(error))
                if answered == id && error.kind == ErrorKind::Unsupported =>
            {
                Ok("answered unsupported".into())
            }
            _ => Err(format!(
                "a version-99 request must be answered unsupported with its id: sent {shown}; got {got}"
            )),
        }
    }

    fn unknown_op(&mut self) -> Result<String, String> {
        let (id, line, shown) =
            self.probe(r#"{"v":1,"id":{id},"op":"frobnicate","config":{config}}"#);
        let (response, got) = self.raw(&line, &shown, "an unknown operation")?;
        match (&response.err, response.id) {
            (Some(error), Some(answered))
                if error.kind == ErrorKind::Unsupported && answered == id =>
            {
                Ok("answered unsupported".into())
            }
            _ => Err(format!(
                "an unknown op must be answered unsupported with its id: sent {shown}; got {got}"
            )),
        }
    }

    /// `delete` of a key that is not there answers `not-found`.
    fn delete_missing(&mut self) -> Result<String, String> {
        let key = self.key("NEVER_SET");
        let config = self.options.config.clone();
        match self.process.delete(&config, &key) {
            Err(ClientError::Failed { error, .. }) if error.kind == ErrorKind::NotFound => {
                Ok("answered not-found".into())
            }
            Ok(()) => Err(format!(
                "sent delete of {key}, which was never set; got ok instead of not-found"
            )),
            Err(e) => Err(format!(
                "sent delete of {key}, which was never set; got {e}"
            )),
        }
    }

    /// `list` without a prefix lists everything (here: at least what the checks wrote).
    fn list_everything(&mut self) -> Result<String, String> {
        let config = self.options.config.clone();
        match self.process.list(&config, None) {
            Ok(listed) => {
                let present = self.key("PRESENT");
                if !self.process.supports(Op::Set) {
                    return Ok(format!("{} keys", listed.keys.len()));
                }
                // A provider with folders may list only its top folder without a prefix
                // (SPEC, list): a key prefix inside a folder is then not expected there.
                let in_a_folder = present.trim_start_matches('/').contains('/');
                // Without a prefix the provider spells keys its own way (`/NAME` for
                // `NAME`, say); what matters is that a listed key reads back the value set.
                let spellings: Vec<String> = listed
                    .keys
                    .iter()
                    .filter(|k| k.ends_with(present.trim_start_matches('/')))
                    .cloned()
                    .collect();
                for key in &spellings {
                    if self.get_one(key)?.as_deref() == Some("present-value") {
                        return Ok(format!("{} keys, {key} among them", listed.keys.len()));
                    }
                }
                if in_a_folder {
                    return Ok(format!(
                        "{} keys (the checks' keys are in a folder, which a list without a prefix need not reach)",
                        listed.keys.len()
                    ));
                }
                Err(format!(
                    "sent list without a prefix; got {} keys, none of which reads back {present}, which was set",
                    listed.keys.len()
                ))
            }
            Err(ClientError::Failed { error, .. }) if error.kind == ErrorKind::Unsupported => Ok(
                format!("unsupported with this configuration: {}", error.message),
            ),
            Err(e) => Err(format!("sent list without a prefix; got {e}")),
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
        let sent = format!("sent get of {present} and {missing}");
        let answer = self
            .process
            .get(&config, &[present.clone(), missing.clone()])
            .map_err(|e| format!("{sent}; got {e}"))?;
        let got = |key: &str| match (answer.values.get(key), answer.errors.get(key)) {
            (Some(value), _) => format!("a value of {} bytes", value.expose().len()),
            (None, Some(error)) => format!("{}", error.kind),
            (None, None) => "nothing".into(),
        };
        if answer.errors.get(&missing).map(|e| e.kind) != Some(ErrorKind::NotFound) {
            return Err(format!(
                "{sent}; got {} for {missing}, which must be not-found",
                got(&missing)
            ));
        }
        if can_set && answer.values.get(&present).map(SecretValue::expose) != Some("present-value")
        {
            return Err(format!(
                "{sent}; got {} for {present}, which was set to present-value",
                got(&present)
            ));
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
            Some(read) => Err(format!(
                "sent set of {key} ({} bytes), then get; got a different value ({} bytes)",
                value.len(),
                read.len()
            )),
            None => Err(format!("sent set of {key}, then get; got not-found")),
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

/// An answer in words, for a failed case: its id, and `ok` or the error's kind and message
/// (never the payload, which may be large).
fn describe_response(response: &Response) -> String {
    let id = crate::client::describe_id(response.id);
    match (&response.ok, &response.err) {
        (Some(ok), None) => format!("ok (id {id}, {} bytes)", ok.get().len()),
        (None, Some(error)) => format!("err {error} (id {id})"),
        _ => format!("an answer with both or neither of ok and err (id {id})"),
    }
}

/// Runs every case against the provider binary at `path`.
pub fn check(name: &str, path: &Path, options: &CheckOptions) -> Vec<Case> {
    check_hiding(name, path, options, &[])
}

/// [`check`], with `hidden` — what the configuration holds that may be secret (a token) —
/// taken out of the provider's stderr and of every case's outcome, as vault takes what it
/// sent out of what a provider says.
pub fn check_hiding(
    name: &str,
    path: &Path,
    options: &CheckOptions,
    hidden: &[zeroize::Zeroizing<String>],
) -> Vec<Case> {
    let mut cases = run_cases(name, path, options, hidden);
    if !hidden.is_empty() {
        for case in &mut cases {
            match &mut case.outcome {
                Ok(text) | Err(text) => *text = crate::client::without_sent(text, hidden),
            }
        }
    }
    cases
}

fn run_cases(
    name: &str,
    path: &Path,
    options: &CheckOptions,
    hidden: &[zeroize::Zeroizing<String>],
) -> Vec<Case> {
    let process = match ProviderProcess::spawn(name, path, options.client.clone()) {
        Ok(process) => process,
        Err(e) => {
            return vec![Case {
                name: "hello",
                outcome: Err(e.to_string()),
            }];
        }
    };
    for text in hidden {
        process.hide(text);
    }
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
            "{} {}, versions {}, ops {}",
            hello.provider,
            hello.version,
            crate::versions_text(&hello.v),
            ops.join(",")
        ))
    } else {
        Err(format!(
            "the hello names provider \"{}\", not \"{name}\" (the name in secretsd-provider-NAME)",
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
    if hello.ops.contains(&Op::List) {
        let outcome = checker.list_everything();
        checker.record("list without a prefix", outcome);
    }
    if hello.ops.contains(&Op::Delete) {
        let outcome = checker.delete_missing();
        checker.record("delete of a missing key", outcome);
    }
    let outcome = checker.refused("this is not JSON", false, "a line that is not JSON");
    checker.record("malformed request", outcome);
    let outcome = checker.refused("[]", false, "JSON that is not an object");
    checker.record("JSON that is not an object", outcome);
    let outcome = checker.refused(
        r#"{"v":1,"id":{id},"op":"get","config":{config}}"#,
        true,
        "a get without keys",
    );
    checker.record("invalid request with a readable id", outcome);
    let outcome = checker.refused(
        r#"{"id":{id},"op":"get","config":{config},"keys":["x"]}"#,
        true,
        "a request without v",
    );
    checker.record("request without v", outcome);
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
