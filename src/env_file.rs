//! `vault run --env-file FILE`: a .env file whose values may be references, read as
//! `op run --env-file` reads one.
//!
//! ```sh
//! DB_PASSWORD=secret:DB_PASSWORD
//! STRIPE_KEY=infisical:/app/stripe/KEY
//! REDIS=redis:6379          # a literal: no provider named redis
//! ```
//!
//! The file is read as every .env is (`formats::dotenv`: quotes, `#` comments, `export `).
//! A value is a reference only when it starts with `secret:`, `env:`, `file:`, `literal:`
//! or the name of a provider that is installed or configured, followed by `:`; anything
//! else — `localhost:8080`, `redis:6379`, a URL — is the literal it reads as. This differs
//! from a manifest, where `word:rest` is always a provider reference: a .env is full of
//! `host:port` values written long before vault read it. A mistyped case of a scheme
//! (`Secret:X`) is refused, as in a manifest.
//!
//! An env file is refused unless nobody but the user and root could have written or
//! replaced it (`strict`): it chooses what the command gets, as a manifest does.

use std::path::Path;

use age::secrecy::ExposeSecret;

use crate::error::{Error, Result};
use crate::providers::is_provider_name;
use crate::resolve::{Binding, Reference};

/// The schemes every env file may use, whatever is installed.
const SCHEMES: [&str; 4] = ["secret", "env", "file", "literal"];

/// What `value` is in an env file: a reference when its scheme is one of [`SCHEMES`] or a
/// provider `is_provider` knows, else the literal it reads as.
pub fn classify(value: &str, mut is_provider: impl FnMut(&str) -> bool) -> Reference {
    let Some((scheme, _)) = value.split_once(':') else {
        return Reference::Literal(value.to_string());
    };
    if SCHEMES.contains(&scheme) || (is_provider_name(scheme) && is_provider(scheme)) {
        Reference::parse(value)
    } else {
        Reference::Literal(value.to_string())
    }
}

/// The variables of the env file at `path`, in file order (a name given twice: the last
/// wins). `configured` names the providers the configuration has a table for; the others
/// count when installed.
pub fn load(path: &Path, configured: &[&str]) -> Result<Vec<Binding>> {
    let what = format!("the env file {}", path.display());
    // Read by the path it was checked by (see `strict::real_checked`): a file missing
    // when checked is not read later, when it could be another user's.
    let real = crate::store::strict::real_checked(path, "env file")?
        .ok_or_else(|| Error::NotFound(format!("cannot read {what}: no such file")))?;
    let text = crate::regular_file::read_text(&real, path, "env file")?;
    let mut known: Vec<(String, bool)> = Vec::new();
    let mut is_provider = |name: &str| {
        if let Some((_, installed)) = known.iter().find(|(n, _)| n == name) {
            return *installed;
        }
        let installed = configured.contains(&name) || crate::providers::find(name).is_ok();
        known.push((name.to_string(), installed));
        installed
    };
    let mut bindings: Vec<Binding> = Vec::new();
    for assignment in crate::formats::dotenv::parse_file(&text, &what)? {
        let value = assignment.value.expose_secret();
        Reference::check_near_miss(value, &assignment.name)
            .map_err(|e| Error::BadData(format!("{what}, line {}: {e}", assignment.line)))?;
        let reference = classify(value, &mut is_provider);
        overlay(
            &mut bindings,
            vec![Binding::new(assignment.name, reference)],
        );
    }
    Ok(bindings)
}

/// `later` over `bindings`: a variable both set is replaced where it stands (whatever the
/// earlier one was, a file of the manifest's `[files]` included), the others added at the
/// end.
pub fn overlay(bindings: &mut Vec<Binding>, later: Vec<Binding>) {
    for binding in later {
        match bindings.iter_mut().find(|b| b.variable == binding.variable) {
            Some(earlier) => *earlier = binding,
            None => bindings.push(binding),
        }
    }
}

/// How `vault check` and `vault run -v` say where a variable's value comes from: "literal",
/// or "reference" and the reference as errors show it — never a value.
pub fn describe(reference: &Reference) -> String {
    match reference {
        Reference::Literal(_) => "literal".to_string(),
        other => format!("reference {}", other.for_error()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_schemes_and_providers_make_references() {
        let installed = |name: &str| name == "infisical";
        for (text, expected) in [
            ("secret:A", Reference::Secret("A".into())),
            ("env:HOME", Reference::Env("HOME".into())),
            ("file:/etc/key", Reference::File("/etc/key".into())),
            ("literal:secret:A", Reference::Literal("secret:A".into())),
            (
                "infisical:/app/B",
                Reference::Provider {
                    provider: "infisical".into(),
                    key: "/app/B".into(),
                },
            ),
            (
                "localhost:8080",
                Reference::Literal("localhost:8080".into()),
            ),
            ("redis:6379", Reference::Literal("redis:6379".into())),
            ("gopass:app/db", Reference::Literal("gopass:app/db".into())),
            (
                "infisical://host",
                Reference::Literal("infisical://host".into()),
            ),
            (
                "https://x.test/a",
                Reference::Literal("https://x.test/a".into()),
            ),
            ("plain", Reference::Literal("plain".into())),
            ("", Reference::Literal("".into())),
        ] {
            assert_eq!(classify(text, installed), expected, "{text}");
        }
    }

    #[test]
    fn a_later_variable_replaces_an_earlier_one_in_place() {
        let mut bindings = vec![
            Binding::new("A", Reference::Secret("A".into())),
            Binding::new("B", Reference::Literal("1".into())),
        ];
        overlay(
            &mut bindings,
            vec![
                Binding::new("B", Reference::Env("B".into())),
                Binding::new("C", Reference::Literal("3".into())),
            ],
        );
        let seen: Vec<(String, String)> = bindings
            .iter()
            .map(|b| (b.variable.clone(), describe(&b.reference)))
            .collect();
        assert_eq!(
            seen,
            [
                ("A".to_string(), "reference secret:A".to_string()),
                ("B".to_string(), "reference env:B".to_string()),
                ("C".to_string(), "literal".to_string()),
            ]
        );
    }
}
