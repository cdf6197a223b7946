//! Checks of the sign-in ports: [`SessionStore`](pat_core::ports::SessionStore),
//! [`PasswordLinkStore`](pat_core::ports::PasswordLinkStore) and
//! [`AttemptCounter`](pat_core::ports::AttemptCounter).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use pat_core::model::{Role, UserId};
use pat_core::ports::{Journal, PasswordLink, Redemption, SessionRecord};
use pat_core::session::SecretDigest;
use tokio::sync::Barrier;

use crate::Stores;
use crate::fixtures::{at, base_time, unique_uuid};

/// A digest no other check uses.
fn digest() -> SecretDigest {
    SecretDigest::of(&unique_uuid().to_string())
}

fn session(user: UserId, created_at: DateTime<Utc>) -> SessionRecord {
    SessionRecord {
        digest: digest(),
        user,
        created_at,
        last_seen_at: created_at,
    }
}

/// The password hash every checked user gets (`fixtures::user` stores none).
const PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2Vzc2lvbnM$c2Vzc2lvbnNoYXNo";

/// A user with [`PHC`] as their password hash.
async fn user(stores: &Stores, role: Role) -> pat_core::model::User {
    let user = crate::fixtures::user(stores, role).await;
    stores
        .users
        .set_password_hash(user.id, PHC, base_time(), &Journal::default())
        .await
        .expect("set_password_hash must succeed");
    user
}

async fn start(stores: &Stores, session: &SessionRecord, cap: u32) {
    let started = stores
        .sessions
        .start_session(session, cap, PHC)
        .await
        .expect("SessionStore::start_session must succeed");
    assert!(
        started,
        "a session of an active user with the verified hash starts"
    );
}

async fn exists(stores: &Stores, digest: &SecretDigest) -> bool {
    stores
        .sessions
        .find_session(digest)
        .await
        .expect("SessionStore::find_session must succeed")
        .is_some()
}

/// A started session is found by its digest with its user as stored now; an unknown
/// digest is `None`.
pub async fn session_start_then_find_round_trips_with_its_user(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let started = session(alice.id, base_time());
    start(&stores, &started, 10).await;
    let found = stores
        .sessions
        .find_session(&started.digest)
        .await
        .expect("find_session must succeed")
        .expect("find_session must find the started session");
    assert_eq!(found.session, started, "the session round-trips");
    assert_eq!(found.user.as_ref(), Some(&alice), "with its user");
    assert!(
        !exists(&stores, &digest()).await,
        "an unknown digest is None"
    );
    assert_eq!(stores.sessions.count_sessions().await.expect("count"), 1);
}

/// Starting a session beyond the per-user cap ends that user's oldest sessions, and
/// nobody else's.
pub async fn session_start_keeps_at_most_the_cap_ending_the_oldest(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let bob = user(&stores, Role::Member).await;
    let bobs = session(bob.id, base_time());
    start(&stores, &bobs, 3).await;
    let mut alices = Vec::new();
    for minute in 0..5 {
        let s = session(alice.id, at(Duration::minutes(minute)));
        start(&stores, &s, 3).await;
        alices.push(s);
    }
    for (i, s) in alices.iter().enumerate() {
        assert_eq!(
            exists(&stores, &s.digest).await,
            i >= 2,
            "with a cap of 3, only the 3 newest of 5 sessions remain (session {i})"
        );
    }
    assert!(
        exists(&stores, &bobs.digest).await,
        "another user's session stays"
    );
}

/// A session does not start for an inactive user, nor when the password changed after
/// it was verified (the sign-in checked the old one).
pub async fn session_start_is_refused_after_a_password_change_or_for_the_inactive(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let refused = |s: SessionRecord, hash: &'static str| {
        let stores = &stores;
        async move {
            let started = stores
                .sessions
                .start_session(&s, 10, hash)
                .await
                .expect("start_session must succeed");
            (started, exists(stores, &s.digest).await)
        }
    };
    assert_eq!(
        refused(session(alice.id, base_time()), NEW_HASH).await,
        (false, false),
        "a hash that is not the user's starts nothing"
    );
    stores
        .users
        .update(alice.id, None, Some(false), &Journal::default())
        .await
        .expect("deactivate");
    assert_eq!(
        refused(session(alice.id, base_time()), PHC).await,
        (false, false),
        "an inactive user's session does not start"
    );
}

/// `set_password_hash` ends every session of the user (no one else's) and spends their
/// unused links.
pub async fn a_password_change_ends_sessions_and_spends_links(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let bob = user(&stores, Role::Member).await;
    let alices = session(alice.id, base_time());
    let bobs = session(bob.id, base_time());
    start(&stores, &alices, 10).await;
    start(&stores, &bobs, 10).await;
    let pending = link(alice.id, at(Duration::hours(24)));
    stores
        .password_links
        .insert_link(&pending, &Journal::default())
        .await
        .expect("insert_link");
    let now = at(Duration::minutes(5));
    stores
        .users
        .set_password_hash(alice.id, NEW_HASH, now, &Journal::default())
        .await
        .expect("set_password_hash");
    assert!(!exists(&stores, &alices.digest).await, "her session ended");
    assert!(exists(&stores, &bobs.digest).await, "his stays");
    assert_eq!(
        redeem(&stores, &pending.digest, "other", now).await,
        Redemption::Spent,
        "her pending link is spent"
    );
}

/// A new link spends the user's older unused links: only the newest works.
pub async fn a_new_link_spends_the_older_ones(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let older = link(alice.id, at(Duration::hours(24)));
    let mut newer = link(alice.id, at(Duration::hours(25)));
    newer.created_at = at(Duration::hours(1));
    for l in [&older, &newer] {
        stores
            .password_links
            .insert_link(l, &Journal::default())
            .await
            .expect("insert_link");
    }
    let now = at(Duration::hours(2));
    assert_eq!(
        redeem(&stores, &older.digest, NEW_HASH, now).await,
        Redemption::Spent
    );
    assert_eq!(
        redeem(&stores, &newer.digest, NEW_HASH, now).await,
        Redemption::Done(alice.id)
    );
}

/// `touch_session` records a use; `end_session` ends exactly one session.
pub async fn touch_and_end_act_on_one_session(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let first = session(alice.id, base_time());
    let second = session(alice.id, base_time());
    start(&stores, &first, 10).await;
    start(&stores, &second, 10).await;
    let later = at(Duration::minutes(5));
    assert!(
        stores
            .sessions
            .touch_session(&first.digest, later)
            .await
            .expect("touch must succeed"),
        "touching a stored session is true"
    );
    let found = stores
        .sessions
        .find_session(&first.digest)
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.session.last_seen_at, later, "the use is recorded");
    assert_eq!(found.session.created_at, base_time(), "the start is kept");
    assert!(
        !stores
            .sessions
            .touch_session(&digest(), later)
            .await
            .expect("touch"),
        "touching an unknown session is false"
    );
    assert!(
        stores
            .sessions
            .end_session(&first.digest)
            .await
            .expect("end")
    );
    assert!(
        !exists(&stores, &first.digest).await,
        "the ended session is gone"
    );
    assert!(exists(&stores, &second.digest).await, "the other one stays");
    assert!(
        !stores
            .sessions
            .end_session(&first.digest)
            .await
            .expect("end"),
        "ending it again is false"
    );
}

/// `end_sessions_of` ends every session of one user but the kept one.
pub async fn end_sessions_of_keeps_only_the_kept_one(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let bob = user(&stores, Role::Member).await;
    let kept = session(alice.id, base_time());
    let other = session(alice.id, base_time());
    let bobs = session(bob.id, base_time());
    for s in [&kept, &other, &bobs] {
        start(&stores, s, 10).await;
    }
    let ended = stores
        .sessions
        .end_sessions_of(alice.id, Some(&kept.digest))
        .await
        .expect("end_sessions_of must succeed");
    assert_eq!(ended, 1, "one other session of alice ended");
    assert!(
        exists(&stores, &kept.digest).await,
        "the kept session stays"
    );
    assert!(!exists(&stores, &other.digest).await);
    assert!(exists(&stores, &bobs.digest).await, "bob is untouched");
    let ended = stores
        .sessions
        .end_sessions_of(alice.id, None)
        .await
        .expect("end_sessions_of must succeed");
    assert_eq!(ended, 1, "without a kept one, all end");
    assert!(!exists(&stores, &kept.digest).await);
}

/// The sweep ends sessions started too long ago, unused too long, or of inactive
/// users, and keeps the rest.
pub async fn sweep_ends_expired_idle_and_inactive_users_sessions(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let carol = user(&stores, Role::Member).await;
    let old = session(alice.id, base_time());
    let mut idle = session(alice.id, at(Duration::hours(2)));
    idle.last_seen_at = at(Duration::hours(2));
    let fresh = session(alice.id, at(Duration::hours(3)));
    let inactive = session(carol.id, at(Duration::hours(3)));
    for s in [&old, &idle, &fresh, &inactive] {
        start(&stores, s, 10).await;
    }
    stores
        .users
        .update(carol.id, None, Some(false), &Journal::default())
        .await
        .expect("deactivate carol");
    let ended = stores
        .sessions
        .sweep_sessions(at(Duration::hours(1)), at(Duration::minutes(150)))
        .await
        .expect("sweep must succeed");
    assert_eq!(
        ended, 3,
        "the old, the idle and the inactive user's session end"
    );
    assert!(
        exists(&stores, &fresh.digest).await,
        "the fresh session stays"
    );
    for gone in [&old, &idle, &inactive] {
        assert!(!exists(&stores, &gone.digest).await);
    }
}

/// Concurrent sign-ins of one user leave at most the cap.
pub async fn concurrent_session_starts_respect_the_cap(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let stores = Arc::new(stores);
    let barrier = Arc::new(Barrier::new(40));
    let handles: Vec<_> = (0..40)
        .map(|_| {
            let stores = stores.clone();
            let barrier = barrier.clone();
            let s = session(alice.id, base_time());
            tokio::spawn(async move {
                barrier.wait().await;
                stores.sessions.start_session(&s, 5, PHC).await
            })
        })
        .collect();
    for handle in handles {
        handle
            .await
            .expect("task must finish")
            .expect("start_session must succeed under races");
    }
    assert_eq!(
        stores.sessions.count_sessions().await.expect("count"),
        5,
        "40 racing sign-ins with a cap of 5 leave 5 sessions"
    );
}

fn link(user: UserId, expires_at: DateTime<Utc>) -> PasswordLink {
    PasswordLink {
        digest: digest(),
        user,
        created_at: base_time(),
        expires_at,
        used_at: None,
    }
}

/// The password hash `find_by_email` returns for `email`.
async fn stored_hash(stores: &Stores, email: &str) -> Option<String> {
    stores
        .users
        .find_by_email(email)
        .await
        .expect("find_by_email must succeed")
        .expect("the user exists")
        .password_hash
}

/// Redeems the link with `digest` at `now`, setting `hash`; the store must answer.
async fn redeem(
    stores: &Stores,
    digest: &SecretDigest,
    hash: &str,
    now: DateTime<Utc>,
) -> Redemption {
    stores
        .password_links
        .redeem_link(digest, hash, now, &Journal::default())
        .await
        .expect("redeem_link must succeed")
}

const NEW_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$bGlua3NhbHQ$bGlua2hhc2hsaW5raGFzaA";

/// A link redeems once: it sets the password, ends the user's sessions and writes its
/// journal; a second redemption is `Spent`, an expired link `Spent`, an unknown one
/// `Unknown`, and neither changes anything.
pub async fn password_link_redeems_once(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let signed_in = session(alice.id, base_time());
    start(&stores, &signed_in, 10).await;
    let good = link(alice.id, at(Duration::hours(24)));
    let expired = link(alice.id, at(Duration::hours(1)));
    // The expired one first: a new link spends the older ones.
    for l in [&expired, &good] {
        stores
            .password_links
            .insert_link(l, &Journal::default())
            .await
            .expect("insert_link must succeed");
    }
    let found = stores
        .password_links
        .find_link(&good.digest)
        .await
        .expect("find_link")
        .expect("the link is found");
    assert_eq!(found, good, "a link round-trips");
    let now = at(Duration::hours(2));
    let redeemed = redeem(&stores, &good.digest, NEW_HASH, now).await;
    assert_eq!(redeemed, Redemption::Done(alice.id));
    assert_eq!(
        stored_hash(&stores, &alice.email).await.as_deref(),
        Some(NEW_HASH),
        "the password is set"
    );
    assert!(
        !exists(&stores, &signed_in.digest).await,
        "her sessions ended"
    );
    let again = redeem(&stores, &good.digest, "other", now).await;
    assert_eq!(again, Redemption::Spent, "a used link is spent");
    let late = redeem(&stores, &expired.digest, "other", now).await;
    assert_eq!(late, Redemption::Spent, "an expired link is spent");
    let unknown = redeem(&stores, &digest(), "other", now).await;
    assert_eq!(unknown, Redemption::Unknown);
    assert_eq!(
        stored_hash(&stores, &alice.email).await.as_deref(),
        Some(NEW_HASH),
        "refused redemptions change nothing"
    );
    let used = stores
        .password_links
        .find_link(&good.digest)
        .await
        .expect("find_link")
        .expect("found");
    assert_eq!(used.used_at, Some(now), "the link records its use");
}

/// A link for an unknown user is refused with `NotFound`.
pub async fn password_link_for_an_unknown_user_is_not_found(stores: Stores) {
    let result = stores
        .password_links
        .insert_link(
            &link(UserId(unique_uuid()), at(Duration::hours(24))),
            &Journal::default(),
        )
        .await;
    assert_eq!(result, Err(pat_core::ports::StoreError::NotFound));
}

/// Of many concurrent redemptions of one link, exactly one is `Done`.
pub async fn concurrent_redemptions_of_one_link_admit_one(stores: Stores) {
    let alice = user(&stores, Role::Member).await;
    let shared = link(alice.id, at(Duration::hours(24)));
    stores
        .password_links
        .insert_link(&shared, &Journal::default())
        .await
        .expect("insert_link");
    let stores = Arc::new(stores);
    let barrier = Arc::new(Barrier::new(20));
    let handles: Vec<_> = (0..20)
        .map(|_| {
            let stores = stores.clone();
            let barrier = barrier.clone();
            let digest = shared.digest;
            tokio::spawn(async move {
                barrier.wait().await;
                stores
                    .password_links
                    .redeem_link(&digest, NEW_HASH, base_time(), &Journal::default())
                    .await
            })
        })
        .collect();
    let mut done = 0;
    for handle in handles {
        match handle
            .await
            .expect("task")
            .expect("redeem_link must succeed")
        {
            Redemption::Done(_) => done += 1,
            Redemption::Spent => {}
            Redemption::Unknown => panic!("a stored link is never Unknown"),
        }
    }
    assert_eq!(done, 1, "exactly one concurrent redemption wins");
}

/// Attempts count per key in a window that starts with the first attempt, every
/// concurrent attempt counted once; a window that opened too long ago starts over;
/// old windows are forgotten.
pub async fn attempts_count_per_key_and_window(stores: Stores) {
    let first = base_time();
    let long_ago = at(Duration::minutes(-10));
    let stores = Arc::new(stores);
    let handles: Vec<_> = (0..30)
        .map(|_| {
            let stores = stores.clone();
            tokio::spawn(async move {
                stores
                    .attempts
                    .count_attempt("sign_in:a", first, long_ago)
                    .await
            })
        })
        .collect();
    let mut counts = Vec::new();
    for handle in handles {
        let (start, count) = handle
            .await
            .expect("task")
            .expect("count_attempt must succeed");
        assert_eq!(start, first, "the window starts with the first attempt");
        counts.push(count);
    }
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=30).collect::<Vec<u32>>(),
        "each attempt counted once"
    );
    let later = at(Duration::seconds(30));
    let same = stores
        .attempts
        .count_attempt("sign_in:a", later, later - Duration::minutes(1))
        .await;
    assert_eq!(
        same,
        Ok((first, 31)),
        "30 s later, the same one-minute window"
    );
    let other_key = stores
        .attempts
        .count_attempt("sign_in:b", later, long_ago)
        .await;
    assert_eq!(other_key, Ok((later, 1)), "another key counts on its own");
    let next = at(Duration::seconds(61));
    let fresh = stores
        .attempts
        .count_attempt("sign_in:a", next, next - Duration::minutes(1))
        .await;
    assert_eq!(fresh, Ok((next, 1)), "past its window, a key starts over");
    let forgotten = stores
        .attempts
        .forget_attempts(next)
        .await
        .expect("forget_attempts must succeed");
    assert_eq!(forgotten, 1, "the window that started before is forgotten");
    let again = stores
        .attempts
        .count_attempt("sign_in:b", next, long_ago)
        .await;
    assert_eq!(again, Ok((next, 1)), "a forgotten key counts from 1");
}
