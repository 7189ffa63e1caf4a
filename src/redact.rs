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
//! How runs are found fast, whatever the number of values: every `min_fragment - q + 1`
//! bytes of the output, the `q` bytes there (`q` = 8, or `min_fragment` when smaller) are
//! looked up in a table of every `q` bytes of every long line. A run of `min_fragment`
//! characters has at least that many bytes, so it holds one of those samples whole; a
//! sample found is extended left and right against the line it came from. Output without
//! pieces of values costs one table probe per few bytes, mostly answered by a small bitmap.
//! Short lines are found by an Aho-Corasick automaton (a few literals: SIMD-fast).
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

/// Whether a value has nothing the redactor masks: it is not empty, and no line of it has
/// `min_length` characters.
pub fn too_short(value: &str, settings: &Settings) -> bool {
    !value.is_empty()
        && value
            .split(['\n', '\r'])
            .all(|line| line.chars().count() < settings.min_length)
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
    /// The lines of the values that are masked (at least `min_length` characters): the
    /// short ones first, then the long ones.
    lines: Vec<Zeroizing<Vec<u8>>>,
    /// The short lines (fewer than `min_fragment` characters), by pattern id = line.
    short: Option<AhoCorasick>,
    /// For each short line, the other short lines that are its proper prefixes: they
    /// match wherever it does, and the automaton reports only the longest at a position.
    prefixes: Vec<Vec<u32>>,
    /// Every `q` bytes of every long line.
    samples: SampleTable,
    /// Every [`Start`], sorted by its text: which ends of the data could begin a run.
    starts: Vec<Start>,
    /// Which bytes some start begins with: a cheap filter before the search.
    first_bytes: [bool; 256],
    /// The longest start text, in bytes.
    longest_start: usize,
    /// The longest long line, in bytes: no run is longer.
    longest_line: usize,
    min_fragment: usize,
}

impl Patterns {
    /// The patterns for `values`; empty values and lines too short to mask are left out.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>, settings: &Settings) -> Patterns {
        let fragment = settings.min_fragment.max(1);
        let mut lines: Vec<(bool, Zeroizing<Vec<u8>>)> = Vec::new();
        for value in values {
            for line in value.split(['\n', '\r']) {
                let chars = line.chars().count();
                if !line.is_empty() && chars >= settings.min_length.max(1) {
                    lines.push((chars >= fragment, Zeroizing::new(line.as_bytes().to_vec())));
                }
            }
        }
        lines.sort_unstable_by(|a, b| (a.0, a.1.as_slice()).cmp(&(b.0, b.1.as_slice())));
        lines.dedup_by(|a, b| a.1.as_slice() == b.1.as_slice());
        let short_count = lines.iter().take_while(|(long, _)| !long).count();
        let lines: Vec<Zeroizing<Vec<u8>>> = lines.into_iter().map(|(_, line)| line).collect();

        let short_lines = &lines[..short_count];
        let short = (short_count > 0).then(|| {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(short_lines.iter().map(|l| l.as_slice()))
                .expect("literal patterns always build")
        });
        // Looked up by text, not compared pairwise: thousands of short values stay cheap.
        let by_text: HashMap<&[u8], u32> = short_lines
            .iter()
            .enumerate()
            .map(|(id, line)| (line.as_slice(), id as u32))
            .collect();
        let prefixes = short_lines
            .iter()
            .map(|line| {
                (1..line.len())
                    .filter(|&cut| is_boundary(line, cut))
                    .filter_map(|cut| by_text.get(&line[..cut]).copied())
                    .collect()
            })
            .collect();
        drop(by_text);

        let mut starts: Vec<Start> = Vec::new();
        for (number, line) in lines.iter().enumerate() {
            if number < short_count {
                starts.push(Start {
                    line: number as u32,
                    offset: 0,
                    len: line.len() as u32,
                });
                continue;
            }
            let bounds: Vec<usize> = (0..=line.len()).filter(|&i| is_boundary(line, i)).collect();
            for first in 0..bounds.len() - fragment {
                starts.push(Start {
                    line: number as u32,
                    offset: bounds[first] as u32,
                    len: (bounds[first + fragment] - bounds[first]) as u32,
                });
            }
        }
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
        let samples = SampleTable::new(&lines, short_count, fragment);
        let longest_line = lines[short_count..]
            .iter()
            .map(|l| l.len())
            .max()
            .unwrap_or(0);
        Patterns {
            longest_line,
            short,
            prefixes,
            samples,
            first_bytes,
            longest_start,
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

    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Every masked run in `data`, sorted and merged where they overlap. A run is open when
    /// it reaches the end of `data` and could go on.
    fn runs(&self, data: &[u8], runs: &mut Vec<Run>) {
        runs.clear();
        if let Some(short) = &self.short {
            let mut at = 0;
            while let Some(found) = short.find(Input::new(data).span(at..data.len())) {
                let here = found.start();
                let id = found.pattern().as_usize();
                for &line in std::iter::once(&(id as u32)).chain(&self.prefixes[id]) {
                    runs.push(Run {
                        start: here,
                        end: here + self.lines[line as usize].len(),
                        open: false,
                    });
                }
                at = here + 1;
            }
        }
        self.sampled_runs(data, runs);
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
                runs[merged] = run;
                merged += 1;
            }
        }
        runs.truncate(merged);
    }

    /// The runs of long lines: found from samples every `step` bytes.
    fn sampled_runs(&self, data: &[u8], runs: &mut Vec<Run>) {
        let table = &self.samples;
        if table.places.is_empty() {
            return;
        }
        let (width, step) = (table.width, table.step);
        // Where the runs found at the last sample that found any end: a run through a
        // later sample that ends there too is inside them (it would have held that sample).
        let mut covered = 0;
        let mut at = 0;
        while at + width <= data.len() {
            let places = table.places_of(&data[at..at + width]);
            let here = at;
            at += step;
            if places.is_empty() {
                continue;
            }
            let mut furthest = 0;
            if places.len() > MAX_PLACES {
                // A sample found in very many places (a value that repeats itself, such as
                // the base64 of zeros): extending from each would take time in the square
                // of the value's length. Instead mask the stretch around it in which every
                // `width` bytes are a sample of some line: it holds every run through this
                // sample (each `width` bytes of a run are a sample), so nothing is missed,
                // and at worst a little more is masked.
                if let Some(run) = self.stretch(data, here, covered) {
                    furthest = run.end;
                    runs.push(run);
                }
            }
            let each = if places.len() > MAX_PLACES {
                &[][..]
            } else {
                places
            };
            for &(line, offset) in each {
                if let Some(run) = self.extend(data, here, width, line, offset, covered) {
                    furthest = furthest.max(run.end);
                    runs.push(run);
                }
            }
            if furthest == 0 {
                continue;
            }
            covered = furthest;
            // Another run that goes past these holds a sample within its last
            // `min_fragment` bytes, so the samples in between can be skipped — and when
            // the byte after them is in no line, no run goes past them at all.
            let resume = match data.get(furthest) {
                Some(&byte) if !table.in_lines[usize::from(byte)] => furthest + 1,
                _ => furthest.saturating_sub(self.min_fragment),
            };
            at = at.max(resume.div_ceil(step) * step);
        }
    }

    /// The stretch of `data` around the sample at `here` in which every `width` bytes are a
    /// sample of some long line; a run if it has at least `min_fragment` characters and
    /// does not end by `covered`.
    fn stretch(&self, data: &[u8], here: usize, covered: usize) -> Option<Run> {
        let width = self.samples.width;
        let known = |at: usize| !self.samples.places_of(&data[at..at + width]).is_empty();
        // A run through the sample is no longer than the longest line: neither is the
        // stretch, or output that repeats a sample without end (`base64 -w0 < /dev/zero`
        // for a value of `AAAA…`) would be one open stretch, held back in full.
        let limit = data.len().min(here + self.longest_line);
        let mut end = here + width;
        while end < limit && known(end + 1 - width) {
            end += 1;
        }
        // Not cut back to a character boundary: a run of a line ends on one, and output
        // that is not UTF-8 after it would move the cut into the run.
        let open = end == data.len() && end < here + self.longest_line;
        if end <= covered {
            return None;
        }
        let lowest = (here + width).saturating_sub(self.longest_line);
        let mut start = here;
        while start > lowest && known(start - 1) {
            start -= 1;
        }
        while start < end && !is_boundary(data, start) {
            start += 1;
        }
        let chars = data[start..end]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        // What lies before `covered` is masked already (a run reaching further left would
        // be longer than any line); starting there keeps a closed run before it apart
        // from an open one, so that it is written out rather than held with it.
        let start = start.max(covered);
        (chars >= self.min_fragment).then_some(Run { start, end, open })
    }

    /// The sample at `here` (`len` bytes) as far as `data` and the line agree on both
    /// sides; a run if that is at least `min_fragment` characters and does not end by
    /// `covered` (a run that does is inside runs already found).
    fn extend(
        &self,
        data: &[u8],
        here: usize,
        len: usize,
        line: u32,
        offset: u32,
        covered: usize,
    ) -> Option<Run> {
        let line = &self.lines[line as usize];
        let (mut end, mut to) = (here + len, offset as usize + len);
        while end < data.len() && to < line.len() && data[end] == line[to] {
            end += 1;
            to += 1;
        }
        let open = end == data.len() && to < line.len();
        // A run begins and ends on whole characters of the line.
        if !open {
            while to > offset as usize && !is_boundary(line, to) {
                end -= 1;
                to -= 1;
            }
        }
        if end <= covered {
            return None;
        }
        let (mut start, mut from) = (here, offset as usize);
        while start > 0 && from > 0 && data[start - 1] == line[from - 1] {
            start -= 1;
            from -= 1;
        }
        while from < to && !is_boundary(line, from) {
            start += 1;
            from += 1;
        }
        let chars = line[from..to].iter().filter(|&&b| b & 0xC0 != 0x80).count();
        (chars >= self.min_fragment).then_some(Run { start, end, open })
    }
}

/// A sample found in more places than this is not extended from each (see
/// [`Patterns::stretch`]).
const MAX_PLACES: usize = 64;

/// Every `width` bytes at every offset of the long lines, found by their value: an open
/// addressing table of the distinct ones, each pointing at its places, behind a bitmap
/// that answers most probes from the output with a no.
struct SampleTable {
    /// Bytes per sample: 8, or fewer when `min_fragment` is smaller.
    width: usize,
    /// Bytes between two samples of the output: `min_fragment - width + 1`.
    step: usize,
    filter: Vec<u64>,
    filter_shift: u32,
    slots: Vec<Slot>,
    slot_shift: u32,
    /// (line, byte offset), grouped by sample.
    places: Vec<(u32, u32)>,
    /// Which bytes occur in the long lines: a run never holds another.
    in_lines: [bool; 256],
}

#[derive(Clone, Copy, Default)]
struct Slot {
    key: u64,
    first: u32,
    /// 0: an empty slot.
    count: u32,
}

impl SampleTable {
    fn new(lines: &[Zeroizing<Vec<u8>>], first_long: usize, fragment: usize) -> SampleTable {
        let width = fragment.min(8);
        // Each sample as (its bytes, line, offset) packed into one number, so that sorting
        // groups them and the pieces of values are wiped afterwards.
        let mut all: Zeroizing<Vec<u128>> = Zeroizing::new(Vec::new());
        for (number, line) in lines.iter().enumerate().skip(first_long) {
            // A long line has at least `fragment` bytes, so at least `width`.
            for offset in 0..=line.len() - width {
                let sample = key(&line[offset..offset + width]);
                all.push(
                    u128::from(sample) << 64 | u128::from(number as u32) << 32 | offset as u128,
                );
            }
        }
        all.sort_unstable();
        let sample_of = |packed: u128| (packed >> 64) as u64;
        let distinct = all
            .windows(2)
            .filter(|w| sample_of(w[0]) != sample_of(w[1]))
            .count()
            + 1;
        // About 16 bits of bitmap per sample (a probe of the output is a false yes
        // about once in 16), at least 4 KiB, at most 8 MiB.
        let filter_bits = (distinct * 16).next_power_of_two().clamp(1 << 15, 1 << 26);
        let slot_count = (distinct * 2).next_power_of_two().max(2);
        let mut table = SampleTable {
            width,
            step: fragment - width + 1,
            filter: vec![0; filter_bits / 64],
            filter_shift: 64 - filter_bits.trailing_zeros(),
            slots: vec![Slot::default(); slot_count],
            slot_shift: 64 - slot_count.trailing_zeros(),
            places: Vec::with_capacity(all.len()),
            in_lines: [false; 256],
        };
        for line in &lines[first_long..] {
            for &byte in line.iter() {
                table.in_lines[usize::from(byte)] = true;
            }
        }
        let mut i = 0;
        while i < all.len() {
            let sample = sample_of(all[i]);
            let first = table.places.len() as u32;
            while i < all.len() && sample_of(all[i]) == sample {
                table.places.push(((all[i] >> 32) as u32, all[i] as u32));
                i += 1;
            }
            let hash = hash(sample);
            let bit = (hash >> table.filter_shift) as usize;
            table.filter[bit / 64] |= 1 << (bit % 64);
            let mut slot = (hash >> table.slot_shift) as usize;
            while table.slots[slot].count != 0 {
                slot = (slot + 1) & (slot_count - 1);
            }
            table.slots[slot] = Slot {
                key: sample,
                first,
                count: table.places.len() as u32 - first,
            };
        }
        table
    }

    /// Where `sample` (`width` bytes) is in the long lines.
    fn places_of(&self, sample: &[u8]) -> &[(u32, u32)] {
        let sample = key(sample);
        let hash = hash(sample);
        let bit = (hash >> self.filter_shift) as usize;
        if self.filter[bit / 64] & (1 << (bit % 64)) == 0 {
            return &[];
        }
        let mut slot = (hash >> self.slot_shift) as usize;
        loop {
            let found = self.slots[slot];
            if found.count == 0 {
                return &[];
            }
            if found.key == sample {
                return &self.places[found.first as usize..(found.first + found.count) as usize];
            }
            slot = (slot + 1) & (self.slots.len() - 1);
        }
    }
}

impl Drop for SampleTable {
    /// The table holds pieces of the values: wiped like the values.
    fn drop(&mut self) {
        use zeroize::Zeroize;
        for slot in &mut self.slots {
            slot.key.zeroize();
        }
    }
}

/// Up to 8 bytes as one number (the bytes themselves: equal numbers are equal samples).
fn key(bytes: &[u8]) -> u64 {
    if let Ok(word) = <[u8; 8]>::try_from(bytes) {
        return u64::from_le_bytes(word);
    }
    let mut word = [0u8; 8];
    word[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(word)
}

fn hash(key: u64) -> u64 {
    key.wrapping_mul(0x9E37_79B9_7F4A_7C15)
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
        if self.patterns.is_empty() {
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
        if self.patterns.is_empty() {
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
        #![proptest_config(proptest::test_runner::Config::with_cases(5000))]
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
    fn a_value_that_repeats_itself_is_masked_in_linear_time() {
        // Every sample of the value is found in thousands of places.
        let value = "A".repeat(100_000);
        let input = format!("x{value}y {} z {}", &value[..30], &value[..11]);
        let started = std::time::Instant::now();
        assert_eq!(
            redact_in_chunks(&[&value], &input, 4095),
            format!("x********y ******** z {}", &value[..11])
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        // Output that repeats it without end is masked as it comes, never held in full.
        let mut redactor = Redactor::for_values([&value[..]], &Settings::default());
        let mut out = Vec::new();
        for _ in 0..1000 {
            redactor.feed(&[b'A'; 4096], &mut out);
            assert!(redactor.pending.len() <= 2 * value.len() + 4096);
        }
        assert!(out.len() >= 8 * 30, "{}", out.len());
        assert!(out.iter().all(|&b| b == b'*'));
        let cycle = "0123456789abcdefghij".repeat(200);
        let value = format!("{cycle}-end");
        assert_eq!(
            redact_every_way(&[&value], &format!("<{}>{}", &cycle[3..40], &cycle[..11])),
            format!("<********>{}", &cycle[..11])
        );
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
