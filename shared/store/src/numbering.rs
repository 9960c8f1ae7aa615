//! Document numbers (DOC-1): one counter per number prefix per organisation.
//!
//! A creation first takes the prefix's next number with one atomic `UpdateItem` (`ADD`), which
//! never fails for contention however many creations race; then its transaction claims the
//! number (an item named by it, written only if absent) with the record that holds it. So a
//! number is held by one record at most, even if the counter were ever set back (a restore):
//! the claim of a number already held fails, and the creation takes the next one. A number a
//! failed creation took is skipped, never given again: numbers only count up.

use crate::tenant::TenantScope;
use crate::{keys, Store, StoreError, Transaction};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

/// The attribute of a counter holding the last number it gave.
const LAST: &str = "last";

impl Store {
    /// Takes the next number of `prefix` in the scope's organisation: 1 for its first.
    pub async fn take_number(&self, scope: &TenantScope, prefix: &str) -> Result<u64, StoreError> {
        let key = keys::number_counter(scope, prefix);
        let out = self
            .ddb
            .update_item()
            .table_name(&self.data_table)
            .set_key(Some(key.to_map()))
            .update_expression("ADD #last :one")
            .expression_attribute_names("#last", LAST)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::aws)?;
        out.attributes
            .as_ref()
            .and_then(|a| a.get(LAST))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::Corrupt("a number counter did not count".into()))
    }
}

impl Transaction<'_> {
    /// Claims `number` (`SOP-0001`) for `holder` (the record's id) with this change: the change
    /// fails with [`StoreError::AlreadyExists`] if another record holds it.
    pub fn claim_number(self, number: &str, holder: &str) -> Self {
        let key = keys::number_claim(self.scope(), number);
        self.insert(key, &serde_json::json!({ "holder": holder }), None)
    }
}
