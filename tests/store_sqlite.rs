//! The store conformance suite, migrations and Better Auth compatibility on SQLite files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "sqlite")]

mod store_suite;

use std::path::PathBuf;
use std::sync::Arc;

use kernia::store::{SqliteStore, Store, StoreError, StoreErrorKind, UniqueField};
use sqlx::Row;
use store_suite::sql::{self, SqlStore};
use time::OffsetDateTime;
use time::macros::datetime;

/// A database file under the temp directory, removed (with its WAL files) on drop.
struct TempDb {
    path: PathBuf,
}

impl TempDb {
    fn new() -> Self {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        Self { path: std::env::temp_dir().join(format!("kernia-test-{name}.db")) }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    async fn store(&self) -> SqliteStore {
        let store = SqliteStore::connect(&self.url()).await.unwrap();
        store.migrate().await.unwrap();
        store
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

impl SqlStore for SqliteStore {
    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        SqliteStore::delete_expired(self, now).await
    }

    async fn execute(&self, sql: &'static str) {
        sqlx::raw_sql(sql).execute(self.pool()).await.unwrap();
    }
}

/// A migrated store on its own new file; the file lives as long as the store.
async fn fresh_store() -> (SqliteStore, TempDb) {
    let db = TempDb::new();
    (db.store().await, db)
}

#[tokio::test]
async fn sqlite_store_passes_the_store_suite() {
    let files = Arc::new(std::sync::Mutex::new(Vec::new()));
    let make = {
        let files = files.clone();
        move || {
            let files = files.clone();
            async move {
                let (store, db) = fresh_store().await;
                files.lock().unwrap().push(db);
                store
            }
        }
    };
    store_suite::run_all(make).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_sign_ups_and_takes_on_threads() {
    let (store, _db) = fresh_store().await;
    store_suite::parallel_creates_with_one_email_make_one_user(Arc::new(store.clone())).await;
    store_suite::parallel_takes_hand_out_one_value(Arc::new(store)).await;
}

#[tokio::test]
async fn migrate_is_idempotent_and_creates_better_auths_schema() {
    let (store, _db) = fresh_store().await;
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name")
            .fetch_all(store.pool())
            .await
            .unwrap();
    for expected in [
        "user",
        "session",
        "account",
        "verification",
        "session_userId_idx",
        "account_userId_idx",
        "verification_identifier_idx",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected} missing from {names:?}");
    }
}

#[tokio::test]
async fn connect_creates_a_missing_file() {
    let db = TempDb::new();
    assert!(!db.path.exists());
    let _store = db.store().await;
    assert!(db.path.exists());
}

#[tokio::test]
async fn rows_are_written_as_better_auth_writes_them() {
    let (store, _db) = fresh_store().await;
    let mut ada = store_suite::user("ada@example.com", None);
    ada.created_at = datetime!(2026-11-22 02:42:33.685_999 UTC);
    ada.updated_at = ada.created_at;
    ada.email_verified = true;
    let created = store.create_user(ada.clone(), Some("salt:key".into())).await.unwrap();
    assert_eq!(created.created_at, datetime!(2026-11-22 02:42:33.685 UTC), "millisecond precision");

    let row = sqlx::query(r#"SELECT "createdAt", "emailVerified", typeof("emailVerified") FROM "user""#)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "2026-11-22T02:42:33.685Z");
    assert_eq!((row.get::<i64, _>(1), row.get::<String, _>(2).as_str()), (1, "integer"));

    let account =
        sqlx::query(r#"SELECT "id", "accountId", "providerId", "userId", "password" FROM "account""#)
            .fetch_one(store.pool())
            .await
            .unwrap();
    let account_id: String = account.get(0);
    assert_eq!(account_id.len(), 32);
    assert!(account_id.chars().all(|c| c.is_ascii_alphanumeric()));
    let fields: (String, String, String, String) =
        (account.get(1), account.get(2), account.get(3), account.get(4));
    assert_eq!(fields, (ada.id.clone(), "credential".into(), ada.id.clone(), "salt:key".into()));
}

/// Better Auth's SQLite `user` table without the phone plugin, as its CLI creates it.
const BETTER_AUTH_USER: &str = r#"create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null);"#;

/// The same with the phone plugin: `phoneNumberVerified` is nullable there.
const BETTER_AUTH_PHONE_USER: &str = r#"create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null, "phoneNumber" text unique, "phoneNumberVerified" integer);"#;

/// Better Auth's other tables, and rows as Better Auth writes them.
const BETTER_AUTH_REST: &str = r#"
create table "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique, "createdAt" date not null, "updatedAt" date not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade);
create table "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" date, "refreshTokenExpiresAt" date, "scope" text, "password" text, "createdAt" date not null, "updatedAt" date not null);
create table "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" date not null, "createdAt" date not null, "updatedAt" date not null);
create index "session_userId_idx" on "session" ("userId");
create index "account_userId_idx" on "account" ("userId");
create index "verification_identifier_idx" on "verification" ("identifier");
insert into "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt") values ('ba-user', 'Bea', 'bea@example.com', 1, null, '2026-11-22T02:42:33.685Z', '2026-11-22T02:42:33Z');
insert into "session" values ('ba-session', '2999-01-01T00:00:00Z', 'ba-token', '2026-11-22T02:42:33.685Z', '2026-11-22 02:42:33', '', '', 'ba-user');
"#;

/// A store on a new file holding Better Auth's schema with `user_table`, migrated twice.
async fn better_auth_store(user_table: &str) -> (SqliteStore, TempDb) {
    let db = TempDb::new();
    let store = SqliteStore::connect(&db.url()).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{user_table}{BETTER_AUTH_REST}")))
        .execute(store.pool())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    (store, db)
}

#[tokio::test]
async fn a_better_auth_database_without_the_phone_plugin_gets_the_phone_columns() {
    let (store, _db) = better_auth_store(BETTER_AUTH_USER).await;
    let bea = store.find_user_by_email("bea@example.com").await.unwrap().unwrap();
    assert_eq!((bea.name.as_str(), bea.email_verified), ("Bea", true));
    assert_eq!((bea.phone_number, bea.phone_number_verified), (None, false));
    assert_eq!(bea.created_at, datetime!(2026-11-22 02:42:33.685 UTC));
    assert_eq!(bea.updated_at, datetime!(2026-11-22 02:42:33 UTC), "dates without milliseconds");
    let found = store.find_session("ba-token", store_suite::now()).await.unwrap().unwrap();
    assert_eq!(
        (found.user.id.as_str(), found.session.expires_at),
        ("ba-user", datetime!(2999-01-01 0:00 UTC))
    );

    store.create_user(store_suite::user("a@example.com", Some("+15550100009")), None).await.unwrap();
    let taken = store.create_user(store_suite::user("b@example.com", Some("+15550100009")), None).await;
    assert_eq!(taken.unwrap_err().kind(), StoreErrorKind::Conflict(UniqueField::PhoneNumber));
}

#[tokio::test]
async fn a_better_auth_database_with_the_phone_plugin_is_left_alone() {
    let (store, _db) = better_auth_store(BETTER_AUTH_PHONE_USER).await;
    let columns: Vec<(String, Option<String>)> = sqlx::query_as(
        r#"SELECT "name", "dflt_value" FROM pragma_table_info('user') WHERE "name" LIKE 'phone%'"#,
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert_eq!(columns, [("phoneNumber".into(), None), ("phoneNumberVerified".into(), None)]);
    let bea = store.find_user_by_email("bea@example.com").await.unwrap().unwrap();
    assert!(!bea.phone_number_verified, "NULL reads as false");
}

#[tokio::test]
async fn sweep_removes_only_expired_rows() {
    let (store, _db) = fresh_store().await;
    sql::sweep_removes_only_expired_rows(store).await;
}

#[tokio::test]
async fn database_failures_are_errors_not_panics() {
    let (store, _db) = fresh_store().await;
    sql::database_failures_are_errors_not_panics(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_restores_insert_once() {
    let (store, _db) = fresh_store().await;
    store_suite::parallel_restores_insert_once(Arc::new(store)).await;
}

#[tokio::test]
async fn an_in_memory_database_is_shared_by_the_pool() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let ada = store.create_user(store_suite::user("mem@example.com", None), None).await.unwrap();
    let reads = (0..8).map(|_| store.find_user_by_id(&ada.id));
    for read in reads {
        assert_eq!(read.await.unwrap(), Some(ada.clone()));
    }
}
