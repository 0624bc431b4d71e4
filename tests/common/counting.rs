//! [`Counting`]: a [`Probe`] for the OTP race tests. It counts code takes,
//! the takes that allowed a comparison and the sessions kept, records every
//! verification row written, and yields around the verification steps to
//! widen the race windows.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use kernia::store::{MemoryStore, StoreResult, Verification};

use super::probe::{Op, Probe, Probed};
use super::{App, Reply};

/// A [`MemoryStore`] counted by [`Counting`].
pub type CountingStore = Probed<MemoryStore, Counting>;

#[derive(Clone)]
pub struct Counting {
    allowed_attempts: u32,
    takes: Arc<AtomicUsize>,
    comparisons: Arc<AtomicUsize>,
    sessions: Arc<AtomicUsize>,
    /// `(identifier, value)` of every inserted verification row.
    created: Arc<Mutex<Vec<(String, String)>>>,
}

impl Counting {
    /// A fresh [`CountingStore`] for codes allowing `allowed_attempts` wrong guesses.
    pub fn store(allowed_attempts: u32) -> CountingStore {
        let counting = Self {
            allowed_attempts,
            takes: Arc::default(),
            comparisons: Arc::default(),
            sessions: Arc::default(),
            created: Arc::default(),
        };
        Probed::new(MemoryStore::new(), counting)
    }

    /// Codes taken (not the `failures:…` counters).
    pub fn takes(&self) -> usize {
        self.takes.load(Ordering::SeqCst)
    }

    /// Takes of a code whose stored attempts still allowed a comparison.
    pub fn comparisons(&self) -> usize {
        self.comparisons.load(Ordering::SeqCst)
    }

    /// Sessions created and not deleted again.
    pub fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }

    /// `(identifier, value)` of every verification row inserted, in order.
    pub fn created(&self) -> Vec<(String, String)> {
        self.created.lock().unwrap().clone()
    }
}

impl Probe for Counting {
    async fn before<'a>(&'a self, op: Op<'a>) -> StoreResult<()> {
        match op.name {
            "create_session" => {
                self.sessions.fetch_add(1, Ordering::SeqCst);
            }
            // Sessions taken back by a request that lost the race do not count.
            "delete_session" => {
                self.sessions.fetch_sub(1, Ordering::SeqCst);
            }
            "create_verification" => {
                if let Some(row) = op.verification {
                    self.created.lock().unwrap().push((row.identifier.clone(), row.value.clone()));
                }
                tokio::task::yield_now().await;
            }
            "find_verification" | "take_verification" => tokio::task::yield_now().await,
            _ => {}
        }
        Ok(())
    }

    async fn after<'a>(&'a self, op: Op<'a>) {
        if op.name == "find_verification" {
            tokio::task::yield_now().await;
        }
    }

    fn took(&self, _identifier: &str, taken: Option<&Verification>) {
        // Codes only: the per-recipient failure counter (`failures:…`) is taken too.
        let Some(row) = taken.filter(|row| !row.identifier.starts_with("failures:")) else { return };
        self.takes.fetch_add(1, Ordering::SeqCst);
        let attempts = row.value.rsplit_once(':').and_then(|(_, n)| n.parse::<u32>().ok()).unwrap_or(0);
        if attempts < self.allowed_attempts {
            self.comparisons.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// [`App::new`] over a fresh [`CountingStore`] (codes allow 3 attempts, the default).
pub fn counting_app() -> (App, CountingStore) {
    let store = Counting::store(3);
    let app = App::with({
        let store = store.clone();
        move |b| b.store(store)
    });
    (app, store)
}

/// After wrong guesses raced for one code and `comparisons` of them were
/// compared (read before `after`, the right code, was tried): at most
/// `allowed` were, and the right code works exactly when attempts are left.
#[track_caller]
pub fn assert_attempts_accounted(comparisons: usize, allowed: usize, after: &Reply) {
    assert!(comparisons <= allowed, "comparisons {comparisons}");
    // Every wrong comparison re-inserts the row with attempts + 1; a guess that
    // loses the take race is INVALID_OTP without costing an attempt
    // (email-otp.md §3 step 2, phone-number.md §3 step 4). So the code is dead
    // exactly when all allowed attempts were spent.
    if comparisons == allowed {
        assert!(
            after.status == 400 || after.status == 403,
            "right code must fail afterwards: {}",
            after.body
        );
    } else {
        assert_eq!(after.status, 200, "attempts left, the right code still works: {}", after.body);
    }
}
