//! `SessionStore`, `PasswordLinkStore` and `AttemptCounter` in memory.

use pat_core::ports::{AttemptCounter, FoundSession, PasswordLinkStore, Redemption, SessionStore};

use super::*;

#[async_trait]
impl SessionStore for MemoryStore {
    async fn start_session(
        &self,
        session: &SessionRecord,
        max_per_user: u32,
        verified_hash: &str,
    ) -> Result<bool, StoreError> {
        let mut state = self.write();
        let still_valid = state
            .users
            .get(&session.user)
            .is_some_and(|c| c.user.active && c.password_hash.as_deref() == Some(verified_hash));
        if !still_valid {
            return Ok(false);
        }
        // The new session counts first; of the others, the newest `max - 1` stay.
        let mut others: Vec<(DateTime<Utc>, SecretDigest)> = state
            .sessions
            .values()
            .filter(|s| s.user == session.user && s.digest != session.digest)
            .map(|s| (s.created_at, s.digest))
            .collect();
        others.sort_by(|a, b| b.cmp(a));
        let room = usize::try_from(max_per_user)
            .unwrap_or(usize::MAX)
            .saturating_sub(1);
        for (_, digest) in others.into_iter().skip(room) {
            state.sessions.remove(&digest);
        }
        state.sessions.insert(session.digest, session.clone());
        Ok(true)
    }

    async fn find_session(
        &self,
        digest: &SecretDigest,
    ) -> Result<Option<FoundSession>, StoreError> {
        let state = self.read();
        Ok(state.sessions.get(digest).map(|session| FoundSession {
            session: session.clone(),
            user: state.users.get(&session.user).map(|c| c.user.clone()),
        }))
    }

    async fn touch_session(
        &self,
        digest: &SecretDigest,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.write();
        Ok(state
            .sessions
            .get_mut(digest)
            .map(|s| s.last_seen_at = at)
            .is_some())
    }

    async fn end_session(&self, digest: &SecretDigest) -> Result<bool, StoreError> {
        Ok(self.write().sessions.remove(digest).is_some())
    }

    async fn end_sessions_of(
        &self,
        user: UserId,
        keep: Option<&SecretDigest>,
    ) -> Result<u64, StoreError> {
        let mut state = self.write();
        let before = state.sessions.len();
        state
            .sessions
            .retain(|digest, s| s.user != user || Some(digest) == keep);
        Ok((before - state.sessions.len()) as u64)
    }

    async fn sweep_sessions(
        &self,
        started_before: DateTime<Utc>,
        seen_before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut guard = self.write();
        let state = &mut *guard;
        let before = state.sessions.len();
        let users = &state.users;
        state.sessions.retain(|_, s| {
            s.created_at >= started_before
                && s.last_seen_at >= seen_before
                && users.get(&s.user).is_some_and(|c| c.user.active)
        });
        Ok((before - state.sessions.len()) as u64)
    }

    async fn count_sessions(&self) -> Result<u64, StoreError> {
        Ok(self.read().sessions.len() as u64)
    }
}

#[async_trait]
impl PasswordLinkStore for MemoryStore {
    async fn insert_link(&self, link: &PasswordLink, journal: &Journal) -> Result<(), StoreError> {
        let mut state = self.write();
        if !state.users.contains_key(&link.user) {
            return Err(StoreError::NotFound);
        }
        state.spend_links_of(link.user, link.created_at);
        state.password_links.insert(link.digest, link.clone());
        state.write_journal(journal);
        Ok(())
    }

    async fn find_link(&self, digest: &SecretDigest) -> Result<Option<PasswordLink>, StoreError> {
        Ok(self.read().password_links.get(digest).cloned())
    }

    async fn redeem_link(
        &self,
        digest: &SecretDigest,
        password_hash: &str,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Redemption, StoreError> {
        let mut state = self.write();
        let Some(link) = state.password_links.get(digest) else {
            return Ok(Redemption::Unknown);
        };
        if link.used_at.is_some() || link.expires_at <= now {
            return Ok(Redemption::Spent);
        }
        let user = link.user;
        let Some(entry) = state.users.get_mut(&user) else {
            return Err(StoreError::NotFound);
        };
        entry.password_hash = Some(password_hash.to_owned());
        state.spend_links_of(user, now);
        state.sessions.retain(|_, s| s.user != user);
        state.write_journal(journal);
        Ok(Redemption::Done(user))
    }
}

#[async_trait]
impl AttemptCounter for MemoryStore {
    async fn count_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window_opened_after: DateTime<Utc>,
    ) -> Result<(DateTime<Utc>, u32), StoreError> {
        let mut state = self.write();
        let window = state.attempts.entry(key.to_owned()).or_insert((now, 0));
        if window.0 <= window_opened_after {
            *window = (now, 0);
        }
        window.1 = window.1.saturating_add(1);
        Ok(*window)
    }

    async fn forget_attempts(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.write();
        let count = state.attempts.len();
        state.attempts.retain(|_, (start, _)| *start >= before);
        Ok((count - state.attempts.len()) as u64)
    }
}
