//! What the guard and the trust commands share: a version's facts as the policy reads
//! them, this user's writer, the owners configuration names, and how a vault is described.

use super::*;

/// The facts of a version as the policy reads them.
pub fn facts_of<'a>(version: &Version<'a>) -> Facts<'a> {
    Facts {
        passphrase: version.header.stanzas.iter().any(|s| s.kind == "scrypt"),
        header: version.header,
        recipients: version.said.recipients,
        membership: version.said.membership.map(Membership::parse),
        signed: version.signed,
        generation: version.said.generation,
    }
}

/// Loads this user's writer from an identity file (or `VAULT_IDENTITY_KEY`), or the
/// writer key file for identities that are not X25519 keys.
pub fn load_own(identity: Option<&Path>) -> Option<Own> {
    let text = match crate::process::identity_key() {
        Some(key) => Some(zeroize::Zeroizing::new(key.to_string())),
        None => identity
            // Checked as identity::load checks it: the writer read here decides which
            // blocks count as this user's own.
            .filter(|path| crate::store::strict::check_private_file(path, "identity file").is_ok())
            .and_then(|path| std::fs::read_to_string(path).ok())
            .map(zeroize::Zeroizing::new),
    };
    // No identity at all (a passphrase vault) may still have a writer key of its own.
    text.and_then(|text| crate::store::identity::own_from_text(&text))
        .or_else(|| {
            crate::paths::writer_key_file().ok().and_then(|path| {
                crate::store::identity::writer_key_from_file(&path)
                    .ok()
                    .flatten()
            })
        })
}

/// Owners pinned by configuration: `[security.vaults]`, then `VAULT_TRUST=ID:KEY,…`
/// (several separated by spaces or `;`); `ID@EPOCH` also names the epoch they own it at,
/// below which no version is trusted. Entries that do not parse pin nothing. A pin in
/// `VAULT_TRUST` replaces the configuration's for the same vault (the environment is the
/// more specific setting), and a later entry an earlier one: owners named in two places
/// are never merged, which would trust more than either says.
pub(super) fn configured_owners(context: &Context) -> BTreeMap<String, Configured> {
    fn pin(pins: &mut BTreeMap<String, Configured>, key: &str, owners: Vec<String>) {
        let (id, epoch) = match key.split_once('@') {
            Some((id, epoch)) => match epoch.parse::<u64>() {
                Ok(epoch) => (id, Some(epoch)),
                Err(_) => return,
            },
            None => (key, None),
        };
        let owners = owners.into_iter().filter(|k| !k.is_empty()).collect();
        pins.insert(id.to_string(), Configured { owners, epoch });
    }
    let mut pins: BTreeMap<String, Configured> = BTreeMap::new();
    for (key, owners) in &context.config.security.vaults {
        pin(&mut pins, key, owners.clone());
    }
    if let Ok(text) = std::env::var("VAULT_TRUST") {
        for entry in text.split([';', ' ', '\n']).filter(|e| !e.is_empty()) {
            if let Some((key, owners)) = entry.split_once(':') {
                pin(
                    &mut pins,
                    key,
                    owners.split(',').map(str::to_string).collect(),
                );
            }
        }
    }
    pins
}

/// How to pin a vault's owners elsewhere (`VAULT_TRUST`), as of its epoch.
pub fn pin_line(block: &Membership) -> String {
    format!(
        "{}@{}:{}",
        block.body.vault_id,
        block.body.epoch,
        block.body.owners.join(",")
    )
}

/// A new vault's label: its file name without `.age`.
pub fn default_label(vault: &Path) -> String {
    let stem = vault
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if crate::store::membership::check_label(&stem).is_ok() {
        stem
    } else {
        "vault".into()
    }
}

/// The name in this user's line: `$USER`, when it is a valid name.
pub fn default_name() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|n| crate::store::membership::check_name(n).is_ok())
        .unwrap_or_else(|| "me".into())
}

/// Where a vault is, as a record keeps it: absolute, so a later run from elsewhere finds
/// the same file (and says true things about copies).
pub(super) fn shown_path(vault: &Path) -> String {
    std::path::absolute(vault)
        .unwrap_or_else(|_| vault.to_path_buf())
        .display()
        .to_string()
}

pub(super) fn vault_flag(vault: &Path) -> String {
    format!("--vault {}", vault.display())
}

/// The vault as `vault verify` shows it: id, label, epoch, owners, members with their
/// fingerprints, who wrote it.
pub(super) fn describe(vault: &Path, facts: &Facts<'_>, own: Option<&str>) -> String {
    // Each field is escaped on its own, with line breaks too: the whole is shown with its
    // lines kept, and nothing read from the file may start a line of its own.
    let shown = one_line;
    let mut out = format!("vault: {}\n", shown(&vault.display().to_string()));
    match &facts.membership {
        None | Some(Err(_)) => {
            match &facts.membership {
                Some(Err(why)) => out.push_str(&format!("membership: NOT VALID: {}\n", shown(why))),
                _ => out.push_str(
                    "membership: none (a version-1 vault, from before membership blocks)\n",
                ),
            }
            for recipient in facts.recipients {
                out.push_str(&format!(
                    "recipient: {}\n",
                    shown(&crate::store::recipients::key_part(recipient))
                ));
            }
        }
        Some(Ok(block)) => {
            let body = &block.body;
            out.push_str(&format!(
                "id: {}\nlabel: {}\nepoch: {}\ngeneration: {}\n",
                shown(&body.vault_id),
                shown(&body.label),
                body.epoch,
                facts.generation
            ));
            if let Some(expires) = &body.expires {
                out.push_str(&format!("expires: {}\n", shown(expires)));
            }
            if body.passphrase {
                out.push_str("protection: passphrase (whoever knows it reads and writes)\n");
            }
            for member in &body.members {
                let role = if body.is_owner(&member.writer) {
                    "owner"
                } else {
                    "member"
                };
                out.push_str(&format!(
                    "{role}: {} {} fp:{} writer:{}\n",
                    shown(&member.name),
                    shown(&crate::store::recipients::key_part(&member.recipient)),
                    member.fingerprint(),
                    shown(&member.writer)
                ));
            }
            for recipient in &body.read_only {
                out.push_str(&format!(
                    "read-only: {}\n",
                    shown(&crate::store::recipients::key_part(recipient))
                ));
            }
            if let Some(signer) = &block.signer {
                out.push_str(&format!(
                    "membership signed by: {}\n",
                    shown(&body.who(signer))
                ));
            }
        }
    }
    match facts.signed {
        Signed::Unsigned => out.push_str("signature: none\n"),
        Signed::Valid { writer } => {
            let who = facts
                .block()
                .map(|b| b.body.who(writer))
                .unwrap_or_else(|| writer.clone());
            out.push_str(&format!("signature: valid, written by {}\n", shown(&who)));
        }
        Signed::Invalid { .. } => out.push_str("signature: DOES NOT MATCH the content\n"),
    }
    if let Some(own) = own {
        out.push_str(&format!("you sign as: {own}\n"));
    }
    out
}

/// `text` (which may quote the file) as one line: nothing it says starts a line of its own.
pub(super) fn one_line(text: &str) -> String {
    crate::names::printable(text, false).into_owned()
}
