//! Verify and guess storms through the layer on every store, on a
//! multi-threaded runtime: 50 concurrent correct verifies of one code make
//! exactly one session; waves of 50 concurrent wrong guesses get exactly
//! `allowed_attempts` comparisons, then one `403` and the code is dead. PostgreSQL
//! (`KERNIA_TEST_POSTGRES_URL`, default the local server) and Redis
//! (`KERNIA_TEST_REDIS_URL`) must be reachable: an unreachable one fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use kernia::KerniaLayer;
use kernia::delivery::{DeliveryMode, OtpPurpose};
use kernia::email_otp::EmailOtp;
use kernia::store::{
    Credential, MemoryStore, Session, SessionWithUser, Store, StoreResult, User, UserPatch, Verification,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tower::{Layer, ServiceExt};

const ORIGIN: &str = "http://localhost:3000";
const STORM: usize = 50;
const ALLOWED_ATTEMPTS: u32 = 3;

/// `S`, counting the takes that hand out a code with attempts left: each is
/// exactly one comparison of a guess with the code.
#[derive(Clone)]
struct Counting<S> {
    inner: S,
    comparisons: Arc<AtomicUsize>,
}

impl<S: Store> Store for Counting<S> {
    async fn create_user(&self, user: User, password_hash: Option<String>) -> StoreResult<User> {
        self.inner.create_user(user, password_hash).await
    }
    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.inner.find_user_by_id(id).await
    }
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.inner.find_user_by_email(email).await
    }
    async fn find_user_by_phone(&self, phone: &str) -> StoreResult<Option<User>> {
        self.inner.find_user_by_phone(phone).await
    }
    async fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        self.inner.update_user(id, patch, now).await
    }
    async fn find_credential(&self, user_id: &str) -> StoreResult<Option<Credential>> {
        self.inner.find_credential(user_id).await
    }
    async fn set_password(&self, user_id: &str, hash: String, now: OffsetDateTime) -> StoreResult<()> {
        self.inner.set_password(user_id, hash, now).await
    }
    async fn delete_accounts(&self, user_id: &str) -> StoreResult<()> {
        self.inner.delete_accounts(user_id).await
    }
    async fn create_session(&self, session: Session) -> StoreResult<()> {
        self.inner.create_session(session).await
    }
    async fn find_session(&self, token: &str, now: OffsetDateTime) -> StoreResult<Option<SessionWithUser>> {
        self.inner.find_session(token, now).await
    }
    async fn refresh_session(
        &self,
        token: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Session>> {
        self.inner.refresh_session(token, expires_at, now).await
    }
    async fn delete_session(&self, token: &str) -> StoreResult<()> {
        self.inner.delete_session(token).await
    }
    async fn list_sessions(&self, user_id: &str, now: OffsetDateTime) -> StoreResult<Vec<Session>> {
        self.inner.list_sessions(user_id, now).await
    }
    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        self.inner.delete_user_sessions(user_id, keep).await
    }
    async fn create_verification(&self, verification: Verification) -> StoreResult<()> {
        self.inner.create_verification(verification).await
    }
    async fn find_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        self.inner.find_verification(identifier).await
    }
    async fn take_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        let taken = self.inner.take_verification(identifier).await?;
        // Only code rows: the per-recipient failure counter lives in rows too.
        let code = taken.as_ref().filter(|_| identifier.starts_with("email-otp:"));
        let attempts = code.map(|v| v.value.rsplit_once(':').map_or(0, |(_, n)| n.parse().unwrap_or(0)));
        if attempts.is_some_and(|a: u32| a < ALLOWED_ATTEMPTS) {
            self.comparisons.fetch_add(1, Ordering::SeqCst);
        }
        Ok(taken)
    }
    async fn restore_verification(&self, verification: Verification) -> StoreResult<bool> {
        self.inner.restore_verification(verification).await
    }
    async fn delete_verifications(&self, identifier: &str) -> StoreResult<()> {
        self.inner.delete_verifications(identifier).await
    }
}

/// Kernia over `store` with the email OTP plugin delivering into `codes`.
struct App<S> {
    layer: KerniaLayer,
    store: Counting<S>,
    codes: Arc<Mutex<Vec<String>>>,
}

impl<S: Store + Clone> App<S> {
    fn new(store: S) -> Self {
        let store = Counting { inner: store, comparisons: Arc::default() };
        let codes = Arc::new(Mutex::new(Vec::new()));
        let sink = codes.clone();
        let plugin = EmailOtp::new(move |_to: String, otp: String, _purpose: OtpPurpose| {
            sink.lock().unwrap().push(otp);
            async { Ok(()) }
        })
        .delivery(DeliveryMode::Await(Duration::from_secs(5)))
        .allowed_attempts(ALLOWED_ATTEMPTS);
        let layer = KerniaLayer::builder()
            .secret("kernia-test-secret-0123456789abcdef0123456789")
            .base_url(ORIGIN)
            .rate_limit(false)
            .store(store.clone())
            .email_otp(plugin)
            .build()
            .unwrap();
        Self { layer, store, codes }
    }

    /// `status code` of one request, e.g. `400 INVALID_OTP` or `200`.
    async fn post(&self, path: &str, body: &Value) -> String {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/auth{path}"))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ORIGIN, ORIGIN)
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let inner = tower::service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
        });
        let response = self.layer.layer(inner).oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        match body["code"].as_str() {
            Some(code) => format!("{status} {code}"),
            None => status.to_string(),
        }
    }

    async fn code_for(&self, email: &str) -> String {
        let send = json!({ "email": email, "type": "sign-in" });
        assert_eq!(self.post("/email-otp/send-verification-otp", &send).await, "200");
        self.codes.lock().unwrap().last().cloned().unwrap()
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
        let comparisons = app.store.comparisons.load(Ordering::SeqCst);
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
    let comparisons = app.store.comparisons.load(Ordering::SeqCst) as u32;
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
