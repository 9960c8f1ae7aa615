//! DynamoDB item sizes, counted as AWS counts them ("Item sizes and formats", DynamoDB
//! Developer Guide), so that transactions can be kept under AWS's limits before they are sent:
//! 400 KB per item, 4 MB of items per `TransactWriteItems`, 100 actions.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Largest item DynamoDB stores: 400 KB (409 600 bytes).
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// Largest aggregate size of the items of one `TransactWriteItems`: 4 MB.
pub const MAX_TRANSACTION_BYTES: usize = 4 * 1024 * 1024;
/// Most actions in one `TransactWriteItems`.
pub const MAX_TRANSACTION_ACTIONS: usize = 100;

/// The size of an item in bytes: each attribute's name (UTF-8) plus its value.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(name, value)| name.len() + value_size(value)).sum()
}

/// A value's size. Numbers are counted as their decimal text plus one byte, which is at least
/// AWS's "one byte per two significant digits, plus one".
fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len() + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        // Documents: 3 bytes, plus 1 byte per element, plus the elements.
        AttributeValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + value_size(v) + 1).sum::<usize>(),
        AttributeValue::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        AttributeValue::Ss(s) => s.iter().map(String::len).sum(),
        AttributeValue::Ns(n) => n.iter().map(|n| n.len() + 1).sum(),
        AttributeValue::Bs(b) => b.iter().map(|b| b.as_ref().len()).sum(),
        // A type this SDK does not know yet: count it as an item's worth, never as nothing.
        _ => MAX_ITEM_BYTES,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_names_values_and_document_overhead() {
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("ORG#a".into())),
            ("n".to_owned(), AttributeValue::N("12345".into())),
            (
                "m".to_owned(),
                AttributeValue::M(HashMap::from([("é".to_owned(), AttributeValue::Bool(true))])),
            ),
        ]);
        // pk: 2 + 5; n: 1 + 6; m: 1 + (3 + 2 + 1 + 1)
        assert_eq!(item_size(&item), 7 + 7 + 8);
    }
}
