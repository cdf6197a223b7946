//! Request bodies: their documented shapes, and `Fields`, which reads them with
//! messages that name the field and what it allows.

use super::*;

/// `POST /tokens`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateTokenBody {
    /// 1–64 characters, unique among your tokens (ignoring case).
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// 0–500 characters.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// Whole days, 1 to the admin's maximum (default 180; at most 366).
    #[schema(minimum = 1, maximum = 366)]
    pub expires_in_days: i64,
    /// At least one scope, e.g. `["jobs:list"]`; `*:*` is full access as you.
    #[schema(min_items = 1, max_items = 50, value_type = Vec<ScopeText>)]
    pub scopes: Vec<String>,
}

/// A scope in text form: `resource:operation` or `resource:operation:id,id`, with
/// `*` for any resource or operation.
#[derive(Debug, Clone, ToSchema)]
#[schema(
    pattern = r"^(\*|[a-z][a-z0-9_-]{0,31}):(\*|create|read|list|update|delete|share|unshare|publish|subscribe)(:(\*|[A-Za-z0-9._@-]{1,128}(,[A-Za-z0-9._@-]{1,128}){0,99}))?$",
    example = "jobs:list"
)]
pub struct ScopeText(pub String);

/// The `status` filter of token lists.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum TokenStatusParam {
    /// Usable now.
    Active,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// Every token.
    All,
}

/// The `status` filter of the mail outbox.
#[derive(Debug, Clone, Copy, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum DeliveryStatusParam {
    /// Waiting to be sent (or retried).
    Pending,
    /// Accepted by the mail server.
    Sent,
    /// Given up on.
    Failed,
}

/// `POST /introspect`'s form body (RFC 7662).
#[derive(Debug, Clone, ToSchema)]
pub struct IntrospectForm {
    /// The token to introspect.
    pub token: String,
}

/// `PATCH /tokens/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateTokenBody {
    /// New name.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: Option<String>,
    /// New description.
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// `POST /tokens/{id}/regenerate`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RegenerateBody {
    /// New lifetime in whole days, 1 to the admin's maximum (default 180; at most 366).
    #[schema(minimum = 1, maximum = 366)]
    pub expires_in_days: i64,
    /// Minutes the previous secret keeps working as the token, 0 (the default: it stops
    /// at once) to the admin's `max_grace_minutes` (default 1440, at most 10080).
    #[schema(minimum = 0, maximum = 10080)]
    pub grace_minutes: Option<i64>,
}

/// `POST /tokens/self/rotate` (an empty body is `{}`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct RotateBody {
    /// New lifetime in whole days, 1 to the admin's maximum; absent: 30 (or the maximum
    /// when that is lower).
    #[schema(minimum = 1, maximum = 366)]
    pub expires_in_days: Option<i64>,
    /// Minutes the previous secret keeps working as the token, 0 (the default: it stops
    /// at once) to the admin's `max_grace_minutes` (default 1440, at most 10080).
    #[schema(minimum = 0, maximum = 10080)]
    pub grace_minutes: Option<i64>,
}

/// `POST /admin/tokens/{id}/regenerate`: lifting a reuse revocation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LiftReuseBody {
    /// New lifetime in whole days, 1 to the admin's maximum.
    #[schema(minimum = 1, maximum = 366)]
    pub expires_in_days: i64,
}

/// `POST /tokens/{id}/scopes`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ScopesBody {
    /// Scopes to add.
    #[schema(min_items = 1, max_items = 50, value_type = Vec<ScopeText>)]
    pub scopes: Vec<String>,
}

/// `POST /session`.
#[derive(Clone, Deserialize, ToSchema)]
pub struct LoginBody {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `PUT /me/password`.
#[derive(Clone, Deserialize, ToSchema)]
pub struct ChangePasswordBody {
    /// The password in force.
    pub current_password: String,
    /// The new password: 8 to 256 characters, not the account's email.
    #[schema(min_length = 8, max_length = 256)]
    pub new_password: String,
}

/// `POST /admin/users/{id}/password`.
#[derive(Clone, Deserialize, ToSchema)]
pub struct SetPasswordBody {
    /// The new password: 8 to 256 characters, not the account's email.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

/// `POST /admin/users`.
#[derive(Clone, Deserialize, ToSchema)]
pub struct NewUserBody {
    /// Email, unique ignoring case.
    #[schema(format = Email)]
    pub email: String,
    /// Display name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    pub name: String,
    /// `admin`, `member` or `collaborator`.
    #[schema(pattern = "^(admin|member|collaborator)$")]
    pub role: String,
    /// 8–256 characters.
    #[schema(min_length = 8, max_length = 256)]
    pub password: String,
}

/// `PATCH /admin/users/{id}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct UpdateUserBody {
    /// New role.
    pub role: Option<String>,
    /// Activate or deactivate.
    pub active: Option<bool>,
}

/// `POST /credentials/revoke`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct LeakReportBody {
    /// Up to 1000 strings that may be leaked tokens.
    pub credentials: Vec<String>,
}

/// A JSON number as a whole number: an integer, or a number without a fraction small
/// enough to be exact (JSON Schema counts 30.0 as an integer; 30.5 is not one).
fn whole_number(n: &serde_json::Number) -> Option<i64> {
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= 1e15)
            .map(|f| f as i64)
    })
}

/// The JSON object of a request body, with field readers that name the field's own
/// error code when it is missing or of the wrong type.
pub struct Fields(Map<String, Value>);

impl Fields {
    /// Parses a JSON object body.
    ///
    /// # Errors
    /// 400 `invalid_json` for anything but a JSON object.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid_json",
                "the request body must be a JSON object",
            )),
            Err(e) => Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "invalid_json",
                format!("the request body is not valid JSON: {e}"),
            )),
        }
    }

    /// A required string.
    ///
    /// # Errors
    /// `code` when missing or not a string.
    pub fn string(&self, field: &str, code: &'static str) -> Result<String, ApiError> {
        self.optional_string(field, code)?.ok_or_else(|| {
            ApiError::unprocessable(code, format!("{field} is required and must be a string"))
        })
    }

    /// An optional string (absent or null is `None`).
    ///
    /// # Errors
    /// `code` when present but not a string.
    pub fn optional_string(
        &self,
        field: &str,
        code: &'static str,
    ) -> Result<Option<String>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(ApiError::unprocessable(
                code,
                format!("{field} must be a string, got {other}"),
            )),
        }
    }

    /// An optional boolean.
    ///
    /// # Errors
    /// `code` when present but not a boolean.
    pub fn optional_bool(&self, field: &str, code: &'static str) -> Result<Option<bool>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(ApiError::unprocessable(
                code,
                format!("{field} must be true or false, got {other}"),
            )),
        }
    }

    /// An optional whole number of days (absent or null is `None`).
    ///
    /// # Errors
    /// `invalid_expiry` when present but fractional or not a number.
    pub fn optional_days(&self, field: &str, max: u32) -> Result<Option<i64>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.days(field, max).map(Some),
        }
    }

    /// A required whole number of days.
    ///
    /// # Errors
    /// `invalid_expiry` when missing, fractional, or not a number.
    pub fn days(&self, field: &str, max: u32) -> Result<i64, ApiError> {
        let refuse = |got: String| {
            ApiError::unprocessable(
                "invalid_expiry",
                format!("{field} must be a whole number between 1 and {max}, got {got}"),
            )
        };
        match self.0.get(field) {
            None | Some(Value::Null) => Err(refuse("nothing".to_owned())),
            Some(Value::Number(n)) => whole_number(n).ok_or_else(|| refuse(n.to_string())),
            Some(other) => Err(refuse(other.to_string())),
        }
    }

    /// A required list of strings.
    ///
    /// # Errors
    /// `code` when missing or not a list of strings.
    pub fn strings(&self, field: &str, code: &'static str) -> Result<Vec<String>, ApiError> {
        let refuse = || {
            ApiError::unprocessable(
                code,
                format!("{field} must be a list of strings, e.g. [\"jobs:list\"]"),
            )
        };
        match self.0.get(field) {
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned).ok_or_else(refuse))
                .collect(),
            _ => Err(refuse()),
        }
    }

    /// A required unsigned number.
    ///
    /// # Errors
    /// `code` when missing or not a non-negative whole number.
    pub fn number(&self, field: &str, code: &'static str) -> Result<u32, ApiError> {
        self.0
            .get(field)
            .and_then(Value::as_number)
            .and_then(whole_number)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                ApiError::unprocessable(
                    code,
                    format!("{field} is required and must be a whole number"),
                )
            })
    }

    /// An optional unsigned number (absent or null is `None`).
    ///
    /// # Errors
    /// `code` when present but not a non-negative whole number.
    pub fn optional_number(
        &self,
        field: &str,
        code: &'static str,
    ) -> Result<Option<u32>, ApiError> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.number(field, code).map(Some),
        }
    }

    /// An optional whole number of minutes for a grace period (absent or null is
    /// `None`); the range itself is the core's rule, named here too when the value is
    /// not a whole number.
    ///
    /// # Errors
    /// `invalid_grace` when present but fractional or not a number.
    pub fn optional_minutes(&self, field: &str, max: u32) -> Result<Option<i64>, ApiError> {
        let refuse = |got: String| {
            ApiError::unprocessable(
                "invalid_grace",
                format!("{field} must be a whole number between 0 and {max}, got {got}"),
            )
        };
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => whole_number(n)
                .map(Some)
                .ok_or_else(|| refuse(n.to_string())),
            Some(other) => Err(refuse(other.to_string())),
        }
    }

    /// A required boolean.
    ///
    /// # Errors
    /// `code` when missing or not a boolean.
    pub fn boolean(&self, field: &str, code: &'static str) -> Result<bool, ApiError> {
        self.optional_bool(field, code)?.ok_or_else(|| {
            ApiError::unprocessable(
                code,
                format!("{field} is required and must be true or false"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: &str) -> Fields {
        Fields::parse(json.as_bytes()).expect("a JSON object")
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let body = fields(r#"{"a": 30, "b": 30.0, "c": 30.5, "d": -1, "e": 4294967296, "f": "3"}"#);
        assert_eq!(body.days("a", 180).expect("integer"), 30);
        assert_eq!(body.days("b", 180).expect("30.0 is whole"), 30);
        assert_eq!(body.number("a", "x").expect("integer"), 30);
        // Found while fuzzing: days took 30.0 but number refused 180.0 as "not whole".
        assert_eq!(body.number("b", "x").expect("30.0 is whole"), 30);
        for refused in ["c", "d", "e", "f", "missing"] {
            assert_eq!(
                body.number(refused, "x").unwrap_err().code(),
                "x",
                "{refused}"
            );
        }
        for refused in ["c", "f", "missing"] {
            assert_eq!(
                body.days(refused, 180).unwrap_err().code(),
                "invalid_expiry",
                "{refused}"
            );
        }
    }
}

/// Bodies that carry a password print without it.
macro_rules! debug_without_passwords {
    ($($body:ident),+ $(,)?) => {$(
        impl std::fmt::Debug for $body {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($body)).finish_non_exhaustive()
            }
        }
    )+};
}

debug_without_passwords!(LoginBody, ChangePasswordBody, SetPasswordBody, NewUserBody);
