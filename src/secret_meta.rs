//! What `vault set` keeps beside a value: tags and a rotation period, checked as given.

use crate::error::{Error, Result};
use crate::store::document::Entry;

/// The longest tag accepted: a label, not a note.
const MAX_TAG: usize = 64;

/// A tag as typed: letters, digits, '_', '-' and '.', at most 64 of them.
pub fn check_tag(tag: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if tag.is_empty() || tag.len() > MAX_TAG || !tag.chars().all(allowed) {
        return Err(Error::Usage(format!(
            "{} is not a tag: use 1 to {MAX_TAG} letters, digits, '_', '-' or '.'",
            crate::names::printable(tag, true)
        )));
    }
    Ok(())
}

/// A rotation period as typed ("90d", "12h", "1s", systemd-style), in seconds; `None` for
/// "never".
pub fn parse_period(text: &str) -> Result<Option<u64>> {
    if text == "never" {
        return Ok(None);
    }
    let seconds = humantime::parse_duration(text)
        .ok()
        .map(|d| d.as_secs())
        .filter(|s| *s > 0);
    match seconds {
        Some(seconds) => Ok(Some(seconds)),
        None => Err(Error::Usage(format!(
            "{} is not a rotation period: write a duration of at least a second such as 90d, 12h or 30min, or never",
            crate::names::printable(text, true)
        ))),
    }
}

/// A period as it is typed: in the largest unit that divides it ("90d", "12h", "30min",
/// "1s"), so `--rotate-every` reads it back.
pub fn format_period(seconds: u64) -> String {
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("min", 60)] {
        if seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

/// Adds `added` to the tags (each once, in order) and takes `removed` out.
pub fn apply_tags(entry: &mut Entry, added: &[String], removed: &[String]) {
    let mut tags = entry.tags();
    for tag in added {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    tags.retain(|tag| !removed.contains(tag));
    entry.set_tags(tags);
}

/// The rotation date of an entry as RFC 3339, when it has one.
pub fn due_date(entry: &Entry) -> Option<String> {
    entry
        .due_at()
        .map(|due| humantime::format_rfc3339_seconds(due).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_and_tags() {
        assert_eq!(parse_period("90d").unwrap(), Some(90 * 86400));
        assert_eq!(parse_period("1s").unwrap(), Some(1));
        assert_eq!(parse_period("never").unwrap(), None);
        assert_eq!(format_period(90 * 86400), "90d");
        assert_eq!(format_period(7200), "2h");
        assert_eq!(format_period(61), "61s");
        assert_eq!(parse_period(&format_period(61)).unwrap(), Some(61));
        assert!(parse_period("0s").is_err());
        assert!(parse_period("soon").is_err());
        assert!(check_tag("db-prod.v2").is_ok());
        assert!(check_tag("").is_err());
        assert!(check_tag("a b").is_err());
        assert!(check_tag(&"x".repeat(65)).is_err());
    }
}
