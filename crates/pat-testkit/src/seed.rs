//! Large, realistic data sets for benchmarks and load tests: real tokens (hashed with
//! the caller's key), so any seeded secret can be recomputed and authenticated.

use chrono::{DateTime, Duration, Utc};
use pat_core::model::{ReminderState, Role, ScopeId, Token, TokenId, User, UserId};
use pat_core::policy::{Description, TokenName};
use pat_core::scope::{ResourceCatalog, Scope, ScopeSpec};
use pat_core::token::{BODY_BYTES, TokenCodec, TokenHasher, TokenSecret};
use uuid::Uuid;

/// Every tenth token (index % 10 == 9) is seeded revoked; the rest are active.
pub const REVOKED_EVERY: usize = 10;

/// How much to seed.
#[derive(Debug, Clone, Copy)]
pub struct SeedPlan {
    /// Users to create.
    pub users: usize,
    /// Tokens per user (keep ≤ the active limit plus revoked ones for realism).
    pub tokens_per_user: usize,
    /// Creation time; tokens expire 90 days later.
    pub now: DateTime<Utc>,
    /// Distinguishes data sets: the same seed gives the same ids and secrets.
    pub seed: u64,
}

/// Seeded users and tokens, ready for a store's bulk import.
#[derive(Debug, Clone)]
pub struct Seed {
    /// The users, members all.
    pub users: Vec<User>,
    /// The tokens, `tokens_per_user` per user, scopes `jobs:list` and `jobs:read`.
    pub tokens: Vec<Token>,
}

fn id(seed: u64, kind: u64, index: usize) -> Uuid {
    // Time-ordered like v7 (a fixed 2026 timestamp), unique per (seed, kind, index).
    let index = index as u128;
    Uuid::from_u128(
        (0x019b_7a00_0000_u128 << 80)
            | (u128::from(seed & 0xffff) << 64)
            | (u128::from(kind) << 56)
            | index,
    )
}

/// The secret of the token at `index` in a data set: recomputable at any time.
pub fn secret(codec: &TokenCodec, seed: u64, index: usize) -> TokenSecret {
    let mut body = [0_u8; BODY_BYTES];
    body[..8].copy_from_slice(&seed.to_be_bytes());
    body[8..16].copy_from_slice(&(index as u64).to_be_bytes());
    // Spread the bits so secrets do not share long runs of zeros.
    for (i, byte) in body.iter_mut().enumerate().skip(16) {
        *byte = (index as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(i as u32) as u8
            ^ i as u8;
    }
    codec.encode(&body)
}

/// Builds the data set.
pub fn generate(plan: SeedPlan, codec: &TokenCodec, hasher: &TokenHasher) -> Seed {
    let catalog = ResourceCatalog::open();
    let list = ScopeSpec::parse("jobs:list", &catalog).expect("a valid scope");
    let read = ScopeSpec::parse("jobs:read", &catalog).expect("a valid scope");
    let users: Vec<User> = (0..plan.users)
        .map(|u| User {
            id: UserId(id(plan.seed, 1, u)),
            email: format!("seed{u}@example.com"),
            name: format!("Seed user {u}"),
            role: Role::Member,
            active: true,
        })
        .collect();
    let mut tokens = Vec::with_capacity(plan.users * plan.tokens_per_user);
    for (u, user) in users.iter().enumerate() {
        for t in 0..plan.tokens_per_user {
            let index = u * plan.tokens_per_user + t;
            let secret = secret(codec, plan.seed, index);
            tokens.push(Token {
                id: TokenId(id(plan.seed, 2, index)),
                owner: user.id,
                name: TokenName::new(&format!("token {t}")).expect("a valid name"),
                description: Description::default(),
                scopes: vec![
                    Scope {
                        id: ScopeId(id(plan.seed, 3, index * 2)),
                        spec: list.clone(),
                    },
                    Scope {
                        id: ScopeId(id(plan.seed, 3, index * 2 + 1)),
                        spec: read.clone(),
                    },
                ]
                .into(),
                created_at: plan.now,
                updated_at: plan.now,
                expires_at: plan.now + Duration::days(90),
                revoked_at: (index % REVOKED_EVERY == REVOKED_EVERY - 1).then_some(plan.now),
                revoked_reason: (index % REVOKED_EVERY == REVOKED_EVERY - 1)
                    .then_some(pat_core::model::RevocationReason::Owner),
                last_used_at: None,
                last_used_ip: None,
                generation: 1,
                secret_hash: hasher.hash(secret.expose()),
                hint: secret.hint(),
                reminders: ReminderState::default(),
                previous_secret_valid_until: None,
                reuse_detected_at: None,
                allowed_ips: Default::default(),
                ip_policy: Default::default(),
                not_before: None,
            });
        }
    }
    Seed { users, tokens }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pat_core::token::ServerKey;

    #[test]
    fn secrets_are_recomputable_and_match_their_hashes() {
        let codec = TokenCodec::default();
        let hasher = TokenHasher::new(&ServerKey::new(vec![3; 32]).expect("key"), &[]);
        let plan = SeedPlan {
            users: 3,
            tokens_per_user: 4,
            now: crate::fixtures::base_time(),
            seed: 7,
        };
        let seed = generate(plan, &codec, &hasher);
        assert_eq!(seed.tokens.len(), 12);
        for (index, token) in seed.tokens.iter().enumerate() {
            let secret = secret(&codec, 7, index);
            assert!(codec.parse(secret.expose()).is_ok());
            assert_eq!(token.secret_hash, hasher.hash(secret.expose()));
        }
        let ids: std::collections::BTreeSet<_> = seed.tokens.iter().map(|t| t.id).collect();
        assert_eq!(ids.len(), 12);
        assert_eq!(
            seed.tokens
                .iter()
                .filter(|t| t.revoked_at.is_some())
                .count(),
            1
        );
    }
}
