//! A leak report is one store lookup, whatever it carries.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, TimeZone, Utc};
use pat_core::model::{
    Actor, Page, ReminderKind, RevocationReason, Role, ScopeId, Token, TokenId, TokenQuery,
    TokenStatus, UserId,
};
use pat_core::policy::{Description, TokenName};
use pat_core::ports::RecordingNotifier;
use pat_core::ports::{Journal, ManualClock, Regeneration, Storage, StoreError, TokenStore};
use pat_core::scope::Scope;
use pat_core::token::SecretHash;
use pat_core::{CreateTokenRequest, NewUser, PatService, ServerKey};
use pat_store_memory::MemoryStore;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// The memory store, counting the lookups by secret hash that reach it.
struct CountingTokens {
    inner: Arc<MemoryStore>,
    single: AtomicUsize,
    batched: AtomicUsize,
}

#[async_trait]
impl TokenStore for CountingTokens {
    async fn insert(
        &self,
        token: &Token,
        active_limit: u32,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<(), StoreError> {
        self.inner.insert(token, active_limit, now, journal).await
    }
    async fn get(&self, id: TokenId) -> Result<Option<Token>, StoreError> {
        self.inner.get(id).await
    }
    async fn find_by_hash(&self, hash: &SecretHash) -> Result<Option<Token>, StoreError> {
        self.single.fetch_add(1, Ordering::SeqCst);
        self.inner.find_by_hash(hash).await
    }
    async fn find_by_hashes(&self, hashes: &[SecretHash]) -> Result<Vec<Token>, StoreError> {
        self.batched.fetch_add(1, Ordering::SeqCst);
        self.inner.find_by_hashes(hashes).await
    }
    async fn list(&self, query: &TokenQuery) -> Result<Page<Token>, StoreError> {
        self.inner.list(query).await
    }
    async fn count_active(&self, owner: UserId, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.count_active(owner, now).await
    }
    async fn update_details(
        &self,
        id: TokenId,
        name: &TokenName,
        description: &Description,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        self.inner
            .update_details(id, name, description, now, journal)
            .await
    }
    async fn revoke(
        &self,
        id: TokenId,
        reason: RevocationReason,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        self.inner.revoke(id, reason, now, journal).await
    }
    async fn regenerate(
        &self,
        regeneration: &Regeneration,
        active_limit: u32,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        self.inner
            .regenerate(regeneration, active_limit, now, journal)
            .await
    }
    async fn record_reuse(
        &self,
        id: TokenId,
        revoke: bool,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        self.inner.record_reuse(id, revoke, now, journal).await
    }
    async fn add_scopes(
        &self,
        id: TokenId,
        scopes: &[Scope],
        max_scopes: usize,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        self.inner
            .add_scopes(id, scopes, max_scopes, now, journal)
            .await
    }
    async fn remove_scope(
        &self,
        id: TokenId,
        scope: ScopeId,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        self.inner.remove_scope(id, scope, now, journal).await
    }
    async fn clear_scopes(
        &self,
        id: TokenId,
        now: DateTime<Utc>,
        journal: &Journal,
    ) -> Result<Token, StoreError> {
        self.inner.clear_scopes(id, now, journal).await
    }
    async fn delete(&self, id: TokenId, journal: &Journal) -> Result<(), StoreError> {
        self.inner.delete(id, journal).await
    }
    async fn record_use(
        &self,
        id: TokenId,
        at: DateTime<Utc>,
        ip: Option<IpAddr>,
        not_since: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.record_use(id, at, ip, not_since).await
    }
    async fn due_reminders(
        &self,
        now: DateTime<Utc>,
        warning: Duration,
        limit: u32,
    ) -> Result<Vec<Token>, StoreError> {
        self.inner.due_reminders(now, warning, limit).await
    }
    async fn mark_reminded(
        &self,
        id: TokenId,
        kind: ReminderKind,
        generation: u32,
    ) -> Result<bool, StoreError> {
        self.inner.mark_reminded(id, kind, generation).await
    }
}

fn run<F: std::future::Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

#[test]
fn a_leak_report_of_a_thousand_strings_is_one_store_lookup() {
    let store = Arc::new(MemoryStore::new());
    let tokens = Arc::new(CountingTokens {
        inner: store.clone(),
        single: AtomicUsize::new(0),
        batched: AtomicUsize::new(0),
    });
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap(),
    ));
    let service = PatService::builder()
        .storage(Storage::from_store(store))
        .tokens(tokens.clone())
        .notifier(Arc::new(RecordingNotifier::default()))
        .clock(clock)
        .rng(StdRng::seed_from_u64(11))
        .server_key(ServerKey::new(vec![7; 32]).unwrap())
        .previous_keys(vec![ServerKey::new(vec![8; 32]).unwrap()])
        .build()
        .unwrap();
    let owner = run(service.create_user(
        None,
        NewUser {
            email: "owner@example.com".into(),
            name: "Owner".into(),
            role: Role::Member,
        },
        None,
    ))
    .unwrap();
    let owner = Actor::session(owner, None);
    let issue = |name: &str| {
        run(service.create_token(
            &owner,
            CreateTokenRequest {
                name: name.into(),
                description: String::new(),
                expires_in_days: 30,
                scopes: vec!["jobs:list".into()],
            },
        ))
        .unwrap()
    };
    let leaked = [issue("one"), issue("two")];
    let kept = issue("kept");
    let mut report: Vec<String> = (0..998_u32)
        .map(|n| {
            let mut body = [0_u8; 32];
            body[..4].copy_from_slice(&n.to_be_bytes());
            service.codec().encode(&body).expose().to_owned()
        })
        .collect();
    report.extend(leaked.iter().map(|t| t.secret.expose().to_owned()));

    assert_eq!(run(service.report_leaks(&report, None)).unwrap(), 2);
    assert_eq!(
        tokens.batched.load(Ordering::SeqCst),
        1,
        "one batched lookup for 1000 credentials under two keys"
    );
    assert_eq!(
        tokens.single.load(Ordering::SeqCst),
        0,
        "no lookup per credential"
    );
    for issued in &leaked {
        let token = run(service.get_token(&owner, issued.token.id)).unwrap();
        assert_eq!(token.revoked_reason, Some(RevocationReason::LeakReport));
    }
    let untouched = run(service.get_token(&owner, kept.token.id)).unwrap();
    assert_eq!(untouched.status(service.now()), TokenStatus::Active);
}
