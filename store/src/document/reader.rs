//! Reading a document in one pass: each secret goes to a sink that decides how much of it
//! to decode (one secret, the names, the values, spans for a change), and what the
//! document says about itself is checked before any reader returns.

use super::json::*;
use super::*;

/// Just the fields that say what a document is.
#[derive(Deserialize)]
pub(super) struct Header {
    pub(super) format: Option<String>,
    pub(super) version: Option<u64>,
}

/// Whether `between` is exactly `,"NAME":`, the separator vault writes before a secret (a
/// name written with escapes never matches, so it is written anew).
pub(super) fn is_separator(between: &[u8], name: &str) -> bool {
    between.len() == name.len() + 4
        && between.starts_with(b",\"")
        && between.ends_with(b"\":")
        && &between[2..between.len() - 2] == name.as_bytes()
}

/// Keeps every secret as its span of the plaintext (see [`Document::for_change`]).
pub(super) struct Spans<'p> {
    pub(super) source: &'p [u8],
    pub(super) spans: Vec<(Name, Range<usize>)>,
}

impl<'p> Sink<'p> for Spans<'p> {
    fn take(&mut self, _name: &str) -> Take {
        Take::Span
    }
    fn span(&mut self, name: Cow<'p, str>, text: &'p str) {
        let start = text.as_ptr() as usize - self.source.as_ptr() as usize;
        self.spans.push((name.into(), start..start + text.len()));
    }
}

/// Keeps whole entries whose name passes a filter (every entry, for a full document).
pub(super) struct Entries<'f> {
    pub(super) keep: &'f dyn Fn(&str) -> bool,
    pub(super) entries: Vec<(String, Entry)>,
}

impl<'p> Sink<'p> for Entries<'_> {
    fn take(&mut self, name: &str) -> Take {
        if (self.keep)(name) {
            Take::Entry
        } else {
            Take::Skip
        }
    }
    fn entry(&mut self, name: Cow<'p, str>, entry: Entry) {
        self.entries.push((name.into_owned(), entry));
    }
}

/// Keeps names and values, borrowed where possible, of the secrets that pass a filter.
pub(super) struct Values<'p, 'f> {
    pub(super) keep: &'f dyn Fn(&str) -> bool,
    pub(super) values: Vec<(Cow<'p, str>, SecretText<'p>)>,
}

impl<'p> Sink<'p> for Values<'p, '_> {
    fn take(&mut self, name: &str) -> Take {
        if (self.keep)(name) {
            Take::Value
        } else {
            Take::Skip
        }
    }
    fn value(&mut self, name: Cow<'p, str>, value: SecretText<'p>) {
        self.values.push((name, value));
    }
}

/// Keeps only the names that start with a prefix.
pub(super) struct Names<'f> {
    pub(super) prefix: &'f str,
    pub(super) names: Vec<String>,
}

impl<'p> Sink<'p> for Names<'_> {
    fn take(&mut self, name: &str) -> Take {
        if name.starts_with(self.prefix) {
            self.names.push(name.to_string());
        }
        Take::Skip
    }
}

/// What a reader gets from `scan` besides what it handed the sink: what the document
/// says about itself, which the trust check reads.
pub struct Found {
    /// The recipients it lists.
    pub recipients: Vec<String>,
    /// The membership block as stored.
    pub membership: Option<String>,
    /// Its content generation.
    pub generation: u64,
    pub(super) extra: Map<String, Value>,
    pub(super) names_in_order: bool,
}

/// Parses a decrypted vault, feeding its secrets to `sink` and refusing other formats and
/// newer versions. Unknown top-level fields are kept only with `keep_extra` (for a
/// document that will be written back).
pub(super) fn scan<'p>(
    plaintext: &'p [u8],
    what: &str,
    sink: &mut dyn Sink<'p>,
    keep_extra: bool,
) -> Result<Found> {
    let mut scanned = Scanned {
        format: None,
        version: None,
        recipients: Vec::new(),
        membership: None,
        generation: 0,
        extra: Map::new(),
        names_in_order: true,
    };
    // Checked as UTF-8 once, in one fast pass (JSON is UTF-8): the parser then need not
    // check each name, value and span it borrows again.
    let text = std::str::from_utf8(plaintext).map_err(|error| {
        Error::BadData(format!(
            "{what} decrypts but its content is not a valid vault document (not UTF-8 at byte {})",
            error.valid_up_to()
        ))
    })?;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let parsed = DocumentSeed {
        sink,
        keep_extra,
        scanned: &mut scanned,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    match parsed {
        Ok(()) => {}
        Err(error) => {
            // One pass in the common case; the header is read on its own only to explain
            // a failure, because a newer format may not parse as this one.
            if let Ok(header) =
                Header::deserialize(&mut serde_json::Deserializer::from_slice(plaintext))
            {
                check_header(header.format.as_deref(), header.version, what)?;
            }
            return Err(Error::BadData(format!(
                "{what} decrypts but its content is not a valid vault document ({})",
                super::json_problem(&error)
            )));
        }
    }
    check_header(scanned.format.as_deref(), scanned.version, what)?;
    Ok(Found {
        recipients: scanned.recipients,
        membership: scanned.membership,
        generation: scanned.generation,
        extra: scanned.extra,
        names_in_order: scanned.names_in_order,
    })
}

/// Refuses a document of another format or a newer version.
pub(super) fn check_header(format: Option<&str>, version: Option<u64>, what: &str) -> Result<()> {
    if format != Some(FORMAT) {
        return Err(Error::BadData(format!(
            "{what} decrypts but is not a secretsd vault (its \"format\" is not \"{FORMAT}\")"
        )));
    }
    match version {
        Some(1..=VERSION) => Ok(()),
        Some(v) if v > VERSION => Err(Error::BadData(format!(
            "{what} uses vault format version {v}, newer than this vault {} understands (version {VERSION}); upgrade vault",
            env!("CARGO_PKG_VERSION")
        ))),
        _ => Err(Error::BadData(format!(
            "{what} has a missing or unknown format version"
        ))),
    }
}

/// What a document says about itself, which the trust layer checks before a reader
/// returns anything.
#[derive(Clone, Copy)]
pub struct Said<'a> {
    /// The recipients it lists.
    pub recipients: &'a [String],
    /// The membership block as stored.
    pub membership: Option<&'a str>,
    /// Its content generation.
    pub generation: u64,
}

impl Found {
    fn said(&self) -> Said<'_> {
        Said {
            recipients: &self.recipients,
            membership: self.membership.as_deref(),
            generation: self.generation,
        }
    }
}

impl Document {
    /// What this document says about itself.
    pub fn said(&self) -> Said<'_> {
        Said {
            recipients: &self.recipients,
            membership: self.membership.as_deref(),
            generation: self.generation,
        }
    }
}

/// The decrypted plaintext of a vault, parsed only as far as a reader asks.
pub struct Plaintext {
    pub(super) bytes: SecretBytes,
    pub(super) what: String,
    /// Asked about what the first pass finds, before anything is returned.
    pub(super) vet: Option<Box<Vet>>,
}

/// Judges a version by what the document says and what its signature says.
pub(super) type Vet = dyn Fn(&Said<'_>, &Signed) -> Result<()>;

impl Plaintext {
    /// `bytes` decrypted from the file `what` names ("the vault /path").
    pub fn new(bytes: SecretBytes, what: String) -> Self {
        Plaintext {
            bytes,
            what,
            vet: None,
        }
    }

    /// Makes every reader check what the document says about itself, and its signature,
    /// with `vet` before it returns anything.
    pub fn vetted_by(mut self, vet: Box<Vet>) -> Self {
        self.vet = Some(vet);
        self
    }

    /// The decrypted bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Runs `read` (one pass over the document) and, when the plaintext is vetted, checks
    /// its signature and has the vet judge what the pass found (`said`) before anything is
    /// returned. (Checking the signature on a second thread during the pass was tried: on
    /// two cores a thread this short starts on its parent's CPU and preempts it, and even
    /// moved to the other CPU it saved nothing measurable at 10,000 secrets.)
    fn vetted<T>(
        &self,
        read: impl FnOnce() -> Result<T>,
        said: impl FnOnce(&T) -> Said<'_>,
    ) -> Result<T> {
        let Some(vet) = &self.vet else {
            return read();
        };
        let result = read()?;
        vet(&said(&result), &crate::signature::check(&self.bytes))?;
        Ok(result)
    }

    /// The whole document, as a write needs it.
    pub fn document(&self) -> Result<Document> {
        self.vetted(
            || Document::from_json(&self.bytes, &self.what),
            Document::said,
        )
    }

    /// A document holding only the secrets whose names pass `keep`, for reading: it
    /// cannot be written back.
    pub fn select(&self, keep: &dyn Fn(&str) -> bool) -> Result<Document> {
        let mut document = self.vetted(
            || Document::decode(&self.bytes, &self.what, keep, false),
            Document::said,
        )?;
        document.partial = true;
        Ok(document)
    }

    /// A document holding at most the secret `name`, for reading, as [`Plaintext::select`].
    pub fn select_one(&self, name: &str) -> Result<Document> {
        self.select(&|n| n == name)
    }

    /// The names of the secrets that start with `prefix`, in order, without decoding any
    /// value (what completion offers).
    pub fn names_starting_with(&self, prefix: &str) -> Result<Vec<String>> {
        let (names, found) = self.vetted(
            || {
                let mut names = Names {
                    prefix,
                    names: Vec::new(),
                };
                let found = scan(&self.bytes, &self.what, &mut names, false)?;
                Ok((names.names, found))
            },
            |(_, found)| found.said(),
        )?;
        let mut names = names;
        if !found.names_in_order {
            names.sort();
            names.dedup();
        }
        Ok(names)
    }

    /// Names and values of the secrets whose names pass `keep`, in name order, borrowed
    /// from the plaintext where the JSON allows: what an exec of thousands of secrets
    /// needs, without a copy of each.
    #[allow(clippy::type_complexity)]
    pub fn values(
        &self,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(Cow<'_, str>, SecretText<'_>)>> {
        Ok(self.values_and_sealed(keep)?.0)
    }

    /// [`Plaintext::values`], and the document's sealed values (personal overrides, group
    /// values), which only the reader's identity can open.
    #[allow(clippy::type_complexity)]
    pub fn values_and_sealed(
        &self,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(
        Vec<(Cow<'_, str>, SecretText<'_>)>,
        crate::sealed::SealedValues,
    )> {
        let (values, found) = self.vetted(
            || {
                let mut values = Values {
                    keep,
                    values: Vec::new(),
                };
                let found = scan(&self.bytes, &self.what, &mut values, false)?;
                Ok((values.values, found))
            },
            |(_, found)| found.said(),
        )?;
        let sealed =
            crate::sealed::SealedValues::from_fields(&found.extra, found.membership.as_deref());
        let mut values = values;
        if found.names_in_order {
            return Ok((values, sealed));
        }
        // As the full parse has them: sorted, and of a repeated name the last.
        values.sort_by(|a, b| a.0.cmp(&b.0));
        values.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(later, kept);
            }
            same
        });
        Ok((values, sealed))
    }
}
