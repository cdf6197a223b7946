//! # pat-store-memory
//!
//! Every pat-core storage port in memory, behind one lock: for tests, prototypes and
//! embedding where persistence is not needed. (The notifier test double lives beside
//! its trait: `pat_core::ports::RecordingNotifier`, which this crate turns on.)
//!
//! The active-limit check and the insert happen under one write lock, so concurrent
//! creates for one user never exceed the limit.

mod directory;
mod outbox;
mod sessions;
mod token_store;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use pat_core::model::{
    Attempt, AuditEvent, AuditQuery, DeliveryStatus, MessageId, OutboxMessage, Page, PageRequest,
    ReminderKind, ReminderState, RevocationReason, Role, ScopeId, StatusFilter, Token, TokenId,
    TokenQuery, TokenStatus, User, UserId,
};
use pat_core::policy::{Description, Settings, TokenName};
use pat_core::ports::{
    AuditLog, CredentialLookup, CredentialRecord, Journal, Outbox, Regeneration, SettingsStore,
    StoreError, TokenStore, UserCredentials, UserDirectory,
};
use pat_core::ports::{PasswordLink, RetiredSecret, SecretHistory, SessionRecord};
use pat_core::scope::Scope;
use pat_core::session::SecretDigest;
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
    sessions: HashMap<SecretDigest, SessionRecord>,
    password_links: HashMap<SecretDigest, PasswordLink>,
    attempts: HashMap<String, (DateTime<Utc>, u32)>,
    retired: HashMap<[u8; 32], RetiredSecret>,
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
        self.retired.retain(|_, r| r.token != id);
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

    /// Marks every unused set-password link of `user` used at `at`.
    fn spend_links_of(&mut self, user: UserId, at: DateTime<Utc>) {
        for link in self.password_links.values_mut() {
            if link.user == user && link.used_at.is_none() {
                link.used_at = Some(at);
            }
        }
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
            retired: None,
        }))
    }
}

#[async_trait]
impl SecretHistory for MemoryStore {
    async fn find_retired(&self, hash: &SecretHash) -> Result<Option<RetiredSecret>, StoreError> {
        Ok(self.read().retired.get(hash.as_bytes()).cloned())
    }

    async fn forget_retired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.write();
        let before = state.retired.len();
        state.retired.retain(|_, r| r.keep_until >= now);
        Ok((before - state.retired.len()) as u64)
    }
}
