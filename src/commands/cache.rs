//! `vault cache list` and `vault cache clear`: what the offline cache of provider values
//! holds (never a value), and removing it.

use serde_json::json;

use crate::cache::policy::describe;
use crate::cache::store::{Listed, Store, now};
use crate::cli::CacheCommand;
use crate::commands::{Context, SUCCESS, print_report, print_stdout};
use crate::error::{Error, Result};

pub fn run(context: &Context, command: &CacheCommand) -> Result<u8> {
    match command {
        CacheCommand::List { json } => list(context, *json),
        CacheCommand::Clear { provider } => clear(context, provider.as_deref()),
    }
}

/// This identity's cache.
pub fn store(context: &Context) -> Result<Store> {
    let key = context
        .cache_key()
        .map_err(|why| Error::LockedOut(format!("this identity has no offline cache: {why}")))?;
    Store::new(key)
}

fn list(context: &Context, as_json: bool) -> Result<u8> {
    let store = store(context)?;
    let listed = store.list(None)?;
    let now = now();
    let age = |fetched_at: u64| {
        if fetched_at > now {
            "in the future (refused)".to_string()
        } else {
            describe(now - fetched_at)
        }
    };
    if as_json {
        let mut items = Vec::new();
        for (path, read) in &listed {
            match read {
                Ok(entries) => {
                    for (key, entry) in &entries.entries {
                        items.push(json!({
                            "provider": entries.provider,
                            "profile": entries.profile,
                            "key": key,
                            "fetched_at": entry.fetched_at,
                            "age_seconds": now.saturating_sub(entry.fetched_at),
                            "file": path,
                        }));
                    }
                }
                Err(e) => items.push(json!({"file": path, "error": e.to_string()})),
            }
        }
        let text = serde_json::to_string_pretty(&items)
            .map_err(|e| Error::Failed(format!("cannot format the list: {e}")))?;
        print_stdout(&format!("{text}\n"))?;
        return SUCCESS;
    }
    if listed.is_empty() {
        context.note(&format!(
            "the offline cache of this identity ({}) is empty",
            store.dir().display()
        ));
        return SUCCESS;
    }
    let mut out = String::new();
    for (path, read) in &listed {
        match read {
            Ok(entries) => {
                let profile = entries
                    .profile
                    .as_deref()
                    .map(|p| format!(" (profile {p})"))
                    .unwrap_or_default();
                for (key, entry) in &entries.entries {
                    out.push_str(&format!(
                        "{}{profile}  {key}  fetched {}  {} old\n",
                        entries.provider,
                        humantime::format_rfc3339_seconds(
                            std::time::UNIX_EPOCH
                                + std::time::Duration::from_secs(entry.fetched_at)
                        ),
                        age(entry.fetched_at)
                    ));
                }
            }
            Err(e) => out.push_str(&format!("{}  REFUSED: {e}\n", path.display())),
        }
    }
    // Keys and names are what providers and configurations hold: printed as text.
    print_report(&out)?;
    SUCCESS
}

fn clear(context: &Context, provider: Option<&str>) -> Result<u8> {
    if let Some(provider) = provider
        && !crate::providers::is_provider_name(provider)
    {
        return Err(Error::Usage(format!(
            "{provider:?} is not a provider name (lowercase letters, digits and '-')"
        )));
    }
    let store = store(context)?;
    let removed = store.clear_all(provider)?;
    context.note(&format!(
        "removed {removed} cache file{} of {} from {}",
        if removed == 1 { "" } else { "s" },
        provider.unwrap_or("every provider"),
        store.dir().display()
    ));
    SUCCESS
}

/// What `vault status` says of the cache: each configuration's size and oldest entry.
pub fn status_lines(context: &Context) -> Vec<String> {
    let store = match store(context) {
        Ok(store) => store,
        Err(e) if context.config.providers.any_cached() => return vec![format!("cache: off: {e}")],
        Err(_) => return Vec::new(),
    };
    let listed: Vec<Listed> = match store.list(None) {
        Ok(listed) => listed,
        Err(e) => return vec![format!("cache: {e}")],
    };
    if listed.is_empty() {
        return if context.config.providers.any_cached() {
            vec![format!("cache: {} (empty)", store.dir().display())]
        } else {
            Vec::new()
        };
    }
    let now = now();
    let mut lines = vec![format!("cache: {}", store.dir().display())];
    for (path, read) in listed {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match read {
            Ok(entries) => {
                let oldest = entries.entries.values().map(|e| e.fetched_at).min();
                let profile = entries
                    .profile
                    .as_deref()
                    .map(|p| format!(" (profile {p})"))
                    .unwrap_or_default();
                lines.push(format!(
                    "cache: {}{profile}: {} value{}, {size} bytes, oldest {}",
                    entries.provider,
                    entries.entries.len(),
                    if entries.entries.len() == 1 { "" } else { "s" },
                    oldest
                        .map(|t| format!("{} old", describe(now.saturating_sub(t))))
                        .unwrap_or_else(|| "none".into())
                ));
            }
            Err(e) => lines.push(format!("cache: {} refused: {e}", path.display())),
        }
    }
    lines
}
