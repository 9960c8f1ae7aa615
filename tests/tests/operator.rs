//! The platform's operators over HTTP (RBAC-6): who reaches their routes, what they set on an
//! organisation (its lifecycle and subscription, ORG-1; its modules, ORG-2), and the two trails
//! every change of theirs is recorded in.

use quire_blackbox_tests::{harness, Harness, Reply};
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn terms(org: &quire_core::ids::OrgId) -> String {
    format!("/operator/organisations/{org}")
}

/// `PATCH`es the terms of `org` as `token`, at `version`.
async fn set(h: &Harness, token: &str, org: &quire_core::ids::OrgId, version: u64, body: Value) -> Reply {
    h.raw(
        h.request(Method::PATCH, &terms(org))
            .bearer_auth(token)
            .header("if-match", format!("\"{version}\""))
            .json(&body),
    )
    .await
}

async fn create(h: &Harness, token: &str) -> Reply {
    h.call(
        Method::POST,
        "/documents",
        Some(token),
        Some(json!({"title": "Operated", "type": "sop", "body": "x"})),
    )
    .await
}

/// The `operator.organisation.changed` entries of a trail.
fn operator_entries(entries: &[Value]) -> Vec<&Value> {
    quire_blackbox_tests::events_of(entries, &["operator.organisation.changed"])
}

/// An operator suspends an organisation's subscription and its writes are refused on the next
/// request, whatever the role, while reads go on; reactivated, writes go on. Each change is in
/// the organisation's trail and the platform's, made by the operator (as `PlatformOperator`),
/// with its reason and the record before and after, and both chains verify.
///
/// Proves: RBAC-6, ORG-1
#[tokio::test]
async fn an_operator_suspends_billing_and_both_trails_record_it() {
    let h = harness();
    let org = h.new_org("billed").await;
    let owner = h.token(&org, Role::Owner).await;
    let operator_email = h.new_operator(true).await;
    let operator = h.login(&operator_email).await;

    let read = h.call(Method::GET, &terms(&org.org_id), Some(&operator), None).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_eq!(
        (
            read.body["subscription"].as_str(),
            read.body["status"].as_str(),
            read.header("etag")
        ),
        (Some("active"), Some("active"), Some("\"1\""))
    );
    let suspended = set(
        h,
        &operator,
        &org.org_id,
        1,
        json!({"subscription": "suspended", "reason": "Invoice 2026-11 unpaid"}),
    )
    .await;
    assert_eq!(suspended.status, StatusCode::OK, "{}", suspended.text);
    assert_eq!(
        (suspended.body["subscription"].as_str(), suspended.header("etag")),
        (Some("suspended"), Some("\"2\""))
    );
    create(h, &owner)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "subscription-suspended");
    let listed = h.call(Method::GET, "/documents", Some(&owner), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let settings = h.call(Method::GET, "/organisation", Some(&owner), None).await;
    assert_eq!(settings.body["subscription"], "suspended", "{}", settings.text);

    let active = set(
        h,
        &operator,
        &org.org_id,
        2,
        json!({"subscription": "active", "reason": "Paid"}),
    )
    .await;
    assert_eq!(active.status, StatusCode::OK, "{}", active.text);
    assert_eq!(create(h, &owner).await.status, StatusCode::CREATED);

    // The organisation's trail, as its Owner reads it.
    h.audit_settled(&org).await;
    let own = h.audit_entries(&owner).await;
    let changes = operator_entries(&own);
    assert_eq!(changes.len(), 2, "{own:?}");
    for (change, (before, after, reason)) in changes.iter().zip([
        (None, "Suspended", "Invoice 2026-11 unpaid"),
        (Some("Suspended"), "Active", "Paid"),
    ]) {
        assert_eq!(change["actor"]["email"], operator_email.as_str());
        assert_eq!(change["actor"]["role"], "PlatformOperator");
        assert_eq!(
            change["target"],
            json!({"type": "organisation", "id": org.org_id.to_string()})
        );
        assert_eq!(change["before"]["subscription"].as_str(), before);
        assert_eq!(change["after"]["subscription"].as_str(), Some(after));
        assert_eq!(change["reason"].as_str(), Some(reason));
    }
    let verified = h.call(Method::GET, "/audit/verify", Some(&owner), None).await;
    assert_eq!(verified.body["valid"], true, "{}", verified.text);

    // The platform's trail holds the same changes, each its own entry of that chain.
    let platform = quire_core::ids::OrgId::platform();
    h.trail_settled(&platform).await;
    let entries = h.platform_entries().await;
    let copies: Vec<&Value> = operator_entries(&entries)
        .into_iter()
        .filter(|e| e["target"]["id"] == org.org_id.to_string())
        .collect();
    assert_eq!(copies.len(), 2, "{entries:?}");
    for (copy, change) in copies.iter().zip(&changes) {
        assert_eq!(copy["orgId"], "platform");
        assert_ne!(copy["eventId"], change["eventId"]);
        for field in ["action", "actor", "target", "before", "after", "reason", "at"] {
            assert_eq!(copy[field], change[field], "{field}");
        }
        assert_eq!(copy["origin"]["correlationId"], change["origin"]["correlationId"]);
    }
    h.assert_platform_chain_valid().await;
}

/// An operator sets the modules of a plan (ORG-2) and the lifecycle (ORG-1): a module left out
/// is refused, `null` is every module again; a trial that ended yesterday is read-only, one
/// that ended more than 14 days ago locked; a closed organisation admits no one; active again,
/// everything is served.
///
/// Proves: RBAC-6, ORG-1, ORG-2
#[tokio::test]
async fn an_operator_sets_the_plan_and_the_lifecycle() {
    let h = harness();
    let org = h.new_org("planned").await;
    let owner = h.token(&org, Role::Owner).await;
    let operator = h.login(&h.new_operator(true).await).await;

    let planned = set(
        h,
        &operator,
        &org.org_id,
        1,
        json!({"modules": ["Documents"], "reason": "Documents plan"}),
    )
    .await;
    assert_eq!(planned.body["modules"], json!(["Documents"]), "{}", planned.text);
    let audit = h.call(Method::GET, "/audit", Some(&owner), None).await;
    audit.assert_problem(StatusCode::FORBIDDEN, "module-not-in-plan");
    let every = set(
        h,
        &operator,
        &org.org_id,
        2,
        json!({"modules": null, "reason": "Full plan"}),
    )
    .await;
    assert_eq!(every.body["modules"], json!(null), "{}", every.text);
    assert_eq!(
        h.call(Method::GET, "/audit", Some(&owner), None).await.status,
        StatusCode::OK
    );

    let yesterday = humantime::format_rfc3339(std::time::SystemTime::now() - std::time::Duration::from_secs(86_400));
    let read_only = set(
        h,
        &operator,
        &org.org_id,
        3,
        json!({"status": "trial", "trialEndsAt": yesterday.to_string(), "reason": "Trial ended"}),
    )
    .await;
    assert_eq!(read_only.body["lifecycle"], "trial-ended", "{}", read_only.text);
    create(h, &owner)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "trial-ended");
    let listed = h.call(Method::GET, "/documents", Some(&owner), None).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    let ended = set(
        h,
        &operator,
        &org.org_id,
        4,
        json!({"status": "trial", "trialEndsAt": "2026-01-01T00:00:00Z", "reason": "Trial backdated"}),
    )
    .await;
    assert_eq!(
        (
            ended.body["status"].as_str(),
            ended.body["lifecycle"].as_str(),
            ended.body["trialEndsAt"].as_str()
        ),
        (Some("trial"), Some("locked"), Some("2026-01-01T00:00:00.000Z")),
        "{}",
        ended.text
    );
    create(h, &owner)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "organisation-locked");
    let closed = set(
        h,
        &operator,
        &org.org_id,
        5,
        json!({"status": "closed", "reason": "Contract ended"}),
    )
    .await;
    assert_eq!(
        (closed.body["status"].as_str(), closed.body["trialEndsAt"].as_str()),
        (Some("closed"), None),
        "{}",
        closed.text
    );
    h.call(Method::GET, "/documents", Some(&owner), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "no-membership");
    let reopened = set(
        h,
        &operator,
        &org.org_id,
        6,
        json!({"status": "active", "reason": "Renewed"}),
    )
    .await;
    assert_eq!(reopened.status, StatusCode::OK, "{}", reopened.text);
    // The closure revoked nothing: the Owner's session is served again.
    assert_eq!(create(h, &owner).await.status, StatusCode::CREATED);
}

/// Operators' routes need both grants: a member of the operators' organisation whose token
/// carries the operators' Cognito group. An organisation's Owner is refused, even in the group;
/// an operator without the group is refused; an operator reaches no organisation's route, but
/// their own account.
///
/// Proves: RBAC-6
#[tokio::test]
async fn only_operators_reach_their_routes_and_operators_reach_no_organisation() {
    let h = harness();
    let org = h.new_org("apart").await;
    let owner = h.token(&org, Role::Owner).await;
    let path = terms(&org.org_id);
    h.call(Method::GET, &path, Some(&owner), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "operators-only");
    h.call(Method::GET, &path, None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");

    // An Owner put in the group by mistake is still no operator.
    let owner_email = org.user(Role::Owner).email.clone();
    h.cognito()
        .admin_add_user_to_group()
        .user_pool_id(&h.user_pool_id)
        .username(&owner_email)
        .group_name(quire_core::rbac::OPERATORS_GROUP)
        .send()
        .await
        .expect("add to group");
    let grouped = h.login(&owner_email).await;
    h.call(Method::GET, &path, Some(&grouped), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "operators-only");
    set(
        h,
        &grouped,
        &org.org_id,
        1,
        json!({"subscription": "suspended", "reason": "x"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "operators-only");

    // A member of the operators' organisation outside the group is no operator either.
    let ungrouped = h.login(&h.new_operator(false).await).await;
    h.call(Method::GET, &path, Some(&ungrouped), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "operators-only");
    set(
        h,
        &ungrouped,
        &org.org_id,
        1,
        json!({"subscription": "suspended", "reason": "x"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "operators-only");

    // An operator whose session passed no second factor reaches nothing of theirs, whatever
    // their membership's role.
    let unproven = h.login(&h.new_operator_as(Role::User, true).await).await;
    h.call(Method::GET, &path, Some(&unproven), None)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "mfa-required");

    let operator = h.login(&h.new_operator(true).await).await;
    for (method, route) in [
        (Method::GET, "/documents"),
        (Method::GET, "/members"),
        (Method::GET, "/organisation"),
        (Method::GET, "/audit"),
        (Method::GET, "/invitations"),
    ] {
        h.call(method, route, Some(&operator), None)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "not-for-operators");
    }
    create(h, &operator)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "not-for-operators");
    let me = h.call(Method::GET, "/auth/me", Some(&operator), None).await;
    assert_eq!(
        (me.status, me.body["organisationId"].as_str()),
        (StatusCode::OK, Some("operators")),
        "{}",
        me.text
    );
    // Nothing above changed the organisation.
    let read = h.call(Method::GET, &path, Some(&operator), None).await;
    assert_eq!(read.header("etag"), Some("\"1\""), "{}", read.text);
}

/// Bad input changes nothing: no `If-Match` (428), a stale one (412), no reason, no term, a
/// status only registration sets, an unknown field (400), an organisation that does not exist,
/// the platform's trail and the operators' own organisation (404).
///
/// Proves: RBAC-6, HTTP-2
#[tokio::test]
async fn an_operators_bad_request_changes_nothing() {
    let h = harness();
    let org = h.new_org("strict").await;
    let operator = h.login(&h.new_operator(true).await).await;
    let suspend = json!({"subscription": "suspended", "reason": "Unpaid"});
    h.call(
        Method::PATCH,
        &terms(&org.org_id),
        Some(&operator),
        Some(suspend.clone()),
    )
    .await
    .assert_problem(StatusCode::PRECONDITION_REQUIRED, "precondition-required");
    set(h, &operator, &org.org_id, 7, suspend.clone())
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, "precondition-failed");
    for body in [
        json!({"subscription": "suspended"}),
        json!({"reason": "Nothing"}),
        json!({"status": "pending", "reason": "Back to pending"}),
        json!({"subscription": "suspended", "plan": "gold", "reason": "x"}),
        json!({"status": "trial", "reason": "No end"}),
    ] {
        set(h, &operator, &org.org_id, 1, body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    }
    for id in ["platform", "operators", "0b7c1e9a-0000-4000-8000-000000000000"] {
        let missing = quire_core::ids::OrgId::parse(id).expect("an id");
        h.call(Method::GET, &terms(&missing), Some(&operator), None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
        set(h, &operator, &missing, 1, suspend.clone())
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not-found");
    }
    // What is already so changes nothing either: no version, no entry.
    let same = set(
        h,
        &operator,
        &org.org_id,
        1,
        json!({"subscription": "active", "modules": null, "reason": "x"}),
    )
    .await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text);
    let read = h.call(Method::GET, &terms(&org.org_id), Some(&operator), None).await;
    assert_eq!(
        (read.header("etag"), read.body["subscription"].as_str()),
        (Some("\"1\""), Some("active")),
        "{}",
        read.text
    );
    let platform = quire_core::ids::OrgId::platform();
    h.trail_settled(&platform).await;
    let entries = h.platform_entries().await;
    assert!(
        operator_entries(&entries)
            .iter()
            .all(|e| e["target"]["id"] != org.org_id.to_string()),
        "nothing recorded about {}",
        org.org_id
    );
}

/// An organisation awaiting its Owner's email confirmation is its registration's: an operator
/// reads it (`pending`) and changes nothing (409).
///
/// Proves: RBAC-6, AUTHN-6
#[tokio::test]
async fn an_operator_leaves_a_pending_registration_alone() {
    let h = harness();
    let operator = h.login(&h.new_operator(true).await).await;
    let email = format!("pending-{}@example.test", quire_blackbox_tests::uuid_hex());
    let registered = h
        .call_from(
            quire_blackbox_tests::fresh_address(),
            Method::POST,
            "/auth/register",
            None,
            Some(json!({
                "organisationName": "Pending Labs",
                "email": email,
                "password": h.password,
                "displayName": "Pat Pending",
            })),
        )
        .await;
    assert_eq!(registered.status, StatusCode::ACCEPTED, "{}", registered.text);
    let user = h
        .cognito()
        .admin_get_user()
        .user_pool_id(&h.user_pool_id)
        .username(&email)
        .send()
        .await
        .expect("the registrant's user");
    let org = user
        .user_attributes()
        .iter()
        .find(|a| a.name() == "custom:org_id")
        .and_then(|a| a.value())
        .map(|id| quire_core::ids::OrgId::parse(id).expect("an organisation id"))
        .expect("the registration's organisation");
    let read = h.call(Method::GET, &terms(&org), Some(&operator), None).await;
    assert_eq!(read.body["status"], "pending", "{}", read.text);
    set(
        h,
        &operator,
        &org,
        1,
        json!({"status": "active", "reason": "Skip the confirmation"}),
    )
    .await
    .assert_problem(StatusCode::CONFLICT, "conflict");
    let again = h.call(Method::GET, &terms(&org), Some(&operator), None).await;
    assert_eq!(
        (again.body["status"].as_str(), again.header("etag")),
        (Some("pending"), Some("\"1\"")),
        "{}",
        again.text
    );
}

/// An operator's change and the Owner's own settings change, racing against the same version:
/// exactly one is written, the other is told its version is stale (412, whether its read or its
/// conditional write found the other's change first), and neither undoes the other.
///
/// Proves: RBAC-6, ORG-1
#[tokio::test]
async fn an_operator_and_an_owner_racing_on_one_version_never_undo_each_other() {
    let h = harness();
    let org = h.new_org("raced").await;
    let owner = h.token(&org, Role::Owner).await;
    let operator = h.login(&h.new_operator(true).await).await;
    let owners = h.raw(
        h.request(Method::PATCH, "/organisation")
            .bearer_auth(&owner)
            .header("if-match", "\"1\"")
            .json(&json!({"name": "Raced Labs", "reason": "Rename"})),
    );
    let operators = set(
        h,
        &operator,
        &org.org_id,
        1,
        json!({"subscription": "suspended", "reason": "Unpaid"}),
    );
    let (owners, operators) = tokio::join!(owners, operators);
    let mut statuses = [owners.status, operators.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::PRECONDITION_FAILED],
        "{} / {}",
        owners.text,
        operators.text
    );
    let read = h.call(Method::GET, &terms(&org.org_id), Some(&operator), None).await;
    assert_eq!(read.header("etag"), Some("\"2\""));
    let renamed = read.body["name"] == "Raced Labs";
    let suspended = read.body["subscription"] == "suspended";
    assert!(renamed != suspended, "exactly the winner's change: {}", read.text);
}
