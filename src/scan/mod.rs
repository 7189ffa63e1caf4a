//! `vault scan`: the vault's values, and the forms they are usually leaked in (`forms`:
//! base64 and base64url at every alignment, hex with or without separators, URL-encoded
//! as the usual encoders do it, JSON strings), looked for in files and in git history —
//! all of them at once, in one pass per file (Aho-Corasick over a bounded prefix of each
//! form, each hit checked against the whole form). Findings name the secret, never show it.

use aho_corasick::{AhoCorasick, MatchKind};
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

pub(crate) mod forms;

/// The longest needle the automaton holds: a form longer than this is looked for by its
/// first bytes and checked in full where they are found. Bounding the needles keeps the
/// automaton (built on every scan, one state per needle byte) near the size of the values
/// themselves, whatever the number of forms: hex with separators is three times the
/// value. Forms that begin alike share a needle.
const NEEDLE_BYTES: usize = 32;

/// One form of one secret.
struct Wanted {
    /// Index into `Scanner::names`.
    owner: usize,
    form: &'static str,
    text: Zeroizing<Vec<u8>>,
}

impl Wanted {
    fn needle(&self) -> &[u8] {
        &self.text[..self.text.len().min(NEEDLE_BYTES)]
    }
}

/// All the needles, and which forms of which secrets each one begins.
pub struct Scanner {
    searcher: AhoCorasick,
    /// Every form of every secret, sorted by needle, then length, then text (zeroed on
    /// drop): a hit is checked against the forms of its needle by binary search per
    /// length, not one by one, because many values can share a needle (10,000 JWTs share
    /// their 36-byte header, and a log of other tokens repeats it on every line).
    wanted: Vec<Wanted>,
    /// Needle i begins `wanted[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
    names: Vec<String>,
}

impl Scanner {
    /// A scanner for `secrets` (name, value); values shorter than `min_length` bytes are
    /// left out (too short to tell from ordinary text) and returned by name.
    pub fn new(secrets: &[(&str, &str)], min_length: usize) -> Result<(Scanner, Vec<String>)> {
        let mut wanted = Vec::new();
        let mut names = Vec::new();
        let mut skipped = Vec::new();
        for (name, value) in secrets {
            if value.len() < min_length {
                skipped.push(name.to_string());
                continue;
            }
            for (form, text) in forms::forms(value) {
                wanted.push(Wanted {
                    owner: names.len(),
                    form,
                    text,
                });
            }
            names.push(name.to_string());
        }
        wanted.sort_unstable_by(|a, b| {
            (a.needle(), a.text.len(), a.text.as_slice()).cmp(&(
                b.needle(),
                b.text.len(),
                b.text.as_slice(),
            ))
        });
        let mut starts: Vec<usize> = Vec::new();
        for (i, w) in wanted.iter().enumerate() {
            if i == 0 || wanted[i - 1].needle() != w.needle() {
                starts.push(i);
            }
        }
        let needles: Vec<&[u8]> = starts.iter().map(|&i| wanted[i].needle()).collect();
        starts.push(wanted.len());
        let searcher = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(needles)
            .map_err(|e| Error::Failed(format!("cannot build the search for the values: {e}")))?;
        Ok((
            Scanner {
                searcher,
                wanted,
                starts,
                names,
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
            let needle = hit.pattern().as_usize();
            let at = &bytes[start..];
            let mut rest = &self.wanted[self.starts[needle]..self.starts[needle + 1]];
            while let Some(first) = rest.first() {
                let length = first.text.len();
                // Lengths ascend: no longer form fits either.
                let Some(key) = at.get(..length) else { break };
                let (same, after) = rest.split_at(rest.partition_point(|w| w.text.len() == length));
                rest = after;
                let from = same.partition_point(|w| w.text.as_slice() < key);
                for wanted in same[from..].iter().take_while(|w| w.text.as_slice() == key) {
                    // Hits come by where they end, so a longer form can start before the
                    // last hit: count the lines between back, not again from the top.
                    if start < counted {
                        line -= memchr::memchr_iter(b'\n', &bytes[start..counted]).count();
                    } else {
                        line += memchr::memchr_iter(b'\n', &bytes[counted..start]).count();
                    }
                    counted = start;
                    found.push(Finding {
                        place: place.to_string(),
                        line,
                        name: self.names[wanted.owner].clone(),
                        form: wanted.form,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

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
            "~~~s3cr3t%2F~~~",
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

    #[test]
    fn values_sharing_a_needle_are_told_apart() {
        // 300 values alike in their first 40 bytes (as JWTs are), of 3 lengths; two of them
        // in a text that repeats the shared beginning on every line.
        let shared = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ";
        let values: Vec<(String, String)> = (0..300)
            .map(|i| {
                (
                    format!("T{i}"),
                    format!("{shared}-{i}-{}", "x".repeat(i % 3)),
                )
            })
            .collect();
        let pairs: Vec<(&str, &str)> = values
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let (scanner, _) = Scanner::new(&pairs, 8).unwrap();
        let text = format!(
            "{shared}x\n{} and {}\n{shared}\n{}\n",
            values[7].1, values[250].1, values[42].1
        );
        let mut found = Vec::new();
        scanner.scan(text.as_bytes(), "f", &mut found);
        let seen: Vec<(usize, &str)> = found.iter().map(|f| (f.line, f.name.as_str())).collect();
        assert_eq!(seen, [(2, "T7"), (2, "T250"), (4, "T42")]);
    }

    #[test]
    fn a_form_starting_before_the_last_hit_is_on_its_own_line() {
        // The short value's hit ends first, the key's (spanning two lines) comes after it
        // though it starts a line earlier.
        let (scanner, _) = Scanner::new(
            &[
                ("KEY", "first-line\nsecond-line-of-the-key"),
                ("SHORT", "second-l"),
            ],
            8,
        )
        .unwrap();
        let mut found = Vec::new();
        scanner.scan(b"x\nfirst-line\nsecond-line-of-the-key\n", "f", &mut found);
        let seen: Vec<(usize, &str)> = found.iter().map(|f| (f.line, f.name.as_str())).collect();
        assert_eq!(seen, [(3, "SHORT"), (2, "KEY")]);
    }
}
