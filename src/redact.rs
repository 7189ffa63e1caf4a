//! A streaming redactor: masks every secret value in a byte stream, and every piece of one
//! long enough to identify it, with `********` — also when it is split across reads.
//!
//! What is masked ([`Settings`], `[redact]` in the configuration):
//! * A value is cut into lines at `\n` and `\r`, and each line is looked for on its own: a
//!   terminal that turns `\n` into `\r\n` (its default output processing), or a file with
//!   CRLF line ends, changes nothing, and every line of a PEM key is masked.
//! * A line shorter than `min_length` characters is not masked at all: it would garble
//!   ordinary output (`x` in every word) and, garbled, give itself away.
//! * A line shorter than `min_fragment` characters is masked where it appears whole.
//! * Of a longer line, every run of at least `min_fragment` characters is masked wherever it
//!   appears — the whole line, a prefix, a suffix or a piece from the middle (`%.20s`).
//!
//! How runs are found fast: each long line gives an *anchor* of `ANCHOR_CHARS` characters
//! every `min_fragment - ANCHOR_CHARS + 1` characters, so that every run of `min_fragment`
//! characters contains a whole anchor. One Aho-Corasick automaton finds anchors and short
//! lines; each anchor found is extended left and right against the line it came from. A
//! stream without pieces of values costs one pass of the automaton and nothing else.
//!
//! Streaming: only the end of the data that could still become (or grow) a masked run is
//! held back until the next read or the end of the stream: a run that reaches the end, or
//! the longest end that begins a run-to-be (the start of some `min_fragment` characters of
//! a line, or of a short line). Everything else is written at once, so prompts and
//! progress output are not delayed — a line break never begins a run, so complete lines
//! never wait.

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, Input, MatchKind};
use zeroize::Zeroizing;

pub const MASK: &[u8] = b"********";

/// How much of a value is enough to mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Lines of values shorter than this many characters are not masked.
    pub min_length: usize,
    /// Any run of this many characters from a line of a value is masked.
    pub min_fragment: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            min_length: 4,
            min_fragment: 12,
        }
    }
}

/// Anchors are pieces of this many characters (fewer when `min_fragment` is smaller): long
/// enough that ordinary output rarely contains one, short enough that a line of `n`
/// characters needs only about `n / 5` of them (with `min_fragment` 12), which keeps the
/// automaton small and fast.
const ANCHOR_CHARS: usize = 8;

/// Whether a value has nothing the redactor masks: it is not empty, and no line of it has
/// `min_length` characters.
pub fn too_short(value: &str, settings: &Settings) -> bool {
    !value.is_empty()
        && value
            .split(['\n', '\r'])
            .all(|line| line.chars().count() < settings.min_length)
}

/// What one pattern of the automaton stands for.
#[derive(Default)]
struct Pattern {
    /// Its length in bytes.
    len: usize,
    /// It is a whole short line.
    whole: bool,
    /// Where it is an anchor: (line, byte offset).
    anchors: Vec<(u32, u32)>,
    /// The patterns that are proper prefixes of this one: they match wherever it does,
    /// and the automaton reports only the longest at a position.
    prefixes: Vec<u32>,
}

/// A place where a masked run can start: a line, a byte offset and the length of the text
/// that has to follow there (the rest of a short line, or `min_fragment` characters).
#[derive(Clone, Copy)]
struct Start {
    line: u32,
    offset: u32,
    len: u32,
}

/// What a redactor looks for, built once per command and shared by its streams.
pub struct Patterns {
    /// The lines of the values that are masked (at least `min_length` characters).
    lines: Vec<Zeroizing<Vec<u8>>>,
    matcher: Option<AhoCorasick>,
    patterns: Vec<Pattern>,
    /// Every [`Start`], sorted by its text: which ends of the data could begin a run.
    starts: Vec<Start>,
    /// Which bytes some start begins with: a cheap filter before the search.
    first_bytes: [bool; 256],
    /// The longest start text, in bytes.
    longest_start: usize,
    /// How far back from a run's end another run may still begin and go past it, in
    /// bytes: the longest `min_fragment` characters of a line, or short line.
    reach_back: usize,
    min_fragment: usize,
}

impl Patterns {
    /// The patterns for `values`; empty values and lines too short to mask are left out.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>, settings: &Settings) -> Patterns {
        let fragment = settings.min_fragment.max(1);
        let anchor_chars = ANCHOR_CHARS.min(fragment);
        let step = fragment - anchor_chars + 1;
        let mut lines: Vec<Zeroizing<Vec<u8>>> = Vec::new();
        for value in values {
            for line in value.split(['\n', '\r']) {
                if !line.is_empty() && line.chars().count() >= settings.min_length.max(1) {
                    lines.push(Zeroizing::new(line.as_bytes().to_vec()));
                }
            }
        }
        lines.sort_unstable_by(|a, b| a.as_slice().cmp(b.as_slice()));
        lines.dedup_by(|a, b| a.as_slice() == b.as_slice());

        let mut index: HashMap<&[u8], u32> = HashMap::new();
        let mut patterns: Vec<Pattern> = Vec::new();
        let mut texts: Vec<&[u8]> = Vec::new();
        let mut starts: Vec<Start> = Vec::new();
        for (number, line) in lines.iter().enumerate() {
            let number = number as u32;
            // Byte offsets of the line's characters, and its end.
            let bounds: Vec<usize> = (0..=line.len())
                .filter(|&i| i == line.len() || is_boundary(line, i))
                .collect();
            let chars = bounds.len() - 1;
            if chars < fragment {
                let id = *index.entry(line.as_slice()).or_insert_with(|| {
                    texts.push(line.as_slice());
                    patterns.push(Pattern {
                        len: line.len(),
                        ..Pattern::default()
                    });
                    (patterns.len() - 1) as u32
                });
                patterns[id as usize].whole = true;
                starts.push(Start {
                    line: number,
                    offset: 0,
                    len: line.len() as u32,
                });
                continue;
            }
            for first in 0..=chars - fragment {
                starts.push(Start {
                    line: number,
                    offset: bounds[first] as u32,
                    len: (bounds[first + fragment] - bounds[first]) as u32,
                });
            }
            for first in (0..=chars - anchor_chars).step_by(step) {
                let (from, to) = (bounds[first], bounds[first + anchor_chars]);
                let text = &line[from..to];
                let id = *index.entry(text).or_insert_with(|| {
                    texts.push(text);
                    patterns.push(Pattern {
                        len: text.len(),
                        ..Pattern::default()
                    });
                    (patterns.len() - 1) as u32
                });
                patterns[id as usize].anchors.push((number, from as u32));
            }
        }
        // A pattern's proper prefixes that are patterns too (few: short lines and anchors
        // differ in length).
        for (id, text) in texts.iter().enumerate() {
            for cut in 1..text.len() {
                if is_boundary(text, cut)
                    && let Some(&other) = index.get(&text[..cut])
                {
                    patterns[id].prefixes.push(other);
                }
            }
        }
        let matcher = (!texts.is_empty()).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&texts)
                .expect("literal patterns always build")
        });
        drop(index);
        drop(texts);

        let text_of = |start: &Start| -> &[u8] {
            let line = &lines[start.line as usize];
            &line[start.offset as usize..(start.offset + start.len) as usize]
        };
        starts.sort_unstable_by(|a, b| text_of(a).cmp(text_of(b)));
        starts.dedup_by(|a, b| text_of(a) == text_of(b));
        let mut first_bytes = [false; 256];
        for start in &starts {
            first_bytes[usize::from(text_of(start)[0])] = true;
        }
        let longest_start = starts.iter().map(|s| s.len as usize).max().unwrap_or(0);
        Patterns {
            matcher,
            patterns,
            first_bytes,
            longest_start,
            reach_back: longest_start,
            min_fragment: fragment,
            starts,
            lines,
        }
    }

    fn start_text(&self, start: &Start) -> &[u8] {
        let line = &self.lines[start.line as usize];
        &line[start.offset as usize..(start.offset + start.len) as usize]
    }

    /// The length of the longest end of `data` that is the beginning of some start's text.
    fn possible_start_len(&self, data: &[u8]) -> usize {
        let first = data.len().saturating_sub(self.longest_start);
        for i in first..data.len() {
            if !self.first_bytes[usize::from(data[i])] {
                continue;
            }
            let end = &data[i..];
            // The smallest text not below `end` begins with it, if any text does.
            let at = self.starts.partition_point(|s| self.start_text(s) < end);
            if self
                .starts
                .get(at)
                .is_some_and(|s| self.start_text(s).starts_with(end))
            {
                return data.len() - i;
            }
        }
        0
    }

    /// Every masked run in `data`, sorted and merged where they overlap. A run is open when
    /// it reaches the end of `data` and could go on.
    fn runs(&self, data: &[u8], runs: &mut Vec<Run>) {
        runs.clear();
        let Some(matcher) = &self.matcher else {
            return;
        };
        let mut at = 0;
        while at < data.len() {
            let Some(found) = matcher.find(Input::new(data).span(at..data.len())) else {
                break;
            };
            let here = found.start();
            let mut next = here + 1;
            let id = found.pattern().as_usize();
            let prefixes = self.patterns[id].prefixes.iter().map(|&p| p as usize);
            for id in std::iter::once(id).chain(prefixes) {
                let pattern = &self.patterns[id];
                if pattern.whole {
                    runs.push(Run {
                        start: here,
                        end: here + pattern.len,
                        open: false,
                    });
                }
                for &(line, offset) in &pattern.anchors {
                    if let Some(run) = self.extend(data, here, pattern.len, line, offset) {
                        // Another run that goes past this one ends with a whole anchor
                        // within `reach_back` bytes of its end.
                        next = next.max(run.end.saturating_sub(self.reach_back));
                        runs.push(run);
                    }
                }
            }
            at = next;
        }
        runs.sort_unstable_by_key(|r| r.start);
        let mut merged = 0;
        for i in 0..runs.len() {
            let run = runs[i];
            if merged > 0 && run.start < runs[merged - 1].end {
                let last = &mut runs[merged - 1];
                if run.end >= last.end {
                    last.open = run.open || (last.open && run.end == last.end);
                    last.end = run.end;
                }
            } else {
                runs[merged] = runs[i];
                merged += 1;
            }
        }
        runs.truncate(merged);
    }

    /// The anchor found at `here` (`len` bytes), as far as `data` and the line agree on
    /// both sides; a run if that is at least `min_fragment` characters.
    fn extend(&self, data: &[u8], here: usize, len: usize, line: u32, offset: u32) -> Option<Run> {
        let line = &self.lines[line as usize];
        let (mut start, mut from) = (here, offset as usize);
        while start > 0 && from > 0 && data[start - 1] == line[from - 1] {
            start -= 1;
            from -= 1;
        }
        // A run begins and ends on whole characters of the line.
        while !is_boundary(line, from) {
            start += 1;
            from += 1;
        }
        let (mut end, mut to) = (here + len, offset as usize + len);
        while end < data.len() && to < line.len() && data[end] == line[to] {
            end += 1;
            to += 1;
        }
        let open = end == data.len() && to < line.len();
        if !open {
            while !is_boundary(line, to) {
                end -= 1;
                to -= 1;
            }
        }
        let chars = line[from..to].iter().filter(|&&b| b & 0xC0 != 0x80).count();
        (chars >= self.min_fragment).then_some(Run { start, end, open })
    }
}

/// Whether byte `i` of `text` (UTF-8) begins a character or is its end.
fn is_boundary(text: &[u8], i: usize) -> bool {
    i >= text.len() || text[i] & 0xC0 != 0x80
}

#[derive(Clone, Copy, Debug)]
struct Run {
    start: usize,
    end: usize,
    open: bool,
}

/// One stream's redactor.
pub struct Redactor {
    patterns: Arc<Patterns>,
    pending: Zeroizing<Vec<u8>>,
    runs: Vec<Run>,
}

impl Redactor {
    pub fn new(patterns: Arc<Patterns>) -> Self {
        Redactor {
            patterns,
            pending: Zeroizing::new(Vec::new()),
            runs: Vec::new(),
        }
    }

    /// A redactor with patterns of its own.
    pub fn for_values<'a>(values: impl IntoIterator<Item = &'a str>, settings: &Settings) -> Self {
        Redactor::new(Arc::new(Patterns::new(values, settings)))
    }

    /// Takes the next chunk and appends to `out` everything that is certainly final.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.patterns.matcher.is_none() {
            out.extend_from_slice(chunk);
            return;
        }
        self.pending.extend_from_slice(chunk);
        self.patterns.runs(&self.pending, &mut self.runs);
        // Held back: what could still begin a run, and any run that could still grow or
        // that reaches into that.
        let mut keep_from = self.pending.len() - self.patterns.possible_start_len(&self.pending);
        for run in self.runs.iter().rev() {
            if run.open || run.end > keep_from {
                keep_from = keep_from.min(run.start);
            } else {
                break;
            }
        }
        self.emit(keep_from, out);
    }

    /// The stream ended: everything held back is final now.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.patterns.matcher.is_none() {
            return;
        }
        self.patterns.runs(&self.pending, &mut self.runs);
        self.emit(self.pending.len(), out);
    }

    /// Writes `pending[..until]` with its runs masked, and keeps the rest.
    fn emit(&mut self, until: usize, out: &mut Vec<u8>) {
        let mut emitted = 0;
        for run in self.runs.iter().take_while(|r| r.end <= until) {
            out.extend_from_slice(&self.pending[emitted..run.start]);
            out.extend_from_slice(MASK);
            emitted = run.end;
        }
        out.extend_from_slice(&self.pending[emitted..until.max(emitted)]);
        self.pending.drain(..until.max(emitted));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact_with(values: &[&str], settings: &Settings, input: &str, chunk: usize) -> String {
        let mut redactor = Redactor::for_values(values.iter().copied(), settings);
        let mut out = Vec::new();
        for piece in input.as_bytes().chunks(chunk) {
            redactor.feed(piece, &mut out);
        }
        redactor.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn redact_in_chunks(values: &[&str], input: &str, chunk: usize) -> String {
        redact_with(values, &Settings::default(), input, chunk)
    }

    /// The same result whatever the reads are cut into.
    fn redact_every_way(values: &[&str], input: &str) -> String {
        let whole = redact_in_chunks(values, input, input.len().max(1));
        for chunk in 1..input.len() {
            assert_eq!(
                redact_in_chunks(values, input, chunk),
                whole,
                "chunk size {chunk}"
            );
        }
        whole
    }

    #[test]
    fn masks_values_split_at_every_position() {
        let input = "token=s3cr3t-value and again s3cr3t-value, other=hunter2!";
        assert_eq!(
            redact_every_way(&["s3cr3t-value", "hunter2"], input),
            "token=******** and again ********, other=********!"
        );
    }

    #[test]
    fn prefers_the_longest_overlapping_value() {
        assert_eq!(
            redact_in_chunks(&["abcd", "abcdef"], "xabcdefx", 3),
            "x********x"
        );
    }

    #[test]
    fn a_short_value_inside_a_piece_too_short_to_mask_is_masked() {
        // The automaton reports the longer anchor `abcdefgh`, whose run is too short; the
        // short value it begins with is still masked.
        assert_eq!(
            redact_every_way(&["abcd", "abcdefghijklmnopqrstuvwxyz"], "xabcdefghx"),
            "x********efghx"
        );
    }

    #[test]
    fn holds_back_only_what_could_start_a_value() {
        let mut redactor = Redactor::for_values(["secret-value"], &Settings::default());
        let mut out = Vec::new();
        redactor.feed(b"prompt> ", &mut out);
        assert_eq!(out, b"prompt> ");
        out.clear();
        redactor.feed(b"half: secr", &mut out);
        assert_eq!(out, b"half: ");
        out.clear();
        redactor.feed(b"et-value!", &mut out);
        assert_eq!(out, b"********!");
        out.clear();
        redactor.feed(b"done\n", &mut out);
        assert_eq!(out, b"done\n");
    }

    #[test]
    fn passes_everything_else_through() {
        assert_eq!(
            redact_in_chunks(&["", "zzz"], "plain text\n", 4),
            "plain text\n"
        );
        assert_eq!(redact_in_chunks(&[], "plain", 2), "plain");
    }

    #[test]
    fn short_values_are_not_masked() {
        assert_eq!(redact_every_way(&["x", "ab"], "max box\n"), "max box\n");
        assert!(too_short("x", &Settings::default()));
        assert!(too_short("ab\ncd", &Settings::default()));
        assert!(!too_short("", &Settings::default()));
        assert!(!too_short("abcd", &Settings::default()));
        let settings = Settings {
            min_length: 1,
            min_fragment: 12,
        };
        assert_eq!(redact_with(&["x"], &settings, "max", 1), "ma********");
    }

    #[test]
    fn pieces_of_a_value_are_masked() {
        let key = "abcdefghijklmnopqrstuvwxyz0123";
        for (input, expected) in [
            (format!("[{}]\n", &key[..20]), "[********]\n"),
            (format!("[{}]\n", &key[..12]), "[********]\n"),
            (format!("[{}]\n", &key[..11]), "[abcdefghijk]\n"),
            (format!("[{}]\n", &key[18..]), "[********]\n"),
            (format!("[{}]\n", &key[7..25]), "[********]\n"),
            (format!("[{}]\n", &key[9..20]), "[jklmnopqrst]\n"),
            (format!("{key}{}", &key[..15]), "****************"),
            (
                format!("{}+{}", &key[..14], &key[14..]),
                "********+********",
            ),
        ] {
            assert_eq!(redact_every_way(&[key], &input), expected, "{input}");
        }
    }

    #[test]
    fn every_line_of_a_multi_line_value_is_masked_however_lines_end() {
        let pem = "-----BEGIN TEST KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\nAB=\n-----END TEST KEY-----";
        let masked = "********\n********\n********\nAB=\n********";
        assert_eq!(redact_every_way(&[pem], pem), masked);
        assert_eq!(
            redact_every_way(&[pem], &pem.replace('\n', "\r\n")),
            masked.replace('\n', "\r\n")
        );
        let crlf = pem.replace('\n', "\r\n");
        assert_eq!(
            redact_every_way(&[&crlf], &pem.replace('\n', "\r\r\n")),
            masked.replace('\n', "\r\r\n")
        );
    }

    #[test]
    fn runs_are_whole_characters() {
        let value = "ééééééééééééééé-secret";
        let input = format!("x{}y", &value[..26]);
        assert_eq!(redact_every_way(&[value], &input), "x********y");
        // A run that agrees with the line only in part of a character keeps that character.
        let input = format!("{}\u{e8}", &value[..24]);
        assert_eq!(redact_every_way(&[value], &input), "********\u{e8}");
    }

    #[test]
    fn overlapping_values_are_masked_as_one() {
        let a = "0123456789abcdefghij";
        let b = "ghijklmnopqrstuvwxyz";
        assert_eq!(
            redact_every_way(&[a, b], "<0123456789abcdefghijklmnopqrstuvwxyz>"),
            "<********>"
        );
    }

    /// What should be masked, found the slow way: every byte inside a whole short line or
    /// inside a substring of a long line of at least `min_fragment` characters; each
    /// stretch of masked characters then shows as one `*`.
    fn reference(values: &[String], settings: &Settings, data: &str) -> String {
        let data: Vec<char> = data.chars().collect();
        let mut masked = vec![false; data.len()];
        for value in values {
            for line in value.split(['\n', '\r']) {
                let line: Vec<char> = line.chars().collect();
                if line.is_empty() || line.len() < settings.min_length {
                    continue;
                }
                let occurs = |piece: &[char]| line.windows(piece.len()).any(|w| w == piece);
                for start in 0..data.len() {
                    if line.len() < settings.min_fragment {
                        if data[start..].starts_with(&line) {
                            masked[start..start + line.len()].fill(true);
                        }
                        continue;
                    }
                    let mut end = start;
                    while end < data.len() && occurs(&data[start..=end]) {
                        end += 1;
                    }
                    if end - start >= settings.min_fragment {
                        masked[start..end].fill(true);
                    }
                }
            }
        }
        let mut out = String::new();
        for (i, c) in data.iter().enumerate() {
            if !masked[i] {
                out.push(*c);
            } else if i == 0 || !masked[i - 1] {
                out.push('*');
            }
        }
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]
        #[test]
        fn masks_what_the_slow_way_finds(
            values in proptest::collection::vec("[abé\n]{0,30}", 1..4),
            data in "[abé\n\r ]{0,80}",
            chunk in 1usize..12,
            min_length in 1usize..5,
            min_fragment in 2usize..14,
        ) {
            let settings = Settings { min_length, min_fragment };
            let mut redactor = Redactor::for_values(values.iter().map(String::as_str), &settings);
            let mut out = Vec::new();
            let bytes = data.as_bytes();
            for piece in bytes.chunks(chunk) {
                redactor.feed(piece, &mut out);
            }
            redactor.finish(&mut out);
            let mut ours = String::new();
            for c in String::from_utf8(out).unwrap().chars() {
                if c != '*' || !ours.ends_with('*') {
                    ours.push(c);
                }
            }
            proptest::prop_assert_eq!(ours, reference(&values, &settings, &data));
        }
    }

    #[test]
    fn a_long_run_is_found_once_and_whole() {
        let mut state = 0x2545_f491_u32;
        let value: String = (0..5000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                char::from(b'a' + (state % 26) as u8)
            })
            .collect();
        let input = format!("start {value} middle {} end", &value[1000..3000]);
        assert_eq!(
            redact_in_chunks(&[&value], &input, 4096),
            "start ******** middle ******** end"
        );
    }
}
