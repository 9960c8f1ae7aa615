//! Exports of an audit trail (AUD-9, Part 11 §11.10(b)): which entries an export holds
//! ([`Selection`]) and the CSV form people read ([`csv_header`], [`csv_row`]). The JSON form
//! is the stored entries with their hashes and blobs, as `scripts/verify_chain.py` reads them
//! (docs/audit-format.md, "Exports"); it is written by the audit function.
//!
//! CSV follows RFC 4180 (CRLF between records, fields quoted where needed, `"` doubled) and
//! neutralises formula injection as OWASP's "CSV Injection" advises ([`neutralise`]), so that
//! a spreadsheet shows a cell as text instead of evaluating it.

use super::chain::Entry;
use super::{blob, Action};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::SystemTime;

/// The columns of the CSV form, in order.
pub const CSV_COLUMNS: [&str; 19] = [
    "seq",
    "at",
    "action",
    "actorUserId",
    "actorName",
    "actorEmail",
    "actorRole",
    "impersonator",
    "targetType",
    "targetId",
    "reason",
    "before",
    "after",
    "ip",
    "userAgent",
    "correlationId",
    "eventId",
    "prevHash",
    "hash",
];

/// The entries a filtered export holds: every condition given must hold (an absent one holds
/// for every entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Entries at or after this time (`at` as Quire writes it: RFC 3339, UTC, milliseconds).
    pub from: Option<String>,
    /// Entries strictly before this time.
    pub to: Option<String>,
    /// Entries whose actor has this user id (`system` for Quire's own).
    pub actor: Option<String>,
    pub action: Option<Action>,
    /// Entries about this target: its type and id.
    pub target: Option<(String, String)>,
}

impl Selection {
    /// Whether nothing is filtered.
    pub fn is_everything(&self) -> bool {
        *self == Selection::default()
    }

    /// Whether `entry` is selected.
    pub fn holds(&self, entry: &Entry) -> bool {
        let event = &entry.event;
        self.from.as_ref().is_none_or(|from| event.at.as_str() >= from.as_str())
            && self.to.as_ref().is_none_or(|to| event.at.as_str() < to.as_str())
            && self.actor.as_ref().is_none_or(|actor| event.actor.user_id == *actor)
            && self.action.is_none_or(|action| event.action == action)
            && self
                .target
                .as_ref()
                .is_none_or(|(kind, id)| event.target.kind == *kind && event.target.id == *id)
    }
}

/// A time of a query (`2026-12-01T09:00:00Z`, fractions of a second allowed; UTC only) as
/// Quire writes entry times, so that the two compare as text. `None`: not such a time.
pub fn query_time(text: &str) -> Option<String> {
    let time: SystemTime = humantime::parse_rfc3339(text).ok()?;
    Some(humantime::format_rfc3339_millis(time).to_string())
}

/// The header record of the CSV form.
pub fn csv_header() -> [&'static str; 19] {
    CSV_COLUMNS
}

/// One entry as a CSV record, in [`CSV_COLUMNS`] order: `before` and `after` as JSON text with
/// every blob reference whose blob is in `blobs` (and matches its digest) replaced by its text,
/// so people read the values in full; every cell neutralised ([`neutralise`]).
pub fn csv_row(entry: &Entry, blobs: &BTreeMap<String, String>) -> [String; 19] {
    let event = &entry.event;
    let json = |value: &Option<Value>| match value {
        None => String::new(),
        Some(value) => {
            let mut value = value.clone();
            blob::internalise(&mut value, blobs);
            value.to_string()
        }
    };
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    [
        entry.seq.to_string(),
        event.at.clone(),
        event.action.name(),
        event.actor.user_id.clone(),
        event.actor.display_name.clone(),
        event.actor.email.clone(),
        event.actor.role.clone(),
        text(&event.actor.impersonator),
        event.target.kind.clone(),
        event.target.id.clone(),
        text(&event.reason),
        json(&event.before),
        json(&event.after),
        text(&event.origin.ip),
        text(&event.origin.user_agent),
        event.origin.correlation_id.clone(),
        event.event_id.clone(),
        entry.prev_hash.clone(),
        entry.hash.clone(),
    ]
    .map(neutralise)
}

/// A cell a spreadsheet could evaluate as a formula gets a leading `'`; any other is unchanged
/// (OWASP, "CSV Injection"). Judged by its first character that is not white space or a
/// control character (spreadsheets trim some), and formula characters include their
/// full-width forms (some fold them): `=`, `+`, `-`, `@`, `＝`, `＋`, `－`, `＠`. A cell that
/// begins with a tab, a carriage return or `'` itself is prefixed too, so that a value that
/// began with `'` never reads as a neutralised one.
pub fn neutralise(cell: String) -> String {
    let first = cell.chars().find(|c| !c.is_whitespace() && !c.is_control());
    let formula = matches!(
        first,
        Some('=' | '+' | '-' | '@' | '\u{ff1d}' | '\u{ff0b}' | '\u{ff0d}' | '\u{ff20}')
    );
    if formula || cell.starts_with(['\t', '\r', '\'']) {
        format!("'{cell}")
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves: AUD-9
    #[test]
    fn cells_a_spreadsheet_would_evaluate_are_neutralised() {
        for cell in [
            "=1+1",
            "+1",
            "-1",
            "@SUM(A1)",
            "\t=1",
            "\r=1",
            "=HYPERLINK(\"http://x\")",
            " =1",
            "\u{a0}=1",
            "\u{3000}+1",
            "\n@x",
            "\u{ff1d}1+1",
            "\u{ff20}x",
            "'=1",
            "'plain",
        ] {
            assert_eq!(neutralise(cell.to_owned()), format!("'{cell}"), "{cell:?}");
        }
        for cell in [
            "",
            "1",
            "a=1",
            "document.updated",
            "{\"a\":\"=1\"}",
            "2026-12-01T09:00:00.000Z",
        ] {
            assert_eq!(neutralise(cell.to_owned()), cell, "{cell:?}");
        }
    }

    #[test]
    fn query_times_compare_as_entry_times() {
        assert_eq!(
            query_time("2026-12-01T09:00:00Z").as_deref(),
            Some("2026-12-01T09:00:00.000Z")
        );
        assert_eq!(
            query_time("2026-12-01T09:00:00.5Z").as_deref(),
            Some("2026-12-01T09:00:00.500Z")
        );
        for bad in [
            "",
            "2026-12-01",
            "yesterday",
            "2026-12-01T09:00:00+02:00",
            "2026-13-01T00:00:00Z",
        ] {
            assert_eq!(query_time(bad), None, "{bad}");
        }
    }
}
