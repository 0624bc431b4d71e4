//! `(method, path)` → [`Route`]: an exact match on the path below the base
//! path; anything else under the base path is Better Auth's empty 404.

use http::Method;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Ok,
    GetSession,
    PostGetSession,
    SignOut,
    SignUpEmail,
    SignInEmail,
    ListSessions,
    RevokeSession,
    RevokeSessions,
    RevokeOtherSessions,
    ChangePassword,
    UpdateUser,
    EmailOtpSend,
    EmailOtpCheck,
    EmailOtpVerifyEmail,
    SignInEmailOtp,
    EmailOtpRequestPasswordReset,
    ForgetPasswordEmailOtp,
    EmailOtpResetPassword,
    EmailOtpRequestEmailChange,
    EmailOtpChangeEmail,
    PhoneSendOtp,
    PhoneVerify,
    SignInPhoneNumber,
    PhoneRequestPasswordReset,
    PhoneResetPassword,
    SendVerificationEmail,
}

impl Route {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "/ok",
            Self::GetSession | Self::PostGetSession => "/get-session",
            Self::SignOut => "/sign-out",
            Self::SignUpEmail => "/sign-up/email",
            Self::SignInEmail => "/sign-in/email",
            Self::ListSessions => "/list-sessions",
            Self::RevokeSession => "/revoke-session",
            Self::RevokeSessions => "/revoke-sessions",
            Self::RevokeOtherSessions => "/revoke-other-sessions",
            Self::ChangePassword => "/change-password",
            Self::UpdateUser => "/update-user",
            Self::EmailOtpSend => "/email-otp/send-verification-otp",
            Self::EmailOtpCheck => "/email-otp/check-verification-otp",
            Self::EmailOtpVerifyEmail => "/email-otp/verify-email",
            Self::SignInEmailOtp => "/sign-in/email-otp",
            Self::EmailOtpRequestPasswordReset => "/email-otp/request-password-reset",
            Self::ForgetPasswordEmailOtp => "/forget-password/email-otp",
            Self::EmailOtpResetPassword => "/email-otp/reset-password",
            Self::EmailOtpRequestEmailChange => "/email-otp/request-email-change",
            Self::EmailOtpChangeEmail => "/email-otp/change-email",
            Self::PhoneSendOtp => "/phone-number/send-otp",
            Self::PhoneVerify => "/phone-number/verify",
            Self::SignInPhoneNumber => "/sign-in/phone-number",
            Self::PhoneRequestPasswordReset => "/phone-number/request-password-reset",
            Self::PhoneResetPassword => "/phone-number/reset-password",
            Self::SendVerificationEmail => "/send-verification-email",
        }
    }

    /// GET routes never read a body.
    pub(crate) fn reads_body(self) -> bool {
        !matches!(self, Self::Ok | Self::GetSession | Self::ListSessions)
    }
}

/// The route for a path relative to the base path (`/sign-in/email`).
pub(crate) fn route(method: &Method, path: &str) -> Option<Route> {
    let get = *method == Method::GET;
    let post = *method == Method::POST;
    let route = match path {
        "/ok" if get => Route::Ok,
        "/get-session" if get => Route::GetSession,
        "/get-session" if post => Route::PostGetSession,
        "/list-sessions" if get => Route::ListSessions,
        _ if !post => return None,
        "/sign-out" => Route::SignOut,
        "/sign-up/email" => Route::SignUpEmail,
        "/sign-in/email" => Route::SignInEmail,
        "/revoke-session" => Route::RevokeSession,
        "/revoke-sessions" => Route::RevokeSessions,
        "/revoke-other-sessions" => Route::RevokeOtherSessions,
        "/change-password" => Route::ChangePassword,
        "/update-user" => Route::UpdateUser,
        "/email-otp/send-verification-otp" => Route::EmailOtpSend,
        "/email-otp/check-verification-otp" => Route::EmailOtpCheck,
        "/email-otp/verify-email" => Route::EmailOtpVerifyEmail,
        "/sign-in/email-otp" => Route::SignInEmailOtp,
        "/email-otp/request-password-reset" => Route::EmailOtpRequestPasswordReset,
        "/forget-password/email-otp" => Route::ForgetPasswordEmailOtp,
        "/email-otp/reset-password" => Route::EmailOtpResetPassword,
        "/email-otp/request-email-change" => Route::EmailOtpRequestEmailChange,
        "/email-otp/change-email" => Route::EmailOtpChangeEmail,
        "/phone-number/send-otp" => Route::PhoneSendOtp,
        "/phone-number/verify" => Route::PhoneVerify,
        "/sign-in/phone-number" => Route::SignInPhoneNumber,
        "/phone-number/request-password-reset" => Route::PhoneRequestPasswordReset,
        "/phone-number/reset-password" => Route::PhoneResetPassword,
        "/send-verification-email" => Route::SendVerificationEmail,
        _ => return None,
    };
    Some(route)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_slashes_must_match_exactly() {
        assert_eq!(route(&Method::GET, "/ok"), Some(Route::Ok));
        assert_eq!(route(&Method::HEAD, "/ok"), None);
        assert_eq!(route(&Method::GET, "/ok/"), None);
        assert_eq!(route(&Method::GET, "/sign-in/email"), None);
        assert_eq!(route(&Method::POST, "/sign-in/email"), Some(Route::SignInEmail));
        assert_eq!(route(&Method::OPTIONS, "/sign-in/email"), None);
    }
}
