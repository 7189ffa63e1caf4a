//! The command-line surface of `vault`, defined once.
//!
//! The parser, `--help`, the man pages under `man/` and the scripts under `completions/` all
//! come from these definitions, so they cannot disagree.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// A secrets vault for the command line and for Linux services.
///
/// Secrets live in one age-encrypted file. Values are never shown unless asked (--reveal).
#[derive(Debug, Parser)]
#[command(
    name = "vault",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Options every subcommand understands.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The vault file [env: VAULT_FILE; default: $XDG_DATA_HOME/secretsd/vault.age]
    #[arg(long, global = true, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub vault: Option<PathBuf>,

    /// The age identity file [else: $VAULT_IDENTITY_KEY (the identity itself), the output of
    /// $VAULT_IDENTITY_COMMAND, $VAULT_IDENTITY, $CREDENTIALS_DIRECTORY/vault-identity,
    /// $XDG_CONFIG_HOME/secretsd/identity.txt]
    #[arg(long, global = true, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub identity: Option<PathBuf>,

    /// The configuration file [env: VAULT_CONFIG; default: $XDG_CONFIG_HOME/secretsd/config.toml]
    #[arg(long, global = true, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub config: Option<PathBuf>,

    /// Print only what was asked for: no confirmations or notes on stderr
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Explain what vault does: where the vault and identity were found, backups made
    #[arg(long, short, global = true)]
    pub verbose: bool,

    /// Never prompt; fail instead when a passphrase or value would be asked for
    #[arg(long, global = true)]
    pub no_input: bool,

    /// Use the settings of [profiles.NAME] in the configuration (vault file, lookup order,
    /// provider settings) and a manifest's [profiles.NAME.env] [env: VAULT_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Act as an AI agent under the grant whose key is FILE (vault agent grant prints its
    /// path): no other identity is read, only the granted values are used, get shows
    /// masks, writes are refused [env: VAULT_GRANT]
    #[arg(long, global = true, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub grant: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Create an identity (if none exists) and an empty vault encrypted to it
    Init(InitArgs),
    /// Store a secret (value from a hidden prompt, stdin, or --generate)
    Set(SetArgs),
    /// Edit the secrets as a .env text in your editor, or one value (vault edit NAME), and
    /// apply the result as one change
    ///
    /// The editor is $VISUAL, else $EDITOR, else vi on a terminal, run by /bin/sh with the
    /// file's path as its argument (EDITOR="vim -n" works). Without a terminal it still runs,
    /// so a program can be the editor (a script, sed -i): that is how automation drives
    /// vault edit, and vault then asks nothing. The text holds NAME=value lines (as vault
    /// import reads them): change a value, add a line, delete a line to remove that secret
    /// (each removal is named; 'vault restore --latest' undoes the whole edit). With NAME,
    /// the file holds that value as it is, newlines and all (one trailing line break is
    /// dropped); a name not in the vault is added. Saved unchanged: "nothing changed", and
    /// nothing is written. A text vault cannot read is opened again after asking, on a
    /// terminal; otherwise the edit stops (exit 6) and nothing changes. The editor failing
    /// (non-zero exit) changes nothing.
    ///
    /// The plaintext lives only in a new 0700 directory on a tmpfs ($XDG_RUNTIME_DIR, else
    /// /dev/shm; the filesystem is checked), in a 0600 file; its files are overwritten and it
    /// is removed when the edit ends, also when the editor fails or vault gets SIGINT, SIGTERM
    /// or SIGHUP (the editor is then ended too). With no tmpfs, vault edit refuses (exit 4)
    /// unless --allow-disk. Editors keep copies of what they edit elsewhere: turn them off.
    /// vim: EDITOR="vim -n -i NONE" with 'set noswapfile noundofile nobackup nowritebackup'
    /// (or run it as vim -u NONE -n); swap files otherwise go beside the file (removed with
    /// it) unless 'directory' points elsewhere, and 'undodir'/'backupdir' keep theirs.
    /// emacs: EDITOR="emacs -nw -Q" or, in your init, (setq make-backup-files nil
    /// auto-save-default nil create-lockfiles nil) and no undo-tree history or recentf for
    /// the file. nano: no --backup.
    Edit(EditArgs),
    /// Show a secret, masked unless --reveal
    Get(GetArgs),
    /// List secret names with their created and updated times (never values)
    #[command(visible_alias = "ls")]
    List(ListArgs),
    /// Exit 0 when a secret exists, 3 when it does not
    Exists(ExistsArgs),
    /// Remove secrets
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Rename a secret
    Mv(MvArgs),
    /// List, add or remove the age recipients the vault is encrypted to
    #[command(subcommand)]
    Recipients(RecipientsCommand),
    /// Groups of members whose values only they decrypt: create, add, remove, list
    ///
    /// A group lives in the owner-signed membership block, so owners change it (the epoch
    /// goes up). 'vault set NAME --group G' seals a value to G's members alone; others see
    /// that it exists, and which group holds it, never the value.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Run a command with the vault's secrets in its environment (it replaces vault)
    ///
    /// Every secret of the vault is passed, in a project with a secretsd.toml too: a
    /// manifest maps variables to references, which is `vault run`'s job. To narrow what
    /// the command gets, pass --only NAMES or --prefix PREFIX, or use `vault run -- CMD`,
    /// which passes exactly the project manifest's variables.
    Exec(ExecArgs),
    /// Resolve a manifest of references, then run a command with them (for systemd ExecStart=)
    ///
    /// The manifest is TOML: `command = ["/usr/bin/app", "--serve"]` (optional; a command
    /// after -- wins) and an `[env]` table mapping each variable to a reference:
    /// "secret:NAME" (the vault), "env:VAR", "file:/path", "PROVIDER:KEY", a URL or any other
    /// literal ("literal:..." forces one), or to a table { from = "...", description = "...",
    /// required = false, default = "..." }. Without --manifest, secretsd.toml is looked for in
    /// this directory and the ones above. `[profiles.NAME.env]` overrides `[env]` under
    /// --profile NAME. Every reference is resolved before the command starts; if one fails,
    /// nothing starts (exit 125), and the message names the variable and the provider.
    ///
    /// --env-file FILE reads a .env whose values may be references, as `op run --env-file`
    /// does: a value is a reference only when it starts with secret:, env:, file:,
    /// literal: or the name of an installed or configured provider and ':'; anything else
    /// (localhost:8080, redis:6379) is a literal. Quote a value holding ' #', which
    /// otherwise starts a comment. Several env files apply in order, the later winning;
    /// with --manifest too, the manifest comes first. Given an env file, run looks for no
    /// secretsd.toml. `vault run -v` and `vault check` say which variables are literals.
    ///
    /// A manifest for trying a provider of your own (secretsd-provider-jsonfile):
    /// `command = ["/usr/bin/env"]`, then `[env]` with `TOKEN = "jsonfile:api/token"` and
    /// `DB = "secret:DB_PASSWORD"`; `vault run -m that.toml` prints the environment the
    /// command gets.
    Run(RunArgs),
    /// List every variable of the manifest (or --env-file) with where its value comes from
    /// (a literal, or a reference) and the value masked; exit 3 naming every required
    /// variable that has none
    Check(CheckArgs),
    /// Import secrets from a .env file, a JSON object or the environment, in one change
    Import(ImportArgs),
    /// Write secrets as dotenv, JSON, shell or systemd EnvironmentFile text (plaintext!)
    Export(ExportArgs),
    /// Make an encrypted backup of the vault now
    Backup(BackupArgs),
    /// List the backups, or put the vault (and files a rotation rewrote) back as one holds it
    ///
    /// A backup is made before every change; restoring one backs up the current vault (and
    /// files) first, so a restore can itself be undone with 'vault restore --latest'.
    Restore(RestoreArgs),
    /// Generate new values by the rotation policy, rewrite .env files, restart services
    ///
    /// The policy (--policy FILE, or the [rotate] table of the configuration file) has a
    /// [secrets.NAME] table per secret: type = "random" (length, charset = "alnum" | "hex" |
    /// "base64url", or alphabet = "..."), "jwt" (HS256, signed with the secret named by
    /// depends_on; role, iss, exp_days or exp_seconds, claims = {...}; without iss or an
    /// exp setting the token has no iss or exp claim) or "static" (never generated, only
    /// checked present); auto_rotate (default true); files = [".env", ...] (rewritten in
    /// place, keeping every other line and the mode); restart = ["service", ...]. A
    /// [services.NAME] table has restart and health (shell commands), timeout (seconds or
    /// "90s"; default 60) and after = ["service", ...]. Relative paths and the commands
    /// start in the directory of the file that declares them.
    ///
    /// Order of work: check the plan (nothing changes if it is wrong), back up the vault and
    /// the files, generate from the OS random generator, write the vault and every file,
    /// then with --restart restart the services in dependency order, each followed by its
    /// health command until it passes or times out. A failing step is named with the state
    /// it left; --rollback-on-failure restores the backup and restarts the services again.
    Rotate(RotateArgs),
    /// Run every service's health command; exit 0 when all pass, 1 otherwise
    CheckServices(CheckServicesArgs),
    /// Copy an allow-list of variables from sources of truth into the vault, a .env file or
    /// a provider, leaving every other variable of the target alone
    ///
    /// Sources and targets are vault, dotenv:PATH, docker:PATH or PROVIDER:PREFIX
    /// (shared-file:, infisical:/glitchtip/database, gopass:app/); a provider key becomes the
    /// variable named by its last path segment. A dotenv: file gets NAME=value, quoted only
    /// when the value needs it (as python-dotenv reads it back); a docker: file gets
    /// docker's own dialect for 'docker run --env-file' (NAME=value, the rest of the line
    /// raw: no quotes, no escapes), and a value it cannot hold (a line break) is refused,
    /// naming the variable, with nothing written. A .env target is backed up first (.env-backups/ beside it,
    /// 0600), rewritten atomically keeping comments, order and every other line, its owner
    /// and group, without others' access (a new one is 0600). A .env target another user
    /// owns, or in a directory another user may write, is refused unless --owner names its
    /// owner. Each run logs one line on stderr (time, profile, counts; never values) for
    /// journalctl: added, changed, unchanged (allow-listed variables the target already
    /// had with the sources' value) and preserved (kept by --preserve although a source has
    /// them); variables outside the allow-list are not counted. Named syncs live in the configuration file as [sync.NAME] tables with
    /// from, to, only, preserve, strict, keep_backups and owner.
    Sync(SyncArgs),
    /// Show where the vault and identity are, whether the vault opens, and what is wrong
    Status(StatusArgs),
    /// Helpers for running services under systemd
    #[command(subcommand)]
    Systemd(SystemdCommand),
    /// List the providers vault can find, or check one against the protocol
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// List or clear the offline cache of provider values (never shows a value)
    ///
    /// A provider whose [providers.NAME] sets cache = "24h" has what it answers kept,
    /// age-encrypted to this machine's identity and authenticated with a key derived from
    /// it, in $XDG_CACHE_HOME/secretsd/RECIPIENT/. A cached value stands in only when the
    /// provider cannot answer (it cannot start, times out, or answers unavailable), and only
    /// while younger than cache; a denied answer clears that configuration's cache, a
    /// not-found drops the entry. --offline (get, exec, run, check, sync --from) starts no
    /// cached provider; --prefer-cache DURATION uses a value younger than DURATION without
    /// asking.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Show who owns, writes and reads the vault, and whether this machine trusts it
    ///
    /// A vault carries a membership block signed by an owner: its id, label, epoch, owners,
    /// members (recipient, writer key, name) and read-only recipients. Every write is
    /// signed by a member. This machine trusts a vault whose owners it pinned (at init, by
    /// --accept, or by [security] vaults / VAULT_TRUST=ID:OWNER,...) and remembers the
    /// highest epoch it saw. A vault seen for the first time, or suspect (forged, signed by
    /// a non-member, its membership not signed by a trusted owner, an older epoch), is not
    /// used: no value is read, nothing is written. Exit 0 when trusted (or accepted), 1
    /// when not trusted and nothing was accepted, 4 when accepting is refused or this
    /// machine has no trust record to keep it in.
    Verify {
        /// Trust it: pin the owners of a vault seen for the first time; write a suspect
        /// version forward, signed by you, under the newest membership this machine knows
        /// (only content a member wrote: see --accept-content)
        #[arg(long)]
        accept: bool,
        /// As --accept, and write forward content no current member wrote (edited with the
        /// age CLI, or by someone removed since): you vouch for every value in it
        #[arg(long)]
        accept_content: bool,
        /// With --accept: let this place hold the vault it holds now, when it held another
        /// one before (another vault copied or moved over it)
        #[arg(long)]
        rebind: bool,
    },
    /// Who may change the vault's membership: list, add or remove owners (owners only)
    #[command(subcommand)]
    Owners(OwnersCommand),
    /// Sign the membership again so it does not expire (owners only); --max-age sets how
    /// long a renewal lasts, --no-expiry ends expiry
    ///
    /// With a max age, the membership carries a signed expiry: past it, reads warn and
    /// writes are refused until an owner renews. This stops a server that keeps serving an
    /// old vault from doing so for longer than the max age.
    Renew {
        /// How long the membership holds after each renewal ("30d", "12h"; 1 second to 100
        /// years)
        #[arg(long, value_name = "DURATION", conflicts_with = "no_expiry")]
        max_age: Option<String>,
        /// The membership no longer expires
        #[arg(long)]
        no_expiry: bool,
    },
    /// Your identity: the line others add you with, a new one, its recovery phrase
    #[command(subcommand)]
    Identity(IdentityCommand),
    /// Keep the vault in git: `vault git setup` turns on readable diffs and the merge driver
    #[command(subcommand)]
    Git(GitCommand),
    /// What changed in the vault since a git revision (names and masked values; default
    /// HEAD)
    Diff {
        /// The revision to compare the vault file with
        #[arg(default_value = "HEAD", value_name = "REF")]
        reference: String,
    },
    /// Finish a git merge of the vault that stopped on secrets changed on both sides
    ///
    /// Without options, lists the secrets in conflict. --resolve NAME with --ours,
    /// --theirs or --value-from-stdin settles one; once none is left, the merged vault is
    /// written in place, ready for git add.
    Merge(MergeArgs),
    /// Look for the vault's values in files and git history (exit 1 if any is found)
    ///
    /// Every value is looked for, all at once, as it is and in the forms it leaks in:
    /// base64 and base64url, also inside a longer base64 text at any of the three
    /// alignments (HTTP Basic's base64 of "user:VALUE", tokens, blobs); hex in either case,
    /// plain or with ':', '-' or ' ' between the bytes; URL-encoded with upper- or
    /// lowercase escapes (%2F, %2f) as RFC 3986, Python's quote (keeps '/'), JavaScript's
    /// encodeURIComponent and form encoding ('+' for a space) write it, once or twice
    /// (%252F); and as a JSON string (\" and \\ escaped, with or without \/ and \uXXXX
    /// escapes). Findings print as PATH:LINE: NAME (FORM) -- the secret's name, never its
    /// value. With --git, the added lines of every commit (git log -p --all) of the
    /// repository at each PATH are searched too.
    Scan(ScanArgs),
    /// Print the completion script for a shell (secret and provider names complete too)
    ///
    /// Turn it on for yourself: bash: vault completions bash >
    /// ~/.local/share/bash-completion/completions/vault; zsh: vault completions zsh >
    /// ~/.zfunc/_vault, with fpath+=(~/.zfunc) before compinit in ~/.zshrc; fish: vault
    /// completions fish > ~/.config/fish/completions/vault.fish. scripts/install does this.
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Let an AI coding agent run commands that use secrets without reading them: local
    /// grants, a confined exec, the audit log, the agent host's configuration
    ///
    /// A grant (vault agent grant) copies the granted values into a bundle encrypted to a
    /// key of its own under $XDG_STATE_HOME/secretsd/agents/NAME/; with VAULT_GRANT=KEY (or
    /// --grant KEY) vault acts as the agent: exec and run see only the granted values,
    /// output is masked, writes and --reveal are refused, and each action is appended to
    /// the hash-chained $XDG_STATE_HOME/secretsd/agent-audit.jsonl. The agent runs as you:
    /// only the agent host's sandbox, denying its shell reads of vault's config, state and
    /// data directories, keeps it from reading the key or your identity (see SECURITY.md
    /// and vault agent connect).
    #[command(subcommand)]
    Agent(AgentCommand),
    /// An MCP server on stdio for an AI agent, under a grant (--grant or VAULT_GRANT)
    ///
    /// Tools: list_secrets (the granted names with their manifest descriptions),
    /// check_manifest (the manifest's variables, masked, and which are missing) and, only
    /// with --allow-run, run_command ({"command": [...], "timeout_seconds"?}: the exit
    /// code and the masked, size-capped output; the same code path as vault agent exec).
    /// No tool returns a value. It refuses to start without a grant.
    Mcp(McpArgs),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum AgentCommand {
    /// Grant an agent the secrets matching --only for --ttl: prints the grant key's path
    /// as its last line
    ///
    /// Code-loading variables (LD_*, BASH_ENV, PYTHONPATH… see SECURITY.md) are never
    /// granted. A later set, edit, import, rm, mv or rotate of a granted name refreshes
    /// the bundle. Granting a
    /// NAME again replaces that grant with a new key.
    Grant(AgentGrantArgs),
    /// List the grants: name, patterns, names granted, commands, project, expiry (never
    /// values)
    List,
    /// Delete a grant's key and bundle
    Revoke {
        /// The grant
        name: String,

        /// Then rotate the granted secrets that have a rotation policy (--policy FILE, or
        /// [rotate] in the configuration), and name those that cannot be rotated here:
        /// the agent may have copied what it could read
        #[arg(long)]
        rotate: bool,

        /// The rotation policy (with --rotate)
        #[arg(long, value_name = "FILE", requires = "rotate", value_hint = clap::ValueHint::FilePath)]
        policy: Option<std::path::PathBuf>,
    },
    /// Run a command under the grant (--grant or VAULT_GRANT): the granted values in its
    /// environment, its output masked
    ///
    /// The command runs from argv (no shell unless the grant's --command names one) with
    /// stdin /dev/null, in the current directory, which must be inside the grant's project;
    /// SSH_AUTH_SOCK, DBUS_SESSION_BUS_ADDRESS, XDG_RUNTIME_DIR, CREDENTIALS_DIRECTORY and
    /// VAULT_* are removed from its environment; everything it starts is killed when it
    /// ends. The exit code is the command's.
    Exec {
        /// The command and its arguments
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true,
              value_name = "COMMAND", num_args = 1..)]
        command: Vec<std::ffi::OsString>,
    },
    /// Print the agent audit log (of one grant, with NAME) and check its hash chain: exit
    /// 6 when a line was removed, added or changed
    Log {
        /// Only this grant's entries
        name: Option<String>,
    },
    /// Configure an agent host (user scope) to start 'vault mcp' under a grant, and print
    /// what was written and the sandbox settings to add
    ///
    /// claude-code: the mcpServers entry of ~/.claude.json; codex: [mcp_servers.NAME] in
    /// ~/.codex/config.toml ($CODEX_HOME/config.toml). Never the project's files, which
    /// the agent can edit.
    Connect {
        /// The agent host
        #[arg(value_enum)]
        host: AgentHost,

        /// The grant the MCP server runs under
        name: String,

        /// Let the agent run commands through the MCP server (vault mcp --allow-run)
        #[arg(long)]
        allow_run: bool,
    },
}

/// An agent host `vault agent connect` configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AgentHost {
    ClaudeCode,
    Codex,
}

#[derive(Debug, Args)]
pub struct AgentGrantArgs {
    /// The grant's name (letters, digits, '_', '-', '.')
    pub name: String,

    /// The secrets granted: names, or patterns with * (STRIPE_*); comma-separated or
    /// repeated
    #[arg(long, required = true, value_delimiter = ',', value_name = "PATTERN", num_args = 1..)]
    pub only: Vec<String>,

    /// How long the grant lasts: 30m, 8h, 2d
    #[arg(long, value_name = "DURATION")]
    pub ttl: String,

    /// Allow only this command: a program (resolved now to its absolute path) and its
    /// exact arguments, '...' last to allow any further ones ("npm test", "cargo run
    /// ..."); repeatable. Without it any program but a shell may run
    #[arg(long = "command", value_name = "PROGRAM")]
    pub commands: Vec<String>,

    /// The project directory commands must run in or below [default: the current
    /// directory]
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub project: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct McpArgs {
    /// Offer the run_command tool
    #[arg(long)]
    pub allow_run: bool,
}

/// clap's zsh script only registers its function: loaded from `fpath` by compinit (as
/// `vault completions --help` says to install it), the first TAB of every shell registered
/// it and completed nothing. Autoloaded, it now also completes; sourced, it registers.
fn zsh_autoloadable(script: String) -> String {
    const REGISTRATION: &str = "compdef _clap_dynamic_completer_vault vault\n";
    assert!(
        script.ends_with(REGISTRATION),
        "clap_complete's zsh script changed: review zsh_autoloadable"
    );
    let body = &script[..script.len() - REGISTRATION.len()];
    format!(
        "{body}if [[ \"${{funcstack[1]}}\" == _vault ]]; then\n    _clap_dynamic_completer_vault \"$@\"\nelse\n    {REGISTRATION}fi\n"
    )
}

/// The bash completion script (see the file for why it is not clap_complete's).
const BASH_COMPLETION: &str = include_str!("completion.bash");

/// Shells `vault completions` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl Shell {
    pub const ALL: [Shell; 5] = [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::Elvish,
        Shell::Powershell,
    ];

    /// The file the script is installed as under `completions/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Shell::Bash => "vault.bash",
            Shell::Zsh => "_vault",
            Shell::Fish => "vault.fish",
            Shell::Elvish => "vault.elv",
            Shell::Powershell => "_vault.ps1",
        }
    }

    /// The completion script: registration for clap_complete's dynamic completion, which
    /// calls `vault` itself (with COMPLETE set) to complete each word.
    pub fn script(self) -> String {
        use clap_complete::env::{Elvish, EnvCompleter, Fish, Powershell, Zsh};
        let shell: &dyn EnvCompleter = match self {
            // clap's own bash glue hands vault the pieces bash split at ':' and '=', so
            // `PROVIDER:KEY` never completed: ours joins them again (same protocol).
            Shell::Bash => return BASH_COMPLETION.to_string(),
            Shell::Zsh => &Zsh,
            Shell::Fish => &Fish,
            Shell::Elvish => &Elvish,
            Shell::Powershell => &Powershell,
        };
        let mut buffer = Vec::new();
        shell
            .write_registration("COMPLETE", "vault", "vault", "vault", &mut buffer)
            .expect("writing to memory cannot fail");
        let script = String::from_utf8(buffer).expect("the scripts are UTF-8");
        match self {
            Shell::Zsh => zsh_autoloadable(script),
            _ => script,
        }
    }
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ProviderCommand {
    /// Every secretsd-provider-* on VAULT_PROVIDER_PATH and PATH, with version and operations
    List {
        /// Print a JSON array instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Run the conformance kit against a provider: one line per case, non-zero on a failure
    Check {
        /// The provider's name (secretsd-provider-NAME)
        name: String,

        /// Keys the checks write start with this (and are deleted afterwards)
        #[arg(long, default_value = "SECRETSD_CHECK_")]
        key_prefix: String,
    },
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum CacheCommand {
    /// Every cached value of this identity: provider, profile, key, when fetched and how
    /// old (never a value)
    List {
        /// Print a JSON array instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Remove the cached values of this identity: all, or one provider's
    Clear {
        /// Only this provider's
        provider: Option<String>,
    },
}

// How a command that resolves provider values uses the offline cache (a plain comment: a
// doc comment here would replace the about text of every command that flattens it).
#[derive(Debug, Clone, Default, Args)]
pub struct CacheArgs {
    /// Start no provider that sets cache: its values come from the offline cache, or the
    /// command fails naming the ones that are not there (or too old)
    #[arg(long, conflicts_with = "prefer_cache")]
    pub offline: bool,

    /// Refuse a cached value older than DURATION ("1h", "30m"), naming its age, offline or
    /// when standing in for a provider that cannot answer
    #[arg(long, value_name = "DURATION", value_parser = parse_cache_duration)]
    pub cache_max_age: Option<std::time::Duration>,

    /// Use a cached value younger than DURATION without asking its provider (the provider
    /// is asked when one value is older or missing); [providers.NAME] prefer_cache sets it
    /// for a provider
    #[arg(long, value_name = "DURATION", value_parser = parse_cache_duration)]
    pub prefer_cache: Option<std::time::Duration>,
}

fn parse_cache_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration like 30m, 24h or 7d"))?;
    if duration < std::time::Duration::from_secs(1) {
        return Err("a duration of at least 1s".into());
    }
    Ok(duration)
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum IdentityCommand {
    /// Print the line an owner adds you to a vault with ('vault recipients add LINE'):
    /// your recipient, your writer key, your name and a fingerprint to compare aloud
    Public {
        /// The name in the line [default: $USER]
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// The recipient your identity opens, for an SSH or plugin identity (an age X25519
        /// identity knows its own)
        #[arg(long, value_name = "RECIPIENT")]
        recipient: Option<String>,
    },
    /// Make an identity where none is (without a vault), and print its line
    New {
        /// The name in the line [default: $USER]
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
    },
    /// Show the 24-word recovery phrase (BIP39) of your X25519 identity, after you confirm
    /// on a terminal (or with --yes); write it on paper and keep it away from the computer
    ExportPhrase {
        /// Show it without asking (for scripts; the phrase is your identity)
        #[arg(long)]
        yes: bool,
    },
    /// Rebuild your identity from its recovery phrase (typed on a terminal, or on stdin)
    Recover {
        /// Where to write the identity [default: the identity path, which must not exist]
        #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum OwnersCommand {
    /// Print the owners, one per line: name, fingerprint, writer key
    List,
    /// Make a member an owner (by name, writer key or line)
    Add { member: String },
    /// Make an owner a member only (by name or writer key); the last owner stays
    Remove { member: String },
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum GitCommand {
    /// Write the .gitattributes entry and the git config for diffs and merges of the vault
    /// (the repository's config, or with --global yours)
    Setup {
        #[arg(long)]
        global: bool,
    },
    /// git's textconv: a vault file as text (names, masked values, recipients)
    #[command(hide = true)]
    Textconv { file: PathBuf },
    /// git's merge driver: BASE OURS THEIRS PATH (%O %A %B %P)
    #[command(hide = true)]
    MergeDriver {
        base: PathBuf,
        ours: PathBuf,
        theirs: PathBuf,
        path: String,
    },
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The secret to settle
    #[arg(long, value_name = "NAME")]
    pub resolve: Option<String>,
    /// Keep this branch's version
    #[arg(long, requires = "resolve", conflicts_with_all = ["theirs", "value_from_stdin"])]
    pub ours: bool,
    /// Take the other branch's version
    #[arg(long, requires = "resolve", conflicts_with = "value_from_stdin")]
    pub theirs: bool,
    /// A new value, read from stdin
    #[arg(long, requires = "resolve")]
    pub value_from_stdin: bool,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Files and directories to search (default: the current directory); .git directories
    /// and the vault's own files are skipped
    #[arg(value_name = "PATH", value_hint = clap::ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,

    /// Search the history of the git repository at each PATH too
    #[arg(long)]
    pub git: bool,

    /// Leave out values shorter than this many bytes (too short to tell from other text)
    #[arg(long, value_name = "BYTES", default_value_t = 8)]
    pub min_length: usize,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Also encrypt to this recipient (age1..., an age plugin recipient such as age1yubikey1...,
    /// or an SSH ed25519/RSA public key); repeatable
    #[arg(long = "recipient", short = 'r', value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// Protect the vault with a passphrase (scrypt) instead of an identity
    /// [passphrase from VAULT_PASSPHRASE_FILE, or asked twice on a terminal]
    #[arg(long, conflicts_with = "recipients")]
    pub passphrase: bool,

    /// Write the vault as ASCII armor (PEM-like text) instead of binary
    #[arg(long)]
    pub armor: bool,

    /// Write a commented secretsd.toml (the project manifest) in this directory
    #[arg(long, conflicts_with_all = ["recipients", "passphrase", "armor"])]
    pub project: bool,

    /// Make a new identity where none is, even though a vault exists (it cannot open that
    /// vault: refused unless --force; then a recipient adds the printed public key)
    #[arg(long, conflicts_with_all = ["recipients", "passphrase", "armor"])]
    pub new_identity: bool,

    /// With --new-identity: make it although it cannot open the existing vault
    #[arg(long, requires = "new_identity")]
    pub force: bool,

    /// The vault's label, shown with its id wherever it is trusted [default: the file's
    /// name without .age]
    #[arg(long, value_name = "LABEL", conflicts_with_all = ["project", "new_identity"])]
    pub label: Option<String>,

    /// Start a new, independent vault with the secrets of this one (a copy made for
    /// another use): a new id, epoch 1, you its owner, its members kept
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, conflicts_with_all = ["project", "new_identity", "passphrase"])]
    pub from: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Secret name (letters, digits and '_', not starting with a digit), or a provider
    /// address PROVIDER:KEY
    pub name: String,

    /// The value; '-' reads stdin. Prefer stdin or the prompt: a value given here is visible
    /// in the process list and shell history
    pub value: Option<String>,

    /// Store a random value from the OS random generator (not printed)
    #[arg(long, short, conflicts_with = "value")]
    pub generate: bool,

    /// Length of a generated value, in characters
    #[arg(long, default_value_t = 32, requires = "generate", value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub length: u16,

    /// Characters of a generated value
    #[arg(long, value_enum, default_value_t = Charset::Alnum, requires = "generate")]
    pub charset: Charset,

    /// A note kept beside the secret (not encrypted separately; never a value)
    #[arg(long, short)]
    pub description: Option<String>,

    /// Add this tag (repeatable; tags already there stay; letters, digits, '_', '-', '.')
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Remove this tag (repeatable)
    #[arg(long = "untag", value_name = "TAG")]
    pub untags: Vec<String>,

    /// Rotation falls due this long after the value last changed ("90d", "12h", "1s"), or
    /// "never" to remove the period; see 'vault list --due' and 'vault rotate --due'
    #[arg(long, value_name = "DURATION")]
    pub rotate_every: Option<String>,

    /// Store your personal value of an existing shared secret, sealed to your recipient
    /// alone: it wins over the shared value for you (get, exec, run, export); the others
    /// keep the shared value and can see only that you have one
    #[arg(long, conflicts_with_all = ["tags", "untags", "rotate_every", "keep_value", "description"])]
    pub personal: bool,

    /// Store the value for a group only: sealed to its members ('vault group list');
    /// "me" is --personal, "everyone" the shared value
    #[arg(long, value_name = "GROUP", conflicts_with_all = ["personal", "tags", "untags", "rotate_every", "keep_value", "description"])]
    pub group: Option<String>,

    /// Change only the tags, rotation period or description of an existing secret: its
    /// value (and updated time) stay as they are
    #[arg(long, conflicts_with_all = ["value", "generate"])]
    pub keep_value: bool,
}

#[derive(Debug, Args)]
pub struct EditArgs {
    /// Edit only this secret's value, as it is (added when it does not exist)
    pub name: Option<String>,

    /// When no tmpfs is found, put the plaintext on disk ($TMPDIR, else /tmp) for the length
    /// of the edit (refused otherwise)
    #[arg(long)]
    pub allow_disk: bool,
}

/// Alphabets for generated secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Charset {
    /// A-Z a-z 0-9
    Alnum,
    /// 0-9 a-f
    Hex,
    /// A-Z a-z 0-9 - _ (URL-safe base64 alphabet)
    Base64url,
}

impl From<Charset> for crate::value::Charset {
    fn from(charset: Charset) -> Self {
        match charset {
            Charset::Alnum => crate::value::Charset::Alnum,
            Charset::Hex => crate::value::Charset::Hex,
            Charset::Base64url => crate::value::Charset::Base64url,
        }
    }
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Secret name, or a provider address PROVIDER:KEY
    pub name: String,

    /// Print exactly the value, nothing else (for $(vault get --reveal NAME))
    #[arg(long)]
    pub reveal: bool,

    /// Print a JSON object with the name, times, description and the (masked) value
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// List a provider's keys instead: PROVIDER: or PROVIDER:PREFIX
    pub address: Option<String>,

    /// Only secrets with this tag
    #[arg(long, value_name = "TAG", conflicts_with = "address")]
    pub tag: Option<String>,

    /// Only secrets whose rotation is due: their value is older than their --rotate-every
    #[arg(long, conflicts_with = "address")]
    pub due: bool,

    /// Only secrets a removed recipient could read that have not changed since the
    /// removal (stale means "still what they saw", not "unused")
    #[arg(long, conflicts_with = "address")]
    pub stale: bool,

    /// Print a JSON array instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExistsArgs {
    /// Secret name, or a provider address PROVIDER:KEY
    pub name: String,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Secret names, or provider addresses PROVIDER:KEY
    #[arg(required = true, num_args = 1..)]
    pub names: Vec<String>,

    /// Do not fail when a name is absent
    #[arg(long, short)]
    pub force: bool,

    /// Remove only your personal value (the shared value stays)
    #[arg(long)]
    pub personal: bool,
}

#[derive(Debug, Args)]
pub struct MvArgs {
    /// Current name
    pub old: String,
    /// New name
    pub new: String,

    /// Replace NEW when it already exists
    #[arg(long, short)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum GroupCommand {
    /// Create a group of members (owners only)
    Create {
        /// The group's name (letters, digits, '.', '_', '-'; not "me" or "everyone")
        name: String,
        /// A member: their name, writer key or 'vault identity public' line (repeatable)
        #[arg(long = "member", value_name = "MEMBER", required = true, num_args = 1..)]
        members: Vec<String>,
    },
    /// Add members to a group; its values are sealed again for them (owners who are
    /// members of the group)
    Add {
        /// The group
        name: String,
        /// Members: name, writer key or line
        #[arg(required = true, num_args = 1..)]
        members: Vec<String>,
    },
    /// Remove members from a group; its values are sealed again without them and listed
    /// by 'vault list --stale' until changed (owners who are members of the group)
    Remove {
        /// The group
        name: String,
        /// Members: name, writer key or line
        #[arg(required = true, num_args = 1..)]
        members: Vec<String>,
    },
    /// List the groups, their members and how many values each holds
    List,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum RecipientsCommand {
    /// Print the recipients, one per line
    List,
    /// Add a member (the line 'vault identity public' prints: they read and write) or a
    /// read-only recipient, and re-encrypt the vault (owners only)
    Add {
        /// A member's line ("age1... writer:KEY name:NAME fp:FINGERPRINT"), or a recipient
        /// alone: age1..., age1PLUGIN1..., or an SSH ed25519/RSA public key, read-only
        recipient: String,
    },
    /// Remove a member or recipient and re-encrypt the vault (owners only)
    Remove {
        /// The recipient as 'vault recipients list' prints it, or a member's name or
        /// writer key
        recipient: String,

        /// Remove it even when none of your identities could open the vault afterwards
        #[arg(long, short)]
        force: bool,

        /// Then rotate every secret that has a rotation policy (--policy FILE, or [rotate]
        /// in the configuration), and name those that cannot be rotated here: someone who
        /// leaves the team may have copied every secret they could read
        #[arg(long)]
        rotate: bool,

        /// With --rotate: the rotation policy file
        #[arg(long, value_name = "FILE", requires = "rotate",
              value_hint = clap::ValueHint::FilePath)]
        policy: Option<PathBuf>,

        /// With --rotate: also restart the policy's services
        #[arg(long, requires = "rotate")]
        restart: bool,
    },
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Only these secrets (comma-separated or repeated)
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "NAMES",
        conflicts_with = "prefix"
    )]
    pub only: Vec<String>,

    /// Only secrets whose names start with PREFIX
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,

    /// Remove PREFIX from the variable names (APP_DB_URL -> DB_URL with --prefix APP_)
    #[arg(long, requires = "prefix")]
    pub strip_prefix: bool,

    /// Keep variables already set in the environment instead of replacing them
    #[arg(long)]
    pub no_override: bool,

    /// Start from an empty environment (plus PATH, unless --no-path)
    #[arg(long)]
    pub clean_env: bool,

    /// With --clean-env, do not keep PATH either
    #[arg(long, requires = "clean_env")]
    pub no_path: bool,

    /// Run the command as a child and replace every secret value in its stdout and stderr,
    /// and any 12 characters of one in a row ([redact] min_fragment), with ********; values
    /// under 4 characters ([redact] min_length) are left alone and named on stderr. The
    /// command is killed if vault is (it never runs on unfiltered)
    #[arg(long)]
    pub redact: bool,

    /// Give the secret NAME to the command as a file: VAR is set to a path
    /// (/proc/self/fd/N) of a sealed in-memory file holding the value; nothing is written
    /// to disk (repeatable)
    #[arg(long = "file", value_name = "VAR=NAME", value_parser = parse_file_mapping)]
    pub files: Vec<(String, String)>,

    /// Write --file secrets into a new private directory inside DIR instead (files 0400,
    /// removed when the command exits), for programs that need a real path; vault stays
    /// as the command's parent
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub file_dir: Option<PathBuf>,

    /// Pass NAME from the vault although it makes programs load or run code (LD_*,
    /// BASH_ENV, PYTHONPATH, NODE_OPTIONS, PATH and more: held back otherwise, see
    /// SECURITY.md); comma-separated or repeated; also [exec] allow_env in the
    /// configuration
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub allow_env: Vec<String>,

    #[command(flatten)]
    pub cache: CacheArgs,

    /// The command and its arguments ('--' before it is optional, and needed only when the
    /// command starts with '-'); options after the command are the command's
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true,
          value_name = "COMMAND", num_args = 1..)]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The manifest: a TOML file mapping variable names to references
    /// [default: secretsd.toml in this directory or the nearest one above, unless
    /// --env-file is given]
    #[arg(long, short, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub manifest: Option<PathBuf>,

    /// A .env file whose values are references (A=secret:A, B=infisical:/app/B) or
    /// literals (anything not starting with secret:, env:, file:, literal: or an installed
    /// or configured provider's name and ':'); repeatable, later files win, and win over
    /// the manifest
    #[arg(long = "env-file", value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub env_files: Vec<PathBuf>,

    /// Run the command as a child and replace the value of every reference in its stdout
    /// and stderr with ******** (the literals and defaults the manifest or env file writes
    /// out are left alone), as exec --redact does: on a terminal the command gets one of its own; it is
    /// killed if vault is
    #[arg(long, conflicts_with = "watch")]
    pub redact: bool,

    /// Stay as a supervisor: re-resolve every reference each --interval, on SIGHUP and when
    /// the vault file changes, and restart (or signal) the command when a value changed
    #[arg(long)]
    pub watch: bool,

    /// With --watch: how often to re-resolve ("30s", "5m")
    #[arg(long, value_name = "DURATION", default_value = "30s", requires = "watch",
          value_parser = parse_duration)]
    pub interval: std::time::Duration,

    /// With --watch: what a changed value does: "restart" (SIGTERM, --grace, SIGKILL, start
    /// again with the new values) or "signal:NAME" (e.g. signal:HUP, for a command that
    /// re-reads its secrets itself)
    #[arg(long, value_name = "ACTION", default_value = "restart", requires = "watch",
          value_parser = parse_on_change)]
    pub on_change: OnChange,

    /// With --watch: how long a restart waits after SIGTERM before SIGKILL
    #[arg(long, value_name = "DURATION", default_value = "10s", requires = "watch",
          value_parser = parse_duration)]
    pub grace: std::time::Duration,

    /// Write the manifest's [files] into a new private directory inside DIR instead of
    /// sealed in-memory files (files 0400, removed when the command exits), for programs
    /// that need a real path; vault stays as the command's parent
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub file_dir: Option<PathBuf>,

    /// Pass NAME from the vault or a provider although it makes programs load or run code
    /// (LD_*, BASH_ENV, PYTHONPATH, NODE_OPTIONS, PATH and more: held back otherwise, see
    /// SECURITY.md; a literal in the manifest passes); comma-separated or repeated; also
    /// [exec] allow_env in the configuration
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    pub allow_env: Vec<String>,

    #[command(flatten)]
    pub cache: CacheArgs,

    /// The command and its arguments (default: the manifest's `command`)
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

/// What `vault run --watch` does when a value changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnChange {
    Restart,
    /// Send this signal to the command.
    Signal(i32),
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let duration = humantime::parse_duration(text)
        .map_err(|e| format!("{e}; write a duration like 30s, 5m or 500ms"))?;
    if duration < std::time::Duration::from_millis(100) {
        return Err("a duration of at least 100ms".into());
    }
    Ok(duration)
}

fn parse_on_change(text: &str) -> Result<OnChange, String> {
    if text == "restart" {
        return Ok(OnChange::Restart);
    }
    let name = text
        .strip_prefix("signal:")
        .ok_or_else(|| format!("{text:?}: write restart or signal:NAME (signal:HUP)"))?;
    let name = name.strip_prefix("SIG").unwrap_or(name);
    let signal = match name.to_ascii_uppercase().as_str() {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "TERM" => libc::SIGTERM,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "WINCH" => libc::SIGWINCH,
        _ => {
            return Err(format!(
                "{name:?} is not a signal vault sends; use HUP, INT, QUIT, TERM, USR1, USR2 or WINCH"
            ));
        }
    };
    Ok(OnChange::Signal(signal))
}

/// `VAR=NAME` of `--file`.
fn parse_file_mapping(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((variable, name)) if !variable.is_empty() && !name.is_empty() => {
            Ok((variable.to_string(), name.to_string()))
        }
        _ => Err(format!(
            "write VAR=NAME (the variable that gets the path, the secret that fills the file), not {text:?}"
        )),
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The manifest [default: secretsd.toml in this directory or the nearest one above,
    /// unless --env-file is given]
    #[arg(long, short, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub manifest: Option<PathBuf>,

    /// A .env file of references and literals, as vault run --env-file reads it
    /// (repeatable, later files win, and win over the manifest)
    #[arg(long = "env-file", value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub env_files: Vec<PathBuf>,

    /// Print a JSON array instead of a table
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["dotenv", "json", "from_env"])))]
pub struct ImportArgs {
    /// A .env file (NAME=VALUE lines; '-' for stdin)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub dotenv: Option<PathBuf>,

    /// A JSON object of names to string values ('-' for stdin)
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub json: Option<PathBuf>,

    /// Variables of vault's own environment whose names start with --prefix
    #[arg(long)]
    pub from_env: bool,

    /// With --from-env: the prefix to select and strip
    #[arg(long, default_value = "SECRET_", requires = "from_env")]
    pub prefix: String,

    /// Replace secrets that exist already
    #[arg(long, conflicts_with = "skip_existing")]
    pub overwrite: bool,

    /// Keep secrets that exist already and import the rest
    #[arg(long)]
    pub skip_existing: bool,

    /// Show what would change (values masked) and change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Also add NAME = "secret:NAME" for each imported name to the project manifest
    /// (FILE, or secretsd.toml here or above, created if there is none)
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "secretsd.toml",
          value_hint = clap::ValueHint::FilePath)]
    pub manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Output format
    #[arg(long, short, value_enum, default_value_t = ExportFormat::Dotenv)]
    pub format: ExportFormat,

    /// Only these secrets (comma-separated or repeated)
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub only: Vec<String>,

    /// Write to FILE (created 0600, replaced atomically) instead of stdout; refused in a
    /// directory another user may write, or over their file
    #[arg(long, short, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub output: Option<PathBuf>,

    /// With --output: the user FILE belongs to on purpose (a service's env file written by
    /// root); it is written owned by them
    #[arg(long, value_name = "USER", requires = "output")]
    pub owner: Option<String>,

    /// Export a manifest's variables, each reference resolved (vault, env, file, providers)
    #[arg(long, short, value_name = "FILE", value_hint = clap::ValueHint::FilePath,
          conflicts_with = "from")]
    pub manifest: Option<PathBuf>,

    /// Export from these sources instead of the vault: vault, dotenv:PATH, docker:PATH or
    /// PROVIDER:PREFIX (repeatable; a later one wins; --only is then an allow-list of names
    /// or patterns)
    #[arg(long = "from", value_name = "SOURCE")]
    pub from: Vec<String>,
}

/// Formats `vault export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// NAME=value lines, quoted only when a value needs it; read back by vault import and
    /// python-dotenv
    Dotenv,
    /// One JSON object of names to values
    Json,
    /// export NAME='value' lines for sh/bash (`set -a; . FILE`)
    Shell,
    /// systemd EnvironmentFile= lines
    Systemd,
    /// NAME=value lines for docker run --env-file and compose's env_file
    Docker,
    /// export NAME='value' lines of an .envrc (direnv)
    #[value(alias = "envrc")]
    Direnv,
}

impl From<ExportFormat> for crate::formats::Format {
    fn from(format: ExportFormat) -> Self {
        use crate::formats::Format;
        match format {
            ExportFormat::Dotenv => Format::Dotenv,
            ExportFormat::Json => Format::Json,
            ExportFormat::Shell => Format::Shell,
            ExportFormat::Systemd => Format::Systemd,
            ExportFormat::Docker => Format::Docker,
            ExportFormat::Direnv => Format::Direnv,
        }
    }
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// A note kept in the backup's record (shown by 'vault restore --list'; never a value)
    #[arg(long, value_name = "TEXT", conflicts_with = "output")]
    pub note: Option<String>,

    /// Write the backup to FILE instead of backups/: the vault's encrypted file as it is
    /// now (an age file; copy it back over the vault to restore it), 0600, atomically,
    /// under the same checks as export -o
    #[arg(long, short, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["list", "latest", "backup"])))]
pub struct RestoreArgs {
    /// List the backups, newest first: id, time, operation, secret names, note
    #[arg(long)]
    pub list: bool,

    /// With --list: print a JSON array
    #[arg(long, requires = "list")]
    pub json: bool,

    /// Restore the newest backup (the state before the last change)
    #[arg(long)]
    pub latest: bool,

    /// Restore this backup; an unambiguous prefix of its id is enough
    #[arg(long, value_name = "ID")]
    pub backup: Option<String>,

    /// Show which secrets would be added, changed and removed (masked) and which files
    /// rewritten; change nothing
    #[arg(long, short = 'n', conflicts_with = "list")]
    pub dry_run: bool,

    /// Restore the vault only, not the files the backup holds
    #[arg(long, conflicts_with = "list")]
    pub no_files: bool,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The rotation policy: [secrets.NAME] and [services.NAME] tables
    /// [default: the [rotate] table of the configuration file]
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub policy: Option<PathBuf>,

    /// Rotate only these (comma-separated), and every JWT signed with one of them
    /// [default: every secret with auto_rotate]
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub secrets: Vec<String>,

    /// Rotate only the auto_rotate secrets whose rotation is due (their --rotate-every has
    /// passed since their value changed), and every JWT signed with one of them
    #[arg(long, conflicts_with = "secrets")]
    pub due: bool,

    /// Print the plan (secrets, types, files, services in restart order) and change nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// Do not back up the vault and files first (not recommended: nothing to restore)
    #[arg(long, conflicts_with = "rollback_on_failure")]
    pub skip_backup: bool,

    /// Then restart the affected services in dependency order, each followed by its
    /// health command until it passes or times out
    #[arg(long)]
    pub restart: bool,

    /// When a step fails, restore the backup and restart the services again
    #[arg(long)]
    pub rollback_on_failure: bool,

    /// Only restart (and health-check) the services the latest rotation touched
    #[arg(long, conflicts_with_all = ["secrets", "due", "dry_run", "skip_backup", "restart", "rollback_on_failure"])]
    pub restart_only: bool,

    /// With --restart-only: every service of the policy
    #[arg(long, requires = "restart_only")]
    pub all: bool,

    /// Do not wait for health commands after restarting
    #[arg(long)]
    pub no_health: bool,
}

#[derive(Debug, Args)]
pub struct CheckServicesArgs {
    /// The rotation policy whose [services.NAME] are checked
    /// [default: the [rotate] table of the configuration file]
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub policy: Option<PathBuf>,

    /// Write the result to FILE (JSON, no values) for a later --compare
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub save: Option<PathBuf>,

    /// Compare with a result saved by --save and show what changed
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub compare: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// A named sync: the [sync.NAME] table of the configuration file (flags given here
    /// replace its settings)
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// A source: vault, dotenv:PATH, docker:PATH or PROVIDER:PREFIX; repeatable, a later
    /// one wins
    #[arg(long = "from", value_name = "SOURCE")]
    pub from: Vec<String>,

    /// The target: vault (default), dotenv:PATH, docker:PATH, or PROVIDER:PREFIX of a
    /// provider that can set
    #[arg(long, value_name = "TARGET")]
    pub to: Option<String>,

    /// The allow-list: names or patterns such as NINJA_* (comma-separated) [default: all]
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub only: Vec<String>,

    /// Target variables never overwritten (comma-separated; patterns allowed)
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub preserve: Vec<String>,

    /// Fail, writing nothing, when a name of the allow-list is in no source
    #[arg(long)]
    pub strict: bool,

    /// Show what would be added, changed, unchanged and preserved (values masked); change
    /// nothing
    #[arg(long, short = 'n')]
    pub dry_run: bool,

    /// With a .env target: how many backups to keep in .env-backups/ [default: 10]
    #[arg(long, value_name = "N")]
    pub keep_backups: Option<usize>,

    /// With a .env target: the user it belongs to on purpose (a service's env file written
    /// by root); it is written owned by them. Without it, a file another user owns is
    /// refused
    #[arg(long, value_name = "USER")]
    pub owner: Option<String>,

    /// List the named syncs of the configuration file
    #[arg(long, conflicts_with_all = ["name", "from", "to", "only", "preserve", "strict", "dry_run", "owner"])]
    pub list: bool,

    #[command(flatten)]
    pub cache: CacheArgs,

    /// With --offline: copy values from the cache although they may be stale (sync writes
    /// them into the target as if just fetched)
    #[arg(long)]
    pub allow_stale: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print a JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum SystemdCommand {
    /// Print a hardened service unit that runs COMMAND under 'vault run'
    ///
    /// The unit names the directories of the providers found now (VAULT_PROVIDER_PATH) and
    /// hands vault the identity, vault, manifest and configuration as credentials. When
    /// vault, the command or a provider lives in a home directory (a user install), the
    /// unit gets ProtectHome=read-only instead of yes, said on stderr, if the service's user
    /// can reach it there; otherwise it is refused (exit 2), naming what is in the way.
    Unit(SystemdUnitArgs),
    /// Print (or write) a hardened oneshot .service and a .timer that runs it on a schedule,
    /// e.g. for 'vault sync PROFILE'
    ///
    /// The service names the directories of the providers found now (VAULT_PROVIDER_PATH),
    /// the vault and the configuration, so it runs as it does from your shell.
    Timer(SystemdTimerArgs),
}

#[derive(Debug, Args)]
pub struct SystemdTimerArgs {
    /// The unit name (NAME.service and NAME.timer)
    pub name: String,

    /// When to run, in systemd's calendar syntax ("daily", "*-*-* 08:00:00 UTC")
    #[arg(long, value_name = "SPEC")]
    pub on_calendar: String,

    /// Start up to this long after the scheduled time, at random ("10min", "30s")
    #[arg(long, value_name = "DURATION")]
    pub randomized_delay: Option<String>,

    /// Write NAME.service and NAME.timer into DIR (made, 0700, when missing) instead of
    /// printing them
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub output_dir: Option<PathBuf>,

    /// Run as this user (default: root, which a shared root-owned source needs)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// A path the command may write besides the vault's directory (repeatable); the
    /// directory of a sync's dotenv target is added by itself
    #[arg(long = "read-write", value_name = "PATH", value_hint = clap::ValueHint::AnyPath)]
    pub read_write: Vec<PathBuf>,

    /// A description for the units
    #[arg(long)]
    pub description: Option<String>,

    /// The command and its arguments; a leading 'vault' becomes this vault binary's path
    #[arg(last = true, required = true, value_name = "COMMAND", num_args = 1..)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct SystemdUnitArgs {
    /// The service name (NAME.service)
    pub name: String,

    /// The manifest the service resolves at start
    #[arg(long, short, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub manifest: PathBuf,

    /// Run the service as this user (default: a transient DynamicUser)
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,

    /// systemd service Type=
    #[arg(long = "type", value_enum, default_value_t = ServiceType::Exec)]
    pub service_type: ServiceType,

    /// A description for the unit
    #[arg(long)]
    pub description: Option<String>,

    /// Run it under 'vault run --watch': the service restarts its command when a secret
    /// changes, reads the vault itself (so --user must own it) and re-resolves on
    /// 'systemctl reload'
    #[arg(long, requires = "user")]
    pub watch: bool,

    /// Run it under 'vault run --redact': the value of every reference in the service's
    /// output (the journal) becomes ********; vault stays as the command's parent
    #[arg(long, conflicts_with = "watch")]
    pub redact: bool,

    /// The command the service runs, and its arguments
    #[arg(last = true, required = true, value_name = "COMMAND", num_args = 1..)]
    pub command: Vec<String>,
}

/// The systemd service types a `vault run` unit supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServiceType {
    Simple,
    Exec,
    Notify,
    Oneshot,
}
