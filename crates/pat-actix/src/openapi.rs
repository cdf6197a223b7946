//! The OpenAPI 3 document, generated from the handlers' annotations.

use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::api;
use crate::views::{
    ChangePasswordBody, CreateTokenBody, DeliveryStatusParam, EventView, IntrospectForm,
    IssuedView, LeakReportBody, LiftReuseBody, LoginBody, MeToken, MeView, NewUserBody, OutboxView,
    PageView, RegenerateBody, RotateBody, ScopeText, ScopeView, ScopesBody, SessionView,
    SetPasswordBody, SettingsView, TokenStatusParam, TokenView, UpdateTokenBody, UpdateUserBody,
    UserView,
};
use pat_http::Problem;

/// The API description served at `/api/v1/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "patd", description = "Personal access tokens: manage them, and check them for other services."),
    paths(
        api::login, api::logout, api::me, api::change_password, api::end_all_sessions,
        api::create_token, api::list_tokens, api::delete_all_tokens, api::get_self, api::revoke_self,
        api::rotate_self,
        api::get_token, api::update_token, api::delete_token, api::revoke_token, api::regenerate_token,
        api::add_scopes, api::clear_scopes, api::remove_scope, api::token_events,
        api::get_settings, api::put_settings, api::list_users, api::create_user, api::update_user,
        api::set_user_password,
        api::user_tokens, api::admin_revoke, api::admin_regenerate, api::admin_delete, api::audit, api::outbox,
        api::auth_check, api::introspect, api::report_leaks,
    ),
    components(schemas(
        Problem, ScopeView, TokenView, IssuedView, UserView, SettingsView, EventView, MeView, MeToken,
        PageView<TokenView>, PageView<UserView>, PageView<EventView>, OutboxView, PageView<OutboxView>,
        CreateTokenBody, UpdateTokenBody, LiftReuseBody, RegenerateBody, RotateBody, ScopesBody, LoginBody, SessionView,
        NewUserBody, UpdateUserBody, LeakReportBody, ChangePasswordBody, SetPasswordBody, ScopeText, TokenStatusParam,
        DeliveryStatusParam, IntrospectForm,
    )),
    modifiers(&Security, &ProblemResponses),
    security(("bearer" = []), ("session" = [])),
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(pat_http::SESSION_COOKIE))),
        );
    }
}

/// Every error answer is `application/problem+json` with the [`Problem`] body, and
/// every operation lists the refusals any request can meet (authentication, limits,
/// a bad path id), so clients and schema-driven tests know the whole contract.
struct ProblemResponses;

/// Refusals any operation can answer, whatever its own ones.
const COMMON_REFUSALS: [(&str, &str); 12] = [
    (
        "400",
        "The request could not be read (e.g. a malformed query or header).",
    ),
    (
        "401",
        "No credentials, or a bad token: one identical body for every reason.",
    ),
    ("403", "A missing scope, role or CSRF token."),
    ("404", "No such resource (or not yours)."),
    (
        "422",
        "A value is out of range or malformed; `detail` says which and what is allowed.",
    ),
    ("413", "The body is larger than the server accepts."),
    ("414", "The URL is longer than the server accepts."),
    (
        "415",
        "A JSON endpoint was sent a body that is not `application/json`.",
    ),
    (
        "429",
        "Too many attempts from this address; see Retry-After.",
    ),
    (
        "431",
        "A header, or all of them, is larger than the server accepts.",
    ),
    ("500", "The server failed; the details are in its log."),
    (
        "503",
        "The token store is unavailable, or the server is busy (`busy`, see Retry-After); retry shortly.",
    ),
];

impl utoipa::Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let problem = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                for (status, response) in responses.iter_mut() {
                    if status.as_str() >= "400"
                        && let RefOr::T(response) = response
                    {
                        response.content.clear();
                        response
                            .content
                            .insert("application/problem+json".to_owned(), problem());
                    }
                }
                for (status, description) in COMMON_REFUSALS {
                    responses.entry(status.to_owned()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(description)
                                .content("application/problem+json", problem())
                                .build(),
                        )
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use pat_core::policy::{
        MAX_ACTIVE_CAP, MAX_DESCRIPTION_CHARS, MAX_LIFETIME_CAP_DAYS, MAX_NAME_CHARS,
        MAX_SCOPES_PER_TOKEN, MAX_WARNING_DAYS,
    };
    use pat_core::scope::{MAX_TARGET_LEN, MAX_TARGETS, Operation};
    use serde_json::Value;

    use super::*;

    fn schemas() -> Value {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
        doc["components"]["schemas"].clone()
    }

    /// The document states pat-core's limits, not copies that could drift: every bound
    /// the attributes spell as a literal is checked against its constant here.
    #[test]
    fn the_documented_limits_are_pat_cores() {
        let schemas = schemas();
        let number = |schema: &str, field: &str, key: &str| {
            schemas[schema]["properties"][field][key]
                .as_u64()
                .unwrap_or_else(|| panic!("{schema}.{field} has no {key}"))
        };
        let as_u64 = |n: usize| u64::try_from(n).expect("small");
        for schema in ["CreateTokenBody", "UpdateTokenBody"] {
            assert_eq!(number(schema, "name", "maxLength"), as_u64(MAX_NAME_CHARS));
            assert_eq!(
                number(schema, "description", "maxLength"),
                as_u64(MAX_DESCRIPTION_CHARS)
            );
        }
        for schema in ["CreateTokenBody", "RegenerateBody"] {
            assert_eq!(
                number(schema, "expires_in_days", "maximum"),
                u64::from(MAX_LIFETIME_CAP_DAYS)
            );
        }
        for schema in ["CreateTokenBody", "ScopesBody"] {
            assert_eq!(
                number(schema, "scopes", "maxItems"),
                as_u64(MAX_SCOPES_PER_TOKEN)
            );
        }
        assert_eq!(
            number("SettingsView", "max_lifetime_days", "maximum"),
            u64::from(MAX_LIFETIME_CAP_DAYS)
        );
        assert_eq!(
            number("SettingsView", "max_active_per_user", "maximum"),
            u64::from(MAX_ACTIVE_CAP)
        );
        assert_eq!(
            number("SettingsView", "expiry_warning_days", "maximum"),
            u64::from(MAX_WARNING_DAYS)
        );
        for (schema, field) in [
            ("NewUserBody", "password"),
            ("SetPasswordBody", "password"),
            ("ChangePasswordBody", "new_password"),
        ] {
            assert_eq!(
                number(schema, field, "minLength"),
                as_u64(pat_core::policy::MIN_PASSWORD_CHARS)
            );
            assert_eq!(
                number(schema, field, "maxLength"),
                as_u64(pat_core::policy::MAX_PASSWORD_CHARS)
            );
        }
    }

    /// The documented scope grammar names every operation pat-core knows and its target
    /// bounds.
    #[test]
    fn the_documented_scope_grammar_is_pat_cores() {
        let pattern = schemas()["ScopeText"]["pattern"]
            .as_str()
            .expect("ScopeText has a pattern")
            .to_owned();
        for operation in Operation::ALL {
            assert!(
                pattern.contains(&format!("|{}", operation.as_str())),
                "{operation} in {pattern}"
            );
        }
        assert!(
            pattern.contains(&format!("{{1,{MAX_TARGET_LEN}}}")),
            "{pattern}"
        );
        assert!(
            pattern.contains(&format!("{{0,{}}}", MAX_TARGETS - 1)),
            "{pattern}"
        );
    }
}
