//! Password work: argon2id hashing and verification on one dedicated thread behind a
//! bounded queue, so neither a flood of sign-ins nor of user creations can stall the
//! server or grow memory without bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock, PoisonError};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::problem::ApiError;

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
/// `internal` if hashing fails.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0_u8; 16];
    rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut salt)
        .map_err(|e| ApiError::internal(&std::io::Error::other(e.to_string())))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| ApiError::internal(&std::io::Error::other(e.to_string())))?;
    ARGON2_RUNS.fetch_add(1, Ordering::Relaxed);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| ApiError::internal(&std::io::Error::other(e.to_string())))
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

/// Checks a new password for the account with `email` by pat-core's rules
/// ([`pat_core::policy::check_password`]).
///
/// # Errors
/// `invalid_user` naming the rule.
pub fn check_password_rules(password: &str, email: &str) -> Result<(), ApiError> {
    pat_core::policy::check_password(password, email)
        .map_err(|e| ApiError::unprocessable("invalid_user", e.to_string()))
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
    ) -> Result<T, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: PasswordJob = Box::new(move || {
            let _ = reply.send(work());
        });
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_send(job);
        let stopped = || ApiError::internal(&std::io::Error::other("the password thread stopped"));
        match sent {
            Ok(()) => answer.await.map_err(|_| stopped()),
            Err(TrySendError::Full(_)) => Err(ApiError::busy(
                BUSY_RETRY_SECS,
                "the server is busy checking passwords; retry in a second",
            )),
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
/// 503 `busy` with `Retry-After` when the queue is full; `internal` if the password
/// thread is gone.
pub async fn on_password_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    static WORKER: OnceLock<PasswordWorker> = OnceLock::new();
    WORKER
        .get_or_init(|| PasswordWorker::start(PASSWORD_QUEUE))
        .run(work)
        .await
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
        assert_eq!(refused.code(), "busy");
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.retry_after(), Some(BUSY_RETRY_SECS));
        release.send(()).expect("release the thread");
        blocker.await.expect("joined").expect("the blocker ran");
        for job in queued {
            job.await.expect("joined").expect("queued work runs later");
        }
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
        assert_eq!(
            check_password_rules("short", "a@example.com")
                .expect_err("7 chars")
                .code(),
            "invalid_user"
        );
    }
}
