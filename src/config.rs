//! The configuration file (`--config`, `VAULT_CONFIG`, `$XDG_CONFIG_HOME/secretsd/config.toml`).
//!
//! Every setting has a default, so no file is needed for a first use.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::paths::{Located, Source};
pub use crate::store::backup::BackupPolicy;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub backup: BackupPolicy,
    pub providers: ProvidersConfig,
    pub lookup: LookupConfig,
    /// `[rotate]`: a rotation policy (`[rotate.secrets.NAME]`, `[rotate.services.NAME]`),
    /// read by `vault rotate` when no `--policy` is given.
    pub rotate: Option<toml::Table>,
    /// `[lock]`: how long a write waits for another writer.
    pub lock: LockConfig,
    /// `[sync.NAME]`: named syncs, run as `vault sync NAME`.
    pub sync: std::collections::BTreeMap<String, SyncProfile>,
    /// `[profiles.NAME]`: settings `--profile NAME` (or `VAULT_PROFILE`) selects.
    pub profiles: std::collections::BTreeMap<String, Profile>,
    /// `[security]`: owners trusted before a vault is first seen.
    pub security: SecurityConfig,
    /// `[exec]`: what `vault exec` and `vault run` pass on.
    pub exec: ExecConfig,
    /// `[redact]`: what `exec --redact` masks.
    pub redact: RedactConfig,
}

/// `[exec]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecConfig {
    /// Variables passed from a vault or a provider although they make programs load code
    /// (see `code_env`), as `--allow-env` does.
    pub allow_env: Vec<String>,
}

/// `[redact]`: how much of a value `exec --redact` masks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactConfig {
    /// Lines of values shorter than this many characters are not masked (they are named
    /// on stderr instead): masking `x` would garble every word with an x in it.
    pub min_length: usize,
    /// Any run of this many characters taken from a value is masked.
    pub min_fragment: usize,
}

impl Default for RedactConfig {
    fn default() -> Self {
        let defaults = crate::redact::Settings::default();
        RedactConfig {
            min_length: defaults.min_length,
            min_fragment: defaults.min_fragment,
        }
    }
}

impl RedactConfig {
    /// The settings, checked: a fragment shorter than 4 characters, or than `min_length`,
    /// would mask ordinary text everywhere.
    pub fn settings(&self, source: &str) -> Result<crate::redact::Settings> {
        if self.min_length == 0 || self.min_fragment < self.min_length.max(4) {
            return Err(Error::BadData(format!(
                "[redact] in {source} sets min_length = {} and min_fragment = {}: min_length must be at least 1, and min_fragment at least 4 and at least min_length",
                self.min_length, self.min_fragment
            )));
        }
        Ok(crate::redact::Settings {
            min_length: self.min_length,
            min_fragment: self.min_fragment,
        })
    }
}

/// `[security]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// `[security.vaults]`: vault id = [owner writer keys], trusted at a vault's first
    /// sight on this machine (as `VAULT_TRUST` is); after that, what the machine saw.
    pub vaults: std::collections::BTreeMap<String, Vec<String>>,
    /// Ignored since membership blocks: every vault read must be signed. Kept so that a
    /// configuration that sets it still loads.
    pub require_signed: bool,
    /// Ignored since membership blocks (a writer is trusted as a member of a block an
    /// owner signed; pin owners with `vaults`). Kept so that a configuration that sets it
    /// still loads.
    pub trusted_writers: Vec<String>,
}

impl SecurityConfig {
    /// The retired settings this configuration still sets: they decide nothing now, and
    /// whoever relied on them should hear so.
    pub fn retired(&self) -> Vec<&'static str> {
        let mut retired = Vec::new();
        if self.require_signed {
            retired.push("require_signed");
        }
        if !self.trusted_writers.is_empty() {
            retired.push("trusted_writers");
        }
        retired
    }
}

/// `[profiles.NAME]`: what a profile changes — which vault, where names are looked up, and
/// provider settings (merged key by key over `[providers.NAME]`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    pub vault: Option<std::path::PathBuf>,
    pub lookup: Option<Vec<String>>,
    pub providers: std::collections::BTreeMap<String, toml::Table>,
}

impl Config {
    /// This configuration with `profile`'s settings applied; an unknown profile is an
    /// error naming the known ones.
    pub fn with_profile(mut self, profile: &str, source: &str) -> Result<(Config, Profile)> {
        let Some(chosen) = self.profiles.get(profile).cloned() else {
            let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
            return Err(Error::Usage(format!(
                "no profile named {profile} in {source}; {}",
                if known.is_empty() {
                    "add a [profiles.NAME] table to define one".to_string()
                } else {
                    format!("the profiles are {}", known.join(", "))
                }
            )));
        };
        if let Some(order) = &chosen.lookup {
            self.lookup.order = order.clone();
        }
        for (provider, settings) in &chosen.providers {
            let table = self.providers.tables.entry(provider.clone()).or_default();
            for (key, value) in settings {
                table.insert(key.clone(), value.clone());
            }
        }
        Ok((self, chosen))
    }
}

/// `[lock]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockConfig {
    /// How long a write waits for the writer lock before giving up (exit 1).
    pub timeout_seconds: u64,
}

impl Default for LockConfig {
    fn default() -> Self {
        LockConfig {
            timeout_seconds: 30,
        }
    }
}

/// `[sync.NAME]`: what `vault sync NAME` does.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyncProfile {
    /// Sources, in order; a later one wins a name clash.
    pub from: Vec<String>,
    /// The target (default: the vault).
    pub to: Option<String>,
    /// The allow-list: names or patterns (`NINJA_*`).
    pub only: Vec<String>,
    /// Target variables never overwritten.
    pub preserve: Vec<String>,
    /// Fail when a name of the allow-list is in no source.
    pub strict: bool,
    /// .env backups kept beside a .env target (default 10).
    pub keep_backups: Option<usize>,
    /// The user a .env target belongs to on purpose (`--owner`).
    pub owner: Option<String>,
}

/// `[providers]`: vault's limits for provider processes, and one `[providers.<name>]`
/// table per provider, sent to it as its configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ProvidersConfig {
    /// How long one answer may take.
    pub timeout_seconds: u64,
    /// The largest answer, in MiB.
    pub max_response_mib: usize,
    /// The longest `cache` any provider's configuration may set (default 7 days), so that
    /// no profile or table widens the window a cached value can be used in past it.
    pub cache_cap: Option<String>,
    /// Cache with an identity that is not a native age X25519 identity file: one in
    /// `VAULT_IDENTITY_KEY` or printed by `VAULT_IDENTITY_COMMAND` (see SECURITY.md for
    /// what is weaker). SSH and plugin identities derive no key and never cache.
    pub cache_any_identity: bool,
    /// `[providers.<name>]` tables.
    #[serde(flatten)]
    pub tables: std::collections::BTreeMap<String, toml::Table>,
}

impl Default for ProvidersConfig {
    fn default() -> Self {
        ProvidersConfig {
            timeout_seconds: 30,
            max_response_mib: 16,
            cache_cap: None,
            cache_any_identity: false,
            tables: Default::default(),
        }
    }
}

impl ProvidersConfig {
    /// `cache_cap`, checked.
    pub fn cache_cap(&self) -> Result<std::time::Duration> {
        match &self.cache_cap {
            None => Ok(crate::cache::policy::DEFAULT_CAP),
            Some(text) => crate::cache::policy::parse_duration(text).map_err(|why| {
                Error::BadData(format!(
                    "[providers] cache_cap = {text:?} is not a duration: {why} (write e.g. \"7d\")"
                ))
            }),
        }
    }

    /// Whether any provider's configuration sets `cache`.
    pub fn any_cached(&self) -> bool {
        self.tables.values().any(|t| t.contains_key("cache"))
    }
}

/// `[lookup]`: where `secret:NAME` and `vault get NAME` look, first hit wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LookupConfig {
    /// Entries: `"vault"`, `"env"`, `"dotenv:PATH"`, or a provider name.
    pub order: Vec<String>,
}

impl Default for LookupConfig {
    fn default() -> Self {
        LookupConfig {
            order: vec!["vault".to_string()],
        }
    }
}

impl Config {
    /// Reads the configuration; a missing file at the default location means defaults,
    /// a missing file the user named is an error.
    pub fn load(location: &Located) -> Result<Config> {
        let path = &location.path;
        // Checked first, and read by the path checked (see `strict::real_checked`).
        let real = match crate::store::strict::real_checked(path, "configuration file")? {
            Some(real) => real,
            None if location.source == Source::Default => return Ok(Config::default()),
            None => {
                return Err(Error::io(
                    "read the configuration file",
                    path,
                    std::io::ErrorKind::NotFound.into(),
                ));
            }
        };
        let text = crate::regular_file::read_text(&real, path, "configuration file")?;
        toml::from_str(&text).map_err(|e| {
            Error::BadData(format!(
                "the configuration file {} is invalid: {}",
                path.display(),
                e.message()
            ))
        })
    }
}
