//! Encrypted backups beside the vault (DESIGN.md §4).
//!
//! Before every change the current ciphertext is copied to `backups/<stem>-<UTC time>.age`,
//! with a JSON file naming the operation and the secret names it touched — never values.
//! A backup is the vault exactly as it was, so it opens with the same identity or `age -d`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::BackupPolicy;
use crate::error::{Error, Result};
use crate::store::document::timestamp_now;
use crate::store::fs::{ensure_private_dir, parent_dir, write_atomic};

/// The backups directory of a vault.
pub fn backup_dir(vault_path: &Path) -> PathBuf {
    parent_dir(vault_path).join("backups")
}

fn stem(vault_path: &Path) -> String {
    vault_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "vault".into())
}

#[derive(Serialize)]
struct Metadata<'a> {
    format: &'static str,
    version: u32,
    vault: String,
    created: &'a str,
    operation: &'a str,
    names: &'a [String],
}

/// One backup file, ordered by time then sequence.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct BackupName {
    compact_time: String,
    sequence: u32,
    file_name: String,
}

fn parse_backup_name(stem: &str, file_name: &str) -> Option<BackupName> {
    let rest = file_name
        .strip_prefix(stem)?
        .strip_prefix('-')?
        .strip_suffix(".age")?;
    let (time, sequence) = match rest.split_once('-') {
        Some((time, n)) => (time, n.parse().ok()?),
        None => (rest, 0),
    };
    let well_formed = time.len() == 16
        && time.as_bytes()[8] == b'T'
        && time.ends_with('Z')
        && time.chars().filter(char::is_ascii_digit).count() == 14;
    well_formed.then(|| BackupName {
        compact_time: time.to_string(),
        sequence,
        file_name: file_name.to_string(),
    })
}

/// `2026-11-25T13:02:29Z` → `20261125T130229Z`.
fn compact(rfc3339: &str) -> String {
    rfc3339.chars().filter(|c| *c != '-' && *c != ':').collect()
}

/// Saves `ciphertext` (the vault before `operation`) and prunes old backups.
/// Called with the writer lock held.
pub fn save(
    vault_path: &Path,
    ciphertext: &[u8],
    operation: &str,
    names: &[String],
    policy: &BackupPolicy,
) -> Result<Option<PathBuf>> {
    if !policy.enabled {
        return Ok(None);
    }
    let dir = backup_dir(vault_path);
    ensure_private_dir(&dir)?;
    let stem = stem(vault_path);
    let now = timestamp_now();
    let time = compact(&now);
    let mut sequence = 0u32;
    let path = loop {
        let name = if sequence == 0 {
            format!("{stem}-{time}.age")
        } else {
            format!("{stem}-{time}-{sequence}.age")
        };
        let candidate = dir.join(name);
        if !candidate.exists() {
            break candidate;
        }
        sequence += 1;
    };
    let metadata = Metadata {
        format: "secretsd-backup",
        version: 1,
        vault: vault_path.display().to_string(),
        created: &now,
        operation,
        names,
    };
    let json = serde_json::to_vec_pretty(&metadata)
        .map_err(|e| Error::Failed(format!("cannot describe the backup: {e}")))?;
    write_atomic(&path, ciphertext, true)?;
    write_atomic(&path.with_extension("json"), &json, false)?;
    prune(&dir, &stem, policy, &time);
    Ok(Some(path))
}

/// Deletes backups beyond the newest `keep` and those older than `max_age_days`.
/// Best effort: a backup that cannot be deleted now is tried again next time.
fn prune(dir: &Path, stem: &str, policy: &BackupPolicy, now_compact: &str) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut backups: Vec<BackupName> = entries
        .flatten()
        .filter_map(|e| parse_backup_name(stem, &e.file_name().to_string_lossy()))
        .collect();
    backups.sort_unstable_by(|a, b| b.cmp(a));
    let cutoff = std::time::SystemTime::now()
        .checked_sub(std::time::Duration::from_secs(policy.max_age_days * 86_400))
        .map(|t| compact(&humantime::format_rfc3339_seconds(t).to_string()));
    for (index, backup) in backups.iter().enumerate() {
        let too_old = cutoff.as_deref().is_some_and(|cutoff| {
            backup.compact_time.as_str() < cutoff && backup.compact_time != now_compact
        });
        if index >= policy.keep.max(1) || too_old {
            let path = dir.join(&backup.file_name);
            let _ = fs::remove_file(path.with_extension("json"));
            let _ = fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_names_sort_by_time_then_sequence() {
        let mut names: Vec<_> = [
            "vault-20261125T130229Z-1.age",
            "vault-20261125T130229Z.age",
            "vault-20261124T230000Z.age",
            "vault-20261125T130229Z-10.age",
            "vault-20261125T130229Z-2.age",
        ]
        .iter()
        .map(|n| parse_backup_name("vault", n).unwrap())
        .collect();
        names.sort();
        let order: Vec<_> = names.iter().map(|n| n.file_name.as_str()).collect();
        assert_eq!(
            order,
            [
                "vault-20261124T230000Z.age",
                "vault-20261125T130229Z.age",
                "vault-20261125T130229Z-1.age",
                "vault-20261125T130229Z-2.age",
                "vault-20261125T130229Z-10.age",
            ]
        );
    }

    #[test]
    fn other_files_are_not_backups() {
        for name in [
            "vault-prod-20261125T130229Z.age",
            "vault-x.age",
            "vault-20261125T130229Z.json",
        ] {
            assert!(parse_backup_name("vault", name).is_none(), "{name}");
        }
    }
}
