//! Options of the phone number plugin, and phone number normalisation.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use phonenumber::{Mode as Format, Type};

use crate::delivery::{
    self, BoxFuture, ChangeNotice, Courier, DeliveryError, DeliveryMode, SendSms, SmsSender,
};
use crate::error::{ApiError, ErrorCode};
use crate::otp::{CodeOptions, Lockout, OtpStorage};
use crate::rate_limit::Rule;
use crate::store::User;

/// How phone numbers are checked before anything is sent or stored.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneValidation {
    /// libphonenumber must call the number valid; premium-rate, shared-cost,
    /// toll-free, VoIP and unknown-type numbers are refused (SMS pumping;
    /// NIST bars VoIP for out-of-band codes). The default.
    Strict,
    /// Any `+` and 7–15 digits once spaces, dots, dashes and parentheses are
    /// removed. For test numbers (e.g. the fictional `+1555…` range).
    E164Shape,
}

type NumberFn = Arc<dyn Fn(&str) -> String + Send + Sync>;
type ValidatorFn = Arc<dyn Fn(&str) -> bool + Send + Sync>;
pub(crate) type VerifiedFn = Arc<dyn Fn(String, User) -> BoxFuture<'static, ()> + Send + Sync>;

/// The phone number plugin. Add it with [`crate::KerniaBuilder::phone_number`].
///
/// ```
/// use kernia::phone_number::PhoneNumber;
/// let plugin = PhoneNumber::new(|phone: String, message: String| async move {
///     println!("SMS to {phone}: {message}");
///     Ok(())
/// })
/// .allowed_countries(["US", "CA"]);
/// # let _ = plugin;
/// ```
#[must_use]
#[derive(Clone)]
pub struct PhoneNumber {
    pub(crate) courier: Courier,
    pub(crate) codes: CodeOptions,
    pub(crate) disable_sign_up: bool,
    pub(crate) require_verification: bool,
    pub(crate) verification_message: String,
    pub(crate) reset_message: String,
    pub(crate) validation: PhoneValidation,
    pub(crate) allowed_countries: Option<Vec<String>>,
    pub(crate) temp_email: NumberFn,
    pub(crate) temp_name: NumberFn,
    pub(crate) rate_limit: Rule,
    pub(crate) recipient_limits: Vec<Rule>,
    pub(crate) sms_budget: Option<Rule>,
    pub(crate) validator: Option<ValidatorFn>,
    pub(crate) on_verification: Option<VerifiedFn>,
    pub(crate) change_notice: Option<ChangeNotice>,
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PhoneNumber")
            .field("otp_length", &self.codes.length)
            .field("expires_in", &self.codes.expires_in)
            .field("allowed_attempts", &self.codes.allowed_attempts)
            .field("disable_sign_up", &self.disable_sign_up)
            .field("validation", &self.validation)
            .field("allowed_countries", &self.allowed_countries)
            .finish_non_exhaustive()
    }
}

impl PhoneNumber {
    /// The plugin with its sender `send_sms(phone, message)` and the
    /// defaults: 6 digits, 300 s, 3 attempts, sign-up on verification,
    /// strict number validation, one code per number per 60 s and 10 per
    /// day, at most 10,000 SMS per day in all.
    pub fn new(send_sms: impl SendSms) -> Self {
        // Load libphonenumber's metadata (hundreds of regexes) now, not on the first request.
        let _ = &*phonenumber::metadata::DATABASE;
        Self {
            courier: Courier { sender: Arc::new(SmsSender(send_sms)), mode: DeliveryMode::Background },
            codes: CodeOptions::default(),
            disable_sign_up: false,
            require_verification: false,
            verification_message: "Your verification code is {code}".to_owned(),
            reset_message: "Your password reset code is {code}".to_owned(),
            validation: PhoneValidation::Strict,
            allowed_countries: None,
            temp_email: Arc::new(|phone| {
                let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
                format!("{digits}@phone.invalid")
            }),
            temp_name: Arc::new(str::to_owned),
            rate_limit: Rule { window_secs: 60, max: 10 },
            recipient_limits: vec![Rule { window_secs: 60, max: 1 }, Rule { window_secs: 86_400, max: 10 }],
            sms_budget: Some(Rule { window_secs: 86_400, max: 10_000 }),
            validator: None,
            on_verification: None,
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

    /// Wrong guesses tolerated per code (default 3).
    pub fn allowed_attempts(mut self, attempts: u32) -> Self {
        self.codes.allowed_attempts = attempts;
        self
    }

    /// Refuse to create accounts when an unknown number is verified (default false).
    pub fn disable_sign_up(mut self, disable: bool) -> Self {
        self.disable_sign_up = disable;
        self
    }

    /// Password sign-in and reset need a verified number (default false).
    pub fn require_verification(mut self, required: bool) -> Self {
        self.require_verification = required;
        self
    }

    /// The verification text; `{code}` is replaced by the code.
    pub fn verification_message(mut self, template: impl Into<String>) -> Self {
        self.verification_message = template.into();
        self
    }

    /// The password-reset text; `{code}` is replaced by the code.
    pub fn reset_message(mut self, template: impl Into<String>) -> Self {
        self.reset_message = template.into();
        self
    }

    /// How numbers are validated (default [`PhoneValidation::Strict`]).
    pub fn validation(mut self, validation: PhoneValidation) -> Self {
        self.validation = validation;
        self
    }

    /// Only send to these countries (ISO 3166 codes such as `US`); others get
    /// `400 COUNTRY_NOT_ALLOWED`. Default: every country.
    pub fn allowed_countries<I, T>(mut self, countries: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.allowed_countries = Some(countries.into_iter().map(|c| c.into().to_ascii_uppercase()).collect());
        self
    }

    /// The email of accounts created by phone (default `<digits>@phone.invalid`).
    pub fn temp_email(mut self, f: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.temp_email = Arc::new(f);
        self
    }

    /// The name of accounts created by phone (default: the number).
    pub fn temp_name(mut self, f: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        self.temp_name = Arc::new(f);
        self
    }

    /// How codes are kept at rest (default [`OtpStorage::Hmac`]).
    pub fn storage(mut self, storage: OtpStorage) -> Self {
        self.codes.storage = storage;
        self
    }

    /// Whether requests wait for the sender (default [`DeliveryMode::Background`]).
    pub fn delivery(mut self, mode: DeliveryMode) -> Self {
        self.courier.mode = mode;
        self
    }

    /// Per-IP limit on `/phone-number/*` (default 10 per 60 s).
    pub fn rate_limit(mut self, rule: Rule) -> Self {
        self.rate_limit = rule;
        self
    }

    /// Limits on codes sent to one number (default 1 per 60 s and 10 per 24 h).
    pub fn recipient_limits(mut self, rules: impl IntoIterator<Item = Rule>) -> Self {
        self.recipient_limits = rules.into_iter().collect();
        self
    }

    /// A cap on all SMS sent, per window (default 10,000 per 24 h; `None` for none).
    pub fn sms_budget(mut self, budget: Option<Rule>) -> Self {
        self.sms_budget = budget;
        self
    }

    /// The cap on consecutive wrong codes per number, across codes and
    /// resends (default [`Lockout::default`]: 100, then locked for 24 h;
    /// `None` turns it off).
    pub fn lockout(mut self, lockout: Option<Lockout>) -> Self {
        self.codes.lockout = lockout;
        self
    }

    /// Tells the old number when `/phone-number/verify` with
    /// `updatePhoneNumber` replaced it: called with `(old_number,
    /// new_number)` after the change is stored, per the
    /// [`delivery`](Self::delivery) mode. A failure is logged, not answered
    /// (the change stands). Nothing is sent when the account had no number.
    /// Default: no notice.
    ///
    /// ```
    /// use kernia::phone_number::PhoneNumber;
    /// let plugin = PhoneNumber::new(|phone: String, message: String| async move {
    ///     println!("SMS to {phone}: {message}");
    ///     Ok(())
    /// })
    /// .send_change_notice(|old: String, _new: String| async move {
    ///     println!("SMS to {old}: this number was removed from your account");
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

    /// An extra check on numbers (E.164) before sending or signing in;
    /// `false` answers `400 INVALID_PHONE_NUMBER`.
    pub fn phone_number_validator(mut self, f: impl Fn(&str) -> bool + Send + Sync + 'static) -> Self {
        self.validator = Some(Arc::new(f));
        self
    }

    /// Called after a number is verified, with the number and the user (e.g.
    /// to provision the app's own records); awaited before the response.
    pub fn callback_on_verification<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(String, User) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        self.on_verification = Some(Arc::new(move |phone, user| Box::pin(f(phone, user))));
        self
    }

    /// The E.164 form of `raw`, or the error to answer.
    pub(crate) fn normalize(&self, raw: &str) -> Result<String, ApiError> {
        let invalid = || ApiError::new(ErrorCode::InvalidPhoneNumber);
        let parse = || phonenumber::parse(None, raw).ok();
        let parsed = match (self.validation, &self.allowed_countries) {
            (PhoneValidation::E164Shape, None) => None,
            _ => parse(),
        };
        let e164 = match self.validation {
            PhoneValidation::Strict => {
                let number = parsed.as_ref().filter(|n| n.is_valid()).ok_or_else(invalid)?;
                let kind = number.number_type(&phonenumber::metadata::DATABASE);
                if matches!(
                    kind,
                    Type::PremiumRate | Type::SharedCost | Type::TollFree | Type::Voip | Type::Unknown
                ) {
                    let e164 = number.format().mode(Format::E164).to_string();
                    crate::observe::number_refused("number_type", &e164);
                    return Err(invalid());
                }
                number.format().mode(Format::E164).to_string()
            }
            PhoneValidation::E164Shape => e164_shape(raw).ok_or_else(invalid)?,
        };
        if self.validator.as_ref().is_some_and(|valid| !valid(&e164)) {
            return Err(invalid());
        }
        if let Some(allowed) = &self.allowed_countries {
            let country = parsed.as_ref().and_then(|n| n.country().id()).map(|id| id.as_ref().to_owned());
            if !country.is_some_and(|c| allowed.contains(&c)) {
                crate::observe::number_refused("country", &e164);
                return Err(ErrorCode::CountryNotAllowed.into());
            }
        }
        Ok(e164)
    }

    pub(crate) fn render(template: &str, code: &str) -> String {
        template.replace("{code}", code)
    }
}

/// `+` and 7–15 digits after removing common separators.
fn e164_shape(raw: &str) -> Option<String> {
    let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
    let digits = compact.strip_prefix('+')?;
    let ok = (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    ok.then_some(compact)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(validation: PhoneValidation) -> PhoneNumber {
        PhoneNumber::new(|_: String, _: String| async { Ok(()) }).validation(validation)
    }

    #[test]
    fn formatted_and_compact_numbers_collide() {
        let p = plugin(PhoneValidation::Strict);
        assert_eq!(p.normalize("+1 (202) 555-0143").unwrap(), "+12025550143");
        assert_eq!(p.normalize("+12025550143").unwrap(), "+12025550143");
        assert_eq!(p.normalize("+1555").unwrap_err().code(), ErrorCode::InvalidPhoneNumber);
        let loose = plugin(PhoneValidation::E164Shape);
        assert_eq!(loose.normalize("+1 555 0123 456789").unwrap(), "+15550123456789");
        assert!(loose.normalize("5550123").is_err());
    }

    #[test]
    fn countries_outside_the_allow_list_are_refused() {
        let p = plugin(PhoneValidation::Strict).allowed_countries(["CA"]);
        assert_eq!(p.normalize("+12025550143").unwrap_err().code(), ErrorCode::CountryNotAllowed);
        // The refusal is logged with the number masked.
        assert_eq!(crate::observe::Recipient::Phone("+12025550143").to_string(), "+12*******43");
    }
}
