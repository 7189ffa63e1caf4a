//! What `[providers.NAME]` and the command line say about caching one provider's values,
//! and the key a configuration's entries are filed under.

use std::time::Duration;

use super::store::ConfigId;
use crate::error::{Error, Result};

/// The settings of `[providers.NAME]` that are vault's, not the provider's: never sent to
/// it, never part of the configuration's key.
pub const VAULT_SETTINGS: &[&str] = &["cache", "prefer_cache", "no_cache"];

/// How long `cache` may be when `[providers] cache_cap` does not say.
pub const DEFAULT_CAP: Duration = Duration::from_secs(7 * 24 * 3600);

/// One provider's cache settings.
#[derive(Clone, Debug)]
pub struct ProviderCache {
    /// `cache`: the oldest value used when the provider cannot answer.
    pub keep: Duration,
    /// `prefer_cache`: values younger than this are used without asking the provider.
    pub prefer: Option<Duration>,
    /// `no_cache`: keys never written to the cache, never served from it, and purged from
    /// it when found there (see [`ProviderCache::never_cached`]).
    pub no_cache: Vec<String>,
}

impl ProviderCache {
    /// Whether `no_cache` names `key`, however it is spelled: a key matches in the form
    /// [`matching_form`] gives it, so `/secret/app?version=1#PW` is `secret/app#PW`.
    pub fn never_cached(&self, key: &str) -> bool {
        let key = matching_form(key);
        self.no_cache
            .iter()
            .any(|listed| matching_form(listed) == key)
    }
}

/// What names the same value however a reference spells it: the path without its leading
/// and trailing `/`s and without `?options` (a version…), then `#` and the field. Providers
/// read a key so (the OpenBao provider strips the `/`s, takes `?version=N`), so `no_cache`
/// and a not-found drop must too:
/// another spelling of a key it names is still that key.
pub fn matching_form(key: &str) -> String {
    let (path, field) = match key.split_once('#') {
        Some((path, field)) => (path, Some(field)),
        None => (key, None),
    };
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    let path = path.trim_matches('/');
    match field {
        Some(field) => format!("{path}#{field}"),
        None => path.to_string(),
    }
}

/// The command line's say: `--offline`, `--cache-max-age`, `--prefer-cache`.
#[derive(Clone, Debug, Default)]
pub struct Flags {
    pub offline: bool,
    pub max_age: Option<Duration>,
    pub prefer: Option<Duration>,
}

fn duration(provider: &str, key: &str, value: &toml::Value) -> Result<Duration> {
    let text = value.as_str().ok_or_else(|| {
        Error::BadData(format!(
            "[providers.{provider}] {key} must be a duration such as \"24h\" or \"30m\""
        ))
    })?;
    parse_duration(text).map_err(|why| {
        Error::BadData(format!(
            "[providers.{provider}] {key} = {text:?} is not a duration: {why} (write e.g. \"24h\", \"30m\", \"7d\")"
        ))
    })
}

/// A duration as people write it (`24h`, `30m`, `7d`, `1h 30m`), at least a second.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let parsed = humantime::parse_duration(text.trim()).map_err(|e| e.to_string())?;
    if parsed < Duration::from_secs(1) {
        return Err("it is shorter than a second".into());
    }
    Ok(parsed)
}

/// A duration for messages: `3h 2m`, `45s`.
pub fn describe(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86400,
        seconds % 86400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    let parts: Vec<String> = [(d, "d"), (h, "h"), (m, "m"), (s, "s")]
        .iter()
        .filter(|(n, _)| *n > 0)
        .take(2)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() {
        "0s".into()
    } else {
        parts.join(" ")
    }
}

/// The cache settings of `provider` from its merged table; None when it sets no `cache`.
/// `cap` is `[providers] cache_cap`, which no `cache` may exceed.
pub fn settings(
    provider: &str,
    table: Option<&toml::Table>,
    cap: Duration,
) -> Result<Option<ProviderCache>> {
    let Some(table) = table else {
        return Ok(None);
    };
    let Some(keep) = table.get("cache") else {
        for key in ["prefer_cache", "no_cache"] {
            if table.contains_key(key) {
                return Err(Error::BadData(format!(
                    "[providers.{provider}] sets {key} but no cache: add cache = \"24h\" (how long a cached value may be used when {provider} cannot answer)"
                )));
            }
        }
        return Ok(None);
    };
    let keep = duration(provider, "cache", keep)?;
    if keep > cap {
        return Err(Error::BadData(format!(
            "[providers.{provider}] cache = {} is longer than [providers] cache_cap = {}: shorten it, or raise cache_cap",
            describe(keep.as_secs()),
            describe(cap.as_secs())
        )));
    }
    let prefer = table
        .get("prefer_cache")
        .map(|v| duration(provider, "prefer_cache", v))
        .transpose()?;
    let no_cache = match table.get("no_cache") {
        None => Vec::new(),
        Some(toml::Value::Array(keys)) => keys
            .iter()
            .map(|k| {
                k.as_str().map(str::to_string).ok_or_else(|| {
                    Error::BadData(format!(
                        "[providers.{provider}] no_cache must be a list of keys (strings)"
                    ))
                })
            })
            .collect::<Result<_>>()?,
        Some(_) => {
            return Err(Error::BadData(format!(
                "[providers.{provider}] no_cache must be a list of keys (strings)"
            )));
        }
    };
    Ok(Some(ProviderCache {
        keep,
        prefer,
        no_cache,
    }))
}

/// What identifies `provider`'s entries: its merged configuration as written (references
/// unresolved, and vault's own cache settings left out), the locators vault passes on
/// from its environment (`BAO_ADDR`…), and the profile. Two servers, mounts, namespaces,
/// credentials or profiles never share entries. It is hashed with a key derived from the
/// identity (see `key`), so a file name gives nothing written in the configuration away —
/// a literal secret there included.
pub fn config_id(
    provider: &str,
    table: Option<&toml::Table>,
    profile: Option<&str>,
    hash: impl FnOnce(&[u8]) -> [u8; 32],
) -> ConfigId {
    let mut settings = table.cloned().unwrap_or_default();
    for key in VAULT_SETTINGS {
        settings.remove(*key);
    }
    let locators: Vec<(String, String)> = crate::provider_defaults::environment(provider)
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        })
        .collect();
    let described = serde_json::json!({
        "provider": provider,
        "profile": profile,
        "settings": settings,
        "locators": locators,
    });
    let digest = hash(described.to_string().as_bytes());
    ConfigId {
        provider: provider.to_string(),
        hash: digest.iter().map(|b| format!("{b:02x}")).collect(),
    }
}
