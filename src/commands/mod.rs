//! The subcommands. This layer owns everything the user sees: output, notes, prompts.

pub mod agent;
pub mod backup;
pub mod cache;
pub mod crud;
pub mod edit;
pub mod exec;
pub mod git;
pub mod group;
pub mod init;
pub mod io;
pub mod mcp;
pub mod overlay;
mod plugin_prompt;
pub mod provider;
pub mod recipients;
pub mod rotate;
pub mod scan;
pub mod status;
pub mod sync;
pub mod systemd;
pub mod trust;
pub mod watch;

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use crate::cli::{Cli, Command, GlobalArgs};
use crate::config::Config;
use crate::error::{Error, Result, exit};
use crate::paths::{self, Located};
use crate::store::identity::{self, Identities};
use crate::store::{KeySource, Vault, strict::check_private_file};
use secretsd_store::error::Result as StoreResult;

/// Runs the parsed command line; returns the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    // --file-dir files left by a vault killed together with its keeper go now.
    crate::secret_files::remove_stale_recorded();
    crate::store::plugin_ui::set_plugin_prompt(Box::new(plugin_prompt::TerminalPrompt));
    let starts_command = matches!(
        cli.command,
        Command::Exec(_) | Command::Run(_) | Command::Agent(crate::cli::AgentCommand::Exec { .. })
    );
    // As an AI agent under a grant: nothing below opens the vault or reads an identity.
    let result = match agent::grant_key(&cli) {
        Some(key) => agent::as_agent(cli, key),
        None => dispatch(cli),
    };
    if starts_command {
        result.map_err(Error::before_command)
    } else {
        result
    }
}

fn dispatch(cli: Cli) -> Result<u8> {
    let mut global = cli.global;
    // `vault run` is made for ExecStart=: it never waits for a person.
    if matches!(cli.command, Command::Run(_)) {
        global.no_input = true;
    }
    let context = Context::new(global)?;
    match cli.command {
        Command::Init(args) => init::run(&context, &args),
        Command::Set(args) => crud::set(&context, &args),
        Command::Edit(args) => edit::edit(&context, &args),
        Command::Get(args) => crud::get(&context, &args),
        Command::List(args) => crud::list(&context, &args),
        Command::Exists(args) => crud::exists(&context, &args),
        Command::Rm(args) => crud::rm(&context, &args),
        Command::Mv(args) => crud::mv(&context, &args),
        Command::Recipients(command) => recipients::run(&context, &command),
        Command::Group(command) => group::run(&context, &command),
        Command::Exec(args) => exec::exec(&context, &args),
        Command::Run(args) => exec::run(&context, &args),
        Command::Check(args) => exec::check(&context, &args),
        Command::Import(args) => io::import(&context, &args),
        Command::Export(args) => io::export(&context, &args),
        Command::Backup(args) => backup::backup(&context, &args),
        Command::Restore(args) => backup::restore(&context, &args),
        Command::Rotate(args) => rotate::rotate(&context, &args),
        Command::CheckServices(args) => rotate::check_services(&context, &args),
        Command::Sync(args) => sync::run(&context, &args),
        Command::Status(args) => status::run(&context, &args),
        Command::Systemd(command) => systemd::run(&context, &command),
        Command::Provider(command) => provider::run(&context, &command),
        Command::Cache(command) => cache::run(&context, &command),
        Command::Scan(args) => scan::scan(&context, &args),
        Command::Git(command) => git::run(&context, &command),
        Command::Verify {
            accept,
            accept_content,
            rebind,
        } => trust::verify(
            &context,
            trust::Accepting {
                accept: accept || accept_content || rebind,
                content: accept_content,
                rebind,
            },
        ),
        Command::Owners(command) => trust::owners(&context, &command),
        Command::Renew { max_age, no_expiry } => {
            trust::renew(&context, max_age.as_deref(), no_expiry)
        }
        Command::Identity(command) => init::identity(&context, &command),
        Command::Diff { reference } => git::diff(&context, &reference),
        Command::Merge(args) => git::resolve(&context, &args),
        Command::Completions { shell } => print_stdout(&shell.script()).map(|()| exit::OK),
        Command::Agent(command) => agent::run(&context, &command),
        Command::Mcp(_) => Err(Error::LockedOut(
            "vault mcp runs only under a grant: give --grant KEY or set VAULT_GRANT (vault agent grant prints the key's path; vault agent connect configures an agent host)".into(),
        )),
    }
}

/// What every command needs: the global options, the located files and the configuration.
pub struct Context {
    pub global: GlobalArgs,
    pub vault_location: Located,
    pub config_location: Located,
    pub config: Config,
    /// The active profile (`--profile`, `VAULT_PROFILE`), already applied to `config`.
    pub profile: Option<String>,
    /// This user as a writer, once known (see [`Context::own`]).
    pub own: trust::OwnSlot,
    /// What the command line says of the offline cache (`--offline`…), set by the
    /// commands that take those options.
    pub cache_flags: std::cell::OnceCell<crate::cache::Flags>,
    /// What the last resolution did with the cache (see [`CacheOutcome`]).
    pub cache_outcome: std::cell::RefCell<CacheOutcome>,
}

/// What the last resolution of this invocation did with the offline cache, for `run
/// --watch`: which values it served from the cache, which providers answered `denied`.
#[derive(Default, Clone)]
pub struct CacheOutcome {
    /// Per provider, the keys served from the cache (by the last resolution that succeeded).
    pub served: std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
    /// Providers that answered `denied` in the last resolution.
    pub denied: std::collections::BTreeSet<String>,
}

impl Context {
    pub fn new(global: GlobalArgs) -> Result<Self> {
        let mut vault_location = paths::vault_file(global.vault.as_deref())?;
        let config_location = paths::config_file(global.config.as_deref())?;
        let mut config = Config::load(&config_location)?;
        let profile = global.profile.clone().or_else(|| {
            std::env::var("VAULT_PROFILE")
                .ok()
                .filter(|p| !p.trim().is_empty())
        });
        if let Some(name) = &profile {
            let (applied, chosen) =
                config.with_profile(name, &config_location.path.display().to_string())?;
            config = applied;
            // The profile's vault, unless --vault or VAULT_FILE says otherwise.
            if let (Some(path), paths::Source::Default) = (chosen.vault, vault_location.source) {
                vault_location = Located {
                    path: paths::expand_home(&path),
                    source: paths::Source::Profile,
                };
            }
        }
        let context = Context {
            global,
            vault_location,
            config_location,
            config,
            profile,
            own: Default::default(),
            cache_flags: Default::default(),
            cache_outcome: Default::default(),
        };
        let retired = context.config.security.retired();
        if !retired.is_empty() {
            context.note(&format!(
                "warning: [security] {} in {} no longer decides anything: every vault is signed, and who may write is its membership (owners pin with [security.vaults]); remove it",
                retired.join(" and "),
                context.config_location.path.display()
            ));
        }
        context.explain(&format!(
            "vault file {} (from {})",
            context.vault_location.path.display(),
            context.vault_location.source
        ));
        Ok(context)
    }

    /// The vault, for a command that reads values or writes: only a version this machine
    /// trusts is used (see `commands::trust`).
    pub fn vault(&self) -> Vault {
        self.vault_with(trust::Trust::new(self, trust::Purpose::Values))
    }

    /// The vault, for a command that reads only names (`list`, completion): a
    /// version this machine does not trust is read with a warning.
    pub fn vault_for_names(&self) -> Vault {
        self.vault_with(trust::Trust::new(self, trust::Purpose::Names))
    }

    pub fn vault_with(&self, guard: std::sync::Arc<trust::Trust>) -> Vault {
        Vault::new(&self.vault_location.path)
            .with_lock_wait(self.lock_wait())
            .with_backups(self.config.backup.enabled)
            .with_guard(guard)
    }

    /// This user as a writer: the key their writes are signed with, and their recipient.
    pub fn own(&self) -> Option<&crate::store::identity::Own> {
        if self.own.get().is_none()
            && matches!(
                paths::IdentitySource::find(
                    self.global.identity.as_deref(),
                    crate::process::identity_key().is_some()
                ),
                Ok(paths::IdentitySource::Command(_))
            )
        {
            // The identity is only in the command's output: running it (once) sets this
            // user's writer. A failing command leaves none, and says why when asked again.
            let _ = self.identities();
        }
        self.own
            .get_or_init(|| {
                let identity = self.identity_location().ok().map(|l| l.path);
                trust::load_own(identity.as_deref())
            })
            .as_ref()
    }

    /// Makes this user a writer key (`writer.key`) when nothing gives them one — a
    /// passphrase vault used with no identity — for what only they may vouch for later:
    /// the files kept with a backup, the values typed in a stopped merge. Called before
    /// anything asks for [`Context::own`].
    pub fn ensure_writer_key(&self) -> Result<()> {
        if self.own.get().is_some() {
            return Ok(());
        }
        if matches!(
            paths::IdentitySource::find(
                self.global.identity.as_deref(),
                crate::process::identity_key().is_some()
            ),
            Ok(paths::IdentitySource::Command(_))
        ) || trust::load_own(self.identity_location().ok().map(|l| l.path).as_deref()).is_some()
        {
            return Ok(());
        }
        let path = paths::writer_key_file()?;
        // One that is there but unusable is named, never replaced.
        crate::store::identity::writer_key_from_file(&path)?;
        crate::store::identity::create_writer_key(&path)?;
        self.note(&format!(
            "you have no identity to sign with, so what only you may vouch for is signed with a new writer key in {}: keep it",
            path.display()
        ));
        Ok(())
    }

    /// How writes wait for another writer: `[lock] timeout_seconds`, saying so after a
    /// second unless `--quiet`.
    pub fn lock_wait(&self) -> crate::store::fs::LockWait {
        let quiet = self.global.quiet;
        crate::store::fs::LockWait {
            timeout: std::time::Duration::from_secs(self.config.lock.timeout_seconds),
            on_wait: Some(std::sync::Arc::new(move |holder: &str| {
                if !quiet {
                    print_stderr(&format!("waiting for the lock held by {holder}…"));
                }
            })),
        }
    }

    pub fn identity_location(&self) -> Result<Located> {
        Ok(paths::identity_file(self.global.identity.as_deref())?)
    }

    /// A confirmation or note on stderr, unless `--quiet`.
    pub fn note(&self, message: &str) {
        if !self.global.quiet {
            print_stderr(message);
        }
    }

    /// Detail shown only with `--verbose`.
    pub fn explain(&self, message: &str) {
        if self.global.verbose {
            print_stderr(message);
        }
    }

    /// Runs `work` with a resolver for this invocation: the vault opened at most once,
    /// each provider started at most once.
    pub fn with_resolver<T>(
        &self,
        work: impl FnOnce(&mut crate::resolve::Resolver<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut open_vault = || {
            let mut document = self.vault().open(self)?.document;
            let withheld = overlay::overlay_document(self, &mut document)?;
            overlay::explain_withheld(self, &withheld);
            Ok(document)
        };
        let mut resolver =
            crate::resolve::Resolver::new(&mut open_vault, &self.config, self.global.verbose)?
                .with_cache(self.cache()?);
        let result = work(&mut resolver);
        // Which values came from the cache, how old: said whatever -q says.
        for notice in resolver.cache().take_notices() {
            print_stderr(&notice);
        }
        {
            let mut outcome = self.cache_outcome.borrow_mut();
            outcome.denied = resolver.cache().denied().clone();
            if result.is_ok() {
                outcome.served = resolver.cache().served().clone();
            }
        }
        // Also when `work` failed: a wrong token is found by where it came from.
        for line in resolver.explanations() {
            self.explain(line);
        }
        for warning in resolver.providers().close() {
            print_stderr(&format!("warning: {warning}"));
        }
        result
    }

    /// Takes the command line's say on the offline cache (`--offline`…).
    pub fn use_cache_args(&self, args: &crate::cli::CacheArgs) {
        let _ = self.cache_flags.set(crate::cache::Flags {
            offline: args.offline,
            max_age: args.cache_max_age,
            prefer: args.prefer_cache,
        });
    }

    /// The offline cache for this invocation: on when a provider sets `cache` and the
    /// identity derives a key (see `cache::key`), with the command line's flags.
    pub fn cache(&self) -> Result<crate::cache::Cache> {
        let flags = self.cache_flags.get().cloned().unwrap_or_default();
        let cap = self.config.providers.cache_cap()?;
        let store = if self.config.providers.any_cached() {
            self.cache_key()
                .and_then(|key| crate::cache::Store::new(key).map_err(|e| e.to_string()))
        } else {
            Err("no provider sets cache".to_string())
        };
        Ok(crate::cache::Cache::new(
            store,
            flags,
            self.profile.clone(),
            cap,
        ))
    }

    /// The cache's machine key, from a native X25519 identity, or why there is none.
    pub fn cache_key(&self) -> std::result::Result<crate::cache::MachineKey, String> {
        let any = self.config.providers.cache_any_identity;
        let enable = "set [providers] cache_any_identity = true to cache with it (see SECURITY.md for what is weaker)";
        let text = match paths::IdentitySource::find(
            self.global.identity.as_deref(),
            crate::process::identity_key().is_some(),
        )
        .map_err(|e| e.to_string())?
        {
            paths::IdentitySource::File(location) => {
                crate::store::strict::check_private_file(&location.path, "identity file")
                    .map_err(|e| e.to_string())?;
                let text = std::fs::read_to_string(&location.path).map_err(|e| {
                    format!(
                        "the identity {} cannot be read: {e}",
                        location.path.display()
                    )
                })?;
                zeroize::Zeroizing::new(text)
            }
            paths::IdentitySource::Key if !any => {
                return Err(format!(
                    "the identity is in $VAULT_IDENTITY_KEY, as in CI, where it is shared by whatever holds the variable; {enable}"
                ));
            }
            paths::IdentitySource::Key => zeroize::Zeroizing::new(
                crate::process::identity_key()
                    .unwrap_or_default()
                    .to_string(),
            ),
            paths::IdentitySource::Command(_) if !any => {
                return Err(format!(
                    "the identity comes from $VAULT_IDENTITY_COMMAND, which would be run again for the cache; {enable}"
                ));
            }
            paths::IdentitySource::Command(command) => {
                let output = self
                    .secret_command(&command, "VAULT_IDENTITY_COMMAND")
                    .map_err(|e| e.to_string())?;
                zeroize::Zeroizing::new(String::from_utf8_lossy(&output).into_owned())
            }
        };
        match crate::cache::MachineKey::from_text(&text) {
            Some(key) => key.map_err(|e| e.to_string()),
            None => Err("the identity is not a native age X25519 identity (an SSH key, or a plugin's such as a YubiKey's), from which no key to authenticate cache entries can be derived".to_string()),
        }
    }

    /// Whether the lookup chain is the default: the vault alone.
    pub fn vault_only_lookup(&self) -> bool {
        self.config.lookup.order == ["vault"]
    }

    /// Whether vault may ask the user something.
    pub fn can_prompt(&self) -> bool {
        !self.global.no_input && std::io::stdin().is_terminal()
    }

    /// Why vault may not prompt, for error messages.
    pub fn why_no_prompt(&self) -> &'static str {
        if self.global.no_input {
            "--no-input was given"
        } else {
            "stdin is not a terminal"
        }
    }

    /// Asks for a hidden answer on the terminal.
    pub fn prompt_hidden(&self, prompt: &str) -> Result<SecretString> {
        rpassword::prompt_password(prompt)
            .map(SecretString::from)
            .map_err(|e| Error::Failed(format!("cannot read from the terminal: {e}")))
    }

    /// Asks for a visible one-line answer on the terminal (stderr carries the question).
    pub fn prompt_line(&self, prompt: &str) -> Result<String> {
        ask(prompt)
    }

    /// A passphrase from `VAULT_PASSPHRASE_FILE`, if set.
    pub fn passphrase_from_file(&self) -> Result<Option<SecretString>> {
        let Some(path) = paths::passphrase_file() else {
            return Ok(None);
        };
        Ok(Some(read_passphrase_file(&path)?))
    }
}

fn read_passphrase_file(path: &Path) -> Result<SecretString> {
    check_private_file(path, "passphrase file")?;
    let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| Error::io("read", path, e))?);
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::BadData(format!(
            "the passphrase file {} is not UTF-8",
            path.display()
        ))
    })?;
    let passphrase = crate::value::strip_one_newline(text);
    if passphrase.is_empty() {
        return Err(Error::BadData(format!(
            "the passphrase file {} is empty",
            path.display()
        )));
    }
    Ok(SecretString::from(passphrase.to_string()))
}

impl KeySource for Context {
    fn identities(&self) -> StoreResult<Identities> {
        Ok(self.find_identities()?)
    }

    fn passphrase(&self) -> StoreResult<SecretString> {
        Ok(self.find_passphrase()?)
    }
}

/// The keys, in vault's own errors (the store sees them as its own kinds).
impl Context {
    fn find_identities(&self) -> Result<Identities> {
        let source = paths::IdentitySource::find(
            self.global.identity.as_deref(),
            crate::process::identity_key().is_some(),
        )?;
        self.explain(&format!("identity {}", source.describe()));
        match source {
            paths::IdentitySource::File(location) => {
                if !location.path.exists() && self.vault().exists() {
                    // `vault init` would say the vault exists and make nothing: the way
                    // out is the identity the vault was encrypted to.
                    return Err(Error::LockedOut(format!(
                        "no identity at {} (from {}), and the vault {} is encrypted to one: restore your copy of it there, or point to it with --identity FILE, VAULT_IDENTITY, VAULT_IDENTITY_KEY or VAULT_IDENTITY_COMMAND. If it is lost, 'vault init --new-identity --force' makes a new one for a recipient to add",
                        location.path.display(),
                        location.source,
                        self.vault_location.path.display()
                    )));
                }
                Ok(identity::load(&location)?)
            }
            paths::IdentitySource::Key => Ok(identity::parse(
                crate::process::identity_key()
                    .unwrap_or_default()
                    .trim()
                    .as_bytes(),
                "the identity in $VAULT_IDENTITY_KEY",
                None,
            )?),
            paths::IdentitySource::Command(command) => {
                let output = self.secret_command(&command, "VAULT_IDENTITY_COMMAND")?;
                // The identity is in hand now: this user's writer comes from it, so the
                // command is not run a second time to sign.
                if let Ok(text) = std::str::from_utf8(&output) {
                    let own = identity::own_from_text(text).or_else(|| {
                        paths::writer_key_file()
                            .ok()
                            .and_then(|p| identity::writer_key_from_file(&p).ok().flatten())
                    });
                    let _ = self.own.set(own);
                }
                Ok(identity::parse(
                    output.trim_ascii(),
                    "the identity from $VAULT_IDENTITY_COMMAND",
                    None,
                )?)
            }
        }
    }

    fn find_passphrase(&self) -> Result<SecretString> {
        if let Some(passphrase) = self.passphrase_from_file()? {
            return Ok(passphrase);
        }
        if let Some(command) = std::env::var("VAULT_PASSPHRASE_COMMAND")
            .ok()
            .filter(|c| !c.trim().is_empty())
        {
            let output = self.secret_command(&command, "VAULT_PASSPHRASE_COMMAND")?;
            let text = std::str::from_utf8(&output).map_err(|_| {
                Error::BadData("the output of $VAULT_PASSPHRASE_COMMAND is not UTF-8".into())
            })?;
            let passphrase = crate::value::strip_one_newline(text);
            if passphrase.is_empty() {
                return Err(Error::LockedOut(
                    "$VAULT_PASSPHRASE_COMMAND printed no passphrase".into(),
                ));
            }
            return Ok(SecretString::from(passphrase.to_string()));
        }
        if !self.can_prompt() {
            return Err(Error::LockedOut(format!(
                "the vault {} is protected by a passphrase and vault will not prompt ({}); put the passphrase in a file (chmod 600) and set VAULT_PASSPHRASE_FILE to its path, or set VAULT_PASSPHRASE_COMMAND to a command that prints it",
                self.vault_location.path.display(),
                self.why_no_prompt()
            )));
        }
        let passphrase = self.prompt_hidden("Vault passphrase: ")?;
        // An empty passphrase protects nothing, and pressing Enter at a prompt nobody
        // expected must not open a file someone encrypted to it.
        if age::secrecy::ExposeSecret::expose_secret(&passphrase).is_empty() {
            return Err(Error::LockedOut(
                "an empty passphrase opens no vault".into(),
            ));
        }
        Ok(passphrase)
    }
}

impl Context {
    /// Runs `sh -c COMMAND` (named by `variable`) and returns its stdout, which holds a
    /// secret: at most 1 MiB, never shown, not even in an error. The command may ask on
    /// the terminal when vault may; its stderr is the user's.
    fn secret_command(&self, command: &str, variable: &str) -> Result<Zeroizing<Vec<u8>>> {
        use std::process::{Command, Stdio};
        let mut shell = Command::new("/bin/sh");
        shell
            .arg("-c")
            .arg(command)
            .stdin(if self.can_prompt() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        crate::process::restore_core_limit(&mut shell);
        let mut child = shell
            .spawn()
            .map_err(|e| Error::LockedOut(format!("${variable} could not be run: {e}")))?;
        let mut output = Zeroizing::new(Vec::new());
        let read = child
            .stdout
            .take()
            .map(|out| out.take(1024 * 1024 + 1).read_to_end(&mut output));
        let status = child
            .wait()
            .map_err(|e| Error::LockedOut(format!("${variable} could not be waited for: {e}")))?;
        if !status.success() {
            return Err(Error::LockedOut(format!(
                "${variable} failed ({status}); vault has no key without it"
            )));
        }
        match read {
            Some(Ok(_)) if output.len() <= 1024 * 1024 => Ok(output),
            Some(Ok(_)) => Err(Error::LockedOut(format!(
                "${variable} printed more than 1 MiB, which is no key"
            ))),
            _ => Err(Error::LockedOut(format!(
                "the output of ${variable} could not be read"
            ))),
        }
    }
}

/// Asks `question` on stderr (control characters in it escaped: it may quote what an
/// untrusted file says) and reads a one-line answer from stdin.
pub fn ask(question: &str) -> Result<String> {
    use std::io::{BufRead, Write};
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "{}", crate::names::printable(question, true)).and_then(|()| err.flush());
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::Failed(format!("cannot read from the terminal: {e}")))?;
    Ok(answer)
}

/// Reads all of stdin, up to `limit` bytes, into a buffer zeroed on drop.
pub fn read_stdin_limited(limit: usize) -> Result<Zeroizing<Vec<u8>>> {
    let mut buffer = Zeroizing::new(Vec::new());
    std::io::stdin()
        .lock()
        .take(limit as u64 + 1)
        .read_to_end(&mut buffer)
        .map_err(|e| Error::Failed(format!("cannot read stdin: {e}")))?;
    Ok(buffer)
}

/// Writes to stdout; a closed pipe (`vault list | head -1`) is not an error.
pub fn print_stdout(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::Failed(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// Writes a report for a person to stdout — names, paths, states and messages, any of
/// which may have come from outside (a vault another member wrote, a provider, a file) —
/// with control characters escaped, line breaks and tabs kept, so none of it drives the
/// terminal. Not for what must arrive byte for byte: values, exports, JSON (whose strings
/// escape control characters themselves), unit files.
pub fn print_report(text: &str) -> Result<()> {
    print_stdout(&crate::names::printable(text, true))
}

/// `vault: MESSAGE` on stderr. A stderr that cannot be written (`2>/dev/full`, a closed
/// pipe) is not worth failing for: what was asked has been done, or its error is the
/// exit code.
pub fn print_stderr(message: &str) {
    // Messages quote untrusted text (provider errors, names from imported files): none of
    // it may drive the terminal.
    let message = crate::names::printable(message, true);
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "vault: {message}");
}

/// The exit code of a command that did what was asked.
pub const SUCCESS: Result<u8> = Ok(exit::OK);
