//! Kernia in an axum app: Better Auth's endpoints under `/api/auth`, a
//! protected route, a route for visitors and members alike, and email
//! one-time codes printed to the console.
//!
//! ```sh
//! AUTH_SECRET=$(openssl rand -hex 32) cargo run --example axum
//! curl -s localhost:3000/api/auth/email-otp/send-verification-otp \
//!   -H 'content-type: application/json' -d '{"email":"me@example.com","type":"sign-in"}'
//! # the console shows: sign-in code for me@example.com: 123456
//! curl -si localhost:3000/api/auth/sign-in/email-otp \
//!   -H 'content-type: application/json' -d '{"email":"me@example.com","otp":"123456"}'
//! curl -s localhost:3000/me -H 'cookie: better-auth.session_token=…'
//! ```
//!
//! `PORT` (3000) and `AUTH_SECRET` (a random one per run when unset)
//! are read from the environment.

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use kernia::delivery::OtpPurpose;
use kernia::email_otp::EmailOtp;
use kernia::extract::CurrentSession;
use kernia::{ConfigError, KerniaBuilder, KerniaLayer};
use serde_json::{Value, json};

/// The app: `/me` for signed-in users only, `/` for everyone, auth under
/// `/api/auth`. `auth` carries the secret, base URL and any other settings.
pub fn app(auth: KerniaBuilder) -> Result<Router, ConfigError> {
    let auth = auth
        .email_otp(EmailOtp::new(|email: String, otp: String, purpose: OtpPurpose| async move {
            // A real app hands the code to its mailer or job queue here.
            println!("{purpose} code for {email}: {otp}");
            Ok(())
        }))
        .build()?;

    let router = Router::new().route("/", get(home)).route("/me", get(me));

    // `Router::layer` also wraps axum's fallback, so every path under
    // /api/auth reaches Kernia. A browser front end served from another
    // origin needs tower-http's `CorsLayer` *outside* Kernia (so preflight
    // requests and Kernia's own answers get CORS headers), allowing
    // credentials for that exact origin, which must also be listed in
    // `KerniaBuilder::trusted_origins`:
    //
    //     Router::new()…
    //         .layer(auth)
    //         .layer(CorsLayer::new()
    //             .allow_origin(HeaderValue::from_static("https://app.example.com"))
    //             .allow_credentials(true)
    //             .allow_methods([Method::GET, Method::POST])
    //             .allow_headers([header::CONTENT_TYPE]))
    //
    // (the last `.layer` is the outermost).
    Ok(router.layer(auth))
}

/// Signed-in users only: anyone else gets Better Auth's 401
/// `{"message":"Unauthorized","code":"UNAUTHORIZED"}`.
async fn me(CurrentSession(session): CurrentSession) -> Json<Value> {
    Json(json!({
        "email": session.user.email,
        "name": session.user.name,
        "sessionExpiresAt": session.session.expires_at.unix_timestamp(),
    }))
}

/// Everyone: `Option<CurrentSession>` is `None` for visitors.
async fn home(session: Option<CurrentSession>) -> String {
    match session {
        Some(CurrentSession(session)) => format!("hello, {}", session.user.email),
        None => "hello, visitor".to_owned(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let base_url = format!("http://localhost:{port}");
    let secret = std::env::var("AUTH_SECRET").unwrap_or_else(|_| {
        eprintln!("AUTH_SECRET is unset: using a random secret, sessions end when the example stops");
        random_secret()
    });
    let auth = KerniaLayer::builder()
        .secret(secret)
        .base_url(&base_url)
        .trusted_origins([format!("http://127.0.0.1:{port}")]);
    let app = app(auth)?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {base_url} (auth under {base_url}/api/auth)");
    // `ConnectInfo<SocketAddr>` puts each connection's peer address into the
    // request extensions, where Kernia reads it: rate limits are kept per
    // client IP and sessions record it. Without it every client shares one
    // rate-limit bucket.
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown())
        .await?;
    Ok(())
}

/// Resolves on Ctrl-C; in-flight requests finish before `serve` returns.
async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
    println!("shutting down");
}

/// 32 random bytes as hex, for runs without `AUTH_SECRET`.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap_or_default();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
