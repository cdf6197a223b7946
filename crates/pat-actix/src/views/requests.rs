//! Request bodies into domain requests: each body is read once from its JSON object
//! (a refusal names the field and what it allows, e.g. for `1.5`, `"abc"` or a missing
//! field), then `try_into_domain` turns it into what `PatService` takes.

use std::str::FromStr;

use pat_core::model::Role;
use pat_core::{CreateTokenRequest, NewUser};

use super::*;

impl CreateTokenBody {
    /// Reads `POST /tokens`; `max_days` is the admin's limit, named when the lifetime
    /// is not a whole number.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 with the field's code.
    pub fn read(body: &[u8], max_days: u32) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        Ok(Self {
            name: fields.string("name", "invalid_name")?,
            description: fields.optional_string("description", "invalid_description")?,
            expires_in_days: fields.days("expires_in_days", max_days)?,
            scopes: fields.strings("scopes", "invalid_scope")?,
        })
    }

    /// The service's create request (the rules on each field are the core's).
    pub fn into_domain(self) -> CreateTokenRequest {
        CreateTokenRequest {
            name: self.name,
            description: self.description.unwrap_or_default(),
            expires_in_days: self.expires_in_days,
            scopes: self.scopes,
        }
    }
}

impl UpdateTokenBody {
    /// Reads `PATCH /tokens/{id}`; an absent field keeps its value.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `invalid_name` / `invalid_description`.
    pub fn read(body: &[u8]) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        Ok(Self {
            name: fields.optional_string("name", "invalid_name")?,
            description: fields.optional_string("description", "invalid_description")?,
        })
    }
}

impl RegenerateBody {
    /// Reads `POST /tokens/{id}/regenerate`; `limits` are the admin's, named in the
    /// refusal of a value that is not a whole number.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `invalid_expiry` / `invalid_grace`.
    pub fn read(body: &[u8], limits: Settings) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        Ok(Self {
            expires_in_days: fields.days("expires_in_days", limits.max_lifetime_days)?,
            grace_minutes: fields.optional_minutes("grace_minutes", limits.max_grace_minutes)?,
        })
    }
}

impl RotateBody {
    /// Reads `POST /tokens/self/rotate`; an empty body is `{}`.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `invalid_expiry` / `invalid_grace`.
    pub fn read(body: &[u8], limits: Settings) -> Result<Self, ApiError> {
        let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            body
        };
        let fields = Fields::parse(body)?;
        Ok(Self {
            expires_in_days: fields.optional_days("expires_in_days", limits.max_lifetime_days)?,
            grace_minutes: fields.optional_minutes("grace_minutes", limits.max_grace_minutes)?,
        })
    }
}

impl LiftReuseBody {
    /// Reads `POST /admin/tokens/{id}/regenerate`.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `invalid_expiry`.
    pub fn read(body: &[u8], max_days: u32) -> Result<Self, ApiError> {
        Ok(Self {
            expires_in_days: Fields::parse(body)?.days("expires_in_days", max_days)?,
        })
    }
}

impl ScopesBody {
    /// Reads `POST /tokens/{id}/scopes`.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `invalid_scope`.
    pub fn read(body: &[u8]) -> Result<Self, ApiError> {
        Ok(Self {
            scopes: Fields::parse(body)?.strings("scopes", "invalid_scope")?,
        })
    }
}

impl LoginBody {
    /// Reads `POST /session`.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `invalid_credentials`.
    pub fn read(body: &[u8]) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        Ok(Self {
            email: fields.string("email", "invalid_credentials")?,
            password: fields.string("password", "invalid_credentials")?,
        })
    }
}

impl ChangePasswordBody {
    /// Reads `PUT /me/password`.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `invalid_password` for a missing current password,
    /// `weak_password` for a missing new one.
    pub fn read(body: &[u8]) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        Ok(Self {
            current_password: fields.string("current_password", "invalid_password")?,
            new_password: fields.string("new_password", "weak_password")?,
        })
    }
}

impl SetPasswordBody {
    /// Reads `POST /admin/users/{id}/password`.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `weak_password`.
    pub fn read(body: &[u8]) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        Ok(Self {
            password: fields.string("password", "weak_password")?,
        })
    }
}

impl NewUserBody {
    /// Reads `POST /admin/users`.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `invalid_user`.
    pub fn read(body: &[u8]) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        Ok(Self {
            email: fields.string("email", "invalid_user")?,
            name: fields.string("name", "invalid_user")?,
            role: fields.string("role", "invalid_user")?,
            password: fields.string("password", "invalid_user")?,
        })
    }

    /// The new user, and the password to hash for them.
    ///
    /// # Errors
    /// 422 `invalid_user` for an unknown role.
    pub fn try_into_domain(self) -> Result<(NewUser, String), ApiError> {
        let new = NewUser {
            email: self.email,
            name: self.name,
            role: role_of(&self.role)?,
        };
        Ok((new, self.password))
    }
}

impl UpdateUserBody {
    /// Reads `PATCH /admin/users/{id}`.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `invalid_user`.
    pub fn read(body: &[u8]) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        Ok(Self {
            role: fields.optional_string("role", "invalid_user")?,
            active: fields.optional_bool("active", "invalid_user")?,
        })
    }

    /// The role and active changes (`None` keeps a value).
    ///
    /// # Errors
    /// 422 `invalid_user` for an unknown role.
    pub fn try_into_domain(self) -> Result<(Option<Role>, Option<bool>), ApiError> {
        let role = self.role.as_deref().map(role_of).transpose()?;
        Ok((role, self.active))
    }
}

impl SettingsView {
    /// Reads `PUT /admin/settings`: every field is required but the two added with
    /// rotation grace periods, which keep their `current` value when absent (clients
    /// written before them go on working).
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `invalid_settings`.
    pub fn read(body: &[u8], current: Settings) -> Result<Self, ApiError> {
        let fields = Fields::parse(body)?;
        Ok(Self {
            pats_enabled: fields.boolean("pats_enabled", "invalid_settings")?,
            max_lifetime_days: fields.number("max_lifetime_days", "invalid_settings")?,
            max_active_per_user: fields.number("max_active_per_user", "invalid_settings")?,
            expiry_warning_days: fields.number("expiry_warning_days", "invalid_settings")?,
            max_grace_minutes: fields
                .optional_number("max_grace_minutes", "invalid_settings")?
                .unwrap_or(current.max_grace_minutes),
            revoke_on_reuse: fields
                .optional_bool("revoke_on_reuse", "invalid_settings")?
                .unwrap_or(current.revoke_on_reuse),
        })
    }
}

impl LeakReportBody {
    /// Reads `POST /credentials/revoke`.
    ///
    /// # Errors
    /// 400 `invalid_json`; 422 `invalid_request`.
    pub fn read(body: &[u8]) -> Result<Self, ApiError> {
        Ok(Self {
            credentials: Fields::parse(body)?.strings("credentials", "invalid_request")?,
        })
    }
}

/// A role by name.
fn role_of(raw: &str) -> Result<Role, ApiError> {
    Role::from_str(raw).map_err(|e| ApiError::unprocessable("invalid_user", e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_body_names_the_field_it_refuses() {
        let refused = |json: &str| CreateTokenBody::read(json.as_bytes(), 90).unwrap_err();
        let err = refused(r#"{"name":"ci","expires_in_days":1.5,"scopes":["jobs:list"]}"#);
        assert_eq!(
            (err.code(), err.detail()),
            (
                "invalid_expiry",
                "expires_in_days must be a whole number between 1 and 90, got 1.5"
            )
        );
        let err = refused(r#"{"name":"ci","expires_in_days":"abc","scopes":["jobs:list"]}"#);
        assert_eq!(err.code(), "invalid_expiry");
        assert!(err.detail().ends_with(r#"got "abc""#), "{}", err.detail());
        let err = refused(r#"{"expires_in_days":30,"scopes":["jobs:list"]}"#);
        assert_eq!(
            (err.code(), err.detail()),
            ("invalid_name", "name is required and must be a string")
        );
        assert_eq!(refused("[1]").code(), "invalid_json");
        let request = CreateTokenBody::read(
            br#"{"name":"ci","expires_in_days":30.0,"scopes":["jobs:list"]}"#,
            90,
        )
        .expect("a whole 30.0")
        .into_domain();
        assert_eq!(
            (request.description.as_str(), request.expires_in_days),
            ("", 30)
        );
    }

    #[test]
    fn a_user_body_refuses_an_unknown_role_after_reading() {
        let body = NewUserBody::read(
            br#"{"email":"a@example.com","name":"A","role":"owner","password":"p"}"#,
        )
        .expect("every field is a string");
        assert_eq!(body.try_into_domain().unwrap_err().code(), "invalid_user");
        let (role, active) = UpdateUserBody::read(br#"{"role":"member"}"#)
            .and_then(UpdateUserBody::try_into_domain)
            .expect("a known role");
        assert_eq!((role, active), (Some(Role::Member), None));
        assert_eq!(
            UpdateUserBody::read(br#"{"active":"yes"}"#)
                .unwrap_err()
                .code(),
            "invalid_user"
        );
    }
}
