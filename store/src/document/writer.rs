//! Writing a document: the JSON a new version is sealed from, streamed; every secret not
//! touched since it was read is copied byte for byte, runs of them at once.

use super::*;

impl Document {
    /// Serializes into a buffer that is zeroed on drop.
    pub fn to_json(&self) -> Result<SecretBytes> {
        let estimate = self.source.len()
            + 256
            + self
                .secrets
                .iter()
                .filter(|(_, slot)| slot.span.is_none())
                .map(|(name, slot)| {
                    let value = slot
                        .entry
                        .get()
                        .map_or(0, |e| e.value.expose_secret().len());
                    name.len() + value * 2 + 160
                })
                .sum::<usize>();
        // Sized to save the copies of growing. Escaped control characters and long
        // descriptions can outgrow the estimate: `SecretBytes` then wipes what it leaves.
        let mut out = SecretBytes::with_capacity(estimate);
        self.write_json(&mut out)
            .map_err(|e| Error::Failed(format!("cannot serialize the vault: {e}")))?;
        Ok(out)
    }

    /// Writes the document as JSON. Secrets still in their text are copied as they are.
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        self.write_json_open(out)?;
        out.write_all(b"}")
    }

    /// The JSON without its closing brace, for a signature to follow.
    pub fn write_json_open(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.partial {
            return Err(std::io::Error::other(
                "internal error: a vault read in part cannot be written back",
            ));
        }
        out.write_all(b"{\"format\":")?;
        serde_json::to_writer(&mut *out, FORMAT)?;
        match &self.membership {
            Some(membership) => write!(
                out,
                ",\"version\":{VERSION},\"membership\":{membership},\"generation\":{}",
                self.generation
            )?,
            // A document without a block is written as version 1, which has none.
            None => out.write_all(b",\"version\":1")?,
        }
        out.write_all(b",\"recipients\":")?;
        serde_json::to_writer(&mut *out, &self.recipients)?;
        out.write_all(b",\"secrets\":{")?;
        // Source text not yet copied: the span of an untouched secret and of those that
        // follow it in the source as they follow it here, with exactly the separator this
        // loop would write between them — a run of them is copied back in one piece.
        let mut run: Option<Range<usize>> = None;
        for (index, (name, slot)) in self.secrets.iter().enumerate() {
            if let (Some(span), Some(pending)) = (&slot.span, &mut run)
                && self
                    .source
                    .get(pending.end..span.start)
                    .is_some_and(|between| is_separator(between, name))
            {
                pending.end = span.end;
                continue;
            }
            if let Some(pending) = run.take() {
                out.write_all(&self.source[pending])?;
            }
            if index > 0 {
                out.write_all(b",")?;
            }
            serde_json::to_writer(&mut *out, &**name)?;
            out.write_all(b":")?;
            match (&slot.span, slot.entry.get()) {
                (Some(span), _) => run = Some(span.clone()),
                (None, Some(entry)) => serde_json::to_writer(&mut *out, entry)?,
                (None, None) => {
                    return Err(std::io::Error::other(format!(
                        "internal error: the secret {} has neither text nor value",
                        &**name
                    )));
                }
            }
        }
        if let Some(pending) = run {
            out.write_all(&self.source[pending])?;
        }
        out.write_all(b"}")?;
        for (key, value) in &self.extra {
            out.write_all(b",")?;
            serde_json::to_writer(&mut *out, key)?;
            out.write_all(b":")?;
            serde_json::to_writer(&mut *out, value)?;
        }
        Ok(())
    }
}

impl Serialize for Entry {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("value", self.value.expose_secret())?;
        map.serialize_entry("created", &self.created)?;
        map.serialize_entry("updated", &self.updated)?;
        if let Some(description) = &self.description {
            map.serialize_entry("description", description)?;
        }
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}
