//! The session cookie's names and random values for cookies. Sessions themselves live
//! in pat-core and the store ([`pat_core::PatService::session`]): any instance serves
//! any session, and a restart signs nobody out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;

use crate::problem::ApiError;

/// The session cookie's name over plain HTTP.
pub const SESSION_COOKIE: &str = "patd_session";
/// The session cookie's name with secure cookies (HTTPS): the `__Host-` prefix makes
/// browsers refuse it unless it is `Secure`, `Path=/` and without `Domain`.
pub const SECURE_SESSION_COOKIE: &str = "__Host-patd_session";

/// 32 random bytes from the OS, URL-safe base64: the sign-in form's CSRF token.
///
/// # Errors
/// `internal` if the OS random number generator fails.
pub fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0_u8; 32];
    rand::rngs::SysRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| ApiError::internal(&std::io::Error::other(e.to_string())))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}
