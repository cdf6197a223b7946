//! The `/api/v1` route table, and the 405 answer for a method a path does not allow.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};

use crate::api::*;
use pat_http::ApiError;

/// Registers every `/api/v1` route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .app_data(crate::limits::payload_config())
            // First: the forward-auth hot path, matched before any pattern with a
            // `{param}` (those cost a regex match each).
            .service(resource("/auth/check").get(auth_check))
            .service(resource("/session").post(login).delete(logout))
            .service(resource("/me").get(me))
            .service(resource("/me/password").put(change_password))
            .service(resource("/me/sessions").delete(end_all_sessions))
            .service(
                resource("/tokens")
                    .post(create_token)
                    .get(list_tokens)
                    .delete(delete_all_tokens),
            )
            .service(resource("/tokens/self").get(get_self).delete(revoke_self))
            .service(resource("/tokens/self/rotate").post(rotate_self))
            .service(
                resource("/tokens/{id}")
                    .get(get_token)
                    .patch(update_token)
                    .delete(delete_token),
            )
            .service(resource("/tokens/{id}/revoke").post(revoke_token))
            .service(resource("/tokens/{id}/regenerate").post(regenerate_token))
            .service(
                resource("/tokens/{id}/scopes")
                    .post(add_scopes)
                    .delete(clear_scopes),
            )
            .service(resource("/tokens/{id}/scopes/{scope_id}").delete(remove_scope))
            .service(resource("/tokens/{id}/events").get(token_events))
            .service(
                resource("/admin/settings")
                    .get(get_settings)
                    .put(put_settings),
            )
            .service(resource("/admin/users").get(list_users).post(create_user))
            .service(resource("/admin/users/{id}").patch(update_user))
            .service(resource("/admin/users/{id}/password").post(set_user_password))
            .service(resource("/admin/users/{id}/tokens").get(user_tokens))
            .service(resource("/admin/tokens/{id}/revoke").post(admin_revoke))
            .service(resource("/admin/tokens/{id}/regenerate").post(admin_regenerate))
            .service(resource("/admin/tokens/{id}").delete(admin_delete))
            .service(resource("/admin/audit").get(audit))
            .service(resource("/admin/outbox").get(outbox))
            .service(resource("/introspect").post(introspect))
            .service(resource("/credentials/revoke").post(report_leaks))
            .default_service(web::to(|| async {
                Err::<HttpResponse, _>(ApiError::not_found())
            })),
    );
}

/// A path whose methods are its routes; any other method is 405 problem+json with
/// `Allow` (not a misleading 404).
fn resource(path: &str) -> Builder {
    Builder {
        path: path.to_owned(),
        resource: web::resource(path),
        allowed: Vec::new(),
    }
}

/// Collects a path's routes and the methods they allow.
struct Builder {
    path: String,
    resource: actix_web::Resource,
    allowed: Vec<&'static str>,
}

macro_rules! method {
    ($name:ident, $route:ident, $text:literal) => {
        fn $name<F, Args>(mut self, handler: F) -> Self
        where
            F: actix_web::Handler<Args>,
            Args: actix_web::FromRequest + 'static,
            F::Output: actix_web::Responder + 'static,
        {
            self.resource = self.resource.route(web::$route().to(handler));
            self.allowed.push($text);
            self
        }
    };
}

impl Builder {
    method!(get, get, "GET");
    method!(post, post, "POST");
    method!(put, put, "PUT");
    method!(patch, patch, "PATCH");
    method!(delete, delete, "DELETE");
}

impl actix_web::dev::HttpServiceFactory for Builder {
    fn register(self, config: &mut actix_web::dev::AppService) {
        let allow = self.allowed.join(", ");
        let path = self.path;
        self.resource
            .default_service(web::to(move || {
                let allow = allow.clone();
                let path = path.clone();
                async move {
                    let mut response = actix_web::ResponseError::error_response(&ApiError::new(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "method_not_allowed",
                        format!("/api/v1{path} allows {allow}"),
                    ));
                    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
                        response
                            .headers_mut()
                            .insert(actix_web::http::header::ALLOW, value);
                    }
                    response
                }
            }))
            .register(config);
    }
}
