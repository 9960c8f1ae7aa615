//! The in-process API gateway: serves every function's route table on one loopback port,
//! handing each function an API Gateway HTTP API (payload 2.0) event, as AWS would: the
//! percent-decoded path as `rawPath`, the raw query, headers (repeated ones joined with commas,
//! cookies in `cookies`), path parameters, `requestContext.http.sourceIp`, and a request id.
//! Its own answers (no route, body over 6 MB) are API Gateway's bare ones.
//!
//! In front of it, as deployed, plays CloudFront ([`Edge`]): template.yaml's `Edge` distribution
//! with its origin-request policy (only the headers Quire reads, `CloudFront-Viewer-Address`
//! set to the peer, the origin secret added, a client's copies of either replaced) and its
//! response-headers policy (the security headers on every answer, the gateway's own included).
//! The stack serves both: the API's address through the edge, and the origin's (the
//! `execute-api` address) without it.

use bytes::Bytes;
use http::{HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use lambda_http::Body;
use quire_http::pipeline::edge::{FORWARDED_BY_CLOUDFRONT, FORWARDED_HEADERS, ORIGIN_VERIFY, VIEWER_ADDRESS};
use quire_http::pipeline::headers::stamp_security_headers;
use quire_http::pipeline::FunctionService;
use quire_http::Router;
use serde_json::{json, Map, Value};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// What reaches a function: API Gateway takes up to 10 MB, Lambda's synchronous invocation
/// payload is at most 6 MB. Anything between a route's own limit and this gets the function's
/// 413 problem, as on AWS.
const MAX_GATEWAY_BODY: usize = 6 * 1000 * 1000;

/// One deployed function: its name (as in template.yaml), its routes, and the service that handles them.
#[derive(Clone)]
pub struct Function {
    pub name: &'static str,
    pub router: Router,
    pub service: FunctionService,
}

/// CloudFront in front of the gateway: the origin secret it presents (CloudFormation resolves
/// `{{resolve:secretsmanager:…}}` at deploy time; locally the stack reads the same secret).
#[derive(Clone)]
pub struct Edge {
    /// What the distribution sends; replaced as a redeploy with a new value would.
    pub origin_secret: Arc<std::sync::RwLock<String>>,
}

/// The address API Gateway sees behind the edge: CloudFront's, never the viewer's (a
/// documentation address, RFC 5737).
const CLOUDFRONT_ADDRESS: ([u8; 4], u16) = ([192, 0, 2, 80], 443);

#[derive(Clone)]
pub struct Gateway {
    functions: Arc<Vec<Function>>,
    edge: Option<Edge>,
}

impl Gateway {
    /// API Gateway alone: the `execute-api` address.
    pub fn new(functions: Vec<Function>) -> Self {
        Gateway {
            functions: Arc::new(functions),
            edge: None,
        }
    }

    /// The same gateway behind CloudFront: the API's published address.
    pub fn behind(&self, edge: Edge) -> Self {
        Gateway {
            functions: self.functions.clone(),
            edge: Some(edge),
        }
    }

    /// Serves until the task is dropped.
    pub async fn serve(self, listener: TcpListener) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let gateway = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, Infallible>(gateway.edge_then_handle(req, peer).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// CloudFront's part (when in front), around API Gateway's.
    async fn edge_then_handle(
        &self,
        mut req: hyper::Request<Incoming>,
        peer: SocketAddr,
    ) -> hyper::Response<Full<Bytes>> {
        let Some(edge) = &self.edge else {
            return self.handle(req, peer).await;
        };
        // The origin-request policy: only what Quire reads (Authorization through the cache key),
        // and what CloudFront forwards itself.
        let viewer = req.headers().clone();
        let headers = req.headers_mut();
        headers.clear();
        for name in FORWARDED_HEADERS
            .iter()
            .chain(&FORWARDED_BY_CLOUDFRONT)
            .copied()
            .chain(["authorization"])
        {
            for value in viewer.get_all(name) {
                headers.append(HeaderName::from_static(name), value.clone());
            }
        }
        // CloudFront's own, replacing whatever the client sent under these names.
        let address = format!("{}:{}", peer.ip(), peer.port());
        let secret = edge.origin_secret.read().map(|s| s.clone()).unwrap_or_default();
        for (name, value) in [(VIEWER_ADDRESS, address.as_str()), (ORIGIN_VERIFY, secret.as_str())] {
            match HeaderValue::from_str(value) {
                Ok(value) => {
                    headers.insert(name, value);
                }
                Err(_) => return plain(502, r#"{"message":"Bad Gateway"}"#),
            }
        }
        let mut response = self.handle(req, SocketAddr::from(CLOUDFRONT_ADDRESS)).await;
        // The response-headers policy, with Override: on every answer.
        stamp_security_headers(response.headers_mut());
        response
    }

    async fn handle(&self, req: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let Ok(body) = Limited::new(body, MAX_GATEWAY_BODY)
            .collect()
            .await
            .map(|b| b.to_bytes())
        else {
            return plain(413, r#"{"message":"Request Entity Too Large"}"#);
        };
        // HTTP APIs match routes on, and hand the function, the percent-decoded path.
        let path = percent_encoding::percent_decode_str(parts.uri.path())
            .decode_utf8_lossy()
            .into_owned();
        // Like API Gateway: the most specific route wins, the catch-all takes the rest. A known
        // path with another method goes to its function (API Gateway: the path's `ANY` route,
        // `Router::gateway_routes`), whose pipeline answers 405 with `Allow`.
        let declared = self
            .functions
            .iter()
            .find_map(|function| match function.router.find(&parts.method, &path) {
                Ok(matched) if !matched.route.is_catch_all() => Some((function, Some(matched))),
                Err(quire_http::route::RouteError::MethodNotAllowed(_)) => Some((function, None)),
                _ => None,
            });
        let target = declared.or_else(|| {
            self.functions.iter().find_map(|function| {
                function
                    .router
                    .find(&parts.method, &path)
                    .ok()
                    .map(|m| (function, Some(m)))
            })
        });
        let Some((function, matched)) = target else {
            return plain(404, r#"{"message":"Not Found"}"#);
        };
        let event = api_gateway_event(&parts, &path, &body, peer, matched.as_ref());
        // The function reads the event exactly as on AWS (`quire_http::event`).
        let answer = quire_http::event::handle(function.service.clone(), event).await;
        let mut response = hyper::Response::new(Full::new(match answer.body {
            Some(Body::Text(text)) => Bytes::from(text),
            Some(Body::Binary(bytes)) => Bytes::from(bytes),
            _ => Bytes::new(),
        }));
        *response.status_mut() = u16::try_from(answer.status_code)
            .ok()
            .and_then(|s| hyper::StatusCode::from_u16(s).ok())
            .unwrap_or(hyper::StatusCode::BAD_GATEWAY);
        *response.headers_mut() = answer.headers;
        for cookie in answer.cookies {
            if let Ok(value) = hyper::header::HeaderValue::from_str(&cookie) {
                response.headers_mut().append(hyper::header::SET_COOKIE, value);
            }
        }
        response
    }
}

fn plain(status: u16, body: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The API Gateway v2 (HTTP API, payload format 2.0) event for a request.
fn api_gateway_event(
    parts: &http::request::Parts,
    decoded_path: &str,
    body: &[u8],
    peer: SocketAddr,
    matched: Option<&quire_http::route::Matched>,
) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        // Payload 2.0 carries cookies in `cookies`, not among the headers.
        if name == http::header::COOKIE {
            cookies.extend(value.split(';').map(|c| Value::String(c.trim().to_owned())));
            continue;
        }
        // API Gateway joins repeated headers with commas.
        match headers.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                headers.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let raw_query = parts.uri.query().unwrap_or_default();
    let mut query = Map::new();
    for (k, v) in form_urlencoded::parse(raw_query.as_bytes()) {
        // API Gateway joins repeated parameters with commas.
        match query.get_mut(k.as_ref()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k.into_owned(), Value::String(v.into_owned()));
            }
        }
    }
    let route_key = matched.map(|m| m.route.key()).unwrap_or_else(|| "$default".to_owned());
    let path_parameters: Map<String, Value> = matched
        .map(|m| {
            m.params
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect()
        })
        .unwrap_or_default();
    let user_agent = parts
        .headers
        .get(http::header::USER_AGENT)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (body_text, base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => {
            use base64::Engine;
            (base64::engine::general_purpose::STANDARD.encode(body), true)
        }
    };
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": decoded_path,
        "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": parts.method.as_str(),
                "path": decoded_path,
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": user_agent,
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": base64,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = Value::Object(path_parameters);
    }
    if !body.is_empty() {
        event["body"] = Value::String(body_text);
    }
    event
}
