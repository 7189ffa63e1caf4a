//! Providers: finding `secretsd-provider-<name>` executables and running them for one
//! `vault` invocation — one process per provider, spawned on first use, several asked in
//! parallel. The protocol itself lives in the `secretsd-protocol` crate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use secretsd_protocol::client::{ClientError, ClientOptions, ProviderProcess};
use secretsd_protocol::{Config, ErrorKind, GetOk, ListOk, SecretValue, executable_name};

use crate::config::ProvidersConfig;
use crate::error::{Error, Result};

pub use secretsd_protocol::is_provider_name;

/// Directories searched before PATH, from `VAULT_PROVIDER_PATH`.
fn provider_path() -> Vec<PathBuf> {
    std::env::var_os("VAULT_PROVIDER_PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .filter(|d| !d.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Where provider `name` is: `VAULT_PROVIDER_PATH`, then `PATH`.
pub fn find(name: &str) -> Result<PathBuf> {
    let executable = executable_name(name);
    for dir in provider_path() {
        let candidate = dir.join(&executable);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    // A provider that is not there is a provider failure (exit 5), not a missing key.
    which::which(&executable).map_err(|_| {
        Error::Provider(format!(
            "no provider named {name} on PATH ({executable} was not found in $VAULT_PROVIDER_PATH or $PATH)"
        ))
    })
}

/// Every provider that can be found, first found wins per name.
pub fn discover() -> BTreeMap<String, PathBuf> {
    let mut found = BTreeMap::new();
    let path_dirs = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    for dir in provider_path().into_iter().chain(path_dirs) {
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

/// Turns a protocol client error into a vault error (exit 5, or 3 for not-found).
pub fn client_error(error: ClientError) -> Error {
    match error.kind() {
        Some(ErrorKind::NotFound) => Error::NotFound(error.to_string()),
        _ => Error::Provider(error.to_string()),
    }
}

/// The provider processes of one vault invocation.
pub struct Providers {
    options: ClientOptions,
    running: BTreeMap<String, ProviderProcess>,
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

impl Providers {
    pub fn new(config: &ProvidersConfig, show_stderr: bool) -> Self {
        Providers {
            options: client_options(config, show_stderr),
            running: BTreeMap::new(),
            broken: BTreeSet::new(),
        }
    }

    fn spawn(name: &str, options: &ClientOptions) -> Result<ProviderProcess> {
        let path = find(name)?;
        let process = ProviderProcess::spawn(name, &path, options.clone()).map_err(client_error)?;
        // An executable that says it is another provider is misinstalled or misnamed; its
        // answers would be taken for the wrong backend's.
        if process.hello().provider != name {
            return Err(Error::Provider(format!(
                "{} introduced itself as provider {}, not {name}; a provider's hello must name it as its executable does (secretsd-provider-NAME)",
                path.display(),
                crate::names::printable(&process.hello().provider, true)
            )));
        }
        Ok(process)
    }

    /// The running process of `name`, started on first use.
    pub fn process(&mut self, name: &str) -> Result<&mut ProviderProcess> {
        if !self.running.contains_key(name) {
            let process = Self::spawn(name, &self.options)?;
            self.running.insert(name.to_string(), process);
        }
        Ok(self.running.get_mut(name).expect("inserted above"))
    }

    /// One batched `get` per provider, the providers asked in parallel. A failure comes
    /// with the name of the provider that failed.
    pub fn get_many(
        &mut self,
        requests: BTreeMap<String, (Config, Vec<String>)>,
    ) -> std::result::Result<BTreeMap<String, GetOk>, (String, Error)> {
        type Outcome = (String, Option<ProviderProcess>, Result<GetOk>, bool);
        let options = self.options.clone();
        let mut work: Vec<(String, Option<ProviderProcess>, Config, Vec<String>)> = requests
            .into_iter()
            .map(|(name, (config, keys))| {
                let process = self.running.remove(&name);
                (name, process, config, keys)
            })
            .collect();
        let outcomes: Vec<Outcome> = std::thread::scope(|scope| {
            let handles: Vec<_> = work
                .drain(..)
                .map(|(name, process, config, keys)| {
                    let options = &options;
                    scope.spawn(move || {
                        let mut process = match process {
                            Some(p) => p,
                            None => match Self::spawn(&name, options) {
                                Ok(p) => p,
                                Err(e) => return (name, None, Err(e), false),
                            },
                        };
                        let result = process.get(&config, &keys);
                        let broken = result.as_ref().is_err_and(broke_off);
                        (name, Some(process), result.map_err(client_error), broken)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a provider thread panicked"))
                .collect()
        });
        let mut answers = BTreeMap::new();
        let mut first_error = None;
        for (name, process, result, broken) in outcomes {
            if let Some(process) = process {
                self.running.insert(name.clone(), process);
            }
            if broken {
                self.broken.insert(name.clone());
            }
            match result {
                Ok(answer) => {
                    answers.insert(name, answer);
                }
                Err(e) => {
                    first_error.get_or_insert((name, e));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(answers),
        }
    }

    /// Notes a provider that broke off a request (see `broken`).
    fn noted<T>(&mut self, name: &str, result: std::result::Result<T, ClientError>) -> Result<T> {
        if result.as_ref().is_err_and(broke_off) {
            self.broken.insert(name.to_string());
        }
        result.map_err(client_error)
    }

    pub fn get(&mut self, name: &str, config: &Config, keys: &[String]) -> Result<GetOk> {
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
        let result = self.process(name)?.set(config, key, value);
        self.noted(name, result)
    }

    pub fn delete(&mut self, name: &str, config: &Config, key: &str) -> Result<()> {
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
                        "{error} (it had answered every request in full before, so this fails nothing)"
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
