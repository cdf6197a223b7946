//! What every page shares: the signed-in user, form bodies with their CSRF check,
//! HTML and redirect responses with safe headers, and the error page.

use std::fmt;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{Bytes, Data};
use actix_web::{FromRequest, HttpRequest, HttpResponse, HttpResponseBuilder, ResponseError};
use askama::Template;
use futures_util::future::LocalBoxFuture;
use pat_core::model::{Actor, Role};
use pat_http::{ApiError, ApiState, client_ip};

/// The form field every POST form carries its CSRF token in.
pub const CSRF_FIELD: &str = "csrf";

/// Largest form body accepted (the create form with every scope ticked is ~4 KiB).
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Why a page could not be shown.
#[derive(Debug)]
pub enum WebError {
    /// No live session: go to the login page.
    SignIn,
    /// A refusal or failure, shown as an error page with its status.
    Refused(ApiError),
}

impl fmt::Display for WebError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebError::SignIn => f.write_str("sign in required"),
            WebError::Refused(err) => err.fmt(f),
        }
    }
}

impl From<ApiError> for WebError {
    fn from(err: ApiError) -> Self {
        WebError::Refused(err)
    }
}

/// Every refusal the API maps is shown as an error page with the same status.
macro_rules! refused_as_api_error {
    ($($family:ty),+ $(,)?) => {$(
        impl From<$family> for WebError {
            fn from(err: $family) -> Self {
                WebError::Refused(ApiError::from(err))
            }
        }
    )+};
}

refused_as_api_error!(
    pat_core::Denied,
    pat_core::ports::StoreError,
    pat_core::QueryError,
    pat_core::CreateTokenError,
    pat_core::TokenChangeError,
    pat_core::RegenerateError,
    pat_core::AddScopesError,
    pat_core::UserChangeError,
    pat_core::SettingsChangeError,
    pat_core::SignInError,
    pat_core::PasswordChangeError,
);

impl WebError {
    /// A paging value out of range.
    pub fn invalid_page(err: pat_core::model::PageError) -> Self {
        WebError::Refused(ApiError::unprocessable("invalid_page", err.to_string()))
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    status: u16,
    title: &'a str,
    detail: &'a str,
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::SignIn => StatusCode::SEE_OTHER,
            WebError::Refused(err) => err.status(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            WebError::SignIn => see_other("/login"),
            WebError::Refused(err) => {
                let page = ErrorPage {
                    chrome: Chrome::anonymous(err.title()),
                    status: err.status().as_u16(),
                    title: err.title(),
                    detail: err.detail(),
                };
                let mut response = html(err.status(), &page);
                if let Some(seconds) = err.retry_after()
                    && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
                {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
        }
    }
}

/// Page results.
pub type PageResult = Result<HttpResponse, WebError>;

fn with_safe_headers(mut builder: HttpResponseBuilder) -> HttpResponseBuilder {
    builder
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ));
    builder
}

/// An HTML page with `status`; never cached, so back and history re-ask the server.
pub fn html(status: StatusCode, page: &impl Template) -> HttpResponse {
    match page.render() {
        Ok(body) => with_safe_headers(HttpResponse::build(status))
            .content_type("text/html; charset=utf-8")
            .body(body),
        Err(err) => {
            tracing::error!(error = %err, "a page template failed to render");
            with_safe_headers(HttpResponse::InternalServerError())
                .content_type("text/plain; charset=utf-8")
                .body("the page failed to render; the details are in the server log")
        }
    }
}

/// 200 with `page`.
pub fn ok(page: &impl Template) -> PageResult {
    Ok(html(StatusCode::OK, page))
}

/// 303 to `location` (after a form post, so reload does not post again).
pub fn see_other(location: &str) -> HttpResponse {
    with_safe_headers(HttpResponse::SeeOther())
        .insert_header((header::LOCATION, location))
        .finish()
}

/// The signed-in user as the layout shows them.
#[derive(Debug, Clone)]
pub struct ChromeUser {
    /// Email.
    pub email: String,
    /// Shows the admin link.
    pub is_admin: bool,
    /// For the sign-out form.
    pub csrf: String,
}

/// What the shared layout needs: the page title and who is signed in.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// `<title>` and heading.
    pub title: String,
    /// Signed-in user, if any.
    pub user: Option<ChromeUser>,
}

impl Chrome {
    /// A page nobody is signed in to (login, errors).
    pub fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            user: None,
        }
    }
}

/// A request from a signed-in browser session.
#[derive(Clone)]
pub struct SignedIn {
    /// The user, as the domain sees them.
    pub actor: Actor,
    /// The session, as the store holds it.
    pub session: pat_core::LiveSession,
    /// The session's CSRF token, for the forms of the page.
    pub csrf: String,
    /// The API state (the service, which holds sessions).
    pub state: Data<ApiState>,
}

impl fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedIn")
            .field("user", &self.actor.user.id)
            .finish_non_exhaustive()
    }
}

impl SignedIn {
    /// The layout data for a page titled `title`.
    pub fn chrome(&self, title: &str) -> Chrome {
        Chrome {
            title: title.to_owned(),
            user: Some(ChromeUser {
                email: self.actor.user.email.clone(),
                is_admin: self.actor.user.role == Role::Admin,
                csrf: self.csrf.clone(),
            }),
        }
    }

    /// The caller's role.
    pub fn role(&self) -> Role {
        self.actor.user.role
    }
}

fn api_state(req: &HttpRequest) -> Result<Data<ApiState>, WebError> {
    req.app_data::<Data<ApiState>>().cloned().ok_or_else(|| {
        WebError::Refused(ApiError::internal(&std::io::Error::other(
            "ApiState is not registered: call App::app_data(web::Data::new(ApiState::new(..)))",
        )))
    })
}

async fn signed_in(req: &HttpRequest) -> Result<SignedIn, WebError> {
    let state = api_state(req)?;
    let cookie = req
        .cookie(state.session_cookie_name())
        .ok_or(WebError::SignIn)?;
    let session = state
        .service
        .session(cookie.value())
        .await?
        .ok_or(WebError::SignIn)?;
    Ok(SignedIn {
        actor: session.actor(client_ip(req)),
        csrf: session.csrf_token.clone(),
        session,
        state,
    })
}

impl FromRequest for SignedIn {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { signed_in(&req).await })
    }
}

/// A decoded `application/x-www-form-urlencoded` body.
#[derive(Debug, Clone, Default)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    /// Decodes a form body.
    ///
    /// # Errors
    /// 400 `invalid_form` when the body is not a URL-encoded form.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        serde_urlencoded::from_bytes(body)
            .map(FormData)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_form",
                    format!("the form could not be read: {e}"),
                )
            })
    }

    /// The first value of `name`, or `""`.
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every field, in order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether a checkbox `name` was ticked.
    pub fn checked(&self, name: &str) -> bool {
        self.0.iter().any(|(key, _)| key == name)
    }
}

impl FromRequest for FormData {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        read_form(req, payload)
    }
}

/// A form posted by a signed-in session, its CSRF token checked.
#[derive(Debug)]
pub struct Posted {
    /// Who posted.
    pub who: SignedIn,
    /// The fields.
    pub form: FormData,
}

/// 403 `csrf` for a form without the session's token.
fn csrf_refused() -> WebError {
    WebError::Refused(ApiError::new(
        StatusCode::FORBIDDEN,
        "csrf",
        "the form's security token is missing or stale; reload the page and try again",
    ))
}

pub use pat_core::session::same_token;

impl FromRequest for Posted {
    type Error = WebError;
    type Future = LocalBoxFuture<'static, Result<Self, WebError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = read_form(&req, payload);
        Box::pin(async move {
            pat_http::refuse_cross_site(&req)?;
            let who = signed_in(&req).await?;
            let form = body.await?;
            if !same_token(form.get(CSRF_FIELD), &who.csrf) {
                return Err(csrf_refused());
            }
            Ok(Posted { who, form })
        })
    }
}

/// Reads and decodes a form body of at most [`MAX_FORM_BYTES`] (413 beyond).
pub fn read_form(
    req: &HttpRequest,
    payload: &mut Payload,
) -> LocalBoxFuture<'static, Result<FormData, WebError>> {
    let too_large = || {
        WebError::Refused(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "form_too_large",
            format!("a form may carry at most {MAX_FORM_BYTES} bytes"),
        ))
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_FORM_BYTES) {
        return Box::pin(async move { Err(too_large()) });
    }
    let body = Bytes::from_request(req, payload);
    Box::pin(async move {
        let body = body.await.map_err(|_| too_large())?;
        if body.len() > MAX_FORM_BYTES {
            return Err(too_large());
        }
        Ok(FormData::parse(&body)?)
    })
}
