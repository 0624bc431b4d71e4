//! Core protocol tests (spec/core.md, errors.md, kernia-decisions.md):
//! routing, pass-through, request bodies, the email+password and session
//! endpoints, cookies, origin/CSRF checks, rate limiting and the builder.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use common::probe::{Op, Probe, Probed};
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use kernia::store::{MemoryStore, StoreError, StoreResult};
use kernia::{ConfigError, KerniaLayer, SessionHandle};
use serde_json::{Value, json};
use sha2::Sha256;
use time::OffsetDateTime;
use tower::ServiceExt;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const PASSWORD: &str = "password123";
const DAY: Duration = Duration::from_secs(86_400);
const WEEK_SECS: i64 = 604_800;

/// The three clearing headers of core.md §6.4, in order.
const CLEARED: [&str; 3] = [
    "better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    "better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
    "better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
];

/// The 401 body of session-only endpoints (compared as JSON: key order is not part of the contract).
fn unauthorized() -> Value {
    json!({"message": "Unauthorized", "code": "UNAUTHORIZED"})
}

/// base64(HMAC-SHA256(key, value)) (core.md §6.3).
fn sign_with(key: &str, value: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(value.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// `encodeURIComponent` for base64 text.
fn uri_encode(s: &str) -> String {
    s.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D")
}

/// The signed cookie value `value.<sig>` as Better Auth writes it.
fn signed(value: &str) -> String {
    format!("{value}.{}", uri_encode(&sign_with(SECRET, value)))
}

/// A `Cookie` header carrying the session token.
fn session_cookie(token: &str) -> String {
    format!("better-auth.session_token={}", signed(token))
}

/// The exact `Set-Cookie` of a remembered session.
fn session_set_cookie(token: &str) -> String {
    format!("better-auth.session_token={}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax", signed(token))
}

/// The `dont_remember` cookie (set form and `Cookie` form).
fn dont_remember_set_cookie() -> String {
    format!("better-auth.dont_remember={}; Path=/; HttpOnly; SameSite=Lax", signed("true"))
}

fn dont_remember_cookie() -> String {
    format!("better-auth.dont_remember={}", signed("true"))
}

/// ISO-8601 with exactly three fraction digits and `Z`.
fn iso(t: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC).format(&format).unwrap()
}

fn now(app: &App) -> OffsetDateTime {
    use kernia::clock::Clock;
    app.clock.now()
}

fn later(app: &App, secs: i64) -> String {
    iso(now(app) + time::Duration::seconds(secs))
}

fn is_alnum32(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 32 && s.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn keys(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

fn sorted(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

const SESSION_KEYS: [&str; 8] =
    ["id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress", "userAgent"];

/// A request built by hand: full URI, explicit headers, raw body.
fn req(method: &str, uri: &str, headers: &[(&str, &str)], body: &str) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::from(body.to_owned()))).unwrap()
}

/// A JSON POST to `/api/auth{path}` with the given headers only.
fn json_post(path: &str, headers: &[(&str, &str)], body: &Value) -> Request<Full<Bytes>> {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    req("POST", &format!("/api/auth{path}"), &all, &body.to_string())
}

/// A POST to `/api/auth{path}` from the trusted origin with a raw body of `content_type`.
fn typed_post(path: &str, content_type: &str, body: &str) -> Request<Full<Bytes>> {
    req("POST", &format!("/api/auth{path}"), &[("content-type", content_type), ("origin", ORIGIN)], body)
}

const JSON: &str = "application/json";

/// A valid `/sign-in/email` body as raw text.
const SIGN_IN_BODY: &str = r#"{"email":"a@example.com","password":"password123"}"#;

/// Fetch metadata of a top-level cross-site navigation (a form posted from another site).
const NAVIGATE: [(&str, &str); 2] = [("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "navigate")];

#[track_caller]
fn assert_error_message(reply: &Reply, status: u16, code: &str, message: &str) {
    reply.assert_error(status, code);
    assert_eq!(reply.json()["message"], message, "body: {}", reply.body);
}

#[track_caller]
fn assert_unsupported_media_type(reply: &Reply, message: &str) {
    assert_error_message(reply, 415, "UNSUPPORTED_MEDIA_TYPE", message);
}

#[track_caller]
fn assert_password_too_short(reply: &Reply) {
    assert_error_message(reply, 400, "PASSWORD_TOO_SHORT", "Password too short");
}

#[track_caller]
fn assert_password_too_long(reply: &Reply) {
    assert_error_message(reply, 400, "PASSWORD_TOO_LONG", "Password too long");
}

#[track_caller]
fn assert_invalid_origin(reply: &Reply) {
    assert_error_message(reply, 403, "INVALID_ORIGIN", "Invalid origin");
}

#[track_caller]
fn assert_missing_origin(reply: &Reply) {
    assert_error_message(reply, 403, "MISSING_OR_NULL_ORIGIN", "Missing or null Origin");
}

#[track_caller]
fn assert_invalid_callback(reply: &Reply) {
    assert_error_message(reply, 403, "INVALID_CALLBACK_URL", "Invalid callbackURL");
}

#[track_caller]
fn assert_csrf_blocked(reply: &Reply) {
    assert_error_message(
        reply,
        403,
        "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED",
        "Cross-site navigation login blocked. This request appears to be a CSRF attack.",
    );
}

#[track_caller]
fn assert_unauthorized(reply: &Reply) {
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json(), unauthorized());
}

#[track_caller]
fn assert_validation(reply: &Reply, message: &str) {
    assert_error_message(reply, 400, "VALIDATION_ERROR", message);
}

#[track_caller]
fn assert_empty_404(reply: &Reply) {
    assert_eq!(reply.status, 404, "body: {}", reply.body);
    assert_eq!(reply.body, "");
    assert!(reply.headers.get(header::CONTENT_TYPE).is_none(), "{:?}", reply.headers);
}

#[track_caller]
fn assert_no_store(reply: &Reply) {
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(reply.headers[header::PRAGMA], "no-cache");
}

#[track_caller]
fn assert_cleared(reply: &Reply) {
    assert_eq!(reply.set_cookies(), CLEARED.to_vec());
}

/// The session token a reply's body carries.
fn token_of(reply: &Reply) -> String {
    reply.json()["token"].as_str().unwrap().to_owned()
}

/// The exact `Set-Cookie` list of a session that is not remembered: a
/// browser-session token cookie and the `dont_remember` marker.
fn browser_session_set_cookies(token: &str) -> Vec<String> {
    vec![
        format!("better-auth.session_token={}; Path=/; HttpOnly; SameSite=Lax", signed(token)),
        dont_remember_set_cookie(),
    ]
}

/// Signs up `email`; returns `(token, cookie header, user)`.
async fn sign_up(app: &App, email: &str) -> (String, String, Value) {
    let reply = app.sign_up_reply(email, PASSWORD).await;
    let token = token_of(&reply);
    (token.clone(), session_cookie(&token), reply.json()["user"].clone())
}

/// A sign-up of `email` with `password`, whatever it answers.
async fn sign_up_attempt(app: &App, email: &str, password: &str) -> Reply {
    app.post("/sign-up/email", json!({"name": "Test", "email": email, "password": password}), "").await
}

/// Signs up `email` with `rememberMe: false`; returns the whole reply (asserted 200).
async fn sign_up_unremembered(app: &App, email: &str) -> Reply {
    let body = json!({"name": "Test", "email": email, "password": PASSWORD, "rememberMe": false});
    let reply = app.post("/sign-up/email", body, "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
}

/// Signs in `email`; returns `(token, cookie header)`.
async fn sign_in(app: &App, email: &str) -> (String, String) {
    let reply = app.post("/sign-in/email", json!({"email": email, "password": PASSWORD}), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = token_of(&reply);
    (token.clone(), session_cookie(&token))
}

/// Signs up `email` and signs it in a second time, and signs up another user
/// next to it; returns the cookies of the first session, the second, and the
/// other user's.
async fn two_sessions_and_a_bystander(app: &App, email: &str) -> (String, String, String) {
    let (_, cookie, _) = sign_up(app, email).await;
    let (_, other) = sign_in(app, email).await;
    let (_, bystander, _) = sign_up(app, &format!("bystander-of-{email}")).await;
    (cookie, other, bystander)
}

/// Signs in `email` with `rememberMe: false`.
async fn sign_in_unremembered(app: &App, email: &str) -> Reply {
    app.post("/sign-in/email", json!({"email": email, "password": PASSWORD, "rememberMe": false}), "").await
}

/// Signs in `email` with a `callbackURL` (any JSON value).
async fn sign_in_with_callback(app: &App, email: &str, url: impl Into<Value>) -> Reply {
    let url = url.into();
    app.post("/sign-in/email", json!({"email": email, "password": PASSWORD, "callbackURL": url}), "").await
}

/// A `/sign-in/email` of `email` with exactly the request headers `headers`.
async fn sign_in_with_headers(app: &App, email: &str, headers: &[(&str, &str)]) -> Reply {
    app.send(json_post("/sign-in/email", headers, &json!({"email": email, "password": PASSWORD}))).await
}

/// A `/sign-out` with exactly the request headers `headers`.
async fn sign_out_with(app: &App, headers: &[(&str, &str)]) -> Reply {
    app.send(json_post("/sign-out", headers, &json!({}))).await
}

/// Renames the user of `cookie` in a request from `origin`.
async fn update_name_from(app: &App, cookie: &str, origin: &str, name: &str) -> Reply {
    let headers = [("cookie", cookie), ("origin", origin)];
    app.send(json_post("/update-user", &headers, &json!({"name": name}))).await
}

async fn change_password(app: &App, cookie: &str, current: &str, new: &str) -> Reply {
    app.post("/change-password", json!({"currentPassword": current, "newPassword": new}), cookie).await
}

/// Changes the password of `cookie`'s user from [`PASSWORD`], revoking its other sessions.
async fn change_password_revoking(app: &App, cookie: &str) -> Reply {
    let body =
        json!({"currentPassword": PASSWORD, "newPassword": "new-password-1", "revokeOtherSessions": true});
    app.post("/change-password", body, cookie).await
}

/// `GET /me` (the inner service, through [`SessionHandle`]) with `cookie`.
async fn get_me(app: &App, cookie: &str) -> Reply {
    app.send(req("GET", "/me", &[("cookie", cookie)], "")).await
}

/// Whether `cookie` currently names a live session.
async fn alive(app: &App, cookie: &str) -> bool {
    let reply = app.get("/get-session", cookie).await;
    assert_eq!(reply.status, 200);
    reply.body != "null"
}

/// An inner service that reports what it received and answers with its own
/// status, headers and body.
async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let cookie =
        parts.headers.get(header::COOKIE).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = format!(
        "{} {} cookie=[{}] handle={} body=[{}]",
        parts.method,
        parts.uri,
        cookie,
        parts.extensions.get::<SessionHandle>().is_some(),
        String::from_utf8_lossy(&body)
    );
    Ok(Response::builder()
        .status(StatusCode::IM_A_TEAPOT)
        .header("x-inner", "yes")
        .header(header::CONTENT_TYPE, "text/x-inner")
        .header(header::SET_COOKIE, "inner=1; Path=/")
        .body(Full::new(Bytes::from(text)))
        .unwrap())
}

async fn send_echo(app: &App, request: Request<Full<Bytes>>) -> Reply {
    let service = wrap(&app.layer, tower::service_fn(echo));
    let response = service.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    Reply { status: parts.status, headers: parts.headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

// ---------------------------------------------------------------------------
// Routing (core.md §1, decisions D13)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn ok_endpoint_answers_ok_true() {
    let app = App::new();
    for path in ["/ok", "/ok?probe=1"] {
        let reply = app.get(path, "").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(reply.body, r#"{"ok":true}"#);
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_under_base_are_empty_404() {
    let app = App::new();
    let cases = [
        ("GET", "/api/auth/nope"),
        ("POST", "/api/auth/nope"),
        ("GET", "/api/auth/sign-in/email"),
        ("GET", "/api/auth/sign-out"),
        ("HEAD", "/api/auth/ok"),
        ("OPTIONS", "/api/auth/ok"),
        ("OPTIONS", "/api/auth/sign-in/email"),
        ("PUT", "/api/auth/ok"),
        ("DELETE", "/api/auth/get-session"),
        ("GET", "/api/auth/ok/"),
        ("GET", "/api/auth/get-session/"),
        ("GET", "/api/auth//ok"),
        ("GET", "/api/auth/ok//"),
        ("GET", "/api/auth"),
        ("GET", "/api/auth/"),
        ("POST", "/api/auth"),
        ("GET", "/api/auth/OK"),
        ("POST", "/api/auth/sign-in/social"),
        ("POST", "/api/auth/delete-user"),
        ("GET", "/api/auth/list-accounts"),
        ("POST", "/api/auth/update-session"),
        ("POST", "/api/auth/verify-password"),
    ];
    for (method, uri) in cases {
        let reply = app
            .send(req(method, uri, &[("content-type", "application/json"), ("origin", ORIGIN)], "{}"))
            .await;
        assert_eq!(reply.status, 404, "{method} {uri}: {}", reply.body);
        assert_eq!(reply.body, "", "{method} {uri}");
        assert!(reply.headers.get(header::CONTENT_TYPE).is_none(), "{method} {uri}: {:?}", reply.headers);
    }
}

#[tokio::test]
async fn paths_that_only_share_the_base_prefix_pass_through() {
    let app = App::new();
    for uri in ["/api/authx", "/api/authx/ok", "/api", "/api/aut", "/", "/API/AUTH/ok"] {
        let reply = app.send(req("GET", uri, &[], "")).await;
        assert_eq!(reply.status, 200, "{uri}");
        assert_eq!(reply.body, uri, "{uri}: handled by the inner service");
    }
}

// ---------------------------------------------------------------------------
// Pass-through and SessionHandle (decisions D13)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn hello_passes_through_to_the_inner_service() {
    let app = App::new();
    let reply = app.send(req("GET", "/hello", &[], "")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "hello");
    assert!(reply.set_cookies().is_empty());
    assert!(reply.headers.get(header::CONTENT_TYPE).is_none());
}

#[tokio::test]
async fn pass_through_leaves_request_and_response_untouched_even_when_hostile() {
    let app = App::with(|b| b.rate_limit(true));
    let hostile = r#"foo=%ZZ; =; ;;; "x; a="b; better-auth.dont_remember=zzz"#;
    let body = "{not json";
    let request = req(
        "POST",
        "/hello?q=1",
        &[
            ("content-type", "application/json"),
            ("cookie", hostile),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("origin", "https://evil.example"),
        ],
        body,
    );
    let reply = send_echo(&app, request).await;
    assert_eq!(reply.status, 418);
    assert_eq!(reply.body, format!("POST /hello?q=1 cookie=[{hostile}] handle=false body=[{body}]"));
    assert_eq!(reply.headers["x-inner"], "yes");
    assert_eq!(reply.headers[header::CONTENT_TYPE], "text/x-inner");
    assert_eq!(reply.set_cookies(), vec!["inner=1; Path=/".to_owned()]);
}

#[tokio::test]
async fn pass_through_has_no_body_limit_content_type_check_or_rate_limit() {
    let app = App::with(|b| b.rate_limit(true).max_body_bytes(1024));
    let big = "x".repeat(200_000);
    for _ in 0..120 {
        let request = from_ip(req("PUT", "/upload", &[("content-type", "text/plain")], &big), "198.51.100.1");
        let reply = send_echo(&app, request).await;
        assert_eq!(reply.status, 418);
        assert_eq!(reply.body, format!("PUT /upload cookie=[] handle=false body=[{big}]"));
    }
}

#[tokio::test]
async fn pass_through_with_garbage_session_cookie_reaches_the_inner_service() {
    let app = App::new();
    let cookie = "better-auth.session_token=garbage%ZZ.notasig";
    let reply = app.send(req("POST", "/hello", &[("cookie", cookie)], "{bad")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "hello");
    let me = get_me(&app, cookie).await;
    assert_eq!(me.status, 401);
}

#[tokio::test]
async fn session_handle_is_only_inserted_when_the_session_cookie_is_present() {
    let app = App::new();
    let no_cookie = send_echo(&app, req("GET", "/x", &[], "")).await;
    assert!(no_cookie.body.contains("handle=false"), "{}", no_cookie.body);
    let other = send_echo(&app, req("GET", "/x", &[("cookie", "foo=bar")], "")).await;
    assert!(other.body.contains("handle=false"), "{}", other.body);
    let cookie = session_cookie("wUHZkHT61qlktuhmoawUt6PEFVHFUXZi");
    let with = send_echo(&app, req("GET", "/x", &[("cookie", cookie.as_str())], "")).await;
    assert!(with.body.contains("handle=true"), "{}", with.body);
}

#[tokio::test]
async fn me_reads_the_session_through_session_handle() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "Me@Example.com").await;
    let me = get_me(&app, &cookie).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body, "me@example.com");

    let anonymous = app.send(req("GET", "/me", &[], "")).await;
    assert_eq!(anonymous.status, 401);

    let tampered = cookie.replacen("%3D", "", 1);
    let forged = get_me(&app, &tampered).await;
    assert_eq!(forged.status, 401);

    let out = app.post("/sign-out", json!({}), &cookie).await;
    assert_eq!(out.status, 200);
    let after = get_me(&app, &cookie).await;
    assert_eq!(after.status, 401);
}

#[tokio::test]
async fn pass_through_never_refreshes_or_sets_cookies() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "quiet@example.com").await;
    app.clock.advance(2 * DAY);
    let me = get_me(&app, &cookie).await;
    assert_eq!(me.status, 200);
    assert!(me.set_cookies().is_empty(), "{:?}", me.set_cookies());
}

// ---------------------------------------------------------------------------
// Request bodies (core.md §2, §3.3, decisions D17)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn non_json_media_type_is_415_with_the_raw_header() {
    let app = App::new();
    for content_type in ["text/plain", "Text/Plain; charset=UTF-8", "application/vnd.api+json"] {
        let reply = app.send(typed_post("/sign-in/email", content_type, SIGN_IN_BODY)).await;
        assert_unsupported_media_type(
            &reply,
            &format!("Content-Type \"{content_type}\" is not allowed. Allowed types: application/json"),
        );
    }
}

#[tokio::test]
async fn form_body_is_415_outside_the_sign_in_and_sign_up_endpoints() {
    let app = App::new();
    let reply = app
        .send(typed_post(
            "/email-otp/send-verification-otp",
            "application/x-www-form-urlencoded",
            "email=a%40example.com&type=sign-in",
        ))
        .await;
    assert_unsupported_media_type(
        &reply,
        "Content-Type \"application/x-www-form-urlencoded\" is not allowed. Allowed types: application/json",
    );
}

#[tokio::test]
async fn body_without_content_type_is_415_content_type_required() {
    let app = App::new();
    let reply = app.send(req("POST", "/api/auth/sign-in/email", &[("origin", ORIGIN)], SIGN_IN_BODY)).await;
    assert_unsupported_media_type(&reply, "Content-Type is required. Allowed types: application/json");
}

#[tokio::test]
async fn malformed_json_is_400_bad_request() {
    let app = App::new();
    for body in ["{", "{\"email\":", "not json", "{\"a\":1}x"] {
        let reply = app.send(typed_post("/sign-in/email", JSON, body)).await;
        assert_error_message(&reply, 400, "BAD_REQUEST", "Invalid JSON in request body");
    }
}

#[tokio::test]
async fn empty_body_is_validation_error_expected_object_received_undefined() {
    let app = App::new();
    let variants: [&[(&str, &str)]; 3] = [
        &[("content-type", "application/json"), ("origin", ORIGIN)],
        &[("content-type", "application/json"), ("content-length", "0"), ("origin", ORIGIN)],
        &[("origin", ORIGIN)],
    ];
    for headers in variants {
        let reply = app.send(req("POST", "/api/auth/sign-in/email", headers, "")).await;
        assert_validation(&reply, "[body] Invalid input: expected object, received undefined");
    }
}

#[tokio::test]
async fn null_array_and_string_bodies_are_validation_errors() {
    let app = App::new();
    for (body, kind) in [("null", "null"), ("[]", "array"), ("[1,2]", "array"), ("\"text\"", "string")] {
        let reply = app.send(typed_post("/sign-in/email", JSON, body)).await;
        assert_validation(&reply, &format!("[body] Invalid input: expected object, received {kind}"));
    }
}

#[tokio::test]
async fn json_media_type_with_parameters_and_any_case_is_accepted() {
    let app = App::new();
    for (i, content_type) in ["application/json; charset=utf-8", "Application/JSON"].into_iter().enumerate() {
        let body = json!({"name": "T", "email": format!("ct{i}@example.com"), "password": PASSWORD});
        let reply = app.send(typed_post("/sign-up/email", content_type, &body.to_string())).await;
        assert_eq!(reply.status, 200, "{content_type}: {}", reply.body);
    }
}

#[tokio::test]
async fn optional_body_endpoints_accept_no_body() {
    let app = App::new();
    let reply = app.send(req("POST", "/api/auth/sign-out", &[("origin", ORIGIN)], "")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({"success": true}));
}

/// A `/sign-in/email` body of exactly `len` bytes that fails validation.
fn padded_body(len: usize) -> String {
    let skeleton = r#"{"pad":""}"#;
    let body = format!(r#"{{"pad":"{}"}}"#, "a".repeat(len - skeleton.len()));
    assert_eq!(body.len(), len);
    body
}

#[tokio::test]
async fn body_over_the_default_64_kib_is_413() {
    let app = App::new();
    let body = padded_body(64 * 1024 + 1);
    let reply = app.send(typed_post("/sign-in/email", JSON, &body)).await;
    reply.assert_error(413, "PAYLOAD_TOO_LARGE");

    let at_limit = app.send(typed_post("/sign-in/email", JSON, &padded_body(64 * 1024))).await;
    assert_eq!(at_limit.status, 400, "{}", at_limit.body);
    assert_eq!(at_limit.json()["code"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn oversize_body_with_a_lying_content_length_is_413() {
    let app = App::new();
    let body = padded_body(100 * 1024);
    let reply = app
        .send(req(
            "POST",
            "/api/auth/sign-in/email",
            &[("content-type", "application/json"), ("content-length", "12"), ("origin", ORIGIN)],
            &body,
        ))
        .await;
    reply.assert_error(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn max_body_bytes_is_configurable_and_inclusive() {
    let app = App::with(|b| b.max_body_bytes(1024));
    let ok = app.send(typed_post("/sign-in/email", JSON, &padded_body(1024))).await;
    assert_eq!(ok.json()["code"], "VALIDATION_ERROR", "{}", ok.body);
    let over = app.send(typed_post("/sign-in/email", JSON, &padded_body(1025))).await;
    over.assert_error(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn validation_message_lists_every_issue_in_schema_order() {
    let app = App::new();
    let reply = app.post("/sign-up/email", json!({"email": 5}), "").await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.json(),
        json!({
            "message": "[body.name] Invalid input: expected string, received undefined; [body.email] Invalid input: expected string, received number; [body.password] Invalid input: expected string, received undefined",
            "code": "VALIDATION_ERROR"
        })
    );
}

#[tokio::test]
async fn wrong_types_name_the_received_type() {
    let app = App::new();
    let reply = app.post("/sign-in/email", json!({"email": null, "password": true}), "").await;
    assert_validation(
        &reply,
        "[body.email] Invalid input: expected string, received null; [body.password] Invalid input: expected string, received boolean",
    );
    let remember = app
        .post(
            "/sign-in/email",
            json!({"email": "a@example.com", "password": PASSWORD, "rememberMe": "yes"}),
            "",
        )
        .await;
    assert_validation(&remember, "[body.rememberMe] Invalid input: expected boolean, received string");
}

// ---------------------------------------------------------------------------
// Signed cookies (core.md §6.3)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn cookie_signing_helper_matches_the_spec_worked_example() {
    assert_eq!(
        sign_with(SECRET, "wUHZkHT61qlktuhmoawUt6PEFVHFUXZi"),
        "K46n38njiZw6HtRmaPDjscrRQb4B6SeBjCyasoPxz6s="
    );
    assert_eq!(
        signed("wUHZkHT61qlktuhmoawUt6PEFVHFUXZi"),
        "wUHZkHT61qlktuhmoawUt6PEFVHFUXZi.K46n38njiZw6HtRmaPDjscrRQb4B6SeBjCyasoPxz6s%3D"
    );
    assert_eq!(
        signed("YgqpLnxWXX4pVQJn0eSs7L5L0pfcEuvB"),
        "YgqpLnxWXX4pVQJn0eSs7L5L0pfcEuvB.rr%2FfqWJLOY3PbxKJwocbeVsfC%2FDVC6xVsh5Ghn%2Bl%2Fts%3D"
    );
    assert_eq!(signed("true"), "true.OMSybldf0YrSx6%2BqNBIJSNzknz23wUyIXId66sdVVVc%3D");
}

#[tokio::test]
async fn spec_worked_example_cookie_verifies_on_the_server() {
    // A correctly signed token with no session row: the server verified the
    // signature, so it answers null *and* clears the cookies (§8.1).
    let app = App::new();
    let reply =
        app.get("/get-session", "better-auth.session_token=wUHZkHT61qlktuhmoawUt6PEFVHFUXZi.K46n38njiZw6HtRmaPDjscrRQb4B6SeBjCyasoPxz6s%3D").await;
    assert_eq!(reply.body, "null");
    assert_cleared(&reply);
}

#[tokio::test]
async fn cookie_header_parsing_follows_better_call() {
    let app = App::new();
    let (token, cookie, _) = sign_up(&app, "parse@example.com").await;
    let raw_sig = format!("better-auth.session_token={token}.{}", sign_with(SECRET, &token));
    let quoted = format!("better-auth.session_token=\"{}\"", signed(&token));
    let spaced = format!("foo=bar ;  {cookie}  ; baz=1");
    for live in [raw_sig.as_str(), quoted.as_str(), spaced.as_str()] {
        assert!(alive(&app, live).await, "{live}");
    }
    // The first occurrence of a name wins.
    assert!(alive(&app, &format!("{cookie}; better-auth.session_token=garbage")).await);
    let shadowed = app.get("/get-session", &format!("better-auth.session_token=garbage; {cookie}")).await;
    assert_eq!(shadowed.body, "null");
    assert!(shadowed.set_cookies().is_empty());
}

// ---------------------------------------------------------------------------
// POST /sign-up/email (core.md §8.3, §6, §7)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sign_up_returns_token_and_user_and_sets_the_session_cookie() {
    let app = App::new();
    let body =
        json!({"name": "Alice", "email": "Alice@Example.COM", "password": PASSWORD, "unknownField": 1});
    let reply = app.post("/sign-up/email", body, "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    let body = reply.json();
    assert_eq!(keys(&body), sorted(&["token", "user"]));
    assert!(is_alnum32(&body["token"]), "{}", body["token"]);
    let user = &body["user"];
    assert_eq!(keys(user), sorted(&USER_KEYS), "{user}");
    assert!(is_alnum32(&user["id"]), "{}", user["id"]);
    let stamp = iso(now(&app));
    assert_eq!(
        user,
        &json!({
            "id": user["id"],
            "name": "Alice",
            "email": "alice@example.com",
            "emailVerified": false,
            "image": null,
            "createdAt": stamp,
            "updatedAt": stamp,
            "phoneNumber": null,
            "phoneNumberVerified": false,
        })
    );
    assert!(!reply.body.contains("password"));
    let token = body["token"].as_str().unwrap();
    assert_eq!(reply.set_cookies(), vec![session_set_cookie(token)]);
    assert!(alive(&app, &reply.cookie_header()).await);
}

#[tokio::test]
async fn sign_up_ignores_email_verified_and_keeps_image() {
    let app = App::new();
    let body = json!({"name": "I", "email": "img@example.com", "password": PASSWORD, "emailVerified": true, "image": "https://img.example/a.png"});
    let reply = app.post("/sign-up/email", body, "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["user"]["emailVerified"], false);
    assert_eq!(reply.json()["user"]["image"], "https://img.example/a.png");
}

#[tokio::test]
async fn duplicate_sign_up_is_422_user_already_exists() {
    let app = App::new();
    sign_up(&app, "dup@example.com").await;
    for email in ["dup@example.com", "DUP@Example.com"] {
        let reply = sign_up_attempt(&app, email, PASSWORD).await;
        assert_error_message(
            &reply,
            422,
            "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL",
            "User already exists. Use another email.",
        );
        assert!(reply.set_cookies().is_empty());
    }
}

#[tokio::test]
async fn sign_up_password_length_is_counted_in_utf16_units() {
    let app = App::new();
    assert_password_too_short(&sign_up_attempt(&app, "p1@example.com", &"a".repeat(7)).await);
    assert_password_too_short(&sign_up_attempt(&app, "p2@example.com", &"é".repeat(7)).await);
    assert_password_too_long(&sign_up_attempt(&app, "p3@example.com", &"a".repeat(129)).await);
    // 65 emoji = 130 UTF-16 units (65 chars).
    assert_password_too_long(&sign_up_attempt(&app, "p4@example.com", &"😀".repeat(65)).await);
    assert_eq!(sign_up_attempt(&app, "p5@example.com", &"a".repeat(128)).await.status, 200);
    // 4 emoji = 8 UTF-16 units (4 chars).
    assert_eq!(sign_up_attempt(&app, "p6@example.com", &"😀".repeat(4)).await.status, 200);
}

#[tokio::test]
async fn sign_up_with_empty_password_is_too_small() {
    let app = App::new();
    let reply = sign_up_attempt(&app, "e@example.com", "").await;
    assert_validation(&reply, "[body.password] Too small: expected string to have >=1 characters");
}

#[tokio::test]
async fn sign_up_with_a_malformed_email_is_rejected_by_the_schema() {
    // core.md §3.3 ("schema-level email format (/sign-up/email)") and §8.3.
    let app = App::new();
    for email in ["not-an-email", " bob@example.com ", "a@b", "a..b@example.com"] {
        let reply = sign_up_attempt(&app, email, PASSWORD).await;
        assert_validation(&reply, "[body.email] Invalid email address");
    }
}

#[tokio::test]
async fn sign_up_with_a_phone_number_is_phone_number_cannot_be_set() {
    let app = App::new();
    let body = json!({"name": "P", "email": "phone@example.com", "password": PASSWORD, "phoneNumber": "+15555550100"});
    let reply = app.post("/sign-up/email", body, "").await;
    assert_error_message(
        &reply,
        400,
        "PHONE_NUMBER_CANNOT_BE_SET",
        "Phone number can only be set by verifying it",
    );
}

#[tokio::test]
async fn sign_up_remember_me_false_sets_a_browser_session_cookie_and_dont_remember() {
    let app = App::new();
    let reply = sign_up_unremembered(&app, "r@example.com").await;
    let token = token_of(&reply);
    assert_eq!(reply.set_cookies(), browser_session_set_cookies(&token));
    assert_eq!(
        dont_remember_set_cookie(),
        "better-auth.dont_remember=true.OMSybldf0YrSx6%2BqNBIJSNzknz23wUyIXId66sdVVVc%3D; Path=/; HttpOnly; SameSite=Lax"
    );
    // The row lives one day (§7, don't-remember lifetime).
    let session = app.get("/get-session", &reply.cookie_header()).await;
    assert_eq!(session.json()["session"]["expiresAt"], later(&app, 86_400));
}

// ---------------------------------------------------------------------------
// POST /sign-in/email (core.md §8.4)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sign_in_returns_redirect_false_token_and_user() {
    let app = App::new();
    let (up_token, _, user) = sign_up(&app, "in@example.com").await;
    let reply = app
        .post("/sign-in/email", json!({"email": "IN@example.com", "password": PASSWORD, "extra": [1]}), "")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(keys(&body), sorted(&["redirect", "token", "user"]), "no url key without callbackURL");
    assert_eq!(body["redirect"], false);
    assert!(is_alnum32(&body["token"]));
    assert_ne!(body["token"], up_token.as_str());
    assert_eq!(body["user"], user);
    assert!(reply.headers.get(header::LOCATION).is_none());
    assert_eq!(reply.set_cookies(), vec![session_set_cookie(body["token"].as_str().unwrap())]);
}

#[tokio::test]
async fn every_sign_in_issues_a_new_independent_session() {
    let app = App::new();
    sign_up(&app, "many@example.com").await;
    let (a, cookie_a) = sign_in(&app, "many@example.com").await;
    let (b, cookie_b) = sign_in(&app, "many@example.com").await;
    assert_ne!(a, b);
    assert!(alive(&app, &cookie_a).await);
    assert!(alive(&app, &cookie_b).await);
}

#[tokio::test]
async fn sign_in_with_callback_url_redirects_with_location() {
    let app = App::new();
    sign_up(&app, "cb@example.com").await;
    for url in ["/dashboard", "http://localhost:3000/welcome?x=1"] {
        let reply = sign_in_with_callback(&app, "cb@example.com", url).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let body = reply.json();
        assert_eq!(keys(&body), sorted(&["redirect", "token", "url", "user"]));
        assert_eq!(body["redirect"], true);
        assert_eq!(body["url"], url);
        assert_eq!(reply.headers[header::LOCATION], url);
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_email_fail_identically() {
    let app = App::new();
    sign_up(&app, "known@example.com").await;
    let wrong = app
        .post("/sign-in/email", json!({"email": "known@example.com", "password": "wrong-password"}), "")
        .await;
    let unknown =
        app.post("/sign-in/email", json!({"email": "ghost@example.com", "password": PASSWORD}), "").await;
    for reply in [&wrong, &unknown] {
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.json(),
            json!({"message": "Invalid email or password", "code": "INVALID_EMAIL_OR_PASSWORD"})
        );
        assert!(reply.set_cookies().is_empty());
    }
    assert_eq!(wrong.body, unknown.body);
}

#[tokio::test]
async fn sign_in_with_untrusted_callback_url_is_403() {
    let app = App::new();
    for url in ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"] {
        assert_invalid_callback(&sign_in_with_callback(&app, "a@example.com", url).await);
    }
}

#[tokio::test]
async fn non_string_callback_url_is_400_message_only() {
    let app = App::new();
    for value in [json!(5), json!({"a": 1}), json!(true)] {
        let reply = sign_in_with_callback(&app, "a@example.com", value).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(reply.json(), json!({"message": "Invalid callbackURL: expected a string"}));
    }
}

#[tokio::test]
async fn sign_in_with_an_invalid_email_is_invalid_email() {
    let app = App::new();
    let reply =
        app.post("/sign-in/email", json!({"email": " bob@example.com ", "password": PASSWORD}), "").await;
    assert_error_message(&reply, 400, "INVALID_EMAIL", "Invalid email");
}

#[tokio::test]
async fn sign_in_with_a_129_char_password_is_too_long() {
    let app = App::new();
    let reply =
        app.post("/sign-in/email", json!({"email": "a@example.com", "password": "a".repeat(129)}), "").await;
    assert_password_too_long(&reply);
}

#[tokio::test]
async fn sign_in_remember_me_false_sets_dont_remember() {
    let app = App::new();
    sign_up(&app, "nr@example.com").await;
    let reply = sign_in_unremembered(&app, "nr@example.com").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = token_of(&reply);
    assert_eq!(reply.set_cookies(), browser_session_set_cookies(&token));
}

#[tokio::test]
async fn remembered_sign_in_clears_a_valid_dont_remember_cookie() {
    let app = App::new();
    sign_up(&app, "rem@example.com").await;
    let body = json!({"email": "rem@example.com", "password": PASSWORD});
    let reply = app.post("/sign-in/email", body, &dont_remember_cookie()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = token_of(&reply);
    assert_eq!(reply.set_cookie("better-auth.session_token"), Some(session_set_cookie(&token)));
    assert_eq!(reply.set_cookie("better-auth.dont_remember").as_deref(), Some(CLEARED[2]));
    assert_eq!(reply.set_cookies().len(), 2);
}

// ---------------------------------------------------------------------------
// GET /get-session (core.md §8.1, §7)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn get_session_without_cookie_is_null_and_not_cached() {
    let app = App::new();
    let reply = app.get("/get-session", "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "null");
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    assert_no_store(&reply);
    assert!(reply.set_cookies().is_empty());
}

#[tokio::test]
async fn get_session_returns_session_and_user() {
    let app = App::new();
    let created = iso(now(&app));
    let (token, cookie, user) = sign_up(&app, "gs@example.com").await;
    let reply = app.get("/get-session", &cookie).await;
    assert_eq!(reply.status, 200);
    assert_no_store(&reply);
    assert!(reply.set_cookies().is_empty(), "fresh session is not refreshed");
    let body = reply.json();
    assert_eq!(keys(&body), sorted(&["session", "user"]));
    assert_eq!(body["user"], user);
    let session = &body["session"];
    assert_eq!(keys(session), sorted(&SESSION_KEYS), "{session}");
    assert!(is_alnum32(&session["id"]));
    assert_eq!(session["token"], token.as_str());
    assert_eq!(session["userId"], user["id"]);
    assert_eq!(session["createdAt"], created.as_str());
    assert_eq!(session["updatedAt"], created.as_str());
    assert_eq!(session["expiresAt"], later(&app, WEEK_SECS));
    assert_eq!(session["ipAddress"], "");
    assert_eq!(session["userAgent"], "");
}

#[tokio::test]
async fn session_records_client_ip_and_user_agent() {
    let app = App::new();
    sign_up(&app, "ua@example.com").await;
    let request = json_post(
        "/sign-in/email",
        &[("origin", ORIGIN), ("user-agent", "kernia-test/1.0")],
        &json!({"email": "ua@example.com", "password": PASSWORD}),
    );
    let reply = app.send(from_ip(request, "203.0.113.9")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let session = app.get("/get-session", &reply.cookie_header()).await.json()["session"].clone();
    assert_eq!(session["ipAddress"], "203.0.113.9");
    assert_eq!(session["userAgent"], "kernia-test/1.0");
}

#[tokio::test]
async fn tampered_session_cookie_means_no_session_and_no_set_cookie() {
    let app = App::new();
    let (token, cookie, _) = sign_up(&app, "tamper@example.com").await;
    let sig = sign_with(SECRET, &token);
    let mut flipped = sig.clone().into_bytes();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let other_token = format!("{}{}", &token[..31], if token.ends_with('x') { 'y' } else { 'x' });
    let cases = [
        format!("better-auth.session_token={token}.{}", uri_encode(&flipped)),
        format!("better-auth.session_token={other_token}.{}", uri_encode(&sig)),
        format!("better-auth.session_token={token}"),
        format!("better-auth.session_token={token}."),
        format!("better-auth.session_token={token}.{}", uri_encode(&sign_with("another-secret", &token))),
        format!("better-auth.session_token={}", uri_encode(&sig)),
        format!("__Secure-{cookie}"),
        format!("better-auth.session_token=x.{}", uri_encode(&sig[..43])),
    ];
    for case in cases {
        let reply = app.get("/get-session", &case).await;
        assert_eq!(reply.status, 200, "{case}");
        assert_eq!(reply.body, "null", "{case}");
        assert!(reply.set_cookies().is_empty(), "{case}: {:?}", reply.set_cookies());
        assert_no_store(&reply);
    }
    assert!(alive(&app, &cookie).await);
}

#[tokio::test]
async fn bearer_token_is_ignored() {
    let app = App::new();
    let (token, _, _) = sign_up(&app, "bearer@example.com").await;
    let bearer = format!("Bearer {token}");
    let reply =
        app.send(req("GET", "/api/auth/get-session", &[("authorization", bearer.as_str())], "")).await;
    assert_eq!(reply.body, "null");
}

#[tokio::test]
async fn revoked_but_signed_cookie_is_null_and_clears_cookies() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "revoked@example.com").await;
    let out = app.post("/sign-out", json!({}), &cookie).await;
    assert_eq!(out.status, 200);
    let reply = app.get("/get-session", &cookie).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "null");
    assert_no_store(&reply);
    assert_cleared(&reply);
}

#[tokio::test]
async fn get_session_refreshes_once_update_age_has_passed() {
    let app = App::new();
    let (token, cookie, _) = sign_up(&app, "refresh@example.com").await;
    let created = iso(now(&app));
    let first_expiry = later(&app, WEEK_SECS);

    app.clock.advance(DAY - Duration::from_secs(1));
    let early = app.get("/get-session", &cookie).await;
    assert!(early.set_cookies().is_empty(), "{:?}", early.set_cookies());
    assert_eq!(early.json()["session"]["expiresAt"], first_expiry.as_str());
    assert_eq!(early.json()["session"]["updatedAt"], created.as_str());

    app.clock.advance(Duration::from_secs(1));
    let due = app.get("/get-session", &cookie).await;
    assert_eq!(due.set_cookies(), vec![session_set_cookie(&token)]);
    assert_eq!(due.json()["session"]["expiresAt"], later(&app, WEEK_SECS));
    assert_eq!(due.json()["session"]["updatedAt"], iso(now(&app)));
    assert_eq!(due.json()["session"]["token"], token.as_str());

    let again = app.get("/get-session", &cookie).await;
    assert!(again.set_cookies().is_empty(), "just refreshed");
    assert_eq!(again.json()["session"]["expiresAt"], later(&app, WEEK_SECS));
}

#[tokio::test]
async fn disable_refresh_query_flag_is_true_for_any_non_empty_value() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "norefresh@example.com").await;
    let first_expiry = later(&app, WEEK_SECS);
    app.clock.advance(2 * DAY);
    for value in ["true", "false", "0", "1"] {
        let reply = app.get(&format!("/get-session?disableRefresh={value}"), &cookie).await;
        assert_eq!(reply.status, 200);
        assert!(reply.set_cookies().is_empty(), "disableRefresh={value}");
        assert_eq!(reply.json()["session"]["expiresAt"], first_expiry.as_str(), "disableRefresh={value}");
    }
    let empty = app.get("/get-session?disableRefresh=", &cookie).await;
    assert_eq!(
        empty.set_cookie("better-auth.session_token").map(|c| c.contains("Max-Age=604800")),
        Some(true)
    );
    assert_eq!(empty.json()["session"]["expiresAt"], later(&app, WEEK_SECS));
}

#[tokio::test]
async fn dont_remember_cookie_suppresses_refresh() {
    let app = App::new();
    let both = sign_up_unremembered(&app, "dr@example.com").await.cookie_header();
    let expiry = later(&app, 86_400);
    app.clock.advance(Duration::from_secs(3600));
    let reply = app.get("/get-session", &both).await;
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
    assert_eq!(reply.json()["session"]["expiresAt"], expiry.as_str());
}

#[tokio::test]
async fn disable_session_refresh_option_suppresses_refresh() {
    let app = App::with(|b| b.disable_session_refresh(true));
    let (_, cookie, _) = sign_up(&app, "optout@example.com").await;
    let expiry = later(&app, WEEK_SECS);
    app.clock.advance(3 * DAY);
    let reply = app.get("/get-session", &cookie).await;
    assert!(reply.set_cookies().is_empty());
    assert_eq!(reply.json()["session"]["expiresAt"], expiry.as_str());
}

#[tokio::test]
async fn session_expires_after_seven_days() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "expire@example.com").await;
    app.clock.advance(7 * DAY);
    let reply = app.get("/get-session", &cookie).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "null");
    assert_cleared(&reply);
    let me = get_me(&app, &cookie).await;
    assert_eq!(me.status, 401);
}

#[tokio::test]
async fn post_get_session_is_405_defer_session_required() {
    let app = App::new();
    let reply = app.post("/get-session", json!({}), "").await;
    assert_eq!(reply.status, 405);
    assert_eq!(
        reply.json(),
        json!({"message": "POST method requires deferSessionRefresh to be enabled in session config", "code": "METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"})
    );
}

// ---------------------------------------------------------------------------
// POST /sign-out (core.md §8.2)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn sign_out_clears_cookies_and_kills_the_session() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "out@example.com").await;
    let (_, other) = sign_in(&app, "out@example.com").await;
    let reply = app.post("/sign-out", json!({}), &cookie).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, r#"{"success":true}"#);
    assert_cleared(&reply);
    assert!(!alive(&app, &cookie).await);
    assert!(alive(&app, &other).await, "only the cookie's session is deleted");
}

#[tokio::test]
async fn sign_out_without_a_session_still_succeeds() {
    let app = App::new();
    let reply = app.post("/sign-out", json!({}), "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"success": true}));
    assert_cleared(&reply);
    let forged = app.post("/sign-out", json!({}), "better-auth.session_token=abc.def").await;
    assert_eq!(forged.status, 200);
    assert_eq!(forged.json(), json!({"success": true}));
}

// ---------------------------------------------------------------------------
// Session management: list / revoke (core.md §8.5–§8.8)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn list_sessions_returns_every_live_session_with_tokens() {
    let app = App::new();
    let (a, cookie, user) = sign_up(&app, "list@example.com").await;
    let (b, _) = sign_in(&app, "list@example.com").await;
    sign_up(&app, "someone-else@example.com").await;
    let reply = app.get("/list-sessions", &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let list = reply.json();
    let sessions = list.as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let mut tokens: Vec<&str> = sessions.iter().map(|s| s["token"].as_str().unwrap()).collect();
    tokens.sort_unstable();
    let mut expected = vec![a.as_str(), b.as_str()];
    expected.sort_unstable();
    assert_eq!(tokens, expected);
    for session in sessions {
        assert_eq!(keys(session), sorted(&SESSION_KEYS));
        assert_eq!(session["userId"], user["id"]);
    }
}

#[tokio::test]
async fn list_sessions_requires_a_fresh_session() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "stale@example.com").await;
    app.clock.advance(DAY - Duration::from_secs(1));
    assert_eq!(app.get("/list-sessions", &cookie).await.status, 200);
    app.clock.advance(Duration::from_secs(1));
    let reply = app.get("/list-sessions", &cookie).await;
    assert_error_message(&reply, 403, "SESSION_NOT_FRESH", "Session is not fresh");
}

#[tokio::test]
async fn list_sessions_without_session_is_401() {
    let app = App::new();
    let reply = app.get("/list-sessions", "").await;
    assert_unauthorized(&reply);
}

#[tokio::test]
async fn list_sessions_omits_expired_sessions() {
    let app = App::with(|b| b.session_fresh_age(Duration::ZERO));
    let (_, cookie, _) = sign_up(&app, "expired-list@example.com").await;
    let short = sign_in_unremembered(&app, "expired-list@example.com").await;
    assert_eq!(short.status, 200);
    app.clock.advance(DAY + Duration::from_secs(1));
    let reply = app.get("/list-sessions", &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn revoke_session_of_own_token_clears_cookies() {
    let app = App::new();
    let (token, cookie, _) = sign_up(&app, "rev@example.com").await;
    let reply = app.post("/revoke-session", json!({"token": token}), &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, r#"{"status":true}"#);
    assert_cleared(&reply);
    assert!(!alive(&app, &cookie).await);
}

#[tokio::test]
async fn revoke_session_of_another_own_session_keeps_the_current_one() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "rev2@example.com").await;
    let (other, other_cookie) = sign_in(&app, "rev2@example.com").await;
    let reply = app.post("/revoke-session", json!({"token": other}), &cookie).await;
    assert_eq!(reply.json(), json!({"status": true}));
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
    assert!(!alive(&app, &other_cookie).await);
    assert!(alive(&app, &cookie).await);
}

#[tokio::test]
async fn revoke_session_cannot_delete_another_users_session() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "attacker@example.com").await;
    let (victim, victim_cookie, _) = sign_up(&app, "victim@example.com").await;
    let reply = app.post("/revoke-session", json!({"token": victim}), &cookie).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": true}));
    assert!(reply.set_cookies().is_empty());
    assert!(alive(&app, &victim_cookie).await);
    assert!(alive(&app, &cookie).await);
}

#[tokio::test]
async fn revoke_session_of_an_unknown_token_still_answers_status_true() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "unknown-token@example.com").await;
    let reply = app.post("/revoke-session", json!({"token": "doesnotexist"}), &cookie).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"status": true}));
    assert!(alive(&app, &cookie).await);
}

#[tokio::test]
async fn revoke_session_requires_a_session_and_a_token() {
    let app = App::new();
    let anonymous = app.post("/revoke-session", json!({"token": "x"}), "").await;
    assert_unauthorized(&anonymous);
    let (_, cookie, _) = sign_up(&app, "no-token@example.com").await;
    let missing = app.post("/revoke-session", json!({}), &cookie).await;
    assert_validation(&missing, "[body.token] Invalid input: expected string, received undefined");
}

#[tokio::test]
async fn revoke_sessions_ends_every_session_of_the_user() {
    let app = App::new();
    let (cookie, other, bystander) = two_sessions_and_a_bystander(&app, "all@example.com").await;
    let reply = app.post("/revoke-sessions", json!({}), &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({"status": true}));
    assert_cleared(&reply);
    assert!(!alive(&app, &cookie).await);
    assert!(!alive(&app, &other).await);
    assert!(alive(&app, &bystander).await);
    let anonymous = app.post("/revoke-sessions", json!({}), "").await;
    assert_eq!(anonymous.json(), unauthorized());
}

#[tokio::test]
async fn revoke_other_sessions_keeps_the_current_one() {
    let app = App::new();
    let (cookie, other, bystander) = two_sessions_and_a_bystander(&app, "others@example.com").await;
    let reply = app.post("/revoke-other-sessions", json!({}), &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({"status": true}));
    assert!(reply.set_cookies().is_empty());
    assert!(alive(&app, &cookie).await);
    assert!(!alive(&app, &other).await);
    assert!(alive(&app, &bystander).await);
    let anonymous = app.post("/revoke-other-sessions", json!({}), "").await;
    assert_eq!(anonymous.json(), unauthorized());
}

// ---------------------------------------------------------------------------
// POST /change-password (core.md §8.9)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn change_password_returns_null_token_and_user() {
    let app = App::new();
    let (_, cookie, user) = sign_up(&app, "cp@example.com").await;
    let reply = change_password(&app, &cookie, PASSWORD, "new-password-1").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(keys(&body), sorted(&["token", "user"]));
    assert_eq!(body["token"], Value::Null);
    assert_eq!(body["user"]["id"], user["id"]);
    assert_eq!(body["user"]["email"], "cp@example.com");
    assert!(!reply.body.contains("password\""));
    assert!(reply.set_cookies().is_empty());
    assert!(alive(&app, &cookie).await);

    let old = app.post("/sign-in/email", json!({"email": "cp@example.com", "password": PASSWORD}), "").await;
    assert_eq!(old.status, 401);
    let new = app
        .post("/sign-in/email", json!({"email": "cp@example.com", "password": "new-password-1"}), "")
        .await;
    assert_eq!(new.status, 200);
}

#[tokio::test]
async fn change_password_with_wrong_current_password_is_invalid_password() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "cpw@example.com").await;
    let reply = change_password(&app, &cookie, "not-the-password", "new-password-1").await;
    assert_error_message(&reply, 400, "INVALID_PASSWORD", "Invalid password");
}

#[tokio::test]
async fn change_password_checks_new_password_length() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "cpl@example.com").await;
    assert_password_too_short(&change_password(&app, &cookie, PASSWORD, "short").await);
    assert_password_too_long(&change_password(&app, &cookie, PASSWORD, &"a".repeat(129)).await);
}

#[tokio::test]
async fn change_password_revoking_other_sessions_issues_a_new_session() {
    let app = App::new();
    let (old_token, cookie, user) = sign_up(&app, "cpr@example.com").await;
    let (_, other) = sign_in(&app, "cpr@example.com").await;
    let reply = change_password_revoking(&app, &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert!(is_alnum32(&body["token"]));
    let new_token = body["token"].as_str().unwrap();
    assert_ne!(new_token, old_token);
    assert_eq!(body["user"]["id"], user["id"]);
    assert_eq!(reply.set_cookies(), vec![session_set_cookie(new_token)]);
    assert!(!alive(&app, &cookie).await, "the old current session is gone too");
    assert!(!alive(&app, &other).await);
    assert!(alive(&app, &session_cookie(new_token)).await);
}

#[tokio::test]
async fn change_password_revoke_keeps_a_dont_remember_session_a_browser_session() {
    let app = App::new();
    let cookies = sign_up_unremembered(&app, "cp-browser@example.com").await.cookie_header();
    let reply = change_password_revoking(&app, &cookies).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = token_of(&reply);
    assert_eq!(reply.set_cookies(), browser_session_set_cookies(&token));
}

#[tokio::test]
async fn change_password_without_session_is_401() {
    let app = App::new();
    assert_unauthorized(&change_password(&app, "", PASSWORD, "new-password-1").await);
}

#[tokio::test]
async fn body_validation_runs_before_the_session_check() {
    let app = App::new();
    let reply = app.post("/change-password", json!({}), "").await;
    assert_validation(
        &reply,
        "[body.newPassword] Invalid input: expected string, received undefined; [body.currentPassword] Invalid input: expected string, received undefined",
    );
}

// ---------------------------------------------------------------------------
// POST /update-user (core.md §8.10)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn update_user_changes_name_and_image_and_resends_the_cookie() {
    let app = App::new();
    let (token, cookie, _) = sign_up(&app, "upd@example.com").await;
    app.clock.advance(Duration::from_secs(60));
    let reply = app
        .post("/update-user", json!({"name": "New Name", "image": "https://img.example/n.png"}), &cookie)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, r#"{"status":true}"#);
    assert_eq!(reply.set_cookies(), vec![session_set_cookie(&token)]);
    let user = app.get("/get-session", &cookie).await.json()["user"].clone();
    assert_eq!(user["name"], "New Name");
    assert_eq!(user["image"], "https://img.example/n.png");
    assert_eq!(user["updatedAt"], iso(now(&app)));

    let cleared = app.post("/update-user", json!({"image": null}), &cookie).await;
    assert_eq!(cleared.json(), json!({"status": true}));
    assert_eq!(app.get("/get-session", &cookie).await.json()["user"]["image"], Value::Null);
}

#[tokio::test]
async fn update_user_keeps_a_dont_remember_session_a_browser_session() {
    let app = App::new();
    let reply = sign_up_unremembered(&app, "browser@example.com").await;
    let token = token_of(&reply);
    let reply = app.post("/update-user", json!({"name": "Browser"}), &reply.cookie_header()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.set_cookies(), browser_session_set_cookies(&token));
}

#[tokio::test]
async fn update_user_with_nothing_updatable_is_no_fields_to_update() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "nothing@example.com").await;
    for body in
        [json!({}), json!({"unknown": 1}), json!({"emailVerified": true, "id": "x", "createdAt": "y"})]
    {
        let reply = app.post("/update-user", body.clone(), &cookie).await;
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.body, r#"{"message":"No fields to update"}"#, "{body}");
    }
}

#[tokio::test]
async fn update_user_refuses_email_changes() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "fixed@example.com").await;
    let reply = app.post("/update-user", json!({"email": "other@example.com"}), &cookie).await;
    assert_error_message(&reply, 400, "EMAIL_CAN_NOT_BE_UPDATED", "Email can not be updated");
}

#[tokio::test]
async fn update_user_validates_name_type_and_body_shape() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "shape@example.com").await;
    let name = app.post("/update-user", json!({"name": 5}), &cookie).await;
    assert_validation(&name, "[body.name] Invalid input: expected string, received number");
    let array = app.post("/update-user", json!([{"name": "x"}]), &cookie).await;
    assert_validation(&array, "[body] Invalid input: expected record, received array");
}

#[tokio::test]
async fn update_user_refuses_phone_number_even_without_a_session() {
    let app = App::new();
    let anonymous = app.post("/update-user", json!({"phoneNumber": "+15555550100"}), "").await;
    assert_error_message(&anonymous, 400, "PHONE_NUMBER_CANNOT_BE_UPDATED", "Phone number cannot be updated");
    let (_, cookie, _) = sign_up(&app, "phone-upd@example.com").await;
    let signed_in =
        app.post("/update-user", json!({"phoneNumber": "+15555550100", "name": "x"}), &cookie).await;
    assert_error_message(&signed_in, 400, "PHONE_NUMBER_CANNOT_BE_UPDATED", "Phone number cannot be updated");
    let cleared = app.post("/update-user", json!({"phoneNumber": null}), &cookie).await;
    assert_eq!(cleared.json(), json!({"status": true}), "phoneNumber: null is allowed");
}

#[tokio::test]
async fn update_user_refuses_phone_number_verified() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "pnv@example.com").await;
    let reply = app.post("/update-user", json!({"phoneNumberVerified": true}), &cookie).await;
    assert_error_message(&reply, 400, "FIELD_NOT_ALLOWED", "phoneNumberVerified is not allowed to be set");
    let falsy =
        app.post("/update-user", json!({"phoneNumberVerified": false, "name": "Still"}), &cookie).await;
    assert_eq!(falsy.json(), json!({"status": true}), "a falsy value is dropped");
    assert_eq!(app.get("/get-session", &cookie).await.json()["user"]["phoneNumberVerified"], false);
}

#[tokio::test]
async fn update_user_without_session_is_401() {
    let app = App::new();
    let reply = app.post("/update-user", json!({"name": "x"}), "").await;
    assert_unauthorized(&reply);
}

// ---------------------------------------------------------------------------
// Origin check (core.md §4.2) and form-CSRF check (§4.3, §4.4)
// ---------------------------------------------------------------------------

/// A row of an origin matrix: label, request headers, expectation.
type Row = (&'static str, Vec<(&'static str, &'static str)>, Expect);

/// What a row of the origin matrix expects.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Pass,
    Reject(&'static str),
}

#[tokio::test]
async fn origin_check_matrix_for_cookie_bearing_requests() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "origin@example.com").await;
    let rows: Vec<Row> = vec![
        ("trusted origin", vec![("origin", ORIGIN)], Expect::Pass),
        ("no origin, no referer", vec![], Expect::Reject("MISSING_OR_NULL_ORIGIN")),
        ("foreign origin", vec![("origin", "https://evil.example")], Expect::Reject("INVALID_ORIGIN")),
        ("other port", vec![("origin", "http://localhost:3001")], Expect::Reject("INVALID_ORIGIN")),
        ("other scheme", vec![("origin", "https://localhost:3000")], Expect::Reject("INVALID_ORIGIN")),
        (
            "suffix trick",
            vec![("origin", "http://localhost:3000.evil.example")],
            Expect::Reject("INVALID_ORIGIN"),
        ),
        ("empty origin", vec![("origin", "")], Expect::Reject("MISSING_OR_NULL_ORIGIN")),
        ("null origin", vec![("origin", "null")], Expect::Reject("MISSING_OR_NULL_ORIGIN")),
        (
            "null origin, cross-site fetch",
            vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
            Expect::Reject("MISSING_OR_NULL_ORIGIN"),
        ),
        (
            "null origin, same-origin fetch",
            vec![("origin", "null"), ("sec-fetch-site", "same-origin"), ("host", "localhost:3000")],
            Expect::Pass,
        ),
        ("trusted referer", vec![("referer", "http://localhost:3000/settings?tab=1")], Expect::Pass),
        ("foreign referer", vec![("referer", "https://evil.example/page")], Expect::Reject("INVALID_ORIGIN")),
        (
            "origin wins over referer",
            vec![("origin", "https://evil.example"), ("referer", "http://localhost:3000/")],
            Expect::Reject("INVALID_ORIGIN"),
        ),
    ];
    for (label, headers, expect) in rows {
        let mut all = headers.clone();
        all.push(("cookie", cookie.as_str()));
        let reply = app.send(json_post("/update-user", &all, &json!({"name": "Origin"}))).await;
        match expect {
            Expect::Pass => assert_eq!(reply.status, 200, "{label}: {}", reply.body),
            Expect::Reject(code) => {
                let message =
                    if code == "INVALID_ORIGIN" { "Invalid origin" } else { "Missing or null Origin" };
                assert_eq!(reply.status, 403, "{label}: {}", reply.body);
                assert_eq!(reply.json(), json!({"message": message, "code": code}), "{label}");
            }
        }
    }
}

#[tokio::test]
async fn null_origin_with_same_origin_fetch_is_replaced_by_the_requests_own_origin() {
    // §4.2 step 3: the request's own origin (scheme + host of the request
    // URL), not the configured one, so a foreign Host stays untrusted.
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "null-origin@example.com").await;
    let reply = app
        .send(json_post(
            "/update-user",
            &[
                ("cookie", cookie.as_str()),
                ("origin", "null"),
                ("sec-fetch-site", "same-origin"),
                ("host", "evil.example"),
            ],
            &json!({"name": "x"}),
        ))
        .await;
    assert_invalid_origin(&reply);
}

#[tokio::test]
async fn any_cookie_triggers_the_origin_check() {
    let app = App::new();
    let missing = sign_out_with(&app, &[("cookie", "foo=bar")]).await;
    assert_missing_origin(&missing);
    let foreign = sign_out_with(&app, &[("cookie", "foo=bar"), ("origin", "https://evil.example")]).await;
    assert_invalid_origin(&foreign);
    let trusted = sign_out_with(&app, &[("cookie", "foo=bar"), ("origin", ORIGIN)]).await;
    assert_eq!(trusted.status, 200);
}

#[tokio::test]
async fn origin_check_runs_before_body_validation() {
    let app = App::new();
    let reply = app.send(json_post("/change-password", &[("cookie", "foo=bar")], &json!({}))).await;
    assert_missing_origin(&reply);
}

#[tokio::test]
async fn requests_without_cookies_skip_the_origin_check_outside_first_login_endpoints() {
    let app = App::new();
    let reply = sign_out_with(&app, &[("origin", "https://evil.example")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let navigate = sign_out_with(&app, &NAVIGATE).await;
    assert_eq!(navigate.status, 200, "{}", navigate.body);
}

#[tokio::test]
async fn get_requests_are_not_origin_checked() {
    let app = App::new();
    let (_, cookie, _) = sign_up(&app, "get-origin@example.com").await;
    let reply = app
        .send(req(
            "GET",
            "/api/auth/get-session",
            &[("cookie", cookie.as_str()), ("origin", "https://evil.example")],
            "",
        ))
        .await;
    assert_eq!(reply.status, 200);
    assert_ne!(reply.body, "null");
}

#[tokio::test]
async fn form_csrf_matrix_for_first_login_without_cookies() {
    let app = App::new();
    // Passing the check reaches the handler: an unknown user is a 401.
    let rows: Vec<Row> = vec![
        ("server to server", vec![], Expect::Pass),
        (
            "cross-site navigation",
            vec![("sec-fetch-site", "cross-site"), ("sec-fetch-mode", "navigate"), ("origin", ORIGIN)],
            Expect::Reject("CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"),
        ),
        (
            "cross-site navigation without origin",
            vec![
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "navigate"),
                ("sec-fetch-dest", "document"),
            ],
            Expect::Reject("CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"),
        ),
        (
            "fetch metadata without origin",
            vec![("sec-fetch-site", "same-origin")],
            Expect::Reject("MISSING_OR_NULL_ORIGIN"),
        ),
        (
            "cross-site cors from a foreign origin",
            vec![
                ("sec-fetch-site", "cross-site"),
                ("sec-fetch-mode", "cors"),
                ("origin", "https://evil.example"),
            ],
            Expect::Reject("INVALID_ORIGIN"),
        ),
        (
            "same-origin fetch from the trusted origin",
            vec![("sec-fetch-site", "same-origin"), ("sec-fetch-mode", "cors"), ("origin", ORIGIN)],
            Expect::Pass,
        ),
        ("blank fetch metadata is ignored", vec![("sec-fetch-site", "  ")], Expect::Pass),
        ("foreign origin", vec![("origin", "https://evil.example")], Expect::Reject("INVALID_ORIGIN")),
        (
            "foreign referer",
            vec![("referer", "https://evil.example/login")],
            Expect::Reject("INVALID_ORIGIN"),
        ),
        ("trusted origin", vec![("origin", ORIGIN)], Expect::Pass),
        ("trusted referer", vec![("referer", "http://localhost:3000/login")], Expect::Pass),
    ];
    for (label, headers, expect) in rows {
        let reply = sign_in_with_headers(&app, "nobody@example.com", &headers).await;
        match expect {
            Expect::Pass => {
                assert_eq!(reply.status, 401, "{label}: {}", reply.body);
                assert_eq!(reply.json()["code"], "INVALID_EMAIL_OR_PASSWORD", "{label}");
            }
            Expect::Reject(code) => {
                assert_eq!(reply.status, 403, "{label}: {}", reply.body);
                assert_eq!(reply.json()["code"], code, "{label}");
            }
        }
    }
}

#[tokio::test]
async fn cross_site_navigation_login_is_blocked_on_sign_up_too() {
    let app = App::new();
    let body = json!({"name": "C", "email": "csrf@example.com", "password": PASSWORD});
    assert_csrf_blocked(&app.send(json_post("/sign-up/email", &NAVIGATE, &body)).await);
    let body = json!({"name": "S", "email": "s2s@example.com", "password": PASSWORD});
    let server = app.send(json_post("/sign-up/email", &[], &body)).await;
    assert_eq!(server.status, 200, "server-to-server sign-up is allowed: {}", server.body);
}

#[tokio::test]
async fn form_csrf_check_runs_after_validation() {
    let app = App::new();
    let reply = app.send(json_post("/sign-in/email", &NAVIGATE, &json!({}))).await;
    assert_eq!(reply.json()["code"], "VALIDATION_ERROR", "{}", reply.body);
}

#[tokio::test]
async fn phone_sign_in_is_not_form_csrf_checked() {
    let app = App::new();
    let body = json!({"phoneNumber": "+15555550100", "password": PASSWORD});
    let reply = app.send(json_post("/sign-in/phone-number", &NAVIGATE, &body)).await;
    // Reaches the handler: an unknown number is the plugin's 401.
    assert_error_message(&reply, 401, "INVALID_PHONE_NUMBER_OR_PASSWORD", "Invalid phone number or password");
}

#[tokio::test]
async fn trusted_origins_extend_the_allowed_origins() {
    let app = App::with(|b| b.trusted_origins(["https://admin.example.com"]));
    let (_, cookie, _) = sign_up(&app, "trusted@example.com").await;
    let admin = update_name_from(&app, &cookie, "https://admin.example.com", "Admin").await;
    assert_eq!(admin.status, 200, "{}", admin.body);
    let own = update_name_from(&app, &cookie, ORIGIN, "Own").await;
    assert_eq!(own.status, 200, "the base URL origin stays trusted");
    let callback = sign_in_with_callback(&app, "trusted@example.com", "https://admin.example.com/home").await;
    assert_eq!(callback.status, 200, "{}", callback.body);
    assert_eq!(callback.json()["url"], "https://admin.example.com/home");
    let foreign = update_name_from(&app, &cookie, "https://other.example.com", "x").await;
    assert_invalid_origin(&foreign);
}

#[tokio::test]
async fn disable_origin_check_turns_off_origin_callback_and_csrf_checks() {
    let app = App::with(|b| b.disable_origin_check(true));
    let (_, cookie, _) = sign_up(&app, "noorigin@example.com").await;
    let foreign = update_name_from(&app, &cookie, "https://evil.example", "x").await;
    assert_eq!(foreign.status, 200, "{}", foreign.body);
    let missing =
        app.send(json_post("/update-user", &[("cookie", cookie.as_str())], &json!({"name": "y"}))).await;
    assert_eq!(missing.status, 200, "{}", missing.body);
    let callback = sign_in_with_callback(&app, "noorigin@example.com", "https://evil.example/x").await;
    assert_eq!(callback.status, 200, "{}", callback.body);
    let navigate = sign_in_with_headers(&app, "noorigin@example.com", &NAVIGATE).await;
    assert_eq!(navigate.status, 200, "{}", navigate.body);
}

#[tokio::test]
async fn disable_origin_check_keeps_csrf_when_csrf_is_explicitly_enabled() {
    let app = App::with(|b| b.disable_origin_check(true).disable_csrf_check(false));
    let reply = sign_in_with_headers(&app, "nobody@example.com", &NAVIGATE).await;
    assert_csrf_blocked(&reply);
}

#[tokio::test]
async fn disable_csrf_check_skips_the_cookie_origin_test() {
    // §4.4: `disable_csrf_check` skips §4.2 steps 1–4.
    let app = App::with(|b| b.disable_csrf_check(true));
    let foreign = sign_out_with(&app, &[("cookie", "foo=bar"), ("origin", "https://evil.example")]).await;
    assert_eq!(foreign.status, 200, "{}", foreign.body);
    let missing = sign_out_with(&app, &[("cookie", "foo=bar")]).await;
    assert_eq!(missing.status, 200, "{}", missing.body);
}

#[tokio::test]
async fn disable_csrf_check_skips_the_form_csrf_check() {
    let app = App::with(|b| b.disable_csrf_check(true));
    let reply = sign_in_with_headers(
        &app,
        "nobody@example.com",
        &[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
            ("origin", "https://evil.example"),
        ],
    )
    .await;
    assert_error_message(&reply, 401, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password");
}

#[tokio::test]
async fn disable_csrf_check_still_checks_callback_urls() {
    let app = App::with(|b| b.disable_csrf_check(true));
    let callback = sign_in_with_callback(&app, "a@example.com", "https://evil.example/").await;
    assert_invalid_callback(&callback);
}

// ---------------------------------------------------------------------------
// Rate limiting (core.md §5, decisions D9/D10)
// ---------------------------------------------------------------------------

/// A `/sign-in/email` attempt from `ip` (None: no peer address) that fails
/// validation quickly (validation failures count like any other request).
async fn sign_in_attempt(app: &App, path: &str, ip: Option<&str>) -> Reply {
    let request = json_post(path, &[("origin", ORIGIN)], &json!({}));
    app.send(match ip {
        Some(ip) => from_ip(request, ip),
        None => request,
    })
    .await
}

/// Three [`sign_in_attempt`]s from `ip`, using up the window; their statuses.
async fn three_sign_in_attempts(app: &App, ip: Option<&str>) -> Vec<u16> {
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(sign_in_attempt(app, "/sign-in/email", ip).await.status.as_u16());
    }
    statuses
}

#[track_caller]
fn assert_429(reply: &Reply, retry_after: &str) {
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.body, r#"{"message":"Too many requests. Please try again later."}"#);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(reply.headers["x-retry-after"], retry_after);
    assert!(reply.headers.get(header::RETRY_AFTER).is_none());
}

#[tokio::test]
async fn fourth_sign_in_within_ten_seconds_is_429() {
    let app = App::with(|b| b.rate_limit(true));
    assert_eq!(three_sign_in_attempts(&app, Some("192.0.2.1")).await, [400; 3]);
    assert_429(&sign_in_attempt(&app, "/sign-in/email", Some("192.0.2.1")).await, "10");
}

#[tokio::test]
async fn rate_limit_window_reopens_after_ten_seconds() {
    let app = App::with(|b| b.rate_limit(true));
    three_sign_in_attempts(&app, Some("192.0.2.2")).await;
    app.clock.advance(Duration::from_millis(4_500));
    assert_429(&sign_in_attempt(&app, "/sign-in/email", Some("192.0.2.2")).await, "6");
    app.clock.advance(Duration::from_millis(5_499));
    assert_429(&sign_in_attempt(&app, "/sign-in/email", Some("192.0.2.2")).await, "1");
    app.clock.advance(Duration::from_millis(1));
    assert_eq!(sign_in_attempt(&app, "/sign-in/email", Some("192.0.2.2")).await.status, 400);
}

#[tokio::test]
async fn rate_limit_buckets_are_per_client_ip() {
    let app = App::with(|b| b.rate_limit(true));
    three_sign_in_attempts(&app, Some("192.0.2.3")).await;
    assert_eq!(sign_in_attempt(&app, "/sign-in/email", Some("192.0.2.3")).await.status, 429);
    assert_eq!(sign_in_attempt(&app, "/sign-in/email", Some("192.0.2.4")).await.status, 400);
    assert_eq!(sign_in_attempt(&app, "/sign-in/email", None).await.status, 400);
}

#[tokio::test]
async fn rate_limit_buckets_are_per_path() {
    let app = App::with(|b| b.rate_limit(true));
    three_sign_in_attempts(&app, Some("192.0.2.5")).await;
    assert_eq!(sign_in_attempt(&app, "/sign-up/email", Some("192.0.2.5")).await.status, 400);
}

#[tokio::test]
async fn requests_without_a_client_address_share_one_bucket() {
    let app = App::with(|b| b.rate_limit(true));
    assert_eq!(three_sign_in_attempts(&app, None).await, [400; 3]);
    assert_429(&sign_in_attempt(&app, "/sign-in/email", None).await, "10");
}

#[tokio::test]
async fn forwarding_headers_are_ignored_by_default() {
    let app = App::with(|b| b.rate_limit(true));
    for i in 0..3 {
        let forwarded = format!("10.0.0.{i}");
        let request = json_post(
            "/sign-in/email",
            &[("origin", ORIGIN), ("x-forwarded-for", forwarded.as_str())],
            &json!({}),
        );
        app.send(from_ip(request, "192.0.2.6")).await;
    }
    let request =
        json_post("/sign-in/email", &[("origin", ORIGIN), ("x-forwarded-for", "10.9.9.9")], &json!({}));
    assert_eq!(app.send(from_ip(request, "192.0.2.6")).await.status, 429);
}

#[tokio::test]
async fn unknown_paths_under_base_are_rate_limited_with_the_default_rule() {
    let app = App::with(|b| b.rate_limit(true));
    for i in 0..100 {
        let reply = app.send(from_ip(req("GET", "/api/auth/nope", &[], ""), "192.0.2.7")).await;
        assert_empty_404(&reply);
        assert_eq!(reply.status, 404, "request {i}");
    }
    assert_429(&app.send(from_ip(req("GET", "/api/auth/nope", &[], ""), "192.0.2.7")).await, "10");
}

#[tokio::test]
async fn trailing_slashes_share_the_rate_limit_key() {
    let app = App::with(|b| b.rate_limit(true));
    three_sign_in_attempts(&app, Some("192.0.2.8")).await;
    let reply = sign_in_attempt(&app, "/sign-in/email/", Some("192.0.2.8")).await;
    assert_eq!(reply.status, 429, "{}", reply.body);
}

#[tokio::test]
async fn rate_limit_is_off_in_test_builder_and_on_by_default() {
    let app = App::new();
    for _ in 0..10 {
        assert_eq!(sign_in_attempt(&app, "/sign-in/email", Some("192.0.2.9")).await.status, 400);
    }
    // KerniaLayer::builder() without `.rate_limit(false)` limits (D9).
    let layer = KerniaLayer::builder().secret(SECRET).base_url(ORIGIN).build().unwrap();
    let app = App { layer, clock: app.clock.clone(), outbox: app.outbox.clone() };
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(sign_in_attempt(&app, "/sign-in/email", Some("192.0.2.9")).await.status.as_u16());
    }
    assert_eq!(statuses, vec![400, 400, 400, 429]);
}

// ---------------------------------------------------------------------------
// Storage failures (core.md §3.2, §8.1, §8.3; errors.md framework-level 500)
// ---------------------------------------------------------------------------

/// A [`Probe`] failing the store operations named in its list with a backend error.
#[derive(Clone, Default)]
struct FailOps(Arc<Mutex<&'static [&'static str]>>);

impl FailOps {
    fn fail(&self, ops: &'static [&'static str]) {
        *self.0.lock().unwrap() = ops;
    }
}

impl Probe for FailOps {
    async fn before<'a>(&'a self, op: Op<'a>) -> StoreResult<()> {
        let failing = self.0.lock().unwrap().contains(&op.name);
        if failing { Err(StoreError::backend("injected failure")) } else { Ok(()) }
    }
}

/// Both session deletions (one session, all of a user's).
const DELETES: &[&str] = &["delete_session", "delete_user_sessions"];

fn flaky_app() -> (App, Probed<MemoryStore, FailOps>) {
    let store = Probed::new(MemoryStore::new(), FailOps::default());
    let app = App::with({
        let store = store.clone();
        move |b| b.store(store)
    });
    (app, store)
}

#[tokio::test]
async fn unexpected_storage_failure_is_500_internal_server_error() {
    let (app, store) = flaky_app();
    let (_, cookie, _) = sign_up(&app, "flaky@example.com").await;
    store.probe.fail(DELETES);
    for path in ["/revoke-sessions", "/revoke-other-sessions"] {
        let reply = app.post(path, json!({}), &cookie).await;
        assert_eq!(reply.status, 500, "{path}: {}", reply.body);
        assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            reply.json(),
            json!({"message": "Internal Server Error", "code": "INTERNAL_SERVER_ERROR"}),
            "{path}"
        );
        assert!(reply.set_cookies().is_empty(), "{path}: {:?}", reply.set_cookies());
    }
    store.probe.fail(&[]);
    assert!(alive(&app, &cookie).await);
}

#[tokio::test]
async fn get_session_storage_failure_is_500_failed_to_get_session() {
    let (app, store) = flaky_app();
    let (_, cookie, _) = sign_up(&app, "flaky-get@example.com").await;
    store.probe.fail(&["find_session"]);
    let reply = app.get("/get-session", &cookie).await;
    assert_error_message(&reply, 500, "FAILED_TO_GET_SESSION", "Failed to get session");
    assert!(reply.set_cookies().is_empty());
    let me = get_me(&app, &cookie).await;
    assert_eq!(me.status, 401, "the handle reports the failure; the inner service decides");
}

#[tokio::test]
async fn sign_up_storage_failure_is_422_failed_to_create_user() {
    let (app, store) = flaky_app();
    store.probe.fail(&["create_user"]);
    let reply = app
        .post("/sign-up/email", json!({"name": "F", "email": "fail@example.com", "password": PASSWORD}), "")
        .await;
    assert_error_message(&reply, 422, "FAILED_TO_CREATE_USER", "Failed to create user");
    assert!(reply.set_cookies().is_empty());
}

// ---------------------------------------------------------------------------
// Builder and configuration (decisions D11, D15; core.md §1, §6.1)
// ---------------------------------------------------------------------------

#[tokio::test]
async fn builder_requires_a_secret() {
    assert_eq!(KerniaLayer::builder().base_url(ORIGIN).build().unwrap_err(), ConfigError::MissingSecret);
    assert_eq!(
        KerniaLayer::builder().secret("").base_url(ORIGIN).build().unwrap_err(),
        ConfigError::MissingSecret
    );
}

#[tokio::test]
async fn builder_rejects_bad_base_urls() {
    for url in [
        "localhost:3000",
        "ftp://example.com",
        "not a url",
        "http://",
        "https://exa mple.com",
        "http://x.com/a?b=1",
    ] {
        let err = builder().base_url(url).build().unwrap_err();
        assert!(matches!(err, ConfigError::InvalidBaseUrl(_)), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn builder_rejects_bad_base_paths() {
    for path in ["api/auth", "/api/auth/", "/", "", "//api"] {
        let err = builder().base_path(path).build().unwrap_err();
        assert_eq!(err, ConfigError::InvalidBasePath(path.to_owned()), "{path}");
    }
}

#[tokio::test]
async fn builder_rejects_bad_trusted_origins() {
    for origin in ["admin.example.com", "https://admin.example.com/path", "not an origin"] {
        let err = builder().trusted_origins([origin]).build().unwrap_err();
        assert_eq!(err, ConfigError::InvalidTrustedOrigin(origin.to_owned()), "{origin}");
    }
}

#[tokio::test]
async fn builder_rejects_a_four_digit_otp() {
    let outbox = Outbox::default();
    let email = builder().email_otp(outbox.email_otp().otp_length(4)).build().unwrap_err();
    assert!(matches!(email, ConfigError::OutOfRange { .. }), "{email:?}");
    let phone = builder().phone_number(outbox.phone_number().otp_length(4)).build().unwrap_err();
    assert!(matches!(phone, ConfigError::OutOfRange { .. }), "{phone:?}");
}

#[tokio::test]
async fn https_base_url_uses_secure_prefixed_cookies() {
    let app = App::with(|b| b.base_url("https://app.example.com"));
    let reply = app
        .send(json_post(
            "/sign-up/email",
            &[("origin", "https://app.example.com")],
            &json!({"name": "S", "email": "secure@example.com", "password": PASSWORD}),
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token = token_of(&reply);
    assert_eq!(
        reply.set_cookies(),
        vec![format!(
            "__Secure-better-auth.session_token={}; Max-Age=604800; Path=/; HttpOnly; Secure; SameSite=Lax",
            signed(&token)
        )]
    );
    let secure = format!("__Secure-better-auth.session_token={}", signed(&token));
    assert!(alive(&app, &secure).await);
    let plain = app.get("/get-session", &session_cookie(&token)).await;
    assert_eq!(plain.body, "null", "the unprefixed spelling is ignored in secure mode");
    let out =
        sign_out_with(&app, &[("cookie", secure.as_str()), ("origin", "https://app.example.com")]).await;
    assert_eq!(
        out.set_cookies(),
        vec![
            "__Secure-better-auth.session_token=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"
                .to_owned(),
            "__Secure-better-auth.session_data=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"
                .to_owned(),
            "__Secure-better-auth.dont_remember=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"
                .to_owned(),
        ]
    );
}

#[tokio::test]
async fn custom_base_path_moves_the_endpoints() {
    let app = App::with(|b| b.base_path("/auth"));
    assert_eq!(app.layer.base_path(), "/auth");
    let ok = app.send(req("GET", "/auth/ok", &[], "")).await;
    assert_eq!(ok.status, 200);
    assert_eq!(ok.body, r#"{"ok":true}"#);
    let old = app.send(req("GET", "/api/auth/ok", &[], "")).await;
    assert_eq!(old.body, "/api/auth/ok", "the default base path now passes through");
    assert_empty_404(&app.send(req("GET", "/auth/nope", &[], "")).await);
}

#[tokio::test]
async fn base_path_is_derived_from_the_base_url_path() {
    let default = builder().build().unwrap();
    assert_eq!(default.base_path(), "/api/auth");
    let derived =
        KerniaLayer::builder().secret(SECRET).base_url("http://localhost:3000/custom/auth").build().unwrap();
    assert_eq!(derived.base_path(), "/custom/auth");
}

#[tokio::test]
async fn secrets_are_redacted_from_debug_output() {
    let layer = builder().build().unwrap();
    for text in [
        format!("{layer:?}"),
        format!("{layer:#?}"),
        format!("{:?}", builder()),
        format!("{:?}", wrap(&layer, tower::service_fn(inner))),
    ] {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains(&SECRET[..16]), "{text}");
    }
}
