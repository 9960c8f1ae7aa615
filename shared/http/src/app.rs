//! Per-cold-start state shared by every request of a function: configuration, AWS clients,
//! the JWT verifier with its JWKS cache, the store, and the edge's secret.

use crate::auth::JwtVerifier;
use crate::config::Config;
use crate::pipeline::edge::{secrets_client, Edge, OriginVerifier, REFRESH};
use quire_store::Store;
use std::sync::Arc;

pub struct App {
    pub config: Config,
    pub store: Store,
    pub verifier: JwtVerifier,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    /// Quire's app client at Cognito and its secret (`crate::app_client`).
    pub client: crate::app_client::AppClient,
    /// Whether requests must prove they came through CloudFront (`pipeline::edge`).
    pub edge: Edge,
    /// S3, for the functions given a bucket ([`Config::attachments_bucket`]).
    pub s3: aws_sdk_s3::Client,
    /// The envelope engine, for the functions given its key ([`Config::envelope_key_arn`]).
    pub envelope: Option<quire_crypto::Envelope>,
}

impl App {
    /// On AWS: configuration from the environment `template.yaml` sets, credentials and
    /// endpoints from the standard AWS variables (`AWS_ENDPOINT_URL` reaches an emulator).
    /// Fails, and so fails the cold start, when the origin secret is configured but unreadable.
    pub async fn from_env() -> Result<Arc<App>, lambda_http::Error> {
        let config = Config::from_env()?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let edge = App::edge(&config, &sdk).await?;
        Ok(App::new(config, &sdk, edge))
    }

    /// The edge `config` asks for, its secret read from Secrets Manager now and every
    /// [`REFRESH`].
    pub async fn edge(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Edge, lambda_http::Error> {
        App::edge_refreshed_every(config, sdk, REFRESH).await
    }

    /// [`App::edge`] with another refresh period (the local stack's rotation test).
    pub async fn edge_refreshed_every(
        config: &Config,
        sdk: &aws_config::SdkConfig,
        every: std::time::Duration,
    ) -> Result<Edge, lambda_http::Error> {
        Ok(match &config.origin_secret_id {
            None => {
                tracing::warn!("QUIRE_ORIGIN_SECRET_ID is not set: requests are not required to come through the edge");
                Edge::Direct
            }
            Some(id) => {
                let client = secrets_client(sdk);
                let pinned = config.origin_secret_version.as_deref();
                Edge::Verified(Arc::new(OriginVerifier::load(client, id, pinned, every).await?))
            }
        })
    }

    pub fn new(config: Config, sdk: &aws_config::SdkConfig, edge: Edge) -> Arc<App> {
        Arc::new(App {
            store: Store::new(sdk, &config.store()),
            verifier: JwtVerifier::new(config.jwt()),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(sdk),
            client: crate::app_client::AppClient::new(&config.user_pool_id, &config.user_pool_client_id),
            s3: aws_sdk_s3::Client::from_conf(
                aws_sdk_s3::config::Builder::from(sdk)
                    .force_path_style(config.s3_path_style)
                    .build(),
            ),
            // Checked to be a key ARN when the configuration was read.
            envelope: config
                .envelope_key_arn
                .as_ref()
                .and_then(|arn| quire_crypto::Envelope::new(aws_sdk_kms::Client::new(sdk), arn).ok()),
            config,
            edge,
        })
    }
}
