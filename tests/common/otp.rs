//! Checks and helpers shared by the email OTP and phone number tests.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{App, Reply, USER_KEYS};

pub const SESSION_COOKIE: &str = "better-auth.session_token";
pub const DONT_REMEMBER_COOKIE: &str = "better-auth.dont_remember";
/// The body message of a 429.
pub const TOO_MANY: &str = "Too many requests. Please try again later.";

/// Asserts status and the exact JSON body.
#[track_caller]
pub fn assert_body(reply: &Reply, status: u16, expected: &Value) {
    assert_eq!(reply.status.as_u16(), status, "body: {}", reply.body);
    assert_eq!(&reply.json(), expected, "body: {}", reply.body);
}

/// Asserts a Better Auth error with its exact code and message.
#[track_caller]
pub fn assert_error(reply: &Reply, status: u16, code: &str, message: &str) {
    reply.assert_error(status, code);
    assert_body(reply, status, &json!({ "message": message, "code": code }));
}

#[track_caller]
pub fn assert_invalid_otp(reply: &Reply) {
    assert_error(reply, 400, "INVALID_OTP", "Invalid OTP");
}

#[track_caller]
pub fn assert_too_many_attempts(reply: &Reply) {
    assert_error(reply, 403, "TOO_MANY_ATTEMPTS", "Too many attempts");
}

/// Asserts `reply` sets a remembered (one week) session cookie carrying `token`.
#[track_caller]
pub fn assert_session_cookie(reply: &Reply, token: &str) {
    let cookie = reply.set_cookie(SESSION_COOKIE).expect("session cookie");
    assert!(cookie.starts_with(&format!("{SESSION_COOKIE}={token}.")), "{cookie}");
    assert!(cookie.contains("Max-Age=604800"), "{cookie}");
}

/// Asserts the serialized user has exactly the documented keys.
#[track_caller]
pub fn assert_user_keys(user: &Value) {
    let keys: BTreeSet<&str> = user.as_object().expect("user object").keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(USER_KEYS), "user: {user}");
}

/// The sorted keys of a JSON object.
pub fn keys(body: &Value) -> BTreeSet<&str> {
    body.as_object().unwrap().keys().map(String::as_str).collect()
}

/// A code that is certainly not `code` (every digit shifted).
pub fn wrong(code: &str) -> String {
    code.bytes().map(|b| char::from(b'0' + (b - b'0' + 1) % 10)).collect()
}

pub fn all_digits(code: &str, len: usize) -> bool {
    code.len() == len && code.bytes().all(|b| b.is_ascii_digit())
}

/// The user of the session `cookie` names (`null` without one).
pub async fn session_user(app: &App, cookie: &str) -> Value {
    let reply = app.get("/get-session", cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    if body.is_null() { Value::Null } else { body["user"].clone() }
}

/// Counts replies by `"<status> <code>"`.
pub fn tally(replies: &[Reply]) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for reply in replies {
        let key = format!("{} {}", reply.status.as_u16(), reply.json()["code"].as_str().unwrap_or(""));
        *counts.entry(key).or_default() += 1;
    }
    counts
}
