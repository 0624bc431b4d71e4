//! Helpers for tests that drive Kernia inside a real server: requests with
//! full URIs, HTTP and gRPC clients, a hyper server on a loopback socket, and
//! a bound on every test so a hung server fails instead of blocking.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use kernia::{ClientAddr, KerniaLayer};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;

use super::{ORIGIN, Reply};

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// `future`, failing the test after 60 s.
pub async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(60), future).await.expect("test timed out")
}

/// A request to `uri` with `cookie` (may be empty); a JSON body comes with
/// the trusted `Origin`.
pub fn request(method: Method, uri: &str, cookie: &str, body: Option<Value>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(uri);
    if !cookie.is_empty() {
        builder = builder.header(header::COOKIE, cookie);
    }
    let body = match body {
        Some(json) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json").header(header::ORIGIN, ORIGIN);
            Full::new(Bytes::from(json.to_string()))
        }
        None => Full::new(Bytes::new()),
    };
    builder.body(body).unwrap()
}

/// `response` with its body read to the end.
pub async fn into_reply<B>(response: Response<B>) -> Reply
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply { status: parts.status, headers: parts.headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

/// A client connecting from `local` (the system's choice if `None`).
pub fn http_client(local: Option<IpAddr>) -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_local_address(local);
    Client::builder(TokioExecutor::new()).build(connector)
}

pub async fn fetch(client: &HttpClient, request: Request<Full<Bytes>>) -> Reply {
    into_reply(client.request(request).await.unwrap()).await
}

/// A gRPC health client of the server at `addr`, which must answer that it
/// is serving.
pub async fn serving_health_client(addr: SocketAddr) -> HealthClient<Channel> {
    // tonic-health 0.14's generated client has no `HealthClient::connect`;
    // connect a `Channel` and wrap it.
    let channel = Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    let mut grpc = HealthClient::new(channel);
    let status = grpc.check(HealthCheckRequest { service: String::new() }).await.unwrap();
    assert_eq!(status.get_ref().status, ServingStatus::Serving as i32);
    grpc
}

/// Serves `layer` over a `service_fn` answering "hello" with hyper 1 on a
/// loopback socket; each request gets `ClientAddr(peer)`.
pub async fn serve_hello(layer: KerniaLayer) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else { return };
            let service = ServiceBuilder::new()
                .map_request(move |mut request: Request<hyper::body::Incoming>| {
                    request.extensions_mut().insert(ClientAddr(peer));
                    request
                })
                .layer(layer.clone())
                .service(tower::service_fn(|_request: Request<hyper::body::Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
                }));
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                    .await;
            });
        }
    });
    (addr, task)
}
