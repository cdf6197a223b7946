//! What sign-in, sessions and password changes refuse with.

use super::*;
use crate::limits::RetryAfter;
use crate::policy::PasswordError;
use crate::ports::HashError;

/// Why a sign-in was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// Unknown email, wrong password, no password set, or an inactive user: one answer
    /// for all, so it does not tell which accounts exist.
    #[error("the email or password is wrong")]
    InvalidCredentials,
    /// Too many sign-in attempts from this address (counted across instances).
    #[error("too many sign-in attempts from this address; {0}")]
    RateLimited(RetryAfter),
    /// The password work could not be done (busy, or failed).
    #[error(transparent)]
    Hashing(#[from] HashError),
    /// No session secret could be drawn.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

/// Why a password could not be changed or set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordChangeError {
    /// The caller may not (not an admin; a token where a session is required).
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The current password given is wrong.
    #[error("the current password is wrong")]
    InvalidPassword,
    /// Too many password changes attempted for this user.
    #[error("too many password change attempts; {0}")]
    RateLimited(RetryAfter),
    /// The new password breaks a rule.
    #[error(transparent)]
    Weak(#[from] PasswordError),
    /// No such user.
    #[error("no such user")]
    NotFound,
    /// The set-password link is unknown (mistyped or truncated).
    #[error("this set-password link is unknown; ask an administrator for a new one")]
    UnknownLink,
    /// The set-password link was used before or expired.
    #[error(
        "this set-password link was already used or has expired; ask an administrator for a new one"
    )]
    SpentLink,
    /// The password work could not be done (busy, or failed).
    #[error(transparent)]
    Hashing(#[from] HashError),
    /// No link secret could be drawn.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The store failed.
    #[error(transparent)]
    Storage(StoreError),
}

impl From<StoreError> for PasswordChangeError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => PasswordChangeError::NotFound,
            other => PasswordChangeError::Storage(other),
        }
    }
}

/// Why a limit counted in the store refused (sign-ins, leak reports).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Over the limit.
    #[error(transparent)]
    RateLimited(#[from] RetryAfter),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StoreError),
}

impl From<LimitError> for SignInError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::RateLimited(retry) => SignInError::RateLimited(retry),
            LimitError::Storage(store) => SignInError::Storage(store),
        }
    }
}

impl From<LimitError> for PasswordChangeError {
    fn from(err: LimitError) -> Self {
        match err {
            LimitError::RateLimited(retry) => PasswordChangeError::RateLimited(retry),
            LimitError::Storage(store) => store.into(),
        }
    }
}

impl From<SignInError> for PasswordChangeError {
    fn from(err: SignInError) -> Self {
        match err {
            SignInError::InvalidCredentials => PasswordChangeError::InvalidPassword,
            SignInError::RateLimited(retry) => PasswordChangeError::RateLimited(retry),
            SignInError::Hashing(hashing) => hashing.into(),
            SignInError::Randomness(random) => random.into(),
            SignInError::Storage(store) => store.into(),
        }
    }
}
