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
pub struct GlobalArgs {
    /// The vault file [env: VAULT_FILE; default: $XDG_DATA_HOME/secretsd/vault.age]
    #[arg(long, global = true, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub vault: Option<PathBuf>,

    /// The age identity file [env: VAULT_IDENTITY; then $CREDENTIALS_DIRECTORY/vault-identity;
    /// then $XDG_CONFIG_HOME/secretsd/identity.txt]
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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create an identity (if none exists) and an empty vault encrypted to it
    Init(InitArgs),
    /// Store a secret (value from a hidden prompt, stdin, or --generate)
    Set(SetArgs),
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
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Also encrypt to this recipient (age1... or an SSH ed25519/RSA public key); repeatable
    #[arg(long = "recipient", short = 'r', value_name = "RECIPIENT")]
    pub recipients: Vec<String>,

    /// Protect the vault with a passphrase (scrypt) instead of an identity
    /// [passphrase from VAULT_PASSPHRASE_FILE, or asked twice on a terminal]
    #[arg(long, conflicts_with = "recipients")]
    pub passphrase: bool,

    /// Write the vault as ASCII armor (PEM-like text) instead of binary
    #[arg(long)]
    pub armor: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Secret name: letters, digits and '_', not starting with a digit
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

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Secret name
    pub name: String,

    /// Print exactly the value, nothing else (for $(vault get --reveal NAME))
    #[arg(long)]
    pub reveal: bool,

    /// Print a JSON object with the name, times, description and the (masked) value
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Print a JSON array instead of a table
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ExistsArgs {
    /// Secret name
    pub name: String,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Secret names
    #[arg(required = true, num_args = 1..)]
    pub names: Vec<String>,

    /// Do not fail when a name is absent
    #[arg(long, short)]
    pub force: bool,
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
pub enum RecipientsCommand {
    /// Print the recipients, one per line
    List,
    /// Add a recipient and re-encrypt the vault
    Add {
        /// age1... or an SSH ed25519/RSA public key ("ssh-ed25519 AAAA...")
        recipient: String,
    },
    /// Remove a recipient and re-encrypt the vault
    Remove {
        /// The recipient as 'vault recipients list' prints it
        recipient: String,

        /// Remove it even when none of your identities could open the vault afterwards
        #[arg(long, short)]
        force: bool,
    },
}
