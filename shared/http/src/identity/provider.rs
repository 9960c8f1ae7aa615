//! An organisation's identity provider at Cognito (AUTHN-10): the OIDC or SAML configuration
//! its members would sign in through, kept as one of the user pool's identity providers. What
//! Cognito holds under the organisation's name is read first (`DescribeIdentityProvider`), then
//! updated (`UpdateIdentityProvider`), made (`CreateIdentityProvider`), or, when its type is not
//! the one wanted (Cognito updates no provider's type), deleted and made again. The
//! organisation's record keeps the same configuration without the client secret
//! (`quire_store::IdentityProvider`). The local emulator stores the configuration but checks
//! none of it and runs no federation.

use crate::{App, Problem};
use aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata;
use aws_sdk_cognitoidentityprovider::types::IdentityProviderTypeType;
use quire_store::IdentityProvider;
use std::collections::HashMap;

/// Cognito's `ProviderDetails` and `AttributeMapping` for `provider` (OIDC: `client_id`,
/// `client_secret`, `authorize_scopes`, `oidc_issuer`, `attributes_request_method`; SAML:
/// `MetadataURL`), the email mapped to the user pool's `email`.
fn details(
    provider: &IdentityProvider,
    secret: Option<&str>,
) -> (
    IdentityProviderTypeType,
    HashMap<String, String>,
    HashMap<String, String>,
) {
    let mut details = HashMap::new();
    let mut mapping = HashMap::new();
    if provider.kind() == "SAML" {
        details.insert(
            "MetadataURL".to_owned(),
            provider.metadata_url().unwrap_or_default().to_owned(),
        );
        mapping.insert(
            "email".to_owned(),
            "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress".to_owned(),
        );
        return (IdentityProviderTypeType::Saml, details, mapping);
    }
    details.insert(
        "client_id".to_owned(),
        provider.client_id().unwrap_or_default().to_owned(),
    );
    details.insert("client_secret".to_owned(), secret.unwrap_or_default().to_owned());
    details.insert("authorize_scopes".to_owned(), provider.scopes().join(" "));
    details.insert(
        "oidc_issuer".to_owned(),
        provider.issuer().unwrap_or_default().to_owned(),
    );
    details.insert("attributes_request_method".to_owned(), "GET".to_owned());
    mapping.insert("email".to_owned(), "email".to_owned());
    (IdentityProviderTypeType::Oidc, details, mapping)
}

/// A failed Cognito call as the client hears it, logged by its error code only: Cognito's
/// messages may repeat a value sent (the client secret).
fn failed(what: &str, error: &impl ProvideErrorMetadata) -> Problem {
    let code = error.code().unwrap_or("unknown");
    if code == "InvalidParameterException" {
        tracing::warn!(
            call = what,
            code,
            "Cognito refused the identity provider's configuration"
        );
        return Problem::identity_provider_refused();
    }
    Problem::unavailable(format!("Cognito {what}: {code}"))
}

/// The type of Cognito's identity provider `name`, if it has one.
async fn held(app: &App, name: &str) -> Result<Option<IdentityProviderTypeType>, Problem> {
    match app
        .cognito
        .describe_identity_provider()
        .user_pool_id(&app.config.user_pool_id)
        .provider_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.identity_provider.and_then(|p| p.provider_type)),
        Err(error) => {
            let error = error.into_service_error();
            if error.is_resource_not_found_exception() {
                Ok(None)
            } else {
                Err(failed("DescribeIdentityProvider", &error))
            }
        }
    }
}

/// Makes Cognito's identity provider `next.name()` be `next` (with `secret`, an OIDC client
/// secret), whatever Cognito held under that name before.
///
/// Errors: 422 `identity-provider-refused` when Cognito refuses the configuration (its issuer or
/// metadata cannot be read, a detail is invalid); 503 when Cognito fails otherwise.
pub async fn configure_identity_provider(
    app: &App,
    next: &IdentityProvider,
    secret: Option<&str>,
) -> Result<(), Problem> {
    let (kind, details, mapping) = details(next, secret);
    let pool = &app.config.user_pool_id;
    match held(app, next.name()).await? {
        Some(current) if current == kind => {
            return app
                .cognito
                .update_identity_provider()
                .user_pool_id(pool)
                .provider_name(next.name())
                .set_provider_details(Some(details))
                .set_attribute_mapping(Some(mapping))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| failed("UpdateIdentityProvider", &e.into_service_error()));
        }
        Some(_) => {
            app.cognito
                .delete_identity_provider()
                .user_pool_id(pool)
                .provider_name(next.name())
                .send()
                .await
                .map_err(|e| failed("DeleteIdentityProvider", &e.into_service_error()))?;
        }
        None => {}
    }
    app.cognito
        .create_identity_provider()
        .user_pool_id(pool)
        .provider_name(next.name())
        .provider_type(kind)
        .set_provider_details(Some(details))
        .set_attribute_mapping(Some(mapping))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| failed("CreateIdentityProvider", &e.into_service_error()))
}

/// Whether Cognito holds `provider` (its name and type) now: what turning SSO-only on needs.
///
/// Errors: 503 when Cognito cannot be asked.
pub async fn identity_provider_configured(app: &App, provider: &IdentityProvider) -> Result<bool, Problem> {
    let wanted = if provider.kind() == "SAML" {
        IdentityProviderTypeType::Saml
    } else {
        IdentityProviderTypeType::Oidc
    };
    Ok(held(app, provider.name()).await? == Some(wanted))
}
