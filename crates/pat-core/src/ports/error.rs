//! What a store could not do, and why: `StoreError` with the driver's error kept.

use crate::model::RevocationReason;

/// What a store could not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The owner already has a token with this name (ignoring case).
    #[error("a token with this name already exists for this user; choose another name")]
    DuplicateName,
    /// A user with this email (ignoring case) exists.
    #[error("a user with this email already exists")]
    DuplicateEmail,
    /// The row does not exist.
    #[error("not found")]
    NotFound,
    /// The owner already has `limit` active tokens.
    #[error("the user already has {limit} active tokens, the most allowed")]
    ActiveLimit {
        /// The limit in force.
        limit: u32,
    },
    /// The token would hold more than `limit` scopes.
    #[error("a token holds at most {limit} scopes, and this would make {would_hold}")]
    ScopeLimit {
        /// The limit in force.
        limit: usize,
        /// How many scopes the token would hold after the change.
        would_hold: usize,
    },
    /// The token was revoked for a reason its owner may not undo by regenerating it.
    #[error("the token was revoked ({0}) and cannot be regenerated")]
    NotRevivable(RevocationReason),
    /// The backing store cannot be reached; retrying later may work.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] Cause),
    /// Anything else the adapter could not translate (a bug or corrupt data).
    #[error("storage error: {0}")]
    Other(#[source] Cause),
}

/// Why a store failed, as the driver said it: kept whole (`source()` reaches the
/// driver's own error) for the log; compared by its text.
#[derive(Clone)]
pub struct Cause(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl Cause {
    /// A driver's (or pool's, or task's) error.
    pub fn new(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(err))
    }

    /// A boxed error, as migration harnesses give them.
    pub fn boxed(err: Box<dyn std::error::Error + Send + Sync>) -> Self {
        Self(std::sync::Arc::from(err))
    }

    /// A failure the adapter found itself (corrupt data, a broken invariant).
    pub fn found(what: impl Into<String>) -> Self {
        Self::new(Found(what.into()))
    }
}

/// A failure an adapter found itself, as text.
#[derive(Debug)]
struct Found(String);

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Found {}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cause({:?})", self.0.to_string())
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for Cause {}

#[cfg(test)]
mod cause_tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_store_failure_keeps_the_drivers_error_as_its_source() {
        let driver = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = StoreError::Unavailable(Cause::new(driver));
        assert_eq!(err.to_string(), "storage unavailable: refused");
        let cause = err.source().expect("the cause");
        let inner = cause.source().expect("the driver's error");
        let io = inner
            .downcast_ref::<std::io::Error>()
            .expect("the very io::Error");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            StoreError::Other(Cause::found("x")),
            StoreError::Other(Cause::found("x"))
        );
    }
}
