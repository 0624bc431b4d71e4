//! SQL stores that serve Better Auth's own tables (`user`, `session`,
//! `account`, `verification`) as Better Auth's CLI migrations create them.
//!
//! Everything that must be atomic is atomic in the database, not in this
//! process: unique constraints guard email and phone number, `create_user`
//! and `set_password` are transactions, and `take_verification` is one
//! `DELETE … RETURNING` statement, so several app instances can share one
//! database. This module holds what both dialects share: column lists, error
//! mapping and value normalisation here, row decoding in `records`, and the
//! whole [`Store`](super::Store) implementation in `sql_store!`, on top of
//! what each [`Dialect`](dialect::Dialect) does its own way.

use time::{Duration, OffsetDateTime};

use super::{Session, StoreError, UniqueField, User, Verification};

/// The `user` columns in the order `user_at` decodes them.
macro_rules! user_columns {
    () => {
        r#""id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt", "phoneNumber", "phoneNumberVerified""#
    };
}

/// The `session` columns in the order `session_at` decodes them.
macro_rules! session_columns {
    () => {
        r#""id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent""#
    };
}

/// The `verification` columns in the order `verification_at` decodes them.
macro_rules! verification_columns {
    () => {
        r#""id", "identifier", "value", "expiresAt", "createdAt", "updatedAt""#
    };
}

/// `session_columns!()` then `user_columns!()` of `"session" s JOIN "user" u`.
macro_rules! session_with_user_columns {
    () => {
        r#"s."id", s."token", s."userId", s."expiresAt", s."createdAt", s."updatedAt", s."ipAddress", s."userAgent", u."id", u."name", u."email", u."emailVerified", u."image", u."createdAt", u."updatedAt", u."phoneNumber", u."phoneNumberVerified""#
    };
}

#[macro_use]
mod store_impl;
mod dialect;
mod records;

// After the macros, so both dialects see them.
#[cfg(feature = "postgres")]
pub(super) mod postgres;
#[cfg(feature = "sqlite")]
pub(super) mod sqlite;

/// Position of the first user column in `session_with_user_columns!()`.
const JOINED_USER_AT: usize = 8;

/// Maps a database error to a [`StoreError`]: a unique violation on the
/// email or phone number becomes a conflict, anything else a backend failure.
fn store_error(error: sqlx::Error) -> StoreError {
    match unique_field(&error) {
        Some(field) => StoreError::conflict(field),
        None => StoreError::backend(error),
    }
}

/// Which user field a unique violation is about, read from the constraint
/// name (PostgreSQL: `user_email_key`) or the message (SQLite: `UNIQUE
/// constraint failed: user.phoneNumber`). Other unique violations (ids,
/// session tokens) are not conflicts a caller can act on.
fn unique_field(error: &sqlx::Error) -> Option<UniqueField> {
    let error = error.as_database_error()?;
    if !error.is_unique_violation() {
        return None;
    }
    let name = error.constraint().unwrap_or_else(|| error.message()).to_ascii_lowercase();
    if name.contains("phone") {
        Some(UniqueField::PhoneNumber)
    } else if name.contains("email") {
        Some(UniqueField::Email)
    } else {
        None
    }
}

/// `time` truncated to whole milliseconds: the precision Better Auth (a
/// JavaScript `Date`) writes and reads, identical on every backend.
fn millis(time: OffsetDateTime) -> OffsetDateTime {
    time - Duration::nanoseconds(i64::from(time.nanosecond() % 1_000_000))
}

/// A fresh 32-character id for a credential `account` row.
fn account_id() -> Result<String, StoreError> {
    crate::crypto::random_id().map_err(StoreError::backend)
}

/// The newest of `rows` by creation time; of equal times, the last.
fn newest(rows: Vec<Verification>) -> Option<Verification> {
    rows.into_iter().max_by_key(|row| row.created_at)
}

/// A verification with its times truncated to milliseconds.
fn verification_millis(verification: Verification) -> Verification {
    Verification {
        expires_at: millis(verification.expires_at),
        created_at: millis(verification.created_at),
        updated_at: millis(verification.updated_at),
        ..verification
    }
}

/// A user with its times truncated to milliseconds.
fn user_millis(user: User) -> User {
    User { created_at: millis(user.created_at), updated_at: millis(user.updated_at), ..user }
}

/// A session with its times truncated to milliseconds.
fn session_millis(session: Session) -> Session {
    Session {
        expires_at: millis(session.expires_at),
        created_at: millis(session.created_at),
        updated_at: millis(session.updated_at),
        ..session
    }
}
