//! Pipeline overhead per request without I/O, JWT verification included (target: ≤ 40 µs p99).
//!
//! - `pipeline/public_get`: the whole tower stack (correlation id, security headers, route
//!   match, request filter, authn/tenant/authz pass-through for a Public route, dispatch) around
//!   a handler that answers a constant `{"status":"ok"}`.
//! - `pipeline/public_post_1k`: the same with a ~1 KB JSON body, so the request filter parses
//!   and scans it.
//! - `jwt/verify`: `JwtVerifier::verify` on an RS256 Cognito-shaped access token signed with an
//!   RSA-2048 key generated at start. The JWKS is served once from a local listener; the
//!   verifier caches it on the first call, so the timed calls do no I/O.
//! - `pipeline/authenticated_get_to_tenant`: cross-check of the sum. A protected route with a
//!   valid token whose `sub` is not a valid user id: layers 1–5 run in full (JWT verified), and
//!   the tenant layer refuses the subject (401) before its DynamoDB read. It therefore measures
//!   everything except the membership read (I/O), authz and the handler.
//!
//! The tenant layer's DynamoDB reads are I/O and are not measured anywhere here. No tracing
//! subscriber is installed, so the access log line is not written (stdout is I/O too).
//!
//! With `--bench` (that is, `cargo bench`), after criterion the binary times 20 000 calls of
//! each scenario with `Instant` and prints p50/p90/p99/p99.9/max.
//!
//! `cargo bench -p quire-http --bench pipeline -- --warm-up-time 1 --measurement-time 3`

use std::cell::RefCell;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use aws_sdk_cognitoidentityprovider::config::{Credentials, SharedCredentialsProvider};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{BatchSize, Criterion};
use http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use quire_core::rbac::Permission;
use quire_http::config::Config;
use quire_http::pipeline::edge::{Edge, OriginSecrets, OriginVerifier};
use quire_http::pipeline::FunctionService;
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, RequestCtx, Route, Router};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tower::{Service, ServiceExt};

const KID: &str = "bench-key-1";
const ISS: &str = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Bench";
const CLIENT: &str = "quire-web-client";
/// What a Cognito `sub` looks like.
const SUB: &str = "5f1c2a7e-7d0b-4a55-9a43-0c1b9a7c0d11";
/// Passes token verification, fails `UserId::parse` in the tenant layer (before any read).
const SUB_NOT_A_USER_ID: &str = "bench.user";
const USER_AGENT: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15";
const PERCENTILE_ITERATIONS: usize = 20_000;

// ---------- fixture ----------

struct Fixture {
    rt: Runtime,
    /// Called in place (no clone per request).
    service: RefCell<FunctionService>,
    app: Arc<App>,
    /// `Authorization` header values.
    bearer: String,
    bearer_not_a_user: String,
    body_1k: String,
}

impl Fixture {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("RSA-2048 key");
        let jwks_url = rt.block_on(serve_jwks_once(jwks(&pair)));
        let config = Config {
            data_table: "quire-data".into(),
            audit_table: "quire-audit".into(),
            kms_key_id: "alias/quire-bench".into(),
            user_pool_id: "eu-west-1_Bench".into(),
            user_pool_client_id: CLIENT.into(),
            jwt_issuer: ISS.into(),
            jwks_url,
            origin_secret_id: Some("quire-bench-origin".into()),
            origin_secret_version: None,
            sign_in_lockout: quire_store::attempts::LockoutPolicy::SIGN_IN,
            sessions: quire_store::sessions::SessionPolicy::DEFAULT,
            registration_validity: quire_http::config::REGISTRATION_VALIDITY,
            attachments_bucket: None,
            envelope_key_arn: None,
            s3_path_style: false,
        };
        // As deployed: every request proves it came through CloudFront.
        let edge = Edge::Verified(Arc::new(OriginVerifier::fixed(
            OriginSecrets::new([ORIGIN_SECRET], "bench").expect("long enough"),
        )));
        let app = App::new(config, &dummy_sdk(), edge);
        let service = quire_http::pipeline::service(app.clone(), router());
        let fixture = Fixture {
            rt,
            service: RefCell::new(service),
            app,
            bearer: format!("Bearer {}", sign(&pair, SUB)),
            bearer_not_a_user: format!("Bearer {}", sign(&pair, SUB_NOT_A_USER_ID)),
            body_1k: body_1k(),
        };
        // Fetches and caches the JWKS (the only I/O), and checks every scenario answers as expected.
        let token = fixture
            .rt
            .block_on(fixture.app.verifier.verify(Some(&fixture.bearer)))
            .expect("token verifies");
        assert_eq!(token.sub, SUB);
        for (req, status) in [
            (fixture.public_get(), StatusCode::OK),
            (fixture.public_post(), StatusCode::OK),
            (fixture.authenticated_get(), StatusCode::UNAUTHORIZED),
        ] {
            let response = fixture.call(req);
            assert_eq!(response.status(), status, "{:?}", response.body());
        }
        fixture
    }

    fn call(&self, req: Request) -> Response<Body> {
        let mut service = self.service.borrow_mut();
        self.rt.block_on(async move {
            let ready = service.ready().await.expect("ready");
            ready.call(req).await.expect("pipeline answers")
        })
    }

    fn verify(&self) -> quire_http::auth::VerifiedToken {
        self.rt
            .block_on(self.app.verifier.verify(Some(&self.bearer)))
            .expect("token verifies")
    }

    fn public_get(&self) -> Request {
        request("GET", "/bench", None, None)
    }

    fn public_post(&self) -> Request {
        request("POST", "/bench", None, Some(&self.body_1k))
    }

    fn authenticated_get(&self) -> Request {
        request("GET", "/bench/private", Some(&self.bearer_not_a_user), None)
    }
}

fn dummy_sdk() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "bench", "bench", None, None, "bench",
        )))
        // Never contacted: Public routes touch no table, and the protected one stops before its read.
        .endpoint_url("http://127.0.0.1:9")
        .build()
}

async fn bench_get(_: Arc<App>, _: RequestCtx, _: Request) -> HandlerResult {
    quire_http::json::ok(&json!({ "status": "ok" }))
}

fn router() -> Router {
    Router::new(vec![
        Route::new(
            Method::GET,
            "/bench",
            Access::Public,
            Module::Platform,
            Effect::Reads,
            bench_get,
        ),
        Route::new(
            Method::POST,
            "/bench",
            Access::Public,
            Module::Platform,
            Effect::Reads,
            bench_get,
        )
        .accepts_body(64 * 1024),
        Route::new(
            Method::GET,
            "/bench/private",
            Access::Requires(Permission::DocumentRead),
            Module::Documents,
            Effect::Reads,
            bench_get,
        ),
    ])
    .expect("bench route table")
}

/// A document-creation body of about 1 KB.
fn body_1k() -> String {
    let paragraph = "Quarterly figures were reviewed by the finance team; the totals in section 3 now match \
                     the ledger export, and the appendix lists every adjustment made since the first draft.";
    let body = json!({
        "title": "Q2 report: reconciliation notes",
        "body": format!("{paragraph}\n\n{paragraph}\n\n{paragraph}\n\n{paragraph}"),
        "tags": ["finance", "quarterly", "reviewed", "ledger"],
        "folderId": "fld-000123",
        "metadata": { "owner": "alice.martin", "classification": "internal", "revision": 7 },
    })
    .to_string();
    assert!((900..1200).contains(&body.len()), "body is {} bytes", body.len());
    body
}

/// What CloudFront presents as the origin secret (generated at deploy time; any 32+ characters).
const ORIGIN_SECRET: &str = "bench-origin-secret-0123456789abcdef0123456789";

/// The request lambda_http hands the service for an API Gateway HTTP API (payload 2.0) event.
fn request(method: &str, path: &str, authorization: Option<&str>, body: Option<&str>) -> Request {
    let mut headers = json!({
        "accept": "application/json",
        "accept-encoding": "gzip, deflate, br",
        "host": "api.quire.example",
        "user-agent": USER_AGENT,
        "x-forwarded-for": "203.0.113.42",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        "x-quire-origin-verify": ORIGIN_SECRET,
        "cloudfront-viewer-address": "203.0.113.42:46532",
    });
    if let Some(authorization) = authorization {
        headers["authorization"] = authorization.into();
    }
    if body.is_some() {
        headers["content-type"] = "application/json".into();
    }
    let event = json!({
        "version": "2.0",
        "routeKey": format!("{method} {path}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": "api.quire.example",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.42",
                "userAgent": USER_AGENT,
            },
            // HTTP API request ids end in '=', which the correlation layer does not accept, so it
            // mints a UUID: that cost is included, as in production.
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": format!("{method} {path}"),
            "stage": "$default",
            "time": "01/May/2026:12:34:56 +0000",
            "timeEpoch": 1_777_638_896_000u64,
        },
        "body": body,
        "isBase64Encoded": false,
    });
    quire_http::event::request(event).expect("API Gateway v2 event")
}

// ---------- keys and tokens ----------

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn jwks(pair: &KeyPair) -> String {
    let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
    json!({ "keys": [{
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": KID,
        "n": b64(&components.n), "e": b64(&components.e),
    }]})
    .to_string()
}

/// A Cognito access token, as Cognito issues it, valid for the next hour.
fn sign(pair: &KeyPair, sub: &str) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs() as i64;
    let claims: Value = json!({
        "sub": sub,
        "cognito:groups": ["admins"],
        "iss": ISS,
        "version": 2,
        "client_id": CLIENT,
        "origin_jti": "8d2f7c1e-3b4a-4c5d-9e6f-7a8b9c0d1e2f",
        "event_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now - 100,
        "exp": now + 3500,
        "iat": now - 100,
        "jti": "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9",
        "username": "alice.martin",
    });
    let header = json!({ "kid": KID, "alg": "RS256" });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut signature = vec![0; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .expect("RS256 signature");
    format!("{input}.{}", b64(&signature))
}

/// Serves `body` to exactly one HTTP request, then stops listening: any later JWKS fetch would
/// fail verification, so the benchmark's assertions prove the timed calls made none.
async fn serve_jwks_once(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!(
        "http://{}/eu-west-1_Bench/.well-known/jwks.json",
        listener.local_addr().expect("addr")
    );
    tokio::spawn(async move {
        let Ok((mut stream, _)) = listener.accept().await else {
            return;
        };
        let mut request = Vec::new();
        let mut buf = [0u8; 2048];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    });
    url
}

// ---------- criterion ----------

fn benches(c: &mut Criterion, f: &Fixture) {
    let mut pipeline = c.benchmark_group("pipeline");
    pipeline.bench_function("public_get", |b| {
        b.iter_batched(|| f.public_get(), |req| f.call(req), BatchSize::SmallInput)
    });
    pipeline.bench_function("public_post_1k", |b| {
        b.iter_batched(|| f.public_post(), |req| f.call(req), BatchSize::SmallInput)
    });
    pipeline.bench_function("authenticated_get_to_tenant", |b| {
        b.iter_batched(|| f.authenticated_get(), |req| f.call(req), BatchSize::SmallInput)
    });
    pipeline.finish();

    let mut jwt = c.benchmark_group("jwt");
    jwt.bench_function("verify", |b| b.iter(|| black_box(f.verify())));
    jwt.finish();
}

// ---------- percentiles ----------

/// Times `n` calls of `run` (each on a fresh input from `input`, made outside the timed region).
fn sample<I, O>(n: usize, mut input: impl FnMut() -> I, mut run: impl FnMut(I) -> O) -> Vec<Duration> {
    for _ in 0..n / 10 {
        black_box(run(input()));
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let i = input();
        let started = Instant::now();
        let o = run(i);
        times.push(started.elapsed());
        drop(black_box(o));
    }
    times.sort_unstable();
    times
}

fn at(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(name: &str, t: &[Duration]) {
    println!(
        "{name:<40} p50 {:>8.2} µs   p90 {:>8.2} µs   p99 {:>8.2} µs   p99.9 {:>8.2} µs   max {:>9.2} µs",
        us(at(t, 0.50)),
        us(at(t, 0.90)),
        us(at(t, 0.99)),
        us(at(t, 0.999)),
        us(t[t.len() - 1]),
    );
}

fn percentiles(f: &Fixture) {
    let n = PERCENTILE_ITERATIONS;
    println!(
        "\npercentiles over {n} timed calls each (Instant, after {} warm-up calls)",
        n / 10
    );
    let get = sample(n, || f.public_get(), |req| f.call(req));
    report("pipeline/public_get", &get);
    let post = sample(n, || f.public_post(), |req| f.call(req));
    report("pipeline/public_post_1k", &post);
    let authenticated = sample(n, || f.authenticated_get(), |req| f.call(req));
    report("pipeline/authenticated_get_to_tenant", &authenticated);
    let verify = sample(n, || (), |()| f.verify());
    report("jwt/verify", &verify);
    // Pipeline and verification are timed separately. Their combination, assuming the two are
    // independent: percentiles of pairwise sums of the samples under a fixed pseudo-random
    // pairing. The plain sum of the two p99s is printed too, but it is NOT an upper bound: with
    // heavy tails (scheduler noise) the p99 of the sum is larger. `authenticated_get_to_tenant`
    // above measures the combination directly.
    for (name, pipeline) in [("public_get", &get), ("public_post_1k", &post)] {
        let mut sums: Vec<Duration> = (0..n).map(|i| pipeline[i] + verify[(i * 7919) % n]).collect();
        sums.sort_unstable();
        println!(
            "{:<40} p50 {:>8.2} µs   p99 {:>8.2} µs   sum of p99s {:>8.2} µs   (target p99 ≤ 40 µs)",
            format!("pipeline/{name} + jwt/verify"),
            us(at(&sums, 0.50)),
            us(at(&sums, 0.99)),
            us(at(pipeline, 0.99) + at(&verify, 0.99)),
        );
    }
}

fn main() {
    let fixture = Fixture::new();
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion, &fixture);
    criterion.final_summary();
    let args: Vec<String> = std::env::args().collect();
    let listing = args.iter().any(|a| a == "--list" || a == "--test");
    if args.iter().any(|a| a == "--bench") && !listing {
        percentiles(&fixture);
    }
}
