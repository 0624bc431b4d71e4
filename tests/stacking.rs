//! Kernia stacked into real servers: an axum `Router`, a bare hyper 1
//! connection over a loopback socket, and a tonic gRPC server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use kernia::SessionHandle;
use kernia::extract::CurrentSession;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::{Layer, Service, ServiceExt};

use common::Reply;
use common::net::{bounded, fetch, http_client, into_reply, request, serve_hello, serving_health_client};

fn sign_up_body(email: &str) -> Value {
    json!({ "name": "Stack", "email": email, "password": "password123" })
}

// ---------------------------------------------------------------- axum

async fn hello() -> &'static str {
    "hello"
}

async fn me(CurrentSession(session): CurrentSession) -> String {
    session.user.email
}

fn axum_app() -> Router {
    Router::new().route("/hello", get(hello)).route("/me", get(me))
}

/// Drives one request through a clone of `service` with `oneshot`.
async fn oneshot<S, B>(service: &S, request: Request<Full<Bytes>>) -> Reply
where
    S: Service<Request<axum::body::Body>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let response = service.clone().oneshot(request.map(axum::body::Body::new)).await.unwrap();
    into_reply(response).await
}

/// The whole axum scenario, against either stacking of the layer.
async fn axum_scenario<S, B>(app: S, email: &str)
where
    S: Service<Request<axum::body::Body>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let reply = oneshot(&app, request(Method::GET, "/hello", "", None)).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "hello"));

    let reply = oneshot(&app, request(Method::GET, "/api/auth/ok", "", None)).await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.json(), json!({ "ok": true }));

    let reply =
        oneshot(&app, request(Method::POST, "/api/auth/sign-up/email", "", Some(sign_up_body(email)))).await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    let cookie = reply.cookie_header();
    assert!(cookie.contains("better-auth.session_token="), "cookies: {cookie}");

    let reply = oneshot(&app, request(Method::GET, "/me", &cookie, None)).await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, email));

    let reply = oneshot(&app, request(Method::GET, "/me", "", None)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json(), json!({ "message": "Unauthorized", "code": "UNAUTHORIZED" }));
}

#[tokio::test]
async fn layer_stacks_under_axum_router_layer() {
    bounded(async {
        // `Router::layer` also wraps axum's fallback, so unmatched paths under
        // /api/auth reach Kernia rather than axum's 404.
        let kernia = common::builder().build().unwrap();
        axum_scenario(axum_app().layer(kernia), "router-layer@example.com").await;

        // Outside the router (`Layer::layer(&kernia, router)`) works the same.
        let kernia = common::builder().build().unwrap();
        axum_scenario(kernia.layer(axum_app()), "outer-layer@example.com").await;
    })
    .await;
}

// ---------------------------------------------------------------- hyper

#[tokio::test]
async fn layer_wraps_a_bare_hyper_service_over_a_socket() {
    bounded(async {
        // Rate limits on: sign-in is 3 requests per 10 s per client IP.
        let layer = common::builder().rate_limit(true).build().unwrap();
        let (addr, server) = serve_hello(layer).await;
        let base = format!("http://{addr}");
        let client = http_client(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)));

        let reply = fetch(&client, request(Method::GET, &format!("{base}/hello"), "", None)).await;
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "hello"));

        let reply = fetch(&client, request(Method::GET, &format!("{base}/api/auth/ok"), "", None)).await;
        assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
        assert_eq!(reply.json(), json!({ "ok": true }));

        // `{}` fails validation before any password hashing; the limiter runs first anyway.
        let sign_in =
            || request(Method::POST, &format!("{base}/api/auth/sign-in/email"), "", Some(json!({})));
        for attempt in 1..=3 {
            let reply = fetch(&client, sign_in()).await;
            assert_ne!(reply.status, StatusCode::TOO_MANY_REQUESTS, "attempt {attempt}: {}", reply.body);
        }
        let reply = fetch(&client, sign_in()).await;
        assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS, "body: {}", reply.body);

        // Another peer address has its own bucket: the limiter keys on the
        // `ClientAddr` the connection inserted. Without it every request would
        // share the "no IP" bucket and this one would be refused too.
        let other = http_client(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))));
        let reply = fetch(&other, sign_in()).await;
        assert_ne!(reply.status, StatusCode::TOO_MANY_REQUESTS, "body: {}", reply.body);

        server.abort();
    })
    .await;
}

// ---------------------------------------------------------------- tonic

/// What the recorder saw: per path, `None` without a `SessionHandle`, else
/// the email the handle resolved to (if any).
type Seen = Arc<Mutex<Vec<(String, Option<Option<String>>)>>>;

/// A layer inside Kernia standing in for a gRPC handler: it resolves the
/// `SessionHandle` from the request extensions, as a handler would.
#[derive(Clone)]
struct RecordSessionLayer {
    seen: Seen,
}

impl<S> Layer<S> for RecordSessionLayer {
    type Service = RecordSession<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RecordSession { inner, seen: self.seen.clone() }
    }
}

#[derive(Clone)]
struct RecordSession<S> {
    inner: S,
    seen: Seen,
}

impl<S, B> Service<Request<B>> for RecordSession<S>
where
    S: Service<Request<B>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let seen = self.seen.clone();
        Box::pin(async move {
            let path = request.uri().path().to_owned();
            let email = match request.extensions().get::<SessionHandle>() {
                Some(handle) => Some(handle.get().await.ok().flatten().map(|s| s.user.email.clone())),
                None => None,
            };
            seen.lock().unwrap().push((path, email));
            inner.call(request).await
        })
    }
}

#[tokio::test]
async fn tonic_grpc_traffic_passes_through_the_layer() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;

    bounded(async {
        let kernia = common::builder().build().unwrap();
        let seen = Seen::default();
        let (_reporter, health) = tonic_health::server::health_reporter();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // tonic serves HTTP/2 only unless told otherwise; `accept_http1` lets
        // the JSON endpoints answer HTTP/1.1 clients on the same port.
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .accept_http1(true)
                .layer(kernia)
                .layer(RecordSessionLayer { seen: seen.clone() })
                .add_service(health)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );

        // gRPC over HTTP/2 passes through Kernia to the health service.
        let mut grpc = serving_health_client(addr).await;

        // The auth endpoints answer plain HTTP/1.1 on the same server.
        let base = format!("http://{addr}");
        let client = http_client(None);
        let reply = fetch(&client, request(Method::GET, &format!("{base}/api/auth/ok"), "", None)).await;
        assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
        assert_eq!(reply.json(), json!({ "ok": true }));
        let sign_up = request(
            Method::POST,
            &format!("{base}/api/auth/sign-up/email"),
            "",
            Some(sign_up_body("grpc@example.com")),
        );
        let reply = fetch(&client, sign_up).await;
        assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
        let cookie = reply.cookie_header();

        // A gRPC call carrying the session cookie reaches the inner service
        // with a `SessionHandle` that resolves to the user.
        let mut call = tonic::Request::new(HealthCheckRequest { service: String::new() });
        call.metadata_mut().insert("cookie", cookie.parse().unwrap());
        let status = grpc.check(call).await.unwrap();
        assert_eq!(status.get_ref().status, ServingStatus::Serving as i32);

        let path = "/grpc.health.v1.Health/Check".to_owned();
        let seen = seen.lock().unwrap().clone();
        // Auth traffic is answered by Kernia and never reaches the recorder.
        assert_eq!(
            seen,
            vec![(path.clone(), None), (path, Some(Some("grpc@example.com".to_owned())))],
            "recorded: {seen:?}"
        );

        server.abort();
    })
    .await;
}
