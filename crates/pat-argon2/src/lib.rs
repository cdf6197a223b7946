//! # pat-argon2
//!
//! pat-core's [`PasswordHasher`] port with argon2id (the `argon2` crate's defaults: 19
//! MiB, 2 passes). Every hash and check runs on one dedicated thread behind a bounded
//! queue, so neither a flood of sign-ins nor of user creations can stall the server or
//! grow memory without bound: one job more than [`PASSWORD_QUEUE`] is refused at once
//! with [`HashError::Busy`] (503 `busy` over HTTP).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock, PoisonError};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use async_trait::async_trait;
use pat_core::ports::{Cause, HashError, PasswordHasher};
/// Most password jobs waiting for the password thread. Each takes tens of
/// milliseconds, so a full queue is about a second of work; one more is answered 503
/// `busy` at once instead of waiting.
pub const PASSWORD_QUEUE: usize = 16;

/// Seconds a caller refused for a full queue is told to wait.
const BUSY_RETRY_SECS: u64 = 1;

/// argon2 computations (hashes and verifications) since the process started.
static ARGON2_RUNS: AtomicU64 = AtomicU64::new(0);

/// How many argon2 computations (hashes and verifications) this process has run: the
/// `patd_password_hashes_total` metric.
pub fn password_hashes() -> u64 {
    ARGON2_RUNS.load(Ordering::Relaxed)
}

/// Hashes a password with argon2id (PHC string).
///
/// # Errors
/// [`HashError::Failed`] if hashing fails.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Failed(Cause::found(e.to_string()));
    let mut salt = [0_u8; 16];
    rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut salt).map_err(|e| failed(&e))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| failed(&e))?;
    ARGON2_RUNS.fetch_add(1, Ordering::Relaxed);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| failed(&e))
}

/// Checks a password against a PHC hash; a malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            ARGON2_RUNS.fetch_add(1, Ordering::Relaxed);
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

type PasswordJob = Box<dyn FnOnce() + Send>;

/// A thread that runs password jobs one at a time, fed by a queue of bounded length.
struct PasswordWorker {
    jobs: Mutex<SyncSender<PasswordJob>>,
}

impl PasswordWorker {
    /// Starts the thread; at most `capacity` jobs wait for it.
    fn start(capacity: usize) -> Self {
        let (jobs, queue) = mpsc::sync_channel::<PasswordJob>(capacity);
        let started = std::thread::Builder::new()
            .name("pat-passwords".to_owned())
            .spawn(move || {
                for job in queue {
                    job();
                }
            });
        if let Err(e) = started {
            // The queue's receiver is gone with the closure: every job then fails.
            tracing::error!(error = %e, "cannot start the password thread");
        }
        Self {
            jobs: Mutex::new(jobs),
        }
    }

    /// Queues `work` and awaits its answer without holding a thread.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: PasswordJob = Box::new(move || {
            let _ = reply.send(work());
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_send(job);
        let stopped = || HashError::Failed(Cause::found("the password thread stopped"));
        match sent {
            Ok(()) => answer.await.map_err(|_| stopped()),
            Err(TrySendError::Full(_)) => Err(HashError::Busy {
                retry_after_secs: BUSY_RETRY_SECS,
            }),
            Err(TrySendError::Disconnected(_)) => Err(stopped()),
        }
    }
}

/// Runs password work (argon2id: ~19 MiB and tens of milliseconds per call) on one
/// dedicated thread, one call at a time. The caller awaits the answer without holding
/// any thread; at most [`PASSWORD_QUEUE`] jobs wait, and the allocator keeps one argon2
/// buffer instead of one per thread that ever hashed (`docs/reliability.md`).
///
/// # Errors
/// [`HashError::Busy`] when the queue is full; [`HashError::Failed`] if the password
/// thread is gone.
pub async fn on_password_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashError> {
    static WORKER: OnceLock<PasswordWorker> = OnceLock::new();
    WORKER
        .get_or_init(|| PasswordWorker::start(PASSWORD_QUEUE))
        .run(work)
        .await
}

/// An argon2id hash of a random password: checked against when there is no hash (an
/// unknown email), so timing does not tell which accounts exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0oWWBo6RkdBp7rvZfo8l4vm7HMTNhqH9yn+tFOXxXdE";

/// [`PasswordHasher`] with argon2id on the process's one password thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Argon2Hasher;

#[async_trait]
impl PasswordHasher for Argon2Hasher {
    async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = zeroize_on_drop(password);
        on_password_thread(move || hash_password(&password)).await?
    }

    async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, HashError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or(DUMMY_HASH).to_owned();
        let password = zeroize_on_drop(password);
        let matches = on_password_thread(move || verify_password(&password, &hash)).await?;
        Ok(matches && known)
    }
}

/// A copy of a password that is wiped when the job is done with it.
fn zeroize_on_drop(password: &str) -> zeroize::Zeroizing<String> {
    zeroize::Zeroizing::new(password.to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn password_work_runs_on_its_one_thread_and_answers_the_caller() {
        let hash = on_password_thread(|| hash_password("a long password"))
            .await
            .expect("the thread answers")
            .expect("hashed");
        let (name, valid) = on_password_thread(move || {
            (
                std::thread::current().name().map(str::to_owned),
                verify_password("a long password", &hash),
            )
        })
        .await
        .expect("the thread answers");
        assert_eq!(name.as_deref(), Some("pat-passwords"));
        assert!(valid);
        let other = on_password_thread(|| std::thread::current().id()).await;
        let again = on_password_thread(|| std::thread::current().id()).await;
        assert_eq!(
            other.expect("answer"),
            again.expect("answer"),
            "always the same thread"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_password_queue_answers_busy_at_once() {
        let worker = std::sync::Arc::new(PasswordWorker::start(2));
        // Hold the thread, then fill the queue behind it.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::spawn({
            let worker = worker.clone();
            async move {
                worker
                    .run(move || {
                        let _ = started.send(());
                        let _ = held.recv_timeout(Duration::from_secs(30));
                    })
                    .await
            }
        });
        running
            .recv_timeout(Duration::from_secs(10))
            .expect("the blocker runs");
        let queued: Vec<_> = (0..2)
            .map(|_| {
                let worker = worker.clone();
                tokio::spawn(async move { worker.run(|| ()).await })
            })
            .collect();
        // Let the spawned jobs enqueue.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let refused = worker.run(|| ()).await.expect_err("the queue is full");
        assert_eq!(
            refused,
            HashError::Busy {
                retry_after_secs: BUSY_RETRY_SECS
            }
        );
        release.send(()).expect("release the thread");
        blocker.await.expect("joined").expect("the blocker ran");
        for job in queued {
            job.await.expect("joined").expect("queued work runs later");
        }
    }

    #[tokio::test]
    async fn the_adapter_checks_against_a_dummy_hash_when_there_is_none() {
        let hash = Argon2Hasher.hash("a long password").await.expect("hash");
        assert!(
            Argon2Hasher
                .verify("a long password", Some(&hash))
                .await
                .expect("verify")
        );
        assert!(
            !Argon2Hasher
                .verify("another password", Some(&hash))
                .await
                .expect("verify")
        );
        let before = password_hashes();
        assert!(
            !Argon2Hasher
                .verify("a long password", None)
                .await
                .expect("verify")
        );
        assert!(
            password_hashes() > before,
            "a missing hash costs one argon2 run, like a real check"
        );
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash_and_every_run_is_counted() {
        let before = password_hashes();
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("wrong horse battery", &hash));
        assert!(!verify_password("anything", "not a PHC string"));
        assert!(password_hashes() >= before + 3);
    }
}
