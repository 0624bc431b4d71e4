//! Kernia's cost per request, in process on a current-thread tokio runtime:
//! pass-through against the same service without the layer, then per store
//! (memory, SQLite, and PostgreSQL with the `postgres` feature): get-session
//! with a valid cookie, an email OTP send, the verify step alone (sign-in with
//! a code sent outside the timed part), and the whole email and SMS flows.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use kernia::delivery::{DeliveryMode, OtpPurpose};
use kernia::email_otp::EmailOtp;
use kernia::phone_number::{PhoneNumber, PhoneValidation};
use kernia::{KerniaBuilder, KerniaLayer, KerniaService};
use serde_json::json;
use tokio::runtime::Runtime;
use tower::{Layer, Service, ServiceExt};

const SECRET: &str = "kernia-bench-secret-0123456789abcdef0123456789";
const ORIGIN: &str = "http://localhost:3000";

type Req = Request<Full<Bytes>>;
type Res = Response<Full<Bytes>>;
type App = KerniaService<tower::util::BoxCloneSyncService<Req, Res, Infallible>>;

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

/// The layer over one store with both plugins; awaited senders leave each
/// code in `code` before the response returns.
struct Bench {
    service: App,
    code: Arc<Mutex<Option<String>>>,
    next: AtomicU64,
}

impl Bench {
    fn new(store: KerniaBuilder) -> Self {
        let code: Arc<Mutex<Option<String>>> = Arc::default();
        let (email_sink, sms_sink) = (code.clone(), code.clone());
        let awaited = DeliveryMode::Await(Duration::from_secs(5));
        let email = EmailOtp::new(move |_email: String, otp: String, _purpose: OtpPurpose| {
            *email_sink.lock().unwrap() = Some(otp);
            async { Ok(()) }
        })
        .delivery(awaited);
        let phone = PhoneNumber::new(move |_phone: String, message: String| {
            let digits: String = message.chars().filter(char::is_ascii_digit).collect();
            *sms_sink.lock().unwrap() = Some(digits);
            async { Ok(()) }
        })
        .validation(PhoneValidation::E164Shape)
        .delivery(awaited);
        let inner = tower::util::BoxCloneSyncService::new(app());
        let service = store.email_otp(email).phone_number(phone).build().unwrap().layer(inner);
        let next = AtomicU64::new((u64::from(std::process::id()) << 24) | nanos_now());
        Self { service, code, next }
    }

    /// A recipient number never used before, also across runs on a persistent store.
    fn unique(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    async fn call(&self, request: Req) -> Res {
        let response = self.service.clone().oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        assert_eq!(parts.status, StatusCode::OK, "{body:?}");
        Response::from_parts(parts, Full::new(body))
    }

    fn take_code(&self) -> String {
        self.code.lock().unwrap().take().expect("no code delivered")
    }

    async fn send_email(&self, email: &str) -> String {
        let send = json!({ "email": email, "type": "sign-in" });
        self.call(post("/api/auth/email-otp/send-verification-otp", &send)).await;
        self.take_code()
    }

    async fn sign_in_email(&self, email: &str, otp: &str) -> Res {
        self.call(post("/api/auth/sign-in/email-otp", &json!({ "email": email, "otp": otp }))).await
    }

    async fn phone_flow(&self, phone: &str) -> Res {
        self.call(post("/api/auth/phone-number/send-otp", &json!({ "phoneNumber": phone }))).await;
        let code = self.take_code();
        self.call(post("/api/auth/phone-number/verify", &json!({ "phoneNumber": phone, "code": code }))).await
    }
}

fn nanos_now() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    since.subsec_nanos().into()
}

/// One builder per store: memory, SQLite in a scratch file, and PostgreSQL
/// (database `kernia_bench`) with the `postgres` feature.
fn stores(rt: &Runtime, dir: &std::path::Path) -> Vec<(&'static str, KerniaBuilder)> {
    let sqlite = rt.block_on(async {
        let url = format!("sqlite://{}", dir.join("bench.db").display());
        let store = kernia::store::SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        store
    });
    #[allow(unused_mut)]
    let mut stores = vec![("memory", builder()), ("sqlite", builder().store(sqlite))];
    #[cfg(feature = "postgres")]
    stores.push(("postgres", builder().store(rt.block_on(postgres_store()))));
    stores
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

/// Signs a new user up and returns its session cookie.
async fn signed_in_cookie(bench: &Bench) -> String {
    let email = format!("bench-{}@example.com", bench.unique());
    let body = json!({ "name": "Bench", "email": email, "password": "password123" });
    let cookie = cookie_header(&bench.call(post("/api/auth/sign-up/email", &body)).await);
    let check = bench.call(get("/api/auth/get-session", &cookie)).await;
    let body = check.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains(&email), "{body:?}");
    cookie
}

fn per_store(c: &mut Criterion) {
    let rt = runtime();
    let dir = std::env::temp_dir().join(format!("kernia-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (store, builder) in stores(&rt, &dir) {
        let bench = Bench::new(builder);
        let mut group = c.benchmark_group(store);
        let cookie = rt.block_on(signed_in_cookie(&bench));
        let mut service = bench.service.clone();
        rt.block_on(ServiceExt::<Req>::ready(&mut service)).unwrap();
        group.bench_function("get_session", |b| {
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
        group.bench_function("email_otp_send", |b| {
            b.to_async(&rt).iter(|| async {
                black_box(bench.send_email(&format!("send-{}@example.com", bench.unique())).await)
            });
        });
        let bench_ref = &bench;
        group.bench_function("email_otp_verify", |b| {
            b.to_async(&rt).iter_custom(|iters| async move {
                let bench = bench_ref;
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let email = format!("verify-{}@example.com", bench.unique());
                    let otp = bench.send_email(&email).await;
                    let start = Instant::now();
                    black_box(bench.sign_in_email(&email, &otp).await);
                    timed += start.elapsed();
                }
                timed
            });
        });
        group.bench_function("email_otp_flow", |b| {
            b.to_async(&rt).iter(|| async {
                let email = format!("flow-{}@example.com", bench.unique());
                let otp = bench.send_email(&email).await;
                black_box(bench.sign_in_email(&email, &otp).await)
            });
        });
        group.bench_function("phone_flow", |b| {
            b.to_async(&rt).iter(|| async {
                black_box(bench.phone_flow(&format!("+1555{:07}", bench.unique() % 10_000_000)).await)
            });
        });
        group.finish();
    }
    let _ = std::fs::remove_dir_all(dir);
}

criterion_group!(benches, passthrough, per_store);
criterion_main!(benches);
