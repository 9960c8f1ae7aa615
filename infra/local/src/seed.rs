//! Demo organisations and users: real Cognito users with permanent passwords, and Quire
//! memberships, written through the same store calls (and audit events) as onboarding. The
//! Owner and Admin of each have a TOTP authenticator enrolled through Cognito's own calls, as
//! the admin MFA gate requires (AUTHN-7); its secret is theirs to compute codes with
//! ([`totp_code`], `quire-local totp <secret>`).

use crate::emulator::LocalError;
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, AuthFlowType, MessageActionType, SoftwareTokenMfaSettingsType,
};
use quire_core::audit::{Action, Actor, Origin};
use quire_core::ids::{OrgId, UserId};
use quire_core::rbac::Role;
use quire_http::App;
use quire_store::{AuditContext, NewMember};

/// The password of every demo user unless `QUIRE_DEMO_PASSWORD` says otherwise. For the local
/// emulator only; it satisfies the pool's password policy (AUTHN-3).
pub const DEFAULT_DEMO_PASSWORD: &str = "Quire-Demo-Passw0rd!";

#[derive(Debug, Clone)]
pub struct SeededUser {
    pub email: String,
    pub role: Role,
    pub user_id: UserId,
    /// The TOTP secret (RFC 4648 base32) of the authenticator enrolled for an Owner or Admin.
    pub totp_secret: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SeededOrg {
    pub slug: String,
    pub org_id: OrgId,
    pub users: Vec<SeededUser>,
}

impl SeededOrg {
    pub fn user(&self, role: Role) -> &SeededUser {
        self.users
            .iter()
            .find(|u| u.role == role)
            .expect("every seeded organisation has every role")
    }
}

/// How far the seeded users are onboarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Onboarding {
    /// Permanent passwords; the Owner and Admin have an authenticator, as after their first
    /// sign-in.
    Enrolled,
    /// Permanent passwords; no authenticators yet: the Owner's and Admin's first sign-in is held
    /// at the admin MFA gate until they enrol one.
    WithoutAuthenticators,
    /// Invited: the password is a temporary one (Cognito's `FORCE_CHANGE_PASSWORD`), which the
    /// first sign-in must replace with one of the member's own; no authenticators.
    Invited,
}

/// Creates organisation `<slug>` with `owner@<slug>.test`, `admin@…`, `user@…` and `viewer@…`.
pub async fn organisation(
    app: &App,
    user_pool_id: &str,
    slug: &str,
    password: &str,
    onboarding: Onboarding,
) -> Result<SeededOrg, LocalError> {
    let seeder = Actor::system("local seed");
    let origin = Origin::new(None, Some("quire-local"), "local-seed");
    let name = format!("{}{}", slug[..1].to_uppercase(), &slug[1..]);
    let scope = app
        .store
        .create_organisation(&name, seeder.clone(), origin.clone())
        .await
        .map_err(|e| LocalError::Other(e.to_string()))?;
    let mut users = Vec::new();
    for role in Role::ALL {
        let local = role.as_str().to_lowercase();
        let email = format!("{local}@{slug}.test");
        let display_name = format!("{name} {}", role.as_str());
        users.push(
            user(
                app,
                user_pool_id,
                &scope,
                &email,
                &display_name,
                role,
                password,
                onboarding,
            )
            .await?,
        );
    }
    Ok(SeededOrg {
        slug: slug.to_owned(),
        org_id: scope.org_id().clone(),
        users,
    })
}

/// The email of the platform's operator `make dev` seeds.
pub const OPERATOR_EMAIL: &str = "operator@quire.test";

/// A platform operator (RBAC-6) for local use: a member of the operators' organisation with
/// `role` (an Owner, as provisioned; an authenticator enrolled for a role that needs one) and,
/// when `in_group`, of the operators' Cognito group, which an operator's route also needs. Both
/// grants in one step, with a password the seeder chose: a demo, not a provisioning procedure.
pub async fn operator(
    app: &App,
    user_pool_id: &str,
    email: &str,
    password: &str,
    role: Role,
    in_group: bool,
) -> Result<SeededUser, LocalError> {
    let seeder = Actor::system("local seed");
    let origin = Origin::new(None, Some("quire-local"), "local-seed");
    let scope = app
        .store
        .provision_operators(seeder, origin)
        .await
        .map_err(|e| LocalError::Other(e.to_string()))?;
    let seeded = user(
        app,
        user_pool_id,
        &scope,
        email,
        "Quire Operator",
        role,
        password,
        Onboarding::Enrolled,
    )
    .await?;
    if !in_group {
        return Ok(seeded);
    }
    app.cognito
        .admin_add_user_to_group()
        .user_pool_id(user_pool_id)
        .username(email)
        .group_name(quire_core::rbac::OPERATORS_GROUP)
        .send()
        .await
        .map_err(|e| LocalError::aws("AdminAddUserToGroup", &e))?;
    Ok(seeded)
}

/// A real Cognito user (email verified, a permanent password unless invited) who is a member of
/// `scope`'s organisation with `role`, with an authenticator enrolled when the role needs one
/// and `onboarding` says so.
#[allow(clippy::too_many_arguments)]
async fn user(
    app: &App,
    user_pool_id: &str,
    scope: &quire_store::tenant::TenantScope,
    email: &str,
    display_name: &str,
    role: Role,
    password: &str,
    onboarding: Onboarding,
) -> Result<SeededUser, LocalError> {
    let seeder = Actor::system("local seed");
    let origin = Origin::new(None, Some("quire-local"), "local-seed");
    let created = app
        .cognito
        .admin_create_user()
        .user_pool_id(user_pool_id)
        .username(email)
        .set_temporary_password((onboarding == Onboarding::Invited).then(|| password.to_owned()))
        .user_attributes(
            AttributeType::builder()
                .name("email")
                .value(email)
                .build()
                .map_err(|e| LocalError::Other(e.to_string()))?,
        )
        .user_attributes(
            AttributeType::builder()
                .name("email_verified")
                .value("true")
                .build()
                .map_err(|e| LocalError::Other(e.to_string()))?,
        )
        .user_attributes(
            AttributeType::builder()
                .name("custom:org_id")
                .value(scope.org_id().as_str())
                .build()
                .map_err(|e| LocalError::Other(e.to_string()))?,
        )
        .message_action(MessageActionType::Suppress)
        .send()
        .await
        .map_err(|e| LocalError::aws("AdminCreateUser", &e))?;
    let sub = created
        .user
        .and_then(|u| u.attributes)
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.name == "sub")
        .and_then(|a| a.value)
        .ok_or_else(|| LocalError::Other("created user has no sub".into()))?;
    if onboarding != Onboarding::Invited {
        app.cognito
            .admin_set_user_password()
            .user_pool_id(user_pool_id)
            .username(email)
            .password(password)
            .permanent(true)
            .send()
            .await
            .map_err(|e| LocalError::aws("AdminSetUserPassword", &e))?;
    }
    let user_id = UserId::parse(&sub).map_err(LocalError::Other)?;
    app.store
        .add_member(
            scope,
            NewMember {
                user: &user_id,
                email,
                display_name,
                role,
            },
            seeder.clone(),
            origin.clone(),
        )
        .await
        .map_err(|e| LocalError::Other(e.to_string()))?;
    let totp_secret = if role.requires_mfa() && onboarding == Onboarding::Enrolled {
        let secret = enrol_authenticator(app, email, password).await?;
        let audit = AuditContext::for_route(seeder, origin, &[Action::MfaEnrolled]);
        app.store
            .record_mfa_enrolment(scope, &user_id, audit)
            .await
            .map_err(|e| LocalError::Other(e.to_string()))?;
        Some(secret)
    } else {
        None
    };
    Ok(SeededUser {
        email: email.to_owned(),
        role,
        user_id,
        totp_secret,
    })
}

/// The current code of a TOTP secret (RFC 6238 with Cognito's parameters: SHA-1, 6 digits,
/// 30-second steps): what the user's authenticator app would show now.
pub fn totp_code(secret: &str) -> Result<String, LocalError> {
    let secret = totp_rs::Secret::try_from_base32(secret)
        .map_err(|e| LocalError::Other(format!("a TOTP secret must be base32: {e}")))?;
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .build()
        .map_err(|e| LocalError::Other(format!("TOTP: {e}")))?;
    Ok(totp.generate_current().to_string())
}

/// Enrols a TOTP authenticator for `email` as its owner would through Cognito: signs in,
/// `AssociateSoftwareToken`, `VerifySoftwareToken` with a code of the new secret, and
/// `SetUserMFAPreference`. Returns the secret.
async fn enrol_authenticator(app: &App, email: &str, password: &str) -> Result<String, LocalError> {
    let secret_hash = app
        .client
        .secret_hash(&app.cognito, email)
        .await
        .map_err(|p| LocalError::Other(p.detail().to_owned()))?;
    let mut sign_in = app
        .cognito
        .initiate_auth()
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .client_id(app.client.id())
        .auth_parameters("USERNAME", email)
        .auth_parameters("PASSWORD", password);
    if let Some(hash) = secret_hash {
        sign_in = sign_in.auth_parameters("SECRET_HASH", hash);
    }
    let signed_in = sign_in.send().await.map_err(|e| LocalError::aws("InitiateAuth", &e))?;
    let access_token = signed_in
        .authentication_result
        .and_then(|t| t.access_token)
        .ok_or_else(|| LocalError::Other(format!("{email}: a sign-in without tokens")))?;
    let secret = app
        .cognito
        .associate_software_token()
        .access_token(&access_token)
        .send()
        .await
        .map_err(|e| LocalError::aws("AssociateSoftwareToken", &e))?
        .secret_code
        .ok_or_else(|| LocalError::Other("AssociateSoftwareToken: no secret".into()))?;
    app.cognito
        .verify_software_token()
        .access_token(&access_token)
        .user_code(totp_code(&secret)?)
        .friendly_device_name("quire-local seed")
        .send()
        .await
        .map_err(|e| LocalError::aws("VerifySoftwareToken", &e))?;
    app.cognito
        .set_user_mfa_preference()
        .access_token(&access_token)
        .software_token_mfa_settings(
            SoftwareTokenMfaSettingsType::builder()
                .enabled(true)
                .preferred_mfa(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| LocalError::aws("SetUserMFAPreference", &e))?;
    Ok(secret)
}
