//! The per-account cap on consecutive failed code verifications (NIST
//! 800-63B §5.2.2): wrong codes for one recipient are counted across codes
//! and resends; at the cap, every verification for that recipient is
//! refused until the window passes without failures.
//!
//! The count is a verification row `failures:<channel>:<address>` holding the
//! number, so it lives wherever codes live and is shared by instances. It is
//! changed by take-and-put-back: [`Store::take_verification`] hands the
//! counted failures to one request, which puts back the sum with
//! [`Store::restore_verification`] (insert only if absent) and, if another
//! request put a row back meanwhile, takes that one too and adds it. So no
//! failure is lost; only a lock check that runs while a count is taken out
//! can miss the lock, which lets at most one comparison per concurrently live
//! code through, itself bounded by the per-code attempts.
//!
//! [`Store::take_verification`]: crate::store::Store::take_verification
//! [`Store::restore_verification`]: crate::store::Store::restore_verification

use std::time::Duration;

use time::OffsetDateTime;

use crate::crypto;
use crate::error::ApiError;
use crate::observe::Recipient;
use crate::store::{DynStore, StoreError, Verification};

/// The cap on consecutive failed code verifications per recipient.
///
/// A wrong code counts; a code that is missing, expired or already burned
/// does not (no guess was tested). A correct code resets the count. At
/// `max_failures`, verifications for that address answer
/// `403 TOO_MANY_ATTEMPTS`, even with the right code, until `window` has
/// passed since the last failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    /// Consecutive failures allowed (default 100, NIST's maximum; 1 to 100).
    pub max_failures: u32,
    /// How long the count lasts after the last failure, and so how long a
    /// lock lasts (default 24 h; 1 minute to 30 days).
    pub window: Duration,
}

impl Default for Lockout {
    fn default() -> Self {
        Self { max_failures: 100, window: Duration::from_secs(24 * 3600) }
    }
}

impl Lockout {
    /// The reason a lockout is out of range, if it is.
    pub(crate) fn check(&self) -> Option<&'static str> {
        if !(1..=100).contains(&self.max_failures) {
            return Some("lockout max_failures must be 1 to 100");
        }
        if self.window < Duration::from_secs(60) || self.window > Duration::from_secs(30 * 86_400) {
            return Some("lockout window must be 1 minute to 30 days");
        }
        None
    }
}

/// The failure count of one recipient.
pub(crate) struct Failures<'a> {
    pub(crate) lockout: Lockout,
    pub(crate) store: &'a dyn DynStore,
    pub(crate) now: OffsetDateTime,
    identifier: String,
}

/// The count before and after a failure was added.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted {
    pub(crate) before: u32,
    pub(crate) after: u32,
}

fn store_failed(e: StoreError) -> ApiError {
    ApiError::internal("failure counter", &e)
}

/// How often a count put back under contention is merged before giving up.
const MERGE_ROUNDS: usize = 8;

impl<'a> Failures<'a> {
    pub(crate) fn new(
        lockout: Lockout,
        store: &'a dyn DynStore,
        now: OffsetDateTime,
        recipient: Recipient<'_>,
    ) -> Self {
        let identifier = format!("failures:{}:{}", recipient.channel().as_str(), recipient.address());
        Self { lockout, store, now, identifier }
    }

    fn live_count(&self, row: Option<Verification>) -> u32 {
        row.filter(|r| r.expires_at > self.now).and_then(|r| r.value.parse().ok()).unwrap_or(0)
    }

    /// The current count (0 when none or expired).
    pub(crate) async fn current(&self) -> Result<u32, ApiError> {
        let row = self.store.find_verification(&self.identifier).await.map_err(store_failed)?;
        Ok(self.live_count(row))
    }

    pub(crate) fn locks(&self, count: u32) -> bool {
        count >= self.lockout.max_failures
    }

    /// Adds one failure; the window restarts from now.
    pub(crate) async fn add(&self) -> Result<Counted, ApiError> {
        let mut carried = 1_u32;
        let mut before = None;
        for _ in 0..MERGE_ROUNDS {
            let taken = self.store.take_verification(&self.identifier).await.map_err(store_failed)?;
            let previous = self.live_count(taken);
            let before = *before.get_or_insert(previous);
            let after = previous.saturating_add(carried);
            if self.store.restore_verification(self.row(after)?).await.map_err(store_failed)? {
                return Ok(Counted { before, after });
            }
            carried = after;
        }
        // Heavy contention: insert anyway; a later take keeps only the newest row.
        self.store.create_verification(self.row(carried)?).await.map_err(store_failed)?;
        Ok(Counted { before: before.unwrap_or(0), after: carried })
    }

    /// Forgets the failures after a correct code.
    pub(crate) async fn reset(&self) -> Result<(), ApiError> {
        self.store.delete_verifications(&self.identifier).await.map_err(store_failed)
    }

    fn row(&self, count: u32) -> Result<Verification, ApiError> {
        let window = time::Duration::try_from(self.lockout.window).unwrap_or(time::Duration::DAY);
        Ok(Verification {
            id: crypto::random_id()?,
            identifier: self.identifier.clone(),
            value: count.to_string(),
            expires_at: self.now + window,
            created_at: self.now,
            updated_at: self.now,
        })
    }
}
