//! The authentication hot path's economies, and that they never weaken a rule: the
//! verification cache (hits skip the store; every change made through the service is
//! seen on the next request; another process's change as soon as the watcher reports
//! it; nothing served while the watcher does not vouch) and the coalescing of identical
//! failure audits.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use pat_core::cache::{CacheLimits, Freshness, VerificationCache};
use pat_core::model::{Actor, AuditAction, AuditQuery, AuthFailure, PageRequest, Role};
use pat_core::ports::RecordingNotifier;
use pat_core::ports::{CredentialLookup, CredentialRecord, ManualClock, Storage, StoreError};
use pat_core::token::SecretHash;
use pat_core::{AuthError, CreateTokenRequest, IssuedToken, NewUser, PatService, ServerKey};
use pat_store_memory::MemoryStore;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn run<F: Future>(future: F) -> F::Output {
    pollster::block_on(future)
}

const IP: Option<IpAddr> = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
static NAMES: AtomicUsize = AtomicUsize::new(0);

/// Counts the store lookups that reach the store.
struct CountingLookup {
    inner: Arc<dyn CredentialLookup>,
    calls: AtomicUsize,
}

#[async_trait]
impl CredentialLookup for CountingLookup {
    async fn lookup(&self, hash: &SecretHash) -> Result<Option<CredentialRecord>, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.lookup(hash).await
    }
}

/// One store, and two services on it: `cached` (this process, with the cache) and
/// `other` (another process: another instance or the CLI).
struct Two {
    cached: PatService,
    other: PatService,
    lookups: Arc<CountingLookup>,
    cache: Arc<VerificationCache>,
    clock: Arc<ManualClock>,
    admin: Actor,
}

fn service(
    store: &Arc<MemoryStore>,
    clock: &Arc<ManualClock>,
    cache: Option<Arc<VerificationCache>>,
) -> (PatService, Arc<CountingLookup>) {
    let storage = Storage::from_store(store.clone());
    let lookups = Arc::new(CountingLookup {
        inner: storage.credentials.clone(),
        calls: AtomicUsize::new(0),
    });
    let mut builder = PatService::builder()
        .storage(storage)
        .credentials(lookups.clone())
        .notifier(Arc::new(RecordingNotifier::default()))
        .clock(clock.clone())
        .rng(StdRng::seed_from_u64(if cache.is_some() { 1 } else { 2 }))
        .server_key(ServerKey::new(vec![42; 32]).unwrap());
    if let Some(cache) = cache {
        builder = builder.verification_cache(cache);
    }
    (builder.build().unwrap(), lookups)
}

impl Two {
    fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap(),
        ));
        // Watched, as a store other processes write: the test plays the watcher.
        let cache = Arc::new(VerificationCache::new(
            CacheLimits::default(),
            Freshness::Watched,
        ));
        cache.confirm_fresh(std::time::Duration::from_secs(3600));
        let (cached, lookups) = service(&store, &clock, Some(cache.clone()));
        let (other, _) = service(&store, &clock, None);
        let admin = run(cached.create_user(
            None,
            NewUser {
                email: "admin@example.com".into(),
                name: "Admin".into(),
                role: Role::Admin,
            },
            None,
        ))
        .unwrap();
        Self {
            cached,
            other,
            lookups,
            cache,
            clock,
            admin: Actor::session(admin, IP),
        }
    }

    fn member(&self, email: &str) -> Actor {
        let user = run(self.cached.create_user(
            Some(&self.admin),
            NewUser {
                email: email.into(),
                name: email.into(),
                role: Role::Member,
            },
            None,
        ))
        .unwrap();
        Actor::session(user, IP)
    }

    fn issue(&self, actor: &Actor, scopes: &[&str]) -> IssuedToken {
        run(self.cached.create_token(
            actor,
            CreateTokenRequest {
                name: format!("hot {}", NAMES.fetch_add(1, Ordering::SeqCst)),
                description: String::new(),
                expires_in_days: 30,
                scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            },
        ))
        .unwrap()
    }

    fn auth(&self, issued: &IssuedToken) -> Result<pat_core::model::Principal, AuthError> {
        run(self.cached.authenticate(issued.secret.expose(), IP))
    }

    fn store_lookups(&self) -> usize {
        self.lookups.calls.load(Ordering::SeqCst)
    }
}

#[test]
fn repeated_authentications_are_answered_from_the_cache() {
    let two = Two::new();
    let member = two.member("m@example.com");
    let issued = two.issue(&member, &["jobs:list"]);
    two.auth(&issued).unwrap();
    let after_first = two.store_lookups();
    for _ in 0..10 {
        two.auth(&issued).unwrap();
    }
    assert_eq!(
        two.store_lookups(),
        after_first,
        "hits do not reach the store"
    );
    let unknown = two.cached.codec().encode(&[9; 32]);
    for _ in 0..3 {
        assert_eq!(
            run(two.cached.authenticate(unknown.expose(), IP)).unwrap_err(),
            AuthError::Unknown
        );
    }
    assert_eq!(
        two.store_lookups(),
        after_first + 1,
        "unknown hashes are cached too"
    );
}

#[test]
fn every_change_made_here_is_refused_or_seen_on_the_next_request() {
    let two = Two::new();
    let member = two.member("m@example.com");

    let revoked = two.issue(&member, &["jobs:list"]);
    two.auth(&revoked).unwrap();
    run(two.cached.revoke_token(&member, revoked.token.id)).unwrap();
    assert_eq!(two.auth(&revoked).unwrap_err(), AuthError::Revoked);

    let rotated = two.issue(&member, &["jobs:list"]);
    two.auth(&rotated).unwrap();
    let fresh = run(two
        .cached
        .regenerate_token(&member, rotated.token.id, 10, None))
    .unwrap();
    two.auth(&fresh).unwrap();
    // No grace period: the old secret is a leak at once, and its use revokes the token.
    assert_eq!(two.auth(&rotated).unwrap_err(), AuthError::RetiredSecret);
    assert_eq!(two.auth(&fresh).unwrap_err(), AuthError::Revoked);

    let scoped = two.issue(&member, &["jobs:list", "jobs:read"]);
    let principal = two.auth(&scoped).unwrap();
    run(two
        .cached
        .remove_scope(&member, scoped.token.id, principal.scopes[1].id))
    .unwrap();
    assert!(!two.auth(&scoped).unwrap().allows("jobs", "read", None));

    let mut settings = run(two.cached.current_settings()).unwrap();
    settings.pats_enabled = false;
    run(two.cached.update_settings(&two.admin, settings)).unwrap();
    assert_eq!(two.auth(&scoped).unwrap_err(), AuthError::PatsDisabled);
    settings.pats_enabled = true;
    run(two.cached.update_settings(&two.admin, settings)).unwrap();
    two.auth(&scoped).unwrap();

    run(two
        .cached
        .update_user(Some(&two.admin), member.user.id, None, Some(false)))
    .unwrap();
    assert_eq!(two.auth(&scoped).unwrap_err(), AuthError::UserInactive);
}

#[test]
fn another_process_s_change_is_seen_once_the_watcher_reports_it() {
    let two = Two::new();
    let member = two.member("m@example.com");
    let issued = two.issue(&member, &["jobs:list"]);
    two.auth(&issued).unwrap();
    run(two.other.revoke_token(&member, issued.token.id)).unwrap();
    // The store adapter's watcher sees the other process's commit and reports it.
    two.cache.changed();
    assert_eq!(two.auth(&issued).unwrap_err(), AuthError::Revoked);
}

#[test]
fn nothing_is_served_from_the_cache_while_the_watcher_does_not_vouch() {
    let two = Two::new();
    let member = two.member("m@example.com");
    let issued = two.issue(&member, &["jobs:list"]);
    two.auth(&issued).unwrap();
    two.cache.suspend();
    let before = two.store_lookups();
    run(two.other.revoke_token(&member, issued.token.id)).unwrap();
    assert_eq!(
        two.auth(&issued).unwrap_err(),
        AuthError::Revoked,
        "a suspended cache reads the store"
    );
    two.auth(&issued).unwrap_err();
    assert_eq!(two.store_lookups(), before + 2, "and keeps nothing");
}

#[test]
fn last_use_is_written_once_per_interval_even_from_the_cache() {
    let two = Two::new();
    let member = two.member("m@example.com");
    let issued = two.issue(&member, &["jobs:list"]);
    let at = pat_core::ports::Clock::now(two.clock.as_ref());
    two.auth(&issued).unwrap();
    two.clock.advance(Duration::seconds(30));
    two.auth(&issued).unwrap();
    assert_eq!(
        run(two.cached.get_token(&member, issued.token.id))
            .unwrap()
            .last_used_at,
        Some(at),
        "the service shows its noted use before it is written"
    );
    assert_eq!(
        run(two.other.get_token(&member, issued.token.id))
            .unwrap()
            .last_used_at,
        None,
        "written behind: not in the store before the flush"
    );
    assert_eq!(run(two.cached.flush_last_uses()).unwrap(), 1, "one write");
    let token = run(two.other.get_token(&member, issued.token.id)).unwrap();
    assert_eq!(
        token.last_used_at,
        Some(at),
        "the second use is within the interval"
    );
    assert_eq!(token.last_used_ip, IP);
}

#[test]
fn identical_failures_are_audited_once_per_window_with_a_count() {
    let two = Two::new();
    let unknown = two.cached.codec().encode(&[7; 32]);
    for _ in 0..5 {
        run(two.cached.authenticate(unknown.expose(), IP)).unwrap_err();
    }
    run(two.cached.authenticate("pat_malformed", IP)).unwrap_err();
    let failures = || -> Vec<(AuthFailure, String)> {
        run(two.cached.audit_log(
            &two.admin,
            AuditQuery {
                token_id: None,
                owner: None,
                action: Some("auth.failed".into()),
                page: PageRequest::new(1, 100).unwrap(),
            },
        ))
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| match e.action {
            AuditAction::AuthFailed(reason) => Some((reason, e.detail)),
            _ => None,
        })
        .collect()
    };
    let mut seen = failures();
    seen.sort_by_key(|(reason, _)| reason.as_str());
    assert_eq!(
        seen,
        vec![
            (AuthFailure::Malformed, "malformed".to_owned()),
            (AuthFailure::Unknown, "unknown".to_owned()),
        ],
        "five identical failures, one event; another reason is its own event"
    );
    two.clock.advance(Duration::seconds(61));
    run(two.cached.authenticate(unknown.expose(), IP)).unwrap_err();
    let latest = failures().into_iter().next().unwrap();
    assert_eq!(latest.0, AuthFailure::Unknown);
    assert!(
        latest.1.starts_with("unknown (and 4 identical failures"),
        "the suppressed ones are counted: {}",
        latest.1
    );
}

/// Settings that commit the write, then never answer: a caller that stops waiting
/// (a client that disconnects drops its handler's future) after the change committed.
struct CommitsThenStalls {
    inner: Arc<dyn pat_core::ports::SettingsStore>,
}

#[async_trait]
impl pat_core::ports::SettingsStore for CommitsThenStalls {
    async fn get(&self) -> Result<pat_core::policy::Settings, StoreError> {
        self.inner.get().await
    }

    async fn put(
        &self,
        settings: &pat_core::policy::Settings,
        journal: &pat_core::ports::Journal,
    ) -> Result<(), StoreError> {
        self.inner.put(settings, journal).await?;
        std::future::pending().await
    }
}

#[test]
fn a_change_whose_caller_went_away_after_it_committed_still_empties_the_cache() {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap(),
    ));
    let storage = Storage::from_store(store.clone());
    let settings = Arc::new(CommitsThenStalls {
        inner: storage.settings.clone(),
    });
    let service = PatService::builder()
        .storage(storage)
        .settings(settings)
        .notifier(Arc::new(RecordingNotifier::default()))
        .clock(clock)
        .rng(StdRng::seed_from_u64(3))
        .server_key(ServerKey::new(vec![42; 32]).unwrap())
        .verification_cache(Arc::new(VerificationCache::new(
            CacheLimits::default(),
            Freshness::Local,
        )))
        .build()
        .unwrap();
    let admin = admin_of(&service);
    let issued = issue_to(&service, &admin, "cached");
    run(service.authenticate(issued.secret.expose(), IP)).unwrap();

    let mut off = run(service.current_settings()).unwrap();
    off.pats_enabled = false;
    let mut change = Box::pin(service.update_settings(&admin, off));
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(
        change.as_mut().poll(&mut context).is_pending(),
        "the write committed and its answer never comes"
    );
    drop(change);

    assert_eq!(
        run(service.authenticate(issued.secret.expose(), IP)).unwrap_err(),
        AuthError::PatsDisabled,
        "the cached answer from before the change was dropped"
    );
}

/// The first admin of `service`, signed in.
fn admin_of(service: &PatService) -> Actor {
    let admin = run(service.create_user(
        None,
        NewUser {
            email: "admin@example.com".into(),
            name: "Admin".into(),
            role: Role::Admin,
        },
        None,
    ))
    .unwrap();
    Actor::session(admin, IP)
}

/// A 30-day `jobs:list` token of `actor`'s named `name`.
fn issue_to(service: &PatService, actor: &Actor, name: &str) -> IssuedToken {
    run(service.create_token(
        actor,
        CreateTokenRequest {
            name: name.into(),
            description: String::new(),
            expires_in_days: 30,
            scopes: vec!["jobs:list".into()],
        },
    ))
    .unwrap()
}

/// Records what the service tells its observer.
#[derive(Default)]
struct Observed {
    outcomes: std::sync::Mutex<Vec<pat_core::ports::AuthOutcome>>,
    refused: std::sync::Mutex<Vec<IpAddr>>,
}

impl pat_core::ports::AuthObserver for Observed {
    fn outcome(&self, outcome: pat_core::ports::AuthOutcome) {
        self.outcomes.lock().unwrap().push(outcome);
    }

    fn address_refused(&self, ip: IpAddr) {
        self.refused.lock().unwrap().push(ip);
    }
}

#[test]
fn the_failed_authentication_limit_and_the_outcomes_are_the_services_own() {
    use pat_core::ports::AuthOutcome;
    let observed = Arc::new(Observed::default());
    let service = PatService::builder()
        .storage(Storage::from_store(Arc::new(MemoryStore::new())))
        .notifier(Arc::new(RecordingNotifier::default()))
        .rng(StdRng::seed_from_u64(4))
        .server_key(ServerKey::new(vec![42; 32]).unwrap())
        .failed_auths_per_minute(2)
        .auth_observer(observed.clone())
        .build()
        .unwrap();
    let issued = issue_to(&service, &admin_of(&service), "good");
    let unknown = service.codec().encode(&[9; 32]);
    for _ in 0..2 {
        assert_eq!(
            run(service.authenticate(unknown.expose(), IP)).unwrap_err(),
            AuthError::Unknown
        );
    }
    assert!(
        matches!(
            run(service.authenticate(issued.secret.expose(), IP)),
            Err(AuthError::RateLimited(retry)) if (59..=60).contains(&retry.seconds)
        ),
        "the address used up its failures: even a good token is refused unchecked"
    );
    let elsewhere = Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
    run(service.authenticate(issued.secret.expose(), elsewhere)).expect("another address");
    let failed = AuthOutcome::Failed(AuthFailure::Unknown);
    assert_eq!(
        *observed.outcomes.lock().unwrap(),
        [
            failed,
            failed,
            AuthOutcome::RateLimited,
            AuthOutcome::Success
        ]
    );
    assert_eq!(*observed.refused.lock().unwrap(), [IP.unwrap()]);
}
