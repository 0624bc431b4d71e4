//! Kernia in front of a tonic gRPC server: one port answers Better Auth's
//! JSON endpoints over HTTP/1.1 and passes gRPC (here tonic-health's
//! service) through, with the session available to gRPC handlers.
//!
//! ```sh
//! AUTH_SECRET=$(openssl rand -hex 32) cargo run --example tonic
//! curl -si localhost:3000/api/auth/sign-up/email -H 'content-type: application/json' \
//!   -d '{"name":"Me","email":"me@example.com","password":"password123"}'
//! grpcurl -plaintext -H 'cookie: better-auth.session_token=…' \
//!   localhost:3000 grpc.health.v1.Health/Watch
//! ```
//!
//! gRPC clients send the session cookie as `cookie` metadata. `PORT` (3000)
//! and `AUTH_SECRET` (a random one per run when unset) are read from
//! the environment.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use kernia::{ClientAddr, KerniaLayer, SessionHandle, SessionWithUser};
use tokio::net::TcpListener;
use tonic::transport::Server;
use tonic::transport::server::{TcpConnectInfo, TcpIncoming};
use tower::util::MapRequestLayer;
use tower::{Layer, Service};

/// gRPC methods that need a signed-in user.
pub const PROTECTED: &[&str] = &["/grpc.health.v1.Health/Watch"];

/// Serves gRPC and Kernia's endpoints on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    auth: KerniaLayer,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    let (_reporter, health) = tonic_health::server::health_reporter();
    Server::builder()
        // tonic speaks HTTP/2 only unless told otherwise: the browser's (and
        // curl's) HTTP/1.1 JSON requests to /api/auth need this.
        .accept_http1(true)
        // Layers run outermost first.
        .layer(MapRequestLayer::new(client_addr))
        .layer(auth)
        .layer(SessionLayer::new(PROTECTED))
        .add_service(health)
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}

/// tonic puts a `TcpConnectInfo` in each request's extensions; Kernia reads
/// the peer from `kernia::ClientAddr`, so copy it over, outside Kernia. Rate
/// limits are then kept per client IP instead of one shared bucket.
fn client_addr(mut request: Request<tonic::body::Body>) -> Request<tonic::body::Body> {
    let peer = request.extensions().get::<TcpConnectInfo>().and_then(TcpConnectInfo::remote_addr);
    if let Some(peer) = peer {
        request.extensions_mut().insert(ClientAddr(peer));
    }
    request
}

/// Resolves the session of gRPC calls (inside Kernia, which inserts the
/// [`SessionHandle`] when the `cookie` metadata carries its session cookie)
/// and puts the [`SessionWithUser`] into the request extensions, where a
/// tonic handler reads it without touching the store again:
///
/// ```ignore
/// async fn get_profile(&self, request: tonic::Request<GetProfile>) -> Result<…, Status> {
///     let session = request.extensions().get::<kernia::SessionWithUser>()
///         .ok_or_else(|| Status::unauthenticated("sign in first"))?;
///     // session.user.email, session.user.id, …
/// }
/// ```
///
/// Calls to the `protected` methods without a valid session are refused
/// with `UNAUTHENTICATED` before they reach the service. (A synchronous
/// tonic interceptor can see the `SessionHandle` too, but cannot await
/// `SessionHandle::get`; a layer like this one, or the handler, can.)
#[derive(Debug, Clone)]
pub struct SessionLayer {
    protected: Arc<[&'static str]>,
}

impl SessionLayer {
    /// Refuses anonymous calls to the `protected` method paths.
    pub fn new(protected: &[&'static str]) -> Self {
        Self { protected: protected.into() }
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService { inner, protected: self.protected.clone() }
    }
}

/// The service of [`SessionLayer`].
#[derive(Debug, Clone)]
pub struct SessionService<S> {
    inner: S,
    protected: Arc<[&'static str]>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for SessionService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let protected = self.protected.contains(&request.uri().path());
        let handle = request.extensions().get::<SessionHandle>().cloned();
        Box::pin(async move {
            let session = match handle {
                Some(handle) => match handle.get().await {
                    Ok(session) => session.cloned(),
                    Err(_) => return Ok(tonic::Status::internal("session lookup failed").into_http()),
                },
                None => None,
            };
            match session {
                Some(session) => {
                    println!("{} called by {}", request.uri().path(), session.user.email);
                    request.extensions_mut().insert::<SessionWithUser>(session);
                }
                None if protected => return Ok(tonic::Status::unauthenticated("sign in first").into_http()),
                None => {}
            }
            inner.call(request).await
        })
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
        .trusted_origins([format!("http://127.0.0.1:{port}")])
        .build()?;

    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("gRPC and {base_url}/api/auth on 127.0.0.1:{port}");
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
