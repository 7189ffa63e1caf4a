//! The rotation policy: which secrets are generated and how, which .env files also carry
//! them, and which services restart after them (`--policy FILE` or `[rotate]` in the
//! configuration file).
//!
//! It is the field notes' `secrets-config.yaml` in TOML (YAML itself is refused, naming
//! the mapping): `type` (`random`,
//! `jwt` — also spelled `jwt-token` — or `static`), `length`, `role`, `depends_on`, `files`,
//! `auto_rotate`, `description`, `restart` (also spelled `restart_services`), `owner` (the
//! user its files belong to); and a `[services.NAME]` table per service with `restart`,
//! `health`, `timeout` and `after`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::names::validate_name;

/// How a secret gets its next value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A random string from the OS CSPRNG.
    Random,
    /// An HS256 JWT signed with the secret named in `depends_on`.
    #[serde(alias = "jwt-token")]
    Jwt,
    /// Never generated; rotation only checks it is present.
    Static,
}

impl Kind {
    pub fn word(self) -> &'static str {
        match self {
            Kind::Random => "random",
            Kind::Jwt => "jwt",
            Kind::Static => "static",
        }
    }
}

/// `[secrets.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretPolicy {
    #[serde(rename = "type")]
    pub kind: Kind,
    /// random: characters (default 32).
    pub length: Option<usize>,
    /// random: `alnum` (default), `hex` or `base64url`.
    pub charset: Option<String>,
    /// random: an explicit alphabet instead of `charset`.
    pub alphabet: Option<String>,
    /// jwt: the secret whose value signs the token.
    pub depends_on: Option<String>,
    /// jwt: the `role` claim.
    pub role: Option<String>,
    /// jwt: the `iss` claim.
    pub iss: Option<String>,
    /// jwt: `exp` is this many days after `iat`. With neither this nor `exp_seconds`
    /// the token has no `exp` claim and never expires (as Supabase's own keys).
    pub exp_days: Option<u64>,
    /// jwt: `exp` is this many seconds after `iat` (instead of `exp_days`).
    pub exp_seconds: Option<u64>,
    /// jwt: more claims, as a table.
    #[serde(default)]
    pub claims: toml::Table,
    /// Rotated by a plain `vault rotate` (default: true, except for static secrets).
    pub auto_rotate: Option<bool>,
    /// .env files that carry the secret too, rewritten in place.
    #[serde(default)]
    pub files: Vec<String>,
    /// The user those files belong to on purpose (a service's env file that root
    /// rewrites): without it, a file another user owns is refused.
    pub owner: Option<String>,
    /// Services restarted after the secret changes.
    #[serde(default, alias = "restart_services")]
    pub restart: Vec<String>,
    pub description: Option<String>,
}

impl SecretPolicy {
    pub fn auto_rotates(&self) -> bool {
        self.kind != Kind::Static && self.auto_rotate.unwrap_or(true)
    }

    pub fn length(&self) -> usize {
        self.length.unwrap_or(32)
    }

    /// The characters a random value is drawn from.
    pub fn alphabet(&self, name: &str) -> Result<Vec<char>> {
        let alphabet: Vec<char> = match (&self.alphabet, self.charset.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    name,
                    "give either charset or alphabet, not both".into(),
                ));
            }
            (Some(explicit), None) => {
                let mut chars: Vec<char> = explicit.chars().collect();
                chars.sort_unstable();
                chars.dedup();
                chars
            }
            (None, charset) => crate::value::named_alphabet(charset.unwrap_or("alnum"))
                .ok_or_else(|| {
                    invalid(
                        name,
                        format!(
                            "unknown charset {:?}; use alnum, hex, base64url, or alphabet = \"...\"",
                            charset.unwrap_or_default()
                        ),
                    )
                })?
                .chars()
                .collect(),
        };
        if alphabet.len() < 2 || alphabet.iter().any(|c| c.is_control()) {
            return Err(invalid(
                name,
                "the alphabet needs at least two different printable characters".into(),
            ));
        }
        Ok(alphabet)
    }
}

/// `[services.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// A shell command (`sh -c`) that restarts the service.
    pub restart: String,
    /// A shell command that exits 0 when the service is healthy.
    pub health: Option<String>,
    /// How long the restart, and then the health checks, may take: seconds or "90s".
    #[serde(default)]
    pub timeout: Option<Timeout>,
    /// Services restarted before this one.
    #[serde(default)]
    pub after: Vec<String>,
}

/// Seconds, or a duration such as "2m".
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Timeout {
    Seconds(u64),
    Text(String),
}

impl Service {
    pub fn timeout(&self) -> Duration {
        match &self.timeout {
            Some(Timeout::Seconds(s)) => Duration::from_secs(*s),
            Some(Timeout::Text(text)) => humantime::parse_duration(text).unwrap_or(DEFAULT_TIMEOUT),
            None => DEFAULT_TIMEOUT,
        }
    }
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a policy that is not TOML was written in YAML (the field notes' format): by
/// its name, or a top-level `secrets:` or `services:` line. YAML is not read (see
/// docs/DESIGN.md: its implicit types turn `no`, `0755` or `1e3` into other values, and
/// no YAML parser is in the tree), but it is named so the fix is plain.
fn looks_like_yaml(path: &Path, text: &str) -> bool {
    let by_name = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    by_name
        || text
            .lines()
            .any(|l| matches!(l.trim_end(), "secrets:" | "services:" | "---"))
}

/// The whole policy, with the directory its relative paths and commands start from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretPolicy>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    /// Where the policy was declared: relative `files` and the service commands start
    /// here.
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// The file it came from, for messages.
    #[serde(skip)]
    pub source: String,
}

fn invalid(name: &str, why: String) -> Error {
    Error::BadData(format!("the rotation policy for {name} is invalid: {why}"))
}

impl Policy {
    /// Reads a policy file (`--policy FILE`): `[secrets.NAME]` and `[services.NAME]` at its
    /// top level.
    pub fn from_file(path: &Path) -> Result<Policy> {
        // Its service commands run as this user, and it names the files secrets go to:
        // checked first, and read by the path checked.
        let real = crate::store::strict::real_checked(path, "policy file")?
            .ok_or_else(|| Error::NotFound(format!("no policy file at {}", path.display())))?;
        let text = crate::regular_file::read_text(&real, path, "policy file")?;
        let value: toml::Table = toml::from_str(&text).map_err(|e| {
            if looks_like_yaml(path, &text) {
                return Error::BadData(format!(
                    "the policy file {} is YAML; vault reads rotation policies in TOML only. Each YAML mapping under secrets: or services: becomes a table: 'secrets:' / '  ANON_KEY:' / '    type: jwt-token' is '[secrets.ANON_KEY]' / 'type = \"jwt-token\"'; quote every string and write lists as [\"a\", \"b\"] (the README's rotation how-to shows a whole policy)",
                    path.display()
                ));
            }
            Error::BadData(format!(
                "the policy file {} is not valid TOML: {}",
                path.display(),
                e.message()
            ))
        })?;
        Self::from_table(value, path)
    }

    /// A policy from a parsed table (the policy file, or `[rotate]` of the config file);
    /// `declared_in` is the file, whose directory relative paths start from.
    pub fn from_table(table: toml::Table, declared_in: &Path) -> Result<Policy> {
        let source = declared_in.display().to_string();
        let mut policy: Policy = toml::Table::try_into(table).map_err(|e: toml::de::Error| {
            Error::BadData(format!(
                "the rotation policy in {source} is invalid: {}",
                e.message()
            ))
        })?;
        policy.base_dir = std::path::absolute(crate::store::fs::parent_dir(declared_in))
            .unwrap_or_else(|_| crate::store::fs::parent_dir(declared_in));
        policy.source = source;
        policy.validate()?;
        Ok(policy)
    }

    /// A relative path of the policy, from its base directory (`~/` is the home directory).
    pub fn path(&self, file: &str) -> PathBuf {
        self.base_dir.join(crate::paths::expand_home_text(file))
    }

    /// Checks what can be checked without the vault: names, types and their fields,
    /// references between secrets and services, and cycles.
    fn validate(&self) -> Result<()> {
        for (name, secret) in &self.secrets {
            validate_name(name)?;
            match secret.kind {
                Kind::Random => {
                    if secret.depends_on.is_some() {
                        return Err(invalid(
                            name,
                            "a random secret depends on nothing; remove depends_on".into(),
                        ));
                    }
                    let length = secret.length();
                    if !(1..=4096).contains(&length) {
                        return Err(invalid(name, "length must be 1 to 4096".into()));
                    }
                    let size = secret.alphabet(name)?.len();
                    if !reaches_64_bits(length, size) {
                        let bits = approximate_bits(length, size);
                        return Err(invalid(
                            name,
                            format!(
                                "{length} characters from this alphabet give {bits:.0} bits; a rotated secret needs at least 64, so raise length"
                            ),
                        ));
                    }
                }
                Kind::Jwt => match &secret.depends_on {
                    None => {
                        return Err(invalid(
                            name,
                            "a jwt needs depends_on = \"SECRET\", the secret that signs it".into(),
                        ));
                    }
                    Some(signer) => {
                        validate_name(signer)?;
                        if secret.exp_days.is_some() && secret.exp_seconds.is_some() {
                            return Err(invalid(
                                name,
                                "give either exp_days or exp_seconds, not both".into(),
                            ));
                        }
                    }
                },
                Kind::Static => {
                    if secret.depends_on.is_some() || secret.auto_rotate == Some(true) {
                        return Err(invalid(
                            name,
                            "a static secret is never generated: it cannot depend on another or auto_rotate".into(),
                        ));
                    }
                }
            }
            for service in &secret.restart {
                if !self.services.contains_key(service) {
                    return Err(invalid(
                        name,
                        format!("it restarts {service}, which has no [services.{service}] table"),
                    ));
                }
            }
        }
        for (name, service) in &self.services {
            for before in &service.after {
                if !self.services.contains_key(before) {
                    return Err(Error::BadData(format!(
                        "the service {name} comes after {before}, which has no [services.{before}] table"
                    )));
                }
            }
            if let Some(Timeout::Text(text)) = &service.timeout {
                humantime::parse_duration(text).map_err(|_| {
                    Error::BadData(format!(
                        "the timeout of service {name} is {text:?}; write seconds (60) or a duration (\"90s\", \"2m\")"
                    ))
                })?;
            }
        }
        self.signing_order(self.secrets.keys().cloned().collect())?;
        self.restart_order(self.services.keys().cloned().collect())?;
        Ok(())
    }

    /// `names` with every secret signed by one of them added, dependencies first.
    pub fn signing_order(&self, names: Vec<String>) -> Result<Vec<String>> {
        let edges = |name: &String| -> Vec<String> {
            self.secrets
                .get(name)
                .and_then(|s| s.depends_on.clone())
                .into_iter()
                .filter(|d| self.secrets.contains_key(d))
                .collect()
        };
        topological(&self.secrets.keys().cloned().collect::<Vec<_>>(), edges)
            .map_err(|cycle| {
                Error::BadData(format!(
                    "the rotation policy in {} has a dependency cycle: {}",
                    self.source,
                    cycle.join(" -> ")
                ))
            })
            .map(|order| {
                let mut wanted: std::collections::BTreeSet<String> = names.into_iter().collect();
                // A secret that depends on a rotated one must be re-signed too.
                for name in &order {
                    if let Some(signer) = self.secrets.get(name).and_then(|s| s.depends_on.as_ref())
                        && wanted.contains(signer)
                    {
                        wanted.insert(name.clone());
                    }
                }
                order.into_iter().filter(|n| wanted.contains(n)).collect()
            })
    }

    /// `services` in the order they restart: each after those it names in `after`.
    pub fn restart_order(&self, services: Vec<String>) -> Result<Vec<String>> {
        let edges = |name: &String| -> Vec<String> {
            self.services
                .get(name)
                .map(|s| s.after.clone())
                .unwrap_or_default()
        };
        let order = topological(&self.services.keys().cloned().collect::<Vec<_>>(), edges)
            .map_err(|cycle| {
                Error::BadData(format!(
                    "the services in {} restart after each other in a cycle: {}",
                    self.source,
                    cycle.join(" -> ")
                ))
            })?;
        Ok(order.into_iter().filter(|s| services.contains(s)).collect())
    }
}

/// Orders `nodes` so each comes after what `edges` says it needs (ties by name); `Err`
/// is a cycle, as a path.
fn topological(
    nodes: &[String],
    edges: impl Fn(&String) -> Vec<String>,
) -> std::result::Result<Vec<String>, Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    fn visit(
        node: &String,
        edges: &dyn Fn(&String) -> Vec<String>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> std::result::Result<(), Vec<String>> {
        match marks.get(node).copied().unwrap_or(Mark::New) {
            Mark::Done => return Ok(()),
            Mark::Visiting => {
                let start = path.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node.clone());
                return Err(cycle);
            }
            Mark::New => {}
        }
        marks.insert(node.clone(), Mark::Visiting);
        path.push(node.clone());
        let mut needs = edges(node);
        needs.sort();
        for need in &needs {
            visit(need, edges, marks, path, out)?;
        }
        path.pop();
        marks.insert(node.clone(), Mark::Done);
        out.push(node.clone());
        Ok(())
    }
    let mut marks = BTreeMap::new();
    let mut out = Vec::with_capacity(nodes.len());
    let mut sorted = nodes.to_vec();
    sorted.sort();
    for node in &sorted {
        visit(node, &edges, &mut marks, &mut Vec::new(), &mut out)?;
    }
    Ok(out)
}

/// Whether `length` characters drawn from `size` give at least 64 bits: `size^length >=
/// 2^64`, in integers. (`f64::log2` was the one call that linked libm into vault, loaded at
/// every start for this check.)
fn reaches_64_bits(length: usize, size: usize) -> bool {
    let mut combinations: u128 = 1;
    for _ in 0..length {
        combinations = combinations.saturating_mul(size as u128);
        if combinations >= 1 << 64 {
            return true;
        }
    }
    false
}

/// About how many bits `length` characters drawn from `size` give, for the message that
/// says why a length is too short: log2(size) as ilog2(size^p) / p, with the largest p that
/// fits in 128 bits (within 1/p bit of it).
fn approximate_bits(length: usize, size: usize) -> f64 {
    if size < 2 {
        return 0.0;
    }
    let (mut power, mut exponent) = (size as u128, 1u32);
    while let Some(next) = power.checked_mul(size as u128) {
        power = next;
        exponent += 1;
    }
    length as f64 * f64::from(power.ilog2()) / f64::from(exponent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixty_four_bits_are_counted_exactly() {
        // 62^10 < 2^64 < 62^11; 2^64 itself counts; a one-letter alphabet gives nothing.
        assert!(!reaches_64_bits(10, 62));
        assert!(reaches_64_bits(11, 62));
        assert!(!reaches_64_bits(63, 2));
        assert!(reaches_64_bits(64, 2));
        assert!(reaches_64_bits(16, 16));
        assert!(!reaches_64_bits(4096, 1));
        assert!(!reaches_64_bits(4096, 0));
        assert!(!reaches_64_bits(1, usize::MAX));
        assert!(reaches_64_bits(2, 1 << 32));
        assert_eq!(approximate_bits(10, 62).round(), 60.0);
        assert_eq!(approximate_bits(32, 2), 32.0);
        assert_eq!(approximate_bits(4, 1), 0.0);
        assert!(approximate_bits(2, 1 << 40) >= 80.0);
    }

    fn policy(text: &str) -> Result<Policy> {
        Policy::from_table(
            toml::from_str(text).unwrap(),
            Path::new("/etc/app/policy.toml"),
        )
    }

    #[test]
    fn the_field_notes_spelling_is_accepted() {
        let p = policy(
            r#"
            [secrets.JWT_SECRET]
            type = "random"
            length = 40
            restart_services = ["auth"]
            [secrets.ANON_KEY]
            type = "jwt-token"
            role = "anon"
            depends_on = "JWT_SECRET"
            [services.auth]
            restart = "true"
            "#,
        )
        .unwrap();
        assert_eq!(p.secrets["ANON_KEY"].kind, Kind::Jwt);
        assert_eq!(p.secrets["JWT_SECRET"].restart, ["auth"]);
        assert_eq!(p.path(".env"), PathBuf::from("/etc/app/.env"));
    }

    #[test]
    fn dependents_follow_what_they_depend_on() {
        let p = policy(
            r#"
            [secrets.B]
            type = "jwt"
            depends_on = "A"
            [secrets.A]
            type = "random"
            [secrets.C]
            type = "jwt"
            depends_on = "B"
            "#,
        )
        .unwrap();
        assert_eq!(p.signing_order(vec!["A".into()]).unwrap(), ["A", "B", "C"]);
        assert_eq!(p.signing_order(vec!["B".into()]).unwrap(), ["B", "C"]);
    }

    #[test]
    fn cycles_and_dangling_names_are_refused() {
        let err = policy(
            "[secrets.A]\ntype='jwt'\ndepends_on='B'\n[secrets.B]\ntype='jwt'\ndepends_on='A'\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("cycle: A -> B -> A"), "{err}");
        let err = policy("[secrets.A]\ntype='random'\nrestart=['db']\n").unwrap_err();
        assert!(err.to_string().contains("[services.db]"), "{err}");
        let err = policy(
            "[services.a]\nrestart='x'\nafter=['b']\n[services.b]\nrestart='x'\nafter=['a']\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("cycle"), "{err}");
    }

    #[test]
    fn weak_random_secrets_are_refused() {
        let err = policy("[secrets.PIN]\ntype='random'\nlength=6\ncharset='hex'\n").unwrap_err();
        assert!(err.to_string().contains("24 bits"), "{err}");
    }

    #[test]
    fn services_restart_after_what_they_name() {
        let p = policy(
            "[services.web]\nrestart='x'\nafter=['api']\n[services.api]\nrestart='x'\nafter=['db']\n[services.db]\nrestart='x'\n",
        )
        .unwrap();
        assert_eq!(
            p.restart_order(vec!["web".into(), "db".into()]).unwrap(),
            ["db", "web"]
        );
    }
}
