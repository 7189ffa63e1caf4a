//! secretsd: the core of `vault`, a secrets vault for the command line and for Linux
//! services.
//!
//! `store`, `names`, `value`, `paths` and `config` never print; `commands` owns what the
//! user sees; `main.rs` only parses, dispatches and maps errors to exit codes.

pub mod cli;
pub mod code_env;
pub mod commands;
pub mod complete;
pub mod config;
pub mod environment;
pub mod error;
pub mod formats;
pub mod keeper;
pub mod manifest;
pub mod manpages;
pub mod merge;
pub mod names;
pub mod paths;
pub mod process;
pub mod providers;
pub mod pty;
pub mod redact;
pub mod resolve;
pub mod rotation;
pub mod scan;
pub mod secret_files;
pub mod store;
pub mod sync;
pub mod trust;
pub mod value;
