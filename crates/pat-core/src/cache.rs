//! An optional in-process cache of credential lookups, so a hot token is checked without
//! a store round trip.
//!
//! Correctness rests on two rules:
//! - **Every change this process makes invalidates the whole cache at once** (the
//!   service bumps the epoch before it audits any lifecycle, user or settings change), so
//!   within one process a revocation is refused on the very next request.
//! - **Entries live at most `ttl`**, which bounds how long a change made by *another*
//!   process (a second instance, the CLI) can go unseen. Keep it short, or leave the
//!   cache off when several processes share a database and that window matters.
//!
//! Unknown hashes are cached too (a flood of unknown tokens then costs no store reads):
//! a new token's hash cannot be among them, since a hash is only known once its secret
//! is issued.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, Duration, Utc};

use crate::ports::CredentialRecord;
use crate::token::SecretHash;

/// One cached lookup result.
#[derive(Debug, Clone)]
struct Entry {
    record: Option<Arc<CredentialRecord>>,
    epoch: u64,
    fetched_at: DateTime<Utc>,
}

/// The cache: lookup results by secret hash, valid for the current epoch and `ttl`.
#[derive(Debug)]
pub struct CredentialCache {
    ttl: Duration,
    max_entries: usize,
    epoch: AtomicU64,
    entries: RwLock<HashMap<SecretHash, Entry>>,
}

/// A cache answer: hit (with the record, or `None` for a known-unknown hash) or miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// The store's answer, still valid.
    Hit(Option<Arc<CredentialRecord>>),
    /// Ask the store; put the answer back with [`CredentialCache::put`] and this epoch.
    Miss {
        /// The epoch before the store is asked: an answer fetched across an
        /// invalidation is not kept.
        epoch: u64,
    },
}

impl CredentialCache {
    /// A cache keeping entries at most `ttl` and at most `max_entries` of them (it is
    /// emptied when full: simple, and the hot set refills in one pass).
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries: max_entries.max(1),
            epoch: AtomicU64::new(0),
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// The entry for `hash` if it is from the current epoch and younger than `ttl`.
    pub fn get(&self, hash: &SecretHash, now: DateTime<Utc>) -> Cached {
        let epoch = self.epoch.load(Ordering::Acquire);
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        match entries.get(hash) {
            Some(entry) if entry.epoch == epoch && now - entry.fetched_at < self.ttl => {
                Cached::Hit(entry.record.clone())
            }
            _ => Cached::Miss { epoch },
        }
    }

    /// Keeps the store's answer for `hash`, unless the cache was invalidated since
    /// `epoch` (then the answer may predate the change and is dropped).
    pub fn put(
        &self,
        hash: SecretHash,
        record: Option<Arc<CredentialRecord>>,
        epoch: u64,
        now: DateTime<Utc>,
    ) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if entries.len() >= self.max_entries {
            entries.clear();
        }
        entries.insert(
            hash,
            Entry {
                record,
                epoch,
                fetched_at: now,
            },
        );
    }

    /// Notes a use the store just recorded, so the cached token does not ask for the
    /// same last-used write again.
    pub fn note_use(&self, hash: &SecretHash, at: DateTime<Utc>, ip: Option<IpAddr>) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(Entry {
            record: Some(record),
            ..
        }) = entries.get_mut(hash)
        {
            let record = Arc::make_mut(record);
            record.token.last_used_at = Some(at);
            record.token.last_used_ip = ip;
        }
    }

    /// Drops every entry: called for every change this process makes.
    pub fn invalidate(&self) {
        // Bump under the write lock so no `put` from before the bump can land after it.
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    /// Entries held (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(byte: u8) -> SecretHash {
        SecretHash::from_bytes([byte; 32])
    }

    #[test]
    fn a_put_answer_is_a_hit_until_the_ttl_passes() {
        let cache = CredentialCache::new(Duration::seconds(1), 10);
        let now = Utc::now();
        let Cached::Miss { epoch } = cache.get(&hash(1), now) else {
            panic!("empty cache hit");
        };
        cache.put(hash(1), None, epoch, now);
        assert_eq!(cache.get(&hash(1), now), Cached::Hit(None));
        assert!(matches!(
            cache.get(&hash(1), now + Duration::seconds(1)),
            Cached::Miss { .. }
        ));
    }

    #[test]
    fn invalidation_drops_entries_and_answers_fetched_before_it() {
        let cache = CredentialCache::new(Duration::hours(1), 10);
        let now = Utc::now();
        cache.put(hash(1), None, 0, now);
        let Cached::Miss { epoch } = cache.get(&hash(2), now) else {
            panic!("hit on an unknown hash");
        };
        cache.invalidate();
        assert!(matches!(cache.get(&hash(1), now), Cached::Miss { .. }));
        cache.put(hash(2), None, epoch, now);
        assert!(
            matches!(cache.get(&hash(2), now), Cached::Miss { .. }),
            "an answer fetched before the invalidation is not kept"
        );
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let cache = CredentialCache::new(Duration::hours(1), 2);
        let now = Utc::now();
        for byte in 0..5 {
            cache.put(hash(byte), None, 0, now);
        }
        assert!(cache.len() <= 2);
    }
}
