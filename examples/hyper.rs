//! Kernia in front of a bare hyper 1 service, served with hyper-util: no
//! framework, just a `service_fn` that reads the session from the
//! [`SessionHandle`] request extension.
//!
//! ```sh
//! AUTH_SECRET=$(openssl rand -hex 32) cargo run --example hyper
//! curl -si localhost:3000/api/auth/sign-up/email -H 'content-type: application/json' \
//!   -d '{"name":"Me","email":"me@example.com","password":"password123"}'
//! curl -s localhost:3000/me -H 'cookie: better-auth.session_token=…'
//! ```
//!
//! `PORT` (3000) and `AUTH_SECRET` (a random one per run when unset)
//! are read from the environment.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use kernia::{ApiError, ClientAddr, ErrorCode, KerniaLayer, ResponseBody, SessionHandle};
use serde_json::json;
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};

/// The app for one connection from `peer`: Kernia in front of [`handle`].
///
/// Generic over the request body so a test can drive it in-process; hyper
/// serves it with `hyper::body::Incoming`.
pub fn app<B>(
    auth: &KerniaLayer,
    peer: SocketAddr,
) -> impl Service<
    Request<B>,
    Response = Response<ResponseBody<Full<Bytes>>>,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    ServiceBuilder::new()
        // Outside Kernia: tell it who the client is. Rate limits are kept per
        // client IP and sessions record it; without `ClientAddr` every client
        // shares one rate-limit bucket.
        .map_request(move |mut request: Request<B>| {
            request.extensions_mut().insert(ClientAddr(peer));
            request
        })
        .layer(auth.clone())
        .service_fn(handle::<B>)
}

/// The app's own routes: `/me` needs a session, `/` is public.
async fn handle<B>(request: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    // Kernia inserts a `SessionHandle` when the request carries its session
    // cookie; nothing is read from the store until `get` is called.
    let session = request.extensions().get::<SessionHandle>().cloned();
    let response = match request.uri().path() {
        "/" => text(StatusCode::OK, "hello from bare hyper"),
        "/me" => {
            let Some(handle) = session else {
                return Ok(ApiError::new(ErrorCode::Unauthorized).into_response());
            };
            match handle.get().await {
                Ok(Some(session)) => {
                    let body = json!({ "email": session.user.email, "name": session.user.name });
                    let mut response = text(StatusCode::OK, body.to_string());
                    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    response
                }
                // A forged, expired or revoked cookie.
                Ok(None) => ApiError::new(ErrorCode::Unauthorized).into_response(),
                // The store failed: Kernia's 500 (already logged).
                Err(error) => error.into_response(),
            }
        }
        _ => text(StatusCode::NOT_FOUND, "not found"),
    };
    Ok(response)
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

/// Accepts HTTP/1.1 connections on `listener` until `shutdown` resolves,
/// then lets open connections finish their current request.
pub async fn serve(
    listener: TcpListener,
    auth: KerniaLayer,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(());
    let mut connections = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    eprintln!("accept failed: {error}");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app(&auth, peer));
        let mut stopped = stopped.clone();
        connections.spawn(async move {
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopped.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        // Forget connections that are done.
        while connections.try_join_next().is_some() {}
    }
    drop(stop);
    while connections.join_next().await.is_some() {}
    Ok(())
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
        .trusted_origins([format!("http://127.0.0.1:{port}")])
        .build()?;

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {base_url} (auth under {base_url}/api/auth)");
    serve(listener, auth, async {
        let _ = tokio::signal::ctrl_c().await;
        println!("shutting down");
    })
    .await?;
    Ok(())
}

/// 32 random bytes as hex, for runs without `AUTH_SECRET`.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap_or_default();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
