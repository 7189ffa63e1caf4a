//! The document's sealed values (`store::sealed`) as stored in its top-level fields:
//! added, dropped and listed here; sealed and opened by `store::sealed`.

use super::*;
use crate::sealed::{GROUP_VALUES_FIELD, GroupValue, PERSONAL_FIELD, SealedValues};

impl Document {
    /// The sealed values, as ciphertexts.
    pub fn sealed(&self) -> SealedValues {
        SealedValues::from_fields(&self.extra, self.membership.as_deref())
    }

    fn object_field(&mut self, field: &str) -> &mut Map<String, Value> {
        let slot = self
            .extra
            .entry(field.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        slot.as_object_mut().expect("made an object above")
    }

    fn drop_if_empty(&mut self, field: &str) {
        if self
            .extra
            .get(field)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            self.extra.remove(field);
        }
    }

    /// Stores `recipient`'s personal override of `name` (sealed by `store::sealed`),
    /// replacing theirs if there was one.
    pub fn set_personal(&mut self, name: &str, recipient: &str, ciphertext: String) {
        self.remove_personal(name, recipient);
        let names = self.object_field(PERSONAL_FIELD);
        let by = names
            .entry(name.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !by.is_object() {
            *by = Value::Object(Map::new());
        }
        by.as_object_mut()
            .expect("made an object above")
            .insert(recipient.to_string(), Value::String(ciphertext));
    }

    /// Drops `recipient`'s personal override of `name`; whether there was one.
    pub fn remove_personal(&mut self, name: &str, recipient: &str) -> bool {
        let Some(Value::Object(names)) = self.extra.get_mut(PERSONAL_FIELD) else {
            return false;
        };
        let Some(Value::Object(by)) = names.get_mut(name) else {
            return false;
        };
        let before = by.len();
        by.retain(|r, _| !crate::recipients::same_key(r, recipient));
        let removed = by.len() != before;
        if by.is_empty() {
            names.remove(name);
        }
        self.drop_if_empty(PERSONAL_FIELD);
        removed
    }

    /// Drops every personal override of `name` (the shared secret is gone, or renamed:
    /// an override is sealed for its name and cannot follow).
    pub(super) fn drop_personal_of_name(&mut self, name: &str) {
        if let Some(Value::Object(names)) = self.extra.get_mut(PERSONAL_FIELD) {
            names.remove(name);
        }
        self.drop_if_empty(PERSONAL_FIELD);
    }

    /// Drops every personal override of a recipient who is no longer one.
    pub(super) fn drop_personal_of(&mut self, recipient: &str) {
        if let Some(Value::Object(names)) = self.extra.get_mut(PERSONAL_FIELD) {
            for by in names.values_mut() {
                if let Value::Object(by) = by {
                    by.retain(|r, _| !crate::recipients::same_key(r, recipient));
                }
            }
            names.retain(|_, by| by.as_object().is_some_and(|b| !b.is_empty()));
        }
        self.drop_if_empty(PERSONAL_FIELD);
    }

    /// Stores a value of `name` for `group` (sealed by `store::sealed`). A new value is no
    /// longer what a removed reader saw; the same value sealed again (`changed` false) is,
    /// so it stays stale, as a shared value set to itself does.
    pub fn set_group_value(&mut self, name: &str, group: &str, ciphertext: String, changed: bool) {
        if changed {
            self.clear_stale(name);
        }
        let names = self.object_field(GROUP_VALUES_FIELD);
        names.insert(
            name.to_string(),
            serde_json::json!({"group": group, "value": ciphertext, "updated": timestamp_now()}),
        );
    }

    /// Stores the same value of `name` sealed again (for a group's new members): its
    /// time, and whether it is stale, stay.
    pub fn reseal_group_value(&mut self, name: &str, ciphertext: String) {
        if let Some(Value::Object(names)) = self.extra.get_mut(GROUP_VALUES_FIELD)
            && let Some(Value::Object(value)) = names.get_mut(name)
        {
            value.insert("value".into(), Value::String(ciphertext));
        }
    }

    /// Drops the group value of `name`; whether there was one.
    pub fn remove_group_value(&mut self, name: &str) -> bool {
        let removed = match self.extra.get_mut(GROUP_VALUES_FIELD) {
            Some(Value::Object(names)) => names.remove(name).is_some(),
            _ => false,
        };
        if removed {
            self.clear_stale(name);
        }
        self.drop_if_empty(GROUP_VALUES_FIELD);
        removed
    }

    /// Replaces every sealed value with `sealed` as it is (a merge's result).
    pub fn replace_sealed(&mut self, sealed: &SealedValues) {
        self.extra.remove(PERSONAL_FIELD);
        self.extra.remove(GROUP_VALUES_FIELD);
        for (name, by) in &sealed.personal {
            if !self.contains(name) {
                // Its shared secret is gone: an override of nothing.
                continue;
            }
            for (recipient, ciphertext) in by {
                self.set_personal(name, recipient, ciphertext.clone());
            }
        }
        for (name, value) in &sealed.groups {
            self.put_group_value(name, value);
        }
    }

    /// Stores a group value as it is, its time included.
    pub fn put_group_value(&mut self, name: &str, value: &GroupValue) {
        let names = self.object_field(GROUP_VALUES_FIELD);
        names.insert(
            name.to_string(),
            serde_json::json!({"group": value.group, "value": value.ciphertext, "updated": value.updated}),
        );
    }

    /// The stale records as stored (see [`Document::stale`]).
    pub fn stale_records(&self) -> Vec<Value> {
        match self.extra.get(super::STALE_FIELD) {
            Some(Value::Array(records)) => records.clone(),
            _ => Vec::new(),
        }
    }

    /// Replaces the stale records (a merge's result); none removes the field.
    pub fn set_stale_records(&mut self, records: Vec<Value>) {
        if records.is_empty() {
            self.extra.remove(super::STALE_FIELD);
        } else {
            self.extra
                .insert(super::STALE_FIELD.into(), Value::Array(records));
        }
    }

    /// Marks `name` as refused to this reader, for reading (a sealed value of theirs that
    /// failed its checks): every read of it fails with `why`; other names read as before.
    pub fn refuse_for_reading(&mut self, name: &str, why: String) {
        self.partial = true;
        self.secrets.insert(
            Name::from(name),
            Slot {
                span: None,
                entry: std::cell::OnceCell::new(),
                refused: Some(why.into()),
            },
        );
    }

    /// Puts a value decrypted for this reader (its personal override, a group value) in
    /// place of what the document holds, for reading: the document can no longer be
    /// written back.
    pub fn use_for_reading(&mut self, name: &str, value: SecretString) -> Result<()> {
        self.partial = true;
        let entry = match self.take(name)? {
            Some(mut entry) => {
                entry.value = value;
                entry
            }
            None => Entry {
                value,
                created: String::new(),
                updated: String::new(),
                description: None,
                extra: Map::new(),
            },
        };
        self.secrets.insert(Name::from(name), Slot::decoded(entry));
        Ok(())
    }
}
