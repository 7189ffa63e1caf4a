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
//! Manager (through the same crate), and listing is unsupported there.

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
        if settings.backend != Backend::SecretService {
            return Err(ProviderError::new(
                ErrorKind::Unsupported,
                "this keyring cannot be searched by service; list works with backend = \"secret-service\"",
            ));
        }
        list_secret_service(&settings, prefix)
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
