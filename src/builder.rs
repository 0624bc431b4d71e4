//! [`KerniaBuilder`]: every option, with secure defaults; bad configuration
//! fails in [`KerniaBuilder::build`], never at request time.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use time::Duration;

use crate::client_ip::ClientIpConfig;
use crate::clock::{Clock, SystemClock};
use crate::cookies::CookieJar;
use crate::crypto::{Sealer, Signer};
use crate::email_otp::{EmailOtp, ResendStrategy};
use crate::error::{ConfigError, ErrorCode};
use crate::hooks::{self, HookError, Hooks, SignIn, SignUp, Verification};
use crate::layer::KerniaLayer;
use crate::origin::{Origins, origin_of};
use crate::password::PasswordHasher;
use crate::phone_number::PhoneNumber;
use crate::rate_limit::{DynRateLimitStore, MemoryRateLimitStore, RateLimitStore, RateLimiter, Rule, Rules};
use crate::shared::{EmailPasswordConfig, Plugin, SessionConfig, Shared, Sweep};
use crate::store::{DynStore, MemoryStore, Store};
use std::sync::atomic::AtomicI64;

const DEFAULT_BASE_PATH: &str = "/api/auth";

/// Configures a [`KerniaLayer`]. Start from [`KerniaLayer::builder`].
///
/// ```
/// use kernia::KerniaLayer;
/// let layer = KerniaLayer::builder()
///     .secret("a-long-random-secret-of-at-least-32-bytes!")
///     .base_url("https://app.example.com")
///     .trusted_origins(["https://admin.example.com"])
///     .build()?;
/// assert_eq!(layer.base_path(), "/api/auth");
/// # Ok::<(), kernia::ConfigError>(())
/// ```
#[must_use]
pub struct KerniaBuilder {
    secret: String,
    base_url: Option<String>,
    base_path: Option<String>,
    trusted_origins: Vec<String>,
    cookie_prefix: String,
    use_secure_cookies: bool,
    session: SessionConfig,
    email_password: EmailPasswordConfig,
    store: Arc<dyn DynStore>,
    clock: Arc<dyn Clock>,
    rate_limit: bool,
    rate_limit_store: Arc<dyn DynRateLimitStore>,
    rate_limit_default: Rule,
    client_ip: ClientIpConfig,
    disable_origin_check: bool,
    disable_csrf_check: Option<bool>,
    max_body_bytes: usize,
    password_hash_concurrency: usize,
    revoke_sessions_on_password_reset: bool,
    email_otp: Option<EmailOtp>,
    phone_number: Option<PhoneNumber>,
    sweep_interval: Option<StdDuration>,
    request_timeout: Option<StdDuration>,
    hooks: Hooks,
}

impl std::fmt::Debug for KerniaBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerniaBuilder")
            .field("secret", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("base_path", &self.base_path)
            .finish_non_exhaustive()
    }
}

impl Default for KerniaBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl KerniaBuilder {
    /// The defaults: memory store, rate limits on, origin checks on, sessions
    /// of 7 days refreshed daily, email+password enabled with 8–128 characters.
    pub fn new() -> Self {
        Self {
            secret: String::new(),
            base_url: None,
            base_path: None,
            trusted_origins: Vec::new(),
            cookie_prefix: "better-auth".to_owned(),
            use_secure_cookies: false,
            session: SessionConfig {
                expires_in: Duration::days(7),
                update_age: Duration::days(1),
                fresh_age: Duration::days(1),
                disable_refresh: false,
            },
            email_password: EmailPasswordConfig {
                enabled: true,
                disable_sign_up: false,
                min_password_length: 8,
                max_password_length: 128,
                auto_sign_in: true,
                require_email_verification: false,
            },
            store: Arc::new(MemoryStore::new()),
            clock: Arc::new(SystemClock),
            rate_limit: true,
            rate_limit_store: Arc::new(MemoryRateLimitStore::new()),
            rate_limit_default: Rule { window_secs: 10, max: 100 },
            client_ip: ClientIpConfig::default(),
            disable_origin_check: false,
            disable_csrf_check: None,
            max_body_bytes: 64 * 1024,
            password_hash_concurrency: std::thread::available_parallelism().map_or(2, usize::from),
            revoke_sessions_on_password_reset: false,
            email_otp: None,
            phone_number: None,
            sweep_interval: Some(StdDuration::from_secs(60)),
            request_timeout: Some(StdDuration::from_secs(10)),
            hooks: Hooks::default(),
        }
    }

    /// The key for cookie signatures (required; at least 32 bytes advised).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = secret.into();
        self
    }

    /// Where the app is served, e.g. `https://app.example.com`. Its origin is
    /// trusted; an `https` URL turns on `Secure` cookies with the `__Secure-`
    /// prefix; a path in it becomes the base path.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The path the auth endpoints live under (default `/api/auth`).
    pub fn base_path(mut self, path: impl Into<String>) -> Self {
        self.base_path = Some(path.into());
        self
    }

    /// More origins (`scheme://host[:port]`) allowed to send state-changing requests.
    pub fn trusted_origins<I, T>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.trusted_origins.extend(origins.into_iter().map(Into::into));
        self
    }

    /// Cookie name prefix (default `better-auth`, which the official client ecosystem expects).
    pub fn cookie_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.cookie_prefix = prefix.into();
        self
    }

    /// `Secure` cookies with the `__Secure-` prefix even without an https base URL.
    pub fn use_secure_cookies(mut self, secure: bool) -> Self {
        self.use_secure_cookies = secure;
        self
    }

    /// Session lifetime (default 7 days).
    pub fn session_expires_in(mut self, lifetime: StdDuration) -> Self {
        self.session.expires_in = to_time(lifetime);
        self
    }

    /// How old a session gets before `/get-session` extends it (default 1 day).
    pub fn session_update_age(mut self, age: StdDuration) -> Self {
        self.session.update_age = to_time(age);
        self
    }

    /// How recent a sign-in must be for `/list-sessions` (default 1 day; zero disables).
    pub fn session_fresh_age(mut self, age: StdDuration) -> Self {
        self.session.fresh_age = to_time(age);
        self
    }

    /// Never extend sessions on `/get-session`.
    pub fn disable_session_refresh(mut self, disable: bool) -> Self {
        self.session.disable_refresh = disable;
        self
    }

    /// Enables `/sign-up/email` and `/sign-in/email` (default true).
    pub fn email_and_password(mut self, enabled: bool) -> Self {
        self.email_password.enabled = enabled;
        self
    }

    /// Refuses `/sign-up/email` while keeping password sign-in.
    pub fn disable_email_sign_up(mut self, disable: bool) -> Self {
        self.email_password.disable_sign_up = disable;
        self
    }

    /// Minimum password length in UTF-16 units (default 8).
    pub fn min_password_length(mut self, length: usize) -> Self {
        self.email_password.min_password_length = length;
        self
    }

    /// Maximum password length in UTF-16 units (default 128).
    pub fn max_password_length(mut self, length: usize) -> Self {
        self.email_password.max_password_length = length;
        self
    }

    /// Sign the user in after `/sign-up/email` (default true).
    pub fn auto_sign_in(mut self, enabled: bool) -> Self {
        self.email_password.auto_sign_in = enabled;
        self
    }

    /// Refuse password sign-in until the email is verified (default false).
    pub fn require_email_verification(mut self, required: bool) -> Self {
        self.email_password.require_email_verification = required;
        self
    }

    /// Where state lives (default: [`MemoryStore`]).
    pub fn store(mut self, store: impl Store) -> Self {
        self.store = Arc::new(store);
        self
    }

    /// The time source (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Rate limiting with Better Auth's rules (default on).
    ///
    /// # Security
    /// Off, nothing bounds password or code guessing per client.
    pub fn rate_limit(mut self, enabled: bool) -> Self {
        self.rate_limit = enabled;
        self
    }

    /// Where rate-limit counters live (default: in memory).
    pub fn rate_limit_store(mut self, store: impl RateLimitStore) -> Self {
        self.rate_limit_store = Arc::new(store);
        self
    }

    /// Headers that carry the client IP, read in order (default: none, the
    /// TCP peer address is used).
    ///
    /// # Security
    /// Only set this behind a proxy that overwrites these headers: clients
    /// can send any value.
    pub fn ip_address_headers<I, T>(mut self, headers: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.client_ip.headers = headers.into_iter().map(|h| h.into().to_ascii_lowercase()).collect();
        self
    }

    /// Proxies whose `X-Forwarded-For` hops are skipped (rightmost first).
    pub fn trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpAddr>) -> Self {
        self.client_ip.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// Don't track client IPs (every client shares the rate-limit buckets).
    pub fn disable_ip_tracking(mut self, disable: bool) -> Self {
        self.client_ip.disabled = disable;
        self
    }

    /// Turns off the `Origin` check (and, unless set otherwise, the CSRF check).
    ///
    /// # Security
    /// Cookie-bearing requests from any site are then accepted.
    pub fn disable_origin_check(mut self, disable: bool) -> Self {
        self.disable_origin_check = disable;
        self
    }

    /// Turns off the CSRF checks: the `Origin` test of cookie-bearing
    /// requests and the form-CSRF check of first-login endpoints (callback
    /// URLs are still checked).
    ///
    /// # Security
    /// Cross-site requests riding on the user's cookies are then accepted.
    pub fn disable_csrf_check(mut self, disable: bool) -> Self {
        self.disable_csrf_check = Some(disable);
        self
    }

    /// Largest request body accepted, in bytes (default 64 KiB; larger is 413).
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Password hashes computed at once (default: the number of cores), each on a
    /// dedicated thread at the lowest CPU priority. Each takes 32 MiB.
    pub fn password_hash_concurrency(mut self, concurrency: usize) -> Self {
        self.password_hash_concurrency = concurrency;
        self
    }

    /// End every session of a user whose password is reset by code (default false).
    pub fn revoke_sessions_on_password_reset(mut self, revoke: bool) -> Self {
        self.revoke_sessions_on_password_reset = revoke;
        self
    }

    /// How often expired sessions and codes are deleted (default every 60 s,
    /// started by an auth request; `None` turns it off for apps that clean
    /// up themselves).
    pub fn sweep_interval(mut self, interval: Option<StdDuration>) -> Self {
        self.sweep_interval = interval;
        self
    }

    /// The longest an auth request may take before it is answered `503
    /// SERVICE_UNAVAILABLE` (default 10 s). It bounds a stalled store, a full
    /// password-hashing queue and an awaited delivery alike; the work in flight
    /// is dropped, which rolls back SQL transactions. `None` waits forever.
    pub fn request_timeout(mut self, timeout: Option<StdDuration>) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Adds the email OTP plugin.
    pub fn email_otp(mut self, plugin: EmailOtp) -> Self {
        self.email_otp = Some(plugin);
        self
    }

    /// Adds the phone number plugin.
    pub fn phone_number(mut self, plugin: PhoneNumber) -> Self {
        self.phone_number = Some(plugin);
        self
    }

    /// Called after a user is created, by `/sign-up/email`, `/sign-in/email-otp`
    /// (a new address) or `/phone-number/verify` (a new number); awaited
    /// before the response. An error answers 500 and the user stays: see
    /// [`crate::hooks`] for the rules and why to provision in
    /// [`after_sign_in`](Self::after_sign_in) too.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use kernia::{KerniaLayer, hooks::SignUp};
    /// use tower::{Layer, ServiceExt};
    ///
    /// let profiles = Arc::new(Mutex::new(Vec::new()));
    /// let rows = profiles.clone();
    /// let auth = KerniaLayer::builder()
    ///     .secret("a-long-random-secret-of-at-least-32-bytes!")
    ///     .base_url("http://localhost:3000")
    ///     .after_sign_up(move |event: SignUp| {
    ///         let rows = rows.clone();
    ///         async move {
    ///             // e.g. INSERT INTO profile (user_id) VALUES ($1) ON CONFLICT DO NOTHING
    ///             rows.lock().map_err(|_| "poisoned")?.push(event.user.id);
    ///             Ok(())
    ///         }
    ///     })
    ///     .build()?;
    ///
    /// let app = auth.layer(tower::service_fn(|_: http::Request<String>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
    /// }));
    /// let sign_up = http::Request::post("/api/auth/sign-up/email")
    ///     .header("content-type", "application/json")
    ///     .body(r#"{"name":"Ada","email":"ada@example.com","password":"correct horse"}"#.to_owned())?;
    /// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    /// let response = runtime.block_on(app.oneshot(sign_up))?;
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(profiles.lock().map_err(|_| "poisoned")?.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn after_sign_up<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(SignUp) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HookError>> + Send + 'static,
    {
        self.hooks.sign_up = Some(hooks::boxed(hook));
        self
    }

    /// Called after every sign-in that hands out a session (password, email
    /// code, phone code, phone + password, and sign-up with auto sign-in),
    /// with the user and the new session; awaited before the response. An
    /// error answers 500 and the session is deleted, so the client is not
    /// signed in; signing in again runs the hook again (see [`crate::hooks`]).
    ///
    /// ```
    /// use kernia::{KerniaLayer, hooks::SignIn};
    /// let auth = KerniaLayer::builder()
    ///     .secret("a-long-random-secret-of-at-least-32-bytes!")
    ///     .after_sign_in(|event: SignIn| async move {
    ///         println!("{} signed in ({:?}, new user: {})", event.user.id, event.method, event.new_user);
    ///         Ok(())
    ///     })
    ///     .build()?;
    /// # Ok::<(), kernia::ConfigError>(())
    /// ```
    pub fn after_sign_in<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(SignIn) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HookError>> + Send + 'static,
    {
        self.hooks.sign_in = Some(hooks::boxed(hook));
        self
    }

    /// Called after a user proves an address with `/email-otp/verify-email`
    /// or `/phone-number/verify` (which also attaches a number with
    /// `updatePhoneNumber`), with the updated user; awaited before the
    /// response. An error answers 500; the address stays verified.
    ///
    /// ```
    /// use kernia::{KerniaLayer, hooks::{Channel, Verification}};
    /// let auth = KerniaLayer::builder()
    ///     .secret("a-long-random-secret-of-at-least-32-bytes!")
    ///     .after_verification(|event: Verification| async move {
    ///         if event.channel == Channel::Sms {
    ///             println!("{} proved {:?}", event.user.id, event.user.phone_number);
    ///         }
    ///         Ok(())
    ///     })
    ///     .build()?;
    /// # Ok::<(), kernia::ConfigError>(())
    /// ```
    pub fn after_verification<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Verification) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HookError>> + Send + 'static,
    {
        self.hooks.verification = Some(hooks::boxed(hook));
        self
    }

    /// Validates the configuration and builds the layer.
    ///
    /// # Errors
    /// [`ConfigError`] for an empty secret, a malformed base URL, base path or
    /// trusted origin, a bad cookie prefix, or an option out of range.
    pub fn build(mut self) -> Result<KerniaLayer, ConfigError> {
        if self.secret.is_empty() {
            return Err(ConfigError::MissingSecret);
        }
        check_range(&self)?;
        if self.secret.len() < 32 {
            tracing::warn!(target: "kernia", "the secret is shorter than 32 bytes; use a long random value");
        }
        let (own_origin, url_path) = match &self.base_url {
            Some(url) => parse_base_url(url)?,
            None => (None, None),
        };
        let base_path =
            validate_base_path(self.base_path.or(url_path).unwrap_or_else(|| DEFAULT_BASE_PATH.to_owned()))?;
        let trusted = self
            .trusted_origins
            .into_iter()
            .map(|o| match origin_of(&o) {
                Some(origin) if origin.len() == o.trim_end_matches('/').len() => Ok(origin.to_owned()),
                _ => Err(ConfigError::InvalidTrustedOrigin(o)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        validate_cookie_prefix(&self.cookie_prefix)?;
        let email_otp = match self.email_otp.take() {
            Some(p) => {
                if p.resend_strategy == ResendStrategy::Reuse && !p.codes.storage.recoverable() {
                    return Err(ConfigError::OutOfRange {
                        option: "email_otp",
                        reason: "resend_strategy Reuse needs OtpStorage::Encrypted (hashed codes cannot be resent)",
                    });
                }
                let policy = p.codes.policy("email_otp", ErrorCode::InvalidOtp)?;
                Some(Plugin { options: p, policy })
            }
            None => None,
        };
        let phone_number = match self.phone_number.take() {
            Some(p) => {
                let policy = p.codes.policy("phone_number", ErrorCode::OtpNotFound)?;
                Some(Plugin { options: p, policy })
            }
            None => None,
        };
        let secure =
            self.use_secure_cookies || self.base_url.as_deref().is_some_and(|u| u.starts_with("https://"));
        let shared = Shared {
            base_path,
            signer: Signer::new(self.secret.as_bytes()),
            sealer: Sealer::new(self.secret.as_bytes()),
            cookies: CookieJar::new(&self.cookie_prefix, secure),
            store: self.store,
            clock: self.clock,
            hasher: PasswordHasher::new(self.password_hash_concurrency),
            rate_limiter: self.rate_limit.then(|| RateLimiter {
                rules: Rules {
                    default: self.rate_limit_default,
                    email_otp: email_otp.as_ref().map(|p| p.options.rate_limit),
                    phone_number: phone_number.as_ref().map(|p| p.options.rate_limit),
                },
                store: self.rate_limit_store,
            }),
            origins: Origins::new(own_origin.unwrap_or_default(), trusted),
            origin_check: !self.disable_origin_check,
            csrf_check: !self.disable_csrf_check.unwrap_or(self.disable_origin_check),
            client_ip: self.client_ip,
            max_body_bytes: self.max_body_bytes,
            session: self.session,
            email_password: self.email_password,
            revoke_sessions_on_password_reset: self.revoke_sessions_on_password_reset,
            email_otp,
            phone_number,
            sweep: self.sweep_interval.map(|interval| Sweep {
                interval_ms: i64::try_from(interval.as_millis()).unwrap_or(i64::MAX).max(1),
                next_ms: AtomicI64::new(0),
            }),
            request_timeout: self.request_timeout,
            hooks: self.hooks,
        };
        Ok(KerniaLayer { shared: Arc::new(shared) })
    }
}

fn to_time(duration: StdDuration) -> Duration {
    Duration::try_from(duration).unwrap_or(Duration::MAX)
}

/// `(origin, path)` of `http(s)://host[:port][/path]`.
fn parse_base_url(url: &str) -> Result<(Option<String>, Option<String>), ConfigError> {
    let invalid = || ConfigError::InvalidBaseUrl(url.to_owned());
    let origin = origin_of(url).ok_or_else(invalid)?;
    let rest = &url[origin.len()..];
    if rest.contains(['?', '#']) || origin.contains(char::is_whitespace) {
        return Err(invalid());
    }
    let path = rest.trim_end_matches('/');
    Ok((Some(origin.to_ascii_lowercase()), (!path.is_empty()).then(|| path.to_owned())))
}

fn validate_base_path(path: String) -> Result<String, ConfigError> {
    let ok = path.starts_with('/') && path.len() > 1 && !path.ends_with('/') && !path.contains("//");
    if ok { Ok(path) } else { Err(ConfigError::InvalidBasePath(path)) }
}

fn validate_cookie_prefix(prefix: &str) -> Result<(), ConfigError> {
    let ok = !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok { Ok(()) } else { Err(ConfigError::InvalidCookiePrefix(prefix.to_owned())) }
}

fn check_range(builder: &KerniaBuilder) -> Result<(), ConfigError> {
    let out = |option, reason| Err(ConfigError::OutOfRange { option, reason });
    let session = &builder.session;
    if session.expires_in <= Duration::ZERO || session.expires_in > Duration::days(400) {
        return out("session_expires_in", "must be between 1 second and 400 days (the cookie Max-Age limit)");
    }
    if session.update_age > session.expires_in {
        return out("session_update_age", "must not exceed session_expires_in");
    }
    let passwords = &builder.email_password;
    if passwords.min_password_length == 0 || passwords.min_password_length > passwords.max_password_length {
        return out("min_password_length", "must be at least 1 and at most max_password_length");
    }
    if builder.max_body_bytes < 1024 {
        return out("max_body_bytes", "must be at least 1024");
    }
    if builder.password_hash_concurrency == 0 {
        return out("password_hash_concurrency", "must be at least 1");
    }
    Ok(())
}
