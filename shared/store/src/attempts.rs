//! Guarded attempts (AUTHN-5, RATE-4): how many times a secret may be tried against one
//! subject (an account's password, later a signer's re-authentication) before the subject is
//! locked, counted so that racing attempts can never try more often than the limit.
//!
//! An attempt is *reserved* before the secret is checked, by one conditional `UpdateItem` that
//! adds one to the subject's count only while the count is under the limit and no lock holds:
//! of any number of parallel attempts, at most `max_failures` get a reservation. A failed attempt
//! stays counted, and the one that reaches the limit starts the lock (and clears the count); a
//! successful one clears the count; an attempt that was never judged (the identity provider
//! was unavailable) gives its reservation back. Counts are of consecutive failures: they do not
//! expire with time, only with a success or a lock; DynamoDB's TTL may remove an item some time
//! after 30 days without a granted attempt, which only forgets. A full count left by outcomes
//! that were never reported (a function that timed out) clears once no attempt has been made for
//! as long as a lock lasts.
//!
//! Subjects are stored by the SHA-256 of what names them, never in clear, in a platform
//! partition outside every tenant (`keys::attempts`): an unknown account is counted like a known
//! one, so the answers cannot tell them apart (AUTHN-9).

use crate::{epoch_seconds, keys, Store, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use base64::Engine;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long an untouched count is kept before DynamoDB may delete it.
const FORGOTTEN_AFTER: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// The rule: `max_failures` consecutive failures lock the subject for `lock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub max_failures: u32,
    pub lock: Duration,
}

impl LockoutPolicy {
    /// AUTHN-5: five failures, fifteen minutes.
    pub const SIGN_IN: LockoutPolicy = LockoutPolicy {
        max_failures: 5,
        lock: Duration::from_secs(15 * 60),
    };

    /// RATE-3: five failed join codes from one address, or against one invitation, start a
    /// fifteen-minute cooldown.
    pub const JOIN_CODE: LockoutPolicy = LockoutPolicy {
        max_failures: 5,
        lock: Duration::from_secs(15 * 60),
    };
}

/// Who is being guessed at: what names it, hashed (the clear text is never stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject(String);

impl Subject {
    /// An account by its sign-in email, compared as Cognito compares it (ASCII case-insensitively;
    /// the auth function accepts ASCII emails only).
    pub fn account(email: &str) -> Self {
        Subject::of("account", &email.to_ascii_lowercase())
    }

    /// An account's password-reset codes, by its sign-in email (guessed codes are counted
    /// apart from guessed passwords).
    pub fn password_reset(email: &str) -> Self {
        Subject::of("password-reset", &email.to_ascii_lowercase())
    }

    /// A signed-in member's re-authentications (`quire_http::identity::reauthenticate`), by
    /// their user id (`sub`), for [`crate::limits::RateLimit::REAUTHENTICATIONS_PER_MEMBER`].
    pub fn reauthentication(user: &quire_core::ids::UserId) -> Self {
        Subject::of("reauthentication", user.as_str())
    }

    /// An account's email-confirmation codes (AUTHN-6), by its sign-in email, counted apart
    /// like reset codes.
    pub fn confirmation(email: &str) -> Self {
        Subject::of("confirmation", &email.to_ascii_lowercase())
    }

    /// A client by its IP address as the edge established it (`RequestCtx::source_ip`), for
    /// limits per address.
    /// An IPv6 address counts as its /64 (one subscriber's usual allocation, so a client
    /// cannot spread over its own prefix); an IPv4-mapped one as its IPv4 address.
    pub fn address(ip: &str) -> Self {
        let key = match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.to_string(),
                None => {
                    let s = v6.segments();
                    format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
                }
            },
            Ok(std::net::IpAddr::V4(v4)) => v4.to_string(),
            Err(_) => ip.to_owned(),
        };
        Subject::of("address", &key)
    }

    /// A client's failed join codes (RATE-3), by its address counted as [`Subject::address`]
    /// counts it (an IPv6 client by its /64).
    pub fn join_address(ip: &str) -> Self {
        let Subject(address) = Subject::address(ip);
        Subject::of("join-address", &address)
    }

    /// One invitation's failed join codes (RATE-3), by its organisation and id: a guess at its
    /// secret is counted against it whatever the address.
    pub fn join_code(org: &quire_core::ids::OrgId, invitation: &quire_core::invitation::InvitationId) -> Self {
        Subject::of("join-code", &format!("{org}.{invitation}"))
    }

    fn of(kind: &str, name: &str) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("{kind}\u{0}{name}").as_bytes());
        Subject(format!(
            "{kind}#{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
        ))
    }

    /// What its key and a log line name it by: its kind and digest, never the email.
    pub fn key_part(&self) -> &str {
        &self.0
    }
}

/// A reservation: the right to check the secret once, and to report how it went.
#[derive(Debug)]
#[must_use = "report the outcome: failed, succeeded or not judged"]
pub struct Attempt {
    subject: Subject,
    /// This attempt's place among the consecutive ones (1 = the first since the last success).
    number: u64,
    policy: LockoutPolicy,
    /// When the lock this reservation was the first attempt after ended.
    ended_lock: Option<u64>,
}

impl Attempt {
    /// This attempt's place among the consecutive ones (1 = the first since the last success
    /// or lock).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// When a lock ended, if this is the first attempt after it (exactly one attempt is, however
    /// many race): the moment to record the unlock.
    pub fn ended_lock(&self) -> Option<SystemTime> {
        self.ended_lock.map(at)
    }
}

/// A time stored as whole seconds since the Unix epoch.
fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// The answer to a request to try.
#[derive(Debug)]
pub enum Reservation {
    Granted(Attempt),
    /// Locked (until `locked_until`), or as many attempts as the limit are already counted or
    /// in flight (`None`: their outcomes end it, or a lock one of them starts).
    Refused {
        locked_until: Option<SystemTime>,
    },
}

/// What a failed attempt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    Counted,
    /// This failure reached the limit: the subject is locked from now for the policy's `lock`,
    /// until `until`.
    Locked {
        until: SystemTime,
    },
}

impl Store {
    /// Reserves one attempt for `subject` under `policy`, or refuses: one conditional
    /// `UpdateItem`. A lock that has ended is no obstacle (the lock cleared the count); the
    /// reservation that removes it reports it ([`Attempt::ended_lock`]).
    pub async fn reserve_attempt(&self, subject: &Subject, policy: LockoutPolicy) -> Result<Reservation, StoreError> {
        let key = keys::attempts(subject);
        let now = epoch_seconds();
        let counted = self
            .ddb
            .update_item()
            .table_name(&self.data_table)
            .set_key(Some(key.to_map()))
            .update_expression("ADD attempts :one SET expiresAt = :forget, lastAttemptAt = :now REMOVE lockedUntil")
            .condition_expression(
                "attribute_not_exists(pk) OR (attempts < :max AND (attribute_not_exists(lockedUntil) OR lockedUntil <= :now))",
            )
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":max", number(policy.max_failures))
            .expression_attribute_values(":now", number(now))
            .expression_attribute_values(":forget", number(now.saturating_add(FORGOTTEN_AFTER.as_secs())))
            // What was there before: the count this attempt adds to, and a lock it removes.
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match counted {
            Ok(out) => {
                let old = out.attributes.unwrap_or_default();
                let before = match old.get("attempts") {
                    None => 0,
                    Some(n) => n
                        .as_n()
                        .ok()
                        .and_then(|n| n.parse::<u64>().ok())
                        .ok_or_else(|| StoreError::Corrupt("an attempt count that is not a number".into()))?,
                };
                Ok(Reservation::Granted(Attempt {
                    subject: subject.clone(),
                    number: before + 1,
                    policy,
                    ended_lock: seconds(&old, "lockedUntil"),
                }))
            }
            Err(error) if is_condition_failure(&error) => self.when_full(subject, policy, now).await,
            Err(error) => Err(StoreError::aws(error)),
        }
    }

    /// A refused reservation: locked, or as many attempts as the limit counted or in flight. A
    /// full count with no attempt for as long as a lock lasts holds outcomes that were lost (a
    /// function that timed out between reserving and reporting), not attempts in flight: it
    /// starts again at this attempt, so a lost outcome keeps nobody out longer than a lock.
    async fn when_full(&self, subject: &Subject, policy: LockoutPolicy, now: u64) -> Result<Reservation, StoreError> {
        let key = keys::attempts(subject);
        let refused = Reservation::Refused { locked_until: None };
        let Some(item) = self.read(&self.data_table, &key).await? else {
            return Ok(refused);
        };
        let ended_lock = seconds(&item, "lockedUntil");
        if let Some(until) = ended_lock.filter(|until| *until > now) {
            return Ok(Reservation::Refused {
                locked_until: Some(at(until)),
            });
        }
        let Some(last) = item.get("lastAttemptAt").and_then(|n| n.as_n().ok()).cloned() else {
            return Ok(refused);
        };
        if last
            .parse::<u64>()
            .map_or(true, |last| last.saturating_add(policy.lock.as_secs()) > now)
        {
            return Ok(refused);
        }
        let restarted = self
            .ddb
            .update_item()
            .table_name(&self.data_table)
            .set_key(Some(key.to_map()))
            .update_expression("SET attempts = :one, lastAttemptAt = :now, expiresAt = :forget REMOVE lockedUntil")
            .condition_expression("lastAttemptAt = :seen")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":now", number(now))
            .expression_attribute_values(":seen", AttributeValue::N(last))
            .expression_attribute_values(":forget", number(now.saturating_add(FORGOTTEN_AFTER.as_secs())))
            .send()
            .await;
        match restarted {
            Ok(_) => Ok(Reservation::Granted(Attempt {
                subject: subject.clone(),
                number: 1,
                policy,
                ended_lock,
            })),
            // Another attempt came first: this one is refused, as it would have been.
            Err(error) if is_condition_failure(&error) => Ok(refused),
            Err(error) => Err(StoreError::aws(error)),
        }
    }

    /// The secret was wrong. The failure stays counted; the one that reaches the limit locks.
    pub async fn attempt_failed(&self, attempt: Attempt) -> Result<Failed, StoreError> {
        if attempt.number < u64::from(attempt.policy.max_failures) {
            return Ok(Failed::Counted);
        }
        let now = epoch_seconds();
        let until = now.saturating_add(attempt.policy.lock.as_secs());
        self.ddb
            .update_item()
            .table_name(&self.data_table)
            .set_key(Some(keys::attempts(&attempt.subject).to_map()))
            .update_expression("SET attempts = :zero, lockedUntil = :until, expiresAt = :forget")
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":until", number(until))
            .expression_attribute_values(":forget", number(now.saturating_add(FORGOTTEN_AFTER.as_secs())))
            .send()
            .await
            .map_err(StoreError::aws)?;
        Ok(Failed::Locked { until: at(until) })
    }

    /// The secret was right: the consecutive failures are forgotten. A lock another attempt
    /// started meanwhile stays.
    pub async fn attempt_succeeded(&self, attempt: Attempt) -> Result<(), StoreError> {
        let result = self
            .ddb
            .update_item()
            .table_name(&self.data_table)
            .set_key(Some(keys::attempts(&attempt.subject).to_map()))
            .update_expression("SET attempts = :zero REMOVE lockedUntil")
            .condition_expression("attribute_exists(pk) AND (attribute_not_exists(lockedUntil) OR lockedUntil <= :now)")
            .expression_attribute_values(":zero", number(0))
            .expression_attribute_values(":now", number(epoch_seconds()))
            .send()
            .await;
        condition_may_fail(result)
    }

    /// The secret could not be checked (the identity provider failed): the reservation is
    /// given back, so an outage cannot lock anyone.
    pub async fn attempt_not_judged(&self, attempt: Attempt) -> Result<(), StoreError> {
        let result = self
            .ddb
            .update_item()
            .table_name(&self.data_table)
            .set_key(Some(keys::attempts(&attempt.subject).to_map()))
            .update_expression("ADD attempts :minus_one")
            .condition_expression("attempts > :zero")
            .expression_attribute_values(":minus_one", number(-1))
            .expression_attribute_values(":zero", number(0))
            .send()
            .await;
        condition_may_fail(result)
    }
}

/// An update whose condition failing means "nothing to do": someone else's update came first.
pub(crate) fn condition_may_fail<T, R>(
    result: Result<T, aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>>,
) -> Result<(), StoreError>
where
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(()),
        Err(error) if is_condition_failure(&error) => Ok(()),
        Err(error) => Err(StoreError::aws(error)),
    }
}

/// A whole number of seconds an item holds, if it holds one under `name`.
fn seconds(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

pub(crate) fn number(n: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub(crate) fn is_condition_failure<R>(
    error: &aws_sdk_dynamodb::error::SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Proves: RATE-2
    #[test]
    fn an_ipv6_client_is_counted_by_its_prefix() {
        assert_eq!(
            Subject::address("2001:db8:1:2:aaaa::1"),
            Subject::address("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_ne!(Subject::address("2001:db8:1:2::1"), Subject::address("2001:db8:1:3::1"));
        assert_eq!(Subject::address("::ffff:192.0.2.7"), Subject::address("192.0.2.7"));
        assert_ne!(Subject::address("192.0.2.7"), Subject::address("192.0.2.8"));
    }

    /// The key docs/operations.md tells an operator to compute ("Unlocking a sign-in account").
    #[test]
    fn an_account_is_keyed_as_the_runbook_computes_it() {
        assert_eq!(
            Subject::account("User@Example.com").key_part(),
            "account#cOWS1qKKXCjkAXKtOgm2XCwv0U9KhfJODX5kbm-bO3s"
        );
        assert_eq!(
            keys::attempts(&Subject::account("user@example.com")).pk,
            "ATTEMPTS#account#cOWS1qKKXCjkAXKtOgm2XCwv0U9KhfJODX5kbm-bO3s"
        );
    }
}
