//! vault's errors: the store's ([`secretsd_store::error`]) and the three only a command line
//! that reaches providers and starts commands has — a provider failed, vault failed before
//! the command it runs started, the command could not be started.
//!
//! The store's kinds are repeated here rather than wrapped, so every command names them
//! alike (`Error::NotFound(...)`) whichever layer a failure comes from; `?` converts a
//! store error kind for kind.

use std::io;
use std::path::Path;

use secretsd_store::error::Error as StoreError;

/// Exit codes shared by every command: the store's, and those of providers and of the
/// command `exec`/`run` start.
pub mod exit {
    pub use secretsd_store::error::exit::*;

    /// A provider failed.
    pub const PROVIDER: u8 = 5;
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
    /// Corrupt or invalid data: the vault file, a name, a value.
    #[error("{0}")]
    BadData(String),
    /// Anything else that went wrong.
    #[error("{0}")]
    Failed(String),
    /// An I/O error, with what was being done and to which path.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, to which path.
        context: String,
        /// The error the system gave.
        #[source]
        source: io::Error,
    },
    /// A provider failed.
    #[error("{0}")]
    Provider(String),
    /// `exec`/`run`: vault failed before the command started (exit 125, as `env` does).
    #[error("{0}")]
    BeforeCommand(Box<Error>),
    /// `exec`/`run`: the command exists but cannot be executed (exit 126).
    #[error("{0}")]
    CommandNotExecutable(String),
    /// `exec`/`run`: the command was not found (exit 127).
    #[error("{0}")]
    CommandNotFound(String),
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
        StoreError::io(what, path, source).into()
    }
}

impl From<StoreError> for Error {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Usage(message) => Error::Usage(message),
            StoreError::NotFound(message) => Error::NotFound(message),
            StoreError::LockedOut(message) => Error::LockedOut(message),
            StoreError::BadData(message) => Error::BadData(message),
            StoreError::Failed(message) => Error::Failed(message),
            StoreError::Io { context, source } => Error::Io { context, source },
        }
    }
}

/// For the callbacks vault hands the store (keys, the trust guard), whose failures the
/// store passes back up: vault's own kinds that the store has no word for become
/// `Failed` with the same message, and `?` turns them back into the same words.
impl From<Error> for StoreError {
    fn from(error: Error) -> Self {
        match error {
            Error::Usage(message) => StoreError::Usage(message),
            Error::NotFound(message) => StoreError::NotFound(message),
            Error::LockedOut(message) => StoreError::LockedOut(message),
            Error::BadData(message) => StoreError::BadData(message),
            Error::Failed(message) => StoreError::Failed(message),
            Error::Io { context, source } => StoreError::Io { context, source },
            other @ (Error::Provider(_)
            | Error::BeforeCommand(_)
            | Error::CommandNotExecutable(_)
            | Error::CommandNotFound(_)) => StoreError::Failed(other.to_string()),
        }
    }
}

/// A result with vault's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
