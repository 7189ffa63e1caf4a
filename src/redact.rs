//! A streaming redactor: replaces every occurrence of any secret value in a byte stream
//! with `********`, also when an occurrence is split across two reads.
//!
//! It holds back the last `longest - 1` bytes of each chunk — the most a split occurrence
//! can have arrived of — until the next chunk or the end shows they are not one.

use aho_corasick::{AhoCorasick, MatchKind};
use zeroize::Zeroizing;

pub const MASK: &[u8] = b"********";

pub struct Redactor {
    matcher: Option<AhoCorasick>,
    longest: usize,
    pending: Zeroizing<Vec<u8>>,
}

impl Redactor {
    /// A redactor for `values`; empty values are ignored (they would match everywhere).
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let patterns: Vec<&str> = values.into_iter().filter(|v| !v.is_empty()).collect();
        let longest = patterns.iter().map(|p| p.len()).max().unwrap_or(0);
        let matcher = (!patterns.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&patterns)
                .expect("literal patterns always build")
        });
        Redactor {
            matcher,
            longest,
            pending: Zeroizing::new(Vec::new()),
        }
    }

    /// Takes the next chunk and appends to `out` everything that is certainly final.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let Some(matcher) = &self.matcher else {
            out.extend_from_slice(chunk);
            return;
        };
        self.pending.extend_from_slice(chunk);
        // Occurrences starting before `safe` are complete in `pending`.
        let safe = self.pending.len().saturating_sub(self.longest - 1);
        let mut emitted = 0;
        for found in matcher.find_iter(&self.pending[..]) {
            if found.start() >= safe {
                break;
            }
            out.extend_from_slice(&self.pending[emitted..found.start()]);
            out.extend_from_slice(MASK);
            emitted = found.end();
        }
        let keep_from = emitted.max(safe);
        out.extend_from_slice(&self.pending[emitted..keep_from]);
        self.pending.drain(..keep_from);
    }

    /// The stream ended: everything held back is final now.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let Some(matcher) = &self.matcher else {
            return;
        };
        let mut emitted = 0;
        for found in matcher.find_iter(&self.pending[..]) {
            out.extend_from_slice(&self.pending[emitted..found.start()]);
            out.extend_from_slice(MASK);
            emitted = found.end();
        }
        out.extend_from_slice(&self.pending[emitted..]);
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact_in_chunks(values: &[&str], input: &str, chunk: usize) -> String {
        let mut redactor = Redactor::new(values.iter().copied());
        let mut out = Vec::new();
        for piece in input.as_bytes().chunks(chunk) {
            redactor.feed(piece, &mut out);
        }
        redactor.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn masks_values_split_at_every_position() {
        let input = "token=s3cr3t-value and again s3cr3t-value, other=hunter2!";
        for chunk in 1..=input.len() {
            assert_eq!(
                redact_in_chunks(&["s3cr3t-value", "hunter2"], input, chunk),
                "token=******** and again ********, other=********!",
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn prefers_the_longest_overlapping_value() {
        assert_eq!(
            redact_in_chunks(&["abc", "abcdef"], "xabcdefx", 3),
            "x********x"
        );
    }

    #[test]
    fn passes_everything_else_through() {
        assert_eq!(
            redact_in_chunks(&["", "zzz"], "plain text\n", 4),
            "plain text\n"
        );
        assert_eq!(redact_in_chunks(&[], "plain", 2), "plain");
    }
}
