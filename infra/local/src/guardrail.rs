//! Guardrails on template.yaml against the code. RBAC-2: the routes API Gateway serves and the
//! routes the code declares must be the same set, and API Gateway authorises nothing itself, so
//! that each route's public/protected decision lives in one place (its route table) and every
//! 401 is Quire's. HTTP-1: the CloudFront edge adds exactly Quire's security headers, forwards
//! exactly the headers Quire reads, and proves itself with the secret the functions check.

use quire_http::Router;
use serde_norway::Value;
use std::collections::BTreeSet;

/// (function logical id, "METHOD /path")
type RouteSet = BTreeSet<(String, String)>;

fn parse(template: &str) -> Result<Value, String> {
    let doc: Value = serde_norway::from_str(template).map_err(|e| format!("template is not YAML: {e}"))?;
    Ok(crate::provision::long_form(doc))
}

fn resources(doc: &Value) -> impl Iterator<Item = (String, &Value)> {
    doc.get("Resources")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .map(|(name, resource)| (name.as_str().unwrap_or_default().to_owned(), resource))
}

fn http_api_events(resource: &Value) -> impl Iterator<Item = (&Value, &Value)> {
    resource
        .get("Properties")
        .and_then(|p| p.get("Events"))
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter(|(_, event)| event.get("Type").and_then(Value::as_str) == Some("HttpApi"))
}

/// The HTTP API routes in a SAM template.
pub fn template_routes(template: &str) -> Result<RouteSet, String> {
    let doc = parse(template)?;
    let mut routes = RouteSet::new();
    for (name, resource) in resources(&doc) {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        for (_, event) in http_api_events(resource) {
            let props = event
                .get("Properties")
                .ok_or(format!("{name}: HttpApi event without Properties"))?;
            let method = props
                .get("Method")
                .and_then(Value::as_str)
                .ok_or(format!("{name}: route without Method"))?
                .to_uppercase();
            let path = props
                .get("Path")
                .and_then(Value::as_str)
                .ok_or(format!("{name}: route without Path"))?;
            routes.insert((name.clone(), format!("{method} {path}")));
        }
    }
    Ok(routes)
}

/// Every place the template has API Gateway authorise: an `Auth` on an HTTP API or on a route,
/// or an authorizer resource. Empty means every request reaches a function, which answers 401
/// itself (a problem with the security headers), as the route table declares.
pub fn gateway_authorisation(template: &str) -> Result<Vec<String>, String> {
    let doc = parse(template)?;
    let mut found = Vec::new();
    for (name, resource) in resources(&doc) {
        let ty = resource.get("Type").and_then(Value::as_str).unwrap_or_default();
        if ty == "AWS::ApiGatewayV2::Authorizer" || ty == "AWS::ApiGateway::Authorizer" {
            found.push(format!("{name}: an authorizer resource"));
        }
        if ty == "AWS::Serverless::HttpApi" && resource.get("Properties").and_then(|p| p.get("Auth")).is_some() {
            found.push(format!("{name}: Auth on the HTTP API"));
        }
        for (event, props) in http_api_events(resource) {
            if props.get("Properties").and_then(|p| p.get("Auth")).is_some() {
                found.push(format!(
                    "{name}.{}: Auth on the route",
                    event.as_str().unwrap_or_default()
                ));
            }
        }
    }
    Ok(found)
}

/// The routes the code declares, with the `ANY` route of each declared path
/// ([`Router::gateway_routes`]).
pub fn declared_routes(functions: &[(&str, Router)]) -> RouteSet {
    let mut routes = RouteSet::new();
    for (name, router) in functions {
        for (key, _) in router.gateway_routes() {
            routes.insert((name.to_string(), key));
        }
    }
    routes
}

/// The header names and values of a CloudFront response-headers policy, as sent.
fn response_policy_headers(config: &Value) -> Vec<(String, String)> {
    let mut headers = Vec::new();
    let security = &config["SecurityHeadersConfig"];
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    };
    if let Some(csp) = security.get("ContentSecurityPolicy") {
        headers.push(("content-security-policy".into(), text(&csp["ContentSecurityPolicy"])));
    }
    if let Some(hsts) = security.get("StrictTransportSecurity") {
        let mut value = format!("max-age={}", text(&hsts["AccessControlMaxAgeSec"]));
        if hsts.get("IncludeSubdomains").and_then(Value::as_bool) == Some(true) {
            value.push_str("; includeSubDomains");
        }
        if hsts.get("Preload").and_then(Value::as_bool) == Some(true) {
            value.push_str("; preload");
        }
        headers.push(("strict-transport-security".into(), value));
    }
    if security.get("ContentTypeOptions").is_some() {
        headers.push(("x-content-type-options".into(), "nosniff".into()));
    }
    if let Some(frame) = security.get("FrameOptions") {
        headers.push(("x-frame-options".into(), text(&frame["FrameOption"])));
    }
    if let Some(referrer) = security.get("ReferrerPolicy") {
        headers.push(("referrer-policy".into(), text(&referrer["ReferrerPolicy"])));
    }
    for item in config["CustomHeadersConfig"]["Items"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        headers.push((text(&item["Header"]).to_lowercase(), text(&item["Value"])));
    }
    // A header the policy would only add when the origin left it out is not a guarantee.
    for section in security.as_mapping().into_iter().flatten().map(|(_, v)| v) {
        if section.get("Override").and_then(Value::as_bool) != Some(true) {
            headers.push(("(a security header without Override: true)".into(), String::new()));
        }
    }
    for item in config["CustomHeadersConfig"]["Items"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        if item.get("Override").and_then(Value::as_bool) != Some(true) {
            headers.push(("(a custom header without Override: true)".into(), String::new()));
        }
    }
    headers.sort();
    headers
}

fn names(list: &Value) -> Vec<String> {
    let mut names: Vec<String> = list
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_lowercase)
        .collect();
    names.sort();
    names
}

fn reference(name: &str) -> Value {
    let mut m = serde_norway::Mapping::new();
    m.insert(Value::String("Ref".into()), Value::String(name.into()));
    Value::Mapping(m)
}

/// Every way the template's edge differs from what the code sends and reads: the response
/// headers policy from `SECURITY_HEADERS`, the origin request policy from `FORWARDED_HEADERS`,
/// the origin header from `ORIGIN_VERIFY` and its secret from the one the functions read.
pub fn edge_violations(template: &str) -> Result<Vec<String>, String> {
    use quire_http::pipeline::edge::{FORWARDED_HEADERS, ORIGIN_VERIFY};
    use quire_http::pipeline::headers::SECURITY_HEADERS;
    let doc = parse(template)?;
    let resource = |id: &str| doc["Resources"].get(id).cloned().unwrap_or(Value::Null);
    let mut found = Vec::new();

    let mut expected: Vec<(String, String)> = SECURITY_HEADERS
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    expected.sort();
    let policy = response_policy_headers(&resource("EdgeResponseHeaders")["Properties"]["ResponseHeadersPolicyConfig"]);
    if policy != expected {
        found.push(format!("EdgeResponseHeaders adds {policy:?}, Quire sends {expected:?}"));
    }

    let forwarded = names(
        &resource("EdgeOriginRequestPolicy")["Properties"]["OriginRequestPolicyConfig"]["HeadersConfig"]["Headers"],
    );
    let mut reads: Vec<String> = FORWARDED_HEADERS.iter().map(|h| h.to_string()).collect();
    reads.sort();
    if forwarded != reads {
        found.push(format!(
            "EdgeOriginRequestPolicy forwards {forwarded:?}, Quire reads {reads:?}"
        ));
    }
    let keyed = names(
        &resource("EdgeCachePolicy")["Properties"]["CachePolicyConfig"]["ParametersInCacheKeyAndForwardedToOrigin"]
            ["HeadersConfig"]["Headers"],
    );
    if keyed != ["authorization"] {
        found.push(format!("EdgeCachePolicy forwards {keyed:?}, not just Authorization"));
    }

    let config = &resource("Edge")["Properties"]["DistributionConfig"];
    let origins = config["Origins"].as_sequence().cloned().unwrap_or_default();
    let custom: Vec<&Value> = origins
        .iter()
        .flat_map(|o| o["OriginCustomHeaders"].as_sequence().into_iter().flatten())
        .collect();
    // The secret's current value, or the version a rotation names (decision 25).
    let sub = |text: &str| {
        let mut m = serde_norway::Mapping::new();
        m.insert(Value::String("Fn::Sub".into()), Value::String(text.into()));
        Value::Mapping(m)
    };
    let secret_value = Value::Mapping(
        [(
            Value::String("Fn::If".into()),
            Value::Sequence(vec![
                Value::String("HasPinnedOriginSecret".into()),
                sub("{{resolve:secretsmanager:${EdgeOriginSecret}:SecretString:::${EdgeOriginSecretVersion}}}"),
                sub("{{resolve:secretsmanager:${EdgeOriginSecret}:SecretString}}"),
            ]),
        )]
        .into_iter()
        .collect(),
    );
    let proves = |h: &&Value| {
        h["HeaderName"].as_str().map(str::to_lowercase).as_deref() == Some(ORIGIN_VERIFY.as_str())
            && h["HeaderValue"] == secret_value
    };
    if origins.len() != 1 || custom.len() != 1 || !custom.iter().any(proves) {
        found.push("Edge: one origin, whose only custom header is the origin secret from EdgeOriginSecret".into());
    }
    let behaviour = &config["DefaultCacheBehavior"];
    for (key, id) in [
        ("CachePolicyId", "EdgeCachePolicy"),
        ("OriginRequestPolicyId", "EdgeOriginRequestPolicy"),
        ("ResponseHeadersPolicyId", "EdgeResponseHeaders"),
    ] {
        if behaviour[key] != reference(id) {
            found.push(format!("Edge: DefaultCacheBehavior.{key} is not {id}"));
        }
    }
    // CloudFront caches these errors for 10 s unless told otherwise, whatever Cache-Control says.
    let uncached: BTreeSet<u64> = config["CustomErrorResponses"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter(|e| e["ErrorCachingMinTTL"].as_u64() == Some(0) && e.get("ResponsePagePath").is_none())
        .filter_map(|e| e["ErrorCode"].as_u64())
        .collect();
    let cacheable: BTreeSet<u64> = [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504].into();
    if uncached != cacheable {
        found.push(format!(
            "Edge: errors CloudFront would cache: {:?}",
            cacheable.difference(&uncached).collect::<Vec<_>>()
        ));
    }
    if config.get("CacheBehaviors").is_some() {
        found.push("Edge: a second cache behaviour would escape these policies".into());
    }
    if behaviour["ViewerProtocolPolicy"].as_str() != Some("https-only") {
        found.push("Edge: ViewerProtocolPolicy is not https-only".into());
    }

    if doc["Globals"]["Function"]["Environment"]["Variables"]["QUIRE_ORIGIN_SECRET_ID"] != reference("EdgeOriginSecret")
    {
        found.push("Globals: QUIRE_ORIGIN_SECRET_ID is not !Ref EdgeOriginSecret".into());
    }
    // The functions accept the version CloudFront is pinned to, whatever labels move.
    if doc["Globals"]["Function"]["Environment"]["Variables"]["QUIRE_ORIGIN_SECRET_VERSION"]
        != reference("EdgeOriginSecretVersion")
    {
        found.push("Globals: QUIRE_ORIGIN_SECRET_VERSION is not !Ref EdgeOriginSecretVersion".into());
    }
    for (name, function) in resources(&doc) {
        if http_api_events(function).next().is_none() {
            continue;
        }
        let policies = function["Properties"]["Policies"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        if !policies.contains(&reference("EdgeOriginSecretRead")) {
            found.push(format!(
                "{name} serves HTTP but cannot read the origin secret (EdgeOriginSecretRead)"
            ));
        }
    }
    Ok(found)
}

/// Functions whose role uses a table (any `dynamodb:` action on `DataTable` or `AuditTable`) but
/// may not use the data key through DynamoDB: both tables are encrypted under it, so every such
/// call would fail on AWS (the emulator does not enforce IAM or KMS).
pub fn table_users_without_the_key(template: &str) -> Result<Vec<String>, String> {
    let doc = parse(template)?;
    let mut found = Vec::new();
    for (name, resource) in resources(&doc) {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let statements: Vec<&Value> = resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|policy| policy["Statement"].as_sequence().into_iter().flatten())
            .collect();
        let actions = |statement: &Value| -> Vec<String> {
            match &statement["Action"] {
                Value::String(action) => vec![action.clone()],
                Value::Sequence(actions) => actions.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
                _ => Vec::new(),
            }
        };
        let on_table = |statement: &Value| {
            let text = format!("{:?}", statement["Resource"]);
            text.contains("DataTable") || text.contains("AuditTable")
        };
        let uses_table = statements
            .iter()
            .any(|s| on_table(s) && actions(s).iter().any(|a| a.starts_with("dynamodb:")));
        let via_dynamodb = statements.iter().any(|s| {
            actions(s).iter().any(|a| a == "kms:Decrypt")
                && format!("{:?}", s["Condition"]["StringEquals"]["kms:ViaService"]).contains("dynamodb.")
        });
        if uses_table && !via_dynamodb {
            found.push(format!("{name} uses a table but may not use its key through DynamoDB"));
        }
    }
    Ok(found)
}

/// The functions whose role may put or update items of the data table whose partition key
/// matches `key` ([`data_table_access`]).
pub fn data_table_writers(template: &str, key: &str) -> Result<Vec<String>, String> {
    data_table_access(template, key, &["dynamodb:PutItem", "dynamodb:UpdateItem"])
}

/// The functions whose role may make one of `actions` on items of the data table whose
/// partition key matches `key`: an `Allow` statement reaches it and no `Deny` statement does (a
/// statement without a `dynamodb:LeadingKeys` condition reaches every key; a condition's `*`
/// matches anything).
pub fn data_table_access(template: &str, key: &str, actions: &[&str]) -> Result<Vec<String>, String> {
    fn glob(pattern: &[u8], text: &[u8]) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some(b'*'), _) => glob(&pattern[1..], text) || (!text.is_empty() && glob(pattern, &text[1..])),
            (Some(p), Some(t)) if p == t => glob(&pattern[1..], &text[1..]),
            _ => false,
        }
    }
    let doc = parse(template)?;
    let mut found = Vec::new();
    for (name, resource) in resources(&doc) {
        let statements: Vec<&Value> = resource["Properties"]["Policies"]
            .as_sequence()
            .into_iter()
            .flatten()
            .flat_map(|policy| policy["Statement"].as_sequence().into_iter().flatten())
            .filter(|statement| format!("{:?}", statement["Resource"]).contains("DataTable"))
            .filter(|statement| {
                let granted = format!("{:?}", statement["Action"]);
                actions.iter().any(|action| granted.contains(action))
            })
            .collect();
        // Conservatively: an allow without a key condition reaches every key; a deny reaches
        // every key only without any condition.
        let reaches = |statement: &Value, operator: &str| match statement["Condition"][operator]["dynamodb:LeadingKeys"]
            .as_sequence()
        {
            None => operator.starts_with("ForAll") || statement["Condition"].is_null(),
            Some(keys) => keys
                .iter()
                .filter_map(Value::as_str)
                .any(|pattern| glob(pattern.as_bytes(), key.as_bytes())),
        };
        let effect = |statement: &Value| statement["Effect"].as_str().unwrap_or_default().to_owned();
        let allowed = statements
            .iter()
            .filter(|s| effect(s) == "Allow")
            .any(|s| reaches(s, "ForAllValues:StringLike"));
        let denied = statements
            .iter()
            .filter(|s| effect(s) == "Deny")
            .any(|s| reaches(s, "ForAnyValue:StringLike"));
        if allowed && !denied {
            found.push(name);
        }
    }
    Ok(found)
}

/// Every disagreement between the two, in words. Empty means consistent.
pub fn violations(template: &RouteSet, declared: &RouteSet) -> Vec<String> {
    let mut found = Vec::new();
    for (function, route) in template {
        if !declared.contains(&(function.clone(), route.clone())) {
            found.push(format!("{function}: {route} is served by template.yaml but has no declaration (permission or Public) in its route table"));
        }
    }
    for (function, route) in declared {
        if !template.contains(&(function.clone(), route.clone())) {
            found.push(format!(
                "{function}: {route} is declared but template.yaml does not serve it"
            ));
        }
    }
    found
}

/// Text that builds a storage key: a DynamoDB partition or sort key of Quire's layout, or an S3
/// tenant prefix. Only the store crate's key module may hold it (TEN-2, TEN-4).
pub const KEY_PATTERNS: [&str; 16] = [
    "\"ORG#",
    "ORG#{",
    "#OUTBOX",
    "#AUDIT",
    "#BLOB",
    "#QUARANTINE",
    "#VERIFICATION",
    "#VERIFIED",
    "#MEMBER",
    "#DOC\"",
    "\"ENTRY#",
    "\"USER#",
    "\"tenants/",
    "CURSOR_KEY",
    "\"ATTEMPTS#",
    "\"JOIN#",
];

/// Every line of Rust source under `root` (outside build output, hidden directories and the
/// store crate) that `hit` flags: `(file, line number, line)`. Comments are not code and are
/// skipped; this file names the patterns it looks for and is skipped too.
fn scan(root: &std::path::Path, hit: impl Fn(&str, &str) -> bool) -> Vec<(String, usize, String)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let relative = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            if path.is_dir() {
                let skip = relative.starts_with('.') || relative == "target" || relative == "shared/store";
                if !skip {
                    pending.push(path);
                }
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || relative == "infra/local/src/guardrail.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for (n, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if !code.starts_with("//") && hit(&relative, code) {
                    found.push((relative.clone(), n + 1, line.trim().to_owned()));
                }
            }
        }
    }
    found
}

/// Every line outside the store crate that builds a storage key ([`KEY_PATTERNS`]).
pub fn keys_built_outside_the_store(root: &std::path::Path) -> Vec<(String, usize, String)> {
    scan(root, |_, code| KEY_PATTERNS.iter().any(|p| code.contains(p)))
}

/// Store calls that reach another tenant's data without a caller's scope, or make a caller, and
/// the only places that may make them: the chain's append and reconciler (the audit writer, the
/// local stack that drives it, tests), a verification job's slices (the audit verifier, tests),
/// resolving a caller (the tenant layer), acting as another member (the impersonation layer,
/// tests), a platform operator inside an organisation (the break-glass layer; opening one, the
/// operator function), onboarding (seeding, tests), registering, confirming and expiring an organisation's
/// registration (the registration module alone), provisioning the platform's operators
/// (seeding), an operator's reach into an organisation (the operator function), and the test
/// helpers (tests).
pub const CAPABILITY_CALLS: [(&str, &[&str]); 19] = [
    (".append_outbox(", &["functions/audit-writer/", "tests/"]),
    (".append_stream_records(", &["functions/audit-writer/"]),
    (".drain_outbox(", &["tests/"]),
    (".reconcile(", &["functions/audit-writer/"]),
    (".quarantined(", &["tests/"]),
    (".run_verification_records(", &["functions/audit-verifier/"]),
    (".run_verification(", &["tests/"]),
    (".load_caller(", &["shared/http/src/pipeline/tenant.rs"]),
    (
        ".impersonate(",
        &["shared/http/src/pipeline/impersonation.rs", "tests/"],
    ),
    (".break_glass(", &["shared/http/src/pipeline/break_glass.rs"]),
    (".open_break_glass(", &["functions/operator/"]),
    (".create_organisation(", &["infra/local/src/seed.rs", "tests/"]),
    (".provision_operators(", &["infra/local/src/seed.rs"]),
    (".operated_organisation(", &["functions/operator/"]),
    (".operate_organisation(", &["functions/operator/"]),
    (
        ".register_organisation(",
        &["shared/http/src/identity/registration.rs", "tests/"],
    ),
    (".confirm_registration(", &["shared/http/src/identity/registration.rs"]),
    (".expire_registration(", &["shared/http/src/identity/registration.rs"]),
    ("quire_store::testing", &["tests/"]),
];

/// Every line outside the store crate that makes a [`CAPABILITY_CALLS`] call where it may not.
pub fn capability_calls_out_of_place(root: &std::path::Path) -> Vec<(String, usize, String)> {
    scan(root, |file, code| {
        CAPABILITY_CALLS
            .iter()
            .any(|(call, allowed)| code.contains(call) && !allowed.iter().any(|a| file.starts_with(a)))
    })
}

/// lambda_http's own event adapters: they build the request URL from the client's `Host` and
/// `X-Forwarded-Proto` headers and panic when those do not form a URL. Every function and the
/// local gateway read events through `quire_http::event` instead (HTTP-2, HTTP-4).
pub const HEADER_ROUTED_ADAPTERS: [&str; 3] = [
    "lambda_http::run",
    "lambda_http::request::from_str",
    "lambda_http::Adapter",
];

/// Every line that reads an event through one of [`HEADER_ROUTED_ADAPTERS`].
pub fn header_routed_adapters_in_use(root: &std::path::Path) -> Vec<(String, usize, String)> {
    scan(root, |_, code| HEADER_ROUTED_ADAPTERS.iter().any(|p| code.contains(p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use quire_http::Effect;

    fn template() -> String {
        std::fs::read_to_string(crate::provision::template_path()).expect("template.yaml")
    }

    /// The ingest function's last delivery is the queue's last: it rejects an upload it still
    /// cannot judge only if it knows the queue's `maxReceiveCount`, and a message must not
    /// become visible again while an invocation may still be judging it (the visibility
    /// timeout is at least the function's timeout; Lambda advises 6 ×).
    ///
    /// Proves: FILE-1
    #[test]
    fn the_ingest_queue_delivers_as_the_ingest_function_expects() {
        let doc = parse(&template()).unwrap();
        let resource = |id: &str| {
            doc.get("Resources")
                .and_then(|r| r.get(id))
                .and_then(|r| r.get("Properties"))
                .unwrap()
        };
        let queue = resource("AttachmentIngestQueue");
        let receives = queue
            .get("RedrivePolicy")
            .and_then(|r| r.get("maxReceiveCount"))
            .and_then(Value::as_u64);
        assert_eq!(
            receives,
            Some(u64::from(quire_fn_attachment_ingest::queue::MAX_RECEIVES))
        );
        let visibility = queue.get("VisibilityTimeout").and_then(Value::as_u64).unwrap();
        let timeout = resource("AttachmentIngestFunction")
            .get("Timeout")
            .and_then(Value::as_u64)
            .unwrap();
        assert!(visibility >= 6 * timeout, "{visibility} s < 6 × {timeout} s");
        let mapping = resource("AttachmentIngestQueueMapping");
        let responses = mapping
            .get("FunctionResponseTypes")
            .and_then(Value::as_sequence)
            .unwrap();
        assert!(responses.iter().any(|r| r.as_str() == Some("ReportBatchItemFailures")));
    }

    /// Proves: RBAC-2
    #[test]
    fn every_served_route_is_declared_and_vice_versa() {
        let found = violations(
            &template_routes(&template()).unwrap(),
            &declared_routes(&crate::stack::function_routes()),
        );
        assert!(found.is_empty(), "{found:#?}");
    }

    /// The user pool's password policy is Quire's (AUTHN-3): Cognito refuses what Quire's check
    /// lets through only if the two drift apart, and the history Cognito keeps is the one the
    /// answers name. A template edited to another length or history fails here.
    ///
    /// Proves: AUTHN-3
    #[test]
    fn the_user_pools_password_policy_is_quires() {
        use quire_core::password::{HISTORY, MIN_CHARS};
        let policy_of = |template: &str| {
            let doc = parse(template).unwrap();
            let policy = doc["Resources"]["UserPool"]["Properties"]["Policies"]["PasswordPolicy"].clone();
            assert!(policy.is_mapping(), "the pool has a password policy");
            policy
        };
        let holds = |policy: &Value| {
            policy["MinimumLength"].as_u64() == Some(MIN_CHARS as u64)
                && policy["PasswordHistorySize"].as_u64() == Some(HISTORY as u64)
                && [
                    "RequireUppercase",
                    "RequireLowercase",
                    "RequireNumbers",
                    "RequireSymbols",
                ]
                .iter()
                .all(|rule| policy[*rule].as_bool() == Some(true))
        };
        assert!(holds(&policy_of(&template())));
        for (from, to) in [
            ("MinimumLength: 12", "MinimumLength: 8"),
            ("PasswordHistorySize: 5", "PasswordHistorySize: 2"),
            ("RequireSymbols: true", "RequireSymbols: false"),
        ] {
            let drifted = template().replacen(from, to, 1);
            assert_ne!(drifted, template(), "{from}: the edit must change the template");
            assert!(!holds(&policy_of(&drifted)), "{to}");
        }
    }

    /// Every function's routes that `keep` keeps, as "METHOD /path".
    fn routes_where(keep: impl Fn(&quire_http::Route) -> bool) -> Vec<String> {
        crate::stack::function_routes()
            .iter()
            .flat_map(|(_, router)| router.routes().iter())
            .filter(|r| keep(r))
            .map(|r| r.key())
            .collect()
    }

    /// An expired password opens exactly these routes, in every function (AUTHN-4): changing
    /// it, the account page, sign-out, and enrolling an authenticator (without which an Owner or
    /// Admin could not reach the change: `pipeline::mfa`). A route that declared itself open to
    /// it anywhere else fails here.
    ///
    /// Proves: AUTHN-4
    #[test]
    fn an_expired_password_opens_exactly_its_change_and_the_account_routes() {
        let open = routes_where(|r| r.open_while_password_expired);
        assert_eq!(
            open,
            [
                "POST /auth/mfa/setup",
                "POST /auth/mfa/verify",
                "GET /auth/me",
                "POST /auth/password/change",
                "POST /auth/logout"
            ],
            "{open:?}"
        );
    }

    /// The app client has a secret, and only the auth and registration functions, and the
    /// documents function (which re-authenticates signers, decision 52), may read it
    /// (decisions 34 and 35): a template that dropped the secret, or let another function read
    /// it, fails here.
    ///
    /// Proves: AUTHN-5
    #[test]
    fn only_the_identity_functions_read_the_app_clients_secret() {
        let doc = parse(&template()).unwrap();
        let (_, client) = resources(&doc)
            .find(|(name, _)| name == "UserPoolClient")
            .expect("UserPoolClient");
        assert_eq!(
            client["Properties"]["GenerateSecret"].as_bool(),
            Some(true),
            "the app client has a secret"
        );
        let readers: Vec<String> = resources(&doc)
            .filter(|(_, resource)| {
                serde_norway::to_string(&resource["Properties"]["Policies"])
                    .unwrap_or_default()
                    .contains("cognito-idp:DescribeUserPoolClient")
            })
            .map(|(name, _)| name)
            .collect();
        assert_eq!(readers, ["AuthFunction", "RegistrationFunction", "DocumentsFunction"]);
    }

    /// Every function serving a route that re-authenticates its caller (a route that may record
    /// `reauthentication.failed`: turning a factor off, an electronic signature) may read the
    /// app client's secret and count the attempt and the member's limit. The local stack
    /// enforces no IAM; without this a deployed function would answer every such request 503.
    ///
    /// Proves: DOC-4, AUTHN-5
    #[test]
    fn functions_that_re_authenticate_may_count_and_prove_it() {
        use quire_core::audit::Action;
        let template = template();
        let doc = parse(&template).unwrap();
        let mut serving: Vec<&str> = crate::stack::function_routes()
            .into_iter()
            .filter(|(_, router)| {
                router
                    .routes()
                    .iter()
                    .any(|r| r.effect.actions().contains(&Action::ReauthenticationFailed))
            })
            .map(|(function, _)| function)
            .collect();
        serving.sort_unstable();
        assert_eq!(serving, ["AuthFunction", "DocumentsFunction"]);
        for function in &serving {
            let policies = resources(&doc)
                .find(|(name, _)| name == function)
                .map(|(_, r)| serde_norway::to_string(&r["Properties"]["Policies"]).unwrap_or_default())
                .unwrap_or_default();
            assert!(
                policies.contains("cognito-idp:DescribeUserPoolClient"),
                "{function} cannot read the app client's secret"
            );
            for key in ["ATTEMPTS#abc", "LIMIT#reauthentications-per-member#abc"] {
                let counters = data_table_access(&template, key, &["dynamodb:UpdateItem"]).unwrap();
                assert!(counters.iter().any(|c| c == function), "{function} cannot count {key}");
            }
        }
    }

    /// Only the registration function may write the user and account directories and
    /// registration records (decision 35): no sign-in, document, audit or administration
    /// function can make a user or take over an email. An organisation's profile is written by
    /// its registration and by the organisation function (its settings); its memberships by
    /// its registration and by the members function (roles and status), no other; its
    /// invitations by the members function (made, revoked) and the registration function (a
    /// join spends a use), no other. A template
    /// that granted another function one of them fails here.
    ///
    /// Proves: OPS-1
    #[test]
    fn only_their_own_functions_write_organisations_memberships_and_the_directories() {
        assert_eq!(
            data_table_writers(&template(), "ORG#org-1#PROFILE").unwrap(),
            ["RegistrationFunction", "OrganisationFunction", "OperatorFunction"]
        );
        assert_eq!(
            data_table_writers(&template(), "ORG#org-1#MEMBER").unwrap(),
            ["RegistrationFunction", "MembersFunction"]
        );
        assert_eq!(
            data_table_writers(&template(), "ORG#org-1#INVITATION").unwrap(),
            ["RegistrationFunction", "MembersFunction"]
        );
        assert_eq!(
            data_table_writers(&template(), "ORG#org-1#BREAK-GLASS").unwrap(),
            ["OperatorFunction"]
        );
        for key in [
            "ORG#org-1#REGISTRATION",
            "USER#user-1",
            "ACCOUNT#account#digest",
            "JOIN#account#digest",
        ] {
            assert_eq!(
                data_table_writers(&template(), key).unwrap(),
                ["RegistrationFunction"],
                "{key}"
            );
        }
        let widened = template().replacen(
            "                    - \"ORG#*#SESSION#*\"\n                    - \"REFRESH#*\"",
            "                    - \"ORG#*\"\n                    - \"REFRESH#*\"",
            1,
        );
        assert_ne!(widened, template(), "the edit must change the template");
        assert_eq!(
            data_table_writers(&widened, "ORG#org-1#MEMBER").unwrap(),
            ["AuthFunction", "RegistrationFunction", "MembersFunction"]
        );
    }

    /// A function that serves a writing route open to impersonation (RBAC-5) may check, and
    /// only check, the impersonation and the administrator's membership its changes are
    /// conditioned on (`AuditContext::for_caller`); the local stack enforces no IAM, so without
    /// this a deployed function would be refused every change made in an impersonation.
    ///
    /// Proves: RBAC-5
    #[test]
    fn functions_that_write_in_an_impersonation_may_check_what_it_is_conditioned_on() {
        let template = template();
        let mut writing: Vec<&str> = crate::stack::function_routes()
            .into_iter()
            .filter(|(_, router)| {
                router
                    .routes()
                    .iter()
                    .any(|r| r.accepts_impersonation() && r.effect.writes())
            })
            .map(|(function, _)| function)
            .collect();
        writing.sort_unstable();
        assert_eq!(writing, ["AttachmentsFunction", "AuditFunction", "DocumentsFunction"]);
        for key in ["ORG#org-1#SESSION#user-1", "ORG#org-1#MEMBER"] {
            let checkers = data_table_access(&template, key, &["dynamodb:ConditionCheckItem"]).unwrap();
            for function in &writing {
                assert!(checkers.iter().any(|c| c == function), "{function} cannot check {key}");
            }
        }
        // Checking is not writing: the guard opens no member or session to these functions.
        assert_eq!(
            data_table_writers(&template, "ORG#org-1#MEMBER").unwrap(),
            ["RegistrationFunction", "MembersFunction"]
        );
    }

    /// Every function serving a reading route of an organisation's records may record a
    /// platform operator's break-glass request (RBAC-6) before serving it: the organisation's
    /// outbox and the platform's. The local stack enforces no IAM; without this, a deployed
    /// function would answer 503 to every break-glass read.
    ///
    /// Proves: RBAC-6
    #[test]
    fn functions_serving_break_glass_reads_may_record_them_in_both_trails() {
        let template = template();
        let serving: Vec<&str> = crate::stack::function_routes()
            .into_iter()
            .filter(|(_, router)| {
                router
                    .routes()
                    .iter()
                    .any(|r| matches!(r.access, quire_http::Access::Requires(_)) && !r.effect.writes())
            })
            .map(|(function, _)| function)
            .collect();
        assert!(serving.contains(&"DocumentsFunction"), "{serving:?}");
        for key in ["ORG#org-1#OUTBOX", "ORG#platform#OUTBOX"] {
            let writers = data_table_writers(&template, key).unwrap();
            for function in &serving {
                assert!(writers.iter().any(|w| w == function), "{function} cannot write {key}");
            }
        }
    }

    /// A read-only organisation (ORG-1) still writes exactly the changes that contain a
    /// compromise, in every function: a route that declared itself open while read-only
    /// anywhere else fails here.
    ///
    /// Proves: ORG-1
    #[test]
    fn a_read_only_organisation_writes_exactly_what_locks_a_door() {
        let open = routes_where(|r| r.open_while_read_only);
        assert_eq!(
            open,
            [
                "POST /auth/sessions/revoke",
                "PATCH /organisation",
                "PATCH /members/{userId}",
                "POST /members/{userId}/deactivate",
                "DELETE /invitations/{invitationId}"
            ]
        );
        assert!(routes_where(|r| r.open_while_read_only && !r.effect.writes()).is_empty());
    }

    /// Exactly the operator function's routes are the platform operators' (RBAC-6), and no
    /// function can make anyone an operator: no policy grants a Cognito call that changes a
    /// user's groups, and the group the routes require is the template's.
    ///
    /// Proves: RBAC-6
    #[test]
    fn only_the_operator_routes_are_for_operators_and_no_function_makes_one() {
        let operators: Vec<(&str, String)> = crate::stack::function_routes()
            .iter()
            .flat_map(|(function, router)| router.routes().iter().map(move |r| (*function, r)))
            .filter(|(_, r)| r.access == quire_http::Access::Operator)
            .map(|(function, r)| (function, r.key()))
            .collect();
        assert_eq!(
            operators,
            [
                ("OperatorFunction", "GET /operator/organisations/{orgId}".to_owned()),
                ("OperatorFunction", "PATCH /operator/organisations/{orgId}".to_owned()),
                (
                    "OperatorFunction",
                    "POST /operator/organisations/{orgId}/break-glass".to_owned()
                ),
                (
                    "OperatorFunction",
                    "GET /operator/organisations/{orgId}/break-glass".to_owned()
                ),
                (
                    "OperatorFunction",
                    "DELETE /operator/organisations/{orgId}/break-glass".to_owned()
                ),
            ]
        );
        let template = template();
        // Every Cognito action any policy names: none on groups, none by wildcard.
        let actions: Vec<&str> = template
            .split("cognito-idp:")
            .skip(1)
            .map(|rest| {
                rest.split(|c: char| !c.is_ascii_alphanumeric() && c != '*')
                    .next()
                    .unwrap_or("")
            })
            .collect();
        assert!(!actions.is_empty());
        for action in &actions {
            assert!(
                !action.contains('*') && !action.contains("Group"),
                "cognito-idp:{action}"
            );
        }
        // A token-generation trigger could put the group into any token.
        for trigger in ["LambdaConfig", "PreTokenGeneration"] {
            assert!(!template.contains(trigger), "{trigger}");
        }
        // The operator function may write neither the operators' own organisation nor the
        // platform's records but its trail.
        for key in ["ORG#operators#PROFILE", "ORG#operators#MEMBER", "ORG#platform#PROFILE"] {
            assert!(
                !data_table_writers(&template, key)
                    .unwrap()
                    .contains(&"OperatorFunction".to_owned()),
                "{key}"
            );
        }
        assert!(data_table_writers(&template, "ORG#platform#OUTBOX")
            .unwrap()
            .contains(&"OperatorFunction".to_owned()));
        let group = format!("GroupName: {}\n", quire_core::rbac::OPERATORS_GROUP);
        assert_eq!(template.matches(&group).count(), 1, "{group}");
    }

    /// An Owner or Admin session without a second factor opens exactly enrolment, the account
    /// page and sign-out, in every function (AUTHN-7): a route that declared itself open to it
    /// anywhere else fails here.
    ///
    /// Proves: AUTHN-7
    #[test]
    fn a_session_without_a_second_factor_opens_exactly_enrolment_and_the_account_page() {
        let open = routes_where(|r| r.open_without_mfa);
        assert_eq!(
            open,
            [
                "POST /auth/mfa/setup",
                "POST /auth/mfa/verify",
                "GET /auth/me",
                "POST /auth/logout"
            ],
            "{open:?}"
        );
    }

    /// Proves: RBAC-2 — the guardrail fails for a route without a declaration.
    #[test]
    fn guardrail_catches_an_undeclared_route() {
        let with_extra = template().replacen(
            "Events:",
            "Events:\n        UndeclaredRoute:\n          Type: HttpApi\n          Properties:\n            ApiId: !Ref HttpApi\n            Method: DELETE\n            Path: /documents/{id}",
            1,
        );
        let routes = template_routes(&with_extra).unwrap();
        assert!(
            routes.iter().any(|(_, r)| r == "DELETE /documents/{id}"),
            "the test edit must add a route"
        );
        let found = violations(&routes, &declared_routes(&crate::stack::function_routes()));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].contains("DELETE /documents/{id}") && found[0].contains("no declaration"));
    }

    /// API Gateway authorises nothing: whether a route is public is its route table's word
    /// alone, and every 401 is Quire's problem answer. An authorizer put back is caught.
    ///
    /// Proves: RBAC-2, HTTP-8
    #[test]
    fn api_gateway_authorises_nothing() {
        assert_eq!(gateway_authorisation(&template()).unwrap(), Vec::<String>::new());
        let with_authorizer = template().replacen(
            "      FailOnWarnings: true\n",
            "      FailOnWarnings: true\n      Auth:\n        DefaultAuthorizer: CognitoJwt\n",
            1,
        );
        let with_route_auth = template().replacen(
            "            Path: /documents\n",
            "            Path: /documents\n            Auth:\n              Authorizer: NONE\n",
            1,
        );
        for (edited, what) in [(with_authorizer, "HTTP API"), (with_route_auth, "route")] {
            let found = gateway_authorisation(&edited).unwrap();
            assert_eq!(found.len(), 1, "{what}: {found:#?}");
            assert!(found[0].contains(&format!("Auth on the {what}")), "{found:#?}");
        }
    }

    /// The edge in template.yaml is the one the code expects, and a change to either side of
    /// it is caught: a security header changed, a read header left out, the secret's header
    /// renamed, the origin request policy widened.
    ///
    /// Proves: HTTP-1, HTTP-8
    #[test]
    fn the_edge_adds_what_quire_sends_and_forwards_what_quire_reads() {
        assert_eq!(edge_violations(&template()).unwrap(), Vec::<String>::new());
        let edits = [
            (
                "ReferrerPolicy: no-referrer",
                "ReferrerPolicy: origin",
                "EdgeResponseHeaders",
            ),
            (
                "              Value: no-store\n              Override: true",
                "              Value: no-store\n              Override: false",
                "EdgeResponseHeaders",
            ),
            ("            - If-Match\n", "", "EdgeOriginRequestPolicy"),
            (
                "            - User-Agent\n",
                "            - User-Agent\n            - X-Forwarded-For\n",
                "EdgeOriginRequestPolicy",
            ),
            (
                "HeaderName: X-Quire-Origin-Verify",
                "HeaderName: X-Origin-Verify",
                "origin secret",
            ),
            (
                "ViewerProtocolPolicy: https-only",
                "ViewerProtocolPolicy: allow-all",
                "https-only",
            ),
            ("        - !Ref EdgeOriginSecretRead\n", "", "EdgeOriginSecretRead"),
            (
                "          - { ErrorCode: 503, ErrorCachingMinTTL: 0 }\n",
                "",
                "errors CloudFront would cache",
            ),
            (
                ":SecretString:::${EdgeOriginSecretVersion}",
                ":SecretString",
                "origin secret",
            ),
        ];
        for (from, to, named) in edits {
            let edited = template().replacen(from, to, 1);
            assert_ne!(edited, template(), "the edit {from:?} must change the template");
            let found = edge_violations(&edited).unwrap();
            assert!(found.len() == 1 && found[0].contains(named), "{from:?}: {found:#?}");
        }
    }

    /// Every role that calls DynamoDB may use the tables' key through DynamoDB; a role without
    /// it is caught.
    ///
    /// Proves: OPS-1
    #[test]
    fn every_table_user_may_use_the_tables_key() {
        assert_eq!(table_users_without_the_key(&template()).unwrap(), Vec::<String>::new());
        let template = template();
        let start = template.find("  AuthFunction:").unwrap();
        let sid = start
            + template[start..]
                .find("            - Sid: TableEncryptionViaDynamoDb")
                .unwrap();
        let end = sid + template[sid..].find("      Events:").unwrap();
        let without = format!("{}{}", &template[..sid], &template[end..]);
        let found = table_users_without_the_key(&without).unwrap();
        assert!(found.len() == 1 && found[0].starts_with("AuthFunction"), "{found:#?}");
    }

    /// Every route of every function says whether it writes and what it records, and no
    /// declaration contradicts itself (a writing route without an audit action, a write on GET,
    /// a write permission on a reading route, a writing route open to Viewers); a route that
    /// reads records only what it declares (an access: a download).
    ///
    /// Proves: RBAC-2
    #[test]
    fn every_route_declares_whether_it_writes_and_what_it_records() {
        let mut writing = 0;
        for (function, router) in crate::stack::function_routes() {
            for route in router.routes() {
                assert_eq!(route.contradiction(), None, "{function}");
                match route.effect {
                    Effect::Writes(actions) => {
                        writing += 1;
                        assert!(!actions.is_empty(), "{function} {}", route.key());
                    }
                    Effect::Records(actions) => assert!(!actions.is_empty(), "{function} {}", route.key()),
                    Effect::Reads => assert!(route.effect.actions().is_empty(), "{function} {}", route.key()),
                }
            }
        }
        assert!(writing >= 3, "the documents and audit functions write");
    }

    /// No DynamoDB key, `ORG#` prefix or S3 tenant prefix is built outside the store crate:
    /// functions, the local stack and the tests ask the store (`quire_store::testing` for tests).
    ///
    /// Proves: TEN-2
    #[test]
    fn no_key_is_built_outside_the_store_crate() {
        let root = crate::emulator::repo_root();
        let found = keys_built_outside_the_store(&root);
        assert!(found.is_empty(), "keys built outside shared/store: {found:#?}");
        // The scan reaches the store crate's own key module when it is not excluded.
        let inside = keys_built_outside_the_store(&root.join("shared"));
        assert!(
            inside.iter().any(|(file, _, _)| file.ends_with("keys.rs")),
            "the scan must see the store's keys: {inside:#?}"
        );
    }

    /// The store calls that reach a tenant without a caller's scope are made only where they
    /// belong: no handler appends to the chain, runs a verification slice, resolves a caller or
    /// uses the test helpers.
    ///
    /// Proves: TEN-1
    #[test]
    fn tenant_reaching_calls_are_made_only_where_they_belong() {
        let root = crate::emulator::repo_root();
        let found = capability_calls_out_of_place(&root);
        assert!(found.is_empty(), "calls out of place: {found:#?}");
        // A handler calling one is caught.
        let probe = std::env::temp_dir().join(format!("quire-guardrail-{}", std::process::id()));
        let handler = probe.join("functions/documents/src");
        std::fs::create_dir_all(&handler).unwrap();
        std::fs::write(
            handler.join("lib.rs"),
            "let scope = quire_store::testing::scope(&org);\n",
        )
        .unwrap();
        let caught = capability_calls_out_of_place(&probe);
        std::fs::remove_dir_all(&probe).ok();
        assert_eq!(caught.len(), 1, "{caught:#?}");
    }

    /// No function, gateway, benchmark or test reads an API Gateway event through lambda_http's
    /// header-routed adapters.
    ///
    /// Proves: HTTP-2
    #[test]
    fn events_are_read_only_through_quire_http() {
        let root = crate::emulator::repo_root();
        let found = header_routed_adapters_in_use(&root);
        assert!(
            found.is_empty(),
            "events read through lambda_http's adapter: {found:#?}"
        );
        let probe = std::env::temp_dir().join(format!("quire-guardrail-adapter-{}", std::process::id()));
        let main = probe.join("functions/health/src");
        std::fs::create_dir_all(&main).unwrap();
        std::fs::write(main.join("main.rs"), "    lambda_http::run(service).await\n").unwrap();
        let caught = header_routed_adapters_in_use(&probe);
        std::fs::remove_dir_all(&probe).ok();
        assert_eq!(caught.len(), 1, "{caught:#?}");
    }

    /// `docs/openapi.json` is the document the route tables generate (regenerate with
    /// `QUIRE_WRITE_OPENAPI=1 cargo test -p quire-local openapi`), and its operations are the
    /// routes template.yaml serves (its `ANY` routes aside, which only answer 404 and 405).
    ///
    /// Proves: RBAC-2, HTTP-7
    #[test]
    fn the_committed_openapi_document_is_the_generated_one_and_the_deployed_one() {
        let path = crate::emulator::repo_root().join("docs/openapi.json");
        let generated = quire_http::openapi::document_json(&crate::stack::function_routes());
        if std::env::var_os("QUIRE_WRITE_OPENAPI").is_some() {
            std::fs::write(&path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(&path).expect("docs/openapi.json");
        assert!(
            committed == generated,
            "docs/openapi.json is stale: QUIRE_WRITE_OPENAPI=1 cargo test -p quire-local openapi"
        );
        let document: serde_json::Value = serde_json::from_str(&committed).unwrap();
        let mut operations = std::collections::BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                operations.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
        let served: std::collections::BTreeSet<String> = template_routes(&template())
            .unwrap()
            .into_iter()
            .map(|(_, route)| route)
            .filter(|route| !route.starts_with("ANY "))
            .collect();
        assert_eq!(operations, served);
    }
}
