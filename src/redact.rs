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

mod samples;

use samples::*;

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

    /// A redactor with patterns of its own (the tests' way to make one).
    #[cfg(test)]
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
mod tests;
