//! References — where one value comes from — and resolving them to values (docs/DESIGN.md).
//!
//! | form | meaning |
//! |---|---|
//! | `secret:NAME` | the vault |
//! | `env:VAR` | vault's own environment |
//! | `file:/path` | a file's content, one trailing newline stripped |
//! | `literal:TEXT` | TEXT, whatever it looks like |
//! | `<provider>:<key>` | `secretsd-provider-<provider>` |
//! | anything else | a literal |
//!
//! Errors name the variable and the reference, never a value: a reference is shown as its
//! scheme alone where the rest could be a value (see [`Reference::for_error`]).

use std::collections::BTreeMap;

use age::secrecy::{ExposeSecret, SecretString};
use secretsd_protocol::{Config, ErrorKind, GetOk};

use crate::error::{Error, Result};
use crate::file_reference;
use crate::names::validate_value;
use crate::providers::Providers;
use crate::store::document::Document;

mod reference;

pub use reference::{Address, Binding, LookupEntry, Reference, Resolved};

/// A value found by the lookup chain, and where.
pub struct Found {
    pub value: SecretString,
    pub source: String,
}

fn failure(binding: &Binding, error: Error, what: &str) -> Error {
    let message = format!(
        "cannot resolve {} = {}: {what}",
        binding.variable,
        binding.reference.for_error()
    );
    match error {
        Error::NotFound(_) => Error::NotFound(message),
        Error::LockedOut(_) => Error::LockedOut(message),
        Error::BadData(_) => Error::BadData(message),
        Error::Provider(_) => Error::Provider(message),
        _ => Error::Failed(message),
    }
}

/// Resolves references for one invocation: opens the vault at most once, starts each
/// provider at most once and asks it for all its keys in one request.
pub struct Resolver<'a> {
    open_vault: &'a mut dyn FnMut() -> Result<Document>,
    document: Option<Document>,
    providers: Providers,
    tables: &'a BTreeMap<String, toml::Table>,
    configs: BTreeMap<String, Config>,
    /// Providers whose configuration is being resolved, to refuse cycles.
    resolving: Vec<String>,
    lookup: Vec<LookupEntry>,
    /// Where the last `resolve_each` found each `secret:` name along the chain (no values).
    sources: BTreeMap<String, String>,
    /// See [`Resolver::explanations`].
    explained: Vec<String>,
    /// The offline cache of provider values (off unless a provider sets `cache`).
    cache: crate::cache::Cache,
}

impl<'a> Resolver<'a> {
    pub fn new(
        open_vault: &'a mut dyn FnMut() -> Result<Document>,
        config: &'a crate::config::Config,
        show_provider_stderr: bool,
    ) -> Result<Self> {
        let lookup = config
            .lookup
            .order
            .iter()
            .map(|e| LookupEntry::parse(e))
            .collect::<Result<Vec<_>>>()?;
        Ok(Resolver {
            open_vault,
            document: None,
            providers: Providers::new(&config.providers, show_provider_stderr),
            tables: &config.providers.tables,
            configs: BTreeMap::new(),
            resolving: Vec::new(),
            lookup,
            sources: BTreeMap::new(),
            explained: Vec::new(),
            cache: crate::cache::Cache::off(),
        })
    }

    /// This resolver with `cache` standing between it and the providers.
    pub fn with_cache(mut self, cache: crate::cache::Cache) -> Self {
        self.cache = cache;
        self
    }

    pub fn cache(&mut self) -> &mut crate::cache::Cache {
        &mut self.cache
    }

    /// The cache settings of `provider` and the key of its entries, None when it is not
    /// cached.
    fn cache_settings(
        &self,
        provider: &str,
    ) -> Result<Option<(crate::cache::ProviderCache, crate::cache::ConfigId)>> {
        self.cache.settings(provider, self.tables.get(provider))
    }

    /// The keys `provider` holds under `prefix`: from the cache alone under `--offline`
    /// (the keys cached for its configuration), else from the provider.
    pub fn list_keys(&mut self, provider: &str, prefix: &str) -> Result<Vec<String>> {
        let cached = self.cache_settings(provider)?;
        if let Some(keys) = self.cache.offline_keys(provider, cached.as_ref())? {
            return Ok(keys.into_iter().filter(|k| k.starts_with(prefix)).collect());
        }
        let config = self.provider_config(provider)?;
        let listed =
            self.providers
                .list(provider, &config, (!prefix.is_empty()).then_some(prefix))?;
        Ok(listed.keys)
    }

    /// `keys` of `provider` in one request, through the cache (see `cache`): the answer
    /// of the cache alone when `--offline` or a preferred age says so, else the
    /// provider's, kept in the cache, or standing in for it on an outage.
    pub fn fetch(&mut self, provider: &str, keys: &[String]) -> Result<GetOk> {
        let cached = self.cache_settings(provider)?;
        if let Some(answer) = self.cache.before(provider, cached.as_ref(), keys)? {
            return Ok(answer);
        }
        let config = self.provider_config(provider)?;
        // Taken before the request goes out: an answer is as old as its question.
        let asked = crate::cache::store::Asked::now();
        let result = self.providers.get_classified(provider, &config, keys);
        self.cache
            .after(provider, cached.as_ref(), keys, asked, result)
    }

    pub fn providers(&mut self) -> &mut Providers {
        &mut self.providers
    }

    /// The vault, opened on first use.
    pub fn document(&mut self) -> Result<&Document> {
        if self.document.is_none() {
            self.document = Some((self.open_vault)()?);
        }
        Ok(self.document.as_ref().expect("opened above"))
    }

    /// A provider's configuration with every reference in it resolved.
    pub fn provider_config(&mut self, name: &str) -> Result<Config> {
        if let Some(config) = self.configs.get(name) {
            return Ok(config.clone());
        }
        if self.resolving.iter().any(|n| n == name) {
            return Err(Error::BadData(format!(
                "the configuration of provider {name} refers to itself through {}",
                self.resolving.join(" -> ")
            )));
        }
        // No table still gets the defaults of the provider's row.
        let mut table = self.tables.get(name).cloned().unwrap_or_default();
        // vault's own settings (`cache`…) are not the provider's business.
        for key in crate::cache::policy::VAULT_SETTINGS {
            table.remove(*key);
        }
        self.resolving.push(name.to_string());
        let result = (|| -> Result<_> {
            let mut config = Config::new();
            for (key, value) in &table {
                let json = match value {
                    toml::Value::String(text) => {
                        let reference = self.setting_reference(name, key, text)?;
                        let value =
                            self.setting_value(name, key, &reference, SettingOrigin::Configured)?;
                        if !matches!(reference, Reference::Literal(_)) {
                            self.explained.push(format!(
                                "provider {name}: {key} from {}",
                                reference.for_error()
                            ));
                        }
                        // A required binding has a value or was an error.
                        value.unwrap_or_default()
                    }
                    other => serde_json::to_value(other)
                        .map_err(|e| Error::BadData(format!("[providers.{name}] {key}: {e}")))?,
                };
                config.insert(key.clone(), json);
            }
            // What the configuration leaves out, from where users already keep it.
            for setting in crate::provider_defaults::settings_to_fill(name, |k| {
                table.get(k).map(|v| v.as_str().unwrap_or(""))
            }) {
                for text in setting.references {
                    let reference = Reference::parse(text);
                    if let Some(value) =
                        self.setting_value(name, setting.key, &reference, SettingOrigin::Default)?
                    {
                        self.explained.push(format!(
                            "provider {name}: {} from {reference} (a default, as [providers.{name}] sets no {})",
                            setting.key, setting.key
                        ));
                        config.insert(setting.key.to_string(), value);
                        break;
                    }
                }
            }
            for (variable, _) in crate::provider_defaults::environment(name) {
                self.explained.push(format!(
                    "provider {name}: {} passed on from vault's environment",
                    variable.to_string_lossy()
                ));
            }
            Ok(config)
        })();
        self.resolving.pop();
        let config = result?;
        self.configs.insert(name.to_string(), config.clone());
        Ok(config)
    }

    /// A configuration string as a reference, refusing a near miss of a scheme.
    fn setting_reference(&self, name: &str, key: &str, text: &str) -> Result<Reference> {
        Reference::check_near_miss(text, &format!("[providers.{name}] {key}"))?;
        Ok(Reference::parse(text))
    }

    /// One setting's value for provider `name`, as sent to it. A `Default` reference that
    /// finds nothing (an unset variable, a missing file) is `None`, and its file must be
    /// private (nobody chose it); any other failure is an error either way.
    fn setting_value(
        &mut self,
        name: &str,
        key: &str,
        reference: &Reference,
        origin: SettingOrigin,
    ) -> Result<Option<serde_json::Value>> {
        let mut binding = Binding::new(format!("[providers.{name}] {key}"), reference.clone());
        binding.required = origin == SettingOrigin::Configured;
        binding.private_file = origin == SettingOrigin::Default;
        let mut resolved = self.resolve_all(std::slice::from_ref(&binding))?;
        if resolved.is_empty() {
            return Ok(None);
        }
        let value = resolved.remove(0).value;
        // An empty default (`BAO_TOKEN=` exported) is no token: the search goes on, as the
        // `bao` CLI's does, rather than stopping at a value no server takes.
        if origin == SettingOrigin::Default && value.expose_secret().is_empty() {
            return Ok(None);
        }
        // A value from elsewhere (a token from gopass, a file), or one of the settings the
        // provider's row names as secrets however written (a literal token), is a secret
        // this provider is sent: kept out of what it says back.
        let text = if !matches!(reference, Reference::Literal(_))
            || crate::provider_defaults::is_secret_setting(name, key)
        {
            self.providers.note_sent(name, value.expose_secret());
            value.expose_secret().to_string()
        } else if crate::paths::is_path_setting(key) {
            // A path written in the configuration follows the one rule for paths there
            // (`~/`), whichever provider reads it.
            let path = crate::paths::expand_home_text(value.expose_secret());
            // A relative path would be read from wherever vault happens to run: a
            // checkout could hand the provider its own CA file or .env.
            if path.is_relative() {
                return Err(Error::Usage(format!(
                    "[providers.{name}] {key} = {:?} is a relative path: write it absolute or from ~/ (a relative one would be read from whatever directory vault runs in)",
                    value.expose_secret()
                )));
            }
            path.to_string_lossy().into_owned()
        } else {
            value.expose_secret().to_string()
        };
        Ok(Some(serde_json::Value::String(text)))
    }

    /// Where each provider's settings came from (never a value): a configured reference,
    /// a default reference, a variable passed on. For `-v`.
    pub fn explanations(&self) -> &[String] {
        &self.explained
    }

    /// Looks `names` up along the chain; names found nowhere are absent from the answer.
    pub fn lookup(&mut self, names: &[String]) -> Result<BTreeMap<String, Found>> {
        let mut found = BTreeMap::new();
        let chain = self.lookup.clone();
        let several = chain.len() > 1;
        for entry in &chain {
            let wanted: Vec<String> = names
                .iter()
                .filter(|n| !found.contains_key(*n))
                .cloned()
                .collect();
            if wanted.is_empty() {
                break;
            }
            let source = entry.to_string();
            match entry {
                LookupEntry::Env => {
                    for name in wanted {
                        if let Ok(value) = std::env::var(&name) {
                            found.insert(
                                name,
                                Found {
                                    value: SecretString::from(value),
                                    source: source.clone(),
                                },
                            );
                        }
                    }
                }
                LookupEntry::Dotenv(path) => {
                    // It answers secret:NAME as the vault would, so it is held to what an
                    // env file or a manifest is: nobody else could have written it.
                    // Read by the path it was checked by (see `strict::real_checked`).
                    let Some(real) = crate::store::strict::real_checked(path, "lookup file")?
                    else {
                        continue;
                    };
                    let Ok(text) = crate::regular_file::read_text(&real, path, "lookup file")
                    else {
                        continue;
                    };
                    let assignments = crate::formats::dotenv::parse(&text).map_err(|errors| {
                        Error::BadData(format!(
                            "the lookup file {} has errors (line {} first)",
                            path.display(),
                            errors[0].line
                        ))
                    })?;
                    for assignment in assignments {
                        if wanted.contains(&assignment.name) {
                            found.insert(
                                assignment.name,
                                Found {
                                    value: assignment.value,
                                    source: source.clone(),
                                },
                            );
                        }
                    }
                }
                LookupEntry::Vault => {
                    let document = match self.document() {
                        Ok(document) => document,
                        // With other places to look, a vault that was never made is no error.
                        Err(Error::LockedOut(message))
                            if several && message.starts_with("no vault at") =>
                        {
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    for name in wanted {
                        if let Some(entry) = document.get(&name)? {
                            found.insert(
                                name,
                                Found {
                                    value: entry.value().clone(),
                                    source: source.clone(),
                                },
                            );
                        }
                    }
                }
                LookupEntry::Provider(provider) => {
                    if several && crate::providers::find(provider).is_err() {
                        continue;
                    }
                    let answer = self.fetch(provider, &wanted)?;
                    for (key, value) in answer.values {
                        found.insert(
                            key,
                            Found {
                                value: value.into_secret(),
                                source: source.clone(),
                            },
                        );
                    }
                    if let Some((key, error)) = answer
                        .errors
                        .iter()
                        .find(|(_, e)| e.kind != ErrorKind::NotFound)
                    {
                        // The key is a secret's name, asked for along the chain.
                        return Err(Error::Provider(format!(
                            "provider {provider} could not look up {key}: {}{}",
                            error.kind,
                            error
                                .message
                                .as_deref()
                                .map(|m| format!(": {}", self.providers.redact(provider, m)))
                                .unwrap_or_default()
                        )));
                    }
                }
            }
        }
        Ok(found)
    }

    /// Which place of the lookup chain answered `secret:NAME` in the last `resolve_each`
    /// (`env`, `dotenv:PATH`, `vault` or a provider), for `vault check`.
    pub fn source_of(&self, name: &str) -> Option<&str> {
        self.sources.get(name).map(String::as_str)
    }

    /// Where the chain looks, for messages.
    pub fn chain_description(&self) -> String {
        self.lookup
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Resolves every binding, or fails on the first (in order) that cannot be resolved.
    pub fn resolve_all(&mut self, bindings: &[Binding]) -> Result<Vec<Resolved>> {
        let mut resolved = Vec::with_capacity(bindings.len());
        for (binding, outcome) in bindings.iter().zip(self.resolve_each(bindings)?) {
            let value = match outcome {
                Ok(value) => value,
                Err(Error::NotFound(_)) if binding.default.is_some() => {
                    SecretString::from(binding.default.clone().unwrap_or_default())
                }
                Err(Error::NotFound(_)) if !binding.required => continue,
                Err(e) => return Err(e),
            };
            resolved.push(Resolved {
                variable: binding.variable.clone(),
                value,
            });
        }
        Ok(resolved)
    }

    /// Each binding's value or why it has none, in order. A provider that fails as a whole
    /// (cannot start, times out) is an error of all of them at once.
    pub fn resolve_each(&mut self, bindings: &[Binding]) -> Result<Vec<Result<SecretString>>> {
        // Gather: one batched request per provider, one chain lookup for all secret: names.
        let mut per_provider: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut secret_names: Vec<String> = Vec::new();
        for binding in bindings {
            match &binding.reference {
                Reference::Provider { provider, key } => {
                    let keys = per_provider.entry(provider.clone()).or_default();
                    if !keys.contains(key) {
                        keys.push(key.clone());
                    }
                }
                Reference::Secret(name) if !secret_names.contains(name) => {
                    secret_names.push(name.clone())
                }
                _ => {}
            }
        }
        let mut answers: BTreeMap<String, GetOk> = BTreeMap::new();
        if !per_provider.is_empty() {
            let first_of = |provider: &str| -> &Binding {
                bindings
                    .iter()
                    .find(|b| matches!(&b.reference, Reference::Provider { provider: p, .. } if p == provider))
                    .expect("gathered from the bindings")
            };
            let failed = |provider: &str, e: Error| -> Error {
                let using: Vec<&Binding> = bindings
                    .iter()
                    .filter(|b| matches!(&b.reference, Reference::Provider { provider: p, .. } if p == provider))
                    .collect();
                let what = match using.len() {
                    0 | 1 => e.to_string(),
                    n => format!("{e} (and {} more variables from {provider})", n - 1),
                };
                match using.first() {
                    Some(first) => failure(first, e, &what),
                    None => e,
                }
            };
            let mut requests = BTreeMap::new();
            let mut cached = BTreeMap::new();
            for (provider, keys) in per_provider {
                let first = first_of(&provider);
                crate::providers::find(&provider).map_err(|e| failure(first, e, &format!(
                    "no provider named {provider} on PATH (secretsd-provider-{provider}){}; if this is a plain value, write it as literal:…",
                    crate::providers::missing_hint(&provider)
                )))?;
                let settings = self.cache_settings(&provider).map_err(|e| {
                    let what = e.to_string();
                    failure(first, e, &what)
                })?;
                // Answered by the cache alone (--offline, a preferred age): the provider
                // is not started, and its settings (a token…) are not even resolved.
                if let Some(answer) = self
                    .cache
                    .before(&provider, settings.as_ref(), &keys)
                    .map_err(|e| failed(&provider, e))?
                {
                    answers.insert(provider, answer);
                    continue;
                }
                let config = self.provider_config(&provider).map_err(|e| {
                    let what = e.to_string();
                    failure(first, e, &what)
                })?;
                cached.insert(provider.clone(), (settings, keys.clone()));
                requests.insert(provider, (config, keys));
            }
            // Taken before the requests go out: an answer is as old as its question.
            let asked = crate::cache::store::Asked::now();
            let results = self.providers.get_each(requests);
            let mut first_error = None;
            for (provider, result) in results {
                let (settings, keys) = &cached[&provider];
                match self
                    .cache
                    .after(&provider, settings.as_ref(), keys, asked, result)
                {
                    Ok(answer) => {
                        answers.insert(provider, answer);
                    }
                    Err(e) => {
                        first_error.get_or_insert_with(|| failed(&provider, e));
                    }
                }
            }
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        let mut found = if secret_names.is_empty() {
            BTreeMap::new()
        } else {
            self.lookup(&secret_names)?
        };
        let mut outcomes = Vec::with_capacity(bindings.len());
        for binding in bindings {
            outcomes.push(self.value_of(binding, &found, &answers));
        }
        self.sources = found
            .iter()
            .map(|(name, hit)| (name.clone(), hit.source.clone()))
            .collect();
        found.clear();
        Ok(outcomes)
    }

    /// One binding's value, from what the batched requests found.
    fn value_of(
        &self,
        binding: &Binding,
        found: &BTreeMap<String, Found>,
        answers: &BTreeMap<String, GetOk>,
    ) -> Result<SecretString> {
        {
            let value = match &binding.reference {
                Reference::Secret(name) => match found.get(name) {
                    Some(hit) => hit.value.clone(),
                    None => {
                        let places = self.chain_description();
                        return Err(failure(
                            binding,
                            Error::NotFound(String::new()),
                            &if places == "vault" {
                                "no such secret in the vault".to_string()
                            } else {
                                format!("no such secret in {places}")
                            },
                        ));
                    }
                },
                Reference::Provider { provider, key } => {
                    let answer = &answers[provider];
                    match (answer.values.get(key), answer.errors.get(key)) {
                        (Some(value), _) => value.clone().into_secret(),
                        (None, Some(error)) => {
                            let kind = if error.kind == ErrorKind::NotFound {
                                Error::NotFound(String::new())
                            } else {
                                Error::Provider(String::new())
                            };
                            let detail = error
                                .message
                                .as_deref()
                                .map(|m| format!(": {}", self.providers.redact(provider, m)))
                                .unwrap_or_default();
                            return Err(failure(
                                binding,
                                kind,
                                &format!("provider {provider} answered {}{detail}", error.kind),
                            ));
                        }
                        (None, None) => unreachable!("the client fills in unanswered keys"),
                    }
                }
                other => resolve_local(binding, other)?,
            };
            validate_value(&binding.variable, value.expose_secret()).map_err(|e| {
                failure(
                    binding,
                    e.into(),
                    "the value is not usable in an environment",
                )
            })?;
            Ok(value)
        }
    }
}

/// Where a provider setting's reference comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SettingOrigin {
    /// Written in `[providers.NAME]`.
    Configured,
    /// One of the provider's default references (`provider_defaults`).
    Default,
}

/// env:, file: and literal: references, which need nothing but this process.
fn resolve_local(binding: &Binding, reference: &Reference) -> Result<SecretString> {
    match reference {
        Reference::Env(var) => std::env::var(var).map(SecretString::from).map_err(|e| {
            // The variable is named by the reference, shown as errors show it.
            let why = match e {
                std::env::VarError::NotPresent => "it is not set in vault's environment",
                std::env::VarError::NotUnicode(_) => "its value is not UTF-8",
            };
            failure(binding, Error::NotFound(String::new()), why)
        }),
        Reference::File(path) => {
            let path = crate::paths::expand_home_text(path);
            let holding = if binding.private_file {
                file_reference::Holding::Private
            } else {
                file_reference::Holding::Named
            };
            let bytes = file_reference::read(&path, holding).map_err(|e| {
                let why = e.to_string();
                failure(binding, e, &why)
            })?;
            let text = std::str::from_utf8(&bytes).map_err(|_| {
                failure(
                    binding,
                    Error::BadData(String::new()),
                    "the file is not UTF-8",
                )
            })?;
            Ok(SecretString::from(
                crate::value::strip_one_newline(text).to_string(),
            ))
        }
        Reference::Literal(text) => Ok(SecretString::from(text.clone())),
        Reference::Secret(_) | Reference::Provider { .. } => {
            unreachable!("resolved through the vault or a provider")
        }
    }
}

#[cfg(test)]
mod tests;
