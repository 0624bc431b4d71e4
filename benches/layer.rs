//! Kernia's cost per request: pass-through against a bare service, a
//! `/get-session` with a valid cookie, and an email OTP send + sign-in round
//! trip. Everything runs in process on a current-thread tokio runtime.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use kernia::delivery::{DeliveryMode, OtpPurpose};
use kernia::email_otp::EmailOtp;
use kernia::{KerniaBuilder, KerniaLayer};
use serde_json::json;
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};

const SECRET: &str = "kernia-bench-secret-0123456789abcdef0123456789";
const ORIGIN: &str = "http://localhost:3000";

type Req = Request<Full<Bytes>>;
type Res = Response<Full<Bytes>>;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn builder() -> KerniaBuilder {
    KerniaLayer::builder().secret(SECRET).base_url(ORIGIN).rate_limit(false)
}

/// The app behind the layer: a static "hello".
fn app() -> impl Service<Req, Response = Res, Error = Infallible, Future: Send> + Clone {
    tower::service_fn(|_request: Req| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"hello"))))
    })
}

fn get(uri: &str, cookie: &str) -> Req {
    let mut builder = Request::builder().method(Method::GET).uri(uri);
    if !cookie.is_empty() {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

fn post(uri: &str, body: &serde_json::Value) -> Req {
    Request::builder()
        .method(Method::POST)
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, ORIGIN)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

/// `name=value` pairs of the cookies a response sets, for a `Cookie` header.
fn cookie_header<B>(response: &Response<B>) -> String {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .filter(|c| !c.contains("Max-Age=0"))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("; ")
}

fn passthrough(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("passthrough");

    // `service_fn` and Kernia over it are always ready: poll once, then `call`.
    let mut bare = app();
    rt.block_on(ServiceExt::<Req>::ready(&mut bare)).unwrap();
    group.bench_function("bare", |b| {
        b.to_async(&rt).iter_batched(
            || get("/hello", ""),
            |request| {
                let future = bare.call(request);
                async move { black_box(future.await.unwrap()) }
            },
            BatchSize::SmallInput,
        );
    });

    let mut kernia = builder().build().unwrap().layer(app());
    rt.block_on(ServiceExt::<Req>::ready(&mut kernia)).unwrap();
    group.bench_function("kernia", |b| {
        b.to_async(&rt).iter_batched(
            || get("/hello", ""),
            |request| {
                let future = kernia.call(request);
                async move { black_box(future.await.unwrap()) }
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// Signs one user up through `service` and returns its session cookie.
fn signed_in_cookie<S>(rt: &Runtime, service: &mut S) -> String
where
    S: Service<Req, Response = Response<kernia::ResponseBody<Full<Bytes>>>, Error = Infallible>,
{
    rt.block_on(async {
        let body = json!({ "name": "Bench", "email": "bench@example.com", "password": "password123" });
        let sign_in = json!({ "email": "bench@example.com", "password": "password123" });
        let mut response =
            service.ready().await.unwrap().call(post("/api/auth/sign-up/email", &body)).await.unwrap();
        if response.status() != StatusCode::OK {
            // A persistent store kept the user from an earlier run.
            response =
                service.ready().await.unwrap().call(post("/api/auth/sign-in/email", &sign_in)).await.unwrap();
        }
        assert_eq!(response.status(), StatusCode::OK);
        let cookie = cookie_header(&response);
        let check = service.ready().await.unwrap().call(get("/api/auth/get-session", &cookie)).await.unwrap();
        let body = check.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains("bench@example.com"), "{body:?}");
        cookie
    })
}

/// `GET /get-session` with a valid cookie, one store round trip, per store.
fn get_session(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("get_session");
    let mut stores: Vec<(&str, KerniaBuilder)> = vec![("memory", builder())];
    let dir = std::env::temp_dir().join(format!("kernia-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = rt.block_on(async {
        let store =
            kernia::store::SqliteStore::connect(&format!("sqlite://{}", dir.join("bench.db").display()))
                .await
                .unwrap();
        store.migrate().await.unwrap();
        store
    });
    stores.push(("sqlite", builder().store(sqlite)));
    #[cfg(feature = "postgres")]
    stores.push(("postgres", builder().store(rt.block_on(postgres_store()))));

    for (name, builder) in stores {
        let mut service = builder.build().unwrap().layer(app());
        let cookie = signed_in_cookie(&rt, &mut service);
        group.bench_function(name, |b| {
            b.to_async(&rt).iter_batched(
                || get("/api/auth/get-session", &cookie),
                |request| {
                    let future = service.call(request);
                    async move {
                        let response = future.await.unwrap();
                        assert_eq!(response.status(), StatusCode::OK);
                        black_box(response)
                    }
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

/// A migrated store in the `kernia_bench` database (created when missing)
/// of `KERNIA_BENCH_POSTGRES_URL`'s server (default: the local one).
#[cfg(feature = "postgres")]
async fn postgres_store() -> kernia::store::PostgresStore {
    let server = std::env::var("KERNIA_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    let admin = kernia::store::PostgresStore::connect(&format!("{server}/postgres")).await.unwrap();
    let _ = sqlx::query("CREATE DATABASE kernia_bench").execute(admin.pool()).await;
    let store = kernia::store::PostgresStore::connect(&format!("{server}/kernia_bench")).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn email_otp(c: &mut Criterion) {
    let rt = runtime();
    // The awaited sender leaves each code here before the response returns.
    let last_code: Arc<Mutex<Option<String>>> = Arc::default();
    let sink = last_code.clone();
    let plugin = EmailOtp::new(move |_email: String, otp: String, _purpose: OtpPurpose| {
        *sink.lock().unwrap() = Some(otp);
        async { Ok(()) }
    })
    .delivery(DeliveryMode::Await(Duration::from_secs(5)));
    let service = builder().email_otp(plugin).build().unwrap().layer(app());
    let counter = AtomicU64::new(0);

    let mut group = c.benchmark_group("email_otp");
    group.bench_function("send_and_sign_in", |b| {
        b.to_async(&rt).iter_batched(
            || {
                let email = format!("otp-{}@example.com", counter.fetch_add(1, Ordering::Relaxed));
                let send = post(
                    "/api/auth/email-otp/send-verification-otp",
                    &json!({ "email": email, "type": "sign-in" }),
                );
                (email, send)
            },
            |(email, send)| {
                let mut service = service.clone();
                let last_code = last_code.clone();
                async move {
                    let sent = service.call(send).await.unwrap();
                    assert_eq!(sent.status(), StatusCode::OK);
                    let otp = last_code.lock().unwrap().take().expect("no code delivered");
                    let sign_in = post("/api/auth/sign-in/email-otp", &json!({ "email": email, "otp": otp }));
                    let response = service.call(sign_in).await.unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                    black_box(response)
                }
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, passthrough, get_session, email_otp);
criterion_main!(benches);
