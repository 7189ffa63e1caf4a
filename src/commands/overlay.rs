//! What this reader sees beside the shared values (`store::sealed`): their own personal
//! overrides in place of the shared values, and the values of the groups they are in,
//! opened with their identity. Nobody else's override is tried; a value of a group the
//! membership block does not list them in is withheld, by name and group (even when a
//! sealer added a stanza for them), and one of a group it lists them in that does not open
//! for them is refused, never withheld in silence.

use std::borrow::Cow;
use std::cell::OnceCell;

use age::secrecy::{ExposeSecret, SecretString};

use crate::commands::Context;
use crate::error::{Error, Result};
use crate::names::printable;
use crate::store::KeySource;
use crate::store::crypto::Key;
use crate::store::document::{Document, SecretText};
use crate::store::membership::Membership;
use crate::store::sealed::{self, SealedValues};

/// Values opened for this reader, by name.
type Opened = Vec<(String, SecretString)>;
/// Values this reader does not open: each name with its group.
type Withheld = Vec<(String, String)>;
/// Values of this reader's that failed their checks: each name with why. Reading that name
/// fails; the others read as before.
pub type Refused = Vec<(String, String)>;

/// What a reader sees beside the shared values, sorted out.
#[derive(Default)]
pub struct Overlay {
    /// Group values of groups this reader is not in, each with its group.
    pub withheld: Withheld,
    /// Sealed values of theirs that are refused, each with why.
    pub refused: Refused,
}

/// The recipient this reader's identity opens, when it has a writer identity (a plain age
/// key reading only has no overrides of its own).
pub fn own_recipient(context: &Context) -> Option<String> {
    context.own().and_then(|own| own.recipient.clone())
}

/// Opens sealed values with this reader's identities, loaded once and only when needed,
/// and checks who sealed each: a personal value by its reader alone, a group value by a
/// current member, for the group's current members (the owner-signed membership block).
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

    /// Whether this reader's writer key is among `members` (a reader without one is never
    /// a member).
    fn is_member(&self, members: &[&crate::store::membership::Member]) -> bool {
        self.context
            .own()
            .is_some_and(|own| members.iter().any(|m| m.writer == own.key.writer()))
    }

    /// A group's value, or `None` when this reader is not a member of `group` as
    /// `membership` lists it; refused unless a member sealed it for them all, in this vault,
    /// and refused when the block lists this reader but the value is not sealed to them (a
    /// value someone replaced must not go missing in silence).
    pub fn open_group(
        &self,
        ciphertext: &str,
        name: &str,
        group: &str,
        membership: Option<&str>,
    ) -> Result<Option<SecretString>> {
        let scope = sealed::group_scope(group);
        let vault = sealed::vault_of(membership);
        let Some(opened) = sealed::open_if_mine(ciphertext, name, &scope, &vault, self.key()?)?
        else {
            let listed = membership
                .and_then(|json| Membership::parse(json).ok())
                .is_some_and(|block| {
                    block
                        .body
                        .group_members(group)
                        .is_some_and(|members| self.is_member(&members))
                });
            if listed {
                return Err(Error::BadData(format!(
                    "the value of {} was not sealed to you, though the membership block lists you in the group {}: refused; the vault was edited by hand or by a hostile writer; a member sets it again with 'vault set {} --group {}'",
                    printable(name, false),
                    printable(group, false),
                    printable(name, false),
                    printable(group, false)
                )));
            }
            return Ok(None);
        };
        let block = membership
            .ok_or_else(|| {
                Error::BadData(format!(
                    "{} is a value of the group {group}, but the vault has no membership block to say who is in it: refused",
                    printable(name, false)
                ))
            })
            .and_then(|json| {
                Membership::parse(json)
                    .map_err(|why| Error::BadData(format!("the membership block: {why}")))
            })?;
        let members = block.body.group_members(group).ok_or_else(|| {
            Error::BadData(format!(
                "{} is a value of the group {}, which the membership block does not list: refused",
                printable(name, false),
                printable(group, false)
            ))
        })?;
        opened.check_group(name, group, &members)?;
        // Opened by a stanza its sealer added for someone outside the group: not theirs.
        if !self.is_member(&members) {
            return Ok(None);
        }
        Ok(Some(opened.value))
    }

    /// The group values among `sealed` of the names that pass `keep`: those this reader
    /// opens, the others with their group, and those refused with why.
    pub fn groups(
        &self,
        sealed: &SealedValues,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(Opened, Overlay)> {
        let mut opened = Vec::new();
        let mut overlay = Overlay::default();
        for (name, value) in &sealed.groups {
            if !keep(name) {
                continue;
            }
            match self.open_group(
                &value.ciphertext,
                name,
                &value.group,
                sealed.membership.as_deref(),
            ) {
                Ok(Some(secret)) => opened.push((name.clone(), secret)),
                Ok(None) => overlay.withheld.push((name.clone(), value.group.clone())),
                Err(Error::BadData(why)) => overlay.refused.push((name.clone(), why)),
                Err(e) => return Err(e),
            }
        }
        Ok((opened, overlay))
    }

    /// This reader's personal values among `sealed`, of the names that pass `keep`, and
    /// those refused (not sealed by this reader, or not opening) with why.
    pub fn personal(
        &self,
        sealed: &SealedValues,
        keep: &dyn Fn(&str) -> bool,
    ) -> Result<(Opened, Refused)> {
        if sealed.personal.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let (Some(recipient), Some(own)) = (own_recipient(self.context), self.context.own()) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let own_writer = own.key.writer();
        let scope = sealed::personal_scope(&recipient);
        let vault = sealed.vault();
        let mut values = Vec::new();
        let mut refused = Vec::new();
        for (name, ciphertext) in sealed.personal_of(&recipient) {
            if !keep(name) {
                continue;
            }
            let opened: Result<SecretString> =
                sealed::open(ciphertext, name, &scope, &vault, self.key()?)
                    .and_then(|o| {
                        o.check_personal(name, &own_writer)?;
                        Ok(o.value)
                    })
                    .map_err(Into::into);
            match opened {
                Ok(value) => values.push((name.to_string(), value)),
                Err(Error::BadData(why) | Error::LockedOut(why)) => {
                    refused.push((name.to_string(), why))
                }
                Err(e) => return Err(e),
            }
        }
        Ok((values, refused))
    }
}

impl Opener<'_> {
    /// When each of this reader's own overrides was sealed (as signed, for `list`), or why
    /// it is refused: an old date is an override someone put back.
    pub fn own_sealed_at(
        &self,
        sealed: &SealedValues,
    ) -> Result<std::collections::BTreeMap<String, std::result::Result<String, String>>> {
        let mut found = std::collections::BTreeMap::new();
        let (Some(recipient), Some(own)) = (own_recipient(self.context), self.context.own()) else {
            return Ok(found);
        };
        let own_writer = own.key.writer();
        let scope = sealed::personal_scope(&recipient);
        let vault = sealed.vault();
        for (name, ciphertext) in sealed.personal_of(&recipient) {
            let state = match sealed::open(ciphertext, name, &scope, &vault, self.key()?)
                .and_then(|o| o.check_personal(name, &own_writer).map(|()| o.sealed_at))
            {
                Ok(at) => Ok(at),
                Err(
                    crate::store::error::Error::BadData(why)
                    | crate::store::error::Error::LockedOut(why),
                ) => Err(why),
                Err(e) => return Err(e.into()),
            };
            found.insert(name.to_string(), state);
        }
        Ok(found)
    }
}

/// Puts this reader's personal values in place of the shared ones, and the group values
/// they open beside them, in a document read for reading (which can then not be written
/// back). Returns the group values withheld, each with its group; a value refused fails
/// every read of its name (and only of it).
pub fn overlay_document(
    context: &Context,
    document: &mut Document,
) -> Result<Vec<(String, String)>> {
    let sealed = document.sealed();
    let opener = Opener::new(context);
    let (mine, refused) = opener.personal(&sealed, &|name| document.contains(name))?;
    for (name, value) in mine {
        context.explain(&format!("{name}: your personal value"));
        document.use_for_reading(&name, value)?;
    }
    let (opened, overlay) = opener.groups(&sealed, &|_| true)?;
    for (name, value) in opened {
        document.use_for_reading(&name, value)?;
    }
    for (name, why) in refused.into_iter().chain(overlay.refused) {
        document.refuse_for_reading(&name, why);
    }
    Ok(overlay.withheld)
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
    let (mine, refused) = opener.personal(sealed, &|name| values.iter().any(|(n, _)| n == name))?;
    // A value it would pass that failed its checks: nothing runs, rather than with another.
    if let Some((_, why)) = refused.into_iter().next() {
        return Err(Error::BadData(why));
    }
    for (name, value) in mine {
        if let Some((_, slot)) = values.iter_mut().find(|(n, _)| *n == name) {
            context.explain(&format!("{name}: your personal value"));
            *slot = SecretText::Owned(zeroize::Zeroizing::new(value.expose_secret().to_string()));
        }
    }
    if sealed.groups.is_empty() {
        return Ok(());
    }
    let (opened, overlay) = opener.groups(sealed, keep)?;
    if let Some((_, why)) = overlay.refused.into_iter().next() {
        return Err(Error::BadData(why));
    }
    explain_withheld(context, &overlay.withheld);
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
