//! The environment a command is started with: what vault inherited, with secrets added.
//!
//! Built in one pass over the inherited environment, as std reads it, into one buffer of
//! `NAME=value` entries that is zeroed on drop (as are std's copies of the inherited
//! variables). Asking getenv per secret, or letting std's `Command` keep
//! every variable in a map, costs secrets × variables, or copies of thousands of values
//! nobody wipes.

use std::collections::HashMap;
use std::ffi::{OsString, c_char};
use std::ops::Range;
use std::os::unix::ffi::OsStringExt;

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::formats::check_env_size;

/// What goes into the command's environment besides the secrets.
pub struct Inherit {
    /// Start from nothing instead of vault's own environment.
    pub clean: bool,
    /// With `clean`: keep `PATH` all the same.
    pub keep_path: bool,
    /// An inherited variable wins over a secret of the same name.
    pub no_override: bool,
}

/// The command's whole environment, ready for `execve`.
pub struct ChildEnvironment {
    /// Every entry as `NAME=value` and its NUL: the inherited ones in the order vault got
    /// them, then the secrets.
    text: Zeroizing<Vec<u8>>,
    /// Where each entry is in `text`, its NUL included.
    entries: Vec<Range<usize>>,
    /// How many secrets made it in (after `no_override` and repeated names).
    pub secret_count: usize,
    /// std's copies of the inherited variables, wiped when dropped. Kept until then rather
    /// than freed at once: an exec that succeeds never frees them (freeing 10,000 pairs
    /// cost a fresh process milliseconds).
    _inherited: Inherited,
}

/// Name and value of each inherited variable, as std's `vars_os` copied them.
struct Inherited(Vec<(Vec<u8>, Vec<u8>)>);

impl Drop for Inherited {
    fn drop(&mut self) {
        for (name, value) in &mut self.0 {
            name.zeroize();
            value.zeroize();
        }
    }
}

/// The variables of this process's environment that the command may inherit, each as the
/// bytes of its name and value.
fn inherited(inherit: &Inherit) -> Vec<(Vec<u8>, Vec<u8>)> {
    let pair = |(name, value): (OsString, OsString)| (name.into_vec(), value.into_vec());
    match (inherit.clean, inherit.keep_path) {
        (false, _) => std::env::vars_os().map(pair).collect(),
        (true, true) => std::env::var_os("PATH")
            .map(|path| pair((OsString::from("PATH"), path)))
            .into_iter()
            .collect(),
        (true, false) => Vec::new(),
    }
}

/// The name part of an entry: up to the first `=` (the whole entry if none).
fn name_of(entry: &[u8]) -> &[u8] {
    // A name cannot start with `=`: that one belongs to the name, as glibc's getenv reads it.
    let at = entry
        .iter()
        .skip(1)
        .position(|b| *b == b'=')
        .map_or(entry.len(), |p| p + 1);
    &entry[..at]
}

impl ChildEnvironment {
    /// `variables` are the secrets in order; of a name given twice the later one wins.
    pub fn build(variables: &[(&str, &str)], inherit: &Inherit) -> Result<ChildEnvironment> {
        // Each name maps to the index of its last occurrence, the one that is passed on.
        // foldhash: names are short and many; SipHash was most of this function at 1,000
        // secrets. Seeded per process, so a hostile set of names cannot be made to collide.
        let mut chosen: HashMap<&[u8], usize, foldhash::fast::RandomState> =
            HashMap::with_capacity_and_hasher(variables.len(), Default::default());
        for (index, (name, value)) in variables.iter().enumerate() {
            check_env_size(name, value)?;
            chosen.insert(name.as_bytes(), index);
        }
        let inherited = inherited(inherit);
        // An inherited variable a secret replaces is left out, unless --no-override: then
        // the inherited value stays and the secret is dropped.
        let mut kept = vec![true; inherited.len()];
        for ((name, _), kept) in inherited.iter().zip(&mut kept) {
            if chosen.contains_key(name.as_slice()) {
                if inherit.no_override {
                    chosen.remove(name.as_slice());
                } else {
                    *kept = false;
                }
            }
        }
        let mut passed = vec![false; variables.len()];
        for &index in chosen.values() {
            passed[index] = true;
        }
        let size: usize = inherited
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| **kept)
            .map(|((name, value), _)| name.len() + value.len() + 2)
            .chain(
                variables
                    .iter()
                    .zip(&passed)
                    .filter(|(_, passed)| **passed)
                    .map(|((name, value), _)| name.len() + value.len() + 2),
            )
            .sum();
        // Sized once, so no value is ever copied into a reallocated (unzeroed) buffer.
        let mut text = Zeroizing::new(Vec::with_capacity(size));
        let mut entries = Vec::with_capacity(inherited.len() + variables.len());
        let mut add = |name: &[u8], value: &[u8]| {
            let start = text.len();
            text.extend_from_slice(name);
            text.push(b'=');
            text.extend_from_slice(value);
            // Values are checked for NUL when stored (and std's have none); a NUL inside
            // would cut the value.
            text.push(0);
            entries.push(start..text.len());
        };
        for ((name, value), kept) in inherited.iter().zip(&kept) {
            if *kept {
                add(name, value);
            }
        }
        let mut secret_count = 0;
        for ((name, value), passed) in variables.iter().zip(&passed) {
            if *passed {
                add(name.as_bytes(), value.as_bytes());
                secret_count += 1;
            }
        }
        Ok(ChildEnvironment {
            text,
            entries,
            secret_count,
            _inherited: Inherited(inherited),
        })
    }

    /// Every entry as `NAME=value` bytes, without the NUL.
    pub fn entries(&self) -> impl Iterator<Item = &[u8]> {
        self.entries
            .iter()
            .map(|range| &self.text[range.start..range.end - 1])
    }

    /// Every entry split at its `=`, for std's `Command`.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries().map(|entry| {
            let name = name_of(entry);
            (name, entry.get(name.len() + 1..).unwrap_or_default())
        })
    }

    /// The NULL-terminated array of pointers `execve` takes, each to a NUL-terminated
    /// entry; valid while `self` is (the text is never changed once built).
    pub fn pointers(&self) -> Vec<*const c_char> {
        self.entries
            .iter()
            .map(|range| self.text[range.start..].as_ptr().cast::<c_char>())
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    }

    /// How many variables the command gets.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Bytes the kernel copies for this environment: the strings with their NULs and one
    /// pointer each (what counts against `ARG_MAX`).
    pub fn kernel_size(&self) -> usize {
        self.entries()
            .map(|e| e.len() + 1 + std::mem::size_of::<*const c_char>())
            .sum()
    }
}

/// What `sysconf(_SC_ARG_MAX)` says on Linux (glibc and musl alike): a quarter of the
/// stack size limit, and never less than the old fixed 128 KiB.
fn argument_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Stack)
        .current
        .map(|stack| (stack / 4).max(128 * 1024))
}

/// The error for an exec that the kernel refused with E2BIG, with the figures that explain
/// it: at 100,000 secrets the environment alone outgrows what Linux accepts.
pub fn too_big(program: &str, environment: &ChildEnvironment, arguments: usize) -> Error {
    let limit = match argument_limit() {
        Some(limit) => format!("{limit} bytes"),
        None => "unknown".to_string(),
    };
    Error::BeforeCommand(Box::new(Error::BadData(format!(
        "{program}: the kernel refused to start it (E2BIG): its environment is {} bytes in {} variables ({} of them secrets) plus {arguments} bytes of arguments, over this system's limit ({limit}, a quarter of the stack size limit, 'ulimit -s'); pass fewer secrets with --only or --prefix, or raise 'ulimit -s'",
        environment.kernel_size(),
        environment.len(),
        environment.secret_count,
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_end_at_the_first_equals_sign_after_the_first_byte() {
        assert_eq!(name_of(b"A=b=c"), b"A");
        assert_eq!(name_of(b"=A=b"), b"=A");
        assert_eq!(name_of(b"NOVALUE"), b"NOVALUE");
    }

    #[test]
    fn the_argument_limit_is_what_getconf_says() {
        let getconf = std::process::Command::new("getconf")
            .arg("ARG_MAX")
            .output()
            .unwrap();
        let said = String::from_utf8(getconf.stdout).unwrap();
        assert_eq!(argument_limit(), said.trim().parse().ok());
    }

    #[test]
    fn a_repeated_name_passes_its_last_value_once() {
        let inherit = Inherit {
            clean: true,
            keep_path: false,
            no_override: false,
        };
        let environment =
            ChildEnvironment::build(&[("A", "1"), ("B", "2"), ("A", "3")], &inherit).unwrap();
        let entries: Vec<&[u8]> = environment.entries().collect();
        assert_eq!(entries, [&b"B=2"[..], b"A=3"]);
        assert_eq!(environment.secret_count, 2);
    }
}
