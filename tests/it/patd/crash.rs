//! Crash safety: patd killed with SIGKILL in the middle of a mixed write load keeps every
//! change it acknowledged, brings back no token it acknowledged revoking, never lets a
//! user past the active-token limit, and leaves a consistent database.
//!
//! Only answers that reached a client count. A request whose answer was lost (the
//! connection was refused, reset or cut by the kill) may or may not have committed; the
//! check after the restart accepts either outcome and records which one happened.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection as _;
use diesel::sql_types::{BigInt, Text};
use diesel::{Connection as _, PgConnection, QueryableByName, RunQueryDsl as _, SqliteConnection};
use serde_json::{Value, json};
use ureq::http;

use super::harness::{
    Backend, NewUser, Session, TestApp, item_ids, spawn_binary_app_with, str_field,
};

/// Users whose 5 active slots the clients fight over.
const USERS: usize = 4;
/// Clients per user, each on the user's session, so creates contend for the limit.
const CLIENTS_PER_USER: usize = 3;
/// Kill/restart cycles; tokens from earlier cycles are checked again after each kill.
const CYCLES: usize = 3;
/// Load before the kill.
const LOAD: Duration = Duration::from_millis(1500);
/// Clients keep sending into the dead port this long, so the kill lands mid-request.
const AFTER_KILL: Duration = Duration::from_millis(300);
/// The default `max_active_per_user`.
const ACTIVE_LIMIT: u64 = 5;

/// patd is killed with SIGKILL three times while 12 clients create, revoke, regenerate
/// and use tokens. After each restart every acknowledged token exists, authenticates
/// with its last acknowledged secret (or, after a regenerate whose answer was lost, has
/// moved exactly one generation on), every acknowledged revoke holds, replaced secrets
/// stay dead, no user has more than 5 active tokens, no token appears that no create
/// could explain, every committed create, revoke and regenerate has its audit event (and
/// every create its notice), and the database passes its integrity checks.
pub(super) fn crash_kill_9_under_load_loses_nothing_acknowledged(backend: Backend) {
    let started = Instant::now();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    // Clients present replaced and revoked secrets on purpose: no failure limit.
    let mut app = spawn_binary_app_with(backend, &[("PATD_FAILED_AUTHS_PER_MINUTE", "0")]);
    // Replaced secrets are refused and reported, not taken to revoke their tokens (reuse
    // detection has tests of its own in rotation.rs): the ledger's promises stay as they
    // were.
    app.change_settings(&serde_json::json!({"revoke_on_reuse": false}));
    let users: Vec<NewUser> = (0..USERS).map(|_| app.create_user("member")).collect();
    let mut ledger: Vec<Tracked> = Vec::new();
    let mut figures = Figures::default();
    let mut gaps = Gaps::default();
    let login_all = |app: &TestApp| -> Vec<Session> {
        users
            .iter()
            .map(|u| app.login(&u.email, &u.password))
            .collect()
    };
    let mut sessions = login_all(&app);
    for cycle in 1..=CYCLES {
        let workers = hand_out(&mut ledger, &sessions, &app.address, cycle, seed);
        let stop = AtomicBool::new(false);
        let workers: Vec<Worker> = std::thread::scope(|scope| {
            let stop = &stop;
            let handles: Vec<_> = workers
                .into_iter()
                .map(|worker| scope.spawn(move || worker.run(stop)))
                .collect();
            std::thread::sleep(LOAD);
            app.kill_hard();
            std::thread::sleep(AFTER_KILL);
            stop.store(true, Ordering::Relaxed);
            handles
                .into_iter()
                .map(|h| h.join().expect("client thread"))
                .collect()
        });
        let mut problems = Vec::new();
        let mut lost_creates = [0_u64; USERS];
        for worker in workers {
            figures.add(&worker.figures);
            lost_creates[worker.owner] += worker.figures.create_lost;
            problems.extend(worker.problems);
            ledger.extend(worker.tokens);
        }

        // The database as the kill left it, before patd touches it again.
        gaps = check_database(app.database_url(), &mut problems);

        app.restart();
        // Sessions live in patd's memory: the new process needs new ones.
        sessions = login_all(&app);
        verify(
            &app,
            &sessions,
            &mut ledger,
            &lost_creates,
            &mut figures,
            &mut problems,
        );
        assert!(
            problems.is_empty(),
            "cycle {cycle} of kill -9 under load (seed {seed}) broke {} promise(s):\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    let backend = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    println!(
        "CRASH_SAFETY {backend}: {CYCLES} kills under {} clients / {USERS} users in {:.1} s \
         (seed {seed}): create 201={} 409={} lost={} (committed {}); revoke 200={} lost={} \
         (committed {}); regenerate 200={} lost={} (committed {}); auth ok={} \
         replaced-or-revoked refused={} lost={}; refused connections={}; tokens checked={}; max active per user={}/{ACTIVE_LIMIT}; \
         integrity ok; audit gaps: created={} revoked={} regenerated={}, created notices missing={}",
        USERS * CLIENTS_PER_USER,
        started.elapsed().as_secs_f64(),
        figures.created,
        figures.at_limit,
        figures.create_lost,
        figures.lost_creates_committed,
        figures.revoked,
        figures.revoke_lost,
        figures.lost_revokes_committed,
        figures.regenerated,
        figures.regenerate_lost,
        figures.lost_regenerates_committed,
        figures.auth_ok,
        figures.dead_refused,
        figures.auth_lost,
        figures.refused,
        ledger.len(),
        figures.max_active,
        gaps.unaudited_creates,
        gaps.unaudited_revokes,
        gaps.unaudited_regenerates,
        gaps.missing_created_notices,
    );
}

/// What the clients know about one token.
#[derive(Debug, Clone)]
struct Tracked {
    id: String,
    /// Index into the users.
    owner: usize,
    /// The secret of the last acknowledged create or regenerate; `None` when no answer
    /// carrying the current secret arrived (a lost create or regenerate that committed).
    secret: Option<String>,
    /// The generation that secret belongs to.
    generation: u64,
    /// Secrets an acknowledged regenerate replaced: they must never work again.
    replaced: Vec<String>,
    fate: Fate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Active as far as every answer said.
    Live,
    /// A revoke answered 200.
    Revoked,
    /// A revoke was sent and its answer lost: committed or not.
    MaybeRevoked,
    /// A regenerate was sent and its answer lost: committed or not.
    MaybeRegenerated,
}

/// Counts of answers received, and of lost requests resolved after the restart.
#[derive(Debug, Default, Clone)]
struct Figures {
    created: u64,
    at_limit: u64,
    create_lost: u64,
    revoked: u64,
    revoke_lost: u64,
    regenerated: u64,
    regenerate_lost: u64,
    auth_ok: u64,
    dead_refused: u64,
    auth_lost: u64,
    refused: u64,
    lost_creates_committed: u64,
    lost_revokes_committed: u64,
    lost_regenerates_committed: u64,
    max_active: u64,
}

impl Figures {
    fn add(&mut self, other: &Figures) {
        self.created += other.created;
        self.at_limit += other.at_limit;
        self.create_lost += other.create_lost;
        self.revoked += other.revoked;
        self.revoke_lost += other.revoke_lost;
        self.regenerated += other.regenerated;
        self.regenerate_lost += other.regenerate_lost;
        self.auth_ok += other.auth_ok;
        self.dead_refused += other.dead_refused;
        self.auth_lost += other.auth_lost;
        self.refused += other.refused;
    }
}

/// Splits the live tokens among the next cycle's clients by owner (each token has one
/// client, so its history is that client's requests in order) and makes the clients.
fn hand_out(
    ledger: &mut Vec<Tracked>,
    sessions: &[Session],
    address: &str,
    cycle: usize,
    seed: u64,
) -> Vec<Worker> {
    let mut workers: Vec<Worker> = (0..USERS * CLIENTS_PER_USER)
        .map(|n| Worker {
            client: Client::new(address),
            session: sessions[n % USERS].clone(),
            owner: n % USERS,
            label: format!("c{cycle}-w{n}"),
            tokens: Vec::new(),
            rng: Rng(seed ^ ((cycle * 1000 + n) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            figures: Figures::default(),
            problems: Vec::new(),
            next_name: 0,
        })
        .collect();
    let (live, settled): (Vec<Tracked>, Vec<Tracked>) = std::mem::take(ledger)
        .into_iter()
        .partition(|t| t.fate == Fate::Live);
    *ledger = settled;
    for (n, token) in live.into_iter().enumerate() {
        // Worker w serves user w % USERS.
        let worker = token.owner + USERS * (n % CLIENTS_PER_USER);
        workers[worker].tokens.push(token);
    }
    workers
}

/// One client thread: a session of one user and the tokens it alone changes.
struct Worker {
    client: Client,
    session: Session,
    owner: usize,
    label: String,
    tokens: Vec<Tracked>,
    rng: Rng,
    figures: Figures,
    problems: Vec<String>,
    next_name: u32,
}

impl Worker {
    fn run(mut self, stop: &AtomicBool) -> Self {
        while !stop.load(Ordering::Relaxed) {
            let answered = match self.rng.below(100) {
                0..30 => self.create(),
                30..45 => self.revoke(),
                45..60 => self.regenerate(),
                _ => self.authenticate(),
            };
            if !answered {
                // patd is gone: don't spin on refused connections.
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        self
    }

    /// A random token in this state (and with a known secret when asked).
    fn pick(&mut self, needs_secret: bool) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.tokens.len())
            .filter(|&i| self.tokens[i].fate == Fate::Live)
            .filter(|&i| !needs_secret || self.tokens[i].secret.is_some())
            .collect();
        if candidates.is_empty() {
            return None;
        }
        Some(candidates[self.rng.below(candidates.len())])
    }

    /// Counts a request the dead patd refused; returns `false` (no answer).
    fn refused(&mut self) -> bool {
        self.figures.refused += 1;
        false
    }

    fn unexpected(&mut self, what: &str, status: u16, body: &Value) {
        self.problems.push(format!(
            "{} {what}: unexpected answer {status} {body}",
            self.label
        ));
    }

    fn create(&mut self) -> bool {
        self.next_name += 1;
        let body = json!({
            "name": format!("{}-{}", self.label, self.next_name),
            "expires_in_days": 30,
            "scopes": ["jobs:list"],
        });
        let caller = Caller::Session(&self.session);
        match self
            .client
            .send("POST", "/api/v1/tokens", caller, Some(body))
        {
            Outcome::Answer(201, body) => {
                self.figures.created += 1;
                self.tokens.push(Tracked {
                    id: str_field(&body["token"], "id"),
                    owner: self.owner,
                    secret: Some(str_field(&body, "secret")),
                    generation: body["token"]["generation"].as_u64().unwrap_or(0),
                    replaced: Vec::new(),
                    fate: Fate::Live,
                });
            }
            Outcome::Answer(409, body) if body["code"] == "active_token_limit" => {
                self.figures.at_limit += 1;
            }
            Outcome::Answer(status, body) => self.unexpected("create", status, &body),
            Outcome::Refused => return self.refused(),
            Outcome::Lost => {
                self.figures.create_lost += 1;
                return false;
            }
        }
        true
    }

    fn revoke(&mut self) -> bool {
        let Some(i) = self.pick(false) else {
            return self.create();
        };
        let path = format!("/api/v1/tokens/{}/revoke", self.tokens[i].id);
        let caller = Caller::Session(&self.session);
        match self.client.send("POST", &path, caller, None) {
            Outcome::Answer(200, body) => {
                self.figures.revoked += 1;
                self.tokens[i].fate = Fate::Revoked;
                if body["status"] != "revoked" {
                    self.unexpected("revoke", 200, &body);
                }
            }
            Outcome::Answer(status, body) => self.unexpected("revoke", status, &body),
            Outcome::Refused => return self.refused(),
            Outcome::Lost => {
                self.figures.revoke_lost += 1;
                self.tokens[i].fate = Fate::MaybeRevoked;
                return false;
            }
        }
        true
    }

    fn regenerate(&mut self) -> bool {
        let Some(i) = self.pick(false) else {
            return self.create();
        };
        let path = format!("/api/v1/tokens/{}/regenerate", self.tokens[i].id);
        let caller = Caller::Session(&self.session);
        let body = json!({"expires_in_days": 30});
        match self.client.send("POST", &path, caller, Some(body)) {
            Outcome::Answer(200, body) => {
                self.figures.regenerated += 1;
                let token = &mut self.tokens[i];
                let generation = body["token"]["generation"].as_u64().unwrap_or(0);
                if generation != token.generation + 1 {
                    self.problems.push(format!(
                        "{} regenerate of {} answered generation {generation} after {}",
                        self.label, token.id, token.generation
                    ));
                }
                token.generation = generation;
                let old = token.secret.replace(str_field(&body, "secret"));
                if let Some(old) = old {
                    token.replaced.push(old.clone());
                    let id = token.id.clone();
                    // The old secret dies with the answer, not some time later.
                    if let Outcome::Answer(status, body) =
                        self.client
                            .send("GET", "/api/v1/me", Caller::Bearer(&old), None)
                    {
                        if status == 401 {
                            self.figures.dead_refused += 1;
                        } else {
                            self.problems.push(format!(
                                "{} the replaced secret of {id} still answers {status} {body}",
                                self.label
                            ));
                        }
                    }
                }
            }
            Outcome::Answer(status, body) => self.unexpected("regenerate", status, &body),
            Outcome::Refused => return self.refused(),
            Outcome::Lost => {
                self.figures.regenerate_lost += 1;
                self.tokens[i].fate = Fate::MaybeRegenerated;
                return false;
            }
        }
        true
    }

    /// Uses a live token (`/me` or `/auth/check`), now and then a dead secret.
    fn authenticate(&mut self) -> bool {
        let dead: Vec<String> = self
            .tokens
            .iter()
            .flat_map(|t| {
                let revoked = (t.fate == Fate::Revoked)
                    .then(|| t.secret.clone())
                    .flatten();
                t.replaced.iter().cloned().chain(revoked)
            })
            .collect();
        if !dead.is_empty() && self.rng.below(8) == 0 {
            let secret = &dead[self.rng.below(dead.len())];
            return match self
                .client
                .send("GET", "/api/v1/me", Caller::Bearer(secret), None)
            {
                Outcome::Answer(401, _) => {
                    self.figures.dead_refused += 1;
                    true
                }
                Outcome::Answer(status, body) => {
                    self.unexpected("a revoked or replaced secret on /me", status, &body);
                    true
                }
                Outcome::Refused => self.refused(),
                Outcome::Lost => {
                    self.figures.auth_lost += 1;
                    false
                }
            };
        }
        let Some(i) = self.pick(true) else {
            return self.create();
        };
        let token = self.tokens[i].clone();
        let secret = token.secret.as_deref().unwrap_or_default();
        let (path, ok) = if self.rng.below(2) == 0 {
            ("/api/v1/me", 200)
        } else {
            ("/api/v1/auth/check?resource=jobs&operation=list", 204)
        };
        match self.client.send("GET", path, Caller::Bearer(secret), None) {
            Outcome::Answer(status, body) if status == ok => {
                self.figures.auth_ok += 1;
                if ok == 200 && body["token"]["id"] != token.id.as_str() {
                    self.unexpected("/me names another token", status, &body);
                }
            }
            Outcome::Answer(status, body) => {
                self.unexpected(&format!("live token {} on {path}", token.id), status, &body);
            }
            Outcome::Refused => return self.refused(),
            Outcome::Lost => {
                self.figures.auth_lost += 1;
                return false;
            }
        }
        true
    }
}

/// After the restart: every acknowledged change is there, lost requests resolved one
/// way or the other, and each user's token list holds nothing unexplained.
fn verify(
    app: &TestApp,
    sessions: &[Session],
    ledger: &mut Vec<Tracked>,
    lost_creates: &[u64; USERS],
    figures: &mut Figures,
    problems: &mut Vec<String>,
) {
    for token in ledger.iter_mut() {
        let reply = app.get(
            &format!("/api/v1/tokens/{}", token.id),
            &sessions[token.owner],
        );
        if reply.status != 200 {
            problems.push(format!(
                "token {} ({:?}, acknowledged by a 201) is gone: {} {}",
                token.id, token.fate, reply.status, reply.body
            ));
            continue;
        }
        let stored = reply.json();
        let status = stored["status"].as_str().unwrap_or_default();
        let generation = stored["generation"].as_u64().unwrap_or(0);
        let (fate, expected) = match token.fate {
            Fate::Revoked => (Fate::Revoked, "revoked"),
            Fate::MaybeRevoked if status == "revoked" => {
                figures.lost_revokes_committed += 1;
                (Fate::Revoked, "revoked")
            }
            Fate::MaybeRevoked | Fate::Live => (Fate::Live, "active"),
            Fate::MaybeRegenerated => {
                if generation == token.generation + 1 {
                    figures.lost_regenerates_committed += 1;
                    token.replaced.extend(token.secret.take());
                    token.generation = generation;
                }
                (Fate::Live, "active")
            }
        };
        if status != expected {
            problems.push(format!(
                "token {} should be {expected} ({:?}) but is {status}: {stored}",
                token.id, token.fate
            ));
        }
        token.fate = fate;
        if generation != token.generation {
            problems.push(format!(
                "token {} is at generation {generation}, the last acknowledged is {}",
                token.id, token.generation
            ));
        }
        if let Some(secret) = &token.secret {
            let me = app.me_bearer(secret);
            let works = me.status == 200 && me.json()["token"]["id"] == token.id.as_str();
            match (token.fate, works) {
                (Fate::Live, false) => problems.push(format!(
                    "active token {}'s acknowledged secret is refused: {} {}",
                    token.id, me.status, me.body
                )),
                (Fate::Revoked, _) if me.status != 401 => problems.push(format!(
                    "revoked token {} still authenticates: {} {}",
                    token.id, me.status, me.body
                )),
                _ => {}
            }
        }
        for old in &token.replaced {
            let me = app.me_bearer(old);
            if me.status != 401 {
                problems.push(format!(
                    "a replaced secret of token {} answers {} {}",
                    token.id, me.status, me.body
                ));
            }
        }
    }

    for (owner, session) in sessions.iter().enumerate() {
        let active = app.list_tokens(session, "?status=active&page_size=100");
        let count = active["total_items"].as_u64().unwrap_or(u64::MAX);
        figures.max_active = figures.max_active.max(count);
        if count > ACTIVE_LIMIT {
            problems.push(format!(
                "user {owner} has {count} active tokens, more than the limit {ACTIVE_LIMIT}: {:?}",
                item_ids(&active)
            ));
        }
        let known: HashSet<&str> = ledger
            .iter()
            .filter(|t| t.owner == owner)
            .map(|t| t.id.as_str())
            .collect();
        let unknown: Vec<Value> = all_tokens(app, session)
            .into_iter()
            .filter(|t| !known.contains(t["id"].as_str().unwrap_or_default()))
            .collect();
        // Only a create whose answer was lost (this cycle) may leave a token we never saw.
        if unknown.len() as u64 > lost_creates[owner] {
            problems.push(format!(
                "user {owner} has {} token(s) no acknowledged create made, but only {} \
                 create(s) lost their answer: {unknown:?}",
                unknown.len(),
                lost_creates[owner]
            ));
        }
        figures.lost_creates_committed += unknown.len() as u64;
        let found: Vec<Tracked> = unknown
            .iter()
            .map(|t| Tracked {
                id: str_field(t, "id"),
                owner,
                secret: None,
                generation: t["generation"].as_u64().unwrap_or(0),
                replaced: Vec::new(),
                fate: if t["status"] == "active" {
                    Fate::Live
                } else {
                    Fate::Revoked
                },
            })
            .collect();
        ledger.extend(found);
    }
}

/// Every token of the session's user, all pages.
fn all_tokens(app: &TestApp, session: &Session) -> Vec<Value> {
    let mut tokens = Vec::new();
    for page in 1.. {
        let reply = app.list_tokens(session, &format!("?status=all&page_size=100&page={page}"));
        tokens.extend(reply["items"].as_array().cloned().unwrap_or_default());
        if reply["total_pages"].as_u64().unwrap_or(0) <= page {
            break;
        }
    }
    tokens
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct IntegrityCheck {
    #[diesel(sql_type = Text)]
    integrity_check: String,
}

/// Changes committed without their audit event or notice. The store writes a change,
/// its event and its notice in one transaction, so every count must be zero.
#[derive(Debug, Default)]
struct Gaps {
    unaudited_creates: i64,
    unaudited_revokes: i64,
    unaudited_regenerates: i64,
    missing_created_notices: i64,
}

enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Db {
    fn count(&mut self, sql: &str) -> i64 {
        let row: Count = match self {
            Db::Sqlite(conn) => diesel::sql_query(sql).get_result(conn),
            Db::Postgres(conn) => diesel::sql_query(sql).get_result(conn),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        row.n
    }
}

/// The database's own checks (SQLite: `integrity_check`, `foreign_key_check`) and the
/// invariants as queries on either backend; returns the audit and notice gaps.
fn check_database(url: &str, problems: &mut Vec<String>) -> Gaps {
    let mut db = if let Some(path) = url.strip_prefix("sqlite://") {
        let mut conn = SqliteConnection::establish(path).expect("open the SQLite file");
        conn.batch_execute("PRAGMA busy_timeout = 10000;")
            .expect("busy timeout");
        let verdict: Vec<IntegrityCheck> = diesel::sql_query("PRAGMA integrity_check")
            .load(&mut conn)
            .expect("PRAGMA integrity_check");
        let verdict: Vec<&str> = verdict.iter().map(|r| r.integrity_check.as_str()).collect();
        if verdict != ["ok"] {
            problems.push(format!("PRAGMA integrity_check: {verdict:?}"));
        }
        Db::Sqlite(conn)
    } else {
        Db::Postgres(PgConnection::establish(url).expect("connect to PostgreSQL"))
    };
    if matches!(db, Db::Sqlite(_)) {
        let broken = db.count("SELECT count(*) AS n FROM pragma_foreign_key_check");
        if broken != 0 {
            problems.push(format!("PRAGMA foreign_key_check: {broken} row(s)"));
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros();
    let invariants = [
        (
            "owners over the active limit",
            format!(
                "SELECT count(*) AS n FROM (SELECT owner_id FROM tokens \
                 WHERE revoked_at IS NULL AND expires_at > {now} \
                 GROUP BY owner_id HAVING count(*) > {ACTIVE_LIMIT}) AS o"
            ),
        ),
        (
            "tokens whose owner does not exist",
            "SELECT count(*) AS n FROM tokens t \
             WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.owner_id)"
                .to_owned(),
        ),
        (
            "scopes whose token does not exist",
            "SELECT count(*) AS n FROM token_scopes s \
             WHERE NOT EXISTS (SELECT 1 FROM tokens t WHERE t.id = s.token_id)"
                .to_owned(),
        ),
        (
            "tokens without a scope",
            "SELECT count(*) AS n FROM tokens t \
             WHERE NOT EXISTS (SELECT 1 FROM token_scopes s WHERE s.token_id = t.id)"
                .to_owned(),
        ),
    ];
    for (what, sql) in invariants {
        let n = db.count(&sql);
        if n != 0 {
            problems.push(format!("{n} {what}"));
        }
    }
    let unaudited = |action: &str, filter: &str| {
        format!(
            "SELECT count(*) AS n FROM tokens t WHERE {filter} \
             (SELECT count(*) FROM audit_events a WHERE a.token_id = t.id AND a.action = '{action}')"
        )
    };
    let gaps = Gaps {
        unaudited_creates: db.count(&unaudited("token.created", "0 =")),
        unaudited_revokes: db.count(&unaudited(
            "token.revoked",
            "t.revoked_at IS NOT NULL AND 0 =",
        )),
        unaudited_regenerates: db.count(&unaudited("token.regenerated", "t.generation - 1 >")),
        missing_created_notices: db.count(
            "SELECT count(*) AS n FROM tokens t WHERE NOT EXISTS \
             (SELECT 1 FROM outbox o WHERE o.token_id = t.id AND o.kind = 'created')",
        ),
    };
    if gaps.unaudited_creates
        + gaps.unaudited_revokes
        + gaps.unaudited_regenerates
        + gaps.missing_created_notices
        != 0
    {
        problems.push(format!(
            "changes committed without their audit event or notice: {gaps:?}"
        ));
    }
    gaps
}

/// Who a client request is from.
#[derive(Clone, Copy)]
enum Caller<'a> {
    Session(&'a Session),
    Bearer(&'a str),
}

/// What became of a request.
enum Outcome {
    /// patd answered.
    Answer(u16, Value),
    /// The connection was refused: the request never reached patd.
    Refused,
    /// The connection was reset or cut: patd may or may not have done it.
    Lost,
}

/// A client of its own per thread; unlike the harness's, it reports transport errors
/// as [`Outcome::Lost`] instead of failing the test.
struct Client {
    agent: ureq::Agent,
    address: String,
}

impl Client {
    fn new(address: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client {
            agent,
            address: address.to_owned(),
        }
    }

    fn send(&self, method: &str, path: &str, caller: Caller<'_>, body: Option<Value>) -> Outcome {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.address));
        builder = match caller {
            Caller::Session(session) => builder
                .header("Cookie", &session.cookie)
                .header("X-CSRF-Token", &session.csrf_token),
            Caller::Bearer(secret) => builder.header("Authorization", format!("Bearer {secret}")),
        };
        let result = if method == "GET" {
            self.agent.run(builder.body(()).expect("valid request"))
        } else {
            let bytes = body.map_or_else(Vec::new, |b| b.to_string().into_bytes());
            let request = builder
                .header("Content-Type", "application/json")
                .body(bytes)
                .expect("valid request");
            self.agent.run(request)
        };
        let mut response = match result {
            Ok(response) => response,
            Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                return Outcome::Refused;
            }
            Err(_) => return Outcome::Lost,
        };
        let status = response.status().as_u16();
        // An answer cut short by the kill is no answer.
        let Ok(text) = response.body_mut().read_to_string() else {
            return Outcome::Lost;
        };
        Outcome::Answer(status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// splitmix64: enough randomness for an operation mix, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z % n as u64) as usize
    }
}
