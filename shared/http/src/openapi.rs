//! The API's contract: an OpenAPI 3.1 document generated from the route tables, the only place a
//! route is declared. Each operation says whether it needs a token (`bearer`), its permission
//! (`x-permission`), whether it writes and which audit actions it may record (`x-writes`,
//! `x-audit-actions`), its body limit in bytes (`x-body-limit`), whether it honours
//! `Idempotency-Key`, and the RFC 9457 problems it can answer. Catch-all (`ANY`) routes are not
//! operations: they only answer 404.
//!
//! `docs/openapi.json` is this document, committed; the health function serves it at
//! `GET /openapi.json`; a test fails when the two differ or when template.yaml serves another
//! route set. Bodies are described by the types a route names (`Route::request_schema`,
//! `Route::response_schema`, utoipa's `ToSchema`), or as JSON objects where it names none.

use crate::route::{Access, Router};
use http::Method;
use serde_json::json;
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::extensions::ExtensionsBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ComponentsBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, Required};

/// The problems every operation can answer, and those that depend on what it declares.
fn problems(route: &crate::route::Route) -> Vec<(&'static str, &'static str)> {
    let protected = route.access.is_protected();
    let takes_body = route.body_limit > 0;
    let method = &route.method;
    let mut codes = vec![
        (
            "400",
            "bad request: a malformed parameter, header or body (`invalid-parameter`, `invalid-body`, …), \
             or `Quire-Impersonate` or `Quire-Break-Glass` on a route that takes none \
             (`impersonation-not-here`, `break-glass-not-here`)",
        ),
        ("404", "no such resource, or another organisation's (`not-found`)"),
        (
            "405",
            "the path exists with other methods, listed in `Allow` (`method-not-allowed`)",
        ),
        (
            "429",
            "too many requests: a limit of Quire's (`too-many-requests`, with `Retry-After`), or \
             API Gateway's stage throttle (its own answer, `{\"message\": …}`)",
        ),
        ("500", "a failure of ours; quote the `x-correlation-id` (`internal`)"),
        (
            "502",
            "API Gateway's own answer: the function failed before answering (`{\"message\": …}`)",
        ),
        (
            "504",
            "API Gateway's own answer: the function did not answer in time (`{\"message\": …}`)",
        ),
        (
            "503",
            "a dependency is unavailable or the records were busy; retry after `Retry-After`",
        ),
    ];
    let lifecycle = matches!(route.access, crate::route::Access::Requires(_));
    if protected {
        let forbidden = if !lifecycle {
            FORBIDDEN
        } else if route.effect.writes() {
            FORBIDDEN_DATA_WRITE
        } else {
            FORBIDDEN_DATA_READ
        };
        codes.push((
            "401",
            "no valid access token (`unauthorized`), or its session was signed out or revoked \
             (`token-revoked`) or passed its time limit (`session-expired`)",
        ));
        codes.push(("403", forbidden));
    } else {
        codes.push(("403", "refused by the request filter (`request-refused`)"));
    }
    if takes_body {
        codes.push((
            "413",
            "the body is over `x-body-limit` (`payload-too-large`); over 6 MB, API Gateway's own \
             answer (`{\"message\": …}`)",
        ));
        codes.push(("415", "the body is not `application/json` (`unsupported-media-type`)"));
    }
    if route.effect.writes() {
        codes.push(if route.takes_idempotency_key {
            (
                "422",
                "the change cannot be recorded in the audit trail (`not-recordable`), or the \
                 `Idempotency-Key` came with another request before (`idempotency-key-reused`)",
            )
        } else {
            (
                "422",
                "the change cannot be recorded in the audit trail (`not-recordable`)",
            )
        });
    }
    if method == Method::PATCH || method == Method::PUT {
        codes.push(("409", "the record cannot be changed in its state (`conflict`)"));
        codes.push(("412", "the record changed since the version in `If-Match`"));
        codes.push(("428", "`If-Match` with the record's `ETag` is required"));
    }
    for (status, description) in &route.problems {
        codes.retain(|(s, _)| s != status);
        codes.push((status, description));
    }
    codes.sort();
    codes
}

/// Why a protected route may answer 403: every layer between the edge and the handler.
const FORBIDDEN: &str = "refused by the request filter (`request-refused`), the token lacks a scope of \
     `x-scopes` (`insufficient-scope`), no active membership (`no-membership`), an address outside \
     the organisation's IP allowlist (`ip-not-allowed`), an expired password \
     (`password-expired`), an Owner or Admin session without a second factor (`mfa-required`), or \
     the role lacks the permission (`forbidden`)";
/// [`FORBIDDEN`] for a route of the organisation's data that reads: also its lifecycle.
const FORBIDDEN_DATA_READ: &str = "refused by the request filter (`request-refused`), the token lacks a \
     scope of `x-scopes` (`insufficient-scope`), no active membership (`no-membership`), the \
     organisation not yet confirmed (`organisation-pending`) or its trial over for more than 14 \
     days (`organisation-locked`), an address outside the organisation's IP allowlist \
     (`ip-not-allowed`), an expired password (`password-expired`), an Owner or Admin session \
     without a second factor (`mfa-required`), the route's module outside the organisation's plan \
     (`module-not-in-plan`; never the platform's own routes), the role lacks the permission \
     (`forbidden`), with `Quire-Impersonate`, no impersonation of that member acts in the \
     session (`impersonation-inactive`), or, with `Quire-Break-Glass`, the caller is no platform \
     operator (`operators-only`) or their session opened no break-glass session into that \
     organisation (`break-glass-inactive`)";
/// [`FORBIDDEN`] for a route of the organisation's data that writes: also its read-only states.
const FORBIDDEN_DATA_WRITE: &str = "refused by the request filter (`request-refused`), the token lacks a \
     scope of `x-scopes` (`insufficient-scope`), no active membership (`no-membership`), the \
     organisation not yet confirmed (`organisation-pending`), its trial over (`trial-ended`, \
     read-only for 14 days; then `organisation-locked`) or suspended (`organisation-suspended`), an \
     address outside the organisation's IP allowlist (`ip-not-allowed`), an expired password \
     (`password-expired`), its subscription suspended (`subscription-suspended`; the trial, \
     suspension and subscription refusals never for the changes that contain a compromise, \
     which stay open), an Owner or Admin session without a second factor (`mfa-required`), the \
     route's module outside the organisation's plan (`module-not-in-plan`; never the platform's \
     own routes), the role lacks the permission (`forbidden`), or, with `Quire-Impersonate`, no \
     impersonation of that member acts in the session (`impersonation-inactive`) or it may only \
     read (`impersonation-read-only`), or, with `Quire-Break-Glass`, which only reads \
     (`break-glass-read-only`)";

/// The components by name; two different types with one name would silently lose one.
fn one_per_name(
    schemas: Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>,
) -> std::collections::BTreeMap<String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>> {
    let mut by_name = std::collections::BTreeMap::new();
    for (name, schema) in schemas {
        if let Some(existing) = by_name.get(&name) {
            assert!(
                serde_json::to_value(existing).ok() == serde_json::to_value(&schema).ok(),
                "two different body types are both named {name} in the OpenAPI document"
            );
        }
        by_name.insert(name, schema);
    }
    by_name
}

/// Statuses only API Gateway answers with (its own JSON body, not a problem).
const GATEWAY_ONLY: [&str; 2] = ["502", "504"];

fn http_method(method: &Method) -> Option<HttpMethod> {
    Some(match *method {
        Method::GET => HttpMethod::Get,
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        _ => return None,
    })
}

/// [`document`] as pretty JSON with every object's members sorted, so the same route tables
/// always give the same bytes (utoipa keeps extensions in a hash map).
pub fn document_json(functions: &[(&str, Router)]) -> String {
    fn sorted(value: serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let members: std::collections::BTreeMap<String, serde_json::Value> =
                    map.into_iter().map(|(k, v)| (k, sorted(v))).collect();
                serde_json::Value::Object(members.into_iter().collect())
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    let mut value = serde_json::to_value(document(functions)).expect("an OpenAPI document serialises");
    close_success_bodies(&mut value);
    serde_json::to_string_pretty(&sorted(value)).expect("a JSON value serialises") + "\n"
}

/// Every `$ref` component name under `value`.
fn references(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, member) in map {
                match (key.as_str(), member) {
                    ("$ref", serde_json::Value::String(target)) => {
                        if let Some(name) = target.strip_prefix("#/components/schemas/") {
                            out.push(name.to_owned());
                        }
                    }
                    _ => references(member, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|item| references(item, out)),
        _ => {}
    }
}

/// Success bodies are exactly what their types serialise: serde writes every member (`None` as
/// `null`) and nothing else, while utoipa describes what a type would accept (an `Option` as
/// optional, unknown members allowed). So the schemas a success body reaches are closed: every
/// property required, no other property (`unevaluatedProperties` for a flattened type, whose
/// parts stay open so that `allOf` can join them). Request bodies and problems stay as they are.
fn close_success_bodies(document: &mut serde_json::Value) {
    let mut pending = Vec::new();
    for item in document["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
    {
        for operation in item.as_object().into_iter().flat_map(|item| item.values()) {
            references(&operation["responses"]["2XX"], &mut pending);
        }
    }
    let Some(schemas) = document["components"]["schemas"].as_object_mut() else {
        return;
    };
    let mut reached = std::collections::BTreeSet::new();
    while let Some(name) = pending.pop() {
        if reached.insert(name.clone()) {
            if let Some(schema) = schemas.get(&name) {
                references(schema, &mut pending);
            }
        }
    }
    let mut joined = Vec::new();
    for schema in schemas.values() {
        for part in schema["allOf"].as_array().into_iter().flatten() {
            references(part, &mut joined);
        }
    }
    for name in reached {
        if let Some(schema) = schemas.get_mut(&name) {
            close(schema, !joined.contains(&name));
        }
    }
}

fn close(schema: &mut serde_json::Value, seal: bool) {
    use serde_json::Value;
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        let required: Vec<Value> = properties.keys().cloned().map(Value::String).collect();
        schema["required"] = Value::Array(required);
        if seal {
            schema["additionalProperties"] = Value::Bool(false);
        }
    }
    if let Some(parts) = schema.get_mut("allOf").and_then(Value::as_array_mut) {
        parts
            .iter_mut()
            .filter(|p| p.get("$ref").is_none())
            .for_each(|p| close(p, false));
        schema["unevaluatedProperties"] = Value::Bool(false);
    }
    if let Some(variants) = schema.get_mut("oneOf").and_then(Value::as_array_mut) {
        variants
            .iter_mut()
            .filter(|v| v.get("$ref").is_none())
            .for_each(|v| close(v, seal));
    }
}

/// The document for these functions' route tables (`(function name, router)`), operations
/// tagged with their function.
pub fn document(functions: &[(&str, Router)]) -> OpenApi {
    let problem_ref = Ref::from_schema_name("Problem");
    let mut schemas = Vec::new();
    let mut body = |of: Option<crate::route::SchemaOf>| -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        match of {
            Some(of) => Ref::from_schema_name(of(&mut schemas)).into(),
            None => ObjectBuilder::new().schema_type(Type::Object).into(),
        }
    };
    let mut paths = PathsBuilder::new();
    for (function, router) in functions {
        for route in router.routes().iter().filter(|r| !r.is_catch_all()) {
            let Some(method) = http_method(&route.method) else {
                continue;
            };
            let protected = route.access.is_protected();
            let takes_body = route.body_limit > 0;
            let mut extensions = ExtensionsBuilder::new()
                .add(
                    "x-permission",
                    match route.access {
                        Access::Public => json!("public"),
                        Access::Requires(p) => json!(format!("{p:?}")),
                        Access::Member => json!("member"),
                        Access::Operator => json!("operator"),
                    },
                )
                .add("x-writes", json!(route.effect.writes()))
                .add(
                    "x-scopes",
                    json!(if protected { route.scopes.to_vec() } else { Vec::new() }),
                )
                .add(
                    "x-audit-actions",
                    json!(route.effect.actions().iter().map(|a| a.name()).collect::<Vec<_>>()),
                );
            if takes_body {
                extensions = extensions.add("x-body-limit", json!(route.body_limit));
            }
            if route.takes_idempotency_key {
                extensions = extensions.add("x-idempotency-key", json!(true));
            }
            let success = if route.serves_file {
                ResponseBuilder::new()
                    .description(
                        "the file's bytes: 200 the whole file, 206 one range of it (`Content-Range`); \
                         its media type, `Content-Disposition`, `Accept-Ranges`, `ETag` (the SHA-256) \
                         and `Repr-Digest` (RFC 9530) of the whole file",
                    )
                    .content(
                        "application/octet-stream",
                        ContentBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String).format(Some(
                                utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Binary),
                            ))))
                            .build(),
                    )
            } else if !route.generates.is_empty() {
                let mut response = ResponseBuilder::new()
                    .description(
                        "a file made for this request, served whole: JSON as described, or the \
                         other media type the request asks for; `Content-Disposition: attachment`, \
                         `ETag` (its SHA-256) and `Repr-Digest` (RFC 9530)",
                    )
                    .content(
                        "application/json",
                        ContentBuilder::new().schema(Some(body(route.response_schema))).build(),
                    );
                for media_type in route.generates {
                    response = response.content(
                        *media_type,
                        ContentBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String).format(Some(
                                utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Binary),
                            ))))
                            .build(),
                    );
                }
                response
            } else {
                ResponseBuilder::new().description("success").content(
                    "application/json",
                    ContentBuilder::new().schema(Some(body(route.response_schema))).build(),
                )
            };
            let mut operation = OperationBuilder::new()
                .operation_id(Some(route.key()))
                .tag(*function)
                .extensions(Some(extensions.build()))
                .response("2XX", success);
            if route.serves_file {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name("Range")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(format!(
                            "one byte range (RFC 9110 §14.1.2), at most {} bytes served per response; \
                             required for a file larger than that",
                            crate::download::MAX_RESPONSE_BYTES
                        )))
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
                );
            }
            for segment in route.path.split('/') {
                if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    operation = operation.parameter(
                        ParameterBuilder::new()
                            .name(name)
                            .parameter_in(ParameterIn::Path)
                            .required(Required::True)
                            .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
                    );
                }
            }
            if matches!(route.access, crate::route::Access::Requires(_)) {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name("Quire-Break-Glass")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(
                            "a platform operator's only: the id of the organisation their session \
                             opened (`POST /operator/organisations/{orgId}/break-glass`, RBAC-6), to \
                             read it",
                        ))
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
                );
            }
            if route.accepts_impersonation() {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name("Quire-Impersonate")
                        .parameter_in(ParameterIn::Header)
                        .required(Required::False)
                        .description(Some(
                            "the user id of the member to act as, in an impersonation the session \
                             started (`POST /impersonation`, RBAC-5)",
                        ))
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
                );
            }
            for name in route.query {
                operation = operation.parameter(
                    ParameterBuilder::new()
                        .name(*name)
                        .parameter_in(ParameterIn::Query)
                        .required(Required::False)
                        .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
                );
            }
            if takes_body {
                operation = operation.request_body(Some(
                    RequestBodyBuilder::new()
                        .required(Some(if route.body_optional {
                            Required::False
                        } else {
                            Required::True
                        }))
                        .content(
                            "application/json",
                            ContentBuilder::new().schema(Some(body(route.request_schema))).build(),
                        )
                        .build(),
                ));
            }
            if protected {
                operation = operation.security(SecurityRequirement::new("bearer", Vec::<String>::new()));
            }
            for (status, description) in problems(route) {
                // API Gateway's own answers are not problems: described, not given a schema.
                let response = if GATEWAY_ONLY.contains(&status) {
                    ResponseBuilder::new().description(description)
                } else {
                    ResponseBuilder::new().description(description).content(
                        crate::problem::PROBLEM_JSON,
                        ContentBuilder::new().schema(Some(problem_ref.clone())).build(),
                    )
                };
                operation = operation.response(status, response);
            }
            paths = paths.path(route.path, PathItem::new(method, operation));
        }
    }
    let problem = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some("RFC 9457 problem details"))
        .property("type", ObjectBuilder::new().schema_type(Type::String))
        .required("type")
        .property("title", ObjectBuilder::new().schema_type(Type::String))
        .required("title")
        .property("status", ObjectBuilder::new().schema_type(Type::Integer))
        .required("status")
        .property("detail", ObjectBuilder::new().schema_type(Type::String))
        .required("detail");
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Quire API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Generated from the route tables (quire_http::openapi); do not edit docs/openapi.json.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(
            ComponentsBuilder::new()
                .schemas_from_iter(one_per_name(schemas))
                .schema("Problem", problem)
                .security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)))
                .build(),
        ))
        .build()
}
