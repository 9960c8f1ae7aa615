//! Join codes (ORG-4): what an invitation hands the person it invites, shown once; and the
//! email domains an organisation lets join (AUTHN-10, [`JoinDomains`]).
//!
//! A code is `<organisation id>.<invitation id>.<secret>`: the organisation and invitation say
//! which invitation to read (one consistent read, no index), the secret proves the holder was
//! given it. The secret is 160 bits from the operating system's generator, written as 40
//! lowercase hex digits; Quire keeps only its SHA-256 ([`JoinCode::secret_digest`]), so a read
//! of the table gives nobody a code. A secret of that strength needs no slow hash: the guard
//! against guessing is its size, and the cooldown on failed codes (RATE-3) besides.

use crate::ids::OrgId;
use sha2::{Digest, Sha256};
use std::fmt;

/// Hex digits of an invitation id (64 bits: unique within its organisation, where a collision
/// is refused by the conditional insert).
const ID_HEX: usize = 16;
/// Hex digits of a code's secret (160 bits).
const SECRET_HEX: usize = 40;

/// An invitation's id within its organisation: 16 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct InvitationId(String);

impl InvitationId {
    /// Errors: the text is not 16 lowercase hex digits.
    pub fn parse(value: &str) -> Result<Self, String> {
        if is_hex(value, ID_HEX) {
            Ok(InvitationId(value.to_owned()))
        } else {
            Err("an invitation id is 16 lowercase hex digits".into())
        }
    }

    /// The id of 8 random bytes.
    pub fn from_bytes(bytes: [u8; ID_HEX / 2]) -> Self {
        InvitationId(hex::encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for InvitationId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        InvitationId::parse(&value)
    }
}

impl From<InvitationId> for String {
    fn from(id: InvitationId) -> String {
        id.0
    }
}

impl fmt::Display for InvitationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_hex(value: &str, len: usize) -> bool {
    value.len() == len && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A join code as its holder sends it. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinCode {
    org: OrgId,
    invitation: InvitationId,
    secret: String,
}

impl JoinCode {
    /// A code of three parts separated by `.`: an organisation id, an invitation id (16 hex
    /// digits) and a secret (40 lowercase hex digits). Surrounding white space is ignored (a
    /// code is pasted). Errors: anything else, with the expected shape; the error never repeats
    /// the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let malformed = || {
            "code: must be the join code as the invitation gave it (<organisation>.<invitation>.<secret>)".to_owned()
        };
        let mut parts = text.trim().split('.');
        let (Some(org), Some(invitation), Some(secret), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let org = OrgId::parse(org).map_err(|_| malformed())?;
        let invitation = InvitationId::parse(invitation).map_err(|_| malformed())?;
        if org.is_platform() || !is_hex(secret, SECRET_HEX) {
            return Err(malformed());
        }
        Ok(JoinCode {
            org,
            invitation,
            secret: secret.to_owned(),
        })
    }

    /// The code of a new invitation, from 20 random bytes.
    pub fn new(org: OrgId, invitation: InvitationId, secret: [u8; SECRET_HEX / 2]) -> Self {
        JoinCode {
            org,
            invitation,
            secret: hex::encode(secret),
        }
    }

    pub fn org(&self) -> &OrgId {
        &self.org
    }

    pub fn invitation(&self) -> &InvitationId {
        &self.invitation
    }

    /// SHA-256 of the secret's text, as 64 lowercase hex digits: what Quire stores.
    pub fn secret_digest(&self) -> String {
        hex::encode(Sha256::digest(self.secret.as_bytes()))
    }

    /// The whole code, to show its creator once.
    pub fn expose(&self) -> String {
        format!("{}.{}.{}", self.org, self.invitation, self.secret)
    }
}

impl fmt::Debug for JoinCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinCode")
            .field("org", &self.org)
            .field("invitation", &self.invitation)
            .finish_non_exhaustive()
    }
}

/// Most domains an organisation's join allowlist may hold.
pub const MAX_JOIN_DOMAINS: usize = 20;

/// An organisation's email-domain allowlist for joining (AUTHN-10): who may join it with a code.
/// An empty list allows every email. An entry is a domain name in the letters-digits-hyphen
/// form of RFC 1035 §2.3.1 (as an email's domain is written, RFC 5321 §4.1.2: two labels at
/// least, each 1 to 63 characters, 253 in all), compared ASCII case-insensitively with the part
/// of an email after its last `@`; a subdomain is not its parent (`lab.acme.example` must be
/// listed itself). Construct with [`JoinDomains::parse`] (an invalid entry is an error) or
/// [`JoinDomains::stored`] (an invalid stored entry allows no one: fails closed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JoinDomains {
    domains: Vec<String>,
    /// A stored list that did not parse: no email is allowed.
    broken: bool,
}

impl JoinDomains {
    /// The list of `entries`, lower-cased, without repeats, at most [`MAX_JOIN_DOMAINS`].
    ///
    /// Errors: the first entry that is not a domain name, by position, or too many entries.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        if entries.len() > MAX_JOIN_DOMAINS {
            return Err(format!("at most {MAX_JOIN_DOMAINS} domains"));
        }
        let mut domains: Vec<String> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let domain = entry.as_ref().trim().to_ascii_lowercase();
            if !is_domain_name(&domain) {
                return Err(format!(
                    "[{i}]: not a domain name (letters, digits and hyphens in two labels or more, \
                     as `acme.example`)"
                ));
            }
            if !domains.contains(&domain) {
                domains.push(domain);
            }
        }
        domains.sort();
        Ok(JoinDomains { domains, broken: false })
    }

    /// The list as stored with an organisation; one that does not parse (it was not written
    /// through the API) allows no one.
    pub fn stored<S: AsRef<str>>(entries: &[S]) -> Self {
        Self::parse(entries).unwrap_or(JoinDomains {
            domains: Vec::new(),
            broken: true,
        })
    }

    /// The domains, lower-cased and sorted: what is stored.
    pub fn entries(&self) -> &[String] {
        &self.domains
    }

    /// Whether `email` may join: its domain is listed, or the list is empty.
    pub fn allows(&self, email: &str) -> bool {
        if self.broken {
            return false;
        }
        if self.domains.is_empty() {
            return true;
        }
        email
            .rsplit_once('@')
            .is_some_and(|(_, domain)| self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain)))
    }
}

/// RFC 1035 §2.3.1 letters-digits-hyphen labels, two or more, 253 characters at most, the last
/// not all digits (RFC 3696 §2: a top-level domain is never numeric, so `192.0.2.1` is no
/// domain).
fn is_domain_name(text: &str) -> bool {
    let labels: Vec<&str> = text.split('.').collect();
    text.len() <= 253
        && labels.len() >= 2
        && labels
            .last()
            .is_some_and(|tld| !tld.bytes().all(|b| b.is_ascii_digit()))
        && labels.iter().all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code() -> JoinCode {
        JoinCode::new(
            OrgId::parse("3f1c2a5e-0000-4000-8000-00000000abcd").unwrap(),
            InvitationId::from_bytes([0x0a; 8]),
            [0x5c; 20],
        )
    }

    /// Proves: ORG-4
    #[test]
    fn a_code_reads_back_as_written_and_its_secret_is_kept_only_as_sha256() {
        let code = code();
        let text = code.expose();
        assert_eq!(
            text,
            "3f1c2a5e-0000-4000-8000-00000000abcd.0a0a0a0a0a0a0a0a.5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c5c"
        );
        assert_eq!(JoinCode::parse(&format!("  {text}\n")).unwrap(), code);
        // SHA-256 of the 40 characters "5c5c…5c", the secret as the code carries it.
        assert_eq!(code.secret_digest(), hex::encode(Sha256::digest("5c".repeat(20))));
        assert!(!format!("{code:?}").contains("5c5c"), "Debug shows no secret");
    }

    #[test]
    fn anything_but_the_three_parts_is_refused_without_echoing_the_text() {
        let good = code().expose();
        let (org, rest) = good.split_once('.').unwrap();
        let (id, secret) = rest.split_once('.').unwrap();
        for bad in [
            String::new(),
            org.to_owned(),
            format!("{org}.{id}"),
            format!("{org}.{id}.{secret}.x"),
            format!("{org}.{id}.{}", secret.to_uppercase()),
            format!("{org}.{id}.{}", &secret[1..]),
            format!("{org}.{id}.{secret}0"),
            format!("{org}.{}.{secret}", &id[1..]),
            format!("{org}.{}.{secret}", id.to_uppercase()),
            format!("platform.{id}.{secret}"),
            format!("a#b.{id}.{secret}"),
            format!(".{id}.{secret}"),
            format!("{org}.{id}.{}g", &secret[1..]),
        ] {
            let error = JoinCode::parse(&bad).expect_err(&bad);
            assert!(!error.contains(&secret[..8]), "{error}");
        }
    }

    /// Proves: AUTHN-10
    #[test]
    fn join_domains_allow_their_emails_only_and_fail_closed_when_stored_broken() {
        let list = JoinDomains::parse(&["Acme.Example", " lab.acme.example ", "acme.example"]).unwrap();
        assert_eq!(list.entries(), ["acme.example", "lab.acme.example"]);
        assert!(list.allows("jo@ACME.example"));
        assert!(list.allows("jo@lab.acme.example"));
        assert!(!list.allows("jo@other.acme.example"), "a subdomain is not its parent");
        assert!(!list.allows("jo@acme.example.evil"));
        assert!(!list.allows("acme.example@evil.example"));
        assert!(JoinDomains::default().allows("anyone@anywhere.example"));
        for bad in [
            "acme",
            "-acme.example",
            "acme-.example",
            "ac me.example",
            "acme..example",
            "192.0.2.1",
            "*.acme.example",
            "acme.example.",
            "",
        ] {
            assert!(JoinDomains::parse(&[bad]).is_err(), "{bad:?}");
        }
        let too_many: Vec<String> = (0..=MAX_JOIN_DOMAINS).map(|i| format!("d{i}.example")).collect();
        assert!(JoinDomains::parse(&too_many).is_err());
        let broken = JoinDomains::stored(&["acme.example", "not a domain"]);
        assert!(!broken.allows("jo@acme.example"));
        assert!(JoinDomains::stored(&[] as &[&str]).allows("jo@acme.example"));
    }
}
