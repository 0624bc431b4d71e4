//! [`SqliteStore`]: the [`Store`] on a SQLite file, in Better Auth's layout.
//!
//! Dates are ISO-8601 text with milliseconds and `Z`
//! (`2026-11-22T02:42:33.685Z`) and booleans integers 0/1, as Better Auth
//! writes them; reading also accepts dates without milliseconds, with an
//! offset or with a space instead of `T`. Expiry comparisons go through
//! `julianday()` so mixed spellings still compare as instants.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::dialect::{BoundQuery, Dialect};
use super::records::RecordRow;
use super::{millis, store_error};
use crate::store::{StoreError, StoreResult};

/// How long a writer waits for another writer before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How dates are written: Better Auth's `Date.toISOString()`.
const DATE_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// Better Auth's tables, as its CLI creates them for SQLite, plus the phone
/// plugin's columns (`phoneNumberVerified` defaults to false, decision D8).
const SCHEMA: [&str; 7] = [
    r#"CREATE TABLE IF NOT EXISTS "user" ("id" text not null primary key, "name" text not null, "email" text not null unique, "emailVerified" integer not null, "image" text, "createdAt" date not null, "updatedAt" date not null, "phoneNumber" text unique, "phoneNumberVerified" integer not null default 0)"#,
    r#"CREATE TABLE IF NOT EXISTS "session" ("id" text not null primary key, "expiresAt" date not null, "token" text not null unique, "createdAt" date not null, "updatedAt" date not null, "ipAddress" text, "userAgent" text, "userId" text not null references "user" ("id") on delete cascade)"#,
    r#"CREATE TABLE IF NOT EXISTS "account" ("id" text not null primary key, "accountId" text not null, "providerId" text not null, "userId" text not null references "user" ("id") on delete cascade, "accessToken" text, "refreshToken" text, "idToken" text, "accessTokenExpiresAt" date, "refreshTokenExpiresAt" date, "scope" text, "password" text, "createdAt" date not null, "updatedAt" date not null)"#,
    r#"CREATE TABLE IF NOT EXISTS "verification" ("id" text not null primary key, "identifier" text not null, "value" text not null, "expiresAt" date not null, "createdAt" date not null, "updatedAt" date not null)"#,
    r#"CREATE INDEX IF NOT EXISTS "session_userId_idx" ON "session" ("userId")"#,
    r#"CREATE INDEX IF NOT EXISTS "account_userId_idx" ON "account" ("userId")"#,
    r#"CREATE INDEX IF NOT EXISTS "verification_identifier_idx" ON "verification" ("identifier")"#,
];

/// A [`Store`](crate::store::Store) on SQLite. Clones share one connection pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), kernia::store::StoreError> {
/// let store = kernia::store::SqliteStore::connect("sqlite://kernia.db").await?;
/// store.migrate().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Kernia's pool defaults for SQLite: at most 4 connections, a 5 s
    /// acquire timeout, and connections kept open (so a `sqlite::memory:`
    /// database is not lost when the pool goes idle). Adjust and pass to
    /// [`SqliteStore::connect_with`].
    pub fn pool_options() -> SqlitePoolOptions {
        SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .idle_timeout(None)
            .max_lifetime(None)
    }

    /// Opens (creating it if missing) the database at `url`, e.g.
    /// `sqlite://kernia.db`, with [`SqliteStore::pool_options`]. Connections
    /// use WAL, a 5 s busy timeout (concurrent writers wait instead of
    /// failing) and foreign keys. Call [`SqliteStore::migrate`] next.
    ///
    /// # Errors
    ///
    /// A backend error when the URL is invalid or the file cannot be opened.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, Self::pool_options()).await
    }

    /// Like [`SqliteStore::connect`], with your pool settings.
    ///
    /// # Errors
    ///
    /// A backend error when the URL is invalid or the file cannot be opened.
    pub async fn connect_with(url: &str, pool_options: SqlitePoolOptions) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(StoreError::backend)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = pool_options.connect_with(options).await.map_err(StoreError::backend)?;
        Ok(Self { pool })
    }

    /// A store on an existing pool. Its connections should have a busy
    /// timeout and foreign keys on, as [`SqliteStore::connect`] sets up.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The underlying pool.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Creates Better Auth's tables and indexes if they are missing and adds
    /// the phone plugin's columns to an existing `user` table that lacks
    /// them; an existing schema is otherwise left alone. Idempotent, in one
    /// transaction.
    ///
    /// # Errors
    ///
    /// A backend error when a statement fails (nothing is applied then).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&mut *tx).await.map_err(store_error)?;
        }
        add_phone_columns(&mut tx).await?;
        tx.commit().await.map_err(store_error)
    }
}

/// Adds `phoneNumber` (unique) and `phoneNumberVerified` when missing: Better
/// Auth only creates them with its phone plugin. SQLite cannot add a UNIQUE
/// column, so uniqueness comes from an index.
async fn add_phone_columns(conn: &mut SqliteConnection) -> StoreResult<()> {
    if !has_user_column(conn, "phoneNumber").await? {
        sqlx::query(r#"ALTER TABLE "user" ADD COLUMN "phoneNumber" text"#)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
        sqlx::query(r#"CREATE UNIQUE INDEX IF NOT EXISTS "user_phoneNumber_key" ON "user" ("phoneNumber")"#)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
    }
    if !has_user_column(conn, "phoneNumberVerified").await? {
        sqlx::query(r#"ALTER TABLE "user" ADD COLUMN "phoneNumberVerified" integer not null default 0"#)
            .execute(&mut *conn)
            .await
            .map_err(store_error)?;
    }
    Ok(())
}

async fn has_user_column(conn: &mut SqliteConnection, column: &str) -> StoreResult<bool> {
    let count: i64 =
        sqlx::query_scalar(r#"SELECT COUNT(*) FROM pragma_table_info('user') WHERE "name" = $1"#)
            .bind(column)
            .fetch_one(conn)
            .await
            .map_err(store_error)?;
    Ok(count > 0)
}

// `impl Store` and `delete_expired`: the same code as for PostgreSQL.
sql_store!(SqliteStore);

impl Dialect for SqliteStore {
    type Db = Sqlite;
    type Date = String;

    const FIND_SESSION: &'static str = concat!(
        "SELECT ",
        session_with_user_columns!(),
        r#" FROM "session" s JOIN "user" u ON u."id" = s."userId" "#,
        r#"WHERE s."token" = $1 AND julianday(s."expiresAt") > julianday($2)"#
    );
    const LIST_SESSIONS: &'static str = concat!(
        "SELECT ",
        session_columns!(),
        r#" FROM "session" WHERE "userId" = $1 AND julianday("expiresAt") > julianday($2) "#,
        r#"ORDER BY julianday("createdAt"), rowid"#
    );
    const DELETE_OTHER_SESSIONS: &'static str =
        r#"DELETE FROM "session" WHERE "userId" = $1 AND ($2 IS NULL OR "token" <> $2)"#;
    const FIND_VERIFICATION: &'static str = concat!(
        "SELECT ",
        verification_columns!(),
        r#" FROM "verification" WHERE "identifier" = $1 "#,
        r#"ORDER BY julianday("createdAt") DESC, rowid DESC LIMIT 1"#
    );
    const DELETE_EXPIRED_SESSIONS: &'static str =
        r#"DELETE FROM "session" WHERE julianday("expiresAt") <= julianday($1)"#;
    const DELETE_EXPIRED_VERIFICATIONS: &'static str =
        r#"DELETE FROM "verification" WHERE julianday("expiresAt") <= julianday($1)"#;
    /// Inserts nothing when the user does not exist.
    const INSERT_CREDENTIAL: &'static str = concat!(
        r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt") "#,
        r#"SELECT $1, $2, 'credential', $2, $3, $4, $4 WHERE EXISTS (SELECT 1 FROM "user" WHERE "id" = $2)"#
    );

    /// `time` as Better Auth stores it: `2026-11-22T02:42:33.685Z`.
    fn date(time: OffsetDateTime) -> StoreResult<String> {
        millis(time).to_offset(UtcOffset::UTC).format(DATE_FORMAT).map_err(StoreError::backend)
    }

    async fn begin(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(store_error)
    }

    /// Nothing to do: `BEGIN IMMEDIATE` already keeps every other writer out,
    /// and [`Dialect::INSERT_CREDENTIAL`] checks that the user exists.
    async fn lock_user(_conn: &mut SqliteConnection, _user_id: &str) -> StoreResult<bool> {
        Ok(true)
    }

    async fn insert_if_absent(&self, _identifier: &str, insert: BoundQuery<Self>) -> StoreResult<u64> {
        // One statement: SQLite runs one writer at a time, so the check and
        // the insert cannot interleave with another write.
        let inserted = insert.execute(&self.pool).await.map_err(store_error)?;
        Ok(inserted.rows_affected())
    }
}

impl RecordRow for SqliteRow {
    fn date_at(&self, at: usize) -> StoreResult<OffsetDateTime> {
        parse_date(&self.decoded::<String>(at)?)
    }
}

/// Reads an ISO-8601 date: `T` or a space between date and time, optional
/// fraction, `Z` or an offset (none means UTC, as SQLite's own `datetime()`).
fn parse_date(text: &str) -> StoreResult<OffsetDateTime> {
    let mut text = text.trim().replacen(' ', "T", 1);
    let time_part = text.split_once('T').map_or("", |(_, time)| time);
    let has_offset = time_part.ends_with(['Z', 'z']) || time_part.contains(['+', '-']);
    if !has_offset {
        text.push('Z');
    }
    OffsetDateTime::parse(&text, &Rfc3339)
        .map_err(|e| StoreError::backend(format!("unreadable date {text:?} in the database: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use time::macros::datetime;

    use super::{SqliteStore, parse_date};
    use crate::store::sql::dialect::Dialect;

    #[test]
    fn dates_are_written_as_better_auth_writes_them() {
        let time = datetime!(2026-11-22 02:42:33.685_123 UTC);
        assert_eq!(SqliteStore::date(time).unwrap(), "2026-11-22T02:42:33.685Z");
        assert_eq!(
            SqliteStore::date(datetime!(2026-11-22 03:42:33 +01:00)).unwrap(),
            "2026-11-22T02:42:33.000Z"
        );
    }

    #[test]
    fn dates_are_read_in_every_iso_spelling() {
        let expected = datetime!(2026-11-22 02:42:33 UTC);
        for text in [
            "2026-11-22T02:42:33.000Z",
            "2026-11-22T02:42:33Z",
            "2026-11-22 02:42:33",
            "2026-11-22T02:42:33",
            "2026-11-22T03:42:33+01:00",
        ] {
            assert_eq!(parse_date(text).unwrap(), expected, "{text}");
        }
        assert_eq!(parse_date("2026-11-22T02:42:33.685Z").unwrap(), datetime!(2026-11-22 02:42:33.685 UTC));
        assert!(parse_date("yesterday").is_err());
    }
}
