//! [`PostgresStore`]: the [`Store`] on PostgreSQL, in Better Auth's layout
//! (`text` ids, `timestamptz` dates, `boolean` flags, quoted camelCase
//! columns).

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::{Decode, PgConnection, Postgres, Row, Type};
use time::OffsetDateTime;

use super::{
    JOINED_USER_AT, account_id, millis, newest, session_millis, store_error, user_millis, verification_millis,
};
use crate::store::{
    Credential, Session, SessionWithUser, Store, StoreError, StoreResult, User, UserPatch, Verification,
};

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

/// A [`Store`] on PostgreSQL. Clones share one connection pool.
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
        let mut tx = self.pool.begin().await.map_err(store_error)?;
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

    /// Deletes the sessions and verification values that expired at or
    /// before `now`; answers how many rows went. Kernia calls it through
    /// [`Store::sweep_expired`] (see `KerniaBuilder::sweep_interval`); call it
    /// yourself from a task if you prefer.
    ///
    /// # Errors
    ///
    /// A backend error when a delete fails.
    pub async fn delete_expired(&self, now: OffsetDateTime) -> Result<u64, StoreError> {
        let sessions = sqlx::query(r#"DELETE FROM "session" WHERE "expiresAt" <= $1"#)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        let verifications = sqlx::query(r#"DELETE FROM "verification" WHERE "expiresAt" <= $1"#)
            .bind(now)
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

impl Store for PostgresStore {
    async fn create_user(&self, user: User, password_hash: Option<String>) -> StoreResult<User> {
        let user = user_millis(user);
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query(concat!(
            r#"INSERT INTO "user" ("#,
            user_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(&user.id)
        .bind(&user.name)
        .bind(&user.email)
        .bind(user.email_verified)
        .bind(&user.image)
        .bind(user.created_at)
        .bind(user.updated_at)
        .bind(&user.phone_number)
        .bind(user.phone_number_verified)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if let Some(password) = password_hash {
            insert_credential(&mut tx, &user.id, &password, user.created_at).await?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(user)
    }

    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.find_user_where(concat!("SELECT ", user_columns!(), r#" FROM "user" WHERE "id" = $1"#), id).await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.find_user_where(concat!("SELECT ", user_columns!(), r#" FROM "user" WHERE "email" = $1"#), email)
            .await
    }

    async fn find_user_by_phone(&self, phone: &str) -> StoreResult<Option<User>> {
        self.find_user_where(
            concat!("SELECT ", user_columns!(), r#" FROM "user" WHERE "phoneNumber" = $1"#),
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
            r#"UPDATE "user" SET "name" = COALESCE($2, "name"), "email" = COALESCE($3, "email"), "#,
            r#""emailVerified" = COALESCE($4, "emailVerified"), "#,
            r#""image" = CASE WHEN $5 THEN $6 ELSE "image" END, "#,
            r#""phoneNumber" = CASE WHEN $7 THEN $8 ELSE "phoneNumber" END, "#,
            r#""phoneNumberVerified" = COALESCE($9, "phoneNumberVerified"), "updatedAt" = $10 "#,
            r#"WHERE "id" = $1 RETURNING "#,
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
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.map(|row| user_at(&row, 0)).transpose()
    }

    async fn find_credential(&self, user_id: &str) -> StoreResult<Option<Credential>> {
        let password: Option<Option<String>> = sqlx::query_scalar(concat!(
            r#"SELECT "password" FROM "account" "#,
            r#"WHERE "userId" = $1 AND "providerId" = 'credential' AND "accountId" = $1 LIMIT 1"#
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
        let now = millis(now);
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // Locking the user serialises concurrent calls, so a missing
        // credential is created once.
        let user: Option<String> =
            sqlx::query_scalar(r#"SELECT "id" FROM "user" WHERE "id" = $1 FOR NO KEY UPDATE"#)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(store_error)?;
        if user.is_none() {
            return Ok(());
        }
        let updated = sqlx::query(concat!(
            r#"UPDATE "account" SET "password" = $2, "updatedAt" = $3 "#,
            r#"WHERE "userId" = $1 AND "providerId" = 'credential' AND "accountId" = $1"#
        ))
        .bind(user_id)
        .bind(&password_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if updated.rows_affected() == 0 {
            insert_credential(&mut tx, user_id, &password_hash, now).await?;
        }
        tx.commit().await.map_err(store_error)
    }

    async fn delete_accounts(&self, user_id: &str) -> StoreResult<()> {
        sqlx::query(r#"DELETE FROM "account" WHERE "userId" = $1"#)
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
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&session.id)
        .bind(&session.token)
        .bind(&session.user_id)
        .bind(session.expires_at)
        .bind(session.created_at)
        .bind(session.updated_at)
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
            r#"WHERE s."token" = $1 AND s."expiresAt" > $2"#
        ))
        .bind(token)
        .bind(now)
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
            r#"UPDATE "session" SET "expiresAt" = $2, "updatedAt" = $3 WHERE "token" = $1 RETURNING "#,
            session_columns!()
        ))
        .bind(token)
        .bind(millis(expires_at))
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.map(|row| session_at(&row, 0)).transpose()
    }

    async fn delete_session(&self, token: &str) -> StoreResult<()> {
        sqlx::query(r#"DELETE FROM "session" WHERE "token" = $1"#)
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
            r#" FROM "session" WHERE "userId" = $1 AND "expiresAt" > $2 ORDER BY "createdAt""#
        ))
        .bind(user_id)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(|row| session_at(row, 0)).collect()
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        sqlx::query(r#"DELETE FROM "session" WHERE "userId" = $1 AND ($2::text IS NULL OR "token" <> $2)"#)
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
            ") VALUES ($1, $2, $3, $4, $5, $6)"
        ))
        .bind(&verification.id)
        .bind(&verification.identifier)
        .bind(&verification.value)
        .bind(verification.expires_at)
        .bind(verification.created_at)
        .bind(verification.updated_at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn find_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            verification_columns!(),
            r#" FROM "verification" WHERE "identifier" = $1 ORDER BY "createdAt" DESC LIMIT 1"#
        ))
        .bind(identifier)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.map(|row| verification_at(&row)).transpose()
    }

    async fn take_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        // One statement: concurrent deletes of the same rows wait for each
        // other, and only the first one returns them.
        let rows = sqlx::query(concat!(
            r#"DELETE FROM "verification" WHERE "identifier" = $1 RETURNING "#,
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
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        // Serialises restores of one identifier, so the check below and the
        // insert are one step for them.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(&verification.identifier)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        let inserted = sqlx::query(concat!(
            r#"INSERT INTO "verification" ("#,
            verification_columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6 ",
            r#"WHERE NOT EXISTS (SELECT 1 FROM "verification" WHERE "identifier" = $2)"#
        ))
        .bind(&verification.id)
        .bind(&verification.identifier)
        .bind(&verification.value)
        .bind(verification.expires_at)
        .bind(verification.created_at)
        .bind(verification.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn delete_verifications(&self, identifier: &str) -> StoreResult<()> {
        sqlx::query(r#"DELETE FROM "verification" WHERE "identifier" = $1"#)
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

/// Inserts the credential account of `user_id`.
async fn insert_credential(
    conn: &mut PgConnection,
    user_id: &str,
    password: &str,
    now: OffsetDateTime,
) -> StoreResult<()> {
    sqlx::query(concat!(
        r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt") "#,
        r#"VALUES ($1, $2, 'credential', $2, $3, $4, $4)"#
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
fn get<'r, T>(row: &'r PgRow, at: usize) -> StoreResult<T>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    row.try_get(at).map_err(StoreError::backend)
}

/// The user in the nine columns from `at` (`user_columns!()` order).
fn user_at(row: &PgRow, at: usize) -> StoreResult<User> {
    Ok(User {
        id: get(row, at)?,
        name: get(row, at + 1)?,
        email: get(row, at + 2)?,
        email_verified: get(row, at + 3)?,
        image: get(row, at + 4)?,
        created_at: get(row, at + 5)?,
        updated_at: get(row, at + 6)?,
        phone_number: get(row, at + 7)?,
        // Better Auth leaves it NULL until the number is verified.
        phone_number_verified: get::<Option<bool>>(row, at + 8)?.unwrap_or(false),
    })
}

/// The session in the eight columns from `at` (`session_columns!()` order).
fn session_at(row: &PgRow, at: usize) -> StoreResult<Session> {
    Ok(Session {
        id: get(row, at)?,
        token: get(row, at + 1)?,
        user_id: get(row, at + 2)?,
        expires_at: get(row, at + 3)?,
        created_at: get(row, at + 4)?,
        updated_at: get(row, at + 5)?,
        ip_address: get(row, at + 6)?,
        user_agent: get(row, at + 7)?,
    })
}

/// The verification in `verification_columns!()` order.
fn verification_at(row: &PgRow) -> StoreResult<Verification> {
    Ok(Verification {
        id: get(row, 0)?,
        identifier: get(row, 1)?,
        value: get(row, 2)?,
        expires_at: get(row, 3)?,
        created_at: get(row, 4)?,
        updated_at: get(row, 5)?,
    })
}
