//! Fault drill on a real PostgreSQL: a private server (never the shared one)
//! is stopped with `pg_ctl stop -m immediate` under Kernia and started again.
//! While it is down, auth requests answer 5xx JSON in Better Auth's shape
//! within the request timeout and pass-through routes keep answering; once
//! it is back the pool reconnects, old sessions and unspent codes work, and
//! sign-ups cut off mid-flow left no user without its credential.
//!
//! Needs PostgreSQL's server binaries (`initdb`, `pg_ctl`): from
//! `KERNIA_TEST_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else
//! `PATH`. Run as root, the server runs as the `postgres` OS user.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "postgres")]

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use kernia::KerniaLayer;
use kernia::delivery::{DeliveryMode, OtpPurpose};
use kernia::email_otp::EmailOtp;
use kernia::store::PostgresStore;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

const ORIGIN: &str = "http://localhost:3000";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// A private PostgreSQL cluster in a temporary directory, stopped and
/// removed when dropped (pass or fail).
struct PrivatePostgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres_user: bool,
}

impl PrivatePostgres {
    fn start() -> Self {
        let bin = server_binaries();
        let as_postgres_user = running_as_root();
        let dir = std::env::temp_dir().join(format!("kernia-pg-{:016x}", getrandom::u64().unwrap()));
        let port = free_port();
        let server = Self { bin, dir, port, as_postgres_user };
        server.run("mkdir", &["-p", server.dir.to_str().unwrap()]);
        let data = server.data();
        server.run_bin("initdb", &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync"]);
        server.pg_ctl_start();
        server
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl_start(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.display());
        let log = self.dir.join("server.log").display().to_string();
        self.run_bin("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "start"]);
    }

    /// Kills the server without a clean shutdown, as a crash would.
    fn stop_immediately(&self) {
        self.run_bin("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]);
    }

    fn run_bin(&self, name: &str, args: &[&str]) {
        let program = self.bin.join(name);
        self.run(program.to_str().unwrap(), args);
    }

    /// `program` as the `postgres` user when we are root (initdb refuses
    /// to run as root), else as ourselves.
    fn command(&self, program: &str) -> Command {
        if self.as_postgres_user {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--", program]);
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.command(program).args(args).output();
        let output = output.unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl").display().to_string();
        let _ = self.command(&pg_ctl).args(["-D", &self.data(), "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Where `initdb` and `pg_ctl` live; a clear failure when nowhere.
fn server_binaries() -> PathBuf {
    if let Ok(dir) = std::env::var("KERNIA_TEST_PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|bin| bin.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()));
    if let Some(newest) = versions.pop() {
        return newest;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file());
    on_path.unwrap_or_else(|| {
        panic!(
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install the PostgreSQL server \
             or set KERNIA_TEST_PG_BIN to their directory"
        )
    })
}

fn running_as_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next());
    uid == Some("0")
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// An answer: status, the error `code` (or the plain body) and the time taken.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
    cookie: Option<String>,
    elapsed: Duration,
}

impl Reply {
    /// `status CODE`, e.g. `503 SERVICE_UNAVAILABLE`, or the status alone.
    fn outcome(&self) -> String {
        match self.body.get("code").and_then(Value::as_str) {
            Some(code) => format!("{} {code}", self.status),
            None => self.status.to_string(),
        }
    }
}

struct App {
    layer: KerniaLayer,
    codes: Arc<Mutex<Vec<String>>>,
}

impl App {
    fn new(store: PostgresStore) -> Self {
        let codes = Arc::new(Mutex::new(Vec::new()));
        let sink = codes.clone();
        let plugin = EmailOtp::new(move |_to: String, otp: String, _purpose: OtpPurpose| {
            sink.lock().unwrap().push(otp);
            async { Ok(()) }
        })
        .delivery(DeliveryMode::Await(Duration::from_secs(1)));
        let layer = KerniaLayer::builder()
            .secret("kernia-test-secret-0123456789abcdef0123456789")
            .base_url(ORIGIN)
            .rate_limit(false)
            .request_timeout(Some(REQUEST_TIMEOUT))
            .store(store)
            .email_otp(plugin)
            .build()
            .unwrap();
        Self { layer, codes }
    }

    async fn send(&self, method: Method, uri: &str, body: Option<Value>, cookie: &str) -> Reply {
        let mut request = Request::builder().method(method).uri(uri).header(header::ORIGIN, ORIGIN);
        if !cookie.is_empty() {
            request = request.header(header::COOKIE, cookie);
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
        let inner = tower::service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from_static(
                b"\"hello\"",
            ))))
        });
        let start = Instant::now();
        let response = self.layer.layer(inner).oneshot(request.body(Full::new(body)).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let elapsed = start.elapsed();
        if parts.status.is_server_error() {
            assert_eq!(parts.headers[header::CONTENT_TYPE], "application/json", "5xx answers are JSON");
        }
        let cookie = parts
            .headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
            .find(|c| c.starts_with("better-auth.session_token="));
        Reply {
            status: parts.status.as_u16(),
            body: serde_json::from_slice(&bytes).unwrap(),
            cookie,
            elapsed,
        }
    }

    async fn post(&self, path: &str, body: Value, cookie: &str) -> Reply {
        self.send(Method::POST, &format!("/api/auth{path}"), Some(body), cookie).await
    }

    async fn get_session(&self, cookie: &str) -> Reply {
        self.send(Method::GET, "/api/auth/get-session", None, cookie).await
    }

    async fn hello(&self, cookie: &str) -> Reply {
        self.send(Method::GET, "/hello", None, cookie).await
    }
}

fn sign_up_body(email: &str) -> Value {
    json!({ "name": "Drill", "email": email, "password": "password123" })
}

fn sign_in_body(email: &str) -> Value {
    json!({ "email": email, "password": "password123" })
}

/// Prints and checks one answer during the outage: a 5xx in Better Auth's
/// shape (`code` and a non-empty `message`), within the request timeout.
fn assert_outage(label: &str, reply: &Reply, expected: &str) {
    eprintln!("outage: {label} -> {} {} in {:?}", reply.outcome(), reply.body["message"], reply.elapsed);
    assert_eq!(reply.outcome(), expected, "{label}: {:?}", reply.body);
    assert!(reply.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{label}: {:?}", reply.body);
    assert!(reply.cookie.is_none(), "{label}: no session cookie on a failure");
    assert!(
        reply.elapsed < REQUEST_TIMEOUT + Duration::from_secs(1),
        "{label}: bounded by the request timeout"
    );
}

async fn store(url: &str, acquire_timeout: Duration) -> PostgresStore {
    let options = PostgresStore::pool_options().acquire_timeout(acquire_timeout);
    PostgresStore::connect_with(url, options).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_and_restarted_postgres_answers_5xx_json_then_resumes() {
    let server = PrivatePostgres::start();
    // Kernia's default pool waits 5 s for a connection: longer than the
    // request timeout, so an outage is the timeout's 503. A pool that gives
    // up sooner turns it into the store error's 500.
    let waiting = store(&server.url(), Duration::from_secs(5)).await;
    waiting.migrate().await.unwrap();
    let failing_fast = store(&server.url(), Duration::from_millis(300)).await;
    let (app, fast) = (App::new(waiting.clone()), App::new(failing_fast));

    let signed_up = app.post("/sign-up/email", sign_up_body("alice@example.com"), "").await;
    assert_eq!(signed_up.status, 200, "{:?}", signed_up.body);
    let cookie = signed_up.cookie.clone().unwrap();
    let send = json!({ "email": "bob@example.com", "type": "sign-in" });
    assert_eq!(app.post("/email-otp/send-verification-otp", send, "").await.status, 200);
    let code = app.codes.lock().unwrap().last().cloned().unwrap();

    server.stop_immediately();
    let otp_sign_in = json!({ "email": "bob@example.com", "otp": code });
    assert_outage("get-session (5 s pool)", &app.get_session(&cookie).await, "503 SERVICE_UNAVAILABLE");
    let reply = app.post("/sign-in/email", sign_in_body("alice@example.com"), "").await;
    assert_outage("password sign-in (5 s pool)", &reply, "503 SERVICE_UNAVAILABLE");
    let reply = app.post("/sign-in/email-otp", otp_sign_in.clone(), "").await;
    assert_outage("code sign-in (5 s pool)", &reply, "503 SERVICE_UNAVAILABLE");
    assert_outage("get-session (300 ms pool)", &fast.get_session(&cookie).await, "500 FAILED_TO_GET_SESSION");
    let reply = fast.post("/sign-in/email", sign_in_body("alice@example.com"), "").await;
    assert_outage("password sign-in (300 ms pool)", &reply, "500 INTERNAL_SERVER_ERROR");
    let reply = fast.post("/sign-in/email-otp", otp_sign_in.clone(), "").await;
    assert_outage("code sign-in (300 ms pool)", &reply, "500 INTERNAL_SERVER_ERROR");
    for cookie in ["", cookie.as_str()] {
        let hello = app.hello(cookie).await;
        eprintln!(
            "outage: pass-through /hello (cookie: {}) -> {} in {:?}",
            !cookie.is_empty(),
            hello.status,
            hello.elapsed
        );
        assert_eq!((hello.status, hello.body.clone()), (200, json!("hello")), "the app keeps answering");
    }

    server.pg_ctl_start();
    let session = app.get_session(&cookie).await;
    eprintln!("restarted: get-session -> {} in {:?}", session.status, session.elapsed);
    assert_eq!(session.status, 200, "{:?}", session.body);
    assert_eq!(session.body["user"]["email"], "alice@example.com", "the pool reconnected");
    assert_eq!(fast.get_session(&cookie).await.body["user"]["email"], "alice@example.com");
    let signed_in = app.post("/sign-in/email", sign_in_body("alice@example.com"), "").await;
    assert_eq!(signed_in.status, 200, "{:?}", signed_in.body);
    let reply = app.post("/sign-in/email-otp", otp_sign_in, "").await;
    assert_eq!(reply.status, 200, "the failed attempts did not spend the code: {:?}", reply.body);

    sign_ups_cut_off_mid_flow_leave_no_half_written_user(&server, &app, &waiting).await;
}

/// Eight concurrent sign-ups; the server is killed as soon as the first one
/// succeeds, so the rest fail somewhere inside their flow.
async fn sign_ups_cut_off_mid_flow_leave_no_half_written_user(
    server: &PrivatePostgres,
    app: &App,
    store: &PostgresStore,
) {
    let (tx, mut first_done) = tokio::sync::mpsc::unbounded_channel();
    let app = Arc::new(App { layer: app.layer.clone(), codes: app.codes.clone() });
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (app, tx) = (app.clone(), tx.clone());
            tokio::spawn(async move {
                let email = format!("cut{i}@example.com");
                let reply = app.post("/sign-up/email", sign_up_body(&email), "").await;
                let _ = tx.send(reply.status);
                (email, reply.outcome())
            })
        })
        .collect();
    while first_done.recv().await.is_some_and(|status| status != 200) {}
    server.stop_immediately();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    server.pg_ctl_start();
    eprintln!("sign-ups with the server killed mid-flow: {outcomes:?}");
    let allowed =
        ["200", "503 SERVICE_UNAVAILABLE", "500 INTERNAL_SERVER_ERROR", "422 FAILED_TO_CREATE_USER"];
    for (email, outcome) in &outcomes {
        assert!(allowed.contains(&outcome.as_str()), "{email}: {outcome}");
    }
    let orphans: i64 = sqlx::query_scalar(
        r#"SELECT count(*) FROM "user" u WHERE u."email" LIKE 'cut%' AND NOT EXISTS
           (SELECT 1 FROM "account" a WHERE a."userId" = u."id" AND a."password" IS NOT NULL)"#,
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    let users: Vec<String> = sqlx::query_scalar(r#"SELECT "email" FROM "user" WHERE "email" LIKE 'cut%'"#)
        .fetch_all(store.pool())
        .await
        .unwrap();
    eprintln!(
        "after restart: {} of 8 cut-off sign-ups exist, {orphans} users without a password credential",
        users.len()
    );
    assert_eq!(orphans, 0, "a user was written without its credential");
    for (email, outcome) in &outcomes {
        if outcome == "200" {
            assert!(users.contains(email), "{email} answered 200 but was not kept");
        }
    }
    for email in &users {
        let reply = app.post("/sign-in/email", sign_in_body(email), "").await;
        assert_eq!(reply.status, 200, "{email} exists, so it can sign in: {:?}", reply.body);
    }
}
