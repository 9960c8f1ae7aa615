//! The edge stage: who may skip CloudFront (nobody, when there is one) and whose word the
//! viewer's address is.

use super::*;
use serde_json::{json, Value};

const SECRET: &str = "a-test-origin-secret-of-forty-characters";
const PREVIOUS: &str = "the-previous-origin-secret-of-forty-chars";

fn event(headers: Value) -> Request {
    crate::event::request(json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/health",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": { "method": "GET", "path": "/health", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.10", "userAgent": "t" },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1_777_638_896_000u64,
        },
        "isBase64Encoded": false,
    }))
    .expect("a readable event")
}

fn verified() -> CheckEdge {
    CheckEdge::new(Edge::Verified(Arc::new(OriginVerifier::fixed(
        OriginSecrets::new([SECRET, PREVIOUS], "test").expect("long enough"),
    ))))
}

fn assert_refused(outcome: Result<Request, Problem>, what: &str) {
    match outcome {
        Err(problem) => {
            assert_eq!(problem.status(), 403, "{what}");
            assert_eq!(problem.type_uri(), "urn:quire:problem:edge-required", "{what}");
        }
        Ok(_) => panic!("{what}: let through"),
    }
}

#[test]
fn the_viewer_address_is_read_as_cloudfront_writes_it() {
    let cases: [(&str, Option<&str>); 10] = [
        ("198.51.100.10:46532", Some("198.51.100.10")),
        (
            "2001:db8:3333:4444:5555:6666:7777:8888:46532",
            Some("2001:db8:3333:4444:5555:6666:7777:8888"),
        ),
        ("2001:db8::1:443", Some("2001:db8::1")),
        ("[2001:db8::1]:443", Some("2001:db8::1")),
        ("198.51.100.10", None),
        ("198.51.100.10:", None),
        ("198.51.100.10:70000", None),
        ("example.com:443", None),
        ("198.51.100.10:443, 203.0.113.1:443", None),
        ("", None),
    ];
    for (value, expected) in cases {
        assert_eq!(
            viewer_address(value),
            expected.map(|ip| ip.parse::<IpAddr>().unwrap()),
            "{value:?}"
        );
    }
}

/// Proves: HTTP-8
#[test]
fn only_the_current_or_previous_secret_is_admitted() {
    let secrets = OriginSecrets::new([SECRET, PREVIOUS], "test").unwrap();
    assert!(secrets.admits(SECRET.as_bytes()));
    assert!(secrets.admits(PREVIOUS.as_bytes()));
    for wrong in [
        "",
        &SECRET[..SECRET.len() - 1],
        &format!("{SECRET}x"),
        &SECRET.to_uppercase(),
    ] {
        assert!(!secrets.admits(wrong.as_bytes()), "{wrong:?}");
    }
    assert!(matches!(
        OriginSecrets::new(["short"], "test"),
        Err(EdgeError::TooShort(_))
    ));
    assert!(
        !format!("{secrets:?}").contains(SECRET),
        "Debug must not print the secret"
    );
}

/// Proves: HTTP-8
#[tokio::test]
async fn without_the_secret_a_request_is_refused() {
    let edge = verified();
    assert_refused(edge.check(event(json!({}))).await, "no secret");
    assert_refused(
        edge.check(event(
            json!({ "x-quire-origin-verify": "guess", "cloudfront-viewer-address": "203.0.113.9:1" }),
        ))
        .await,
        "a wrong secret",
    );
    assert_refused(
        edge.check(event(json!({ "x-quire-origin-verify": format!("{SECRET},{SECRET}") })))
            .await,
        "the secret twice, as API Gateway joins repeated headers",
    );
}

/// Proves: HTTP-8
#[tokio::test]
async fn through_the_edge_the_viewer_is_cloudfronts_and_the_secret_goes_no_further() {
    let edge = verified();
    for secret in [SECRET, PREVIOUS] {
        let req = edge
            .check(event(
                json!({ "x-quire-origin-verify": secret, "cloudfront-viewer-address": "203.0.113.9:5123" }),
            ))
            .await
            .expect("admitted");
        assert_eq!(
            req.extensions().get::<Viewer>(),
            Some(&Viewer("203.0.113.9".parse().unwrap()))
        );
        assert!(req.headers().get(ORIGIN_VERIFY).is_none());
        assert!(req.headers().get(VIEWER_ADDRESS).is_none());
    }
    let unreadable = edge
        .check(event(
            json!({ "x-quire-origin-verify": SECRET, "cloudfront-viewer-address": "somewhere" }),
        ))
        .await;
    assert_eq!(
        unreadable.err().map(|p| p.status()),
        Some(http::StatusCode::BAD_REQUEST)
    );
}

/// Secrets Manager failing (here: nothing listens where the client calls) keeps the values held:
/// nobody is locked out, and nobody else is let in.
///
/// Proves: HTTP-8
#[tokio::test]
async fn a_failed_reread_keeps_the_values_held() {
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("eu-west-1"))
        .endpoint_url("http://127.0.0.1:9")
        .credentials_provider(aws_sdk_secretsmanager::config::SharedCredentialsProvider::new(
            aws_sdk_secretsmanager::config::Credentials::new("test", "test", None, None, "test"),
        ))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let verifier = OriginVerifier {
        loaded: RwLock::new((OriginSecrets::new([SECRET], "test").unwrap(), Instant::now())),
        source: Some(Source {
            client: secrets_client(&sdk),
            secret_id: "unreachable".into(),
            pinned: None,
            every: Duration::ZERO,
            refreshing: tokio::sync::Mutex::new(()),
        }),
    };
    assert!(
        verifier.admits(SECRET.as_bytes()).await,
        "the held value is still accepted"
    );
    assert!(!verifier.admits(PREVIOUS.as_bytes()).await, "nothing else is");
}

#[tokio::test]
async fn without_an_edge_a_viewer_address_header_is_ignored() {
    let req = CheckEdge::new(Edge::Direct)
        .check(event(json!({ "cloudfront-viewer-address": "203.0.113.9:5123" })))
        .await
        .expect("no edge to prove");
    assert_eq!(
        req.extensions().get::<Viewer>(),
        Some(&Viewer("192.0.2.10".parse().unwrap()))
    );
    assert!(req.headers().get(VIEWER_ADDRESS).is_none());
}
