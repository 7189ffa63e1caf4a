//! A streaming redactor: replaces every occurrence of any secret value in a byte stream
//! with `********`, also when an occurrence is split across two reads.
//!
//! It holds back only the end of a chunk that could be the start of a value — the longest
//! suffix that is a prefix of some value — until the next chunk or the end of the stream
//! shows whether it is one. Everything else is written at once, so prompts and progress
//! output are not delayed.

use aho_corasick::{AhoCorasick, MatchKind};
use zeroize::Zeroizing;

pub const MASK: &[u8] = b"********";

pub struct Redactor {
    matcher: Option<AhoCorasick>,
    /// The values, sorted, to find which suffixes could start one.
    sorted: Vec<Zeroizing<Vec<u8>>>,
    /// Which bytes some value starts with: a cheap filter before the search.
    starts: [bool; 256],
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
        let mut sorted: Vec<Zeroizing<Vec<u8>>> = patterns
            .iter()
            .map(|p| Zeroizing::new(p.as_bytes().to_vec()))
            .collect();
        sorted.sort_unstable_by(|a, b| a.as_slice().cmp(b.as_slice()));
        let mut starts = [false; 256];
        for pattern in &sorted {
            starts[usize::from(pattern[0])] = true;
        }
        Redactor {
            matcher,
            sorted,
            starts,
            longest,
            pending: Zeroizing::new(Vec::new()),
        }
    }

    /// The length of the longest suffix of `data` that is the start of some value.
    fn possible_start_len(&self, data: &[u8]) -> usize {
        let first = data.len().saturating_sub(self.longest);
        for i in first..data.len() {
            if !self.starts[usize::from(data[i])] {
                continue;
            }
            let suffix = &data[i..];
            // The smallest value not below `suffix` starts with it, if any value does.
            let index = self.sorted.partition_point(|p| p.as_slice() < suffix);
            if self
                .sorted
                .get(index)
                .is_some_and(|p| p.starts_with(suffix))
            {
                return data.len() - i;
            }
        }
        0
    }

    /// Takes the next chunk and appends to `out` everything that is certainly final.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        let Some(matcher) = &self.matcher else {
            out.extend_from_slice(chunk);
            return;
        };
        self.pending.extend_from_slice(chunk);
        // An occurrence starting before `safe` cannot grow with more input (else the
        // suffix from its start would be the start of a value), so it is final.
        let safe = self.pending.len() - self.possible_start_len(&self.pending);
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
    fn holds_back_only_what_could_start_a_value() {
        let mut redactor = Redactor::new(["secret-value"]);
        let mut out = Vec::new();
        redactor.feed(b"prompt> ", &mut out);
        assert_eq!(out, b"prompt> ");
        out.clear();
        redactor.feed(b"half: secr", &mut out);
        assert_eq!(out, b"half: ");
        out.clear();
        redactor.feed(b"et-value!", &mut out);
        assert_eq!(out, b"********!");
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
