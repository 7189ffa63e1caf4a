//! `secretsd-provider-keyring`: secrets in the OS keyring through the `keyring` crate —
//! the Secret Service on Linux desktops (GNOME Keyring, KWallet, KeePassXC) or the kernel
//! keyring (keyutils) on servers: the session keyring (linked to the persistent one) when
//! the login has one, else the user keyring, so a key outlives the process that stored it
//! in a shell from su, cron or ssh without pam_keyinit.
//!
//! Config: `backend` = "auto" (Secret Service when a session bus is there, else keyutils)
//! | "secret-service" | "keyutils"; `service` (default "secretsd"). The key is the
//! account ("username") under that service. Items written by other tools are found with
//! the same service and username attributes, e.g. `secret-tool store service secretsd
//! username API_KEY`. Built on macOS or Windows, "auto" is the Keychain or the Credential
//! Manager (through the same crate), and listing is unsupported there. Keys in the kernel
//! keyring are volatile: they do not survive a reboot.

use std::process::ExitCode;

use keyring::{Entry, Error as KeyringError};
use secretsd_protocol::{
    Config, ErrorKind, GetOk, ListOk, Op, Provider, ProviderError, SecretValue, serve,
};

/// The largest payload the kernel keeps in a "user" key.
const KEYUTILS_MAX_VALUE: usize = 32767;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    SecretService,
    Keyutils,
    /// The platform's own store (macOS Keychain, Windows Credential Manager).
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    Native,
}

struct Settings {
    backend: Backend,
    service: String,
}

fn settings(config: &Config) -> Result<Settings, ProviderError> {
    let text = |key: &str| config.get(key).and_then(|v| v.as_str());
    let backend = match text("backend").unwrap_or("auto") {
        "secret-service" => Backend::SecretService,
        "keyutils" => Backend::Keyutils,
        "auto" if cfg!(target_os = "linux") => {
            let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty());
            if bus {
                Backend::SecretService
            } else {
                Backend::Keyutils
            }
        }
        "auto" => Backend::Native,
        other => {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("backend = {other:?}: use \"auto\", \"secret-service\" or \"keyutils\""),
            ));
        }
    };
    let service = text("service").unwrap_or("secretsd").to_string();
    if service.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            "service must not be empty",
        ));
    }
    Ok(Settings { backend, service })
}

fn no_secret_service(error: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(
        ErrorKind::Unavailable,
        "no Secret Service answers on the D-Bus session bus (is GNOME Keyring, KWallet or KeePassXC running and unlocked?); on a server set backend = \"keyutils\" under [providers.keyring]",
    )
    .caused_by(error)
}

/// Maps a keyring error; the messages name keys, never values.
fn keyring_error(settings: &Settings, key: &str, error: KeyringError) -> ProviderError {
    match (settings.backend, error) {
        (_, KeyringError::NoEntry) => {
            ProviderError::new(ErrorKind::NotFound, format!("no item for {key}"))
        }
        (
            Backend::SecretService,
            e @ (KeyringError::PlatformFailure(_) | KeyringError::NoStorageAccess(_)),
        ) => no_secret_service(e),
        (_, KeyringError::NoStorageAccess(e)) => ProviderError::new(
            ErrorKind::Denied,
            format!("the keyring refused access to {key}"),
        )
        .caused_by(e),
        (_, KeyringError::Ambiguous(items)) => ProviderError::new(
            ErrorKind::Invalid,
            format!(
                "{} keyring items match {key}; remove the duplicates",
                items.len()
            ),
        ),
        (_, KeyringError::TooLong(field, limit)) => ProviderError::new(
            ErrorKind::Invalid,
            format!("the {field} of {key} is longer than the keyring allows ({limit})"),
        ),
        (_, KeyringError::BadEncoding(_)) => ProviderError::new(
            ErrorKind::Invalid,
            format!("the item for {key} is not UTF-8"),
        ),
        (_, e) => ProviderError::new(
            ErrorKind::Unavailable,
            format!("the keyring failed for {key}"),
        )
        .caused_by(e),
    }
}

#[cfg(target_os = "linux")]
fn entry(settings: &Settings, key: &str) -> Result<Entry, ProviderError> {
    use keyring::keyutils::KeyutilsCredential;
    use keyring::secret_service::SsCredential;
    if key.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            "a keyring key (account) must not be empty",
        ));
    }
    let credential: Box<keyring::credential::Credential> = match settings.backend {
        Backend::SecretService => Box::new(
            SsCredential::new_with_target(None, &settings.service, key)
                .map_err(|e| keyring_error(settings, key, e))?,
        ),
        Backend::Keyutils | Backend::Native => match user_keyring_without_session() {
            // The description the keyring crate gives its keys, so either finds the other's.
            Some(user) => Box::new(KeyutilsCredential {
                session: user,
                persistent: None,
                description: format!("keyring-rs:{key}@{}", settings.service),
            }),
            None => Box::new(
                KeyutilsCredential::new_with_target(None, &settings.service, key).map_err(|e| {
                    ProviderError::new(
                        ErrorKind::Unavailable,
                        "no kernel keyring is usable in this login (neither a session keyring nor the user keyring); start one with 'keyctl session', or use backend = \"secret-service\" or another provider",
                    )
                    .caused_by(e)
                })?,
            ),
        },
    };
    Ok(Entry::new_with_credential(credential))
}

/// The user keyring (`@u`), when this process has no session keyring of its own (a login
/// through `su`, cron or an ssh without pam_keyinit): then "the session keyring" is the
/// user-session keyring, and a key added there lands in a keyring made for this process
/// alone and is gone when it exits. The user keyring lives as long as the user does.
#[cfg(target_os = "linux")]
fn user_keyring_without_session() -> Option<linux_keyutils::KeyRing> {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    let session = KeyRing::from_special_id(KeyRingIdentifier::Session, false).ok();
    let user_session = KeyRing::from_special_id(KeyRingIdentifier::UserSession, false).ok();
    match (session, user_session) {
        (Some(session), Some(user_session)) if session != user_session => None,
        _ => KeyRing::from_special_id(KeyRingIdentifier::User, true).ok(),
    }
}

#[cfg(not(target_os = "linux"))]
fn entry(settings: &Settings, key: &str) -> Result<Entry, ProviderError> {
    if key.is_empty() {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            "a keyring key (account) must not be empty",
        ));
    }
    if settings.backend != Backend::Native {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            "the secret-service and keyutils backends exist on Linux only; use backend = \"auto\"",
        ));
    }
    Entry::new(&settings.service, key).map_err(|e| keyring_error(settings, key, e))
}

/// Every item of the service in the Secret Service, by its username attribute.
#[cfg(target_os = "linux")]
fn list_secret_service(settings: &Settings, prefix: Option<&str>) -> Result<ListOk, ProviderError> {
    use secret_service::EncryptionType;
    use secret_service::blocking::SecretService;
    let service = SecretService::connect(EncryptionType::Dh).map_err(no_secret_service)?;
    let attributes = std::collections::HashMap::from([("service", settings.service.as_str())]);
    let found = service
        .search_items(attributes)
        .map_err(no_secret_service)?;
    let mut keys = Vec::new();
    for item in found.unlocked.iter().chain(found.locked.iter()) {
        let attributes = item.get_attributes().map_err(no_secret_service)?;
        if let Some(user) = attributes.get("username") {
            keys.push(user.clone());
        }
    }
    keys.retain(|k| k.starts_with(prefix.unwrap_or("")));
    keys.sort();
    keys.dedup();
    Ok(ListOk { keys })
}

/// The keys of the service in the kernel keyring this provider uses. The kernel has no
/// search by pattern, and reading a keyring's links through linux-keyutils is unsound when
/// the keyring holds more links than its buffer (it sets a length the kernel never wrote):
/// so the candidates are the "user" keys `/proc/keys` shows this user, and each counts only
/// when a search from our keyring finds it, as `get` would. No value is read.
#[cfg(target_os = "linux")]
fn list_keyutils(settings: &Settings, prefix: Option<&str>) -> Result<ListOk, ProviderError> {
    use linux_keyutils::{KeyRing, KeyRingIdentifier};
    let keyring = match user_keyring_without_session() {
        Some(user) => user,
        None => KeyRing::from_special_id(KeyRingIdentifier::Session, false).map_err(|e| {
            ProviderError::new(
                ErrorKind::Unavailable,
                "no kernel keyring is usable in this login; start one with 'keyctl session'",
            )
            .caused_by(e)
        })?,
    };
    let table = std::fs::read_to_string("/proc/keys").map_err(|e| {
        ProviderError::new(
            ErrorKind::Unsupported,
            "this kernel shows no /proc/keys, so its keyring cannot be listed; get, set and delete work",
        )
        .caused_by(e)
    })?;
    let suffix = format!("@{}", settings.service);
    let mut keys: Vec<String> = table
        .lines()
        .filter_map(user_key_description)
        .filter_map(|description| {
            let key = description
                .strip_prefix("keyring-rs:")?
                .strip_suffix(suffix.as_str())?;
            (!key.is_empty() && key.starts_with(prefix.unwrap_or("")))
                .then(|| (key.to_string(), description))
        })
        .filter(|(_, description)| keyring.search(description).is_ok())
        .map(|(key, _)| key)
        .collect();
    keys.sort();
    keys.dedup();
    Ok(ListOk { keys })
}

/// The description of a "user" key in a line of `/proc/keys`: ID, flags, usage, expiry,
/// permissions, uid, gid and type, then the description and, for a key with a payload,
/// `: <its length>`.
fn user_key_description(line: &str) -> Option<&str> {
    let mut rest = line;
    for field in 0..8 {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace)?;
        if field == 7 && &rest[..end] != "user" {
            return None;
        }
        rest = &rest[end..];
    }
    let described = rest.trim_start();
    Some(match described.rsplit_once(": ") {
        Some((description, length)) if length.bytes().all(|b| b.is_ascii_digit()) => description,
        _ => described,
    })
}

#[cfg(not(target_os = "linux"))]
fn list_keyutils(_settings: &Settings, _prefix: Option<&str>) -> Result<ListOk, ProviderError> {
    Err(ProviderError::new(
        ErrorKind::Unsupported,
        "the kernel keyring exists on Linux only",
    ))
}

#[cfg(not(target_os = "linux"))]
fn list_secret_service(
    _settings: &Settings,
    _prefix: Option<&str>,
) -> Result<ListOk, ProviderError> {
    Err(ProviderError::new(
        ErrorKind::Unsupported,
        "the Secret Service exists on Linux only",
    ))
}

struct Keyring;

impl Provider for Keyring {
    fn name(&self) -> &str {
        "keyring"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn ops(&self) -> Vec<Op> {
        vec![Op::Get, Op::List, Op::Set, Op::Delete]
    }

    fn get(&mut self, config: &Config, keys: &[String]) -> Result<GetOk, ProviderError> {
        let settings = settings(config)?;
        let mut answer = GetOk::default();
        for key in keys {
            match entry(&settings, key)?.get_password() {
                Ok(value) => {
                    answer.values.insert(key.clone(), SecretValue::new(value));
                }
                Err(KeyringError::NoEntry) => answer.not_found(key),
                Err(e) => return Err(keyring_error(&settings, key, e)),
            }
        }
        Ok(answer)
    }

    fn list(&mut self, config: &Config, prefix: Option<&str>) -> Result<ListOk, ProviderError> {
        let settings = settings(config)?;
        match settings.backend {
            Backend::SecretService => list_secret_service(&settings, prefix),
            Backend::Keyutils => list_keyutils(&settings, prefix),
            Backend::Native => Err(ProviderError::new(
                ErrorKind::Unsupported,
                "this keyring cannot be searched by service; list works with the secret-service and keyutils backends",
            )),
        }
    }

    fn set(
        &mut self,
        config: &Config,
        key: &str,
        value: &SecretValue,
    ) -> Result<(), ProviderError> {
        let settings = settings(config)?;
        if settings.backend == Backend::Keyutils && value.expose().len() > KEYUTILS_MAX_VALUE {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "the kernel keyring holds at most {KEYUTILS_MAX_VALUE} bytes per key; {key} is {} bytes",
                    value.expose().len()
                ),
            ));
        }
        entry(&settings, key)?
            .set_password(value.expose())
            .map_err(|e| keyring_error(&settings, key, e))
    }

    fn delete(&mut self, config: &Config, key: &str) -> Result<(), ProviderError> {
        let settings = settings(config)?;
        entry(&settings, key)?
            .delete_credential()
            .map_err(|e| keyring_error(&settings, key, e))
    }
}

fn main() -> ExitCode {
    serve(Keyring)
}

#[cfg(test)]
mod tests {
    use super::user_key_description;

    #[test]
    fn descriptions_of_user_keys_are_read_from_proc_keys_lines() {
        let cases = [
            (
                "3996f0e7 I--Q---     1 perm 3f010000     0     0 user      keyring-rs:A B@secretsd: 11",
                Some("keyring-rs:A B@secretsd"),
            ),
            (
                "2d535d52 I--Q---     1 4d   3f010000  1000  1000 user      keyring-rs:X: Y@s: 3",
                Some("keyring-rs:X: Y@s"),
            ),
            (
                "249e78bb I--Q---     8 perm 3f030000     0     0 keyring   _ses: 2",
                None,
            ),
            ("garbage", None),
        ];
        for (line, expected) in cases {
            assert_eq!(user_key_description(line), expected, "{line}");
        }
    }
}
