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

    pub(crate) fn format(date: &OffsetDateTime) -> String {
        let utc = date.to_offset(time::UtcOffset::UTC);
        utc.format(FORMAT).unwrap_or_default()
    }

    pub(crate) fn serialize<S: Serializer>(date: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(date))
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
