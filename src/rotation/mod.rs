//! Rotation: what a rotation will do (the plan, checked before anything changes) and the
//! new values (random strings from the OS CSPRNG, HS256 JWTs signed with another secret).
//! The command in `commands/rotate.rs` writes them through the store and restarts services.

mod jwt;
pub mod policy;
pub mod services;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use age::secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::store::document::Document;
use crate::store::strict::{Owner, SecretTarget};
use policy::{Kind, Policy};

/// Why a secret is in a rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Named with `--secrets`.
    Asked,
    /// `auto_rotate` in the policy.
    Auto,
    /// A JWT re-signed because the secret that signs it is rotated.
    SignedBy(String),
}

/// One secret a rotation generates.
#[derive(Debug, Clone)]
pub struct Planned {
    pub name: String,
    pub kind: Kind,
    pub reason: Reason,
}

/// A .env file a rotation rewrites, and the secrets it carries.
#[derive(Debug, Clone)]
pub struct PlannedFile {
    /// The file, checked; its path is the real one (links resolved: the target is
    /// written, the link kept).
    pub target: SecretTarget,
    pub names: Vec<String>,
}

/// Everything a rotation will do, decided before anything changes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// In the order they are generated: a signing secret before what it signs.
    pub secrets: Vec<Planned>,
    pub files: Vec<PlannedFile>,
    /// In restart order.
    pub services: Vec<String>,
    /// Things worth saying that do not stop the rotation (a static secret missing).
    pub warnings: Vec<String>,
}

impl Plan {
    pub fn names(&self) -> Vec<String> {
        self.secrets.iter().map(|s| s.name.clone()).collect()
    }

    pub fn targets(&self) -> Vec<SecretTarget> {
        self.files.iter().map(|f| f.target.clone()).collect()
    }
}

/// Plans a rotation of `asked` (or of every `auto_rotate` secret) against `document`.
/// Refuses an unknown or static secret, a JWT whose signing secret exists nowhere, and a
/// missing file — before anything is generated or written.
pub fn plan(policy: &Policy, asked: Option<&[String]>, document: &Document) -> Result<Plan> {
    let where_ = &policy.source;
    let wanted: Vec<String> = match asked {
        Some(names) => {
            for name in names {
                let secret = policy.secrets.get(name).ok_or_else(|| {
                    Error::NotFound(format!(
                        "{name} has no rotation policy; add a [secrets.{name}] table to {where_}"
                    ))
                })?;
                if secret.kind == Kind::Static {
                    return Err(Error::Usage(format!(
                        "{name} is static in {where_}: vault never generates it; change it with 'vault set {name}'"
                    )));
                }
            }
            names.to_vec()
        }
        None => policy
            .secrets
            .iter()
            .filter(|(_, s)| s.auto_rotates())
            .map(|(n, _)| n.clone())
            .collect(),
    };
    let asked_set: BTreeSet<&String> = asked.into_iter().flatten().collect();
    let mut secrets = Vec::new();
    for name in policy.signing_order(wanted.clone())? {
        let secret = &policy.secrets[&name];
        let reason = if asked_set.contains(&name) {
            Reason::Asked
        } else if asked.is_none() && wanted.contains(&name) {
            Reason::Auto
        } else {
            Reason::SignedBy(secret.depends_on.clone().unwrap_or_default())
        };
        if let Some(signer) = &secret.depends_on {
            let rotated_now = secrets.iter().any(|p: &Planned| &p.name == signer);
            if !rotated_now && !document.contains(signer) {
                return Err(Error::NotFound(format!(
                    "{name} is signed with {signer}, which is neither in the vault nor rotated now; set it first (vault set {signer} --generate) or rotate it too"
                )));
            }
        }
        secrets.push(Planned {
            name,
            kind: secret.kind,
            reason,
        });
    }
    let mut files: BTreeMap<PathBuf, PlannedFile> = BTreeMap::new();
    let mut services = BTreeSet::new();
    for planned in &secrets {
        let secret = &policy.secrets[&planned.name];
        let owner = secret.owner.as_deref().map(Owner::named).transpose()?;
        for file in &secret.files {
            let path = policy.path(file);
            if let Err(e) = std::fs::metadata(&path) {
                return Err(Error::NotFound(format!(
                    "the file {} (listed for {} in {where_}) cannot be used: {e}; create it or fix the path",
                    path.display(),
                    planned.name
                )));
            }
            let target = SecretTarget::check(&path, owner.as_ref())?;
            let entry = files
                .entry(target.path.clone())
                .or_insert_with(|| PlannedFile {
                    target: target.clone(),
                    names: Vec::new(),
                });
            if entry.target.owner != target.owner {
                return Err(Error::BadData(format!(
                    "{} is listed for secrets with different owners in {where_}; give them the same owner",
                    path.display()
                )));
            }
            entry.names.push(planned.name.clone());
        }
        services.extend(secret.restart.iter().cloned());
    }
    let warnings = policy
        .secrets
        .iter()
        .filter(|(name, s)| s.kind == Kind::Static && !document.contains(name))
        .map(|(name, _)| format!("the static secret {name} is not in the vault"))
        .collect();
    Ok(Plan {
        secrets,
        files: files.into_values().collect(),
        services: policy.restart_order(services.into_iter().collect())?,
        warnings,
    })
}

/// New values for every secret of `plan`, in its order: a JWT is signed with its signing
/// secret's new value when that is rotated too, else with the vault's current one.
pub fn generate(
    plan: &Plan,
    policy: &Policy,
    document: &Document,
) -> Result<BTreeMap<String, SecretString>> {
    let mut values: BTreeMap<String, SecretString> = BTreeMap::new();
    for planned in &plan.secrets {
        let secret = &policy.secrets[&planned.name];
        let value = match secret.kind {
            Kind::Random => {
                crate::value::generate_from(secret.length(), &secret.alphabet(&planned.name)?)?
            }
            Kind::Jwt => {
                let signer = secret.depends_on.as_deref().unwrap_or_default();
                let stored = document.get(signer)?.map(|e| e.value());
                let key = values.get(signer).or(stored).ok_or_else(|| {
                    Error::NotFound(format!("{signer}, which signs {}, is gone", planned.name))
                })?;
                sign_jwt(&planned.name, secret, key)?
            }
            Kind::Static => continue,
        };
        values.insert(planned.name.clone(), value);
    }
    Ok(values)
}

/// An HS256 JWT with the policy's claims and `iat` now; `iss` and `exp` only when the
/// policy sets them (`iss`, `exp_days` or `exp_seconds`).
fn sign_jwt(name: &str, secret: &policy::SecretPolicy, key: &SecretString) -> Result<SecretString> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let mut claims = serde_json::to_value(&secret.claims)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    if let Some(role) = &secret.role {
        claims.insert("role".into(), role.clone().into());
    }
    if let Some(iss) = &secret.iss {
        claims.insert("iss".into(), iss.clone().into());
    }
    claims.insert("iat".into(), now.into());
    let lifetime = match (secret.exp_days, secret.exp_seconds) {
        (Some(days), _) => Some((days.checked_mul(86_400), "exp_days")),
        (None, Some(seconds)) => Some((Some(seconds), "exp_seconds")),
        (None, None) => None,
    };
    if let Some((seconds, setting)) = lifetime {
        let exp = seconds
            .and_then(|s| s.checked_add(now))
            .filter(|&exp| exp <= i64::MAX as u64)
            .ok_or_else(|| {
                Error::BadData(format!("{setting} of {name} is too large to be a time"))
            })?;
        claims.insert("exp".into(), exp.into());
    }
    Ok(jwt::sign_hs256(&claims, key.expose_secret().as_bytes()))
}
