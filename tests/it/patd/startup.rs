//! Start-up, configuration, shutdown and the administrative CLI of the real binary.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::harness::patd_binary;

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// `patd serve` with nothing but a listen address and a data folder: the defaults.
fn start_bare(dir: &Path, port: u16) -> Child {
    Command::new(patd_binary())
        .current_dir(dir)
        .env("PATD_LISTEN", format!("127.0.0.1:{port}"))
        .env_remove("PATD_ADMIN_EMAIL")
        .env_remove("PATD_ADMIN_PASSWORD")
        .env_remove("PATD_DATABASE_URL")
        .env_remove("PATD_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::fs::File::create(dir.join("stdout.log")).expect("log file"),
        ))
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("stderr.log")).expect("log file"),
        ))
        .spawn()
        .expect("start patd")
}

fn wait_healthy(child: &mut Child, port: u16, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("patd exited with {status}: {}", read(dir, "stderr.log"));
        }
        if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ =
                stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let mut answer = String::new();
            let _ = stream.read_to_string(&mut answer);
            if answer.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("patd did not become healthy: {}", read(dir, "stderr.log"));
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn login_status(port: u16, email: &str, password: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .build()
        .into();
    agent
        .post(format!("http://127.0.0.1:{port}/api/v1/session"))
        .send_json(serde_json::json!({ "email": email, "password": password }))
        .expect("login request")
        .status()
        .as_u16()
}

/// With no configuration patd uses `./data`, writes a 0600 key there, and creates
/// `admin@localhost` with a random password written to a 0600 file in the data folder
/// — only the file's path is printed, and neither again on restart.
#[test]
fn first_run_creates_the_data_folder_key_and_an_admin_printed_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut child = start_bare(dir.path(), port);
    wait_healthy(&mut child, port, dir.path());
    let stdout = read(dir.path(), "stdout.log");
    let password_file = dir.path().join("data/initial-admin-password");
    assert!(
        stdout.lines().any(|l| {
            l.contains("created the first administrator admin@localhost")
                && l.contains("data/initial-admin-password")
        }),
        "the password file's path is printed: {stdout:?}"
    );
    let password = std::fs::read_to_string(&password_file).expect("the password file");
    let password = password.trim();
    assert!(password.len() >= 16, "a long random password");
    assert_eq!(login_status(port, "admin@localhost", password), 200);
    for output in ["stdout.log", "stderr.log"] {
        assert!(
            !read(dir.path(), output).contains(password),
            "the generated password must not reach {output}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&password_file)
            .expect("password file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the password file is private");
    }
    assert!(
        dir.path().join("data/patd.db").is_file(),
        "SQLite under ./data"
    );
    let key = dir.path().join("data/token.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }
    stop(child);

    let mut again = start_bare(dir.path(), port);
    wait_healthy(&mut again, port, dir.path());
    assert!(
        !read(dir.path(), "stdout.log").contains("created the first administrator"),
        "the password is printed once only"
    );
    assert_eq!(
        login_status(port, "admin@localhost", password),
        200,
        "same key, same users"
    );
    stop(again);
}

fn run_patd(dir: &Path, args: &[&str], envs: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut command = Command::new(patd_binary());
    command
        .current_dir(dir)
        .args(args)
        .env_remove("PATD_DATABASE_URL")
        .env_remove("PATD_DATA_DIR")
        .envs(envs.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run patd");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    child.wait_with_output().expect("patd output")
}

/// A bad value stops start-up with exit code 2 and a message naming the key and what
/// is allowed.
#[test]
fn a_bad_configuration_value_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (key, value, named) in [
        ("PATD_LISTEN", "not-an-address", "listen"),
        ("PATD_TOKEN_PREFIX", "Bad_", "token_prefix"),
        ("PATD_NOTIFY_INTERVAL_SECS", "0", "notify_interval_secs"),
        ("PATD_DATABASE_URL", "mysql://localhost/x", "database_url"),
        ("PATD_LOG_FORMAT", "xml", "log_format"),
    ] {
        let output = run_patd(dir.path(), &["serve"], &[(key, value)], None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{key}={value}: {stderr}");
        assert!(
            stderr.contains(named),
            "{key}={value} must name {named}: {stderr}"
        );
    }
    std::fs::write(dir.path().join("patd.toml"), "listen = 5\n").expect("config file");
    let output = run_patd(dir.path(), &["serve"], &[], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("listen"));
}

/// SIGTERM stops accepting connections but lets a request already being received finish.
#[test]
#[cfg(unix)]
fn sigterm_lets_an_in_flight_request_finish() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut child = start_bare(dir.path(), port);
    wait_healthy(&mut child, port, dir.path());
    let body = br#"{"email":"nobody@example.com","password":"wrong password"}"#;
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let head = format!(
        "POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream
        .write_all(&body[..10])
        .expect("send part of the body");
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(signalled.success());
    std::thread::sleep(Duration::from_millis(300));
    stream
        .write_all(&body[10..])
        .expect("send the rest after SIGTERM");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read the answer");
    assert!(
        answer.starts_with("HTTP/1.1 401"),
        "the in-flight request gets its real answer: {answer:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "graceful exit, got {status}");
            break;
        }
        assert!(Instant::now() < deadline, "patd did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The CLI manages users (password from stdin), settings and tokens on the same
/// database the server uses.
#[test]
fn cli_manages_users_settings_and_tokens() {
    let dir = tempfile::tempdir().expect("temp dir");
    let added = run_patd(
        dir.path(),
        &[
            "user",
            "add",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &[],
        Some("a long enough password\n"),
    );
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let listed = run_patd(dir.path(), &["user", "list"], &[], None);
    let users = String::from_utf8_lossy(&listed.stdout);
    assert!(users.contains("ops@example.com\tadmin\tactive"), "{users}");

    let refused = run_patd(
        dir.path(),
        &["user", "add", "--email", "x", "--name", "X"],
        &[],
        None,
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("email"));

    let set = run_patd(
        dir.path(),
        &[
            "settings",
            "set",
            "--max-lifetime-days",
            "30",
            "--pats-enabled",
            "false",
        ],
        &[],
        None,
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let shown =
        String::from_utf8_lossy(&run_patd(dir.path(), &["settings", "show"], &[], None).stdout)
            .into_owned();
    assert!(
        shown.contains("max_lifetime_days = 30") && shown.contains("pats_enabled = false"),
        "{shown}"
    );
    let bad = run_patd(
        dir.path(),
        &["settings", "set", "--max-active-per-user", "0"],
        &[],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("max_active_per_user"));

    let tokens = run_patd(
        dir.path(),
        &["token", "list", "--user", "ops@example.com"],
        &[],
        None,
    );
    assert!(tokens.status.success());
    assert!(tokens.stdout.is_empty(), "no tokens yet");
    let missing = run_patd(
        dir.path(),
        &["token", "revoke", "0190f0a0-0000-7000-8000-000000000001"],
        &[],
        None,
    );
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no such token"));

    let key = run_patd(dir.path(), &["keygen"], &[], None);
    assert_eq!(
        String::from_utf8_lossy(&key.stdout).trim().len(),
        44,
        "32 bytes in base64"
    );
    let notified = run_patd(dir.path(), &["notify", "--once"], &[], None);
    assert!(notified.status.success());
    assert!(String::from_utf8_lossy(&notified.stdout).contains("sent 0"));
}

/// patd as a library: `Application::build` binds port 0 itself (no find-then-bind race),
/// tells the port it got, and serves once run — in this process, without the binary.
#[test]
fn the_application_builds_in_process_on_a_free_port_and_serves() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = patd::config::Config {
        listen: "127.0.0.1:0".to_owned(),
        data_dir: dir.path().to_path_buf(),
        database_url: Some(format!("sqlite://{}", dir.path().join("patd.db").display())),
        ..patd::config::Config::default()
    };
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let app = patd::Application::build(config).await.expect("patd builds");
        let port = app.port();
        assert_ne!(port, 0, "the port the listener really got");
        let serving = tokio::spawn(app.run_until_stopped());
        let status = tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .proxy(None)
                .build()
                .into();
            agent
                .get(format!("http://127.0.0.1:{port}/healthz"))
                .call()
                .expect("patd answers")
                .status()
                .as_u16()
        })
        .await
        .expect("the request ran");
        assert_eq!(status, 200);
        serving.abort();
    });
    assert!(
        dir.path().join("initial-admin-password").is_file(),
        "built like `patd serve`: the first admin was made"
    );
}
