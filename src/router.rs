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

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    /// Every route with the method it answers.
    const ROUTES: [(&str, Route); 27] = [
        ("GET", Route::Ok),
        ("GET", Route::GetSession),
        ("POST", Route::PostGetSession),
        ("POST", Route::SignOut),
        ("POST", Route::SignUpEmail),
        ("POST", Route::SignInEmail),
        ("GET", Route::ListSessions),
        ("POST", Route::RevokeSession),
        ("POST", Route::RevokeSessions),
        ("POST", Route::RevokeOtherSessions),
        ("POST", Route::ChangePassword),
        ("POST", Route::UpdateUser),
        ("POST", Route::EmailOtpSend),
        ("POST", Route::EmailOtpCheck),
        ("POST", Route::EmailOtpVerifyEmail),
        ("POST", Route::SignInEmailOtp),
        ("POST", Route::EmailOtpRequestPasswordReset),
        ("POST", Route::ForgetPasswordEmailOtp),
        ("POST", Route::EmailOtpResetPassword),
        ("POST", Route::EmailOtpRequestEmailChange),
        ("POST", Route::EmailOtpChangeEmail),
        ("POST", Route::PhoneSendOtp),
        ("POST", Route::PhoneVerify),
        ("POST", Route::SignInPhoneNumber),
        ("POST", Route::PhoneRequestPasswordReset),
        ("POST", Route::PhoneResetPassword),
        ("POST", Route::SendVerificationEmail),
    ];

    fn known(method: &Method, path: &str) -> Option<Route> {
        ROUTES.iter().find(|(m, r)| *m == method.as_str() && r.as_str() == path).map(|(_, r)| *r)
    }

    fn method() -> impl Strategy<Value = Method> {
        prop_oneof![
            prop::sample::select(vec![Method::GET, Method::POST, Method::HEAD, Method::OPTIONS, Method::PUT]),
            "[A-Za-z!#$%&'*+.^_`|~-]{1,10}"
                .prop_filter_map("token", |m| Method::from_bytes(m.as_bytes()).ok()),
        ]
    }

    fn path() -> impl Strategy<Value = String> {
        let known = prop::sample::select(ROUTES.iter().map(|(_, r)| r.as_str()).collect::<Vec<_>>());
        prop_oneof![
            "\\PC{0,40}",
            known.clone().prop_map(str::to_owned),
            (known.clone(), "\\PC{0,6}").prop_map(|(p, s)| format!("{p}{s}")),
            (known.clone(), prop::sample::select(vec!["/", "//", "%2F", "?", " ", "\u{0}"]))
                .prop_map(|(p, s)| format!("{p}{s}")),
            known.prop_map(|p| format!("/api/auth{p}")),
            known_upper(),
        ]
    }

    fn known_upper() -> impl Strategy<Value = String> {
        prop::sample::select(ROUTES.iter().map(|(_, r)| r.as_str().to_uppercase()).collect::<Vec<_>>())
    }

    proptest! {
        #[test]
        fn only_the_exact_method_and_path_route(method in method(), path in path()) {
            prop_assert_eq!(route(&method, &path), known(&method, &path));
        }

        #[test]
        fn every_route_path_routes_to_itself(index in 0..ROUTES.len()) {
            let (method, expected) = ROUTES[index];
            let method = Method::from_bytes(method.as_bytes()).unwrap_or_default();
            let routed = route(&method, expected.as_str());
            prop_assert_eq!(routed, Some(expected));
            prop_assert_eq!(expected.reads_body(), method == Method::POST);
        }

        #[test]
        fn paths_with_the_base_path_still_in_front_never_route(method in method(), index in 0..ROUTES.len()) {
            let full = format!("/api/auth{}", ROUTES[index].1.as_str());
            prop_assert_eq!(route(&method, &full), None);
        }
    }
}
