//! Verify and guess storms through the layer on every store, on a
//! multi-threaded runtime: 50 concurrent correct verifies of one code make
//! exactly one session; waves of 50 concurrent wrong guesses get exactly
//! `allowed_attempts` comparisons, then one `403` and the code is dead. PostgreSQL
//! (`KERNIA_TEST_POSTGRES_URL`, default the local server) and Redis
//! (`KERNIA_TEST_REDIS_URL`) must be reachable: an unreachable one fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::Outbox;
use common::net::into_reply;
use common::probe::{Probe, Probed};
use kernia::KerniaLayer;
use kernia::store::{MemoryStore, Store, Verification};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tower::{Layer, ServiceExt};

const STORM: usize = 50;
const ALLOWED_ATTEMPTS: u32 = 3;

/// Counts the takes that hand out a code with attempts left: each is
/// exactly one comparison of a guess with the code.
#[derive(Clone, Default)]
struct Comparisons(Arc<AtomicUsize>);

impl Comparisons {
    fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Probe for Comparisons {
    fn took(&self, identifier: &str, taken: Option<&Verification>) {
        // Only code rows: the per-recipient failure counter lives in rows too.
        let code = taken.filter(|_| identifier.starts_with("email-otp:"));
        let attempts = code.map(|v| v.value.rsplit_once(':').map_or(0, |(_, n)| n.parse().unwrap_or(0)));
        if attempts.is_some_and(|a: u32| a < ALLOWED_ATTEMPTS) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Kernia over `store` with the email OTP plugin delivering into `outbox`.
struct App<S> {
    layer: KerniaLayer,
    store: Probed<S, Comparisons>,
    outbox: Outbox,
}

impl<S: Store + Clone> App<S> {
    fn new(store: S) -> Self {
        let store = Probed::new(store, Comparisons::default());
        let outbox = Outbox::default();
        let plugin = outbox.email_otp().allowed_attempts(ALLOWED_ATTEMPTS);
        let layer = common::builder().store(store.clone()).email_otp(plugin).build().unwrap();
        Self { layer, store, outbox }
    }

    /// `status code` of one request, e.g. `400 INVALID_OTP` or `200`.
    async fn post(&self, path: &str, body: &Value) -> String {
        let service = self.layer.layer(tower::service_fn(common::inner));
        let reply = into_reply(service.oneshot(common::post(path, body, "")).await.unwrap()).await;
        let (status, body) = (reply.status.as_u16(), serde_json::from_str::<Value>(&reply.body));
        match body.unwrap_or_default()["code"].as_str() {
            Some(code) => format!("{status} {code}"),
            None => status.to_string(),
        }
    }

    async fn code_for(&self, email: &str) -> String {
        let send = json!({ "email": email, "type": "sign-in" });
        assert_eq!(self.post("/email-otp/send-verification-otp", &send).await, "200");
        self.outbox.email_code(email).unwrap()
    }

    /// `STORM` concurrent `body` posts released together; outcome counts.
    async fn storm(self: &Arc<Self>, path: &'static str, body: Value) -> BTreeMap<String, usize> {
        let barrier = Arc::new(tokio::sync::Barrier::new(STORM));
        let tasks: Vec<_> = (0..STORM)
            .map(|_| {
                let (app, body, barrier) = (self.clone(), body.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    app.post(path, &body).await
                })
            })
            .collect();
        let mut outcomes = BTreeMap::new();
        for task in tasks {
            *outcomes.entry(task.await.unwrap()).or_default() += 1;
        }
        outcomes
    }
}

fn wrong(code: &str) -> String {
    code.bytes().map(|b| char::from(b'0' + (b - b'0' + 1) % 10)).collect()
}

/// 50 concurrent sign-ins with one correct code: one session, 49 `INVALID_OTP`.
async fn correct_code_storm<S: Store + Clone>(label: &str, store: S) {
    let app = Arc::new(App::new(store));
    let email = "storm-right@example.com";
    let code = app.code_for(email).await;
    let outcomes = app.storm("/sign-in/email-otp", json!({ "email": email, "otp": code })).await;
    eprintln!("storm {label}: {STORM} concurrent verifies of one correct code -> {outcomes:?}");
    let expected = BTreeMap::from([("200".to_owned(), 1), ("400 INVALID_OTP".to_owned(), STORM - 1)]);
    assert_eq!(outcomes, expected, "{label}");
    let user = app.store.find_user_by_email(email).await.unwrap().unwrap();
    let sessions = app.store.list_sessions(&user.id, OffsetDateTime::now_utc()).await.unwrap();
    assert_eq!(sessions.len(), 1, "{label}: exactly one session");
}

/// Waves of 50 concurrent wrong guesses until one is refused `403`: each
/// wave compares at least once while attempts are left, so the budget is
/// spent within three waves; in all, exactly `ALLOWED_ATTEMPTS` comparisons
/// and one `403`, and the right code is dead afterwards.
async fn wrong_guess_storm<S: Store + Clone>(label: &str, store: S) {
    let app = Arc::new(App::new(store));
    let email = "storm-wrong@example.com";
    let code = app.code_for(email).await;
    let guess = json!({ "email": email, "otp": wrong(&code) });
    let mut totals = BTreeMap::new();
    for wave in 1..=ALLOWED_ATTEMPTS + 1 {
        let outcomes = app.storm("/sign-in/email-otp", guess.clone()).await;
        let comparisons = app.store.probe.count();
        eprintln!(
            "storm {label}: wave {wave} of {STORM} wrong guesses -> {outcomes:?}; {comparisons} comparisons so far"
        );
        for (outcome, n) in outcomes {
            *totals.entry(outcome).or_insert(0) += n;
        }
        if totals.contains_key("403 TOO_MANY_ATTEMPTS") {
            break;
        }
    }
    let comparisons = app.store.probe.count() as u32;
    let after = app.post("/sign-in/email-otp", &json!({ "email": email, "otp": code })).await;
    eprintln!("storm {label}: the right code afterwards -> {after}");
    let waves = totals.values().sum::<usize>() / STORM;
    let expected = BTreeMap::from([
        ("400 INVALID_OTP".to_owned(), waves * STORM - 1),
        ("403 TOO_MANY_ATTEMPTS".to_owned(), 1),
    ]);
    assert_eq!(
        totals, expected,
        "{label}: the burned code is refused once, every other guess is a plain miss"
    );
    assert_eq!(comparisons, ALLOWED_ATTEMPTS, "{label}: exactly the attempt budget was compared");
    assert_eq!(after, "400 INVALID_OTP", "{label}: the code is gone");
}

/// Both storms, each on a fresh store.
async fn both_storms<S: Store + Clone>(label: &str, [one, two]: [S; 2]) {
    correct_code_storm(label, one).await;
    wrong_guess_storm(label, two).await;
}

/// Runs `body` in a task so `cleanup` runs even when it panics, then
/// re-raises the panic.
async fn with_cleanup(body: impl Future<Output = ()> + Send + 'static, cleanup: impl AsyncFnOnce()) {
    let outcome = tokio::spawn(body).await;
    cleanup().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("test task failed: {error}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_keeps_single_use_and_the_attempt_budget_under_storms() {
    both_storms("memory", [MemoryStore::new(), MemoryStore::new()]).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_keeps_single_use_and_the_attempt_budget_under_storms() {
    use kernia::store::SqliteStore;

    let dir = std::env::temp_dir().join(format!("kernia-storms-{:016x}", getrandom::u64().unwrap()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut stores = Vec::new();
    for name in ["right", "wrong"] {
        let url = format!("sqlite://{}", dir.join(format!("{name}.db")).display());
        let store = SqliteStore::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        stores.push(store);
    }
    let stores: [SqliteStore; 2] = stores.try_into().unwrap();
    with_cleanup(async move { both_storms("SQLite", stores).await }, async || {
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_keeps_single_use_and_the_attempt_budget_under_storms() {
    use std::str::FromStr;

    use kernia::store::PostgresStore;
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    let url = std::env::var("KERNIA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is unreachable (KERNIA_TEST_POSTGRES_URL): {e}"));
    let (mut stores, mut schemas) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let name = format!("kernia_storm_{:016x}", getrandom::u64().unwrap());
        let create = format!(r#"CREATE SCHEMA "{name}""#);
        sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&admin).await.unwrap();
        let options = PgConnectOptions::from_str(&url).unwrap().options([("search_path", &name)]);
        schemas.push(name);
        let pool = PostgresStore::pool_options().max_connections(5).connect_with(options).await.unwrap();
        let store = PostgresStore::from_pool(pool);
        store.migrate().await.unwrap();
        stores.push(store);
    }
    let pools: Vec<_> = stores.iter().map(|s| s.pool().clone()).collect();
    let stores: [PostgresStore; 2] = stores.try_into().unwrap();
    with_cleanup(async move { both_storms("PostgreSQL", stores).await }, async || {
        for (pool, name) in pools.iter().zip(&schemas) {
            pool.close().await;
            let drop = format!(r#"DROP SCHEMA "{name}" CASCADE"#);
            sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(&admin).await.unwrap();
        }
    })
    .await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_code_store_keeps_single_use_and_the_attempt_budget_under_storms() {
    use kernia::store::RedisVerificationStore;
    use redis::Commands;

    let url = std::env::var("KERNIA_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let client = redis::Client::open(url.clone()).unwrap();
    let mut connection = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .unwrap_or_else(|e| panic!("Redis must be reachable at {url} (KERNIA_TEST_REDIS_URL): {e}"));
    let prefix = format!("kernia-storm:{:016x}:", getrandom::u64().unwrap());
    let mut stores = Vec::new();
    for i in 0..2 {
        let store = RedisVerificationStore::connect(MemoryStore::new(), &url)
            .await
            .expect("Redis must be reachable at KERNIA_TEST_REDIS_URL");
        stores.push(store.with_prefix(format!("{prefix}{i}:")));
    }
    let stores: [RedisVerificationStore<MemoryStore>; 2] =
        stores.try_into().unwrap_or_else(|_| unreachable!());
    with_cleanup(async move { both_storms("Redis codes", stores).await }, async || {
        let keys: Vec<String> =
            connection.scan_match(format!("{prefix}*")).unwrap().filter_map(Result::ok).collect();
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL").arg(keys).query(&mut connection).unwrap();
        }
    })
    .await;
}
