//! What a SQL dialect supplies to `sql_store!`: how it binds a time, opens a
//! write transaction and serialises the writes that check before they
//! insert, and the statements it spells its own way.

use sqlx::query::Query;
use sqlx::{Database, Transaction};
use time::OffsetDateTime;

use crate::store::StoreResult;

/// A connection of the dialect's driver.
pub(super) type Connection<D> = <<D as Dialect>::Db as Database>::Connection;

/// A statement with its arguments bound, ready to run.
pub(super) type BoundQuery<D> =
    Query<'static, <D as Dialect>::Db, <<D as Dialect>::Db as Database>::Arguments>;

/// The parts of a SQL store that differ between SQLite and PostgreSQL; the
/// rest of its [`Store`](crate::store::Store) implementation is `sql_store!`.
pub(super) trait Dialect {
    /// The sqlx driver.
    type Db: Database;
    /// A time as the dialect binds it.
    type Date;

    /// The session with its user (`session_with_user_columns!()`) whose
    /// token is `$1`, unless it expired at `$2`.
    const FIND_SESSION: &'static str;
    /// The sessions (`session_columns!()`) of user `$1` unexpired at `$2`,
    /// oldest first.
    const LIST_SESSIONS: &'static str;
    /// Deletes the sessions of user `$1` but the one whose token is `$2`
    /// (all of them when `$2` is NULL).
    const DELETE_OTHER_SESSIONS: &'static str;
    /// The newest verification (`verification_columns!()`) of identifier `$1`.
    const FIND_VERIFICATION: &'static str;
    /// Deletes the sessions that expired at or before `$1`.
    const DELETE_EXPIRED_SESSIONS: &'static str;
    /// Deletes the verifications that expired at or before `$1`.
    const DELETE_EXPIRED_VERIFICATIONS: &'static str;
    /// Inserts a credential account: id `$1`, user `$2`, password hash `$3`,
    /// created and updated at `$4`.
    const INSERT_CREDENTIAL: &'static str;

    /// `time` as the dialect binds it. Times written go through `millis`
    /// first; the `now` an expiry is compared with does not.
    fn date(time: OffsetDateTime) -> StoreResult<Self::Date>;

    /// A transaction for writes that read first.
    async fn begin(&self) -> StoreResult<Transaction<'static, Self::Db>>;

    /// Keeps other transactions from writing the credential of `user_id`
    /// until `conn`'s transaction ends; false when there is no such user.
    async fn lock_user(conn: &mut Connection<Self>, user_id: &str) -> StoreResult<bool>;

    /// Runs `insert`, which inserts a verification of `identifier` unless
    /// one exists, so that concurrent calls for one identifier insert once;
    /// answers how many rows it inserted.
    async fn insert_if_absent(&self, identifier: &str, insert: BoundQuery<Self>) -> StoreResult<u64>;
}
