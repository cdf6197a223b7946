//! The secrets tokens had before they were regenerated: kept as keyed hashes (never the
//! secret) so that one presented again is recognised — during a grace period as the
//! token, after it as a leaked secret.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::model::TokenId;
use crate::token::SecretHash;

/// A secret a regeneration retired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredSecret {
    /// The keyed hash the secret had.
    pub secret_hash: SecretHash,
    /// Whose secret it was.
    pub token: TokenId,
    /// The token's generation while the secret was current.
    pub generation: u32,
    /// When a regeneration retired it.
    pub retired_at: DateTime<Utc>,
    /// Until when it still authenticates as the token (at `retired_at`: not at all).
    pub grace_until: DateTime<Utc>,
    /// Until when it is remembered (as long as the token could have lived).
    pub keep_until: DateTime<Utc>,
}

/// The retired secrets. [`super::TokenStore::regenerate`] writes them, in the same
/// atomic step as the new secret.
#[async_trait]
pub trait SecretHistory: Send + Sync {
    /// The retired secret with this hash, if remembered.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`]; absence is `Ok(None)`.
    async fn find_retired(&self, hash: &SecretHash) -> Result<Option<RetiredSecret>, StoreError>;

    /// Forgets the retired secrets kept only until before `now`; returns how many.
    ///
    /// # Errors
    /// Only [`StoreError::Unavailable`] / [`StoreError::Other`].
    async fn forget_retired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
