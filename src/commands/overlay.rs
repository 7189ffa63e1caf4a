//! What this reader sees beside the shared values (`store::sealed`): their own personal
//! overrides in place of the shared values, and the values of the groups they are in,
//! opened with their identity. Nobody else's override is tried; a group value that does
//! not open for them is withheld, by name and group.

use std::borrow::Cow;
use std::cell::OnceCell;

use age::secrecy::{ExposeSecret, SecretString};

use crate::commands::Context;
use crate::error::Result;
use crate::store::KeySource;
use crate::store::crypto::Key;
use crate::store::document::{Document, SecretText};
use crate::store::sealed::{self, SealedValues};

/// Values opened for this reader, by name.
type Opened = Vec<(String, SecretString)>;
/// Values this reader does not open: each name with its group.
type Withheld = Vec<(String, String)>;

/// The recipient this reader's identity opens, when it has a writer identity (a plain age
/// key reading only has no overrides of its own).
pub fn own_recipient(context: &Context) -> Option<String> {
    context.own().and_then(|own| own.recipient.clone())
}

/// Opens sealed values with this reader's identities, loaded once and only when needed.
pub struct Opener<'c> {
    context: &'c Context,
    key: OnceCell<Key>,
}

impl<'c> Opener<'c> {
    pub fn new(context: &'c Context) -> Self {
        Opener {
            context,
            key: OnceCell::new(),
        }
    }

    fn key(&self) -> Result<&Key> {
        if let Some(key) = self.key.get() {
            return Ok(key);
        }
        let key = Key::Identities(KeySource::identities(self.context)?);
        Ok(self.key.get_or_init(|| key))
    }

    /// A group's value, or `None` when this reader is not among those it is sealed to.
    pub fn open_group(
        &self,
        ciphertext: &str,
        name: &str,
        scope: &str,
    ) -> Result<Option<SecretString>> {
        Ok(sealed::open_if_mine(ciphertext, name, scope, self.key()?)?)
    }

    /// The group values among `sealed` of the names that pass `keep`: those this reader
    /// opens, and the others with their group.
    pub fn groups(
        &self,
        sealed: &SealedValues,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(Opened, Withheld)> {
        let mut opened = Vec::new();
        let mut withheld = Vec::new();
        for (name, value) in &sealed.groups {
            if !keep(name) {
                continue;
            }
            let scope = sealed::group_scope(&value.group);
            match self.open_group(&value.ciphertext, name, &scope)? {
                Some(secret) => opened.push((name.clone(), secret)),
                None => withheld.push((name.clone(), value.group.clone())),
            }
        }
        Ok((opened, withheld))
    }

    /// This reader's personal values among `sealed`, of the names that pass `keep`.
    pub fn personal(
        &self,
        sealed: &SealedValues,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(String, SecretString)>> {
        if sealed.personal.is_empty() {
            return Ok(Vec::new());
        }
        let Some(recipient) = own_recipient(self.context) else {
            return Ok(Vec::new());
        };
        let scope = sealed::personal_scope(&recipient);
        let mut values = Vec::new();
        for (name, ciphertext) in sealed.personal_of(&recipient) {
            if keep(name) {
                let value = sealed::open(ciphertext, name, &scope, self.key()?)?;
                values.push((name.to_string(), value));
            }
        }
        Ok(values)
    }
}

/// Puts this reader's personal values in place of the shared ones, and the group values
/// they open beside them, in a document read for reading (which can then not be written
/// back). Returns the group values withheld, each with its group.
pub fn overlay_document(
    context: &Context,
    document: &mut Document,
) -> Result<Vec<(String, String)>> {
    let sealed = document.sealed();
    let opener = Opener::new(context);
    for (name, value) in opener.personal(&sealed, &|name| document.contains(name))? {
        context.explain(&format!("{name}: your personal value"));
        document.use_for_reading(&name, value)?;
    }
    let (opened, withheld) = opener.groups(&sealed, &|_| true)?;
    for (name, value) in opened {
        document.use_for_reading(&name, value)?;
    }
    Ok(withheld)
}

/// Says (with -v) which group values this reader was not given.
pub fn explain_withheld(context: &Context, withheld: &[(String, String)]) {
    for (name, group) in withheld {
        context.explain(&format!(
            "omitted {}: a value of the group {}, which you are not a member of",
            crate::names::printable(name, false),
            crate::names::printable(group, false)
        ));
    }
}

/// The same for names and values borrowed from the plaintext (`vault exec`): the group
/// values of names that pass `keep` are added, in name order.
pub fn overlay_values<'p>(
    context: &Context,
    sealed: &SealedValues,
    values: &mut Vec<(Cow<'p, str>, SecretText<'p>)>,
    keep: &dyn Fn(&str) -> bool,
) -> Result<()> {
    let opener = Opener::new(context);
    let mine = opener.personal(sealed, &|name| values.iter().any(|(n, _)| n == name))?;
    for (name, value) in mine {
        if let Some((_, slot)) = values.iter_mut().find(|(n, _)| *n == name) {
            context.explain(&format!("{name}: your personal value"));
            *slot = SecretText::Owned(zeroize::Zeroizing::new(value.expose_secret().to_string()));
        }
    }
    if sealed.groups.is_empty() {
        return Ok(());
    }
    let (opened, withheld) = opener.groups(sealed, keep)?;
    explain_withheld(context, &withheld);
    if opened.is_empty() {
        return Ok(());
    }
    for (name, value) in opened {
        values.push((
            Cow::Owned(name),
            SecretText::Owned(zeroize::Zeroizing::new(value.expose_secret().to_string())),
        ));
    }
    values.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(())
}
