//! `age-plugin-vaulttest`: an age plugin for vault's tests, standing in for hardware-backed
//! plugins (age-plugin-yubikey, age-plugin-tpm) that cannot run on a build machine. It
//! speaks the real age plugin protocol (through the `age-plugin` crate), so vault talks to
//! it exactly as it would to those — but its "key" is the same 16 bytes in identity and
//! recipient and it wraps by XOR: it protects nothing and is for tests only.
//!
//! `age-plugin-vaulttest --generate` prints a new identity (with its recipient in a comment).
//! Each wrap and unwrap appends a line to `$VAULTTEST_LOG` when set, and asks the user to
//! "touch" the key through the protocol's message callback, as a hardware key would.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use age_core::format::{FILE_KEY_BYTES, FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use age_plugin::identity::{self, IdentityPluginV1};
use age_plugin::recipient::{self, RecipientPluginV1};
use age_plugin::{Callbacks, PluginHandler, print_new_identity, run_state_machine};

const NAME: &str = "vaulttest";
const TAG: &str = "vaulttest";

fn log(line: &str) {
    if let Some(path) = std::env::var_os("VAULTTEST_LOG")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    {
        let _ = writeln!(file, "{line}");
    }
}

/// The key's id in a stanza, so an identity recognises its own stanzas.
fn key_id(key: &[u8]) -> String {
    key.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn xor(file_key: &[u8; FILE_KEY_BYTES], key: &[u8]) -> Vec<u8> {
    file_key
        .iter()
        .zip(key.iter().cycle())
        .map(|(a, b)| a ^ b)
        .collect()
}

#[derive(Default)]
struct Wrapper {
    keys: Vec<Vec<u8>>,
}

impl RecipientPluginV1 for Wrapper {
    fn add_recipient(
        &mut self,
        index: usize,
        plugin: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        if plugin != NAME || bytes.len() != FILE_KEY_BYTES {
            return Err(recipient::Error::Recipient {
                index,
                message: "not a vaulttest recipient".into(),
            });
        }
        self.keys.push(bytes.to_vec());
        Ok(())
    }

    fn add_identity(
        &mut self,
        index: usize,
        plugin: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        self.add_recipient(index, plugin, bytes)
            .map_err(|_| recipient::Error::Identity {
                index,
                message: "not a vaulttest identity".into(),
            })
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        _callbacks: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        log("wrap");
        Ok(Ok(file_keys
            .iter()
            .map(|file_key| {
                self.keys
                    .iter()
                    .map(|key| Stanza {
                        tag: TAG.into(),
                        args: vec![key_id(key)],
                        body: xor(file_key.expose_secret(), key),
                    })
                    .collect()
            })
            .collect()))
    }
}

#[derive(Default)]
struct Unwrapper {
    keys: Vec<Vec<u8>>,
}

impl IdentityPluginV1 for Unwrapper {
    fn add_identity(
        &mut self,
        index: usize,
        plugin: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        if plugin != NAME || bytes.len() != FILE_KEY_BYTES {
            return Err(identity::Error::Identity {
                index,
                message: "not a vaulttest identity".into(),
            });
        }
        self.keys.push(bytes.to_vec());
        Ok(())
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        log("unwrap");
        let _ = callbacks.message("touch your vaulttest key")?;
        let mut found = HashMap::new();
        for (file, stanzas) in files.iter().enumerate() {
            for stanza in stanzas.iter().filter(|s| s.tag == TAG) {
                let Some(key) = self
                    .keys
                    .iter()
                    .find(|k| stanza.args.first() == Some(&key_id(k)))
                else {
                    continue;
                };
                if stanza.body.len() != FILE_KEY_BYTES {
                    continue;
                }
                let file_key = FileKey::init_with_mut(|out| {
                    for (i, byte) in out.iter_mut().enumerate() {
                        *byte = stanza.body[i] ^ key[i % key.len()];
                    }
                });
                found.insert(file, Ok(file_key));
                break;
            }
        }
        Ok(found)
    }
}

struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = Wrapper;
    type IdentityV1 = Unwrapper;

    fn recipient_v1(self) -> io::Result<Wrapper> {
        Ok(Wrapper::default())
    }

    fn identity_v1(self) -> io::Result<Unwrapper> {
        Ok(Unwrapper::default())
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let state_machine = args.iter().enumerate().find_map(|(i, arg)| {
        arg.strip_prefix("--age-plugin=")
            .map(str::to_string)
            .or_else(|| {
                (arg == "--age-plugin")
                    .then(|| args.get(i + 1).cloned())
                    .flatten()
            })
    });
    if let Some(state_machine) = state_machine {
        return run_state_machine(&state_machine, Handler);
    }
    if args.first().map(String::as_str) == Some("--generate") {
        let mut key = [0u8; FILE_KEY_BYTES];
        getrandom::fill(&mut key).map_err(|e| io::Error::other(e.to_string()))?;
        print_new_identity(NAME, &key, &key);
        return Ok(());
    }
    eprintln!("usage: age-plugin-vaulttest --generate (a test plugin; it protects nothing)");
    std::process::exit(2)
}
