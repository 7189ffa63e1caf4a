//! `secretsd-provider-infisical`: secrets in Infisical (cloud or self-hosted) through its
//! REST API — Universal Auth for a short-lived token, then the v4 secrets endpoints.
//!
//! Config (`[providers.infisical]`): `base_url` (default Infisical Cloud), `client_id`,
//! `client_secret` (typically references, e.g. `gopass:infisical/client-secret`),
//! `project_id`, `environment` (default `prod`), `recursive` (list subfolders too, default
//! false), `include_imports` (default true), `timeout_seconds` (default 20).
//!
//! Keys are `/<folder path>/<NAME>`; the leading `/` may be left out (`app/db/PASSWORD`,
//! and a bare `NAME` is in the root folder `/`). `list` answers in the spelling of its
//! prefix — with the leading `/` when the prefix has one or there is none, without it
//! otherwise — so every listed key reads back as listed. Without a prefix it lists the root
//! folder (and, with `recursive`, every folder below). A `get` reads each folder once,
//! however many of its names are asked for.

mod api;

use std::collections::BTreeMap;
use std::process::ExitCode;

use secretsd_protocol::{
    Config, ErrorKind, GetOk, ListOk, Op, Provider, ProviderError, SecretValue, serve,
};

use api::{Client, Settings};

/// A key split into its folder and name.
fn split_key(key: &str) -> Result<(String, String), ProviderError> {
    let (folder, name) = match key.rsplit_once('/') {
        Some((folder, name)) => (if folder.is_empty() { "/" } else { folder }, name),
        None => ("/", key),
    };
    let folder = if folder.starts_with('/') {
        folder.to_string()
    } else {
        format!("/{folder}")
    };
    if name.is_empty() || folder.contains("//") {
        return Err(ProviderError::new(
            ErrorKind::Invalid,
            format!("{key:?} is not an Infisical key; write /<folder path>/<NAME> (or NAME for /)"),
        ));
    }
    Ok((folder, name.to_string()))
}

fn full_key(folder: &str, name: &str) -> String {
    if folder == "/" {
        format!("/{name}")
    } else {
        format!("{folder}/{name}")
    }
}

/// The keys of `visible` that start with `wanted` (absolute), sorted, once each; without
/// their leading `/` unless `absolute`.
fn listing(visible: &[api::Visible], wanted: &str, absolute: bool) -> ListOk {
    let mut keys: Vec<String> = visible
        .iter()
        .map(|v| full_key(&v.folder, &v.name))
        .filter(|k| k.starts_with(wanted))
        .map(|k| if absolute { k } else { k[1..].to_string() })
        .collect();
    keys.sort();
    keys.dedup();
    ListOk { keys }
}

struct Infisical {
    client: Option<Client>,
}

impl Infisical {
    /// The API client for this configuration, reusing its token across requests.
    fn client(&mut self, config: &Config) -> Result<&mut Client, ProviderError> {
        let settings = Settings::from_config(config)?;
        match &mut self.client {
            // Same server and identity: keep the token, take the other settings.
            Some(client) if client.serves(&settings) => client.reconfigure(settings),
            _ => self.client = Some(Client::new(settings)),
        }
        Ok(self.client.as_mut().expect("set above"))
    }
}

impl Provider for Infisical {
    fn name(&self) -> &str {
        "infisical"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn ops(&self) -> Vec<Op> {
        vec![Op::Get, Op::List, Op::Set, Op::Delete]
    }

    fn get(&mut self, config: &Config, keys: &[String]) -> Result<GetOk, ProviderError> {
        let mut by_folder: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for key in keys {
            let (folder, name) = split_key(key)?;
            by_folder
                .entry(folder)
                .or_default()
                .push((key.clone(), name));
        }
        let client = self.client(config)?;
        let mut answer = GetOk::default();
        for (folder, wanted) in by_folder {
            let visible = match client.folder(&folder, false) {
                Ok(visible) => visible,
                Err(e) if e.kind == ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(e),
            };
            for (key, name) in wanted {
                match visible.iter().find(|v| v.name == name) {
                    Some(found) => {
                        answer
                            .values
                            .insert(key, SecretValue::new(found.value.to_string()));
                    }
                    None => answer.not_found(&key),
                }
            }
        }
        Ok(answer)
    }

    fn list(&mut self, config: &Config, prefix: Option<&str>) -> Result<ListOk, ProviderError> {
        let prefix = prefix.unwrap_or("");
        let spelled_absolute = prefix.is_empty() || prefix.starts_with('/');
        let absolute = if spelled_absolute {
            prefix.to_string()
        } else {
            format!("/{prefix}")
        };
        let client = self.client(config)?;
        let recursive = client.settings().recursive;
        // A prefix that names a folder lists that folder ("/glitchtip/database"); one that
        // ends inside a name filters the names of its folder ("/app/DB_").
        if !absolute.is_empty()
            && !absolute.ends_with('/')
            && let Ok(visible) = client.folder(&absolute, recursive)
            && !visible.is_empty()
        {
            return Ok(listing(&visible, &format!("{absolute}/"), spelled_absolute));
        }
        let folder = match absolute.rsplit_once('/') {
            Some(("", _)) | None => "/".to_string(),
            Some((folder, _)) => folder.to_string(),
        };
        let visible = client.folder(&folder, recursive)?;
        Ok(listing(&visible, &absolute, spelled_absolute))
    }

    fn set(
        &mut self,
        config: &Config,
        key: &str,
        value: &SecretValue,
    ) -> Result<(), ProviderError> {
        let (folder, name) = split_key(key)?;
        self.client(config)?.write(&folder, &name, value.expose())
    }

    fn delete(&mut self, config: &Config, key: &str) -> Result<(), ProviderError> {
        let (folder, name) = split_key(key)?;
        self.client(config)?.delete(&folder, &name)
    }
}

fn main() -> ExitCode {
    serve(Infisical { client: None })
}
