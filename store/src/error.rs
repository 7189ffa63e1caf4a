//! The errors of the vault file and the exit codes they map to (docs/DESIGN.md). Exit 5
//! (a provider) and 125-127 (the command `exec` runs) are the command line's, not the store's.
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
    /// Corrupt or invalid data.
    pub const BAD_DATA: u8 = 6;
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
}

impl Error {
    /// The exit code this error maps to (docs/DESIGN.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::NotFound(_) => exit::NOT_FOUND,
            Error::LockedOut(_) => exit::LOCKED_OUT,
            Error::BadData(_) => exit::BAD_DATA,
            Error::Failed(_) | Error::Io { .. } => exit::ERROR,
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
