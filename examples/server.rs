//! Kernia's dev server: the harness contract of the conformance suite.
//!
//! ```sh
//! cargo run --release --example server
//! ```
//!
//! Environment (all optional): `PORT` (3000), `KERNIA_SECRET` (random per run
//! when unset), `KERNIA_BASE_URL` (`http://localhost:$PORT`),
//! `KERNIA_TRUSTED_ORIGINS` (comma-separated), `KERNIA_OUTBOX` (a file that
//! receives one JSON line per delivered code), `KERNIA_RATE_LIMIT` (`on`|`off`),
//! `KERNIA_OTP_LENGTH` (6), `KERNIA_OTP_EXPIRES_IN` (300 s),
//! `KERNIA_OTP_ALLOWED_ATTEMPTS` (3), `KERNIA_DISABLE_SIGN_UP` (false),
//! `KERNIA_DATABASE_URL` (`sqlite://kernia-dev.db` in the working directory;
//! also `postgres://…` with the `postgres` feature, or `memory`),
//! `KERNIA_REDIS_URL` (with the `redis` feature: codes and rate limits shared
//! by several instances), `KERNIA_DEMO_DIR` (the built demo page, default
//! `web/dist` in this repository).
//!
//! `GET /` serves the demo page built by `web/build.sh` (sign in by email or
//! SMS code, or phone + password, with the official Better Auth client), or
//! a note on how to build it.
//!
//! Every code is printed (or, when `KERNIA_OUTBOX` is set, written there
//! instead), so a person can sign in by hand. Deliveries are awaited (they
//! only append to the outbox), which the conformance suite's harness needs:
//! each outbox line is written before its response.
//!
//! Logs go to stdout through a writer thread that batches lines (one
//! `write(2)` per burst rather than per line), and the server allocates with
//! mimalloc: under load, glibc's allocator and per-line writes took about a
//! third of a code send's CPU (`perf record`, `../shared/perf` workload W3).

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use kernia::delivery::{DeliveryError, DeliveryMode, OtpPurpose};
use kernia::email_otp::EmailOtp;
use kernia::extract::CurrentSession;
use kernia::phone_number::{PhoneNumber, PhoneValidation};
use kernia::rate_limit::MemoryRateLimitStore;
use kernia::store::{MemoryStore, SqliteStore, Store};
use kernia::{KerniaBuilder, KerniaLayer};
use serde::Serialize;
use serde_json::json;
use tower::ServiceExt;
use tracing_appender::non_blocking::NonBlockingBuilder;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Lossless: security events must not be dropped when the writer lags.
    let (log_writer, _flush_logs_on_exit) =
        NonBlockingBuilder::default().lossy(false).finish(std::io::BufWriter::new(std::io::stdout()));
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(log_writer)
        .init();
    let port: u16 = env("PORT").map_or(Ok(3000), |p| p.parse())?;
    let base_url = env("KERNIA_BASE_URL").unwrap_or_else(|| format!("http://localhost:{port}"));
    let mut trusted: Vec<String> = env("KERNIA_TRUSTED_ORIGINS")
        .map(|list| list.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
        .unwrap_or_default();
    trusted.push(format!("http://127.0.0.1:{port}"));
    trusted.push(format!("http://localhost:{port}"));

    let outbox = Outbox::open(env("KERNIA_OUTBOX"))?;
    let otp_length: usize = env("KERNIA_OTP_LENGTH").map_or(Ok(6), |v| v.parse())?;
    let expires_in = Duration::from_secs(env("KERNIA_OTP_EXPIRES_IN").map_or(Ok(300), |v| v.parse())?);
    let attempts: u32 = env("KERNIA_OTP_ALLOWED_ATTEMPTS").map_or(Ok(3), |v| v.parse())?;
    let disable_sign_up = env("KERNIA_DISABLE_SIGN_UP").is_some_and(|v| v == "true" || v == "1");
    let delivery = DeliveryMode::Await(Duration::from_secs(5));

    let email_outbox = outbox.clone();
    let email_otp = EmailOtp::new(move |email: String, otp: String, purpose: OtpPurpose| {
        let written = email_outbox.deliver(&Line::Email { to: &email, otp: &otp, purpose: purpose.as_str() });
        async move { written }
    })
    .otp_length(otp_length)
    .expires_in(expires_in)
    .allowed_attempts(attempts)
    .disable_sign_up(disable_sign_up)
    .delivery(delivery)
    // Change notices go to the console only: the outbox holds codes.
    .send_change_notice(|old: String, new: String| {
        println!("change notice to {old}: the account's email is now {new}");
        async { Ok(()) }
    });

    let sms_outbox = outbox.clone();
    let phone = PhoneNumber::new(move |phone: String, message: String| {
        let written = sms_outbox.deliver(&Line::Sms { to: &phone, message: &message });
        async move { written }
    })
    .otp_length(otp_length)
    .expires_in(expires_in)
    .allowed_attempts(attempts)
    .disable_sign_up(disable_sign_up)
    // The test suites use fictional +1555… numbers that libphonenumber rejects.
    .validation(PhoneValidation::E164Shape)
    .delivery(delivery)
    .send_change_notice(|old: String, new: String| {
        println!("SMS to {old}: this number was replaced by {new} on your account");
        async { Ok(()) }
    });

    let builder = KerniaLayer::builder()
        .secret(secret())
        .base_url(&base_url)
        .trusted_origins(trusted)
        .rate_limit(env("KERNIA_RATE_LIMIT").as_deref() != Some("off"))
        .email_otp(email_otp)
        .phone_number(phone);
    let auth = with_store(builder).await?.build()?;

    let app = Router::new().route("/hello", get(|| async { "hello" })).route(
        "/api/me",
        get(|CurrentSession(session): CurrentSession| async move { Json(json!({ "user": session.user })) }),
    );
    let app = demo_routes(app).layer(auth);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("Kernia dev server on http://127.0.0.1:{port} (auth under {base_url}/api/auth)");
    tracing::info!("demo page on {base_url}/");
    serve(listener, app).await;
    Ok(())
}

/// HTTP/1.1 (what browsers and the official client use here), one task per
/// connection, each request tagged with the peer address for the rate
/// limiter, until SIGTERM or Ctrl-C.
async fn serve(listener: tokio::net::TcpListener, app: Router) {
    let stop = shutdown();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => return,
        };
        // Small JSON answers on keep-alive connections: send each at once (no Nagle delay).
        let _ = stream.set_nodelay(true);
        let service = app.clone().map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
}

type BoxError = Box<dyn std::error::Error>;

/// The demo page's files: fixed routes to fixed names, so no request path
/// ever reaches the file system.
const DEMO_FILES: [(&str, &str, &str); 3] = [
    ("/", "index.html", "text/html; charset=utf-8"),
    ("/demo.js", "demo.js", "text/javascript; charset=utf-8"),
    ("/demo.css", "demo.css", "text/css; charset=utf-8"),
];

/// Shown at `/` while `web/dist` has no build.
const DEMO_NOT_BUILT: &str = "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Kernia dev server</title></head>
<body><h1>Kernia dev server</h1>
<p>The demo page is not built. Build it with <code>web/build.sh</code> (needs Node.js 20+), then reload.
Set <code>KERNIA_DEMO_DIR</code> to serve a build from elsewhere.</p>
<p>The auth API answers under <code>/api/auth</code> either way.</p></body></html>
";

/// `app` plus the demo page's routes, read from disk on each request so a
/// rebuild needs no restart.
fn demo_routes(app: Router) -> Router {
    let dir = env("KERNIA_DEMO_DIR")
        .map_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/web/dist")), PathBuf::from);
    DEMO_FILES.into_iter().fold(app, |app, (route, name, content_type)| {
        let path = dir.join(name);
        app.route(route, get(move || demo_file(path.clone(), content_type)))
    })
}

async fn demo_file(path: PathBuf, content_type: &'static str) -> Response {
    match tokio::fs::read(&path).await {
        Ok(body) => {
            let headers = [
                (CONTENT_TYPE, content_type),
                (CACHE_CONTROL, "no-cache"),
                (X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ];
            (headers, body).into_response()
        }
        Err(_) if content_type.starts_with("text/html") => Html(DEMO_NOT_BUILT).into_response(),
        Err(_) => axum::http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// The store named by `KERNIA_DATABASE_URL` (migrated), plus Redis when
/// `KERNIA_REDIS_URL` is set.
async fn with_store(builder: KerniaBuilder) -> Result<KerniaBuilder, BoxError> {
    let url = env("KERNIA_DATABASE_URL").unwrap_or_else(|| "sqlite://kernia-dev.db".to_owned());
    tracing::info!(store = %redact(&url), "store");
    if url == "memory" {
        return with_redis(builder, MemoryStore::new()).await;
    }
    if url.starts_with("sqlite:") {
        let store = SqliteStore::connect(&url).await?;
        store.migrate().await?;
        return with_redis(builder, store).await;
    }
    #[cfg(feature = "postgres")]
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let store = kernia::store::PostgresStore::connect(&url).await?;
        store.migrate().await?;
        return with_redis(builder, store).await;
    }
    Err(format!("unsupported KERNIA_DATABASE_URL {:?} (sqlite://FILE, memory, or postgres:// with the postgres feature)", redact(&url)).into())
}

#[cfg(feature = "redis")]
async fn with_redis<S: Store>(builder: KerniaBuilder, store: S) -> Result<KerniaBuilder, BoxError> {
    use kernia::store::{RedisRateLimitStore, RedisVerificationStore};
    let Some(url) = env("KERNIA_REDIS_URL") else {
        return Ok(builder.store(store).rate_limit_store(MemoryRateLimitStore::new()));
    };
    let limits = RedisRateLimitStore::connect(&url).await?;
    let store = RedisVerificationStore::connect(store, &url).await?;
    Ok(builder.store(store).rate_limit_store(limits))
}

#[cfg(not(feature = "redis"))]
async fn with_redis<S: Store>(builder: KerniaBuilder, store: S) -> Result<KerniaBuilder, BoxError> {
    if env("KERNIA_REDIS_URL").is_some() {
        return Err("KERNIA_REDIS_URL needs the dev server built with --features redis".into());
    }
    Ok(builder.store(store).rate_limit_store(MemoryRateLimitStore::new()))
}

/// A database URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// The harness outbox: one JSON line per delivered code, flushed at once.
#[derive(Clone)]
struct Outbox(Option<Arc<Mutex<File>>>);

impl Outbox {
    fn open(path: Option<String>) -> std::io::Result<Self> {
        let file = path.map(|p| OpenOptions::new().create(true).append(true).open(p)).transpose()?;
        Ok(Self(file.map(|f| Arc::new(Mutex::new(f)))))
    }

    /// Appends `line` to the outbox file, or prints it when there is none.
    fn deliver(&self, line: &Line<'_>) -> Result<(), DeliveryError> {
        let Some(file) = &self.0 else {
            println!("{line}");
            return Ok(());
        };
        // One write(2) per line: `serde_json::to_writer` on a `File` would issue one per JSON token.
        let mut text = serde_json::to_vec(line)?;
        text.push(b'\n');
        file.lock().map_err(|_| "outbox lock poisoned")?.write_all(&text)?;
        Ok(())
    }
}

/// One delivered code, as the harness reads it:
/// `{"channel":"email","to":…,"otp":…,"type":…}` or `{"channel":"sms","to":…,"message":…}`.
#[derive(Serialize)]
#[serde(tag = "channel", rename_all = "lowercase")]
enum Line<'a> {
    Email {
        to: &'a str,
        otp: &'a str,
        #[serde(rename = "type")]
        purpose: &'a str,
    },
    Sms {
        to: &'a str,
        message: &'a str,
    },
}

impl std::fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Email { to, otp, purpose } => write!(f, "{purpose} code for {to}: {otp}"),
            Self::Sms { to, message } => write!(f, "SMS to {to}: {message}"),
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn secret() -> String {
    env("KERNIA_SECRET").unwrap_or_else(|| {
        tracing::warn!("KERNIA_SECRET is unset: using a random secret, sessions end when the server stops");
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).unwrap_or_default();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    })
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}
