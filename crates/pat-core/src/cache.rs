//! The verification cache: the store's answers for presented secrets, kept in this
//! process so a hot token is checked without a store round trip — and exact.
//!
//! Exactness rests on three rules:
//! - **Every change this process makes empties the cache at once** (the service's
//!   `changing` guard), so this process refuses a revoked token on the very next request.
//! - **Changes made elsewhere** (another instance, the CLI) reach the cache through a
//!   change watcher that the store adapter runs: it calls [`VerificationCache::changed`]
//!   for every change it sees, and [`VerificationCache::confirm_fresh`] each time it has
//!   proved its channel alive, with a deadline. Past that deadline — a watcher that lost
//!   its connection, stalled or died — the cache is bypassed: every check reads the
//!   store until the watcher confirms again. Never stale, only slower.
//! - **An answer read across a change is not kept**: an epoch, bumped by every change,
//!   is taken before the store is asked, and the answer is dropped if it moved.
//!
//! Expiry needs no message: each entry is the token with its `expires_at`, and every
//! rule is checked again on each hit. Answers that accept a token and answers that refuse
//! one (unknown, revoked, expired) are kept apart, each bounded on its own, so a storm of
//! bad tokens cannot evict the working set of good ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::ports::CredentialRecord;
use crate::token::SecretHash;

/// How large the cache may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Most tokens kept that authenticate.
    pub max_entries: usize,
    /// Most bytes (estimated) those entries take.
    pub max_bytes: u64,
    /// Most refusals kept (unknown, revoked, expired secrets), apart from the above.
    pub max_refusals: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            max_bytes: 64 * 1024 * 1024,
            max_refusals: 100_000,
        }
    }
}

/// Who may change what the cache holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Only this process writes the store (e.g. the in-memory store): its own changes
    /// empty the cache, so it is always fresh.
    Local,
    /// Other processes write the store too: entries serve only while a change watcher
    /// keeps confirming ([`VerificationCache::confirm_fresh`]); until the first
    /// confirmation every check reads the store.
    Watched,
}

/// A cache answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// The store's answer, still exact: the record, or `None` for an unknown hash.
    Hit(Option<Arc<CredentialRecord>>),
    /// Ask the store; give the answer to [`VerificationCache::put`] with this epoch.
    Miss {
        /// The epoch before the store is asked.
        epoch: u64,
    },
    /// The cache cannot vouch for anything now (its watcher is not confirmed): ask the
    /// store and keep nothing.
    Bypass,
}

/// Counters, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answers served from the cache.
    pub hits: u64,
    /// Lookups the store answered, then kept.
    pub misses: u64,
    /// Lookups the store answered while the cache was bypassed.
    pub bypasses: u64,
    /// Times the cache was emptied for a change.
    pub invalidations: u64,
    /// Tokens kept that authenticate.
    pub entries: u64,
    /// Their estimated bytes.
    pub bytes: u64,
    /// Refusals kept.
    pub refusals: u64,
}

/// Weighs an accepted entry by its estimated size, and at least the share of the byte
/// limit one entry may take, so both limits hold.
#[derive(Debug, Clone)]
struct RecordWeighter {
    floor: u64,
}

impl quick_cache::Weighter<SecretHash, Arc<CredentialRecord>> for RecordWeighter {
    fn weight(&self, _hash: &SecretHash, record: &Arc<CredentialRecord>) -> u64 {
        estimated_bytes(record).max(self.floor)
    }
}

/// Roughly what one record takes in memory.
fn estimated_bytes(record: &CredentialRecord) -> u64 {
    let token = &record.token;
    let scopes: usize = token
        .scopes
        .iter()
        .map(|scope| 96 + scope.spec.to_string().len())
        .sum();
    let owner = record
        .owner
        .as_ref()
        .map_or(0, |user| user.email.len() + user.name.len());
    let text = token.name.as_str().len() + token.description.as_str().len() + token.hint.len();
    (std::mem::size_of::<CredentialRecord>() + 64 + scopes + owner + text) as u64
}

/// The verification cache. See the module documentation for why it is exact.
pub struct VerificationCache {
    accepted: quick_cache::sync::Cache<SecretHash, Arc<CredentialRecord>, RecordWeighter>,
    refused: quick_cache::sync::Cache<SecretHash, Option<Arc<CredentialRecord>>>,
    /// Bumped by every change; held for writing while it moves, so no answer read
    /// before a change lands after it.
    epoch: RwLock<u64>,
    freshness: Freshness,
    origin: Instant,
    /// Nanoseconds after `origin` until which a watched cache may serve; 0: not now.
    fresh_until: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
    invalidations: AtomicU64,
}

impl std::fmt::Debug for VerificationCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationCache")
            .field("freshness", &self.freshness)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl VerificationCache {
    /// An empty cache within `limits`.
    pub fn new(limits: CacheLimits, freshness: Freshness) -> Self {
        let max_entries = limits.max_entries.max(1);
        let floor = (limits.max_bytes / max_entries as u64).max(1);
        Self {
            accepted: quick_cache::sync::Cache::with_weighter(
                max_entries,
                limits.max_bytes.max(floor),
                RecordWeighter { floor },
            ),
            refused: quick_cache::sync::Cache::new(limits.max_refusals.max(1)),
            epoch: RwLock::new(0),
            freshness,
            origin: Instant::now(),
            fresh_until: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            bypasses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        }
    }

    /// The kept answer for `hash`, a miss, or a bypass when the cache cannot vouch.
    pub fn get(&self, hash: &SecretHash) -> Cached {
        if !self.is_fresh() {
            self.bypasses.fetch_add(1, Ordering::Relaxed);
            return Cached::Bypass;
        }
        if let Some(record) = self.accepted.get(hash) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Cached::Hit(Some(record));
        }
        if let Some(refusal) = self.refused.get(hash) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Cached::Hit(refusal);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // Taken on a miss only (a hit needs no lock), still before the store is asked.
        let epoch = *self.epoch.read().unwrap_or_else(PoisonError::into_inner);
        Cached::Miss { epoch }
    }

    /// Keeps the store's answer for `hash` — `accepts` says whether it authenticates
    /// now — unless a change came since `epoch` or the cache cannot vouch any more.
    pub fn put(
        &self,
        hash: SecretHash,
        record: Option<Arc<CredentialRecord>>,
        accepts: bool,
        epoch: u64,
    ) {
        let current = self.epoch.read().unwrap_or_else(PoisonError::into_inner);
        if *current != epoch || !self.is_fresh() {
            return;
        }
        match record {
            Some(record) if accepts => self.accepted.insert(hash, record),
            refusal => self.refused.insert(hash, refusal),
        }
    }

    /// Notes a use the store just recorded, so the kept token does not ask for the same
    /// last-used write again.
    pub fn note_use(
        &self,
        hash: &SecretHash,
        at: chrono::DateTime<chrono::Utc>,
        ip: Option<std::net::IpAddr>,
    ) {
        // Under the epoch lock: a record still present was read after the last change.
        let _epoch = self.epoch.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(record) = self.accepted.get(hash) {
            let mut used = CredentialRecord::clone(&record);
            used.token.last_used_at = Some(at);
            used.token.last_used_ip = ip;
            self.accepted.insert(*hash, Arc::new(used));
        }
    }

    /// A change was made (here or, as a watcher saw, elsewhere): drops every answer,
    /// and every answer being read.
    pub fn changed(&self) {
        let mut epoch = self.epoch.write().unwrap_or_else(PoisonError::into_inner);
        *epoch += 1;
        self.accepted.clear();
        self.refused.clear();
        self.invalidations.fetch_add(1, Ordering::Relaxed);
    }

    /// The watcher has seen every change committed before it started its latest check
    /// of the channel: entries may serve for `valid_for` from now. A watcher confirms
    /// well within that time while its channel is alive.
    pub fn confirm_fresh(&self, valid_for: Duration) {
        let until = self.origin.elapsed() + valid_for;
        let nanos = u64::try_from(until.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.fresh_until.store(nanos, Ordering::Release);
    }

    /// The watcher lost its channel: drops every answer and bypasses the cache until it
    /// confirms again.
    pub fn suspend(&self) {
        self.fresh_until.store(0, Ordering::Release);
        self.changed();
    }

    /// Whether the cache may answer now.
    pub fn is_fresh(&self) -> bool {
        match self.freshness {
            Freshness::Local => true,
            Freshness::Watched => {
                let until = self.fresh_until.load(Ordering::Acquire);
                until != 0 && self.origin.elapsed().as_nanos() < u128::from(until)
            }
        }
    }

    /// Counters and sizes, for metrics.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            bypasses: self.bypasses.load(Ordering::Relaxed),
            invalidations: self.invalidations.load(Ordering::Relaxed),
            entries: self.accepted.len() as u64,
            bytes: self.accepted.weight(),
            refusals: self.refused.len() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::model::{Role, Token, TokenId, User, UserId};
    use crate::policy::{Description, TokenName};

    fn record() -> CredentialRecord {
        let now = Utc::now();
        let owner = UserId(uuid::Uuid::from_u128(1));
        CredentialRecord {
            token: Token {
                id: TokenId(uuid::Uuid::from_u128(2)),
                owner,
                name: TokenName::new("ci").expect("a name"),
                description: Description::new("").expect("a description"),
                scopes: Arc::from(Vec::new()),
                created_at: now,
                updated_at: now,
                expires_at: now + chrono::Duration::days(30),
                revoked_at: None,
                revoked_reason: None,
                last_used_at: None,
                last_used_ip: None,
                generation: 1,
                secret_hash: SecretHash::from_bytes([0; 32]),
                hint: "abcd".to_owned(),
                reminders: Default::default(),
                previous_secret_valid_until: None,
                reuse_detected_at: None,
                allowed_ips: Default::default(),
                ip_policy: Default::default(),
                not_before: None,
            },
            owner: Some(User {
                id: owner,
                email: "a@example.com".to_owned(),
                name: "A".to_owned(),
                role: Role::Member,
                active: true,
            }),
            pats_enabled: true,
            retired: None,
        }
    }

    fn hash(byte: u8) -> SecretHash {
        SecretHash::from_bytes([byte; 32])
    }

    fn local() -> VerificationCache {
        VerificationCache::new(CacheLimits::default(), Freshness::Local)
    }

    fn miss_epoch(cache: &VerificationCache, h: &SecretHash) -> u64 {
        match cache.get(h) {
            Cached::Miss { epoch } => epoch,
            other => panic!("expected a miss, got {other:?}"),
        }
    }

    #[test]
    fn a_kept_answer_is_a_hit_until_a_change() {
        let cache = local();
        let epoch = miss_epoch(&cache, &hash(1));
        cache.put(hash(1), Some(Arc::new(record())), true, epoch);
        cache.put(hash(2), None, false, epoch);
        assert!(matches!(cache.get(&hash(1)), Cached::Hit(Some(_))));
        assert_eq!(cache.get(&hash(2)), Cached::Hit(None));
        cache.changed();
        assert!(matches!(cache.get(&hash(1)), Cached::Miss { .. }));
        assert!(matches!(cache.get(&hash(2)), Cached::Miss { .. }));
    }

    #[test]
    fn an_answer_read_across_a_change_is_not_kept() {
        let cache = local();
        let epoch = miss_epoch(&cache, &hash(1));
        cache.changed();
        cache.put(hash(1), Some(Arc::new(record())), true, epoch);
        assert!(matches!(cache.get(&hash(1)), Cached::Miss { .. }));
    }

    #[test]
    fn a_watched_cache_serves_only_while_confirmed() {
        let cache = VerificationCache::new(CacheLimits::default(), Freshness::Watched);
        assert_eq!(cache.get(&hash(1)), Cached::Bypass, "not confirmed yet");
        cache.put(hash(1), None, false, 0);
        cache.confirm_fresh(Duration::from_secs(60));
        let epoch = miss_epoch(&cache, &hash(1));
        cache.put(hash(1), None, false, epoch);
        assert_eq!(cache.get(&hash(1)), Cached::Hit(None));
        cache.suspend();
        assert_eq!(cache.get(&hash(1)), Cached::Bypass, "suspended");
        cache.confirm_fresh(Duration::from_secs(60));
        assert!(
            matches!(cache.get(&hash(1)), Cached::Miss { .. }),
            "a suspension drops what was kept"
        );
        cache.confirm_fresh(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            cache.get(&hash(1)),
            Cached::Bypass,
            "a confirmation runs out by itself"
        );
    }

    #[test]
    fn refusals_cannot_evict_accepted_tokens() {
        let limits = CacheLimits {
            max_entries: 100,
            max_bytes: 1024 * 1024,
            max_refusals: 50,
        };
        let cache = VerificationCache::new(limits, Freshness::Local);
        let good = Arc::new(record());
        for byte in 0..20 {
            cache.put(hash(byte), Some(good.clone()), true, 0);
        }
        for n in 0..10_000_u32 {
            let mut bytes = [0xEE; 32];
            bytes[..4].copy_from_slice(&n.to_le_bytes());
            cache.put(SecretHash::from_bytes(bytes), None, false, 0);
        }
        let stats = cache.stats();
        assert!(stats.refusals <= 60, "refusals stay bounded: {stats:?}");
        for byte in 0..20 {
            assert!(
                matches!(cache.get(&hash(byte)), Cached::Hit(Some(_))),
                "accepted token {byte} survived the storm"
            );
        }
    }

    #[test]
    fn accepted_entries_stay_within_the_entry_and_byte_limits() {
        let limits = CacheLimits {
            max_entries: 10,
            max_bytes: 1024 * 1024,
            max_refusals: 10,
        };
        let cache = VerificationCache::new(limits, Freshness::Local);
        let good = Arc::new(record());
        for byte in 0..200 {
            cache.put(hash(byte), Some(good.clone()), true, 0);
        }
        let stats = cache.stats();
        assert!(stats.entries <= 11, "{stats:?}");
        assert!(stats.bytes <= limits.max_bytes, "{stats:?}");
        let tight = CacheLimits {
            max_entries: 1000,
            max_bytes: 4 * estimated_bytes(&good),
            max_refusals: 10,
        };
        let cache = VerificationCache::new(tight, Freshness::Local);
        for byte in 0..200 {
            cache.put(hash(byte), Some(good.clone()), true, 0);
        }
        assert!(cache.stats().entries <= 5, "{:?}", cache.stats());
    }
}
