//! Tests of `redact`.

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
