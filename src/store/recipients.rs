//! Recipients a vault is encrypted to: X25519 (`age1…`), SSH ed25519/RSA public keys, and
//! age plugin recipients (`age1yubikey1…`, `age1tpm1…`), which need `age-plugin-NAME` on
//! PATH, as they do in `age` and `rage`.

use std::str::FromStr;

use crate::error::{Error, Result};

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
                crate::store::identity::PluginUi,
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
