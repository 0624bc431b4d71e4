//! Options of the email OTP plugin: codes by email for sign-in, email
//! verification and password reset.

use std::sync::Arc;
use std::time::Duration;

use crate::delivery::OtpPurpose;
use crate::delivery::{self, ChangeNotice, Courier, DeliveryError, DeliveryMode, EmailSender, SendEmailOtp};
use crate::otp::{CodeOptions, Lockout, OtpStorage};
use crate::rate_limit::Rule;

/// Makes a code for `(email, purpose)`; `None` falls back to random digits.
pub type GenerateOtp = Arc<dyn Fn(&str, OtpPurpose) -> Option<String> + Send + Sync>;

/// What a second send does while a code is still live.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResendStrategy {
    /// A new code replaces the old one (default).
    #[default]
    Rotate,
    /// The live code is sent again with a fresh expiry and its attempt count
    /// kept; needs [`OtpStorage::Encrypted`] (or `Plain`), checked at build.
    Reuse,
}

/// The email OTP plugin. Add it with [`crate::KerniaBuilder::email_otp`].
///
/// ```
/// use kernia::email_otp::EmailOtp;
/// let plugin = EmailOtp::new(|email: String, otp: String, purpose| async move {
///     println!("{purpose} code for {email}: {otp}");
///     Ok(())
/// })
/// .otp_length(6)
/// .expires_in(std::time::Duration::from_secs(300))
/// .allowed_attempts(3);
/// # let _ = plugin;
/// ```
#[must_use]
#[derive(Clone)]
pub struct EmailOtp {
    pub(crate) courier: Courier,
    pub(crate) codes: CodeOptions,
    pub(crate) disable_sign_up: bool,
    pub(crate) send_verification_on_sign_up: bool,
    pub(crate) change_email: bool,
    pub(crate) rate_limit: Rule,
    pub(crate) recipient_limits: Vec<Rule>,
    pub(crate) generate_otp: Option<GenerateOtp>,
    pub(crate) resend_strategy: ResendStrategy,
    pub(crate) override_default_email_verification: bool,
    pub(crate) change_notice: Option<ChangeNotice>,
}

impl std::fmt::Debug for EmailOtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailOtp")
            .field("otp_length", &self.codes.length)
            .field("expires_in", &self.codes.expires_in)
            .field("allowed_attempts", &self.codes.allowed_attempts)
            .field("disable_sign_up", &self.disable_sign_up)
            .field("storage", &self.codes.storage)
            .field("resend_strategy", &self.resend_strategy)
            .finish_non_exhaustive()
    }
}

impl EmailOtp {
    /// The plugin with its sender `send_otp(email, otp, purpose)` and the
    /// defaults: 6 digits, 300 s, 3 attempts, sign-up allowed, codes HMAC'd
    /// at rest, delivery in the background, one code per address per 60 s
    /// and 10 per day.
    pub fn new(send_otp: impl SendEmailOtp) -> Self {
        Self {
            courier: Courier { sender: Arc::new(EmailSender(send_otp)), mode: DeliveryMode::Background },
            codes: CodeOptions::default(),
            disable_sign_up: false,
            send_verification_on_sign_up: false,
            change_email: false,
            rate_limit: Rule { window_secs: 60, max: 3 },
            recipient_limits: vec![Rule { window_secs: 60, max: 1 }, Rule { window_secs: 86_400, max: 10 }],
            generate_otp: None,
            resend_strategy: ResendStrategy::Rotate,
            override_default_email_verification: false,
            change_notice: None,
        }
    }

    /// Digits per code (default 6; 6 to 12).
    pub fn otp_length(mut self, length: usize) -> Self {
        self.codes.length = length;
        self
    }

    /// Code lifetime (default 300 s; at most one hour).
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.codes.expires_in = lifetime;
        self
    }

    /// Wrong guesses tolerated per code (default 3); the next try burns it.
    pub fn allowed_attempts(mut self, attempts: u32) -> Self {
        self.codes.allowed_attempts = attempts;
        self
    }

    /// Refuse to create accounts on `/sign-in/email-otp` (default false).
    pub fn disable_sign_up(mut self, disable: bool) -> Self {
        self.disable_sign_up = disable;
        self
    }

    /// How codes are kept at rest (default [`OtpStorage::Hmac`]).
    pub fn storage(mut self, storage: OtpStorage) -> Self {
        self.codes.storage = storage;
        self
    }

    /// Send an `email-verification` code after `/sign-up/email` (default false).
    pub fn send_verification_on_sign_up(mut self, send: bool) -> Self {
        self.send_verification_on_sign_up = send;
        self
    }

    /// Enable `/email-otp/request-email-change` and `/email-otp/change-email`
    /// (default false); the sender then also receives [`crate::delivery::OtpPurpose::ChangeEmail`].
    pub fn change_email(mut self, enabled: bool) -> Self {
        self.change_email = enabled;
        self
    }

    /// A custom code generator; returning `None` uses the default.
    pub fn generate_otp(
        mut self,
        f: impl Fn(&str, OtpPurpose) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.generate_otp = Some(Arc::new(f));
        self
    }

    /// What a resend does while a code is live (default [`ResendStrategy::Rotate`]).
    pub fn resend_strategy(mut self, strategy: ResendStrategy) -> Self {
        self.resend_strategy = strategy;
        self
    }

    /// Make `POST /send-verification-email` send an `email-verification`
    /// code instead of a link (default false).
    pub fn override_default_email_verification(mut self, enabled: bool) -> Self {
        self.override_default_email_verification = enabled;
        self
    }

    /// Whether requests wait for the sender (default [`DeliveryMode::Background`]).
    pub fn delivery(mut self, mode: DeliveryMode) -> Self {
        self.courier.mode = mode;
        self
    }

    /// The cap on consecutive wrong codes per address, across codes and
    /// resends (default [`Lockout::default`]: 100, then locked for 24 h;
    /// `None` turns it off).
    pub fn lockout(mut self, lockout: Option<Lockout>) -> Self {
        self.codes.lockout = lockout;
        self
    }

    /// Tells the old address when `/email-otp/change-email` moved the
    /// account: called with `(old_email, new_email)` after the change is
    /// stored, per the [`delivery`](Self::delivery) mode. A failure is logged,
    /// not answered (the change stands). Default: no notice.
    ///
    /// ```
    /// use kernia::email_otp::EmailOtp;
    /// let plugin = EmailOtp::new(|email: String, otp: String, purpose| async move {
    ///     println!("{purpose} code for {email}: {otp}");
    ///     Ok(())
    /// })
    /// .change_email(true)
    /// .send_change_notice(|old: String, new: String| async move {
    ///     println!("to {old}: your account's email is now {new}; not you? reset your password");
    ///     Ok(())
    /// });
    /// # let _ = plugin;
    /// ```
    pub fn send_change_notice<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String, String) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), DeliveryError>> + Send + 'static,
    {
        self.change_notice = Some(delivery::change_notice(f));
        self
    }

    /// Per-IP limit on the plugin's endpoints (default 3 per 60 s).
    pub fn rate_limit(mut self, rule: Rule) -> Self {
        self.rate_limit = rule;
        self
    }

    /// Limits on codes sent to one address, all enforced (default 1 per 60 s
    /// and 10 per 24 h). Applied only while rate limiting is on.
    pub fn recipient_limits(mut self, rules: impl IntoIterator<Item = Rule>) -> Self {
        self.recipient_limits = rules.into_iter().collect();
        self
    }
}
