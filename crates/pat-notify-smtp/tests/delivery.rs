//! Mail delivery against a real SMTP server on loopback (mailin-embedded), with the
//! Clock port driving time and a SQLite outbox: the exact mails, exactly once, across
//! outages, temporary refusals, a refused recipient and a restart.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use pat_core::model::{Actor, DeliveryStatus, PageRequest, Role};
use pat_core::ports::{Clock, ManualClock};
use pat_core::{CreateTokenRequest, NewUser, PatService, ServerKey};
use pat_notify_smtp::test_server::{ReceivedMail, Response, TestSmtpServer, free_port};
use pat_notify_smtp::{SmtpConfig, SmtpNotifier};

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap()
}

/// patd's pieces without HTTP: a SQLite store, the SMTP notifier, a manual clock.
struct World {
    service: PatService,
    clock: Arc<ManualClock>,
}

async fn world(db: &Path, smtp_port: u16, now: DateTime<Utc>) -> World {
    world_with_timeout(db, smtp_port, now, StdDuration::from_secs(5)).await
}

async fn world_with_timeout(
    db: &Path,
    smtp_port: u16,
    now: DateTime<Utc>,
    timeout: StdDuration,
) -> World {
    let store = pat_store_diesel::connect(&format!("sqlite://{}", db.display())).unwrap();
    store.migrate().await.unwrap();
    let clock = Arc::new(ManualClock::new(now));
    let config = SmtpConfig {
        url: format!("smtp://127.0.0.1:{smtp_port}"),
        from: "patd <patd@example.com>".into(),
        public_url: "https://pat.example.com".into(),
        timeout,
    };
    let notifier = SmtpNotifier::with_clock(&config, clock.clone()).unwrap();
    let service = PatService::builder()
        .storage(store.storage())
        .notifier(Arc::new(notifier))
        .clock(clock.clone())
        .rng(rand::rngs::SysRng)
        .server_key(ServerKey::new(vec![3; 32]).unwrap())
        .build()
        .unwrap();
    World { service, clock }
}

impl World {
    async fn user(&self, email: &str) -> Actor {
        let new = NewUser {
            email: email.into(),
            name: email.split('@').next().unwrap().into(),
            role: Role::Member,
        };
        Actor::session(
            self.service.create_user(None, new, None).await.unwrap(),
            None,
        )
    }

    async fn token(&self, actor: &Actor, name: &str, days: i64) -> String {
        let request = CreateTokenRequest {
            name: name.into(),
            expires_in_days: days,
            scopes: vec!["jobs:list".into()],
            ..Default::default()
        };
        let issued = self.service.create_token(actor, request).await.unwrap();
        issued.secret.expose().to_owned()
    }

    async fn pass(&self) -> pat_core::ReminderRun {
        self.service.send_due_reminders(100).await.unwrap()
    }

    fn at(&self, offset: Duration) {
        self.clock.set(start() + offset);
    }
}

fn db_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("patd.db")
}

fn subjects(inbox: &[ReceivedMail]) -> Vec<String> {
    inbox.iter().map(ReceivedMail::subject).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_exact_mails_for_the_seven_day_and_expiry_boundaries_go_out_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = TestSmtpServer::start(port, &[]);
    let w = world(&db_in(&dir), port, start()).await;
    let alice = w.user("alice@example.com").await;
    let mut secrets = vec![
        w.token(&alice, "ci", 30).await,
        w.token(&alice, "deploy", 10).await,
    ];
    assert_eq!(w.pass().await.sent, 2, "two created-token notices");

    for (offset, expected) in [
        (Duration::days(3) - Duration::seconds(1), vec![]),
        (
            Duration::days(3),
            vec!["Your personal access token \"deploy\" expires in 7 days"],
        ),
        (Duration::days(5), vec![]),
        (
            Duration::days(10),
            vec!["Your personal access token \"deploy\" has expired"],
        ),
        (
            Duration::days(23),
            vec!["Your personal access token \"ci\" expires in 7 days"],
        ),
        (Duration::days(29), vec![]),
        (
            Duration::days(30),
            vec!["Your personal access token \"ci\" has expired"],
        ),
        (Duration::days(40), vec![]),
    ] {
        let before = smtp.inbox().len();
        w.at(offset);
        w.pass().await;
        w.pass().await;
        let new: Vec<String> = subjects(&smtp.inbox()[before..]);
        assert_eq!(new, expected, "at +{offset}");
    }
    let inbox = smtp.inbox();
    assert_eq!(inbox.len(), 6);
    assert!(inbox.iter().all(|m| m.to == ["alice@example.com"]));
    let first = &inbox[0].text;
    assert!(
        first.contains("Content-Type: text/plain") && first.contains("Content-Type: text/html")
    );
    assert!(
        first.contains("https://pat.example.com/tokens/"),
        "links to the token page"
    );
    assert!(first.contains("2026-01-31 00:00 UTC"), "expiry in UTC");
    secrets.retain(|s| !s.is_empty());
    for mail in &inbox {
        for secret in &secrets {
            assert!(
                !mail.text.contains(secret.as_str()),
                "a mail carries a secret"
            );
            assert!(
                !mail.text.contains(&secret[4..47]),
                "a mail carries a secret's body"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn server_down_then_up_delivers_every_mail_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let w = world(&db_in(&dir), port, start()).await;
    let bob = w.user("bob@example.com").await;
    w.token(&bob, "one", 30).await;
    w.token(&bob, "two", 30).await;
    let down = w.pass().await;
    assert_eq!(
        (down.sent, down.retried),
        (0, 2),
        "refused connections are retried later"
    );
    let smtp = TestSmtpServer::start(port, &[]);
    w.pass().await;
    assert!(smtp.inbox().is_empty(), "retries wait for their backoff");
    w.at(Duration::seconds(30));
    assert_eq!(w.pass().await.sent, 2);
    w.at(Duration::hours(2));
    assert_eq!(w.pass().await.sent, 0);
    assert_eq!(smtp.inbox().len(), 2, "each mail exactly once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_451_then_250_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = TestSmtpServer::start(port, &[]);
    smtp.reply_next_rcpt_with(Response::custom(
        451,
        "4.7.1 Greylisted, try again later".to_owned(),
    ));
    let w = world(&db_in(&dir), port, start()).await;
    let carol = w.user("carol@example.com").await;
    w.token(&carol, "ci", 30).await;
    let first = w.pass().await;
    assert_eq!((first.sent, first.retried), (0, 1), "451 is temporary");
    w.at(Duration::seconds(30));
    assert_eq!(w.pass().await.sent, 1);
    w.at(Duration::hours(1));
    w.pass().await;
    assert_eq!(smtp.inbox().len(), 1);
    let outbox = w
        .service
        .outbox(&admin(&w).await, None, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(outbox.items[0].status, DeliveryStatus::Sent);
    assert_eq!(outbox.items[0].attempts, 2);
}

/// A 451 after the message body: this server then leaves the conversation hanging, so
/// the notifier's own time limit ends the attempt; the retry delivers once.
#[tokio::test(flavor = "multi_thread")]
async fn a_451_after_the_body_then_250_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = TestSmtpServer::start(port, &[]);
    smtp.reply_next_data_with(Response::custom(451, "4.3.0 Try again later".to_owned()));
    let w = world_with_timeout(&db_in(&dir), port, start(), StdDuration::from_secs(2)).await;
    let frank = w.user("frank@example.com").await;
    w.token(&frank, "ci", 30).await;
    assert_eq!(w.pass().await.retried, 1);
    w.at(Duration::seconds(30));
    assert_eq!(w.pass().await.sent, 1);
    w.at(Duration::hours(1));
    w.pass().await;
    assert_eq!(smtp.inbox().len(), 1);
}

async fn admin(w: &World) -> Actor {
    let new = NewUser {
        email: format!("admin{}@example.com", w.clock.now().timestamp()),
        name: "Admin".into(),
        role: Role::Admin,
    };
    Actor::session(w.service.create_user(None, new, None).await.unwrap(), None)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_recipient_is_recorded_and_the_others_go_out() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = TestSmtpServer::start(port, &["bounce@example.com"]);
    let w = world(&db_in(&dir), port, start()).await;
    let bounce = w.user("bounce@example.com").await;
    let broken = w.user("broken@@example.com").await;
    let dave = w.user("dave@example.com").await;
    w.token(&bounce, "ci", 30).await;
    w.token(&broken, "ci", 30).await;
    w.token(&dave, "ci", 30).await;
    let run = w.pass().await;
    assert_eq!((run.sent, run.failed), (1, 2));
    assert_eq!(smtp.inbox().len(), 1);
    assert_eq!(smtp.inbox()[0].to, ["dave@example.com"]);
    let failed = w
        .service
        .outbox(
            &admin(&w).await,
            Some(DeliveryStatus::Failed),
            PageRequest::default(),
        )
        .await
        .unwrap();
    let mut errors: Vec<String> = failed
        .items
        .iter()
        .map(|m| m.last_error.clone().unwrap_or_default())
        .collect();
    errors.sort();
    assert_eq!(errors.len(), 2);
    assert!(
        errors.iter().any(|e| e.contains("550")),
        "the server's refusal is recorded: {errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("recipient address \"broken@@example.com\" is unusable")),
        "a malformed address is recorded: {errors:?}"
    );
    w.at(Duration::hours(3));
    assert_eq!(
        w.pass().await,
        pat_core::ReminderRun::default(),
        "failed messages are not retried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_neither_loses_nor_duplicates_mail() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    {
        let before = world(&db_in(&dir), port, start()).await;
        let erin = before.user("erin@example.com").await;
        before.token(&erin, "ci", 5).await;
        assert_eq!(
            before.pass().await.retried,
            2,
            "no server yet: the created notice and the 7-day reminder wait in the outbox"
        );
    }
    let smtp = TestSmtpServer::start(port, &[]);
    let after = world(&db_in(&dir), port, start() + Duration::minutes(10)).await;
    let run = after.pass().await;
    assert_eq!(
        (run.queued, run.sent),
        (0, 2),
        "both delivered after the restart"
    );
    {
        let again = world(&db_in(&dir), port, start() + Duration::minutes(20)).await;
        assert_eq!(
            again.pass().await,
            pat_core::ReminderRun::default(),
            "nothing twice after a restart"
        );
    }
    assert_eq!(
        subjects(&smtp.inbox()),
        [
            "A new personal access token \"ci\" was created",
            "Your personal access token \"ci\" expires in 5 days"
        ]
    );
}
