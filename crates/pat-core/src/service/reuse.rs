//! Reuse detection: a secret a regeneration retired, presented after its grace period,
//! has leaked. The token is revoked (or, in the admin's report-only mode, kept), the
//! owner is mailed once per generation, and the audit log records where it came from.

use super::authenticate::FailedToken;
use super::*;

/// Longest user agent kept in the audit detail.
const MAX_USER_AGENT_CHARS: usize = 200;

impl PatService {
    /// Acts on a retired secret presented after its grace period (`token.record.retired`
    /// is set). Revocation is written every time (until it holds); the report-only
    /// record at most once per [`FAILURE_AUDIT_WINDOW`] per token — judged by the
    /// token's stored `reuse_detected_at`, so neither new addresses nor other instances
    /// let a client replaying the old secret turn each request into a write.
    pub(super) async fn reuse_detected(
        &self,
        token: &FailedToken,
        ip: Option<IpAddr>,
        user_agent: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = &token.record;
        let Some(retired) = &record.retired else {
            return Ok(());
        };
        let revoke = self.settings.get().await?.revoke_on_reuse;
        let reported_lately = record
            .token
            .reuse_detected_at
            .is_some_and(|at| now - at < FAILURE_AUDIT_WINDOW);
        if !revoke && reported_lately {
            return Ok(());
        }
        let agent: String = user_agent
            .unwrap_or("none")
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_USER_AGENT_CHARS)
            .collect();
        let detail = format!(
            "secret of generation {} presented {} min after its grace period ended; user_agent={agent:?}; {}",
            retired.generation,
            (now - retired.grace_until).num_minutes(),
            if revoke {
                "token revoked"
            } else {
                "report only: token kept"
            },
        );
        let event = self.event(
            now,
            AuditAction::TokenReuseDetected,
            None,
            Some(record.token.owner),
            Some(record.token.id),
            ip,
            detail,
        );
        let mut journal = Journal::of(event);
        if let Some(owner) = &record.owner {
            let kind = if revoke {
                NoticeKind::ReuseRevoked
            } else {
                NoticeKind::ReuseReported
            };
            let message = self
                .message(notice(kind, owner, &record.token), now)
                .map_err(|err| StoreError::Other(err.0))?;
            journal = journal.with_notice(message);
        }
        match self
            .changing(
                self.tokens
                    .record_reuse(record.token.id, revoke, now, &journal),
            )
            .await
        {
            // Deleted meanwhile: nothing left to revoke, and the 401 stands.
            Ok(_) | Err(StoreError::NotFound) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
