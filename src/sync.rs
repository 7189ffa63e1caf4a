//! Sync: read an allow-list of variables from sources of truth and work out what a target
//! needs, leaving every other variable of the target alone. `commands/sync.rs` writes.
//!
//! Endpoints are `vault`, `dotenv:PATH` or `PROVIDER:PREFIX`. A provider's keys map to
//! variable names by their last path segment, so `infisical:/glitchtip/database` brings
//! `/glitchtip/database/POSTGRES_PASSWORD` as `POSTGRES_PASSWORD`.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::PathBuf;

use age::secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};
use crate::names::{validate_name, validate_value};
use crate::providers::is_provider_name;
use crate::resolve::Resolver;

/// Where values come from, or go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Vault,
    Dotenv(PathBuf),
    /// An env file in docker's dialect (`docker run --env-file`): no quotes, no escapes.
    Docker(PathBuf),
    Provider {
        provider: String,
        prefix: String,
    },
}

impl Endpoint {
    pub fn parse(text: &str) -> Result<Endpoint> {
        if text == "vault" {
            return Ok(Endpoint::Vault);
        }
        for (scheme, make) in [
            ("dotenv", Endpoint::Dotenv as fn(PathBuf) -> Endpoint),
            ("docker", Endpoint::Docker),
        ] {
            let Some(path) = text
                .strip_prefix(scheme)
                .and_then(|rest| rest.strip_prefix(':'))
            else {
                continue;
            };
            if path.is_empty() {
                return Err(Error::Usage(format!(
                    "{scheme}: needs a path: {scheme}:/opt/app/.env"
                )));
            }
            return Ok(make(crate::paths::expand_home_text(path)));
        }
        if let Some((provider, prefix)) = text.split_once(':')
            && is_provider_name(provider)
        {
            return Ok(Endpoint::Provider {
                provider: provider.to_string(),
                prefix: prefix.to_string(),
            });
        }
        Err(Error::Usage(format!(
            "{text:?} is not a source or target; write vault, dotenv:PATH, docker:PATH or PROVIDER:PREFIX (shared-file:, infisical:/app/db)"
        )))
    }

    /// The provider key a variable is written to: the prefix, then the name.
    pub fn key_for(prefix: &str, name: &str) -> String {
        format!("{prefix}{name}")
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Vault => f.write_str("vault"),
            Endpoint::Dotenv(path) => write!(f, "dotenv:{}", path.display()),
            Endpoint::Docker(path) => write!(f, "docker:{}", path.display()),
            Endpoint::Provider { provider, prefix } => write!(f, "{provider}:{prefix}"),
        }
    }
}

/// `*` any run of characters, `?` one character; anything else itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

/// Which variables a sync takes: all, or those an `--only` pattern matches.
pub struct AllowList<'a> {
    patterns: &'a [String],
    /// The patterns without a wildcard, looked up rather than matched one by one, so a
    /// long list of names costs no more per variable than a short one.
    exact: HashSet<&'a str>,
    wildcards: Vec<&'a str>,
}

impl<'a> AllowList<'a> {
    pub fn new(patterns: &'a [String]) -> Result<Self> {
        for pattern in patterns {
            let plain: String = pattern
                .chars()
                .filter(|c| !matches!(c, '*' | '?'))
                .collect();
            if !plain.is_empty() && !plain.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(Error::Usage(format!(
                    "--only {pattern:?}: a name or a pattern of letters, digits, '_', '*' and '?'"
                )));
            }
        }
        let (wildcards, exact): (Vec<&str>, Vec<&str>) = patterns
            .iter()
            .map(String::as_str)
            .partition(|p| p.contains(['*', '?']));
        Ok(AllowList {
            patterns,
            exact: exact.into_iter().collect(),
            wildcards,
        })
    }

    pub fn allows(&self, name: &str) -> bool {
        self.patterns.is_empty()
            || self.exact.contains(name)
            || self.wildcards.iter().any(|p| glob_match(p, name))
    }

    /// Names given without a wildcard: each must come from some source.
    pub fn exact_names(&self) -> impl Iterator<Item = &str> {
        self.patterns
            .iter()
            .filter(|p| !p.contains(['*', '?']))
            .map(String::as_str)
    }
}

/// A value and the source it came from.
pub struct Sourced {
    pub value: SecretString,
    pub source: String,
}

/// The values the sources give, after the allow-list.
#[derive(Default)]
pub struct Gathered {
    pub values: BTreeMap<String, Sourced>,
    /// (name, the source that lost, the source that won): a later `--from` wins.
    pub overridden: Vec<(String, String, String)>,
    /// Names the allow-list names exactly that no source has.
    pub missing: Vec<String>,
    /// Keys that map to no variable name, skipped.
    pub skipped: Vec<String>,
}

/// Reads every source in order; a later source wins a name clash.
pub fn gather(
    resolver: &mut Resolver<'_>,
    sources: &[Endpoint],
    allow: &AllowList<'_>,
) -> Result<Gathered> {
    let mut gathered = Gathered::default();
    for source in sources {
        let label = source.to_string();
        let values = read_endpoint(resolver, source, allow, &mut gathered.skipped)?;
        for (name, value) in values {
            let sourced = Sourced {
                value,
                source: label.clone(),
            };
            if let Some(previous) = gathered.values.insert(name.clone(), sourced) {
                gathered
                    .overridden
                    .push((name, previous.source, label.clone()));
            }
        }
    }
    gathered.missing = allow
        .exact_names()
        .filter(|n| !gathered.values.contains_key(*n))
        .map(str::to_string)
        .collect();
    Ok(gathered)
}

/// The variable a provider key stands for: its last path segment.
fn variable_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// The allowed variables of one endpoint. Two keys of one source that map to the same
/// variable (two folders) are an error: which one is meant cannot be guessed. A value
/// taken that the vault would not store (a NUL byte, which no environment can carry, or
/// over the size limit) is an error naming where it is — never the value — as `import`
/// refuses it; values of variables not taken are not looked at.
pub fn read_endpoint(
    resolver: &mut Resolver<'_>,
    endpoint: &Endpoint,
    allow: &AllowList<'_>,
    skipped: &mut Vec<String>,
) -> Result<BTreeMap<String, SecretString>> {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    let mut check = |place: &str, name: &str, value: &SecretString| {
        if let Err(e) = validate_value(name, value.expose_secret()) {
            problems.push(format!("{place}: {e}"));
        }
    };
    match endpoint {
        Endpoint::Vault => {
            for entry in resolver.document()?.entries() {
                let (name, entry) = entry?;
                if allow.allows(name) {
                    out.insert(
                        name.to_string(),
                        SecretString::from(entry.value().expose_secret().to_string()),
                    );
                }
            }
        }
        Endpoint::Dotenv(path) => {
            for assignment in read_dotenv(path, false)? {
                if allow.allows(&assignment.name) {
                    check(
                        &format!("{}:{}", path.display(), assignment.line),
                        &assignment.name,
                        &assignment.value,
                    );
                    out.insert(assignment.name, assignment.value);
                }
            }
        }
        Endpoint::Docker(path) => {
            let text = read_text(path, false)?;
            for line in crate::formats::docker::parse_file(&text, &path.display().to_string())? {
                // A bare NAME takes docker's own environment: it has no value to copy.
                let Some(value) = line.value else { continue };
                let place = format!("{}:{}", path.display(), line.line);
                if validate_name(&line.name).is_err() {
                    // Named by its line: what stands before its `=` may be a pasted URL
                    // with a password in it.
                    skipped.push(place);
                } else if allow.allows(&line.name) {
                    let value = SecretString::from(value);
                    check(&place, &line.name, &value);
                    out.insert(line.name, value);
                }
            }
        }
        Endpoint::Provider { provider, prefix } => {
            let listed = resolver.list_keys(provider, prefix)?;
            let mut keys: BTreeMap<String, String> = BTreeMap::new();
            for key in listed {
                let name = variable_of(&key);
                if validate_name(name).is_err() {
                    skipped.push(format!("{provider}:{key}"));
                    continue;
                }
                if !allow.allows(name) {
                    continue;
                }
                if let Some(other) = keys.insert(name.to_string(), key.clone()) {
                    return Err(Error::BadData(format!(
                        "{provider}:{other} and {provider}:{key} are both {name}; sync them from two --from sources (the later wins) or narrow the prefix"
                    )));
                }
            }
            if keys.is_empty() {
                return Ok(out);
            }
            let wanted: Vec<String> = keys.values().cloned().collect();
            let mut answer = resolver.fetch(provider, &wanted)?;
            for (name, key) in keys {
                match answer.values.remove(&key) {
                    Some(value) => {
                        let value = value.into_secret();
                        check(&format!("{provider}:{key}"), &name, &value);
                        out.insert(name, value);
                    }
                    None => match answer.errors.get(&key) {
                        Some(e) if e.kind != secretsd_protocol::ErrorKind::NotFound => {
                            return Err(Error::Provider(format!(
                                "provider {provider} could not read {key} ({})",
                                e.kind
                            )));
                        }
                        // Listed, then gone: as if it had not been listed.
                        _ => {}
                    },
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(Error::BadData(format!(
            "{endpoint} has values vault cannot take; nothing was written:\n  {}",
            problems.join("\n  ")
        )));
    }
    Ok(out)
}

/// A .env file's assignments (the last of a name wins when read into a map). A missing
/// file is empty when `missing_ok`.
pub fn read_dotenv(
    path: &std::path::Path,
    missing_ok: bool,
) -> Result<Vec<crate::formats::dotenv::Assignment>> {
    let text = read_text(path, missing_ok)?;
    Ok(crate::formats::dotenv::parse_file(
        &text,
        &path.display().to_string(),
    )?)
}

/// A text file, in a buffer zeroed on drop. A missing file is empty when `missing_ok`.
fn read_text(path: &std::path::Path, missing_ok: bool) -> Result<zeroize::Zeroizing<String>> {
    Ok(match std::fs::read(path) {
        Ok(bytes) => zeroize::Zeroizing::new(
            String::from_utf8(bytes)
                .map_err(|_| Error::BadData(format!("{} is not UTF-8 text", path.display())))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => {
            zeroize::Zeroizing::new(String::new())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(format!(
                "{} does not exist",
                path.display()
            )));
        }
        Err(e) => return Err(Error::io("read", path, e)),
    })
}

/// What a sync does to one variable of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Add,
    Change,
    Unchanged,
    /// In the sources, but `--preserve` keeps the target's own.
    Preserved,
}

/// The plan for a target whose current values are `current`.
pub fn plan(
    gathered: &Gathered,
    current: &BTreeMap<String, SecretString>,
    preserve: &[String],
) -> Vec<(String, Action)> {
    gathered
        .values
        .iter()
        .map(|(name, sourced)| {
            let action = if preserve.iter().any(|p| glob_match(p, name)) {
                Action::Preserved
            } else {
                match current.get(name) {
                    None => Action::Add,
                    Some(now) if now.expose_secret() == sourced.value.expose_secret() => {
                        Action::Unchanged
                    }
                    Some(_) => Action::Change,
                }
            };
            (name.clone(), action)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_match("NINJA_*", "NINJA_CLIENT_ID"));
        assert!(glob_match("NINJA_*", "NINJA_"));
        assert!(!glob_match("NINJA_*", "XNINJA_ID"));
        assert!(glob_match("A?C", "ABC"));
        assert!(!glob_match("A?C", "AC"));
        assert!(glob_match("*_KEY", "API_KEY"));
    }

    #[test]
    fn endpoints_parse() {
        assert_eq!(Endpoint::parse("vault").unwrap(), Endpoint::Vault);
        assert_eq!(
            Endpoint::parse("infisical:/glitchtip/database").unwrap(),
            Endpoint::Provider {
                provider: "infisical".into(),
                prefix: "/glitchtip/database".into()
            }
        );
        assert!(Endpoint::parse("nonsense").is_err());
        assert_eq!(
            Endpoint::parse("docker:app.env").unwrap(),
            Endpoint::Docker("app.env".into())
        );
        assert!(Endpoint::parse("docker:").is_err());
        assert_eq!(
            variable_of("/glitchtip/database/POSTGRES_PASSWORD"),
            "POSTGRES_PASSWORD"
        );
    }
}
