//! RFC 9457 problem details: every refusal the API gives, with a stable `code`.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use pat_core::limits::RetryAfter;
use pat_core::ports::{HashError, StoreError};
use pat_core::{
    AddScopesError, AuthError, CreateTokenError, Denied, InternalError, LimitError,
    PasswordChangeError, QueryError, RandomnessError, RegenerateError, ScopesError,
    SettingsChangeError, SignInError, TokenChangeError, UserChangeError,
};
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every error response (`application/problem+json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `https://pat.dev/problems/<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, fixed summary of the problem type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What is wrong in this request, and what is allowed.
    pub detail: String,
    /// The stable machine-readable code, e.g. `invalid_expiry`.
    pub code: String,
    /// On OAuth endpoints (`/introspect`) only: the RFC 6749 §5.2 error code, e.g.
    /// `invalid_request`, so OAuth clients read the refusal too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An API refusal: status, stable code and a message the caller can act on.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    retry_after: Option<u64>,
    /// For `missing_scope`: the scope the request needed (RFC 6750 §3 `scope`).
    required_scope: Option<String>,
    /// The RFC 6749 §5.2 `error` member, on OAuth endpoints.
    oauth_error: Option<&'static str>,
}

/// The authentication realm named in every challenge.
const REALM: &str = "patd";

impl ApiError {
    /// A refusal with this status, code and detail.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
            required_scope: None,
            oauth_error: None,
        }
    }

    /// This refusal as an OAuth endpoint gives it: with the RFC 6749 §5.2 `error`
    /// member beside the problem's fields (`invalid_request` for a bad request,
    /// `invalid_client` for a caller that did not authenticate, `unauthorized_client`
    /// for one that may not, `temporarily_unavailable` or `server_error` otherwise).
    #[must_use]
    pub fn for_oauth(mut self) -> Self {
        self.oauth_error = Some(match self.status.as_u16() {
            401 => "invalid_client",
            403 => "unauthorized_client",
            429 | 503 => "temporarily_unavailable",
            500..=599 => "server_error",
            _ => "invalid_request",
        });
        self
    }

    /// 403 `missing_scope` for a token that lacks `scope` (`resource:operation`); the
    /// answer names it in `WWW-Authenticate: Bearer error="insufficient_scope"`.
    pub fn missing_scope(scope: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            required_scope: Some(scope.into()),
            ..Self::new(StatusCode::FORBIDDEN, "missing_scope", detail)
        }
    }

    /// The `WWW-Authenticate` value of this refusal, if it has one (RFC 6750 §3).
    ///
    /// A 401 offers both schemes in one header (`Bearer realm="patd", Basic
    /// realm="patd"`): git, libcurl and Python's urllib send the Basic credentials they
    /// hold only when Basic is offered, and nginx `auth_request` passes on a single
    /// `WWW-Authenticate` header. When a token was presented the Bearer challenge says
    /// `error="invalid_token"`; a 403 for a missing scope says
    /// `error="insufficient_scope"` and the scope needed.
    pub fn challenge(&self) -> Option<String> {
        match (self.status, self.code) {
            (StatusCode::UNAUTHORIZED, "invalid_token") => Some(format!(
                "Bearer realm=\"{REALM}\", error=\"invalid_token\", Basic realm=\"{REALM}\""
            )),
            (StatusCode::UNAUTHORIZED, _) => {
                Some(format!("Bearer realm=\"{REALM}\", Basic realm=\"{REALM}\""))
            }
            (StatusCode::FORBIDDEN, "missing_scope") => {
                let scope = self
                    .required_scope
                    .as_deref()
                    .map(|scope| format!(", scope=\"{}\"", quoted_string_body(scope)))
                    .unwrap_or_default();
                Some(format!(
                    "Bearer realm=\"{REALM}\", error=\"insufficient_scope\"{scope}"
                ))
            }
            _ => None,
        }
    }

    /// 401 `invalid_token`: one body for every kind of bad token (no oracle).
    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the personal access token is invalid, expired or revoked",
        )
    }

    /// 401 `unauthenticated`: no credentials at all.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in, or send a personal access token as `Authorization: Bearer <token>`",
        )
    }

    /// 422 with a field-specific code.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 404 `not_found`.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }

    /// 404 `not_found`, naming what was not found.
    fn no_such(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// 403 `pats_disabled`.
    fn pats_disabled(detail: String) -> Self {
        Self::new(StatusCode::FORBIDDEN, "pats_disabled", detail)
    }

    /// 403 `scope_escalation`.
    fn escalation(detail: String) -> Self {
        Self::new(StatusCode::FORBIDDEN, "scope_escalation", detail)
    }

    /// 409 `active_token_limit`.
    fn active_limit(detail: String) -> Self {
        Self::new(StatusCode::CONFLICT, "active_token_limit", detail)
    }

    /// 429 `rate_limited` with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry after {retry_after_secs} seconds"),
            )
        }
    }

    /// 503 `busy` with `Retry-After`: a bounded queue is full; nothing was done.
    pub fn busy(retry_after_secs: u64, detail: impl Into<String>) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", detail)
        }
    }

    /// 500 `internal`; the cause goes to the log, never to the caller.
    pub fn internal(cause: &dyn std::error::Error) -> Self {
        tracing::error!(error = %chain(cause), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed to handle this request; the details are in its log",
        )
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What is wrong, and what is allowed.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// Seconds to wait before retrying, for `rate_limited`.
    pub fn retry_after(&self) -> Option<u64> {
        self.retry_after
    }

    fn from_store(err: &StoreError) -> Self {
        match err {
            StoreError::Unavailable(_) => {
                tracing::error!(error = %chain(err), "storage unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the token store is unavailable; retry shortly",
                )
            }
            other => Self::internal(other),
        }
    }

    /// A short, fixed summary of the problem type.
    pub fn title(&self) -> &'static str {
        match self.code {
            "unauthenticated" => "Authentication required",
            "invalid_token" => "Invalid token",
            "invalid_credentials" => "Invalid credentials",
            "forbidden" => "Administrators only",
            "forbidden_role" => "Not allowed for this role",
            "pats_disabled" => "Personal access tokens are disabled",
            "missing_scope" => "Missing scope",
            "scope_escalation" => "Scope escalation",
            "csrf" => "Missing or wrong CSRF token",
            "not_found" => "Not found",
            "duplicate_name" => "Duplicate name",
            "duplicate_email" => "Duplicate email",
            "active_token_limit" => "Active token limit reached",
            "revoked_by_admin" => "Revoked by an administrator",
            "revoked_as_leaked" => "Revoked as leaked",
            "revoked_for_reuse" => "Revoked because a rotated-away secret was reused",
            "not_revoked_for_reuse" => "Not revoked for reuse",
            "unsupported_media_type" => "Unsupported media type",
            "rate_limited" => "Too many requests",
            "body_too_large" => "Request body too large",
            "uri_too_long" => "URL too long",
            "headers_too_large" => "Request headers too large",
            "unavailable" => "Service unavailable",
            "busy" => "Server busy",
            "internal" => "Internal error",
            _ if self.status.is_client_error() => "Invalid request",
            _ => "Error",
        }
    }

    /// The body.
    pub fn problem(&self) -> Problem {
        Problem {
            kind: format!("https://pat.dev/problems/{}", self.code),
            title: self.title().to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.to_owned(),
            error: self.oauth_error.map(str::to_owned),
        }
    }
}

/// `text` as the inside of an HTTP quoted-string: `"` and `\\` escaped.
fn quoted_string_body(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

/// An error and every cause under it, `outer: inner: innermost`, for the log.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let cause_text = cause.to_string();
        // thiserror's transparent and "{0}" wrappers repeat their source's text.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        next = cause.source();
    }
    text
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        if let Some(challenge) = self
            .challenge()
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        if let Some(seconds) = self.retry_after {
            response.insert_header((header::RETRY_AFTER, seconds.to_string()));
        }
        response.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

impl From<Denied> for ApiError {
    fn from(err: Denied) -> Self {
        let detail = err.to_string();
        match err {
            Denied::AdminOnly => Self::new(StatusCode::FORBIDDEN, "forbidden", detail),
            Denied::Role { .. } => Self::new(StatusCode::FORBIDDEN, "forbidden_role", detail),
            Denied::MissingScope { required } => Self::missing_scope(required, detail),
            Denied::OwnPassword => Self::new(StatusCode::FORBIDDEN, "own_password", detail),
            Denied::PreviousSecret => Self::new(StatusCode::FORBIDDEN, "previous_secret", detail),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        Self::from_store(&err)
    }
}

impl From<RandomnessError> for ApiError {
    fn from(err: RandomnessError) -> Self {
        Self::internal(&err)
    }
}

impl From<ScopesError> for ApiError {
    fn from(err: ScopesError) -> Self {
        let code = match err {
            ScopesError::Invalid(_) | ScopesError::Empty => "invalid_scope",
            ScopesError::TooMany { .. } => "too_many_scopes",
        };
        Self::unprocessable(code, err.to_string())
    }
}

impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::Denied(denied) => denied.into(),
            QueryError::NotFound => Self::no_such("token"),
            QueryError::Storage(store) => store.into(),
        }
    }
}

impl From<CreateTokenError> for ApiError {
    fn from(err: CreateTokenError) -> Self {
        use CreateTokenError as E;
        let detail = err.to_string();
        match err {
            E::Denied(denied) => denied.into(),
            E::PatsDisabled => Self::pats_disabled(detail),
            E::InvalidName(_) => Self::unprocessable("invalid_name", detail),
            E::InvalidDescription(_) => Self::unprocessable("invalid_description", detail),
            E::InvalidExpiry(_) => Self::unprocessable("invalid_expiry", detail),
            E::Scopes(scopes) => scopes.into(),
            E::Escalation(_) => Self::escalation(detail),
            E::ActiveLimit { .. } => Self::active_limit(detail),
            E::DuplicateName { .. } => Self::new(StatusCode::CONFLICT, "duplicate_name", detail),
            E::Randomness(random) => random.into(),
            E::Storage(store) => store.into(),
        }
    }
}

impl From<TokenChangeError> for ApiError {
    fn from(err: TokenChangeError) -> Self {
        use TokenChangeError as E;
        let detail = err.to_string();
        match err {
            E::Denied(denied) => denied.into(),
            E::NotFound => Self::no_such("token"),
            E::ScopeNotFound => Self::no_such("scope on this token"),
            E::InvalidName(_) => Self::unprocessable("invalid_name", detail),
            E::InvalidDescription(_) => Self::unprocessable("invalid_description", detail),
            E::DuplicateName { .. } => Self::new(StatusCode::CONFLICT, "duplicate_name", detail),
            E::Storage(store) => store.into(),
        }
    }
}

impl From<RegenerateError> for ApiError {
    fn from(err: RegenerateError) -> Self {
        use RegenerateError as E;
        let detail = err.to_string();
        match err {
            E::Denied(denied) => denied.into(),
            E::NotFound => Self::no_such("token"),
            E::RevokedByAdmin => Self::new(StatusCode::CONFLICT, "revoked_by_admin", detail),
            E::RevokedAsLeaked => Self::new(StatusCode::CONFLICT, "revoked_as_leaked", detail),
            E::RevokedForReuse => Self::new(StatusCode::CONFLICT, "revoked_for_reuse", detail),
            E::NotRevokedForReuse => {
                Self::new(StatusCode::CONFLICT, "not_revoked_for_reuse", detail)
            }
            E::PatsDisabled => Self::pats_disabled(detail),
            E::InvalidExpiry(_) => Self::unprocessable("invalid_expiry", detail),
            E::InvalidGrace(_) => Self::unprocessable("invalid_grace", detail),
            E::Escalation(_) => Self::escalation(detail),
            E::ActiveLimit { .. } => Self::active_limit(detail),
            E::Randomness(random) => random.into(),
            E::Storage(store) => store.into(),
        }
    }
}

impl From<AddScopesError> for ApiError {
    fn from(err: AddScopesError) -> Self {
        let detail = err.to_string();
        match err {
            AddScopesError::Denied(denied) => denied.into(),
            AddScopesError::NotFound => Self::no_such("token"),
            AddScopesError::Scopes(scopes) => scopes.into(),
            AddScopesError::Escalation(_) => Self::escalation(detail),
            AddScopesError::Randomness(random) => random.into(),
            AddScopesError::Storage(store) => store.into(),
        }
    }
}

impl From<UserChangeError> for ApiError {
    fn from(err: UserChangeError) -> Self {
        let detail = err.to_string();
        match err {
            UserChangeError::Denied(denied) => denied.into(),
            UserChangeError::Invalid(_) => Self::unprocessable("invalid_user", detail),
            UserChangeError::DuplicateEmail => {
                Self::new(StatusCode::CONFLICT, "duplicate_email", detail)
            }
            UserChangeError::NotFound => Self::no_such("user"),
            UserChangeError::Randomness(random) => random.into(),
            UserChangeError::Storage(store) => store.into(),
        }
    }
}

impl From<SettingsChangeError> for ApiError {
    fn from(err: SettingsChangeError) -> Self {
        let detail = err.to_string();
        match err {
            SettingsChangeError::Denied(denied) => denied.into(),
            SettingsChangeError::Invalid(_) => Self::unprocessable("invalid_settings", detail),
            SettingsChangeError::Storage(store) => store.into(),
        }
    }
}

impl From<InternalError> for ApiError {
    fn from(err: InternalError) -> Self {
        match err {
            InternalError::Randomness(random) => random.into(),
            InternalError::Storage(store) => store.into(),
        }
    }
}

impl From<RetryAfter> for ApiError {
    fn from(refusal: RetryAfter) -> Self {
        Self::rate_limited(refusal.seconds)
    }
}

impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy { retry_after_secs } => Self::busy(retry_after_secs, err.to_string()),
            HashError::Failed(_) => Self::internal(&err),
        }
    }
}

impl From<LimitError> for ApiError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::RateLimited(refusal) => refusal.into(),
            LimitError::Storage(store) => store.into(),
        }
    }
}

impl From<SignInError> for ApiError {
    fn from(err: SignInError) -> Self {
        let detail = err.to_string();
        match err {
            SignInError::InvalidCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "invalid_credentials", detail)
            }
            SignInError::RateLimited(refusal) => refusal.into(),
            SignInError::Hashing(hashing) => hashing.into(),
            SignInError::Randomness(random) => random.into(),
            SignInError::Storage(store) => store.into(),
        }
    }
}

impl From<PasswordChangeError> for ApiError {
    fn from(err: PasswordChangeError) -> Self {
        use PasswordChangeError as E;
        let detail = err.to_string();
        match err {
            E::Denied(denied) => denied.into(),
            E::InvalidPassword => Self::unprocessable("invalid_password", detail),
            E::RateLimited(refusal) => refusal.into(),
            E::Weak(_) => Self::unprocessable("weak_password", detail),
            E::NotFound => Self::no_such("user"),
            E::UnknownLink => Self::new(StatusCode::NOT_FOUND, "unknown_link", detail),
            E::SpentLink => Self::new(StatusCode::GONE, "link_spent", detail),
            E::Hashing(hashing) => hashing.into(),
            E::Randomness(random) => random.into(),
            E::Storage(store) => store.into(),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Storage(store) => Self::from_store(&store),
            AuthError::RateLimited(refusal) => refusal.into(),
            _ => Self::invalid_token(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_in_a_challenge_cannot_add_parameters() {
        let err = ApiError::missing_scope(r#"x",error="invalid_token"#, "no");
        assert_eq!(
            err.challenge().expect("a 403 challenge"),
            r#"Bearer realm="patd", error="insufficient_scope", scope="x\",error=\"invalid_token""#
        );
    }
}
