//! The HTTP API of OpenBao (and HashiCorp Vault) across the nodes of a cluster: each
//! request goes to the node that last served, then to the others; a node that does not
//! answer, or answers as sealed or as a standby that cannot serve, is skipped for the next,
//! and a 307 to the active node is followed. Logs in with AppRole when configured, keeps
//! the token in memory and renews it before its TTL runs out.

use std::time::{Duration, Instant};

use secretsd_protocol::{ErrorKind, ProviderError};
use serde_json::{Value, json};
use ureq::Agent;
use ureq::http::Response;
use zeroize::{Zeroize, Zeroizing};

use crate::origin::origin;
use crate::settings::{Auth, Settings};

/// 307s followed for one request: a standby points at the active node, which serves.
const MAX_REDIRECTS: u32 = 3;
/// Pause between rounds over the nodes while none can serve.
const ROUND_PAUSE: Duration = Duration::from_millis(250);
/// The longest server message quoted, in characters: a node (or whatever answers in its
/// place) may send megabytes of text.
const MAX_WORDS: usize = 500;
/// How many of a server's messages are quoted.
const MAX_MESSAGES: usize = 5;
/// A lease longer than this is renewed as if it were this long: a server's absurd TTL
/// must not overflow a clock.
const MAX_TTL_SECONDS: u64 = 366 * 24 * 3600;

#[derive(Clone, Copy)]
pub enum Method {
    Get,
    /// `LIST`, sent as GET with `?list=true` (what the CLI does too).
    List,
    Post,
    Put,
    Delete,
}

/// A server's answer: its status and JSON body (null when it had none).
pub struct Answer {
    pub status: u16,
    pub body: Value,
    /// The strings of the request's body (field values, a secret_id): a server that quotes
    /// the request in its error must not have them shown, as vault never saw them all.
    sent: Vec<Zeroizing<String>>,
}

/// Every string in `value`, longest first (so a value containing another goes whole).
fn strings_of(value: &Value) -> Vec<Zeroizing<String>> {
    fn collect(value: &Value, into: &mut Vec<Zeroizing<String>>) {
        match value {
            Value::String(text) if !text.is_empty() => into.push(Zeroizing::new(text.clone())),
            Value::Array(items) => items.iter().for_each(|v| collect(v, into)),
            Value::Object(map) => map.values().for_each(|v| collect(v, into)),
            _ => {}
        }
    }
    let mut strings = Vec::new();
    collect(value, &mut strings);
    strings.sort_by_key(|s| std::cmp::Reverse(s.len()));
    strings
}

/// At most `MAX_WORDS` characters of `text`, saying when it was cut.
pub fn capped(text: &str) -> String {
    match text.char_indices().nth(MAX_WORDS) {
        Some((cut, _)) => format!("{}… ({} bytes cut)", &text[..cut], text.len() - cut),
        None => text.to_string(),
    }
}

/// Overwrites every string in `value` — the secrets of a JSON body — so that none is left
/// in freed memory.
pub fn wipe(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(map) => map.values_mut().for_each(wipe),
        _ => {}
    }
}

/// A JSON body holding secrets, wiped when dropped.
pub struct Wiped(pub Value);

impl Drop for Wiped {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        wipe(&mut self.body);
    }
}

impl Answer {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The server's words: its `errors` with what the request sent taken out, whitespace
    /// tidied, each cut to `MAX_WORDS` characters.
    pub fn words(&self) -> String {
        let errors: Vec<String> = self
            .body
            .get("errors")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|e| {
                let mut text = Zeroizing::new(e.to_string());
                for sent in &self.sent {
                    if text.contains(sent.as_str()) {
                        text = Zeroizing::new(text.replace(sent.as_str(), "[sent value]"));
                    }
                }
                capped(&text.split_whitespace().collect::<Vec<_>>().join(" "))
            })
            .filter(|e| !e.is_empty())
            .take(MAX_MESSAGES)
            .collect();
        if errors.is_empty() {
            "no message".to_string()
        } else {
            errors.join("; ")
        }
    }

    /// This answer as an error of the protocol's kinds, for `what` on API path `path`.
    pub fn error(&self, what: &str, path: &str) -> ProviderError {
        let words = self.words();
        let status = self.status;
        match status {
            403 => ProviderError::new(
                ErrorKind::Denied,
                format!(
                    "OpenBao denied {what}: {words} (403; the token's policies must grant it on {path})"
                ),
            ),
            404 => ProviderError::new(
                ErrorKind::NotFound,
                format!("{what}: not found (404 on {path})"),
            ),
            400 => ProviderError::new(
                ErrorKind::Invalid,
                format!("OpenBao refused {what}: {words} (400)"),
            ),
            503 if is_sealed(&words) => ProviderError::new(
                ErrorKind::Unavailable,
                format!(
                    "OpenBao is sealed: {what} failed ({words}); unseal it (bao operator unseal)"
                ),
            ),
            _ => ProviderError::new(
                ErrorKind::Unavailable,
                format!("OpenBao answered {status} to {what}: {words}"),
            ),
        }
    }
}

fn is_sealed(words: &str) -> bool {
    words.to_ascii_lowercase().contains("sealed")
}

/// Whether an answer says this node cannot serve now, so another may: sealed, a standby
/// without an active node to forward to, not initialized, or mid-election.
fn cannot_serve(answer: &Answer) -> bool {
    let words = answer.words().to_ascii_lowercase();
    if is_settling(answer) {
        return true;
    }
    match answer.status {
        503 => true,
        500 | 502 | 429 | 472 | 473 => [
            "sealed",
            "standby",
            "not active",
            "active cluster node not found",
            "leader",
            "not initialized",
        ]
        .iter()
        .any(|w| words.contains(w)),
        _ => false,
    }
}

/// Whether the answer is a state that passes by itself in moments: a new KV v2 mount
/// upgrading its storage (a 400 that is not about the request).
fn is_settling(answer: &Answer) -> bool {
    answer.status == 400
        && answer
            .words()
            .contains("upgrade from non-versioned to versioned")
}

struct Token {
    value: Zeroizing<String>,
    /// When to renew (a login token nearing its TTL); never for a configured token.
    renew_at: Option<Instant>,
}

pub struct Client {
    pub settings: Settings,
    agent: Agent,
    /// The node that served last: asked first next time.
    preferred: usize,
    /// Whether `preferred` is the active node as the cluster said (only asked with
    /// several addresses): a standby may answer a read from its own, possibly older
    /// state, even a 404 for a secret the active node has.
    leader_known: bool,
    /// The active node's origin as `sys/leader` named it: a 307 may lead there.
    leader_origin: Option<String>,
    /// When the operation vault asked for (a get of many secrets, a write with its
    /// read) must be over: `failover` after it began.
    operation_deadline: Option<Instant>,
    token: Option<Token>,
}

/// Percent-encodes a path, keeping its `/`.
pub fn encode_path(path: &str) -> String {
    path.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn tls_roots(ca_cert: &str) -> Result<ureq::tls::RootCerts, ProviderError> {
    let pem = std::fs::read(ca_cert).map_err(|e| {
        ProviderError::new(ErrorKind::Invalid, format!("cannot read ca_cert {ca_cert}"))
            .caused_by(e)
    })?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        if let Ok(ureq::tls::PemItem::Certificate(cert)) = item {
            certs.push(cert);
        }
    }
    if certs.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("ca_cert {ca_cert} holds no PEM certificate"),
        ));
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
}

impl Client {
    pub fn new(settings: Settings) -> Result<Client, ProviderError> {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(ca_cert) = &settings.ca_cert {
            tls = tls.root_certs(tls_roots(ca_cert)?);
        }
        let agent = Agent::config_builder()
            .http_status_as_error(false)
            // Redirects are followed here, to the same request with its token and body.
            .max_redirects(0)
            .timeout_connect(Some(Duration::from_secs(5).min(settings.timeout)))
            .timeout_global(Some(settings.timeout))
            .tls_config(tls.build())
            .build()
            .new_agent();
        Ok(Client {
            settings,
            agent,
            preferred: 0,
            leader_known: false,
            leader_origin: None,
            operation_deadline: None,
            token: None,
        })
    }

    /// Starts one operation of vault's: its requests together get `failover` to answer.
    pub fn begin_operation(&mut self) {
        self.operation_deadline = Some(Instant::now() + self.settings.failover);
    }

    /// Keeps the login, takes the other settings (mount, timeouts).
    pub fn reconfigure(&mut self, settings: Settings) {
        self.settings = settings;
    }

    /// One request with the token, logging in (again) when needed: a login token the
    /// server no longer takes is replaced once.
    pub fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ProviderError> {
        let token = self.token()?;
        let answer = self.anywhere(method, path, body, Some(&token))?;
        // A login token revoked or expired early: one new login. A token that is still
        // good (it can look itself up) was denied by its policies, which is the answer.
        if answer.status == 403
            && matches!(self.settings.auth, Auth::AppRole { .. })
            && answer.words().contains("permission denied")
            && !self
                .anywhere(Method::Get, "auth/token/lookup-self", None, Some(&token))
                .is_ok_and(|a| a.ok())
        {
            self.token = None;
            let token = self.token()?;
            return self.anywhere(method, path, body, Some(&token));
        }
        Ok(answer)
    }

    fn token(&mut self) -> Result<Zeroizing<String>, ProviderError> {
        if let Some(token) = &self.token {
            match token.renew_at {
                Some(at) if Instant::now() >= at => {
                    if self.renew().is_err() {
                        self.token = None;
                    }
                }
                _ => return Ok(token.value.clone()),
            }
        }
        if self.token.is_none() {
            self.token = Some(match &self.settings.auth {
                Auth::Token(token) => Token {
                    value: token.clone(),
                    renew_at: None,
                },
                Auth::AppRole { .. } => self.login()?,
            });
        }
        Ok(self.token.as_ref().expect("set above").value.clone())
    }

    /// AppRole: role_id and secret_id for a token.
    fn login(&mut self) -> Result<Token, ProviderError> {
        let Auth::AppRole {
            mount,
            role_id,
            secret_id,
        } = &self.settings.auth
        else {
            unreachable!("login is for AppRole");
        };
        let mount = mount.clone();
        let path = format!("auth/{}/login", encode_path(&mount));
        let body = Wiped(json!({"role_id": role_id.as_str(), "secret_id": secret_id.as_str()}));
        let answer = self.anywhere(Method::Post, &path, Some(&body.0), None)?;
        if !answer.ok() {
            let mut error = answer.error(&format!("the AppRole login at auth/{mount}"), &path);
            // A wrong role_id or secret_id is a 400 to OpenBao; to vault, authentication.
            if answer.status == 400 {
                error.kind = ErrorKind::Denied;
            }
            return Err(error);
        }
        let token = answer
            .body
            .pointer("/auth/client_token")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Unavailable,
                    "the AppRole login answered without a token",
                )
            })?;
        Ok(Token {
            value: Zeroizing::new(token.to_string()),
            renew_at: renew_at(&answer),
        })
    }

    /// Renews the login token (`auth/token/renew-self`).
    fn renew(&mut self) -> Result<(), ProviderError> {
        let token = self.token.as_ref().expect("a token to renew").value.clone();
        let path = "auth/token/renew-self";
        let answer = self.anywhere(Method::Post, path, Some(&json!({})), Some(&token))?;
        if !answer.ok() {
            return Err(answer.error("renewing the login token", path));
        }
        if let Some(t) = self.token.as_mut() {
            t.renew_at = renew_at(&answer);
        }
        Ok(())
    }

    /// The request on the preferred node, then the others, in rounds until one serves
    /// or `failover` has passed (with one node: one round).
    fn anywhere(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<Answer, ProviderError> {
        // Every try (and its timeout) ends by then, and all of one operation's requests
        // together too: vault waits 30 s for an answer, and should get the reasons.
        let own = Instant::now() + self.settings.failover;
        let deadline = self.operation_deadline.map_or(own, |d| d.min(own));
        let nodes = self.settings.addresses.len();
        loop {
            if nodes > 1 && !self.leader_known {
                self.find_leader(deadline);
            }
            let mut reasons = Vec::new();
            let mut last_unserving: Option<Answer> = None;
            for step in 0..nodes {
                let node = (self.preferred + step) % nodes;
                let address = self.settings.addresses[node].clone();
                match self.on_node(&address, method, path, body, token, Some(deadline)) {
                    Ok(answer) if cannot_serve(&answer) => {
                        eprintln!("skipped {address}: {} ({})", answer.words(), answer.status);
                        self.leader_known = false;
                        reasons.push(format!("{address}: {} ({})", answer.words(), answer.status));
                        last_unserving = Some(answer);
                    }
                    Ok(answer) => {
                        self.preferred = node;
                        return Ok(answer);
                    }
                    Err(reason) => {
                        eprintln!("skipped {address}: {reason}");
                        self.leader_known = false;
                        reasons.push(format!("{address}: {reason}"));
                    }
                }
            }
            let settling = last_unserving.as_ref().is_some_and(is_settling);
            let out_of_time = Instant::now() + ROUND_PAUSE >= deadline;
            // One node that is down or sealed stays so for now: no waiting on it.
            if out_of_time || (nodes == 1 && !settling) {
                // One node that is sealed says so in its own words.
                if let (1, Some(answer)) = (nodes, last_unserving) {
                    return Ok(answer);
                }
                let all_sealed = reasons.iter().all(|r| is_sealed(r));
                let what = if all_sealed {
                    "every OpenBao node is sealed"
                } else {
                    "no OpenBao node could serve"
                };
                return Err(ProviderError::new(
                    ErrorKind::Unavailable,
                    format!("{what}: {}", reasons.join("; ")),
                ));
            }
            std::thread::sleep(ROUND_PAUSE);
        }
    }

    /// Asks the nodes which one is active (`sys/leader`, no token needed) and prefers it.
    /// While none knows (mid-election) it is asked again at the next request; an active
    /// node behind another address (a load balancer) leaves the order as it is.
    fn find_leader(&mut self, deadline: Instant) {
        for step in 0..self.settings.addresses.len() {
            let node = (self.preferred + step) % self.settings.addresses.len();
            let address = self.settings.addresses[node].clone();
            let Ok(answer) = self.on_node(
                &address,
                Method::Get,
                "sys/leader",
                None,
                None,
                Some(deadline),
            ) else {
                continue;
            };
            if answer.body.get("ha_enabled") == Some(&Value::Bool(false)) {
                self.leader_known = true;
                return;
            }
            let leader = answer
                .body
                .get("leader_address")
                .and_then(Value::as_str)
                .unwrap_or("")
                .trim_end_matches('/');
            if leader.is_empty() {
                continue;
            }
            self.leader_known = true;
            self.leader_origin = origin(leader);
            if let Some(index) = self.settings.addresses.iter().position(|a| a == leader) {
                // Diagnostics on stderr, which vault shows under -v (never a value).
                eprintln!("the active node is {leader}");
                self.preferred = index;
            }
            return;
        }
    }

    /// Forgets which node is active: a write another node refused as out of date may have
    /// been read from a standby behind the active node.
    pub fn doubt_leader(&mut self) {
        self.leader_known = false;
    }

    /// Whether a redirect may go to `location`: the origin of a configured node, or of the
    /// active node the cluster named (`sys/leader`). The token and the body follow a
    /// redirect, so anywhere else is refused.
    fn may_redirect_to(&self, location: &str) -> bool {
        let Some(target) = origin(location) else {
            return false;
        };
        self.settings
            .addresses
            .iter()
            .filter_map(|a| origin(a))
            .chain(self.leader_origin.clone())
            .any(|known| known == target)
    }

    /// The active node's origin as the node at `address` names it (`sys/leader`, asked
    /// once, without following a redirect).
    fn learn_leader_from(&mut self, address: &str) {
        let url = format!("{address}/v1/sys/leader");
        let Ok(mut response) = self.send(Method::Get, &url, None, None, None) else {
            return;
        };
        if response.status().as_u16() != 200 {
            return;
        }
        let Ok(text) = response.body_mut().read_to_string().map(Zeroizing::new) else {
            return;
        };
        let Ok(answer) = serde_json::from_str::<Value>(&text) else {
            return;
        };
        if let Some(leader) = answer.get("leader_address").and_then(Value::as_str) {
            self.leader_origin = origin(leader);
        }
    }

    /// The request on one node, following its 307s to known nodes. Err: why it did not
    /// answer.
    fn on_node(
        &mut self,
        address: &str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
        deadline: Option<Instant>,
    ) -> Result<Answer, String> {
        let mut url = format!("{address}/v1/{path}");
        if matches!(method, Method::List) {
            url.push_str("?list=true");
        }
        let payload = body.map(|b| Zeroizing::new(b.to_string()));
        let sent = body.map(strings_of).unwrap_or_default();
        for _ in 0..=MAX_REDIRECTS {
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if timeout.is_some_and(|t| t.is_zero()) {
                return Err("not asked: out of time".to_string());
            }
            let mut response = self
                .send(
                    method,
                    &url,
                    payload.as_ref().map(|p| p.as_bytes()),
                    token,
                    timeout,
                )
                .map_err(|e| format!("cannot connect ({e})"))?;
            let status = response.status().as_u16();
            if matches!(status, 307 | 308) {
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                // A Location of a path only stays on this node.
                let location = match (location.starts_with('/'), origin(&url)) {
                    (true, Some(here)) => format!("{here}{location}"),
                    _ => location,
                };
                // The token follows the redirect: never from https down to http.
                if url.starts_with("https://") && !location.starts_with("https://") {
                    return Err(format!(
                        "a {status} to {} refused: an https node may not redirect to http",
                        capped(&location)
                    ));
                }
                // Not a node known so far: perhaps a new active node, which this one names.
                if !self.may_redirect_to(&location) {
                    self.learn_leader_from(address);
                }
                if !self.may_redirect_to(&location) {
                    return Err(format!(
                        "a {status} to {} refused: not a node in address nor the active node the cluster names (the token and the request would go there)",
                        capped(&location)
                    ));
                }
                eprintln!(
                    "followed a {status} from {} to {}",
                    origin(&url).unwrap_or_default(),
                    origin(&location).unwrap_or_default()
                );
                url = location;
                continue;
            }
            let text = Zeroizing::new(
                response
                    .body_mut()
                    .read_to_string()
                    .map_err(|e| format!("the answer broke off ({e})"))?,
            );
            let body = match serde_json::from_str::<Value>(&text) {
                Ok(body) => body,
                Err(_) if text.trim().is_empty() => Value::Null,
                // An error page (a proxy's 502) has no words to quote.
                Err(_) if !(200..300).contains(&status) => Value::Null,
                Err(_) => {
                    return Err(format!(
                        "answered {status} with a body that is not JSON (a proxy's page?)"
                    ));
                }
            };
            // A success that should carry an object (a read, a login) but does not is
            // not taken for "no secret": a default would silently apply.
            if status == 200 && !body.is_object() {
                return Err(format!(
                    "answered {status} without the JSON object OpenBao sends"
                ));
            }
            return Ok(Answer { status, body, sent });
        }
        Err(format!("more than {MAX_REDIRECTS} redirects"))
    }

    fn send(
        &self,
        method: Method,
        url: &str,
        payload: Option<&[u8]>,
        token: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Response<ureq::Body>, ureq::Error> {
        // Within the failover time left, so vault gets the reasons before its own deadline.
        let timeout = timeout.map_or(self.settings.timeout, |t| t.min(self.settings.timeout));
        let namespace = self.settings.namespace.as_deref();
        macro_rules! headers {
            ($request:expr) => {{
                let mut request = $request
                    .config()
                    .timeout_global(Some(timeout))
                    .build()
                    .header("X-Vault-Request", "true");
                if let Some(token) = token {
                    request = request.header("X-Vault-Token", token);
                }
                if let Some(namespace) = namespace {
                    request = request.header("X-Vault-Namespace", namespace);
                }
                request
            }};
        }
        let payload = payload.unwrap_or(b"");
        match method {
            Method::Get | Method::List => headers!(self.agent.get(url)).call(),
            Method::Delete => headers!(self.agent.delete(url)).call(),
            Method::Post => headers!(self.agent.post(url))
                .header("Content-Type", "application/json")
                .send(payload),
            Method::Put => headers!(self.agent.put(url))
                .header("Content-Type", "application/json")
                .send(payload),
        }
    }
}

/// When to renew a login token: at two thirds of its TTL; never when it has none or
/// cannot be renewed.
fn renew_at(answer: &Answer) -> Option<Instant> {
    let auth = answer.body.get("auth")?;
    let ttl = auth
        .get("lease_duration")
        .and_then(Value::as_u64)
        .filter(|t| *t > 0)?
        .min(MAX_TTL_SECONDS);
    // A token that cannot be renewed fails its renewal, and is replaced by a new login.
    Instant::now().checked_add(Duration::from_secs(ttl * 2 / 3))
}
