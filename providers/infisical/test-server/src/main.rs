//! A local HTTP server that follows Infisical's documented REST API closely enough to test
//! a client against: Universal Auth login with expiring bearer tokens, and the v4 secrets
//! endpoints (list a folder with imports and recursion, get, create, update, delete), with
//! Infisical's error bodies `{reqId, statusCode, message, error}`.
//!
//! It is a test fixture: in memory, single project, no TLS. It lives apart from the
//! provider so the provider cannot learn shortcuts from it.
//!
//! ```text
//! infisical-test-server --seed seed.json [--token-ttl SECONDS] [--revoke-after MILLIS]
//!                       [--fail-first N STATUS]
//! ```
//! prints `listening on http://127.0.0.1:PORT` and serves until stdin closes.
//! `GET /test/stats` reports how many logins and requests it has seen.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response, Server};

/// The seed: credentials, one project, its environments and folders.
#[derive(Deserialize)]
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

fn main() {
    let mut seed_path = None;
    let mut token_ttl = 7200;
    let mut revoke_after = None;
    let mut failures = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seed" => seed_path = args.next(),
            "--token-ttl" => {
                token_ttl = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--token-ttl SECONDS")
            }
            "--revoke-after" => {
                revoke_after = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .map(Duration::from_millis);
            }
            "--fail-first" => {
                let count: usize = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--fail-first N STATUS");
                let status: u16 = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--fail-first N STATUS");
                failures.extend(std::iter::repeat_n(status, count));
            }
            other => panic!("unknown argument {other}"),
        }
    }
    let seed: Seed = serde_json::from_str(
        &std::fs::read_to_string(seed_path.expect("--seed FILE")).expect("seed file"),
    )
    .expect("seed JSON");
    let state = Arc::new(Mutex::new(State {
        seed,
        tokens: BTreeMap::new(),
        token_ttl: Duration::from_secs(token_ttl),
        revoke_after,
        logins: 0,
        requests: 0,
        rejected_tokens: 0,
        failures,
    }));
    let server = Server::http("127.0.0.1:0").expect("bind a loopback port");
    let port = server.server_addr().to_ip().expect("ip").port();
    println!("listening on http://127.0.0.1:{port}");
    // Stop when the test that started us closes our stdin (or dies).
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    for mut request in server.incoming_requests() {
        let (status, body) = state.lock().expect("state").handle(&mut request);
        let response = Response::from_string(body.to_string())
            .with_status_code(status)
            .with_header(
                Header::from_bytes("Content-Type", "application/json; charset=utf-8")
                    .expect("header"),
            );
        let _ = request.respond(response);
    }
}
