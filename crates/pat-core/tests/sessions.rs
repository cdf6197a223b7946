//! The session and password rules of `PatService`, on the memory store with a manual
//! clock and a plain-text password hasher (a test double: the argon2 adapter has its
//! own tests): idle and absolute expiry, the per-user cap, sign-in refusals, the shared
//! sign-in limit, password changes ending sessions, one-time links expiring.

mod common;

use async_trait::async_trait;
use common::*;
use pat_core::ports::{HashError, PasswordHasher, SessionStore};
use pat_core::session::SessionLimits;
use pat_core::{PasswordChangeError, SignInError, SignedIn};

/// "Hashes" by prefixing: enough to tell right from wrong without argon2's cost.
struct PlainHasher;

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &str) -> Result<String, HashError> {
        Ok(format!("plain:{password}"))
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        Ok(hash == Some(format!("plain:{password}").as_str()))
    }
}

const PASSWORD: &str = "a long password";

struct World {
    service: PatService,
    store: Arc<MemoryStore>,
    clock: Arc<ManualClock>,
    admin: Actor,
}

fn world(limits: SessionLimits) -> World {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(start()));
    let service = PatService::builder()
        .storage(pat_core::ports::Storage::from_store(store.clone()))
        .notifier(Arc::new(RecordingNotifier::default()))
        .clock(clock.clone())
        .rng(StdRng::seed_from_u64(9))
        .server_key(ServerKey::new(vec![42; 32]).expect("key"))
        .password_hasher(Arc::new(PlainHasher))
        .session_limits(limits)
        .build()
        .expect("complete builder");
    let admin = run(service.create_user(
        None,
        NewUser {
            email: "admin@example.com".into(),
            name: "Admin".into(),
            role: Role::Admin,
        },
        Some("plain:admin password"),
    ))
    .expect("admin");
    World {
        service,
        store,
        clock,
        admin: Actor::session(admin, IP),
    }
}

impl World {
    fn member(&self, email: &str) -> User {
        let hash = run(self.service.hash_new_password(PASSWORD, email)).expect("hash");
        run(self.service.create_user(
            Some(&self.admin),
            NewUser {
                email: email.into(),
                name: email.into(),
                role: Role::Member,
            },
            Some(&hash),
        ))
        .expect("member")
    }

    fn sign_in(&self, email: &str, password: &str) -> Result<SignedIn, SignInError> {
        run(self.service.sign_in(email, password, IP))
    }

    fn live(&self, signed_in: &SignedIn) -> bool {
        run(self.service.session(signed_in.secret.expose()))
            .expect("session lookup")
            .is_some()
    }
}

#[test]
fn a_session_dies_after_its_idle_time_unless_used() {
    let w = world(SessionLimits::default());
    w.member("m@example.com");
    let used = w.sign_in("m@example.com", PASSWORD).expect("signed in");
    let unused = w.sign_in("m@example.com", PASSWORD).expect("signed in");
    for _ in 0..3 {
        w.clock.advance(Duration::minutes(50));
        assert!(w.live(&used), "a session used every 50 minutes stays");
    }
    assert!(
        !w.live(&unused),
        "150 minutes unused: past the 2-hour idle expiry"
    );
}

#[test]
fn a_session_dies_at_its_absolute_expiry_however_busy() {
    let w = world(SessionLimits::default());
    w.member("m@example.com");
    let busy = w.sign_in("m@example.com", PASSWORD).expect("signed in");
    for _ in 0..23 {
        w.clock.advance(Duration::minutes(30));
        assert!(w.live(&busy), "used every 30 minutes, under 12 hours old");
    }
    w.clock.advance(Duration::minutes(31));
    assert!(!w.live(&busy), "over 12 hours after sign-in");
}

#[test]
fn the_eleventh_sign_in_ends_the_oldest_session() {
    let w = world(SessionLimits::default());
    w.member("m@example.com");
    let sessions: Vec<SignedIn> = (0..11)
        .map(|_| {
            w.clock.advance(Duration::seconds(1));
            w.sign_in("m@example.com", PASSWORD).expect("signed in")
        })
        .collect();
    assert!(!w.live(&sessions[0]), "the oldest ended");
    assert!(sessions[1..].iter().all(|s| w.live(s)), "ten remain");
}

#[test]
fn sign_in_refuses_unknown_wrong_inactive_and_passwordless_alike() {
    let w = world(SessionLimits::default());
    let member = w.member("m@example.com");
    run(w.service.create_user(
        Some(&w.admin),
        NewUser {
            email: "nopass@example.com".into(),
            name: "No password".into(),
            role: Role::Member,
        },
        None,
    ))
    .expect("user without a password");
    for (email, password) in [
        ("nobody@example.com", PASSWORD),
        ("m@example.com", "wrong password"),
        ("nopass@example.com", ""),
        ("m@example.com", &"x".repeat(300)),
    ] {
        assert_eq!(
            w.sign_in(email, password).map(|s| s.user.id),
            Err(SignInError::InvalidCredentials),
            "{email}"
        );
    }
    let signed_in = w
        .sign_in(" M@Example.com ", PASSWORD)
        .expect("email ignores case");
    run(w
        .service
        .update_user(Some(&w.admin), member.id, None, Some(false)))
    .expect("disable");
    assert!(!w.live(&signed_in), "deactivation ends the session");
    assert_eq!(
        w.sign_in("m@example.com", PASSWORD).map(|s| s.user.id),
        Err(SignInError::InvalidCredentials)
    );
}

#[test]
fn a_demotion_ends_sessions_and_a_promotion_does_not() {
    let w = world(SessionLimits::default());
    let member = w.member("m@example.com");
    let session = w.sign_in("m@example.com", PASSWORD).expect("signed in");
    run(w
        .service
        .update_user(Some(&w.admin), member.id, Some(Role::Admin), None))
    .expect("up");
    assert!(w.live(&session), "a promotion keeps the session");
    run(w
        .service
        .update_user(Some(&w.admin), member.id, Some(Role::Collaborator), None))
    .expect("down");
    assert!(!w.live(&session), "a demotion ends it");
}

#[test]
fn the_sign_in_limit_counts_every_attempt_of_an_address() {
    let w = world(SessionLimits {
        sign_ins_per_minute: 3,
        ..SessionLimits::default()
    });
    w.member("m@example.com");
    for _ in 0..3 {
        assert_eq!(
            w.sign_in("m@example.com", "wrong").map(|s| s.user.id),
            Err(SignInError::InvalidCredentials)
        );
    }
    let refused = w.sign_in("m@example.com", PASSWORD).map(|s| s.user.id);
    assert!(
        matches!(refused, Err(SignInError::RateLimited(r)) if r.seconds == 60),
        "{refused:?}"
    );
    w.clock.advance(Duration::seconds(61));
    w.sign_in("m@example.com", PASSWORD).expect("a new window");
}

#[test]
fn an_own_password_change_ends_every_session_and_starts_a_new_one() {
    let w = world(SessionLimits {
        sign_ins_per_minute: 4,
        ..SessionLimits::default()
    });
    w.member("m@example.com");
    let here = w.sign_in("m@example.com", PASSWORD).expect("signed in");
    let there = w.sign_in("m@example.com", PASSWORD).expect("signed in");
    let live = run(w.service.session(here.secret.expose()))
        .expect("lookup")
        .expect("live");
    let change = |current: &str, new: &str| {
        run(w.service.change_own_password(&live, current, new, IP)).map(|s| s.user.id)
    };
    assert_eq!(
        change("wrong", "a new password"),
        Err(PasswordChangeError::InvalidPassword)
    );
    assert!(matches!(
        change(PASSWORD, "short"),
        Err(PasswordChangeError::Weak(_))
    ));
    assert!(
        w.live(&there) && w.live(&here),
        "refused changes end nothing"
    );
    let renewed = run(w
        .service
        .change_own_password(&live, PASSWORD, "a new password", IP))
    .expect("changed");
    assert!(!w.live(&here) && !w.live(&there), "every old session ended");
    assert!(w.live(&renewed), "the new one works");
    w.sign_in("m@example.com", "a new password")
        .expect("the new password");
    assert!(
        w.sign_in("m@example.com", PASSWORD).is_err(),
        "not the old one"
    );
    // Guessing the current password from a session is limited per user.
    let live = run(w.service.session(renewed.secret.expose()))
        .expect("lookup")
        .expect("live");
    let guess = || {
        run(w
            .service
            .change_own_password(&live, "guess", "another new one", IP))
    };
    for _ in 0..2 {
        assert_eq!(
            guess().map(|s| s.user.id),
            Err(PasswordChangeError::InvalidPassword)
        );
    }
    assert!(
        matches!(guess(), Err(PasswordChangeError::RateLimited(_))),
        "the fifth attempt in a minute (the weak one counted none)"
    );
}

#[test]
fn a_sign_in_checked_against_a_password_changed_meanwhile_starts_no_session() {
    let w = world(SessionLimits::default());
    let user = w.member("m@example.com");
    let before = run(w.service.hash_new_password(PASSWORD, "m@example.com")).expect("hash");
    run(w
        .service
        .set_user_password(Some(&w.admin), user.id, "changed meanwhile"))
    .expect("set");
    // What the sign-in would do after checking the old password: the store refuses.
    let record = pat_core::ports::SessionRecord {
        digest: pat_core::session::SecretDigest::of("raced"),
        user: user.id,
        created_at: start(),
        last_seen_at: start(),
    };
    assert!(
        !run(w.store.start_session(&record, 10, &before)).expect("store answers"),
        "a session verified against the old hash does not start"
    );
    assert!(matches!(
        run(w
            .service
            .set_user_password(Some(&w.admin), w.admin.user.id, "my own one")),
        Err(PasswordChangeError::Denied(Denied::OwnPassword))
    ));
}

#[test]
fn a_set_password_link_expires_after_24_hours_and_works_once() {
    let w = world(SessionLimits::default());
    let user = w.member("m@example.com");
    let (_, late) = run(w.service.issue_password_link(Some(&w.admin), user.id)).expect("link");
    w.clock.advance(Duration::hours(23));
    let (_, link) = run(w.service.issue_password_link(None, user.id)).expect("link");
    w.clock.advance(Duration::hours(1));
    assert_eq!(
        run(w
            .service
            .set_password_with_link(late.expose(), "expired link"))
        .map(|u| u.id),
        Err(PasswordChangeError::SpentLink),
        "24 hours old"
    );
    let session = w.sign_in("m@example.com", PASSWORD).expect("signed in");
    run(w
        .service
        .set_password_with_link(link.expose(), "via the link"))
    .expect("set");
    assert!(!w.live(&session), "a link ends every session");
    assert_eq!(
        run(w
            .service
            .set_password_with_link(link.expose(), "again please"))
        .map(|u| u.id),
        Err(PasswordChangeError::SpentLink)
    );
    assert_eq!(
        run(w.service.password_link_user(&"A".repeat(43))).map(|u| u.id),
        Err(PasswordChangeError::UnknownLink)
    );
    let member = Actor::session(user.clone(), IP);
    assert!(matches!(
        run(w.service.issue_password_link(Some(&member), user.id)),
        Err(PasswordChangeError::Denied(_))
    ));
    w.sign_in("m@example.com", "via the link")
        .expect("the link's password");
}
