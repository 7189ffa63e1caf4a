//! The trust verdict's tests: tables of versions and what this machine has seen.

use super::*;
use crate::crypto::StanzaKind;
use crate::membership::Member;
use crate::signature::SigningKey;

struct Person {
    key: SigningKey,
    member: Member,
}

fn person(name: &str) -> Person {
    let identity = age::x25519::Identity::generate();
    let key = SigningKey::from_identity(&identity).unwrap();
    let member = Member {
        recipient: identity.to_public().to_string(),
        writer: key.writer(),
        name: name.into(),
    };
    Person { key, member }
}

/// A new vault's block, owned by `owner`.
fn owned_by(owner: &Person) -> Membership {
    Membership::genesis(
        "team",
        owner.member.clone(),
        vec![],
        vec![],
        None,
        &owner.key,
    )
    .unwrap()
}

fn header(x25519: usize) -> Header {
    Header {
        stanzas: (0..x25519)
            .map(|_| StanzaKind {
                kind: "X25519".into(),
                tag: None,
            })
            .collect(),
    }
}

struct Case {
    block: Membership,
    header: Header,
    recipients: Vec<String>,
    signed: Signed,
    generation: u64,
}

impl Case {
    fn written_by(block: &Membership, writer: &Person, generation: u64) -> Case {
        let recipients = block.body.recipients();
        Case {
            header: header(recipients.len()),
            recipients,
            block: block.clone(),
            signed: Signed::Valid {
                writer: writer.key.writer(),
            },
            generation,
        }
    }

    fn facts(&self) -> Facts<'_> {
        Facts {
            passphrase: false,
            header: &self.header,
            recipients: &self.recipients,
            membership: Some(Ok(self.block.clone())),
            signed: &self.signed,
            generation: self.generation,
        }
    }
}

fn seen<'a>(record: Option<&'a VaultRecord>, own: Option<&'a str>) -> Seen<'a> {
    Seen {
        record,
        bound_to: None,
        configured: None,
        own,
        now: SystemTime::now(),
        version_1: None,
    }
}

fn kind(judgment: &Judgment) -> &'static str {
    match judgment.verdict {
        Verdict::Trusted => "trusted",
        Verdict::FirstSight(_) => "first sight",
        Verdict::Suspect(_) => "suspect",
    }
}

/// The verdict for each attack of the "fails closed" issue, and for what must pass.
#[test]
fn the_verdict_table() {
    let (alice, bob, carol, mallory) = (
        person("alice"),
        person("bob"),
        person("carol"),
        person("mallory"),
    );
    let e1 = owned_by(&alice);
    let mut body = e1.body.clone();
    body.members.push(bob.member.clone());
    body.members.push(carol.member.clone());
    let e2 = e1.next(body, &alice.key).unwrap();
    let mut body = e2.body.clone();
    body.members.retain(|m| m.name != "carol");
    let e3 = e2.next(body, &alice.key).unwrap();
    let at_e3 = advance(None, &e3, 7);
    let alice_key = alice.key.writer();

    let bobs_write = Case::written_by(&e3, &bob, 8);
    let carols_old = Case::written_by(&e2, &carol, 9);
    let mut forged_unsigned = Case::written_by(&e3, &bob, 8);
    forged_unsigned.signed = Signed::Unsigned;
    let mut extra_stanza = Case::written_by(&e3, &bob, 8);
    extra_stanza.header = header(3);
    let mallorys = Case::written_by(&e3, &mallory, 8);
    let mut forged_block = e3.body.clone();
    forged_block.members.push(mallory.member.clone());
    let mallory_block = owned_by(&mallory);
    let mallory_owned = Case::written_by(&mallory_block, &mallory, 1);
    let older_generation = Case::written_by(&e3, &alice, 5);

    let rows: [(&str, &Case, Seen<'_>, &str); 10] = [
        (
            "a member's write",
            &bobs_write,
            seen(Some(&at_e3), Some(&alice_key)),
            "trusted",
        ),
        (
            // An old block of one's own may still list someone removed since.
            "the owner's own block, on a machine with no record",
            &older_generation,
            seen(None, Some(&alice_key)),
            "first sight",
        ),
        (
            "a removed member's old copy",
            &carols_old,
            seen(Some(&at_e3), Some(&alice_key)),
            "suspect",
        ),
        (
            "unsigned",
            &forged_unsigned,
            seen(Some(&at_e3), None),
            "suspect",
        ),
        (
            "encrypted to an extra key",
            &extra_stanza,
            seen(Some(&at_e3), None),
            "suspect",
        ),
        (
            "signed by a non-member",
            &mallorys,
            seen(Some(&at_e3), None),
            "suspect",
        ),
        (
            "another owner's vault in its place",
            &mallory_owned,
            Seen {
                bound_to: Some(&e3.body.vault_id),
                ..seen(None, None)
            },
            "suspect",
        ),
        (
            "first sight of someone else's vault",
            &bobs_write,
            seen(None, None),
            "first sight",
        ),
        (
            "first sight, a stranger's",
            &mallory_owned,
            seen(None, Some(&alice_key)),
            "first sight",
        ),
        (
            "an older generation",
            &older_generation,
            seen(Some(&at_e3), None),
            "trusted",
        ),
    ];
    for (what, case, seen, expected) in rows {
        let judgment = judge(&case.facts(), &seen);
        assert_eq!(kind(&judgment), expected, "{what}: {judgment:?}");
    }
    // The older generation is a notice, not a refusal.
    let judgment = judge(&older_generation.facts(), &seen(Some(&at_e3), None));
    assert!(
        judgment.notices[0].contains("older version"),
        "{judgment:?}"
    );
    // The rollback names who would be back.
    let judgment = judge(&carols_old.facts(), &seen(Some(&at_e3), None));
    assert!(
        matches!(&judgment.verdict, Verdict::Suspect(why) if why.contains("carol")),
        "{judgment:?}"
    );
    // Configured owners answer a first sight; the wrong ones refuse it.
    let pin = |keys: &[&str], epoch| Configured {
        owners: keys.iter().map(|k| k.to_string()).collect(),
        epoch,
    };
    for (configured, case, expected) in [
        (pin(&[&alice_key], None), &bobs_write, "trusted"),
        (pin(&[&mallory.key.writer()], None), &bobs_write, "suspect"),
        // A configured epoch is a floor: a removed member's old version is refused.
        (pin(&[&alice_key], Some(3)), &carols_old, "suspect"),
        (pin(&[&alice_key], Some(3)), &bobs_write, "trusted"),
    ] {
        let seen = Seen {
            configured: Some(&configured),
            ..seen(None, None)
        };
        assert_eq!(kind(&judge(&case.facts(), &seen)), expected);
    }
    // A location that held another vault.
    let seen = Seen {
        bound_to: Some("0123456789abcdef0123456789abcdef"),
        ..seen(Some(&at_e3), None)
    };
    assert_eq!(kind(&judge(&bobs_write.facts(), &seen)), "suspect");
}

/// Who signed a version, in the table below.
#[derive(Clone, Copy)]
enum Writer<'a> {
    By(&'a Person),
    Nobody,
    Forged,
}

/// The verdict by the version's format, its writer, and the recipients this machine
/// saw before against those the version lists: every case of the "fails closed"
/// issue that these decide (tests/trust.rs holds each through the binary).
#[test]
fn the_verdict_by_version_writer_and_recipients() {
    let (alice, bob, mallory) = (person("alice"), person("bob"), person("mallory"));
    let e1 = owned_by(&alice);
    let mut body = e1.body.clone();
    body.members.push(bob.member.clone());
    let e2 = e1.next(body, &alice.key).unwrap();
    let at_e2 = advance(None, &e2, 3);
    let alice_key = alice.key.writer();
    let (a, b, m) = (
        alice.member.recipient.as_str(),
        bob.member.recipient.as_str(),
        mallory.member.recipient.as_str(),
    );
    // (what, version, writer, recipients seen before, recipients after, verdict)
    type Row<'a> = (
        &'a str,
        u32,
        Writer<'a>,
        Option<&'a [&'a str]>,
        &'a [&'a str],
        &'a str,
    );
    let rows: [Row<'_>; 14] = [
        (
            "v1: this user's own write, as seen",
            1,
            Writer::By(&alice),
            Some(&[a, b]),
            &[a, b],
            "trusted",
        ),
        (
            "v1: another recipient's write",
            1,
            Writer::By(&bob),
            Some(&[a, b]),
            &[a, b],
            "first sight",
        ),
        (
            "v1: a recipient added since",
            1,
            Writer::By(&alice),
            Some(&[a, b]),
            &[a, b, m],
            "first sight",
        ),
        (
            "v1: a recipient dropped since",
            1,
            Writer::By(&alice),
            Some(&[a, b]),
            &[a],
            "first sight",
        ),
        (
            "v1: never seen here",
            1,
            Writer::By(&alice),
            None,
            &[a, b],
            "first sight",
        ),
        (
            "v1: unsigned (the age CLI)",
            1,
            Writer::Nobody,
            Some(&[a, b]),
            &[a, b],
            "first sight",
        ),
        (
            "v1: a signature that does not match",
            1,
            Writer::Forged,
            Some(&[a, b]),
            &[a, b],
            "suspect",
        ),
        (
            "v2: a member's write",
            2,
            Writer::By(&bob),
            None,
            &[a, b],
            "trusted",
        ),
        (
            "v2: the owner's write",
            2,
            Writer::By(&alice),
            None,
            &[a, b],
            "trusted",
        ),
        (
            "v2: a non-member's write",
            2,
            Writer::By(&mallory),
            None,
            &[a, b],
            "suspect",
        ),
        ("v2: unsigned", 2, Writer::Nobody, None, &[a, b], "suspect"),
        (
            "v2: a signature that does not match",
            2,
            Writer::Forged,
            None,
            &[a, b],
            "suspect",
        ),
        (
            "v2: a recipient the block does not list",
            2,
            Writer::By(&bob),
            None,
            &[a, b, m],
            "suspect",
        ),
        (
            "v2: a member's recipient left out",
            2,
            Writer::By(&bob),
            None,
            &[a],
            "suspect",
        ),
    ];
    for (what, version, writer, before, after, expected) in rows {
        let recipients: Vec<String> = after.iter().map(|r| r.to_string()).collect();
        let header = header(recipients.len());
        let signed = match writer {
            Writer::By(person) => Signed::Valid {
                writer: person.key.writer(),
            },
            Writer::Nobody => Signed::Unsigned,
            Writer::Forged => Signed::Invalid {
                writer: Some(bob.key.writer()),
            },
        };
        let before: Option<BTreeSet<String>> =
            before.map(|list| list.iter().map(|r| r.to_string()).collect());
        let facts = Facts {
            passphrase: false,
            header: &header,
            recipients: &recipients,
            membership: (version == 2).then(|| Ok(e2.clone())),
            signed: &signed,
            generation: 4,
        };
        let seen = Seen {
            version_1: before.as_ref(),
            ..seen((version == 2).then_some(&at_e2), Some(&alice_key))
        };
        let judgment = judge(&facts, &seen);
        assert_eq!(kind(&judgment), expected, "{what}: {judgment:?}");
    }
    // What the version's format alone decides.
    let v1_header = header(2);
    let v1_recipients = [a.to_string(), b.to_string()];
    let unsigned = Signed::Unsigned;
    let v1 = |passphrase| Facts {
        passphrase,
        header: &v1_header,
        recipients: if passphrase { &[] } else { &v1_recipients },
        membership: None,
        signed: &unsigned,
        generation: 0,
    };
    // A passphrase vault from before membership blocks reads as before.
    assert_eq!(kind(&judge(&v1(true), &seen(None, None))), "trusted");
    // A version-1 file where this machine has seen version 2: an old copy put back.
    let bound = Seen {
        bound_to: Some(&e2.body.vault_id),
        ..seen(None, Some(&alice_key))
    };
    assert_eq!(kind(&judge(&v1(false), &bound)), "suspect");
    assert_eq!(kind(&judge(&v1(true), &bound)), "suspect");
    // A membership block that does not parse, or lists members on a passphrase vault.
    let signed = Signed::Valid {
        writer: bob.key.writer(),
    };
    let recipients = e2.body.recipients();
    let header = header(recipients.len());
    let broken = Facts {
        passphrase: false,
        header: &header,
        recipients: &recipients,
        membership: Some(Err("no signature".into())),
        signed: &signed,
        generation: 4,
    };
    assert_eq!(kind(&judge(&broken, &seen(Some(&at_e2), None))), "suspect");
    let on_a_passphrase = Facts {
        passphrase: true,
        membership: Some(Ok(e2.clone())),
        ..broken
    };
    assert_eq!(
        kind(&judge(&on_a_passphrase, &seen(Some(&at_e2), None))),
        "suspect"
    );
}

#[test]
fn history_is_judged_by_every_owner_ever_known_and_never_by_epoch() {
    let (alice, bob) = (person("alice"), person("bob"));
    let e1 = owned_by(&alice);
    let mut body = e1.body.clone();
    body.members.push(bob.member.clone());
    let e2 = e1.next(body, &alice.key).unwrap();
    let record = advance(None, &e2, 4);
    let old = Case::written_by(&e1, &alice, 1);
    assert_eq!(
        authenticity(
            &old.facts(),
            &seen(Some(&record), None),
            Some(&e1.body.vault_id)
        ),
        Authenticity::Genuine
    );
    assert!(matches!(
        authenticity(&old.facts(), &seen(None, None), None),
        Authenticity::Not(_)
    ));
    assert!(matches!(
        authenticity(
            &old.facts(),
            &seen(Some(&record), None),
            Some("0".repeat(32).as_str())
        ),
        Authenticity::Not(_)
    ));
}

/// A passphrase vault made with the id of a vault this machine knows encrypted to its
/// members (whoever knows a passphrase the user types can make one) is refused.
#[test]
fn a_passphrase_vault_never_stands_in_for_a_members_vault() {
    let alice = person("alice");
    let e1 = owned_by(&alice);
    let record = advance(None, &e1, 3);
    let mut forged = Membership::for_passphrase("team").unwrap();
    forged.body.vault_id = e1.body.vault_id.clone();
    let header = Header {
        stanzas: vec![StanzaKind {
            kind: "scrypt".into(),
            tag: None,
        }],
    };
    let facts = Facts {
        passphrase: true,
        header: &header,
        recipients: &[],
        membership: Some(Ok(forged)),
        signed: &Signed::Unsigned,
        generation: 9,
    };
    assert_eq!(kind(&judge(&facts, &seen(Some(&record), None))), "suspect");
}

#[test]
fn the_floor_never_moves_down() {
    let alice = person("alice");
    let e1 = owned_by(&alice);
    let e2 = e1.next(e1.body.clone(), &alice.key).unwrap();
    let at_e2 = advance(None, &e2, 5);
    let after = advance(Some(&at_e2), &e1, 9);
    assert_eq!((after.epoch, after.generation), (2, 9));
    assert_eq!(after.membership, Some(e2.to_json()));
}
