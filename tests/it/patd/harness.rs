//! Starts patd with a fresh database and drives it over HTTP, zero2prod style:
//! `spawn_app(backend)` gives each test its own server, built in this process on port 0
//! (`patd::Application`: no find-then-bind race, no process start-up);
//! `spawn_binary_app(backend)` starts the real binary, for tests about the binary
//! (restarts, crashes, the CLI beside it, what it writes to its log).
//!
//! Logs: an in-process server logs to this process's stderr only when `TEST_LOG` is
//! set; a binary's log is kept in its data folder and printed when its test fails (or
//! always, with `TEST_LOG`).

use std::cell::Cell;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;

use std::time::{Duration, Instant};

use base64::Engine as _;
use diesel::connection::SimpleConnection as _;
use diesel::{Connection as _, PgConnection, RunQueryDsl as _, SqliteConnection};
use pat_core::ports::{Clock, ManualClock, SystemClock};
use serde_json::{Value, json};
use ureq::http;

/// The bootstrap admin every server starts with.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// Its password (long and mixed so any password policy accepts it).
pub const ADMIN_PASSWORD: &str = "Admin-Password-For-Tests-42";
/// patd's default `change_bound_ms`: the longest a change made by another process can go
/// unseen by an instance's verification cache.
pub const CHANGE_BOUND: Duration = Duration::from_millis(1000);

/// Where a test server keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's temporary directory.
    Sqlite,
    /// A fresh database on the server named by `PAT_TEST_POSTGRES_URL`.
    Postgres,
}

/// The `patd` binary: `PATD_BIN`, else `target/<profile>/patd` beside this test binary.
pub fn patd_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("PATD_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    // The test executable lives in target/<profile>/deps/.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable is in target/<profile>/deps");
    let bin = profile_dir.join(format!("patd{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "no patd binary at {}: build it first: cargo build -p patd",
        bin.display()
    );
    bin
}

/// How a test server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runs {
    /// patd's `Application`, in this test process.
    InProcess,
    /// The real `patd` binary, in a process of its own.
    Binary,
}

/// The running server behind a [`TestApp`].
enum Server {
    Process(Child),
    InProcess {
        /// Stops the server and waits for its thread.
        stop: Option<Box<dyn FnOnce()>>,
    },
}

/// A running `patd` with its own data directory and database; stopped on drop.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The bootstrap admin, logged in.
    pub admin: Session,
    database_url: String,
    server: Server,
    dir: tempfile::TempDir,
    agent: ureq::Agent,
    /// Shared with peers ([`TestApp::spawn_peer`]) so their users' emails never collide.
    next_user: Rc<Cell<u32>>,
    port: u16,
    extra_env: Vec<(String, String)>,
    /// The time an in-process patd (and its peers) tells, when a test moves it.
    clock: Option<Arc<ManualClock>>,
}

/// Builds patd in this process against a fresh database; it answers on return.
pub fn spawn_app(backend: Backend) -> TestApp {
    spawn(Runs::InProcess, backend, &[])
}

/// [`spawn_app`] with extra `PATD_*` settings (e.g. SMTP).
pub fn spawn_app_with(backend: Backend, extra_env: &[(&str, &str)]) -> TestApp {
    spawn(Runs::InProcess, backend, extra_env)
}

/// [`spawn_app_with`] telling the time by a manual clock that starts now: the test
/// moves it ([`TestApp::advance_clock`]) to see grace periods end without waiting.
pub fn spawn_app_with_clock(backend: Backend, extra_env: &[(&str, &str)]) -> TestApp {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    spawn_timed(Runs::InProcess, backend, extra_env, Some(clock))
}

/// Starts the `patd serve` binary against a fresh database and waits until it answers.
pub fn spawn_binary_app(backend: Backend) -> TestApp {
    spawn(Runs::Binary, backend, &[])
}

/// [`spawn_binary_app`] with extra `PATD_*` settings.
pub fn spawn_binary_app_with(backend: Backend, extra_env: &[(&str, &str)]) -> TestApp {
    spawn(Runs::Binary, backend, extra_env)
}

fn spawn(runs: Runs, backend: Backend, extra_env: &[(&str, &str)]) -> TestApp {
    spawn_timed(runs, backend, extra_env, None)
}

fn spawn_timed(
    runs: Runs,
    backend: Backend,
    extra_env: &[(&str, &str)],
    clock: Option<Arc<ManualClock>>,
) -> TestApp {
    let dir = tempfile::tempdir().expect("temporary directory");
    let database_url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("patd.db").display()),
        Backend::Postgres => {
            pat_store_diesel::testing::fresh_database(&pat_store_diesel::testing::admin_url())
        }
    };
    let extra_env: Vec<(String, String)> = extra_env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    launch(
        runs,
        dir,
        database_url,
        extra_env,
        Rc::new(Cell::new(0)),
        clock,
    )
}

/// Starts patd with this data folder and database, waits until it answers and logs
/// the admin in.
fn launch(
    runs: Runs,
    dir: tempfile::TempDir,
    database_url: String,
    extra_env: Vec<(String, String)>,
    next_user: Rc<Cell<u32>>,
    clock: Option<Arc<ManualClock>>,
) -> TestApp {
    let (server, port) = match runs {
        Runs::InProcess => {
            start_in_process(dir.path(), &database_url, 0, &extra_env, clock.clone())
        }
        Runs::Binary => {
            let port = free_port();
            let child = start_patd(dir.path(), &database_url, port, &extra_env);
            (Server::Process(child), port)
        }
    };
    let mut app = TestApp {
        address: format!("http://127.0.0.1:{port}"),
        admin: Session::placeholder(),
        database_url,
        server,
        dir,
        agent: agent(),
        next_user,
        port,
        extra_env,
        clock,
    };
    app.wait_until_healthy();
    app.admin = app.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    app
}

/// Shows in-process servers' logs on stderr when `TEST_LOG` is set (once per process).
fn init_test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
                .with_test_writer()
                .try_init();
        }
    });
}

/// Builds patd's `Application` on a thread of its own (its own runtime) and returns
/// once it listens, with the port it got (`port` 0: any free one).
fn start_in_process(
    dir: &Path,
    database_url: &str,
    port: u16,
    extra_env: &[(String, String)],
    clock: Option<Arc<ManualClock>>,
) -> (Server, u16) {
    init_test_log();
    let mut pairs = vec![
        ("PATD_LISTEN".to_owned(), format!("127.0.0.1:{port}")),
        ("PATD_DATA_DIR".to_owned(), dir.display().to_string()),
        ("PATD_DATABASE_URL".to_owned(), database_url.to_owned()),
    ];
    pairs.extend(extra_env.iter().cloned());
    let config =
        patd::config::Config::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("a valid test configuration");
    let first_admin = patd::wiring::FirstAdmin {
        email: Some(ADMIN_EMAIL.to_owned()),
        password: Some(ADMIN_PASSWORD.to_owned()),
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("patd-in-process".to_owned())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for patd");
            runtime.block_on(async move {
                let clock: Arc<dyn Clock> = match clock {
                    Some(manual) => manual,
                    None => Arc::new(SystemClock),
                };
                match patd::Application::build_with_clock(config, first_admin, clock).await {
                    Err(err) => {
                        let _ = ready_tx.send(Err(err.to_string()));
                    }
                    Ok(app) => {
                        let _ = ready_tx.send(Ok((app.port(), app.handle())));
                        if let Err(err) = app.run_until_stopped().await {
                            eprintln!("in-process patd stopped with an error: {err}");
                        }
                    }
                }
            });
        })
        .expect("a thread for patd");
    let (port, handle) = ready_rx
        .recv()
        .expect("patd's thread answers")
        .unwrap_or_else(|err| panic!("patd did not start in-process: {err}"));
    let stop = move || {
        pollster::block_on(handle.stop(false));
        let _ = thread.join();
    };
    (
        Server::InProcess {
            stop: Some(Box::new(stop)),
        },
        port,
    )
}

fn start_patd(dir: &Path, database_url: &str, port: u16, extra_env: &[(String, String)]) -> Child {
    let log = |name: &str| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(name))
            .expect("log file")
    };
    Command::new(patd_binary())
        .arg("serve")
        .env("PATD_LISTEN", format!("127.0.0.1:{port}"))
        .env("PATD_DATA_DIR", dir)
        .env("PATD_DATABASE_URL", database_url)
        .env("PATD_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("PATD_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("PATD_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .envs(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log("stdout.log")))
        .stderr(Stdio::from(log("stderr.log")))
        .spawn()
        .expect("start patd")
}

/// An HTTP client that reports every status as an answer, not an error.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

impl Server {
    /// Stops the server at once (in-flight requests are dropped).
    fn stop(&mut self) {
        match self {
            Server::Process(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            Server::InProcess { stop } => {
                if let Some(stop) = stop.take() {
                    stop();
                }
            }
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.stop();
        let show_log = std::thread::panicking() || std::env::var_os("TEST_LOG").is_some();
        if show_log && matches!(self.server, Server::Process(_)) {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(200)..];
            eprintln!(
                "---- patd log (last {} lines) ----\n{}",
                tail.len(),
                tail.join("\n")
            );
        }
    }
}

/// How a request proves who sends it.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// No credentials at all.
    Anonymous,
    /// The session cookie plus this `X-CSRF-Token` (the session's own, or a wrong one).
    Cookie(&'a Session, Option<&'a str>),
    /// `Authorization: Bearer <secret>`.
    Bearer(&'a str),
    /// `Authorization: Basic base64(<user>:<secret>)`.
    Basic(&'a str, &'a str),
}

impl<'a> From<&'a Session> for Auth<'a> {
    fn from(session: &'a Session) -> Self {
        Auth::Cookie(session, Some(&session.csrf_token))
    }
}

/// A logged-in browser session.
#[derive(Debug, Clone)]
pub struct Session {
    /// `patd_session=<value>`, ready for a `Cookie` header.
    pub cookie: String,
    /// The CSRF token to send as `X-CSRF-Token` on writes.
    pub csrf_token: String,
    /// The logged-in user as the login answered it.
    pub user: Value,
}

impl Session {
    /// The session a 200 answer started: its `Set-Cookie` and its body's `csrf_token`
    /// and `user` (a sign-in, a password change).
    #[track_caller]
    pub fn started_by(reply: &Reply) -> Session {
        let body = reply.json();
        let cookie = reply
            .headers("set-cookie")
            .into_iter()
            .find(|c| c.starts_with("patd_session=") || c.starts_with("__Host-patd_session="))
            .unwrap_or_else(|| panic!("no patd_session cookie set: {reply:?}"));
        let cookie = cookie
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        Session {
            cookie,
            csrf_token: str_field(&body, "csrf_token"),
            user: body["user"].clone(),
        }
    }

    fn placeholder() -> Self {
        Session {
            cookie: String::new(),
            csrf_token: String::new(),
            user: Value::Null,
        }
    }

    /// The user's id.
    pub fn user_id(&self) -> String {
        str_field(&self.user, "id")
    }

    /// The user's email.
    pub fn email(&self) -> String {
        str_field(&self.user, "email")
    }

    /// This session without the CSRF header.
    pub fn without_csrf(&self) -> Auth<'_> {
        Auth::Cookie(self, None)
    }
}

/// A user created through the admin API.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Its id.
    pub id: String,
    /// Its email.
    pub email: String,
    /// Its password.
    pub password: String,
}

/// A token as create or regenerate answered it: the only time the secret is seen.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The token object.
    pub token: Value,
    /// The secret.
    pub secret: String,
}

impl Issued {
    /// The token's id.
    pub fn id(&self) -> String {
        str_field(&self.token, "id")
    }
}

/// A whole HTTP answer, read eagerly so assertions can show it.
#[derive(Debug, Clone)]
pub struct Reply {
    /// What was asked, for failure messages.
    pub request: String,
    /// Status code.
    pub status: u16,
    headers: Vec<(String, String)>,
    /// Body as text.
    pub body: String,
}

impl Reply {
    /// The first value of a header (names are case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header.
    pub fn headers(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every header as `(name, value)`.
    pub fn header_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The body as JSON; panics showing the body when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {:?}", self.request, self.body))
    }

    /// Asserts the status, showing the whole answer when it differs.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status, status,
            "{}: expected {status}, got {} with body {}",
            self.request, self.status, self.body
        );
        self
    }

    /// Asserts the status and returns the JSON body.
    #[track_caller]
    pub fn expect_json(self, status: u16) -> Value {
        let reply = self.expect(status);
        let content_type = reply.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{}: content type {content_type:?}, expected application/json",
            reply.request
        );
        reply.json()
    }

    /// Asserts an RFC 9457 refusal: status, content type, and every member with this code.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: &str) -> Value {
        assert_eq!(
            self.status, status,
            "{}: expected {status} {code}, got {} with body {}",
            self.request, self.status, self.body
        );
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/problem+json"),
            "{}: content type {content_type:?}, expected application/problem+json; body {}",
            self.request,
            self.body
        );
        let problem = self.json();
        assert_eq!(
            problem["code"], code,
            "{}: wrong problem code in {}",
            self.request, self.body
        );
        assert_eq!(
            problem["status"], status,
            "{}: problem status member in {}",
            self.request, self.body
        );
        assert_eq!(
            problem["type"],
            format!("https://pat.dev/problems/{code}"),
            "{}: problem type in {}",
            self.request,
            self.body
        );
        for member in ["title", "detail"] {
            assert!(
                problem[member]
                    .as_str()
                    .is_some_and(|s| !s.trim().is_empty()),
                "{}: problem lacks a non-empty {member}: {}",
                self.request,
                self.body
            );
        }
        problem
    }
}

/// Reads a whole answer, or panics naming the request on a transport error.
fn read_reply(request: String, result: Result<http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = result.unwrap_or_else(|e| panic!("{request}: transport error {e}"));
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("{request}: reading the body failed: {e}"));
    Reply {
        request,
        status: response.status().as_u16(),
        headers,
        body,
    }
}

/// GET an absolute URL with these headers (for servers other than patd, e.g. a proxy).
pub fn get_url(url: &str, headers: &[(&str, &str)]) -> Reply {
    let mut builder = http::Request::builder().method("GET").uri(url);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let request = builder.body(()).expect("valid request");
    read_reply(format!("GET {url}"), agent().run(request))
}

/// A string member of a JSON object; panics naming it when absent.
pub fn str_field(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {value}"))
        .to_owned()
}

/// The text forms of a token's (or `/me` token's) scopes, in order.
pub fn scope_texts(token: &Value) -> Vec<String> {
    token["scopes"]
        .as_array()
        .unwrap_or_else(|| panic!("no scopes array in {token}"))
        .iter()
        .map(|scope| str_field(scope, "scope"))
        .collect()
}

/// The id of the scope with this text form on a token.
pub fn scope_id(token: &Value, text: &str) -> String {
    token["scopes"]
        .as_array()
        .unwrap_or_else(|| panic!("no scopes array in {token}"))
        .iter()
        .find(|scope| scope["scope"] == text)
        .map(|scope| str_field(scope, "id"))
        .unwrap_or_else(|| panic!("no scope {text} in {token}"))
}

/// The ids of a page's items, in order.
pub fn item_ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items array in {page}"))
        .iter()
        .map(|item| str_field(item, "id"))
        .collect()
}

/// Percent-encodes a query or form value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// `base64(<user>:<secret>)` as sent in a Basic `Authorization` header.
pub fn basic_credentials(user: &str, secret: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}"))
}

impl TestApp {
    fn wait_until_healthy(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Server::Process(child) = &mut self.server
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!(
                    "patd exited with {status} before it was ready; log:\n{}",
                    self.log()
                );
            }
            let ready = self
                .agent
                .get(format!("{}/healthz", self.address))
                .call()
                .is_ok_and(|response| response.status() == 200);
            if ready {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "patd did not answer /healthz within 20 s; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops patd and starts it again on the same port, data folder and database.
    pub fn restart(&mut self) {
        self.server.stop();
        self.server = match self.server {
            Server::Process(_) => Server::Process(start_patd(
                self.dir.path(),
                &self.database_url,
                self.port,
                &self.extra_env,
            )),
            Server::InProcess { .. } => {
                start_in_process(
                    self.dir.path(),
                    &self.database_url,
                    self.port,
                    &self.extra_env,
                    self.clock.clone(),
                )
                .0
            }
        };
        self.wait_until_healthy();
    }

    /// Kills the patd binary with SIGKILL (no shutdown of any kind) and reaps it,
    /// keeping its data folder, database and key; [`TestApp::restart`] starts it again
    /// on them.
    pub fn kill_hard(&mut self) {
        let Server::Process(child) = &mut self.server else {
            panic!("kill_hard needs the real binary: start the app with spawn_binary_app");
        };
        child.kill().expect("SIGKILL patd");
        child.wait().expect("reap the killed patd");
    }

    /// The database this app's patd uses: `sqlite://<path>` or a PostgreSQL URL.
    pub fn database_url(&self) -> &str {
        &self.database_url
    }

    /// Starts a second patd on its own port and data folder, sharing this app's database
    /// and token key: several instances behind one load balancer. Sessions are in the
    /// database, so every instance serves every session.
    pub fn spawn_peer(&self) -> TestApp {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut extra_env = self.extra_env.clone();
        let key_file = self.dir.path().join("token.key");
        assert!(
            key_file.is_file(),
            "patd wrote no key at {}",
            key_file.display()
        );
        extra_env.push((
            "PATD_TOKEN_KEY_FILE".to_owned(),
            key_file.display().to_string(),
        ));
        let runs = match self.server {
            Server::Process(_) => Runs::Binary,
            Server::InProcess { .. } => Runs::InProcess,
        };
        launch(
            runs,
            dir,
            self.database_url.clone(),
            extra_env,
            Rc::clone(&self.next_user),
            self.clock.clone(),
        )
    }

    /// Moves the manual clock of an app started with [`spawn_app_with_clock`] (and its
    /// peers) forward.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.clock
            .as_ref()
            .expect("advance_clock needs spawn_app_with_clock")
            .advance(by);
    }

    /// Runs a `patd` subcommand against this app's data folder and database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cli_with(args, &[])
    }

    /// [`TestApp::cli`] with extra environment (e.g. another server key).
    pub fn cli_with(&self, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
        Command::new(patd_binary())
            .args(args)
            .env("PATD_DATA_DIR", self.dir.path())
            .env("PATD_DATABASE_URL", &self.database_url)
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .envs(envs.iter().copied())
            .output()
            .expect("run patd")
    }

    /// [`TestApp::cli`] with `input` on standard input (`--password-stdin`).
    pub fn cli_with_stdin(&self, args: &[&str], input: &str) -> std::process::Output {
        use std::io::Write as _;
        let mut child = Command::new(patd_binary())
            .args(args)
            .env("PATD_DATA_DIR", self.dir.path())
            .env("PATD_DATABASE_URL", &self.database_url)
            .envs(self.extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run patd");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("patd output")
    }

    /// The server key file patd generated in its data folder.
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("token.key")
    }

    /// Everything the patd binary wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        assert!(
            matches!(self.server, Server::Process(_)),
            "an in-process server has no log of its own: start the app with spawn_binary_app"
        );
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!("{}{}", read("stdout.log"), read("stderr.log"))
    }

    /// Sends one request; `body` is `(content type, bytes)`.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        auth: Auth<'_>,
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        self.send_with_headers(method, path, auth, &[], body)
    }

    /// [`TestApp::send`] with extra request headers (e.g. `X-Forwarded-For`).
    pub fn send_with_headers(
        &self,
        method: &str,
        path: &str,
        auth: Auth<'_>,
        headers: &[(&str, &str)],
        body: Option<(&str, Vec<u8>)>,
    ) -> Reply {
        let mut builder = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.address));
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        match auth {
            Auth::Anonymous => {}
            Auth::Cookie(session, csrf) => {
                builder = builder.header("Cookie", &session.cookie);
                if let Some(csrf) = csrf {
                    builder = builder.header("X-CSRF-Token", csrf);
                }
            }
            Auth::Bearer(secret) => {
                builder = builder.header("Authorization", format!("Bearer {secret}"));
            }
            Auth::Basic(user, secret) => {
                builder = builder.header(
                    "Authorization",
                    format!("Basic {}", basic_credentials(user, secret)),
                );
            }
        }
        let result = match body {
            Some((content_type, bytes)) => {
                let request = builder
                    .header("Content-Type", content_type)
                    .body(bytes)
                    .expect("valid request");
                self.agent.run(request)
            }
            None => self.agent.run(builder.body(()).expect("valid request")),
        };
        read_reply(format!("{method} {path}"), result)
    }

    /// GET.
    pub fn get<'a>(&self, path: &str, auth: impl Into<Auth<'a>>) -> Reply {
        self.send("GET", path, auth.into(), None)
    }

    /// DELETE without a body.
    pub fn delete<'a>(&self, path: &str, auth: impl Into<Auth<'a>>) -> Reply {
        self.send("DELETE", path, auth.into(), None)
    }

    /// A request with a JSON body.
    pub fn json<'a>(
        &self,
        method: &str,
        path: &str,
        auth: impl Into<Auth<'a>>,
        body: &Value,
    ) -> Reply {
        let bytes = serde_json::to_vec(body).expect("serialize JSON");
        self.send(method, path, auth.into(), Some(("application/json", bytes)))
    }

    /// POST with a JSON body.
    pub fn post<'a>(&self, path: &str, auth: impl Into<Auth<'a>>, body: &Value) -> Reply {
        self.json("POST", path, auth, body)
    }

    /// POST with a body sent verbatim as `application/json` (for malformed bodies).
    pub fn post_raw<'a>(&self, path: &str, auth: impl Into<Auth<'a>>, body: &str) -> Reply {
        self.send(
            "POST",
            path,
            auth.into(),
            Some(("application/json", body.as_bytes().to_vec())),
        )
    }

    /// POST with an empty body (revoke).
    pub fn post_empty<'a>(&self, path: &str, auth: impl Into<Auth<'a>>) -> Reply {
        self.send(
            "POST",
            path,
            auth.into(),
            Some(("application/json", Vec::new())),
        )
    }

    /// `POST /api/v1/introspect` with the form `token=<token>` (RFC 7662).
    pub fn introspect<'a>(&self, auth: impl Into<Auth<'a>>, token: &str) -> Reply {
        let form = format!("token={}", encode(token));
        self.send(
            "POST",
            "/api/v1/introspect",
            auth.into(),
            Some(("application/x-www-form-urlencoded", form.into_bytes())),
        )
    }

    /// Logs in; asserts 200 and returns the session.
    #[track_caller]
    pub fn login(&self, email: &str, password: &str) -> Session {
        let reply = self
            .post(
                "/api/v1/session",
                Auth::Anonymous,
                &json!({"email": email, "password": password}),
            )
            .expect(200);
        Session::started_by(&reply)
    }

    /// The admin creates a user with this role; returns its credentials.
    #[track_caller]
    pub fn create_user(&self, role: &str) -> NewUser {
        let n = self.next_user.get() + 1;
        self.next_user.set(n);
        let email = format!("{role}{n}@example.com");
        let password = format!("Password-{role}-{n}-long-enough");
        let user = self
            .post(
                "/api/v1/admin/users",
                &self.admin,
                &json!({"email": email, "name": format!("{role} {n}"), "role": role, "password": password}),
            )
            .expect_json(201);
        assert_eq!(user["email"], email.as_str(), "created user: {user}");
        assert_eq!(user["role"], role, "created user: {user}");
        NewUser {
            id: str_field(&user, "id"),
            email,
            password,
        }
    }

    /// Creates a user with this role and logs it in.
    #[track_caller]
    pub fn user_session(&self, role: &str) -> Session {
        let user = self.create_user(role);
        self.login(&user.email, &user.password)
    }

    /// Asks to create a token; the answer is not checked.
    pub fn try_create_token<'a>(&self, auth: impl Into<Auth<'a>>, body: &Value) -> Reply {
        self.post("/api/v1/tokens", auth, body)
    }

    /// Creates a token; asserts 201 and the issued shape.
    #[track_caller]
    pub fn create_token<'a>(
        &self,
        auth: impl Into<Auth<'a>>,
        name: &str,
        days: i64,
        scopes: &[&str],
    ) -> Issued {
        let body = self
            .try_create_token(
                auth,
                &json!({"name": name, "expires_in_days": days, "scopes": scopes}),
            )
            .expect_json(201);
        issued(&body)
    }

    /// One token by id with this caller; asserts 200.
    #[track_caller]
    pub fn token<'a>(&self, auth: impl Into<Auth<'a>>, id: &str) -> Value {
        self.get(&format!("/api/v1/tokens/{id}"), auth)
            .expect_json(200)
    }

    /// The caller's tokens with this query string (may be empty); asserts 200.
    #[track_caller]
    pub fn list_tokens<'a>(&self, auth: impl Into<Auth<'a>>, query: &str) -> Value {
        self.get(&format!("/api/v1/tokens{query}"), auth)
            .expect_json(200)
    }

    /// Revokes a token as its owner; asserts 200 and returns it.
    #[track_caller]
    pub fn revoke<'a>(&self, auth: impl Into<Auth<'a>>, id: &str) -> Value {
        self.post_empty(&format!("/api/v1/tokens/{id}/revoke"), auth)
            .expect_json(200)
    }

    /// `GET /api/v1/me` with a PAT as Bearer.
    pub fn me_bearer(&self, secret: &str) -> Reply {
        self.get("/api/v1/me", Auth::Bearer(secret))
    }

    /// Asserts that this secret authenticates (`/me` answers 200).
    #[track_caller]
    pub fn assert_works(&self, secret: &str) {
        self.me_bearer(secret).expect(200);
    }

    /// Asserts that this secret is refused with 401 `invalid_token`; returns the body.
    #[track_caller]
    pub fn assert_refused(&self, secret: &str) -> Value {
        let reply = self.me_bearer(secret);
        let problem = reply.expect_problem(401, "invalid_token");
        let challenge = reply.header("www-authenticate").unwrap_or_default();
        assert!(
            challenge.starts_with("Bearer"),
            "401 for a bad token must challenge Bearer, got {challenge:?}"
        );
        problem
    }

    /// The value of an unlabelled series `name` in the admin's `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        let body = self.get("/metrics", &self.admin).expect(200).body;
        body.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in /metrics:\n{body}"))
            .trim()
            .parse()
            .expect("a count")
    }

    /// Asks about `secret` until it is refused: a change made by another process (a
    /// peer instance, the CLI) reaches this one within [`CHANGE_BOUND`] of `changed` (when
    /// the change's call returned); a request sent later than that and accepted fails.
    pub fn assert_refused_within_the_bound(&self, secret: &str, changed: Instant) {
        loop {
            let sent = changed.elapsed();
            let reply = self.me_bearer(secret);
            if reply.status == 401 {
                self.assert_refused(secret);
                return;
            }
            assert_eq!(reply.status, 200, "the token is answered valid or refused");
            assert!(
                sent <= CHANGE_BOUND,
                "a request sent {sent:?} after the change was accepted (bound {CHANGE_BOUND:?})"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `GET /api/v1/auth/check` for a scope text `resource:operation[:target]`.
    pub fn auth_check(&self, secret: &str, scope: &str) -> Reply {
        let query: Vec<String> = ["resource", "operation", "target"]
            .iter()
            .zip(scope.splitn(3, ':').filter(|part| !part.is_empty()))
            .map(|(key, value)| format!("{key}={}", encode(value)))
            .collect();
        let path = if query.is_empty() {
            "/api/v1/auth/check".to_owned()
        } else {
            format!("/api/v1/auth/check?{}", query.join("&"))
        };
        self.get(&path, Auth::Bearer(secret))
    }

    /// Whether `/auth/check` lets this secret do `resource:operation[:target]`:
    /// 204 → true, 403 `missing_scope` → false, anything else fails the test.
    #[track_caller]
    pub fn allows(&self, secret: &str, scope: &str) -> bool {
        let reply = self.auth_check(secret, scope);
        match reply.status {
            204 => true,
            403 => {
                reply.expect_problem(403, "missing_scope");
                false
            }
            _ => panic!(
                "auth/check {scope}: unexpected {} {}",
                reply.status, reply.body
            ),
        }
    }

    /// The current settings.
    #[track_caller]
    pub fn settings(&self) -> Value {
        self.get("/api/v1/admin/settings", &self.admin)
            .expect_json(200)
    }

    /// Changes settings as the admin (full object, as the API wants); asserts 200.
    #[track_caller]
    pub fn change_settings(&self, change: &Value) -> Value {
        let mut settings = self.settings();
        for (key, value) in change.as_object().expect("settings change is an object") {
            settings[key] = value.clone();
        }
        let updated = self
            .json("PUT", "/api/v1/admin/settings", &self.admin, &settings)
            .expect_json(200);
        assert_eq!(
            updated, settings,
            "PUT /admin/settings answers what it stored"
        );
        updated
    }

    /// Makes a token expired by moving its expiry to its creation time in the database.
    /// The one place a test reaches behind the API: time cannot be advanced over HTTP.
    pub fn expire_in_database(&self, token_id: &str) {
        let sql = format!(
            "UPDATE tokens SET expires_at = created_at WHERE id = '{}'",
            token_id.replace('\'', "")
        );
        let changed = if let Some(path) = self.database_url.strip_prefix("sqlite://") {
            let mut conn = SqliteConnection::establish(path).expect("open the SQLite file");
            conn.batch_execute("PRAGMA busy_timeout = 10000;")
                .expect("busy timeout");
            diesel::sql_query(sql).execute(&mut conn)
        } else {
            let mut conn =
                PgConnection::establish(&self.database_url).expect("connect to PostgreSQL");
            diesel::sql_query(sql).execute(&mut conn)
        }
        .expect("expire the token in the database");
        assert_eq!(changed, 1, "token {token_id} is not in the tokens table");
    }
}

/// Checks the issued shape `{token, secret}` and returns it.
#[track_caller]
pub fn issued(body: &Value) -> Issued {
    let secret = str_field(body, "secret");
    let token = body["token"].clone();
    assert!(token.is_object(), "issued without a token object: {body}");
    assert!(
        token.get("secret").is_none(),
        "the token object itself must not carry the secret: {token}"
    );
    // <prefix>_<43 base62 body><6 base62 checksum>, default prefix `pat`.
    let (prefix, rest) = secret
        .split_once('_')
        .unwrap_or_else(|| panic!("secret {secret:?} has no prefix"));
    assert_eq!(prefix, "pat", "default token prefix");
    assert_eq!(rest.len(), 49, "secret body + checksum length");
    assert!(
        rest.bytes().all(|b| b.is_ascii_alphanumeric()),
        "secret alphabet is base62"
    );
    assert_eq!(
        token["hint"],
        secret[secret.len() - 4..],
        "hint is the last 4 characters of the secret"
    );
    Issued { token, secret }
}
