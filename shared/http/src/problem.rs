//! RFC 9457 problem details: the only error shape Quire answers with.
//!
//! Every problem has a stable `type` (a URN clients may match on), a fixed `title`, the
//! HTTP status, and a `detail` written for the client. Internal causes (SDK errors, stored
//! ids, stack traces) are logged server-side and never put into a problem (HTTP-4).

use http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::{json, Map, Value};

/// Media type of every error response.
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    extensions: Map<String, Value>,
    /// Headers the problem's status calls for (`Retry-After`, `Allow`).
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Problem {
    fn new(status: StatusCode, slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Problem {
            status,
            slug,
            title,
            detail: detail.into(),
            extensions: Map::new(),
            headers: Vec::new(),
        }
    }

    /// Adds an extension member (RFC 9457 §3.2), e.g. the offending `field`.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable problem type URN, e.g. `urn:quire:problem:not-found`.
    pub fn type_uri(&self) -> String {
        format!("urn:quire:problem:{}", self.slug)
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }

    // --- 4xx -------------------------------------------------------------------------

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail)
    }

    /// The body is not acceptable JSON for this route; `field` names the culprit when known.
    pub fn invalid_body(detail: impl Into<String>, field: Option<&str>) -> Self {
        let problem = Self::new(StatusCode::BAD_REQUEST, "invalid-body", "Invalid request body", detail);
        match field {
            Some(name) => problem.with("field", name),
            None => problem,
        }
    }

    pub fn invalid_parameter(name: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-parameter",
            "Invalid parameter",
            detail,
        )
        .with("parameter", name)
    }

    pub fn invalid_cursor() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-cursor",
            "Invalid cursor",
            "the pagination cursor is not valid here",
        )
    }

    pub fn control_characters(location: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "control-characters",
            "Control characters refused",
            format!("the {location} contains control or bidirectional-override characters"),
        )
    }

    /// A new password breaks the policy (AUTHN-3): `violations` lists every rule it breaks, each
    /// as `{"rule": <stable name>, "detail": <what the rule asks>}`.
    pub fn weak_password(violations: &[quire_core::password::Violation]) -> Self {
        let listed: Vec<Value> = violations
            .iter()
            .map(|v| json!({ "rule": v, "detail": v.rule() }))
            .collect();
        Self::new(
            StatusCode::BAD_REQUEST,
            "weak-password",
            "Weak password",
            "the new password breaks the password policy; `violations` names every rule it breaks",
        )
        .with("field", "newPassword")
        .with("violations", listed)
    }

    /// A reset or confirmation code that is wrong, used, expired, or for no account: one
    /// answer for each (AUTHN-9).
    pub fn invalid_code() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-code",
            "Invalid code",
            "the code is not valid for this email, or has expired; ask for a new one",
        )
        .with("field", "code")
    }

    /// A registration's confirmation that was refused: a wrong or expired code, a password
    /// that is not the registration's, no registration pending for the email, or confirmations
    /// of the account locked: one answer for each (AUTHN-6, AUTHN-9).
    pub fn invalid_confirmation() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-code",
            "Invalid code",
            "the code and password do not confirm a registration or join of this email, or the \
             code has expired; ask for a new one",
        )
        .with("field", "code")
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Unauthorized", detail)
    }

    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "Invalid credentials",
            "the email or password is not correct",
        )
    }

    /// An answer to a sign-in's TOTP challenge was refused (AUTHN-7): a wrong code, a challenge
    /// that is unknown, used or expired, or a locked account: one answer for each.
    pub fn invalid_mfa_answer() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "Invalid credentials",
            "the code is not correct, or this sign-in can no longer be completed; sign in again \
             if it keeps failing",
        )
    }

    /// An answer to a sign-in's new-password challenge was refused: a challenge that is
    /// unknown, used or expired, or a locked account: one answer for each.
    pub fn invalid_new_password_answer() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "Invalid credentials",
            "this sign-in can no longer be completed; sign in again with the temporary password",
        )
    }

    /// A code given to enrol an authenticator is not its current one (AUTHN-7).
    pub fn invalid_totp_code() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-code",
            "Invalid code",
            "the code is not the authenticator's current one, or no enrolment was started \
             (POST /auth/mfa/setup)",
        )
        .with("field", "code")
    }

    /// The token's session was signed out or revoked, or never started through Quire's sign-in
    /// (AUTHN-2): signing in again is the only way on.
    pub fn token_revoked() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "token-revoked",
            "Token revoked",
            "this token's session was signed out or revoked; sign in again",
        )
    }

    /// The token's session passed its idle or absolute limit (AUTHN-8).
    pub fn session_expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "session-expired",
            "Session expired",
            "this session passed its idle or absolute time limit; sign in again",
        )
    }

    /// The token does not grant a scope the route needs (RFC 6750 §3.1 `insufficient_scope`,
    /// with the scopes in `WWW-Authenticate`).
    pub fn insufficient_scope(scopes: &[&str]) -> Self {
        let mut problem = Self::new(
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            "Insufficient scope",
            format!(
                "the token does not grant the scopes this route needs: {}",
                scopes.join(" ")
            ),
        );
        let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{}\"", scopes.join(" "));
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            problem.headers.push((header::WWW_AUTHENTICATE, value));
        }
        problem
    }

    /// The caller's password is older than its maximum age (AUTHN-4): only
    /// `POST /auth/password/change`, `GET /auth/me` and `POST /auth/logout` are open.
    pub fn password_expired() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "password-expired",
            "Password expired",
            "the password has expired; change it (POST /auth/password/change) to go on",
        )
    }

    /// The caller is an Owner or Admin whose session has not passed a second factor (AUTHN-7):
    /// only TOTP enrolment (`POST /auth/mfa/setup`, `POST /auth/mfa/verify`), `GET /auth/me` and
    /// `POST /auth/logout` are open.
    pub fn mfa_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "mfa-required",
            "MFA required",
            "this role needs a second factor: enrol an authenticator (POST /auth/mfa/setup, then \
             POST /auth/mfa/verify) or sign in with its code to go on",
        )
    }

    /// The current password given to change it is not correct, or the account is locked after
    /// consecutive failures: one answer for both.
    pub fn wrong_password() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "wrong-password",
            "Wrong password",
            "the current password is not correct",
        )
        .with("field", "currentPassword")
    }

    /// A re-authentication was refused: the password or the authenticator's code is not
    /// correct, or the account is locked after consecutive failures: one answer for each.
    pub fn reauthentication_failed() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "reauthentication-failed",
            "Re-authentication failed",
            "the password or the authenticator's code is not correct",
        )
    }

    /// The request came from an address outside the organisation's IP allowlist (ORG-3).
    pub fn ip_not_allowed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "ip-not-allowed",
            "Address not allowed",
            "your organisation allows requests only from its listed networks",
        )
    }

    /// A role the caller may not give, or a member they may not manage (RBAC-1).
    pub fn role_not_grantable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "role-not-grantable",
            "Role not grantable",
            detail,
        )
    }

    /// A join code that does not join (ORG-4): no such invitation or not its secret, expired,
    /// used up, revoked, or the organisation takes no new members now: one answer for each.
    pub fn invalid_join_code() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid-join-code",
            "Invalid join code",
            "the code joins no one: it is wrong, expired, used up or revoked, its maker may no \
             longer invite, or the organisation takes no new members now; ask whoever invited you \
             for a new one",
        )
        .with("field", "code")
    }

    /// The joiner proved their email, but the invitation they joined with no longer joins
    /// anyone (ORG-4): its uses spent by others who confirmed first, revoked, expired, its
    /// maker's authority changed, or the organisation takes no new members now. Told only to
    /// whoever proved the email and the password.
    pub fn invitation_closed() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "invitation-closed",
            "Invitation closed",
            "the invitation you joined with no longer admits anyone (its uses spent, revoked, \
             expired, its maker may no longer invite, or the organisation takes no new members \
             now); ask for a new invitation and join again with its code",
        )
    }

    /// The organisation lets only other email domains join (AUTHN-10): told only to a holder of
    /// a right code.
    pub fn email_domain_not_allowed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "email-domain-not-allowed",
            "Email domain not allowed",
            "this organisation lets only emails of its own domains join; join with your email there",
        )
        .with("field", "email")
    }

    /// The invitation is bound to another email (ORG-4): told only to a holder of its code.
    pub fn email_not_invited() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "email-not-invited",
            "Email not invited",
            "this invitation is for another email; join with the email it was sent to",
        )
        .with("field", "email")
    }

    /// The organisation's last active Owner cannot be demoted or deactivated (RBAC-1).
    pub fn last_owner() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "last-owner",
            "Last Owner",
            "this member is the organisation's last active Owner: make another Owner first",
        )
    }

    /// A member cannot deactivate themself.
    pub fn cannot_deactivate_self() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "cannot-deactivate-self",
            "Cannot deactivate yourself",
            "another administrator must deactivate you",
        )
    }

    /// The organisation's trial ended: its data is read-only for 14 days (ORG-1).
    pub fn trial_ended() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "trial-ended",
            "Trial ended",
            "your organisation's trial has ended: its records can be read but not changed",
        )
    }

    /// The organisation is suspended: its data is read-only (ORG-1).
    pub fn organisation_suspended() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "organisation-suspended",
            "Organisation suspended",
            "your organisation is suspended: its records can be read but not changed",
        )
    }

    /// The organisation's subscription is suspended (ORG-1, billing): reads only.
    pub fn subscription_suspended() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "subscription-suspended",
            "Subscription suspended",
            "your organisation's subscription is suspended: its records can be read but not changed",
        )
    }

    /// The route's module is not in the organisation's plan (ORG-2).
    pub fn module_not_in_plan(module: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "module-not-in-plan",
            "Module not in plan",
            "your organisation's plan does not include this module",
        )
        .with("module", module)
    }

    /// The organisation awaits its Owner's confirmation: only one's own account (ORG-1).
    pub fn organisation_pending() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "organisation-pending",
            "Organisation not yet active",
            "your organisation is not active until its Owner confirms their email",
        )
    }

    /// The organisation's trial ended more than 14 days ago: only one's own account (ORG-1).
    pub fn organisation_locked() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "organisation-locked",
            "Organisation locked",
            "your organisation's trial has ended and its records are locked",
        )
    }

    /// An IP allowlist that would refuse the address the request saving it comes from (ORG-3):
    /// saved only with `confirmLockout: true`.
    pub fn lockout_not_confirmed() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "lockout-not-confirmed",
            "The allowlist would refuse you",
            "the IP allowlist does not include the address this request comes from, so your next \
             request would be refused; send confirmLockout: true to save it anyway",
        )
    }

    /// The caller's role must keep a second factor (Owner, Admin: AUTHN-7).
    pub fn mfa_mandatory() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "mfa-mandatory",
            "Second factor mandatory",
            "an Owner or Admin must keep a second factor; enrol a new authenticator to replace it",
        )
    }

    /// The caller has no authenticator to act on.
    pub fn no_authenticator() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "no-authenticator",
            "No authenticator",
            "this account has no authenticator enrolled",
        )
    }

    /// The organisation signs in only through its identity provider (AUTHN-10): told only to
    /// whoever sent the right password.
    pub fn sso_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "sso-required",
            "Sign in through your organisation's identity provider",
            "your organisation signs in only through its identity provider; password sign-in is off",
        )
    }

    /// Cognito refused an identity provider's configuration (AUTHN-10): its issuer or metadata
    /// could not be read, or a detail is invalid. The organisation's record holds it; SSO-only
    /// cannot be turned on until Cognito takes one.
    pub fn identity_provider_refused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "identity-provider-refused",
            "Identity provider refused",
            "Cognito refused the identity provider's configuration (its issuer or metadata could not \
             be read, or a detail is invalid); correct it and send it again",
        )
    }

    /// Turning SSO-only on without `confirmLockout: true` (AUTHN-10): the sender's next password
    /// sign-in would be refused.
    pub fn sso_lockout_not_confirmed() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "lockout-not-confirmed",
            "SSO-only would refuse your password",
            "with ssoOnly every member's password sign-in is refused, yours included; send \
             confirmLockout: true to save it anyway",
        )
    }

    /// The route is the platform operators' (RBAC-6): the caller is not a member of the
    /// operators' organisation, or their token does not carry the operators' Cognito group.
    pub fn operators_only() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "operators-only",
            "Platform operators only",
            "this route is for the platform's operators",
        )
    }

    /// A platform operator called an organisation's route (RBAC-6): operators are members of no
    /// customer's organisation; they act on one only through the operator routes.
    pub fn not_for_operators() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "not-for-operators",
            "Not a route for operators",
            "a platform operator is a member of no organisation; use the operator routes",
        )
    }

    /// `Quire-Impersonate` on a route where no one is impersonated (RBAC-5,
    /// `Route::accepts_impersonation`): one's own account, administering the organisation
    /// (its members, settings and impersonation itself), signing electronically, an operator's
    /// or a public route.
    pub fn impersonation_not_here() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "impersonation-not-here",
            "No impersonation on this route",
            "this route acts as the signed-in account only (one's own account, administering the \
             organisation, signing electronically): send it without Quire-Impersonate",
        )
    }

    /// `Quire-Impersonate` names a member the session does not act as (RBAC-5): the
    /// impersonation ended, ran out or was never started in this session, or the member may no
    /// longer be impersonated by the caller.
    pub fn impersonation_inactive(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "impersonation-inactive",
            "No such impersonation",
            detail,
        )
    }

    /// A writing route in an impersonation that may not write (RBAC-5): the organisation does
    /// not allow write impersonation, or did not when it started.
    pub fn impersonation_read_only() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "impersonation-read-only",
            "Impersonation is read-only",
            "this impersonation may only read; the organisation's Owner decides whether \
             impersonation may write (impersonationWrites)",
        )
    }

    /// An impersonation that may not start (RBAC-5): the member is an Owner, oneself,
    /// deactivated, or holds a permission the caller does not.
    pub fn impersonation_refused(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "impersonation-refused",
            "Impersonation refused",
            detail,
        )
    }

    /// `Quire-Break-Glass` on a route that serves no organisation's records (RBAC-6): one's own
    /// account, an operator's or a public route.
    pub fn break_glass_not_here() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "break-glass-not-here",
            "No break-glass on this route",
            "this route serves no organisation's records: send it without Quire-Break-Glass",
        )
    }

    /// `Quire-Break-Glass` names an organisation the operator's session has no open break-glass
    /// session into (RBAC-6), or one that serves no records now.
    pub fn break_glass_inactive(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "break-glass-inactive",
            "No open break-glass session",
            detail,
        )
    }

    /// Opening a break-glass session (RBAC-6) needs a second factor passed within the last 15
    /// minutes (`quire_store::break_glass::SECOND_FACTOR_WITHIN`).
    pub fn second_factor_too_old() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "second-factor-too-old",
            "Second factor too old",
            "opening a break-glass session needs a second factor passed within the last 15 minutes: \
             sign in again with your code",
        )
    }

    /// A writing route in a break-glass session (RBAC-6): it only reads.
    pub fn break_glass_read_only() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "break-glass-read-only",
            "Break-glass is read-only",
            "a break-glass session only reads the organisation's records",
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden", detail)
    }

    pub fn not_member() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "no-membership",
            "No active membership",
            "this account has no active membership in an active organisation",
        )
    }

    pub fn request_refused() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "request-refused",
            "Request refused",
            "this request was refused by the request filter",
        )
    }

    /// A request that did not come through CloudFront, where the deployment has an edge
    /// (`pipeline::edge`): the published address is the only way in.
    pub fn edge_required() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "edge-required",
            "Request did not come through the edge",
            "send requests to the API's published address",
        )
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", "no such resource")
    }

    /// 405 with the `Allow` header listing the methods the resource has, sorted (RFC 9110 §15.5.6).
    pub fn method_not_allowed(allowed: &[http::Method]) -> Self {
        let mut methods: Vec<&str> = allowed.iter().map(http::Method::as_str).collect();
        methods.sort_unstable();
        methods.dedup();
        let allow = methods.join(", ");
        let mut problem = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            format!("this resource supports {allow}"),
        );
        if let Ok(value) = HeaderValue::from_str(&allow) {
            problem.headers.push((header::ALLOW, value));
        }
        problem
    }

    /// 429 with `Retry-After` (RFC 6585 §4): the client, or everyone, is asking too fast.
    pub fn too_many_requests(retry_after_seconds: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-requests",
            "Too many requests",
            "too many requests; retry after the time in Retry-After",
        )
        .with_retry_after(retry_after_seconds)
    }

    /// 428 (RFC 6585 §3): a change must name, in `If-Match`, the version it was made against.
    pub fn precondition_required() -> Self {
        Self::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "Precondition required",
            "send If-Match with the ETag of the version you are changing",
        )
    }

    /// 412 (RFC 9110 §15.5.13): the record changed since the version the client named.
    pub fn precondition_failed() -> Self {
        Self::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition-failed",
            "Precondition failed",
            "the record changed since the version in If-Match; read it again",
        )
    }

    /// 422: an `Idempotency-Key` already used with another request (draft-ietf-httpapi-
    /// idempotency-key-header §2.7).
    pub fn idempotency_key_reused() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency key reused",
            "this Idempotency-Key was used with another request; use a new key for a new request",
        )
    }

    /// A version cannot move to the state asked for (DOC-1): `allowed` lists the states it can
    /// move to (empty when its state is final).
    pub fn transition_not_allowed(detail: impl Into<String>, allowed: Vec<&str>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "transition-not-allowed",
            "Transition not allowed",
            detail,
        )
        .with("allowed", allowed)
    }

    /// A signature that may not be given now (DOC-3, DOC-4): the version's state, the signer's
    /// place on its route, or a signature given already; `detail` says which.
    pub fn signature_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "signature-not-allowed",
            "Signature not allowed",
            detail,
        )
    }

    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }

    /// 409: a stored file failed its integrity check when it was read (its ciphertext was
    /// altered, replaced, cut or removed, or no longer matches its recorded SHA-256); nothing
    /// was served, and the failure is in the audit trail.
    pub fn integrity_failed() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "integrity-failed",
            "Integrity check failed",
            "the stored file failed its integrity check and was not served; the failure is recorded",
        )
    }

    /// 400: the representation is larger than one response may carry (`limit` bytes), and the
    /// request named no range (RFC 9110 §14.2).
    pub fn range_required(size: u64, limit: u64) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "range-required",
            "Range required",
            format!(
                "the file is {size} bytes; request it in ranges of at most {limit} bytes (Range: bytes=0-{})",
                limit - 1
            ),
        )
        .with("size", size)
        .with("limit", limit)
    }

    /// 416 with `Content-Range: bytes */<size>` (RFC 9110 §15.5.17): the range is not one
    /// satisfiable range of the representation.
    pub fn range_not_satisfiable(size: u64) -> Self {
        let mut problem = Self::new(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "range-not-satisfiable",
            "Range not satisfiable",
            format!("send one byte range within the file's {size} bytes (Range: bytes=<first>-<last>)"),
        )
        .with("size", size);
        if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
            problem.headers.push((header::CONTENT_RANGE, value));
        }
        problem
    }

    /// The change cannot be recorded in the audit trail as it stands (so it is not made).
    pub fn not_recordable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not-recordable",
            "Change cannot be recorded",
            detail,
        )
    }

    /// 422: a generated file (an export) would exceed what one response carries.
    pub fn export_too_large(limit: u64) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "export-too-large",
            "Export too large",
            format!("the export would exceed {limit} bytes, what one response carries"),
        )
        .with("limit", limit)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("this route accepts bodies of at most {limit} bytes"),
        )
        .with("limit", limit)
    }

    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as application/json",
        )
    }

    // --- 5xx -------------------------------------------------------------------------

    /// A failure of ours. The cause is logged with the correlation id; the client gets none of it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the request failed on our side; quote the correlation id when reporting it",
        )
    }

    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "dependency unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            "a dependency is unavailable; retry later",
        )
        .with_retry_after(5)
    }

    /// 503 with `Retry-After: 1`: the audit trail has not yet appended a change the answer would
    /// show (its writer appends within a moment); a copy is never made without it.
    pub fn not_yet_recorded() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-yet-recorded",
            "Not yet recorded",
            "the audit trail has not yet recorded every change this answer would show; send the request again in a moment",
        )
        .with_retry_after(1)
    }

    /// 503 with `Retry-After: 1`: another change of the same records was in flight; nothing was
    /// written, and the same request may be sent again.
    pub fn contended() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "contended",
            "Busy",
            "another change of the same records was in progress; nothing was changed, send the request again",
        )
        .with_retry_after(1)
    }

    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.headers.retain(|(name, _)| name != header::RETRY_AFTER);
        self.headers.push((header::RETRY_AFTER, HeaderValue::from(seconds)));
        self
    }

    pub fn body(&self) -> Value {
        let mut body = Map::new();
        body.insert("type".into(), json!(self.type_uri()));
        body.insert("title".into(), json!(self.title));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        for (key, value) in &self.extensions {
            body.insert(key.clone(), value.clone());
        }
        Value::Object(body)
    }

    pub fn into_response(self) -> Response<Body> {
        let mut response = Response::new(Body::Text(self.body().to_string()));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.slug, self.detail)
    }
}

impl std::error::Error for Problem {}

/// How a storage error reaches a client: conflicts as 409, contention as 503 with `Retry-After`,
/// a change the trail cannot record as 422, a cursor this listing did not issue as 400,
/// everything else as 500 without detail.
impl From<quire_store::StoreError> for Problem {
    fn from(error: quire_store::StoreError) -> Self {
        use quire_store::StoreError;
        match error {
            StoreError::Conflict => Problem::conflict("the record was changed by someone else; read it again"),
            StoreError::Contended => Problem::contended(),
            StoreError::AlreadyExists => Problem::conflict("the record already exists"),
            StoreError::NotRecordable(why) => Problem::not_recordable(why.to_string()),
            StoreError::TooLarge(_) => Problem::not_recordable("the change is too large to store and record"),
            StoreError::InvalidCursor => Problem::invalid_cursor(),
            other => Problem::internal(other),
        }
    }
}

/// Encryption errors are never the client's: 500 without detail.
impl From<quire_crypto::CryptoError> for Problem {
    fn from(error: quire_crypto::CryptoError) -> Self {
        Problem::internal(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A changed record is 409; contention with another transaction is 503 with `Retry-After`
    /// (nothing was written, the same request may succeed), never a 412 or 409.
    #[test]
    fn storage_conflicts_and_contention_answer_differently() {
        let changed = Problem::from(quire_store::StoreError::Conflict);
        assert_eq!(changed.status(), StatusCode::CONFLICT);
        let busy = Problem::from(quire_store::StoreError::Contended).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            busy.headers().get(header::RETRY_AFTER).map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
    }

    #[test]
    fn internal_problem_hides_its_cause() {
        let problem = Problem::internal("ResourceNotFoundException: table quire-DataTable arn:aws:dynamodb:...");
        let text = problem.body().to_string();
        assert!(!text.contains("ResourceNotFound"));
        assert!(!text.contains("arn:"));
        assert_eq!(problem.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn problem_response_is_problem_json_with_stable_type() {
        let response = Problem::not_found().into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let Body::Text(text) = response.body() else {
            panic!("text body")
        };
        let body: Value = serde_json::from_str(text).unwrap();
        assert_eq!(body["type"], "urn:quire:problem:not-found");
        assert_eq!(body["status"], 404);
    }
}
