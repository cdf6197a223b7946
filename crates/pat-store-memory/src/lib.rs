//! # pat-store-memory
//!
//! Every pat-core storage port in memory, behind one lock: for tests, prototypes and
//! embedding where persistence is not needed. Also a [`RecordingNotifier`] that keeps
//! the notices it is given, for tests.
//!
//! The active-limit check and the insert happen under one write lock, so concurrent
//! creates for one user never exceed the limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use pat_core::model::{
    Attempt, AuditEvent, AuditQuery, DeliveryStatus, MessageId, Notice, OutboxMessage, Page,
    PageRequest, ReminderKind, ReminderState, RevocationReason, Role, ScopeId, StatusFilter, Token,
    TokenId, TokenQuery, TokenStatus, User, UserId,
};
use pat_core::policy::{Description, Settings, TokenName};
use pat_core::ports::{
    AuditLog, CredentialLookup, CredentialRecord, Journal, Notifier, NotifyError, Outbox,
    Regeneration, SettingsStore, StoreError, TokenStore, UserCredentials, UserDirectory,
};
use pat_core::scope::Scope;
use pat_core::token::SecretHash;

#[derive(Default)]
struct State {
    tokens: HashMap<TokenId, Token>,
    by_hash: HashMap<[u8; 32], TokenId>,
    by_owner: HashMap<UserId, Vec<TokenId>>,
    users: HashMap<UserId, UserCredentials>,
    settings: Option<Settings>,
    audit: Vec<AuditEvent>,
    outbox: Vec<OutboxMessage>,
}

impl State {
    fn owned_by(&self, owner: UserId) -> impl Iterator<Item = &Token> {
        self.by_owner
            .get(&owner)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tokens.get(id))
    }

    fn active_count(&self, owner: UserId, now: DateTime<Utc>, except: Option<TokenId>) -> usize {
        self.owned_by(owner)
            .filter(|t| Some(t.id) != except && t.status(now) == TokenStatus::Active)
            .count()
    }

    fn name_taken(&self, owner: UserId, name: &TokenName, except: Option<TokenId>) -> bool {
        let folded = name.folded();
        self.owned_by(owner)
            .any(|t| Some(t.id) != except && t.name.folded() == folded)
    }

    fn remove(&mut self, id: TokenId) -> Option<Token> {
        let token = self.tokens.remove(&id)?;
        self.by_hash.remove(token.secret_hash.as_bytes());
        if let Some(ids) = self.by_owner.get_mut(&token.owner) {
            ids.retain(|other| *other != id);
        }
        Some(token)
    }

    fn token_mut(&mut self, id: TokenId) -> Result<&mut Token, StoreError> {
        self.tokens.get_mut(&id).ok_or(StoreError::NotFound)
    }

    /// Queues `message` unless its dedupe key is known; returns whether it did.
    fn enqueue(&mut self, message: &OutboxMessage) -> bool {
        if self
            .outbox
            .iter()
            .any(|m| m.dedupe_key == message.dedupe_key)
        {
            return false;
        }
        self.outbox.push(message.clone());
        true
    }

    /// Writes a change's journal; called under the same write lock as the change.
    fn write_journal(&mut self, journal: &Journal) {
        self.audit.extend(journal.events.iter().cloned());
        for message in &journal.notices {
            self.enqueue(message);
        }
    }
}

/// All storage ports in memory. Cheap to create; clone the `Arc` to share.
#[derive(Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

impl MemoryStore {
    /// An empty store with default settings.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock leaves consistent data: every write is one step.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

fn page_of<T: Clone>(items: Vec<&T>, request: PageRequest) -> Page<T> {
    let total = items.len() as u64;
    let start = usize::try_from(request.offset()).unwrap_or(usize::MAX);
    let chosen = items
        .into_iter()
        .skip(start)
        .take(request.size() as usize)
        .cloned()
        .collect();
    Page::new(chosen, request, total)
}

#[async_trait]
impl CredentialLookup for MemoryStore {
    async fn lookup(&self, hash: &SecretHash) -> Result<Option<CredentialRecord>, StoreError> {
        let state = self.read();
        let Some(token) = state
            .by_hash
            .get(hash.as_bytes())
            .and_then(|id| state.tokens.get(id))
        else {
            return Ok(None);
        };
        Ok(Some(CredentialRecord {
            token: token.clone(),
            owner: state.users.get(&token.owner).map(|c| c.user.clone()),
            pats_enabled: state.settings.unwrap_or_default().pats_enabled,
        }))
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn insert(
        &self,
        token: &Token,
        active_limit: u32,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<(), StoreError> {
        let mut state = self.write();
        if state.name_taken(token.owner, &token.name, None) {
            return Err(StoreError::DuplicateName);
        }
        if state.active_count(token.owner, now, None) >= active_limit as usize {
            return Err(StoreError::ActiveLimit {
                limit: active_limit,
            });
        }
        if state.tokens.contains_key(&token.id)
            || state.by_hash.contains_key(token.secret_hash.as_bytes())
        {
            return Err(StoreError::Other(
                "token id or secret hash already stored".to_owned(),
            ));
        }
        state
            .by_hash
            .insert(*token.secret_hash.as_bytes(), token.id);
        state
            .by_owner
            .entry(token.owner)
            .or_default()
            .push(token.id);
        state.tokens.insert(token.id, token.clone());
        state.write_journal(journal);
        Ok(())
    }

    async fn get(&self, id: TokenId) -> Result<Option<Token>, StoreError> {
        Ok(self.read().tokens.get(&id).cloned())
    }

    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<Token>, StoreError> {
        let state = self.read();
        Ok(state
            .by_hash
            .get(hash.as_bytes())
            .and_then(|id| state.tokens.get(id))
            .cloned())
    }

    async fn find_by_hashes(&self, hashes: &[SecretHash]) -> Result<Vec<Token>, StoreError> {
        let state = self.read();
        let mut ids: Vec<TokenId> = hashes
            .iter()
            .filter_map(|hash| state.by_hash.get(hash.as_bytes()).copied())
            .collect();
        ids.sort_by_key(|id| id.0);
        ids.dedup();
        Ok(ids
            .iter()
            .filter_map(|id| state.tokens.get(id).cloned())
            .collect())
    }

    async fn list(&self, query: &TokenQuery) -> Result<Page<Token>, StoreError> {
        let state = self.read();
        let needle = query.name_contains.as_ref().map(|q| q.to_lowercase());
        let mut matching: Vec<&Token> = state
            .owned_by(query.owner)
            .filter(|t| match query.status {
                StatusFilter::All => true,
                StatusFilter::Only(status) => t.status(query.now) == status,
            })
            .filter(|t| {
                needle
                    .as_ref()
                    .is_none_or(|n| t.name.folded().contains(n.as_str()))
            })
            .collect();
        matching.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(page_of(matching, query.page))
    }

    async fn count_active(&self, owner: UserId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(self.read().active_count(owner, now, None) as u64)
    }

    async fn update_details(
        &self,
        id: TokenId,
        name: &TokenName,
        description: &Description,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let owner = state.token_mut(id)?.owner;
        if state.name_taken(owner, name, Some(id)) {
            return Err(StoreError::DuplicateName);
        }
        let token = state.token_mut(id)?;
        token.name = name.clone();
        token.description = description.clone();
        token.updated_at = now;
        let token = token.clone();
        state.write_journal(journal);
        Ok(token)
    }

    async fn revoke(
        &self,
        id: TokenId,
        reason: RevocationReason,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let token = state.token_mut(id)?;
        if token.revoked_at.is_some() {
            return Ok(token.clone());
        }
        token.revoked_at = Some(now);
        token.revoked_reason = Some(reason);
        token.updated_at = now;
        let token = token.clone();
        state.write_journal(journal);
        Ok(token)
    }

    async fn regenerate(
        &self,
        regeneration: &Regeneration,
        active_limit: u32,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let owner = state.token_mut(regeneration.id)?.owner;
        if state.active_count(owner, now, Some(regeneration.id)) >= active_limit as usize {
            return Err(StoreError::ActiveLimit {
                limit: active_limit,
            });
        }
        let token = state.token_mut(regeneration.id)?;
        let old_hash = *token.secret_hash.as_bytes();
        token.secret_hash = regeneration.secret_hash;
        token.hint = regeneration.hint.clone();
        token.expires_at = regeneration.expires_at;
        token.revoked_at = None;
        token.revoked_reason = None;
        token.generation += 1;
        token.reminders = ReminderState::default();
        token.updated_at = now;
        let token = token.clone();
        state.by_hash.remove(&old_hash);
        state
            .by_hash
            .insert(*token.secret_hash.as_bytes(), token.id);
        state.write_journal(journal);
        Ok(token)
    }

    async fn add_scopes(
        &self,
        id: TokenId,
        scopes: &[Scope],
        max_scopes: usize,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let token = state.token_mut(id)?;
        let new: Vec<&Scope> = scopes
            .iter()
            .filter(|s| !token.scopes.iter().any(|held| held.spec == s.spec))
            .collect();
        if token.scopes.len() + new.len() > max_scopes {
            return Err(StoreError::ScopeLimit { limit: max_scopes });
        }
        token.scopes = token.scopes.iter().chain(new).cloned().collect();
        token.updated_at = now;
        let token = token.clone();
        state.write_journal(journal);
        Ok(token)
    }

    async fn remove_scope(
        &self,
        id: TokenId,
        scope: ScopeId,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let token = state.token_mut(id)?;
        if !token.scopes.iter().any(|s| s.id == scope) {
            return Err(StoreError::NotFound);
        }
        token.scopes = token
            .scopes
            .iter()
            .filter(|s| s.id != scope)
            .cloned()
            .collect();
        token.updated_at = now;
        let token = token.clone();
        state.write_journal(journal);
        Ok(token)
    }

    async fn clear_scopes(
        &self,
        id: TokenId,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        let mut state = self.write();
        let token = state.token_mut(id)?;
        token.scopes = Arc::from([]);
        token.updated_at = now;
        let token = token.clone();
        state.write_journal(journal);
        Ok(token)
    }

    async fn delete(&self, id: TokenId, journal: &Journal) -> Result<(), StoreError> {
        let mut state = self.write();
        state.remove(id).ok_or(StoreError::NotFound)?;
        state.write_journal(journal);
        Ok(())
    }

    async fn record_use(
        &self,
        id: TokenId,
        at: DateTime<Utc>,
        ip: Option<IpAddr>,
        not_since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut state = self.write();
        let Some(token) = state.tokens.get_mut(&id) else {
            return Ok(false);
        };
        if token.last_used_at.is_some_and(|last| last >= not_since) {
            return Ok(false);
        }
        token.last_used_at = Some(at);
        token.last_used_ip = ip;
        Ok(true)
    }

    async fn due_reminders(
        &self,
        now: DateTime<Utc>,
        warning: Duration,
        limit: u32,
    ) -> Result<Vec<Token>, StoreError> {
        let state = self.read();
        let mut due: Vec<Token> = state
            .tokens
            .values()
            .filter(|token| {
                let generation = Some(token.generation);
                let owed = if token.expires_at <= now {
                    token.reminders.expired_sent_for != generation
                } else {
                    token.reminders.expiring_soon_sent_for != generation
                };
                token.revoked_at.is_none() && token.expires_at <= now + warning && owed
            })
            .cloned()
            .collect();
        due.sort_by(|a, b| a.expires_at.cmp(&b.expires_at).then(a.id.cmp(&b.id)));
        due.truncate(limit as usize);
        Ok(due)
    }

    async fn mark_reminded(
        &self,
        id: TokenId,
        kind: ReminderKind,
        generation: u32,
    ) -> Result<bool, StoreError> {
        let mut state = self.write();
        let Some(token) = state.tokens.get_mut(&id) else {
            return Ok(false);
        };
        if token.generation != generation {
            return Ok(false);
        }
        let slot = match kind {
            ReminderKind::ExpiringSoon => &mut token.reminders.expiring_soon_sent_for,
            ReminderKind::Expired => &mut token.reminders.expired_sent_for,
        };
        *slot = Some(generation);
        Ok(true)
    }
}

#[async_trait]
impl UserDirectory for MemoryStore {
    async fn insert(
        &self,
        user: &User,
        password_hash: Option<&str>,
        journal: &Journal,
    ) -> Result<(), StoreError> {
        let mut state = self.write();
        let email = user.email.to_lowercase();
        if state
            .users
            .values()
            .any(|u| u.user.email.to_lowercase() == email)
        {
            return Err(StoreError::DuplicateEmail);
        }
        state.users.insert(
            user.id,
            UserCredentials {
                user: user.clone(),
                password_hash: password_hash.map(str::to_owned),
            },
        );
        state.write_journal(journal);
        Ok(())
    }

    async fn get(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.read().users.get(&id).map(|c| c.user.clone()))
    }

    async fn find_by_email(&self, email: &str) -> Result<Option<UserCredentials>, StoreError> {
        let email = email.trim().to_lowercase();
        Ok(self
            .read()
            .users
            .values()
            .find(|c| c.user.email.to_lowercase() == email)
            .cloned())
    }

    async fn update(
        &self,
        id: UserId,
        role: Option<Role>,
        active: Option<bool>,
        journal: &Journal,
    ) -> Result<User, StoreError> {
        let mut state = self.write();
        let entry = state.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        if let Some(role) = role {
            entry.user.role = role;
        }
        if let Some(active) = active {
            entry.user.active = active;
        }
        let user = entry.user.clone();
        state.write_journal(journal);
        Ok(user)
    }

    async fn set_password_hash(&self, id: UserId, password_hash: &str) -> Result<(), StoreError> {
        let mut state = self.write();
        let entry = state.users.get_mut(&id).ok_or(StoreError::NotFound)?;
        entry.password_hash = Some(password_hash.to_owned());
        Ok(())
    }

    async fn list(&self, page: PageRequest) -> Result<Page<User>, StoreError> {
        let state = self.read();
        let mut users: Vec<&User> = state.users.values().map(|c| &c.user).collect();
        users.sort_by_key(|u| u.email.to_lowercase());
        Ok(page_of(users, page))
    }

    async fn count_active_admins(&self) -> Result<u64, StoreError> {
        Ok(self
            .read()
            .users
            .values()
            .filter(|c| c.user.active && c.user.role == Role::Admin)
            .count() as u64)
    }
}

#[async_trait]
impl SettingsStore for MemoryStore {
    async fn get(&self) -> Result<Settings, StoreError> {
        Ok(self.read().settings.unwrap_or_default())
    }

    async fn put(&self, settings: &Settings, journal: &Journal) -> Result<(), StoreError> {
        let mut state = self.write();
        state.settings = Some(*settings);
        state.write_journal(journal);
        Ok(())
    }
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(&self, event: &AuditEvent) -> Result<(), StoreError> {
        self.write().audit.push(event.clone());
        Ok(())
    }

    async fn list(&self, query: &AuditQuery) -> Result<Page<AuditEvent>, StoreError> {
        let state = self.read();
        let mut matching: Vec<&AuditEvent> = state
            .audit
            .iter()
            .filter(|e| query.token_id.is_none_or(|id| e.token_id == Some(id)))
            .filter(|e| query.owner.is_none_or(|owner| e.owner == Some(owner)))
            .filter(|e| {
                query
                    .action
                    .as_deref()
                    .is_none_or(|a| e.action.as_str() == a)
            })
            .collect();
        matching.sort_by(|a, b| b.at.cmp(&a.at).then(b.id.cmp(&a.id)));
        Ok(page_of(matching, query.page))
    }
}

#[async_trait]
impl Outbox for MemoryStore {
    async fn enqueue(&self, message: &OutboxMessage) -> Result<bool, StoreError> {
        Ok(self.write().enqueue(message))
    }

    async fn claim_due(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let mut state = self.write();
        let mut due: Vec<&mut OutboxMessage> = state
            .outbox
            .iter_mut()
            .filter(|m| m.status == DeliveryStatus::Pending && m.next_attempt_at <= now)
            .collect();
        due.sort_by(|a, b| {
            a.next_attempt_at
                .cmp(&b.next_attempt_at)
                .then(a.id.cmp(&b.id))
        });
        Ok(due
            .into_iter()
            .take(limit as usize)
            .map(|m| {
                m.next_attempt_at = lease_until;
                m.clone()
            })
            .collect())
    }

    async fn record(&self, id: MessageId, attempt: &Attempt) -> Result<(), StoreError> {
        let mut state = self.write();
        let message = state
            .outbox
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or(StoreError::NotFound)?;
        message.attempts += 1;
        match attempt {
            Attempt::Sent { at } => {
                message.status = DeliveryStatus::Sent;
                message.sent_at = Some(*at);
            }
            Attempt::Retry {
                next_attempt_at,
                error,
            } => {
                message.next_attempt_at = *next_attempt_at;
                message.last_error = Some(error.clone());
            }
            Attempt::Failed { error } => {
                message.status = DeliveryStatus::Failed;
                message.last_error = Some(error.clone());
            }
        }
        Ok(())
    }

    async fn list(
        &self,
        status: Option<DeliveryStatus>,
        page: PageRequest,
    ) -> Result<Page<OutboxMessage>, StoreError> {
        let state = self.read();
        let mut matching: Vec<&OutboxMessage> = state
            .outbox
            .iter()
            .filter(|m| status.is_none_or(|s| m.status == s))
            .collect();
        matching.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(page_of(matching, page))
    }
}

/// A notifier that keeps every notice, and can be told to fail: a test double.
#[derive(Default)]
pub struct RecordingNotifier {
    sent: Mutex<Vec<Notice>>,
    failing: Mutex<Option<NotifyError>>,
}

impl RecordingNotifier {
    /// The notices delivered so far.
    pub fn sent(&self) -> Vec<Notice> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// From now on, fail every delivery with `error` (`None` to deliver again).
    pub fn fail_with(&self, error: Option<NotifyError>) {
        *self.failing.lock().unwrap_or_else(PoisonError::into_inner) = error;
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    async fn notify(&self, notice: &Notice) -> Result<(), NotifyError> {
        if let Some(error) = self
            .failing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Err(error);
        }
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(notice.clone());
        Ok(())
    }
}
