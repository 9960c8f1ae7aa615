//! Invitations and join codes (ORG-4): an administrator invites people into their organisation
//! with a role, a number of uses (1 to 100), an expiry (at most 14 days) and, if they choose, the
//! one email that may use it; whoever holds the code joins with it (`POST /auth/join`).
//!
//! An invitation is one item in its organisation's invitations partition
//! (`keys::invitation`), holding the SHA-256 of its code's secret, never the code
//! (`quire_core::invitation::JoinCode`). It is made, like a role change, only within the
//! maker's bounds (`Matrix::may_assign`: only an Owner invites Owners, nobody invites into a
//! role holding what they do not), with a condition that the maker is still the member their
//! request was admitted as; and it lives only as long as that authority: a join needs its maker
//! still active in the role they made it with.
//!
//! Joining takes two steps, and the organisation sees only the second:
//! - **The join** (`Store::record_pending_join`): the code opened an invitation and Cognito
//!   made the joiner's user, unconfirmed. Quire keeps a pending join outside every tenant, by
//!   the email's digest (`keys::pending_join`): the invitation, the user and the verifier of
//!   the joiner's password, recorded as `join.requested` in the platform's trail. Nothing of the
//!   organisation changes: no use is spent and no member appears, so a join with an email that
//!   has an account (answered alike, AUTHN-9) and one without look the same to everyone, and a
//!   join with someone else's email spends nothing.
//! - **The confirmation** (`Store::complete_join`), once the joiner proved the email (Cognito's
//!   code) and the password: one transaction in the organisation's trail spends a use
//!   (`invitation.used`, conditioned on the uses read and on being neither revoked nor expired:
//!   of racing confirmations no more than its uses succeed) and writes the membership, active
//!   (`member.added`), its user and account directory entries, with conditions that the maker
//!   is still the member who made it and the organisation's status is the one read.
//!
//! Guessing is guarded outside this module (RATE-3): `crate::attempts` counts failed codes per
//! client address and per invitation.

use super::{keys, AuditContext, Page, PageRequest, Store, StoreError};
use crate::accounts::AccountEntry;
use crate::attempts::Subject;
use crate::directory::{MemberStatus, Membership, NewMember, Organisation};
use crate::tenant::{Caller, TenantScope};
use aws_sdk_dynamodb::types::AttributeValue;
use quire_core::audit::{Action, Origin, Target};
use quire_core::ids::{OrgId, UserId};
use quire_core::invitation::{InvitationId, JoinCode};
use quire_core::password::PasswordVerifier;
use quire_core::rbac::{AssignRefused, Role};

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// The most uses an invitation may have.
pub const MAX_USES: u32 = 100;
/// The longest an invitation may stay valid.
pub const MAX_VALIDITY: Duration = Duration::from_secs(14 * 24 * 60 * 60);

/// An invitation as stored. Times are milliseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Invitation {
    org_id: OrgId,
    invitation_id: InvitationId,
    role: Role,
    /// The only email that may join with it, lower-cased, if the maker bound one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    uses: u32,
    used: u32,
    created_at: u64,
    /// The maker's user id.
    created_by: String,
    /// The maker's role when they made it: a join needs them still active in it.
    #[serde(default)]
    created_by_role: Option<Role>,
    /// Milliseconds since the Unix epoch (not `expiresAt`: the table's TTL attribute, in
    /// seconds).
    valid_until: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_by: Option<String>,
    /// SHA-256 (hex) of the code's secret.
    secret_sha256: String,
}

/// What an invitation is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InvitationState {
    /// Its code joins people.
    Open,
    /// Every use is spent.
    UsedUp,
    Expired,
    Revoked,
}

/// An invitation as the audit trail records it: everything but the digest of its secret.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Recorded<'a> {
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    uses: u32,
    used: u32,
    valid_until: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<u64>,
}

impl Invitation {
    pub fn id(&self) -> &InvitationId {
        &self.invitation_id
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    pub fn uses(&self) -> u32 {
        self.uses
    }

    pub fn used(&self) -> u32 {
        self.used
    }

    pub fn created_at(&self) -> SystemTime {
        at(self.created_at)
    }

    pub fn created_by(&self) -> &str {
        &self.created_by
    }

    pub fn expires_at(&self) -> SystemTime {
        at(self.valid_until)
    }

    pub fn revoked_at(&self) -> Option<SystemTime> {
        self.revoked_at.map(at)
    }

    /// What it is at `now`: revoked before anything, then used up, then expired.
    pub fn state(&self, now: SystemTime) -> InvitationState {
        if self.revoked_at.is_some() {
            InvitationState::Revoked
        } else if self.used >= self.uses {
            InvitationState::UsedUp
        } else if millis(now) >= self.valid_until {
            InvitationState::Expired
        } else {
            InvitationState::Open
        }
    }

    /// Whether `code` is this invitation's: the SHA-256 of its secret compared in constant time.
    fn secret_matches(&self, code: &JoinCode) -> bool {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            code.secret_digest().as_bytes(),
            self.secret_sha256.as_bytes(),
        )
        .is_ok()
    }

    fn recorded(&self) -> Recorded<'_> {
        Recorded {
            role: self.role,
            email: self.email.as_deref(),
            uses: self.uses,
            used: self.used,
            valid_until: self.valid_until,
            revoked_at: self.revoked_at,
        }
    }

    fn target(&self) -> Target {
        Target::new("invitation", self.invitation_id.as_str())
    }
}

fn at(ms: u64) -> SystemTime {
    std::time::UNIX_EPOCH + Duration::from_millis(ms)
}

fn millis(time: SystemTime) -> u64 {
    crate::sessions::millis_since_epoch(time)
}

/// What an administrator asks for (the route bounds each field).
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    pub role: Role,
    /// Compared ASCII case-insensitively, as Cognito compares emails.
    pub email: Option<&'a str>,
    /// 1 to [`MAX_USES`].
    pub uses: u32,
    /// At most [`MAX_VALIDITY`].
    pub valid_for: Duration,
}

/// Why an invitation is not made or not revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationRefused {
    /// RBAC-1: the role is beyond the caller's grants, or an Owner's.
    NotPermitted(AssignRefused),
    /// The caller's own role or status changed since their request was admitted.
    CallerChanged,
    /// The organisation has no such invitation.
    NotFound,
    /// Uses or validity out of bounds.
    OutOfBounds,
}

/// Why a join code does not join (what the trail records; the answer is one for all but
/// [`JoinRefusal::EmailNotInvited`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    /// No such invitation, or the secret is not its: a guess.
    WrongCode,
    Expired,
    UsedUp,
    Revoked,
    /// The organisation takes no new members now (not active, or read-only: ORG-1).
    OrganisationNotAccepting,
    /// Its maker is no longer an active member in the role they made it with: an invitation
    /// lives only as long as its maker's authority (RBAC-1).
    InviterChanged,
    /// The organisation lets only other email domains join (AUTHN-10).
    EmailDomainNotAllowed,
    /// The invitation is bound to another email.
    EmailNotInvited,
}

impl JoinRefusal {
    /// The reason the trail records.
    pub fn reason(self) -> &'static str {
        match self {
            JoinRefusal::WrongCode => "wrong-code",
            JoinRefusal::Expired => "expired",
            JoinRefusal::UsedUp => "used-up",
            JoinRefusal::Revoked => "revoked",
            JoinRefusal::OrganisationNotAccepting => "organisation-not-accepting",
            JoinRefusal::InviterChanged => "inviter-changed",
            JoinRefusal::EmailDomainNotAllowed => "email-domain-not-allowed",
            JoinRefusal::EmailNotInvited => "email-not-invited",
        }
    }

    /// Whether the holder proved the code's secret (the refusal then belongs to the
    /// organisation's trail).
    pub fn secret_proved(self) -> bool {
        self != JoinRefusal::WrongCode
    }
}

/// An invitation a code opens, judged at the time of reading.
#[derive(Debug, Clone)]
pub struct OpenInvitation {
    invitation: Invitation,
}

impl OpenInvitation {
    pub fn invitation(&self) -> &Invitation {
        &self.invitation
    }
}

/// A join awaiting its email's confirmation (`keys::pending_join`, by the email's digest,
/// outside every tenant): the invitation, the user Cognito made, who they said they are and
/// their password's verifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingJoin {
    /// Whose item it is: the platform's, not the organisation's until the join is confirmed
    /// (the store's scope check holds a platform item to the trail it is written with).
    #[serde(rename = "orgId")]
    held_by: OrgId,
    /// The organisation it joins.
    organisation: OrgId,
    invitation_id: InvitationId,
    user_id: UserId,
    email: String,
    display_name: String,
    /// Milliseconds since the Unix epoch.
    joined_at: u64,
    verifier: PasswordVerifier,
    /// Seconds since the Unix epoch after which DynamoDB may delete it.
    expires_at: u64,
}

impl PendingJoin {
    /// The user Cognito made for the join (their username there: the `sub`).
    pub fn user(&self) -> &UserId {
        &self.user_id
    }

    /// When the join was made.
    pub fn joined_at(&self) -> SystemTime {
        at(self.joined_at)
    }

    /// The password the joiner chose, its verifier (Argon2id, CPU-bound: run it on a blocking
    /// thread from async code).
    pub fn verifier(&self) -> &PasswordVerifier {
        &self.verifier
    }
}

/// The person joining: who Cognito made, and their password's verifier.
#[derive(Debug, Clone, Copy)]
pub struct Joiner<'a> {
    pub user: &'a UserId,
    pub email: &'a str,
    pub display_name: &'a str,
    pub verifier: &'a PasswordVerifier,
}

/// How often a change of an invitation is tried again after losing a race (racing
/// confirmations of a code with many uses).
const TRIES: usize = 8;

/// A random pause of 10 to 50 ms before trying again, so that racing confirmations spread out.
async fn backoff() {
    let byte: [u8; 1] = aws_lc_rs::rand::generate(&aws_lc_rs::rand::SystemRandom::new())
        .map(|r| r.expose())
        .unwrap_or([0]);
    tokio::time::sleep(Duration::from_millis(10 + u64::from(byte[0]) * 40 / 255)).await;
}

impl crate::transaction::Transaction<'_> {
    /// Makes the change depend on `caller`'s membership still being the active one of the role
    /// their request was admitted with (their authority to make it).
    pub(crate) fn caller_unchanged(self, caller: &Caller) -> Result<Self, StoreError> {
        Ok(self
            .check(
                keys::member(caller.scope().org_id(), &caller.user_id),
                "#role = :role AND #status = :active",
                vec![
                    (":role", super::name_value(caller.role)?),
                    (":active", super::name_value(MemberStatus::Active)?),
                ],
            )
            .with_names(vec![("#role", "role"), ("#status", "status")]))
    }
}

impl Store {
    /// Makes an invitation for `caller`'s organisation, recorded as `invitation.created`:
    /// the invitation and the code to hand out (shown once: only its digest is stored).
    /// A caller whose own membership changed meanwhile is refused
    /// ([`InvitationRefused::CallerChanged`]); nothing is written.
    pub async fn create_invitation(
        &self,
        caller: &Caller,
        audit: AuditContext,
        new: NewInvitation<'_>,
    ) -> Result<Result<(Invitation, JoinCode), InvitationRefused>, StoreError> {
        if let Err(refused) = caller.matrix.may_assign(caller.role, new.role, new.role) {
            return Ok(Err(InvitationRefused::NotPermitted(refused)));
        }
        if !(1..=MAX_USES).contains(&new.uses) || new.valid_for > MAX_VALIDITY || new.valid_for.is_zero() {
            return Ok(Err(InvitationRefused::OutOfBounds));
        }
        let org = caller.scope().org_id().clone();
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let id_bytes: [u8; 8] = aws_lc_rs::rand::generate(&rng)
            .map_err(|_| StoreError::Corrupt("no random bytes".into()))?
            .expose();
        let secret: [u8; 20] = aws_lc_rs::rand::generate(&rng)
            .map_err(|_| StoreError::Corrupt("no random bytes".into()))?
            .expose();
        let code = JoinCode::new(org.clone(), InvitationId::from_bytes(id_bytes), secret);
        let now = crate::sessions::now_millis();
        let invitation = Invitation {
            org_id: org.clone(),
            invitation_id: code.invitation().clone(),
            role: new.role,
            email: new.email.map(str::to_ascii_lowercase),
            uses: new.uses,
            used: 0,
            created_at: now,
            created_by: caller.user_id.to_string(),
            created_by_role: Some(caller.role),
            valid_until: now.saturating_add(new.valid_for.as_millis() as u64),
            revoked_at: None,
            revoked_by: None,
            secret_sha256: code.secret_digest(),
        };
        let committed = self
            .transaction(caller.scope(), audit)
            .insert(keys::invitation(&org, code.invitation()), &invitation, None)
            .event(Action::InvitationCreated, invitation.target(), &invitation.recorded())
            .caller_unchanged(caller)?
            .commit()
            .await;
        match committed {
            Ok(()) => Ok(Ok((invitation, code))),
            Err(StoreError::Conflict) => Ok(Err(InvitationRefused::CallerChanged)),
            Err(other) => Err(other),
        }
    }

    /// A page of the scope's invitations, by id, whatever their state.
    pub async fn list_invitations(
        &self,
        scope: &TenantScope,
        page: &PageRequest,
    ) -> Result<Page<Invitation>, StoreError> {
        let partition = keys::invitations(scope.org_id());
        let (items, next) = self.query_page(&self.data_table, &partition, None, true, page).await?;
        let invitations = items
            .into_iter()
            .map(super::from_item::<Invitation>)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items: invitations
                .into_iter()
                .filter(|i| i.org_id == *scope.org_id())
                .collect(),
            next,
        })
    }

    async fn invitation(&self, org: &OrgId, id: &InvitationId) -> Result<Option<Invitation>, StoreError> {
        Ok(self
            .read(&self.data_table, &keys::invitation(org, id))
            .await?
            .map(super::from_item::<Invitation>)
            .transpose()?
            .filter(|i| i.org_id == *org && i.invitation_id == *id))
    }

    /// Revokes the scope's invitation `id` (`invitation.revoked`), within the caller's bounds
    /// as for making it. Revoking a revoked invitation changes nothing; a used-up or expired
    /// one is revoked all the same (its state says so from then on).
    pub async fn revoke_invitation(
        &self,
        caller: &Caller,
        audit: AuditContext,
        id: &InvitationId,
    ) -> Result<Result<Invitation, InvitationRefused>, StoreError> {
        let org = caller.scope().org_id();
        for _ in 0..TRIES {
            let Some(current) = self.invitation(org, id).await? else {
                return Ok(Err(InvitationRefused::NotFound));
            };
            if let Err(refused) = caller.matrix.may_assign(caller.role, current.role, current.role) {
                return Ok(Err(InvitationRefused::NotPermitted(refused)));
            }
            if current.revoked_at.is_some() {
                return Ok(Ok(current));
            }
            let next = Invitation {
                revoked_at: Some(crate::sessions::now_millis()),
                revoked_by: Some(caller.user_id.to_string()),
                ..current.clone()
            };
            let committed = self
                .transaction(caller.scope(), audit.clone())
                .put_beside_if(
                    keys::invitation(org, id),
                    &next,
                    "used = :used AND attribute_not_exists(revokedAt)",
                    vec![(":used", AttributeValue::N(current.used.to_string()))],
                )
                .images(
                    Action::InvitationRevoked,
                    current.target(),
                    &current.recorded(),
                    &next.recorded(),
                )
                .caller_unchanged(caller)?
                .commit()
                .await;
            match committed {
                Ok(()) => return Ok(Ok(next)),
                Err(StoreError::Contended) => backoff().await,
                // A join spent a use, or the caller changed: read again.
                Err(StoreError::Conflict) => {
                    let caller_now = self.member(org, &caller.user_id).await?;
                    if !caller_now.is_some_and(|m| m.role == caller.role && m.status == MemberStatus::Active) {
                        return Ok(Err(InvitationRefused::CallerChanged));
                    }
                }
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Contended)
    }

    /// The invitation `code` opens, if it opens one now, read with its organisation and its
    /// maker's membership in one consistent `BatchGetItem`; otherwise why not. `email` must be
    /// the invitation's bound email, if it has one.
    pub async fn open_invitation(
        &self,
        code: &JoinCode,
        email: &str,
    ) -> Result<Result<OpenInvitation, JoinRefusal>, StoreError> {
        let org = code.org();
        let invitation_key = keys::invitation(org, code.invitation());
        let Some(invitation) = self
            .read(&self.data_table, &invitation_key)
            .await?
            .map(super::from_item::<Invitation>)
            .transpose()?
            .filter(|i| i.org_id == *org && i.invitation_id == *code.invitation() && i.secret_matches(code))
        else {
            return Ok(Err(JoinRefusal::WrongCode));
        };
        if let Err(refusal) = self.still_opens(&invitation, SystemTime::now(), email).await? {
            return Ok(Err(refusal));
        }
        if invitation
            .email
            .as_deref()
            .is_some_and(|bound| !bound.eq_ignore_ascii_case(email))
        {
            return Ok(Err(JoinRefusal::EmailNotInvited));
        }
        Ok(Ok(OpenInvitation { invitation }))
    }

    /// Whether `invitation` still joins people now, `email` among them: open, its maker still
    /// active in the role they made it with and still allowed to give its role by the
    /// organisation's matrix as it is now, its organisation serving everything (its
    /// subscription not suspended) and letting
    /// `email`'s domain join (AUTHN-10); one `BatchGetItem`. `Ok(organisation)`: as
    /// read, which a join is conditioned on.
    async fn still_opens(
        &self,
        invitation: &Invitation,
        now: SystemTime,
        email: &str,
    ) -> Result<Result<Organisation, JoinRefusal>, StoreError> {
        match invitation.state(now) {
            InvitationState::Open => {}
            InvitationState::Revoked => return Ok(Err(JoinRefusal::Revoked)),
            InvitationState::UsedUp => return Ok(Err(JoinRefusal::UsedUp)),
            InvitationState::Expired => return Ok(Err(JoinRefusal::Expired)),
        }
        let org = &invitation.org_id;
        let Ok(maker) = UserId::parse(&invitation.created_by) else {
            return Ok(Err(JoinRefusal::InviterChanged));
        };
        let (org_key, maker_key) = (keys::organisation(org), keys::member(org, &maker));
        let mut found = self.batch_read(&[org_key.clone(), maker_key.clone()]).await?;
        let maker_holds = found
            .remove(&maker_key)
            .map(super::from_item::<Membership>)
            .transpose()?
            .is_some_and(|m| {
                m.org_id == *org
                    && m.user_id == maker
                    && m.status == MemberStatus::Active
                    && Some(m.role) == invitation.created_by_role
            });
        if !maker_holds {
            return Ok(Err(JoinRefusal::InviterChanged));
        }
        let Some(organisation) = found
            .remove(&org_key)
            .map(super::from_item::<Organisation>)
            .transpose()?
            .filter(|o| o.org_id == *org && o.lifecycle(now).serves_everything() && !o.plan().subscription_suspended())
        else {
            return Ok(Err(JoinRefusal::OrganisationNotAccepting));
        };
        let maker_role = invitation.created_by_role.unwrap_or(Role::Viewer);
        if organisation
            .matrix()
            .may_assign(maker_role, invitation.role, invitation.role)
            .is_err()
        {
            return Ok(Err(JoinRefusal::InviterChanged));
        }
        if !organisation.join_domains().allows(email) {
            return Ok(Err(JoinRefusal::EmailDomainNotAllowed));
        }
        Ok(Ok(organisation))
    }

    /// Keeps a join awaiting its email's confirmation (module documentation), replacing any
    /// earlier one of the same email, recorded as `join.requested` by whoever typed the email
    /// in the platform's trail, in one transaction.
    pub async fn record_pending_join(
        &self,
        code: &JoinCode,
        open: &OpenInvitation,
        joiner: Joiner<'_>,
        origin: Origin,
    ) -> Result<(), StoreError> {
        let subject = Subject::account(joiner.email);
        let pending = PendingJoin {
            held_by: OrgId::platform(),
            organisation: code.org().clone(),
            invitation_id: open.invitation.invitation_id.clone(),
            user_id: joiner.user.clone(),
            email: joiner.email.to_ascii_lowercase(),
            display_name: joiner.display_name.to_owned(),
            joined_at: crate::sessions::now_millis(),
            verifier: joiner.verifier.clone(),
            expires_at: crate::epoch_seconds() + 30 * 24 * 3600,
        };
        let audit = AuditContext::for_route(crate::accounts::anonymous(joiner.email), origin, &Action::JOIN);
        self.transaction(&TenantScope::new(OrgId::platform()), audit)
            .put_beside(keys::pending_join(&subject), &pending)
            .event(
                Action::JoinRequested,
                Target::new("account", subject.key_part()),
                &serde_json::json!({
                    "organisation": code.org().as_str(),
                    "invitation": open.invitation.invitation_id.as_str(),
                }),
            )
            .commit()
            .await
    }

    /// The join `email` awaits confirmation of, if there is one.
    pub async fn pending_join(&self, email: &str) -> Result<Option<PendingJoin>, StoreError> {
        let key = keys::pending_join(&Subject::account(email));
        Ok(self
            .read(&self.data_table, &key)
            .await?
            .map(super::from_item::<PendingJoin>)
            .transpose()?
            .filter(|p| p.held_by.is_platform() && p.email.eq_ignore_ascii_case(email)))
    }

    /// Makes the confirmed joiner of `pending` a member (module documentation), as their own
    /// act, taking over the email's account entry if it names `replaces` (a registration that
    /// expired unconfirmed, closed: `crate::registration`), re-reading the invitation after a
    /// racing confirmation spent a use. `Ok(Err(_))`:
    /// the invitation no longer joins anyone (spent, revoked, expired, its maker changed, the
    /// organisation not taking members), nothing written. Idempotent: a second call for a join
    /// already made (a confirmation sent twice, a retried transaction) finds the member and
    /// answers `Ok(Ok(()))`.
    ///
    /// Errors: [`StoreError::AlreadyExists`] when the email or the user is in the directories
    /// already (nothing written); [`StoreError::Contended`] after losing [`TRIES`] races.
    pub async fn complete_join(
        &self,
        pending: &PendingJoin,
        replaces: Option<&OrgId>,
        origin: Origin,
    ) -> Result<Result<(), JoinRefusal>, StoreError> {
        let org = pending.organisation.clone();
        let scope = TenantScope::new(org.clone());
        let account = AccountEntry {
            user_id: pending.user_id.clone(),
            org_id: org.clone(),
        };
        let subject = Subject::account(&pending.email);
        for _ in 0..TRIES {
            // Made already (a confirmation sent twice, or a retried transaction that committed).
            if self.joined(pending).await? {
                return Ok(Ok(()));
            }
            // One moment for the judgement and the condition: an invitation judged open is
            // written only if still unexpired then.
            let now = SystemTime::now();
            let judged = match self.invitation(&org, &pending.invitation_id).await? {
                Some(current) => self
                    .still_opens(&current, now, &pending.email)
                    .await?
                    .map(|o| (current, o)),
                None => Err(JoinRefusal::Revoked),
            };
            let (current, organisation) = match judged {
                Ok(judged) => judged,
                // A racing confirmation of this very join may have spent the last use.
                Err(_) if self.joined(pending).await? => return Ok(Ok(())),
                Err(refusal) => return Ok(Err(refusal)),
            };
            let member = NewMember {
                user: &pending.user_id,
                email: &pending.email,
                display_name: &pending.display_name,
                role: current.role,
            };
            let next = Invitation {
                used: current.used + 1,
                ..current.clone()
            };
            let Some(maker_role) = current.created_by_role else {
                return Ok(Err(JoinRefusal::InviterChanged));
            };
            let maker = UserId::parse(&current.created_by).map_err(StoreError::Corrupt)?;
            let (org_condition, org_values) = crate::organisation::as_read(&organisation)?;
            let audit = AuditContext::for_route(member.actor(), origin.clone(), &Action::REGISTRATION);
            let committed = self
                .transaction(&scope, audit)
                .put_beside_if(
                    keys::invitation(&org, &current.invitation_id),
                    &next,
                    "used = :used AND attribute_not_exists(revokedAt) AND validUntil > :now",
                    vec![
                        (":used", AttributeValue::N(current.used.to_string())),
                        (":now", AttributeValue::N(millis(now).to_string())),
                    ],
                )
                .images(
                    Action::InvitationUsed,
                    current.target(),
                    &current.recorded(),
                    &next.recorded(),
                )
                .join(member)
                .put_beside_if(
                    keys::account(&subject),
                    &account,
                    "attribute_not_exists(pk) OR orgId = :expired",
                    vec![(
                        ":expired",
                        AttributeValue::S(replaces.map_or_else(String::new, OrgId::to_string)),
                    )],
                )
                .check(
                    keys::member(&org, &maker),
                    "#role = :makerRole AND #status = :active",
                    vec![
                        (":makerRole", super::name_value(maker_role)?),
                        (":active", super::name_value(MemberStatus::Active)?),
                    ],
                )
                .with_names(vec![("#role", "role"), ("#status", "status")])
                .check(keys::organisation(&org), org_condition, org_values)
                .with_names(crate::organisation::AS_READ_NAMES.to_vec())
                .commit()
                .await;
            match committed {
                Ok(()) => return Ok(Ok(())),
                // DynamoDB's own transaction conflict, retried once already: again, later.
                Err(StoreError::Contended) => backoff().await,
                // A racing confirmation spent a use, or the maker or the organisation changed:
                // judged again; unless the email's account entry names another's account.
                Err(StoreError::Conflict) => {
                    let holder = self
                        .read(&self.data_table, &keys::account(&subject))
                        .await?
                        .map(super::from_item::<AccountEntry>)
                        .transpose()?;
                    if holder.is_some_and(|h| Some(&h.org_id) != replaces && h.user_id != pending.user_id) {
                        return Err(StoreError::AlreadyExists);
                    }
                    backoff().await;
                }
                // The SDK retries a transaction whose answer was lost: a retry of one that
                // committed finds its own member.
                Err(StoreError::AlreadyExists) => {
                    return if self.joined(pending).await? {
                        Ok(Ok(()))
                    } else {
                        Err(StoreError::AlreadyExists)
                    }
                }
                Err(other) => return Err(other),
            }
        }
        Err(StoreError::Contended)
    }

    /// Whether the joiner of `pending` is a member of its organisation already.
    pub async fn joined(&self, pending: &PendingJoin) -> Result<bool, StoreError> {
        Ok(self
            .member(&pending.organisation, &pending.user_id)
            .await?
            .is_some_and(|m| m.email == pending.email && m.org_id == pending.organisation))
    }

    /// Forgets `pending` once it is made or can no longer be (its Cognito user deleted): its
    /// password verifier goes with it. Only if the email's pending join is still this one (a
    /// newer join of the email stays). Nothing of any organisation changes; DynamoDB's TTL
    /// removes one left behind 30 days after the join.
    pub async fn forget_pending_join(&self, pending: &PendingJoin) -> Result<(), StoreError> {
        let result = self
            .ddb
            .delete_item()
            .table_name(&self.data_table)
            .set_key(Some(keys::pending_join(&Subject::account(&pending.email)).to_map()))
            .condition_expression("userId = :user")
            .expression_attribute_values(":user", AttributeValue::S(pending.user_id.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(error) => Err(StoreError::aws(error)),
        }
    }
}

impl Store {
    /// Records a refused join (`join.refused`, with `outcome`) as made by whoever typed `email`:
    /// in the invitation's organisation's trail when `in_organisation` (the code's secret was
    /// right: the organisation gave it out), otherwise in the platform's, named by the digest
    /// of the code's organisation and invitation, so that guessing at codes writes into no
    /// customer's trail.
    pub async fn record_join_refusal(
        &self,
        code: &JoinCode,
        email: &str,
        in_organisation: bool,
        origin: Origin,
        outcome: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let (trail, target) = if in_organisation {
            (
                TenantScope::new(code.org().clone()),
                Target::new("invitation", code.invitation().as_str()),
            )
        } else {
            (
                TenantScope::new(OrgId::platform()),
                Target::new(
                    "join-code",
                    Subject::join_code(code.org(), code.invitation()).key_part(),
                ),
            )
        };
        let audit = AuditContext::for_route(crate::accounts::anonymous(email), origin, &Action::JOIN);
        self.transaction(&trail, audit)
            .event(Action::JoinRefused, target, outcome)
            .commit()
            .await
    }
}

impl Store {
    /// Records that the invitation of `pending`, whose joiner confirmed their email, no longer
    /// joined anyone (`join.refused` with `reason`), in the organisation's trail, as whoever
    /// joined: they held its code.
    pub async fn record_confirmed_join_refusal(
        &self,
        pending: &PendingJoin,
        email: &str,
        origin: Origin,
        reason: &str,
    ) -> Result<(), StoreError> {
        let audit = AuditContext::for_route(crate::accounts::anonymous(email), origin, &Action::REGISTRATION);
        self.transaction(&TenantScope::new(pending.organisation.clone()), audit)
            .event(
                Action::JoinRefused,
                Target::new("invitation", pending.invitation_id.as_str()),
                &serde_json::json!({ "reason": reason, "at": "confirmation" }),
            )
            .commit()
            .await
    }
}
