//! Demo organisations and users: real Cognito users with permanent passwords, and Quire
//! memberships, written through the same store calls (and audit events) as onboarding.

use crate::emulator::LocalError;
use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
use quire_core::audit::{Actor, Origin};
use quire_core::ids::{OrgId, UserId};
use quire_core::rbac::Role;
use quire_http::App;
use quire_store::NewMember;

/// The password of every demo user unless `QUIRE_DEMO_PASSWORD` says otherwise. For the local
/// emulator only; it satisfies the pool's password policy (AUTHN-3).
pub const DEFAULT_DEMO_PASSWORD: &str = "Quire-Demo-Passw0rd!";

#[derive(Debug, Clone)]
pub struct SeededUser {
    pub email: String,
    pub role: Role,
    pub user_id: UserId,
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

/// Creates organisation `<slug>` with `owner@<slug>.test`, `admin@…`, `user@…` and `viewer@…`.
pub async fn organisation(app: &App, user_pool_id: &str, slug: &str, password: &str) -> Result<SeededOrg, LocalError> {
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
        let created = app
            .cognito
            .admin_create_user()
            .user_pool_id(user_pool_id)
            .username(&email)
            .user_attributes(
                AttributeType::builder()
                    .name("email")
                    .value(&email)
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
        app.cognito
            .admin_set_user_password()
            .user_pool_id(user_pool_id)
            .username(&email)
            .password(password)
            .permanent(true)
            .send()
            .await
            .map_err(|e| LocalError::aws("AdminSetUserPassword", &e))?;
        let user_id = UserId::parse(&sub).map_err(LocalError::Other)?;
        let display_name = format!("{name} {}", role.as_str());
        app.store
            .add_member(
                &scope,
                NewMember {
                    user: &user_id,
                    email: &email,
                    display_name: &display_name,
                    role,
                },
                seeder.clone(),
                origin.clone(),
            )
            .await
            .map_err(|e| LocalError::Other(e.to_string()))?;
        users.push(SeededUser { email, role, user_id });
    }
    Ok(SeededOrg {
        slug: slug.to_owned(),
        org_id: scope.org_id().clone(),
        users,
    })
}
