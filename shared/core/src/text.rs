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
        if value.trim().is_empty() || value.chars().count() > 1000 || has_forbidden_chars(&value, false) {
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

    #[test]
    fn sanitize_line_neutralises_log_injection() {
        assert_eq!(
            sanitize_line("curl\r\nFAKE LOG LINE", 100),
            "curl\u{fffd}\u{fffd}FAKE LOG LINE"
        );
        assert_eq!(sanitize_line("abcdef", 3), "abc");
    }
}
