//! The one-time-code state machine every flow shares (email and phone):
//! issue → verify (expired, attempts, single use) or check without consuming.
//! Single use rests on [`crate::store::Store::take_verification`]: of
//! concurrent verifiers exactly one takes the value, so at most one
//! comparison runs per stored attempt count.

use time::{Duration, OffsetDateTime};

use crate::crypto::{self, Sealer, Signer};
use crate::error::{ApiError, ConfigError, ErrorCode};
use crate::lockout::Failures;
pub use crate::lockout::Lockout;
use crate::observe::{self, Recipient};
use crate::store::{DynStore, StoreError, Verification};

/// How codes are kept at rest.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OtpStorage {
    /// HMAC-SHA256 keyed with the server secret (default): a stolen table
    /// does not reveal codes, and without the secret they cannot be brute-forced offline.
    #[default]
    Hmac,
    /// Better Auth's `hashed` mode: unkeyed SHA-256 (base64url), for sharing a
    /// database with a Better Auth server configured that way.
    Sha256,
    /// Better Auth's `encrypted` mode: XChaCha20-Poly1305 under a key
    /// derived from the secret. Codes can be recovered, which the `reuse`
    /// resend strategy needs.
    Encrypted,
    /// Better Auth's default `plain` mode. Readable by anyone who reads the table.
    Plain,
}

impl OtpStorage {
    /// Whether a stored code can be turned back into the code.
    pub(crate) fn recoverable(self) -> bool {
        matches!(self, Self::Encrypted | Self::Plain)
    }
}

/// The policy of one code channel.
#[derive(Debug, Clone)]
pub(crate) struct OtpPolicy {
    pub(crate) length: usize,
    pub(crate) expires_in: Duration,
    pub(crate) allowed_attempts: u32,
    pub(crate) storage: OtpStorage,
    /// What a missing code answers: `INVALID_OTP` (email) or `OTP_NOT_FOUND` (phone).
    pub(crate) missing: ErrorCode,
    /// The cap on consecutive failures per recipient (K5), if any.
    pub(crate) lockout: Option<Lockout>,
}

/// A plugin's code options as its builder sets them; checked into an
/// [`OtpPolicy`] when the layer is built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CodeOptions {
    pub(crate) length: usize,
    pub(crate) expires_in: std::time::Duration,
    pub(crate) allowed_attempts: u32,
    pub(crate) storage: OtpStorage,
    pub(crate) lockout: Option<Lockout>,
}

impl Default for CodeOptions {
    /// 6 digits, 300 s, 3 attempts, HMAC'd at rest, the default lockout.
    fn default() -> Self {
        Self {
            length: 6,
            expires_in: std::time::Duration::from_secs(300),
            allowed_attempts: 3,
            storage: OtpStorage::Hmac,
            lockout: Some(Lockout::default()),
        }
    }
}

impl CodeOptions {
    /// The checked policy: at least 6 digits (NIST's 20 bits), a lifetime of
    /// at most an hour, 1 to 10 attempts, a lockout of at most 100
    /// consecutive failures.
    pub(crate) fn policy(&self, plugin: &'static str, missing: ErrorCode) -> Result<OtpPolicy, ConfigError> {
        let out = |reason| Err(ConfigError::OutOfRange { option: plugin, reason });
        if !(6..=12).contains(&self.length) {
            return out("otp_length must be 6 to 12 digits");
        }
        if self.expires_in.is_zero() || self.expires_in > std::time::Duration::from_secs(3600) {
            return out("expires_in must be 1 second to 1 hour");
        }
        if !(1..=10).contains(&self.allowed_attempts) {
            return out("allowed_attempts must be 1 to 10");
        }
        if let Some(reason) = self.lockout.as_ref().and_then(Lockout::check) {
            return out(reason);
        }
        Ok(OtpPolicy {
            length: self.length,
            expires_in: Duration::try_from(self.expires_in).unwrap_or(Duration::MAX),
            allowed_attempts: self.allowed_attempts,
            storage: self.storage,
            missing,
            lockout: self.lockout,
        })
    }
}

/// One code a request names: where it is stored, whom it went to, and why.
#[derive(Debug)]
pub(crate) struct CodeKey<'a> {
    pub(crate) identifier: String,
    pub(crate) recipient: Recipient<'a>,
    /// The purpose label for logs (`sign-in`, `phone-verification`, ...).
    pub(crate) purpose: &'static str,
}

/// Whether a successful verify spends the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The spend after a [`Mode::Restore`] check (see [`Otp::consume`]).
    Consume,
    /// Check only: the code stays usable (a wrong guess still counts). The
    /// first step of every flow: it enforces the lockout and resets it.
    Restore,
}

/// Proof that a code was verified; only [`Otp::verify`] makes one.
#[derive(Debug)]
#[must_use]
pub(crate) struct OtpVerified(Option<Verification>);

pub(crate) struct Otp<'a> {
    pub(crate) policy: &'a OtpPolicy,
    pub(crate) store: &'a dyn DynStore,
    pub(crate) signer: &'a Signer,
    pub(crate) sealer: &'a Sealer,
    pub(crate) now: OffsetDateTime,
}

fn store_failed(e: StoreError) -> ApiError {
    ApiError::internal("verification store", &e)
}

/// A code just stored, with the id of its verification row (so an
/// undelivered code can be withdrawn without touching a newer one).
#[derive(Debug)]
pub(crate) struct Issued {
    pub(crate) code: String,
    pub(crate) id: String,
}

impl Otp<'_> {
    fn stored_form(&self, code: &str) -> Result<String, ApiError> {
        Ok(match self.policy.storage {
            OtpStorage::Hmac => self.signer.sign_url_safe(code),
            OtpStorage::Sha256 => crypto::sha256_url_safe(code),
            OtpStorage::Encrypted => self.sealer.seal(code)?,
            OtpStorage::Plain => code.to_owned(),
        })
    }

    fn recover(&self, stored: &str) -> Option<String> {
        match self.policy.storage {
            OtpStorage::Encrypted => self.sealer.open(stored),
            OtpStorage::Plain => Some(stored.to_owned()),
            OtpStorage::Hmac | OtpStorage::Sha256 => None,
        }
    }

    /// Whether `code` is the one kept as `stored`, in constant time.
    fn matches(&self, stored: &str, code: &str) -> Result<bool, ApiError> {
        Ok(match self.policy.storage {
            OtpStorage::Encrypted => {
                self.sealer.open(stored).is_some_and(|c| crypto::ct_eq(c.as_bytes(), code.as_bytes()))
            }
            _ => crypto::ct_eq(self.stored_form(code)?.as_bytes(), stored.as_bytes()),
        })
    }

    /// A new random code for `identifier`; the newest code is the live one.
    pub(crate) async fn issue(&self, identifier: &str) -> Result<Issued, ApiError> {
        self.issue_code(identifier, crypto::random_digits(self.policy.length)?).await
    }

    /// Stores `code` (e.g. from a custom generator) as the live one.
    pub(crate) async fn issue_code(&self, identifier: &str, code: String) -> Result<Issued, ApiError> {
        let id = crypto::random_id()?;
        let verification = Verification {
            id: id.clone(),
            identifier: identifier.to_owned(),
            value: format!("{}:0", self.stored_form(&code)?),
            expires_at: self.now + self.policy.expires_in,
            created_at: self.now,
            updated_at: self.now,
        };
        self.store.create_verification(verification).await.map_err(store_failed)?;
        Ok(Issued { code, id })
    }

    /// Checks `code` against the live value of `key`.
    pub(crate) async fn verify(
        &self,
        key: &CodeKey<'_>,
        code: &str,
        mode: Mode,
    ) -> Result<OtpVerified, ApiError> {
        let failures = self.failures(key).filter(|_| mode == Mode::Restore);
        let newest = self.store.find_verification(&key.identifier);
        // The recipient's count and the code are read at once: the lock check
        // adds no round trip to the request's latency.
        let (counted, newest) = match &failures {
            Some(failures) => tokio::join!(failures.current(), newest),
            None => (Ok(0), newest.await),
        };
        let (counted, newest) = (counted?, newest.map_err(store_failed)?);
        if failures.as_ref().is_some_and(|f| f.locks(counted)) {
            observe::verify_failed(key.purpose, key.recipient, "locked");
            return Err(ErrorCode::TooManyAttempts.into());
        }
        let verified = self.compare(key, code, mode, newest).await?;
        if let Some(failures) = failures.filter(|_| counted > 0) {
            failures.reset().await?;
        }
        if mode == Mode::Consume {
            observe::code_verified(key.purpose, key.recipient);
        }
        Ok(verified)
    }

    fn failures(&self, key: &CodeKey<'_>) -> Option<Failures<'_>> {
        let lockout = self.policy.lockout?;
        Some(Failures::new(lockout, self.store, self.now, key.recipient))
    }

    /// One comparison of `code` with `newest`, the live value of `key`, under
    /// the attempt budget; a wrong code is counted against the code and the
    /// recipient.
    async fn compare(
        &self,
        key: &CodeKey<'_>,
        code: &str,
        mode: Mode,
        newest: Option<Verification>,
    ) -> Result<OtpVerified, ApiError> {
        let (store, identifier) = (self.store, key.identifier.as_str());
        let Some(newest) = newest else {
            observe::verify_failed(key.purpose, key.recipient, "missing");
            return Err(self.policy.missing.into());
        };
        if newest.expires_at < self.now {
            store.delete_verifications(identifier).await.map_err(store_failed)?;
            observe::verify_failed(key.purpose, key.recipient, "expired");
            return Err(ErrorCode::OtpExpired.into());
        }
        let Some(taken) = store.take_verification(identifier).await.map_err(store_failed)? else {
            observe::verify_failed(key.purpose, key.recipient, "missing");
            return Err(ErrorCode::InvalidOtp.into());
        };
        let (stored, attempts) = split_value(&taken.value);
        if attempts >= self.policy.allowed_attempts {
            observe::attempts_exhausted(key.purpose, key.recipient);
            return Err(ErrorCode::TooManyAttempts.into());
        }
        if !self.matches(stored, code)? {
            // Counted while the code is taken out, so the counts of one code never race.
            let counted = self.count_failure(key).await;
            let value = format!("{stored}:{}", attempts.saturating_add(1));
            let retry = Verification { value, updated_at: self.now, ..taken };
            store.create_verification(retry).await.map_err(store_failed)?;
            counted?;
            observe::verify_failed(key.purpose, key.recipient, "invalid");
            return Err(ErrorCode::InvalidOtp.into());
        }
        if mode == Mode::Restore {
            if !store.restore_verification(taken).await.map_err(store_failed)? {
                return Err(ErrorCode::InvalidOtp.into());
            }
            return Ok(OtpVerified(None));
        }
        Ok(OtpVerified(Some(taken)))
    }

    async fn count_failure(&self, key: &CodeKey<'_>) -> Result<(), ApiError> {
        let Some(failures) = self.failures(key) else { return Ok(()) };
        let counted = failures.add().await?;
        if !failures.locks(counted.before) && failures.locks(counted.after) {
            observe::account_locked(key.recipient, counted.after);
        }
        Ok(())
    }

    /// The `reuse` resend strategy: the live code again, with a fresh expiry
    /// and its attempt count kept, when it is unexpired, not exhausted and
    /// recoverable.
    pub(crate) async fn reissue(&self, identifier: &str) -> Result<Option<Issued>, ApiError> {
        let store = self.store;
        let Some(newest) = store.find_verification(identifier).await.map_err(store_failed)? else {
            return Ok(None);
        };
        let (stored, attempts) = split_value(&newest.value);
        let code = self.recover(stored);
        if newest.expires_at < self.now || attempts >= self.policy.allowed_attempts || code.is_none() {
            return Ok(None);
        }
        let Some(taken) = store.take_verification(identifier).await.map_err(store_failed)? else {
            return Ok(None);
        };
        let id = taken.id.clone();
        let extended =
            Verification { expires_at: self.now + self.policy.expires_in, updated_at: self.now, ..taken };
        store.create_verification(extended).await.map_err(store_failed)?;
        Ok(code.map(|code| Issued { code, id }))
    }

    /// Spends a code that an earlier [`Mode::Restore`] verify checked.
    pub(crate) async fn consume(&self, key: &CodeKey<'_>, code: &str) -> Result<OtpVerified, ApiError> {
        self.verify(key, code, Mode::Consume).await
    }

    /// Puts a spent code back after the step it paid for failed, so the user
    /// can try again (best effort: a store that is down cannot take it back).
    pub(crate) async fn give_back(&self, spent: OtpVerified) {
        if let Some(taken) = spent.0
            && let Err(e) = self.store.restore_verification(taken).await
        {
            tracing::error!(target: "kernia", error = %e, "could not give a spent code back");
        }
    }
}

/// `<stored>:<attempts>`, split at the last `:`; a missing or bad count is 0.
fn split_value(value: &str) -> (&str, u32) {
    match value.rsplit_once(':') {
        Some((stored, attempts)) => (stored, attempts.parse().unwrap_or(0)),
        None => (value, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_splits_at_last_colon() {
        assert_eq!(split_value("abc:2"), ("abc", 2));
        assert_eq!(split_value("a:b:1"), ("a:b", 1));
        assert_eq!(split_value("123456"), ("123456", 0));
        assert_eq!(split_value("x:-1"), ("x", 0));
    }
}
