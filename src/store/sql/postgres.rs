//! [`PostgresStore`]: the [`Store`] on PostgreSQL, in Better Auth's layout
//! (`text` ids, `timestamptz` dates, `boolean` flags, quoted camelCase
//! columns).

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{PgConnection, Postgres, Transaction};
use time::OffsetDateTime;

use super::dialect::{BoundQuery, Dialect};
use super::records::RecordRow;
use super::store_error;
use crate::store::{StoreError, StoreResult};

/// Better Auth's tables as its CLI creates them for PostgreSQL, plus the
/// phone plugin's columns (`phoneNumberVerified` defaults to false, decision D8).
const SCHEMA: [&str; 7] = [
    r#"CREATE TABLE IF NOT EXISTS "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" boolean not null, "image" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null, "phoneNumber" text unique, "phoneNumberVerified" boolean not null default false)"#,
    r#"CREATE TABLE IF NOT EXISTS "session" ("id" text not null primary key, "expiresAt" timestamptz not null, "token" text not null unique, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade)"#,
    r#"CREATE TABLE IF NOT EXISTS "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" timestamptz, "refreshTokenExpiresAt" timestamptz, "scope" text, "password" text, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz not null)"#,
    r#"CREATE TABLE IF NOT EXISTS "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" timestamptz not null, "createdAt" timestamptz default CURRENT_TIMESTAMP not null, "updatedAt" timestamptz default CURRENT_TIMESTAMP not null)"#,
    r#"CREATE INDEX IF NOT EXISTS "session_userId_idx" ON "session" ("userId")"#,
    r#"CREATE INDEX IF NOT EXISTS "account_userId_idx" ON "account" ("userId")"#,
    r#"CREATE INDEX IF NOT EXISTS "verification_identifier_idx" ON "verification" ("identifier")"#,
];

/// A [`Store`](crate::store::Store) on PostgreSQL. Clones share one connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), kernia::store::StoreError> {
/// let store = kernia::store::PostgresStore::connect("postgres://app@localhost/app").await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Kernia's pool defaults for PostgreSQL: at most 10 connections and a
    /// 5 s acquire timeout. Adjust and pass to [`PostgresStore::connect_with`].
    pub fn pool_options() -> PgPoolOptions {
        PgPoolOptions::new().max_connections(10).acquire_timeout(Duration::from_secs(5))
    }

    /// Connects to `url` (`postgres://user:password@host/db`) with
    /// [`PostgresStore::pool_options`]. Call [`PostgresStore::migrate`] next.
    ///
    /// # Errors
    ///
    /// A backend error when the URL is invalid or the server unreachable.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Self::pool_options()).await
    }

    /// Like [`PostgresStore::connect`], with your pool settings.
    ///
    /// # Errors
    ///
    /// A backend error when the URL is invalid or the server unreachable.
    pub async fn connect_with(url: &str, pool_options: PgPoolOptions) -> Result<Self, StoreError> {
        let pool = pool_options.connect(url).await.map_err(StoreError::backend)?;
        Ok(Self { pool })
    }

    /// A store on an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates Better Auth's tables and indexes if they are missing and adds
    /// the phone plugin's columns to an existing `user` table that lacks
    /// them; an existing schema is otherwise left alone. Idempotent, in one
    /// transaction under an advisory lock, so instances starting together
    /// do not race.
    ///
    /// # Errors
    ///
    /// A backend error when a statement fails (nothing is applied then).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('kernia.migrate'))")
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&mut *tx).await.map_err(store_error)?;
        }
        add_phone_columns(&mut tx).await?;
        tx.commit().await.map_err(store_error)
    }
}

/// Adds `phoneNumber` (unique) and `phoneNumberVerified` when missing: Better
/// Auth only creates them with its phone plugin.
async fn add_phone_columns(conn: &mut PgConnection) -> StoreResult<()> {
    if !has_user_column(conn, "phoneNumber").await? {
        sqlx::query(r#"ALTER TABLE "user" ADD COLUMN "phoneNumber" text UNIQUE"#)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
    }
    if !has_user_column(conn, "phoneNumberVerified").await? {
        sqlx::query(r#"ALTER TABLE "user" ADD COLUMN "phoneNumberVerified" boolean NOT NULL DEFAULT false"#)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

/// Whether the `user` table the search path resolves has `column`.
async fn has_user_column(conn: &mut PgConnection, column: &str) -> StoreResult<bool> {
    sqlx::query_scalar(concat!(
        "SELECT EXISTS (SELECT 1 FROM pg_attribute ",
        r#"WHERE attrelid = to_regclass('"user"') AND attname = $1 AND NOT attisdropped)"#
    ))
    .bind(column)
    .fetch_one(conn)
    .await
    .map_err(store_error)
}

// `impl Store` and `delete_expired`: the same code as for SQLite.
sql_store!(PostgresStore);

impl Dialect for PostgresStore {
    type Db = Postgres;
    type Date = OffsetDateTime;

    const FIND_SESSION: &'static str = concat!(
        "SELECT ",
        session_with_user_columns!(),
        r#" FROM "session" s JOIN "user" u ON u."id" = s."userId" "#,
        r#"WHERE s."token" = $1 AND s."expiresAt" > $2"#
    );
    const LIST_SESSIONS: &'static str = concat!(
        "SELECT ",
        session_columns!(),
        r#" FROM "session" WHERE "userId" = $1 AND "expiresAt" > $2 ORDER BY "createdAt""#
    );
    const DELETE_OTHER_SESSIONS: &'static str =
        r#"DELETE FROM "session" WHERE "userId" = $1 AND ($2::text IS NULL OR "token" <> $2)"#;
    const FIND_VERIFICATION: &'static str = concat!(
        "SELECT ",
        verification_columns!(),
        r#" FROM "verification" WHERE "identifier" = $1 ORDER BY "createdAt" DESC LIMIT 1"#
    );
    const DELETE_EXPIRED_SESSIONS: &'static str = r#"DELETE FROM "session" WHERE "expiresAt" <= $1"#;
    const DELETE_EXPIRED_VERIFICATIONS: &'static str =
        r#"DELETE FROM "verification" WHERE "expiresAt" <= $1"#;
    const INSERT_CREDENTIAL: &'static str = concat!(
        r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt") "#,
        r#"VALUES ($1, $2, 'credential', $2, $3, $4, $4)"#
    );

    /// `timestamptz`, as it is.
    fn date(time: OffsetDateTime) -> StoreResult<OffsetDateTime> {
        Ok(time)
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(store_error)
    }

    /// Locking the user serialises concurrent calls, so a missing credential
    /// is created once.
    async fn lock_user(conn: &mut PgConnection, user_id: &str) -> StoreResult<bool> {
        let user: Option<String> =
            sqlx::query_scalar(r#"SELECT "id" FROM "user" WHERE "id" = $1 FOR NO KEY UPDATE"#)
                .bind(user_id)
                .fetch_optional(conn)
                .await
                .map_err(store_error)?;
        Ok(user.is_some())
    }

    async fn insert_if_absent(&self, identifier: &str, insert: BoundQuery<Self>) -> StoreResult<u64> {
        let mut tx = self.begin().await?;
        // Serialises restores of one identifier, so the check in `insert`
        // and the insert are one step for them.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(identifier)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let inserted = insert.execute(&mut *tx).await.map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(inserted.rows_affected())
    }
}

impl RecordRow for PgRow {
    fn date_at(&self, at: usize) -> StoreResult<OffsetDateTime> {
        self.decoded(at)
    }
}
