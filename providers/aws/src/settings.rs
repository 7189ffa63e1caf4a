//! `[providers.aws]` as sent by vault: where to call, as whom, and how long to try.
//!
//! The key variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) are
//! never read from the environment (SPEC §7): vault resolves them as references into
//! `access_key_id`, `secret_access_key` and `session_token`. Everything else the AWS SDK
//! finds as the AWS CLI does: `AWS_PROFILE`, `AWS_REGION`, `~/.aws/config`, web identity,
//! ECS and EC2 instance metadata.

use std::time::Duration;

use secretsd_protocol::{Config, ErrorKind, ProviderError};
use serde_json::Value;
use zeroize::Zeroizing;

/// How long one request may take when `timeout_seconds` is not set.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 20;
/// The longest `timeout_seconds`: a request's deadline must end inside vault's 30 s, so the
/// provider answers (unavailable) rather than being killed.
pub const MAX_TIMEOUT_SECONDS: u64 = 25;

#[derive(PartialEq, Eq)]
pub struct Settings {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub endpoint_url_secretsmanager: Option<String>,
    pub endpoint_url_ssm: Option<String>,
    pub role_arn: Option<String>,
    pub role_session_name: Option<String>,
    pub external_id: Option<String>,
    pub keys: Option<StaticKeys>,
    /// Days Secrets Manager keeps a deleted secret restorable (7–30); 0 deletes at once.
    /// None: Secrets Manager's default, 30.
    pub recovery_window_days: Option<i64>,
    /// `AWS_CA_BUNDLE`: the roots trusted instead of the system's, as the AWS CLI does.
    pub ca_bundle: Option<std::path::PathBuf>,
    /// How long one protocol request may take, every call, page and retry included.
    pub timeout: Duration,
}

/// An access key, from the configuration (typically `env:AWS_ACCESS_KEY_ID` and its pair).
#[derive(PartialEq, Eq)]
pub struct StaticKeys {
    pub access_key_id: String,
    pub secret_access_key: Zeroizing<String>,
    pub session_token: Option<Zeroizing<String>>,
}

impl Settings {
    pub fn from_config(config: &Config) -> Result<Settings, ProviderError> {
        let text = |key: &str| -> Result<Option<String>, ProviderError> {
            match config.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(invalid(format!(
                    "[providers.aws] {key} must be a string, not {}",
                    secretsd_protocol::json_type(other)
                ))),
            }
        };
        let access_key_id = text("access_key_id")?;
        let secret_access_key = text("secret_access_key")?.map(Zeroizing::new);
        let session_token = text("session_token")?.map(Zeroizing::new);
        let keys = match (access_key_id, secret_access_key) {
            (Some(access_key_id), Some(secret_access_key)) => Some(StaticKeys {
                access_key_id,
                secret_access_key,
                session_token,
            }),
            (None, None) if session_token.is_none() => None,
            // An explicit profile decides alone; a half key pair beside it is unused.
            _ if config.contains_key("profile") => None,
            (Some(_), None) | (None, Some(_)) | (None, None) => {
                return Err(invalid(
                    "[providers.aws] has only part of an access key: set both \
                     access_key_id and secret_access_key (AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY), or neither to use a profile or the instance's role"
                        .into(),
                ));
            }
        };
        let recovery_window_days = match config.get("recovery_window_days") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_i64() {
                Some(days) if days == 0 || (7..=30).contains(&days) => Some(days),
                _ => {
                    return Err(invalid(
                        "[providers.aws] recovery_window_days must be a whole number from 7 \
                         to 30, or 0 to delete without recovery"
                            .into(),
                    ));
                }
            },
        };
        let timeout = match config.get("timeout_seconds") {
            None | Some(Value::Null) => DEFAULT_TIMEOUT_SECONDS,
            Some(v) => match v.as_u64() {
                Some(seconds) if (1..=MAX_TIMEOUT_SECONDS).contains(&seconds) => seconds,
                _ => {
                    return Err(invalid(format!(
                        "[providers.aws] timeout_seconds must be a whole number of seconds \
                         from 1 to {MAX_TIMEOUT_SECONDS} (vault waits 30 s for a provider's \
                         answer)"
                    )));
                }
            },
        };
        let profile = text("profile")?;
        let endpoint = |key: &str| -> Result<Option<String>, ProviderError> {
            let url = text(key)?;
            if let Some(url) = &url {
                check_endpoint(url, &format!("[providers.aws] {key}"))?;
            }
            Ok(url)
        };
        // The SDK reads these itself; a malformed one makes it fail with the request (and
        // the value being written) in its error, so it is refused before any call.
        for variable in ENDPOINT_VARIABLES {
            if let Some(url) = std::env::var_os(variable) {
                check_endpoint(&url.to_string_lossy(), variable)?;
            }
        }
        Ok(Settings {
            region: text("region")?,
            // A profile named in vault's config wins over keys from the environment, as
            // `aws --profile` does.
            keys: if profile.is_some() { None } else { keys },
            profile,
            endpoint_url: endpoint("endpoint_url")?,
            endpoint_url_secretsmanager: endpoint("endpoint_url_secretsmanager")?,
            endpoint_url_ssm: endpoint("endpoint_url_ssm")?,
            role_arn: text("role_arn")?,
            role_session_name: text("role_session_name")?,
            external_id: text("external_id")?,
            recovery_window_days,
            ca_bundle: std::env::var_os("AWS_CA_BUNDLE")
                .filter(|path| !path.is_empty())
                .map(std::path::PathBuf::from),
            timeout: Duration::from_secs(timeout),
        })
    }

    /// What the provider knows about the credentials, for an error message: never a key.
    pub fn credentials_source(&self) -> String {
        match (&self.keys, &self.profile) {
            (Some(keys), _) => format!(
                "the access key {} from vault's configuration (AWS_ACCESS_KEY_ID){}",
                redacted_key_id(&keys.access_key_id),
                if keys.session_token.is_some() {
                    " with a session token"
                } else {
                    ""
                }
            ),
            (None, Some(profile)) => format!("profile {profile:?}"),
            (None, None) => "the default AWS credential chain".into(),
        }
    }
}

/// An access key id shortened to its kind and last four characters (`AKIA…WXYZ`), as the
/// AWS console shows it: enough to tell keys apart, not to use one.
pub fn redacted_key_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 12 {
        return "(a short access key id)".into();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// The endpoint variables vault passes on, which the SDK reads from the environment.
const ENDPOINT_VARIABLES: &[&str] = &[
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_SSM",
    "AWS_ENDPOINT_URL_STS",
];

/// Refuses an endpoint that is not an absolute `http(s)://HOST[:PORT][/PATH]` URL: no
/// whitespace or control characters, no `user:password@`, a host and a numeric port.
fn check_endpoint(url: &str, setting: &str) -> Result<(), ProviderError> {
    let refuse = |why: &str| {
        Err(invalid(format!(
            "{setting} is not a usable endpoint URL: {why}; give an absolute URL such as \
             https://secretsmanager.us-east-1.amazonaws.com or http://127.0.0.1:5000"
        )))
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("it contains whitespace or a control character");
    }
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
    else {
        return refuse("it does not start with https:// or http://");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return refuse("it holds a user name or password (user@host)");
    }
    let (host, port) = match authority.strip_prefix('[') {
        // An IPv6 literal: [::1]:8080
        Some(v6) => match v6.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return refuse("its IPv6 host has no closing ]"),
        },
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return refuse("it names no host");
    }
    if port.is_some_and(|p| p.is_empty() || p.parse::<u16>().is_err()) {
        return refuse("its port is not a number from 0 to 65535");
    }
    Ok(())
}

fn invalid(message: String) -> ProviderError {
    ProviderError::new(ErrorKind::Invalid, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> Config {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn keys_come_in_pairs_and_a_named_profile_wins() {
        let both = Settings::from_config(&config(
            r#"{"access_key_id":"AKIAEXAMPLE12345","secret_access_key":"s"}"#,
        ))
        .unwrap();
        assert!(both.keys.is_some());
        let half = Settings::from_config(&config(r#"{"access_key_id":"AKIAEXAMPLE12345"}"#));
        assert!(half.err().unwrap().message.contains("both"));
        let profile = Settings::from_config(&config(
            r#"{"profile":"dev","access_key_id":"AKIAEXAMPLE12345","secret_access_key":"s"}"#,
        ))
        .unwrap();
        assert!(profile.keys.is_none());
        let empty = Settings::from_config(&config(r#"{"access_key_id":"","region":""}"#)).unwrap();
        assert!(empty.keys.is_none() && empty.region.is_none());
    }

    #[test]
    fn numbers_are_checked() {
        for bad in [
            r#"{"recovery_window_days":3}"#,
            r#"{"recovery_window_days":"7"}"#,
            r#"{"timeout_seconds":0}"#,
            r#"{"timeout_seconds":26}"#,
            r#"{"region":5}"#,
        ] {
            assert_eq!(
                Settings::from_config(&config(bad)).err().unwrap().kind,
                ErrorKind::Invalid,
                "{bad}"
            );
        }
        let ok = Settings::from_config(&config(r#"{"recovery_window_days":0}"#)).unwrap();
        assert_eq!(ok.recovery_window_days, Some(0));
    }

    #[test]
    fn an_endpoint_is_an_absolute_http_url_with_a_host() {
        for good in [
            "https://secretsmanager.us-east-1.amazonaws.com",
            "http://127.0.0.1:5000",
            "http://127.0.0.1:5000/",
            "https://[::1]:8443/path",
            "HTTPS://vpce-1.example.com",
        ] {
            assert!(check_endpoint(good, "endpoint_url").is_ok(), "{good}");
        }
        for bad in [
            "vpce-0a1b2c-abcd.secretsmanager.us-east-1.vpce.amazonaws.com",
            "https://x.example.com ",
            " https://x.example.com",
            "https://x.exa mple.com",
            "https://x.example.com\n",
            "ftp://x.example.com",
            "https://",
            "https:///path",
            "https://user:pw@x.example.com",
            "https://x.example.com:port",
            "https://x.example.com:",
            "https://[::1",
        ] {
            let error = check_endpoint(bad, "[providers.aws] endpoint_url").unwrap_err();
            assert_eq!(error.kind, ErrorKind::Invalid, "{bad:?}");
            assert!(
                error.message.contains("[providers.aws] endpoint_url"),
                "{bad:?}: {error}"
            );
        }
        let config = config(r#"{"endpoint_url_ssm":"localhost:4566"}"#);
        let error = Settings::from_config(&config).err().unwrap();
        assert!(error.message.contains("endpoint_url_ssm"), "{error}");
    }

    #[test]
    fn a_key_id_is_shown_shortened() {
        assert_eq!(redacted_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(redacted_key_id("short"), "(a short access key id)");
    }
}
