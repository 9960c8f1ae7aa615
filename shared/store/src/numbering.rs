//! Document numbers (DOC-1): one counter per number prefix per organisation, each number given
//! once. A change that takes a number writes the counter, conditioned on it being as read, in
//! its own transaction: of two changes that read the same counter, one commits and the other
//! fails with [`StoreError::Conflict`] and reads it again ([`Store::number_counter`]). Numbers
//! are never reused: a counter only counts up, and the number is written with the record that
//! holds it, or neither is.

use crate::tenant::TenantScope;
use crate::{from_item, keys, slot_as_read, Store, StoreError, Transaction};
use serde::{Deserialize, Serialize};

/// A prefix's counter as read: the last number it gave (0 before the first).
#[derive(Debug, Clone)]
pub struct NumberCounter {
    prefix: String,
    last: u64,
    stored_version: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    prefix: String,
    last: u64,
    version: u64,
}

impl NumberCounter {
    /// The number the next document of this prefix takes.
    pub fn next(&self) -> u64 {
        self.last + 1
    }
}

impl Store {
    /// The counter of `prefix` in the scope's organisation, read strongly consistent.
    pub async fn number_counter(&self, scope: &TenantScope, prefix: &str) -> Result<NumberCounter, StoreError> {
        let key = keys::number_counter(scope, prefix);
        let stored: Option<Stored> = self.read(&self.data_table, &key).await?.map(from_item).transpose()?;
        Ok(NumberCounter {
            prefix: prefix.to_owned(),
            last: stored.as_ref().map_or(0, |s| s.last),
            stored_version: stored.map(|s| s.version),
        })
    }
}

impl Transaction<'_> {
    /// Takes `counter`'s next number: the counter moves on with this change, if it is still as
    /// read (otherwise the change fails with [`StoreError::Conflict`]).
    pub fn take_number(self, counter: &NumberCounter) -> Self {
        let key = keys::number_counter(self.scope(), &counter.prefix);
        let value = Stored {
            prefix: counter.prefix.clone(),
            last: counter.next(),
            version: counter.stored_version.unwrap_or(0) + 1,
        };
        let (condition, values, names) = slot_as_read(counter.stored_version);
        self.put_beside_if(key, &value, condition, values).with_names(names)
    }
}
