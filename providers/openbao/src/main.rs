//! `secretsd-provider-openbao`: secrets in OpenBao or HashiCorp Vault, KV v1 and v2, over
//! the HTTP API.
//!
//! Keys are `MOUNT/PATH[?version=N][#FIELD]`: `secret/app#DB_PASSWORD` is the field
//! `DB_PASSWORD` of the secret `app` in the mount `secret` (`bao kv get -field=DB_PASSWORD
//! secret/app`). Which part is the mount, and its KV version, the server says. A `get`
//! reads each secret once however many of its fields are asked for; `set` writes one field
//! and keeps the others (check-and-set on v2); `delete` removes a field, and the secret
//! with its last. `list` of `MOUNT/DIR/` lists secrets and folders, of `MOUNT/PATH` (or
//! `MOUNT/PATH#PREFIX`) the secret's fields as addresses, and without a prefix the KV mounts.
//!
//! Config (`[providers.openbao]`): `address` (a URL or a list of node URLs; default
//! `BAO_ADDR`, `VAULT_ADDR`, then https://127.0.0.1:8200), `token` (vault sends
//! `BAO_TOKEN`, `VAULT_TOKEN` or `~/.vault-token` when it is not set), or `auth =
//! "approle"` with `role_id`, `secret_id` and `auth_mount` (default `approle`);
//! `namespace`, `ca_cert` (default `*_NAMESPACE`, `*_CACERT`), `mount` with `kv_version`
//! (instead of asking the server), `timeout_seconds` (20), `failover_seconds` (20: all the
//! requests of one operation end within it, so it answers with its reasons before vault's
//! 30 s per answer runs out).

mod address;
mod http;
mod kv;
mod origin;
mod settings;

use std::collections::BTreeMap;
use std::process::ExitCode;

use secretsd_protocol::{
    Config, ErrorKind, GetOk, KeyError, ListOk, Op, Provider, ProviderError, SecretValue, serve,
};
use serde_json::Value;

use address::{Address, field_address, refuse_dot_segments};
use http::Client;
use kv::Kv;
use settings::Settings;

/// A secret as one read: its path and a pinned version.
type SecretAt = (String, Option<u64>);
/// A key asked for, and its field.
type KeyField = (String, String);

struct OpenBao {
    kv: Option<Kv>,
}

/// A field's value as text: a string as it is, anything else (a number, an object written
/// by another tool) as its JSON.
fn field_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The secrets and folders directly in `folder` whose names start with `start`, as
/// addresses (`secret/app`, `secret/team/`).
fn children(kv: &mut Kv, folder: &kv::Located, start: &str) -> Result<Vec<String>, ProviderError> {
    let base = folder.full();
    let base = if base.ends_with('/') {
        base
    } else {
        format!("{base}/")
    };
    Ok(kv
        .children(folder)?
        .into_iter()
        .filter(|child| child.starts_with(start))
        .map(|child| format!("{base}{child}"))
        .collect())
}

impl OpenBao {
    /// The KV client for this configuration: the same servers and identity keep their
    /// login and the mounts found.
    fn kv(&mut self, config: &Config) -> Result<&mut Kv, ProviderError> {
        let settings = Settings::from_config(config)?;
        match &mut self.kv {
            Some(kv) if kv.client.settings.same_identity(&settings) => {
                kv.client.reconfigure(settings)
            }
            _ => self.kv = Some(Kv::new(Client::new(settings)?)),
        }
        let kv = self.kv.as_mut().expect("set above");
        kv.client.begin_operation();
        Ok(kv)
    }
}

impl Provider for OpenBao {
    fn name(&self) -> &str {
        "openbao"
    }

    fn version(&self) -> &str {
        env!("CARGO_PKG_VERSION")
    }

    fn ops(&self) -> Vec<Op> {
        vec![Op::Get, Op::List, Op::Set, Op::Delete]
    }

    fn get(&mut self, config: &Config, keys: &[String]) -> Result<GetOk, ProviderError> {
        // One read per secret (and pinned version), however many of its fields are asked.
        let mut by_secret: BTreeMap<SecretAt, Vec<KeyField>> = BTreeMap::new();
        for key in keys {
            let address = Address::parse(key)?;
            let field = address.field(key, "get")?.to_string();
            by_secret
                .entry((address.path.clone(), address.version))
                .or_default()
                .push((key.clone(), field));
        }
        let kv = self.kv(config)?;
        let mut answer = GetOk::default();
        for ((path, version), wanted) in by_secret {
            let located = kv.locate(&path)?;
            let secret = kv.read(&located, version)?;
            for (key, field) in wanted {
                match secret.as_ref().and_then(|s| s.fields.get(&field)) {
                    Some(value) => {
                        // A lease bounds how long vault's cache may keep the value.
                        if let Some(lease) = secret.as_ref().map(|s| s.lease_seconds)
                            && lease > 0
                        {
                            answer.ttl.insert(key.clone(), lease);
                        }
                        answer
                            .values
                            .insert(key, SecretValue::new(field_text(value)));
                    }
                    None if secret.is_none()
                        && located.mount.version == 2
                        && located.rest.starts_with("data/") =>
                    {
                        let message = format!(
                            "no secret at {}: KV v2 addresses leave out data/ (write {}/{}#{field})",
                            located.full(),
                            located.mount.path,
                            &located.rest["data/".len()..]
                        );
                        answer.errors.insert(
                            key,
                            KeyError {
                                kind: ErrorKind::NotFound,
                                message: Some(message),
                            },
                        );
                    }
                    None => answer.not_found(&key),
                }
            }
        }
        Ok(answer)
    }

    fn list(&mut self, config: &Config, prefix: Option<&str>) -> Result<ListOk, ProviderError> {
        let prefix = prefix
            .map(|p| p.trim_start_matches('/'))
            .filter(|p| !p.is_empty());
        if let Some(prefix) = prefix {
            let path = prefix.split_once('#').map_or(prefix, |(path, _)| path);
            refuse_dot_segments(prefix, path)?;
        }
        let kv = self.kv(config)?;
        let Some(prefix) = prefix else {
            return Ok(ListOk { keys: kv.mounts()? });
        };
        let mut keys = Vec::new();
        if let Some((path, field_prefix)) = prefix.split_once('#') {
            // The fields of one secret that start with the prefix.
            let located = kv.locate(path)?;
            if let Some(secret) = kv.read(&located, None)? {
                keys.extend(
                    secret
                        .fields
                        .keys()
                        .filter(|f| f.starts_with(field_prefix))
                        .map(|f| field_address(path, f)),
                );
            }
        } else if prefix.ends_with('/') {
            let located = kv.locate(prefix)?;
            keys.extend(children(kv, &located, "")?);
        } else {
            let located = kv.locate(prefix)?;
            // A mount: its secrets. A secret: its fields. Otherwise the names of its folder
            // that start so (`secret/ap` lists `secret/app`).
            if located.rest.is_empty() {
                keys.extend(children(kv, &located, "")?);
            } else if let Some(secret) = kv.read(&located, None)? {
                keys.extend(secret.fields.keys().map(|f| field_address(prefix, f)));
            } else {
                let (folder, start) = prefix.rsplit_once('/').unwrap_or((prefix, ""));
                let parent = kv.locate(&format!("{folder}/"))?;
                keys.extend(children(kv, &parent, start)?);
            }
        }
        keys.sort();
        keys.dedup();
        Ok(ListOk { keys })
    }

    fn set(
        &mut self,
        config: &Config,
        key: &str,
        value: &SecretValue,
    ) -> Result<(), ProviderError> {
        let address = Address::parse(key)?;
        address.writable(key)?;
        let field = address.field(key, "set")?.to_string();
        let kv = self.kv(config)?;
        let located = kv.locate(&address.path)?;
        kv.update(
            &located,
            &format!("writing {}#{field}", located.full()),
            |fields| {
                fields.insert(field.clone(), Value::String(value.expose().to_string()));
                Ok(())
            },
        )
    }

    fn delete(&mut self, config: &Config, key: &str) -> Result<(), ProviderError> {
        let address = Address::parse(key)?;
        address.writable(key)?;
        let field = address.field(key, "delete")?.to_string();
        let kv = self.kv(config)?;
        let located = kv.locate(&address.path)?;
        let full = located.full();
        kv.update(
            &located,
            &format!("deleting {full}#{field}"),
            |fields| match fields.remove(&field) {
                Some(_) => Ok(()),
                None => Err(ProviderError::new(
                    ErrorKind::NotFound,
                    format!("{full} has no field {field}"),
                )),
            },
        )
    }
}

fn main() -> ExitCode {
    serve(OpenBao { kv: None })
}
