//! Recipients a vault is encrypted to: X25519 (`age1…`), SSH ed25519/RSA public keys, and
//! age plugin recipients (`age1yubikey1…`, `age1tpm1…`), which need `age-plugin-NAME` on
//! PATH, as they do in `age` and `rage`.

use std::str::FromStr;

use crate::error::{Error, Result};

/// The recipients a vault is encrypted to.
pub type Recipients = Vec<Box<dyn age::Recipient + Send>>;

/// Parses one recipient as written in the vault or on the command line.
pub fn parse(text: &str) -> Result<Box<dyn age::Recipient + Send>> {
    let text = text.trim();
    if text.starts_with("age1") {
        if let Ok(recipient) = age::x25519::Recipient::from_str(text) {
            return Ok(Box::new(recipient));
        }
        if let Ok(recipient) = age::plugin::Recipient::from_str(text) {
            let name = recipient.plugin().to_string();
            return age::plugin::RecipientPluginV1::new(
                &name,
                &[recipient],
                &[],
                crate::plugin_ui::PluginUi,
            )
            .map(|plugin| Box::new(plugin) as Box<dyn age::Recipient + Send>)
            .map_err(|_| {
                Error::LockedOut(format!(
                    "the recipient {}… needs the age plugin age-plugin-{name}, which is not on PATH; install it",
                    &text[..text.len().min(16)]
                ))
            });
        }
        return Err(Error::BadData(format!(
            "{text:?} is not a valid age recipient"
        )));
    }
    if text.starts_with("ssh-") {
        return age::ssh::Recipient::from_str(text)
            .map(|r| Box::new(r) as Box<dyn age::Recipient + Send>)
            .map_err(|e| {
                Error::BadData(format!(
                    "{:?} is not a usable SSH recipient ({}); ed25519 and RSA keys are supported",
                    key_part(text),
                    match e {
                        age::ssh::ParseRecipientKeyError::Ignore => "a key type age ignores",
                        age::ssh::ParseRecipientKeyError::Invalid(why) => why,
                        age::ssh::ParseRecipientKeyError::RsaModulusTooLarge =>
                            "its RSA modulus is too large",
                        age::ssh::ParseRecipientKeyError::RsaModulusTooSmall =>
                            "its RSA modulus is too small",
                        _ => "an unsupported key type",
                    }
                ))
            });
    }
    Err(Error::BadData(format!(
        "{:?} is not a recipient; expected an age public key (age1…) or an SSH public key (ssh-ed25519 …, ssh-rsa …)",
        key_part(text)
    )))
}

/// Whether `text` is a recipient as age writes them (X25519, a plugin's, or an SSH key with
/// an optional comment of printable characters), checked without running any plugin.
pub fn is_valid(text: &str) -> bool {
    if text.chars().any(char::is_control) || text != text.trim() {
        return false;
    }
    if text.starts_with("age1") {
        return age::x25519::Recipient::from_str(text).is_ok()
            || age::plugin::Recipient::from_str(text).is_ok();
    }
    text.starts_with("ssh-") && age::ssh::Recipient::from_str(text).is_ok()
}

/// Parses every recipient a vault lists.
pub fn parse_all(texts: &[String]) -> Result<Recipients> {
    texts.iter().map(|t| parse(t)).collect()
}

/// The part of a recipient that identifies it: an SSH key without its comment.
pub fn key_part(text: &str) -> String {
    let text = text.trim();
    if text.starts_with("ssh-") {
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        text.to_string()
    }
}

/// Whether two recipient strings name the same key.
pub fn same_key(a: &str, b: &str) -> bool {
    key_part(a) == key_part(b)
}

/// Whether an age header fits the recipients a vault lists: one `X25519` stanza per X25519
/// recipient, an SSH stanza with the right key tag per SSH recipient, and other stanzas
/// only for plugin recipients. An X25519 stanza names no key, so a file encrypted to one
/// X25519 key in place of another passes; one encrypted to an extra key does not.
pub fn header_matches(recipients: &[String], header: &crate::crypto::Header) -> Result<(), String> {
    let mut x25519 = 0;
    let mut plugins = 0;
    let mut ssh_tags: Vec<String> = Vec::new();
    for recipient in recipients {
        let text = recipient.trim();
        if text.starts_with("ssh-") {
            ssh_tags.push(
                ssh_tag(text)
                    .ok_or_else(|| format!("{} is not a valid SSH recipient", key_part(text)))?,
            );
        } else if age::x25519::Recipient::from_str(text).is_ok() {
            x25519 += 1;
        } else {
            plugins += 1;
        }
    }
    let stanzas = &header.stanzas;
    let x25519_stanzas = stanzas.iter().filter(|s| s.kind == "X25519").count();
    let mut ssh_stanzas: Vec<String> = stanzas
        .iter()
        .filter(|s| s.kind.starts_with("ssh-"))
        .map(|s| s.tag.clone().unwrap_or_default())
        .collect();
    // The age library adds one stanza of random type ending in "-grease" to every file it
    // encrypts to recipients (so parsers keep skipping unknown stanzas); it wraps nothing.
    // A stanza already counted as SSH is not grease too, whatever its type ends with: each
    // stanza falls in exactly one class, so the subtraction below cannot go below zero.
    let grease = stanzas
        .iter()
        .filter(|s| !s.kind.starts_with("ssh-") && s.kind.ends_with("-grease"))
        .count()
        .min(1);
    let others = stanzas.len() - x25519_stanzas - ssh_stanzas.len() - grease;
    ssh_tags.sort();
    ssh_stanzas.sort();
    if x25519_stanzas != x25519 || ssh_stanzas != ssh_tags || (plugins == 0 && others > 0) {
        return Err(format!(
            "it is encrypted to {} key(s) ({} X25519, {} SSH, {} other), but it lists {} recipient(s) ({} X25519, {} SSH, {} plugin): someone encrypted it to a key it does not list",
            stanzas.len() - grease,
            x25519_stanzas,
            ssh_stanzas.len(),
            others,
            recipients.len(),
            x25519,
            ssh_tags.len(),
            plugins
        ));
    }
    if plugins > 0 && others == 0 {
        return Err("it lists plugin recipients but is encrypted to none".into());
    }
    Ok(())
}

/// The tag age puts in an SSH stanza: the first four bytes of SHA-256 of the key's wire
/// form, in base64 without padding.
fn ssh_tag(text: &str) -> Option<String> {
    use base64::Engine;
    use sha2::Digest;
    let blob = text.split_whitespace().nth(1)?;
    let wire = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()?;
    let digest = sha2::Sha256::digest(&wire);
    Some(base64::engine::general_purpose::STANDARD_NO_PAD.encode(&digest[..4]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_recipient_with_control_characters_or_garbage_is_not_valid() {
        let real = age::x25519::Identity::generate().to_public().to_string();
        assert!(super::is_valid(&real));
        for bad in [
            format!("{real}\u{1b}[2J"),
            "age1\u{1b}[Cowner".to_string(),
            format!(" {real}"),
            "age1notbech32".to_string(),
            "ssh-ed25519 notbase64!".to_string(),
        ] {
            assert!(!super::is_valid(&bad), "{bad:?}");
        }
    }
}
