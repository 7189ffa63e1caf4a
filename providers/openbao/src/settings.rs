//! `[providers.openbao]` as sent by vault, with the locators vault passed on in the
//! environment (`BAO_ADDR`/`VAULT_ADDR`, `*_NAMESPACE`, `*_CACERT`) as fallbacks. A secret
//! (a token, a secret_id) comes only in the configuration (SPEC §7): vault resolves
//! `BAO_TOKEN`, `VAULT_TOKEN` and `~/.vault-token` as default references and sends them.

use std::time::Duration;

use secretsd_protocol::{Config, ErrorKind, ProviderError};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::origin::has_userinfo;

/// What the `bao` CLI talks to when nothing says otherwise.
const DEFAULT_ADDRESS: &str = "https://127.0.0.1:8200";

#[derive(PartialEq, Eq)]
pub enum Auth {
    Token(Zeroizing<String>),
    AppRole {
        mount: String,
        role_id: Zeroizing<String>,
        secret_id: Zeroizing<String>,
    },
}

#[derive(PartialEq, Eq)]
pub struct Settings {
    /// Node addresses, tried in order (a cluster), without a trailing `/`.
    pub addresses: Vec<String>,
    pub auth: Auth,
    pub namespace: Option<String>,
    pub ca_cert: Option<String>,
    /// Overrides the mount the server reports: `(mount, kv version)`.
    pub mount: Option<(String, u8)>,
    /// Per request.
    pub timeout: Duration,
    /// How long to keep trying the nodes when none can serve (a leader election).
    pub failover: Duration,
}

fn invalid(message: impl Into<String>) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

fn environment(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Settings, ProviderError> {
        let text = |key: &str| -> Result<Option<String>, ProviderError> {
            match config.get(key) {
                None => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!(
                    "[providers.openbao] {key} must be a non-empty string"
                ))),
            }
        };
        let seconds = |key: &str, default: u64| -> Result<Duration, ProviderError> {
            match config.get(key) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => v
                    .as_u64()
                    .filter(|n| *n > 0)
                    .map(Duration::from_secs)
                    .ok_or_else(|| {
                        invalid(format!(
                            "[providers.openbao] {key} must be a whole number of seconds, 1 or more"
                        ))
                    }),
            }
        };
        let addresses = match config.get("address") {
            Some(Value::Array(list)) => list
                .iter()
                .map(|a| a.as_str().filter(|a| !a.is_empty()).map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .filter(|l| !l.is_empty())
                .ok_or_else(|| {
                    invalid("[providers.openbao] address must be a URL or a list of node URLs")
                })?,
            Some(_) => vec![text("address")?.expect("present")],
            None => vec![
                environment(&["BAO_ADDR", "VAULT_ADDR"])
                    .unwrap_or_else(|| DEFAULT_ADDRESS.to_string()),
            ],
        };
        for address in &addresses {
            // Checked first: the message must not quote a password.
            if has_userinfo(address) {
                return Err(invalid(
                    "[providers.openbao] address names a user (http://USER:PASSWORD@HOST): it would be shown wherever the address is; write the address without it and give the token in token",
                ));
            }
            if !(address.starts_with("http://") || address.starts_with("https://")) {
                return Err(invalid(format!(
                    "[providers.openbao] address {address:?} is not an http:// or https:// URL"
                )));
            }
        }
        let addresses = addresses
            .into_iter()
            .map(|a| a.trim_end_matches('/').to_string())
            .collect();
        let auth = match text("auth")?.as_deref() {
            None | Some("token") => Auth::Token(Zeroizing::new(text("token")?.ok_or_else(|| {
                invalid("no token for OpenBao: set token under [providers.openbao] (e.g. token = \"secret:BAO_TOKEN\"), export BAO_TOKEN or VAULT_TOKEN, or run `bao login` (~/.vault-token); or use auth = \"approle\"")
            })?)),
            Some("approle") => {
                let required = |key: &str| {
                    text(key)?.map(Zeroizing::new).ok_or_else(|| {
                        invalid(format!("auth = \"approle\" needs {key} under [providers.openbao] (a reference, e.g. {key} = \"gopass:openbao/{key}\")"))
                    })
                };
                Auth::AppRole {
                    mount: text("auth_mount")?
                        .unwrap_or_else(|| "approle".to_string())
                        .trim_matches('/')
                        .to_string(),
                    role_id: required("role_id")?,
                    secret_id: required("secret_id")?,
                }
            }
            Some(other) => {
                return Err(invalid(format!(
                    "[providers.openbao] auth = {other:?}: write \"token\" or \"approle\""
                )));
            }
        };
        let mount = match text("mount")? {
            None => None,
            Some(mount) => {
                let version = match config.get("kv_version") {
                    None => 2,
                    Some(v) if v.as_u64() == Some(1) => 1,
                    Some(v) if v.as_u64() == Some(2) => 2,
                    Some(_) => {
                        return Err(invalid("[providers.openbao] kv_version must be 1 or 2"));
                    }
                };
                Some((mount.trim_matches('/').to_string(), version))
            }
        };
        Ok(Settings {
            addresses,
            auth,
            namespace: text("namespace")?
                .or_else(|| environment(&["BAO_NAMESPACE", "VAULT_NAMESPACE"])),
            ca_cert: text("ca_cert")?.or_else(|| environment(&["BAO_CACERT", "VAULT_CACERT"])),
            mount,
            timeout: seconds("timeout_seconds", 20)?,
            failover: seconds("failover_seconds", 20)?,
        })
    }

    /// Whether a client made for `other` talks to the same servers as the same identity
    /// (so its login token can be kept).
    pub fn same_identity(&self, other: &Settings) -> bool {
        self.addresses == other.addresses
            && self.auth == other.auth
            && self.namespace == other.namespace
            && self.ca_cert == other.ca_cert
    }
}
