//! Security events and metrics: one vocabulary, emitted from one place.
//!
//! Every intercepted request runs in a `kernia.request` span (fields `path`,
//! `route`, `status` and, for error answers, `error` = the wire code).
//! Security events go to the target **`kernia::security`**; each carries a
//! fixed `event` field from this table, so log pipelines can match on it:
//!
//! | `event` | level | fields |
//! |---|---|---|
//! | `sign_up` | info | `method`, `user_id` |
//! | `sign_in` | info | `method`, `outcome` (`success`/`failure`), `user_id` or `recipient`, `code` on failure |
//! | `sign_out` | info | — |
//! | `code_sent` | info | `channel`, `purpose`, `recipient` |
//! | `code_delivery_failed` | warn | `channel`, `timed_out` |
//! | `code_verified` | info | `channel`, `purpose`, `recipient` (the code was spent) |
//! | `verify_failed` | info | `channel`, `purpose`, `outcome` (`invalid`, `missing`, `expired`, `locked`), `recipient` |
//! | `attempts_exhausted` | warn | `channel`, `purpose`, `recipient` (the code is burned) |
//! | `account_locked` | warn | `channel`, `recipient`, `failures` (the consecutive-failure cap was reached) |
//! | `rate_limited` | warn | `scope` (`ip`, `recipient`, `budget`), `route` |
//! | `origin_refused` | warn | `code` |
//! | `number_refused` | info | `reason` (`country`, `number_type`), `recipient` |
//! | `contact_verified` | info | `channel`, `user_id` |
//! | `email_changed` / `phone_changed` | info | `user_id`, `old`, `new` |
//! | `change_notice_failed` | warn | `channel` |
//! | `password_changed` | info | `user_id` |
//! | `password_reset` | info | `channel`, `user_id` |
//! | `hook_failed` | error | `hook`, `error` |
//!
//! `channel` is `email` or `sms`; `method` is `password`, `email_otp`,
//! `phone_otp` or `phone_password`; `purpose` is `sign-in`,
//! `email-verification`, `forget-password`, `change-email` or
//! `phone-verification`. Recipients are always masked (`j***@example.com`,
//! `+15*******34`); codes, session tokens, cookies and passwords are never
//! logged. Masking is lazy: nothing is formatted unless a subscriber wants
//! the event.
//!
//! With the `metrics` feature, counters go through the `metrics` facade
//! (without it they compile to nothing):
//!
//! | counter | labels |
//! |---|---|
//! | `kernia_codes_sent_total` | `channel` |
//! | `kernia_code_delivery_failures_total` | `channel` |
//! | `kernia_verifications_total` | `channel`, `outcome` (`success`, `invalid`, `missing`, `expired`, `exhausted`, `locked`) |
//! | `kernia_accounts_locked_total` | `channel` |
//! | `kernia_rate_limited_total` | `scope`, `route` |
//! | `kernia_sign_ups_total` | `method` |
//! | `kernia_sign_ins_total` | `method`, `outcome` |
//!
//! The send/verify conversion of a channel is
//! `kernia_verifications_total{outcome="success"} / kernia_codes_sent_total`:
//! pumped SMS are never entered, so a drop in it is the alarm.

use std::fmt;

use crate::error::ErrorCode;
use crate::hooks::{Channel, Method};

/// The target of every security event.
pub(crate) const TARGET: &str = "kernia::security";

#[cfg(feature = "metrics")]
macro_rules! count {
    ($name:literal $(, $key:literal => $value:expr)*) => {
        metrics::counter!($name $(, $key => $value)*).increment(1)
    };
}

#[cfg(not(feature = "metrics"))]
macro_rules! count {
    ($($ignored:tt)*) => {};
}

/// An address for logs: the first character of an email and its domain,
/// or a number's country prefix and last two digits.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Recipient<'a> {
    Email(&'a str),
    Phone(&'a str),
}

impl Recipient<'_> {
    /// The raw address (never for logs).
    pub(crate) fn address(&self) -> &str {
        match self {
            Self::Email(a) | Self::Phone(a) => a,
        }
    }

    pub(crate) fn channel(&self) -> Channel {
        match self {
            Self::Email(_) => Channel::Email,
            Self::Phone(_) => Channel::Sms,
        }
    }
}

impl fmt::Display for Recipient<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Email(email) => mask_email(email, f),
            Self::Phone(phone) => mask_phone(phone, f),
        }
    }
}

fn mask_email(email: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match email.rsplit_once('@') {
        Some((local, domain)) => {
            if let Some(first) = local.chars().next() {
                write!(f, "{first}")?;
            }
            write!(f, "***@{domain}")
        }
        None => f.write_str("***"),
    }
}

fn mask_phone(phone: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    use fmt::Write;
    let keep_tail = phone.len().saturating_sub(2);
    for (i, c) in phone.char_indices() {
        f.write_char(if i < 3 || i >= keep_tail { c } else { '*' })?;
    }
    Ok(())
}

/// A masked phone number that may be absent.
struct MaybePhone<'a>(Option<&'a str>);

impl fmt::Display for MaybePhone<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(phone) => mask_phone(phone, f),
            None => f.write_str("none"),
        }
    }
}

pub(crate) fn sign_up(method: Method, user_id: &str) {
    tracing::info!(target: TARGET, event = "sign_up", method = method.as_str(), user_id, "signed up");
    count!("kernia_sign_ups_total", "method" => method.as_str());
}

pub(crate) fn sign_in(method: Method, user_id: &str) {
    let method = method.as_str();
    tracing::info!(target: TARGET, event = "sign_in", method, outcome = "success", user_id, "signed in");
    count!("kernia_sign_ins_total", "method" => method, "outcome" => "success");
}

pub(crate) fn sign_in_failed(method: Method, recipient: Recipient<'_>, code: ErrorCode) {
    let method = method.as_str();
    let code = code.wire_code().unwrap_or("");
    tracing::info!(
        target: TARGET, event = "sign_in", method, outcome = "failure", %recipient, code, "sign-in failed"
    );
    count!("kernia_sign_ins_total", "method" => method, "outcome" => "failure");
}

pub(crate) fn sign_out() {
    tracing::info!(target: TARGET, event = "sign_out", "signed out");
}

pub(crate) fn code_sent(purpose: &'static str, recipient: Recipient<'_>) {
    let channel = recipient.channel().as_str();
    tracing::info!(target: TARGET, event = "code_sent", channel, purpose, %recipient, "code sent");
    count!("kernia_codes_sent_total", "channel" => channel);
}

pub(crate) fn code_delivery_failed(channel: &'static str, timed_out: bool) {
    tracing::warn!(target: TARGET, event = "code_delivery_failed", channel, timed_out, "code delivery failed");
    count!("kernia_code_delivery_failures_total", "channel" => channel);
}

pub(crate) fn code_verified(purpose: &'static str, recipient: Recipient<'_>) {
    let channel = recipient.channel().as_str();
    tracing::info!(target: TARGET, event = "code_verified", channel, purpose, %recipient, "code verified");
    count!("kernia_verifications_total", "channel" => channel, "outcome" => "success");
}

/// `outcome`: `invalid`, `missing`, `expired` or `locked`.
pub(crate) fn verify_failed(purpose: &'static str, recipient: Recipient<'_>, outcome: &'static str) {
    let channel = recipient.channel().as_str();
    tracing::info!(
        target: TARGET, event = "verify_failed", channel, purpose, outcome, %recipient, "code verification failed"
    );
    count!("kernia_verifications_total", "channel" => channel, "outcome" => outcome);
}

pub(crate) fn attempts_exhausted(purpose: &'static str, recipient: Recipient<'_>) {
    let channel = recipient.channel().as_str();
    tracing::warn!(
        target: TARGET, event = "attempts_exhausted", channel, purpose, %recipient,
        "code burned after too many attempts"
    );
    count!("kernia_verifications_total", "channel" => channel, "outcome" => "exhausted");
}

pub(crate) fn account_locked(recipient: Recipient<'_>, failures: u32) {
    let channel = recipient.channel().as_str();
    tracing::warn!(
        target: TARGET, event = "account_locked", channel, %recipient, failures,
        "too many consecutive failed verifications; verification locked"
    );
    count!("kernia_accounts_locked_total", "channel" => channel);
}

/// `scope`: `ip`, `recipient` or `budget`.
pub(crate) fn rate_limited(scope: &'static str, route: &'static str) {
    tracing::warn!(target: TARGET, event = "rate_limited", scope, route, "rate limited");
    count!("kernia_rate_limited_total", "scope" => scope, "route" => route);
}

pub(crate) fn origin_refused(code: ErrorCode) {
    let code = code.wire_code().unwrap_or("");
    tracing::warn!(target: TARGET, event = "origin_refused", code, "request origin refused");
}

/// `reason`: `country` or `number_type`.
pub(crate) fn number_refused(reason: &'static str, phone: &str) {
    let recipient = Recipient::Phone(phone);
    tracing::info!(target: TARGET, event = "number_refused", reason, %recipient, "phone number refused");
}

pub(crate) fn contact_verified(channel: Channel, user_id: &str) {
    let channel = channel.as_str();
    tracing::info!(target: TARGET, event = "contact_verified", channel, user_id, "address verified");
}

pub(crate) fn email_changed(user_id: &str, old: &str, new: &str) {
    let (old, new) = (Recipient::Email(old), Recipient::Email(new));
    tracing::info!(target: TARGET, event = "email_changed", user_id, %old, %new, "email changed");
}

pub(crate) fn phone_changed(user_id: &str, old: Option<&str>, new: &str) {
    let (old, new) = (MaybePhone(old), Recipient::Phone(new));
    tracing::info!(target: TARGET, event = "phone_changed", user_id, %old, %new, "phone number changed");
}

pub(crate) fn change_notice_failed(channel: &'static str) {
    tracing::warn!(target: TARGET, event = "change_notice_failed", channel, "change notice not delivered");
}

pub(crate) fn password_changed(user_id: &str) {
    tracing::info!(target: TARGET, event = "password_changed", user_id, "password changed");
}

pub(crate) fn password_reset(channel: Channel, user_id: &str) {
    let channel = channel.as_str();
    tracing::info!(target: TARGET, event = "password_reset", channel, user_id, "password reset");
}

pub(crate) fn hook_failed(hook: &'static str, error: &dyn std::error::Error) {
    tracing::error!(target: TARGET, event = "hook_failed", hook, %error, "hook failed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_masked() {
        assert_eq!(Recipient::Email("jane.doe@example.com").to_string(), "j***@example.com");
        assert_eq!(Recipient::Email("étienne@exemple.fr").to_string(), "é***@exemple.fr");
        assert_eq!(Recipient::Email("no-at-sign").to_string(), "***");
        assert_eq!(Recipient::Phone("+15550001234").to_string(), "+15*******34");
        assert_eq!(MaybePhone(None).to_string(), "none");
    }
}
