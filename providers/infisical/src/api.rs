//! Infisical's REST API: Universal Auth and the v4 secrets endpoints, with token renewal,
//! retries on 429 and 5xx, timeouts, and Infisical's error bodies mapped to error kinds.

use std::time::{Duration, Instant};

use secretsd_protocol::{Config, ErrorKind, ProviderError};
use serde_json::{Value, json};
use ureq::Agent;
use zeroize::Zeroizing;

const DEFAULT_BASE_URL: &str = "https://app.infisical.com";
/// Retries after a 429 or 5xx answer, each after a longer pause.
const RETRIES: u32 = 3;

pub struct Settings {
    pub base_url: String,
    client_id: String,
    client_secret: Zeroizing<String>,
    project_id: String,
    environment: String,
    pub recursive: bool,
    include_imports: bool,
    timeout: Duration,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Settings, ProviderError> {
        let text = |key: &str| config.get(key).and_then(Value::as_str).map(str::to_string);
        let flag =
            |key: &str, default: bool| config.get(key).and_then(Value::as_bool).unwrap_or(default);
        let required = |key: &str| {
            text(key).filter(|v| !v.is_empty()).ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!("set {key} under [providers.infisical] in vault's config"),
                )
            })
        };
        Ok(Settings {
            base_url: text("base_url")
                .unwrap_or_else(|| DEFAULT_BASE_URL.to_string())
                .trim_end_matches('/')
                .to_string(),
            client_id: required("client_id")?,
            client_secret: Zeroizing::new(required("client_secret")?),
            project_id: required("project_id")?,
            environment: text("environment").unwrap_or_else(|| "prod".to_string()),
            recursive: flag("recursive", false),
            include_imports: flag("include_imports", true),
            timeout: Duration::from_secs(
                config
                    .get("timeout_seconds")
                    .and_then(Value::as_u64)
                    .unwrap_or(20),
            ),
        })
    }
}

struct Token {
    value: Zeroizing<String>,
    /// Renew at this moment: a little before Infisical's expiry.
    renew_at: Instant,
}

/// One secret as a folder listing shows it; the folder's own come before imported ones,
/// so the first of a name wins.
pub struct Visible {
    pub folder: String,
    pub name: String,
    pub value: Zeroizing<String>,
}

pub struct Client {
    settings: Settings,
    agent: Agent,
    token: Option<Token>,
}

/// What Infisical says when a request fails.
fn api_error(status: u16, body: &Value, what: &str) -> ProviderError {
    let message = body
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or("no message");
    let name = body.get("error").and_then(Value::as_str).unwrap_or("");
    let kind = match status {
        404 => ErrorKind::NotFound,
        401 | 403 => ErrorKind::Denied,
        400 | 422 => ErrorKind::Invalid,
        _ => ErrorKind::Unavailable,
    };
    let mut error = ProviderError::new(
        kind,
        format!("{what}: Infisical answered {status}: {message}"),
    );
    if let Some(request) = body.get("reqId").and_then(Value::as_str) {
        error = error.caused_by(format!("{name} (request {request})"));
    }
    error
}

fn is_token_error(status: u16, body: &Value) -> bool {
    matches!(status, 401 | 403) && body.get("error").and_then(Value::as_str) == Some("TokenError")
}

/// Percent-encodes one path segment.
fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Client {
    pub fn new(settings: Settings) -> Client {
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_global(Some(settings.timeout))
            .build()
            .new_agent();
        Client {
            settings,
            agent,
            token: None,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Takes new settings for the same server and identity, keeping the token.
    pub fn reconfigure(&mut self, settings: Settings) {
        self.settings = settings;
    }

    /// Whether this client is for the same server, identity and scope.
    pub fn serves(&self, other: &Settings) -> bool {
        let a = &self.settings;
        a.base_url == other.base_url
            && a.client_id == other.client_id
            && *a.client_secret == *other.client_secret
            && a.project_id == other.project_id
            && a.environment == other.environment
    }

    fn unreachable(&self, error: ureq::Error) -> ProviderError {
        ProviderError::new(
            ErrorKind::Unavailable,
            format!("cannot reach Infisical at {}", self.settings.base_url),
        )
        .caused_by(error)
    }

    /// An answer's JSON body (null when it has none); the raw text is zeroed.
    fn read_answer(
        &self,
        response: &mut ureq::http::Response<ureq::Body>,
    ) -> Result<Value, ProviderError> {
        let text = Zeroizing::new(
            response
                .body_mut()
                .read_to_string()
                .map_err(|e| self.unreachable(e))?,
        );
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Universal Auth: client id and secret for a short-lived access token.
    fn login(&mut self) -> Result<(), ProviderError> {
        let url = format!(
            "{}/api/v1/auth/universal-auth/login",
            self.settings.base_url
        );
        let body = Zeroizing::new(
            json!({"clientId": self.settings.client_id, "clientSecret": *self.settings.client_secret}).to_string(),
        );
        let mut response = self
            .agent
            .post(&url)
            .header("Content-Type", "application/json")
            .send(body.as_bytes())
            .map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let answer = self.read_answer(&mut response)?;
        if status != 200 {
            return Err(api_error(status, &answer, "Universal Auth login failed"));
        }
        let token = answer
            .get("accessToken")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Unavailable,
                    "Universal Auth login answered without an accessToken",
                )
            })?;
        let lifetime =
            Duration::from_secs(answer.get("expiresIn").and_then(Value::as_u64).unwrap_or(0));
        // Renew before it runs out: at 90% of its life, and at least 5 s early.
        let margin = (lifetime / 10).max(Duration::from_secs(5)).min(lifetime);
        self.token = Some(Token {
            value: Zeroizing::new(token.to_string()),
            renew_at: Instant::now() + lifetime - margin,
        });
        Ok(())
    }

    fn token(&mut self) -> Result<String, ProviderError> {
        if self
            .token
            .as_ref()
            .is_none_or(|t| Instant::now() >= t.renew_at)
        {
            self.login()?;
        }
        Ok(self.token.as_ref().expect("logged in").value.to_string())
    }

    /// One API call with a fresh token, one re-login on a TokenError, and retries on
    /// 429 and 5xx.
    fn call(
        &mut self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
        what: &str,
    ) -> Result<Value, ProviderError> {
        let url = format!("{}{path}", self.settings.base_url);
        let mut relogged = false;
        let mut attempt = 0;
        loop {
            let token = Zeroizing::new(self.token()?);
            let authorization = Zeroizing::new(format!("Bearer {}", token.as_str()));
            let payload = body.as_ref().map(|b| Zeroizing::new(b.to_string()));
            let result = match method {
                Method::Get => {
                    let mut request = self
                        .agent
                        .get(&url)
                        .header("Authorization", authorization.as_str());
                    for (k, v) in query {
                        request = request.query(*k, v);
                    }
                    request.call()
                }
                Method::Post | Method::Patch | Method::Delete => {
                    let request = match method {
                        Method::Post => self.agent.post(&url),
                        Method::Patch => self.agent.patch(&url),
                        _ => self.agent.delete(&url).force_send_body(),
                    };
                    request
                        .header("Authorization", authorization.as_str())
                        .header("Content-Type", "application/json")
                        .send(payload.as_ref().map(|p| p.as_bytes()).unwrap_or(b"{}"))
                }
            };
            let mut response = result.map_err(|e| self.unreachable(e))?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let answer = self.read_answer(&mut response)?;
            match status {
                200..=299 => return Ok(answer),
                _ if is_token_error(status, &answer) && !relogged => {
                    relogged = true;
                    self.token = None;
                }
                429 | 500..=599 if attempt < RETRIES => {
                    let backoff = Duration::from_millis(200 << attempt);
                    let pause = retry_after
                        .map(Duration::from_secs)
                        .unwrap_or(backoff)
                        .min(Duration::from_secs(5));
                    std::thread::sleep(pause);
                    attempt += 1;
                }
                _ => return Err(api_error(status, &answer, what)),
            }
        }
    }

    fn scope(&self) -> Vec<(&'static str, String)> {
        vec![
            ("projectId", self.settings.project_id.clone()),
            ("environment", self.settings.environment.clone()),
        ]
    }

    /// The secrets visible in `folder`, its own first and then imported ones, as
    /// (key under which it is listed, name, value).
    pub fn folder(&mut self, folder: &str, recursive: bool) -> Result<Vec<Visible>, ProviderError> {
        let mut query = self.scope();
        query.push(("secretPath", folder.to_string()));
        query.push(("recursive", recursive.to_string()));
        query.push(("include_imports", self.settings.include_imports.to_string()));
        query.push(("viewSecretValue", "true".to_string()));
        query.push(("expandSecretReferences", "true".to_string()));
        let answer = self.call(
            Method::Get,
            "/api/v4/secrets",
            &query,
            None,
            &format!("listing {folder}"),
        )?;
        let mut visible = Vec::new();
        let mut take = |secrets: Option<&Value>, imported: bool| {
            for secret in secrets.and_then(Value::as_array).into_iter().flatten() {
                let (Some(name), Some(value)) = (
                    secret.get("secretKey").and_then(Value::as_str),
                    secret.get("secretValue").and_then(Value::as_str),
                ) else {
                    continue;
                };
                // An imported secret is read through the folder that imports it.
                let path = match secret.get("secretPath").and_then(Value::as_str) {
                    Some(path) if !imported => path,
                    _ => folder,
                };
                visible.push(Visible {
                    folder: path.to_string(),
                    name: name.to_string(),
                    value: Zeroizing::new(value.to_string()),
                });
            }
        };
        take(answer.get("secrets"), false);
        for import in answer
            .get("imports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            take(import.get("secrets"), true);
        }
        Ok(visible)
    }

    fn body(&self, folder: &str, value: Option<&str>) -> Value {
        let mut body = json!({
            "projectId": self.settings.project_id,
            "environment": self.settings.environment,
            "secretPath": folder,
        });
        if let Some(value) = value {
            body["secretValue"] = json!(value);
            body["type"] = json!("shared");
        }
        body
    }

    /// Updates the secret, or creates it when it does not exist yet.
    pub fn write(&mut self, folder: &str, name: &str, value: &str) -> Result<(), ProviderError> {
        let path = format!("/api/v4/secrets/{}", segment(name));
        let what = format!("writing {}", crate::full_key(folder, name));
        match self.call(
            Method::Patch,
            &path,
            &[],
            Some(self.body(folder, Some(value))),
            &what,
        ) {
            Ok(_) => Ok(()),
            Err(e) if e.kind == ErrorKind::NotFound => self
                .call(
                    Method::Post,
                    &path,
                    &[],
                    Some(self.body(folder, Some(value))),
                    &what,
                )
                .map(|_| ()),
            Err(e) => Err(e),
        }
    }

    pub fn delete(&mut self, folder: &str, name: &str) -> Result<(), ProviderError> {
        let path = format!("/api/v4/secrets/{}", segment(name));
        self.call(
            Method::Delete,
            &path,
            &[],
            Some(self.body(folder, None)),
            &format!("deleting {}", crate::full_key(folder, name)),
        )
        .map(|_| ())
    }
}
