//! Reading the file of a `file:` reference: a secret kept in a file (a token `bao login`
//! wrote, a systemd credential, a mounted Kubernetes secret).
//!
//! What is read is what was checked: the path is resolved as `strict::real_checked` resolves
//! it (a link on the way that another user owns or could re-point is refused, and so is a
//! file another user could replace), and the file is read by its real path as
//! `regular_file` reads every file vault is pointed at.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use secretsd_store::strict;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// How a file reference's file is held: `Private` for a secret vault found by itself (a
/// default such as `~/.vault-token`), which must be as private as an identity file.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Holding {
    /// Named by the user: any regular file they may read.
    Named,
    /// Found by vault where a tool keeps a secret: only the user may read it.
    Private,
}

/// The bytes of the file at `path` (`~/` already expanded). `NotFound` when it does not
/// exist; any other refusal says why and what to do.
pub fn read(path: &Path, holding: Holding) -> Result<Zeroizing<Vec<u8>>> {
    let what = "file of the reference";
    let real = strict::real_checked(path, what)?
        .ok_or_else(|| Error::NotFound(format!("{} does not exist", path.display())))?;
    let opened = crate::regular_file::open(&real, path, what)?;
    let metadata = &opened.metadata;
    // Judged on the file opened, not on a path that could be re-pointed since.
    if holding == Holding::Private && metadata.mode() & 0o077 != 0 {
        return Err(Error::LockedOut(format!(
            "{} holds a secret vault found by itself, and others may access it (mode {:o}): make it private with 'chmod 600 {}'",
            real.display(),
            metadata.mode() & 0o777,
            real.display()
        )));
    }
    let bytes = opened.read(&real, path, what)?;
    Ok(bytes)
}
