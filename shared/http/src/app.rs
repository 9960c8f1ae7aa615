//! Per-cold-start state shared by every request of a function: configuration, AWS clients,
//! the JWT verifier with its JWKS cache, and the store.

use crate::auth::JwtVerifier;
use crate::config::Config;
use quire_store::Store;
use std::sync::Arc;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub verifier: JwtVerifier,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
}

impl App {
    /// On AWS: configuration from the environment `template.yaml` sets, credentials and
    /// endpoints from the standard AWS variables (`AWS_ENDPOINT_URL` reaches an emulator).
    pub async fn from_env() -> Result<Arc<App>, lambda_http::Error> {
        let config = Config::from_env()?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(App::new(config, &sdk))
    }

    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Arc<App> {
        Arc::new(App {
            store: Store::new(sdk, &config.store()),
            verifier: JwtVerifier::new(config.jwt()),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(sdk),
            config,
        })
    }
}
