//! Layer 3: the edge, and who the viewer is (HTTP-1, HTTP-8).
//!
//! Deployed, clients reach Quire through CloudFront (template.yaml `Edge`), never API Gateway
//! directly, because a function cannot put headers on answers it never sees (API Gateway's own
//! throttling 429, 413 and 5xx):
//! - CloudFront's response-headers policy adds [`SECURITY_HEADERS`](super::headers::SECURITY_HEADERS)
//!   to every answer;
//! - its origin-request policy forwards only [`FORWARDED_HEADERS`] (and `Authorization`, which
//!   CloudFront forwards only as part of a cache key), and adds `CloudFront-Viewer-Address`;
//! - it adds [`ORIGIN_VERIFY`], a random secret kept in Secrets Manager, which proves the request
//!   came through it.
//!
//! This layer refuses a request without a valid secret (403 `edge-required`), so the
//! `execute-api` address is of no use to a client, and only then believes
//! `CloudFront-Viewer-Address`: otherwise anyone could choose the IP address an audit entry
//! records. The secret is read again every [`REFRESH`], so that it can be rotated (decision 25).
//! Without an edge (`QUIRE_ORIGIN_SECRET_ID` empty, e.g. `sam local` with `--env-vars`) the
//! viewer is API Gateway's `requestContext.http.sourceIp` and the header is ignored.

use super::stage::Stage;
use crate::problem::Problem;
use http::HeaderName;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The origin custom header CloudFront adds (template.yaml `Edge` … `OriginCustomHeaders`).
pub const ORIGIN_VERIFY: HeaderName = HeaderName::from_static("x-quire-origin-verify");

/// CloudFront's `host:port` of the viewer, e.g. `198.51.100.10:46532`.
pub const VIEWER_ADDRESS: HeaderName = HeaderName::from_static("cloudfront-viewer-address");

/// Every request header Quire reads, besides `Authorization`; the origin-request policy
/// forwards exactly these (a guardrail test compares them with template.yaml).
pub const FORWARDED_HEADERS: [&str; 8] = [
    "cloudfront-viewer-address",
    "content-type",
    "idempotency-key",
    "if-match",
    "quire-break-glass",
    "quire-impersonate",
    "user-agent",
    "x-correlation-id",
];

/// Request headers Quire reads that CloudFront forwards by itself, not through the
/// origin-request policy: a viewer's `Range` (CloudFront's range GETs; it may ask the origin
/// for a wider range and serve the viewer's part of the answer).
pub const FORWARDED_BY_CLOUDFRONT: [&str; 1] = ["range"];

/// Shortest secret accepted: CloudFormation generates it (template.yaml `EdgeOriginSecret`, 64
/// characters); anything much shorter is a configuration mistake.
const MIN_SECRET_LEN: usize = 32;

/// The secret values CloudFront may present: the current one and, while a rotation settles,
/// the previous one. Held as SHA-256 digests, so comparing takes the same time whatever the
/// length or content of the presented value.
#[derive(Clone)]
pub struct OriginSecrets(Vec<[u8; 32]>);

impl std::fmt::Debug for OriginSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OriginSecrets({} values)", self.0.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error("the origin secret {0} cannot be read")]
    Unreadable(String, #[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("the origin secret {0} is shorter than {MIN_SECRET_LEN} characters")]
    TooShort(String),
}

impl OriginSecrets {
    /// Errors with [`EdgeError::TooShort`] for a value under 32 bytes.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>, name: &str) -> Result<Self, EdgeError> {
        let mut digests = Vec::new();
        for value in values {
            if value.len() < MIN_SECRET_LEN {
                return Err(EdgeError::TooShort(name.to_owned()));
            }
            digests.push(Sha256::digest(value.as_bytes()).into());
        }
        Ok(OriginSecrets(digests))
    }

    /// Whether `presented` is one of the values, in time independent of where they differ.
    pub fn admits(&self, presented: &[u8]) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented).into();
        // Every value is compared, so the time does not tell which one matched.
        self.0
            .iter()
            .fold(subtle::Choice::from(0), |any, digest| any | digest.ct_eq(&presented))
            .into()
    }

    /// Reads the values CloudFront may be sending (Secrets Manager `GetSecretValue`): the
    /// secret's `AWSCURRENT` value, its `AWSPREVIOUS` value if there is one, and the version the
    /// template pins for CloudFront (`pinned`, template parameter `EdgeOriginSecretVersion`), so
    /// that the value CloudFront sends stays accepted whatever labels a rotation moves.
    pub async fn load(
        client: &aws_sdk_secretsmanager::Client,
        secret_id: &str,
        pinned: Option<&str>,
    ) -> Result<Self, EdgeError> {
        let unreadable = |e: Box<dyn std::error::Error + Send + Sync>| EdgeError::Unreadable(secret_id.to_owned(), e);
        let read = |stage: Option<&str>, version: Option<&str>| {
            client
                .get_secret_value()
                .secret_id(secret_id)
                .set_version_stage(stage.map(str::to_owned))
                .set_version_id(version.map(str::to_owned))
                .send()
        };
        // Independent reads: one round trip's time, not three.
        let pinned_read = async {
            match pinned {
                Some(version) => read(None, Some(version)).await.map(Some),
                None => Ok(None),
            }
        };
        let (current, previous, pinned) = futures::join!(
            read(Some("AWSCURRENT"), None),
            read(Some("AWSPREVIOUS"), None),
            pinned_read
        );
        let current = current.map_err(|e| unreadable(Box::new(e)))?;
        let previous = match previous {
            Ok(previous) => Some(previous),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) =>
            {
                None
            }
            Err(e) => return Err(unreadable(Box::new(e))),
        };
        let pinned = pinned.map_err(|e| unreadable(Box::new(e)))?;
        let current = current
            .secret_string()
            .ok_or_else(|| unreadable("the current version holds no string".into()))?;
        let values = std::iter::once(current)
            .chain(previous.as_ref().and_then(|p| p.secret_string()))
            .chain(pinned.as_ref().and_then(|p| p.secret_string()));
        OriginSecrets::new(values, secret_id)
    }
}

/// How often a function reads the origin secret again. A rotation (decision 25) waits this long
/// between its steps: for the functions to accept a new value before CloudFront sends it, and to
/// refuse a withdrawn one.
pub const REFRESH: Duration = Duration::from_secs(300);

/// How long one read of the secret may take: a Secrets Manager that hangs must not hold
/// requests until the function times out.
pub const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the accepted values come from, for [`OriginVerifier::admits`] to read them again.
struct Source {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    pinned: Option<String>,
    every: Duration,
    /// One re-read at a time, so an older read never replaces a newer one.
    refreshing: tokio::sync::Mutex<()>,
}

/// The accepted origin secrets, read again every [`REFRESH`] (or a fixed set, in tests).
pub struct OriginVerifier {
    loaded: RwLock<(OriginSecrets, Instant)>,
    source: Option<Source>,
}

impl std::fmt::Debug for OriginVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OriginVerifier")
    }
}

/// The secret a Secrets Manager client reads for the edge: every call bounded by [`READ_TIMEOUT`].
pub fn secrets_client(sdk: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::config::Builder::from(sdk)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(READ_TIMEOUT)
                    .build(),
            )
            .build(),
    )
}

impl OriginVerifier {
    /// Values that never change (tests, benchmarks).
    pub fn fixed(secrets: OriginSecrets) -> Self {
        OriginVerifier {
            loaded: RwLock::new((secrets, Instant::now())),
            source: None,
        }
    }

    /// Reads the secret now (an error fails the cold start) and again every `every`.
    pub async fn load(
        client: aws_sdk_secretsmanager::Client,
        secret_id: &str,
        pinned: Option<&str>,
        every: Duration,
    ) -> Result<Self, EdgeError> {
        let secrets = OriginSecrets::load(&client, secret_id, pinned).await?;
        Ok(OriginVerifier {
            loaded: RwLock::new((secrets, Instant::now())),
            source: Some(Source {
                client,
                secret_id: secret_id.to_owned(),
                pinned: pinned.map(str::to_owned),
                every,
                refreshing: tokio::sync::Mutex::new(()),
            }),
        })
    }

    fn stale(&self, every: Duration) -> bool {
        self.loaded.read().unwrap_or_else(PoisonError::into_inner).1.elapsed() >= every
    }

    /// Whether `presented` is an accepted value, reading the secret again first when the
    /// values are older than the refresh period. A failed read keeps the values held (and is
    /// tried again a period later): Secrets Manager being down must not lock everyone out.
    pub async fn admits(&self, presented: &[u8]) -> bool {
        if let Some(source) = &self.source {
            if self.stale(source.every) {
                let _one_at_a_time = source.refreshing.lock().await;
                // Another request may have read it meanwhile.
                if self.stale(source.every) {
                    let reread = OriginSecrets::load(&source.client, &source.secret_id, source.pinned.as_deref()).await;
                    let mut loaded = self.loaded.write().unwrap_or_else(PoisonError::into_inner);
                    match reread {
                        Ok(secrets) => *loaded = (secrets, Instant::now()),
                        Err(error) => {
                            tracing::warn!(%error, "keeping the origin secrets held");
                            loaded.1 = Instant::now();
                        }
                    }
                }
            }
        }
        self.loaded
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            .admits(presented)
    }
}

/// Where requests come from: straight from API Gateway, or through CloudFront, proven by the secret.
#[derive(Clone, Debug)]
pub enum Edge {
    Direct,
    Verified(Arc<OriginVerifier>),
}

/// The viewer's IP address, as the edge established it (a request extension).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Viewer(pub IpAddr);

/// `CloudFront-Viewer-Address`: the IP address, then `:` and the source port; IPv6 addresses
/// come unbracketed (`2001:db8::1:46532`), so the port is what follows the last colon.
pub fn viewer_address(value: &str) -> Option<IpAddr> {
    let (address, port) = value.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let address = address
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .unwrap_or(address);
    address.parse().ok()
}

#[derive(Clone)]
pub struct CheckEdge {
    edge: Edge,
}

impl CheckEdge {
    pub fn new(edge: Edge) -> Self {
        CheckEdge { edge }
    }
}

fn source_ip(req: &Request) -> Option<IpAddr> {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.as_deref()?.parse().ok(),
        _ => None,
    }
}

impl Stage for CheckEdge {
    async fn check(&self, mut req: Request) -> Result<Request, Problem> {
        let viewer = match &self.edge {
            Edge::Direct => source_ip(&req),
            Edge::Verified(verifier) => {
                let mut presented = req.headers().get_all(ORIGIN_VERIFY).iter();
                let proven = match (presented.next(), presented.next()) {
                    (Some(value), None) => verifier.admits(value.as_bytes()).await,
                    _ => false,
                };
                if !proven {
                    return Err(Problem::edge_required());
                }
                let address = req.headers().get(VIEWER_ADDRESS).and_then(|v| v.to_str().ok());
                Some(
                    address
                        .and_then(viewer_address)
                        .ok_or_else(|| Problem::bad_request("the viewer address the edge sent is not an address"))?,
                )
            }
        };
        // Neither reaches a handler: the secret must not be logged, and the address is only
        // what `Viewer` says it is.
        req.headers_mut().remove(ORIGIN_VERIFY);
        req.headers_mut().remove(VIEWER_ADDRESS);
        if let Some(ip) = viewer {
            // Into the request span, so the access log line names the viewer too.
            tracing::Span::current().record("viewer", tracing::field::display(ip));
            req.extensions_mut().insert(Viewer(ip));
        }
        Ok(req)
    }
}

#[cfg(test)]
mod tests;
