//! git over HTTP with a personal access token as the password: a real nginx runs the
//! shipped `deploy/nginx/patd-git.conf` (only its addresses and paths substituted) in front
//! of fcgiwrap and `git http-backend` serving a bare repository, asks the real patd about
//! every request, and the real `git`, with default settings, clones and pushes through it.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::harness::{Backend, basic_credentials, get_url, spawn_app_with};
use super::nginx::{Nginx, ensure_nginx, host_port, render_shipped, run_ensure_script};

/// The shipped git configuration.
const SHIPPED_CONF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/nginx/patd-git.conf");

/// How long one git command may take before the test kills it and fails.
const GIT_TIMEOUT: Duration = Duration::from_secs(60);

/// Through nginx, with the real git and neither a credential helper nor a prompt: a
/// `code:read` token as the URL's password clones; a `code:update` token alone pushes, and
/// the bare repository has the commit; a `code:read` token cannot push and a `code:update`
/// token cannot clone (403, repository unchanged); a revoked token and no credentials at
/// all are refused at once, without hanging. The 401 offers Basic, which is what makes
/// git send the password it holds.
pub(super) fn git_clone_and_push_with_a_pat_as_the_password(backend: Backend) {
    ensure_nginx();
    ensure_git_http();
    // nginx reaches patd from 127.0.0.1.
    let app = spawn_app_with(backend, &[("PATD_TRUSTED_PROXIES", "127.0.0.1")]);
    let git = Git::new();
    let repos = tempfile::tempdir().expect("temporary directory");
    let bare = repos.path().join("repo.git");
    let first = git.seed_bare_repository(&bare);
    let http_backend = git.http_backend();
    let fcgiwrap = Fcgiwrap::start(&http_backend, &git);
    let nginx = Nginx::start_site(|port| {
        render_shipped_conf(
            port,
            &app.address,
            &fcgiwrap.socket,
            repos.path(),
            &http_backend,
        )
    });
    let host = nginx
        .address
        .strip_prefix("http://")
        .expect("nginx address is http://host:port");
    // The user name is ignored: the token is the password.
    let url = |secret: &str| format!("http://anyone:{secret}@{host}/repo.git");
    let anonymous_url = format!("{}/repo.git", nginx.address);
    let refs = format!("{anonymous_url}/info/refs?service=git-upload-pack");

    let alice = app.user_session("member");
    let reader = app.create_token(&alice, "reader", 7, &["code:read"]);
    let pusher = app.create_token(&alice, "pusher", 7, &["code:update"]);

    // git asks without credentials first and sends its password only if Basic is offered.
    let reply = get_url(&refs, &[]).expect(401);
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("Basic realm=\"patd\""),
        "nginx must pass patd's Basic challenge on to git, got {challenge:?}"
    );

    // code:read clones, and the clone has the commit.
    let work_dir = tempfile::tempdir().expect("temporary directory");
    let work = work_dir.path();
    git.run(work, &["clone", &url(&reader.secret), "clone"])
        .assert_success();
    let clone = work.join("clone");
    assert_eq!(git.rev_parse(&clone, "HEAD"), first);

    // code:update alone pushes (the receive-pack advertisement and the pack); git
    // http-backend accepts it because nginx names the user in REMOTE_USER.
    let second = git.commit(&clone, "second");
    git.run(&clone, &["push", &url(&pusher.secret), "HEAD:main"])
        .assert_success();
    assert_eq!(git.rev_parse(&bare, "main"), second);

    // code:read cannot push, and code:update cannot clone: 403, nothing changes.
    git.commit(&clone, "third");
    git.run(&clone, &["push", &url(&reader.secret), "HEAD:main"])
        .assert_failure_mentioning("403");
    assert_eq!(
        git.rev_parse(&bare, "main"),
        second,
        "a refused push changed the repository"
    );
    git.run(work, &["clone", &url(&pusher.secret), "by-pusher"])
        .assert_failure_mentioning("403");

    // Revoked: the very next clone is refused with 401, still offering Basic.
    app.revoke(&alice, &reader.id());
    let basic = format!("Basic {}", basic_credentials("anyone", &reader.secret));
    let reply = get_url(&refs, &[("Authorization", &basic)]).expect(401);
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.contains("invalid_token") && challenge.contains("Basic realm=\"patd\""),
        "401 for a revoked token: {challenge:?}"
    );
    git.run(work, &["clone", &url(&reader.secret), "after-revoke"])
        .assert_failure_mentioning("Authentication failed");

    // No credentials and no way to ask for them: git gives up at once.
    git.run(work, &["clone", &anonymous_url, "anonymous"])
        .assert_failure_mentioning("terminal prompts disabled");
    assert_eq!(git.rev_parse(&bare, "main"), second);
}

/// Runs `scripts/ensure-git-http.sh`, which installs git and fcgiwrap when absent.
fn ensure_git_http() {
    run_ensure_script("ensure-git-http.sh");
}

/// A binary on the PATH, else where Debian puts it (outside a user's PATH).
fn sbin_binary(name: &str) -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| Path::new("/usr/sbin").join(name))
}

/// The shipped configuration with its `listen` line, both upstreams, the repository root
/// and the git-http-backend path pointed at this test's.
fn render_shipped_conf(
    listen_port: u16,
    patd_address: &str,
    socket: &Path,
    root: &Path,
    http_backend: &Path,
) -> String {
    render_shipped(
        SHIPPED_CONF,
        &[
            ("listen 80;", format!("listen 127.0.0.1:{listen_port};")),
            (
                "server 127.0.0.1:8080;",
                format!("server {};", host_port(patd_address)),
            ),
            (
                "server unix:/run/fcgiwrap.socket;",
                format!("server unix:{};", socket.display()),
            ),
            (
                "fastcgi_param SCRIPT_FILENAME /usr/lib/git-core/git-http-backend;",
                format!("fastcgi_param SCRIPT_FILENAME {};", http_backend.display()),
            ),
            (
                "fastcgi_param GIT_PROJECT_ROOT /srv/git;",
                format!("fastcgi_param GIT_PROJECT_ROOT {};", root.display()),
            ),
        ],
    )
}

/// A path as a command-line argument (temporary paths are UTF-8).
fn utf8(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
}

/// The real `git` in a clean environment: a HOME of its own and no system configuration,
/// so no credential helper, no prompt, no proxy; English messages.
struct Git {
    home: tempfile::TempDir,
    path: OsString,
}

impl Git {
    fn new() -> Git {
        Git {
            home: tempfile::tempdir().expect("temporary directory"),
            path: std::env::var_os("PATH").unwrap_or_default(),
        }
    }

    /// Replaces a command's environment with the clean one.
    fn clean_env<'c>(&self, command: &'c mut Command) -> &'c mut Command {
        command
            .env_clear()
            .env("PATH", &self.path)
            .env("HOME", self.home.path())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .env("GIT_AUTHOR_NAME", "Alice")
            .env("GIT_AUTHOR_EMAIL", "alice@example.com")
            .env("GIT_COMMITTER_NAME", "Alice")
            .env("GIT_COMMITTER_EMAIL", "alice@example.com")
    }

    /// Runs `git <args>` in `dir`, killed and failing the test after [`GIT_TIMEOUT`].
    fn run(&self, dir: &Path, args: &[&str]) -> Ran {
        let mut command = Command::new("git");
        self.clean_env(&mut command).args(args).current_dir(dir);
        run_with_timeout(&mut command, format!("git {}", args.join(" ")), GIT_TIMEOUT)
    }

    /// A bare repository on `main` with one commit; returns the commit's id.
    fn seed_bare_repository(&self, bare: &Path) -> String {
        let parent = bare
            .parent()
            .expect("the bare repository has a parent folder");
        self.run(
            parent,
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                utf8(bare),
            ],
        )
        .assert_success();
        let seed = tempfile::tempdir().expect("temporary directory");
        self.run(
            seed.path(),
            &["init", "--quiet", "--initial-branch=main", "."],
        )
        .assert_success();
        let first = self.commit(seed.path(), "first");
        self.run(seed.path(), &["push", "--quiet", utf8(bare), "main"])
            .assert_success();
        assert_eq!(self.rev_parse(bare, "main"), first);
        first
    }

    /// Adds a file named after `message` and commits it; returns the commit's id.
    fn commit(&self, repo: &Path, message: &str) -> String {
        std::fs::write(repo.join(format!("{message}.txt")), message).expect("write a file");
        self.run(repo, &["add", "--all"]).assert_success();
        self.run(repo, &["commit", "--quiet", "--message", message])
            .assert_success();
        self.rev_parse(repo, "HEAD")
    }

    /// The commit id `rev` names in the repository at `repo` (bare or not).
    fn rev_parse(&self, repo: &Path, rev: &str) -> String {
        self.run(repo, &["rev-parse", "--verify", rev])
            .assert_success()
            .trim()
            .to_owned()
    }

    /// The git-http-backend that belongs to this git.
    fn http_backend(&self) -> PathBuf {
        let ran = self.run(self.home.path(), &["--exec-path"]);
        let backend = Path::new(ran.assert_success().trim()).join("git-http-backend");
        assert!(
            backend.is_file(),
            "no git-http-backend at {}",
            backend.display()
        );
        backend
    }
}

/// A finished command.
struct Ran {
    description: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// Asserts exit status 0; returns the standard output.
    #[track_caller]
    fn assert_success(&self) -> &str {
        assert!(
            self.status.success(),
            "{} failed with {}:\n{}{}",
            self.description,
            self.status,
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts a non-zero exit whose standard error contains `text`.
    #[track_caller]
    fn assert_failure_mentioning(&self, text: &str) {
        assert!(
            !self.status.success(),
            "{} succeeded, expected a refusal:\n{}{}",
            self.description,
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.contains(text),
            "{} failed with {} but its error does not mention {text:?}:\n{}",
            self.description,
            self.status,
            self.stderr
        );
    }
}

/// Runs a command with its output in files (no pipe to fill up), killing it at the deadline.
fn run_with_timeout(command: &mut Command, description: String, timeout: Duration) -> Ran {
    let mut stdout = tempfile::tempfile().expect("temporary file");
    let mut stderr = tempfile::tempfile().expect("temporary file");
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            stdout.try_clone().expect("duplicate a file handle"),
        ))
        .stderr(Stdio::from(
            stderr.try_clone().expect("duplicate a file handle"),
        ))
        .spawn()
        .unwrap_or_else(|e| panic!("start {description}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .unwrap_or_else(|e| panic!("wait for {description}: {e}"))
        {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{description} did not finish within {timeout:?}:\n{}{}",
                read_from_start(&mut stdout),
                read_from_start(&mut stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ran {
        status,
        stdout: read_from_start(&mut stdout),
        stderr: read_from_start(&mut stderr),
        description,
    }
}

fn read_from_start(file: &mut File) -> String {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .expect("read a command's output back");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// fcgiwrap on a unix socket of its own, running only git http-backend; killed on drop.
struct Fcgiwrap {
    socket: PathBuf,
    child: Child,
    dir: tempfile::TempDir,
}

impl Fcgiwrap {
    fn start(http_backend: &Path, git: &Git) -> Fcgiwrap {
        let dir = tempfile::tempdir().expect("temporary directory");
        let socket = dir.path().join("fcgiwrap.sock");
        let log = File::create(dir.path().join("fcgiwrap.log")).expect("fcgiwrap log file");
        let mut command = Command::new(sbin_binary("fcgiwrap"));
        // One process (no -c) so killing it stops it all; -p: it runs nothing else; -f:
        // git http-backend's errors go to nginx's error log.
        git.clean_env(&mut command)
            .arg("-f")
            .arg("-s")
            .arg(format!("unix:{}", socket.display()))
            .arg("-p")
            .arg(http_backend)
            .stdin(Stdio::null())
            .stdout(Stdio::from(
                log.try_clone().expect("duplicate a file handle"),
            ))
            .stderr(Stdio::from(log));
        let child = command.spawn().expect("start fcgiwrap");
        let mut fcgiwrap = Fcgiwrap { socket, child, dir };
        fcgiwrap.wait_until_listening();
        fcgiwrap
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "fcgiwrap exited with {status} before it listened:\n{}",
                    self.log()
                );
            }
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "fcgiwrap did not listen on {} within 20 s:\n{}",
                self.socket.display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("fcgiwrap.log")).unwrap_or_default()
    }
}

impl Drop for Fcgiwrap {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- fcgiwrap log ----\n{}", self.log());
        }
    }
}
