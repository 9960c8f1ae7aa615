//! AUTHN-1 tests. Keys are generated at test time; a tiny local HTTP server
//! serves (and counts requests for) the JWKS.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};

use super::*;

const KID: &str = "test-key-1";
const ISS: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Quire";
const CLIENT: &str = "quire-web-client";
const SUB: &str = "5f1c2a7e-7d0b-4a55-9a43-0c1b9a7c0d11";
const NOW: i64 = 1_800_000_000;

// ---------- keys ----------

struct TestKey {
    pair: KeyPair,
    n: String,
    e: String,
    /// PKCS#8 private key PEM, for jsonwebtoken's `EncodingKey::from_rsa_pem`.
    private_pem: String,
    /// SubjectPublicKeyInfo DER and PEM: what an HS256 key-confusion attacker would use.
    public_der: Vec<u8>,
    public_pem: String,
}

impl TestKey {
    fn generate() -> Self {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let components = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let pkcs8 = pair.as_der().unwrap();
        let public_der = pair.public_key().as_der().unwrap().as_ref().to_vec();
        Self {
            n: URL_SAFE_NO_PAD.encode(&components.n),
            e: URL_SAFE_NO_PAD.encode(&components.e),
            private_pem: pem("PRIVATE KEY", pkcs8.as_ref()),
            public_pem: pem("PUBLIC KEY", &public_der),
            public_der,
            pair,
        }
    }

    fn jwk(&self, kid: &str) -> Value {
        json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid, "n": self.n, "e": self.e})
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// RSA key generation is slow; one pool key and one attacker key per test run.
fn pool_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::generate)
}

fn attacker_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(TestKey::generate)
}

fn jwks(keys: &[(&str, &TestKey)]) -> String {
    let keys: Vec<Value> = keys.iter().map(|(kid, k)| k.jwk(kid)).collect();
    json!({ "keys": keys }).to_string()
}

// ---------- tokens ----------

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn header() -> Value {
    json!({"alg": "RS256", "kid": KID, "typ": "JWT"})
}

/// A Cognito access token as the emulator issues it.
fn claims() -> Value {
    json!({
        "sub": SUB,
        "username": "alice",
        "client_id": CLIENT,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": NOW - 100,
        "iat": NOW - 100,
        "exp": NOW + 3500,
        "jti": "jti-1",
        "origin_jti": "origin-jti-1",
        "cognito:groups": ["admins"],
        "iss": ISS,
    })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

/// Signs any header and claims with RS256, whatever the header says.
fn sign_rs256(header: &Value, claims: &Value, key: &TestKey) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let mut sig = vec![0; key.pair.public_modulus_len()];
    key.pair
        .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input.as_bytes(), &mut sig)
        .unwrap();
    format!("{input}.{}", b64(&sig))
}

fn sign_hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

fn token(claims: &Value) -> String {
    sign_rs256(&header(), claims, pool_key())
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

// ---------- a JWKS server that counts requests ----------

struct JwksServer {
    url: String,
    hits: Arc<AtomicUsize>,
    /// `None` answers 500.
    body: Arc<Mutex<Option<String>>>,
}

impl JwksServer {
    async fn start(body: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/us-east-1_Quire/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        let hits = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(Mutex::new(body));
        let (h, b) = (hits.clone(), body.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (h, b) = (h.clone(), b.clone());
                tokio::spawn(async move { serve_one(stream, &h, &b).await });
            }
        });
        Self { url, hits, body }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    fn publish(&self, body: String) {
        *self.body.lock().unwrap() = Some(body);
    }
}

/// One request per connection (`connection: close`), so requests = connections.
async fn serve_one(stream: TcpStream, hits: &AtomicUsize, body: &Mutex<Option<String>>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 2048];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
    hits.fetch_add(1, Ordering::SeqCst);
    let (status, body) = match body.lock().unwrap().clone() {
        Some(body) => ("200 OK", body),
        None => ("500 Internal Server Error", String::new()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut out = response.as_bytes();
    while !out.is_empty() {
        if stream.writable().await.is_err() {
            return;
        }
        match stream.try_write(out) {
            Ok(n) => out = &out[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(_) => return,
        }
    }
}

fn config(jwks_url: &str) -> JwtConfig {
    JwtConfig {
        issuer: ISS.into(),
        client_id: CLIENT.into(),
        jwks_url: jwks_url.into(),
    }
}

/// A verifier backed by a fresh server publishing the pool key under `KID`.
async fn setup() -> (JwtVerifier, JwksServer) {
    let server = JwksServer::start(Some(jwks(&[(KID, pool_key())]))).await;
    (JwtVerifier::new(config(&server.url)), server)
}

async fn check(v: &JwtVerifier, token: &str) -> Result<VerifiedToken, AuthError> {
    v.verify_at(Some(&bearer(token)), NOW).await
}

// ---------- accepted ----------

#[tokio::test]
async fn valid_token_accepted() {
    let (v, server) = setup().await;
    // Signed by jsonwebtoken itself (PKCS#8 PEM, aws-lc backend): interop check.
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pool_key().private_pem.as_bytes()).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    h.kid = Some(KID.into());
    let t = jsonwebtoken::encode(&h, &claims(), &key).unwrap();

    let verified = check(&v, &t).await.unwrap();
    assert_eq!(
        verified,
        VerifiedToken {
            sub: SUB.into(),
            username: Some("alice".into()),
            jti: Some("jti-1".into()),
            origin_jti: Some("origin-jti-1".into()),
            issued_at: NOW - 100,
            expires_at: NOW + 3500,
            auth_time: Some(NOW - 100),
            groups: vec!["admins".into()],
            scopes: vec!["aws.cognito.signin.user.admin".into()],
        }
    );
    // Cached: a second verification does not refetch.
    check(&v, &token(&claims())).await.unwrap();
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn minimal_claims_and_lowercase_scheme_accepted() {
    let (v, _server) = setup().await;
    let c = without(without(without(claims(), "cognito:groups"), "username"), "jti");
    let verified = v.verify_at(Some(&format!("bearer {}", token(&c))), NOW).await.unwrap();
    assert!(verified.groups.is_empty());
    assert_eq!((verified.username, verified.jti), (None, None));
}

#[tokio::test]
async fn verify_uses_system_time() {
    let (v, _server) = setup().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fresh = with(with(claims(), "iat", json!(now)), "exp", json!(now + 3600));
    v.verify(Some(&bearer(&token(&fresh)))).await.unwrap();
    let stale = with(with(claims(), "iat", json!(now - 7200)), "exp", json!(now - 3600));
    assert_eq!(v.verify(Some(&bearer(&token(&stale)))).await, Err(AuthError::Expired));
}

// ---------- time ----------

#[tokio::test]
async fn expired_59s_ago_accepted() {
    let (v, _server) = setup().await;
    let c = with(claims(), "exp", json!(NOW - 59));
    assert!(check(&v, &token(&c)).await.is_ok());
}

#[tokio::test]
async fn expired_61s_ago_rejected() {
    let (v, _server) = setup().await;
    for exp in [NOW - 61, NOW - 60, i64::MIN] {
        let c = with(claims(), "exp", json!(exp));
        assert_eq!(check(&v, &token(&c)).await, Err(AuthError::Expired), "{exp}");
    }
}

#[tokio::test]
async fn nbf_in_future_beyond_skew_rejected() {
    let (v, _server) = setup().await;
    let c = with(claims(), "nbf", json!(NOW + 61));
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::NotYetValid));
    let c = with(claims(), "nbf", json!(NOW + 59));
    assert!(check(&v, &token(&c)).await.is_ok());
}

#[tokio::test]
async fn iat_in_future_beyond_skew_rejected() {
    let (v, _server) = setup().await;
    let c = with(claims(), "iat", json!(NOW + 61));
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::NotYetValid));
    let c = with(claims(), "iat", json!(NOW + 59));
    assert!(check(&v, &token(&c)).await.is_ok());
}

#[tokio::test]
async fn string_exp_rejected() {
    let (v, _server) = setup().await;
    for exp in [json!("9999999999"), json!(9.9e9), json!(null)] {
        let c = with(claims(), "exp", exp.clone());
        assert_eq!(check(&v, &token(&c)).await, Err(AuthError::Malformed), "{exp}");
    }
    let c = without(claims(), "exp");
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::Malformed));
}

#[tokio::test]
async fn string_nbf_rejected() {
    let (v, _server) = setup().await;
    let c = with(claims(), "nbf", json!("0"));
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::Malformed));
}

#[tokio::test]
async fn string_iat_and_auth_time_rejected() {
    let (v, _server) = setup().await;
    for claim in ["iat", "auth_time"] {
        let c = with(claims(), claim, json!((NOW - 100).to_string()));
        assert_eq!(check(&v, &token(&c)).await, Err(AuthError::Malformed), "{claim}");
    }
    let c = without(claims(), "iat");
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::Malformed));
}

// ---------- algorithm and header ----------

#[tokio::test]
async fn alg_none_rejected() {
    let (v, server) = setup().await;
    for alg in ["none", "None", "NONE"] {
        let h = json!({"alg": alg, "kid": KID, "typ": "JWT"});
        let unsigned = format!(
            "{}.{}.",
            b64(h.to_string().as_bytes()),
            b64(claims().to_string().as_bytes())
        );
        assert_eq!(check(&v, &unsigned).await, Err(AuthError::UnsupportedAlgorithm));
        // Even with a valid RS256 signature attached, `none` is refused.
        let signed = sign_rs256(&h, &claims(), pool_key());
        assert_eq!(check(&v, &signed).await, Err(AuthError::UnsupportedAlgorithm));
    }
    assert_eq!(server.hits(), 0, "rejected before touching keys");
}

#[tokio::test]
async fn hs256_signed_with_public_key_rejected() {
    let (v, server) = setup().await;
    let k = pool_key();
    let h = json!({"alg": "HS256", "kid": KID, "typ": "JWT"});
    let pkcs1_der = k.pair.public_key().as_ref().to_vec();
    for secret in [
        k.public_pem.as_bytes(),
        &k.public_der[..],
        &pkcs1_der[..],
        k.n.as_bytes(),
    ] {
        let t = sign_hs256(&h, &claims(), secret);
        assert_eq!(check(&v, &t).await, Err(AuthError::UnsupportedAlgorithm));
    }
    assert_eq!(server.hits(), 0, "rejected before touching keys");
}

#[tokio::test]
async fn other_algorithms_rejected() {
    let (v, server) = setup().await;
    for alg in [
        "RS384", "RS512", "PS256", "ES256", "EdDSA", "HS512", "rs256", "RS256 ", "",
    ] {
        let h = json!({"alg": alg, "kid": KID});
        let t = sign_rs256(&h, &claims(), pool_key());
        assert_eq!(check(&v, &t).await, Err(AuthError::UnsupportedAlgorithm), "{alg}");
    }
    let t = sign_rs256(&json!({"kid": KID}), &claims(), pool_key());
    assert_eq!(check(&v, &t).await, Err(AuthError::Malformed), "no alg");
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn unknown_kid_rejected() {
    let (v, _server) = setup().await;
    let h = with(header(), "kid", json!("some-other-key"));
    let t = sign_rs256(&h, &claims(), pool_key());
    assert_eq!(check(&v, &t).await, Err(AuthError::UnknownKey));
}

#[tokio::test]
async fn missing_kid_rejected() {
    let (v, server) = setup().await;
    for h in [without(header(), "kid"), with(header(), "kid", json!(""))] {
        let t = sign_rs256(&h, &claims(), pool_key());
        assert_eq!(check(&v, &t).await, Err(AuthError::MissingKeyId));
    }
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn tampered_payload_rejected() {
    let (v, _server) = setup().await;
    let t = token(&claims());
    let parts: Vec<&str> = t.split('.').collect();
    let forged = with(claims(), "sub", json!("someone-else"));
    let tampered = format!("{}.{}.{}", parts[0], b64(forged.to_string().as_bytes()), parts[2]);
    assert_eq!(check(&v, &tampered).await, Err(AuthError::BadSignature));
    // A flipped signature byte as well.
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let flipped = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
    assert_eq!(check(&v, &flipped).await, Err(AuthError::BadSignature));
}

#[tokio::test]
async fn embedded_jwk_and_jku_ignored() {
    let (v, server) = setup().await;
    let attacker_jwks = JwksServer::start(Some(jwks(&[(KID, attacker_key())]))).await;
    let evil = attacker_key();
    let h = json!({
        "alg": "RS256",
        "kid": KID,
        "jku": attacker_jwks.url,
        "x5u": attacker_jwks.url,
        "jwk": evil.jwk(KID),
    });
    // Signed by the attacker's key, which the header offers: refused.
    let forged = sign_rs256(&h, &claims(), evil);
    assert_eq!(check(&v, &forged).await, Err(AuthError::BadSignature));
    // An attacker kid that only the embedded jwk knows: unknown.
    let h2 = with(with(h.clone(), "kid", json!("evil")), "jwk", evil.jwk("evil"));
    let forged = sign_rs256(&h2, &claims(), evil);
    assert_eq!(check(&v, &forged).await, Err(AuthError::UnknownKey));
    // Signed by the pool key, the extra header members change nothing.
    let genuine = sign_rs256(&h, &claims(), pool_key());
    assert!(check(&v, &genuine).await.is_ok());
    assert_eq!(attacker_jwks.hits(), 0, "jku/x5u never fetched");
    assert!(server.hits() >= 1);
}

#[tokio::test]
async fn crit_header_rejected() {
    let (v, _server) = setup().await;
    let h = with(header(), "crit", json!(["exp"]));
    let t = sign_rs256(&h, &claims(), pool_key());
    assert_eq!(check(&v, &t).await, Err(AuthError::Malformed));
}

#[tokio::test]
async fn malformed_tokens_rejected() {
    let (v, server) = setup().await;
    let t = token(&claims());
    for bad in [
        "abc".to_string(),
        "a.b".to_string(),
        format!("{t}.extra"),
        format!("!!!.{}", &t[t.find('.').unwrap() + 1..]),
        format!("{}.e30.sig", b64(b"not json")),
    ] {
        assert_eq!(check(&v, &bad).await, Err(AuthError::Malformed), "{bad}");
    }
    assert_eq!(server.hits(), 0);
}

// ---------- claims ----------

#[tokio::test]
async fn wrong_issuer_rejected() {
    let (v, _server) = setup().await;
    for iss in [
        json!("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"),
        json!(format!("{ISS}/")),
        json!([ISS]),
    ] {
        let c = with(claims(), "iss", iss.clone());
        let r = check(&v, &token(&c)).await;
        assert!(matches!(r, Err(AuthError::WrongIssuer | AuthError::Malformed)), "{iss}");
    }
    let c = without(claims(), "iss");
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::WrongIssuer));
}

#[tokio::test]
async fn wrong_client_id_rejected() {
    let (v, _server) = setup().await;
    let c = with(claims(), "client_id", json!("another-client"));
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::WrongClient));
    // `aud` is no substitute for `client_id` on an access token.
    let c = with(without(claims(), "client_id"), "aud", json!(CLIENT));
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::WrongClient));
}

#[tokio::test]
async fn token_use_id_rejected() {
    let (v, _server) = setup().await;
    let c = with(claims(), "token_use", json!("id"));
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::WrongTokenUse));
    let c = without(claims(), "token_use");
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::WrongTokenUse));
    // A real ID token: `aud` instead of `client_id`, token_use=id.
    let id_token = json!({
        "sub": SUB, "aud": CLIENT, "token_use": "id", "iss": ISS,
        "auth_time": NOW - 100, "iat": NOW - 100, "exp": NOW + 3500,
        "cognito:username": "alice",
    });
    assert!(check(&v, &token(&id_token)).await.is_err());
}

#[tokio::test]
async fn invalid_sub_rejected() {
    let (v, _server) = setup().await;
    for sub in [json!(""), json!("a".repeat(129)), json!("abc\ndef")] {
        let c = with(claims(), "sub", sub.clone());
        assert_eq!(check(&v, &token(&c)).await, Err(AuthError::InvalidSubject), "{sub}");
    }
    let c = without(claims(), "sub");
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::InvalidSubject));
    let c = with(claims(), "sub", json!("a".repeat(128)));
    assert!(check(&v, &token(&c)).await.is_ok());
}

// ---------- transport ----------

#[tokio::test]
async fn missing_bearer_rejected() {
    let (v, server) = setup().await;
    let t = token(&claims());
    for h in [
        None,
        Some(String::new()),
        Some(t.clone()),
        Some(format!("Basic {t}")),
        Some(format!("Bearer{t}")),
        Some("Bearer ".into()),
        Some("Bearer".into()),
    ] {
        assert_eq!(
            v.verify_at(h.as_deref(), NOW).await,
            Err(AuthError::MissingToken),
            "{h:?}"
        );
    }
    assert_eq!(server.hits(), 0);
}

#[tokio::test]
async fn oversize_token_rejected() {
    let (v, server) = setup().await;
    let c = with(claims(), "padding", json!("x".repeat(MAX_TOKEN_BYTES)));
    assert_eq!(check(&v, &token(&c)).await, Err(AuthError::TooLarge));
    assert_eq!(server.hits(), 0);
}

// ---------- JWKS fetching ----------

#[tokio::test]
async fn jwks_refetch_throttled_and_new_key_picked_up() {
    const INTERVAL: Duration = Duration::from_millis(1000);
    let server = JwksServer::start(Some(jwks(&[(KID, pool_key())]))).await;
    let v = JwtVerifier::new_with_refetch_interval(config(&server.url), INTERVAL);
    check(&v, &token(&claims())).await.unwrap();
    assert_eq!(server.hits(), 1);

    let flood = |round: usize| {
        let v = &v;
        futures::future::join_all((0..50).map(move |i| async move {
            let h = with(header(), "kid", json!(format!("random-{round}-{i}")));
            check(v, &sign_rs256(&h, &claims(), pool_key())).await
        }))
    };
    // Right after the first fetch: no refetch at all.
    for r in flood(0).await {
        assert_eq!(r, Err(AuthError::UnknownKey));
    }
    assert_eq!(server.hits(), 1);
    // After the interval: the whole flood causes exactly one refetch.
    tokio::time::sleep(INTERVAL + Duration::from_millis(100)).await;
    for r in flood(1).await {
        assert_eq!(r, Err(AuthError::UnknownKey));
    }
    assert_eq!(server.hits(), 2);

    // A rotated-in key appears; it is picked up once the interval has passed.
    server.publish(jwks(&[(KID, pool_key()), ("test-key-2", attacker_key())]));
    let h2 = with(header(), "kid", json!("test-key-2"));
    let rotated = sign_rs256(&h2, &claims(), attacker_key());
    assert_eq!(check(&v, &rotated).await, Err(AuthError::UnknownKey));
    assert_eq!(server.hits(), 2);
    tokio::time::sleep(INTERVAL + Duration::from_millis(100)).await;
    assert!(check(&v, &rotated).await.is_ok());
    assert!(check(&v, &rotated).await.is_ok());
    assert!(check(&v, &token(&claims())).await.is_ok());
    assert_eq!(server.hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_requests_fetch_once() {
    let server = JwksServer::start(Some(jwks(&[(KID, pool_key())]))).await;
    let v = Arc::new(JwtVerifier::new(config(&server.url)));
    let t = token(&claims());
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (v, t) = (v.clone(), t.clone());
            tokio::spawn(async move { check(&v, &t).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn jwks_unavailable() {
    // Nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let v = JwtVerifier::new(config(&format!("http://127.0.0.1:{port}/jwks.json")));
    assert_eq!(check(&v, &token(&claims())).await, Err(AuthError::JwksUnavailable));

    // A failing server, then a healthy one: recovery without a cold start.
    let server = JwksServer::start(None).await;
    let v = JwtVerifier::new_with_refetch_interval(config(&server.url), Duration::from_millis(200));
    assert_eq!(check(&v, &token(&claims())).await, Err(AuthError::JwksUnavailable));
    server.publish("not a jwks".into());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(check(&v, &token(&claims())).await, Err(AuthError::JwksUnavailable));
    server.publish(jwks(&[(KID, pool_key())]));
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(check(&v, &token(&claims())).await.is_ok());
    assert_eq!(server.hits(), 3);
}

// ---------- API properties ----------

#[test]
fn verifier_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<JwtVerifier>();
    assert_send_sync::<AuthError>();
}

#[test]
fn error_texts_are_client_safe() {
    let all = [
        AuthError::MissingToken,
        AuthError::TooLarge,
        AuthError::Malformed,
        AuthError::UnsupportedAlgorithm,
        AuthError::MissingKeyId,
        AuthError::UnknownKey,
        AuthError::BadSignature,
        AuthError::Expired,
        AuthError::NotYetValid,
        AuthError::WrongIssuer,
        AuthError::WrongClient,
        AuthError::WrongTokenUse,
        AuthError::InvalidSubject,
        AuthError::JwksUnavailable,
    ];
    for e in all {
        let text = e.to_string();
        assert!(
            !text.contains("http") && !text.contains('/') && text.len() < 40,
            "{text}"
        );
    }
    assert_eq!(AuthError::Expired.to_string(), "token expired");
    assert_eq!(AuthError::UnknownKey.to_string(), "unknown signing key");
}
