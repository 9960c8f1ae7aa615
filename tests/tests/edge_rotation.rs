//! The origin secret (decision 25) rotates without refusing anyone, and a withdrawn value stops
//! being accepted. A stack of its own: the test changes the secret every other test relies on.

use quire_local::seed::DEFAULT_DEMO_PASSWORD;
use quire_local::{Stack, StackOptions};
use std::time::Duration;

/// Longer than the stack's refresh period below: the functions have read the secret again.
const SETTLE: Duration = Duration::from_millis(900);

async fn status_at_origin(client: &reqwest::Client, stack: &Stack, secret: &str) -> u16 {
    client
        .get(format!("{}/health", stack.origin_url))
        .header("x-quire-origin-verify", secret)
        .header("cloudfront-viewer-address", "198.51.100.7:4431")
        .send()
        .await
        .expect("the origin answers")
        .status()
        .as_u16()
}

async fn status_through_edge(client: &reqwest::Client, stack: &Stack) -> u16 {
    client
        .get(format!("{}/health", stack.api_url))
        .send()
        .await
        .expect("the edge answers")
        .status()
        .as_u16()
}

/// A new value is accepted beside the old one before the edge sends it, so nobody is refused
/// while CloudFront's copies change over; once the old value is withdrawn from the secret, a
/// request presenting it is refused.
///
/// Proves: HTTP-8
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_secret_rotates_without_refusing_anyone_and_a_withdrawn_value_is_refused() {
    let stack = Stack::start(StackOptions {
        demo_password: DEFAULT_DEMO_PASSWORD.into(),
        origin_secret_refresh: Some(Duration::from_millis(300)),
        ..Default::default()
    })
    .await
    .expect("local stack starts");
    let client = reqwest::Client::new();
    let secrets = aws_sdk_secretsmanager::Client::new(&stack.sdk);
    let secret_id = stack.provisioned.origin_secret_id.clone();
    let first = stack.origin_secret.clone();
    let first_version = secrets
        .get_secret_value()
        .secret_id(&secret_id)
        .send()
        .await
        .expect("the secret")
        .version_id
        .expect("a version id");
    assert_eq!(status_through_edge(&client, &stack).await, 200);

    // 1. A new value: the old one becomes AWSPREVIOUS, and both are accepted.
    let second = format!("rotated{}", uuid::Uuid::new_v4().simple());
    secrets
        .put_secret_value()
        .secret_id(&secret_id)
        .secret_string(&second)
        .send()
        .await
        .expect("a new value");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        status_through_edge(&client, &stack).await,
        200,
        "the edge still sends the first value"
    );
    assert_eq!(
        status_at_origin(&client, &stack, &second).await,
        200,
        "the new value before the edge sends it"
    );

    // 2. The distribution redeployed with the new value.
    stack.redeploy_edge(&second);
    assert_eq!(status_through_edge(&client, &stack).await, 200);

    // 3. The first value withdrawn (after a leak, say): refused once the functions read again.
    secrets
        .update_secret_version_stage()
        .secret_id(&secret_id)
        .version_stage("AWSPREVIOUS")
        .remove_from_version_id(&first_version)
        .send()
        .await
        .expect("the old value withdrawn");
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        status_at_origin(&client, &stack, &first).await,
        403,
        "a withdrawn value still admitted"
    );
    assert_eq!(status_through_edge(&client, &stack).await, 200);
}
