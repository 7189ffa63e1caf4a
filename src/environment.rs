//! The environment a command is started with: what vault inherited, with secrets added.
//!
//! Built in one pass over the inherited environment, which is read where the C library
//! keeps it and never copied: only the secrets' `NAME=value` entries are written, into one
//! buffer that is zeroed on drop. Asking getenv per secret, or letting std's `Command` copy
//! every inherited variable into a map, costs secrets × variables, or a copy of thousands
//! of values vault has no business holding.

use std::collections::HashMap;
use std::ffi::{CStr, c_char};
use std::ops::Range;

use zeroize::Zeroizing;

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

/// One entry of the environment: an inherited `NAME=value` C string, or a range of the
/// secrets buffer (which holds its terminating NUL too).
enum Entry {
    Inherited(*const c_char),
    Secret(Range<usize>),
}

/// The command's whole environment, ready for `execve`.
pub struct ChildEnvironment {
    entries: Vec<Entry>,
    secrets: Zeroizing<Vec<u8>>,
    /// How many secrets made it in (after `no_override` and repeated names).
    pub secret_count: usize,
}

unsafe extern "C" {
    /// The C library's environment, which std's `vars_os` would copy variable by variable.
    static environ: *const *const c_char;
}

/// The `NAME=value` C strings of this process's environment.
fn inherited() -> Vec<*const c_char> {
    let mut entries = Vec::new();
    // SAFETY: `environ` is a NULL-terminated array of NUL-terminated strings. Nothing in
    // vault changes its environment after main's first lines, so it is not modified while
    // it is read here.
    unsafe {
        let mut cursor = environ;
        if cursor.is_null() {
            return entries;
        }
        while !(*cursor).is_null() {
            entries.push(*cursor);
            cursor = cursor.add(1);
        }
    }
    entries
}

/// The name part of an inherited entry: up to the first `=` (the whole entry if none).
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
        let mut entries = Vec::with_capacity(variables.len() + 64);
        if inherit.clean {
            if inherit.keep_path {
                entries.extend(
                    inherited()
                        .into_iter()
                        // SAFETY: pointers from `environ`, valid C strings (see above).
                        .filter(|e| name_of(unsafe { CStr::from_ptr(*e) }.to_bytes()) == b"PATH")
                        .take(1)
                        .map(Entry::Inherited),
                );
            }
        } else {
            for pointer in inherited() {
                // SAFETY: pointers from `environ`, valid C strings (see above).
                let name = name_of(unsafe { CStr::from_ptr(pointer) }.to_bytes());
                if chosen.contains_key(name) {
                    if !inherit.no_override {
                        continue;
                    }
                    // --no-override: the inherited value stays and the secret is dropped.
                    chosen.remove(name);
                }
                entries.push(Entry::Inherited(pointer));
            }
        }
        let mut passed = vec![false; variables.len()];
        for &index in chosen.values() {
            passed[index] = true;
        }
        let size: usize = variables
            .iter()
            .zip(&passed)
            .filter(|(_, passed)| **passed)
            .map(|((name, value), _)| name.len() + value.len() + 2)
            .sum();
        // Sized once, so the values are never copied into a reallocated (unzeroed) buffer.
        let mut secrets = Zeroizing::new(Vec::with_capacity(size));
        let mut secret_count = 0;
        for ((name, value), passed) in variables.iter().zip(&passed) {
            if !passed {
                continue;
            }
            let start = secrets.len();
            secrets.extend_from_slice(name.as_bytes());
            secrets.push(b'=');
            secrets.extend_from_slice(value.as_bytes());
            // Values are checked for NUL when stored; a NUL inside would cut the value.
            secrets.push(0);
            entries.push(Entry::Secret(start..secrets.len()));
            secret_count += 1;
        }
        Ok(ChildEnvironment {
            entries,
            secrets,
            secret_count,
        })
    }

    /// Every entry as `NAME=value` bytes, without the NUL.
    pub fn entries(&self) -> impl Iterator<Item = &[u8]> {
        self.entries.iter().map(|entry| match entry {
            // SAFETY: pointers from `environ`, valid C strings (see `inherited`).
            Entry::Inherited(pointer) => unsafe { CStr::from_ptr(*pointer) }.to_bytes(),
            Entry::Secret(range) => &self.secrets[range.start..range.end - 1],
        })
    }

    /// Every entry split at its `=`, for std's `Command`.
    pub fn pairs(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.entries().map(|entry| {
            let name = name_of(entry);
            (name, entry.get(name.len() + 1..).unwrap_or_default())
        })
    }

    /// The NULL-terminated array of pointers `execve` takes; valid while `self` is.
    pub fn pointers(&self) -> Vec<*const c_char> {
        self.entries
            .iter()
            .map(|entry| match entry {
                Entry::Inherited(pointer) => *pointer,
                Entry::Secret(range) => self.secrets[range.start..].as_ptr().cast::<c_char>(),
            })
            .chain(std::iter::once(std::ptr::null()))
            .collect()
    }

    /// How many variables the command gets.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes the kernel copies for this environment: the strings with their NULs and one
    /// pointer each (what counts against `ARG_MAX`).
    pub fn kernel_size(&self) -> usize {
        self.entries()
            .map(|e| e.len() + 1 + std::mem::size_of::<*const c_char>())
            .sum()
    }
}

/// The error for an exec that the kernel refused with E2BIG, with the figures that explain
/// it: at 100,000 secrets the environment alone outgrows what Linux accepts.
pub fn too_big(program: &str, environment: &ChildEnvironment, arguments: usize) -> Error {
    // SAFETY: sysconf has no preconditions.
    let limit = unsafe { libc::sysconf(libc::_SC_ARG_MAX) };
    let limit = if limit > 0 {
        format!("{} bytes", limit)
    } else {
        "unknown".to_string()
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
