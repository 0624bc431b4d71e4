//! Redis backends for the state several app instances must share: rate-limit
//! counters and verification values (one-time codes).
//!
//! Both are short-lived, hot, and only correct when every check-and-change is
//! atomic across instances, which is what Redis does well:
//!
//! - [`RedisRateLimitStore`] runs Better Auth's whole counting step (see
//!   [`crate::rate_limit`]) in one Lua script, so concurrent requests on any
//!   instance see and update one counter without a read-modify-write race.
//! - [`RedisVerificationStore`] keeps the newest value of each identifier
//!   under one key and wraps another [`Store`] for everything else. Taking a
//!   code is a single `GETDEL`, so of concurrent verifiers exactly one gets it;
//!   restoring is `SET NX`; creating goes through a script that never replaces
//!   a newer value (a wrong guess re-inserts the value it took, while a resend
//!   may already have stored a newer one).
//!
//! Nothing in Redis needs sweeping: every key carries a TTL. A counter vanishes one window
//! after the last allowed request, when it could no longer deny anything; a
//! code vanishes a grace period after it expires, so a late attempt is still
//! told the code expired rather than that it is unknown.
//!
//! Keys are `<prefix>rl:<key>` and `<prefix>v:<identifier>`, prefix
//! `kernia:` unless set. Each script touches one key, so Redis Cluster works.
//! Verification values are JSON with dates as Unix milliseconds (the
//! precision Kernia's dates have). `GETDEL` needs Redis 6.2 or later.

use std::borrow::Cow;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ::redis::aio::ConnectionManager;
use ::redis::{Client, RedisError, Script};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    Credential, Session, SessionWithUser, Store, StoreError, StoreResult, User, UserPatch, Verification,
};
use crate::rate_limit::{Decision, RateLimitStore, Rule};

/// The key prefix both stores use unless told otherwise.
const DEFAULT_PREFIX: &str = "kernia:";

/// How long a verification value is kept past its expiry by default.
const DEFAULT_EXPIRY_GRACE: Duration = Duration::from_secs(300);

/// The longest TTL set on any key (100 years): far beyond any real window or
/// code lifetime, and well inside what `PEXPIRE` accepts.
const MAX_TTL_MS: i64 = 100 * 365 * 24 * 60 * 60 * 1000;

/// Better Auth's counting step for one key, atomically.
///
/// `KEYS[1]` is the counter hash {count, last}; `ARGV` is now (ms), the
/// window (ms) and the maximum. Answers -1 to allow, or the seconds to wait.
/// `last` is stored from the argument string, as Lua would print a large
/// number in exponent notation.
const RATE_LIMIT_LUA: &str = r"
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local max = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'count', 'last')
local count = tonumber(state[1])
local last = tonumber(state[2])
if count == nil or last == nil or now - last >= window then
  redis.call('HSET', KEYS[1], 'count', 1, 'last', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return -1
end
if count >= max then
  return math.ceil((last + window - now) / 1000)
end
redis.call('HSET', KEYS[1], 'count', count + 1, 'last', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return -1
";

/// Stores a verification value unless the stored one is newer.
///
/// `KEYS[1]` is the identifier's key; `ARGV` is the JSON value, its
/// `createdAt` (ms) and the TTL (ms). An equal `createdAt` replaces, as the
/// later insert is the newest row. Answers 1 when stored, 0 when kept.
const CREATE_VERIFICATION_LUA: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local ok, stored = pcall(cjson.decode, current)
  if ok and type(stored) == 'table' then
    local created = tonumber(stored.createdAt)
    if created and created > tonumber(ARGV[2]) then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return 1
";

static RATE_LIMIT_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RATE_LIMIT_LUA));
static CREATE_VERIFICATION_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(CREATE_VERIFICATION_LUA));

fn backend(e: RedisError) -> StoreError {
    StoreError::backend(e)
}

/// Opens a [`ConnectionManager`] (which reconnects by itself) to `url`.
async fn open(url: &str) -> StoreResult<ConnectionManager> {
    let client = Client::open(url).map_err(backend)?;
    ConnectionManager::new(client).await.map_err(backend)
}

/// A duration in whole milliseconds, within `0..=MAX_TTL_MS`.
fn clamp_ms(ms: i128) -> i64 {
    i64::try_from(ms.clamp(0, i128::from(MAX_TTL_MS))).unwrap_or(MAX_TTL_MS)
}

/// Rate-limit counters in Redis, shared by every instance using the same
/// server and prefix. Clones share one connection.
///
/// ```no_run
/// # async fn demo() -> Result<(), kernia::store::StoreError> {
/// use kernia::store::RedisRateLimitStore;
///
/// let limits = RedisRateLimitStore::connect("redis://127.0.0.1:6379").await?;
/// # let _ = limits;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RedisRateLimitStore {
    connection: ConnectionManager,
    prefix: Arc<str>,
}

impl RedisRateLimitStore {
    /// Connects to the Redis server at `url` (e.g. `redis://127.0.0.1:6379`).
    ///
    /// # Errors
    ///
    /// A backend [`StoreError`] when the URL is invalid or the server cannot
    /// be reached.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Ok(Self::from_connection(open(url).await?))
    }

    /// Uses an existing connection (e.g. one shared with the app).
    pub fn from_connection(connection: ConnectionManager) -> Self {
        Self { connection, prefix: Arc::from(DEFAULT_PREFIX) }
    }

    /// Puts counters under `<prefix>rl:` instead of `kernia:rl:`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}rl:{key}", self.prefix)
    }
}

/// The script's answer as a decision: -1 allows, anything else is the wait.
fn decision(answer: i64) -> Decision {
    match u64::try_from(answer) {
        Ok(retry_after) => Decision::Deny { retry_after },
        Err(_) => Decision::Allow,
    }
}

impl RateLimitStore for RedisRateLimitStore {
    async fn hit(&self, key: &str, rule: Rule, now_ms: i64) -> StoreResult<Decision> {
        let window_ms = clamp_ms(i128::from(rule.window_secs).saturating_mul(1000));
        let mut connection = self.connection.clone();
        let answer: i64 = RATE_LIMIT_SCRIPT
            .key(self.key(key))
            .arg(now_ms)
            .arg(window_ms)
            .arg(rule.max)
            .invoke_async(&mut connection)
            .await
            .map_err(backend)?;
        Ok(decision(answer))
    }
}

/// A [`Store`] keeping verification values in Redis and everything else
/// (users, credentials, sessions) in `inner`, e.g. a SQL store.
///
/// Only the newest value of an identifier is kept, which is all the
/// [`Store`] contract lets anyone observe. Values expire by themselves a
/// grace period (default 5 minutes) after their `expiresAt`; until then they
/// are found and reported as expired. Clones share one connection.
///
/// ```no_run
/// # async fn demo() -> Result<(), kernia::store::StoreError> {
/// use kernia::store::{MemoryStore, RedisVerificationStore};
///
/// let store = RedisVerificationStore::connect(MemoryStore::new(), "redis://127.0.0.1:6379").await?;
/// # let _ = store;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct RedisVerificationStore<S> {
    inner: S,
    connection: ConnectionManager,
    prefix: Arc<str>,
    grace: Duration,
}

impl<S: Store> RedisVerificationStore<S> {
    /// Wraps `inner`, keeping verification values on `connection`.
    pub fn new(inner: S, connection: ConnectionManager) -> Self {
        Self { inner, connection, prefix: Arc::from(DEFAULT_PREFIX), grace: DEFAULT_EXPIRY_GRACE }
    }

    /// Wraps `inner`, keeping verification values on the Redis server at `url`.
    ///
    /// # Errors
    ///
    /// A backend [`StoreError`] when the URL is invalid or the server cannot
    /// be reached.
    pub async fn connect(inner: S, url: &str) -> StoreResult<Self> {
        Ok(Self::new(inner, open(url).await?))
    }

    /// Puts values under `<prefix>v:` instead of `kernia:v:`.
    #[must_use]
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Arc::from(prefix.into());
        self
    }

    /// How long a value is kept past its `expiresAt` (default 5 minutes).
    #[must_use]
    pub fn with_expiry_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The store that keeps everything but verification values.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn key(&self, identifier: &str) -> String {
        format!("{}v:{identifier}", self.prefix)
    }

    /// Time from the value's last write to its expiry, plus the grace. Taken
    /// from the value's own dates (Kernia's clock), never from this host's.
    fn ttl_ms(&self, verification: &Verification) -> i64 {
        let valid = (verification.expires_at - verification.updated_at).whole_milliseconds();
        let grace = i128::try_from(self.grace.as_millis()).unwrap_or(i128::MAX);
        clamp_ms(valid.max(0).saturating_add(grace)).max(1)
    }

    fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }
}

/// A verification value as stored: JSON, dates in Unix milliseconds.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    id: Cow<'a, str>,
    identifier: Cow<'a, str>,
    value: Cow<'a, str>,
    expires_at: i64,
    created_at: i64,
    updated_at: i64,
}

fn unix_ms(date: OffsetDateTime) -> i64 {
    let ms = date.unix_timestamp_nanos().div_euclid(1_000_000);
    i64::try_from(ms).unwrap_or(if ms < 0 { i64::MIN } else { i64::MAX })
}

fn from_unix_ms(ms: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).map_err(StoreError::backend)
}

fn encode(verification: &Verification) -> StoreResult<String> {
    let record = Record {
        id: Cow::Borrowed(&verification.id),
        identifier: Cow::Borrowed(&verification.identifier),
        value: Cow::Borrowed(&verification.value),
        expires_at: unix_ms(verification.expires_at),
        created_at: unix_ms(verification.created_at),
        updated_at: unix_ms(verification.updated_at),
    };
    serde_json::to_string(&record).map_err(StoreError::backend)
}

/// Parses a stored value; one that does not parse is a backend error.
fn decode(json: Option<String>) -> StoreResult<Option<Verification>> {
    let Some(json) = json else { return Ok(None) };
    let record: Record<'_> = serde_json::from_str(&json).map_err(StoreError::backend)?;
    Ok(Some(Verification {
        id: record.id.into_owned(),
        identifier: record.identifier.into_owned(),
        value: record.value.into_owned(),
        expires_at: from_unix_ms(record.expires_at)?,
        created_at: from_unix_ms(record.created_at)?,
        updated_at: from_unix_ms(record.updated_at)?,
    }))
}

impl<S: Store> Store for RedisVerificationStore<S> {
    async fn create_user(&self, user: User, password_hash: Option<String>) -> StoreResult<User> {
        self.inner.create_user(user, password_hash).await
    }

    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.inner.find_user_by_id(id).await
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.inner.find_user_by_email(email).await
    }

    async fn find_user_by_phone(&self, phone: &str) -> StoreResult<Option<User>> {
        self.inner.find_user_by_phone(phone).await
    }

    async fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        self.inner.update_user(id, patch, now).await
    }

    async fn find_credential(&self, user_id: &str) -> StoreResult<Option<Credential>> {
        self.inner.find_credential(user_id).await
    }

    async fn set_password(
        &self,
        user_id: &str,
        password_hash: String,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.inner.set_password(user_id, password_hash, now).await
    }

    async fn delete_accounts(&self, user_id: &str) -> StoreResult<()> {
        self.inner.delete_accounts(user_id).await
    }

    async fn create_session(&self, session: Session) -> StoreResult<()> {
        self.inner.create_session(session).await
    }

    async fn find_session(&self, token: &str, now: OffsetDateTime) -> StoreResult<Option<SessionWithUser>> {
        self.inner.find_session(token, now).await
    }

    async fn refresh_session(
        &self,
        token: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Session>> {
        self.inner.refresh_session(token, expires_at, now).await
    }

    async fn delete_session(&self, token: &str) -> StoreResult<()> {
        self.inner.delete_session(token).await
    }

    async fn list_sessions(&self, user_id: &str, now: OffsetDateTime) -> StoreResult<Vec<Session>> {
        self.inner.list_sessions(user_id, now).await
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        self.inner.delete_user_sessions(user_id, keep).await
    }

    async fn create_verification(&self, verification: Verification) -> StoreResult<()> {
        let _stored: i64 = CREATE_VERIFICATION_SCRIPT
            .key(self.key(&verification.identifier))
            .arg(encode(&verification)?)
            .arg(unix_ms(verification.created_at))
            .arg(self.ttl_ms(&verification))
            .invoke_async(&mut self.connection())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn find_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        let json: Option<String> = ::redis::cmd("GET")
            .arg(self.key(identifier))
            .query_async(&mut self.connection())
            .await
            .map_err(backend)?;
        decode(json)
    }

    async fn take_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        let json: Option<String> = ::redis::cmd("GETDEL")
            .arg(self.key(identifier))
            .query_async(&mut self.connection())
            .await
            .map_err(backend)?;
        decode(json)
    }

    async fn restore_verification(&self, verification: Verification) -> StoreResult<bool> {
        let stored: Option<String> = ::redis::cmd("SET")
            .arg(self.key(&verification.identifier))
            .arg(encode(&verification)?)
            .arg("NX")
            .arg("PX")
            .arg(self.ttl_ms(&verification))
            .query_async(&mut self.connection())
            .await
            .map_err(backend)?;
        Ok(stored.is_some())
    }

    async fn delete_verifications(&self, identifier: &str) -> StoreResult<()> {
        let _removed: i64 = ::redis::cmd("DEL")
            .arg(self.key(identifier))
            .query_async(&mut self.connection())
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Sweeps the inner store (its sessions); codes here expire by their TTLs.
    async fn sweep_expired(&self, now: OffsetDateTime) -> StoreResult<()> {
        self.inner.sweep_expired(now).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_answers_map_to_decisions() {
        assert_eq!(decision(-1), Decision::Allow);
        assert_eq!(decision(10), Decision::Deny { retry_after: 10 });
    }

    #[test]
    fn dates_travel_as_milliseconds() {
        let date = OffsetDateTime::UNIX_EPOCH + time::Duration::milliseconds(1_700_000_000_123);
        assert_eq!(unix_ms(date), 1_700_000_000_123);
        assert_eq!(from_unix_ms(unix_ms(date)).ok(), Some(date));
        let before_epoch = OffsetDateTime::UNIX_EPOCH - time::Duration::microseconds(1500);
        assert_eq!(unix_ms(before_epoch), -2);
    }

    #[test]
    fn corrupt_values_are_backend_errors() {
        assert!(decode(Some("not json".to_owned())).is_err());
        assert!(matches!(decode(None), Ok(None)));
    }
}
