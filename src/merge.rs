//! A three-way merge of vault documents, secret by secret, for git's merge driver.
//!
//! A secret changed on one side only takes that side; changed on both sides to the same
//! value takes it once; changed on both sides to different values (or changed on one
//! and removed on the other) is a conflict, settled by a [`Resolution`]. Who the result
//! is for (its membership block and recipients) is the caller's decision: it is a
//! question of trust, not of secrets (`commands::git`).

use std::collections::{BTreeMap, BTreeSet};

use age::secrecy::{ExposeSecret, SecretString};

use crate::error::Result;
use crate::store::document::{Document, Entry};

/// How one conflicting secret is settled.
#[derive(Clone)]
pub enum Resolution {
    Ours,
    Theirs,
    Value(SecretString),
}

/// The merged document, and the names still in conflict (then the document is not to be
/// written).
pub struct Merged {
    pub document: Document,
    pub conflicts: Vec<String>,
}

fn same(a: Option<&Entry>, b: Option<&Entry>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.value().expose_secret() == b.value().expose_secret() && a.description == b.description
        }
        _ => false,
    }
}

pub fn merge(
    base: &Document,
    ours: &Document,
    theirs: &Document,
    resolutions: &BTreeMap<String, Resolution>,
    now: &str,
) -> Result<Merged> {
    let mut document = ours.empty_like();
    let names: BTreeSet<&str> = base
        .names()
        .chain(ours.names())
        .chain(theirs.names())
        .collect();
    let mut conflicts = Vec::new();
    for name in names {
        let (b, o, t) = (base.get(name)?, ours.get(name)?, theirs.get(name)?);
        let chosen = if same(o, t) || same(b, t) {
            o
        } else if same(b, o) {
            t
        } else {
            match resolutions.get(name) {
                Some(Resolution::Ours) => o,
                Some(Resolution::Theirs) => t,
                Some(Resolution::Value(value)) => {
                    // The entry's other fields from whichever side has it; the new value.
                    if let Some(entry) = o.or(t) {
                        document.put(name, entry.clone());
                    }
                    document.set(name, value.clone(), None, now)?;
                    continue;
                }
                None => {
                    conflicts.push(name.to_string());
                    continue;
                }
            }
        };
        if let Some(entry) = chosen {
            document.put(name, entry.clone());
        }
    }
    Ok(Merged {
        document,
        conflicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(recipients: &[&str], secrets: &[(&str, &str)]) -> Document {
        let mut d = Document::new(recipients.iter().map(|r| r.to_string()).collect());
        for (name, value) in secrets {
            d.set(name, SecretString::from(value.to_string()), None, "t0")
                .unwrap();
        }
        d
    }

    fn values(d: &Document) -> Vec<(String, String)> {
        d.entries()
            .map(|e| {
                let (n, e) = e.unwrap();
                (n.to_string(), e.value().expose_secret().to_string())
            })
            .collect()
    }

    #[test]
    fn one_sided_changes_merge_and_two_sided_ones_conflict() {
        let base = doc(&["r1", "r2"], &[("A", "a"), ("B", "b"), ("C", "c")]);
        let ours = doc(
            &["r1", "r2", "r3"],
            &[("A", "a2"), ("B", "b"), ("C", "c"), ("D", "d")],
        );
        let theirs = doc(&["r1"], &[("A", "a"), ("B", "b3"), ("E", "e")]);
        let merged = merge(&base, &ours, &theirs, &BTreeMap::new(), "t1").unwrap();
        assert!(merged.conflicts.is_empty());
        assert_eq!(
            values(&merged.document),
            [("A", "a2"), ("B", "b3"), ("D", "d"), ("E", "e")]
                .map(|(n, v)| (n.to_string(), v.to_string()))
        );
        let theirs = doc(&["r1", "r2"], &[("A", "a3"), ("B", "b"), ("C", "c")]);
        let merged = merge(&base, &ours, &theirs, &BTreeMap::new(), "t1").unwrap();
        assert_eq!(merged.conflicts, ["A"]);
        let mut resolutions = BTreeMap::new();
        resolutions.insert("A".to_string(), Resolution::Theirs);
        let merged = merge(&base, &ours, &theirs, &resolutions, "t1").unwrap();
        assert!(merged.conflicts.is_empty());
        assert_eq!(values(&merged.document)[0].1, "a3");
    }
}
