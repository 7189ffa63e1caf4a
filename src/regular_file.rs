//! Reading a file vault was pointed at (a manifest, an env file, the configuration, a
//! rotation policy, a lookup file, the file of a `file:` reference) once its path has been
//! checked and resolved (`strict::real_checked`).
//!
//! The file is opened without blocking and must be a regular file: a FIFO put where one
//! of them belongs would hang vault before any deadline, and a link to `/dev/zero` would
//! fill its memory. What is read stops at 16 MiB (the largest value vault keeps), however
//! the file grows while it is read.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use secretsd_store::names::MAX_VALUE_BYTES;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// A regular file, open for reading.
pub struct Opened {
    file: File,
    /// What `fstat` says of the file opened (not of a path that could be re-pointed).
    pub metadata: Metadata,
}

/// Opens `real`, the checked path of the `what` shown as `shown`.
pub fn open(real: &Path, shown: &Path, what: &str) -> Result<Opened> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(real)
        .map_err(|e| Error::io(&format!("read the {what}"), shown, e))?;
    let metadata = file
        .metadata()
        .map_err(|e| Error::io(&format!("read the {what}"), shown, e))?;
    if !metadata.is_file() {
        return Err(Error::BadData(format!(
            "the {what} {} is not a regular file (a FIFO, a device or a directory): vault reads only a file there",
            real.display()
        )));
    }
    if metadata.len() > MAX_VALUE_BYTES as u64 {
        return Err(too_large(what, real));
    }
    Ok(Opened { file, metadata })
}

impl Opened {
    /// A file opened by other means (`O_NOFOLLOW`…), with what `fstat` said of it; the
    /// caller checked it is a regular file.
    pub fn new(file: File, metadata: Metadata) -> Opened {
        Opened { file, metadata }
    }

    /// All of it, in a buffer zeroed on drop.
    pub fn read(self, real: &Path, shown: &Path, what: &str) -> Result<Zeroizing<Vec<u8>>> {
        let mut bytes = Zeroizing::new(Vec::with_capacity(self.metadata.len() as usize));
        self.file
            .take(MAX_VALUE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(&format!("read the {what}"), shown, e))?;
        if bytes.len() > MAX_VALUE_BYTES {
            return Err(too_large(what, real));
        }
        Ok(bytes)
    }
}

/// The text of `real`, the checked path of the `what` shown as `shown`.
pub fn read_text(real: &Path, shown: &Path, what: &str) -> Result<Zeroizing<String>> {
    let bytes = open(real, shown, what)?.read(real, shown, what)?;
    match std::str::from_utf8(&bytes) {
        Ok(text) => Ok(Zeroizing::new(text.to_string())),
        Err(_) => Err(Error::io(
            &format!("read the {what}"),
            shown,
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ),
        )),
    }
}

fn too_large(what: &str, real: &Path) -> Error {
    Error::BadData(format!(
        "the {what} {} is larger than vault reads ({} MiB)",
        real.display(),
        MAX_VALUE_BYTES / (1024 * 1024)
    ))
}
