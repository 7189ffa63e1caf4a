//! Whom this machine trusts to write each vault, remembered from what it has seen
//! (`$XDG_STATE_HOME/secretsd/trust/`), and `vault verify`.
//!
//! The first time a vault is read, its recipients and writer are remembered. Later, a
//! version whose recipients changed without the signature of a known writer, one signed by
//! an unknown key, or one whose signature does not match its content is suspect: reads go
//! on with a warning, changes are refused (they would encrypt new secrets to whoever was
//! added) until `vault verify --accept`. `[security] require_signed` refuses reads too.
//! Known writers: this user's own key, every writer accepted before, and `[security]
//! trusted_writers`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use crate::commands::{Context, SUCCESS, print_stderr, print_stdout};
use crate::error::{Error, Result, exit};
use crate::store::Guard;
use crate::store::signature::{Signed, SigningKey};

/// What this machine saw of one vault.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    vault: String,
    recipients: BTreeSet<String>,
    writers: BTreeSet<String>,
    /// It has been seen signed: an unsigned version now is a downgrade.
    #[serde(default)]
    signed: bool,
    /// The digest of content accepted as it is (`vault verify --accept`, a restore).
    #[serde(default)]
    accepted: Option<String>,
    /// The stamp of the vault file last found in order, so reading it again skips the
    /// check (see `store::Vault::read_stamped`) and may stop at the secret it wants. A
    /// new name: a stamp recorded before "in order" included the names' order is not
    /// taken as saying it.
    #[serde(default, rename = "vetted_sorted")]
    vetted: Option<String>,
}

pub struct Trust {
    dir: PathBuf,
    /// Where the signing key comes from, read only when a signature is made or checked
    /// against this writer's own key.
    identity_path: Option<PathBuf>,
    signing: OnceLock<Option<SigningKey>>,
    trusted: Vec<String>,
    require_signed: bool,
    /// A check warned: nothing it saw is remembered as in order.
    warned: std::sync::atomic::AtomicBool,
}

impl Trust {
    pub fn new(context: &Context) -> Arc<Trust> {
        let dir = std::env::var_os("XDG_STATE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
            .unwrap_or_else(|| PathBuf::from(".local/state"))
            .join("secretsd/trust");
        // The signing key comes from the identity's text: an identity file, or the key
        // given in VAULT_IDENTITY_KEY. (Identities from a command, SSH keys and plugins
        // write unsigned.)
        let identity_path = context.identity_location().ok().map(|l| l.path);
        Arc::new(Trust {
            dir,
            identity_path,
            signing: OnceLock::new(),
            trusted: context.config.security.trusted_writers.clone(),
            require_signed: context.config.security.require_signed,
            warned: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn own_writer(&self) -> Option<String> {
        self.signing_key().map(SigningKey::writer)
    }

    fn record_path(&self, vault: &Path) -> PathBuf {
        use sha2::Digest;
        let real = std::fs::canonicalize(vault).unwrap_or_else(|_| vault.to_path_buf());
        let digest = sha2::Sha256::digest(real.display().to_string().as_bytes());
        let name: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{name}.json"))
    }

    fn seen(&self, vault: &Path) -> Option<Seen> {
        let bytes = std::fs::read(self.record_path(vault)).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    fn remember(&self, vault: &Path, seen: &Seen) {
        // Best effort: failing to remember only means asking again next time.
        if crate::store::fs::ensure_private_dir(&self.dir).is_err() {
            return;
        }
        if let Ok(json) = serde_json::to_vec_pretty(seen) {
            let _ = crate::store::fs::write_atomic(&self.record_path(vault), &json, false);
        }
    }

    /// Whether `writer` is known: accepted before, trusted by configuration, or one's own
    /// (derived only when the others do not answer).
    fn is_known(&self, writer: &str, seen: Option<&Seen>) -> bool {
        seen.is_some_and(|s| s.writers.contains(writer))
            || self.trusted.iter().any(|t| t == writer)
            || self.own_writer().as_deref() == Some(writer)
    }

    /// What is wrong with this version of the vault, by what this machine has seen.
    fn problem(
        &self,
        vault: &Path,
        recipients: &[String],
        signed: &Signed,
        plaintext: &[u8],
    ) -> Option<String> {
        let seen = self.seen(vault);
        let problem = self.problem_of(seen.as_ref(), recipients, signed)?;
        // Content accepted as it is, byte for byte, is no longer a problem.
        let accepted = seen.and_then(|s| s.accepted);
        if accepted.is_some_and(|a| a == crate::store::signature::digest(plaintext)) {
            return None;
        }
        Some(problem)
    }

    fn problem_of(
        &self,
        seen: Option<&Seen>,
        recipients: &[String],
        signed: &Signed,
    ) -> Option<String> {
        let known = |writer: &str| self.is_known(writer, seen);
        let now: BTreeSet<String> = recipients.iter().cloned().collect();
        match signed {
            Signed::Invalid { writer } => {
                return Some(format!(
                    "its signature{} does not match its content",
                    writer
                        .as_deref()
                        .map(|w| format!(" (by {w})"))
                        .unwrap_or_default()
                ));
            }
            Signed::Valid { writer } if !known(writer) => {
                let change = seen
                    .as_ref()
                    .map(|s| recipient_change(&s.recipients, &now))
                    .unwrap_or_default();
                // The first sight of a vault is trusted as it is (trust on first use).
                if seen.is_some() {
                    return Some(format!(
                        "it is signed by an unknown writer {writer}{change}"
                    ));
                }
            }
            _ => {}
        }
        // With require_signed, even a first sight must be signed by a known writer (one's
        // own, or [security] trusted_writers).
        if self.require_signed && !matches!(signed, Signed::Valid { writer } if known(writer)) {
            return Some(
                "it is not signed by a writer this machine knows ([security] require_signed)"
                    .into(),
            );
        }
        let seen = seen?;
        if seen.signed && *signed == Signed::Unsigned {
            return Some(
                "it was signed when this machine last saw it and is not signed now".into(),
            );
        }
        if seen.recipients != now {
            let signed_by_known = matches!(signed, Signed::Valid { writer } if known(writer));
            if !signed_by_known {
                return Some(format!(
                    "its recipients changed since this machine last saw it{} without the signature of a writer it knows",
                    recipient_change(&seen.recipients, &now)
                ));
            }
        }
        None
    }

    /// Trusts this exact content, whatever its signature says.
    fn accept_content(&self, vault: &Path, recipients: &[String], plaintext: &[u8]) {
        let signed = crate::store::signature::check(plaintext);
        let digest = crate::store::signature::digest(plaintext);
        self.record(vault, recipients, &signed, Some(digest), None);
    }

    fn accept(&self, vault: &Path, recipients: &[String], signed: &Signed) {
        self.record(vault, recipients, signed, None, None);
    }

    /// Remembers these recipients and the writer (and, given, content accepted as it is,
    /// and the stamp of a file known to be in order: one this writer just wrote).
    fn record(
        &self,
        vault: &Path,
        recipients: &[String],
        signed: &Signed,
        accepted: Option<String>,
        vetted: Option<&str>,
    ) {
        let before = self.seen(vault);
        let mut seen = before.clone().unwrap_or_default();
        seen.vault = vault.display().to_string();
        seen.recipients = recipients.iter().cloned().collect();
        if let Signed::Valid { writer } = signed {
            seen.writers.insert(writer.clone());
            seen.signed = true;
        }
        if accepted.is_some() {
            seen.accepted = accepted;
        }
        if let Some(stamp) = vetted {
            seen.vetted = Some(stamp.to_string());
        }
        // Reads change nothing here, and write nothing.
        if before.as_ref() != Some(&seen) {
            self.remember(vault, &seen);
        }
    }
}

fn recipient_change(before: &BTreeSet<String>, now: &BTreeSet<String>) -> String {
    let added: Vec<&String> = now.difference(before).collect();
    let removed: Vec<&String> = before.difference(now).collect();
    let mut parts = Vec::new();
    if !added.is_empty() {
        parts.push(format!("added {}", join(&added)));
    }
    if !removed.is_empty() {
        parts.push(format!("removed {}", join(&removed)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

impl Guard for Trust {
    fn signing_key(&self) -> Option<&SigningKey> {
        self.signing
            .get_or_init(|| {
                let text = match crate::process::identity_key() {
                    Some(key) => zeroize::Zeroizing::new(key.to_string()),
                    None => zeroize::Zeroizing::new(
                        std::fs::read_to_string(self.identity_path.as_ref()?).ok()?,
                    ),
                };
                let identity = crate::store::identity::x25519_identity(&text)?;
                SigningKey::from_identity(&identity).ok()
            })
            .as_ref()
    }

    fn vet(
        &self,
        vault: &Path,
        recipients: &[String],
        signed: &Signed,
        plaintext: &[u8],
        writing: bool,
    ) -> Result<()> {
        let Some(problem) = self.problem(vault, recipients, signed, plaintext) else {
            self.accept(vault, recipients, signed);
            return Ok(());
        };
        let message = format!(
            "the vault {} may have been tampered with: {problem}. See it with 'vault verify', and accept it with 'vault verify --accept' only if you know why",
            vault.display()
        );
        if writing || self.require_signed {
            return Err(Error::LockedOut(format!("{message}; nothing was changed")));
        }
        self.warned
            .store(true, std::sync::atomic::Ordering::Relaxed);
        print_stderr(&format!("warning: {message}"));
        Ok(())
    }

    fn vetted(&self, vault: &Path) -> Option<String> {
        // A file found in order before `require_signed` was set may be unsigned: under
        // that policy every read checks.
        if self.require_signed {
            return None;
        }
        self.seen(vault)?.vetted
    }

    fn vetted_as(&self, vault: &Path, stamp: &str) {
        // Only a check that found nothing wrong counts: a warning must come again.
        let Some(mut seen) = self.seen(vault) else {
            return;
        };
        if self.warned.load(std::sync::atomic::Ordering::Relaxed)
            || seen.vetted.as_deref() == Some(stamp)
        {
            return;
        }
        seen.vetted = Some(stamp.to_string());
        self.remember(vault, &seen);
    }

    fn restored(&self, vault: &Path, recipients: &[String], plaintext: &[u8]) {
        self.accept_content(vault, recipients, plaintext);
    }

    fn wrote(&self, vault: &Path, recipients: &[String], stamp: Option<&str>) {
        let signed = match self.own_writer() {
            Some(writer) => Signed::Valid { writer },
            None => Signed::Unsigned,
        };
        self.record(vault, recipients, &signed, None, stamp);
    }
}

/// `vault verify [--accept]`.
pub fn verify(context: &Context, accept: bool) -> Result<u8> {
    let vault = crate::store::Vault::new(&context.vault_location.path);
    let plaintext = vault.read(context)?;
    let signed = crate::store::signature::check(plaintext.bytes());
    let document = plaintext.select(&|_| false)?;
    let trust = Trust::new(context);
    let path = vault.path();
    let mut out = String::new();
    match &signed {
        Signed::Unsigned => out.push_str(
            "signature: none (written before vault signed, or without an X25519 identity)\n",
        ),
        Signed::Valid { writer } => out.push_str(&format!("signature: valid, writer {writer}\n")),
        Signed::Invalid { .. } => out.push_str("signature: DOES NOT MATCH the content\n"),
    }
    if let Some(own) = trust.own_writer() {
        out.push_str(&format!("you sign as: {own}\n"));
    }
    for recipient in &document.recipients {
        out.push_str(&format!("recipient: {recipient}\n"));
    }
    let problem = trust.problem(path, &document.recipients, &signed, plaintext.bytes());
    match &problem {
        None => out.push_str("state: as this machine knows it\n"),
        Some(problem) => out.push_str(&format!("state: SUSPECT: {problem}\n")),
    }
    print_stdout(&out)?;
    match (problem, accept) {
        (None, _) => {
            trust.accept(path, &document.recipients, &signed);
            SUCCESS
        }
        (Some(_), true) => {
            trust.accept_content(path, &document.recipients, plaintext.bytes());
            context.note("accepted: this machine now knows these recipients and this writer");
            SUCCESS
        }
        (Some(_), false) => Ok(exit::ERROR),
    }
}
