//! Revocation propagation between patd processes on one database, measured as a client
//! sees it (run by `scripts/propagation-bench.sh`, which starts the servers).
//!
//! Each round: create a token on A, let B check it until B's verification cache holds
//! it, revoke it on A (`PROP_REVOKER=api`) or with the CLI (`PROP_REVOKER=cli`), then ask
//! B until B refuses. The figure of a round is the time from the revoke call's return to
//! the sending of B's first refused check. Meanwhile a second thread keeps B busy with
//! checks of another token. A check B accepts that was sent more than the bound after
//! the revoke returned is a violation. With `PROP_KILL_EVERY=K`, B's change watcher
//! connection is terminated (`pg_terminate_backend`) just before every K-th revocation.
//!
//! Settings (environment): `PROP_A`, `PROP_B` (base URLs), `PROP_EMAIL`,
//! `PROP_PASSWORD` (an admin on both), `PROP_ROUNDS` (default 200), `PROP_BOUND_MS`
//! (default 1000), `PROP_REVOKER` (`api` or `cli`), `PROP_PATD` (the binary, for `cli`;
//! it inherits `PATD_DATABASE_URL` and friends), `PROP_PG_URL` and `PROP_KILL_EVERY`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: failing loudly is the point

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn setting(name: &str, default: Option<&str>) -> String {
    std::env::var(name)
        .ok()
        .or_else(|| default.map(str::to_owned))
        .unwrap_or_else(|| panic!("set {name}"))
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// An admin's session on one instance.
struct Admin {
    base: String,
    cookie: String,
    csrf: String,
    agent: ureq::Agent,
}

impl Admin {
    fn login(base: &str, email: &str, password: &str) -> Self {
        let agent = agent();
        let mut reply = agent
            .post(format!("{base}/api/v1/session"))
            .send_json(json!({"email": email, "password": password}))
            .expect("sign in");
        assert_eq!(reply.status(), 200, "sign-in on {base}");
        let cookie = reply
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.contains("patd_session="))
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_owned();
        let body: Value = reply.body_mut().read_json().expect("JSON");
        Self {
            base: base.to_owned(),
            cookie,
            csrf: body["csrf_token"].as_str().expect("csrf").to_owned(),
            agent,
        }
    }

    fn post(&self, path: &str, body: &Value) -> Value {
        let mut reply = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .header("X-CSRF-Token", &self.csrf)
            .send_json(body)
            .expect("request");
        assert!(
            reply.status().is_success(),
            "POST {path}: {}",
            reply.status()
        );
        reply.body_mut().read_json().unwrap_or(Value::Null)
    }
}

/// `GET /api/v1/auth/check?resource=jobs&operation=list` with `secret`: the status.
fn check(agent: &ureq::Agent, base: &str, secret: &str) -> u16 {
    agent
        .get(format!(
            "{base}/api/v1/auth/check?resource=jobs&operation=list"
        ))
        .header("Authorization", &format!("Bearer {secret}"))
        .call()
        .expect("check")
        .status()
        .as_u16()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let (a, b) = (setting("PROP_A", None), setting("PROP_B", None));
    let (email, password) = (setting("PROP_EMAIL", None), setting("PROP_PASSWORD", None));
    let rounds: usize = setting("PROP_ROUNDS", Some("200")).parse().expect("rounds");
    let bound = Duration::from_millis(setting("PROP_BOUND_MS", Some("1000")).parse().expect("ms"));
    let revoker = setting("PROP_REVOKER", Some("api"));
    let kill_every: usize = setting("PROP_KILL_EVERY", Some("0")).parse().expect("K");
    let admin = Admin::login(&a, &email, &password);
    // Token names are unique per owner: each run names its own.
    let run = std::process::id();

    // B kept busy by a second client checking another token all along.
    let busy_token = admin.post(
        "/api/v1/tokens",
        &json!({"name": format!("busy-{run}"), "expires_in_days": 1, "scopes": ["jobs:list"]}),
    )["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let busy_checks = Arc::new(AtomicU64::new(0));
    let busy = {
        let (stop, count, b, secret) = (stop.clone(), busy_checks.clone(), b.clone(), busy_token);
        std::thread::spawn(move || {
            let agent = agent();
            while !stop.load(Ordering::Relaxed) {
                check(&agent, &b, &secret);
                count.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let on_b = agent();
    let mut delays = Vec::with_capacity(rounds);
    let (mut violations, mut kills) = (0_usize, 0_usize);
    let started = Instant::now();
    for round in 0..rounds {
        let issued = admin.post(
            "/api/v1/tokens",
            &json!({"name": format!("prop-{run}-{round}"), "expires_in_days": 1, "scopes": ["jobs:list"]}),
        );
        let (id, secret) = (
            issued["token"]["id"].as_str().expect("id").to_owned(),
            issued["secret"].as_str().expect("secret").to_owned(),
        );
        // Until B accepts it twice in a row, past its watcher's news of the creation.
        let mut accepted = 0;
        while accepted < 2 {
            accepted = if check(&on_b, &b, &secret) == 204 {
                accepted + 1
            } else {
                0
            };
            std::thread::sleep(Duration::from_millis(10));
        }
        if kill_every > 0 && round % kill_every == kill_every - 1 {
            pat_store_diesel::testing::terminate_connections(
                &setting("PROP_PG_URL", None),
                Some(pat_store_diesel::watch::WATCHER_NAME),
            );
            kills += 1;
        }
        if revoker == "cli" {
            let out = std::process::Command::new(setting("PROP_PATD", None))
                .args(["token", "revoke", &id])
                .output()
                .expect("run the CLI");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            admin.post(&format!("/api/v1/tokens/{id}/revoke"), &json!({}));
        }
        let revoked = Instant::now();
        loop {
            let sent = revoked.elapsed();
            match check(&on_b, &b, &secret) {
                401 => {
                    delays.push(sent);
                    break;
                }
                204 if sent > bound => violations += 1,
                204 => {}
                other => panic!("B answered {other}"),
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    busy.join().expect("busy thread");
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "revoker={revoker} rounds={rounds} watcher_kills={kills} p50_ms={:.1} p99_ms={:.1} max_ms={:.1} \
         violations={violations} (accepted after the {} ms bound) busy_checks_on_b={} elapsed_s={:.0}",
        ms(percentile(&delays, 50.0)),
        ms(percentile(&delays, 99.0)),
        ms(*delays.last().expect("rounds")),
        bound.as_millis(),
        busy_checks.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(violations, 0, "a revoked token passed after the bound");
}
