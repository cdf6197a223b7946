//! Builders for test data: unique ids, hashes, tokens, scopes and users.
//!
//! Every time is a whole second after [`base_time`], so stores that keep microseconds
//! (or milliseconds) return exactly what they were given.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Duration, TimeZone, Utc};
use pat_core::model::{ReminderState, Role, ScopeId, Token, TokenId, User, UserId};
use pat_core::policy::{Description, TokenName};
use pat_core::ports::{Journal, Regeneration};
use pat_core::scope::{ResourceCatalog, Scope, ScopeSpec};
use pat_core::token::SecretHash;
use uuid::Uuid;

use crate::Stores;

/// The fixed instant every check measures from: 2026-01-01T00:00:00Z.
pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("2026-01-01T00:00:00Z is a valid, unambiguous UTC time")
}

/// [`base_time`] plus `offset`.
pub fn at(offset: Duration) -> DateTime<Utc> {
    base_time() + offset
}

/// A UUID unique across this process and, with high probability, across processes.
///
/// Ids made later in a process compare greater, as UUID v7 ids do, so "then by id"
/// orderings are predictable.
pub fn unique_uuid() -> Uuid {
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(1);
    let process = *PROCESS.get_or_init(|| {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // The low 64 bits of the start time in nanoseconds tell processes apart.
        (nanos as u64) ^ u64::from(std::process::id()).rotate_left(40)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Uuid::from_u128((u128::from(process) << 64) | u128::from(n))
}

/// A secret hash no other call returns.
pub fn secret_hash() -> SecretHash {
    let mut bytes = [0_u8; 32];
    bytes[..16].copy_from_slice(unique_uuid().as_bytes());
    bytes[16..].copy_from_slice(unique_uuid().as_bytes());
    SecretHash::from_bytes(bytes)
}

/// A 4-character secret hint that differs between nearby calls.
pub fn hint() -> String {
    format!("h{:03}", unique_uuid().as_u128() % 1000)
}

/// A scope with a fresh id, parsed from `spec` (e.g. `"jobs:list"`) with an open catalog.
///
/// # Panics
/// When `spec` is not a valid scope.
pub fn scope(spec: &str) -> Scope {
    Scope {
        id: ScopeId(unique_uuid()),
        spec: ScopeSpec::parse(spec, &ResourceCatalog::open()).expect("test scope spec must parse"),
    }
}

/// A token name.
///
/// # Panics
/// When `name` is not a valid [`TokenName`].
pub fn name(name: &str) -> TokenName {
    TokenName::new(name).expect("test token name must be valid")
}

/// A description.
///
/// # Panics
/// When `text` is longer than a description may be.
pub fn description(text: &str) -> Description {
    Description::new(text).expect("test description must be valid")
}

/// A new, unrevoked, never-used generation-1 token of `owner`, created at `now` and
/// expiring `expires_in` later, with one `jobs:list` scope and a unique secret hash.
///
/// # Panics
/// When `name` is not a valid [`TokenName`].
pub fn token(owner: UserId, name: &str, now: DateTime<Utc>, expires_in: Duration) -> Token {
    Token {
        id: TokenId(unique_uuid()),
        owner,
        name: self::name(name),
        description: Description::default(),
        scopes: vec![scope("jobs:list")].into(),
        created_at: now,
        updated_at: now,
        expires_at: now + expires_in,
        revoked_at: None,
        revoked_reason: None,
        last_used_at: None,
        last_used_ip: None,
        generation: 1,
        secret_hash: secret_hash(),
        hint: hint(),
        reminders: ReminderState::default(),
        previous_secret_valid_until: None,
        reuse_detected_at: None,
        allowed_ips: Default::default(),
        ip_policy: Default::default(),
        not_before: None,
    }
}

/// A new secret for token `id`, expiring `expires_in` after `now`.
pub fn regeneration(id: TokenId, now: DateTime<Utc>, expires_in: Duration) -> Regeneration {
    Regeneration {
        id,
        secret_hash: secret_hash(),
        hint: hint(),
        expires_at: now + expires_in,
        grace_until: now,
        keep_retired_until: now + expires_in,
        lifts: None,
    }
}

/// An active user with `role` and a unique email, not yet stored.
pub fn new_user(role: Role) -> User {
    let id = UserId(unique_uuid());
    User {
        id,
        email: format!("user-{}@example.test", id.0.simple()),
        name: format!("Test {role}"),
        role,
        active: true,
    }
}

/// Inserts an active user with `role`, a unique email and no password, and returns it.
///
/// Every token a check stores belongs to a user made here, since SQL stores may
/// enforce the owner as a foreign key.
///
/// # Panics
/// When the store refuses the user.
pub async fn user(stores: &Stores, role: Role) -> User {
    let user = new_user(role);
    stores
        .users
        .insert(&user, None, &Journal::default())
        .await
        .expect("UserDirectory::insert of a user with a fresh email must succeed");
    user
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_increasing() {
        let a = unique_uuid();
        let b = unique_uuid();
        assert!(a < b, "{a} < {b}");
        assert_ne!(secret_hash(), secret_hash());
        assert_eq!(hint().chars().count(), 4);
    }

    #[test]
    fn times_are_whole_seconds() {
        assert_eq!(base_time().timestamp_subsec_nanos(), 0);
        assert_eq!(base_time().to_rfc3339(), "2026-01-01T00:00:00+00:00");
    }
}
