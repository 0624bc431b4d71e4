//! The frozen configuration every request reads: what one `Arc` in
//! `KerniaLayer` points at.

use std::sync::Arc;

use time::Duration;

use crate::client_ip::ClientIpConfig;
use crate::clock::Clock;
use crate::cookies::CookieJar;
use crate::crypto::Signer;
use crate::origin::Origins;
use crate::password::PasswordHasher;
use crate::rate_limit::RateLimiter;
use crate::store::DynStore;

pub(crate) struct Shared {
    pub(crate) base_path: String,
    pub(crate) signer: Signer,
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
            .finish_non_exhaustive()
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
