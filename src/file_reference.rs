//! Reading the file of a `file:` reference: a secret kept in a file (a token `bao login`
//! wrote, a systemd credential, a mounted Kubernetes secret).
//!
//! What is read is what was checked: the path is resolved as `strict::real_checked` resolves
//! it (a link on the way that another user owns or could re-point is refused, and so is a
//! file another user could replace), and the file is opened by its real path without
//! blocking and must be a regular file — a FIFO would hang vault before any deadline, and
//! `/dev/zero` would fill its memory. A file larger than a value may be is refused unread.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use secretsd_store::names::MAX_VALUE_BYTES;
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
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(&real)
        .map_err(|e| Error::io("open", &real, e))?;
    let metadata = file.metadata().map_err(|e| Error::io("read", &real, e))?;
    if !metadata.is_file() {
        return Err(Error::BadData(format!(
            "{} is not a regular file (a FIFO, a device or a directory): vault reads a value only from a file",
            real.display()
        )));
    }
    // Judged on the file opened, not on a path that could be re-pointed since.
    if holding == Holding::Private && metadata.mode() & 0o077 != 0 {
        return Err(Error::LockedOut(format!(
            "{} holds a secret vault found by itself, and others may access it (mode {:o}): make it private with 'chmod 600 {}'",
            real.display(),
            metadata.mode() & 0o777,
            real.display()
        )));
    }
    if metadata.len() > MAX_VALUE_BYTES as u64 {
        return Err(Error::BadData(format!(
            "{} is {} bytes, more than a value may be ({} MiB)",
            real.display(),
            metadata.len(),
            MAX_VALUE_BYTES / (1024 * 1024)
        )));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(metadata.len() as usize));
    // A file that grows while it is read stops at the limit all the same.
    file.take(MAX_VALUE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io("read", &real, e))?;
    if bytes.len() > MAX_VALUE_BYTES {
        return Err(Error::BadData(format!(
            "{} grew past the size a value may be while it was read",
            real.display()
        )));
    }
    Ok(bytes)
}
