//! Where the vault, the identity and the configuration live, and how we learned it.
//!
//! Each location remembers its source so `vault status` and error messages can say *why*
//! vault looked where it did.

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// How a path was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag (`--vault`, `--identity`, `--config`).
    Flag,
    /// An environment variable, named.
    Env(&'static str),
    /// systemd's `LoadCredential=` directory.
    Credentials,
    /// The active profile's `vault` setting.
    Profile,
    /// The XDG default.
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag => f.write_str("command-line flag"),
            Source::Env(var) => write!(f, "${var}"),
            Source::Credentials => f.write_str("$CREDENTIALS_DIRECTORY (systemd LoadCredential=)"),
            Source::Profile => f.write_str("the profile's vault setting"),
            Source::Default => f.write_str("default location"),
        }
    }
}

/// A path and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The path.
    pub path: PathBuf,
    /// How it was chosen.
    pub source: Source,
}

/// The directory holding `path` ("." for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The variable that carries an identity itself (CI).
pub const IDENTITY_KEY_VAR: &str = "VAULT_IDENTITY_KEY";

/// The name of the identity credential under `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL_NAME: &str = "vault-identity";

fn non_empty_env(var: &str) -> Option<PathBuf> {
    env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

fn xdg_dir(var: &str, fallback: &str) -> Result<PathBuf> {
    if let Some(dir) = non_empty_env(var).filter(|p| p.is_absolute()) {
        return Ok(dir);
    }
    match non_empty_env("HOME") {
        Some(home) => Ok(home.join(fallback)),
        None => Err(Error::Usage(format!(
            "neither ${var} nor $HOME is set, so vault has no default location; pass the path explicitly (see vault --help)"
        ))),
    }
}

/// `$XDG_CONFIG_HOME/secretsd`.
pub fn config_dir() -> Result<PathBuf> {
    Ok(xdg_dir("XDG_CONFIG_HOME", ".config")?.join("secretsd"))
}

/// `$XDG_CACHE_HOME/secretsd`: the offline cache of provider values (encrypted).
pub fn cache_dir() -> Result<PathBuf> {
    Ok(xdg_dir("XDG_CACHE_HOME", ".cache")?.join("secretsd"))
}

/// `$XDG_DATA_HOME/secretsd`.
pub fn data_dir() -> Result<PathBuf> {
    Ok(xdg_dir("XDG_DATA_HOME", ".local/share")?.join("secretsd"))
}

fn from_flag_env_default(
    flag: Option<&Path>,
    var: &'static str,
    default: impl FnOnce() -> Result<PathBuf>,
) -> Result<Located> {
    if let Some(path) = flag {
        return Ok(Located {
            path: path.to_path_buf(),
            source: Source::Flag,
        });
    }
    if let Some(path) = non_empty_env(var) {
        return Ok(Located {
            path,
            source: Source::Env(var),
        });
    }
    Ok(Located {
        path: default()?,
        source: Source::Default,
    })
}

/// The vault file: `--vault`, `VAULT_FILE`, else `$XDG_DATA_HOME/secretsd/vault.age`.
pub fn vault_file(flag: Option<&Path>) -> Result<Located> {
    from_flag_env_default(flag, "VAULT_FILE", || Ok(data_dir()?.join("vault.age")))
}

/// The configuration file: `--config`, `VAULT_CONFIG`, else `$XDG_CONFIG_HOME/secretsd/config.toml`.
pub fn config_file(flag: Option<&Path>) -> Result<Located> {
    from_flag_env_default(flag, "VAULT_CONFIG", || {
        Ok(config_dir()?.join("config.toml"))
    })
}

/// Where the writer key of an identity that is not an age X25519 key is kept.
pub fn writer_key_file() -> Result<PathBuf> {
    Ok(config_dir()?.join("writer.key"))
}

/// The default identity path, where `vault init` creates one.
pub fn default_identity_file() -> Result<PathBuf> {
    Ok(config_dir()?.join("identity.txt"))
}

/// The identity, first found wins: `--identity`, `VAULT_IDENTITY`,
/// `$CREDENTIALS_DIRECTORY/vault-identity` (if that file exists), the default path.
pub fn identity_file(flag: Option<&Path>) -> Result<Located> {
    if flag.is_none()
        && non_empty_env("VAULT_IDENTITY").is_none()
        && let Some(dir) = non_empty_env("CREDENTIALS_DIRECTORY")
    {
        let path = dir.join(CREDENTIAL_NAME);
        if path.exists() {
            return Ok(Located {
                path,
                source: Source::Credentials,
            });
        }
    }
    from_flag_env_default(flag, "VAULT_IDENTITY", default_identity_file)
}

/// Where the identity comes from, first found wins:
///
/// | source | what it holds |
/// |---|---|
/// | `--identity FILE` | a file |
/// | `VAULT_IDENTITY_KEY` | the identity itself (CI) |
/// | `VAULT_IDENTITY_COMMAND` | a command whose stdout is the identity |
/// | `VAULT_IDENTITY` | a file |
/// | `$CREDENTIALS_DIRECTORY/vault-identity` | a file (systemd `LoadCredential=`) |
/// | `$XDG_CONFIG_HOME/secretsd/identity.txt` | a file (made by `vault init`) |
pub enum IdentitySource {
    /// An identity file.
    File(Located),
    /// `VAULT_IDENTITY_KEY`.
    Key,
    /// `VAULT_IDENTITY_COMMAND`.
    Command(String),
}

impl IdentitySource {
    /// Finds the identity: `flag` is `--identity`, and `key_given` says whether vault was
    /// started with an identity in `VAULT_IDENTITY_KEY` (the caller takes it out of the
    /// environment at start, so this module cannot see it there).
    pub fn find(flag: Option<&Path>, key_given: bool) -> Result<IdentitySource> {
        if flag.is_some() {
            return identity_file(flag).map(IdentitySource::File);
        }
        if key_given {
            return Ok(IdentitySource::Key);
        }
        if let Some(command) = env::var("VAULT_IDENTITY_COMMAND")
            .ok()
            .filter(|c| !c.trim().is_empty())
        {
            return Ok(IdentitySource::Command(command));
        }
        identity_file(None).map(IdentitySource::File)
    }

    /// Which source it is: the flag, a variable, the credential or the default location.
    pub fn source_name(&self) -> String {
        match self {
            IdentitySource::File(located) => located.source.to_string(),
            IdentitySource::Key => format!("${}", IDENTITY_KEY_VAR),
            IdentitySource::Command(_) => "$VAULT_IDENTITY_COMMAND".to_string(),
        }
    }

    /// What `vault status` and `--verbose` say about it.
    pub fn describe(&self) -> String {
        match self {
            IdentitySource::File(located) => {
                format!("{} (from {})", located.path.display(), located.source)
            }
            IdentitySource::Key => format!("${}", IDENTITY_KEY_VAR),
            IdentitySource::Command(_) => "the output of $VAULT_IDENTITY_COMMAND".to_string(),
        }
    }
}

/// The path of the file with the vault's passphrase, from `VAULT_PASSPHRASE_FILE`.
pub fn passphrase_file() -> Option<PathBuf> {
    non_empty_env("VAULT_PASSPHRASE_FILE")
}

/// The one rule for a path written in the configuration, a manifest or a rotation policy
/// (`[providers.*] path`, `dotenv:PATH` in `[lookup]` and `[sync.*]`, a profile's `vault`,
/// a policy's `files`, a `file:PATH` reference): `~` alone, or `~/` at its start, is the
/// home directory — `$HOME`, else the user's entry in the password database, as a shell
/// does. Nothing else is expanded: not `~user`, not `$VAR` (a value in a file that meant
/// different paths in different environments would be a surprise; let the shell write
/// the file, as the README's how-tos do). A path without a home to expand stays as it is
/// and fails where it is used, naming itself.
pub fn expand_home(path: &Path) -> PathBuf {
    let Ok(rest) = path.strip_prefix("~") else {
        return path.to_path_buf();
    };
    let home = non_empty_env("HOME").or_else(|| {
        nix::unistd::User::from_uid(nix::unistd::getuid())
            .ok()
            .flatten()
            .map(|user| user.dir)
            .filter(|dir| !dir.as_os_str().is_empty())
    });
    match home {
        Some(home) if rest.as_os_str().is_empty() => home,
        Some(home) => home.join(rest),
        None => path.to_path_buf(),
    }
}

/// [`expand_home`] of a path written as text.
pub fn expand_home_text(text: &str) -> PathBuf {
    expand_home(Path::new(text))
}

/// Whether a `[providers.NAME]` setting names a path, which vault expands (see
/// [`expand_home`]) before the provider is sent it: `path`, or a key ending in `_path`,
/// `_file`, `_dir` or `_cert` (a certificate file: OpenBao's `ca_cert`). A provider cannot tell vault which of its settings are paths, so
/// the rule goes by name, and protocol/SPEC.md states it.
pub fn is_path_setting(key: &str) -> bool {
    key == "path"
        || ["_path", "_file", "_dir", "_cert"]
            .iter()
            .any(|end| key.ends_with(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_named_as_paths_are_paths() {
        for key in ["path", "ca_file", "store_dir", "socket_path", "ca_cert"] {
            assert!(is_path_setting(key), "{key}");
        }
        for key in ["client_secret", "paths", "profile", "base_url", "filename"] {
            assert!(!is_path_setting(key), "{key}");
        }
    }

    #[test]
    fn only_a_leading_tilde_component_is_home() {
        for text in ["~user/x", "/a/~/b", "$HOME/x", "x~"] {
            assert_eq!(expand_home_text(text), PathBuf::from(text));
        }
    }
}
