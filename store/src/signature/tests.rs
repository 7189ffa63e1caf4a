//! Tests of `signature`.

use super::*;

/// The canonical check by bytes agrees with re-encoding the decoded point, on the
/// encodings where they could differ (every y within 40 of 0, 1, p - 1 and p, with
/// either sign bit, and 2^255 - 1) and on random ones.
#[test]
fn canonical_encoding_is_what_reencoding_gives_back() {
    use ed25519_dalek::VerifyingKey;
    let reencodes = |bytes: &[u8; 32]| {
        VerifyingKey::from_bytes(bytes)
            .ok()
            .map(|key| key.to_edwards().compress().to_bytes() == *bytes)
    };
    let mut cases: Vec<[u8; 32]> = Vec::new();
    // y = base + delta, little-endian, for base in 0, 1, p - 1, p.
    let p = {
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        p
    };
    for base in [[0u8; 32], p] {
        for delta in 0u8..=40 {
            for (low, sign) in [(false, 0u8), (false, 0x80), (true, 0), (true, 0x80)] {
                let mut y = base;
                // Below the base (wrapping its low byte) or above it.
                y[0] = if low {
                    base[0].wrapping_sub(delta)
                } else {
                    base[0].wrapping_add(delta)
                };
                if base == [0u8; 32] && low && delta > 0 {
                    continue;
                }
                if base == p && !low && usize::from(base[0]) + usize::from(delta) > 0xff {
                    continue;
                }
                y[31] |= sign;
                cases.push(y);
            }
        }
    }
    cases.push([0xff; 32]);
    let mut top = [0xff; 32];
    top[31] = 0x7f;
    cases.push(top);
    for _ in 0..2000 {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap();
        cases.push(bytes);
    }
    let mut decoded = 0;
    for bytes in &cases {
        if let Some(expected) = reencodes(bytes) {
            decoded += 1;
            assert_eq!(canonical_encoding(bytes), expected, "{bytes:02x?}");
        }
    }
    // The edge cases decode: y = 1, p - 1 (x = 0) and y = p + 1 (1 again) among them.
    assert!(decoded > 100, "only {decoded} of the cases decoded");
    for bytes in [[0u8; 32], p] {
        let mut one = bytes;
        one[0] = one[0].wrapping_add(1);
        one[31] |= 0x80;
        assert_eq!(reencodes(&one), Some(false));
        assert!(!canonical_encoding(&one));
    }
}

#[test]
fn a_signature_covers_every_byte_before_it() {
    let key = SigningKey::from_identity(&age::x25519::Identity::generate()).unwrap();
    let body = br#"{"format":"secretsd-vault","version":1,"recipients":["age1x"],"secrets":{"A":{"value":"a"}}"#;
    let mut hasher = start();
    hasher.update(body);
    let mut signed = body.to_vec();
    signed.extend_from_slice(key.suffix(hasher).as_bytes());
    assert_eq!(
        check(&signed),
        Signed::Valid {
            writer: key.writer()
        }
    );
    let document: serde_json::Value = serde_json::from_slice(&signed).unwrap();
    assert_eq!(document["signature"]["writer"], key.writer());
    let mut tampered = signed.clone();
    let at = memchr::memmem::find(&tampered, b"\"a\"").unwrap();
    tampered[at + 1] = b'b';
    assert!(matches!(check(&tampered), Signed::Invalid { .. }));
    assert_eq!(check(body), Signed::Unsigned);
}

/// Written in blocks with the hash on another thread, in pieces of every size around
/// the block's: the same bytes, signed as if hashed in one go.
#[test]
fn a_document_written_in_blocks_is_the_document_signed() {
    let key = SigningKey::from_identity(&age::x25519::Identity::generate()).unwrap();
    let head = br#"{"format":"secretsd-vault","secrets":{"A":{"value":""#;
    for size in [0, 1, BLOCK - head.len() - 1, BLOCK, 3 * BLOCK + 7] {
        let filler: Vec<u8> = (0..size).map(|i| b'a' + (i % 26) as u8).collect();
        let pieces = [
            &head[..],
            &filler[..BLOCK.min(size)],
            &filler[BLOCK.min(size)..],
            br#""}}"#,
        ];
        let body = pieces.concat();
        let mut signed = Vec::new();
        write_document(&mut signed, Some(&key), |out| {
            pieces.iter().try_for_each(|piece| out.write_all(piece))
        })
        .unwrap();
        assert_eq!(&signed[..body.len()], &body[..], "{size}");
        assert_eq!(
            check(&signed),
            Signed::Valid {
                writer: key.writer()
            },
            "{size}"
        );
        let mut unsigned = Vec::new();
        write_document(&mut unsigned, None, |out| out.write_all(&body)).unwrap();
        assert_eq!(unsigned, [&body[..], b"}"].concat(), "{size}");
    }
}

/// A signature made for one kind of object never passes for another.
#[test]
fn a_signature_is_for_one_kind_of_object() {
    let key = SigningKey::from_identity(&age::x25519::Identity::generate()).unwrap();
    let object = br#"{"values":{"A":"a"}}"#;
    let vault = sign_object(Domain::Vault, Some(&key), object).unwrap();
    let values = sign_object(Domain::MergeValues, Some(&key), object).unwrap();
    let writer = key.writer();
    assert!(signed_by(Domain::Vault, &vault, &writer));
    assert!(!signed_by(Domain::MergeValues, &vault, &writer));
    assert!(signed_by(Domain::MergeValues, &values, &writer));
    for domain in [Domain::Vault, Domain::Files] {
        assert!(!signed_by(domain, &values, &writer), "{domain:?}");
    }
}

/// One key, one spelling: `+` signs and capitals in the hex of a writer or a signature,
/// and a key encoded non-canonically, are refused wherever a writer key is read.
#[test]
fn a_writer_key_has_one_spelling() {
    assert_eq!(unhex::<2>("0a1f"), Some([0x0a, 0x1f]));
    for other in ["+a1f", "0A1f", "0a1F", "0a1", "0a1f0", " a1f", "0a\u{e9}"] {
        assert_eq!(unhex::<2>(other), None, "{other}");
    }
    // A key whose hex has a pair `0x` at a byte boundary, so `+x` spells it for a
    // lenient parser.
    let (key, writer) = std::iter::repeat_with(|| {
        let key = SigningKey::from_identity(&age::x25519::Identity::generate()).unwrap();
        let writer = key.writer();
        (key, writer)
    })
    .find(|(_, w)| (0..64).step_by(2).any(|i| &w[i..i + 1] == "0"))
    .unwrap();
    let zero = (0..64)
        .step_by(2)
        .find(|&i| &writer[i..i + 1] == "0")
        .unwrap();
    let plus = format!("{}+{}", &writer[..zero], &writer[zero + 1..]);
    let upper = writer.to_uppercase();
    assert!(is_writer_key(&writer));
    let digest = [5u8; 32];
    let sig = key.sign_digest(&digest);
    assert!(verify_digest(&writer, &digest, &sig));
    for other in [&plus, &upper] {
        assert!(!is_writer_key(other), "{other}");
        assert!(!verify_digest(other, &digest, &sig), "{other}");
    }
    assert!(!verify_digest(&writer, &digest, &sig.to_uppercase()));

    // The same document with its writer or signature spelled otherwise: the signature
    // still matches (the field is not itself signed), yet no writer is read from it.
    let body = br#"{"format":"secretsd-vault","secrets":{}"#;
    let mut hasher = start();
    hasher.update(body);
    let signed = String::from_utf8([&body[..], key.suffix(hasher).as_bytes()].concat()).unwrap();
    assert_eq!(
        check(signed.as_bytes()),
        Signed::Valid {
            writer: writer.clone()
        }
    );
    let sig_at = signed.rfind("\"sig\":\"").unwrap() + 7;
    let respelled = [
        signed.replace(&writer, &plus),
        signed.replace(&writer, &upper),
        format!("{}{}", &signed[..sig_at], signed[sig_at..].to_uppercase()),
    ];
    for text in respelled {
        assert!(
            matches!(check(text.as_bytes()), Signed::Invalid { .. }),
            "{text}"
        );
    }

    // The point y = 1 (the identity) encoded as y = p + 1: a valid encoding for a
    // decoder that reduces y, but not the one an encoder writes.
    let mut non_canonical = [0xffu8; 32];
    non_canonical[0] = 0xee;
    non_canonical[31] = 0x7f;
    assert!(ed25519_dalek::VerifyingKey::from_bytes(&non_canonical).is_ok());
    assert!(!is_writer_key(&hex(&non_canonical)));
    let mut canonical = [0u8; 32];
    canonical[0] = 1;
    assert!(is_writer_key(&hex(&canonical)));
}

/// An output that fails mid-document fails the write, with nothing left waiting.
#[test]
fn a_failing_output_fails_the_write() {
    struct Full(usize);
    impl std::io::Write for Full {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.0 < bytes.len() {
                return Err(std::io::Error::other("disk full"));
            }
            self.0 -= bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let key = SigningKey::from_identity(&age::x25519::Identity::generate()).unwrap();
    let body = vec![b'x'; 5 * BLOCK];
    for room in [0, BLOCK, 4 * BLOCK, 5 * BLOCK] {
        let error = write_document(&mut Full(room), Some(&key), |out| out.write_all(&body));
        assert_eq!(error.unwrap_err().to_string(), "disk full", "{room}");
    }
}
