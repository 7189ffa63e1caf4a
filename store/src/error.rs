//! The errors of the vault core and the exit codes they map to (docs/DESIGN.md).
//!
//! Every message is a complete sentence that names the thing involved and, where there is
//! one, the fix. No variant carries a secret value: callers pass names and paths only.

use std::io;
use std::path::Path;

/// Exit codes shared by every command.
pub mod exit {
    /// Done as asked.
    pub const OK: u8 = 0;
    /// Anything else that went wrong.
    pub const ERROR: u8 = 1;
    /// The command line asks for something that cannot be done as asked.
    pub const USAGE: u8 = 2;
    /// A secret, reference or file does not exist.
    pub const NOT_FOUND: u8 = 3;
    /// No vault, no or wrong identity, unsafe permissions.
    pub const LOCKED_OUT: u8 = 4;
    /// A provider failed.
    pub const PROVIDER: u8 = 5;
    /// Corrupt or invalid data.
    pub const BAD_DATA: u8 = 6;
    /// `exec`/`run`: vault's own failure before the command started.
    pub const BEFORE_COMMAND: u8 = 125;
    /// `exec`/`run`: the command exists but cannot be executed.
    pub const NOT_EXECUTABLE: u8 = 126;
    /// `exec`/`run`: the command was not found.
    pub const COMMAND_NOT_FOUND: u8 = 127;
}

/// What went wrong, as a complete sentence that names the thing involved; never a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line asks for something that cannot be done as asked.
    #[error("{0}")]
    Usage(String),
    /// A secret, reference or file the user named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// No identity, the wrong identity, no passphrase, or unsafe permissions.
    #[error("{0}")]
    LockedOut(String),
    /// A provider failed (used from the provider layer on).
    #[error("{0}")]
    Provider(String),
    /// Corrupt or invalid data: the vault file, a name, a value.
    #[error("{0}")]
    BadData(String),
    /// Anything else that went wrong.
    #[error("{0}")]
    Failed(String),
    /// `exec`/`run`: vault failed before the command started (exit 125, as `env` does).
    #[error("{0}")]
    BeforeCommand(Box<Error>),
    /// `exec`/`run`: the command exists but cannot be executed (exit 126).
    #[error("{0}")]
    CommandNotExecutable(String),
    /// `exec`/`run`: the command was not found (exit 127).
    #[error("{0}")]
    CommandNotFound(String),
    /// An I/O error, with what was being done and to which path.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, to which path.
        context: String,
        /// The error the system gave.
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// The exit code this error maps to (docs/DESIGN.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::NotFound(_) => exit::NOT_FOUND,
            Error::LockedOut(_) => exit::LOCKED_OUT,
            Error::Provider(_) => exit::PROVIDER,
            Error::BadData(_) => exit::BAD_DATA,
            Error::Failed(_) | Error::Io { .. } => exit::ERROR,
            Error::BeforeCommand(_) => exit::BEFORE_COMMAND,
            Error::CommandNotExecutable(_) => exit::NOT_EXECUTABLE,
            Error::CommandNotFound(_) => exit::COMMAND_NOT_FOUND,
        }
    }

    /// For `exec`/`run`: any failure before the command started exits 125; the command's
    /// own "not found" and "not executable" keep 127 and 126.
    pub fn before_command(self) -> Self {
        match self {
            Error::BeforeCommand(_)
            | Error::CommandNotExecutable(_)
            | Error::CommandNotFound(_) => self,
            other => Error::BeforeCommand(Box::new(other)),
        }
    }

    /// An I/O error while doing `what` to `path`.
    pub fn io(what: &str, path: &Path, source: io::Error) -> Self {
        Error::Io {
            context: format!("cannot {what} {}", path.display()),
            source,
        }
    }
}

/// A result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
