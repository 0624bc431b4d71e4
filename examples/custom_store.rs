//! Bringing your own [`Store`]: a complete implementation written with plain
//! `async fn`s. This one wraps [`MemoryStore`], logs every operation and
//! counts them; a database-backed store has the same shape, with each method
//! one statement or transaction.
//!
//! ```sh
//! AUTH_SECRET=$(openssl rand -hex 32) cargo run --example custom_store
//! curl -si localhost:3000/api/auth/sign-up/email -H 'content-type: application/json' \
//!   -d '{"name":"Me","email":"me@example.com","password":"password123"}'
//! curl -s localhost:3000/store-stats
//! ```
//!
//! `PORT` (3000) and `AUTH_SECRET` (a random one per run when unset)
//! are read from the environment.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::routing::get;
use axum::{Json, Router};
use kernia::extract::CurrentSession;
use kernia::store::{
    Credential, MemoryStore, Session, SessionWithUser, Store, StoreResult, User, UserPatch, Verification,
};
use kernia::{ConfigError, KerniaBuilder, KerniaLayer};
use serde_json::json;
use time::OffsetDateTime;

/// A [`Store`] that delegates to a [`MemoryStore`] and counts each
/// operation. Clones share the store and the counts.
///
/// The contract every store keeps (Kernia relies on it under concurrency):
///
/// - each method is atomic on its own;
/// - email and phone number are unique: `create_user` and `update_user`
///   answer [`StoreError::conflict`](kernia::store::StoreError::conflict)
///   with [`UniqueField::Email`](kernia::store::UniqueField::Email) or
///   [`UniqueField::PhoneNumber`](kernia::store::UniqueField::PhoneNumber)
///   when the value is taken (in SQL: a unique index, its violation mapped
///   to the conflict), never a check-then-insert race;
/// - `take_verification` removes and returns in one step: of concurrent
///   callers for one identifier exactly one gets the value, which is what
///   makes one-time codes single-use (in SQL: `DELETE … RETURNING`).
#[derive(Debug, Clone, Default)]
pub struct CountingStore {
    inner: MemoryStore,
    counts: Arc<Mutex<BTreeMap<&'static str, u64>>>,
}

impl CountingStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times each operation ran so far.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn record(&self, operation: &'static str) {
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner).entry(operation).or_default() += 1;
        // Never log tokens, codes or password hashes.
        tracing::debug!(operation, "store");
    }
}

impl Store for CountingStore {
    /// Inserts the user and its password credential together. A taken email
    /// or phone number is `StoreError::conflict(UniqueField::Email)` /
    /// `(UniqueField::PhoneNumber)`: Kernia answers Better Auth's "user
    /// already exists" from it, so two concurrent sign-ups with one email
    /// make exactly one user.
    async fn create_user(&self, user: User, password_hash: Option<String>) -> StoreResult<User> {
        self.record("create_user");
        self.inner.create_user(user, password_hash).await
    }

    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.record("find_user_by_id");
        self.inner.find_user_by_id(id).await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.record("find_user_by_email");
        self.inner.find_user_by_email(email).await
    }

    async fn find_user_by_phone(&self, phone: &str) -> StoreResult<Option<User>> {
        self.record("find_user_by_phone");
        self.inner.find_user_by_phone(phone).await
    }

    /// Applies the patch; a new email or phone number owned by another user
    /// is a conflict, exactly as in `create_user`.
    async fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        self.record("update_user");
        self.inner.update_user(id, patch, now).await
    }

    async fn find_credential(&self, user_id: &str) -> StoreResult<Option<Credential>> {
        self.record("find_credential");
        self.inner.find_credential(user_id).await
    }

    async fn set_password(
        &self,
        user_id: &str,
        password_hash: String,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.record("set_password");
        self.inner.set_password(user_id, password_hash, now).await
    }

    async fn delete_accounts(&self, user_id: &str) -> StoreResult<()> {
        self.record("delete_accounts");
        self.inner.delete_accounts(user_id).await
    }

    async fn create_session(&self, session: Session) -> StoreResult<()> {
        self.record("create_session");
        self.inner.create_session(session).await
    }

    /// Only sessions that have not expired at `now`, joined with their user.
    async fn find_session(&self, token: &str, now: OffsetDateTime) -> StoreResult<Option<SessionWithUser>> {
        self.record("find_session");
        self.inner.find_session(token, now).await
    }

    async fn refresh_session(
        &self,
        token: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Session>> {
        self.record("refresh_session");
        self.inner.refresh_session(token, expires_at, now).await
    }

    async fn delete_session(&self, token: &str) -> StoreResult<()> {
        self.record("delete_session");
        self.inner.delete_session(token).await
    }

    async fn list_sessions(&self, user_id: &str, now: OffsetDateTime) -> StoreResult<Vec<Session>> {
        self.record("list_sessions");
        self.inner.list_sessions(user_id, now).await
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        self.record("delete_user_sessions");
        self.inner.delete_user_sessions(user_id, keep).await
    }

    async fn create_verification(&self, verification: Verification) -> StoreResult<()> {
        self.record("create_verification");
        self.inner.create_verification(verification).await
    }

    async fn find_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        self.record("find_verification");
        self.inner.find_verification(identifier).await
    }

    /// Removes every value of `identifier` and returns the newest, in one
    /// atomic step: when two requests race to redeem one code, exactly one
    /// receives it and the other sees `None`. Reading then deleting in two
    /// steps would let a code be used twice.
    async fn take_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        self.record("take_verification");
        self.inner.take_verification(identifier).await
    }

    /// Puts a taken value back (a wrong guess that still has attempts left)
    /// only if the identifier has no value now (a code sent meanwhile wins);
    /// answers whether it did. Atomic like `take_verification`.
    async fn restore_verification(&self, verification: Verification) -> StoreResult<bool> {
        self.record("restore_verification");
        self.inner.restore_verification(verification).await
    }

    async fn delete_verifications(&self, identifier: &str) -> StoreResult<()> {
        self.record("delete_verifications");
        self.inner.delete_verifications(identifier).await
    }

    async fn sweep_expired(&self, now: OffsetDateTime) -> StoreResult<()> {
        self.record("sweep_expired");
        self.inner.sweep_expired(now).await
    }
}

/// The app: Kernia on `store`, `/me` for signed-in users and `/store-stats`
/// showing the operation counts.
pub fn app(auth: KerniaBuilder, store: CountingStore) -> Result<Router, ConfigError> {
    let auth = auth.store(store.clone()).build()?;
    Ok(Router::new()
        .route(
            "/me",
            get(|CurrentSession(s): CurrentSession| async move { Json(json!({ "email": s.user.email })) }),
        )
        .route("/store-stats", get(move || async move { Json(store.counts()) }))
        .layer(auth))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,custom_store=debug")),
        )
        .init();
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let base_url = format!("http://localhost:{port}");
    let secret = std::env::var("AUTH_SECRET").unwrap_or_else(|_| {
        eprintln!("AUTH_SECRET is unset: using a random secret, sessions end when the example stops");
        random_secret()
    });
    let auth = KerniaLayer::builder()
        .secret(secret)
        .base_url(&base_url)
        .trusted_origins([format!("http://127.0.0.1:{port}")]);
    let app = app(auth, CountingStore::new())?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {base_url} (auth under {base_url}/api/auth)");
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
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
