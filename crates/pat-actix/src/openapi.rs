//! The OpenAPI 3 document, generated from the handlers' annotations.

use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::api;
use crate::problem::Problem;
use crate::views::{
    CreateTokenBody, EventView, IssuedView, LeakReportBody, LoginBody, MeToken, MeView,
    NewUserBody, OutboxView, PageView, RegenerateBody, ScopeView, ScopesBody, SessionView,
    SettingsView, TokenView, UpdateTokenBody, UpdateUserBody, UserView,
};

/// The API description served at `/api/v1/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    info(title = "patd", description = "Personal access tokens: manage them, and check them for other services."),
    paths(
        api::login, api::logout, api::me,
        api::create_token, api::list_tokens, api::delete_all_tokens, api::get_self, api::revoke_self,
        api::get_token, api::update_token, api::delete_token, api::revoke_token, api::regenerate_token,
        api::add_scopes, api::clear_scopes, api::remove_scope, api::token_events,
        api::get_settings, api::put_settings, api::list_users, api::create_user, api::update_user,
        api::user_tokens, api::admin_revoke, api::admin_delete, api::audit, api::outbox,
        api::auth_check, api::introspect, api::report_leaks,
    ),
    components(schemas(
        Problem, ScopeView, TokenView, IssuedView, UserView, SettingsView, EventView, MeView, MeToken,
        PageView<TokenView>, PageView<UserView>, PageView<EventView>, OutboxView, PageView<OutboxView>,
        CreateTokenBody, UpdateTokenBody, RegenerateBody, ScopesBody, LoginBody, SessionView,
        NewUserBody, UpdateUserBody, LeakReportBody,
    )),
    modifiers(&Security),
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
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::caller::SESSION_COOKIE,
            ))),
        );
    }
}
