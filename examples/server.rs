//! Kernia's dev server: the harness contract of the conformance suite.
//!
//! ```sh
//! cargo run --release --example server
//! ```
//!
//! Environment (all optional): `PORT` (3000), `KERNIA_SECRET` (random per run
//! when unset), `KERNIA_BASE_URL` (`http://localhost:$PORT`),
//! `KERNIA_TRUSTED_ORIGINS` (comma-separated), `KERNIA_OUTBOX` (a file that
//! receives one JSON line per delivered code), `KERNIA_RATE_LIMIT` (`on`|`off`).

use std::net::SocketAddr;

use axum::routing::get;
use axum::{Json, Router};
use kernia::KerniaLayer;
use kernia::extract::CurrentSession;
use serde_json::json;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let port: u16 = env("PORT").map_or(Ok(3000), |p| p.parse())?;
    let base_url = env("KERNIA_BASE_URL").unwrap_or_else(|| format!("http://localhost:{port}"));
    let mut trusted: Vec<String> = env("KERNIA_TRUSTED_ORIGINS")
        .map(|list| {
            list.split(',')
                .map(|o| o.trim().to_owned())
                .filter(|o| !o.is_empty())
                .collect()
        })
        .unwrap_or_default();
    trusted.push(format!("http://127.0.0.1:{port}"));
    trusted.push(format!("http://localhost:{port}"));

    let auth = KerniaLayer::builder()
        .secret(secret())
        .base_url(&base_url)
        .trusted_origins(trusted)
        .rate_limit(env("KERNIA_RATE_LIMIT").as_deref() != Some("off"))
        .build()?;

    let app = Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route(
            "/api/me",
            get(|CurrentSession(session): CurrentSession| async move {
                Json(json!({ "user": session.user }))
            }),
        )
        .layer(auth);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    tracing::info!("Kernia dev server on http://127.0.0.1:{port} (auth under {base_url}/api/auth)");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await?;
    Ok(())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn secret() -> String {
    env("KERNIA_SECRET").unwrap_or_else(|| {
        tracing::warn!(
            "KERNIA_SECRET is unset: using a random secret, sessions end when the server stops"
        );
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
