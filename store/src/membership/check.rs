//! Whether a membership block is consistent with itself (ids, keys, recipients, owners,
//! its chain and its signature) and whether a change of it is one its owners signed.

use super::*;

impl Membership {
    /// What makes this block inconsistent with itself, if anything: a malformed id, key
    /// or recipient, a recipient or writer listed twice, an owner who is not a member, a
    /// broken chain, or a signature that does not match the body or is not an owner's.
    pub fn problem(&self) -> Option<String> {
        let body = &self.body;
        if body.vault_id.len() != 32
            || !body
                .vault_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Some("its vault id is not 32 lowercase hex digits".into());
        }
        if let Err(why) = check_label(&body.label) {
            return Some(format!("its label {why}"));
        }
        if body.epoch == 0 {
            return Some("its epoch is 0".into());
        }
        if let Some(expires) = &body.expires
            && humantime::parse_rfc3339(expires).is_err()
        {
            return Some("its expiry is not an RFC 3339 time".into());
        }
        if let Some(max_age) = &body.max_age
            && humantime::parse_duration(max_age).map_or(true, |age| age > MAX_AGE_LIMIT)
        {
            return Some("its max_age is not a duration of at most 100 years".into());
        }
        if body.passphrase {
            if !body.owners.is_empty()
                || !body.members.is_empty()
                || !body.read_only.is_empty()
                || !body.groups.is_empty()
                || !self.chain.is_empty()
                || self.signer.is_some()
            {
                return Some(
                    "a passphrase vault's block lists owners, members or a signature".into(),
                );
            }
            return None;
        }
        self.members_problem()
            .or_else(|| self.chain_problem())
            .or_else(|| self.signature_problem())
    }

    fn members_problem(&self) -> Option<String> {
        let body = &self.body;
        if body.members.is_empty() {
            return Some("it lists no members".into());
        }
        let mut recipients = BTreeSet::new();
        let mut writers = BTreeSet::new();
        let mut names = BTreeSet::new();
        for member in &body.members {
            if !is_recipient_text(&member.recipient) {
                return Some(format!(
                    "the member {} has no valid recipient",
                    printable(&member.name)
                ));
            }
            if !is_writer_key(&member.writer) {
                return Some(format!(
                    "the member {} has no valid writer key",
                    printable(&member.name)
                ));
            }
            if let Err(why) = check_name(&member.name) {
                return Some(format!("a member's name {why}"));
            }
            if !recipients.insert(key_part(&member.recipient)) {
                return Some(format!(
                    "the recipient {} is listed twice",
                    printable(&key_part(&member.recipient))
                ));
            }
            if !writers.insert(member.writer.as_str()) {
                return Some(format!("the writer key {} is listed twice", member.writer));
            }
            if !names.insert(member.name.as_str()) {
                return Some(format!(
                    "the name {} is listed twice",
                    printable(&member.name)
                ));
            }
        }
        for recipient in &body.read_only {
            if !is_recipient_text(recipient) {
                return Some(format!(
                    "{} is not a valid recipient",
                    printable(&key_part(recipient))
                ));
            }
            if !recipients.insert(key_part(recipient)) {
                return Some(format!(
                    "the recipient {} is listed twice",
                    printable(&key_part(recipient))
                ));
            }
        }
        for (group, members) in &body.groups {
            if let Err(why) = check_group_name(group) {
                return Some(format!("a group's name {why}"));
            }
            if members.is_empty() {
                return Some(format!("the group {} has no members", printable(group)));
            }
            let mut seen = BTreeSet::new();
            for writer in members {
                if body.member_by_writer(writer).is_none() {
                    return Some(format!(
                        "the group {} lists {} who is not a member",
                        printable(group),
                        printable(writer)
                    ));
                }
                if !seen.insert(writer) {
                    return Some(format!(
                        "the group {} lists {} twice",
                        printable(group),
                        printable(writer)
                    ));
                }
            }
        }
        if body.owners.is_empty() {
            return Some("it lists no owners".into());
        }
        let owners = body.owner_set();
        if owners.len() != body.owners.len() {
            return Some("an owner is listed twice".into());
        }
        if let Some(owner) = owners.iter().find(|o| !writers.contains(o.as_str())) {
            return Some(format!("the owner {owner} is not a member"));
        }
        None
    }

    fn chain_problem(&self) -> Option<String> {
        let body = &self.body;
        let Some(first) = self.chain.first() else {
            return Some("it has no chain of owners".into());
        };
        if !first.owners.contains(&first.signer) {
            return Some(
                "the first link of its chain of owners is not signed by its owners".into(),
            );
        }
        let mut previous: Option<&Link> = None;
        for link in &self.chain {
            if !link.valid(&body.vault_id) {
                return Some(format!(
                    "the signature of its change of owners at epoch {} does not match",
                    link.epoch
                ));
            }
            if let Some(previous) = previous {
                if link.epoch <= previous.epoch {
                    return Some("its chain of owners is out of order".into());
                }
                if !previous.owners.contains(&link.signer) {
                    return Some(format!(
                        "its change of owners at epoch {} is not signed by an owner of the epoch before",
                        link.epoch
                    ));
                }
            }
            previous = Some(link);
        }
        let last = self.chain.last()?;
        if last.epoch > body.epoch || last.owner_set() != body.owner_set() {
            return Some("its owners are not those its chain of owners ends with".into());
        }
        None
    }

    fn signature_problem(&self) -> Option<String> {
        let (Some(signer), Some(sig)) = (&self.signer, &self.sig) else {
            return Some("it is not signed".into());
        };
        let Ok(value) = serde_json::from_str::<serde_json::Value>(&self.raw_body) else {
            return Some("its body does not parse".into());
        };
        let Ok(digest) = Membership::signed_digest(&canonical(&value), &self.chain) else {
            return Some("its chain of owners does not encode".into());
        };
        if !verify_digest(signer, &digest, sig) {
            return Some("its signature does not match it".into());
        }
        // An owner signs, or the owner who handed ownership over in this very epoch.
        let handed_over = self
            .chain
            .last()
            .is_some_and(|l| l.epoch == self.body.epoch && &l.signer == signer);
        if !self.body.is_owner(signer) && !handed_over {
            return Some(format!("it is signed by {signer}, who is not an owner"));
        }
        None
    }

    /// Whether a machine that trusts `pinned` as the owners (at epoch `pinned_epoch`;
    /// `None` when not known, as for owners named in configuration) must trust this block:
    /// its chain must lead from them, each change of owners after that point signed by an
    /// owner of the set before it, to the owners this block names, and the block must be
    /// signed by one of those owners (or by the owner who handed over in a change of this
    /// very epoch that the walk followed). Without an epoch, the walk starts at the last
    /// link that names exactly `pinned`, signed by one of them: links signed by anyone
    /// else are never followed. The error says why not.
    pub fn authorized_by(
        &self,
        pinned: &BTreeSet<String>,
        pinned_epoch: Option<u64>,
    ) -> Result<(), String> {
        if self.body.passphrase {
            return Ok(());
        }
        let names = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
        let start = match pinned_epoch {
            Some(epoch) => self
                .chain
                .iter()
                .position(|l| l.epoch > epoch)
                .unwrap_or(self.chain.len()),
            None => {
                let anchor = self
                    .chain
                    .iter()
                    .rposition(|l| l.owner_set() == *pinned && pinned.contains(&l.signer))
                    .ok_or_else(|| {
                        format!(
                            "its chain of owners never names the owners this machine trusts for it ({}) in a change one of them signed",
                            names(pinned)
                        )
                    })?;
                anchor + 1
            }
        };
        let mut trusted = pinned.clone();
        let mut handed_over_by = None;
        for link in &self.chain[start..] {
            if !trusted.contains(&link.signer) {
                return Err(format!(
                    "its owners changed at epoch {} by {}, whom this machine does not know as an owner",
                    link.epoch, link.signer
                ));
            }
            handed_over_by = (link.epoch == self.body.epoch).then(|| link.signer.clone());
            trusted = link.owner_set();
        }
        if trusted != self.body.owner_set() {
            return Err(format!(
                "its owners ({}) are not the owners this machine trusts for it ({})",
                self.body.owners.join(", "),
                names(&trusted)
            ));
        }
        let signer = self.signer.clone().unwrap_or_default();
        if !trusted.contains(&signer) && handed_over_by.as_ref() != Some(&signer) {
            return Err(format!(
                "it is signed by {signer}, not by an owner this machine trusts for it"
            ));
        }
        Ok(())
    }

    /// Every key its chain names as an owner at some epoch.
    pub fn owners_ever(&self) -> BTreeSet<String> {
        self.chain
            .iter()
            .flat_map(|l| l.owners.iter().cloned())
            .chain(self.body.owners.iter().cloned())
            .collect()
    }
}
