//! Quire's app client at Cognito and its secret (template.yaml `UserPoolClient`,
//! `GenerateSecret: true`). Cognito refuses an unauthenticated call of a client with a secret
//! (`InitiateAuth`, `RespondToAuthChallenge`, `ForgotPassword`, `ConfirmForgotPassword`,
//! `RevokeToken`, `SignUp`, `ConfirmSignUp`, `ResendConfirmationCode`) unless it proves the
//! secret, so only the auth and registration functions, whose roles alone may read it
//! (`cognito-idp:DescribeUserPoolClient`), can sign anyone in or up: a client cannot go round
//! Quire's lockout, rate limits and trail by calling Cognito itself.
//!
//! The proof is `SECRET_HASH` = Base64(HMAC-SHA256(key = client secret, message = username +
//! client id)) (Amazon Cognito Developer Guide, "Computing secret hash values"), or, for
//! `RevokeToken`, the secret itself. The secret is read once per cold start, on first use, and
//! never logged (no `Debug`).

use crate::problem::Problem;
use base64::Engine;

/// The app client's secret, as `DescribeUserPoolClient` gives it.
pub struct ClientSecret(String);

impl ClientSecret {
    pub fn new(secret: String) -> Self {
        ClientSecret(secret)
    }

    /// The secret itself, for `RevokeToken`'s `ClientSecret`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `SECRET_HASH` of `username` for the client `client_id`: Base64 (RFC 4648 §4, padded) of
    /// HMAC-SHA256 (RFC 2104) keyed with the secret over `username` followed by `client_id`.
    /// `username` is what the call names the user by (`USERNAME`, or the member's Cognito
    /// username, their `sub`, where Cognito wants that).
    pub fn secret_hash(&self, username: &str, client_id: &str) -> String {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, self.0.as_bytes());
        let mut context = aws_lc_rs::hmac::Context::with_key(&key);
        context.update(username.as_bytes());
        context.update(client_id.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(context.sign().as_ref())
    }
}

/// The app client: its id, and its secret read on first use.
pub struct AppClient {
    user_pool_id: String,
    client_id: String,
    secret: tokio::sync::OnceCell<Option<ClientSecret>>,
}

impl AppClient {
    pub fn new(user_pool_id: &str, client_id: &str) -> Self {
        AppClient {
            user_pool_id: user_pool_id.to_owned(),
            client_id: client_id.to_owned(),
            secret: tokio::sync::OnceCell::new(),
        }
    }

    pub fn id(&self) -> &str {
        &self.client_id
    }

    /// The client's secret (`DescribeUserPoolClient`, once), or `None` for a client without one.
    ///
    /// Errors: 503 when Cognito cannot be asked (the next call asks again).
    pub async fn secret(
        &self,
        cognito: &aws_sdk_cognitoidentityprovider::Client,
    ) -> Result<Option<&ClientSecret>, Problem> {
        let secret = self
            .secret
            .get_or_try_init(|| async {
                let described = cognito
                    .describe_user_pool_client()
                    .user_pool_id(&self.user_pool_id)
                    .client_id(&self.client_id)
                    .send()
                    .await
                    .map_err(|error| Problem::unavailable(error.into_service_error()))?;
                let secret = described
                    .user_pool_client
                    .and_then(|client| client.client_secret)
                    .map(ClientSecret);
                if secret.is_none() {
                    // Everything works, unguarded: anyone may call Cognito round Quire.
                    tracing::error!(
                        "the app client has no secret: Cognito's unauthenticated calls are open to any client"
                    );
                }
                Ok::<_, Problem>(secret)
            })
            .await?;
        Ok(secret.as_ref())
    }

    /// `SECRET_HASH` of `username` ([`ClientSecret::secret_hash`]), or `None` for a client
    /// without a secret.
    pub async fn secret_hash(
        &self,
        cognito: &aws_sdk_cognitoidentityprovider::Client,
        username: &str,
    ) -> Result<Option<String>, Problem> {
        Ok(self
            .secret(cognito)
            .await?
            .map(|secret| secret.secret_hash(username, &self.client_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vectors of `tests/vectors/secret-hash.json`, computed with Python's `hmac` and
    /// `base64` modules from the formula of the Cognito Developer Guide.
    #[test]
    fn secret_hash_matches_the_vectors() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../tests/vectors/secret-hash.json")).expect("vectors");
        let cases = vectors["cases"].as_array().expect("cases");
        assert!(!cases.is_empty());
        for case in cases {
            let secret = ClientSecret::new(case["clientSecret"].as_str().expect("secret").to_owned());
            let hash = secret.secret_hash(
                case["username"].as_str().expect("username"),
                case["clientId"].as_str().expect("client id"),
            );
            assert_eq!(hash, case["secretHash"].as_str().expect("hash"), "{case}");
        }
        // Any change of key or message changes it.
        let secret = ClientSecret::new("k".into());
        assert_ne!(secret.secret_hash("a", "b"), secret.secret_hash("b", "a"));
        assert_ne!(
            secret.secret_hash("a", "b"),
            ClientSecret::new("K".into()).secret_hash("a", "b")
        );
    }
}
