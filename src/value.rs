//! Making and showing secret values: generation from the OS CSPRNG, and masking.

use age::secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &str = "0123456789abcdef";
const BASE64URL: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Alphabets for generated secrets (the command line's `--charset` maps onto these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// A-Z a-z 0-9
    Alnum,
    /// 0-9 a-f
    Hex,
    /// A-Z a-z 0-9 - _ (URL-safe base64 alphabet)
    Base64url,
}

impl Charset {
    fn alphabet(self) -> &'static str {
        match self {
            Charset::Alnum => ALNUM,
            Charset::Hex => HEX,
            Charset::Base64url => BASE64URL,
        }
    }
}

/// The alphabet a charset name (as a policy file spells it) stands for.
pub fn named_alphabet(name: &str) -> Option<&'static str> {
    match name {
        "alnum" => Some(ALNUM),
        "hex" => Some(HEX),
        "base64url" => Some(BASE64URL),
        _ => None,
    }
}

/// A uniformly random string of `length` characters from `charset`.
pub fn generate(length: usize, charset: Charset) -> Result<SecretString> {
    let alphabet: Vec<char> = charset.alphabet().chars().collect();
    generate_from(length, &alphabet)
}

/// A uniformly random string of `length` characters from `alphabet` (2 to 256 distinct
/// characters), from the OS CSPRNG.
pub fn generate_from(length: usize, alphabet: &[char]) -> Result<SecretString> {
    if !(2..=256).contains(&alphabet.len()) {
        return Err(Error::BadData(
            "an alphabet for generated values needs 2 to 256 characters".into(),
        ));
    }
    // Rejection sampling: bytes at or above the largest multiple of the alphabet size
    // are discarded so every character is equally likely.
    let limit = 256 - (256 % alphabet.len());
    let mut out = Zeroizing::new(String::with_capacity(length * 4));
    let mut count = 0;
    let mut pool = Zeroizing::new([0u8; 256]);
    while count < length {
        getrandom::fill(&mut pool[..])
            .map_err(|e| Error::Failed(format!("the OS random generator failed: {e}")))?;
        for &byte in pool.iter() {
            if count == length {
                break;
            }
            if usize::from(byte) < limit {
                out.push(alphabet[usize::from(byte) % alphabet.len()]);
                count += 1;
            }
        }
    }
    Ok(SecretString::from(out.to_string()))
}

/// How a value is shown without `--reveal`: its first two and last two characters around
/// `***` for values of 16 characters and more (enough to tell two apart, too little to
/// guess either), else only stars. Every mask vault shows is made here, and the characters
/// it shows are escaped first like all text from outside ([`crate::names::printable`]): a
/// value starting with `ESC ]` or ending with `ESC c` shows `\u{1b}`, and does not drive
/// the terminal.
pub fn mask(value: &SecretString) -> String {
    let value = value.expose_secret();
    let count = value.chars().count();
    if count < 16 {
        return "********".to_string();
    }
    let prefix: String = value.chars().take(2).collect();
    let suffix: String = value.chars().skip(count - 2).collect();
    format!(
        "{}***{}",
        crate::names::printable(&prefix, false),
        crate::names::printable(&suffix, false)
    )
}

/// Removes one trailing `\n` (or `\r\n`), as `$(…)` and `echo` add one.
pub fn strip_one_newline(text: &str) -> &str {
    text.strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_values_use_only_the_alphabet() {
        for charset in [Charset::Alnum, Charset::Hex, Charset::Base64url] {
            let value = generate(500, charset).unwrap();
            assert_eq!(value.expose_secret().len(), 500);
            assert!(
                value
                    .expose_secret()
                    .chars()
                    .all(|c| charset.alphabet().contains(c))
            );
        }
    }

    #[test]
    fn explicit_alphabets_are_used_uniformly() {
        let alphabet: Vec<char> = "aé€".chars().collect();
        let value = generate_from(3000, &alphabet).unwrap();
        for c in &alphabet {
            let n = value.expose_secret().chars().filter(|x| x == c).count();
            assert!((800..1200).contains(&n), "{c}: {n}");
        }
    }

    #[test]
    fn generated_values_differ() {
        let a = generate(32, Charset::Alnum).unwrap();
        let b = generate(32, Charset::Alnum).unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn short_values_are_fully_masked() {
        assert_eq!(mask(&SecretString::from("hunter2".to_string())), "********");
        assert_eq!(
            mask(&SecretString::from("sk-1234567890abcdef".to_string())),
            "sk***ef"
        );
    }

    #[test]
    fn masks_show_control_characters_escaped() {
        let value = SecretString::from("\u{1b}]0;title\u{7}-and-more\u{1b}c".to_string());
        assert_eq!(mask(&value), "\\u{1b}]***\\u{1b}c");
    }
}
