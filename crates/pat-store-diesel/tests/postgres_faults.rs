//! Losing the PostgreSQL server: a typed "unavailable" error, then recovery.
//!
//! Starts (and stops) a throwaway server of its own with `scripts/pg-throwaway.sh`.

#![allow(clippy::unwrap_used)] // tests say what they expect by failing

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use pat_core::model::{Role, User, UserId};
use pat_core::ports::{Journal, StoreError};
use pat_store_diesel::{PoolOptions, connect_with};

/// A throwaway server, stopped and removed on drop.
struct Server {
    dir: PathBuf,
    _parent: tempfile::TempDir,
}

fn script(command: &str, dir: &PathBuf) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-throwaway.sh");
    let output = Command::new("bash")
        .arg(script)
        .arg(command)
        .arg(dir)
        .output()
        .expect("run the script");
    assert!(
        output.status.success(),
        "pg-throwaway.sh {command} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

impl Server {
    fn start() -> (Self, String) {
        let parent = tempfile::tempdir().expect("temp dir");
        let dir = parent.path().join("pg");
        let url = script("start", &dir);
        (
            Self {
                dir,
                _parent: parent,
            },
            url,
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../scripts/pg-throwaway.sh"
            ))
            .arg("stop")
            .arg(&self.dir)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL server binaries: run ./scripts/test.sh"]
async fn a_lost_server_is_unavailable_and_the_pool_recovers() {
    let (server, url) = Server::start();
    let options = PoolOptions {
        max_size: 4,
        connection_timeout: Duration::from_secs(1),
        ..PoolOptions::default()
    };
    let store = connect_with(&url, options).expect("postgres url");
    store.migrate().await.expect("migrations");
    let storage = store.storage();
    let user = User {
        id: UserId(
            "0190f0a0-0000-7000-8000-0000000000bb"
                .parse()
                .expect("uuid"),
        ),
        email: "fault@example.com".into(),
        name: "Fault".into(),
        role: Role::Member,
        active: true,
    };
    storage
        .users
        .insert(&user, None, &Journal::default())
        .await
        .expect("insert");

    script("pause", &server.dir);
    let err = storage.users.get(user.id).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().starts_with("storage unavailable"), "{err}");

    script("resume", &server.dir);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match storage.users.get(user.id).await {
            Ok(found) => {
                assert_eq!(found, Some(user));
                break;
            }
            Err(e) if Instant::now() < deadline => {
                assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("the pool did not recover: {e}"),
        }
    }
}
