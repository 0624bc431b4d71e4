//! The examples in `examples/`, driven in-process or over a loopback socket.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/axum.rs"]
mod axum_example;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/custom_store.rs"]
mod custom_store_example;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/hyper.rs"]
mod hyper_example;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/tonic.rs"]
mod tonic_example;

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use kernia::{KerniaBuilder, KerniaLayer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tower::{Service, ServiceExt};

use common::Reply;
use common::net::{bounded, fetch, http_client, into_reply, request, serving_health_client};

const SECRET: &str = "kernia-examples-secret-0123456789abcdef0123";
const UNAUTHORIZED: &str = r#"{"message":"Unauthorized","code":"UNAUTHORIZED"}"#;

/// What `main` passes to the examples' `app`, with the test secret.
fn builder() -> KerniaBuilder {
    KerniaLayer::builder().secret(SECRET).base_url(common::ORIGIN)
}

fn get(uri: &str, cookie: &str) -> Request<Full<Bytes>> {
    request(Method::GET, uri, cookie, None)
}

fn sign_up(base: &str, email: &str) -> Request<Full<Bytes>> {
    let body = json!({ "name": "Example", "email": email, "password": "password123" });
    request(Method::POST, &format!("{base}/api/auth/sign-up/email"), "", Some(body))
}

/// Drives one request through a clone of `service`.
async fn oneshot<S, B>(service: &S, request: Request<Full<Bytes>>) -> Reply
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    into_reply(service.clone().oneshot(request).await.unwrap()).await
}

/// `/api/auth/ok`, sign-up, then `/me` with and without the session cookie.
/// Returns the cookie.
async fn auth_scenario<S, B>(app: &S, email: &str) -> String
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let reply = oneshot(app, get("/api/auth/ok", "")).await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.json(), json!({ "ok": true }));

    let reply = oneshot(app, sign_up("", email)).await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    let cookie = reply.cookie_header();
    assert!(cookie.contains("better-auth.session_token="), "cookies: {cookie}");

    let reply = oneshot(app, get("/me", &cookie)).await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.json()["email"], email);

    let reply = oneshot(app, get("/me", "")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json(), serde_json::from_str::<Value>(UNAUTHORIZED).unwrap());
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");

    // A forged cookie is no session either.
    let reply = oneshot(app, get("/me", "better-auth.session_token=forged.value")).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "body: {}", reply.body);
    cookie
}

#[tokio::test]
async fn axum_example_protects_routes() {
    bounded(async {
        let app = axum_example::app(builder()).unwrap();
        let cookie = auth_scenario(&app, "axum@example.com").await;

        // The route that takes `Option<CurrentSession>` serves both.
        let reply = oneshot(&app, get("/", &cookie)).await;
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "hello, axum@example.com"));
        let reply = oneshot(&app, get("/", "")).await;
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "hello, visitor"));
    })
    .await;
}

#[tokio::test]
async fn axum_example_sends_email_codes() {
    bounded(async {
        let app = axum_example::app(builder()).unwrap();
        let body = json!({ "email": "otp@example.com", "type": "sign-in" });
        let send = request(Method::POST, "/api/auth/email-otp/send-verification-otp", "", Some(body));
        let reply = oneshot(&app, send).await;
        assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
        assert_eq!(reply.json(), json!({ "success": true }));
    })
    .await;
}

#[tokio::test]
async fn hyper_example_reads_the_session_handle() {
    bounded(async {
        let layer = builder().build().unwrap();
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let app = hyper_example::app::<Full<Bytes>>(&layer, peer);
        auth_scenario(&app, "hyper@example.com").await;

        let reply = oneshot(&app, get("/", "")).await;
        assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "hello from bare hyper"));
    })
    .await;
}

#[tokio::test]
async fn hyper_example_serves_a_socket_and_shuts_down() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(hyper_example::serve(listener, builder().build().unwrap(), async {
            let _ = stopped.await;
        }));

        let client = http_client(None);
        let reply = fetch(&client, get(&format!("{base}/api/auth/ok"), "")).await;
        assert_eq!(reply.json(), json!({ "ok": true }));
        let reply = fetch(&client, sign_up(&base, "hyper-socket@example.com")).await;
        assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
        let reply = fetch(&client, get(&format!("{base}/me"), &reply.cookie_header())).await;
        assert_eq!(reply.json()["email"], "hyper-socket@example.com");

        // Graceful shutdown: the pooled keep-alive connection is closed and
        // `serve` returns.
        stop.send(()).unwrap();
        drop(client);
        server.await.unwrap().unwrap();
    })
    .await;
}

#[tokio::test]
async fn tonic_example_serves_grpc_and_auth_on_one_port() {
    use tonic::Code;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;

    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(tonic_example::serve(listener, builder().build().unwrap(), async {
            let _ = stopped.await;
        }));

        // gRPC passes through Kernia to the health service.
        let mut grpc = serving_health_client(addr).await;

        // The protected method refuses anonymous calls.
        let refused = grpc.watch(HealthCheckRequest { service: String::new() }).await.unwrap_err();
        assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

        // Auth endpoints answer HTTP/1.1 JSON on the same port.
        let base = format!("http://{addr}");
        let client = http_client(None);
        let reply = fetch(&client, get(&format!("{base}/api/auth/ok"), "")).await;
        assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
        assert_eq!(reply.json(), json!({ "ok": true }));
        let reply = fetch(&client, sign_up(&base, "grpc@example.com")).await;
        assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
        let cookie = reply.cookie_header();

        // With the session cookie as metadata, the protected method answers.
        let mut call = tonic::Request::new(HealthCheckRequest { service: String::new() });
        call.metadata_mut().insert("cookie", cookie.parse().unwrap());
        let mut stream = grpc.watch(call).await.unwrap().into_inner();
        let first = stream.message().await.unwrap().unwrap();
        assert_eq!(first.status, ServingStatus::Serving as i32);

        drop(stream);
        drop(grpc);
        drop(client);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    })
    .await;
}

#[tokio::test]
async fn custom_store_example_sees_every_operation() {
    bounded(async {
        let store = custom_store_example::CountingStore::new();
        let app = custom_store_example::app(builder(), store.clone()).unwrap();
        auth_scenario(&app, "store@example.com").await;

        let counts = store.counts();
        for operation in ["create_user", "create_session", "find_user_by_email", "find_session"] {
            assert!(counts.get(operation).is_some_and(|&n| n >= 1), "{operation} not counted: {counts:?}");
        }

        let reply = oneshot(&app, get("/store-stats", "")).await;
        assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
        assert!(reply.json()["create_user"].as_u64().is_some_and(|n| n >= 1), "body: {}", reply.body);
    })
    .await;
}
