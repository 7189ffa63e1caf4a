//! The provider's stdout and stderr, each read on its own thread: stdout one bounded line
//! at a time through a channel that holds none, stderr kept as its last few lines.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

pub(super) enum Line {
    Text(Zeroizing<String>),
    TooLong,
    NotUtf8,
    End,
}

/// Reads newline-terminated lines of at most `limit` bytes, on its own thread. The channel
/// holds no line: the thread reads the next line only once vault has taken the last, so a
/// provider that floods its stdout blocks on its own pipe instead of filling vault's memory.
pub(super) fn spawn_reader(stdout: impl Read + Send + 'static, limit: usize) -> Receiver<Line> {
    let (sender, receiver) = sync_channel(0);
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(64 * 1024, stdout);
        loop {
            let mut line = Zeroizing::new(Vec::new());
            let outcome = loop {
                let buffer = match reader.fill_buf() {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break Line::End,
                };
                if buffer.is_empty() {
                    break Line::End;
                }
                let (chunk, done) = match buffer.iter().position(|b| *b == b'\n') {
                    Some(at) => (&buffer[..at], at + 1),
                    None => (buffer, buffer.len()),
                };
                let complete = done > chunk.len();
                line.extend_from_slice(chunk);
                reader.consume(done);
                if line.len() > limit {
                    break Line::TooLong;
                }
                if complete {
                    break match String::from_utf8(std::mem::take(&mut *line)) {
                        Ok(text) => Line::Text(Zeroizing::new(text)),
                        Err(_) => Line::NotUtf8,
                    };
                }
            };
            let last = !matches!(outcome, Line::Text(_));
            if sender.send(outcome).is_err() || last {
                return;
            }
        }
    });
    receiver
}

/// The last lines of the provider's stderr, for error messages.
pub(super) type StderrTail = Arc<Mutex<VecDeque<String>>>;

/// How much of one stderr line is kept or shown; the rest of a longer line is dropped, so a
/// provider that writes endless stderr without a newline costs vault nothing.
pub(super) const STDERR_LINE_LIMIT: usize = 4096;

/// What a provider was sent that may be secret: taken out of what it says on stderr
/// before that is shown or kept (see [`super::ProviderProcess::hide`]).
pub(super) type Hidden = Arc<Mutex<Vec<Zeroizing<String>>>>;

/// `text` with every hidden string replaced by `…`, longest first.
pub(super) fn without_hidden(text: &str, hidden: &Hidden) -> String {
    match hidden.lock() {
        Ok(hidden) => super::without_sent(text, &hidden),
        // A thread that panicked holding it: say nothing rather than something unchecked.
        Err(_) => "(not shown)".to_string(),
    }
}

pub(super) fn spawn_stderr(
    mut stderr: impl Read + Send + 'static,
    name: String,
    show: bool,
    hidden: Hidden,
) -> StderrTail {
    let tail: StderrTail = Arc::new(Mutex::new(VecDeque::new()));
    let keep = Arc::clone(&tail);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        let mut line: Vec<u8> = Vec::with_capacity(256);
        let finish = |line: &mut Vec<u8>| {
            // Shown on a terminal: no control characters from the provider; and nothing
            // it was sent, taken out of the whole line before any of it is cut.
            let text: Zeroizing<String> = Zeroizing::new(
                String::from_utf8_lossy(line)
                    .chars()
                    .map(|c| if c.is_control() && c != '\t' { '?' } else { c })
                    .collect(),
            );
            line.fill(0);
            line.clear();
            let text = without_hidden(&text, &hidden);
            if show {
                let mut out = std::io::stderr().lock();
                let _ = writeln!(out, "[{name}] {text}");
            }
            if let Ok(mut tail) = keep.lock() {
                if tail.len() == 3 {
                    tail.pop_front();
                }
                tail.push_back(text.chars().take(300).collect());
            }
        };
        loop {
            let read = match stderr.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            for &byte in &chunk[..read] {
                if byte == b'\n' {
                    finish(&mut line);
                } else if line.len() < STDERR_LINE_LIMIT {
                    line.push(byte);
                }
            }
        }
        if !line.is_empty() {
            finish(&mut line);
        }
    });
    tail
}
