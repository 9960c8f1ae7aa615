//! Sign-in guards over HTTP: the lockout (AUTHN-5), the limit per client address (RATE-5), and
//! the identity events both record (AUD-1, AUD-3); the counters under them against the emulator
//! (RATE-4). Accounts are fresh organisations' users and each test signs in from addresses of its
//! own, so no other test's sign-ins count.

use quire_blackbox_tests::{events_of, fresh_address, harness, Reply};
use quire_core::ids::OrgId;
use quire_core::rbac::Role;
use quire_store::attempts::{Failed, LockoutPolicy, Reservation, Subject};
use quire_store::limits::{Limited, RateLimit};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Duration;

const WRONG: &str = "Wrong-Passw0rd!";

/// A sign-in from an address of its own, so that only the account's count is at play.
async fn sign_in(email: &str, password: &str) -> Reply {
    sign_in_from(fresh_address(), email, password).await
}

async fn sign_in_from(from: IpAddr, email: &str, password: &str) -> Reply {
    harness()
        .call_from(
            from,
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
                refused.push(matches!(reservation, Reservation::Refused { .. }));
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
    // Two seconds: times are whole seconds, so the full count's last attempt may be a second
    // boundary behind the refused one on a slow machine, and must still count as recent.
    let policy = LockoutPolicy {
        max_failures: 5,
        lock: Duration::from_secs(2),
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
                matches!(full, Reservation::Refused { .. }),
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
                if matches!(
                    stack.app.store.attempt_failed(attempt).await.expect("store"),
                    Failed::Locked { .. }
                ) {
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
                Reservation::Refused { .. } => false,
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
                matches!(while_locked, Reservation::Refused { .. }),
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

/// Every judged sign-in of a member is one entry in their organisation's trail (made by them
/// when the password was right, by whoever typed the email otherwise),
/// with the address and user agent it came from and the reason kept internal: a success, each
/// failure, the lock the fifth starts, and the unlock the first attempt after the lock records.
/// Attempts refused while locked are not recorded one by one (their lock was).
///
/// Proves: AUTHN-5, AUD-3
#[tokio::test]
async fn sign_ins_locks_and_unlocks_are_recorded_in_the_members_trail() {
    let h = harness();
    let org = h.new_org("signtrail").await;
    let member = org.user(Role::User).clone();
    let from = fresh_address();
    assert_eq!(
        sign_in_from(from, &member.email, &h.password).await.status,
        StatusCode::OK
    );
    for _ in 0..5 {
        assert_eq!(
            sign_in_from(from, &member.email, WRONG).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    for _ in 0..3 {
        assert_eq!(
            sign_in_from(from, &member.email, &h.password).await.status,
            StatusCode::UNAUTHORIZED,
            "locked"
        );
    }
    // The lock's end moved into the past, as fifteen minutes would: the next attempt unlocks.
    let (pk, sk) = quire_store::testing::attempts(&Subject::account(&member.email));
    h.dynamodb()
        .update_item()
        .table_name(&h.data_table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
        .update_expression("SET lockedUntil = :past")
        .expression_attribute_values(":past", aws_sdk_dynamodb::types::AttributeValue::N("1700000000".into()))
        .send()
        .await
        .expect("the lock's end moved");
    assert_eq!(
        sign_in_from(from, &member.email, &h.password).await.status,
        StatusCode::OK
    );
    h.audit_settled(&org).await;
    let owner = h.token(&org, Role::Owner).await;
    let entries = h.audit_entries(&owner).await;
    let signs = events_of(
        &entries,
        &[
            "sign-in.succeeded",
            "sign-in.failed",
            "sign-in.locked",
            "sign-in.unlocked",
        ],
    );
    let about_member: Vec<&&Value> = signs
        .iter()
        .filter(|e| e["target"]["id"] == member.user_id.as_str())
        .collect();
    let actions: Vec<&str> = about_member
        .iter()
        .map(|e| e["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        [
            "sign-in.succeeded",
            "sign-in.failed",
            "sign-in.failed",
            "sign-in.failed",
            "sign-in.failed",
            "sign-in.failed",
            "sign-in.locked",
            "sign-in.unlocked",
            "sign-in.succeeded",
        ],
        "{about_member:#?}"
    );
    for event in &about_member {
        // The member is the actor only of what proves the password; a guess is not their act.
        let by_member = event["action"] == "sign-in.succeeded";
        let actor = if by_member {
            member.user_id.as_str()
        } else {
            "anonymous"
        };
        assert_eq!(event["actor"]["userId"], actor, "{event}");
        assert_eq!(event["actor"]["email"], member.email.to_lowercase().as_str());
        assert_eq!(event["target"]["type"], "user");
        assert_eq!(event["origin"]["ip"], from.to_string());
        assert_eq!(
            event["origin"]["userAgent"],
            quire_blackbox_tests::USER_AGENT,
            "{event}"
        );
    }
    assert_eq!(
        about_member[1]["after"],
        json!({"attempt": 1, "reason": "wrong-password"})
    );
    assert_eq!(about_member[5]["after"]["attempt"], 5);
    assert!(about_member[6]["after"]["lockedUntil"].is_string());
    assert_eq!(about_member[7]["after"]["lockedUntil"], "2023-11-14T22:13:20Z");
    assert_eq!(about_member[8]["after"]["attempt"], 1);
    assert!(
        about_member[8]["after"]["session"]["session"].is_string(),
        "the session it started"
    );
}

/// A sign-in for an email that names no member is recorded in the platform's trail, as typed,
/// and in no organisation's: guessing cannot write into a customer's trail.
///
/// Proves: AUTHN-9
#[tokio::test]
async fn a_sign_in_for_an_unknown_email_is_recorded_in_the_platform_trail() {
    let h = harness();
    let org = h.new_org("nobody").await;
    let email = format!("nobody-{}@{}", quire_blackbox_tests::uuid_hex(), "example.test");
    let from = fresh_address();
    let reply = sign_in_from(from, &email, WRONG).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    h.trail_settled(&OrgId::platform()).await;
    let platform = h.platform_entries().await;
    let about: Vec<&Value> = events_of(&platform, &["sign-in.failed"])
        .into_iter()
        .filter(|e| e["actor"]["email"] == email.as_str())
        .collect();
    assert_eq!(about.len(), 1, "{about:#?}");
    assert_eq!(about[0]["orgId"], "platform");
    assert_eq!(about[0]["after"], json!({"attempt": 1, "reason": "unknown-account"}));
    assert_eq!(about[0]["target"]["type"], "account");
    assert_eq!(about[0]["origin"]["ip"], from.to_string());
    let owner = h.token(&org, Role::Owner).await;
    h.audit_settled(&org).await;
    let own = h.audit_entries(&owner).await;
    assert!(
        events_of(&own, &["sign-in.failed"]).is_empty(),
        "an unknown email's failure reached an organisation's trail"
    );
}

/// Thirty failed sign-ins from one address in a window, whatever the accounts, and the next
/// request from it is refused with 429 and `Retry-After` (even with a right password), recorded
/// once in the platform's trail however many are refused; successes do not count, and another
/// address is not touched.
///
/// Proves: RATE-5
#[tokio::test]
async fn thirty_failed_sign_ins_from_an_address_trip_its_limit_once() {
    let h = harness();
    let org = h.new_org("perip").await;
    let member = org.user(Role::User).email.clone();
    let from = fresh_address();
    let limit = RateLimit::SIGN_IN_FAILURES_PER_ADDRESS;
    for n in 0..limit.max {
        // Another unknown email each time, so no account's own lock is at play.
        let reply = sign_in_from(
            from,
            &format!("spray-{n}-{}@example.test", quire_blackbox_tests::uuid_hex()),
            WRONG,
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "failure {n}: {}", reply.text);
        if n == 10 {
            for _ in 0..3 {
                let right = sign_in_from(from, &member, &h.password).await;
                assert_eq!(right.status, StatusCode::OK, "a success counted: {}", right.text);
            }
        }
    }
    for _ in 0..3 {
        let refused = sign_in_from(from, &member, &h.password).await;
        assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{}", refused.text);
        assert_eq!(
            refused.body["type"].as_str().map(|t| t.ends_with("too-many-requests")),
            Some(true),
            "{}",
            refused.text
        );
        let retry: u64 = refused
            .header("retry-after")
            .and_then(|v| v.parse().ok())
            .expect("Retry-After in seconds");
        assert!((1..=limit.window.as_secs()).contains(&retry), "Retry-After {retry}");
    }
    let elsewhere = sign_in_from(fresh_address(), &member, &h.password).await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.text);
    h.trail_settled(&OrgId::platform()).await;
    let platform = h.platform_entries().await;
    let trips: Vec<&Value> = events_of(&platform, &["rate-limit.tripped"])
        .into_iter()
        .filter(|e| e["origin"]["ip"] == from.to_string())
        .collect();
    assert_eq!(trips.len(), 1, "{trips:#?}");
    assert_eq!(trips[0]["target"], json!({"type": "address", "id": from.to_string()}));
    assert_eq!(trips[0]["after"]["limit"], limit.name);
    assert_eq!(trips[0]["after"]["max"], limit.max);
}

/// Fifty requests racing under a limit of five: exactly five are let through, exactly one of
/// the refusals is the window's trip, and the next window counts from zero.
///
/// Proves: RATE-4, RATE-5
#[tokio::test]
async fn fifty_racing_requests_never_get_more_than_a_windows_limit_through() {
    let h = harness();
    let limit = RateLimit {
        name: "race-test",
        max: 5,
        window: Duration::from_secs(2),
    };
    let subject = Subject::address(&format!("race-{}", quire_blackbox_tests::uuid_hex()));
    let (allowed, trips, next_window) = h
        .on_stack(move |stack| async move {
            // Start early in a window, so the race does not straddle two.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock");
            let into = now.as_millis() % 2000;
            tokio::time::sleep(Duration::from_millis((2000 - into) as u64 + 20)).await;
            let racing = (0..50).map(|_| {
                let app = stack.app.clone();
                let subject = subject.clone();
                tokio::spawn(async move { app.store.count_request(limit, &subject).await })
            });
            let (mut allowed, mut trips) = (0, 0);
            for outcome in futures::future::join_all(racing).await {
                match outcome.expect("task").expect("store") {
                    Limited::Allowed(_slot) => allowed += 1,
                    Limited::Refused(refusal) => trips += usize::from(refusal.trip),
                }
            }
            tokio::time::sleep(limit.window + Duration::from_millis(100)).await;
            let next = stack.app.store.count_request(limit, &subject).await.expect("store");
            (allowed, trips, matches!(next, Limited::Allowed(_)))
        })
        .await;
    assert_eq!(allowed, 5, "requests let through among 50 racing");
    assert_eq!(trips, 1, "trips among the refusals of one window");
    assert!(next_window, "the next window did not count from zero");
}

/// However many attempts race after a lock ended, exactly one of them reports the unlock (the
/// one whose reservation removed the lock), so the unlock is recorded once.
///
/// Proves: AUTHN-5, RATE-4
#[tokio::test]
async fn of_racing_attempts_after_a_lock_exactly_one_reports_the_unlock() {
    let h = harness();
    let policy = LockoutPolicy {
        max_failures: 2,
        lock: Duration::from_secs(1),
    };
    let subject = Subject::account(&format!("unlock-{}@example.test", quire_blackbox_tests::uuid_hex()));
    let reports = h
        .on_stack(move |stack| async move {
            let store = &stack.app.store;
            for _ in 0..2 {
                let Reservation::Granted(attempt) = store.reserve_attempt(&subject, policy).await.expect("store")
                else {
                    panic!("refused before the limit");
                };
                store.attempt_failed(attempt).await.expect("store");
            }
            tokio::time::sleep(policy.lock + Duration::from_millis(1100)).await;
            let racing = (0..20).map(|_| {
                let app = stack.app.clone();
                let subject = subject.clone();
                tokio::spawn(async move { app.store.reserve_attempt(&subject, policy).await })
            });
            let mut reports = 0;
            for outcome in futures::future::join_all(racing).await {
                if let Reservation::Granted(attempt) = outcome.expect("task").expect("store") {
                    reports += usize::from(attempt.ended_lock().is_some());
                }
            }
            reports
        })
        .await;
    assert_eq!(reports, 1, "attempts that reported the end of one lock");
}
