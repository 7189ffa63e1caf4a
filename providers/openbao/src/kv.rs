//! The KV secrets engine, v1 and v2: which mount a path is in (found as the `bao` CLI finds
//! it, through `sys/internal/ui/mounts/PATH`, so mounts named with `/` work too), and
//! reading, writing (check-and-set on v2), deleting and listing fields of secrets.

use serde_json::{Map, Value, json};

use secretsd_protocol::{ErrorKind, ProviderError};

use crate::http::{Client, Method, Wiped, encode_path, wipe};

/// Check-and-set writes retried when another writer got in between.
const CAS_ATTEMPTS: u32 = 8;

#[derive(Clone)]
pub struct Mount {
    /// `secret`, `team/kv`: without a trailing `/`.
    pub path: String,
    pub version: u8,
}

/// A path within its mount.
pub struct Located {
    pub mount: Mount,
    /// The path below the mount, `app/db`; empty for the mount itself.
    pub rest: String,
}

impl Located {
    fn api(&self, v2_part: &str) -> String {
        let mount = encode_path(&self.mount.path);
        let rest = encode_path(&self.rest);
        match (self.mount.version, rest.is_empty()) {
            (2, true) => format!("{mount}/{v2_part}"),
            (2, false) => format!("{mount}/{v2_part}/{rest}"),
            (_, true) => mount,
            (_, false) => format!("{mount}/{rest}"),
        }
    }

    pub fn full(&self) -> String {
        if self.rest.is_empty() {
            format!("{}/", self.mount.path)
        } else {
            format!("{}/{}", self.mount.path, self.rest)
        }
    }
}

/// A secret's fields and, on v2, the version they were read at (0: none yet).
pub struct Secret {
    pub fields: Map<String, Value>,
    pub version: u64,
    /// The lease the server gave the read (`lease_duration`, seconds; a KV v1 secret
    /// with a `ttl` field has one), 0 for none.
    pub lease_seconds: u64,
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.fields.values_mut().for_each(wipe);
    }
}

pub struct Kv {
    pub client: Client,
    /// Mounts found so far, for the life of the provider.
    mounts: Vec<Mount>,
}

fn strip_slashes(text: &str) -> &str {
    text.trim_matches('/')
}

impl Kv {
    pub fn new(client: Client) -> Kv {
        Kv {
            client,
            mounts: Vec::new(),
        }
    }

    /// The mount `path` is in: the configured `mount`, one found before, or the server's
    /// answer.
    pub fn locate(&mut self, path: &str) -> Result<Located, ProviderError> {
        let path = strip_slashes(path);
        let within = |mount: &Mount| {
            (path == mount.path || path.starts_with(&format!("{}/", mount.path))).then(|| Located {
                mount: mount.clone(),
                rest: strip_slashes(&path[mount.path.len()..]).to_string(),
            })
        };
        if let Some((mount, version)) = &self.client.settings.mount {
            let configured = Mount {
                path: mount.clone(),
                version: *version,
            };
            return within(&configured).ok_or_else(|| {
                ProviderError::new(
                    ErrorKind::Invalid,
                    format!("{path} is not in the mount {mount} set under [providers.openbao]"),
                )
            });
        }
        if let Some(found) = self.mounts.iter().find_map(within) {
            return Ok(found);
        }
        let api = format!("sys/internal/ui/mounts/{}", encode_path(path));
        let answer = self.client.call(Method::Get, &api, None)?;
        let what = format!("finding the mount of {path}");
        if !answer.ok() {
            let words = answer.words();
            // The server says so both when no mount holds the path and when the token's
            // policies grant nothing there; the `bao` CLI stops here too.
            if answer.status == 403 && words.contains("preflight capability check") {
                return Err(ProviderError::new(
                    ErrorKind::Denied,
                    format!(
                        "OpenBao denied {path}: {words} (no secrets engine is mounted there, or the token's policies grant nothing on it)"
                    ),
                ));
            }
            return Err(answer.error(&what, &api));
        }
        let data = answer.body.get("data").cloned().unwrap_or(Value::Null);
        let mount_path = data.get("path").and_then(Value::as_str).map(strip_slashes);
        let kind = data.get("type").and_then(Value::as_str).unwrap_or("");
        let Some(mount_path) = mount_path else {
            return Err(ProviderError::new(
                ErrorKind::Unavailable,
                format!("{what}: the answer names no mount"),
            ));
        };
        if kind != "kv" && kind != "generic" {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{mount_path}/ is a {kind} secrets engine; this provider reads KV (v1 and v2) mounts"
                ),
            ));
        }
        let version = match data.pointer("/options/version").and_then(Value::as_str) {
            Some("2") => 2,
            _ => 1,
        };
        let mount = Mount {
            path: mount_path.to_string(),
            version,
        };
        self.mounts.push(mount.clone());
        within(&mount).ok_or_else(|| {
            ProviderError::new(
                ErrorKind::Unavailable,
                format!("{what}: the server named the mount {mount_path}"),
            )
        })
    }

    /// The secret at `at` (a pinned `version` on v2), or None.
    pub fn read(
        &mut self,
        at: &Located,
        version: Option<u64>,
    ) -> Result<Option<Secret>, ProviderError> {
        if at.rest.is_empty() {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{} is a mount; name a secret in it, e.g. {}app#FIELD",
                    at.full(),
                    at.full()
                ),
            ));
        }
        if version.is_some() && at.mount.version != 2 {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{}/ is a KV v1 mount, which keeps no versions: drop ?version=",
                    at.mount.path
                ),
            ));
        }
        let mut api = at.api("data");
        if let Some(version) = version {
            api.push_str(&format!("?version={version}"));
        }
        let answer = self.client.call(Method::Get, &api, None)?;
        let what = format!("reading {}", at.full());
        match answer.status {
            200 => {}
            404 => return Ok(None),
            _ => return Err(answer.error(&what, &api)),
        }
        // A success always carries `data` (a deleted version is a 404): without it this
        // is not OpenBao's answer, and "no secret" would let a default apply.
        if !answer.body.get("data").is_some_and(Value::is_object) {
            return Err(ProviderError::new(
                ErrorKind::Unavailable,
                format!("OpenBao answered 200 to {what} without its data"),
            ));
        }
        let (fields, version) = if at.mount.version == 2 {
            (
                answer.body.pointer("/data/data").cloned(),
                answer
                    .body
                    .pointer("/data/metadata/version")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            )
        } else {
            (answer.body.get("data").cloned(), 0)
        };
        let lease_seconds = answer
            .body
            .get("lease_duration")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        match fields {
            Some(Value::Object(fields)) => Ok(Some(Secret {
                fields,
                version,
                lease_seconds,
            })),
            // A deleted (or destroyed) version reads as no data.
            _ => Ok(None),
        }
    }

    /// The current version of a v2 secret for a check-and-set write (0 when it was never
    /// written), and its fields (none when its latest version is deleted).
    fn current(&mut self, at: &Located) -> Result<Secret, ProviderError> {
        let api = at.api("data");
        let answer = self.client.call(Method::Get, &api, None)?;
        let version = answer
            .body
            .pointer("/data/metadata/version")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        if answer.status == 200 && !answer.body.get("data").is_some_and(Value::is_object) {
            return Err(ProviderError::new(
                ErrorKind::Unavailable,
                format!(
                    "OpenBao answered 200 to reading {} without its data",
                    at.full()
                ),
            ));
        }
        match answer.status {
            200 | 404 => Ok(Secret {
                fields: match answer.body.pointer("/data/data") {
                    Some(Value::Object(fields)) if answer.status == 200 => fields.clone(),
                    _ => Map::new(),
                },
                version,
                lease_seconds: 0,
            }),
            _ => Err(answer.error(&format!("reading {}", at.full()), &api)),
        }
    }

    /// Changes the secret at `at` by `change`, keeping its other fields: on v2 a
    /// check-and-set write, read again and retried when another writer came between.
    /// `change` answers false when there is nothing to do (a field to delete is not there).
    pub fn update(
        &mut self,
        at: &Located,
        what: &str,
        mut change: impl FnMut(&mut Map<String, Value>) -> Result<(), ProviderError>,
    ) -> Result<(), ProviderError> {
        if at.rest.is_empty() {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!("{} is a mount; name a secret in it", at.full()),
            ));
        }
        if at.mount.version != 2 {
            // KV v1 has no check-and-set: read, change, write.
            let mut secret = self.read(at, None)?.unwrap_or(Secret {
                fields: Map::new(),
                version: 0,
                lease_seconds: 0,
            });
            change(&mut secret.fields)?;
            let api = at.api("");
            let answer = if secret.fields.is_empty() {
                self.client.call(Method::Delete, &api, None)?
            } else {
                let body = Wiped(Value::Object(secret.fields.clone()));
                self.client.call(Method::Put, &api, Some(&body.0))?
            };
            return if answer.ok() {
                Ok(())
            } else {
                Err(answer.error(what, &api))
            };
        }
        for attempt in 0..CAS_ATTEMPTS {
            let mut current = self.current(at)?;
            change(&mut current.fields)?;
            let answer = if current.fields.is_empty() {
                // The last field: that version is deleted (as `bao kv delete` does); a
                // newer one another writer made stays.
                let api = at.api("delete");
                let answer = self.client.call(
                    Method::Post,
                    &api,
                    Some(&json!({"versions": [current.version]})),
                )?;
                if answer.ok() {
                    return Ok(());
                }
                return Err(answer.error(what, &api));
            } else {
                let api = at.api("data");
                let body =
                    Wiped(json!({"options": {"cas": current.version}, "data": current.fields}));
                let answer = self.client.call(Method::Post, &api, Some(&body.0))?;
                if answer.ok() {
                    return Ok(());
                }
                if answer.status == 400 && answer.words().contains("check-and-set") {
                    // Another writer, or a read from a node behind: ask again, a moment later.
                    self.client.doubt_leader();
                    std::thread::sleep(std::time::Duration::from_millis(20 << attempt));
                    continue;
                }
                answer.error(what, &api)
            };
            return Err(answer);
        }
        Err(ProviderError::new(
            ErrorKind::Unavailable,
            format!(
                "{what}: other writers changed the secret {CAS_ATTEMPTS} times in a row; try again"
            ),
        ))
    }

    /// The names directly below `at` (a folder or a mount): secrets, and folders with a
    /// trailing `/`; none when there are none.
    pub fn children(&mut self, at: &Located) -> Result<Vec<String>, ProviderError> {
        let api = at.api("metadata");
        let answer = self.client.call(Method::List, &api, None)?;
        match answer.status {
            200 => Ok(answer
                .body
                .pointer("/data/keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()),
            404 => Ok(Vec::new()),
            _ => Err(answer.error(&format!("listing {}", at.full()), &api)),
        }
    }

    /// The KV mounts the token can see.
    pub fn mounts(&mut self) -> Result<Vec<String>, ProviderError> {
        let api = "sys/internal/ui/mounts";
        let answer = self.client.call(Method::Get, api, None)?;
        if !answer.ok() {
            return Err(answer.error("listing the mounts", api));
        }
        let mut mounts: Vec<String> = answer
            .body
            .pointer("/data/secret")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(_, m)| {
                matches!(
                    m.get("type").and_then(Value::as_str),
                    Some("kv" | "generic")
                )
            })
            .map(|(path, _)| path.clone())
            .collect();
        mounts.sort();
        Ok(mounts)
    }
}
