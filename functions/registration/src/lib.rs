//! The registration function (AUTHN-6, AUTHN-9, RATE-1, ORG-4, RATE-3): registering an
//! organisation, joining one with a code, confirming the email of either, and asking for a new
//! confirmation code, through `quire_http::identity` (`registration`, `join`). A function of its
//! own because it writes what no sign-in may: an organisation's profile, memberships and the
//! user and account directories (template.yaml grants those writes to this function only).

use http::Method;
use lambda_http::Request;
use quire_core::audit::Action;
use quire_core::invitation::JoinCode;
use quire_core::password::NewPassword;
use quire_http::identity::{
    confirm_registration, join, register, resend_confirmation, DisplayName, Email, EmailedCode, NewJoin,
    NewRegistration, OrganisationName, Password,
};
use quire_http::json::{ok, parse_body, respond};
use quire_http::route::HandlerResult;
use quire_http::{Access, App, Effect, Module, Problem, RequestCtx, Route, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub fn routes() -> Router {
    Router::new(vec![
        Route::new(
            Method::POST,
            "/auth/register",
            Access::Public,
            Module::Platform,
            // The organisation, pending, and its Owner in a new trail; a registration that
            // creates nothing, and rate-limit trips, in the platform's.
            Effect::Writes(&Action::REGISTRATION),
            register_organisation,
        )
        .request_schema::<Register>()
        .response_schema::<RegistrationAccepted>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field), or the password breaks \
             the policy (`weak-password`, with `violations` naming every rule it breaks)",
        )
        .problem(
            "429",
            "more than 5 registrations from this address in the current 10-minute window \
             (`too-many-requests`, with `Retry-After` in seconds), or Cognito's request quota",
        )
        .accepts_body(4 * 1024),
        Route::new(
            Method::POST,
            "/auth/join",
            Access::Public,
            Module::Platform,
            // The pending join in the platform's trail (the organisation sees a join once it is
            // confirmed); a refusal in the organisation's trail when the code's secret was
            // right, otherwise in the platform's; rate-limit trips.
            Effect::Writes(&Action::JOIN),
            join_organisation,
        )
        .request_schema::<Join>()
        .response_schema::<RegistrationAccepted>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field), the password breaks the \
             policy (`weak-password`), or the code joins no one: wrong, expired, used up, revoked, \
             its maker's authority changed, or the organisation takes no new members now \
             (`invalid-join-code`: one answer for each)",
        )
        .problem(
            "403",
            "the code is right and its invitation is for another email (`email-not-invited`), or \
             the organisation lets only other email domains join (`email-domain-not-allowed`)",
        )
        .problem(
            "429",
            "more than 10 joins from this address in the current 15-minute window, or five failed \
             codes from this address or against this invitation started a 15-minute cooldown, or \
             as many attempts as that limit are in flight (`too-many-requests`, with `Retry-After` \
             in seconds), or Cognito's request quota",
        )
        .accepts_body(4 * 1024),
        Route::new(
            Method::POST,
            "/auth/confirm",
            Access::Public,
            Module::Platform,
            // The activation, or the refused code and rate-limit trips.
            Effect::Writes(&Action::REGISTRATION),
            confirm,
        )
        .request_schema::<Confirm>()
        .response_schema::<Confirmed>()
        .problem(
            "400",
            "the request is malformed (`invalid-body`, naming the field), or the code is wrong or \
             expired, the password is not the registration's, the email has no registration to \
             confirm, or confirmations of the account are locked after consecutive refusals \
             (`invalid-code`: one answer for each)",
        )
        .problem(
            "409",
            "the email and password are proved, but the invitation joined with no longer admits \
             anyone: its uses spent, revoked, expired, its maker's authority changed, the \
             organisation takes no new members now or no longer lets the email's domain join \
             (`invitation-closed`; join again with a new code)",
        )
        .problem(
            "429",
            "too many refused codes from this address in the current 15-minute window \
             (`too-many-requests`, with `Retry-After` in seconds), or Cognito's request quota",
        )
        .accepts_body(4 * 1024),
        Route::new(
            Method::POST,
            "/auth/confirm/resend",
            Access::Public,
            Module::Platform,
            // Records the request and rate-limit trips; writes the limits' counts beside them.
            Effect::Writes(&Action::REGISTRATION),
            resend,
        )
        .request_schema::<ResendCode>()
        .response_schema::<RegistrationAccepted>()
        .problem(
            "429",
            "too many codes asked for from this address (5) or for this email (3) in the current \
             15-minute window (`too-many-requests`, with `Retry-After` in seconds), or Cognito's \
             request quota",
        )
        .accepts_body(4 * 1024),
    ])
    .expect("registration route table")
}

/// The request was taken; nothing in the answer depends on the email (AUTHN-9).
#[derive(Serialize, utoipa::ToSchema)]
struct RegistrationAccepted {
    /// Always `accepted`.
    status: &'static str,
    detail: &'static str,
}

/// The email is confirmed: the registration's organisation, or the joined member, is active.
#[derive(Serialize, utoipa::ToSchema)]
struct Confirmed {
    /// Always `confirmed`.
    status: &'static str,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Register {
    /// The new organisation's name: 1 to 120 characters on one line.
    #[schema(value_type = String, max_length = 120)]
    organisation_name: OrganisationName,
    /// The Owner's sign-in email; Cognito emails the confirmation code to it.
    #[schema(value_type = String, format = Email)]
    email: Email,
    /// Checked against the password policy before Cognito is called (AUTHN-3).
    #[schema(value_type = String, format = Password)]
    password: String,
    /// The Owner's name as others see it: 1 to 100 characters on one line.
    #[schema(value_type = String, max_length = 100)]
    display_name: DisplayName,
}

/// What every accepted registration is answered: nothing in it depends on the email.
const REGISTRATION_ACCEPTED: RegistrationAccepted = RegistrationAccepted {
    status: "accepted",
    detail: "if the email can register, a confirmation code was sent to it; the organisation is \
             active once the code is confirmed with the password at POST /auth/confirm",
};

/// A chosen password, checked against the policy before Cognito is called (AUTHN-3).
fn new_password(text: String) -> Result<NewPassword, Problem> {
    NewPassword::parse(text).map_err(|violations| Problem::weak_password(&violations).with("field", "password"))
}

async fn register_organisation(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: Register = parse_body(&req)?;
    let password = new_password(input.password)?;
    register(
        &app,
        &ctx,
        NewRegistration {
            organisation: &input.organisation_name,
            email: &input.email,
            display_name: &input.display_name,
            password: &password,
        },
    )
    .await?;
    respond(http::StatusCode::ACCEPTED, &REGISTRATION_ACCEPTED)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Join {
    /// The join code as the invitation gave it: `<organisation>.<invitation>.<secret>`.
    #[schema(value_type = String, pattern = "^[A-Za-z0-9_-]{1,128}\\.[0-9a-f]{16}\\.[0-9a-f]{40}$")]
    #[serde(deserialize_with = "join_code")]
    code: JoinCode,
    /// The sign-in email; Cognito emails the confirmation code to it.
    #[schema(value_type = String, format = Email)]
    email: Email,
    /// Checked against the password policy before Cognito is called (AUTHN-3).
    #[schema(value_type = String, format = Password)]
    password: String,
    /// The member's name as others see it: 1 to 100 characters on one line.
    #[schema(value_type = String, max_length = 100)]
    display_name: DisplayName,
}

fn join_code<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<JoinCode, D::Error> {
    let text = String::deserialize(deserializer)?;
    JoinCode::parse(&text).map_err(serde::de::Error::custom)
}

/// What every accepted join is answered: nothing in it depends on the email.
const JOIN_ACCEPTED: RegistrationAccepted = RegistrationAccepted {
    status: "accepted",
    detail: "if the email can join, a confirmation code was sent to it; the membership is made \
             once the code is confirmed with the password at POST /auth/confirm",
};

async fn join_organisation(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: Join = parse_body(&req)?;
    let password = new_password(input.password)?;
    join(
        &app,
        &ctx,
        NewJoin {
            code: &input.code,
            email: &input.email,
            display_name: &input.display_name,
            password: &password,
        },
    )
    .await?;
    respond(http::StatusCode::ACCEPTED, &JOIN_ACCEPTED)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct Confirm {
    #[schema(value_type = String, format = Email)]
    email: Email,
    /// The 6 digits of the code Cognito emailed at registration (valid for 24 hours).
    #[schema(value_type = String, pattern = "^[0-9]{6}$")]
    code: EmailedCode,
    /// The password chosen at registration: proves the confirmer is who registered.
    #[schema(value_type = String, format = Password)]
    password: Password,
}

async fn confirm(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: Confirm = parse_body(&req)?;
    confirm_registration(&app, &ctx, &input.email, &input.code, &input.password).await?;
    ok(&Confirmed { status: "confirmed" })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ResendCode {
    #[schema(value_type = String, format = Email)]
    email: Email,
}

/// What every accepted request for a new confirmation code is answered.
const CODE_REQUESTED: RegistrationAccepted = RegistrationAccepted {
    status: "accepted",
    detail: "if the email has a registration to confirm, a new confirmation code was sent to it",
};

async fn resend(app: Arc<App>, ctx: RequestCtx, req: Request) -> HandlerResult {
    let input: ResendCode = parse_body(&req)?;
    resend_confirmation(&app, &ctx, &input.email).await?;
    respond(http::StatusCode::ACCEPTED, &CODE_REQUESTED)
}
