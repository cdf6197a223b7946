//! nginx forward-auth in front of an application: a real nginx runs the shipped
//! `deploy/nginx/patd-forward-auth.conf` (only its addresses substituted) against the real
//! patd, and an echo server as the application shows exactly which headers reached it.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::harness::{Backend, Reply, basic_credentials, free_port, get_url, spawn_app_with};

/// The shipped forward-auth configuration.
const SHIPPED_CONF: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/nginx/patd-forward-auth.conf"
);

/// Through nginx: no token → 401 with patd's Bearer and Basic challenges (in one header,
/// since nginx passes one on; a bad token's says `error="invalid_token"`); a token with the
/// scope → 200 and the application sees the user and token ids nginx set, never the client's own
/// X-Pat-User-Id nor the secret; without the scope → 403; a revoked token → 401 on the
/// very next request; patd, trusting nginx as a proxy, records the client's forwarded
/// address as the token's last_used_ip; patd unreachable → 500. The application is
/// reached only on success.
pub(super) fn nginx_forward_auth_passes_the_user_id_and_refuses_bad_tokens(backend: Backend) {
    ensure_nginx();
    // nginx reaches patd from 127.0.0.1.
    let app = spawn_app_with(backend, &[("PATD_TRUSTED_PROXIES", "127.0.0.1")]);
    let echo = EchoServer::start();
    let nginx = Nginx::start(&app.address, echo.port);
    let alice = app.user_session("member");
    let lister = app.create_token(&alice, "lister", 7, &["jobs:list"]);
    let builder = app.create_token(&alice, "builder", 7, &["builds:read"]);
    let bearer = |secret: &str| format!("Bearer {secret}");

    // No token: patd's 401 and its challenge reach the client; the application is untouched.
    let reply = nginx.get("/jobs/42", &[]).expect(401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="patd", Basic realm="patd""#)
    );
    let reply = nginx
        .get("/jobs/42", &[("X-Pat-User-Id", &alice.user_id())])
        .expect(401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="patd", Basic realm="patd""#)
    );
    let reply = nginx
        .get("/anything", &[("Authorization", "Bearer garbage")])
        .expect(401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="patd", error="invalid_token", Basic realm="patd""#)
    );
    assert_eq!(echo.request_count(), 0, "refused requests reached the app");

    // The scope: the application sees nginx's headers, one of each, not the client's.
    let reply = nginx
        .get(
            "/jobs/42?page=2",
            &[
                ("Authorization", &bearer(&lister.secret)),
                ("X-Pat-User-Id", "spoofed-user"),
                ("X-Pat-Token-Id", "spoofed-token"),
                ("X_Pat_User_Id", "spoofed-underscore"),
            ],
        )
        .expect(200);
    let seen = Received::parse(&reply.body);
    assert_eq!(seen.request_line, "GET /jobs/42?page=2 HTTP/1.0");
    assert_eq!(seen.values("x-pat-user-id"), [alice.user_id()]);
    assert_eq!(seen.values("x-pat-token-id"), [lister.id()]);
    assert_eq!(seen.values("x_pat_user_id"), Vec::<String>::new());
    assert_eq!(
        seen.values("authorization"),
        Vec::<String>::new(),
        "the secret stays at nginx"
    );
    assert_eq!(echo.request_count(), 1);

    // Basic with the token as the password works the same way.
    let basic = format!("Basic {}", basic_credentials("anyone", &lister.secret));
    let reply = nginx
        .get("/jobs/", &[("Authorization", &basic)])
        .expect(200);
    assert_eq!(
        Received::parse(&reply.body).values("x-pat-user-id"),
        [alice.user_id()]
    );

    // A valid token without jobs:list: 403 there, 200 where any valid token will do.
    nginx
        .get("/jobs/42", &[("Authorization", &bearer(&builder.secret))])
        .expect(403);
    assert_eq!(echo.request_count(), 2, "the 403 reached the app");
    let reply = nginx
        .get("/reports", &[("Authorization", &bearer(&builder.secret))])
        .expect(200);
    let seen = Received::parse(&reply.body);
    assert_eq!(seen.request_line, "GET /reports HTTP/1.0");
    assert_eq!(seen.values("x-pat-user-id"), [alice.user_id()]);
    assert_eq!(seen.values("x-pat-token-id"), [builder.id()]);

    // The check locations are internal: a client gets 404, not patd.
    for path in ["/_patd/check/jobs/list", "/_patd/check"] {
        nginx
            .get(path, &[("Authorization", &bearer(&lister.secret))])
            .expect(404);
    }
    assert_eq!(echo.request_count(), 3);

    // Revoked: the very next request is refused; nginx cached nothing.
    app.revoke(&alice, &lister.id());
    let reply = nginx
        .get("/jobs/42", &[("Authorization", &bearer(&lister.secret))])
        .expect(401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some(r#"Bearer realm="patd", error="invalid_token", Basic realm="patd""#)
    );
    assert_eq!(echo.request_count(), 3, "the revoked token reached the app");
    nginx
        .get("/reports", &[("Authorization", &bearer(&builder.secret))])
        .expect(200);
    assert_eq!(echo.request_count(), 4);

    // The client's address reaches patd through nginx's X-Forwarded-For: as if a further
    // proxy (trusted, since it connects from 127.0.0.1 too) said the client is 198.51.100.7.
    let forwarded = app.create_token(&alice, "forwarded", 7, &["builds:read"]);
    let reply = nginx
        .get(
            "/reports",
            &[
                ("Authorization", &bearer(&forwarded.secret)),
                ("X-Forwarded-For", "198.51.100.7"),
            ],
        )
        .expect(200);
    assert_eq!(
        Received::parse(&reply.body).values("x-forwarded-for"),
        ["198.51.100.7, 127.0.0.1"]
    );
    assert_eq!(
        app.token(&alice, &forwarded.id())["last_used_ip"],
        "198.51.100.7",
        "patd took the client from X-Forwarded-For, not nginx's address"
    );
    assert_eq!(echo.request_count(), 5);

    // patd unreachable: nginx fails closed with 500 and the application is not reached.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let orphan = Nginx::start(&nowhere, echo.port);
    orphan
        .get("/reports", &[("Authorization", &bearer(&builder.secret))])
        .expect(500);
    assert_eq!(echo.request_count(), 5, "the app was reached without patd");
}

/// Runs `scripts/ensure-nginx.sh`, which installs nginx when it is absent.
pub(super) fn ensure_nginx() {
    run_ensure_script("ensure-nginx.sh");
}

/// Runs `scripts/<name>` (an installer that is a no-op when its tools are present) and
/// fails the test with its output when it fails.
pub(super) fn run_ensure_script(name: &str) {
    let script = format!("{}/../scripts/{name}", env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        output.status.success(),
        "{script} failed with {}:\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The nginx binary: on the PATH, else where Debian puts it (outside a user's PATH).
fn nginx_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file());
    on_path.unwrap_or_else(|| PathBuf::from("/usr/sbin/nginx"))
}

/// The shipped configuration with its `listen` line and two upstream addresses pointed
/// at this test's ports.
fn render_shipped_conf(listen_port: u16, patd_address: &str, app_port: u16) -> String {
    render_shipped(
        SHIPPED_CONF,
        &[
            ("listen 80;", format!("listen 127.0.0.1:{listen_port};")),
            (
                "server 127.0.0.1:8080;",
                format!("server {};", host_port(patd_address)),
            ),
            (
                "server 127.0.0.1:3000;",
                format!("server 127.0.0.1:{app_port};"),
            ),
        ],
    )
}

/// `host:port` of patd's `http://host:port`.
pub(super) fn host_port(address: &str) -> &str {
    address
        .strip_prefix("http://")
        .expect("the address is http://host:port")
}

/// A shipped file with each `(line, replacement)` applied. Each line must occur exactly
/// once, so the test cannot silently stop exercising the file when it changes.
pub(super) fn render_shipped(path: &str, substitutions: &[(&str, String)]) -> String {
    let mut conf = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    for (line, replacement) in substitutions {
        assert_eq!(
            conf.matches(line).count(),
            1,
            "{path} should contain {line:?} exactly once (update this test with it)"
        );
        conf = conf.replace(line, replacement);
    }
    conf
}

/// A real nginx running a shipped configuration in a folder of its own; killed on drop.
pub(super) struct Nginx {
    /// `http://127.0.0.1:<port>`.
    pub(super) address: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Renders the forward-auth configuration and starts nginx with it.
    fn start(patd_address: &str, app_port: u16) -> Nginx {
        Nginx::start_site(|port| render_shipped_conf(port, patd_address, app_port))
    }

    /// Starts nginx in the foreground with the site (for inside `http { }`) that `render`
    /// makes for the listen port, and waits for that port.
    pub(super) fn start_site(render: impl FnOnce(u16) -> String) -> Nginx {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path();
        let port = free_port();
        let site = root.join("site.conf");
        std::fs::write(&site, render(port)).expect("write the site configuration");
        // The shipped file goes inside `http { }`; everything nginx writes stays in `root`.
        let main_conf = format!(
            "events {{ worker_connections 64; }}\n\
             http {{\n\
             access_log {root}/access.log;\n\
             client_body_temp_path {root}/client_body;\n\
             proxy_temp_path {root}/proxy;\n\
             fastcgi_temp_path {root}/fastcgi;\n\
             uwsgi_temp_path {root}/uwsgi;\n\
             scgi_temp_path {root}/scgi;\n\
             include {site};\n\
             }}\n",
            root = root.display(),
            site = site.display(),
        );
        let conf = root.join("nginx.conf");
        std::fs::write(&conf, main_conf).expect("write nginx.conf");
        let error_log = root.join("error.log");
        // One foreground process (no master, no workers) so killing the child stops it all.
        let globals = format!(
            "daemon off; master_process off; pid {}; error_log {} info;",
            root.join("nginx.pid").display(),
            error_log.display()
        );
        let child = Command::new(nginx_binary())
            .arg("-p")
            .arg(root)
            .arg("-c")
            .arg(&conf)
            .arg("-g")
            .arg(globals)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // Errors before `error_log` applies go to the built-in log: stderr on Debian.
            .stderr(Stdio::from(
                std::fs::File::create(root.join("stderr.log")).expect("nginx stderr file"),
            ))
            .spawn()
            .expect("start nginx");
        let mut nginx = Nginx {
            address: format!("http://127.0.0.1:{port}"),
            child,
            dir,
        };
        nginx.wait_until_listening(port);
        nginx
    }

    fn wait_until_listening(&mut self, port: u16) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "nginx exited with {status} before it listened; error log:\n{}",
                    self.error_log()
                );
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {port} within 20 s; error log:\n{}",
                self.error_log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What nginx reported: its standard error, then its error log.
    fn error_log(&self) -> String {
        let dir = self.dir.path();
        format!(
            "{}{}",
            read_or_empty(&dir.join("stderr.log")),
            read_or_empty(&dir.join("error.log"))
        )
    }

    /// GET through nginx with these request headers.
    fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        get_url(&format!("{}{path}", self.address), headers)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- nginx error log ----\n{}", self.error_log());
        }
    }
}

fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The protected application: answers every request with 200 and, as its body, the
/// request line and headers exactly as they arrived.
struct EchoServer {
    port: u16,
    requests: Arc<Mutex<usize>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    fn start() -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the echo server");
        let port = listener.local_addr().expect("local address").port();
        let requests = Arc::new(Mutex::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let requests = Arc::clone(&requests);
            let stop = Arc::clone(&stop);
            move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    let Some(head) = read_head(&stream) else {
                        continue;
                    };
                    // Counted before answering: the client may look as soon as it has the answer.
                    *requests.lock().unwrap() += 1;
                    echo(&stream, &head);
                }
            }
        });
        EchoServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// How many requests reached the application so far.
    fn request_count(&self) -> usize {
        *self.requests.lock().unwrap()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads one request's line and headers; `None` when the peer sent no whole request.
fn read_head(stream: &TcpStream) -> Option<String> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return None,
            Ok(_) if line == "\r\n" => return Some(head),
            Ok(_) => head.push_str(&line),
        }
    }
}

/// Answers 200 with the request head as the body, then closes.
fn echo(mut stream: &TcpStream, head: &str) {
    let response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{head}",
        head.len()
    );
    let _ = stream.write_all(response.as_bytes());
}

/// A request as the echo server received it.
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
}

impl Received {
    fn parse(body: &str) -> Received {
        let mut lines = body.split("\r\n").filter(|line| !line.is_empty());
        let request_line = lines.next().expect("a request line").to_owned();
        let headers = lines
            .map(|line| {
                let (name, value) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("not a header line: {line:?}"));
                (name.to_owned(), value.trim().to_owned())
            })
            .collect();
        Received {
            request_line,
            headers,
        }
    }

    /// Every value of a header, names compared ignoring case.
    fn values(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }
}
