//! An organisation's identity provider at Cognito (AUTHN-10): the OIDC or SAML configuration
//! its members would sign in through, kept as one of the user pool's identity providers
//! (`CreateIdentityProvider`, `UpdateIdentityProvider`; `DeleteIdentityProvider` when its type
//! changes, which Cognito does not update). The organisation's record keeps the same
//! configuration without the client secret (`quire_store::IdentityProvider`). The local
//! emulator stores the configuration but runs no federation.

use crate::{App, Problem};
use aws_sdk_cognitoidentityprovider::error::DisplayErrorContext;
use aws_sdk_cognitoidentityprovider::operation::create_identity_provider::CreateIdentityProviderError;
use aws_sdk_cognitoidentityprovider::operation::update_identity_provider::UpdateIdentityProviderError;
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

/// Makes Cognito's identity provider `next.name()` be `next` (with `secret`, an OIDC client
/// secret), replacing `previous` (what the organisation's record held before): an update, or a
/// creation when there was none (or Cognito lost it), or a deletion and a creation when the
/// type changes.
///
/// Errors: 503 when Cognito fails (the organisation's record already holds `next`: the same
/// request, with the record's new `ETag`, configures it again).
pub async fn configure_identity_provider(
    app: &App,
    previous: Option<&IdentityProvider>,
    next: &IdentityProvider,
    secret: Option<&str>,
) -> Result<(), Problem> {
    let (kind, details, mapping) = details(next, secret);
    let unavailable = |what: &str, error: String| Problem::unavailable(format!("Cognito {what}: {error}"));
    let same_kind = previous.is_some_and(|p| p.kind() == next.kind() && p.name() == next.name());
    if let Some(previous) = previous.filter(|_| !same_kind) {
        // Cognito updates no provider's type: the old one goes first (if it is there).
        if let Err(error) = app
            .cognito
            .delete_identity_provider()
            .user_pool_id(&app.config.user_pool_id)
            .provider_name(previous.name())
            .send()
            .await
        {
            let error = error.into_service_error();
            if !error.is_resource_not_found_exception() {
                return Err(unavailable(
                    "DeleteIdentityProvider",
                    DisplayErrorContext(&error).to_string(),
                ));
            }
        }
    }
    if same_kind {
        let updated = app
            .cognito
            .update_identity_provider()
            .user_pool_id(&app.config.user_pool_id)
            .provider_name(next.name())
            .set_provider_details(Some(details.clone()))
            .set_attribute_mapping(Some(mapping.clone()))
            .send()
            .await;
        match updated.map_err(|e| e.into_service_error()) {
            Ok(_) => return Ok(()),
            // Gone at Cognito (deleted outside Quire): made again below.
            Err(UpdateIdentityProviderError::ResourceNotFoundException(_)) => {}
            Err(error) => {
                return Err(unavailable(
                    "UpdateIdentityProvider",
                    DisplayErrorContext(&error).to_string(),
                ))
            }
        }
    }
    let created = app
        .cognito
        .create_identity_provider()
        .user_pool_id(&app.config.user_pool_id)
        .provider_name(next.name())
        .provider_type(kind)
        .set_provider_details(Some(details.clone()))
        .set_attribute_mapping(Some(mapping.clone()))
        .send()
        .await;
    match created.map_err(|e| e.into_service_error()) {
        Ok(_) => Ok(()),
        // Made outside the record (an earlier attempt whose record write failed): update it.
        Err(CreateIdentityProviderError::DuplicateProviderException(_)) => app
            .cognito
            .update_identity_provider()
            .user_pool_id(&app.config.user_pool_id)
            .provider_name(next.name())
            .set_provider_details(Some(details))
            .set_attribute_mapping(Some(mapping))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                unavailable(
                    "UpdateIdentityProvider",
                    DisplayErrorContext(&e.into_service_error()).to_string(),
                )
            }),
        Err(error) => Err(unavailable(
            "CreateIdentityProvider",
            DisplayErrorContext(&error).to_string(),
        )),
    }
}
