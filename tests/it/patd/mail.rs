//! Mail through the real patd binary and a real SMTP server on loopback: a created
//! token's notice goes out once, and neither a restart nor `patd notify --once` sends
//! it again.

use std::time::{Duration, Instant};

use pat_notify_smtp::test_server::{TestSmtpServer, free_port};
use serde_json::json;

use super::harness::{Auth, Backend, TestApp, spawn_binary_app_with};

fn wait_for_mail(smtp: &TestSmtpServer, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while smtp.inbox().len() < count {
        assert!(
            Instant::now() < deadline,
            "expected {count} mails, got {:?}",
            smtp.inbox().iter().map(|m| m.subject()).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// patd mailing through `smtp`, its notice loop every second, links to
/// `https://pat.example.com`.
fn spawn_mailing(backend: Backend, smtp: &TestSmtpServer) -> TestApp {
    let url = format!("smtp://127.0.0.1:{}", smtp.port());
    // The binary: a test restarts it and reads its log.
    spawn_binary_app_with(
        backend,
        &[
            ("PATD_SMTP_URL", url.as_str()),
            ("PATD_MAIL_FROM", "patd <patd@example.com>"),
            ("PATD_PUBLIC_URL", "https://pat.example.com"),
            ("PATD_NOTIFY_INTERVAL_SECS", "1"),
        ],
    )
}

/// The created-token notice reaches the owner exactly once, across a restart of patd
/// and two `patd notify --once` runs; it names the token and never carries the secret.
pub fn patd_mails_a_created_token_once_across_restarts(backend: Backend) {
    let smtp = TestSmtpServer::start(free_port(), &[]);
    let mut app = spawn_mailing(backend, &smtp);
    let owner = app.user_session("member");
    let issued = app.create_token(&owner, "mailed", 30, &["jobs:list"]);
    let secret = issued.secret.clone();
    wait_for_mail(&smtp, 1);
    let mail = &smtp.inbox()[0];
    assert_eq!(mail.to, [owner.email()]);
    assert_eq!(
        mail.subject(),
        "A new personal access token \"mailed\" was created"
    );
    assert!(
        mail.text
            .contains(&format!("https://pat.example.com/tokens/{}", issued.id()))
    );
    assert!(
        !mail.text.contains(&secret),
        "the secret never goes into mail"
    );

    let ops = app.create_token(&app.admin, "ops", 30, &["admin:read"]);
    app.restart();
    std::thread::sleep(Duration::from_secs(3));
    for _ in 0..2 {
        let run = app.cli(&["notify", "--once"]);
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
    wait_for_mail(&smtp, 2);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(smtp.inbox().len(), 2, "nothing is sent twice");

    let outbox = app
        .get(
            "/api/v1/admin/outbox?status=sent",
            Auth::Bearer(&ops.secret),
        )
        .expect_json(200);
    assert_eq!(
        outbox["total_items"],
        json!(2),
        "the member's notice and the admin's"
    );
    assert_eq!(outbox["items"][1]["kind"], json!("created"));
    assert!(!app.log().contains(&secret));
}

/// Security notices through patd and a real SMTP server: a regeneration mails the owner
/// (each time), and so does a revocation by a public leak report — rendered by the
/// SMTP adapter, never carrying the secret.
pub fn patd_mails_regenerations_and_leak_revocations_over_smtp(backend: Backend) {
    let smtp = TestSmtpServer::start(free_port(), &[]);
    let app = spawn_mailing(backend, &smtp);
    let owner = app.user_session("member");
    let issued = app.create_token(&owner, "rotated", 30, &["jobs:list"]);
    wait_for_mail(&smtp, 1);
    let regenerated = app
        .post(
            &format!("/api/v1/tokens/{}/regenerate", issued.id()),
            &owner,
            &json!({"expires_in_days": 10}),
        )
        .expect_json(200);
    let secret = regenerated["secret"]
        .as_str()
        .expect("new secret")
        .to_owned();
    wait_for_mail(&smtp, 2);
    let mail = &smtp.inbox()[1];
    assert_eq!(mail.to, [owner.email()]);
    assert_eq!(
        mail.subject(),
        "Your personal access token \"rotated\" was regenerated"
    );
    assert!(!mail.text.contains(&secret) && !mail.text.contains(&issued.secret));

    app.post(
        "/api/v1/credentials/revoke",
        Auth::Anonymous,
        &json!({"credentials": [secret]}),
    )
    .expect(202);
    wait_for_mail(&smtp, 3);
    let mail = &smtp.inbox()[2];
    assert_eq!(mail.to, [owner.email()]);
    assert_eq!(
        mail.subject(),
        "Your personal access token \"rotated\" was revoked after a leak report"
    );
    assert!(
        mail.text.contains("create a new token"),
        "a leaked token cannot be regenerated, and the mail says so:\n{}",
        mail.text
    );
    assert!(
        mail.text
            .contains(&format!("https://pat.example.com/tokens/{}", issued.id()))
    );
    assert!(!mail.text.contains(&secret));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(smtp.inbox().len(), 3, "one mail each");
}

/// A secret rotated away and used after its grace period (here none) revokes its token
/// and mails the owner exactly once, however often it is presented; a previous secret
/// used within its grace period mails nothing.
pub fn reuse_after_grace_is_mailed_once_and_reuse_within_grace_not_at_all(backend: Backend) {
    let smtp = TestSmtpServer::start(free_port(), &[]);
    let app = spawn_mailing(backend, &smtp);
    let owner = app.user_session("member");
    let leaked = app.create_token(&owner, "leaked", 30, &["jobs:list"]);
    let graceful = app.create_token(&owner, "graceful", 30, &["jobs:list"]);
    let regenerate = |id: &str, body: serde_json::Value| {
        app.post(&format!("/api/v1/tokens/{id}/regenerate"), &owner, &body)
            .expect_json(200)
    };
    regenerate(&leaked.id(), json!({"expires_in_days": 30}));
    regenerate(
        &graceful.id(),
        json!({"expires_in_days": 30, "grace_minutes": 60}),
    );
    wait_for_mail(&smtp, 4);
    app.assert_works(&graceful.secret);
    for _ in 0..3 {
        app.assert_refused(&leaked.secret);
    }
    wait_for_mail(&smtp, 5);
    std::thread::sleep(Duration::from_secs(3));
    let inbox = smtp.inbox();
    let reuse: Vec<_> = inbox
        .iter()
        .filter(|m| m.subject().contains("an old secret of it was used"))
        .collect();
    assert_eq!(
        reuse.len(),
        1,
        "exactly one reuse mail: {:?}",
        inbox.iter().map(|m| m.subject()).collect::<Vec<_>>()
    );
    assert_eq!(
        reuse[0].subject(),
        "Your personal access token \"leaked\" was revoked: an old secret of it was used"
    );
    assert_eq!(reuse[0].to, [owner.email()]);
    assert!(!reuse[0].text.contains(&leaked.secret), "never the secret");
    assert_eq!(inbox.len(), 5, "nothing for the use within grace");
}
