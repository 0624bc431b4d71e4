//! The Redis stores against a live server (`KERNIA_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "redis")]

mod store_suite;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use kernia::ClientAddr;
use kernia::rate_limit::{Decision, RateLimitStore, Rule};
use kernia::store::{
    MemoryStore, RedisRateLimitStore, RedisVerificationStore, Store, StoreErrorKind, Verification,
};
use redis::Commands;
use redis::aio::ConnectionManager;
use time::Duration;

use store_suite::{common, now, verification};

/// Ten seconds, three requests: Better Auth's sign-in rule.
const STRICT: Rule = Rule { window_secs: 10, max: 3 };
/// An arbitrary fixed `now_ms` the rate-limit tests count from.
const T0: i64 = 1_700_000_000_000;

fn url() -> String {
    std::env::var("KERNIA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A key prefix of its own for one test, and the removal of its keys when the
/// test ends (even by panic). Keys also carry TTLs, so a killed run leaves
/// nothing behind for long.
struct Scope {
    prefix: String,
    next: AtomicU64,
}

impl Scope {
    /// Fails the test at once when Redis is unreachable (the stores' own
    /// connects retry for several seconds first).
    fn new() -> Self {
        let client = redis::Client::open(url()).unwrap();
        let reachable = client.get_connection_with_timeout(std::time::Duration::from_secs(2));
        reachable
            .unwrap_or_else(|e| panic!("Redis must be reachable at {} (KERNIA_TEST_REDIS_URL): {e}", url()));
        let suffix = getrandom::u64().unwrap();
        Self { prefix: format!("kernia-test:{suffix:016x}:"), next: AtomicU64::new(0) }
    }

    /// A further prefix inside this scope, for stores that must not share state.
    fn sub_prefix(&self) -> String {
        format!("{}{}:", self.prefix, self.next.fetch_add(1, Ordering::SeqCst))
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(url()) else { return };
        let Ok(mut connection) = client.get_connection() else { return };
        let pattern = format!("{}*", self.prefix);
        let keys: Vec<String> = match connection.scan_match(&pattern) {
            Ok(iter) => iter.filter_map(Result::ok).collect(),
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: Result<i64, _> = redis::cmd("DEL").arg(keys).query(&mut connection);
        }
    }
}

/// A raw connection, to look at keys behind the stores' backs.
async fn raw() -> ConnectionManager {
    let client = redis::Client::open(url()).unwrap();
    ConnectionManager::new(client).await.expect("Redis must be reachable at KERNIA_TEST_REDIS_URL")
}

async fn limiter(scope: &Scope) -> RedisRateLimitStore {
    RedisRateLimitStore::connect(&url())
        .await
        .expect("Redis must be reachable at KERNIA_TEST_REDIS_URL")
        .with_prefix(scope.prefix.clone())
}

async fn codes(scope: &Scope) -> RedisVerificationStore<MemoryStore> {
    RedisVerificationStore::connect(MemoryStore::new(), &url())
        .await
        .expect("Redis must be reachable at KERNIA_TEST_REDIS_URL")
        .with_prefix(scope.prefix.clone())
}

async fn pttl(key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(&mut raw().await).await.unwrap()
}

async fn hits(store: &RedisRateLimitStore, key: &str, times: &[i64]) -> Vec<Decision> {
    let mut decisions = Vec::new();
    for &t in times {
        decisions.push(store.hit(key, STRICT, t).await.unwrap());
    }
    decisions
}

const ALLOW: Decision = Decision::Allow;

fn deny(retry_after: u64) -> Decision {
    Decision::Deny { retry_after }
}

#[tokio::test]
async fn three_requests_pass_and_the_fourth_waits_for_the_window() {
    let scope = Scope::new();
    let store = limiter(&scope).await;
    let decisions = hits(&store, "1.2.3.4|/sign-in/email", &[T0, T0 + 1000, T0 + 2000, T0 + 2500]).await;
    assert_eq!(decisions, [ALLOW, ALLOW, ALLOW, deny(10)]);
    // A denial changes nothing: the window still runs from the last allowed request.
    assert_eq!(hits(&store, "1.2.3.4|/sign-in/email", &[T0 + 11_001]).await, [deny(1)]);
}

#[tokio::test]
async fn a_passed_window_allows_again_and_restarts_the_count() {
    let scope = Scope::new();
    let store = limiter(&scope).await;
    let key = "1.2.3.4|/sign-in/email";
    hits(&store, key, &[T0, T0 + 1000, T0 + 2000]).await;
    assert_eq!(hits(&store, key, &[T0 + 11_999]).await, [deny(1)]);
    let later = T0 + 12_000;
    let decisions = hits(&store, key, &[later, later + 1, later + 2, later + 3]).await;
    assert_eq!(decisions, [ALLOW, ALLOW, ALLOW, deny(10)]);
}

#[tokio::test]
async fn keys_count_separately_and_expire_with_their_window() {
    let scope = Scope::new();
    let store = limiter(&scope).await;
    hits(&store, "a", &[T0, T0, T0]).await;
    assert_eq!(hits(&store, "a", &[T0]).await, [deny(10)]);
    assert_eq!(hits(&store, "b", &[T0]).await, [ALLOW]);
    let ttl = pttl(&format!("{}rl:a", scope.prefix)).await;
    assert!((9_000..=10_000).contains(&ttl), "counter TTL is the window, got {ttl} ms");
}

#[tokio::test]
async fn two_instances_share_one_counter() {
    let scope = Scope::new();
    let (one, two) = (limiter(&scope).await, limiter(&scope).await);
    let key = "5.6.7.8|/sign-up/email";
    assert_eq!(one.hit(key, STRICT, T0).await.unwrap(), ALLOW);
    assert_eq!(two.hit(key, STRICT, T0 + 100).await.unwrap(), ALLOW);
    assert_eq!(one.hit(key, STRICT, T0 + 200).await.unwrap(), ALLOW);
    assert_eq!(two.hit(key, STRICT, T0 + 300).await.unwrap(), deny(10));
    assert_eq!(one.hit(key, STRICT, T0 + 300).await.unwrap(), deny(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_hits_allow_exactly_max() {
    let scope = Scope::new();
    let stores = [limiter(&scope).await, limiter(&scope).await];
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move { store.hit("race", STRICT, T0).await.unwrap() })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        allowed += usize::from(task.await.unwrap() == ALLOW);
    }
    assert_eq!(allowed, 3);
}

#[tokio::test]
async fn two_layers_on_one_redis_limit_sign_ins_together() {
    let scope = Scope::new();
    let limits = limiter(&scope).await;
    let one = common::App::with(|b| b.rate_limit(true).rate_limit_store(limits.clone()));
    let two = common::App::with(|b| b.rate_limit(true).rate_limit_store(limits));
    let attempt = |app: &common::App| {
        let mut request = common::post("/sign-in/email", &serde_json::json!({}), "");
        request.extensions_mut().insert(ClientAddr("192.0.2.7:4000".parse().unwrap()));
        let app = app.clone();
        async move { app.send(request).await }
    };
    for app in [&one, &two, &one] {
        assert_eq!(attempt(app).await.status, 400);
    }
    let refused = attempt(&two).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.headers["x-retry-after"], "10");
}

#[tokio::test]
async fn a_bad_url_is_a_backend_error() {
    let error = RedisRateLimitStore::connect("not a redis url").await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Backend);
    let error = RedisVerificationStore::connect(MemoryStore::new(), "not a redis url").await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Backend);
}

#[tokio::test]
async fn store_suite_passes_with_codes_in_redis() {
    let scope = Arc::new(Scope::new());
    let url = url();
    store_suite::run_all(|| {
        let (scope, url) = (scope.clone(), url.clone());
        async move {
            RedisVerificationStore::connect(MemoryStore::new(), &url)
                .await
                .expect("Redis must be reachable at KERNIA_TEST_REDIS_URL")
                .with_prefix(scope.sub_prefix())
        }
    })
    .await;
}

#[tokio::test]
async fn values_round_trip_and_the_newest_is_found_then_taken() {
    let scope = Scope::new();
    let store = codes(&scope).await;
    let t = now();
    assert_eq!(store.find_verification("otp:x").await.unwrap(), None);
    let first = verification("otp:x", "first:0", t);
    store.create_verification(first.clone()).await.unwrap();
    assert_eq!(store.find_verification("otp:x").await.unwrap(), Some(first));
    let second = verification("otp:x", "second:0", t + Duration::seconds(1));
    store.create_verification(second.clone()).await.unwrap();
    assert_eq!(store.find_verification("otp:x").await.unwrap(), Some(second.clone()));
    assert_eq!(store.take_verification("otp:x").await.unwrap(), Some(second));
    assert_eq!(store.find_verification("otp:x").await.unwrap(), None);
    assert_eq!(store.take_verification("otp:x").await.unwrap(), None);
}

#[tokio::test]
async fn a_create_never_replaces_a_newer_value() {
    let scope = Scope::new();
    let store = codes(&scope).await;
    let t = now();
    // A verifier takes the live code, a resend stores a newer one, then the
    // wrong guess puts the taken code back with one more attempt.
    let issued = verification("otp:resend", "old:0", t);
    store.create_verification(issued).await.unwrap();
    let taken = store.take_verification("otp:resend").await.unwrap().unwrap();
    let resent = verification("otp:resend", "new:0", t + Duration::seconds(30));
    store.create_verification(resent.clone()).await.unwrap();
    let retry = Verification { value: "old:1".into(), updated_at: t + Duration::seconds(31), ..taken };
    store.create_verification(retry).await.unwrap();
    assert_eq!(store.find_verification("otp:resend").await.unwrap(), Some(resent));
}

#[tokio::test]
async fn a_create_with_the_same_creation_time_replaces() {
    let scope = Scope::new();
    let store = codes(&scope).await;
    let issued = verification("otp:again", "code:0", now());
    store.create_verification(issued.clone()).await.unwrap();
    let retry = Verification {
        value: "code:1".into(),
        updated_at: issued.updated_at + Duration::seconds(5),
        ..issued
    };
    store.create_verification(retry.clone()).await.unwrap();
    assert_eq!(store.find_verification("otp:again").await.unwrap(), Some(retry));
}

#[tokio::test]
async fn restore_only_fills_an_empty_identifier() {
    let scope = Scope::new();
    let store = codes(&scope).await;
    let t = now();
    let original = verification("otp:r", "code:0", t);
    assert!(store.restore_verification(original.clone()).await.unwrap());
    assert!(
        !store
            .restore_verification(verification("otp:r", "other:0", t + Duration::seconds(1)))
            .await
            .unwrap()
    );
    assert_eq!(store.find_verification("otp:r").await.unwrap(), Some(original.clone()));
    let taken = store.take_verification("otp:r").await.unwrap().unwrap();
    assert!(store.restore_verification(taken).await.unwrap());
    assert_eq!(store.find_verification("otp:r").await.unwrap(), Some(original));
}

#[tokio::test]
async fn delete_removes_the_value_and_tolerates_none() {
    let scope = Scope::new();
    let store = codes(&scope).await;
    store.create_verification(verification("otp:d", "code:0", now())).await.unwrap();
    store.create_verification(verification("otp:keep", "code:0", now())).await.unwrap();
    store.delete_verifications("otp:d").await.unwrap();
    store.delete_verifications("otp:never").await.unwrap();
    assert_eq!(store.find_verification("otp:d").await.unwrap(), None);
    assert!(store.find_verification("otp:keep").await.unwrap().is_some());
}

#[tokio::test]
async fn values_live_until_expiry_plus_grace_and_are_found_expired() {
    let scope = Scope::new();
    let store = codes(&scope).await.with_expiry_grace(std::time::Duration::from_secs(60));
    let live = verification("otp:ttl", "code:0", now());
    store.create_verification(live).await.unwrap();
    let ttl = pttl(&format!("{}v:otp:ttl", scope.prefix)).await;
    assert!((355_000..=360_000).contains(&ttl), "5 minutes + 60 s grace, got {ttl} ms");

    let t = now() - Duration::minutes(10);
    let expired = verification("otp:old", "code:0", t);
    store.create_verification(expired.clone()).await.unwrap();
    assert_eq!(store.find_verification("otp:old").await.unwrap(), Some(expired.clone()), "found, expired");
    let restored = Verification { updated_at: now(), ..expired };
    store.delete_verifications("otp:old").await.unwrap();
    assert!(store.restore_verification(restored).await.unwrap());
    let ttl = pttl(&format!("{}v:otp:old", scope.prefix)).await;
    assert!((55_000..=60_000).contains(&ttl), "an expired value keeps only the grace, got {ttl} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_takes_on_two_instances_hand_out_one_value() {
    let scope = Scope::new();
    let stores = [codes(&scope).await, codes(&scope).await];
    stores[0].create_verification(verification("otp:race", "code:0", now())).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move { store.take_verification("otp:race").await.unwrap() })
        })
        .collect();
    let mut taken = 0;
    for task in tasks {
        taken += usize::from(task.await.unwrap().is_some());
    }
    assert_eq!(taken, 1);
}

/// One verification call, for replaying a script on two stores.
#[derive(Clone, Copy)]
enum Op<'a> {
    Create(&'a Verification),
    Restore(&'a Verification),
    Find,
    Take,
    Delete,
}

/// Runs `op` on identifier `otp:m`; the answer as text.
async fn apply<S: Store>(store: &S, op: Op<'_>) -> String {
    let id = "otp:m";
    match op {
        Op::Create(v) => format!("{:?}", store.create_verification(v.clone()).await.unwrap()),
        Op::Restore(v) => format!("{:?}", store.restore_verification(v.clone()).await.unwrap()),
        Op::Find => format!("{:?}", store.find_verification(id).await.unwrap()),
        Op::Take => format!("{:?}", store.take_verification(id).await.unwrap()),
        Op::Delete => format!("{:?}", store.delete_verifications(id).await.unwrap()),
    }
}

#[tokio::test]
async fn every_operation_answers_as_the_memory_store_does() {
    let scope = Scope::new();
    let redis = codes(&scope).await;
    let memory = MemoryStore::new();
    let t = now();
    let a0 = verification("otp:m", "a:0", t);
    let b0 = verification("otp:m", "b:0", t + Duration::seconds(2));
    let a1 = Verification { value: "a:1".into(), updated_at: t + Duration::seconds(3), ..a0.clone() };
    let script = [
        Op::Find,
        Op::Create(&a0),
        Op::Find,
        Op::Create(&b0),
        Op::Find,
        Op::Create(&a1),
        Op::Find,
        Op::Take,
        Op::Find,
        Op::Take,
        Op::Restore(&a1),
        Op::Restore(&b0),
        Op::Find,
        Op::Create(&a0),
        Op::Find,
        Op::Delete,
        Op::Find,
        Op::Delete,
    ];
    for (step, op) in script.into_iter().enumerate() {
        assert_eq!(apply(&memory, op).await, apply(&redis, op).await, "step {step}");
    }
}

#[tokio::test]
async fn a_corrupt_value_is_a_backend_error() {
    let scope = Scope::new();
    let store = codes(&scope).await;
    let key = format!("{}v:otp:bad", scope.prefix);
    let _: () = redis::cmd("SET").arg(&key).arg("not json").query_async(&mut raw().await).await.unwrap();
    let error = store.find_verification("otp:bad").await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Backend);
    // A create overwrites what it cannot read rather than refusing forever.
    store.create_verification(verification("otp:bad", "code:0", now())).await.unwrap();
    assert!(store.find_verification("otp:bad").await.unwrap().is_some());
}

#[tokio::test]
async fn users_and_sessions_go_to_the_inner_store() {
    let scope = Scope::new();
    let store = codes(&scope).await;
    let ada = store_suite::user("inner@example.com", None);
    store.create_user(ada.clone(), Some("salt:key".into())).await.unwrap();
    assert_eq!(store.inner().find_user_by_email("inner@example.com").await.unwrap(), Some(ada.clone()));
    let session = store_suite::session(&ada.id, Duration::days(1));
    store.create_session(session.clone()).await.unwrap();
    let found = store.inner().find_session(&session.token, now()).await.unwrap().unwrap();
    assert_eq!(found.user, ada);
    assert_eq!(store.list_sessions(&ada.id, now()).await.unwrap(), vec![session]);
}

#[tokio::test]
async fn sweeping_sweeps_the_inner_store_and_leaves_codes_to_their_ttl() {
    let scope = Scope::new();
    let store = codes(&scope).await;
    let ada = store_suite::user("sweep@example.com", None);
    store.create_user(ada.clone(), None).await.unwrap();
    let expired = store_suite::session(&ada.id, Duration::seconds(-1));
    store.create_session(expired.clone()).await.unwrap();
    let code = verification("otp:sweep", "code:0", now() - Duration::minutes(6));
    store.create_verification(code.clone()).await.unwrap();

    let t = now();
    store.sweep_expired(t).await.unwrap();
    assert_eq!(store.inner().refresh_session(&expired.token, t, t).await.unwrap(), None, "session swept");
    assert_eq!(store.find_verification("otp:sweep").await.unwrap(), Some(code), "still reported as expired");
}

#[tokio::test]
async fn prefixes_keep_deployments_apart() {
    let scope = Scope::new();
    let one = codes(&scope).await.with_prefix(scope.sub_prefix());
    let two = codes(&scope).await.with_prefix(scope.sub_prefix());
    one.create_verification(verification("otp:p", "code:0", now())).await.unwrap();
    assert_eq!(two.find_verification("otp:p").await.unwrap(), None);
}
