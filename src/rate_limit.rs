//! Rate limiting with Better Auth's rules (core.md §5): a fixed window per
//! `<ip>|<path>` key, checked before routing. The counting lives behind
//! [`RateLimitStore`] so several instances can share one backend.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crate::error::ApiError;
use crate::store::StoreError;

/// How many requests a key may make per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Window length in seconds.
    pub window_secs: u64,
    /// Requests allowed inside one window.
    pub max: u64,
}

/// The answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// Refused; retry after this many seconds.
    Deny {
        /// Seconds until the window of the last allowed request ends.
        retry_after: u64,
    },
}

/// Counts requests per key. Implement it with `async fn` for a shared backend.
pub trait RateLimitStore: Send + Sync + 'static {
    /// Records a request for `key` at `now_ms` under `rule`, atomically:
    /// allowed when the window since the last allowed request has passed or
    /// fewer than `rule.max` requests were allowed in it.
    fn hit(
        &self,
        key: &str,
        rule: Rule,
        now_ms: i64,
    ) -> impl Future<Output = Result<Decision, StoreError>> + Send;
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub(crate) trait DynRateLimitStore: Send + Sync + 'static {
    fn hit<'a>(
        &'a self,
        key: &'a str,
        rule: Rule,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Decision, StoreError>>;
}

impl<T: RateLimitStore> DynRateLimitStore for T {
    fn hit<'a>(
        &'a self,
        key: &'a str,
        rule: Rule,
        now_ms: i64,
    ) -> BoxFuture<'a, Result<Decision, StoreError>> {
        Box::pin(RateLimitStore::hit(self, key, rule, now_ms))
    }
}

/// Counters in process memory (one instance only).
#[derive(Debug, Clone, Default)]
pub struct MemoryRateLimitStore {
    entries: Arc<Mutex<Entries>>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, Window>,
    inserts: u64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    count: u64,
    last_ms: i64,
    window_ms: i64,
}

impl MemoryRateLimitStore {
    /// An empty counter table.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Better Auth's counting step for one key (core.md §5.4).
fn step(entry: Option<&mut Window>, rule: Rule, now_ms: i64) -> (Decision, Option<Window>) {
    let window_ms = i64::try_from(rule.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let fresh = Window { count: 1, last_ms: now_ms, window_ms };
    match entry {
        None => (Decision::Allow, Some(fresh)),
        Some(w) if now_ms.saturating_sub(w.last_ms) >= window_ms => {
            *w = fresh;
            (Decision::Allow, None)
        }
        Some(w) if w.count >= rule.max => {
            let remaining_ms = w.last_ms.saturating_add(window_ms).saturating_sub(now_ms);
            let retry_after = u64::try_from(remaining_ms).unwrap_or(0).div_ceil(1000);
            (Decision::Deny { retry_after }, None)
        }
        Some(w) => {
            w.count = w.count.saturating_add(1);
            w.last_ms = now_ms;
            (Decision::Allow, None)
        }
    }
}

impl RateLimitStore for MemoryRateLimitStore {
    async fn hit(&self, key: &str, rule: Rule, now_ms: i64) -> Result<Decision, StoreError> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (decision, new) = step(entries.map.get_mut(key), rule, now_ms);
        if let Some(window) = new {
            entries.map.insert(key.to_owned(), window);
            entries.inserts = entries.inserts.wrapping_add(1);
            if entries.inserts.is_multiple_of(4096) {
                entries.map.retain(|_, w| now_ms.saturating_sub(w.last_ms) < w.window_ms);
            }
        }
        Ok(decision)
    }
}

/// The rule table: Better Auth's built-ins, then the enabled plugins' rules.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) default: Rule,
    pub(crate) email_otp: Option<Rule>,
    pub(crate) phone_number: Option<Rule>,
}

const EMAIL_OTP_PATHS: [&str; 9] = [
    "/email-otp/send-verification-otp",
    "/email-otp/check-verification-otp",
    "/email-otp/verify-email",
    "/sign-in/email-otp",
    "/email-otp/request-password-reset",
    "/email-otp/reset-password",
    "/forget-password/email-otp",
    "/email-otp/request-email-change",
    "/email-otp/change-email",
];

impl Rules {
    pub(crate) fn for_path(&self, path: &str) -> Rule {
        let mut rule = self.built_in(path);
        if let Some(r) = self.email_otp.filter(|_| EMAIL_OTP_PATHS.contains(&path)) {
            rule = r;
        } else if let Some(r) = self.phone_number.filter(|_| path.starts_with("/phone-number")) {
            rule = r;
        }
        rule
    }

    fn built_in(&self, path: &str) -> Rule {
        const STRICT: [&str; 4] = ["/sign-in", "/sign-up", "/change-password", "/change-email"];
        const SENDS: [&str; 4] = [
            "/request-password-reset",
            "/send-verification-email",
            "/email-otp/send-verification-otp",
            "/email-otp/request-password-reset",
        ];
        if STRICT.iter().any(|p| path.starts_with(p)) {
            Rule { window_secs: 10, max: 3 }
        } else if SENDS.contains(&path) || path.starts_with("/forget-password") {
            Rule { window_secs: 60, max: 3 }
        } else {
            self.default
        }
    }
}

/// The limiter a layer uses: rules plus the counting backend.
#[derive(Clone)]
pub(crate) struct RateLimiter {
    pub(crate) rules: Rules,
    pub(crate) store: Arc<dyn DynRateLimitStore>,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter").field("rules", &self.rules).finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// Counts the request under its path's rule; a denial is the 429 answer.
    pub(crate) async fn check(&self, ip: &str, path: &str, now_ms: i64) -> Result<(), ApiError> {
        self.enforce(&format!("{ip}|{path}"), self.rules.for_path(path), now_ms).await
    }

    /// Counts one event under `key` and `rule` (also per-recipient limits,
    /// whose keys name the address; a window restarts only `window` after
    /// the last allowed event, so no boundary lets a burst through).
    pub(crate) async fn enforce(&self, key: &str, rule: Rule, now_ms: i64) -> Result<(), ApiError> {
        match self.store.hit(key, rule, now_ms).await {
            Ok(Decision::Allow) => Ok(()),
            // The caller logs the `rate_limited` event: it knows the scope and route.
            Ok(Decision::Deny { retry_after }) => Err(ApiError::too_many_requests(retry_after)),
            Err(e) => Err(ApiError::internal("rate limit store", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourth_request_in_window_is_denied_with_retry_after() {
        let rule = Rule { window_secs: 10, max: 3 };
        let mut w = None::<Window>;
        for t in [0, 1000, 2000] {
            let (d, new) = step(w.as_mut(), rule, t);
            assert_eq!(d, Decision::Allow);
            if new.is_some() {
                w = new;
            }
        }
        let (d, _) = step(w.as_mut(), rule, 2500);
        assert_eq!(d, Decision::Deny { retry_after: 10 });
        let (d, _) = step(w.as_mut(), rule, 12000);
        assert_eq!(d, Decision::Allow);
    }

    #[test]
    fn rules_follow_better_auth_priorities() {
        let rules = Rules {
            default: Rule { window_secs: 10, max: 100 },
            email_otp: Some(Rule { window_secs: 60, max: 3 }),
            phone_number: Some(Rule { window_secs: 60, max: 10 }),
        };
        assert_eq!(rules.for_path("/sign-in/email"), Rule { window_secs: 10, max: 3 });
        assert_eq!(rules.for_path("/sign-in/email-otp"), Rule { window_secs: 60, max: 3 });
        assert_eq!(rules.for_path("/sign-in/phone-number"), Rule { window_secs: 10, max: 3 });
        assert_eq!(rules.for_path("/phone-number/send-otp"), Rule { window_secs: 60, max: 10 });
        assert_eq!(rules.for_path("/get-session"), Rule { window_secs: 10, max: 100 });
    }
}
