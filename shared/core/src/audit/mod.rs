//! The audit trail (AUD-1..3, AUD-7, AUD-8): what an event records, its canonical form, and
//! the per-tenant SHA-256 hash chain. Storage of events (outbox) and entries (chain) is in the
//! store crate (`quire-store`); the format is specified for auditors in `docs/audit-format.md`.

pub mod blob;
pub mod canonical;
pub mod chain;
pub mod export;

use crate::ids::OrgId;
use crate::text::sanitize_line;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// What happened. Stable dotted names; new kinds are added, never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Action {
    #[serde(rename = "organisation.created")]
    OrganisationCreated,
    #[serde(rename = "member.added")]
    MemberAdded,
    #[serde(rename = "document.created")]
    DocumentCreated,
    #[serde(rename = "document.updated")]
    DocumentUpdated,
    /// A full verification of the chain was requested (`POST /audit/verifications`).
    #[serde(rename = "audit.verification.started")]
    AuditVerificationStarted,
    /// A full verification's verdict (`after`: the job with its verdict).
    #[serde(rename = "audit.verified")]
    AuditVerified,
    /// A password sign-in that Cognito accepted (`after`: the attempt's number among the
    /// consecutive ones).
    #[serde(rename = "sign-in.succeeded")]
    SignInSucceeded,
    /// A password sign-in that was refused (`after.reason`: why, kept in the trail and never
    /// returned to the client).
    #[serde(rename = "sign-in.failed")]
    SignInFailed,
    /// Consecutive failures reached the lockout's limit (`after.lockedUntil`).
    #[serde(rename = "sign-in.locked")]
    SignInLocked,
    /// The first sign-in attempt after a lock ended (`after.lockedUntil`: when it ended).
    #[serde(rename = "sign-in.unlocked")]
    SignInUnlocked,
    /// A rate limit refused its first request of a window (`after`: the limit, the window and
    /// when it ends); later refusals of the window are not recorded one by one.
    #[serde(rename = "rate-limit.tripped")]
    RateLimitTripped,
    /// A password-reset code was asked for (`after.outcome`: `code-sent`, or why none was).
    #[serde(rename = "password.reset.requested")]
    PasswordResetRequested,
    /// A password was reset with a code Cognito accepted (`after.attempt`).
    #[serde(rename = "password.reset")]
    PasswordReset,
    /// A reset code was refused (`after.reason`, kept internal; `after.lockedUntil` when this
    /// failure locked resets of the account).
    #[serde(rename = "password.reset.failed")]
    PasswordResetFailed,
    /// The password was right and Cognito asked for another step (`after.challenge`: a new
    /// password, MFA): no session yet.
    #[serde(rename = "sign-in.challenged")]
    SignInChallenged,
    /// A session's refresh was granted and its idle limit moved (`after`: the session and its
    /// new idle and absolute ends).
    #[serde(rename = "session.refreshed")]
    SessionRefreshed,
    /// A refresh found its session past its idle or absolute limit: the session ended
    /// (`after.limit`: `idle` or `absolute`) and the refresh was refused.
    #[serde(rename = "session.expired")]
    SessionExpired,
    /// The member signed out: the session ended at once (`after.session`).
    #[serde(rename = "session.signed-out")]
    SessionSignedOut,
    /// Every session of a member started until now was revoked, by the member or an
    /// administrator (`target`: the member; `after.revokedBefore`).
    #[serde(rename = "sessions.revoked")]
    SessionsRevoked,
    /// The member changed their password, proving the current one (`after.changedAt`).
    #[serde(rename = "password.changed")]
    PasswordChanged,
    /// A password change was refused because the current password was wrong (`after.reason`,
    /// kept internal; counted like a failed sign-in).
    #[serde(rename = "password.change.failed")]
    PasswordChangeFailed,
    /// The member enrolled a TOTP authenticator (AUTHN-7): Cognito verified a code of it, and
    /// the session that enrolled it counts as having passed a second factor (`after.session`).
    #[serde(rename = "mfa.enrolled")]
    MfaEnrolled,
    /// A sign-in's second factor was accepted (`after.attempt`); `sign-in.succeeded` follows in
    /// the same transaction.
    #[serde(rename = "mfa.challenge.passed")]
    MfaChallengePassed,
    /// A sign-in's second factor was refused (`after.reason`, kept internal: a wrong code counts
    /// like a failed sign-in; an unknown or expired challenge does not).
    #[serde(rename = "mfa.challenge.failed")]
    MfaChallengeFailed,
    /// An organisation was registered through the API (`after`: the organisation, `Pending`
    /// until its Owner confirms their email); the first entry of its trail.
    #[serde(rename = "organisation.registered")]
    OrganisationRegistered,
    /// A registration that created nothing (`after.reason`, kept internal: the email is taken,
    /// or the identity provider refused it), in the platform's trail.
    #[serde(rename = "registration.refused")]
    RegistrationRefused,
    /// The Owner confirmed their email with Cognito's code: the organisation is active from
    /// now (`after`: the attempt, and the organisation's status before and after).
    #[serde(rename = "registration.confirmed")]
    RegistrationConfirmed,
    /// A confirmation code was refused (`after.reason`, kept internal; `after.lockedUntil` when
    /// this failure locked confirmations of the account).
    #[serde(rename = "registration.confirm.failed")]
    RegistrationConfirmFailed,
    /// A new confirmation code was asked for (`after.outcome`: `code-sent`, or why none was).
    #[serde(rename = "registration.code.requested")]
    RegistrationCodeRequested,
    /// A registration left unconfirmed past its validity was closed so that its email can
    /// register again (`after`: the status change and the Owner), by Quire itself; or, in the
    /// platform's trail, an unconfirmed identity no registration wrote was deleted for the same
    /// reason (`after.identity`).
    #[serde(rename = "registration.expired")]
    RegistrationExpired,
    /// The member turned their TOTP authenticator off after a fresh re-authentication
    /// (`after.enrolledAt`, `after.disabledAt`).
    #[serde(rename = "mfa.disabled")]
    MfaDisabled,
    /// A re-authentication of a signed-in member was refused (`after.reason`, kept internal:
    /// a wrong password or code counts like a failed sign-in; `after.purpose`: what it was for).
    #[serde(rename = "reauthentication.failed")]
    ReauthenticationFailed,
    /// An administrator changed the organisation's settings (`PATCH /organisation`: its name,
    /// session limits, IP allowlist, join domains; `PUT /organisation/roles/{role}`: its
    /// permission matrix), with a reason; `before` and `after` are the organisation's
    /// record as it was and as written.
    #[serde(rename = "organisation.updated")]
    OrganisationUpdated,
    /// An administrator changed a member's role (`before` and `after`: the membership), with a
    /// reason; `sessions.revoked` follows in the same transaction.
    #[serde(rename = "member.role.changed")]
    MemberRoleChanged,
    /// An administrator deactivated a member: refused on every request until reactivated
    /// (`before` and `after`: the membership), with a reason; `sessions.revoked` follows.
    #[serde(rename = "member.deactivated")]
    MemberDeactivated,
    /// An administrator reactivated a member (`before` and `after`: the membership), with a
    /// reason.
    #[serde(rename = "member.reactivated")]
    MemberReactivated,
    /// An administrator made an invitation (ORG-4; `after`: its role, bound email, uses and
    /// expiry; never its code, which only its creator sees, once).
    #[serde(rename = "invitation.created")]
    InvitationCreated,
    /// An administrator revoked an invitation: its code joins no one from now (`before` and
    /// `after`: the invitation).
    #[serde(rename = "invitation.revoked")]
    InvitationRevoked,
    /// A joiner confirmed their email: one of the invitation's uses is spent (`before` and
    /// `after`: the invitation); `member.added` follows in the same transaction.
    #[serde(rename = "invitation.used")]
    InvitationUsed,
    /// A join was refused (`after.reason`, kept internal; `after.lockedUntil` when this failure
    /// started a cooldown): in the invitation's organisation's trail when the code's secret was
    /// right, otherwise in the platform's.
    #[serde(rename = "join.refused")]
    JoinRefused,
    /// A join code opened an invitation and Cognito made the joiner's user, unconfirmed
    /// (`after`: the organisation and invitation): in the platform's trail, as the organisation
    /// sees a join only once its email is confirmed.
    #[serde(rename = "join.requested")]
    JoinRequested,
    /// A platform operator changed an organisation's terms (RBAC-6, ORG-1, ORG-2: its status
    /// and trial end, its subscription, its modules), with a reason; `before` and `after` are
    /// the organisation's record as it was and as written. Recorded twice, in one transaction:
    /// in the organisation's trail and in the platform's.
    #[serde(rename = "operator.organisation.changed")]
    OperatorOrganisationChanged,
    /// An administrator started acting as a member (RBAC-5; `target`: the member; `after`: the
    /// impersonation, its end and whether it may write), with a reason. Until it ends, every
    /// entry of a change made in it names the member as `actor` and the administrator as
    /// `actor.impersonator`.
    #[serde(rename = "impersonation.started")]
    ImpersonationStarted,
    /// An impersonation ended (`before` and `after`: the impersonation; `after.cause`): the
    /// administrator ended it (`ended`), or a request made in it found it run out (`ran-out`)
    /// or no longer allowed (`member-deactivated`, `member-is-owner`, `member-holds-more`,
    /// `member-gone`, `not-permitted`). One that runs out with no request after it, or whose
    /// session ends, stops without an entry of its own: its start recorded its end, and the
    /// session's end is recorded.
    #[serde(rename = "impersonation.ended")]
    ImpersonationEnded,
    /// A platform operator opened an organisation's records to read, for a while, with a reason
    /// (RBAC-6, break-glass; `target`: the organisation; `after`: the session, its end).
    /// Recorded twice, in one transaction: in the organisation's trail and in the platform's.
    #[serde(rename = "operator.break-glass.opened")]
    OperatorBreakGlassOpened,
    /// A request a platform operator made in a break-glass session, recorded before it was
    /// served (`target`: the route, `GET /documents/{id}`; `after`: its path and the session).
    /// In the organisation's trail and the platform's.
    #[serde(rename = "operator.break-glass.request")]
    OperatorBreakGlassRequest,
    /// A platform operator closed a break-glass session before its end (`before` and `after`:
    /// the session). In the organisation's trail and the platform's.
    #[serde(rename = "operator.break-glass.closed")]
    OperatorBreakGlassClosed,
    /// A version of a document was made (`target`: the document; `after`: the version, its
    /// content included): the first with `document.created`, each later one from the last
    /// with its reason for change (DOC-2).
    #[serde(rename = "document.version.created")]
    DocumentVersionCreated,
    /// A version moved in its lifecycle (`target`: the document; `before` and `after`: the
    /// version; the reason): a client's transition, or the effective version superseded by its
    /// successor in the same change (DOC-1).
    #[serde(rename = "document.transitioned")]
    DocumentTransitioned,
    /// A version was signed electronically (DOC-4: `target`: the document; `after`: the
    /// signature, with its meaning, printed name, time and content hash; the reason, if one was
    /// given). The last signature of a route, or a rejection, moves the version in the same
    /// change (`document.transitioned`). A refused re-authentication is
    /// `reauthentication.failed` with `purpose: document.signature`.
    #[serde(rename = "document.signed")]
    DocumentSigned,
    /// An Owner gave an unsigned step of a version's route to another signer (DOC-3: a signer
    /// removed from the organisation, or away, blocks the route until then; `target`: the
    /// document; `before` and `after`: the version; the reason).
    #[serde(rename = "document.route.reassigned")]
    DocumentRouteReassigned,
    /// A member asked to attach a file to a document's draft (FILE-1, FILE-2: `target`: the
    /// document; `after`: the attachment as declared, pending ingest, with the file name as
    /// sent beside the sanitised one).
    #[serde(rename = "attachment.requested")]
    AttachmentRequested,
    /// Ingest checked an uploaded file and kept it, encrypted, in its version (FILE-1, CRY-1:
    /// `target`: the document; `before` and `after`: the attachment, with the file's size and
    /// SHA-256; by the system actor `attachment ingest`).
    #[serde(rename = "attachment.accepted")]
    AttachmentAccepted,
    /// Ingest refused an uploaded file and deleted it (FILE-1: `target`: the document;
    /// `after`: the attachment with the refusal's code and reason).
    #[serde(rename = "attachment.rejected")]
    AttachmentRejected,
    /// A member downloaded an accepted attachment's content, or a range of it (FILE-3:
    /// `target`: the document; `after`: the attachment's id, name, size and SHA-256 and the
    /// bytes served, `range` first and last, 0-based inclusive).
    #[serde(rename = "attachment.downloaded")]
    AttachmentDownloaded,
    /// A stored attachment failed its integrity check when it was read, and nothing was
    /// served (`target`: the document; `after`: the attachment's id and SHA-256 and the
    /// failure's class). An incident: the stored object was altered, replaced or damaged.
    #[serde(rename = "attachment.integrity-failed")]
    AttachmentIntegrityFailed,
    /// A member exported the audit trail (AUD-9: `target`: `audit-trail`, the organisation;
    /// `after`: the format, the filters, the head exported through, the entries and bytes
    /// served and the export's SHA-256). Recorded before the export is served.
    #[serde(rename = "audit.exported")]
    AuditExported,
    /// A member exported a version of a document for inspection (AUD-9: `target`: the
    /// document; `after`: the format, the version and its content SHA-256, the chain head the
    /// copy runs through, the entries, bytes and SHA-256 of the file served). Recorded before
    /// the copy is served.
    #[serde(rename = "document.exported")]
    DocumentExported,
}

impl Action {
    /// Every action, for documentation and for checking that other readers of the format
    /// (`scripts/verify_chain.py`) know the same names.
    pub const ALL: [Action; 58] = [
        Action::OrganisationCreated,
        Action::MemberAdded,
        Action::DocumentCreated,
        Action::DocumentUpdated,
        Action::AuditVerificationStarted,
        Action::AuditVerified,
        Action::SignInSucceeded,
        Action::SignInFailed,
        Action::SignInLocked,
        Action::SignInUnlocked,
        Action::RateLimitTripped,
        Action::PasswordResetRequested,
        Action::PasswordReset,
        Action::PasswordResetFailed,
        Action::SignInChallenged,
        Action::SessionRefreshed,
        Action::SessionExpired,
        Action::SessionSignedOut,
        Action::SessionsRevoked,
        Action::PasswordChanged,
        Action::PasswordChangeFailed,
        Action::MfaEnrolled,
        Action::MfaChallengePassed,
        Action::MfaChallengeFailed,
        Action::OrganisationRegistered,
        Action::RegistrationRefused,
        Action::RegistrationConfirmed,
        Action::RegistrationConfirmFailed,
        Action::RegistrationCodeRequested,
        Action::RegistrationExpired,
        Action::MfaDisabled,
        Action::ReauthenticationFailed,
        Action::OrganisationUpdated,
        Action::MemberRoleChanged,
        Action::MemberDeactivated,
        Action::MemberReactivated,
        Action::InvitationCreated,
        Action::InvitationRevoked,
        Action::InvitationUsed,
        Action::JoinRefused,
        Action::JoinRequested,
        Action::OperatorOrganisationChanged,
        Action::ImpersonationStarted,
        Action::ImpersonationEnded,
        Action::OperatorBreakGlassOpened,
        Action::OperatorBreakGlassRequest,
        Action::OperatorBreakGlassClosed,
        Action::DocumentVersionCreated,
        Action::DocumentTransitioned,
        Action::DocumentSigned,
        Action::DocumentRouteReassigned,
        Action::AttachmentRequested,
        Action::AttachmentAccepted,
        Action::AttachmentRejected,
        Action::AttachmentDownloaded,
        Action::AttachmentIntegrityFailed,
        Action::AuditExported,
        Action::DocumentExported,
    ];

    /// What a member does to their own account: their sessions, their password (a wrong
    /// current password counts toward the sign-in lockout, so it may lock or unlock), their
    /// second factor, the impersonation their session makes. The only actions a route open to every member (`Access::Member`) may record.
    pub const OWN_ACCOUNT: [Action; 13] = [
        Action::SessionRefreshed,
        Action::SessionExpired,
        Action::SessionSignedOut,
        Action::SessionsRevoked,
        Action::PasswordChanged,
        Action::PasswordChangeFailed,
        Action::SignInLocked,
        Action::SignInUnlocked,
        Action::MfaEnrolled,
        Action::MfaDisabled,
        Action::ReauthenticationFailed,
        // A re-authentication's limit per member.
        Action::RateLimitTripped,
        // Ending the impersonation one's own session makes (RBAC-5).
        Action::ImpersonationEnded,
    ];

    /// Identity events: what a sign-in or a rate limit records about an account or a client,
    /// in the account's organisation's trail or, for no known account, the platform's.
    pub const IDENTITY: [Action; 12] = [
        Action::SignInSucceeded,
        Action::SignInFailed,
        Action::SignInLocked,
        Action::SignInUnlocked,
        Action::RateLimitTripped,
        Action::PasswordResetRequested,
        Action::PasswordReset,
        Action::PasswordResetFailed,
        Action::SignInChallenged,
        // A password reset revokes the member's sessions.
        Action::SessionsRevoked,
        Action::MfaChallengePassed,
        Action::MfaChallengeFailed,
    ];

    /// What answering a sign-in's new-password challenge records (an invited member's first
    /// password): the change, a refused answer, the sign-in it completes or the refusal of its
    /// tokens, locks, unlocks and rate-limit trips.
    pub const NEW_PASSWORD: [Action; 7] = [
        Action::PasswordChanged,
        Action::PasswordChangeFailed,
        Action::SignInSucceeded,
        Action::SignInFailed,
        Action::SignInLocked,
        Action::SignInUnlocked,
        Action::RateLimitTripped,
    ];

    /// What registering an organisation records (AUTHN-6, RATE-1): the organisation and its
    /// Owner in the new trail; a refusal or a rate limit's trip in the platform's; the
    /// confirmation, its refused codes and requests for new ones in the account's trail; the
    /// expiry of an unconfirmed registration whose email registers again, in its trail.
    pub const REGISTRATION: [Action; 10] = [
        Action::OrganisationRegistered,
        Action::MemberAdded,
        Action::RegistrationRefused,
        Action::RegistrationConfirmed,
        Action::RegistrationConfirmFailed,
        Action::RegistrationCodeRequested,
        Action::RegistrationExpired,
        Action::RateLimitTripped,
        // A joiner's confirmation (`POST /auth/confirm` confirms both): the spent use with the
        // new member, or the refusal of an invitation that no longer joins anyone.
        Action::InvitationUsed,
        Action::JoinRefused,
    ];

    /// What a platform operator's routes record (RBAC-6), and only they (a break-glass
    /// request is recorded by the pipeline's break-glass layer, before any route runs): each in
    /// the organisation's trail and the platform's.
    pub const OPERATOR: [Action; 4] = [
        Action::OperatorOrganisationChanged,
        Action::OperatorBreakGlassOpened,
        Action::OperatorBreakGlassRequest,
        Action::OperatorBreakGlassClosed,
    ];

    /// What joining with a code records (ORG-4, RATE-3): the pending join, a refusal or a rate
    /// limit's trip, in the platform's trail, or a refusal in the organisation's when the
    /// code's secret was right; the expiry of an unconfirmed identity whose email joins again.
    pub const JOIN: [Action; 4] = [
        Action::JoinRequested,
        Action::JoinRefused,
        Action::RateLimitTripped,
        Action::RegistrationExpired,
    ];

    /// The stable dotted name (`document.updated`).
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Who did it, as they were at the time (names and roles change later; the entry does not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Actor {
    pub user_id: String,
    pub display_name: String,
    pub email: String,
    pub role: String,
    /// The user id of the administrator acting as this user, when impersonating (RBAC-5): the
    /// `impersonation.started` entry before it names them in full.
    #[serde(deserialize_with = "canonical::strict::nullable")]
    pub impersonator: Option<String>,
}

impl Actor {
    /// Quire itself, for provisioning steps no person performed through the API.
    pub fn system(what: &str) -> Self {
        Actor {
            user_id: "system".into(),
            display_name: sanitize_line(what, 120),
            email: String::new(),
            role: "System".into(),
            impersonator: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Target {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
}

impl Target {
    pub fn new(kind: &str, id: &str) -> Self {
        Target {
            kind: kind.to_owned(),
            id: id.to_owned(),
        }
    }
}

/// Where a request came from. Free text from the client is sanitised here (AUD-8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Origin {
    #[serde(deserialize_with = "canonical::strict::nullable")]
    pub ip: Option<String>,
    #[serde(deserialize_with = "canonical::strict::nullable")]
    pub user_agent: Option<String>,
    pub correlation_id: String,
}

impl Origin {
    pub fn new(ip: Option<&str>, user_agent: Option<&str>, correlation_id: &str) -> Self {
        Origin {
            ip: ip.map(|ip| sanitize_line(ip, 64)),
            user_agent: user_agent.map(|ua| sanitize_line(ua, 512)),
            correlation_id: sanitize_line(correlation_id, 128),
        }
    }
}

/// The event format this code writes, and the only one its writer appends (`docs/audit-format.md`).
/// A new format gets a new number; the writer learns it before any producer emits it.
pub const FORMAT_VERSION: u64 = 1;

/// One audited event, as written to the outbox in the same transaction as the change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditEvent {
    /// Format version ([`FORMAT_VERSION`]).
    pub v: u64,
    /// Time-ordered unique id: 13-digit UTC milliseconds, '-', random UUID.
    pub event_id: String,
    pub org_id: String,
    /// Server time of the change, UTC, RFC 3339 with milliseconds.
    pub at: String,
    pub actor: Actor,
    pub action: Action,
    pub target: Target,
    /// The target as it was, `null` for none; long strings as blob references
    /// (`{"$sha256", "$bytes"}`, docs/audit-format.md "Blobs").
    #[serde(deserialize_with = "canonical::strict::nullable_value")]
    pub before: Option<Value>,
    /// The target as it became, `null` for none.
    #[serde(deserialize_with = "canonical::strict::nullable_value")]
    pub after: Option<Value>,
    #[serde(deserialize_with = "canonical::strict::nullable")]
    pub reason: Option<String>,
    pub origin: Origin,
}

/// Now, as Quire writes times: UTC, RFC 3339, milliseconds.
pub fn timestamp_now() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

impl AuditEvent {
    pub fn new(org: &OrgId, action: Action, actor: Actor, target: Target, origin: Origin) -> Self {
        let now = SystemTime::now();
        let millis = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        AuditEvent {
            v: FORMAT_VERSION,
            event_id: format!("{millis:013}-{}", uuid::Uuid::new_v4()),
            org_id: org.to_string(),
            at: humantime::format_rfc3339_millis(now).to_string(),
            actor,
            action,
            target,
            before: None,
            after: None,
            reason: None,
            origin,
        }
    }

    pub fn before(mut self, value: Value) -> Self {
        self.before = Some(value);
        self
    }

    /// The same event for another organisation's trail (`org`): everything as it is but the
    /// organisation and a new id of the same millisecond (an id is unique across trails). For
    /// what is recorded in two trails at once (RBAC-6: an operator's action in the
    /// organisation's and in the platform's).
    pub fn copied_to(&self, org: &OrgId) -> AuditEvent {
        let millis = self.event_id.split_once('-').map_or("", |(millis, _)| millis);
        AuditEvent {
            event_id: format!("{millis}-{}", uuid::Uuid::new_v4()),
            org_id: org.to_string(),
            ..self.clone()
        }
    }

    pub fn after(mut self, value: Value) -> Self {
        self.after = Some(value);
        self
    }

    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(sanitize_line(reason, 1000));
        self
    }

    /// Makes the event what the chain will hash, before anything commits: long strings of
    /// `before`/`after` become blob references (returned, to be stored with the change), and the
    /// entry it will become must canonicalise (integers within ±2^53, no reserved names) and fit
    /// [`blob::ENTRY_MAX_BYTES`].
    pub fn seal(&mut self) -> Result<Vec<blob::Blob>, NotRecordable> {
        let mut blobs = Vec::new();
        for value in [&mut self.before, &mut self.after].into_iter().flatten() {
            blob::externalise(value, &mut blobs).map_err(|e| NotRecordable::Value(e.0))?;
        }
        self.check_bound()?;
        Ok(blobs)
    }

    /// The entry this event becomes must canonicalise and fit [`blob::ENTRY_MAX_BYTES`]; checked
    /// at commit ([`AuditEvent::seal`]) and again by the writer.
    pub fn check_bound(&self) -> Result<(), NotRecordable> {
        // The largest sequence number the canonical form allows (2^53 - 1) and any hash give
        // the longest content the entry can have.
        let content = chain::canonical_content(u64::MAX >> 11, chain::GENESIS_HASH, self)
            .map_err(|e| NotRecordable::Value(e.0))?;
        if content.len() > blob::ENTRY_MAX_BYTES {
            return Err(NotRecordable::TooLarge(content.len()));
        }
        Ok(())
    }

    /// The blob references in `before` and `after`, in order.
    pub fn blob_references(&self) -> Vec<blob::Reference> {
        let mut found = Vec::new();
        for value in [&self.before, &self.after].into_iter().flatten() {
            blob::references(value, &mut found);
        }
        found
    }
}

/// Makes the events of one change read as one change, in the order they were made: they share
/// the first one's time (`at` and the id's milliseconds), and their ids, which the chain's writer
/// appends in order, sort as the events are listed (the random parts are redistributed in
/// ascending order, so ids stay unique and their shards spread as before).
pub fn as_one_change(events: &mut [AuditEvent]) {
    let Some(first) = events.first() else {
        return;
    };
    let (millis, at) = match first.event_id.split_once('-') {
        Some((millis, _)) => (millis.to_owned(), first.at.clone()),
        None => return,
    };
    let mut randoms: Vec<String> = events
        .iter()
        .filter_map(|e| e.event_id.split_once('-').map(|(_, r)| r.to_owned()))
        .collect();
    if randoms.len() != events.len() {
        return;
    }
    randoms.sort();
    for (event, random) in events.iter_mut().zip(randoms) {
        event.event_id = format!("{millis}-{random}");
        event.at = at.clone();
    }
}

/// Why an event cannot be recorded; found at commit, so the change does not happen either.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotRecordable {
    #[error("the change holds a value the audit trail cannot record: {0}")]
    Value(String),
    #[error("the audit entry of this change would be {0} bytes, more than an entry may hold")]
    TooLarge(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The sign-in routes do not declare a password change, and the new-password answer
    /// declares only what it records: a change, a refusal, the sign-in, and the lockout's and
    /// limits' entries.
    ///
    /// Proves: AUD-1
    #[test]
    fn the_identity_lists_declare_what_their_routes_record() {
        assert!(!Action::IDENTITY.contains(&Action::PasswordChanged));
        assert!(!Action::IDENTITY.contains(&Action::PasswordChangeFailed));
        for action in [
            Action::PasswordReset,
            Action::MfaChallengePassed,
            Action::SessionsRevoked,
        ] {
            assert!(!Action::NEW_PASSWORD.contains(&action), "{action:?}");
        }
    }

    fn event(after: Value) -> AuditEvent {
        let mut event = AuditEvent::new(
            &OrgId::parse("org-1").unwrap(),
            Action::DocumentCreated,
            Actor::system("test"),
            Target::new("document", "d1"),
            Origin::new(None, None, "corr-0001"),
        );
        event.after = Some(after);
        event
    }

    /// An event is read as the format pins it: every member present (absent is not `null`), no
    /// duplicate member names, integers only (no `-0`), as the Python verifier reads it too.
    ///
    /// Proves: AUD-5
    #[test]
    fn events_are_read_strictly() {
        let text = serde_json::to_string(&event(json!({"n": 0}))).unwrap();
        assert!(serde_json::from_str::<AuditEvent>(&text).is_ok());
        let value: Value = serde_json::from_str(&text).unwrap();
        for member in ["reason", "before"] {
            let mut without = value.clone();
            without.as_object_mut().unwrap().remove(member);
            assert!(
                serde_json::from_value::<AuditEvent>(without).is_err(),
                "{member} absent"
            );
        }
        for (path, member) in [("actor", "impersonator"), ("origin", "ip"), ("origin", "userAgent")] {
            let mut without = value.clone();
            without[path].as_object_mut().unwrap().remove(member);
            assert!(
                serde_json::from_value::<AuditEvent>(without).is_err(),
                "{path}.{member} absent"
            );
        }
        for (from, to) in [
            ("{\"n\":0}", "{\"n\":-0}"),
            ("{\"n\":0}", "{\"n\":0.0}"),
            ("{\"n\":0}", "{\"n\":0,\"n\":0}"),
            ("\"reason\":null", "\"reason\":null,\"reason\":null"),
            ("\"reason\":null", "\"reason\":5"),
        ] {
            assert!(text.contains(from), "{from} in {text}");
            let altered = text.replacen(from, to, 1);
            assert!(serde_json::from_str::<AuditEvent>(&altered).is_err(), "{to}");
        }
    }

    /// Events of one change sort in the order they were made, at one time, with unique ids.
    ///
    /// Proves: AUD-1
    #[test]
    fn events_of_one_change_sort_as_made() {
        for _ in 0..200 {
            let mut events: Vec<AuditEvent> = (0..4).map(|_| event(json!({}))).collect();
            events[3].event_id = format!("9999999999999-{}", uuid::Uuid::new_v4());
            let made: Vec<Action> = events.iter().map(|e| e.action).collect();
            as_one_change(&mut events);
            let mut sorted = events.clone();
            sorted.sort_by(|a, b| a.event_id.cmp(&b.event_id));
            assert_eq!(sorted, events, "ids sort in the order made");
            assert_eq!(events.iter().map(|e| e.action).collect::<Vec<_>>(), made);
            assert!(events.iter().all(|e| e.at == events[0].at));
            assert!(events.windows(2).all(|w| w[0].event_id < w[1].event_id), "unique");
            assert!(events.iter().all(|e| e.event_id.starts_with(&events[0].event_id[..14])));
        }
    }

    /// `Action::ALL` holds every variant: a new one fails to compile here until it is added.
    #[test]
    fn all_actions_are_listed() {
        for action in Action::ALL {
            let position = match action {
                Action::OrganisationCreated => 0,
                Action::MemberAdded => 1,
                Action::DocumentCreated => 2,
                Action::DocumentUpdated => 3,
                Action::AuditVerificationStarted => 4,
                Action::AuditVerified => 5,
                Action::SignInSucceeded => 6,
                Action::SignInFailed => 7,
                Action::SignInLocked => 8,
                Action::SignInUnlocked => 9,
                Action::RateLimitTripped => 10,
                Action::PasswordResetRequested => 11,
                Action::PasswordReset => 12,
                Action::PasswordResetFailed => 13,
                Action::SignInChallenged => 14,
                Action::SessionRefreshed => 15,
                Action::SessionExpired => 16,
                Action::SessionSignedOut => 17,
                Action::SessionsRevoked => 18,
                Action::PasswordChanged => 19,
                Action::PasswordChangeFailed => 20,
                Action::MfaEnrolled => 21,
                Action::MfaChallengePassed => 22,
                Action::MfaChallengeFailed => 23,
                Action::OrganisationRegistered => 24,
                Action::RegistrationRefused => 25,
                Action::RegistrationConfirmed => 26,
                Action::RegistrationConfirmFailed => 27,
                Action::RegistrationCodeRequested => 28,
                Action::RegistrationExpired => 29,
                Action::MfaDisabled => 30,
                Action::ReauthenticationFailed => 31,
                Action::OrganisationUpdated => 32,
                Action::MemberRoleChanged => 33,
                Action::MemberDeactivated => 34,
                Action::MemberReactivated => 35,
                Action::InvitationCreated => 36,
                Action::InvitationRevoked => 37,
                Action::InvitationUsed => 38,
                Action::JoinRefused => 39,
                Action::JoinRequested => 40,
                Action::OperatorOrganisationChanged => 41,
                Action::ImpersonationStarted => 42,
                Action::ImpersonationEnded => 43,
                Action::OperatorBreakGlassOpened => 44,
                Action::OperatorBreakGlassRequest => 45,
                Action::OperatorBreakGlassClosed => 46,
                Action::DocumentVersionCreated => 47,
                Action::DocumentTransitioned => 48,
                Action::DocumentSigned => 49,
                Action::DocumentRouteReassigned => 50,
                Action::AttachmentRequested => 51,
                Action::AttachmentAccepted => 52,
                Action::AttachmentRejected => 53,
                Action::AttachmentDownloaded => 54,
                Action::AttachmentIntegrityFailed => 55,
                Action::AuditExported => 56,
                Action::DocumentExported => 57,
            };
            assert_eq!(Action::ALL[position], action);
        }
    }

    /// What the chain cannot hash is refused when the change is sealed for commit, not found
    /// later by the writer.
    ///
    /// Proves: AUD-1
    #[test]
    fn sealing_refuses_what_the_chain_cannot_record() {
        assert!(matches!(event(json!({"n": 1.5})).seal(), Err(NotRecordable::Value(_))));
        assert!(matches!(
            event(json!({"n": 1u64 << 53})).seal(),
            Err(NotRecordable::Value(_))
        ));
        assert!(matches!(
            event(json!({"$sha256": "x"})).seal(),
            Err(NotRecordable::Value(_))
        ));
        // Many short strings stay inline and can exceed the entry bound.
        let many: Vec<String> = (0..40).map(|i| format!("{i:0>1000}")).collect();
        assert!(matches!(event(json!(many)).seal(), Err(NotRecordable::TooLarge(_))));
        // One long string becomes a blob and the entry stays small.
        let mut long = event(json!({"body": "x".repeat(300_000)}));
        let blobs = long.seal().unwrap();
        assert_eq!(blobs.len(), 1);
        assert!(long.after.unwrap()["body"].is_object());
    }
}
