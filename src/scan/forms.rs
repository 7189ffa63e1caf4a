//! The texts a value takes when it leaks: the encodings programs and people put secrets in.
//!
//! Each form is a text looked for as it is, so the scan stays one pass over the bytes with
//! no decoding (see `scan`). A form that depends on something around the value is cut down
//! to what the value alone decides:
//!
//! * base64 (standard and URL-safe) at all three alignments: inside a longer base64 text
//!   (HTTP Basic's `base64("user:" + value)`, a token, a JSON blob) the value starts at byte
//!   0, 1 or 2 of a 3-byte group, and each start gives different characters. For each, only
//!   the characters made of the value's bits alone are kept (the first one or two carry
//!   bits of what precedes, the last may carry bits of what follows or padding);
//! * hex in either case, plain or with `:`, `-` or space between the bytes;
//! * percent-encoding in either case of the hex digits, as RFC 3986 (unreserved kept),
//!   Python's `quote` (keeps `/`), JavaScript's `encodeURIComponent` (keeps `!'()*`) and form
//!   encoding (space as `+`) do it, once or twice (`%2F` becomes `%252F`);
//! * a JSON string's content, with `/` escaped as `\/` (PHP) or not, non-ASCII escaped as
//!   `\uXXXX` (Python, PHP) or not;
//! * every byte percent-encoded (`%73%6B…`) and every character `\uXXXX`-escaped
//!   (`\u0073\u006b…`), in either case: what a command that means to slip a value past
//!   the simpler forms writes.
//!
//! Variants that coincide for a value (a value without `/` is the same in every URL style)
//! are one needle. Every buffer holding a form is zeroized and sized up front, so no
//! reallocation leaves a copy behind.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// A form's name as findings show it, and its text.
pub type Form = (&'static str, Zeroizing<Vec<u8>>);

const LOWER: &[u8; 16] = b"0123456789abcdef";
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Every form of `value`, "as is" first, each distinct text once.
pub fn forms(value: &str) -> Vec<Form> {
    let bytes = value.as_bytes();
    let mut all: Vec<Form> = vec![("as is", Zeroizing::new(bytes.to_vec()))];
    for offset in 0..3 {
        all.push(("base64", base64_core(&STANDARD_NO_PAD, bytes, offset)));
        all.push(("base64url", base64_core(&URL_SAFE_NO_PAD, bytes, offset)));
    }
    for separator in [None, Some(b':'), Some(b'-'), Some(b' ')] {
        for digits in [LOWER, UPPER] {
            all.push(("hex", hex(bytes, separator, digits)));
        }
    }
    for style in URL_STYLES {
        for digits in [UPPER, LOWER] {
            let once = percent_encoded(bytes, &style, digits);
            let twice = percent_encoded(&once, &style, digits);
            all.push(("URL-encoded", once));
            all.push(("URL-encoded twice", twice));
        }
    }
    for escape_slash in [false, true] {
        for ascii_only in [false, true] {
            all.push(("JSON string", json_escaped(value, escape_slash, ascii_only)));
        }
    }
    for digits in [UPPER, LOWER] {
        all.push(("URL-encoded every byte", percent_every_byte(bytes, digits)));
        all.push(("JSON \\u escapes", unicode_escaped(value, digits)));
    }
    distinct(all)
}

/// Every byte as `%XX`.
fn percent_every_byte(value: &[u8], digits: &[u8; 16]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(3 * value.len()));
    for byte in value {
        out.extend_from_slice(&[
            b'%',
            digits[usize::from(byte >> 4)],
            digits[usize::from(byte & 0x0f)],
        ]);
    }
    out
}

/// Every character as `\uXXXX` (UTF-16, a surrogate pair beyond the BMP).
fn unicode_escaped(value: &str, digits: &[u8; 16]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(12 * value.len()));
    let mut units = [0u16; 2];
    for c in value.chars() {
        for unit in c.encode_utf16(&mut units).iter() {
            out.extend_from_slice(b"\\u");
            for shift in [12, 8, 4, 0] {
                out.push(digits[usize::from((unit >> shift) & 0x0f)]);
            }
        }
    }
    out
}

/// `forms` without a text that an earlier form has (compared in place: no copy is kept).
fn distinct(all: Vec<Form>) -> Vec<Form> {
    let mut kept: Vec<Form> = Vec::with_capacity(all.len());
    for form in all {
        if !form.1.is_empty() && !kept.iter().any(|(_, text)| **text == *form.1) {
            kept.push(form);
        }
    }
    kept
}

/// The base64 characters that `value`'s bits alone decide when it starts `offset` bytes
/// into a 3-byte group: character j covers bits 6j..6j+6 of the group-aligned stream, and
/// the value holds bits 8·offset..8·(offset+len).
fn base64_core(engine: &impl Engine, value: &[u8], offset: usize) -> Zeroizing<Vec<u8>> {
    let mut aligned = Zeroizing::new(Vec::with_capacity(offset + value.len()));
    aligned.resize(offset, 0);
    aligned.extend_from_slice(value);
    let mut encoded = Zeroizing::new(vec![0u8; aligned.len().div_ceil(3) * 4]);
    let written = engine
        .encode_slice(&*aligned, &mut encoded[..])
        .unwrap_or_default();
    let first = (8 * offset).div_ceil(6);
    let end = (8 * (offset + value.len()) / 6).min(written);
    Zeroizing::new(encoded.get(first..end).unwrap_or_default().to_vec())
}

/// Hex of every byte, with `separator` between bytes.
fn hex(value: &[u8], separator: Option<u8>, digits: &[u8; 16]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 3));
    for (i, byte) in value.iter().enumerate() {
        if let (Some(separator), true) = (separator, i > 0) {
            out.push(separator);
        }
        out.push(digits[usize::from(byte >> 4)]);
        out.push(digits[usize::from(byte & 0xf)]);
    }
    out
}

/// How one family of encoders percent-encodes: what it leaves as it is besides RFC 3986's
/// unreserved characters, and whether a space becomes `+`.
struct UrlStyle {
    keeps: &'static [u8],
    space_as_plus: bool,
}

const URL_STYLES: [UrlStyle; 4] = [
    // RFC 3986: Go's url.PathEscape, curl, most libraries.
    UrlStyle {
        keeps: b"",
        space_as_plus: false,
    },
    // Python's urllib.parse.quote, whose default keeps '/'.
    UrlStyle {
        keeps: b"/",
        space_as_plus: false,
    },
    // JavaScript's encodeURIComponent.
    UrlStyle {
        keeps: b"!'()*",
        space_as_plus: false,
    },
    // Form encoding: urlencode, quote_plus, HTML forms.
    UrlStyle {
        keeps: b"",
        space_as_plus: true,
    },
];

fn percent_encoded(value: &[u8], style: &UrlStyle, digits: &[u8; 16]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 3));
    for &byte in value {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || style.keeps.contains(&byte) {
            out.push(byte);
        } else if byte == b' ' && style.space_as_plus {
            out.push(b'+');
        } else {
            out.extend_from_slice(&[
                b'%',
                digits[usize::from(byte >> 4)],
                digits[usize::from(byte & 0xf)],
            ]);
        }
    }
    out
}

/// What a JSON encoder writes between the quotes: `"` and `\` escaped, control characters
/// as their short escapes or `\u00XX`, `/` as `\/` when `escape_slash`, characters beyond
/// ASCII as `\uXXXX` (surrogate pairs beyond the BMP) when `ascii_only`. Hex is lowercase,
/// as Python, PHP and JavaScript write it.
fn json_escaped(value: &str, escape_slash: bool, ascii_only: bool) -> Zeroizing<Vec<u8>> {
    // At most 12 bytes (two \uXXXX) for a 4-byte character, 6 for any other.
    let mut out = Zeroizing::new(Vec::with_capacity(value.len() * 6));
    fn unit(out: &mut Vec<u8>, code: u16) {
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(LOWER[usize::from((code >> shift) & 0xf)]);
        }
    }
    for c in value.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '/' if escape_slash => out.extend_from_slice(b"\\/"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if u32::from(c) < 0x20 || (ascii_only && !c.is_ascii()) => {
                let mut units = [0u16; 2];
                for code in c.encode_utf16(&mut units) {
                    unit(&mut out, *code);
                }
            }
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(form: &Zeroizing<Vec<u8>>) -> &str {
        std::str::from_utf8(form).unwrap()
    }

    #[test]
    fn base64_at_each_alignment_is_what_the_value_alone_decides() {
        let value = b"0123456789";
        for prefix in ["", "a", "ab", "user:", "x:", "longer prefix:"] {
            let mut whole = prefix.as_bytes().to_vec();
            whole.extend_from_slice(value);
            whole.extend_from_slice(b"and what follows");
            let encoded = base64::engine::general_purpose::STANDARD.encode(&whole);
            let core = base64_core(&STANDARD_NO_PAD, value, prefix.len() % 3);
            assert!(encoded.contains(text(&core)), "{prefix:?}: {}", text(&core));
            // A value at the very end, padded.
            let mut padded = prefix.as_bytes().to_vec();
            padded.extend_from_slice(value);
            let encoded = base64::engine::general_purpose::STANDARD.encode(&padded);
            assert!(encoded.contains(text(&core)), "{prefix:?} padded");
        }
        // Every character that only the value decides is kept: 10 bytes from offset 1 are
        // bits 8..88, characters 2..14.
        assert_eq!(base64_core(&STANDARD_NO_PAD, value, 1).len(), 12);
    }

    #[test]
    fn every_byte_percent_encoded_and_every_character_u_escaped() {
        assert_eq!(text(&percent_every_byte(b"sk", UPPER)), "%73%6B");
        assert_eq!(text(&percent_every_byte(b"sk", LOWER)), "%73%6b");
        assert_eq!(
            text(&unicode_escaped("sk\u{e9}", LOWER)),
            "\\u0073\\u006b\\u00e9"
        );
        assert_eq!(text(&unicode_escaped("\u{1F600}", UPPER)), "\\uD83D\\uDE00");
    }

    #[test]
    fn each_form_is_written_as_its_encoder_writes_it() {
        assert_eq!(text(&hex(b"\x01\xab", Some(b':'), UPPER)), "01:AB");
        assert_eq!(text(&hex(b"\x01\xab", None, LOWER)), "01ab");
        let (rfc, python, js, form) = (
            &URL_STYLES[0],
            &URL_STYLES[1],
            &URL_STYLES[2],
            &URL_STYLES[3],
        );
        let value = b"a/b c!";
        assert_eq!(text(&percent_encoded(value, rfc, UPPER)), "a%2Fb%20c%21");
        assert_eq!(text(&percent_encoded(value, python, LOWER)), "a/b%20c%21");
        assert_eq!(text(&percent_encoded(value, js, UPPER)), "a%2Fb%20c!");
        assert_eq!(text(&percent_encoded(value, form, UPPER)), "a%2Fb+c%21");
        let once = percent_encoded(value, rfc, LOWER);
        assert_eq!(
            text(&percent_encoded(&once, rfc, LOWER)),
            "a%252fb%2520c%2521"
        );
        assert_eq!(
            text(&json_escaped("a/\"é\u{1F600}\u{1b}", true, true)),
            "a\\/\\\"\\u00e9\\ud83d\\ude00\\u001b"
        );
        assert_eq!(text(&json_escaped("a/é", false, false)), "a/é");
    }

    #[test]
    fn forms_that_coincide_are_one_needle() {
        let plain = forms("abcdefgh12345678");
        let names: Vec<&str> = plain.iter().map(|(name, _)| *name).collect();
        // No URL or JSON form differs from the value itself.
        assert!(
            !names.contains(&"URL-encoded") && !names.contains(&"JSON string"),
            "{names:?}"
        );
        for (i, (_, a)) in plain.iter().enumerate() {
            assert!(plain[..i].iter().all(|(_, b)| b != a));
        }
    }
}
