//! A whole Quire on this machine: emulator, resources from template.yaml, demo data, every
//! function behind one in-process gateway, and the audit writer fed from the stream.

use crate::emulator::{Emulator, LocalError};
use crate::gateway::{Edge, Function, Gateway};
use crate::provision::{self, Provisioned};
use crate::queue::QueueHandler;
use crate::seed::{self, SeededOrg};
use crate::stream::{BatchHandler, StreamControl};
use quire_http::config::Config;
use quire_http::App;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

#[derive(Debug, Clone, Default)]
pub struct StackOptions {
    /// Gateway port; `None` picks a free one.
    pub api_port: Option<u16>,
    /// Emulator port; `None` picks a free one.
    pub emulator_port: Option<u16>,
    /// Organisations to seed (`acme` → owner@acme.test, …), their Owners and Admins with an
    /// authenticator each.
    pub seed: Vec<String>,
    /// Organisations to seed whose Owner and Admin have no authenticator yet (AUTHN-7).
    pub seed_without_authenticators: Vec<String>,
    /// Password of the seeded users.
    pub demo_password: String,
    /// How often the functions read the origin secret again (`None`: as deployed, 5 minutes).
    pub origin_secret_refresh: Option<std::time::Duration>,
    /// The sign-in lockout (`None`: as deployed, 5 failures lock for 15 minutes).
    pub sign_in_lockout: Option<quire_store::attempts::LockoutPolicy>,
    /// Session limits (`None`: as deployed, 8 hours idle, 12 at most).
    pub sessions: Option<quire_store::sessions::SessionPolicy>,
    /// How long a registration may stay unconfirmed (`None`: as deployed, 24 hours).
    pub registration_validity: Option<std::time::Duration>,
}

pub struct Stack {
    /// The API's published address: CloudFront in front of API Gateway (`gateway::Edge`).
    pub api_url: String,
    /// API Gateway's own (`execute-api`) address, which the functions refuse to serve.
    pub origin_url: String,
    /// The value CloudFront presents to the origin (tests send it to play a request that came
    /// through the edge).
    pub origin_secret: String,
    /// What the local edge sends (see [`Stack::redeploy_edge`]).
    edge_secret: Arc<std::sync::RwLock<String>>,
    pub emulator: Emulator,
    pub provisioned: Provisioned,
    pub sdk: aws_config::SdkConfig,
    pub app: Arc<App>,
    pub orgs: Vec<SeededOrg>,
    pub demo_password: String,
    /// Holds or disturbs the local stream driver of the audit writer (fault-injection tests).
    pub stream: Arc<StreamControl>,
    /// The same for the audit verifier's.
    pub verifier_stream: Arc<StreamControl>,
    tasks: Vec<JoinHandle<()>>,
}

/// Every function of template.yaml that serves HTTP (by logical id), with its route table.
pub fn function_routes() -> Vec<(&'static str, quire_http::Router)> {
    vec![
        ("HealthFunction", quire_fn_health::routes()),
        ("AuthFunction", quire_fn_auth::routes()),
        ("RegistrationFunction", quire_fn_registration::routes()),
        ("OrganisationFunction", quire_fn_organisation::routes()),
        ("MembersFunction", quire_fn_members::routes()),
        ("OperatorFunction", quire_fn_operator::routes()),
        ("DocumentsFunction", quire_fn_documents::routes()),
        ("AttachmentsFunction", quire_fn_attachments::routes()),
        ("AuditFunction", quire_fn_audit::routes()),
    ]
}

fn functions(app: &Arc<App>) -> Vec<Function> {
    let service = |router: &quire_http::Router| quire_http::pipeline::service(app.clone(), router.clone());
    function_routes()
        .into_iter()
        .map(|(name, router)| Function {
            name,
            service: service(&router),
            router,
        })
        .collect()
}

impl Stack {
    pub async fn start(options: StackOptions) -> Result<Stack, LocalError> {
        // The API's port first: a taken one fails before anything is started.
        let listener = TcpListener::bind(("127.0.0.1", options.api_port.unwrap_or(0)))
            .await
            .map_err(|e| {
                LocalError::Other(format!(
                    "the API's port {}: {e}; set QUIRE_PORT to a free port",
                    options.api_port.unwrap_or(0)
                ))
            })?;
        let emulator = Emulator::start(options.emulator_port).await?;
        let sdk = emulator.sdk_config();
        let provisioned = provision::provision(&sdk, &provision::template_path(), "quire").await?;
        let config = Config {
            data_table: provisioned.data_table.clone(),
            audit_table: provisioned.audit_table.clone(),
            kms_key_id: provisioned.kms_key_id.clone(),
            user_pool_id: provisioned.user_pool_id.clone(),
            user_pool_client_id: provisioned.user_pool_client_id.clone(),
            // What the emulator writes into `iss`: the AWS host, while its keys are served locally.
            jwt_issuer: format!(
                "https://cognito-idp.{}.amazonaws.com/{}",
                provisioned.region, provisioned.user_pool_id
            ),
            jwks_url: format!(
                "{}/{}/.well-known/jwks.json",
                emulator.endpoint, provisioned.user_pool_id
            ),
            origin_secret_id: Some(provisioned.origin_secret_id.clone()),
            origin_secret_version: None,
            sign_in_lockout: options
                .sign_in_lockout
                .unwrap_or(quire_store::attempts::LockoutPolicy::SIGN_IN),
            sessions: options
                .sessions
                .unwrap_or(quire_store::sessions::SessionPolicy::DEFAULT),
            registration_validity: options
                .registration_validity
                .unwrap_or(quire_http::config::REGISTRATION_VALIDITY),
            attachments_bucket: Some(provisioned.bucket.clone()),
            envelope_key_arn: Some(provisioned.kms_key_arn.clone()),
            s3_path_style: true,
        };
        let refresh = options
            .origin_secret_refresh
            .unwrap_or(quire_http::pipeline::edge::REFRESH);
        let edge = App::edge_refreshed_every(&config, &sdk, refresh)
            .await
            .map_err(|e| LocalError::Other(format!("the edge's origin secret: {e}")))?;
        let app = App::new(config, &sdk, edge);
        let mut orgs = Vec::new();
        let seeds = options
            .seed
            .iter()
            .map(|slug| (slug, seed::Onboarding::Enrolled))
            .chain(
                options
                    .seed_without_authenticators
                    .iter()
                    .map(|slug| (slug, seed::Onboarding::WithoutAuthenticators)),
            );
        for (slug, authenticators) in seeds {
            orgs.push(
                seed::organisation(
                    &app,
                    &provisioned.user_pool_id,
                    slug,
                    &options.demo_password,
                    authenticators,
                )
                .await?,
            );
        }
        let api_url = format!("http://{}", listener.local_addr().map_err(LocalError::Io)?);
        let origin_listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(LocalError::Io)?;
        let origin_url = format!("http://{}", origin_listener.local_addr().map_err(LocalError::Io)?);
        let gateway = Gateway::new(functions(&app));
        // What CloudFormation's `{{resolve:secretsmanager:…}}` puts into the distribution.
        let origin_secret = aws_sdk_secretsmanager::Client::new(&sdk)
            .get_secret_value()
            .secret_id(&provisioned.origin_secret_id)
            .send()
            .await
            .ok()
            .and_then(|s| s.secret_string)
            .ok_or_else(|| LocalError::Other("the edge's origin secret cannot be read".into()))?;
        let edge_secret = Arc::new(std::sync::RwLock::new(origin_secret.clone()));
        let edge = gateway.behind(Edge {
            origin_secret: edge_secret.clone(),
        });
        let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
        let stream = Arc::new(StreamControl::default());
        let verifier_stream = Arc::new(StreamControl::default());
        // The schedule's input must be an invocation the writer understands: refuse to start otherwise.
        let reconcile_input = provisioned.reconcile_input.clone();
        serde_json::from_value::<quire_fn_audit_writer::Invocation>(reconcile_input.clone()).map_err(|e| {
            LocalError::Template(format!(
                "ReconcileSchedule's Input is not an invocation of the audit writer: {e}"
            ))
        })?;
        let tasks = vec![
            tokio::spawn(edge.serve(listener)),
            tokio::spawn(gateway.serve(origin_listener)),
            tokio::spawn(crate::stream::run(
                streams.clone(),
                provisioned.data_stream_arn.clone(),
                provisioned.region.clone(),
                provisioned.audit_stream.clone(),
                writer(app.clone()),
                stream.clone(),
            )),
            tokio::spawn(crate::stream::run(
                streams,
                provisioned.data_stream_arn.clone(),
                provisioned.region.clone(),
                provisioned.verifier_stream.clone(),
                verifier(app.clone(), provisioned.verifier_stream.timeout),
                verifier_stream.clone(),
            )),
            tokio::spawn(reconciler(app.clone(), reconcile_input.clone())),
            tokio::spawn(crate::queue::run(
                aws_sdk_sqs::Client::new(&sdk),
                provisioned.ingest_queue.clone(),
                provisioned.region.clone(),
                ingest(&app, &sdk, &provisioned)?,
            )),
        ];
        Ok(Stack {
            api_url,
            origin_url,
            origin_secret,
            edge_secret,
            emulator,
            provisioned,
            sdk,
            app,
            orgs,
            demo_password: options.demo_password,
            stream,
            verifier_stream,
            tasks,
        })
    }

    /// Makes the local edge send `value` as the origin secret, as a redeploy of the distribution
    /// with a new secret version would (decision 25, rotation).
    pub fn redeploy_edge(&self, value: &str) {
        if let Ok(mut sent) = self.edge_secret.write() {
            *sent = value.to_owned();
        }
    }

    pub fn org(&self, slug: &str) -> &SeededOrg {
        self.orgs.iter().find(|o| o.slug == slug).expect("seeded organisation")
    }

    /// Seeds a platform operator (RBAC-6) in the operators' organisation with `role` (an
    /// Owner's has an authenticator) and, when `in_group`, their Cognito group
    /// (`seed::operator`).
    pub async fn seed_operator(
        &self,
        email: &str,
        role: quire_core::rbac::Role,
        in_group: bool,
    ) -> Result<seed::SeededUser, LocalError> {
        seed::operator(
            &self.app,
            &self.provisioned.user_pool_id,
            email,
            &self.demo_password,
            role,
            in_group,
        )
        .await
    }

    /// Seeds one more organisation (tests that must not disturb the others).
    pub async fn seed_org(&self, slug: &str, onboarding: seed::Onboarding) -> Result<SeededOrg, LocalError> {
        seed::organisation(
            &self.app,
            &self.provisioned.user_pool_id,
            slug,
            &self.demo_password,
            onboarding,
        )
        .await
    }
}

/// The audit writer's handler, as its event source mapping invokes it.
fn writer(app: Arc<App>) -> BatchHandler {
    Arc::new(move |event| {
        let app = app.clone();
        Box::pin(async move {
            !quire_fn_audit_writer::handle(&app.store, event)
                .await
                .batch_item_failures
                .is_empty()
        })
    })
}

/// The audit verifier's handler, given the function's timeout as its invocation deadline.
fn verifier(app: Arc<App>, timeout: std::time::Duration) -> BatchHandler {
    Arc::new(move |event| {
        let app = app.clone();
        Box::pin(async move {
            let until = std::time::Instant::now() + timeout.saturating_sub(quire_fn_audit_verifier::SAFETY_MARGIN);
            !quire_fn_audit_verifier::handle(&app.store, event, until)
                .await
                .batch_item_failures
                .is_empty()
        })
    })
}

/// The attachment ingest function's handler, configured as template.yaml configures it (the
/// bucket, the envelope key's ARN, the default limits, scratch files in the temporary directory).
fn ingest(app: &App, sdk: &aws_config::SdkConfig, provisioned: &Provisioned) -> Result<QueueHandler, LocalError> {
    let envelope = quire_crypto::Envelope::new(aws_sdk_kms::Client::new(sdk), provisioned.kms_key_arn.clone())
        .map_err(|e| LocalError::Other(format!("the envelope key: {e}")))?;
    let ingest = Arc::new(quire_fn_attachment_ingest::Ingest {
        store: quire_store::Store::new(sdk, &app.config.store()),
        s3: app.s3.clone(),
        bucket: provisioned.bucket.clone(),
        envelope,
        limits: quire_fn_attachment_ingest::Limits::default(),
        scratch: std::env::temp_dir(),
    });
    Ok(Arc::new(move |event| {
        let ingest = ingest.clone();
        Box::pin(async move { quire_fn_attachment_ingest::queue::handle(&ingest, event, None).await })
    }))
}

/// How often the local stack runs the reconciler (AWS: the schedule's rate, 5 minutes).
const RECONCILE_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The schedule of template.yaml's `ReconcileSchedule`, locally: the same input to the same handler.
async fn reconciler(app: Arc<App>, input: serde_json::Value) {
    let mut timer = tokio::time::interval(RECONCILE_EVERY);
    timer.tick().await;
    loop {
        timer.tick().await;
        // Checked when the stack started.
        let Ok(invocation) = serde_json::from_value(input.clone()) else {
            return;
        };
        if let Err(error) = Box::pin(quire_fn_audit_writer::invoke(&app.store, invocation)).await {
            tracing::error!(%error, "reconciler run failed");
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
