//! Rows to records, the same in both dialects but for how a date column is
//! stored.

use sqlx::{ColumnIndex, Decode, Row, Type};
use time::OffsetDateTime;

use crate::store::{Session, StoreError, StoreResult, User, Verification};

/// A result row of either dialect, read as [`User`], [`Session`] or
/// [`Verification`] columns in the order of the column macros.
pub(super) trait RecordRow: Row
where
    usize: ColumnIndex<Self>,
    for<'r> String: Decode<'r, Self::Database>,
    String: Type<Self::Database>,
    for<'r> bool: Decode<'r, Self::Database>,
    bool: Type<Self::Database>,
{
    /// The date in column `at`.
    fn date_at(&self, at: usize) -> StoreResult<OffsetDateTime>;

    /// Column `at`, decoded.
    fn decoded<'r, T>(&'r self, at: usize) -> StoreResult<T>
    where
        T: Decode<'r, Self::Database> + Type<Self::Database>,
    {
        self.try_get(at).map_err(StoreError::backend)
    }

    /// The user in the nine columns from `at` (`user_columns!()` order).
    fn user_at(&self, at: usize) -> StoreResult<User> {
        Ok(User {
            id: self.decoded(at)?,
            name: self.decoded(at + 1)?,
            email: self.decoded(at + 2)?,
            email_verified: self.decoded(at + 3)?,
            image: self.decoded(at + 4)?,
            created_at: self.date_at(at + 5)?,
            updated_at: self.date_at(at + 6)?,
            phone_number: self.decoded(at + 7)?,
            // Better Auth leaves it NULL until the number is verified.
            phone_number_verified: self.decoded::<Option<bool>>(at + 8)?.unwrap_or(false),
        })
    }

    /// The session in the eight columns from `at` (`session_columns!()` order).
    fn session_at(&self, at: usize) -> StoreResult<Session> {
        Ok(Session {
            id: self.decoded(at)?,
            token: self.decoded(at + 1)?,
            user_id: self.decoded(at + 2)?,
            expires_at: self.date_at(at + 3)?,
            created_at: self.date_at(at + 4)?,
            updated_at: self.date_at(at + 5)?,
            ip_address: self.decoded(at + 6)?,
            user_agent: self.decoded(at + 7)?,
        })
    }

    /// The verification in `verification_columns!()` order.
    fn verification_at(&self) -> StoreResult<Verification> {
        Ok(Verification {
            id: self.decoded(0)?,
            identifier: self.decoded(1)?,
            value: self.decoded(2)?,
            expires_at: self.date_at(3)?,
            created_at: self.date_at(4)?,
            updated_at: self.date_at(5)?,
        })
    }
}
