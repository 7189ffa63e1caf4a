//! The offline cache of provider values (issue #27): what a provider answered, kept
//! encrypted and authenticated on disk so that `vault run` starts when the provider is
//! briefly down, and `--offline` works with no network.
//!
//! The rules, in one place ([`Cache::before`] and [`Cache::after`]):
//!
//! * only an outage — the provider cannot start, times out, or answers `unavailable` —
//!   lets a cached value stand in, and only one younger than `cache` (and
//!   `--cache-max-age`); vault says on stderr which values came from the cache, how old;
//! * an answer stands: `denied` clears the configuration's whole cache, `not-found` drops
//!   the entry; a revoked token or a deleted secret is never resurrected;
//! * an offline miss is `unavailable`, never `not-found`, so a lookup chain stops there;
//! * an entry fetched "in the future" (the clock went back) is refused, as is one past the
//!   lease the provider gave it.

mod key;
pub mod policy;
pub mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use secretsd_protocol::{ErrorKind, GetOk, KeyError};

pub use key::MachineKey;
pub use policy::{Flags, ProviderCache};
pub use store::{ConfigId, Store};

use crate::error::{Error, Result};

/// A provider's request that failed as a whole, and whether that was an outage (the
/// provider could not start, timed out, or answered `unavailable`) or an answer
/// (`denied`, `invalid`…).
pub struct Failure {
    pub error: Error,
    pub kind: FailureKind,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FailureKind {
    Outage,
    Denied,
    Other,
}

/// Why an entry is not used.
enum Refusal {
    Missing,
    TooOld(u64),
    Future,
    LeaseEnded,
    NoCache,
}

/// The cache as one invocation of vault uses it.
pub struct Cache {
    /// The store, or why there is none (an identity that derives no key, no identity).
    store: std::result::Result<Store, String>,
    pub flags: Flags,
    profile: Option<String>,
    cap: Duration,
    /// What to say on stderr: values served from the cache, and how old.
    notices: Vec<String>,
    /// Providers whose "the cache is off" was said already.
    told_off: BTreeSet<String>,
    /// Values served from the cache, per provider (keys only): what `run --watch` checks.
    served: BTreeMap<String, BTreeSet<String>>,
    /// Providers that answered `denied` in this invocation.
    denied: BTreeSet<String>,
}

impl Cache {
    pub fn new(
        store: std::result::Result<Store, String>,
        flags: Flags,
        profile: Option<String>,
        cap: Duration,
    ) -> Cache {
        Cache {
            store,
            flags,
            profile,
            cap,
            notices: Vec::new(),
            told_off: BTreeSet::new(),
            served: BTreeMap::new(),
            denied: BTreeSet::new(),
        }
    }

    /// A cache that is off, with the default flags: for callers that never cache.
    pub fn off() -> Cache {
        Cache::new(
            Err("not used here".into()),
            Flags::default(),
            None,
            policy::DEFAULT_CAP,
        )
    }

    /// What vault says on stderr about values served from the cache (taken).
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    /// The keys of each provider served from the cache so far.
    pub fn served(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.served
    }

    /// The cached providers that answered `denied` in this invocation.
    pub fn denied(&self) -> &BTreeSet<String> {
        &self.denied
    }

    /// The cache settings of `provider`, with its key; None when it is not cached.
    pub fn settings(
        &self,
        provider: &str,
        table: Option<&toml::Table>,
    ) -> Result<Option<(ProviderCache, ConfigId)>> {
        let Some(settings) = policy::settings(provider, table, self.cap)? else {
            return Ok(None);
        };
        let id = match &self.store {
            Ok(store) => {
                policy::config_id(provider, table, self.profile.as_deref(), |d| store.hash(d))
            }
            // The cache is off: the id is never used to name a file.
            Err(_) => policy::config_id(provider, table, self.profile.as_deref(), |_| [0; 32]),
        };
        Ok(Some((settings, id)))
    }

    /// The store, or — when the identity derives no key — an error for `--offline` and
    /// a one-time notice otherwise (the cache is then off for this provider).
    fn store_for(&mut self, provider: &str) -> std::result::Result<&Store, String> {
        match &self.store {
            Ok(store) => Ok(store),
            Err(why) => {
                let message =
                    format!("provider {provider} sets cache, but the cache is off: {why}");
                if self.told_off.insert(provider.to_string()) {
                    self.notices.push(format!("warning: {message}"));
                }
                Err(message)
            }
        }
    }

    /// The longest age a cached value of this provider may have now.
    fn max_age(&self, settings: &ProviderCache) -> Duration {
        match self.flags.max_age {
            Some(flag) => flag.min(settings.keep),
            None => settings.keep,
        }
    }

    /// Before asking the provider: its answer from the cache alone, when `--offline` says
    /// not to ask (every key answered, a missing one `unavailable`), or when a preferred
    /// age (`--prefer-cache`, `prefer_cache`) finds every key fresh enough. None: ask.
    pub fn before(
        &mut self,
        provider: &str,
        cached: Option<&(ProviderCache, ConfigId)>,
        keys: &[String],
    ) -> Result<Option<GetOk>> {
        let Some((settings, id)) = cached else {
            return Ok(None);
        };
        if self.flags.offline {
            let store = match self.store_for(provider) {
                Ok(store) => store,
                Err(why) => return Err(Error::Provider(format!("--offline: {why}"))),
            };
            let entries = store.read(id)?;
            let max_age = self.max_age(settings);
            self.purge_never_cached(provider, settings, id, entries.as_ref());
            let answer = self.answer_from(
                provider,
                settings,
                entries.as_ref(),
                keys,
                max_age,
                "--offline: the provider was not asked",
            );
            // Every value the cache cannot give is named at once (keys and why; never a
            // value), as an outage, not a missing key: a lookup chain stops here.
            if !answer.errors.is_empty() {
                let missing: Vec<String> = answer
                    .errors
                    .iter()
                    .map(|(key, error)| {
                        let why = error.message.as_deref().unwrap_or_default();
                        let why = why
                            .strip_prefix("--offline: the provider was not asked; ")
                            .unwrap_or(why);
                        format!("{key} ({why})")
                    })
                    .collect();
                return Err(Error::Provider(format!(
                    "--offline: provider {provider} was not asked, and the cache cannot give {}",
                    missing.join(", ")
                )));
            }
            return Ok(Some(answer));
        }
        let Some(prefer) = self.flags.prefer.or(settings.prefer) else {
            return Ok(None);
        };
        let Ok(store) = self.store_for(provider) else {
            return Ok(None);
        };
        // A file that cannot be believed is no reason to fail: the provider is asked.
        let Ok(Some(entries)) = store.read(id) else {
            return Ok(None);
        };
        self.purge_never_cached(provider, settings, id, Some(&entries));
        let fresh_enough = prefer.min(self.max_age(settings));
        let now = store::now();
        if keys.iter().all(|k| {
            !settings.never_cached(k) && usable(entries.entries.get(k), now, fresh_enough).is_ok()
        }) {
            let answer =
                self.answer_from(provider, settings, Some(&entries), keys, fresh_enough, "");
            return Ok(Some(answer));
        }
        Ok(None)
    }

    /// Under `--offline`, the keys cached for this configuration (what `sync --from`
    /// lists); None when not offline or the provider is not cached.
    pub fn offline_keys(
        &mut self,
        provider: &str,
        cached: Option<&(ProviderCache, ConfigId)>,
    ) -> Result<Option<Vec<String>>> {
        let (true, Some((settings, id))) = (self.flags.offline, cached) else {
            return Ok(None);
        };
        let store = match self.store_for(provider) {
            Ok(store) => store,
            Err(why) => return Err(Error::Provider(format!("--offline: {why}"))),
        };
        Ok(Some(
            store
                .read(id)?
                .map(|e| {
                    e.entries
                        .into_keys()
                        .filter(|k| !settings.never_cached(k))
                        .collect()
                })
                .unwrap_or_default(),
        ))
    }

    /// After asking: the provider's answer with the cache applied — kept from, cleared,
    /// dropped from, or (on an outage) standing in for it. `asked` is when the request
    /// was sent: what it brings is that old, and is not kept when the cache was cleared
    /// since (see [`Cache::keep`]).
    pub fn after(
        &mut self,
        provider: &str,
        cached: Option<&(ProviderCache, ConfigId)>,
        keys: &[String],
        asked: store::Asked,
        result: std::result::Result<GetOk, Failure>,
    ) -> Result<GetOk> {
        let Some((settings, id)) = cached else {
            return result.map_err(|f| f.error);
        };
        if self.store_for(provider).is_err() {
            return result.map_err(|f| f.error);
        }
        let max_age = self.max_age(settings);
        match result {
            Ok(mut answer) => {
                let denied = answer.errors.values().any(|e| e.kind == ErrorKind::Denied);
                let outage: Vec<String> = answer
                    .errors
                    .iter()
                    .filter(|(_, e)| e.kind == ErrorKind::Unavailable)
                    .map(|(k, _)| k.clone())
                    .collect();
                if denied {
                    // The provider said no: nothing it gave this configuration before
                    // may stand in for it.
                    self.clear(provider, id);
                    return Ok(answer);
                }
                self.keep(provider, settings, id, &answer, asked);
                if !outage.is_empty() {
                    let entries = self.read(id)?;
                    let standing_in = self.answer_from(
                        provider,
                        settings,
                        entries.as_ref(),
                        &outage,
                        max_age,
                        &format!("provider {provider} answered unavailable"),
                    );
                    answer
                        .errors
                        .retain(|k, _| !standing_in.values.contains_key(k));
                    answer.values.extend(standing_in.values);
                    answer.errors.extend(standing_in.errors);
                }
                Ok(answer)
            }
            Err(failure) => match failure.kind {
                FailureKind::Denied => {
                    self.clear(provider, id);
                    Err(failure.error)
                }
                FailureKind::Other => Err(failure.error),
                FailureKind::Outage => {
                    let entries = self.read(id).map_err(|e| {
                        Error::Provider(format!(
                            "{}; and its cache cannot be used: {e}",
                            failure.error
                        ))
                    })?;
                    let why = failure.error.to_string();
                    self.purge_never_cached(provider, settings, id, entries.as_ref());
                    let answer =
                        self.answer_from(provider, settings, entries.as_ref(), keys, max_age, &why);
                    if answer.values.is_empty() {
                        // Nothing to stand in: the outage is the error, as without a cache.
                        return Err(Error::Provider(format!(
                            "{why} (and no value of it in the cache is young enough to use)"
                        )));
                    }
                    Ok(answer)
                }
            },
        }
    }

    /// `id`'s entries (None when there are none); the store exists.
    fn read(&self, id: &ConfigId) -> Result<Option<store::Entries>> {
        match &self.store {
            Ok(store) => store.read(id),
            Err(_) => Ok(None),
        }
    }

    /// Writes what the provider answered to the request sent when `asked` says into `id`'s
    /// entries, stamped with that time: values kept (except `no_cache` keys, capped by
    /// their lease), `not-found` keys dropped (and the drop recorded), expired and
    /// `no_cache` entries purged. When the entries were cleared or dropped from at or
    /// after `asked` — a denial, a `not-found` or `vault cache clear` answered by a
    /// later request while this one was under way — its values are not kept: they
    /// would bring back what that answer took away. The check is made under the file's
    /// lock, with the record of the last clear. A failure to write is said, and fails
    /// nothing: the values came from the provider.
    fn keep(
        &mut self,
        provider: &str,
        settings: &ProviderCache,
        id: &ConfigId,
        answer: &GetOk,
        asked: store::Asked,
    ) {
        let Ok(store) = &self.store else { return };
        // What is gone is gone however it was spelled when it was cached.
        let gone: Vec<String> = answer
            .errors
            .iter()
            .filter(|(_, e)| e.kind == ErrorKind::NotFound)
            .map(|(k, _)| policy::matching_form(k))
            .collect();
        let keep = settings.keep.as_secs();
        let result = store.update(id, self.profile.as_deref(), |entries, cleared| {
            if !gone.is_empty() {
                entries
                    .entries
                    .retain(|key, _| !gone.contains(&policy::matching_form(key)));
            }
            let overtaken = cleared.is_some_and(|cleared| asked.moment <= cleared);
            if !overtaken {
                for (key, value) in &answer.values {
                    if settings.never_cached(key) {
                        continue;
                    }
                    entries.entries.insert(
                        key.clone(),
                        store::Entry {
                            value: value.clone(),
                            fetched_at: asked.at,
                            expires_at: answer
                                .ttl
                                .get(key)
                                .map(|ttl| asked.at.saturating_add(*ttl)),
                        },
                    );
                }
            }
            // Expired entries are purged; one from the future is of no use; a `no_cache`
            // key (added since it was cached, or spelled otherwise) has no place here.
            let now = store::now();
            entries.entries.retain(|key, entry| {
                entry.fetched_at <= now
                    && now - entry.fetched_at <= keep
                    && !settings.never_cached(key)
            });
            !gone.is_empty()
        });
        match result {
            Ok(Some(why)) => self.notices.push(format!(
                "warning: {why}; it was replaced by what {provider} answered now"
            )),
            Ok(None) => {}
            Err(e) => self.notices.push(format!(
                "warning: the values of {provider} were not cached: {e}"
            )),
        }
    }

    /// Removes from `id`'s file the entries `no_cache` names, when `entries` (just read
    /// from it) holds any: a key added to `no_cache` after it was cached. A failure is
    /// said; such an entry is never served either way (see [`Cache::answer_from`]).
    fn purge_never_cached(
        &mut self,
        provider: &str,
        settings: &ProviderCache,
        id: &ConfigId,
        entries: Option<&store::Entries>,
    ) {
        let Ok(store) = &self.store else { return };
        if !entries.is_some_and(|e| e.entries.keys().any(|k| settings.never_cached(k))) {
            return;
        }
        if let Err(e) = store.update(id, self.profile.as_deref(), |entries, _| {
            entries.entries.retain(|key, _| !settings.never_cached(key));
            false
        }) {
            self.notices.push(format!(
                "warning: values of {provider} that no_cache names could not be removed from its cache: {e}"
            ));
        }
    }

    /// Clears `id`'s file, saying so when that fails (the answer stands either way).
    fn clear(&mut self, provider: &str, id: &ConfigId) {
        self.denied.insert(provider.to_string());
        if let Ok(store) = &self.store
            && let Err(e) = store.clear(id)
        {
            self.notices.push(format!(
                "warning: {provider} denied access, but its cache could not be cleared: {e}"
            ));
        }
    }

    /// An answer for `keys` from `entries`: values young enough, the rest `unavailable`
    /// with why. `why` says why the provider did not answer (empty: it was not asked
    /// because the cache was fresh enough, which is no news).
    fn answer_from(
        &mut self,
        provider: &str,
        settings: &ProviderCache,
        entries: Option<&store::Entries>,
        keys: &[String],
        max_age: Duration,
        why: &str,
    ) -> GetOk {
        let now = store::now();
        let mut answer = GetOk::default();
        let mut ages = Vec::new();
        for key in keys {
            let entry = entries.and_then(|e| e.entries.get(key));
            let usable = if settings.never_cached(key) {
                Err(Refusal::NoCache)
            } else {
                usable(entry, now, max_age)
            };
            match usable {
                Ok(age) => {
                    let entry = entry.expect("usable entries exist");
                    answer.values.insert(key.clone(), entry.value.clone());
                    ages.push(format!("{key} (fetched {} ago)", policy::describe(age)));
                    self.served
                        .entry(provider.to_string())
                        .or_default()
                        .insert(key.clone());
                }
                Err(refusal) => {
                    let message = match refusal {
                        Refusal::Missing => "it is not in the cache".to_string(),
                        Refusal::TooOld(age) => format!(
                            "its cached value is {} old, older than the {} allowed",
                            policy::describe(age),
                            policy::describe(max_age.as_secs())
                        ),
                        Refusal::Future => "its cached value was fetched at a time later than now (the clock has gone back): it is refused".to_string(),
                        Refusal::LeaseEnded => "its cached value's lease has ended".to_string(),
                        Refusal::NoCache => "no_cache names it: it is never cached".to_string(),
                    };
                    let message = if why.is_empty() {
                        message
                    } else {
                        format!("{why}; {message}")
                    };
                    answer.errors.insert(
                        key.clone(),
                        KeyError {
                            kind: ErrorKind::Unavailable,
                            message: Some(message),
                        },
                    );
                }
            }
        }
        if !ages.is_empty() && !why.is_empty() {
            self.notices.push(format!(
                "{why}; using cached values of {provider}: {}",
                ages.join(", ")
            ));
        }
        answer
    }
}

/// An entry's age when it may be used now, else why not.
fn usable(
    entry: Option<&store::Entry>,
    now: u64,
    max_age: Duration,
) -> std::result::Result<u64, Refusal> {
    let entry = entry.ok_or(Refusal::Missing)?;
    if entry.fetched_at > now {
        return Err(Refusal::Future);
    }
    if entry.expires_at.is_some_and(|end| now >= end) {
        return Err(Refusal::LeaseEnded);
    }
    let age = now - entry.fetched_at;
    if age > max_age.as_secs() {
        return Err(Refusal::TooOld(age));
    }
    Ok(age)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secretsd_protocol::SecretValue;

    fn entry(fetched_at: u64, expires_at: Option<u64>) -> store::Entry {
        store::Entry {
            value: SecretValue::new("v"),
            fetched_at,
            expires_at,
        }
    }

    #[test]
    fn an_entry_is_used_only_between_its_fetch_and_its_limits() {
        let hour = Duration::from_secs(3600);
        assert!(matches!(
            usable(Some(&entry(1000, None)), 1000, hour),
            Ok(0)
        ));
        assert!(matches!(
            usable(Some(&entry(1000, None)), 4600, hour),
            Ok(3600)
        ));
        assert!(matches!(
            usable(Some(&entry(1000, None)), 4601, hour),
            Err(Refusal::TooOld(3601))
        ));
        // Fetched "after now": the clock went back.
        assert!(matches!(
            usable(Some(&entry(1001, None)), 1000, hour),
            Err(Refusal::Future)
        ));
        assert!(matches!(
            usable(Some(&entry(1000, Some(1060))), 1060, hour),
            Err(Refusal::LeaseEnded)
        ));
        assert!(matches!(usable(None, 1000, hour), Err(Refusal::Missing)));
    }

    #[test]
    fn no_cache_names_a_key_however_it_is_spelled() {
        let settings = ProviderCache {
            keep: Duration::from_secs(60),
            prefer: None,
            no_cache: vec!["/secret/app?version=2#PW".into(), "bare".into()],
        };
        for key in [
            "secret/app#PW",
            "/secret/app#PW",
            "//secret/app?version=1#PW",
            "bare",
            "/bare?x=1",
        ] {
            assert!(settings.never_cached(key), "{key}");
        }
        for key in [
            "secret/app#pw",
            "secret/app#PW2",
            "secret/apps#PW",
            "secret/app",
        ] {
            assert!(!settings.never_cached(key), "{key}");
        }
    }

    #[test]
    fn durations_are_read_and_said_as_people_write_them() {
        assert_eq!(
            policy::parse_duration("24h").unwrap(),
            Duration::from_secs(86400)
        );
        assert!(policy::parse_duration("500ms").is_err());
        assert!(policy::parse_duration("soon").is_err());
        assert_eq!(policy::describe(0), "0s");
        assert_eq!(policy::describe(3600 + 5 * 60 + 7), "1h 5m");
        assert_eq!(policy::describe(2 * 86400 + 30), "2d 30s");
    }
}
