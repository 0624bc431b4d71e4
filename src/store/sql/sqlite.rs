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
use sqlx::{Decode, Row, Sqlite, SqliteConnection, Type};
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{OffsetDateTime, UtcOffset};

use super::{
    JOINED_USER_AT, account_id, millis, newest, session_millis, store_error, user_millis, verification_millis,
};
use crate::store::{
    Credential, Session, SessionWithUser, Store, StoreError, StoreResult, User, UserPatch, Verification,
};

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

/// A [`Store`] on SQLite. Clones share one connection pool.
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(store_error)?;
        for statement in SCHEMA {
            sqlx::query(statement).execute(&mut *tx).await.map_err(store_error)?;
        }
        add_phone_columns(&mut tx).await?;
        tx.commit().await.map_err(store_error)
    }

    /// Deletes the sessions and verification values that expired at or
    /// before `now`; answers how many rows went. Kernia calls it through
    /// [`Store::sweep_expired`] (see `KerniaBuilder::sweep_interval`); call it
    /// yourself from a task if you prefer.
    ///
    /// # Errors
    ///
    /// A backend error when a delete fails.
    pub async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let now = date_text(now)?;
        let sessions = sqlx::query(r#"DELETE FROM "session" WHERE julianday("expiresAt") <= julianday(?1)"#)
            .bind(&now)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        let verifications =
            sqlx::query(r#"DELETE FROM "verification" WHERE julianday("expiresAt") <= julianday(?1)"#)
                .bind(&now)
                .execute(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(sessions.rows_affected() + verifications.rows_affected())
    }

    async fn find_user_where(&self, sql: &'static str, key: &str) -> StoreResult<Option<User>> {
        let row = sqlx::query(sql).bind(key).fetch_optional(&self.pool).await.map_err(store_error)?;
        row.map(|row| user_at(&row, 0)).transpose()
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
        sqlx::query_scalar(r#"SELECT COUNT(*) FROM pragma_table_info('user') WHERE "name" = ?1"#)
            .bind(column)
            .fetch_one(conn)
            .await
            .map_err(store_error)?;
    Ok(count > 0)
}

impl Store for SqliteStore {
    async fn create_user(&self, user: User, password_hash: Option<String>) -> StoreResult<User> {
        let user = user_millis(user);
        let created_at = date_text(user.created_at)?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(store_error)?;
        sqlx::query(concat!(
            r#"INSERT INTO "user" ("#,
            user_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))
        .bind(&user.id)
        .bind(&user.name)
        .bind(&user.email)
        .bind(user.email_verified)
        .bind(&user.image)
        .bind(&created_at)
        .bind(date_text(user.updated_at)?)
        .bind(&user.phone_number)
        .bind(user.phone_number_verified)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if let Some(password) = password_hash {
            insert_credential(&mut tx, &user.id, &password, &created_at).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(user)
    }

    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.find_user_where(concat!("SELECT ", user_columns!(), r#" FROM "user" WHERE "id" = ?1"#), id).await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.find_user_where(concat!("SELECT ", user_columns!(), r#" FROM "user" WHERE "email" = ?1"#), email)
            .await
    }

    async fn find_user_by_phone(&self, phone: &str) -> StoreResult<Option<User>> {
        self.find_user_where(
            concat!("SELECT ", user_columns!(), r#" FROM "user" WHERE "phoneNumber" = ?1"#),
            phone,
        )
        .await
    }

    async fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!(
            r#"UPDATE "user" SET "name" = COALESCE(?2, "name"), "email" = COALESCE(?3, "email"), "#,
            r#""emailVerified" = COALESCE(?4, "emailVerified"), "#,
            r#""image" = CASE WHEN ?5 THEN ?6 ELSE "image" END, "#,
            r#""phoneNumber" = CASE WHEN ?7 THEN ?8 ELSE "phoneNumber" END, "#,
            r#""phoneNumberVerified" = COALESCE(?9, "phoneNumberVerified"), "updatedAt" = ?10 "#,
            r#"WHERE "id" = ?1 RETURNING "#,
            user_columns!()
        ))
        .bind(id)
        .bind(patch.name)
        .bind(patch.email)
        .bind(patch.email_verified)
        .bind(patch.image.is_some())
        .bind(patch.image.flatten())
        .bind(patch.phone_number.is_some())
        .bind(patch.phone_number.flatten())
        .bind(patch.phone_number_verified)
        .bind(date_text(now)?)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.map(|row| user_at(&row, 0)).transpose()
    }

    async fn find_credential(&self, user_id: &str) -> StoreResult<Option<Credential>> {
        let password: Option<Option<String>> = sqlx::query_scalar(concat!(
            r#"SELECT "password" FROM "account" "#,
            r#"WHERE "userId" = ?1 AND "providerId" = 'credential' AND "accountId" = ?1 LIMIT 1"#
        ))
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(password.map(|password| Credential { password }))
    }

    async fn set_password(
        &self,
        user_id: &str,
        password_hash: String,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        let now = date_text(now)?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(store_error)?;
        let updated = sqlx::query(concat!(
            r#"UPDATE "account" SET "password" = ?2, "updatedAt" = ?3 "#,
            r#"WHERE "userId" = ?1 AND "providerId" = 'credential' AND "accountId" = ?1"#
        ))
        .bind(user_id)
        .bind(&password_hash)
        .bind(&now)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if updated.rows_affected() == 0 {
            insert_credential(&mut tx, user_id, &password_hash, &now).await?;
        }
        tx.commit().await.map_err(store_error)
    }

    async fn delete_accounts(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query(r#"DELETE FROM "account" WHERE "userId" = ?1"#)
            .bind(user_id)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn create_session(&self, session: Session) -> StoreResult<()> {
        let session = session_millis(session);
        sqlx::query(concat!(
            r#"INSERT INTO "session" ("#,
            session_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ))
        .bind(&session.id)
        .bind(&session.token)
        .bind(&session.user_id)
        .bind(date_text(session.expires_at)?)
        .bind(date_text(session.created_at)?)
        .bind(date_text(session.updated_at)?)
        .bind(&session.ip_address)
        .bind(&session.user_agent)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn find_session(&self, token: &str, now: OffsetDateTime) -> StoreResult<Option<SessionWithUser>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_with_user_columns!(),
            r#" FROM "session" s JOIN "user" u ON u."id" = s."userId" "#,
            r#"WHERE s."token" = ?1 AND julianday(s."expiresAt") > julianday(?2)"#
        ))
        .bind(token)
        .bind(date_text(now)?)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.map(|row| {
            Ok(SessionWithUser { session: session_at(&row, 0)?, user: user_at(&row, JOINED_USER_AT)? })
        })
        .transpose()
    }

    async fn refresh_session(
        &self,
        token: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Session>> {
        let row = sqlx::query(concat!(
            r#"UPDATE "session" SET "expiresAt" = ?2, "updatedAt" = ?3 WHERE "token" = ?1 RETURNING "#,
            session_columns!()
        ))
        .bind(token)
        .bind(date_text(expires_at)?)
        .bind(date_text(now)?)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.map(|row| session_at(&row, 0)).transpose()
    }

    async fn delete_session(&self, token: &str) -> StoreResult<()> {
        sqlx::query(r#"DELETE FROM "session" WHERE "token" = ?1"#)
            .bind(token)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn list_sessions(&self, user_id: &str, now: OffsetDateTime) -> StoreResult<Vec<Session>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            session_columns!(),
            r#" FROM "session" WHERE "userId" = ?1 AND julianday("expiresAt") > julianday(?2) "#,
            r#"ORDER BY julianday("createdAt"), rowid"#
        ))
        .bind(user_id)
        .bind(date_text(now)?)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(|row| session_at(row, 0)).collect()
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        sqlx::query(r#"DELETE FROM "session" WHERE "userId" = ?1 AND (?2 IS NULL OR "token" <> ?2)"#)
            .bind(user_id)
            .bind(keep)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn create_verification(&self, verification: Verification) -> StoreResult<()> {
        let verification = verification_millis(verification);
        sqlx::query(concat!(
            r#"INSERT INTO "verification" ("#,
            verification_columns!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
        ))
        .bind(&verification.id)
        .bind(&verification.identifier)
        .bind(&verification.value)
        .bind(date_text(verification.expires_at)?)
        .bind(date_text(verification.created_at)?)
        .bind(date_text(verification.updated_at)?)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn find_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            verification_columns!(),
            r#" FROM "verification" WHERE "identifier" = ?1 "#,
            r#"ORDER BY julianday("createdAt") DESC, rowid DESC LIMIT 1"#
        ))
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.map(|row| verification_at(&row)).transpose()
    }

    async fn take_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        let rows = sqlx::query(concat!(
            r#"DELETE FROM "verification" WHERE "identifier" = ?1 RETURNING "#,
            verification_columns!()
        ))
        .bind(identifier)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let rows = rows.iter().map(verification_at).collect::<StoreResult<Vec<_>>>()?;
        Ok(newest(rows))
    }

    async fn restore_verification(&self, verification: Verification) -> StoreResult<bool> {
        let verification = verification_millis(verification);
        // One statement: SQLite runs one writer at a time, so the check and
        // the insert cannot interleave with another write.
        let inserted = sqlx::query(concat!(
            r#"INSERT INTO "verification" ("#,
            verification_columns!(),
            ") SELECT ?1, ?2, ?3, ?4, ?5, ?6 ",
            r#"WHERE NOT EXISTS (SELECT 1 FROM "verification" WHERE "identifier" = ?2)"#
        ))
        .bind(&verification.id)
        .bind(&verification.identifier)
        .bind(&verification.value)
        .bind(date_text(verification.expires_at)?)
        .bind(date_text(verification.created_at)?)
        .bind(date_text(verification.updated_at)?)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn delete_verifications(&self, identifier: &str) -> StoreResult<()> {
        sqlx::query(r#"DELETE FROM "verification" WHERE "identifier" = ?1"#)
            .bind(identifier)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn sweep_expired(&self, now: OffsetDateTime) -> StoreResult<()> {
        self.delete_expired(now).await.map(drop)
    }
}

/// Inserts the credential account of `user_id` if the user exists.
async fn insert_credential(
    conn: &mut SqliteConnection,
    user_id: &str,
    password: &str,
    now: &str,
) -> StoreResult<()> {
    sqlx::query(concat!(
        r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt") "#,
        r#"SELECT ?1, ?2, 'credential', ?2, ?3, ?4, ?4 WHERE EXISTS (SELECT 1 FROM "user" WHERE "id" = ?2)"#
    ))
    .bind(account_id()?)
    .bind(user_id)
    .bind(password)
    .bind(now)
    .execute(conn)
    .await
    .map_err(store_error)?;
    Ok(())
}

/// Column `at` of `row`, decoded.
fn get<'r, T>(row: &'r SqliteRow, at: usize) -> StoreResult<T>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(at).map_err(StoreError::backend)
}

/// The date in column `at`.
fn date_at(row: &SqliteRow, at: usize) -> StoreResult<OffsetDateTime> {
    parse_date(&get::<String>(row, at)?)
}

/// The user in the nine columns from `at` (`user_columns!()` order).
fn user_at(row: &SqliteRow, at: usize) -> StoreResult<User> {
    Ok(User {
        id: get(row, at)?,
        name: get(row, at + 1)?,
        email: get(row, at + 2)?,
        email_verified: get(row, at + 3)?,
        image: get(row, at + 4)?,
        created_at: date_at(row, at + 5)?,
        updated_at: date_at(row, at + 6)?,
        phone_number: get(row, at + 7)?,
        // Better Auth leaves it NULL until the number is verified.
        phone_number_verified: get::<Option<bool>>(row, at + 8)?.unwrap_or(false),
    })
}

/// The session in the eight columns from `at` (`session_columns!()` order).
fn session_at(row: &SqliteRow, at: usize) -> StoreResult<Session> {
    Ok(Session {
        id: get(row, at)?,
        token: get(row, at + 1)?,
        user_id: get(row, at + 2)?,
        expires_at: date_at(row, at + 3)?,
        created_at: date_at(row, at + 4)?,
        updated_at: date_at(row, at + 5)?,
        ip_address: get(row, at + 6)?,
        user_agent: get(row, at + 7)?,
    })
}

/// The verification in `verification_columns!()` order.
fn verification_at(row: &SqliteRow) -> StoreResult<Verification> {
    Ok(Verification {
        id: get(row, 0)?,
        identifier: get(row, 1)?,
        value: get(row, 2)?,
        expires_at: date_at(row, 3)?,
        created_at: date_at(row, 4)?,
        updated_at: date_at(row, 5)?,
    })
}

/// `time` as Better Auth stores it: `2026-11-22T02:42:33.685Z`.
fn date_text(time: OffsetDateTime) -> StoreResult<String> {
    millis(time).to_offset(UtcOffset::UTC).format(DATE_FORMAT).map_err(StoreError::backend)
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

    use super::{date_text, parse_date};

    #[test]
    fn dates_are_written_as_better_auth_writes_them() {
        let time = datetime!(2026-11-22 02:42:33.685_123 UTC);
        assert_eq!(date_text(time).unwrap(), "2026-11-22T02:42:33.685Z");
        assert_eq!(date_text(datetime!(2026-11-22 03:42:33 +01:00)).unwrap(), "2026-11-22T02:42:33.000Z");
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
