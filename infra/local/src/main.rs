//! `make dev`: runs Quire locally until Ctrl-C.

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
    quire_core::telemetry::init();
    let password = std::env::var("QUIRE_DEMO_PASSWORD").unwrap_or_else(|_| DEFAULT_DEMO_PASSWORD.to_owned());
    let options = StackOptions {
        api_port: Some(port("QUIRE_PORT", 3000)?),
        emulator_port: Some(port("QUIRE_EMULATOR_PORT", 4566)?),
        seed: vec!["acme".into(), "globex".into()],
        demo_password: password,
        origin_secret_refresh: None,
        sign_in_lockout: None,
        sessions: None,
    };
    let stack = Stack::start(options).await?;
    let api = &stack.api_url;
    println!(
        r#"
Quire is running at {api}  (emulator: {emulator})
(as deployed, behind its CloudFront edge; API Gateway's own address {origin} refuses requests that skip it)

Users: owner@acme.test, admin@acme.test, user@acme.test, viewer@acme.test (and @globex.test)
Password: $QUIRE_DEMO_PASSWORD, or the local default documented in README.md

Try (the README's quick start has more):
  TOKEN=$(curl -sf {api}/auth/login -H 'content-type: application/json' \
    -d '{{"email":"owner@acme.test","password":"'"${{QUIRE_DEMO_PASSWORD:-{default}}}"'"}}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["accessToken"])') || echo "login failed" >&2
  curl -s -w '\n' {api}/documents -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{{"title":"SOP-001 Cleaning","type":"sop","body":"Step 1"}}'
  curl -s -w '\n' {api}/audit -H "authorization: Bearer $TOKEN"
  curl -s -w '\n' {api}/audit/verify -H "authorization: Bearer $TOKEN"

Mail Cognito would send (password-reset codes) lands in {mailbox}

Ctrl-C stops it."#,
        emulator = stack.emulator.endpoint,
        origin = stack.origin_url,
        mailbox = stack.emulator.mailbox.display(),
        default = DEFAULT_DEMO_PASSWORD,
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
