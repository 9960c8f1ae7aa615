//! Text hygiene shared by the request filter, the domain newtypes and the audit trail.

/// Characters refused anywhere in client text: C0/C1 controls (tab, CR and LF are allowed only
/// where a type says so), DEL, and the bidirectional overrides behind "trojan source" attacks.
pub fn is_forbidden_char(c: char, allow_line_breaks: bool) -> bool {
    match c {
        '\t' | '\n' | '\r' => !allow_line_breaks,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

pub fn has_forbidden_chars(text: &str, allow_line_breaks: bool) -> bool {
    text.chars().any(|c| is_forbidden_char(c, allow_line_breaks))
}

/// Characters refused in one-line text a person reads as a name or a reason, beyond
/// [`is_forbidden_char`]: Unicode's line and paragraph separators (a second line by another
/// name), and the invisible ones that make one name look like another (zero-width spaces and
/// joiners, directional marks, the word joiner and invisible operators, the byte-order mark).
pub fn is_hidden_or_line_separator(c: char) -> bool {
    matches!(
        c,
        '\u{2028}' | '\u{2029}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{61c}'
    )
}

/// Whether `text` is fit for one line a person reads: no [`is_forbidden_char`] (line breaks
/// included) and no [`is_hidden_or_line_separator`].
pub fn is_plain_line(text: &str) -> bool {
    !text
        .chars()
        .any(|c| is_forbidden_char(c, false) || is_hidden_or_line_separator(c))
}

/// Makes untrusted single-line text safe to store in the audit trail or a log line (AUD-8):
/// forbidden characters become U+FFFD and the result is cut to `max_chars`.
pub fn sanitize_line(text: &str, max_chars: usize) -> String {
    text.chars()
        .take(max_chars)
        .map(|c| if is_forbidden_char(c, false) { '\u{fffd}' } else { c })
        .collect()
}

/// A reason for change (21 CFR Part 11 §11.10(e)): 1 to 1000 characters on one line, not blank.
/// Every change an administrator or author makes carries one into its audit entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct Reason(String);

impl TryFrom<String> for Reason {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.trim().is_empty() || value.chars().count() > 1000 || !is_plain_line(&value) {
            return Err("reason: must be 1 to 1000 characters on one line".into());
        }
        Ok(Reason(value))
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> String {
        reason.0
    }
}

impl Reason {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_controls_and_bidi_overrides() {
        for bad in ["a\u{0}b", "a\u{1b}[31m", "\u{7f}", "\u{85}", "x\u{202e}y", "\u{2066}"] {
            assert!(has_forbidden_chars(bad, true), "{bad:?}");
        }
        assert!(!has_forbidden_chars("Line one\nline two\ttab — é 日本", true));
        assert!(has_forbidden_chars("Line one\nline two", false));
    }

    /// Names and reasons are one plain line: no separator starts a second one, nothing
    /// invisible makes one name look like another.
    #[test]
    fn a_plain_line_has_no_separator_and_nothing_hidden() {
        for bad in [
            "line1\u{2028}line2",
            "para\u{2029}graph",
            "A\u{200b}cme",
            "\u{200b}\u{200b}1",
            "Ac\u{200d}me",
            "\u{200e}Acme",
            "Acme\u{2060}",
            "\u{feff}Acme",
            "a\u{61c}b",
            "tab\there",
            "new\nline",
        ] {
            assert!(!is_plain_line(bad), "{bad:?}");
            assert!(Reason::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
        for good in [
            "Acme Laboratories",
            "Laboratoires Aimé",
            "日本の研究所",
            "O'Brien & Co. — QA",
        ] {
            assert!(is_plain_line(good), "{good:?}");
        }
    }

    #[test]
    fn sanitize_line_neutralises_log_injection() {
        assert_eq!(
            sanitize_line("curl\r\nFAKE LOG LINE", 100),
            "curl\u{fffd}\u{fffd}FAKE LOG LINE"
        );
        assert_eq!(sanitize_line("abcdef", 3), "abc");
    }
}
