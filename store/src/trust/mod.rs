//! Whom this machine trusts to write each vault: the verdict on a version (`policy`, pure)
//! and what the machine remembers (`state`). `commands::trust` puts them to work: it is
//! the store's guard, and `vault verify`.

pub mod policy;
pub mod state;
