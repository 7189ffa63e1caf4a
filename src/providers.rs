//! Providers: finding `secretsd-provider-<name>` executables and running them for one
//! `vault` invocation — one process per provider, spawned on first use, several asked in
//! parallel. The protocol itself lives in the `secretsd-protocol` crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use secretsd_protocol::client::{ClientError, ClientOptions, ProviderProcess};
use secretsd_protocol::{Config, ErrorKind, GetOk, ListOk, SecretValue, executable_name};

use zeroize::Zeroizing;

use crate::config::ProvidersConfig;
use crate::error::{Error, Result};

pub use secretsd_protocol::is_provider_name;

/// Directories searched before PATH, from `VAULT_PROVIDER_PATH`.
fn provider_path() -> Vec<PathBuf> {
    absolute_dirs("VAULT_PROVIDER_PATH")
}

/// The absolute directories of a PATH-like variable. A relative one (`.`, an empty entry,
/// `bin`) names a different directory wherever vault runs: in a hostile checkout it would
/// start the checkout's own `secretsd-provider-openbao` and hand it the user's token. Go's
/// `exec.LookPath` refuses the same.
fn absolute_dirs(variable: &str) -> Vec<PathBuf> {
    std::env::var_os(variable)
        .map(|p| {
            std::env::split_paths(&p)
                .filter(|d| d.is_absolute())
                .collect()
        })
        .unwrap_or_default()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What `vault provider list` and the README call a provider whose name alone does not say
/// what it speaks to.
const TITLES: &[(&str, &str)] = &[("openbao", "OpenBao / HashiCorp Vault")];

pub fn title(name: &str) -> Option<&'static str> {
    TITLES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Names people reach for that are another provider's: HashiCorp Vault is spoken to by
/// `openbao`, whose API is also HashiCorp Vault's.
const ALIASES: &[(&[&str], &str)] = &[(
    &["vault", "hcvault", "hashicorp-vault", "bao"],
    "OpenBao and HashiCorp Vault are the provider openbao: write openbao:MOUNT/PATH#FIELD",
)];

/// What to add to "no provider named `name`": the provider meant, if `name` is an alias.
pub fn missing_hint(name: &str) -> String {
    ALIASES
        .iter()
        .find(|(names, _)| names.contains(&name))
        .map(|(_, hint)| format!("; {hint}"))
        .unwrap_or_default()
}

/// Where provider `name` is: `VAULT_PROVIDER_PATH`, then `PATH`.
pub fn find(name: &str) -> Result<PathBuf> {
    let executable = executable_name(name);
    for dir in search_dirs() {
        let candidate = dir.join(&executable);
        if is_executable(&candidate) {
            return trusted_executable(&candidate);
        }
    }
    // A provider that is not there is a provider failure (exit 5), not a missing key.
    Err(Error::Provider(format!(
        "no provider named {name} on PATH ({executable} was not found in the absolute directories of $VAULT_PROVIDER_PATH or $PATH){}",
        missing_hint(name)
    )))
}

/// The real path of the provider executable at `path`, held to what vault holds its own
/// files to (`strict::real_checked`): one another user owns or could replace — it, a
/// directory above it, a link on the way — is refused, as vault sends a provider its
/// configuration, tokens included.
pub fn trusted_executable(path: &Path) -> Result<PathBuf> {
    crate::store::strict::real_checked(path, "provider")?
        .ok_or_else(|| Error::Provider(format!("the provider {} has gone", path.display())))
}

/// The directories the providers [`discover`] finds are in, in search order, each once
/// and canonical: what a systemd unit names as its `VAULT_PROVIDER_PATH`, since systemd's
/// own `PATH` knows nothing of the shell's (`~/.cargo/bin` after a user install).
pub fn directories() -> Vec<PathBuf> {
    let found: Vec<PathBuf> = discover()
        .into_values()
        .map(|path| crate::store::fs::parent_dir(&path))
        .collect();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for dir in search_dirs().into_iter().filter(|d| found.contains(d)) {
        let real = std::fs::canonicalize(&dir).unwrap_or(dir);
        if !dirs.contains(&real) {
            dirs.push(real);
        }
    }
    dirs
}

/// Where providers are looked for: `VAULT_PROVIDER_PATH`, then `PATH`.
fn search_dirs() -> Vec<PathBuf> {
    provider_path()
        .into_iter()
        .chain(absolute_dirs("PATH"))
        .collect()
}

/// Every provider that can be found, first found wins per name.
pub fn discover() -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    for dir in search_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        // Only providers' names are kept (and sorted): a directory such as /usr/bin holds
        // thousands of others, and completion runs this on every TAB.
        let mut names: Vec<(String, PathBuf)> = entries
            .flatten()
            .filter_map(|entry| {
                let file_name = entry.file_name();
                let name = file_name.to_str()?.strip_prefix("secretsd-provider-")?;
                is_provider_name(name).then(|| (name.to_string(), entry.path()))
            })
            .collect();
        names.sort();
        for (name, path) in names {
            if is_executable(&path) {
                found.entry(name).or_insert(path);
            }
        }
    }
    found
}

/// What kind of failure `error` is to the cache: an outage (the provider could not start,
/// timed out, died, or answered `unavailable`), a denial, or another answer that stands.
pub fn failure_kind(error: &ClientError) -> crate::cache::FailureKind {
    use crate::cache::FailureKind;
    match error {
        ClientError::Spawn { .. } | ClientError::Timeout { .. } | ClientError::Exited { .. } => {
            FailureKind::Outage
        }
        _ => match error.kind() {
            Some(ErrorKind::Unavailable) => FailureKind::Outage,
            Some(ErrorKind::Denied) => FailureKind::Denied,
            _ => FailureKind::Other,
        },
    }
}

/// Turns a protocol client error into a vault error (exit 5, or 3 for not-found).
pub fn client_error(error: ClientError) -> Error {
    match error.kind() {
        Some(ErrorKind::NotFound) => Error::NotFound(error.to_string()),
        _ => Error::Provider(error.to_string()),
    }
}

/// The shortest text taken out of a provider's messages: shorter ones would garble every
/// message they occur in, for little to hide.
const REDACT_MIN_CHARS: usize = 4;

/// Text sent to one provider that may be a secret, to take out of what it says back: a
/// provider that echoes its request in an error ("no entry hunter2", "bad token ey…")
/// would otherwise put it in vault's message, and from there in a terminal or a journal.
#[derive(Default)]
struct Sent(Vec<Zeroizing<String>>);

impl Sent {
    /// Whether `text` is long enough to be taken out of messages (and so was noted).
    fn add(&mut self, text: &str) -> bool {
        let noted = text.chars().count() >= REDACT_MIN_CHARS;
        if noted {
            self.0.push(Zeroizing::new(text.to_string()));
        }
        noted
    }

    /// `process`, told to take what was noted before it started (keys, configuration
    /// values) out of what it says on stderr.
    fn hidden_from(&self, process: ProviderProcess) -> ProviderProcess {
        for text in &self.0 {
            process.hide(text);
        }
        process
    }

    /// `text` with every occurrence of what was sent replaced by `…`, longest first.
    fn redact(&self, text: &str) -> String {
        secretsd_protocol::client::without_sent(text, &self.0)
    }
}

/// The provider processes of one vault invocation.
pub struct Providers {
    options: ClientOptions,
    running: BTreeMap<String, ProviderProcess>,
    /// Per provider, what may be a secret among what it was sent (see [`Sent`]).
    sent: BTreeMap<String, Sent>,
    /// Providers that broke off a request (hung, crashed, printed garbage): that failure
    /// was the error, so how they end is no news.
    broken: BTreeSet<String>,
}

/// Whether `error` means the provider broke off (rather than answering with an error).
fn broke_off(error: &ClientError) -> bool {
    error.kind().is_none()
}

/// How this vault runs providers, from `[providers]` in its configuration.
pub fn client_options(config: &ProvidersConfig, show_stderr: bool) -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_secs(config.timeout_seconds.max(1)),
        max_line_bytes: config.max_response_mib.clamp(1, 4096) * 1024 * 1024,
        show_stderr,
        ..ClientOptions::default()
    }
}

/// `options` for provider `name`: its environment with the locators its row of
/// `provider_defaults` passes on.
pub fn options_for(name: &str, options: &ClientOptions) -> ClientOptions {
    let mut options = options.clone();
    options
        .env
        .extend(crate::provider_defaults::environment(name));
    options
}

impl Providers {
    pub fn new(config: &ProvidersConfig, show_stderr: bool) -> Self {
        Providers {
            options: client_options(config, show_stderr),
            running: BTreeMap::new(),
            sent: BTreeMap::new(),
            broken: BTreeSet::new(),
        }
    }

    fn spawn(name: &str, options: &ClientOptions) -> Result<ProviderProcess> {
        Self::spawn_classified(name, options).map_err(|f| f.error)
    }

    /// [`Providers::spawn`], saying whether a failure was an outage: one that is found,
    /// trusted and then cannot start or hangs is; one not found or not trusted is not.
    fn spawn_classified(
        name: &str,
        options: &ClientOptions,
    ) -> std::result::Result<ProviderProcess, crate::cache::Failure> {
        use crate::cache::{Failure, FailureKind};
        let path = find(name).map_err(|error| Failure {
            error,
            kind: FailureKind::Other,
        })?;
        let process =
            ProviderProcess::spawn(name, &path, options_for(name, options)).map_err(|e| {
                Failure {
                    kind: failure_kind(&e),
                    error: client_error(e),
                }
            })?;
        // An executable that says it is another provider is misinstalled or misnamed; its
        // answers would be taken for the wrong backend's.
        if process.hello().provider != name {
            return Err(Failure {
                kind: FailureKind::Other,
                error: Error::Provider(format!(
                    "{} introduced itself as provider {}, not {name}; a provider's hello must name it as its executable does (secretsd-provider-NAME)",
                    path.display(),
                    crate::names::printable(&process.hello().provider, true)
                )),
            });
        }
        Ok(process)
    }

    /// Notes `text`, sent or about to be sent to provider `name`, as possibly secret: it is
    /// taken out of that provider's messages. For configuration values that came from a
    /// reference; keys and values of requests are noted by the requests themselves.
    pub fn note_sent(&mut self, name: &str, text: &str) {
        let sent = self.sent.entry(name.to_string()).or_default();
        if sent.add(text)
            && let Some(process) = self.running.get(name)
        {
            process.hide(text);
        }
    }

    /// What provider `name` was sent or is to be sent that may be a secret (see [`Sent`]),
    /// for a process started outside `Providers` (the conformance kit's).
    pub fn sent_to(&self, name: &str) -> Vec<Zeroizing<String>> {
        self.sent
            .get(name)
            .map(|sent| sent.0.clone())
            .unwrap_or_default()
    }

    /// `text`, something provider `name` said, without what it was sent (see [`Sent`]).
    pub fn redact(&self, name: &str, text: &str) -> String {
        match self.sent.get(name) {
            Some(sent) => sent.redact(text),
            None => text.to_string(),
        }
    }

    /// A client error as a vault error, with what the provider was sent taken out of it.
    fn error(&self, name: &str, error: ClientError) -> Error {
        match client_error(error) {
            Error::NotFound(message) => Error::NotFound(self.redact(name, &message)),
            Error::Provider(message) => Error::Provider(self.redact(name, &message)),
            other => other,
        }
    }

    /// The running process of `name`, started on first use.
    pub fn process(&mut self, name: &str) -> Result<&mut ProviderProcess> {
        if !self.running.contains_key(name) {
            let mut process = Self::spawn(name, &self.options)?;
            if let Some(sent) = self.sent.get(name) {
                process = sent.hidden_from(process);
            }
            self.running.insert(name.to_string(), process);
        }
        Ok(self.running.get_mut(name).expect("inserted above"))
    }

    /// One batched `get` per provider, the providers asked in parallel: each provider's
    /// answer, or its failure and whether that was an outage (see [`failure_kind`]).
    pub fn get_each(
        &mut self,
        requests: BTreeMap<String, (Config, Vec<String>)>,
    ) -> BTreeMap<String, std::result::Result<GetOk, crate::cache::Failure>> {
        use crate::cache::Failure;
        /// A provider's name, its process (if it started) and its answer.
        type Outcome = (
            String,
            Option<ProviderProcess>,
            std::result::Result<GetOk, ClientError>,
        );
        for (name, (_, keys)) in &requests {
            for key in keys {
                self.note_sent(name, key);
            }
        }
        let options = self.options.clone();
        type Work = (String, Option<ProviderProcess>, Config, Vec<String>, Sent);
        let mut work: Vec<Work> = requests
            .into_iter()
            .map(|(name, (config, keys))| {
                let process = self.running.remove(&name);
                let noted = Sent(
                    self.sent
                        .get(&name)
                        .map(|s| s.0.clone())
                        .unwrap_or_default(),
                );
                (name, process, config, keys, noted)
            })
            .collect();
        let outcomes: Vec<std::result::Result<Outcome, (String, Failure)>> =
            std::thread::scope(|scope| {
                let handles: Vec<_> = work
                    .drain(..)
                    .map(|(name, process, config, keys, noted)| {
                        let options = &options;
                        scope.spawn(move || {
                            let mut process = match process {
                                Some(p) => p,
                                None => match Self::spawn_classified(&name, options) {
                                    Ok(p) => noted.hidden_from(p),
                                    Err(e) => return Err((name, e)),
                                },
                            };
                            let result = process.get(&config, &keys);
                            Ok((name, Some(process), result))
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a provider thread panicked"))
                    .collect()
            });
        let mut answers = BTreeMap::new();
        for outcome in outcomes {
            let (name, process, result) = match outcome {
                Ok(outcome) => outcome,
                Err((name, failure)) => {
                    let failure = Failure {
                        error: self.redacted(&name, failure.error),
                        kind: failure.kind,
                    };
                    answers.insert(name, Err(failure));
                    continue;
                }
            };
            if let Some(process) = process {
                self.running.insert(name.clone(), process);
            }
            let answer = self.classified(&name, result);
            answers.insert(name, answer);
        }
        answers
    }

    /// A request's result as vault's, with what kind of failure it was.
    fn classified<T>(
        &mut self,
        name: &str,
        result: std::result::Result<T, ClientError>,
    ) -> std::result::Result<T, crate::cache::Failure> {
        result.map_err(|e| {
            let kind = failure_kind(&e);
            if broke_off(&e) {
                self.broken.insert(name.to_string());
            }
            crate::cache::Failure {
                error: self.error(name, e),
                kind,
            }
        })
    }

    /// `error` with what provider `name` was sent taken out of it.
    fn redacted(&self, name: &str, error: Error) -> Error {
        match error {
            Error::NotFound(message) => Error::NotFound(self.redact(name, &message)),
            Error::Provider(message) => Error::Provider(self.redact(name, &message)),
            other => other,
        }
    }

    /// One `get`, with what kind of failure it was (for the cache).
    pub fn get_classified(
        &mut self,
        name: &str,
        config: &Config,
        keys: &[String],
    ) -> std::result::Result<GetOk, crate::cache::Failure> {
        for key in keys {
            self.note_sent(name, key);
        }
        if !self.running.contains_key(name) {
            let mut process =
                Self::spawn_classified(name, &self.options).map_err(|f| crate::cache::Failure {
                    error: self.redacted(name, f.error),
                    kind: f.kind,
                })?;
            if let Some(sent) = self.sent.get(name) {
                process = sent.hidden_from(process);
            }
            self.running.insert(name.to_string(), process);
        }
        let result = self
            .running
            .get_mut(name)
            .expect("inserted above")
            .get(config, keys);
        self.classified(name, result)
    }

    /// A request's result as vault's: a provider that broke off is noted (see `broken`),
    /// and what it was sent is taken out of its error.
    fn noted<T>(&mut self, name: &str, result: std::result::Result<T, ClientError>) -> Result<T> {
        result.map_err(|e| {
            if broke_off(&e) {
                self.broken.insert(name.to_string());
            }
            self.error(name, e)
        })
    }

    pub fn get(&mut self, name: &str, config: &Config, keys: &[String]) -> Result<GetOk> {
        for key in keys {
            self.note_sent(name, key);
        }
        let result = self.process(name)?.get(config, keys);
        self.noted(name, result)
    }

    pub fn list(&mut self, name: &str, config: &Config, prefix: Option<&str>) -> Result<ListOk> {
        let result = self.process(name)?.list(config, prefix);
        self.noted(name, result)
    }

    pub fn set(
        &mut self,
        name: &str,
        config: &Config,
        key: &str,
        value: SecretValue,
    ) -> Result<()> {
        self.note_sent(name, key);
        self.note_sent(name, value.expose());
        let result = self.process(name)?.set(config, key, value);
        self.noted(name, result)
    }

    pub fn delete(&mut self, name: &str, config: &Config, key: &str) -> Result<()> {
        self.note_sent(name, key);
        let result = self.process(name)?.delete(config, key);
        self.noted(name, result)
    }

    /// Closes every provider's stdin, then waits for each to exit (so they exit in
    /// parallel, and none is left for a command that replaces vault to inherit). Returns
    /// what providers that answered every request did wrong on the way out — exiting
    /// non-zero, or lingering past the grace and being stopped — which fails nothing
    /// (SPEC §5); the caller says so. A provider that broke off a request was that
    /// request's error already: how it then ends (usually stopped by vault) is no news,
    /// and saying its answers were complete would be false.
    pub fn close(&mut self) -> Vec<String> {
        let mut running = std::mem::take(&mut self.running);
        for process in running.values_mut() {
            process.close_stdin();
        }
        let broken = std::mem::take(&mut self.broken);
        running
            .into_iter()
            .filter_map(|(name, process)| {
                let error = process.close().err()?;
                (!broken.contains(&name)).then(|| {
                    format!(
                        "{} (it had answered every request in full before, so this fails nothing)",
                        self.redact(&name, &error.to_string())
                    )
                })
            })
            .collect()
    }
}

impl Drop for Providers {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_sent_is_taken_out_longest_first_and_short_text_is_left() {
        let mut sent = Sent::default();
        for text in ["hunter2", "hunter2-long", "ab"] {
            sent.add(text);
        }
        assert_eq!(
            sent.redact("no hunter2-long, no hunter2, ab"),
            "no …, no …, ab"
        );
    }
}
