//! `make dev`: runs Quire locally until Ctrl-C. `quire-local totp <secret>` prints the current
//! code of a demo authenticator's secret (the ones `make dev` prints).

use quire_local::seed::DEFAULT_DEMO_PASSWORD;
use quire_local::{Stack, StackOptions};

fn port(name: &str, default: u16) -> Result<u16, String> {
    match std::env::var(name) {
        Ok(text) => text.parse().map_err(|_| format!("{name} must be a port number")),
        Err(_) => Ok(default),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [command, secret] = args.as_slice() {
        if command == "totp" {
            println!("{}", quire_local::seed::totp_code(secret)?);
            return Ok(());
        }
    }
    if !args.is_empty() {
        return Err("usage: quire-local            (runs Quire locally)\n       quire-local totp <secret>  (the current TOTP code)".into());
    }
    quire_core::telemetry::init();
    let password = std::env::var("QUIRE_DEMO_PASSWORD").unwrap_or_else(|_| DEFAULT_DEMO_PASSWORD.to_owned());
    // The default is for local use only and documented; a chosen one is not echoed.
    let password_said = match std::env::var_os("QUIRE_DEMO_PASSWORD") {
        Some(_) => "the value of QUIRE_DEMO_PASSWORD".to_owned(),
        None => format!("{DEFAULT_DEMO_PASSWORD} (the local default)"),
    };
    let options = StackOptions {
        api_port: Some(port("QUIRE_PORT", 3000)?),
        emulator_port: Some(port("QUIRE_EMULATOR_PORT", 4566)?),
        seed: vec!["acme".into()],
        seed_without_authenticators: vec!["globex".into()],
        demo_password: password,
        origin_secret_refresh: None,
        sign_in_lockout: None,
        sessions: None,
        registration_validity: None,
    };
    let stack = Stack::start(options).await?;
    let operator = stack
        .seed_operator(quire_local::seed::OPERATOR_EMAIL, quire_core::rbac::Role::Owner, true)
        .await?;
    let api = &stack.api_url;
    println!(
        r#"
Quire is running at {api}  (emulator: {emulator})
(as deployed, behind its CloudFront edge; API Gateway's own address {origin} refuses requests that skip it)

Users: owner@acme.test, admin@acme.test, user@acme.test, viewer@acme.test (and @globex.test)
Password: {password_said}
Owners and Admins sign in with a TOTP code too (AUTHN-7); five wrong codes in a row lock the
account like five wrong passwords. Their authenticators' secrets (new on every start):
{secrets}
The current code of one: ./target/debug/quire-local totp <secret>
The platform's operator (RBAC-6: an organisation's lifecycle, subscription and modules,
turning SSO-only off, clearing an IP allowlist, and break-glass reads, at
/operator/organisations/<orgId>) signs in the same way:
  {operator_email:<18} {operator_secret}
owner@globex.test and admin@globex.test have no authenticator yet: their sign-in answers
"challenge": "mfa-setup", and until they enrol one (POST /auth/mfa/setup, then
POST /auth/mfa/verify) only that, GET /auth/me and POST /auth/logout are open.

Try (the README's quick start has more):
  SESSION=$(curl -sf {api}/auth/login -H 'content-type: application/json' \
    -d '{{"email":"owner@acme.test","password":"'"${{QUIRE_DEMO_PASSWORD:-{default}}}"'"}}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["session"])') || echo "login failed" >&2
  CODE=$(./target/debug/quire-local totp {owner_secret})
  TOKEN=$(curl -sf {api}/auth/mfa -H 'content-type: application/json' \
    -d '{{"email":"owner@acme.test","session":"'"$SESSION"'","code":"'"$CODE"'"}}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])') || echo "code refused" >&2
  curl -s -w '\n' {api}/documents -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{{"title":"SOP-001 Cleaning","type":"sop","body":"Step 1"}}'
  curl -s -w '\n' {api}/audit -H "authorization: Bearer $TOKEN"
  curl -s -w '\n' {api}/audit/verify -H "authorization: Bearer $TOKEN"

Mail Cognito would send (password-reset and sign-up confirmation codes) lands in {mailbox}

Ctrl-C stops it."#,
        emulator = stack.emulator.endpoint,
        origin = stack.origin_url,
        mailbox = stack.emulator.mailbox.display(),
        default = DEFAULT_DEMO_PASSWORD,
        operator_email = operator.email,
        operator_secret = operator.totp_secret.as_deref().unwrap_or("<none>"),
        owner_secret = stack
            .orgs
            .iter()
            .flat_map(|org| org.users.iter())
            .find(|user| user.email == "owner@acme.test")
            .and_then(|user| user.totp_secret.as_deref())
            .unwrap_or("<secret>"),
        secrets = stack
            .orgs
            .iter()
            .flat_map(|org| org.users.iter())
            .filter_map(|user| user
                .totp_secret
                .as_ref()
                .map(|secret| format!("  {:<18} {secret}", user.email)))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
