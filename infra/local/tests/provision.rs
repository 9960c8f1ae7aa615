//! Provisions the real `template.yaml` on a fresh emulator and checks the result through
//! the AWS SDK, as the functions will see it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use aws_sdk_cognitoidentityprovider::types::{AttributeType, AuthFlowType};
use aws_sdk_dynamodb::types::{KeyType, StreamViewType};
use quire_local::emulator::Emulator;
use quire_local::provision::{provision, template_path, Provisioned};

/// The real template; `QUIRE_TEMPLATE` points elsewhere (e.g. a draft) when needed.
fn template() -> PathBuf {
    std::env::var_os("QUIRE_TEMPLATE").map_or_else(template_path, PathBuf::from)
}

async fn table_keys(client: &aws_sdk_dynamodb::Client, table: &str) -> Vec<(String, KeyType)> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("DescribeTable");
    described
        .table()
        .expect("table")
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name().to_owned(), k.key_type().clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisions_the_template_on_the_emulator() {
    let started = Instant::now();
    let emulator = Emulator::start(None).await.expect("emulator starts");
    let start_time = started.elapsed();

    let sdk = emulator.sdk_config();
    let started = Instant::now();
    let stack: Provisioned = provision(&sdk, &template(), "quire-test").await.expect("provisioning");
    let provision_time = started.elapsed();
    eprintln!(
        "emulator start: {start_time:?}; provisioning: {provision_time:?}\n\
         physical ids: {:#?}\nskipped: {:?}\ndegraded: {:?}",
        stack.physical_ids, stack.skipped, stack.degraded
    );

    // Tables: pk/sk keys; the data table streams new and old images.
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let pk_sk = vec![("pk".to_owned(), KeyType::Hash), ("sk".to_owned(), KeyType::Range)];
    assert_eq!(table_keys(&dynamodb, &stack.data_table).await, pk_sk);
    assert_eq!(table_keys(&dynamodb, &stack.audit_table).await, pk_sk);
    let data = dynamodb
        .describe_table()
        .table_name(&stack.data_table)
        .send()
        .await
        .unwrap();
    let data = data.table().unwrap();
    assert_eq!(data.latest_stream_arn(), Some(stack.data_stream_arn.as_str()));
    assert_eq!(
        data.stream_specification().and_then(|s| s.stream_view_type()),
        Some(&StreamViewType::NewAndOldImages)
    );
    let backups = dynamodb
        .describe_continuous_backups()
        .table_name(&stack.data_table)
        .send()
        .await
        .unwrap();
    let pitr = backups
        .continuous_backups_description()
        .and_then(|d| d.point_in_time_recovery_description())
        .and_then(|p| p.point_in_time_recovery_status());
    assert_eq!(pitr.map(|s| s.as_str()), Some("ENABLED"));
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name(&stack.data_table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl.time_to_live_description().and_then(|t| t.attribute_name()),
        Some("expiresAt")
    );

    // Bucket: versioned, public access blocked.
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    // moto 5.2.5 answers GetBucketVersioning with a root element the Rust SDK rejects
    // (`GetBucketVersioningResponse`), so check versioning by its effect instead.
    for body in ["v1", "v2"] {
        let put = s3
            .put_object()
            .bucket(&stack.bucket)
            .key("probe")
            .body(body.as_bytes().to_vec().into())
            .send()
            .await
            .expect("PutObject");
        assert!(put.version_id().is_some_and(|v| v != "null"), "versioned put");
    }
    let versions = s3.list_object_versions().bucket(&stack.bucket).send().await.unwrap();
    assert_eq!(versions.versions().len(), 2, "both versions kept");
    let block = s3.get_public_access_block().bucket(&stack.bucket).send().await.unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(block.block_public_acls(), Some(true));
    assert_eq!(block.block_public_policy(), Some(true));
    assert_eq!(block.ignore_public_acls(), Some(true));
    assert_eq!(block.restrict_public_buckets(), Some(true));

    // KMS: a data key sealed under one context does not open under another.
    let kms = aws_sdk_kms::Client::new(&sdk);
    let context = |attachment: &str| {
        HashMap::from([
            ("orgId".to_owned(), "org-1".to_owned()),
            ("attachmentId".to_owned(), attachment.to_owned()),
        ])
    };
    let key = kms
        .generate_data_key()
        .key_id(&stack.kms_key_id)
        .key_spec(aws_sdk_kms::types::DataKeySpec::Aes256)
        .set_encryption_context(Some(context("a-1")))
        .send()
        .await
        .expect("GenerateDataKey");
    assert_eq!(key.plaintext().unwrap().as_ref().len(), 32);
    let sealed = key.ciphertext_blob().unwrap().clone();
    let opened = kms
        .decrypt()
        .ciphertext_blob(sealed.clone())
        .set_encryption_context(Some(context("a-1")))
        .send()
        .await
        .expect("Decrypt with the same context");
    assert_eq!(opened.plaintext(), key.plaintext());
    let wrong = kms
        .decrypt()
        .ciphertext_blob(sealed)
        .set_encryption_context(Some(context("a-2")))
        .send()
        .await;
    assert!(wrong.is_err(), "a different encryption context must not decrypt");
    let rotation = kms
        .get_key_rotation_status()
        .key_id(&stack.kms_key_id)
        .send()
        .await
        .unwrap();
    assert!(rotation.key_rotation_enabled());

    // Cognito: the template's password policy is enforced, and a good password logs in.
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&sdk);
    let pool = cognito
        .describe_user_pool()
        .user_pool_id(&stack.user_pool_id)
        .send()
        .await
        .unwrap();
    let policy = pool
        .user_pool()
        .and_then(|p| p.policies())
        .and_then(|p| p.password_policy())
        .expect("password policy");
    assert_eq!(policy.minimum_length(), Some(12));
    let schema = pool.user_pool().unwrap().schema_attributes();
    assert!(schema.iter().any(|a| a.name() == Some("custom:org_id")));
    let mfa = cognito
        .get_user_pool_mfa_config()
        .user_pool_id(&stack.user_pool_id)
        .send()
        .await
        .unwrap();
    assert_eq!(mfa.software_token_mfa_configuration().map(|c| c.enabled()), Some(true));

    let email = "person@example.test";
    cognito
        .admin_create_user()
        .user_pool_id(&stack.user_pool_id)
        .username(email)
        .user_attributes(AttributeType::builder().name("email").value(email).build().unwrap())
        .user_attributes(
            AttributeType::builder()
                .name("email_verified")
                .value("true")
                .build()
                .unwrap(),
        )
        .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress)
        .send()
        .await
        .expect("AdminCreateUser");
    let set_password = |password: &'static str| {
        cognito
            .admin_set_user_password()
            .user_pool_id(&stack.user_pool_id)
            .username(email)
            .password(password)
            .permanent(true)
            .send()
    };
    let weak = set_password("short")
        .await
        .expect_err("a weak password must be refused");
    assert!(weak.into_service_error().is_invalid_password_exception());
    let strong = "Correct-Horse-9-Battery";
    set_password(strong).await.expect("a strong password is accepted");

    // The app client has a secret (template.yaml): a sign-in proves it.
    let secret = cognito
        .describe_user_pool_client()
        .user_pool_id(&stack.user_pool_id)
        .client_id(&stack.user_pool_client_id)
        .send()
        .await
        .expect("DescribeUserPoolClient")
        .user_pool_client
        .and_then(|c| c.client_secret)
        .expect("the app client has a secret");
    let hash = quire_http::app_client::ClientSecret::new(secret).secret_hash(email, &stack.user_pool_client_id);
    let auth = cognito
        .initiate_auth()
        .client_id(&stack.user_pool_client_id)
        .auth_flow(AuthFlowType::UserPasswordAuth)
        .auth_parameters("USERNAME", email)
        .auth_parameters("PASSWORD", strong)
        .auth_parameters("SECRET_HASH", hash)
        .send()
        .await
        .expect("InitiateAuth");
    let tokens = auth.authentication_result().expect("tokens, no challenge");
    assert!(tokens.access_token().is_some_and(|t| t.split('.').count() == 3));

    // Reset wipes the stack; provisioning again on the same emulator works.
    emulator.reset().await.expect("reset");
    assert!(dynamodb
        .describe_table()
        .table_name(&stack.data_table)
        .send()
        .await
        .is_err());
    let started = Instant::now();
    provision(&sdk, &template(), "quire-test")
        .await
        .expect("provisioning after reset");
    eprintln!("provisioning after reset: {:?}", started.elapsed());
}

/// A taken port is refused before the emulator starts: whatever listens there would answer the
/// readiness probe, and the stack would be provisioned into it.
#[tokio::test]
async fn a_taken_emulator_port_is_refused_before_anything_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let error = Emulator::start(Some(port)).await.expect_err("the port is taken");
    let message = error.to_string();
    assert!(message.contains(&format!("port {port}")), "{message}");
    assert!(
        message.contains("in use") && message.contains("QUIRE_EMULATOR_PORT"),
        "{message}"
    );
}
