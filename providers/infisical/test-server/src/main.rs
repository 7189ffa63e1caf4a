//! A local HTTP server that follows Infisical's documented REST API closely enough to test
//! a client against: Universal Auth login with expiring bearer tokens, and the v4 secrets
//! endpoints (list a folder with imports and recursion, get, create, update, delete), with
//! Infisical's error bodies `{reqId, statusCode, message, error}`.
//!
//! It is a test fixture: in memory, single project, no TLS. It lives apart from the
//! provider so the provider cannot learn shortcuts from it.
//!
//! `infisical-test-server --help` says how to run it and what its seed holds;
//! `seed.example.json` is a seed to start from.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response, Server};

/// The seed: credentials, one project, its environments and folders (`--help` shows one).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Seed {
    client_id: String,
    client_secret: String,
    project_id: String,
    /// environment -> folder path -> name -> value
    secrets: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>>,
    /// environment -> folder path -> imported (environment, folder path)
    #[serde(default)]
    imports: BTreeMap<String, BTreeMap<String, Vec<(String, String)>>>,
}

struct State {
    seed: Seed,
    tokens: BTreeMap<String, Instant>,
    /// The lifetime announced in `expiresIn`.
    token_ttl: Duration,
    /// When set, tokens really expire this soon (as when revoked), whatever was announced.
    revoke_after: Option<Duration>,
    logins: u64,
    requests: u64,
    rejected_tokens: u64,
    /// Answer the next N secret requests with this status (429/500/503) first.
    failures: Vec<u16>,
}

static REQUEST_ID: AtomicU64 = AtomicU64::new(1);

fn error(status: u16, error: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({
            "reqId": format!("req-{}", REQUEST_ID.fetch_add(1, Ordering::Relaxed)),
            "statusCode": status,
            "message": message,
            "error": error,
        }),
    )
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).expect("random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn query(url: &str) -> BTreeMap<String, String> {
    let Some((_, q)) = url.split_once('?') else {
        return BTreeMap::new();
    };
    q.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn secret_json(environment: &str, path: &str, name: &str, value: &str) -> Value {
    json!({
        "id": format!("{environment}:{path}:{name}"),
        "_id": format!("{environment}:{path}:{name}"),
        "workspace": "project",
        "environment": environment,
        "version": 1,
        "type": "shared",
        "secretKey": name,
        "secretValue": value,
        "secretComment": "",
        "secretPath": path,
        "secretValueHidden": false,
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
        "tags": [],
    })
}

fn normalise(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".into()
    } else {
        trimmed.to_string()
    }
}

impl State {
    fn authorise(&mut self, request: &Request) -> Result<(), (u16, Value)> {
        let header = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .map(|h| h.value.as_str().to_string());
        let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ").map(str::to_string)) else {
            return Err(error(401, "TokenError", "Missing Authorization header"));
        };
        let outcome = match self.tokens.get(&token) {
            Some(expires) if *expires > Instant::now() => Ok(()),
            Some(_) => Err(error(401, "TokenError", "Token has expired")),
            None => Err(error(401, "TokenError", "Invalid token")),
        };
        if outcome.is_err() {
            self.rejected_tokens += 1;
        }
        outcome
    }

    fn login(&mut self, body: &Value) -> (u16, Value) {
        self.logins += 1;
        let id = body.get("clientId").and_then(Value::as_str);
        let secret = body.get("clientSecret").and_then(Value::as_str);
        if id != Some(self.seed.client_id.as_str())
            || secret != Some(self.seed.client_secret.as_str())
        {
            return error(401, "UnauthorizedError", "Invalid credentials");
        }
        let token = random_token();
        let lifetime = self.revoke_after.unwrap_or(self.token_ttl);
        self.tokens.insert(token.clone(), Instant::now() + lifetime);
        (
            200,
            json!({
                "accessToken": token,
                "expiresIn": self.token_ttl.as_secs(),
                "accessTokenMaxTTL": 2_592_000,
                "tokenType": "Bearer",
            }),
        )
    }

    fn scope(&self, params: &BTreeMap<String, String>) -> Result<(String, String), (u16, Value)> {
        let project = params.get("projectId").cloned().unwrap_or_default();
        if project.is_empty() {
            return Err(error(400, "BadRequest", "projectId is required"));
        }
        if project != self.seed.project_id {
            return Err(error(
                403,
                "PermissionDenied",
                "You are not allowed to access this project",
            ));
        }
        let environment = params.get("environment").cloned().unwrap_or_default();
        if !self.seed.secrets.contains_key(&environment) {
            return Err(error(
                404,
                "NotFound",
                &format!("Environment with slug '{environment}' not found"),
            ));
        }
        Ok((
            environment,
            normalise(params.get("secretPath").map(String::as_str).unwrap_or("/")),
        ))
    }

    fn list(&self, params: &BTreeMap<String, String>) -> (u16, Value) {
        let (environment, path) = match self.scope(params) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let recursive = params.get("recursive").is_some_and(|v| v == "true");
        let include_imports = params.get("include_imports").is_some_and(|v| v == "true");
        let folders = &self.seed.secrets[&environment];
        if !folders.contains_key(&path) {
            return error(
                404,
                "NotFound",
                &format!("Folder with path '{path}' not found"),
            );
        }
        let mut secrets = Vec::new();
        for (folder, names) in folders {
            let inside = folder == &path
                || (recursive && (path == "/" || folder.starts_with(&format!("{path}/"))));
            if inside {
                for (name, value) in names {
                    secrets.push(secret_json(&environment, folder, name, value));
                }
            }
        }
        let mut body = json!({ "secrets": secrets });
        if include_imports {
            let imports: Vec<Value> = self
                .seed
                .imports
                .get(&environment)
                .and_then(|f| f.get(&path))
                .into_iter()
                .flatten()
                .map(|(env, folder)| {
                    let names = self.seed.secrets.get(env).and_then(|f| f.get(folder));
                    json!({
                        "secretPath": folder,
                        "environment": env,
                        "folderId": format!("{env}:{folder}"),
                        "secrets": names.into_iter().flatten()
                            .map(|(n, v)| secret_json(env, folder, n, v)).collect::<Vec<_>>(),
                    })
                })
                .collect();
            body["imports"] = json!(imports);
        }
        (200, body)
    }

    fn one(
        &mut self,
        method: &Method,
        name: &str,
        params: &BTreeMap<String, String>,
        body: &Value,
    ) -> (u16, Value) {
        // Writes carry the scope in the JSON body, reads in the query.
        let mut scope_params = params.clone();
        if *method != Method::Get {
            for key in ["projectId", "environment", "secretPath"] {
                if let Some(v) = body.get(key).and_then(Value::as_str) {
                    scope_params.insert(key.into(), v.into());
                }
            }
        }
        let (environment, path) = match self.scope(&scope_params) {
            Ok(s) => s,
            Err(e) => return e,
        };
        let folders = self.seed.secrets.get_mut(&environment).expect("checked");
        match method {
            Method::Get => match folders.get(&path).and_then(|f| f.get(name)) {
                Some(value) => (
                    200,
                    json!({ "secret": secret_json(&environment, &path, name, value) }),
                ),
                None => error(
                    404,
                    "NotFound",
                    &format!("Secret with name '{name}' not found"),
                ),
            },
            Method::Post => {
                let Some(value) = body.get("secretValue").and_then(Value::as_str) else {
                    return error(400, "BadRequest", "secretValue is required");
                };
                let Some(folder) = folders.get_mut(&path) else {
                    return error(
                        404,
                        "NotFound",
                        &format!("Folder with path '{path}' not found"),
                    );
                };
                if folder.contains_key(name) {
                    return error(400, "BadRequest", "Secret already exist");
                }
                folder.insert(name.into(), value.into());
                (
                    200,
                    json!({ "secret": secret_json(&environment, &path, name, value) }),
                )
            }
            Method::Patch => {
                let Some(value) = body.get("secretValue").and_then(Value::as_str) else {
                    return error(400, "BadRequest", "secretValue is required");
                };
                match folders.get_mut(&path).and_then(|f| f.get_mut(name)) {
                    Some(slot) => {
                        *slot = value.into();
                        (
                            200,
                            json!({ "secret": secret_json(&environment, &path, name, value) }),
                        )
                    }
                    None => error(
                        404,
                        "NotFound",
                        &format!("Secret with name '{name}' not found"),
                    ),
                }
            }
            Method::Delete => match folders.get_mut(&path).and_then(|f| f.remove(name)) {
                Some(value) => (
                    200,
                    json!({ "secret": secret_json(&environment, &path, name, &value) }),
                ),
                None => error(
                    404,
                    "NotFound",
                    &format!("Secret with name '{name}' not found"),
                ),
            },
            _ => error(405, "MethodNotAllowed", "Method not allowed"),
        }
    }

    fn handle(&mut self, request: &mut Request) -> (u16, Value) {
        let url = request.url().to_string();
        let path = url.split('?').next().unwrap_or("").to_string();
        let params = query(&url);
        let mut text = String::new();
        let _ = request.as_reader().read_to_string(&mut text);
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(_) => return error(400, "BadRequest", "Body is not valid JSON"),
            }
        };
        let method = request.method().clone();
        if path != "/test/stats" {
            self.requests += 1;
        }
        if path == "/test/stats" {
            return (
                200,
                json!({
                    "logins": self.logins,
                    "requests": self.requests,
                    "rejected_tokens": self.rejected_tokens,
                }),
            );
        }
        if path == "/api/v1/auth/universal-auth/login" && method == Method::Post {
            return self.login(&body);
        }
        let Some(rest) = path.strip_prefix("/api/v4/secrets") else {
            return error(404, "NotFound", &format!("Route {method} {path} not found"));
        };
        if let Err(e) = self.authorise(request) {
            return e;
        }
        if let Some(status) = self.failures.pop() {
            let name = if status == 429 {
                "TooManyRequests"
            } else {
                "InternalServerError"
            };
            return error(status, name, "Injected failure");
        }
        match rest.strip_prefix('/') {
            None if rest.is_empty() && method == Method::Get => self.list(&params),
            Some(name) if !name.is_empty() => self.one(&method, &decode(name), &params, &body),
            _ => error(404, "NotFound", &format!("Route {method} {path} not found")),
        }
    }
}

const USAGE: &str = "\
infisical-test-server: a local stand-in for Infisical's REST API, for tests only
(in memory, one project, plain HTTP on 127.0.0.1; not a secrets store).

Usage: infisical-test-server --seed FILE [OPTIONS]

Options:
  --seed FILE            the machine identity, project and secrets to serve (JSON)
  --port PORT            listen on this port (default: any free one)
  --token-ttl SECONDS    lifetime of an access token, as announced (default 7200)
  --revoke-after MILLIS  tokens stop working this soon, whatever was announced
  --fail-first N STATUS  answer the first N secret requests with STATUS (429, 500, 503)
  -h, --help             this text

It prints `listening on http://127.0.0.1:PORT` on its first line of output. When its stdin
is a pipe it stops as soon as the pipe closes (a test that dies takes it along); otherwise
(a terminal, /dev/null) it serves until it is stopped (Ctrl-C, kill).

The seed (an example: seed.example.json beside this crate's Cargo.toml):
  {\"client_id\": \"machine-id\", \"client_secret\": \"machine-secret\",
   \"project_id\": \"project-1\",
   \"secrets\": {\"prod\": {\"/\": {\"ROOT_KEY\": \"v\"}, \"/app/db\": {\"PASSWORD\": \"p\"}}},
   \"imports\": {\"prod\": {\"/app/db\": [[\"prod\", \"/common\"]]}}}
secrets: environment slug -> folder path -> name -> value. As in Infisical, every
environment has the root folder / and every folder its parents, seeded or not.
imports (optional): environment -> folder -> the (environment, folder) pairs it imports.
GET /test/stats answers how many logins and requests it has seen.
";

/// What the command line asks for.
struct Options {
    seed: String,
    port: u16,
    token_ttl: u64,
    revoke_after: Option<Duration>,
    failures: Vec<u16>,
}

/// The command line, or the message for a usage error (`Ok(None)`: --help).
fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    fn value<T: std::str::FromStr>(
        args: &mut impl Iterator<Item = String>,
        what: &str,
    ) -> Result<T, String> {
        args.next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{what} needs a number"))
    }
    let mut seed = None;
    let mut options = Options {
        seed: String::new(),
        port: 0,
        token_ttl: 7200,
        revoke_after: None,
        failures: Vec::new(),
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--seed" => seed = Some(args.next().ok_or("--seed needs a FILE")?),
            "--port" => options.port = value(&mut args, "--port PORT")?,
            "--token-ttl" => options.token_ttl = value(&mut args, "--token-ttl SECONDS")?,
            "--revoke-after" => {
                options.revoke_after = Some(Duration::from_millis(value(
                    &mut args,
                    "--revoke-after MILLIS",
                )?))
            }
            "--fail-first" => {
                let count: usize = value(&mut args, "--fail-first N STATUS")?;
                let status: u16 = value(&mut args, "--fail-first N STATUS")?;
                options.failures.extend(std::iter::repeat_n(status, count));
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    options.seed = seed.ok_or("--seed FILE is required")?;
    Ok(Some(options))
}

/// The seed file, with the folders Infisical always has added.
fn read_seed(path: &str) -> Result<Seed, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut seed: Seed = serde_json::from_str(&text)
        .map_err(|e| format!("{path} is not a seed (see --help for its format): {e}"))?;
    for folders in seed.secrets.values_mut() {
        let mut parents = vec!["/".to_string()];
        for folder in folders.keys() {
            if !folder.starts_with('/') || (folder.len() > 1 && folder.ends_with('/')) {
                return Err(format!(
                    "{path}: folder {folder:?} is not a folder path (/, /app, /app/db)"
                ));
            }
            let mut path = folder.as_str();
            while let Some((parent, _)) = path.rsplit_once('/') {
                if parent.is_empty() {
                    break;
                }
                parents.push(parent.to_string());
                path = parent;
            }
        }
        for parent in parents {
            folders.entry(parent).or_default();
        }
    }
    Ok(seed)
}

/// Whether stdin is a pipe (or socket) whose end means "stop".
fn stdin_is_a_pipe() -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::FileTypeExt;
    std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|file| file.metadata())
        .is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_socket())
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("infisical-test-server: {message}; see --help");
            return ExitCode::from(2);
        }
    };
    let seed = match read_seed(&options.seed) {
        Ok(seed) => seed,
        Err(message) => {
            eprintln!("infisical-test-server: {message}");
            return ExitCode::FAILURE;
        }
    };
    let state = Arc::new(Mutex::new(State {
        seed,
        tokens: BTreeMap::new(),
        token_ttl: Duration::from_secs(options.token_ttl),
        revoke_after: options.revoke_after,
        logins: 0,
        requests: 0,
        rejected_tokens: 0,
        failures: options.failures,
    }));
    let server = match Server::http(("127.0.0.1", options.port)) {
        Ok(server) => server,
        Err(e) => {
            eprintln!(
                "infisical-test-server: cannot listen on 127.0.0.1:{}: {e}",
                options.port
            );
            return ExitCode::FAILURE;
        }
    };
    let Some(address) = server.server_addr().to_ip() else {
        eprintln!("infisical-test-server: not listening on an IP address");
        return ExitCode::FAILURE;
    };
    println!("listening on http://127.0.0.1:{}", address.port());
    let _ = std::io::stdout().flush();
    if stdin_is_a_pipe() {
        // Stop when the test that started us closes our stdin (or dies).
        std::thread::spawn(|| {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            std::process::exit(0);
        });
    } else {
        eprintln!("infisical-test-server: serving until stopped (Ctrl-C)");
    }
    for mut request in server.incoming_requests() {
        let Ok(mut state) = state.lock() else {
            break;
        };
        let (status, body) = state.handle(&mut request);
        drop(state);
        let mut response = Response::from_string(body.to_string()).with_status_code(status);
        if let Ok(header) = Header::from_bytes("Content-Type", "application/json; charset=utf-8") {
            response = response.with_header(header);
        }
        let _ = request.respond(response);
    }
    ExitCode::FAILURE
}
