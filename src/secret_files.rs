//! Secrets a program reads as files (a kubeconfig, a TLS key, a service-account JSON),
//! without a file on any filesystem.
//!
//! Each one is an anonymous in-memory file (`memfd_create`), sealed against writing,
//! growing and shrinking, left open across `execve`, and named to the program as
//! `/proc/self/fd/N` — which is what `/dev/fd/N` links to. The program and the children it
//! forks (which inherit the descriptor) open it by that path. A program that hands the path
//! to an unrelated process, or closes inherited descriptors before reopening it, needs a
//! real path: [`FileDir`] writes the files into a private directory for as long as the
//! command runs.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroize;

use crate::error::{Error, Result};

/// A sealed in-memory file holding one secret, open (and inherited) until dropped.
pub struct SealedFile {
    fd: OwnedFd,
}

impl SealedFile {
    /// A memfd named after `variable` (the name shows in `ls -l /proc/PID/fd`), holding
    /// `content`, mode 0400, sealed so that nobody — root included — can change it.
    pub fn new(variable: &str, content: &[u8]) -> Result<SealedFile> {
        let failed = |what: &str, e: std::io::Error| {
            Error::Failed(format!(
                "cannot {what} the in-memory file for {variable}: {e}"
            ))
        };
        // Not MFD_CLOEXEC: the descriptor must survive execve into the command.
        let fd = rustix::fs::memfd_create(
            format!("secretsd:{variable}"),
            rustix::fs::MemfdFlags::ALLOW_SEALING,
        )
        .map_err(|e| failed("create", e.into()))?;
        let mut file = File::from(fd);
        file.write_all(content).map_err(|e| failed("write", e))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o400))
            .map_err(|e| failed("protect", e))?;
        use rustix::fs::SealFlags;
        let seals = SealFlags::WRITE | SealFlags::GROW | SealFlags::SHRINK | SealFlags::SEAL;
        rustix::fs::fcntl_add_seals(&file, seals).map_err(|e| failed("seal", e.into()))?;
        Ok(SealedFile { fd: file.into() })
    }

    /// The path the command opens it by.
    pub fn path(&self) -> String {
        format!("/proc/self/fd/{}", self.fd.as_raw_fd())
    }
}

/// `--file-dir`: the files in a new 0700 directory inside a directory the user chose, each
/// 0400, removed (overwritten first) when dropped — for programs that need a real path.
pub struct FileDir {
    dir: PathBuf,
    files: Vec<(PathBuf, usize)>,
}

impl FileDir {
    pub fn create(parent: &Path) -> Result<FileDir> {
        if !parent.is_dir() {
            return Err(Error::NotFound(format!(
                "--file-dir {}: no such directory",
                parent.display()
            )));
        }
        let mut suffix = [0u8; 6];
        getrandom::fill(&mut suffix)
            .map_err(|e| Error::Failed(format!("no randomness for a directory name: {e}")))?;
        let name: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
        let dir = parent.join(format!("secretsd-files-{name}"));
        DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("create", &dir, e))?;
        Ok(FileDir {
            dir,
            files: Vec::new(),
        })
    }

    /// Writes `content` as the file for `variable`; returns its path.
    pub fn add(&mut self, variable: &str, content: &[u8]) -> Result<PathBuf> {
        let path = self.dir.join(variable);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .open(&path)
            .map_err(|e| Error::io("create", &path, e))?;
        self.files.push((path.clone(), content.len()));
        file.write_all(content)
            .map_err(|e| Error::io("write", &path, e))?;
        Ok(path)
    }
}

impl Drop for FileDir {
    fn drop(&mut self) {
        for (path, length) in &self.files {
            // Overwrite before unlinking, so the blocks do not keep the secret.
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            if let Ok(mut file) = OpenOptions::new().write(true).open(path) {
                let mut zeros = vec![0u8; *length];
                let _ = file.write_all(&zeros).and_then(|()| file.sync_all());
                zeros.zeroize();
            }
            let _ = std::fs::remove_file(path);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_file_reads_back_and_refuses_writes() {
        let sealed = SealedFile::new("KUBECONFIG", b"apiVersion: v1\n").unwrap();
        assert_eq!(std::fs::read(sealed.path()).unwrap(), b"apiVersion: v1\n");
        let link = std::fs::read_link(sealed.path()).unwrap();
        assert!(
            link.to_string_lossy()
                .starts_with("/memfd:secretsd:KUBECONFIG"),
            "{link:?}"
        );
        // Root ignores the mode; the seal holds all the same.
        let mut file = OpenOptions::new().append(true).open(sealed.path());
        if let Ok(file) = &mut file {
            assert!(file.write_all(b"x").is_err());
        }
    }
}
