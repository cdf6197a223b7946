//! The verification cache is on by default and exact: every change made through the
//! server applies on the very next request, and a change made by another process (a
//! second instance, the CLI) within the stated bound (`change_bound_ms`, 1 s by
//! default; `harness::CHANGE_BOUND`) — also when the change watcher's connection is
//! killed.

use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{Backend, CHANGE_BOUND, spawn_app, str_field};

/// Revoke, regenerate, scope removal, the PAT switch and deactivation each apply to
/// the next request of a token the cache already holds.
pub(super) fn cached_tokens_see_every_change_on_the_next_request(backend: Backend) {
    let app = spawn_app(backend);
    // Report-only reuse detection: the old secret's refusal is checked here without
    // revoking the token (reuse detection has tests of its own in rotation.rs).
    app.change_settings(&json!({"revoke_on_reuse": false}));
    let alice = app.user_session("member");

    let revoked = app.create_token(&alice, "revoke me", 7, &["jobs:list"]);
    // The default configuration caches (once the watcher has seen this token's own
    // creation come by, which empties the cache once more).
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.metric("patd_auth_cache_hits_total") == 0 {
        assert!(Instant::now() < deadline, "no cache hit in 10 s");
        app.assert_works(&revoked.secret);
        std::thread::sleep(Duration::from_millis(20));
    }
    app.revoke(&alice, &revoked.id());
    app.assert_refused(&revoked.secret);

    let rotated = app.create_token(&alice, "rotate me", 7, &["jobs:list", "jobs:read"]);
    assert!(app.allows(&rotated.secret, "jobs:read"));
    let fresh = app
        .post(
            &format!("/api/v1/tokens/{}/regenerate", rotated.id()),
            &alice,
            &json!({"expires_in_days": 3}),
        )
        .expect_json(200);
    app.assert_refused(&rotated.secret);
    let fresh_secret = str_field(&fresh, "secret");
    app.assert_works(&fresh_secret);

    let token = app.token(&alice, &rotated.id());
    let read = super::harness::scope_id(&token, "jobs:read");
    app.delete(
        &format!("/api/v1/tokens/{}/scopes/{read}", rotated.id()),
        &alice,
    )
    .expect(200);
    assert!(!app.allows(&fresh_secret, "jobs:read"));
    assert!(app.allows(&fresh_secret, "jobs:list"));

    app.change_settings(&json!({"pats_enabled": false}));
    app.assert_refused(&fresh_secret);
    app.change_settings(&json!({"pats_enabled": true}));
    app.assert_works(&fresh_secret);

    app.json(
        "PATCH",
        &format!("/api/v1/admin/users/{}", alice.user_id()),
        &app.admin,
        &json!({"active": false}),
    )
    .expect(200);
    app.assert_refused(&fresh_secret);
}

/// Two instances on one database: what A revokes, A refuses at once and B within the
/// bound — no request sent to B later than that is accepted.
pub(super) fn instances_see_each_others_changes_within_the_bound(backend: Backend) {
    let a = spawn_app(backend);
    let b = a.spawn_peer();
    let alice = a.user_session("member");
    let issued = a.create_token(&alice, "shared", 7, &["jobs:list"]);
    b.assert_works(&issued.secret);
    b.assert_works(&issued.secret);

    a.revoke(&alice, &issued.id());
    let revoked = Instant::now();
    a.assert_refused(&issued.secret);
    b.assert_refused_within_the_bound(&issued.secret, revoked);
}

/// The CLI is another process on the same database: its revocation reaches the
/// running server's cache within the bound.
pub(super) fn the_clis_revocation_reaches_the_server_within_the_bound(backend: Backend) {
    let app = spawn_app(backend);
    let alice = app.user_session("member");
    let issued = app.create_token(&alice, "cli revokes", 7, &["jobs:list"]);
    app.assert_works(&issued.secret);
    app.assert_works(&issued.secret);
    let out = app.cli(&["token", "revoke", &issued.id()]);
    assert!(
        out.status.success(),
        "patd token revoke: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let revoked = Instant::now();
    app.assert_refused_within_the_bound(&issued.secret, revoked);
}

/// PostgreSQL: B's change watcher connection is killed (`pg_terminate_backend`) and A
/// revokes at once, so the notification is lost with the connection. B still refuses
/// the token within the bound (its cache is bypassed until the watcher is back), and the
/// watcher comes back and serves from the cache again.
pub(super) fn a_killed_listener_lets_no_revoked_token_pass() {
    let a = spawn_app(Backend::Postgres);
    let b = a.spawn_peer();
    let alice = a.user_session("member");
    let issued = a.create_token(&alice, "watched", 7, &["jobs:list"]);
    b.assert_works(&issued.secret);
    b.assert_works(&issued.secret);

    let killed = pat_store_diesel::testing::terminate_connections(
        b.database_url(),
        Some(pat_store_diesel::watch::WATCHER_NAME),
    );
    assert!(
        killed >= 1,
        "the watchers' connections were found and killed"
    );
    a.revoke(&alice, &issued.id());
    let revoked = Instant::now();
    b.assert_refused_within_the_bound(&issued.secret, revoked);

    let other = a.create_token(&alice, "after", 7, &["jobs:list"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let hits = b.metric("patd_auth_cache_hits_total");
    while b.metric("patd_auth_cache_hits_total") == hits {
        assert!(
            Instant::now() < deadline,
            "B's watcher did not come back within 30 s"
        );
        b.assert_works(&other.secret);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// PostgreSQL: every connection to the database is terminated at once (what a
/// restart does to the instances: their pools and their watchers lose their
/// connections). A token revoked right after is refused by B within the bound, and both
/// instances serve again without a restart of their own.
pub(super) fn a_database_restart_lets_no_revoked_token_pass() {
    let a = spawn_app(Backend::Postgres);
    let b = a.spawn_peer();
    let alice = a.user_session("member");
    let revoked = a.create_token(&alice, "revoked after", 7, &["jobs:list"]);
    let kept = a.create_token(&alice, "kept", 7, &["jobs:list"]);
    b.assert_works(&revoked.secret);
    b.assert_works(&revoked.secret);

    pat_store_diesel::testing::terminate_connections(b.database_url(), None);
    let deadline = Instant::now() + Duration::from_secs(30);
    while a
        .post_empty(&format!("/api/v1/tokens/{}/revoke", revoked.id()), &alice)
        .status
        != 200
    {
        assert!(Instant::now() < deadline, "A never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    b.assert_refused_within_the_bound(&revoked.secret, Instant::now());
    b.assert_works(&kept.secret);
    a.assert_works(&kept.secret);
}

/// PostgreSQL: the database becomes unreachable (connections refused and every one
/// terminated). Once the bound has passed, a token the cache held is answered 503
/// `unavailable` — never a stale 204 — and it works again when the database is back.
pub(super) fn a_database_outage_answers_503_never_a_stale_answer() {
    let app = spawn_app(Backend::Postgres);
    let alice = app.user_session("member");
    let issued = app.create_token(&alice, "held", 7, &["jobs:list"]);
    app.assert_works(&issued.secret);
    app.assert_works(&issued.secret);

    let database = app
        .database_url()
        .rsplit('/')
        .next()
        .expect("a database name");
    let admin_url = pat_store_diesel::testing::admin_url();
    set_connections(&admin_url, database, false);
    std::thread::sleep(CHANGE_BOUND + Duration::from_millis(100));
    app.auth_check(&issued.secret, "jobs:list")
        .expect_problem(503, "unavailable");

    set_connections(&admin_url, database, true);
    let deadline = Instant::now() + Duration::from_secs(30);
    while app.auth_check(&issued.secret, "jobs:list").status != 204 {
        assert!(Instant::now() < deadline, "patd never came back");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Lets connections to `database` in (`allow`), or refuses them and terminates every
/// open one: an outage, as patd sees it.
fn set_connections(admin_url: &str, database: &str, allow: bool) {
    use diesel::connection::SimpleConnection as _;
    use diesel::{Connection as _, PgConnection};
    let mut admin = PgConnection::establish(admin_url).expect("connect to PostgreSQL");
    let mut sql = format!("ALTER DATABASE {database} ALLOW_CONNECTIONS {allow};");
    if !allow {
        sql.push_str(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}';"
        ));
    }
    admin
        .batch_execute(&sql)
        .expect("change the database's connections");
}

/// Last uses are written behind the checks, in batches: a peer instance sees one after
/// the next flush (every second), and the uses noted before a stop are written on the
/// way down.
pub(super) fn last_uses_are_written_behind_and_flushed_at_shutdown(backend: Backend) {
    let mut a = spawn_app(backend);
    let b = a.spawn_peer();
    let user = a.create_user("member");
    let alice = a.login(&user.email, &user.password);
    let on_b = b.login(&user.email, &user.password);
    let first = a.create_token(&alice, "seen by b", 7, &["jobs:list"]);
    a.assert_works(&first.secret);
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.token(&on_b, &first.id())["last_used_at"].is_null() {
        assert!(Instant::now() < deadline, "the peer never saw the use");
        std::thread::sleep(Duration::from_millis(50));
    }

    let second = a.create_token(&alice, "used before a stop", 7, &["jobs:list"]);
    a.assert_works(&second.secret);
    a.restart();
    let alice = a.login(&user.email, &user.password);
    assert!(
        a.token(&alice, &second.id())["last_used_at"].is_string(),
        "the use noted before the stop was written on the way down"
    );
}
