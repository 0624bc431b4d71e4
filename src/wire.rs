//! The JSON side of the wire: date format, success bodies, and request-body
//! validation with zod's message texts (`[body.email] Invalid input: ...`).

use std::sync::LazyLock;

use bytes::Bytes;
use http::{HeaderValue, Response, header};
use http_body_util::Full;
use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{ApiError, ErrorCode};

/// Dates as `2026-11-22T02:42:33.685Z`: UTC, exactly three fraction digits.
pub(crate) mod date {
    use serde::Serializer;
    use time::OffsetDateTime;
    use time::macros::format_description;

    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

    /// `2026-01-02T03:04:05.678Z`, as JavaScript's `toISOString`.
    pub(crate) fn format(date: &OffsetDateTime) -> String {
        let mut buf = [0u8; 24];
        match format_fast(date, &mut buf) {
            Some(text) => text.to_owned(),
            None => date.to_offset(time::UtcOffset::UTC).format(FORMAT).unwrap_or_default(),
        }
    }

    pub(crate) fn serialize<S: Serializer>(date: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 24];
        match format_fast(date, &mut buf) {
            Some(text) => s.serialize_str(text),
            None => s.serialize_str(&format(date)),
        }
    }

    /// Every response carries several dates: format the four-digit years
    /// without the general formatter's per-call work.
    fn format_fast<'a>(date: &OffsetDateTime, buf: &'a mut [u8; 24]) -> Option<&'a str> {
        let utc = date.to_offset(time::UtcOffset::UTC);
        let year = u32::try_from(utc.year()).ok().filter(|y| *y <= 9999)?;
        let fields = [
            (year, 0, 4),
            (u32::from(u8::from(utc.month())), 5, 2),
            (u32::from(utc.day()), 8, 2),
            (u32::from(utc.hour()), 11, 2),
            (u32::from(utc.minute()), 14, 2),
            (u32::from(utc.second()), 17, 2),
            (u32::from(utc.millisecond()), 20, 3),
        ];
        *buf = *b"0000-00-00T00:00:00.000Z";
        for (mut value, start, width) in fields {
            for slot in buf[start..start + width].iter_mut().rev() {
                *slot = b'0' + u8::try_from(value % 10).ok()?;
                value /= 10;
            }
        }
        std::str::from_utf8(buf).ok()
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn fast_format_matches_the_general_formatter() {
            let mut seconds = -62_135_596_800_i64; // 0001-01-01
            while seconds < 253_402_300_799 {
                let date = OffsetDateTime::from_unix_timestamp_nanos(
                    i128::from(seconds) * 1_000_000_000 + 123_456_789,
                )
                .unwrap();
                let general = date.format(FORMAT).unwrap();
                assert_eq!(format(&date), general);
                seconds += 86_399_999;
            }
        }
    }
}

/// A `200` JSON response.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<Response<Full<Bytes>>, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| ApiError::internal("serialize response", &e))?;
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// zod 4's "practical" email pattern, which Better Auth applies.
static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[A-Za-z0-9_'+\-]+\.)*[A-Za-z0-9_'+\-]*[A-Za-z0-9_+-]@(?:[A-Za-z0-9][A-Za-z0-9\-]*\.)+[A-Za-z]{2,}$",
    )
    .ok()
});

/// Whether `email` passes Better Auth's email check.
pub(crate) fn is_valid_email(email: &str) -> bool {
    EMAIL.as_ref().is_some_and(|re| re.is_match(email))
}

/// zod's name for the type of a JSON value (`undefined` when absent).
fn type_name(value: Option<&Value>) -> &'static str {
    match value {
        None => "undefined",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "boolean",
        Some(Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Array(_)) => "array",
        Some(Value::Object(_)) => "object",
    }
}

/// A JSON body being validated: accessors record zod-style issues in field
/// order and [`Fields::finish`] turns them into one `VALIDATION_ERROR`.
#[derive(Debug)]
pub(crate) struct Fields<'a> {
    object: Option<&'a Map<String, Value>>,
    issues: Vec<String>,
}

static EMPTY: LazyLock<Map<String, Value>> = LazyLock::new(Map::new);

impl<'a> Fields<'a> {
    /// A required object body.
    pub(crate) fn required(body: Option<&'a Value>) -> Result<Self, ApiError> {
        match body {
            Some(Value::Object(object)) => Ok(Self { object: Some(object), issues: Vec::new() }),
            other => Err(ApiError::validation(format!(
                "[body] Invalid input: expected object, received {}",
                type_name(other)
            ))),
        }
    }

    /// An optional object body: absent counts as `{}`.
    pub(crate) fn optional(body: Option<&'a Value>) -> Result<Self, ApiError> {
        match body {
            None => Ok(Self { object: Some(&EMPTY), issues: Vec::new() }),
            some => Self::required(some),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.and_then(|o| o.get(key))
    }

    fn expected(&mut self, key: &str, expected: &str) {
        let received = type_name(self.get(key));
        self.issues.push(format!("[body.{key}] Invalid input: expected {expected}, received {received}"));
    }

    /// A required string.
    pub(crate) fn string(&mut self, key: &str) -> &'a str {
        match self.get(key) {
            Some(Value::String(s)) => s,
            _ => {
                self.expected(key, "string");
                ""
            }
        }
    }

    /// A required string of at least one character.
    pub(crate) fn non_empty(&mut self, key: &str) -> &'a str {
        let value = self.string(key);
        if value.is_empty() && matches!(self.get(key), Some(Value::String(_))) {
            self.issues.push(format!("[body.{key}] Too small: expected string to have >=1 characters"));
        }
        value
    }

    /// A required string in email format (`z.email()`).
    pub(crate) fn email(&mut self, key: &str) -> &'a str {
        let value = self.string(key);
        if matches!(self.get(key), Some(Value::String(_))) && !is_valid_email(value) {
            self.issues.push(format!("[body.{key}] Invalid email address"));
        }
        value
    }

    /// An optional string (absent is fine, `null` is not).
    pub(crate) fn opt_string(&mut self, key: &str) -> Option<&'a str> {
        match self.get(key) {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.expected(key, "string");
                None
            }
        }
    }

    /// An optional string that may also be `null` (`Some(None)`).
    pub(crate) fn nullable_string(&mut self, key: &str) -> Option<Option<&'a str>> {
        match self.get(key) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            Some(_) => {
                self.expected(key, "string");
                None
            }
        }
    }

    /// An optional boolean.
    pub(crate) fn opt_bool(&mut self, key: &str) -> Option<bool> {
        match self.get(key) {
            None => None,
            Some(Value::Bool(b)) => Some(*b),
            Some(_) => {
                self.expected(key, "boolean");
                None
            }
        }
    }

    /// One of the listed string values (a zod enum).
    pub(crate) fn one_of(&mut self, key: &str, options: &[&str]) -> &'a str {
        match self.get(key) {
            Some(Value::String(s)) if options.contains(&s.as_str()) => s,
            _ => {
                let listed: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
                self.issues
                    .push(format!("[body.{key}] Invalid option: expected one of {}", listed.join("|")));
                ""
            }
        }
    }

    /// All recorded issues as one error, or `Ok` when there are none.
    pub(crate) fn finish(self) -> Result<(), ApiError> {
        if self.issues.is_empty() { Ok(()) } else { Err(ApiError::validation(self.issues.join("; "))) }
    }
}

/// Rejects a body that is not an object for endpoints taking any object.
pub(crate) fn record(body: Option<&Value>) -> Result<&Map<String, Value>, ApiError> {
    match body {
        Some(Value::Object(object)) => Ok(object),
        other => Err(ApiError::validation(format!(
            "[body] Invalid input: expected record, received {}",
            type_name(other)
        ))),
    }
}

/// Password length in UTF-16 code units, as JavaScript counts it.
pub(crate) fn js_length(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The error for `code` when `ok` is false.
pub(crate) fn ensure(ok: bool, code: ErrorCode) -> Result<(), ApiError> {
    if ok { Ok(()) } else { Err(ApiError::new(code)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_pattern_matches_zod() {
        for ok in ["a@b.co", "first.last+tag@sub.example.com", "o'neil@example.org"] {
            assert!(is_valid_email(ok), "{ok}");
        }
        for bad in [" bob@example.com ", "a@b", "a..b@c.io", ".a@c.io", "a'@c.io", "a@-b.io", "a@b.c1"] {
            assert!(!is_valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn validation_messages_follow_field_order() {
        let body = serde_json::json!({ "email": 5 });
        let mut f = Fields::required(Some(&body)).unwrap();
        f.string("name");
        f.email("email");
        f.string("password");
        assert_eq!(
            f.finish().unwrap_err().message(),
            "[body.name] Invalid input: expected string, received undefined; [body.email] Invalid input: expected string, received number; [body.password] Invalid input: expected string, received undefined"
        );
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            "\\PC{0,16}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-zA-Z]{0,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Objects whose keys are mostly the schema's, with plausible values.
    fn schema_object() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            prop::sample::select(vec!["name", "otp", "email", "image", "rememberMe", "type"])
                .prop_map(str::to_owned),
            "[a-z]{1,4}",
        ];
        let value = prop_oneof![
            json_value(),
            prop::sample::select(vec!["", "a", "b", "x@y.co", "X@Y.CO", "x@y"]).prop_map(|s| json!(s)),
        ];
        prop::collection::btree_map(key, value, 0..7).prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    /// zod's issues for the schema read in `validators_never_panic_and_report_every_bad_field`.
    fn expected_issues(object: &Map<String, Value>) -> Vec<String> {
        let mut issues = Vec::new();
        let wrong = |key: &str, expected: &str| {
            format!(
                "[body.{key}] Invalid input: expected {expected}, received {}",
                type_name(object.get(key))
            )
        };
        let string = |key| object.get(key).and_then(Value::as_str);
        if string("name").is_none() {
            issues.push(wrong("name", "string"));
        }
        match string("otp") {
            None => issues.push(wrong("otp", "string")),
            Some("") => {
                issues.push("[body.otp] Too small: expected string to have >=1 characters".to_owned())
            }
            Some(_) => {}
        }
        match string("email") {
            None => issues.push(wrong("email", "string")),
            Some(email) if !is_valid_email(email) => {
                issues.push("[body.email] Invalid email address".to_owned())
            }
            Some(_) => {}
        }
        let image = object.get("image");
        if image.is_some_and(|v| !v.is_string()) {
            issues.push(wrong("image", "string"));
        }
        if image.is_some_and(|v| !v.is_string() && !v.is_null()) {
            issues.push(wrong("image", "string"));
        }
        if object.get("rememberMe").is_some_and(|v| !v.is_boolean()) {
            issues.push(wrong("rememberMe", "boolean"));
        }
        if !matches!(string("type"), Some("a" | "b")) {
            issues.push("[body.type] Invalid option: expected one of \"a\"|\"b\"".to_owned());
        }
        issues
    }

    proptest! {
        #[test]
        fn validators_never_panic_and_report_every_bad_field(
            body in prop::option::of(prop_oneof![json_value(), schema_object()]),
        ) {
            let Ok(mut fields) = Fields::required(body.as_ref()) else {
                prop_assert!(!matches!(body, Some(Value::Object(_))));
                return Ok(());
            };
            let _ = (fields.string("name"), fields.non_empty("otp"), fields.email("email"));
            let _ = (fields.opt_string("image"), fields.nullable_string("image"), fields.opt_bool("rememberMe"));
            let _ = fields.one_of("type", &["a", "b"]);
            let object = body.as_ref().and_then(Value::as_object).cloned().unwrap_or_default();
            let expected = expected_issues(&object).join("; ");
            let message = fields.finish().err().map(|e| e.message().to_owned()).unwrap_or_default();
            prop_assert_eq!(message, expected);
        }

        #[test]
        fn a_string_field_is_read_exactly_and_other_types_are_named(key in "[a-z]{1,8}", value in json_value()) {
            let body = json!({ key.clone(): value.clone() });
            let mut fields = Fields::required(Some(&body)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let read = fields.string(&key);
            match &value {
                Value::String(s) => {
                    prop_assert_eq!(read, s.as_str());
                    prop_assert!(fields.finish().is_ok());
                }
                other => {
                    prop_assert_eq!(read, "");
                    let message = fields.finish().map_err(|e| e.message().to_owned()).err().unwrap_or_default();
                    let expected =
                        format!("[body.{key}] Invalid input: expected string, received {}", type_name(Some(other)));
                    prop_assert_eq!(message, expected);
                }
            }
        }

        #[test]
        fn only_objects_are_bodies_and_records(value in prop::option::of(json_value())) {
            let is_object = matches!(value, Some(Value::Object(_)));
            prop_assert_eq!(Fields::required(value.as_ref()).is_ok(), is_object);
            prop_assert_eq!(record(value.as_ref()).is_ok(), is_object);
            prop_assert_eq!(Fields::optional(value.as_ref()).is_ok(), is_object || value.is_none());
        }

        #[test]
        fn accepted_emails_are_ascii_with_one_at_and_a_letter_tld(email in "\\PC{0,40}|[a-z.'+_-]{1,12}@[a-z0-9.-]{1,12}\\.[a-z0-9]{1,4}") {
            if is_valid_email(&email) {
                prop_assert!(email.is_ascii());
                prop_assert_eq!(email.matches('@').count(), 1);
                let tld = email.rsplit('.').next().unwrap_or_default();
                prop_assert!(tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()), "{}", email);
                prop_assert!(!email.starts_with('.') && !email.contains(".."), "{}", email);
            }
        }

        #[test]
        fn js_length_counts_utf16_units(s in "\\PC{0,32}") {
            let length = js_length(&s);
            let chars = s.chars().count();
            prop_assert!(chars <= length && length <= 2 * chars);
            prop_assert_eq!(length, chars + s.chars().filter(|c| u32::from(*c) > 0xFFFF).count());
        }
    }
}
