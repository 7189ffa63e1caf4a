//! Tests of `membership`.

use super::*;

fn key() -> SigningKey {
    SigningKey::from_identity(&age::x25519::Identity::generate()).unwrap()
}

fn member(key: &SigningKey, name: &str) -> Member {
    Member {
        recipient: age::x25519::Identity::generate().to_public().to_string(),
        writer: key.writer(),
        name: name.into(),
    }
}

/// A new vault's block, owned by `key` under `name`.
fn owned_by(key: &SigningKey, name: &str) -> Membership {
    Membership::genesis("team", member(key, name), vec![], vec![], None, key).unwrap()
}

fn owners(keys: &[&SigningKey]) -> BTreeSet<String> {
    keys.iter().map(|k| k.writer()).collect()
}

#[test]
fn a_block_round_trips_and_any_change_to_it_breaks_it() {
    let alice = key();
    let block = owned_by(&alice, "alice");
    let json = block.to_json();
    assert_eq!(Membership::parse(&json).unwrap(), block);
    let tampered = json.replace("\"team\"", "\"tame\"");
    assert_eq!(
        Membership::parse(&tampered).unwrap_err(),
        "its signature does not match it"
    );
    let unsigned = json.replace(&block.sig.clone().unwrap(), &"0".repeat(128));
    assert!(Membership::parse(&unsigned).is_err());
    // Laid out anew by another tool (keys reordered, spaces added): the same block.
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let mut reordered = serde_json::to_string_pretty(&value).unwrap();
    reordered = reordered.replacen("\"label\": \"team\",", "", 1).replacen(
        "\"epoch\": 1,",
        "\"epoch\": 1, \"label\": \"team\",",
        1,
    );
    let again = Membership::parse(&reordered).unwrap();
    assert_eq!(again.canonical(), block.canonical());
}

#[test]
fn only_owners_sign_and_each_recipient_and_writer_appears_once() {
    let (alice, bob, mallory) = (key(), key(), key());
    let block = owned_by(&alice, "alice");
    let mut body = block.body.clone();
    body.members.push(member(&bob, "bob"));
    let with_bob = block.next(body.clone(), &alice).unwrap();
    assert_eq!(with_bob.body.epoch, 2);
    // Bob is a member, not an owner: he cannot sign a change.
    assert!(with_bob.next(with_bob.body.clone(), &bob).is_err());
    // A block Mallory signs herself is not consistent: she is not an owner.
    let forged = Membership::signed(with_bob.body.clone(), with_bob.chain.clone(), &mallory);
    assert!(forged.unwrap_err().contains("not an owner"));
    // Bob's recipient bound to another key: listed twice.
    let mut twice = with_bob.body.clone();
    let mut pair = member(&mallory, "mallory");
    pair.recipient = twice.members[1].recipient.clone();
    twice.members.push(pair);
    assert!(
        with_bob
            .next(twice, &alice)
            .unwrap_err()
            .contains("listed twice")
    );
}

/// The trust verdict's core: whom a machine trusts as owners after following the chain.
#[test]
fn the_chain_leads_from_earlier_owners_to_todays() {
    let (alice, bob, carol) = (key(), key(), key());
    let e1 = owned_by(&alice, "alice");
    let mut body = e1.body.clone();
    body.members.push(member(&bob, "bob"));
    body.owners.push(bob.writer());
    let e2 = e1.next(body, &alice).unwrap();
    let mut body = e2.body.clone();
    body.owners.retain(|o| *o != alice.writer());
    let e3 = e2.next(body, &bob).unwrap();
    assert_eq!(e3.chain.len(), 3);
    let table: [(&Membership, BTreeSet<String>, Option<u64>, bool); 8] = [
        (&e3, owners(&[&alice]), Some(1), true),
        (&e3, owners(&[&alice, &bob]), Some(2), true),
        (&e3, owners(&[&bob]), Some(3), true),
        (&e3, owners(&[&carol]), Some(1), false),
        (&e3, owners(&[&alice]), None, true),
        (&e3, owners(&[&bob]), None, true),
        (&e3, owners(&[&carol]), None, false),
        // Pinned after Alice left: her old block no longer matches today's owners.
        (&e1, owners(&[&bob]), Some(3), false),
    ];
    for (index, (block, pinned, epoch, ok)) in table.into_iter().enumerate() {
        assert_eq!(
            block.authorized_by(&pinned, epoch).is_ok(),
            ok,
            "row {index}"
        );
    }
    // A lineage of Mallory's own that ends by naming Alice the owner, its block signed
    // by Mallory as the one who "handed over": consistent with itself, but no walk
    // from Alice (pinned with or without an epoch) ever follows a link Mallory signed.
    let mut lineage = Membership::genesis(
        "team",
        member(&carol, "mallory"),
        vec![Member {
            name: "alice".into(),
            ..e3.body.member_by_writer(&alice.writer()).unwrap().clone()
        }],
        vec![],
        None,
        &carol,
    )
    .unwrap();
    let mut body = lineage.body.clone();
    body.owners = vec![alice.writer()];
    lineage = lineage.next(body, &carol).unwrap();
    assert_eq!(lineage.problem(), None, "consistent with itself");
    for epoch in [None, Some(1)] {
        assert!(
            lineage.authorized_by(&owners(&[&alice]), epoch).is_err(),
            "{epoch:?}"
        );
    }
    // Under a genuine body, a history of owners of Mallory's own that also ends with
    // today's owners: the owner's signature covers the chain, so it no longer matches.
    let mut rechained = e3.clone();
    let vault_id = &e3.body.vault_id;
    rechained.chain = vec![
        Link::signed(vault_id, 1, &[carol.writer()], &carol),
        Link::signed(vault_id, 2, &[carol.writer(), bob.writer()], &carol),
        Link::signed(vault_id, 3, &[bob.writer()], &carol),
    ];
    assert_eq!(
        rechained.problem().as_deref(),
        Some("its signature does not match it")
    );
    // A link forged into the chain by someone who is not an owner breaks it.
    let mut forged = e3.clone();
    forged.chain.insert(
        1,
        Link::signed(&e3.body.vault_id, 2, &[carol.writer()], &carol),
    );
    assert!(forged.problem().is_some());
}

#[test]
fn lines_carry_a_fingerprint_that_catches_a_changed_character() {
    let alice = key();
    let member = member(&alice, "alice");
    let line = member.line();
    assert_eq!(
        Joining::parse(&line).unwrap(),
        Joining::Member(member.clone())
    );
    // One hex digit of the writer key changed on the way, into another valid key.
    let changed = (0..16u8)
        .map(|d| {
            let mut writer = member.writer.clone().into_bytes();
            writer[10] = b"0123456789abcdef"[d as usize];
            String::from_utf8(writer).unwrap()
        })
        .find(|w| *w != member.writer && is_writer_key(w))
        .map(|w| line.replace(&member.writer, &w))
        .unwrap();
    assert!(
        Joining::parse(&changed)
            .unwrap_err()
            .contains("fingerprint")
    );
    assert_eq!(
        Joining::parse(&member.recipient).unwrap(),
        Joining::ReadOnly(member.recipient.clone())
    );
    assert!(Joining::parse("age1x name:bob").is_err());
    // Labels and names that would reorder or hide text on a terminal.
    assert!(check_label("prod\u{202e}dorp").is_err());
    assert!(check_label("a\u{200b}b").is_err());
    assert!(check_label("prod (eu)").is_ok());
    assert!(check_name("bob\u{202e}").is_err());
}
