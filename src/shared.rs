//! The frozen configuration every request reads: what one `Arc` in
//! `KerniaLayer` points at.

use std::sync::Arc;

use time::Duration;

use crate::client_ip::ClientIpConfig;
use crate::clock::Clock;
use crate::cookies::CookieJar;
use crate::crypto::{Sealer, Signer};
use crate::email_otp::EmailOtp;
use crate::hooks::Hooks;
use crate::origin::Origins;
use crate::otp::OtpPolicy;
use crate::password::PasswordHasher;
use crate::phone_number::PhoneNumber;
use crate::rate_limit::RateLimiter;
use crate::store::DynStore;

pub(crate) struct Shared {
    pub(crate) base_path: String,
    pub(crate) signer: Signer,
    pub(crate) sealer: Sealer,
    pub(crate) cookies: CookieJar,
    pub(crate) store: Arc<dyn DynStore>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) hasher: PasswordHasher,
    pub(crate) rate_limiter: Option<RateLimiter>,
    pub(crate) origins: Origins,
    pub(crate) origin_check: bool,
    pub(crate) csrf_check: bool,
    pub(crate) client_ip: ClientIpConfig,
    pub(crate) max_body_bytes: usize,
    pub(crate) session: SessionConfig,
    pub(crate) email_password: EmailPasswordConfig,
    pub(crate) revoke_sessions_on_password_reset: bool,
    pub(crate) email_otp: Option<Plugin<EmailOtp>>,
    pub(crate) phone_number: Option<Plugin<PhoneNumber>>,
    pub(crate) sweep: Option<Sweep>,
    pub(crate) request_timeout: Option<std::time::Duration>,
    pub(crate) hooks: Hooks,
}

/// The opportunistic clean-up of expired rows: at most once per `interval`,
/// started by an auth request, run in its own task.
#[derive(Debug)]
pub(crate) struct Sweep {
    pub(crate) interval_ms: i64,
    pub(crate) next_ms: std::sync::atomic::AtomicI64,
}

impl Shared {
    /// Starts a sweep when one is due (one winner per interval).
    pub(crate) fn maybe_sweep(&self, now: time::OffsetDateTime) {
        use std::sync::atomic::Ordering;
        let Some(sweep) = &self.sweep else { return };
        let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
        let due = sweep.next_ms.load(Ordering::Relaxed);
        let next = now_ms.saturating_add(sweep.interval_ms);
        if now_ms < due
            || sweep.next_ms.compare_exchange(due, next, Ordering::AcqRel, Ordering::Relaxed).is_err()
        {
            return;
        }
        let store = self.store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.sweep_expired(now).await {
                tracing::warn!(target: "kernia", error = %e, "sweeping expired rows failed");
            }
        });
    }
}

/// A configured plugin with its code policy.
#[derive(Debug)]
pub(crate) struct Plugin<T> {
    pub(crate) options: T,
    pub(crate) policy: OtpPolicy,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kernia")
            .field("base_path", &self.base_path)
            .field("secret", &"[redacted]")
            .field("cookies", &self.cookies.session_token)
            .field("origins", &self.origins)
            .field("rate_limiter", &self.rate_limiter)
            .field("session", &self.session)
            .field("email_password", &self.email_password)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Whether a route's plugin is configured.
    pub(crate) fn serves(&self, route: crate::router::Route) -> bool {
        use crate::router::Route::*;
        match route {
            EmailOtpSend
            | EmailOtpCheck
            | EmailOtpVerifyEmail
            | SignInEmailOtp
            | EmailOtpRequestPasswordReset
            | ForgetPasswordEmailOtp
            | EmailOtpResetPassword
            | EmailOtpRequestEmailChange
            | EmailOtpChangeEmail
            | SendVerificationEmail => self.email_otp.is_some(),
            PhoneSendOtp
            | PhoneVerify
            | SignInPhoneNumber
            | PhoneRequestPasswordReset
            | PhoneResetPassword => self.phone_number.is_some(),
            _ => true,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SessionConfig {
    pub(crate) expires_in: Duration,
    pub(crate) update_age: Duration,
    pub(crate) fresh_age: Duration,
    pub(crate) disable_refresh: bool,
}

/// Sessions made with `rememberMe: false` last one day in the store.
pub(crate) const DONT_REMEMBER_LIFETIME: Duration = Duration::days(1);

#[derive(Debug, Clone)]
pub(crate) struct EmailPasswordConfig {
    pub(crate) enabled: bool,
    pub(crate) disable_sign_up: bool,
    pub(crate) min_password_length: usize,
    pub(crate) max_password_length: usize,
    pub(crate) auto_sign_in: bool,
    pub(crate) require_email_verification: bool,
}
