//! The password policy (AUTHN-3), checked by Quire before Cognito is called, so the answer is
//! the same on AWS and locally and names every rule a password breaks.
//!
//! Rules: at least [`MIN_CHARS`] characters (at most [`MAX_CHARS`], Cognito's limit), with an
//! upper-case letter, a lower-case letter, a digit and a symbol as Cognito counts them (ASCII
//! letters and digits; the symbols of [`SYMBOLS`], Cognito's list); no control characters, no
//! leading or trailing space (Cognito refuses those). The user pool in template.yaml sets the
//! same rules, so Cognito would refuse what Quire lets through only if the two drifted apart
//! (a guardrail test holds them equal).

use serde::Serialize;

/// Fewest characters (Unicode scalar values) a password may have.
pub const MIN_CHARS: usize = 12;
/// Most characters a password may have (Cognito's maximum).
pub const MAX_CHARS: usize = 256;
/// How long a password stays good after it was set (AUTHN-4): then only changing it, reading
/// one's own account and signing out are allowed.
pub const MAX_AGE: std::time::Duration = std::time::Duration::from_secs(90 * 24 * 3600);

/// How many of a member's passwords a new one may not repeat (AUTHN-3). Enforced by Cognito
/// (the user pool's `PasswordHistorySize` in template.yaml; a guardrail test holds them equal),
/// reported as [`Violation::RecentlyUsed`]. Quire keeps no password history of its own: a
/// check of its own before Cognito proves the code or current password would tell anyone
/// whether a guess was one of an account's recent passwords. Cognito's documentation says
/// neither whether it checks the history before or after the code or current password, nor
/// whether the current password is one of the `n`: Quire counts a refused recent password as
/// a failed attempt (decision 37), and the emulator counts the current one.
pub const HISTORY: usize = 5;

/// The characters Cognito counts as symbols (its "special characters", space included).
pub const SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+- ";

/// A rule a password breaks, by a stable name a client may match on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Violation {
    #[serde(rename = "too-short")]
    TooShort,
    #[serde(rename = "too-long")]
    TooLong,
    #[serde(rename = "no-upper-case")]
    NoUpperCase,
    #[serde(rename = "no-lower-case")]
    NoLowerCase,
    #[serde(rename = "no-digit")]
    NoDigit,
    #[serde(rename = "no-symbol")]
    NoSymbol,
    #[serde(rename = "control-characters")]
    ControlCharacters,
    #[serde(rename = "surrounding-space")]
    SurroundingSpace,
    /// A change to the password already in use: it would restart the password's age without
    /// changing it (AUTHN-4). Found by the change route, not by [`violations`].
    #[serde(rename = "same-as-current")]
    SameAsCurrent,
    /// One of the member's last [`HISTORY`] passwords: never found by [`violations`], only
    /// reported from Cognito (`PasswordHistoryPolicyViolationException`).
    #[serde(rename = "recently-used")]
    RecentlyUsed,
    /// Cognito refused a password that meets every rule above for a reason of its own: never
    /// found by [`violations`], only reported from Cognito.
    #[serde(rename = "not-accepted")]
    NotAccepted,
}

impl Violation {
    /// What the rule asks, for the client.
    pub fn rule(self) -> &'static str {
        match self {
            Violation::TooShort => "at least 12 characters",
            Violation::TooLong => "at most 256 characters",
            Violation::NoUpperCase => "an upper-case letter (A-Z)",
            Violation::NoLowerCase => "a lower-case letter (a-z)",
            Violation::NoDigit => "a digit (0-9)",
            Violation::NoSymbol => {
                "a symbol (one of ^ $ * . [ ] { } ( ) ? \" ! @ # % & / \\ , > < ' : ; | _ ~ ` = + - or a space)"
            }
            Violation::ControlCharacters => "no control characters",
            Violation::SurroundingSpace => "no space at the start or the end",
            Violation::SameAsCurrent => "different from the current password",
            Violation::RecentlyUsed => "not one of the last 5 passwords",
            Violation::NotAccepted => "accepted by the identity provider",
        }
    }
}

/// A password that meets the policy: the only way a new password reaches Cognito.
#[derive(Clone)]
pub struct NewPassword(String);

impl NewPassword {
    /// The password, if it meets every rule; otherwise every rule it breaks, in the order of
    /// [`Violation`].
    pub fn parse(text: String) -> Result<Self, Vec<Violation>> {
        let violations = violations(&text);
        if violations.is_empty() {
            Ok(NewPassword(text))
        } else {
            Err(violations)
        }
    }

    /// The password, to hand to Cognito (never to a log).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(..)")
    }
}

/// A registration's password verifier (AUTHN-6): Argon2id (RFC 9106) with the argon2 crate's
/// default parameters (19 MiB, 2 passes, 1 lane: OWASP's minimum for Argon2id) and a random
/// 16-byte salt, as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`). Quire keeps it
/// only while a registration awaits confirmation, so that the confirmation can prove the
/// registrant's password without asking Cognito, which answers an unconfirmed user's sign-in
/// alike whatever the password.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct PasswordVerifier(String);

impl PasswordVerifier {
    /// The verifier of `password` (CPU- and memory-bound by design, so callers in async code
    /// run it on a blocking thread).
    pub fn new(password: &NewPassword) -> Self {
        use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2::Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .expect("Argon2 with its default parameters hashes any password");
        PasswordVerifier(hash.to_string())
    }

    /// Whether `password` is the one the verifier was made from (constant time in the hash
    /// comparison). A verifier that is not a valid PHC string verifies nothing.
    pub fn verifies(&self, password: &str) -> bool {
        use argon2::password_hash::{PasswordHash, PasswordVerifier as _};
        PasswordHash::new(&self.0).is_ok_and(|hash| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    }
}

impl std::fmt::Debug for PasswordVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordVerifier(..)")
    }
}

/// Every rule `text` breaks.
pub fn violations(text: &str) -> Vec<Violation> {
    let chars = text.chars().count();
    let mut found = Vec::new();
    if chars < MIN_CHARS {
        found.push(Violation::TooShort);
    }
    if chars > MAX_CHARS {
        found.push(Violation::TooLong);
    }
    for (violation, present) in [
        (Violation::NoUpperCase, text.chars().any(|c| c.is_ascii_uppercase())),
        (Violation::NoLowerCase, text.chars().any(|c| c.is_ascii_lowercase())),
        (Violation::NoDigit, text.chars().any(|c| c.is_ascii_digit())),
        (Violation::NoSymbol, text.chars().any(|c| SYMBOLS.contains(c))),
    ] {
        if !present {
            found.push(violation);
        }
    }
    if text.chars().any(char::is_control) {
        found.push(Violation::ControlCharacters);
    }
    if text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
        found.push(Violation::SurroundingSpace);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use Violation::*;

    /// Each rule alone, and all at once: the answer names exactly the rules broken.
    #[test]
    fn every_broken_rule_is_named() {
        let cases: &[(&str, &[Violation])] = &[
            ("Quire-Passw0rd!", &[]),
            ("Qu1re-Pa$$wörd", &[]),
            ("Qu1re Pa55word", &[]),
            ("Short-Pa55", &[TooShort]),
            ("quire-passw0rd!", &[NoUpperCase]),
            ("QUIRE-PASSW0RD!", &[NoLowerCase]),
            ("Quire-Password!", &[NoDigit]),
            ("QuirePassw0rd12", &[NoSymbol]),
            ("Quire-Passw0rd!\u{7}", &[ControlCharacters]),
            (" Quire-Passw0rd!", &[SurroundingSpace]),
            ("Quire-Passw0rd! ", &[SurroundingSpace]),
            ("", &[TooShort, NoUpperCase, NoLowerCase, NoDigit, NoSymbol]),
            // Non-ASCII letters are not Cognito's upper or lower case, nor its symbols.
            ("ÄÖÜäöü1234567", &[NoUpperCase, NoLowerCase, NoSymbol]),
        ];
        for (text, expected) in cases {
            assert_eq!(violations(text), *expected, "{text:?}");
            assert_eq!(
                NewPassword::parse(text.to_string()).is_ok(),
                expected.is_empty(),
                "{text:?}"
            );
        }
        let long = format!("Aa1!{}", "x".repeat(MAX_CHARS));
        assert_eq!(violations(&long), [TooLong]);
        // Characters, not bytes: twelve two-byte characters are long enough.
        assert!(!violations("Ää1!ééééééééé").contains(&TooShort));
    }

    #[test]
    fn a_new_password_is_not_shown_in_debug_output() {
        let password = NewPassword::parse("Quire-Passw0rd!".into()).expect("valid");
        assert!(!format!("{password:?}").contains("Passw0rd"));
    }

    /// A verifier accepts its own password and no other, salts each one apart, and reads as a
    /// PHC string of Argon2id.
    ///
    /// Proves: AUTHN-6
    #[test]
    fn a_password_verifier_accepts_its_password_only() {
        let password = NewPassword::parse("Registered-Passw0rd!".into()).expect("a policy password");
        let verifier = PasswordVerifier::new(&password);
        assert!(verifier.verifies("Registered-Passw0rd!"));
        for wrong in [
            "registered-Passw0rd!",
            "Registered-Passw0rd",
            "",
            "Registered-Passw0rd!!",
        ] {
            assert!(!verifier.verifies(wrong), "{wrong:?}");
        }
        assert!(
            verifier.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            verifier.0
        );
        assert_ne!(PasswordVerifier::new(&password), verifier, "salted apart");
        assert!(!PasswordVerifier("not a PHC string".into()).verifies("Registered-Passw0rd!"));
        assert_eq!(format!("{verifier:?}"), "PasswordVerifier(..)");
    }
}
