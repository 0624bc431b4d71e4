//! Checks for the SQL stores beyond the `Store` trait: the expiry sweep they
//! expose and how they report a broken database.

use std::future::Future;

use kernia::store::{Store, StoreError, StoreErrorKind};
use time::{Duration, OffsetDateTime};

use super::{now, session, user, verification};

/// What the SQL stores offer besides `Store`, as each test file reaches it.
pub trait SqlStore: Store {
    /// The store's own `delete_expired`.
    fn delete_expired(&self, now: OffsetDateTime) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Runs `sql` on the store's pool.
    fn execute(&self, sql: &'static str) -> impl Future<Output = ()> + Send;
}

pub async fn sweep_removes_only_expired_rows<S: SqlStore>(store: S) {
    let ada = store.create_user(user("sweep@example.com", None), None).await.unwrap();
    let live = session(&ada.id, Duration::days(1));
    store.create_session(live.clone()).await.unwrap();
    store.create_session(session(&ada.id, Duration::seconds(-10))).await.unwrap();
    let t = now();
    let mut stale = verification("otp:stale", "x:0", t - Duration::minutes(10));
    stale.expires_at = t - Duration::minutes(5);
    store.create_verification(stale).await.unwrap();
    store.create_verification(verification("otp:fresh", "y:0", t)).await.unwrap();

    assert_eq!(store.delete_expired(t).await.unwrap(), 2);
    assert_eq!(store.delete_expired(t).await.unwrap(), 0);
    store.create_session(session(&ada.id, Duration::seconds(-10))).await.unwrap();
    Store::sweep_expired(&store, t).await.unwrap();
    assert_eq!(store.delete_expired(t).await.unwrap(), 0, "the trait method sweeps too");
    assert!(store.find_session(&live.token, t).await.unwrap().is_some());
    assert!(store.find_verification("otp:stale").await.unwrap().is_none());
    assert!(store.find_verification("otp:fresh").await.unwrap().is_some());
}

pub async fn database_failures_are_errors_not_panics<S: SqlStore>(store: S) {
    let orphan = session("no-such-user", Duration::days(1));
    let error = store.create_session(orphan).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Backend, "foreign keys are on");

    store.execute(r#"DROP TABLE "verification""#).await;
    let error = store.take_verification("otp:x").await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Backend);
}
