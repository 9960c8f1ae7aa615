//! The values an organisation's settings are made of, each a type that cannot hold an invalid
//! value (parse, don't validate), and the change a `PATCH /organisation` body asks for.

use quire_core::invitation::JoinDomains;
use quire_core::network::IpAllowlist;
use quire_core::rbac::Permission;
use quire_core::text::Reason;
use quire_http::identity::OrganisationName;
use quire_store::organisation::OrganisationChange;
use quire_store::sessions::SessionPolicy;
use quire_store::IdentityProvider;
use serde::{Deserialize, Deserializer};

/// The organisation's name: 1 to 120 characters on one line, with a letter or digit.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct Name(OrganisationName);

impl TryFrom<String> for Name {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        OrganisationName::named("name", value).map(Name)
    }
}

/// The idle session limit an organisation may set, in minutes: within
/// [`SessionPolicy::IDLE_BOUNDS`] (15 minutes to 12 hours, AUTHN-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct IdleMinutes(u32);

impl TryFrom<u32> for IdleMinutes {
    type Error = String;
    fn try_from(minutes: u32) -> Result<Self, String> {
        let (low, high) = SessionPolicy::IDLE_BOUNDS;
        let (low, high) = (low.as_secs() / 60, high.as_secs() / 60);
        if !(low..=high).contains(&u64::from(minutes)) {
            return Err(format!("sessionIdleMinutes: must be {low} to {high} minutes"));
        }
        Ok(IdleMinutes(minutes))
    }
}

/// The absolute session limit an organisation may set, in hours: within
/// [`SessionPolicy::ABSOLUTE_BOUNDS`] (1 to 24 hours, AUTHN-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct MaxHours(u32);

impl TryFrom<u32> for MaxHours {
    type Error = String;
    fn try_from(hours: u32) -> Result<Self, String> {
        let (low, high) = SessionPolicy::ABSOLUTE_BOUNDS;
        let (low, high) = (low.as_secs() / 3600, high.as_secs() / 3600);
        if !(low..=high).contains(&u64::from(hours)) {
            return Err(format!("sessionMaxHours: must be {low} to {high} hours"));
        }
        Ok(MaxHours(hours))
    }
}

/// An IP allowlist as sent: at most 100 CIDR ranges or addresses, IPv4 or IPv6 (ORG-3).
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct Allowlist(IpAllowlist);

impl TryFrom<Vec<String>> for Allowlist {
    type Error = String;
    fn try_from(entries: Vec<String>) -> Result<Self, String> {
        IpAllowlist::parse(&entries)
            .map(Allowlist)
            .map_err(|why| format!("ipAllowlist: {why}"))
    }
}

impl Allowlist {
    pub fn list(&self) -> &IpAllowlist {
        &self.0
    }
}

/// The email domains whose people may join with a code (AUTHN-10): at most 20 domain names.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct Domains(JoinDomains);

impl TryFrom<Vec<String>> for Domains {
    type Error = String;
    fn try_from(entries: Vec<String>) -> Result<Self, String> {
        JoinDomains::parse(&entries)
            .map(Domains)
            .map_err(|why| format!("joinDomains: {why}"))
    }
}

/// A `PATCH /organisation` body. An absent setting is left as it is; `null` returns a session
/// limit to the deployment's default, and is refused for the others.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OrganisationPatch {
    /// The organisation's name: 1 to 120 characters on one line.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = String, min_length = 1, max_length = 120)]
    pub name: Option<Name>,
    /// Without a refresh for this long, a member's session ends: 15 to 720 minutes; `null`
    /// returns to the deployment's default.
    #[serde(default, deserialize_with = "quire_http::json::nullable")]
    #[schema(value_type = Option<u32>, minimum = 15, maximum = 720)]
    pub session_idle_minutes: Option<Option<IdleMinutes>>,
    /// A member's session ends this long after its sign-in: 1 to 24 hours; `null` returns to
    /// the deployment's default. Not shorter than `sessionIdleMinutes`.
    #[serde(default, deserialize_with = "quire_http::json::nullable")]
    #[schema(value_type = Option<u32>, minimum = 1, maximum = 24)]
    pub session_max_hours: Option<Option<MaxHours>>,
    /// The CIDR ranges (or single addresses), IPv4 or IPv6, members' requests may come from: at
    /// most 100; empty allows every address. Stored in canonical form.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = Vec<String>, max_items = 100)]
    pub ip_allowlist: Option<Allowlist>,
    /// The email domains whose people may join with a code (`acme.example`; a subdomain must be
    /// listed itself): at most 20; empty lets any email join. Stored lower-cased.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = Vec<String>, max_items = 20)]
    pub join_domains: Option<Domains>,
    /// Whether members sign in only through the organisation's identity provider (`PUT
    /// /organisation/identity-provider` first): a password sign-in is then refused with 403
    /// `sso-required` after the right password. Turning it on needs `confirmLockout: true`.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    pub sso_only: Option<bool>,
    /// Whether an administrator impersonating a member may write as them (RBAC-5); `false`, the
    /// default, keeps impersonation read-only. An Owner's alone to set.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    pub impersonation_writes: Option<bool>,
    /// The organisation's document types (DOC-1), replacing the whole list: 1 to 50, each with
    /// a unique `key` (how documents name it, matched exactly), a display `name`, a unique
    /// number `prefix` (`SOP` numbers `SOP-0001`) and `reviewIntervalMonths` (1 to 120).
    /// Numbers already given stay as they are; a prefix counts on from its last number.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    pub document_types: Option<quire_core::documents::DocumentTypes>,
    /// Saves an IP allowlist that excludes the address this request comes from (its sender's
    /// next request is then refused), or turns `ssoOnly` on (the sender's next password sign-in
    /// is then refused).
    #[serde(default)]
    pub confirm_lockout: bool,
    /// Why the settings change (21 CFR Part 11 §11.10(e)): recorded with the change.
    #[schema(value_type = String, min_length = 1, max_length = 1000)]
    pub reason: Reason,
}

/// Why a well-formed patch cannot be applied, with the field it is about.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub field: Option<&'static str>,
    pub detail: &'static str,
}

impl OrganisationPatch {
    /// The change the patch asks for.
    ///
    /// Errors: a patch that names no setting.
    pub fn change(&self) -> Result<OrganisationChange, Refused> {
        let change = OrganisationChange {
            name: self.name.as_ref().map(|n| n.0.as_str().to_owned()),
            session_idle_minutes: self.session_idle_minutes.map(|m| m.map(|m| m.0)),
            session_max_hours: self.session_max_hours.map(|h| h.map(|h| h.0)),
            ip_allowlist: self.ip_allowlist.as_ref().map(|l| l.0.clone()),
            matrix: None,
            join_domains: self.join_domains.as_ref().map(|d| d.0.clone()),
            sso_only: self.sso_only,
            identity_provider: None,
            impersonation_writes: self.impersonation_writes,
            document_types: self.document_types.clone(),
        };
        if change.name.is_none()
            && change.session_idle_minutes.is_none()
            && change.session_max_hours.is_none()
            && change.ip_allowlist.is_none()
            && change.join_domains.is_none()
            && change.sso_only.is_none()
            && change.impersonation_writes.is_none()
            && change.document_types.is_none()
        {
            return Err(Refused {
                field: None,
                detail: "nothing to change: give at least one of name, sessionIdleMinutes, sessionMaxHours, \
                         ipAllowlist, joinDomains, ssoOnly, impersonationWrites, documentTypes",
            });
        }
        Ok(change)
    }
}

/// Checks the session limits an organisation would have after a change: an idle limit it set
/// may not be longer than an absolute limit it set (each alone is bounded by its type). The
/// refusal names the field the change sent (`idle_sent`: the idle limit, else the absolute).
pub fn check_limits(idle_minutes: Option<u32>, max_hours: Option<u32>, idle_sent: bool) -> Result<(), Refused> {
    match (idle_minutes, max_hours) {
        (Some(idle), Some(max)) if u64::from(idle) > u64::from(max) * 60 => Err(if idle_sent {
            Refused {
                field: Some("sessionIdleMinutes"),
                detail: "sessionIdleMinutes: must not be longer than sessionMaxHours",
            }
        } else {
            Refused {
                field: Some("sessionMaxHours"),
                detail: "sessionMaxHours: must not be shorter than sessionIdleMinutes",
            }
        }),
        _ => Ok(()),
    }
}

/// A `PUT /organisation/roles/{role}` body: the role's grants, in place of what it had.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolePermissions {
    /// Permission names (`DocumentRead`, `DocumentCreate`, …, `Permission::ALL`): each once, at
    /// most all of them; none is allowed (the role grants nothing).
    #[serde(deserialize_with = "permission_names")]
    #[schema(value_type = Vec<String>)]
    pub permissions: Vec<Permission>,
    /// Why the role's grants change (21 CFR Part 11 §11.10(e)): recorded with the change.
    #[schema(value_type = String, min_length = 1, max_length = 1000)]
    pub reason: Reason,
}

/// Permissions by their names only (serde would also take an enum's map form), each once.
fn permission_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Permission>, D::Error> {
    use serde::de::Error;
    let names = Vec::<String>::deserialize(deserializer)?;
    let mut permissions = Vec::with_capacity(names.len());
    for name in names {
        let permission = Permission::named(&name)
            .ok_or_else(|| D::Error::custom(format!("permissions: `{}` is not a permission", sanitize(&name))))?;
        if permissions.contains(&permission) {
            return Err(D::Error::custom(format!("permissions: `{name}` is given twice")));
        }
        permissions.push(permission);
    }
    Ok(permissions)
}

/// An `https` URL as an identity provider's issuer or metadata must be: at most 2 048
/// characters, a domain name (no IP address), no user information, no fragment, no `\`
/// (which parsers read differently), and for an issuer no query (OpenID Connect Discovery
/// 1.0 §4: it is appended to); parsed by the `url` crate (WHATWG URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsUrl(String);

impl HttpsUrl {
    fn parse(field: &str, value: &str, query_allowed: bool) -> Result<Self, String> {
        let refused = || {
            format!(
                "{field}: must be an https URL of at most 2048 characters on a domain name, without \
                 credentials or fragment{}",
                if query_allowed { "" } else { " or query" }
            )
        };
        if value.len() > 2048 || value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') {
            return Err(refused());
        }
        let url = url::Url::parse(value).map_err(|_| refused())?;
        if url.scheme() != "https"
            || !matches!(url.host(), Some(url::Host::Domain(domain)) if !domain.is_empty())
            || !url.username().is_empty()
            || url.password().is_some()
            || url.fragment().is_some()
            || (!query_allowed && url.query().is_some())
        {
            return Err(refused());
        }
        Ok(HttpsUrl(value.to_owned()))
    }
}

/// The client id Quire is known by at an OIDC provider: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ClientId(String);

impl TryFrom<String> for ClientId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.is_empty() || value.len() > 255 || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("clientId: must be 1 to 255 visible ASCII characters".into());
        }
        Ok(ClientId(value))
    }
}

/// The client secret Quire holds at an OIDC provider: 1 to 1 024 visible ASCII characters.
/// Sent to Cognito only; never stored by Quire, recorded or shown (no `Debug` of its value).
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct ClientSecret(String);

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(<redacted>)")
    }
}

impl TryFrom<String> for ClientSecret {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        if value.is_empty() || value.len() > 1024 || !value.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("clientSecret: must be 1 to 1024 visible ASCII characters".into());
        }
        Ok(ClientSecret(value))
    }
}

impl ClientSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The OAuth scopes asked of an OIDC provider (RFC 6749 §3.3 `scope-token`s): `openid`
/// included, each once, at most 20 of at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct Scopes(Vec<String>);

impl TryFrom<Vec<String>> for Scopes {
    type Error = String;
    fn try_from(scopes: Vec<String>) -> Result<Self, String> {
        // RFC 6749 §3.3: %x21 / %x23-5B / %x5D-7E.
        let token = |s: &str| {
            !s.is_empty()
                && s.len() <= 128
                && s.bytes()
                    .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
        };
        if scopes.len() > 20 || !scopes.iter().all(|s| token(s)) {
            return Err("scopes: at most 20 OAuth scope tokens (RFC 6749 §3.3)".into());
        }
        if !scopes.iter().any(|s| s == "openid") {
            return Err("scopes: must include openid".into());
        }
        if scopes.iter().enumerate().any(|(i, s)| scopes[..i].contains(s)) {
            return Err("scopes: a scope is named twice".into());
        }
        Ok(Scopes(scopes))
    }
}

/// The kinds of identity provider Cognito federates: OpenID Connect and SAML 2.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum ProviderType {
    #[serde(rename = "OIDC")]
    Oidc,
    #[serde(rename = "SAML")]
    Saml,
}

/// A `PUT /organisation/identity-provider` body: the organisation's identity provider (AUTHN-10),
/// OIDC (`issuer`, `clientId`, `clientSecret`, `scopes`) or SAML (`metadataUrl`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IdentityProviderPut {
    /// `OIDC` or `SAML`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: ProviderType,
    /// OIDC: the issuer, an https URL (its `/.well-known/openid-configuration` is Cognito's to
    /// read).
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = String, max_length = 2048)]
    pub issuer: Option<String>,
    /// OIDC: the client id Quire is registered under at the provider.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = String, min_length = 1, max_length = 255)]
    pub client_id: Option<ClientId>,
    /// OIDC: the client secret; sent to Cognito, never stored by Quire, recorded or shown.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = String, min_length = 1, max_length = 1024)]
    pub client_secret: Option<ClientSecret>,
    /// OIDC: the scopes to ask for, `openid` included; default `["openid", "email"]`.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = Vec<String>, max_items = 20)]
    pub scopes: Option<Scopes>,
    /// SAML: the URL of the provider's metadata document, https.
    #[serde(default, deserialize_with = "quire_http::json::present")]
    #[schema(value_type = String, max_length = 2048)]
    pub metadata_url: Option<String>,
    /// Why the identity provider changes (21 CFR Part 11 §11.10(e)): recorded with the change.
    #[schema(value_type = String, min_length = 1, max_length = 1000)]
    pub reason: Reason,
}

impl IdentityProviderPut {
    /// The provider as the organisation's record keeps it (named `name` at Cognito), and the
    /// client secret that goes to Cognito only.
    ///
    /// Errors: a field of the other type, or one its type needs missing (400, naming it).
    pub fn provider(&self, name: String) -> Result<(IdentityProvider, Option<ClientSecret>), String> {
        match self.kind {
            ProviderType::Oidc => {
                if self.metadata_url.is_some() {
                    return Err("metadataUrl: only for a SAML provider".into());
                }
                let issuer = HttpsUrl::parse(
                    "issuer",
                    self.issuer
                        .as_deref()
                        .ok_or("issuer: an OIDC provider needs its issuer")?,
                    false,
                )?;
                let client_id = self.client_id.clone().ok_or("clientId: an OIDC provider needs one")?;
                let secret = self
                    .client_secret
                    .clone()
                    .ok_or("clientSecret: an OIDC provider needs one")?;
                let scopes = self
                    .scopes
                    .clone()
                    .map_or_else(|| vec!["openid".to_owned(), "email".to_owned()], |s| s.0);
                Ok((
                    IdentityProvider::oidc(name, issuer.0, client_id.0, scopes),
                    Some(secret),
                ))
            }
            ProviderType::Saml => {
                if self.issuer.is_some()
                    || self.client_id.is_some()
                    || self.client_secret.is_some()
                    || self.scopes.is_some()
                {
                    return Err("issuer, clientId, clientSecret, scopes: only for an OIDC provider".into());
                }
                let url = HttpsUrl::parse(
                    "metadataUrl",
                    self.metadata_url
                        .as_deref()
                        .ok_or("metadataUrl: a SAML provider needs its metadata URL")?,
                    true,
                )?;
                Ok((IdentityProvider::saml(name, url.0), None))
            }
        }
    }
}

/// Client text in an error message: one line, cut short.
fn sanitize(text: &str) -> String {
    quire_core::text::sanitize_line(text, 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> Result<OrganisationPatch, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    fn provider(json: &str) -> Result<IdentityProvider, String> {
        let put: IdentityProviderPut = serde_json::from_str(json).map_err(|e| e.to_string())?;
        put.provider("p".into()).map(|(provider, _)| provider)
    }

    /// An identity provider's URLs are https with a host and no credentials or fragment; an
    /// OIDC one needs its client and `openid`, a SAML one its metadata and nothing of OIDC's;
    /// the secret never shows in a `Debug` print.
    ///
    /// Proves: AUTHN-10
    #[test]
    fn an_identity_provider_is_one_of_its_type_with_https_urls() {
        let oidc = |extra: &str| {
            format!(
                r#"{{"type":"OIDC","issuer":"https://id.example.test/x","clientId":"c","clientSecret":"s3cr3t"{extra},"reason":"r"}}"#
            )
        };
        let made = provider(&oidc("")).unwrap();
        assert_eq!(
            (made.kind(), made.scopes()),
            ("OIDC", &["openid".to_owned(), "email".to_owned()][..])
        );
        assert!(provider(&oidc(r#","scopes":["openid","profile"]"#)).is_ok());
        for (extra, refused) in [
            (r#","scopes":["profile"]"#, "scopes"),
            (r#","scopes":["openid","a b"]"#, "scopes"),
            (r#","scopes":["openid","é"]"#, "scopes"),
            (r##","metadataUrl":"https://id.example.test/m""##, "metadataUrl"),
        ] {
            let refusal = provider(&oidc(extra)).unwrap_err();
            assert!(
                refusal.starts_with(refused) || refusal.contains(refused),
                "{extra}: {refusal}"
            );
        }
        for issuer in [
            "http://id.example.test/",
            "https://",
            "https://u:p@id.example.test/",
            "https://id.example.test/#f",
            "https://id.example.test/ x",
            "ftp://id.example.test/",
            "https://id.example.test\\@evil.example/",
            "https://169.254.169.254/",
            "https://0x7f000001/",
            "https://[::1]/",
            "https://id.example.test/?a=b",
        ] {
            let body = serde_json::json!({
                "type": "OIDC", "issuer": issuer, "clientId": "c", "clientSecret": "s", "reason": "r",
            })
            .to_string();
            assert!(provider(&body).unwrap_err().starts_with("issuer"), "{issuer}");
        }
        let long = format!("https://id.example.test/{}", "a".repeat(2048));
        let body = format!(r#"{{"type":"SAML","metadataUrl":"{long}","reason":"r"}}"#);
        assert!(provider(&body).unwrap_err().starts_with("metadataUrl"));
        let saml = provider(r#"{"type":"SAML","metadataUrl":"https://idp.example.test/m.xml","reason":"r"}"#).unwrap();
        assert_eq!(
            (saml.kind(), saml.metadata_url()),
            ("SAML", Some("https://idp.example.test/m.xml"))
        );
        assert!(provider(
            r#"{"type":"SAML","metadataUrl":"https://idp.example.test/m.xml","clientId":"c","reason":"r"}"#
        )
        .is_err());
        assert!(provider(r#"{"type":"saml","reason":"r"}"#).is_err());
        let put: IdentityProviderPut = serde_json::from_str(&oidc("")).unwrap();
        assert!(!format!("{put:?}").contains("s3cr3t"));
    }

    /// The limits' bounds, edges included; `null` resets a limit and is refused elsewhere.
    ///
    /// Proves: AUTHN-8
    #[test]
    fn session_limits_are_taken_exactly_within_their_bounds() {
        for (idle, ok) in [(14, false), (15, true), (720, true), (721, false), (0, false)] {
            let parsed = patch(&format!(r#"{{"sessionIdleMinutes": {idle}, "reason": "r"}}"#));
            assert_eq!(parsed.is_ok(), ok, "{idle}: {parsed:?}");
        }
        for (max, ok) in [(0, false), (1, true), (24, true), (25, false)] {
            let parsed = patch(&format!(r#"{{"sessionMaxHours": {max}, "reason": "r"}}"#));
            assert_eq!(parsed.is_ok(), ok, "{max}: {parsed:?}");
        }
        for bad in ["-1", "1.5", "\"30\"", "4294967296"] {
            assert!(
                patch(&format!(r#"{{"sessionIdleMinutes": {bad}, "reason": "r"}}"#)).is_err(),
                "{bad}"
            );
        }
        let reset = patch(r#"{"sessionIdleMinutes": null, "sessionMaxHours": null, "reason": "r"}"#).unwrap();
        let change = reset.change().unwrap();
        assert_eq!(
            (change.session_idle_minutes, change.session_max_hours),
            (Some(None), Some(None))
        );
        for field in ["name", "ipAllowlist", "joinDomains", "reason", "confirmLockout"] {
            assert!(
                patch(&format!(r#"{{"{field}": null, "reason": "r"}}"#)).is_err(),
                "{field}"
            );
        }
        assert!(check_limits(Some(60), Some(1), true).is_ok());
        assert_eq!(
            check_limits(Some(61), Some(1), true).unwrap_err().field,
            Some("sessionIdleMinutes")
        );
        assert_eq!(
            check_limits(Some(61), Some(1), false).unwrap_err().field,
            Some("sessionMaxHours")
        );
        assert!(check_limits(Some(720), None, true).is_ok());
    }

    /// A patch must name a setting and give a reason; unknown fields are refused.
    #[test]
    fn a_patch_names_a_setting_and_a_reason() {
        assert!(patch(r#"{"reason": "r"}"#).unwrap().change().is_err());
        assert!(patch(r#"{"name": "Acme"}"#).is_err());
        assert!(patch(r#"{"name": "Acme", "reason": " "}"#).is_err());
        assert!(patch(r#"{"name": "Acme", "reason": "r", "status": "Active"}"#).is_err());
        assert!(patch(r#"{"name": "  ", "reason": "r"}"#).is_err());
        let named = patch(r#"{"name": " Acme Labs ", "reason": "r"}"#).unwrap();
        assert_eq!(named.change().unwrap().name.as_deref(), Some("Acme Labs"));
        let listed = patch(r#"{"ipAllowlist": ["10.1.2.3/8"], "reason": "r"}"#).unwrap();
        assert_eq!(listed.change().unwrap().ip_allowlist.unwrap().entries(), ["10.0.0.0/8"]);
        let error = patch(r#"{"ipAllowlist": ["10.0.0.0/8", "nope"], "reason": "r"}"#).unwrap_err();
        assert!(error.starts_with("ipAllowlist: [1]"), "{error}");
        let domains = patch(r#"{"joinDomains": ["Acme.Example"], "reason": "r"}"#).unwrap();
        assert_eq!(
            domains.change().unwrap().join_domains.unwrap().entries(),
            ["acme.example"]
        );
        let error = patch(r#"{"joinDomains": ["acme.example", "*.acme.example"], "reason": "r"}"#).unwrap_err();
        assert!(error.starts_with("joinDomains: [1]"), "{error}");
    }
}
