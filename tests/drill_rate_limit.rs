//! Rate-limit drill (K7): 200 sign-in attempts from one client IP at once,
//! on a multi-threaded runtime, through the layer. Better Auth's sign-in rule
//! (3 per 10 s) must hold exactly: 3 pass, 197 get `429` with
//! `X-Retry-After`, with the in-memory counters and with Redis (which must be
//! reachable at `KERNIA_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use kernia::clock::ManualClock;
use kernia::{ClientAddr, KerniaBuilder, KerniaLayer};
use tower::{Layer, ServiceExt};

const ORIGIN: &str = "http://localhost:3000";
const ATTEMPTS: usize = 200;

fn builder() -> KerniaBuilder {
    // A frozen clock: every attempt falls in one window, so the answer does
    // not depend on how long the storm takes.
    KerniaLayer::builder()
        .secret("kernia-test-secret-0123456789abcdef0123456789")
        .base_url(ORIGIN)
        .rate_limit(true)
        .clock(ManualClock::new())
}

/// One sign-in attempt from 192.0.2.7: `status [x-retry-after] [code]`.
async fn attempt(layer: KerniaLayer) -> String {
    // `{}` fails validation with 400 before any password hashing; the
    // limiter counts the request before that.
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/api/auth/sign-in/email")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, ORIGIN)
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    request.extensions_mut().insert(ClientAddr("192.0.2.7:4000".parse().unwrap()));
    let inner = tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
    });
    let response = layer.layer(inner).oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let retry = response.headers().get("x-retry-after").map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let code = body["code"].as_str().unwrap_or("").to_owned();
    [status.to_string(), retry.unwrap_or_default(), code]
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `ATTEMPTS` attempts released together, spread over `layers`; outcome counts.
async fn storm(layers: &[KerniaLayer]) -> BTreeMap<String, usize> {
    let barrier = Arc::new(tokio::sync::Barrier::new(ATTEMPTS));
    let tasks: Vec<_> = (0..ATTEMPTS)
        .map(|i| {
            let (layer, barrier) = (layers[i % layers.len()].clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                attempt(layer).await
            })
        })
        .collect();
    let mut outcomes = BTreeMap::new();
    for task in tasks {
        *outcomes.entry(task.await.unwrap()).or_default() += 1;
    }
    outcomes
}

fn assert_exactly_three_pass(label: &str, outcomes: &BTreeMap<String, usize>) {
    eprintln!("K7 {ATTEMPTS} parallel sign-ins from one IP, {label}: {outcomes:?}");
    let expected =
        BTreeMap::from([("400 VALIDATION_ERROR".to_owned(), 3), ("429 10".to_owned(), ATTEMPTS - 3)]);
    assert_eq!(*outcomes, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_memory_limiter_lets_exactly_three_of_two_hundred_parallel_sign_ins_through() {
    let layer = builder().build().unwrap();
    assert_exactly_three_pass("memory counters", &storm(&[layer]).await);
}

#[cfg(feature = "redis")]
mod redis_limiter {
    use kernia::store::RedisRateLimitStore;

    use super::*;

    fn url() -> String {
        std::env::var("KERNIA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
    }

    /// A key prefix of this test's own; its keys are deleted when it ends.
    struct Scope(String);

    impl Scope {
        fn new() -> Self {
            let client = redis::Client::open(url()).unwrap();
            let reachable = client.get_connection_with_timeout(std::time::Duration::from_secs(2));
            reachable.unwrap_or_else(|e| {
                panic!("Redis must be reachable at {} (KERNIA_TEST_REDIS_URL): {e}", url())
            });
            Self(format!("kernia-drill:{:016x}:", getrandom::u64().unwrap()))
        }
    }

    impl Drop for Scope {
        fn drop(&mut self) {
            use redis::Commands;
            let Ok(mut connection) = redis::Client::open(url()).and_then(|c| c.get_connection()) else {
                return;
            };
            let keys: Vec<String> = match connection.scan_match(format!("{}*", self.0)) {
                Ok(keys) => keys.filter_map(Result::ok).collect(),
                Err(_) => return,
            };
            if !keys.is_empty() {
                let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut connection);
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_layers_on_one_redis_let_exactly_three_of_two_hundred_parallel_sign_ins_through() {
        let scope = Scope::new();
        let limits = RedisRateLimitStore::connect(&url())
            .await
            .expect("Redis must be reachable at KERNIA_TEST_REDIS_URL")
            .with_prefix(scope.0.clone());
        // Two instances behind one load balancer, sharing the counters.
        let clock = ManualClock::new();
        let one = builder().clock(clock.clone()).rate_limit_store(limits.clone()).build().unwrap();
        let two = builder().clock(clock).rate_limit_store(limits).build().unwrap();
        let outcomes = storm(&[one, two]).await;
        assert_exactly_three_pass("Redis counters, two layers", &outcomes);
    }
}
