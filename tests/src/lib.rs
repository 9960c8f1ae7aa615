//! Harness of the black-box tests: one local stack per test binary (emulator on a free port,
//! resources from template.yaml, seeded `acme` and `globex`), reached only over HTTP like any
//! client, plus raw table access for the tests that play an attacker with database access.
//!
//! Naming convention: every test states what it proves in a `/// Proves: ID, ID` doc line
//! (requirement IDs of docs/requirements.md); `scripts/traceability` builds the matrix from them.

use quire_core::rbac::Role;
use quire_local::seed::{Onboarding, SeededOrg, DEFAULT_DEMO_PASSWORD};
use quire_local::{Stack, StackOptions};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

pub struct Harness {
    /// The API's address: through the local CloudFront edge.
    pub api: String,
    /// API Gateway's own address, behind the edge (requests there must prove the edge).
    pub origin: String,
    /// What the edge presents to the origin.
    pub origin_secret: String,
    pub emulator: String,
    pub data_table: String,
    pub audit_table: String,
    pub user_pool_id: String,
    pub user_pool_client_id: String,
    pub jwt_issuer: String,
    pub orgs: Vec<SeededOrg>,
    pub password: String,
    /// The TOTP secrets of every seeded Owner and Admin, by email (new organisations' too).
    totp_secrets: std::sync::Mutex<std::collections::HashMap<String, String>>,
    runtime: tokio::runtime::Handle,
    stack: &'static Stack,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

/// The stack of this test binary, started on first use on a runtime of its own that outlives
/// every test's runtime.
pub fn harness() -> &'static Harness {
    HARNESS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let handle = runtime.handle().clone();
            runtime.block_on(async move {
                let options = StackOptions {
                    seed: vec!["acme".into(), "globex".into()],
                    demo_password: DEFAULT_DEMO_PASSWORD.into(),
                    // Short enough for a test to outwait (tests/tests/registration.rs), long
                    // enough that no other test's registration expires under it.
                    registration_validity: Some(REGISTRATION_VALIDITY),
                    ..Default::default()
                };
                let stack: &'static Stack =
                    Box::leak(Box::new(Stack::start(options).await.expect("local stack starts")));
                tx.send((stack, handle)).expect("harness receiver");
                std::future::pending::<()>().await;
            });
        });
        let (stack, runtime) = rx.recv().expect("stack started");
        Harness {
            api: stack.api_url.clone(),
            origin: stack.origin_url.clone(),
            origin_secret: stack.origin_secret.clone(),
            emulator: stack.emulator.endpoint.clone(),
            data_table: stack.provisioned.data_table.clone(),
            audit_table: stack.provisioned.audit_table.clone(),
            user_pool_id: stack.provisioned.user_pool_id.clone(),
            user_pool_client_id: stack.provisioned.user_pool_client_id.clone(),
            jwt_issuer: stack.app.config.jwt_issuer.clone(),
            orgs: stack.orgs.clone(),
            password: stack.demo_password.clone(),
            totp_secrets: std::sync::Mutex::new(secrets_of(&stack.orgs)),
            runtime,
            stack,
        }
    })
}

/// The events of audit `entries` (as `GET /audit` lists them) with one of `actions`, in order.
pub fn events_of<'e>(entries: &'e [Value], actions: &[&str]) -> Vec<&'e Value> {
    entries
        .iter()
        .map(|e| &e["event"])
        .filter(|e| actions.iter().any(|a| e["action"] == *a))
        .collect()
}

/// The internal reasons (`after.reason`) of the entries with `action` among `entries` (their
/// events, as [`Harness::trail_entries`] gives them), in order.
pub fn reasons_of<'e>(entries: &'e [Value], action: &str) -> Vec<&'e str> {
    events_of(entries, &[action])
        .into_iter()
        .filter_map(|e| e["after"]["reason"].as_str())
        .collect()
}

fn secrets_of(orgs: &[SeededOrg]) -> std::collections::HashMap<String, String> {
    orgs.iter()
        .flat_map(|org| org.users.iter())
        .filter_map(|user| Some((user.email.clone(), user.totp_secret.clone()?)))
        .collect()
}

/// See [`Harness::pause_verifier`].
pub struct VerifierPaused(&'static Stack);

impl Drop for VerifierPaused {
    fn drop(&mut self) {
        self.0.verifier_stream.resume();
    }
}

/// A response as a test looks at it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The problem `type` of an error response.
    pub fn problem_type(&self) -> &str {
        self.body["type"].as_str().unwrap_or_default()
    }

    /// Asserts the reply is the problem `slug` (`urn:quire:problem:<slug>`) with `status`.
    pub fn assert_problem(&self, status: StatusCode, slug: &str) {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.problem_type(),
            format!("urn:quire:problem:{slug}"),
            "{}",
            self.text
        );
    }
}

/// A response read off the socket by [`Harness::raw_http`].
#[derive(Debug)]
pub struct RawReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Harness {
    /// Sends `head` (request line and headers, without the blank line) and `body` as bytes on
    /// a fresh connection, for what an HTTP client library refuses to send. `None` when the
    /// connection closes without a complete response.
    pub async fn raw_http(&self, head: &[u8], body: &[u8]) -> Option<RawReply> {
        self.raw_http_to(&self.api, head, body).await
    }

    /// [`Harness::raw_http`] to another address: [`Harness::origin`] skips the edge.
    pub async fn raw_http_to(&self, base: &str, head: &[u8], body: &[u8]) -> Option<RawReply> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let authority = base.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = tokio::net::TcpStream::connect(authority)
            .await
            .expect("connects to the gateway");
        let mut request = head.to_vec();
        request
            .extend_from_slice(format!("\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).as_bytes());
        request.extend_from_slice(body);
        stream.write_all(&request).await.ok()?;
        let mut bytes = Vec::new();
        tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut bytes))
            .await
            .expect("the gateway answers within a minute")
            .ok()?;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(offset) = response.parse(&bytes).ok()? else {
            return None;
        };
        Some(RawReply {
            status: response.code?,
            headers: response
                .headers
                .iter()
                .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                .collect(),
            body: String::from_utf8_lossy(&bytes[offset..]).into_owned(),
        })
    }

    pub fn org(&self, slug: &str) -> &SeededOrg {
        self.orgs.iter().find(|o| o.slug == slug).expect("seeded organisation")
    }

    /// Runs `future` on the stack's own runtime (for calls that use the stack's SDK clients).
    pub async fn on_stack<F, T>(&self, f: impl FnOnce(&'static Stack) -> F) -> T
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        self.runtime.spawn(f(self.stack)).await.expect("stack task")
    }

    /// A fresh organisation with its four users, for tests that must not disturb the others;
    /// its Owner and Admin have an authenticator each.
    pub async fn new_org(&self, prefix: &str) -> SeededOrg {
        self.new_org_with(prefix, Onboarding::Enrolled).await
    }

    /// [`Harness::new_org`] whose Owner and Admin have no authenticator yet.
    pub async fn new_org_without_authenticators(&self, prefix: &str) -> SeededOrg {
        self.new_org_with(prefix, Onboarding::WithoutAuthenticators).await
    }

    /// [`Harness::new_org`] whose four users were invited: the demo password is a temporary
    /// one their first sign-in must replace (Cognito's new-password challenge); no
    /// authenticators.
    pub async fn new_org_invited(&self, prefix: &str) -> SeededOrg {
        self.new_org_with(prefix, Onboarding::Invited).await
    }

    async fn new_org_with(&self, prefix: &str, onboarding: Onboarding) -> SeededOrg {
        let slug = format!("{prefix}{}", &uuid_hex()[..8]);
        let org = self
            .on_stack(move |stack| async move { stack.seed_org(&slug, onboarding).await.expect("seed organisation") })
            .await;
        self.totp_secrets
            .lock()
            .expect("secrets")
            .extend(secrets_of(std::slice::from_ref(&org)));
        org
    }

    /// Seeds a platform operator (RBAC-6) as provisioned (an Owner's membership, an
    /// authenticator, remembered), in the operators' organisation and, when `in_group`, their
    /// Cognito group; returns the email.
    pub async fn new_operator(&self, in_group: bool) -> String {
        self.new_operator_as(Role::Owner, in_group).await
    }

    /// [`Harness::new_operator`] whose membership has `role` (an authenticator only for a
    /// role that needs one).
    pub async fn new_operator_as(&self, role: Role, in_group: bool) -> String {
        let email = format!("operator-{}@quire.test", &uuid_hex()[..12]);
        let seeded = {
            let email = email.clone();
            self.on_stack(move |stack| async move {
                stack
                    .seed_operator(&email, role, in_group)
                    .await
                    .expect("seed operator")
            })
            .await
        };
        if let Some(secret) = seeded.totp_secret {
            self.remember_totp_secret(&email, &secret);
        }
        email
    }

    /// Records the secret of an authenticator a test enrolled for `email`: later sign-ins of
    /// theirs answer its challenge.
    pub fn remember_totp_secret(&self, email: &str, secret: &str) {
        self.totp_secrets
            .lock()
            .expect("secrets")
            .insert(email.to_owned(), secret.to_owned());
    }

    /// The TOTP secret of a seeded Owner's or Admin's authenticator.
    pub fn totp_secret(&self, email: &str) -> Option<String> {
        self.totp_secrets.lock().expect("secrets").get(email).cloned()
    }

    /// The current code of `email`'s authenticator, as its app would show it.
    pub fn totp_code(&self, email: &str) -> String {
        let secret = self
            .totp_secret(email)
            .unwrap_or_else(|| panic!("{email} has no authenticator"));
        quire_local::seed::totp_code(&secret).expect("TOTP code")
    }

    /// Signs `email` in with the demo password (from `from`, or the default client), answering
    /// the TOTP challenge of an Owner or Admin with their authenticator's current code: the last
    /// answer.
    pub async fn sign_in_reply(&self, from: Option<std::net::IpAddr>, email: &str) -> Reply {
        let login = json!({"email": email, "password": self.password});
        let reply = self.post_from(from, "/auth/login", login).await;
        if reply.status != StatusCode::OK || reply.body["challenge"] != "mfa" {
            return reply;
        }
        let answer = json!({"email": email, "session": reply.body["session"], "code": self.totp_code(email)});
        self.post_from(from, "/auth/mfa", answer).await
    }

    /// Signs `email` in from `from` with the demo password, which must lead to `challenge`
    /// (`mfa`, `new-password`) and no token: the challenge's session.
    pub async fn challenge_session(&self, from: std::net::IpAddr, email: &str, challenge: &str) -> String {
        let login = json!({"email": email, "password": self.password});
        let reply = self.post_from(Some(from), "/auth/login", login).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        assert_eq!(reply.body["challenge"], challenge, "{}", reply.text);
        assert!(
            reply.body.get("accessToken").is_none(),
            "no token before: {}",
            reply.text
        );
        reply.body["session"].as_str().expect("a challenge session").to_owned()
    }

    /// Cognito's challenge session of `email`'s demo password, got from Cognito directly (round
    /// Quire's guards and trail), as whoever holds the app client's secret could.
    pub async fn challenge_session_from_cognito(&self, email: &str) -> String {
        let hash = {
            let email = email.to_owned();
            self.on_stack(move |stack| async move {
                stack
                    .app
                    .client
                    .secret_hash(&stack.app.cognito, &email)
                    .await
                    .expect("the client's secret")
                    .expect("a secret")
            })
            .await
        };
        self.cognito()
            .initiate_auth()
            .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::UserPasswordAuth)
            .client_id(&self.user_pool_client_id)
            .auth_parameters("USERNAME", email)
            .auth_parameters("PASSWORD", &self.password)
            .auth_parameters("SECRET_HASH", hash)
            .send()
            .await
            .expect("Cognito challenges the sign-in")
            .session
            .expect("Cognito's challenge session")
    }

    async fn post_from(&self, from: Option<std::net::IpAddr>, path: &str, body: Value) -> Reply {
        match from {
            Some(address) => self.call_from(address, Method::POST, path, None, Some(body)).await,
            None => self.call(Method::POST, path, None, Some(body)).await,
        }
    }

    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Reply {
        let mut request = client().request(method, format!("{}{path}", self.api));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("request reaches the stack")).await
    }

    /// [`Harness::call`] sent from `from` (see [`fresh_address`]): the edge sees another client.
    pub async fn call_from(
        &self,
        from: std::net::IpAddr,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.request_from(from, method, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request.send().await.expect("request reaches the stack")).await
    }

    /// The platform's audit trail (identity events that name no organisation's account), oldest
    /// first, read from the store: no route serves it.
    pub async fn platform_entries(&self) -> Vec<Value> {
        self.trail_entries(&quire_core::ids::OrgId::platform()).await
    }

    /// Checks the platform's whole chain with the store's own verifier (no route serves it) and
    /// fails the test when it does not verify.
    pub async fn assert_platform_chain_valid(&self) {
        let platform = quire_core::ids::OrgId::platform();
        let check = self
            .on_stack(move |stack| async move {
                stack
                    .app
                    .store
                    .check_chain(&quire_store::testing::scope(&platform))
                    .await
                    .expect("platform chain")
            })
            .await;
        assert!(check.verification.valid, "{:?}", check.verification);
    }

    /// Any trail, oldest first, read from the store (for an organisation whose members cannot
    /// read it yet: pending, or held at the admin MFA gate).
    pub async fn trail_entries(&self, org: &quire_core::ids::OrgId) -> Vec<Value> {
        let org = org.clone();
        self.on_stack(|stack| async move {
            let scope = quire_store::testing::scope(&org);
            let mut entries = Vec::new();
            let mut page = quire_store::PageRequest::parse([("limit", "100")]).expect("page");
            loop {
                let listed = stack.app.store.audit_page(&scope, &page).await.expect("platform trail");
                entries.extend(listed.items.iter().map(|e| serde_json::to_value(e).expect("entry")));
                match listed.next {
                    Some(cursor) => {
                        page = quire_store::PageRequest::parse([("limit", "100"), ("cursor", cursor.as_str())])
                            .expect("page")
                    }
                    None => break,
                }
            }
            entries.reverse();
            entries
        })
        .await
    }

    /// The newest password-reset code Cognito sent `email` (locally: the emulator's mailbox).
    pub fn reset_code(&self, email: &str) -> Option<String> {
        self.mailed_code(email, "password-reset")
    }

    /// The newest sign-up confirmation code Cognito sent `email`.
    pub fn confirmation_code(&self, email: &str) -> Option<String> {
        self.mailed_code(email, "sign-up")
    }

    /// Every sign-up confirmation code Cognito sent `email`, oldest first.
    pub fn confirmation_codes(&self, email: &str) -> Vec<String> {
        self.stack
            .emulator
            .mail_to(email)
            .into_iter()
            .filter(|mail| mail.kind == "sign-up")
            .map(|mail| mail.code)
            .collect()
    }

    fn mailed_code(&self, email: &str, kind: &str) -> Option<String> {
        self.stack
            .emulator
            .mail_to(email)
            .into_iter()
            .rfind(|mail| mail.kind == kind)
            .map(|mail| mail.code)
    }

    pub async fn raw(&self, request: reqwest::RequestBuilder) -> Reply {
        reply(request.send().await.expect("request reaches the stack")).await
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        client().request(method, format!("{}{path}", self.api))
    }

    /// [`Harness::request`] sent from `from` (see [`Harness::call_from`]), for headers of one's own.
    pub fn request_from(&self, from: std::net::IpAddr, method: Method, path: &str) -> reqwest::RequestBuilder {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .local_address(from)
            .user_agent(USER_AGENT)
            .pool_max_idle_per_host(0)
            .build()
            .expect("http client")
            .request(method, format!("{}{path}", self.api))
    }

    /// Logs in through the API (Cognito underneath; an Owner or Admin with their TOTP code) and
    /// returns the access token.
    pub async fn login(&self, email: &str) -> String {
        let reply = self.sign_in_reply(None, email).await;
        assert_eq!(reply.status, StatusCode::OK, "login of {email}: {}", reply.text);
        reply.body["accessToken"].as_str().expect("access token").to_owned()
    }

    pub async fn token(&self, org: &SeededOrg, role: Role) -> String {
        self.login(&org.user(role).email).await
    }

    /// Creates a document as `token` and returns its JSON.
    pub async fn create_document(&self, token: &str, title: &str) -> Value {
        let reply = self
            .call(
                Method::POST,
                "/documents",
                Some(token),
                Some(json!({"title": title, "type": "sop", "body": "Step 1.\nStep 2."})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.body
    }

    /// Edits a document as `token`, naming the version the edit was made against (`If-Match`).
    pub async fn edit_document(&self, token: &str, id: &str, version: u64, body: Value) -> Reply {
        self.raw(
            self.request(Method::PATCH, &format!("/documents/{id}"))
                .bearer_auth(token)
                .header("if-match", format!("\"{version}\""))
                .json(&body),
        )
        .await
    }

    /// The AWS configuration of the emulator, for clients a test builds itself.
    pub fn sdk(&self) -> aws_config::SdkConfig {
        quire_local::emulator::sdk_config_for(&self.emulator)
    }

    /// AWS clients for this test's runtime, pointed at the emulator (the raw access an
    /// attacker or operator with credentials would have).
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&quire_local::emulator::sdk_config_for(&self.emulator))
    }

    pub fn cognito(&self) -> aws_sdk_cognitoidentityprovider::Client {
        aws_sdk_cognitoidentityprovider::Client::new(&quire_local::emulator::sdk_config_for(&self.emulator))
    }

    pub fn kms(&self) -> aws_sdk_kms::Client {
        aws_sdk_kms::Client::new(&quire_local::emulator::sdk_config_for(&self.emulator))
    }

    /// S3 needs path-style addressing on the emulator.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let sdk = quire_local::emulator::sdk_config_for(&self.emulator);
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
    }

    /// The ARN of the stack's KMS key (`DataKey`).
    pub async fn kms_key_arn(&self) -> String {
        let id = self
            .on_stack(|stack| async move { stack.provisioned.kms_key_id.clone() })
            .await;
        format!(
            "arn:aws:kms:{}:{}:key/{id}",
            quire_local::emulator::REGION,
            quire_local::provision::ACCOUNT_ID
        )
    }

    /// Overwrites one string attribute of a data-table item directly, as an attacker or operator
    /// with database access would (the API offers no way to).
    pub async fn tamper(&self, key: (String, String), name: &str, value: &str) {
        self.set_attribute(key, name, aws_sdk_dynamodb::types::AttributeValue::S(value.to_owned()))
            .await
    }

    /// Copies a data-table item, as is, to another key (a record copied behind the API's back).
    pub async fn copy_item(&self, (pk, sk): (String, String), (to_pk, to_sk): (String, String)) {
        use aws_sdk_dynamodb::types::AttributeValue;
        let found = self
            .dynamodb()
            .get_item()
            .table_name(&self.data_table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk))
            .send()
            .await
            .expect("read the item");
        let mut item = found.item.expect("the item exists");
        item.insert("pk".into(), AttributeValue::S(to_pk));
        item.insert("sk".into(), AttributeValue::S(to_sk));
        self.dynamodb()
            .put_item()
            .table_name(&self.data_table)
            .set_item(Some(item))
            .send()
            .await
            .expect("write the copy");
    }

    /// Overwrites one boolean attribute of a data-table item directly (see [`Harness::tamper`]).
    pub async fn tamper_flag(&self, key: (String, String), name: &str, value: bool) {
        self.set_attribute(key, name, aws_sdk_dynamodb::types::AttributeValue::Bool(value))
            .await
    }

    /// Overwrites one number attribute of a data-table item directly (see [`Harness::tamper`]).
    pub async fn tamper_number(&self, key: (String, String), name: &str, value: u64) {
        self.set_attribute(key, name, aws_sdk_dynamodb::types::AttributeValue::N(value.to_string()))
            .await
    }

    /// Whether a data-table item exists, read directly (see [`Harness::tamper`]).
    pub async fn item_exists(&self, (pk, sk): (String, String)) -> bool {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        self.dynamodb()
            .get_item()
            .table_name(&self.data_table)
            .key("pk", S(pk))
            .key("sk", S(sk))
            .consistent_read(true)
            .send()
            .await
            .expect("direct table read")
            .item
            .is_some()
    }

    /// Sets a string attribute of an audit-table item directly, as a database writer could;
    /// returns the value it had.
    pub async fn tamper_audit(&self, (pk, sk): (String, String), name: &str, value: &str) -> Option<String> {
        use aws_sdk_dynamodb::types::{AttributeValue::S, ReturnValue};
        self.dynamodb()
            .update_item()
            .table_name(&self.audit_table)
            .key("pk", S(pk))
            .key("sk", S(sk))
            .update_expression("SET #name = :value")
            .expression_attribute_names("#name", name)
            .expression_attribute_values(":value", S(value.to_owned()))
            .return_values(ReturnValue::UpdatedOld)
            .send()
            .await
            .expect("direct audit table update")
            .attributes
            .and_then(|old| old.get(name).and_then(|v| v.as_s().ok()).cloned())
    }

    /// Sets a list-of-strings attribute of a data-table item directly (see [`Harness::tamper`]).
    pub async fn tamper_list(&self, key: (String, String), name: &str, values: &[&str]) {
        let list = values
            .iter()
            .map(|v| aws_sdk_dynamodb::types::AttributeValue::S((*v).to_owned()))
            .collect();
        self.set_attribute(key, name, aws_sdk_dynamodb::types::AttributeValue::L(list))
            .await
    }

    async fn set_attribute(
        &self,
        (pk, sk): (String, String),
        name: &str,
        value: aws_sdk_dynamodb::types::AttributeValue,
    ) {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        self.dynamodb()
            .update_item()
            .table_name(&self.data_table)
            .key("pk", S(pk))
            .key("sk", S(sk))
            .update_expression("SET #name = :value")
            .expression_attribute_names("#name", name)
            .expression_attribute_values(":value", value)
            .send()
            .await
            .expect("direct table update");
    }

    /// The DynamoDB calls the emulator has served so far, by operation (`GetItem`, …): the
    /// emulator counts them (infra/local/moto_server.py).
    pub async fn dynamodb_calls(&self) -> std::collections::HashMap<String, u64> {
        self.emulator_counts("dynamodb-calls").await
    }

    /// The KMS calls the emulator has served so far, by operation (`Decrypt`, …).
    pub async fn kms_calls(&self) -> std::collections::HashMap<String, u64> {
        self.emulator_counts("kms-calls").await
    }

    async fn emulator_counts(&self, what: &str) -> std::collections::HashMap<String, u64> {
        client()
            .get(format!("{}/_quire/{what}", self.emulator))
            .send()
            .await
            .expect("the emulator answers")
            .json()
            .await
            .expect("counts as JSON")
    }

    /// Signs `email` in with the demo password (and an Owner's or Admin's TOTP code), from an
    /// address of its own: the whole answer (access and refresh tokens).
    pub async fn sign_in(&self, email: &str) -> Value {
        let reply = self.sign_in_reply(Some(fresh_address()), email).await;
        assert_eq!(reply.status, StatusCode::OK, "sign-in of {email}: {}", reply.text);
        reply.body
    }

    /// Waits until the audit writer has appended every pending event of `org` (its outbox is empty).
    pub async fn audit_settled(&self, org: &SeededOrg) {
        self.trail_settled(&org.org_id).await
    }

    /// Items of a data-table partition, read consistently (every page).
    pub async fn count_items(&self, partition: String) -> usize {
        let mut count = 0;
        let mut start = None;
        loop {
            let out = self
                .dynamodb()
                .query()
                .table_name(&self.data_table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S(partition.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("partition query");
            count += usize::try_from(out.count).unwrap_or_default();
            match out.last_evaluated_key {
                Some(key) => start = Some(key),
                None => return count,
            }
        }
    }

    /// [`Harness::audit_settled`] for any trail, the platform's included.
    pub async fn trail_settled(&self, org: &quire_core::ids::OrgId) {
        let ddb = self.dynamodb();
        for _ in 0..1200 {
            let out = ddb
                .query()
                .table_name(&self.data_table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(
                    ":pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(quire_store::testing::outbox_partition(org)),
                )
                .consistent_read(true)
                .limit(1)
                .send()
                .await
                .expect("outbox query");
            if out.count == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("audit writer did not drain the outbox of {org} in 60 s");
    }

    /// Holds the audit verifier's stream driver until the guard is dropped (a failing test
    /// included, so that the other tests of the binary are not held too).
    pub fn pause_verifier(&self) -> VerifierPaused {
        self.stack.verifier_stream.pause();
        VerifierPaused(self.stack)
    }

    /// Waits until the verification job `id` has its verdict (the audit verifier runs it from
    /// the stream), and returns the job. Generous: other tests of the binary may load the
    /// emulator or hold the verifier's stream meanwhile.
    pub async fn verification_done(&self, token: &str, id: &str) -> Value {
        for _ in 0..3000 {
            let reply = self
                .call(Method::GET, &format!("/audit/verifications/{id}"), Some(token), None)
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            if matches!(reply.body["status"].as_str(), Some("valid" | "broken")) {
                return reply.body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("verification {id} has no verdict after 300 s");
    }

    /// The whole audit trail of the caller's organisation, oldest first, read through the API.
    pub async fn audit_entries(&self, token: &str) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let path = match &next {
                Some(cursor) => format!("/audit?limit=100&cursor={cursor}"),
                None => "/audit?limit=100".to_owned(),
            };
            let reply = self.call(Method::GET, &path, Some(token), None).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
            entries.extend(reply.body["items"].as_array().expect("items").iter().cloned());
            match reply.body["next"].as_str() {
                Some(cursor) => next = Some(cursor.to_owned()),
                None => break,
            }
        }
        entries.reverse();
        entries
    }
}

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(0)
            .build()
            .expect("http client")
    })
}

async fn reply(response: reqwest::Response) -> Reply {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
        text,
    }
}

/// How long a registration stays unconfirmed before its email may register again, in the
/// tests' stack (deployed: 24 hours).
pub const REGISTRATION_VALIDITY: Duration = Duration::from_secs(20);

/// What [`Harness::call_from`] sends as `User-Agent`.
pub const USER_AGENT: &str = "quire-blackbox-tests";

/// A loopback address of its own (127.x.y.z, never 127.0.0.1): requests sent from it with
/// [`Harness::call_from`] reach the stack as another client's, so the per-address limits one test
/// trips do not touch another's.
pub fn fresh_address() -> std::net::IpAddr {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, bytes[0] | 1, bytes[1], bytes[2].max(2)))
}

pub fn uuid_hex() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The emulator's signing key, read from the installed moto package at run time.
pub fn emulator_key_pem(part: &str) -> String {
    let root = quire_local::emulator::repo_root();
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("infra/local/emulator_signing_key.py"))
        .arg(part)
        .output()
        .expect("python of the project virtualenv");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("PEM text")
}
