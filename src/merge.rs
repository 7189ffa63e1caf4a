//! A three-way merge of vault documents, secret by secret, for git's merge driver.
//!
//! A secret changed on one side only takes that side; changed on both sides to the same
//! value takes it once; changed on both sides to different values (or changed on one
//! and removed on the other) is a conflict, settled by a [`Resolution`]. Who the result
//! is for (its membership block and recipients) is the caller's decision: it is a
//! question of trust, not of secrets (`commands::git`).

use std::collections::{BTreeMap, BTreeSet};

use age::secrecy::SecretString;
use serde_json::Value;

use crate::error::Result;
use crate::store::document::{Document, Entry};
use crate::store::sealed::SealedValues;

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
        // The value and what is kept beside it (description, tags, rotation period).
        (Some(a), Some(b)) => a.same_content(b),
        _ => false,
    }
}

/// The three-way choice for one thing that is equal or not (a ciphertext, a group value):
/// `Err(())` when both sides changed it differently and no resolution of `name` says
/// which. A typed value settles the shared secret, and a personal override beside it then
/// keeps ours; it cannot settle a group value (`value_settles` false: never typed in the
/// clear for every member), which stays in conflict rather than being silently dropped.
fn choose<T: PartialEq + Clone>(
    name: &str,
    (b, o, t): (Option<T>, Option<T>, Option<T>),
    resolutions: &BTreeMap<String, Resolution>,
    value_settles: bool,
) -> std::result::Result<Option<T>, ()> {
    if o == t || b == t {
        Ok(o)
    } else if b == o {
        Ok(t)
    } else {
        match resolutions.get(name) {
            Some(Resolution::Theirs) => Ok(t),
            Some(Resolution::Ours) => Ok(o),
            Some(Resolution::Value(_)) if value_settles => Ok(o),
            Some(Resolution::Value(_)) | None => Err(()),
        }
    }
}

/// Merges the personal overrides (per secret and member) and group values (per secret)
/// three ways, as the shared values are.
fn merge_sealed(
    base: &SealedValues,
    ours: &SealedValues,
    theirs: &SealedValues,
    resolutions: &BTreeMap<String, Resolution>,
    conflicts: &mut Vec<String>,
) -> SealedValues {
    let mut merged = SealedValues::default();
    let personal_keys: BTreeSet<(&String, &String)> = [base, ours, theirs]
        .iter()
        .flat_map(|s| {
            s.personal
                .iter()
                .flat_map(|(name, by)| by.keys().map(move |r| (name, r)))
        })
        .collect();
    for (name, recipient) in personal_keys {
        let of = |s: &SealedValues| {
            s.personal
                .get(name)
                .and_then(|by| by.get(recipient))
                .cloned()
        };
        match choose(name, (of(base), of(ours), of(theirs)), resolutions, true) {
            Ok(Some(ciphertext)) => {
                merged
                    .personal
                    .entry(name.clone())
                    .or_default()
                    .insert(recipient.clone(), ciphertext);
            }
            Ok(None) => {}
            Err(()) => conflicts.push(name.clone()),
        }
    }
    let group_names: BTreeSet<&String> = [base, ours, theirs]
        .iter()
        .flat_map(|s| s.groups.keys())
        .collect();
    for name in group_names {
        let of = |s: &SealedValues| s.groups.get(name).cloned();
        match choose(name, (of(base), of(ours), of(theirs)), resolutions, false) {
            Ok(Some(value)) => {
                merged.groups.insert(name.clone(), value);
            }
            Ok(None) => {}
            Err(()) => conflicts.push(name.clone()),
        }
    }
    merged
}

/// Why a value typed cannot settle `name`'s conflict, when it cannot: a group's value
/// (typed, it would be kept for every member until the merge ends), or a conflict of
/// personal values alone (a typed value would become the shared one).
pub fn typed_value_refused(
    base: &Document,
    ours: &Document,
    theirs: &Document,
    name: &str,
) -> Result<Option<String>> {
    if let Some(value) = [base, ours, theirs]
        .iter()
        .find_map(|d| d.sealed().groups.get(name).cloned())
    {
        return Ok(Some(format!(
            "{name} is a value of the group {}: settle it with --ours or --theirs, then set a new value after the merge with 'vault set {name} --group {}'",
            value.group, value.group
        )));
    }
    let (b, o, t) = (base.get(name)?, ours.get(name)?, theirs.get(name)?);
    if same(o, t) || same(b, o) || same(b, t) {
        return Ok(Some(format!(
            "the conflict of {name} is in personal values: settle it with --ours or --theirs, then set yours after the merge with 'vault set {name} --personal'"
        )));
    }
    Ok(None)
}

/// Merges the stale records: one both sides had (same reader, same time) keeps the names
/// both still list (a side that dropped one changed it since); one only a side has is
/// kept as that side has it.
fn merge_stale(base: &[Value], ours: &[Value], theirs: &[Value]) -> Vec<Value> {
    let key = |r: &Value| (r.get("who").cloned(), r.get("removed").cloned());
    let names = |r: &Value| -> Vec<Value> {
        r.get("secrets")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut merged: Vec<Value> = Vec::new();
    for record in ours.iter().chain(theirs) {
        if merged.iter().any(|m| key(m) == key(record)) {
            continue;
        }
        let in_base = base.iter().any(|b| key(b) == key(record));
        let other = ours
            .iter()
            .chain(theirs)
            .filter(|r| key(r) == key(record))
            .collect::<Vec<_>>();
        let mut record = record.clone();
        if in_base && other.len() == 2 {
            let kept: Vec<Value> = names(other[0])
                .into_iter()
                .filter(|n| names(other[1]).contains(n))
                .collect();
            record["secrets"] = Value::Array(kept);
        }
        if !names(&record).is_empty() {
            merged.push(record);
        }
    }
    merged
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
    let sealed = merge_sealed(
        &base.sealed(),
        &ours.sealed(),
        &theirs.sealed(),
        resolutions,
        &mut conflicts,
    );
    document.replace_sealed(&sealed);
    document.set_stale_records(merge_stale(
        &base.stale_records(),
        &ours.stale_records(),
        &theirs.stale_records(),
    ));
    conflicts.sort();
    conflicts.dedup();
    Ok(Merged {
        document,
        conflicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

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

    #[test]
    fn a_typed_value_settles_no_group_value() {
        let mut resolutions = BTreeMap::new();
        resolutions.insert(
            "G".to_string(),
            Resolution::Value(SecretString::from("typed".to_string())),
        );
        let sides = (Some("b"), Some("o"), Some("t"));
        // A group value stays in conflict rather than silently keeping ours.
        assert_eq!(choose("G", sides, &resolutions, false), Err(()));
        // Beside a typed shared value, a personal override keeps ours.
        assert_eq!(choose("G", sides, &resolutions, true), Ok(Some("o")));
        resolutions.insert("G".to_string(), Resolution::Theirs);
        assert_eq!(choose("G", sides, &resolutions, false), Ok(Some("t")));
    }

    #[test]
    fn stale_records_keep_what_both_sides_still_list() {
        let record =
            |names: &[&str]| serde_json::json!({"who": "carol", "removed": "t1", "secrets": names});
        let other = serde_json::json!({"who": "dave", "removed": "t2", "secrets": ["X"]});
        let base = [record(&["A", "B", "C"])];
        // Ours changed A since, theirs changed B, and theirs removed dave.
        let ours = [record(&["B", "C"])];
        let theirs = [record(&["A", "C"]), other.clone()];
        let merged = merge_stale(&base, &ours, &theirs);
        assert_eq!(merged, vec![record(&["C"]), other]);
        // A record every name left is dropped.
        assert!(merge_stale(&base, &[record(&["A"])], &[record(&["B"])]).is_empty());
    }
}
