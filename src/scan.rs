//! `vault scan`: the vault's values, and the forms they are usually leaked in (base64,
//! base64url, hex, URL-encoded), looked for in files and in git history — all of them at
//! once, in one pass per file (Aho-Corasick). Findings name the secret, never show it.

use aho_corasick::{AhoCorasick, MatchKind};
use base64::Engine;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// What was found: where, and which secret in which form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub place: String,
    pub line: usize,
    pub name: String,
    pub form: &'static str,
}

/// All the needles, and which secret each one is.
pub struct Scanner {
    searcher: AhoCorasick,
    owners: Vec<(String, &'static str)>,
    /// Kept only for the searcher's lifetime; zeroed on drop.
    _patterns: Vec<Zeroizing<Vec<u8>>>,
}

/// `value` percent-encoded as in a URL (RFC 3986 unreserved characters kept).
fn url_encoded(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The forms a value is looked for in. Base64 without padding also finds it padded.
fn forms(value: &str) -> Vec<(&'static str, Zeroizing<Vec<u8>>)> {
    let bytes = value.as_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![
        ("as is", Zeroizing::new(bytes.to_vec())),
        (
            "base64",
            Zeroizing::new(
                base64::engine::general_purpose::STANDARD_NO_PAD
                    .encode(bytes)
                    .into_bytes(),
            ),
        ),
        (
            "base64url",
            Zeroizing::new(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(bytes)
                    .into_bytes(),
            ),
        ),
        ("hex", Zeroizing::new(hex.to_uppercase().into_bytes())),
        ("hex", Zeroizing::new(hex.into_bytes())),
        (
            "URL-encoded",
            Zeroizing::new(url_encoded(value).into_bytes()),
        ),
    ];
    // One needle per distinct text: a value whose forms coincide is found once.
    let mut seen: Vec<Vec<u8>> = Vec::new();
    forms.retain(|(_, text)| {
        let new = !seen.iter().any(|s| s == text.as_slice());
        if new {
            seen.push(text.to_vec());
        }
        new
    });
    forms
}

impl Scanner {
    /// A scanner for `secrets` (name, value); values shorter than `min_length` bytes are
    /// left out (too short to tell from ordinary text) and returned by name.
    pub fn new(secrets: &[(&str, &str)], min_length: usize) -> Result<(Scanner, Vec<String>)> {
        let mut patterns = Vec::new();
        let mut owners = Vec::new();
        let mut skipped = Vec::new();
        for (name, value) in secrets {
            if value.len() < min_length {
                skipped.push(name.to_string());
                continue;
            }
            for (form, text) in forms(value) {
                owners.push((name.to_string(), form));
                patterns.push(text);
            }
        }
        let searcher = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(patterns.iter().map(|p| p.as_slice()))
            .map_err(|e| Error::Failed(format!("cannot build the search for the values: {e}")))?;
        Ok((
            Scanner {
                searcher,
                owners,
                _patterns: patterns,
            },
            skipped,
        ))
    }

    /// Every secret found in `bytes`, with its 1-based line number.
    pub fn scan(&self, bytes: &[u8], place: &str, found: &mut Vec<Finding>) {
        let mut line = 1;
        let mut counted = 0;
        for hit in self.searcher.find_overlapping_iter(bytes) {
            let start = hit.start();
            if start < counted {
                line = 1 + memchr::memchr_iter(b'\n', &bytes[..start]).count();
            } else {
                line += memchr::memchr_iter(b'\n', &bytes[counted..start]).count();
            }
            counted = start;
            let (name, form) = &self.owners[hit.pattern().as_usize()];
            found.push(Finding {
                place: place.to_string(),
                line,
                name: name.clone(),
                form,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_found_on_its_line() {
        let (scanner, skipped) =
            Scanner::new(&[("API", "~~~s3cr3t/~~~"), ("PIN", "1234")], 8).unwrap();
        assert_eq!(skipped, ["PIN"]);
        let text = format!(
            "a\n~~~s3cr3t/~~~\nb {}=\n{}\n{}\n{}\n1234\n",
            base64::engine::general_purpose::STANDARD.encode("~~~s3cr3t/~~~"),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("~~~s3cr3t/~~~"),
            "~~~s3cr3t/~~~"
                .bytes()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            url_encoded("~~~s3cr3t/~~~"),
        );
        let mut found = Vec::new();
        scanner.scan(text.as_bytes(), "f", &mut found);
        let seen: Vec<(usize, &str)> = found.iter().map(|f| (f.line, f.form)).collect();
        assert_eq!(
            seen,
            [
                (2, "as is"),
                (3, "base64"),
                (4, "base64url"),
                (5, "hex"),
                (6, "URL-encoded")
            ]
        );
    }
}
