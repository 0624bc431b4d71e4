//! Where users, credentials, sessions and verification values live.
//!
//! Implement [`Store`] with plain `async fn`s to bring your own backend; the
//! crate ships [`MemoryStore`]. Every method is one atomic step that a SQL
//! backend can do in one statement or transaction: uniqueness of email and
//! phone number is the store's job, and [`Store::take_verification`] is the
//! single-use primitive the one-time-code flows are built on.

mod erased;
mod memory;
#[cfg(feature = "redis")]
mod redis;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql;

use std::error::Error;
use std::fmt;
use std::future::Future;

use serde::Serialize;
use time::OffsetDateTime;

#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use self::redis::{RedisRateLimitStore, RedisVerificationStore};
pub(crate) use erased::DynStore;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use sql::postgres::PostgresStore;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sql::sqlite::SqliteStore;

use crate::wire::date;

/// A user row (Better Auth's `user` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// 32-character id.
    pub id: String,
    /// Display name (`""` for users created by a code).
    pub name: String,
    /// Lower-cased email, unique.
    pub email: String,
    /// Whether the email was proven.
    pub email_verified: bool,
    /// Avatar URL.
    pub image: Option<String>,
    /// Creation time.
    #[serde(with = "date")]
    pub created_at: OffsetDateTime,
    /// Last update time.
    #[serde(with = "date")]
    pub updated_at: OffsetDateTime,
    /// Phone number (E.164), unique.
    pub phone_number: Option<String>,
    /// Whether the phone number was proven.
    pub phone_number_verified: bool,
}

/// A session row (Better Auth's `session` table).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// 32-character id.
    pub id: String,
    /// The 32-character secret carried (signed) in the session cookie.
    pub token: String,
    /// Owner.
    pub user_id: String,
    /// End of validity.
    #[serde(with = "date")]
    pub expires_at: OffsetDateTime,
    /// Creation time.
    #[serde(with = "date")]
    pub created_at: OffsetDateTime,
    /// Last refresh.
    #[serde(with = "date")]
    pub updated_at: OffsetDateTime,
    /// Client IP at creation (`""` when unknown).
    pub ip_address: Option<String>,
    /// `User-Agent` at creation (`""` when absent).
    pub user_agent: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("token", &"[redacted]")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A session with its user: what a signed-in request carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionWithUser {
    /// The session.
    pub session: Session,
    /// Its user.
    pub user: User,
}

/// A verification value (Better Auth's `verification` table): one-time codes.
#[derive(Clone, PartialEq, Eq)]
pub struct Verification {
    /// 32-character id.
    pub id: String,
    /// What the value is for, e.g. `email-otp:sign-in:a@b.co`. Not unique.
    pub identifier: String,
    /// `<stored code>:<attempts>`.
    pub value: String,
    /// End of validity.
    pub expires_at: OffsetDateTime,
    /// Creation time: the newest row of an identifier is the live one.
    pub created_at: OffsetDateTime,
    /// Last update.
    pub updated_at: OffsetDateTime,
}

impl fmt::Debug for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verification")
            .field("id", &self.id)
            .field("identifier", &self.identifier)
            .field("value", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The password credential of a user (`account` row with `providerId = "credential"`).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The `salt:key` scrypt hash, if the account has a password.
    pub password: Option<String>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential").field("password", &"[redacted]").finish()
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// New name.
    pub name: Option<String>,
    /// New image (`Some(None)` clears it).
    pub image: Option<Option<String>>,
    /// New email (lower-cased).
    pub email: Option<String>,
    /// New email verification state.
    pub email_verified: Option<bool>,
    /// New phone number (`Some(None)` clears it).
    pub phone_number: Option<Option<String>>,
    /// New phone verification state.
    pub phone_number_verified: Option<bool>,
}

/// The unique user field a write collided on.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    /// `user.email`.
    Email,
    /// `user.phoneNumber`.
    PhoneNumber,
}

/// A store failure.
#[derive(Debug)]
pub struct StoreError {
    kind: StoreErrorKind,
    source: Option<Box<dyn Error + Send + Sync>>,
}

/// What kind of failure a [`StoreError`] is.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreErrorKind {
    /// A unique constraint refused the write.
    Conflict(UniqueField),
    /// The backend failed (down, timed out, corrupt row, ...).
    Backend,
}

impl StoreError {
    /// A unique-constraint violation on `field`.
    pub fn conflict(field: UniqueField) -> Self {
        Self { kind: StoreErrorKind::Conflict(field), source: None }
    }

    /// A backend failure with its cause.
    pub fn backend(source: impl Into<Box<dyn Error + Send + Sync>>) -> Self {
        Self { kind: StoreErrorKind::Backend, source: Some(source.into()) }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.kind, &self.source) {
            (StoreErrorKind::Conflict(field), _) => write!(f, "unique constraint on {field:?}"),
            (StoreErrorKind::Backend, Some(source)) => write!(f, "store backend failed: {source}"),
            (StoreErrorKind::Backend, None) => f.write_str("store backend failed"),
        }
    }
}

impl Error for StoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// A backend for Kernia's state. Implement it with `async fn`s.
///
/// Each method must be atomic on its own. Times passed in come from Kernia's
/// clock; a store never reads the time itself except to skip expired rows.
pub trait Store: Send + Sync + 'static {
    /// Inserts a user, and its password credential when `password_hash` is
    /// given, in one transaction. A taken email or phone number is
    /// [`StoreError::conflict`].
    fn create_user(
        &self,
        user: User,
        password_hash: Option<String>,
    ) -> impl Future<Output = StoreResult<User>> + Send;

    /// The user with this id.
    fn find_user_by_id(&self, id: &str) -> impl Future<Output = StoreResult<Option<User>>> + Send;

    /// The user with this (lower-cased) email.
    fn find_user_by_email(&self, email: &str) -> impl Future<Output = StoreResult<Option<User>>> + Send;

    /// The user with this phone number.
    fn find_user_by_phone(&self, phone: &str) -> impl Future<Output = StoreResult<Option<User>>> + Send;

    /// Applies `patch` and sets `updatedAt`; `None` when the user is gone.
    /// A taken email or phone number is [`StoreError::conflict`].
    fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
        now: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<Option<User>>> + Send;

    /// The user's password credential, if it has one.
    fn find_credential(&self, user_id: &str) -> impl Future<Output = StoreResult<Option<Credential>>> + Send;

    /// Sets the password, creating the credential account if missing.
    fn set_password(
        &self,
        user_id: &str,
        password_hash: String,
        now: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Deletes every account (credential included) of the user.
    fn delete_accounts(&self, user_id: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// Inserts a session.
    fn create_session(&self, session: Session) -> impl Future<Output = StoreResult<()>> + Send;

    /// The unexpired session with this token, with its user.
    fn find_session(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<Option<SessionWithUser>>> + Send;

    /// Moves a session's expiry (refresh); `None` when it is gone.
    fn refresh_session(
        &self,
        token: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<Option<Session>>> + Send;

    /// Deletes the session with this token, if any.
    fn delete_session(&self, token: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// The user's unexpired sessions.
    fn list_sessions(
        &self,
        user_id: &str,
        now: OffsetDateTime,
    ) -> impl Future<Output = StoreResult<Vec<Session>>> + Send;

    /// Deletes all of the user's sessions except the one with token `keep`.
    fn delete_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Inserts a verification value (several may share an identifier).
    fn create_verification(&self, verification: Verification)
    -> impl Future<Output = StoreResult<()>> + Send;

    /// The newest verification value of `identifier`, expired or not.
    fn find_verification(
        &self,
        identifier: &str,
    ) -> impl Future<Output = StoreResult<Option<Verification>>> + Send;

    /// Atomically removes every value of `identifier` and returns the newest:
    /// of concurrent callers, exactly one receives it.
    fn take_verification(
        &self,
        identifier: &str,
    ) -> impl Future<Output = StoreResult<Option<Verification>>> + Send;

    /// Inserts `verification` only if its identifier has no value now;
    /// answers whether it was inserted.
    fn restore_verification(
        &self,
        verification: Verification,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// Deletes every value of `identifier`.
    fn delete_verifications(&self, identifier: &str) -> impl Future<Output = StoreResult<()>> + Send;

    /// Deletes sessions and verification values that expired before `now`,
    /// so tables do not grow without bound. Kernia calls it now and then
    /// (see `KerniaBuilder::sweep_interval`); stores with native expiry keep
    /// the default, which does nothing.
    fn sweep_expired(&self, now: OffsetDateTime) -> impl Future<Output = StoreResult<()>> + Send {
        let _ = now;
        async { Ok(()) }
    }
}
