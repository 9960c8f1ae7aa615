//! The sign-in lockout (AUTHN-5) over HTTP, and the attempt counts under it against the
//! emulator (RATE-4). Accounts are fresh organisations' users, so no other test's sign-ins count.

use quire_blackbox_tests::{harness, Reply};
use quire_core::rbac::Role;
use quire_store::attempts::{Failed, LockoutPolicy, Reservation, Subject};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

const WRONG: &str = "Wrong-Passw0rd!";

async fn sign_in(email: &str, password: &str) -> Reply {
    harness()
        .call(
            Method::POST,
            "/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await
}

/// The 5th consecutive wrong password locks the account: then the right one is refused with
/// exactly the answer a wrong one gets. Another account of the organisation is not locked.
///
/// Proves: AUTHN-5, AUTHN-9
#[tokio::test]
async fn five_wrong_passwords_lock_the_account_and_then_even_the_right_one_is_refused() {
    let h = harness();
    let org = h.new_org("lock").await;
    let email = org.user(Role::User).email.clone();
    let mut wrong = Vec::new();
    for _ in 0..5 {
        let reply = sign_in(&email, WRONG).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
        wrong.push(reply.body);
    }
    let right = sign_in(&email, &h.password).await;
    assert_eq!(
        right.status,
        StatusCode::UNAUTHORIZED,
        "locked, yet signed in: {}",
        right.text
    );
    assert_eq!(
        right.body, wrong[0],
        "a locked account's answer differs from a wrong password's"
    );
    assert!(right.body.get("accessToken").is_none());
    let colleague = sign_in(&org.user(Role::Viewer).email, &h.password).await;
    assert_eq!(colleague.status, StatusCode::OK, "{}", colleague.text);
}

/// A successful sign-in forgets the failures before it: only consecutive ones lock.
///
/// Proves: AUTHN-5
#[tokio::test]
async fn a_successful_sign_in_forgets_the_failures_before_it() {
    let h = harness();
    let org = h.new_org("reset").await;
    let email = org.user(Role::User).email.clone();
    for round in 0..2 {
        for _ in 0..4 {
            assert_eq!(sign_in(&email, WRONG).await.status, StatusCode::UNAUTHORIZED);
        }
        let right = sign_in(&email, &h.password).await;
        assert_eq!(right.status, StatusCode::OK, "round {round}: {}", right.text);
    }
}

/// An unknown account is counted and refused like a known one, so the answers cannot tell them
/// apart, locked or not.
///
/// Proves: AUTHN-9
#[tokio::test]
async fn an_unknown_account_gets_the_answers_a_known_one_gets() {
    let h = harness();
    let org = h.new_org("unknown").await;
    let known = org.user(Role::User).email.clone();
    let unknown = format!("nobody-{}", known);
    for attempt in 0..7 {
        let (a, b) = (sign_in(&known, WRONG).await, sign_in(&unknown, WRONG).await);
        assert_eq!((a.status, &a.body), (b.status, &b.body), "attempt {attempt}");
    }
    // Both were counted alike: each is locked now.
    let refused = h
        .on_stack(move |stack| async move {
            let mut refused = Vec::new();
            for email in [known, unknown] {
                let reservation = stack
                    .app
                    .store
                    .reserve_attempt(&Subject::account(&email), LockoutPolicy::SIGN_IN)
                    .await
                    .expect("store");
                refused.push(matches!(reservation, Reservation::Refused));
            }
            refused
        })
        .await;
    assert_eq!(refused, [true, true], "known and unknown accounts are locked alike");
}

/// The account is the email as Cognito compares it: failures under another letter case count
/// against the same account, and an email that is not printable ASCII is refused before anything
/// is counted or sent to Cognito.
///
/// Proves: AUTHN-5
#[tokio::test]
async fn the_same_account_in_another_letter_case_is_the_same_count() {
    let h = harness();
    let org = h.new_org("case").await;
    let email = org.user(Role::User).email.clone();
    for _ in 0..5 {
        assert_eq!(
            sign_in(&email.to_uppercase(), WRONG).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let right = sign_in(&email, &h.password).await;
    assert_eq!(right.status, StatusCode::UNAUTHORIZED, "{}", right.text);
    let colleague = org.user(Role::Viewer).email.clone();
    for spelling in [colleague.replacen('i', "ı", 1), colleague.replacen('e', "ｅ", 1)] {
        let reply = sign_in(&spelling, &h.password).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{spelling}: {}", reply.text);
        assert_eq!(reply.body["field"], "email", "{}", reply.text);
    }
}

/// Outcomes that were never reported (a function that timed out between reserving and
/// answering) keep nobody out longer than a lock: once no attempt has been made for as long as
/// a lock lasts, the count starts again.
///
/// Proves: AUTHN-5
#[tokio::test]
async fn lost_outcomes_keep_nobody_out_longer_than_a_lock() {
    let h = harness();
    let policy = LockoutPolicy {
        max_failures: 5,
        lock: Duration::from_secs(1),
    };
    let subject = Subject::account(&format!("lost-{}@example.test", uuid::Uuid::new_v4()));
    let (full, after) = h
        .on_stack(move |stack| async move {
            let store = &stack.app.store;
            for _ in 0..5 {
                let Reservation::Granted(attempt) = store.reserve_attempt(&subject, policy).await.expect("store")
                else {
                    panic!("refused before the limit");
                };
                let _outcome_lost = attempt;
            }
            let full = store.reserve_attempt(&subject, policy).await.expect("store");
            tokio::time::sleep(policy.lock + Duration::from_millis(1100)).await;
            let after = store.reserve_attempt(&subject, policy).await.expect("store");
            (
                matches!(full, Reservation::Refused),
                matches!(after, Reservation::Granted(_)),
            )
        })
        .await;
    assert!(full, "a full count was not refused");
    assert!(
        after,
        "lost outcomes still refuse after a lock's length without attempts"
    );
}

/// Fifty attempts racing on one subject: exactly the limit get a reservation, whatever the
/// interleaving, and the failure that reaches the limit locks. A lock that has ended is no
/// obstacle; an attempt that was never judged gives its reservation back.
///
/// Proves: RATE-4, AUTHN-5
#[tokio::test]
async fn fifty_racing_attempts_never_get_more_than_the_limit_through() {
    let h = harness();
    let policy = LockoutPolicy {
        max_failures: 5,
        lock: Duration::from_secs(2),
    };
    let subject = Subject::account(&format!("race-{}@example.test", uuid::Uuid::new_v4()));
    let granted = h
        .on_stack(move |stack| async move {
            let racing = (0..50).map(|_| {
                let app = stack.app.clone();
                let subject = subject.clone();
                tokio::spawn(async move { app.store.reserve_attempt(&subject, policy).await })
            });
            let mut granted = Vec::new();
            for outcome in futures::future::join_all(racing).await {
                if let Reservation::Granted(attempt) = outcome.expect("task").expect("store") {
                    granted.push(attempt);
                }
            }
            let count = granted.len();
            let mut locked = 0;
            for attempt in granted {
                if stack.app.store.attempt_failed(attempt).await.expect("store") == Failed::Locked {
                    locked += 1;
                }
            }
            let while_locked = stack.app.store.reserve_attempt(&subject, policy).await.expect("store");
            tokio::time::sleep(policy.lock + Duration::from_millis(1100)).await;
            let after = stack.app.store.reserve_attempt(&subject, policy).await.expect("store");
            let given_back = match after {
                Reservation::Granted(attempt) => {
                    stack.app.store.attempt_not_judged(attempt).await.expect("store");
                    true
                }
                Reservation::Refused => false,
            };
            // The one given back does not count: the whole limit is there again, and no more.
            let mut again = 0;
            for _ in 0..policy.max_failures + 1 {
                if let Reservation::Granted(attempt) =
                    stack.app.store.reserve_attempt(&subject, policy).await.expect("store")
                {
                    again += 1;
                    let _left_pending = attempt;
                }
            }
            (
                count,
                locked,
                matches!(while_locked, Reservation::Refused),
                given_back,
                again,
            )
        })
        .await;
    assert_eq!(granted.0, 5, "reservations granted among 50 racing attempts");
    assert_eq!(granted.1, 1, "exactly one failure starts the lock");
    assert!(granted.2, "a reservation was granted while locked");
    assert!(granted.3, "the lock did not end");
    assert_eq!(
        granted.4, 5,
        "after a reservation given back, the whole limit and no more"
    );
}
