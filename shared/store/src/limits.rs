//! Rate limits (RATE-1, RATE-2, RATE-4, RATE-5): at most `max` requests of one kind per subject
//! (a client's address, an email) in each window of `window`, counted so that racing requests
//! can never get more than `max` through.
//!
//! Windows are fixed: they start at multiples of their length since the Unix epoch, and each
//! window of each subject is one item (`keys::limit_window`) whose count one conditional
//! `UpdateItem` raises only while it is under `max`: of any number of parallel requests, at most
//! `max` are let through in a window. A refused request raises the window's refusal count in a
//! second `UpdateItem`; the one that makes it 1 is the window's *trip*, the only refusal the
//! caller records in the audit trail, so a flood of refused requests is one audit entry per
//! window, not one per request. Windows end by our own clock, not by DynamoDB's TTL (which lags
//! on AWS and never happens locally); TTL only removes old windows a day after they end.
//!
//! Fixed windows can let up to `2 × max` through in a span of one window that straddles a
//! boundary; docs/decisions.md ("Rate limits") says why that is the chosen trade.

use crate::attempts::{condition_may_fail, is_condition_failure, number, Subject};
use crate::{epoch_seconds, keys, Store, StoreError};
use aws_sdk_dynamodb::types::ReturnValue;
use std::time::Duration;

/// How long a window's item is kept after the window ends, before DynamoDB may delete it.
const KEPT_AFTER_END: Duration = Duration::from_secs(24 * 60 * 60);

/// A rate limit: at most `max` requests per subject in each window of `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Stable name, part of the key and of the audit entry (`sign-in-failures-per-address`).
    pub name: &'static str,
    pub max: u32,
    pub window: Duration,
}

impl RateLimit {
    /// Failed sign-ins per client address: 30 per 15 minutes (docs/decisions.md, "Rate limits").
    /// Counted before the password is checked and given back on success, so racing attempts
    /// count as failures until judged.
    pub const SIGN_IN_FAILURES_PER_ADDRESS: RateLimit = RateLimit {
        name: "sign-in-failures-per-address",
        max: 30,
        window: Duration::from_secs(15 * 60),
    };

    /// Password-reset codes asked for per client address: 5 per 15 minutes (RATE-2).
    pub const PASSWORD_RESETS_PER_ADDRESS: RateLimit = RateLimit {
        name: "password-resets-per-address",
        max: 5,
        window: Duration::from_secs(15 * 60),
    };

    /// Password-reset codes asked for per email: 3 per 15 minutes (RATE-2).
    pub const PASSWORD_RESETS_PER_EMAIL: RateLimit = RateLimit {
        name: "password-resets-per-email",
        max: 3,
        window: Duration::from_secs(15 * 60),
    };

    /// Refused password-reset codes per client address: 30 per 15 minutes, counted like
    /// [`RateLimit::SIGN_IN_FAILURES_PER_ADDRESS`] (given back when the code is accepted).
    pub const PASSWORD_RESET_FAILURES_PER_ADDRESS: RateLimit = RateLimit {
        name: "password-reset-failures-per-address",
        max: 30,
        window: Duration::from_secs(15 * 60),
    };

    /// Refused refreshes per client address: 30 per 15 minutes, counted like
    /// [`RateLimit::SIGN_IN_FAILURES_PER_ADDRESS`] (given back when the refresh is granted), so
    /// a flood of made-up refresh tokens cannot spend the user pool's request quota that
    /// everyone's sign-in shares.
    pub const REFRESH_FAILURES_PER_ADDRESS: RateLimit = RateLimit {
        name: "refresh-failures-per-address",
        max: 30,
        window: Duration::from_secs(15 * 60),
    };

    /// Re-authentications per signed-in member: 10 per 15 minutes, every one counted (right
    /// or wrong), so that refusals the lockout does not count (Cognito not judging, a factor
    /// turned off round Quire) cannot flood the trail or spend the user pool's request quota
    /// that everyone's sign-in shares.
    pub const REAUTHENTICATIONS_PER_MEMBER: RateLimit = RateLimit {
        name: "reauthentications-per-member",
        max: 10,
        window: Duration::from_secs(15 * 60),
    };

    /// Signing re-authentications per signed-in member: 60 per 15 minutes, every one counted
    /// as [`RateLimit::REAUTHENTICATIONS_PER_MEMBER`] is, but apart from it and higher: an
    /// approver signs a batch of documents one after another (the lockout still stops
    /// guessing after a few wrong passwords).
    pub const SIGNATURES_PER_MEMBER: RateLimit = RateLimit {
        name: "signatures-per-member",
        max: 60,
        window: Duration::from_secs(15 * 60),
    };

    /// Registrations per client address: 5 per 10 minutes (RATE-1), every well-formed attempt
    /// counted (taken emails included; a request refused as malformed never reaches the count).
    pub const REGISTRATIONS_PER_ADDRESS: RateLimit = RateLimit {
        name: "registrations-per-address",
        max: 5,
        window: Duration::from_secs(10 * 60),
    };

    /// New confirmation codes asked for per client address: 5 per 15 minutes, as for reset
    /// codes (docs/decisions.md, "Registration").
    pub const CONFIRMATION_CODES_PER_ADDRESS: RateLimit = RateLimit {
        name: "confirmation-codes-per-address",
        max: 5,
        window: Duration::from_secs(15 * 60),
    };

    /// New confirmation codes asked for per email: 3 per 15 minutes, as for reset codes.
    pub const CONFIRMATION_CODES_PER_EMAIL: RateLimit = RateLimit {
        name: "confirmation-codes-per-email",
        max: 3,
        window: Duration::from_secs(15 * 60),
    };

    /// Refused confirmation codes per client address: 30 per 15 minutes, counted like
    /// [`RateLimit::PASSWORD_RESET_FAILURES_PER_ADDRESS`] (given back when the code is accepted).
    pub const CONFIRMATION_FAILURES_PER_ADDRESS: RateLimit = RateLimit {
        name: "confirmation-failures-per-address",
        max: 30,
        window: Duration::from_secs(15 * 60),
    };

    /// Joins with a code per client address: 10 per 15 minutes (ORG-4), every well-formed
    /// attempt counted (each may make Cognito send an email; failed codes are counted apart,
    /// `crate::attempts::LockoutPolicy::JOIN_CODE`).
    pub const JOINS_PER_ADDRESS: RateLimit = RateLimit {
        name: "joins-per-address",
        max: 10,
        window: Duration::from_secs(15 * 60),
    };

    fn window_seconds(&self) -> u64 {
        self.window.as_secs().max(1)
    }
}

/// A counted request: its place in the window's count, which [`Store::give_back`] can undo.
#[derive(Debug)]
#[must_use = "a slot is kept, or given back when the request turns out not to count"]
pub struct Slot {
    key: keys::Key,
}

/// The answer to a request under a limit.
#[derive(Debug)]
pub enum Limited {
    Allowed(Slot),
    Refused(Refusal),
}

/// A refused request: when to try again, and whether it is the window's trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Until the window ends, at least one second (`Retry-After`, RFC 9110 §10.2.3).
    pub retry_after: Duration,
    /// The window's first refusal: the one the audit trail records (RATE-5).
    pub trip: bool,
    /// When the window ends, in seconds since the Unix epoch.
    pub window_ends: u64,
}

impl Store {
    /// Counts one request of `subject` under `limit`, or refuses it: one conditional
    /// `UpdateItem`, and a second for a refusal (its count, to find the trip).
    pub async fn count_request(&self, limit: RateLimit, subject: &Subject) -> Result<Limited, StoreError> {
        let now = epoch_seconds();
        let length = limit.window_seconds();
        let start = now - now % length;
        let end = start + length;
        let key = keys::limit_window(limit.name, subject, start);
        let counted = self
            .ddb
            .update_item()
            .table_name(&self.data_table)
            .set_key(Some(key.to_map()))
            .update_expression("ADD requests :one SET expiresAt = :forget")
            .condition_expression("attribute_not_exists(requests) OR requests < :max")
            .expression_attribute_values(":one", number(1))
            .expression_attribute_values(":max", number(limit.max))
            .expression_attribute_values(":forget", number(end + KEPT_AFTER_END.as_secs()))
            .send()
            .await;
        match counted {
            Ok(_) => return Ok(Limited::Allowed(Slot { key })),
            Err(error) if is_condition_failure(&error) => {}
            Err(error) => return Err(StoreError::aws(error)),
        }
        let refused = self
            .ddb
            .update_item()
            .table_name(&self.data_table)
            .set_key(Some(key.to_map()))
            .update_expression("ADD refused :one")
            .expression_attribute_values(":one", number(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(StoreError::aws)?;
        let refusals = refused
            .attributes
            .as_ref()
            .and_then(|a| a.get("refused"))
            .and_then(|n| n.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| StoreError::Corrupt("a refusal count that is not a number".into()))?;
        Ok(Limited::Refused(Refusal {
            retry_after: Duration::from_secs((end - now).max(1)),
            trip: refusals == 1,
            window_ends: end,
        }))
    }

    /// The request turned out not to count (a sign-in that succeeded): its slot is free again.
    pub async fn give_back(&self, slot: Slot) -> Result<(), StoreError> {
        let result = self
            .ddb
            .update_item()
            .table_name(&self.data_table)
            .set_key(Some(slot.key.to_map()))
            .update_expression("ADD requests :minus_one")
            .condition_expression("requests > :zero")
            .expression_attribute_values(":minus_one", number(-1))
            .expression_attribute_values(":zero", number(0))
            .send()
            .await;
        condition_may_fail(result)
    }
}
