//! Better Auth's cookies: names, the signed value
//! `encodeURIComponent(value + "." + base64(HMAC-SHA256(secret, value)))`,
//! attributes, and reading them back from `Cookie` headers.

use std::borrow::Cow;

use http::{HeaderMap, HeaderValue, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::crypto::Signer;

/// What JavaScript's `encodeURIComponent` leaves alone.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// The three cookie names, with prefix (and `__Secure-` when secure).
#[derive(Debug, Clone)]
pub(crate) struct CookieJar {
    pub(crate) session_token: String,
    pub(crate) session_data: String,
    pub(crate) dont_remember: String,
    attributes: &'static str,
}

impl CookieJar {
    pub(crate) fn new(prefix: &str, secure: bool) -> Self {
        let lead = if secure { "__Secure-" } else { "" };
        Self {
            session_token: format!("{lead}{prefix}.session_token"),
            session_data: format!("{lead}{prefix}.session_data"),
            dont_remember: format!("{lead}{prefix}.dont_remember"),
            attributes: if secure {
                "Path=/; HttpOnly; Secure; SameSite=Lax"
            } else {
                "Path=/; HttpOnly; SameSite=Lax"
            },
        }
    }

    /// `Set-Cookie` for a signed value; `max_age: None` makes a browser-session cookie.
    pub(crate) fn set_signed(
        &self,
        name: &str,
        value: &str,
        signer: &Signer,
        max_age: Option<u64>,
    ) -> HeaderValue {
        let signed = format!("{value}.{}", signer.sign(value));
        let encoded = utf8_percent_encode(&signed, URI_COMPONENT);
        let line = match max_age {
            Some(age) => format!("{name}={encoded}; Max-Age={age}; {}", self.attributes),
            None => format!("{name}={encoded}; {}", self.attributes),
        };
        header_value(line)
    }

    /// `Set-Cookie` that deletes `name`.
    pub(crate) fn clear(&self, name: &str) -> HeaderValue {
        header_value(format!("{name}=; Max-Age=0; {}", self.attributes))
    }

    /// The clearing headers for the whole session, in Better Auth's order.
    pub(crate) fn clear_session(&self) -> [HeaderValue; 3] {
        [self.clear(&self.session_token), self.clear(&self.session_data), self.clear(&self.dont_remember)]
    }
}

fn header_value(line: String) -> HeaderValue {
    // Names are validated at build time and values are percent-encoded, so
    // the line is always a valid header value.
    HeaderValue::from_str(&line).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The first cookie called `name` in the `Cookie` headers: trimmed, one
/// pair of quotes stripped, percent-decoded when it contains `%`.
pub(crate) fn find<'h>(headers: &'h HeaderMap, name: &str) -> Option<Cow<'h, str>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then(|| decode(value.trim()))
        })
}

fn decode(value: &str) -> Cow<'_, str> {
    let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
    if value.contains('%') {
        match percent_decode_str(value).decode_utf8() {
            Ok(decoded) => decoded,
            Err(_) => Cow::Borrowed(value),
        }
    } else {
        Cow::Borrowed(value)
    }
}

/// The value inside a signed cookie, if its signature is valid.
pub(crate) fn verify_signed<'v>(signed: &'v str, signer: &Signer) -> Option<&'v str> {
    let (value, signature) = signed.rsplit_once('.')?;
    if signature.len() != 44 || !signature.ends_with('=') {
        return None;
    }
    signer.verify(value, signature).then_some(value)
}

/// Whether a request carries a cookie whose name is `name` (a cheap scan
/// used on the pass-through path, before any parsing).
pub(crate) fn mentions(headers: &HeaderMap, name: &str) -> bool {
    headers.get_all(header::COOKIE).iter().any(|value| memfind(value.as_bytes(), name.as_bytes()))
}

fn memfind(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"kernia-test-secret-0123456789abcdef0123456789";

    #[test]
    fn signed_cookie_matches_better_auth_bytes() {
        let jar = CookieJar::new("better-auth", false);
        let signer = Signer::new(SECRET);
        let set =
            jar.set_signed(&jar.session_token, "YgqpLnxWXX4pVQJn0eSs7L5L0pfcEuvB", &signer, Some(604800));
        assert_eq!(
            set,
            "better-auth.session_token=YgqpLnxWXX4pVQJn0eSs7L5L0pfcEuvB.rr%2FfqWJLOY3PbxKJwocbeVsfC%2FDVC6xVsh5Ghn%2Bl%2Fts%3D; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax"
        );
        let dont = jar.set_signed(&jar.dont_remember, "true", &signer, None);
        assert_eq!(
            dont,
            "better-auth.dont_remember=true.OMSybldf0YrSx6%2BqNBIJSNzknz23wUyIXId66sdVVVc%3D; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn first_cookie_wins_and_is_decoded() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; x=\"y%3D\"; x=2"));
        assert_eq!(find(&headers, "x").as_deref(), Some("y="));
        assert_eq!(find(&headers, "a").as_deref(), Some("1"));
        assert_eq!(find(&headers, "b"), None);
    }

    #[test]
    fn tampered_signature_is_rejected() {
        let signer = Signer::new(SECRET);
        let good = "wUHZkHT61qlktuhmoawUt6PEFVHFUXZi.K46n38njiZw6HtRmaPDjscrRQb4B6SeBjCyasoPxz6s=";
        assert_eq!(verify_signed(good, &signer), Some("wUHZkHT61qlktuhmoawUt6PEFVHFUXZi"));
        let bad = "wUHZkHT61qlktuhmoawUt6PEFVHFUXZj.K46n38njiZw6HtRmaPDjscrRQb4B6SeBjCyasoPxz6s=";
        assert_eq!(verify_signed(bad, &signer), None);
        assert_eq!(verify_signed("no-signature", &signer), None);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    const SECRET: &[u8] = b"kernia-test-secret-0123456789abcdef0123456789";

    /// The value a `Set-Cookie` line carries, as a browser sends it back.
    fn sent_back(set_cookie: &HeaderValue) -> HeaderMap {
        let line = set_cookie.to_str().unwrap_or_default();
        let pair = line.split(';').next().unwrap_or_default();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(pair).unwrap_or(HeaderValue::from_static("")));
        headers
    }

    proptest! {
        #[test]
        fn arbitrary_cookie_headers_never_panic(
            lines in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 0..4),
            name in "\\PC{0,12}",
        ) {
            let mut headers = HeaderMap::new();
            for line in lines {
                if let Ok(value) = HeaderValue::from_bytes(&line) {
                    headers.append(header::COOKIE, value);
                }
            }
            let found = find(&headers, &name);
            if found.is_some() {
                prop_assert!(mentions(&headers, name.trim()) || name.trim().is_empty());
            }
            let signer = Signer::new(SECRET);
            if let Some(raw) = found {
                let _ = verify_signed(&raw, &signer);
            }
        }

        #[test]
        fn a_cookie_is_found_among_others(
            before in prop::collection::vec(("[a-z]{1,8}", "[A-Za-z0-9]{0,8}"), 0..4),
            value in "[A-Za-z0-9._~-]{0,40}",
        ) {
            let mut pairs: Vec<String> = before
                .iter()
                .filter(|(name, _)| name != "target")
                .map(|(name, v)| format!("{name}={v}"))
                .collect();
            pairs.push(format!("target={value}"));
            pairs.push("target=second".to_owned());
            let mut headers = HeaderMap::new();
            headers.insert(header::COOKIE, HeaderValue::from_str(&pairs.join("; ")).unwrap_or(HeaderValue::from_static("")));
            let found = find(&headers, "target");
            prop_assert_eq!(found.as_deref(), Some(value.as_str()));
        }

        #[test]
        fn signing_then_verifying_returns_any_value(value in "\\PC{0,64}") {
            let jar = CookieJar::new("better-auth", false);
            let signer = Signer::new(SECRET);
            let set = jar.set_signed(&jar.session_token, &value, &signer, Some(60));
            let headers = sent_back(&set);
            let raw = find(&headers, &jar.session_token);
            prop_assert!(raw.is_some(), "{:?}", set);
            let raw = raw.unwrap_or_default();
            prop_assert_eq!(verify_signed(&raw, &signer), Some(value.as_str()));
        }

        #[test]
        fn any_single_byte_tamper_fails_verification(
            value in "[A-Za-z0-9]{1,32}",
            index in any::<prop::sample::Index>(),
            replacement in 0x20u8..0x7f,
        ) {
            let signer = Signer::new(SECRET);
            let signed = format!("{value}.{}", signer.sign(&value));
            let mut bytes = signed.clone().into_bytes();
            let at = index.index(bytes.len());
            prop_assume!(bytes[at] != replacement);
            bytes[at] = replacement;
            let tampered = String::from_utf8(bytes).unwrap_or_default();
            prop_assert_eq!(verify_signed(&tampered, &signer), None, "{} -> {}", signed, tampered);
        }

        #[test]
        fn another_secret_never_verifies(value in "\\PC{0,32}") {
            let signed = format!("{value}.{}", Signer::new(b"another-secret").sign(&value));
            prop_assert_eq!(verify_signed(&signed, &Signer::new(SECRET)), None);
        }
    }
}
