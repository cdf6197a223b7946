//! Last uses, written behind: a check only notes the use in memory; the host flushes
//! the notes to the store in one batch ([`PatService::flush_last_uses`], e.g. every
//! second and at shutdown). A use is still recorded at most once per
//! [`LAST_USED_WRITE_INTERVAL`] per token (the store re-checks it), and this service's
//! own answers show pending uses at once.

use super::*;

/// Most tokens with a use noted and not yet flushed; past it, uses of other tokens are
/// not noted until the next flush (memory stays bounded; their next use is noted).
pub(super) const MAX_PENDING_USES: usize = 100_000;

impl PatService {
    /// Notes a use of `token` to be written by the next flush.
    pub(super) fn note_use(&self, token: TokenId, at: DateTime<Utc>, ip: Option<IpAddr>) {
        let mut pending = self
            .pending_uses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if pending.len() >= MAX_PENDING_USES && !pending.contains_key(&token) {
            return;
        }
        pending.insert(
            token,
            LastUse {
                token,
                at,
                ip,
                not_since: at - LAST_USED_WRITE_INTERVAL,
            },
        );
    }

    /// Writes every noted use in one batch; returns how many the store wrote. Call it
    /// periodically and once more at shutdown. On a store failure the uses stay noted
    /// for the next flush.
    ///
    /// # Errors
    /// Storage errors only.
    pub async fn flush_last_uses(&self) -> Result<usize, StoreError> {
        let uses: Vec<LastUse> = {
            let mut pending = self
                .pending_uses
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut *pending).into_values().collect()
        };
        if uses.is_empty() {
            return Ok(0);
        }
        match self.tokens.record_uses(&uses).await {
            Ok(written) => Ok(written),
            Err(err) => {
                let mut pending = self
                    .pending_uses
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                for used in uses {
                    pending.entry(used.token).or_insert(used);
                }
                Err(err)
            }
        }
    }

    /// `token` as this service knows it: with its pending use, if newer than the
    /// stored one.
    pub(super) fn with_pending_use(&self, mut token: Token) -> Token {
        let pending = self
            .pending_uses
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(used) = pending.get(&token.id)
            && token.last_used_at.is_none_or(|at| at < used.at)
        {
            token.last_used_at = Some(used.at);
            token.last_used_ip = used.ip;
        }
        token
    }
}
