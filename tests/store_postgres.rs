//! The store conformance suite, migrations and Better Auth compatibility on PostgreSQL.
//!
//! Connects to `KERNIA_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); an unreachable server
//! fails the tests. Every store lives in its own `kernia_test_<random>`
//! schema, dropped when the test ends, pass or fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "postgres")]

mod store_suite;

use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use kernia::store::{PostgresStore, Store, StoreError, StoreErrorKind, UniqueField};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use store_suite::sql::{self, SqlStore};
use time::OffsetDateTime;
use time::macros::datetime;

fn database_url() -> String {
    std::env::var("KERNIA_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// The schemas (and their pools) a test created, for cleanup.
struct Schemas {
    admin: PgPool,
    created: Mutex<Vec<(String, PgPool)>>,
}

impl Schemas {
    async fn connect() -> Self {
        let admin = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(StdDuration::from_secs(5))
            .connect(&database_url())
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL at {} is unreachable: {e}", database_url()));
        Self { admin, created: Mutex::new(Vec::new()) }
    }

    /// A new empty schema and a pool whose search path is it.
    async fn pool(&self) -> PgPool {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).unwrap();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("kernia_test_{hex}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(r#"CREATE SCHEMA "{name}""#)))
            .execute(&self.admin)
            .await
            .unwrap();
        let options = PgConnectOptions::from_str(&database_url()).unwrap().options([("search_path", &name)]);
        // Small pools: many tests run at once against one server.
        let pool = PostgresStore::pool_options().max_connections(5).connect_with(options).await.unwrap();
        self.created.lock().unwrap().push((name, pool.clone()));
        pool
    }

    /// A migrated store in a new schema.
    async fn store(&self) -> PostgresStore {
        let store = PostgresStore::from_pool(self.pool().await);
        store.migrate().await.unwrap();
        store
    }

    async fn drop_all(&self) {
        let created = std::mem::take(&mut *self.created.lock().unwrap());
        for (name, pool) in created {
            pool.close().await;
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(r#"DROP SCHEMA "{name}" CASCADE"#)))
                .execute(&self.admin)
                .await
                .unwrap();
        }
    }
}

impl SqlStore for PostgresStore {
    async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        PostgresStore::delete_expired(self, now).await
    }

    async fn execute(&self, sql: &'static str) {
        sqlx::raw_sql(sql).execute(self.pool()).await.unwrap();
    }
}

/// Runs `test` with fresh schemas, drops them afterwards, then reports the outcome.
async fn isolated<F, Fut>(test: F)
where
    F: FnOnce(Arc<Schemas>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let schemas = Arc::new(Schemas::connect().await);
    let outcome = tokio::spawn(test(schemas.clone())).await;
    schemas.drop_all().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("test task failed: {error}"),
        }
    }
}

#[tokio::test]
async fn postgres_store_passes_the_store_suite() {
    isolated(|schemas| async move {
        store_suite::run_all(move || {
            let schemas = schemas.clone();
            async move { schemas.store().await }
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_sign_ups_and_takes_on_threads() {
    isolated(|schemas| async move {
        let store = Arc::new(schemas.store().await);
        store_suite::parallel_creates_with_one_email_make_one_user(store.clone()).await;
        store_suite::parallel_takes_hand_out_one_value(store).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_restores_insert_once() {
    isolated(|schemas| async move {
        store_suite::parallel_restores_insert_once(Arc::new(schemas.store().await)).await;
    })
    .await;
}

#[tokio::test]
async fn migrate_is_idempotent_and_creates_better_auths_schema() {
    isolated(|schemas| async move {
        let store = schemas.store().await;
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();
        let columns: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'user' ORDER BY ordinal_position",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        let types: Vec<(&str, &str)> = columns.iter().map(|(_, c, t)| (c.as_str(), t.as_str())).collect();
        assert_eq!(
            types,
            [
                ("id", "text"),
                ("name", "text"),
                ("email", "text"),
                ("emailVerified", "boolean"),
                ("image", "text"),
                ("createdAt", "timestamp with time zone"),
                ("updatedAt", "timestamp with time zone"),
                ("phoneNumber", "text"),
                ("phoneNumberVerified", "boolean"),
            ]
        );
        let indexes: Vec<String> =
            sqlx::query_scalar("SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema()")
                .fetch_all(store.pool())
                .await
                .unwrap();
        for expected in [
            "session_userId_idx",
            "account_userId_idx",
            "verification_identifier_idx",
            "user_email_key",
            "user_phoneNumber_key",
            "session_token_key",
        ] {
            assert!(indexes.iter().any(|i| i == expected), "{expected} missing from {indexes:?}");
        }
    })
    .await;
}

/// Better Auth's PostgreSQL DDL without the phone plugin (data-model.md §1),
/// and rows as Better Auth writes them.
const BETTER_AUTH_SCHEMA: &str = r#"
create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique,
  "emailVerified" boolean not null, "image" text,
  "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null);
create table "session" ("id" text not null primary key, "expiresAt" timestamptz not null, "token" text not null unique,
  "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null,
  "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade);
create table "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null,
  "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text,
  "idToken" text, "accessTokenExpiresAt" timestamptz, "refreshTokenExpiresAt" timestamptz, "scope" text,
  "password" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null);
create table "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null,
  "expiresAt" timestamptz not null, "createdAt" timestamptz default CURRENT_TIMESTAMP not null,
  "updatedAt" timestamptz default CURRENT_TIMESTAMP not null);
create index "session_userId_idx" on "session" ("userId");
create index "account_userId_idx" on "account" ("userId");
create index "verification_identifier_idx" on "verification" ("identifier");
insert into "user" values ('ba-user', 'Bea', 'bea@example.com', true, null, '2026-11-22T02:42:33.685Z', '2026-11-22T02:42:33.685Z');
insert into "session" values ('ba-session', '2999-01-01T00:00:00Z', 'ba-token', now(), now(), '', '', 'ba-user');
"#;

#[tokio::test]
async fn a_better_auth_database_without_the_phone_plugin_gets_the_phone_columns() {
    isolated(|schemas| async move {
        let pool = schemas.pool().await;
        sqlx::raw_sql(BETTER_AUTH_SCHEMA).execute(&pool).await.unwrap();
        let store = PostgresStore::from_pool(pool);
        store.migrate().await.unwrap();
        store.migrate().await.unwrap();

        let bea = store.find_user_by_email("bea@example.com").await.unwrap().unwrap();
        assert_eq!((bea.name.as_str(), bea.email_verified), ("Bea", true));
        assert_eq!((bea.phone_number, bea.phone_number_verified), (None, false));
        assert_eq!(bea.created_at, datetime!(2026-11-22 02:42:33.685 UTC));
        let found = store.find_session("ba-token", store_suite::now()).await.unwrap().unwrap();
        assert_eq!(found.user.id, "ba-user");

        store.create_user(store_suite::user("a@example.com", Some("+15550100009")), None).await.unwrap();
        let taken = store.create_user(store_suite::user("b@example.com", Some("+15550100009")), None).await;
        assert_eq!(taken.unwrap_err().kind(), StoreErrorKind::Conflict(UniqueField::PhoneNumber));
    })
    .await;
}

#[tokio::test]
async fn null_phone_verification_reads_as_false() {
    isolated(|schemas| async move {
        let pool = schemas.pool().await;
        // Better Auth's phone plugin column has no default and allows NULL.
        sqlx::raw_sql(
            r#"create table "user" ("id" text not null primary key, "name" text not null, "email" text not null unique,
              "emailVerified" boolean not null, "image" text, "createdAt" timestamptz not null,
              "updatedAt" timestamptz not null, "phoneNumber" text unique, "phoneNumberVerified" boolean);
            insert into "user" values ('u1', '', 'n@example.com', false, null, now(), now(), '+15550100010', null);"#,
        )
        .execute(&pool)
        .await
        .unwrap();
        let store = PostgresStore::from_pool(pool);
        store.migrate().await.unwrap();
        let user = store.find_user_by_phone("+15550100010").await.unwrap().unwrap();
        assert!(!user.phone_number_verified);
    })
    .await;
}

#[tokio::test]
async fn sweep_removes_only_expired_rows() {
    isolated(|schemas| async move { sql::sweep_removes_only_expired_rows(schemas.store().await).await })
        .await;
}

#[tokio::test]
async fn database_failures_are_errors_not_panics() {
    isolated(|schemas| async move {
        sql::database_failures_are_errors_not_panics(schemas.store().await).await;
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_server_is_an_error() {
    let options = PostgresStore::pool_options().acquire_timeout(StdDuration::from_secs(1));
    let error =
        PostgresStore::connect_with("postgres://postgres@127.0.0.1:1/postgres", options).await.unwrap_err();
    assert_eq!(error.kind(), StoreErrorKind::Backend);
}
