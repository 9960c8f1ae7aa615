//! An organisation's settings over HTTP (`GET` and `PATCH /organisation`): its Owners change its
//! name, its members' session limits (AUTHN-8) and its IP allowlist (ORG-3) with a reason, against
//! the version they read; every change is one audit entry with the record before and after; an
//! allowlist that would refuse its own sender needs `confirmLockout`; bad input changes nothing.
//! Locally the viewer's address is the test client's loopback address (127.0.0.0/8).

use quire_blackbox_tests::{events_of, harness, Harness, Reply};
use quire_core::rbac::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::net::IpAddr;

fn address(text: &str) -> IpAddr {
    text.parse().expect("address")
}

/// `PATCH /organisation` from `from`, with `If-Match: "<version>"` when given one.
async fn patch(h: &Harness, from: &str, token: &str, version: Option<&str>, body: Value) -> Reply {
    let mut request = h
        .request_from(address(from), Method::PATCH, "/organisation")
        .bearer_auth(token)
        .json(&body);
    if let Some(version) = version {
        request = request.header("if-match", version);
    }
    h.raw(request).await
}

async fn read(h: &Harness, from: &str, token: &str) -> Reply {
    h.call_from(address(from), Method::GET, "/organisation", Some(token), None)
        .await
}

async fn updates(h: &Harness, org: &quire_core::ids::OrgId) -> Vec<Value> {
    h.trail_settled(org).await;
    events_of(&h.trail_entries(org).await, &["organisation.updated"])
        .into_iter()
        .cloned()
        .collect()
}

/// An Owner reads the settings with their version, and changes them against it: each change is
/// one `organisation.updated` entry with the record before and after, the reason and the Owner;
/// the list is stored in canonical form; a change to what is set writes nothing; `null` returns
/// a session limit to the default. Without `If-Match` 428, with a stale one 412, nothing written.
///
/// Proves: ORG-3, AUTHN-8, AUD-1, AUD-3, HTTP-5
#[tokio::test]
async fn an_owner_changes_the_settings_against_their_version_each_change_recorded() {
    let h = harness();
    let org = h.new_org("orgsettings").await;
    let owner = h.token(&org, Role::Owner).await;
    let from = "127.0.0.1";

    let first = read(h, from, &owner).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    assert_eq!(first.header("etag"), Some("\"1\""));
    assert_eq!(first.body["id"], org.org_id.as_str());
    assert_eq!(first.body["status"], "active");
    assert_eq!(first.body["version"], 1);
    assert_eq!(first.body["sessionIdleMinutes"], Value::Null);
    assert_eq!(first.body["ipAllowlist"], json!([]));

    let change = json!({
        "name": "Acme Laboratories",
        "sessionIdleMinutes": 60,
        "sessionMaxHours": 10,
        "ipAllowlist": ["127.1.2.3/8", "2001:DB8::/32", "127.0.0.0/8"],
        "reason": "Access review 2026-Q4",
    });
    patch(h, from, &owner, None, change.clone())
        .await
        .assert_problem(StatusCode::PRECONDITION_REQUIRED, "precondition-required");
    patch(h, from, &owner, Some("\"2\""), change.clone())
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, "precondition-failed");
    assert!(updates(h, &org.org_id).await.is_empty());

    let changed = patch(h, from, &owner, Some("\"1\""), change.clone()).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.header("etag"), Some("\"2\""));
    assert_eq!(changed.body["name"], "Acme Laboratories");
    assert_eq!(changed.body["sessionIdleMinutes"], 60);
    assert_eq!(changed.body["sessionMaxHours"], 10);
    assert_eq!(changed.body["ipAllowlist"], json!(["127.0.0.0/8", "2001:db8::/32"]));
    assert_eq!(changed.body["version"], 2);
    // What an Admin reads is what was written.
    let admin = h.token(&org, Role::Admin).await;
    assert_eq!(read(h, from, &admin).await.body, changed.body);

    let recorded = updates(h, &org.org_id).await;
    assert_eq!(recorded.len(), 1);
    let entry = &recorded[0];
    assert_eq!(entry["reason"], "Access review 2026-Q4");
    assert_eq!(entry["actor"]["userId"], org.user(Role::Owner).user_id.as_str());
    assert_eq!(entry["actor"]["role"], "Owner");
    assert_eq!(entry["target"]["id"], org.org_id.as_str());
    assert_eq!(entry["before"]["version"], 1);
    assert_eq!(entry["before"]["name"], first.body["name"]);
    assert!(entry["before"].get("ipAllowlist").is_none(), "{entry}");
    assert_eq!(entry["after"]["version"], 2);
    assert_eq!(entry["after"]["name"], "Acme Laboratories");
    assert_eq!(entry["after"]["sessionIdleMinutes"], 60);
    assert_eq!(entry["after"]["ipAllowlist"], json!(["127.0.0.0/8", "2001:db8::/32"]));

    // The same settings again: nothing changes, nothing is recorded, the version stays.
    let same = patch(h, from, &owner, Some("\"2\""), change).await;
    assert_eq!(same.status, StatusCode::OK, "{}", same.text);
    assert_eq!(same.body["version"], 2);
    // The old version is stale now.
    let reset = json!({"sessionIdleMinutes": null, "ipAllowlist": [], "reason": "Back to the defaults"});
    patch(h, from, &owner, Some("\"1\""), reset.clone())
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, "precondition-failed");
    let back = patch(h, from, &owner, Some("\"2\""), reset).await;
    assert_eq!(back.status, StatusCode::OK, "{}", back.text);
    assert_eq!(back.body["sessionIdleMinutes"], Value::Null);
    assert_eq!(back.body["sessionMaxHours"], 10);
    assert_eq!(back.body["ipAllowlist"], json!([]));
    assert_eq!(back.body["version"], 3);
    let recorded = updates(h, &org.org_id).await;
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[1]["before"]["sessionIdleMinutes"], 60);
    assert!(recorded[1]["after"].get("sessionIdleMinutes").is_none());
}

/// Owners change the settings; Admins read them and may not change them; Users and Viewers may
/// do neither; each caller reads only their own organisation's.
///
/// Proves: RBAC-2, RBAC-3, TEN-1
#[tokio::test]
async fn only_owners_change_the_settings_and_only_administrators_read_them() {
    let h = harness();
    let org = h.new_org("orgroles").await;
    let other = h.new_org("orgrolesother").await;
    let from = "127.0.0.1";
    let body = json!({"name": "Taken over", "reason": "Not mine to change"});
    for role in [Role::Admin, Role::User, Role::Viewer] {
        let token = h.token(&org, role).await;
        patch(h, from, &token, Some("\"1\""), body.clone())
            .await
            .assert_problem(StatusCode::FORBIDDEN, "forbidden");
        let read = read(h, from, &token).await;
        if role == Role::Admin {
            assert_eq!(read.status, StatusCode::OK, "{}", read.text);
        } else {
            read.assert_problem(StatusCode::FORBIDDEN, "forbidden");
        }
    }
    assert!(updates(h, &org.org_id).await.is_empty());
    let outsider = h.token(&other, Role::Owner).await;
    assert_eq!(read(h, from, &outsider).await.body["id"], other.org_id.as_str());
    h.call(Method::GET, "/organisation", None, None)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "unauthorized");
}

/// An allowlist that excludes the address the request saving it comes from is refused with 409
/// `lockout-not-confirmed` and nothing changes; with `confirmLockout: true` it is saved, and the
/// sender's next request is refused while one from inside the list is served. IPv6 ranges are
/// stored beside IPv4 ones.
///
/// Proves: ORG-3
#[tokio::test]
async fn an_allowlist_that_excludes_its_sender_is_saved_only_when_confirmed() {
    let h = harness();
    let org = h.new_org("orglockout").await;
    let owner = h.token(&org, Role::Owner).await;
    let user = h.token(&org, Role::User).await;
    let sender = "127.230.0.1";
    let list = json!({"ipAllowlist": ["127.231.0.0/16", "2001:db8::/48"], "reason": "Office only"});
    patch(h, sender, &owner, Some("\"1\""), list.clone())
        .await
        .assert_problem(StatusCode::CONFLICT, "lockout-not-confirmed");
    let mut unconfirmed = list.clone();
    unconfirmed["confirmLockout"] = json!(false);
    patch(h, sender, &owner, Some("\"1\""), unconfirmed)
        .await
        .assert_problem(StatusCode::CONFLICT, "lockout-not-confirmed");
    assert_eq!(read(h, sender, &owner).await.body["version"], 1);
    assert!(updates(h, &org.org_id).await.is_empty());

    // Sent from inside the new list, no confirmation is needed.
    let mut inside = list.clone();
    inside["ipAllowlist"] = json!(["127.230.0.0/24", "2001:db8::/48"]);
    let saved = patch(h, sender, &owner, Some("\"1\""), inside).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);

    let mut confirmed = list;
    confirmed["confirmLockout"] = json!(true);
    let saved = patch(h, sender, &owner, Some("\"2\""), confirmed).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.text);
    assert_eq!(saved.body["ipAllowlist"], json!(["127.231.0.0/16", "2001:db8::/48"]));
    read(h, sender, &owner)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");
    let documents = h
        .call_from(address(sender), Method::GET, "/documents", Some(&user), None)
        .await;
    documents.assert_problem(StatusCode::FORBIDDEN, "ip-not-allowed");
    let served = h
        .call_from(address("127.231.9.9"), Method::GET, "/documents", Some(&user), None)
        .await;
    assert_eq!(served.status, StatusCode::OK, "{}", served.text);
    assert_eq!(updates(h, &org.org_id).await.len(), 2);
}

/// Hostile and out-of-bounds bodies are refused with 400 `invalid-body` naming the field, and
/// change nothing: the version stays and nothing is recorded.
///
/// Proves: ORG-3, AUTHN-8, HTTP-4
#[tokio::test]
async fn bad_settings_are_refused_and_change_nothing() {
    let h = harness();
    let org = h.new_org("orgbad").await;
    let owner = h.token(&org, Role::Owner).await;
    let from = "127.0.0.1";
    let many: Vec<String> = (0..101).map(|i| format!("10.{i}.0.0/16")).collect();
    for (body, field) in [
        (json!({"reason": "Nothing"}), None),
        (json!({"name": "Acme"}), Some("reason")),
        (json!({"name": "Acme", "reason": "   "}), Some("reason")),
        (json!({"name": null, "reason": "r"}), Some("name")),
        (json!({"name": "", "reason": "r"}), Some("name")),
        (json!({"name": "a".repeat(121), "reason": "r"}), Some("name")),
        (json!({"name": "Line\nbreak", "reason": "r"}), Some("name")),
        (json!({"name": "A\u{200b}cme", "reason": "r"}), Some("name")),
        (json!({"name": "Acme", "reason": "two\u{2028}lines"}), Some("reason")),
        (json!({"name": "Acme", "reason": "Line\nbreak"}), Some("reason")),
        (json!({"status": "Closed", "reason": "r"}), Some("status")),
        (json!({"version": 9, "reason": "r"}), Some("version")),
        (
            json!({"sessionIdleMinutes": 14, "reason": "r"}),
            Some("sessionIdleMinutes"),
        ),
        (
            json!({"sessionIdleMinutes": 721, "reason": "r"}),
            Some("sessionIdleMinutes"),
        ),
        (
            json!({"sessionIdleMinutes": -1, "reason": "r"}),
            Some("sessionIdleMinutes"),
        ),
        (
            json!({"sessionIdleMinutes": "60", "reason": "r"}),
            Some("sessionIdleMinutes"),
        ),
        (json!({"sessionMaxHours": 0, "reason": "r"}), Some("sessionMaxHours")),
        (json!({"sessionMaxHours": 25, "reason": "r"}), Some("sessionMaxHours")),
        (
            json!({"sessionIdleMinutes": 180, "sessionMaxHours": 2, "reason": "r"}),
            Some("sessionIdleMinutes"),
        ),
        (json!({"ipAllowlist": null, "reason": "r"}), Some("ipAllowlist")),
        (
            json!({"ipAllowlist": "127.0.0.0/8", "reason": "r"}),
            Some("ipAllowlist"),
        ),
        (
            json!({"ipAllowlist": ["127.0.0.0/8", "nope"], "reason": "r"}),
            Some("ipAllowlist"),
        ),
        (
            json!({"ipAllowlist": ["127.0.0.0/33"], "reason": "r"}),
            Some("ipAllowlist"),
        ),
        (
            json!({"ipAllowlist": ["0127.0.0.0/8"], "reason": "r"}),
            Some("ipAllowlist"),
        ),
        (json!({"ipAllowlist": [1], "reason": "r"}), Some("ipAllowlist")),
        (json!({"ipAllowlist": many, "reason": "r"}), Some("ipAllowlist")),
        (
            json!({"confirmLockout": "yes", "name": "Acme", "reason": "r"}),
            Some("confirmLockout"),
        ),
        (json!([{"name": "Acme", "reason": "r"}]), None),
    ] {
        let refused = patch(h, from, &owner, Some("\"1\""), body.clone()).await;
        refused.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
        match field {
            Some(field) => assert!(
                refused.body["field"].as_str().is_some_and(|f| f.starts_with(field)),
                "{body}: {}",
                refused.text
            ),
            None => assert!(refused.body.get("field").is_none(), "{body}: {}", refused.text),
        }
        assert!(!refused.text.contains("quire_"), "{}", refused.text);
    }
    // Other control characters and bidirectional overrides anywhere in the body are the
    // request filter's.
    for body in [
        json!({"name": "Acme", "reason": "x\u{202e}y"}),
        json!({"name": "Acme\u{7}", "reason": "r"}),
    ] {
        patch(h, from, &owner, Some("\"1\""), body)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "control-characters");
    }
    // The session limits' check is against what is stored too: a stored absolute limit of 2
    // hours refuses a longer idle limit sent alone.
    let max = patch(
        h,
        from,
        &owner,
        Some("\"1\""),
        json!({"sessionMaxHours": 2, "reason": "Short"}),
    )
    .await;
    assert_eq!(max.status, StatusCode::OK, "{}", max.text);
    patch(
        h,
        from,
        &owner,
        Some("\"2\""),
        json!({"sessionIdleMinutes": 121, "reason": "Long"}),
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    // An absolute limit sent alone, shorter than the stored idle limit, is named itself.
    patch(
        h,
        from,
        &owner,
        Some("\"2\""),
        json!({"sessionIdleMinutes": 120, "reason": "Two hours"}),
    )
    .await;
    let shorter = patch(
        h,
        from,
        &owner,
        Some("\"3\""),
        json!({"sessionMaxHours": 1, "reason": "Short"}),
    )
    .await;
    shorter.assert_problem(StatusCode::BAD_REQUEST, "invalid-body");
    assert_eq!(shorter.body["field"], "sessionMaxHours", "{}", shorter.text);
    assert_eq!(read(h, from, &owner).await.body["version"], 3);
    assert_eq!(updates(h, &org.org_id).await.len(), 2);
}

/// Changes racing against the same version: exactly one is made and recorded, every other is
/// refused with 412 and recorded nowhere.
///
/// Proves: HTTP-5, AUD-1
#[tokio::test]
async fn racing_changes_of_one_version_make_exactly_one() {
    let h = harness();
    let org = h.new_org("orgrace").await;
    let owner = h.token(&org, Role::Owner).await;
    let racers = (0..8).map(|i| {
        let owner = owner.clone();
        async move {
            patch(
                h,
                "127.0.0.1",
                &owner,
                Some("\"1\""),
                json!({"name": format!("Racer {i}"), "reason": "Race"}),
            )
            .await
        }
    });
    let replies = futures::future::join_all(racers).await;
    let made: Vec<&Reply> = replies.iter().filter(|r| r.status == StatusCode::OK).collect();
    assert_eq!(made.len(), 1, "{replies:?}");
    // A loser finds the version changed (412), or, on DynamoDB, may find the winner's
    // transaction still in flight twice (503 `contended`, to be sent again).
    for refused in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert!(
            ["urn:quire:problem:precondition-failed", "urn:quire:problem:contended"].contains(&refused.problem_type()),
            "{}",
            refused.text
        );
    }
    let recorded = updates(h, &org.org_id).await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["after"]["name"], made[0].body["name"]);
    assert_eq!(read(h, "127.0.0.1", &owner).await.body["name"], made[0].body["name"]);
}

/// A change made against a record read before its status changed is refused, even when the
/// status was changed without moving the version (an edit made outside Quire): a settings
/// change never writes back a status, a trial's end, a subscription or a plan it did not read.
///
/// Proves: ORG-1, ORG-3
#[tokio::test]
async fn a_change_never_writes_back_a_status_it_did_not_read() {
    use quire_core::audit::{Action, Actor, Origin};
    use quire_store::organisation::OrganisationChange;
    let h = harness();
    let org = h.new_org("orgstatus").await;
    let profile = quire_store::testing::organisation(&org.org_id);
    for (name, value) in [
        ("status", "Suspended"),
        ("trialEndsAt", "1800000000000"),
        ("subscription", "Suspended"),
        ("modules", "Documents"),
    ] {
        let org_id = org.org_id.clone();
        let read = h
            .on_stack(move |stack| async move {
                stack
                    .app
                    .store
                    .organisation(&quire_store::testing::scope(&org_id))
                    .await
                    .expect("the record")
            })
            .await;
        match name {
            "trialEndsAt" => h.tamper_number(profile.clone(), name, value.parse().unwrap()).await,
            "modules" => h.tamper_list(profile.clone(), name, &[value]).await,
            _ => h.tamper(profile.clone(), name, value).await,
        }
        let org_id = org.org_id.clone();
        let outcome = h
            .on_stack(move |stack| async move {
                let audit = quire_store::AuditContext::for_route(
                    Actor::system("test"),
                    Origin::new(None, None, "corr-status"),
                    &[Action::OrganisationUpdated],
                );
                let change = OrganisationChange {
                    name: Some("Renamed".into()),
                    ..Default::default()
                };
                stack
                    .app
                    .store
                    .change_organisation(&quire_store::testing::scope(&org_id), audit, &read, &change, "r")
                    .await
            })
            .await;
        assert!(
            matches!(outcome, Err(quire_store::StoreError::Conflict)),
            "{name}: {outcome:?}"
        );
        h.tamper(profile.clone(), "status", "Active").await;
    }
    assert!(updates(h, &org.org_id).await.is_empty());
}

/// `PUT /organisation/roles/{role}`.
async fn put_role(h: &Harness, token: &str, role: &str, version: &str, body: Value) -> Reply {
    h.raw(
        h.request(Method::PUT, &format!("/organisation/roles/{role}"))
            .bearer_auth(token)
            .header("if-match", version)
            .json(&body),
    )
    .await
}

/// An organisation adjusts its roles' grants within the bounds (RBAC-1): the next request of a
/// member of the role is answered by the new grants; each change is one `organisation.updated`
/// with the matrix before and after; the Owner's grants are fixed, a Viewer never writes, only
/// roles that must pass a second factor administer, and nobody grants or takes away what they
/// do not hold, even an Admin the Owner let manage the organisation (who sets no allowlist).
///
/// Proves: RBAC-1, RBAC-3, RBAC-4, AUTHN-7
#[tokio::test]
async fn an_organisation_adjusts_its_roles_within_the_bounds() {
    let h = harness();
    let org = h.new_org("orgroles2").await;
    let owner = h.token(&org, Role::Owner).await;
    let user = h.token(&org, Role::User).await;
    let roles = h.call(Method::GET, "/organisation/roles", Some(&owner), None).await;
    assert_eq!(roles.status, StatusCode::OK, "{}", roles.text);
    assert_eq!(roles.header("etag"), Some("\"1\""));
    let user_role = roles.body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "User")
        .cloned()
        .expect("the User role");
    assert_eq!(
        user_role["permissions"],
        json!(["DocumentRead", "DocumentCreate", "DocumentEdit", "DocumentApprove"])
    );
    assert_eq!(user_role["adjusted"], false);

    let read_only = json!({"permissions": ["DocumentRead"], "reason": "Authors only in QA"});
    let adjusted = put_role(h, &owner, "User", "\"1\"", read_only.clone()).await;
    assert_eq!(adjusted.status, StatusCode::OK, "{}", adjusted.text);
    assert_eq!(adjusted.header("etag"), Some("\"2\""));
    // The User's next request, with the token they hold.
    h.call(
        Method::POST,
        "/documents",
        Some(&user),
        Some(json!({"title": "x", "type": "sop", "body": "y"})),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        h.call(Method::GET, "/documents", Some(&user), None).await.status,
        StatusCode::OK
    );
    put_role(h, &owner, "User", "\"1\"", read_only)
        .await
        .assert_problem(StatusCode::PRECONDITION_FAILED, "precondition-failed");

    for (role, body, status, problem) in [
        (
            "Owner",
            json!({"permissions": ["DocumentRead"], "reason": "r"}),
            403,
            "role-not-grantable",
        ),
        ("Superuser", json!({"permissions": [], "reason": "r"}), 404, "not-found"),
        (
            "Viewer",
            json!({"permissions": ["DocumentRead", "DocumentCreate"], "reason": "r"}),
            400,
            "invalid-body",
        ),
        (
            "Viewer",
            json!({"permissions": ["DocumentRead", "Everything"], "reason": "r"}),
            400,
            "invalid-body",
        ),
        (
            "Viewer",
            json!({"permissions": ["DocumentRead", "DocumentRead"], "reason": "r"}),
            400,
            "invalid-body",
        ),
        (
            "Viewer",
            json!({"permissions": [{"DocumentRead": null}], "reason": "r"}),
            400,
            "invalid-body",
        ),
        ("Viewer", json!({"permissions": ["DocumentRead"]}), 400, "invalid-body"),
        (
            "User",
            json!({"permissions": ["DocumentRead", "UserManage"], "reason": "r"}),
            400,
            "invalid-body",
        ),
        (
            "Viewer",
            json!({"permissions": ["OrganisationManage"], "reason": "r"}),
            400,
            "invalid-body",
        ),
    ] {
        put_role(h, &owner, role, "\"2\"", body.clone())
            .await
            .assert_problem(StatusCode::from_u16(status).unwrap(), problem);
    }

    // Viewers may verify the trail's quick check here (a permission that writes nothing).
    let viewers = json!({"permissions": ["DocumentRead", "AuditVerify"], "reason": "QA checks the chain"});
    let viewers = put_role(h, &owner, "Viewer", "\"2\"", viewers).await;
    assert_eq!(viewers.status, StatusCode::OK, "{}", viewers.text);
    // The Owner lets Admins manage the organisation, but not verify the trail: an Admin then
    // grants what they hold, takes away only what they hold, and sets no IP allowlist.
    let admins = json!({
        "permissions": ["DocumentRead", "AuditRead", "UserManage", "MemberRead", "OrganisationRead", "OrganisationManage"],
        "reason": "Admins run the settings",
    });
    let delegated = put_role(h, &owner, "Admin", "\"3\"", admins).await;
    assert_eq!(delegated.status, StatusCode::OK, "{}", delegated.text);
    let admin = h.token(&org, Role::Admin).await;
    put_role(
        h,
        &admin,
        "User",
        "\"4\"",
        json!({"permissions": ["AuditVerify"], "reason": "r"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
    put_role(
        h,
        &admin,
        "Viewer",
        "\"4\"",
        json!({"permissions": ["DocumentRead"], "reason": "r"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
    patch(
        h,
        "127.0.0.1",
        &admin,
        Some("\"4\""),
        json!({"ipAllowlist": ["127.0.0.0/8"], "reason": "r"}),
    )
    .await
    .assert_problem(StatusCode::FORBIDDEN, "role-not-grantable");
    let granted = put_role(
        h,
        &admin,
        "User",
        "\"4\"",
        json!({"permissions": ["DocumentRead", "AuditRead"], "reason": "QA reads the trail"}),
    )
    .await;
    assert_eq!(granted.status, StatusCode::OK, "{}", granted.text);

    let recorded = updates(h, &org.org_id).await;
    assert_eq!(recorded.len(), 4);
    assert!(
        recorded[0]["before"].get("rolePermissions").is_none(),
        "{}",
        recorded[0]
    );
    assert_eq!(
        recorded[0]["after"]["rolePermissions"],
        json!({"User": ["DocumentRead"]})
    );
    assert_eq!(recorded[0]["reason"], "Authors only in QA");
    assert_eq!(recorded[3]["actor"]["role"], "Admin");
    assert_eq!(
        recorded[3]["after"]["rolePermissions"]["User"],
        json!(["DocumentRead", "AuditRead"])
    );
}
