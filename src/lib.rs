//! secretsd: the core of `vault`, a secrets vault for the command line and for Linux
//! services.
//!
//! `store`, `names`, `value`, `paths` and `config` never print; `commands` owns what the
//! user sees; `main.rs` only parses, dispatches and maps errors to exit codes.

pub mod cli;
pub use secretsd_store as store;
pub use secretsd_store::{error, formats, names, paths, trust};

pub mod code_env;
pub mod commands;
pub mod complete;
pub mod config;
pub mod env_file;
pub mod environment;
pub mod keeper;
pub mod manifest;
pub mod manpages;
pub mod merge;
pub mod process;
pub mod providers;
pub mod pty;
pub mod redact;
pub mod resolve;
pub mod rotation;
pub mod scan;
pub mod scratch;
pub mod secret_files;
pub mod service_access;
pub mod sync;
pub mod value;
