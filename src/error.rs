//! One error vocabulary: every failure Kernia answers, mapped to Better Auth's
//! wire form (status, `code`, `message`) in one place.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// A Better Auth error code, with its default HTTP status and message.
///
/// A few Better Auth errors carry only a `message` (no `code`); for those,
/// [`ErrorCode::wire_code`] is `None`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // each variant is documented by its wire code
pub enum ErrorCode {
    // framework
    BadRequest,
    UnsupportedMediaType,
    PayloadTooLarge,
    ValidationError,
    Unauthorized,
    InternalServerError,
    ServiceUnavailable,
    TooManyRequests,
    MethodNotAllowedDeferSessionRequired,
    // core
    UserNotFound,
    FailedToCreateUser,
    FailedToCreateSession,
    FailedToUpdateUser,
    FailedToGetSession,
    InvalidPassword,
    InvalidEmail,
    InvalidEmailOrPassword,
    InvalidToken,
    EmailNotVerified,
    PasswordTooShort,
    PasswordTooLong,
    UserAlreadyExistsUseAnotherEmail,
    EmailCanNotBeUpdated,
    CredentialAccountNotFound,
    SessionNotFresh,
    CrossSiteNavigationLoginBlocked,
    InvalidOrigin,
    MissingOrNullOrigin,
    InvalidCallbackUrl,
    InvalidRedirectUrl,
    InvalidErrorCallbackUrl,
    InvalidNewUserCallbackUrl,
    FieldNotAllowed,
    VerificationEmailNotEnabled,
    EmailPasswordDisabled,
    EmailPasswordSignUpDisabled,
    NoFieldsToUpdate,
    CallbackUrlNotAString,
    // email OTP
    OtpExpired,
    InvalidOtp,
    TooManyAttempts,
    InvalidOtpType,
    ChangeEmailDisabled,
    EmailIsTheSame,
    OtpRequiredToVerifyCurrentEmail,
    EmailAlreadyInUse,
    UnableToCompleteOtpVerification,
    // phone number
    InvalidPhoneNumber,
    PhoneNumberExist,
    PhoneNumberNotExist,
    InvalidPhoneNumberOrPassword,
    UnexpectedError,
    OtpNotFound,
    PhoneNumberNotVerified,
    PhoneNumberPendingVerification,
    PhoneNumberCannotBeUpdated,
    PhoneNumberCannotBeSet,
    CountryNotAllowed,
}

impl ErrorCode {
    /// The wire `code`, the default status and the default message.
    const fn parts(self) -> (Option<&'static str>, StatusCode, &'static str) {
        use ErrorCode::*;
        const BAD: StatusCode = StatusCode::BAD_REQUEST;
        const UNAUTH: StatusCode = StatusCode::UNAUTHORIZED;
        const FORBIDDEN: StatusCode = StatusCode::FORBIDDEN;
        match self {
            BadRequest => (Some("BAD_REQUEST"), BAD, "Invalid JSON in request body"),
            UnsupportedMediaType => (
                Some("UNSUPPORTED_MEDIA_TYPE"),
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "Content-Type is required. Allowed types: application/json",
            ),
            PayloadTooLarge => {
                (Some("PAYLOAD_TOO_LARGE"), StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large")
            }
            ValidationError => (Some("VALIDATION_ERROR"), BAD, "Validation Error"),
            Unauthorized => (Some("UNAUTHORIZED"), UNAUTH, "Unauthorized"),
            InternalServerError => {
                (Some("INTERNAL_SERVER_ERROR"), StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            ServiceUnavailable => (
                Some("SERVICE_UNAVAILABLE"),
                StatusCode::SERVICE_UNAVAILABLE,
                "The service did not answer in time. Please try again later.",
            ),
            TooManyRequests => {
                (None, StatusCode::TOO_MANY_REQUESTS, "Too many requests. Please try again later.")
            }
            MethodNotAllowedDeferSessionRequired => (
                Some("METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"),
                StatusCode::METHOD_NOT_ALLOWED,
                "POST method requires deferSessionRefresh to be enabled in session config",
            ),
            UserNotFound => (Some("USER_NOT_FOUND"), BAD, "User not found"),
            FailedToCreateUser => {
                (Some("FAILED_TO_CREATE_USER"), StatusCode::UNPROCESSABLE_ENTITY, "Failed to create user")
            }
            FailedToCreateSession => (Some("FAILED_TO_CREATE_SESSION"), UNAUTH, "Failed to create session"),
            FailedToUpdateUser => {
                (Some("FAILED_TO_UPDATE_USER"), StatusCode::INTERNAL_SERVER_ERROR, "Failed to update user")
            }
            FailedToGetSession => {
                (Some("FAILED_TO_GET_SESSION"), StatusCode::INTERNAL_SERVER_ERROR, "Failed to get session")
            }
            InvalidPassword => (Some("INVALID_PASSWORD"), BAD, "Invalid password"),
            InvalidEmail => (Some("INVALID_EMAIL"), BAD, "Invalid email"),
            InvalidEmailOrPassword => {
                (Some("INVALID_EMAIL_OR_PASSWORD"), UNAUTH, "Invalid email or password")
            }
            InvalidToken => (Some("INVALID_TOKEN"), BAD, "Invalid token"),
            EmailNotVerified => (Some("EMAIL_NOT_VERIFIED"), FORBIDDEN, "Email not verified"),
            PasswordTooShort => (Some("PASSWORD_TOO_SHORT"), BAD, "Password too short"),
            PasswordTooLong => (Some("PASSWORD_TOO_LONG"), BAD, "Password too long"),
            UserAlreadyExistsUseAnotherEmail => (
                Some("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"),
                StatusCode::UNPROCESSABLE_ENTITY,
                "User already exists. Use another email.",
            ),
            EmailCanNotBeUpdated => (Some("EMAIL_CAN_NOT_BE_UPDATED"), BAD, "Email can not be updated"),
            CredentialAccountNotFound => {
                (Some("CREDENTIAL_ACCOUNT_NOT_FOUND"), BAD, "Credential account not found")
            }
            SessionNotFresh => (Some("SESSION_NOT_FRESH"), FORBIDDEN, "Session is not fresh"),
            CrossSiteNavigationLoginBlocked => (
                Some("CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"),
                FORBIDDEN,
                "Cross-site navigation login blocked. This request appears to be a CSRF attack.",
            ),
            InvalidOrigin => (Some("INVALID_ORIGIN"), FORBIDDEN, "Invalid origin"),
            MissingOrNullOrigin => (Some("MISSING_OR_NULL_ORIGIN"), FORBIDDEN, "Missing or null Origin"),
            InvalidCallbackUrl => (Some("INVALID_CALLBACK_URL"), FORBIDDEN, "Invalid callbackURL"),
            InvalidRedirectUrl => (Some("INVALID_REDIRECT_URL"), FORBIDDEN, "Invalid redirectURL"),
            InvalidErrorCallbackUrl => {
                (Some("INVALID_ERROR_CALLBACK_URL"), FORBIDDEN, "Invalid errorCallbackURL")
            }
            InvalidNewUserCallbackUrl => {
                (Some("INVALID_NEW_USER_CALLBACK_URL"), FORBIDDEN, "Invalid newUserCallbackURL")
            }
            FieldNotAllowed => (Some("FIELD_NOT_ALLOWED"), BAD, "Field not allowed"),
            VerificationEmailNotEnabled => {
                (Some("VERIFICATION_EMAIL_NOT_ENABLED"), BAD, "Verification email isn't enabled")
            }
            EmailPasswordDisabled => {
                (Some("EMAIL_PASSWORD_DISABLED"), BAD, "Email and password is not enabled")
            }
            EmailPasswordSignUpDisabled => {
                (Some("EMAIL_PASSWORD_SIGN_UP_DISABLED"), BAD, "Email and password sign up is not enabled")
            }
            NoFieldsToUpdate => (None, BAD, "No fields to update"),
            CallbackUrlNotAString => (None, BAD, "Invalid callbackURL: expected a string"),
            OtpExpired => (Some("OTP_EXPIRED"), BAD, "OTP expired"),
            InvalidOtp => (Some("INVALID_OTP"), BAD, "Invalid OTP"),
            TooManyAttempts => (Some("TOO_MANY_ATTEMPTS"), FORBIDDEN, "Too many attempts"),
            InvalidOtpType => (None, BAD, "Invalid OTP type"),
            ChangeEmailDisabled => (None, BAD, "Change email with OTP is disabled"),
            EmailIsTheSame => (None, BAD, "Email is the same"),
            OtpRequiredToVerifyCurrentEmail => (None, BAD, "OTP is required to verify current email"),
            EmailAlreadyInUse => (None, BAD, "Email already in use"),
            UnableToCompleteOtpVerification => {
                (None, StatusCode::INTERNAL_SERVER_ERROR, "Unable to complete OTP verification")
            }
            InvalidPhoneNumber => (Some("INVALID_PHONE_NUMBER"), BAD, "Invalid phone number"),
            PhoneNumberExist => (Some("PHONE_NUMBER_EXIST"), BAD, "Phone number already exists"),
            PhoneNumberNotExist => (Some("PHONE_NUMBER_NOT_EXIST"), BAD, "phone number isn't registered"),
            InvalidPhoneNumberOrPassword => {
                (Some("INVALID_PHONE_NUMBER_OR_PASSWORD"), UNAUTH, "Invalid phone number or password")
            }
            UnexpectedError => (Some("UNEXPECTED_ERROR"), UNAUTH, "Unexpected error"),
            OtpNotFound => (Some("OTP_NOT_FOUND"), BAD, "OTP not found"),
            PhoneNumberNotVerified => {
                (Some("PHONE_NUMBER_NOT_VERIFIED"), UNAUTH, "Phone number not verified")
            }
            PhoneNumberPendingVerification => (
                Some("PHONE_NUMBER_PENDING_VERIFICATION"),
                BAD,
                "Phone number requires account ownership proof",
            ),
            PhoneNumberCannotBeUpdated => {
                (Some("PHONE_NUMBER_CANNOT_BE_UPDATED"), BAD, "Phone number cannot be updated")
            }
            PhoneNumberCannotBeSet => {
                (Some("PHONE_NUMBER_CANNOT_BE_SET"), BAD, "Phone number can only be set by verifying it")
            }
            CountryNotAllowed => {
                (Some("COUNTRY_NOT_ALLOWED"), BAD, "Phone numbers of this country are not allowed")
            }
        }
    }

    /// The Better Auth `code` field, or `None` for message-only errors.
    pub const fn wire_code(self) -> Option<&'static str> {
        self.parts().0
    }

    /// The default HTTP status.
    pub const fn status(self) -> StatusCode {
        self.parts().1
    }

    /// The default message, byte-identical to Better Auth's.
    pub const fn message(self) -> &'static str {
        self.parts().2
    }
}

/// An error answered to the client: a code, plus the status and message when
/// an endpoint uses other ones than the code's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    code: ErrorCode,
    status: StatusCode,
    message: Cow<'static, str>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// The error with the code's default status and message.
    pub const fn new(code: ErrorCode) -> Self {
        Self { code, status: code.status(), message: Cow::Borrowed(code.message()), retry_after: None }
    }

    /// The same error answered with another status (Better Auth reuses some
    /// codes with endpoint-specific statuses).
    #[must_use]
    pub const fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// The same error with another message.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = message.into();
        self
    }

    /// The 429 answer, with its `X-Retry-After` seconds.
    pub(crate) const fn too_many_requests(retry_after: u64) -> Self {
        let mut error = Self::new(ErrorCode::TooManyRequests);
        error.retry_after = Some(retry_after);
        error
    }

    /// A validation failure with zod's message text.
    pub(crate) fn validation(message: String) -> Self {
        Self::new(ErrorCode::ValidationError).with_message(message)
    }

    /// An unexpected internal failure: logged here, answered as a plain 500.
    pub(crate) fn internal(context: &str, error: &dyn std::error::Error) -> Self {
        Self::failed(ErrorCode::InternalServerError, context, error)
    }

    /// A failure logged here and answered with `code` (e.g. `FAILED_TO_GET_SESSION`).
    pub(crate) fn failed(code: ErrorCode, context: &str, error: &dyn std::error::Error) -> Self {
        tracing::error!(target: "kernia", %context, %error, "internal error");
        Self::new(code)
    }

    /// The error code.
    pub const fn code(&self) -> ErrorCode {
        self.code
    }

    /// The HTTP status answered.
    pub const fn status(&self) -> StatusCode {
        self.status
    }

    /// The message answered.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error as a Better Auth JSON response; the [`ErrorCode`] is also put
    /// in the response extensions for middleware further out.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            code: Option<&'a str>,
        }
        let body = Body { message: &self.message, code: self.code.wire_code() };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = Response::new(Full::new(Bytes::from(bytes)));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(seconds) = self.retry_after {
            headers.insert("x-retry-after", HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(self.code);
        response
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code.wire_code() {
            Some(code) => write!(f, "{} {code}: {}", self.status.as_u16(), self.message),
            None => write!(f, "{}: {}", self.status.as_u16(), self.message),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<ErrorCode> for ApiError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

/// A configuration that [`crate::KerniaBuilder::build`] refuses.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// No secret, or an empty one.
    MissingSecret,
    /// The base URL is not an absolute `http(s)://host[:port][/path]` URL.
    InvalidBaseUrl(String),
    /// The base path must start with `/`, not end with `/` and not be `/` alone.
    InvalidBasePath(String),
    /// A trusted origin that is not `scheme://host[:port]`.
    InvalidTrustedOrigin(String),
    /// A numeric option out of its range.
    OutOfRange {
        /// The option's name.
        option: &'static str,
        /// Why the value is refused.
        reason: &'static str,
    },
    /// A cookie prefix with characters a cookie name cannot hold.
    InvalidCookiePrefix(String),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingSecret => f.write_str("a non-empty secret is required"),
            Self::InvalidBaseUrl(url) => write!(f, "invalid base URL {url:?}"),
            Self::InvalidBasePath(path) => write!(f, "invalid base path {path:?}"),
            Self::InvalidTrustedOrigin(origin) => write!(f, "invalid trusted origin {origin:?}"),
            Self::OutOfRange { option, reason } => write!(f, "option `{option}`: {reason}"),
            Self::InvalidCookiePrefix(prefix) => write!(f, "invalid cookie prefix {prefix:?}"),
        }
    }
}

impl std::error::Error for ConfigError {}
