//! The origin and CSRF checks of Better Auth (core.md §4), in its order.

use http::{HeaderMap, header};
use serde_json::Value;

use crate::error::{ApiError, ErrorCode};

/// The trusted origins (`scheme://host[:port]`), compared as exact strings.
#[derive(Debug, Clone)]
pub(crate) struct Origins {
    trusted: Vec<String>,
    /// `https` when the base URL is, for the request's own origin (§4.2 step 3).
    scheme: &'static str,
}

impl Origins {
    pub(crate) fn new(own: String, mut extra: Vec<String>) -> Self {
        let scheme = if own.starts_with("https://") { "https" } else { "http" };
        if !own.is_empty() {
            extra.insert(0, own);
        }
        extra.dedup();
        Self { trusted: extra, scheme }
    }

    fn is_trusted(&self, url: &str) -> bool {
        origin_of(url).is_some_and(|origin| self.trusted.iter().any(|t| t.eq_ignore_ascii_case(origin)))
    }

    /// §4.2 steps 2–4: `Origin` (or `Referer`) must be a trusted origin.
    fn check_request_origin(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let origin = header_str(headers, header::ORIGIN);
        let same_origin_fetch = header_str(headers, "sec-fetch-site") == Some("same-origin");
        let own;
        let value = match origin {
            Some("null") if same_origin_fetch => {
                own = header_str(headers, header::HOST).map(|host| format!("{}://{host}", self.scheme));
                own.as_deref()
            }
            Some(origin) => Some(origin),
            None => header_str(headers, header::REFERER),
        };
        match value {
            None | Some("" | "null") => Err(ErrorCode::MissingOrNullOrigin.into()),
            Some(value) if self.is_trusted(value) => Ok(()),
            Some(_) => Err(ErrorCode::InvalidOrigin.into()),
        }
    }

    /// §4.2: for state-changing requests that carry cookies, and for the
    /// callback URL fields of every request.
    /// `cookie_check: false` (the `disable_csrf_check` option) skips steps 1–4.
    pub(crate) fn check(
        &self,
        headers: &HeaderMap,
        body: Option<&Value>,
        cookie_check: bool,
    ) -> Result<(), ApiError> {
        if cookie_check && headers.contains_key(header::COOKIE) {
            self.check_request_origin(headers)?;
        }
        self.check_callback_urls(body)
    }

    fn check_callback_urls(&self, body: Option<&Value>) -> Result<(), ApiError> {
        const FIELDS: [(&str, &str, ErrorCode); 4] = [
            ("callbackURL", "callbackURL", ErrorCode::InvalidCallbackUrl),
            ("redirectTo", "redirectURL", ErrorCode::InvalidRedirectUrl),
            ("errorCallbackURL", "errorCallbackURL", ErrorCode::InvalidErrorCallbackUrl),
            ("newUserCallbackURL", "newUserCallbackURL", ErrorCode::InvalidNewUserCallbackUrl),
        ];
        let Some(Value::Object(body)) = body else {
            return Ok(());
        };
        for (field, label, code) in FIELDS {
            // Better Auth skips falsy values (`if (!url) return`): `null` meets
            // the schema's type check instead, and `""` passes.
            match body.get(field).filter(|value| !is_falsy(value)) {
                None => {}
                Some(Value::String(url)) if is_relative_path(url) || self.is_trusted(url) => {}
                Some(Value::String(_)) => return Err(code.into()),
                Some(_) => {
                    return Err(ApiError::new(ErrorCode::CallbackUrlNotAString)
                        .with_message(format!("Invalid {label}: expected a string")));
                }
            }
        }
        Ok(())
    }

    /// §4.3: the form-CSRF check of first-login endpoints.
    pub(crate) fn check_first_login(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if headers.contains_key(header::COOKIE) {
            return self.check_request_origin(headers);
        }
        let fetch = |name| header_str(headers, name).map(str::trim).filter(|v| !v.is_empty());
        let (site, mode, dest) = (fetch("sec-fetch-site"), fetch("sec-fetch-mode"), fetch("sec-fetch-dest"));
        if site.is_some() || mode.is_some() || dest.is_some() {
            if site == Some("cross-site") && mode == Some("navigate") {
                return Err(ErrorCode::CrossSiteNavigationLoginBlocked.into());
            }
            return self.check_request_origin(headers);
        }
        if headers.contains_key(header::ORIGIN) || headers.contains_key(header::REFERER) {
            return self.check_request_origin(headers);
        }
        Ok(())
    }
}

fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `scheme://authority` of an absolute http(s) URL.
pub(crate) fn origin_of(url: &str) -> Option<&str> {
    let scheme_end = url.find("://")?;
    let scheme = &url[..scheme_end];
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let rest = &url[scheme_end + 3..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if authority_len == 0 {
        return None;
    }
    Some(&url[..scheme_end + 3 + authority_len])
}

/// A same-site relative path: one leading `/`, no `//`, no `\`, no control
/// characters, no encoded slashes.
fn is_relative_path(url: &str) -> bool {
    url.starts_with('/')
        && !url.starts_with("//")
        && !url.contains('\\')
        && !url.chars().any(char::is_control)
        && !url.to_ascii_lowercase().contains("%2f")
        && !url.to_ascii_lowercase().contains("%5c")
}

/// JavaScript's falsy JSON values: `null`, `false`, `0` and `""`.
fn is_falsy(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(_) | Value::Object(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_is_scheme_and_authority() {
        assert_eq!(origin_of("http://a.io:3000/x?y"), Some("http://a.io:3000"));
        assert_eq!(origin_of("https://a.io"), Some("https://a.io"));
        assert_eq!(origin_of("javascript://a.io"), None);
        assert_eq!(origin_of("/relative"), None);
    }

    #[test]
    fn relative_paths_are_strict() {
        assert!(is_relative_path("/dashboard?x=1"));
        assert!(!is_relative_path("//evil.io"));
        assert!(!is_relative_path("/\\evil.io"));
        assert!(!is_relative_path("/%2F%2Fevil.io"));
    }
}
