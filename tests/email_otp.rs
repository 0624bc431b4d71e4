//! In-process tests of the email OTP plugin against the contract in
//! `../shared/spec/email-otp.md`, `errors.md` and `kernia-decisions.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::counting::{Counting, assert_attempts_accounted, counting_app};
use common::otp::{
    SESSION_COOKIE, TOO_MANY, all_digits, assert_body, assert_error, assert_invalid_otp,
    assert_session_cookie, assert_too_many_attempts, assert_user_keys, keys, session_user, tally, wrong,
};
use common::{App, Outbox, Reply, builder, cross_site_navigation, post};
use kernia::ConfigError;
use kernia::delivery::OtpPurpose;
use kernia::email_otp::EmailOtp;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// helpers

const ENUM_MESSAGE: &str = r#"[body.type] Invalid option: expected one of "email-verification"|"sign-in"|"forget-password"|"change-email""#;

#[track_caller]
fn assert_success(reply: &Reply) {
    assert_body(reply, 200, &json!({ "success": true }));
}

#[track_caller]
fn assert_invalid_email(reply: &Reply) {
    assert_error(reply, 400, "INVALID_EMAIL", "Invalid email");
}

#[track_caller]
fn assert_bad_credentials(reply: &Reply) {
    assert_error(reply, 401, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password");
}

/// The validation error of a `type` that is none of the four purposes.
#[track_caller]
fn assert_unknown_type(reply: &Reply) {
    assert_error(reply, 400, "VALIDATION_ERROR", ENUM_MESSAGE);
}

#[track_caller]
fn assert_too_many_requests(reply: &Reply) {
    assert_body(reply, 429, &json!({ "message": TOO_MANY }));
}

/// Asserts the serialized user has exactly the documented keys and a 32-character id.
#[track_caller]
fn assert_user_shape(user: &Value) {
    assert_user_keys(user);
    assert_eq!(user["id"].as_str().map(str::len), Some(32), "user: {user}");
}

/// The app with the email plugin adjusted by `f`.
fn email_app(f: impl FnOnce(EmailOtp) -> EmailOtp) -> App {
    let outbox = Outbox::default();
    App::with_plugins(f(outbox.email_otp()), outbox.phone_number(), outbox, |b| b)
}

async fn send(app: &App, email: &str, kind: &str) -> Reply {
    app.post("/email-otp/send-verification-otp", json!({ "email": email, "type": kind }), "").await
}

/// A sign-in code request for `email` from client address `ip`.
async fn send_from(app: &App, email: &str, ip: &str) -> Reply {
    app.post_from("/email-otp/send-verification-otp", json!({ "email": email, "type": "sign-in" }), ip).await
}

/// Sends a code of `kind` to `email` and returns it.
async fn code_for(app: &App, email: &str, kind: &str) -> String {
    let before = app.outbox.email_count(email);
    let reply = send(app, email, kind).await;
    assert_success(&reply);
    assert_eq!(app.outbox.email_count(email), before + 1, "no code delivered to {email}");
    app.outbox.email_code(email).expect("code")
}

async fn sign_in_otp(app: &App, email: &str, otp: &str) -> Reply {
    app.post("/sign-in/email-otp", json!({ "email": email, "otp": otp }), "").await
}

async fn sign_in_password(app: &App, email: &str, password: &str) -> Reply {
    app.post("/sign-in/email", json!({ "email": email, "password": password }), "").await
}

/// Signs up with a password; returns (session cookie, user json).
async fn sign_up(app: &App, email: &str, password: &str) -> (String, Value) {
    let reply = app.sign_up_reply(email, password).await;
    (reply.cookie_header(), reply.json()["user"].clone())
}

async fn check(app: &App, email: &str, kind: &str, otp: &str) -> Reply {
    app.post("/email-otp/check-verification-otp", json!({ "email": email, "type": kind, "otp": otp }), "")
        .await
}

async fn reset(app: &App, email: &str, otp: &str, password: &str) -> Reply {
    app.post("/email-otp/reset-password", json!({ "email": email, "otp": otp, "password": password }), "")
        .await
}

async fn verify_email(app: &App, email: &str, otp: &str) -> Reply {
    app.post("/email-otp/verify-email", json!({ "email": email, "otp": otp }), "").await
}

async fn request_email_change(app: &App, cookie: &str, new_email: &str) -> Reply {
    app.post("/email-otp/request-email-change", json!({ "newEmail": new_email }), cookie).await
}

async fn change_email(app: &App, cookie: &str, new_email: &str, otp: &str) -> Reply {
    app.post("/email-otp/change-email", json!({ "newEmail": new_email, "otp": otp }), cookie).await
}

// ---------------------------------------------------------------------------
// send-verification-otp (§4.1)

#[tokio::test]
async fn send_sign_in_code_to_unknown_email_succeeds_and_delivers_a_six_digit_code() {
    let app = App::new();
    let reply = send(&app, "New@Example.com", "sign-in").await;
    assert_success(&reply);
    let emails = app.outbox.emails.lock().unwrap().clone();
    assert_eq!(emails.len(), 1);
    let (to, code, purpose) = &emails[0];
    assert_eq!(to, "new@example.com", "address is lower-cased");
    assert_eq!(*purpose, OtpPurpose::SignIn);
    assert!(all_digits(code, 6), "code {code:?}");
}

#[tokio::test]
async fn send_for_unknown_email_verification_or_reset_is_enumeration_safe() {
    let app = App::new();
    sign_up(&app, "known@example.com", "password123").await;
    for kind in ["email-verification", "forget-password"] {
        let known = send(&app, "known@example.com", kind).await;
        let unknown = send(&app, "ghost@example.com", kind).await;
        assert_success(&known);
        assert_eq!(unknown.status, known.status, "{kind}");
        assert_eq!(unknown.body, known.body, "{kind}: bodies must be byte-identical");
        assert_eq!(unknown.headers.get("content-type"), known.headers.get("content-type"));
    }
    assert_eq!(app.outbox.email_count("known@example.com"), 2);
    assert_eq!(app.outbox.email_count("ghost@example.com"), 0, "nothing delivered to an unknown address");
}

#[tokio::test]
async fn send_with_change_email_type_is_rejected_with_message_only() {
    let app = App::new();
    sign_up(&app, "known@example.com", "password123").await;
    let reply = send(&app, "known@example.com", "change-email").await;
    assert_body(&reply, 400, &json!({ "message": "Invalid OTP type" }));
    assert!(app.outbox.emails.lock().unwrap().is_empty(), "no code sent");
}

#[tokio::test]
async fn send_without_type_is_a_validation_error_listing_the_four_purposes() {
    let app = App::new();
    let reply = app.post("/email-otp/send-verification-otp", json!({ "email": "a@example.com" }), "").await;
    assert_unknown_type(&reply);
    assert_unknown_type(&send(&app, "a@example.com", "login").await);
    assert!(app.outbox.emails.lock().unwrap().is_empty());
}

#[tokio::test]
async fn send_to_malformed_email_is_invalid_email() {
    let app = App::new();
    for email in ["not-an-email", " bob@example.com ", "bob@localhost"] {
        let reply = send(&app, email, "sign-in").await;
        assert_invalid_email(&reply);
    }
    assert!(app.outbox.emails.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// sign-in/email-otp (§4.4)

#[tokio::test]
async fn sign_in_with_code_creates_a_verified_user_with_empty_name_and_a_session() {
    let app = App::new();
    let code = code_for(&app, "new@example.com", "sign-in").await;
    let reply = sign_in_otp(&app, "New@Example.com", &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(keys(&body), BTreeSet::from(["token", "user"]), "no redirect key: {body}");
    let user = &body["user"];
    assert_user_shape(user);
    assert_eq!(user["email"], "new@example.com");
    assert_eq!(user["name"], "");
    assert_eq!(user["emailVerified"], true);
    assert_eq!(user["image"], Value::Null);
    assert_eq!(user["phoneNumber"], Value::Null);
    assert_eq!(user["phoneNumberVerified"], false);
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert_session_cookie(&reply, token);
    let session = session_user(&app, &reply.cookie_header()).await;
    assert_eq!(session["id"], user["id"]);
}

#[tokio::test]
async fn existing_user_signs_in_with_a_new_code_to_the_same_account() {
    let app = App::new();
    let code = code_for(&app, "amy@example.com", "sign-in").await;
    let first = sign_in_otp(&app, "amy@example.com", &code).await;
    assert_eq!(first.status, 200);
    let code = code_for(&app, "amy@example.com", "sign-in").await;
    let second = sign_in_otp(&app, "amy@example.com", &code).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.json()["user"]["id"], first.json()["user"]["id"]);
    assert_ne!(second.json()["token"], first.json()["token"]);
}

#[tokio::test]
async fn otp_is_single_use() {
    let app = App::new();
    let code = code_for(&app, "once@example.com", "sign-in").await;
    assert_eq!(sign_in_otp(&app, "once@example.com", &code).await.status, 200);
    assert_invalid_otp(&sign_in_otp(&app, "once@example.com", &code).await);
}

#[tokio::test]
async fn wrong_code_is_invalid_otp_and_right_code_still_works() {
    let app = App::new();
    let code = code_for(&app, "w@example.com", "sign-in").await;
    assert_invalid_otp(&sign_in_otp(&app, "w@example.com", &wrong(&code)).await);
    assert_eq!(sign_in_otp(&app, "w@example.com", &code).await.status, 200);
}

#[tokio::test]
async fn three_wrong_codes_burn_the_code_with_403_then_invalid_otp() {
    let app = App::new();
    let code = code_for(&app, "burn@example.com", "sign-in").await;
    for _ in 0..3 {
        assert_invalid_otp(&sign_in_otp(&app, "burn@example.com", &wrong(&code)).await);
    }
    let reply = sign_in_otp(&app, "burn@example.com", &code).await;
    assert_too_many_attempts(&reply);
    assert_invalid_otp(&sign_in_otp(&app, "burn@example.com", &code).await);
}

#[tokio::test]
async fn never_sent_code_is_invalid_otp() {
    let app = App::new();
    assert_invalid_otp(&sign_in_otp(&app, "nobody@example.com", "123456").await);
    // no email format check on this endpoint (D17): a malformed address is INVALID_OTP too
    assert_invalid_otp(&sign_in_otp(&app, "not-an-email", "123456").await);
}

#[tokio::test]
async fn code_expires_after_300_seconds() {
    let app = App::new();
    let early = code_for(&app, "early@example.com", "sign-in").await;
    let late = code_for(&app, "late@example.com", "sign-in").await;
    app.clock.advance(Duration::from_secs(299));
    assert_eq!(sign_in_otp(&app, "early@example.com", &early).await.status, 200, "still valid at 299 s");
    app.clock.advance(Duration::from_secs(2));
    assert_error(&sign_in_otp(&app, "late@example.com", &late).await, 400, "OTP_EXPIRED", "OTP expired");
    assert_invalid_otp(&sign_in_otp(&app, "late@example.com", &late).await);
}

#[tokio::test]
async fn resend_supersedes_the_old_code() {
    let app = App::new();
    let old = code_for(&app, "re@example.com", "sign-in").await;
    let mut new = code_for(&app, "re@example.com", "sign-in").await;
    while new == old {
        new = code_for(&app, "re@example.com", "sign-in").await;
    }
    assert_invalid_otp(&sign_in_otp(&app, "re@example.com", &old).await);
    assert_eq!(sign_in_otp(&app, "re@example.com", &new).await.status, 200);
}

#[tokio::test]
async fn codes_for_one_address_do_not_work_for_another() {
    let app = App::new();
    let a = code_for(&app, "a@example.com", "sign-in").await;
    assert_invalid_otp(&sign_in_otp(&app, "b@example.com", &a).await);
    let b = code_for(&app, "b@example.com", "sign-in").await;
    if a != b {
        assert_invalid_otp(&sign_in_otp(&app, "b@example.com", &a).await);
    }
    assert_eq!(sign_in_otp(&app, "a@example.com", &a).await.status, 200);
    assert_eq!(sign_in_otp(&app, "b@example.com", &b).await.status, 200);
}

#[tokio::test]
async fn purposes_do_not_cross() {
    let app = App::new();
    sign_up(&app, "p@example.com", "password123").await;
    let sign_in = code_for(&app, "p@example.com", "sign-in").await;
    let reply = verify_email(&app, "p@example.com", &sign_in).await;
    assert_invalid_otp(&reply);
    assert_invalid_otp(&reset(&app, "p@example.com", &sign_in, "new-password-1").await);
    let verify = code_for(&app, "p@example.com", "email-verification").await;
    if verify != sign_in {
        assert_invalid_otp(&sign_in_otp(&app, "p@example.com", &verify).await);
    }
    // the sign-in code still works (one wrong guess is tolerated) and the
    // verification code was not spent by the sign-in attempt
    assert_eq!(sign_in_otp(&app, "p@example.com", &sign_in).await.status, 200);
    let reply = verify_email(&app, "p@example.com", &verify).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn disable_sign_up_sends_nothing_to_unknown_addresses_and_creates_no_account() {
    let app = email_app(|e| e.disable_sign_up(true));
    let reply = send(&app, "stranger@example.com", "sign-in").await;
    assert_success(&reply);
    assert_eq!(app.outbox.email_count("stranger@example.com"), 0);
    assert_invalid_otp(&sign_in_otp(&app, "stranger@example.com", "123456").await);
    // still no account: a reset request delivers nothing
    let reply =
        app.post("/email-otp/request-password-reset", json!({ "email": "stranger@example.com" }), "").await;
    assert_success(&reply);
    assert_eq!(app.outbox.email_count("stranger@example.com"), 0);
    // known users are fine
    sign_up(&app, "member@example.com", "password123").await;
    let code = code_for(&app, "member@example.com", "sign-in").await;
    let reply = sign_in_otp(&app, "member@example.com", &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["user"]["email"], "member@example.com");
}

#[tokio::test]
async fn code_sign_in_of_unverified_password_account_drops_its_password_and_sessions() {
    let app = App::new();
    let (old_cookie, user) = sign_up(&app, "squat@example.com", "squatter-pw1").await;
    assert_eq!(user["emailVerified"], false);
    assert_eq!(session_user(&app, &old_cookie).await["id"], user["id"]);
    let code = code_for(&app, "squat@example.com", "sign-in").await;
    let reply = sign_in_otp(&app, "squat@example.com", &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["user"]["id"], user["id"]);
    assert_eq!(reply.json()["user"]["emailVerified"], true);
    // the password is gone
    let reply = sign_in_password(&app, "squat@example.com", "squatter-pw1").await;
    assert_bad_credentials(&reply);
    // and so is the old session; the new one works
    assert_eq!(session_user(&app, &old_cookie).await, Value::Null);
    let new_cookie =
        sign_in_otp(&app, "squat@example.com", &code_for(&app, "squat@example.com", "sign-in").await)
            .await
            .cookie_header();
    assert_eq!(session_user(&app, &new_cookie).await["id"], user["id"]);
}

#[tokio::test]
async fn code_sign_in_of_verified_password_account_keeps_its_password() {
    let app = App::new();
    let (cookie, _) = sign_up(&app, "keep@example.com", "password123").await;
    let code = code_for(&app, "keep@example.com", "email-verification").await;
    let reply = verify_email(&app, "keep@example.com", &code).await;
    assert_eq!(reply.status, 200);
    let code = code_for(&app, "keep@example.com", "sign-in").await;
    assert_eq!(sign_in_otp(&app, "keep@example.com", &code).await.status, 200);
    assert_eq!(sign_in_password(&app, "keep@example.com", "password123").await.status, 200);
    assert!(!session_user(&app, &cookie).await.is_null());
}

// ---------------------------------------------------------------------------
// check-verification-otp (§4.2)

#[tokio::test]
async fn check_verification_otp_does_not_consume_the_code() {
    let app = App::new();
    sign_up(&app, "chk@example.com", "password123").await;
    let code = code_for(&app, "chk@example.com", "forget-password").await;
    assert_success(&check(&app, "chk@example.com", "forget-password", &code).await);
    assert_success(&check(&app, "chk@example.com", "forget-password", &code).await);
    assert_success(&reset(&app, "chk@example.com", &code, "brand-new-pw1").await);
}

#[tokio::test]
async fn wrong_checks_cost_attempts() {
    let app = App::new();
    sign_up(&app, "chk@example.com", "password123").await;
    let code = code_for(&app, "chk@example.com", "forget-password").await;
    for _ in 0..3 {
        assert_invalid_otp(&check(&app, "chk@example.com", "forget-password", &wrong(&code)).await);
    }
    let reply = reset(&app, "chk@example.com", &code, "brand-new-pw1").await;
    assert_too_many_attempts(&reply);
    assert_bad_credentials(&sign_in_password(&app, "chk@example.com", "brand-new-pw1").await);
}

#[tokio::test]
async fn check_for_unknown_user_is_user_not_found_and_keeps_the_code() {
    let app = App::new();
    let code = code_for(&app, "later@example.com", "sign-in").await;
    let reply = check(&app, "later@example.com", "sign-in", &code).await;
    assert_error(&reply, 400, "USER_NOT_FOUND", "User not found");
    assert_eq!(sign_in_otp(&app, "later@example.com", &code).await.status, 200, "code not consumed");
}

#[tokio::test]
async fn check_with_bad_email_or_type_is_rejected() {
    let app = App::new();
    assert_invalid_email(&check(&app, "bad", "sign-in", "123456").await);
    assert_unknown_type(&check(&app, "a@example.com", "nope", "123456").await);
}

// ---------------------------------------------------------------------------
// verify-email (§4.3)

#[tokio::test]
async fn verify_email_marks_the_email_verified_without_a_session() {
    let app = App::new();
    let (cookie, user) = sign_up(&app, "ver@example.com", "password123").await;
    let code = code_for(&app, "ver@example.com", "email-verification").await;
    let reply = verify_email(&app, "VER@example.com", &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.set_cookies().is_empty(), "no Set-Cookie: {:?}", reply.set_cookies());
    let body = reply.json();
    assert_eq!(keys(&body), BTreeSet::from(["status", "token", "user"]));
    assert_eq!(body["status"], true);
    assert_eq!(body["token"], Value::Null);
    assert_user_shape(&body["user"]);
    assert_eq!(body["user"]["id"], user["id"]);
    assert_eq!(body["user"]["emailVerified"], true);
    assert_eq!(session_user(&app, &cookie).await["emailVerified"], true);
    // single use
    let reply = verify_email(&app, "ver@example.com", &code).await;
    assert_invalid_otp(&reply);
}

#[tokio::test]
async fn verify_email_rejects_malformed_email() {
    let app = App::new();
    assert_invalid_email(&verify_email(&app, "nope", "123456").await);
}

// ---------------------------------------------------------------------------
// password reset (§4.5–4.7)

#[tokio::test]
async fn request_password_reset_and_alias_are_enumeration_safe() {
    let app = App::new();
    sign_up(&app, "rp@example.com", "password123").await;
    for path in ["/email-otp/request-password-reset", "/forget-password/email-otp"] {
        let known = app.post(path, json!({ "email": "rp@example.com" }), "").await;
        let unknown = app.post(path, json!({ "email": "ghost@example.com" }), "").await;
        assert_success(&known);
        assert_eq!(unknown.status, known.status, "{path}");
        assert_eq!(unknown.body, known.body, "{path}");
        let bad = app.post(path, json!({ "email": "ghost" }), "").await;
        assert_invalid_email(&bad);
    }
    let emails = app.outbox.emails.lock().unwrap().clone();
    assert_eq!(emails.len(), 2);
    assert!(emails.iter().all(|(to, _, p)| to == "rp@example.com" && *p == OtpPurpose::ForgetPassword));
}

#[tokio::test]
async fn reset_password_sets_the_new_password_and_spends_the_code() {
    let app = App::new();
    let (_, user) = sign_up(&app, "rs@example.com", "old-password1").await;
    assert_eq!(user["emailVerified"], false);
    let reply = app.post("/forget-password/email-otp", json!({ "email": "rs@example.com" }), "").await;
    assert_success(&reply);
    let code = app.outbox.email_code("rs@example.com").unwrap();
    let reply = reset(&app, "rs@example.com", &code, "new-password2").await;
    assert_success(&reply);
    assert!(reply.set_cookies().is_empty(), "no session is created");
    assert_invalid_otp(&reset(&app, "rs@example.com", &code, "new-password3").await);
    let old = sign_in_password(&app, "rs@example.com", "old-password1").await;
    assert_bad_credentials(&old);
    let new = sign_in_password(&app, "rs@example.com", "new-password2").await;
    assert_eq!(new.status, 200, "{}", new.body);
    assert_eq!(new.json()["user"]["emailVerified"], true, "reset proves the mailbox");
}

#[tokio::test]
async fn too_short_password_is_refused_before_the_code_is_looked_at() {
    let app = App::new();
    sign_up(&app, "short@example.com", "old-password1").await;
    let code = code_for(&app, "short@example.com", "forget-password").await;
    let reply = reset(&app, "short@example.com", &code, "short").await;
    assert_error(&reply, 400, "PASSWORD_TOO_SHORT", "Password too short");
    let long = "x".repeat(129);
    let reply = reset(&app, "short@example.com", &code, &long).await;
    assert_error(&reply, 400, "PASSWORD_TOO_LONG", "Password too long");
    assert_success(&reset(&app, "short@example.com", &code, "long-enough-1").await);
}

#[tokio::test]
async fn reset_password_for_otp_only_account_creates_a_password() {
    let app = App::new();
    let code = code_for(&app, "otponly@example.com", "sign-in").await;
    assert_eq!(sign_in_otp(&app, "otponly@example.com", &code).await.status, 200);
    let code = code_for(&app, "otponly@example.com", "forget-password").await;
    assert_success(&reset(&app, "otponly@example.com", &code, "first-password").await);
    assert_eq!(sign_in_password(&app, "otponly@example.com", "first-password").await.status, 200);
}

#[tokio::test]
async fn sessions_survive_a_reset_by_default() {
    let app = App::new();
    let (cookie, user) = sign_up(&app, "keep@example.com", "old-password1").await;
    let code = code_for(&app, "keep@example.com", "forget-password").await;
    assert_eq!(reset(&app, "keep@example.com", &code, "new-password2").await.status, 200);
    assert_eq!(session_user(&app, &cookie).await["id"], user["id"]);
}

#[tokio::test]
async fn sessions_are_revoked_by_a_reset_when_configured() {
    let app = App::with(|b| b.revoke_sessions_on_password_reset(true));
    let (cookie, user) = sign_up(&app, "rev@example.com", "old-password1").await;
    assert_eq!(session_user(&app, &cookie).await["id"], user["id"]);
    let code = code_for(&app, "rev@example.com", "forget-password").await;
    assert_eq!(reset(&app, "rev@example.com", &code, "new-password2").await.status, 200);
    assert_eq!(session_user(&app, &cookie).await, Value::Null);
}

#[tokio::test]
async fn reset_for_unknown_user_is_rejected() {
    let app = App::new();
    let reply = reset(&app, "ghost@example.com", "123456", "new-password2").await;
    assert_invalid_otp(&reply);
    let reply = reset(&app, "ghost", "123456", "new-password2").await;
    assert_invalid_email(&reply);
}

// ---------------------------------------------------------------------------
// change email (§4.8–4.9)

#[tokio::test]
async fn change_email_is_disabled_by_default_and_needs_a_session() {
    let app = App::new();
    for path in ["/email-otp/request-email-change", "/email-otp/change-email"] {
        let body = json!({ "newEmail": "next@example.com", "otp": "123456" });
        let reply = app.post(path, body.clone(), "").await;
        assert_error(&reply, 401, "UNAUTHORIZED", "Unauthorized");
        let (cookie, _) = sign_up(&app, &format!("ce{}@example.com", path.len()), "password123").await;
        let reply = app.post(path, body, &cookie).await;
        assert_body(&reply, 400, &json!({ "message": "Change email with OTP is disabled" }));
    }
    assert!(app.outbox.emails.lock().unwrap().is_empty());
}

#[tokio::test]
async fn change_email_flow_switches_the_address() {
    let app = email_app(|e| e.change_email(true));
    let (cookie, user) = sign_up(&app, "old@example.com", "password123").await;
    let reply = request_email_change(&app, &cookie, "old@example.com").await;
    assert_body(&reply, 400, &json!({ "message": "Email is the same" }));
    let reply = request_email_change(&app, &cookie, "bad").await;
    assert_invalid_email(&reply);

    let reply = request_email_change(&app, &cookie, "New@Example.com").await;
    assert_success(&reply);
    let emails = app.outbox.emails.lock().unwrap().clone();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].0, "new@example.com");
    assert_eq!(emails[0].2, OtpPurpose::ChangeEmail);
    let code = emails[0].1.clone();

    assert_invalid_otp(&change_email(&app, &cookie, "new@example.com", &wrong(&code)).await);
    let reply = change_email(&app, &cookie, "new@example.com", &code).await;
    assert_success(&reply);
    assert!(reply.set_cookie(SESSION_COOKIE).is_some(), "the session cookie is re-sent");
    let current = session_user(&app, &cookie).await;
    assert_eq!(current["id"], user["id"]);
    assert_eq!(current["email"], "new@example.com");
    assert_eq!(current["emailVerified"], true);
    // the same request again: the address is now the current one
    let reply = change_email(&app, &cookie, "new@example.com", &code).await;
    assert_body(&reply, 400, &json!({ "message": "Email is the same" }));
    // and the old address is free
    let reply = send(&app, "old@example.com", "forget-password").await;
    assert_success(&reply);
    assert_eq!(app.outbox.email_count("old@example.com"), 0);
}

#[tokio::test]
async fn request_email_change_to_a_taken_address_sends_nothing() {
    let app = email_app(|e| e.change_email(true));
    sign_up(&app, "taken@example.com", "password123").await;
    let (cookie, _) = sign_up(&app, "me@example.com", "password123").await;
    let reply = request_email_change(&app, &cookie, "taken@example.com").await;
    assert_success(&reply);
    assert_eq!(app.outbox.email_count("taken@example.com"), 0);
}

// ---------------------------------------------------------------------------
// concurrency (single use under races, attempt accounting)

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_verifies_of_one_code_succeed_exactly_once() {
    let (app, store) = counting_app();
    let code = code_for(&app, "race@example.com", "sign-in").await;
    let body = json!({ "email": "race@example.com", "otp": code });
    let replies = app.send_at_once((0..50).map(|_| post("/sign-in/email-otp", &body, "")).collect()).await;
    let mut ok = 0;
    let mut bad = 0;
    let mut other = Vec::new();
    for reply in replies {
        match reply.status.as_u16() {
            200 => ok += 1,
            400 => {
                assert_eq!(reply.json()["code"], "INVALID_OTP", "{}", reply.body);
                bad += 1;
            }
            s => other.push(s),
        }
    }
    let sessions = store.probe.sessions();
    println!(
        "email concurrency: 50 concurrent sign-in verifies of one valid code -> {ok} x 200, {bad} x 400, \
         other {other:?}; sessions kept = {sessions}"
    );
    assert_eq!((ok, bad), (1, 49));
    assert!(other.is_empty());
    assert_eq!(sessions, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_guesses_get_at_most_allowed_attempts_comparisons() {
    let (app, store) = counting_app();
    let code = code_for(&app, "guess@example.com", "sign-in").await;
    let body = json!({ "email": "guess@example.com", "otp": wrong(&code) });
    let replies = app.send_at_once((0..50).map(|_| post("/sign-in/email-otp", &body, "")).collect()).await;
    let mut invalid = 0;
    let mut too_many = 0;
    for reply in replies {
        match (reply.status.as_u16(), reply.json()["code"].as_str()) {
            (400, Some("INVALID_OTP")) => invalid += 1,
            (403, Some("TOO_MANY_ATTEMPTS")) => too_many += 1,
            _ => panic!("unexpected reply {} {}", reply.status, reply.body),
        }
    }
    let (takes, comparisons) = (store.probe.takes(), store.probe.comparisons());
    let after = sign_in_otp(&app, "guess@example.com", &code).await;
    println!(
        "email concurrency: 50 concurrent wrong guesses -> {invalid} x 400 INVALID_OTP, {too_many} x 403; \
         takes={takes}, comparisons={comparisons} (allowed_attempts=3); right code afterwards -> {} {}",
        after.status, after.body
    );
    assert!(too_many <= 1, "the burned row can only be taken once");
    assert_attempts_accounted(comparisons, 3, &after);
}

// ---------------------------------------------------------------------------
// rate limits (§6 and per-recipient limits), with rate limiting on

#[tokio::test]
async fn fourth_send_from_one_ip_within_a_minute_is_rate_limited() {
    let app = App::with(|b| b.rate_limit(true));
    for i in 0..3 {
        assert_success(&send_from(&app, &format!("u{i}@example.com"), "10.0.0.1").await);
    }
    let reply = send_from(&app, "u3@example.com", "10.0.0.1").await;
    assert_too_many_requests(&reply);
    assert_eq!(reply.headers["x-retry-after"], "60");
    assert_eq!(app.outbox.email_count("u3@example.com"), 0);
    // another IP has its own bucket
    let reply = send_from(&app, "u3@example.com", "10.0.0.2").await;
    assert_eq!(reply.status, 200);
    // and the first IP may send again after the window
    app.clock.advance(Duration::from_secs(60));
    let reply = send_from(&app, "u4@example.com", "10.0.0.1").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn second_send_to_one_address_within_a_minute_is_refused_from_any_ip() {
    let app = App::with(|b| b.rate_limit(true));
    let reply = send_from(&app, "target@example.com", "10.0.0.1").await;
    assert_eq!(reply.status, 200);
    let reply = send_from(&app, "target@example.com", "10.0.0.2").await;
    assert_too_many_requests(&reply);
    let retry: u64 = reply.headers["x-retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "x-retry-after {retry}");
    assert_eq!(app.outbox.email_count("target@example.com"), 1);
    app.clock.advance(Duration::from_secs(60));
    let reply = send_from(&app, "target@example.com", "10.0.0.2").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(app.outbox.email_count("target@example.com"), 2);
}

#[tokio::test]
async fn fourth_code_sign_in_from_one_ip_is_429_before_403() {
    let app = App::with(|b| b.rate_limit(true));
    let reply = send_from(&app, "rl@example.com", "10.0.0.9").await;
    assert_eq!(reply.status, 200);
    let code = app.outbox.email_code("rl@example.com").unwrap();
    for _ in 0..3 {
        let body = json!({ "email": "rl@example.com", "otp": wrong(&code) });
        assert_invalid_otp(&app.post_from("/sign-in/email-otp", body, "10.0.0.9").await);
    }
    let body = json!({ "email": "rl@example.com", "otp": code });
    let reply = app.post_from("/sign-in/email-otp", body, "10.0.0.9").await;
    assert_eq!(reply.status, 429, "D4: 429 comes before 403: {}", reply.body);
}

// ---------------------------------------------------------------------------
// options

#[tokio::test]
async fn otp_length_8_gives_8_digit_codes() {
    let app = email_app(|e| e.otp_length(8));
    let code = code_for(&app, "eight@example.com", "sign-in").await;
    assert!(all_digits(&code, 8), "code {code:?}");
    assert_eq!(sign_in_otp(&app, "eight@example.com", &code).await.status, 200);
}

#[tokio::test]
async fn allowed_attempts_5_tolerates_5_wrong_guesses() {
    let app = email_app(|e| e.allowed_attempts(5));
    let code = code_for(&app, "five@example.com", "sign-in").await;
    for _ in 0..5 {
        assert_invalid_otp(&sign_in_otp(&app, "five@example.com", &wrong(&code)).await);
    }
    assert_too_many_attempts(&sign_in_otp(&app, "five@example.com", &code).await);

    let code = code_for(&app, "five2@example.com", "sign-in").await;
    for _ in 0..4 {
        assert_invalid_otp(&sign_in_otp(&app, "five2@example.com", &wrong(&code)).await);
    }
    assert_eq!(sign_in_otp(&app, "five2@example.com", &code).await.status, 200);
}

#[tokio::test]
async fn builder_refuses_codes_shorter_than_6_digits() {
    let outbox = Outbox::default();
    let error = builder().email_otp(outbox.email_otp().otp_length(4)).build().unwrap_err();
    assert!(matches!(error, ConfigError::OutOfRange { option: "email_otp", .. }), "{error:?}");
    let error = builder().email_otp(outbox.email_otp().allowed_attempts(0)).build().unwrap_err();
    assert!(matches!(error, ConfigError::OutOfRange { option: "email_otp", .. }), "{error:?}");
    assert!(builder().email_otp(outbox.email_otp().otp_length(6)).build().is_ok());
}

// ---------------------------------------------------------------------------
// more contract details

#[tokio::test]
async fn sign_in_with_code_uses_name_and_image_for_new_users() {
    let app = App::new();
    let code = code_for(&app, "named@example.com", "sign-in").await;
    let body = json!({ "email": "named@example.com", "otp": code, "name": "Named", "image": "https://img.example/a.png" });
    let reply = app.post("/sign-in/email-otp", body, "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["user"]["name"], "Named");
    assert_eq!(reply.json()["user"]["image"], "https://img.example/a.png");
}

#[tokio::test]
async fn sign_in_with_code_cannot_set_a_phone_number() {
    let app = App::new();
    let code = code_for(&app, "phone@example.com", "sign-in").await;
    let body = json!({ "email": "phone@example.com", "otp": code, "phoneNumber": "+15550001111" });
    let reply = app.post("/sign-in/email-otp", body, "").await;
    assert_error(&reply, 400, "PHONE_NUMBER_CANNOT_BE_SET", "Phone number can only be set by verifying it");
}

#[tokio::test]
async fn sign_in_with_code_inherits_dont_remember() {
    let app = App::new();
    let reply = app
        .post(
            "/sign-up/email",
            json!({ "name": "T", "email": "forgetful@example.com", "password": "password123", "rememberMe": false }),
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let cookie = reply.cookie_header();
    assert!(cookie.contains("better-auth.dont_remember="), "{cookie}");
    let code = code_for(&app, "other@example.com", "sign-in").await;
    let reply =
        app.post("/sign-in/email-otp", json!({ "email": "other@example.com", "otp": code }), &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let session = reply.set_cookie(SESSION_COOKIE).expect("session cookie");
    assert!(!session.contains("Max-Age"), "no Max-Age when not remembered: {session}");
    assert!(
        reply.set_cookie("better-auth.dont_remember").is_some(),
        "dont_remember re-sent: {:?}",
        reply.set_cookies()
    );
}

#[tokio::test]
async fn send_verification_on_sign_up_sends_an_email_verification_code() {
    let app = email_app(|e| e.send_verification_on_sign_up(true));
    sign_up(&app, "fresh@example.com", "password123").await;
    let emails = app.outbox.emails.lock().unwrap().clone();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].0, "fresh@example.com");
    assert_eq!(emails[0].2, OtpPurpose::EmailVerification);
    let reply = verify_email(&app, "fresh@example.com", &emails[0].1).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["user"]["emailVerified"], true);
}

#[tokio::test]
async fn failing_email_sender_is_swallowed_and_its_code_withdrawn() {
    let outbox = Outbox::default();
    let seen = outbox.emails.clone();
    let failing = EmailOtp::new(move |email: String, otp: String, purpose: OtpPurpose| {
        seen.lock().unwrap().push((email, otp, purpose));
        async { Err::<(), kernia::delivery::DeliveryError>("provider down".into()) }
    })
    .delivery(kernia::delivery::DeliveryMode::Await(Duration::from_secs(5)));
    let app = App::with_plugins(failing, outbox.phone_number(), outbox, |b| b);
    let reply = send(&app, "down@example.com", "sign-in").await;
    assert_success(&reply);
    let code = app.outbox.email_code("down@example.com").expect("sender was called");
    assert_invalid_otp(&sign_in_otp(&app, "down@example.com", &code).await);
}

#[tokio::test]
async fn change_email_to_an_address_taken_meanwhile_is_refused() {
    let app = email_app(|e| e.change_email(true));
    let (cookie, _) = sign_up(&app, "mover@example.com", "password123").await;
    let reply = request_email_change(&app, &cookie, "spot@example.com").await;
    assert_success(&reply);
    let code = app.outbox.email_code("spot@example.com").unwrap();
    sign_up(&app, "spot@example.com", "password123").await;
    let reply = change_email(&app, &cookie, "spot@example.com", &code).await;
    assert_body(&reply, 400, &json!({ "message": "Email already in use" }));
    assert_eq!(session_user(&app, &cookie).await["email"], "mover@example.com");
}

#[tokio::test]
async fn check_of_an_expired_code_is_otp_expired() {
    let app = App::new();
    sign_up(&app, "exp@example.com", "password123").await;
    let code = code_for(&app, "exp@example.com", "email-verification").await;
    app.clock.advance(Duration::from_secs(301));
    let reply = check(&app, "exp@example.com", "email-verification", &code).await;
    assert_error(&reply, 400, "OTP_EXPIRED", "OTP expired");
    assert_invalid_otp(&check(&app, "exp@example.com", "email-verification", &code).await);
}

#[tokio::test]
async fn cross_site_navigation_is_blocked_on_send_but_not_on_code_sign_in() {
    let app = App::new();
    let body = json!({ "email": "x@example.com", "type": "sign-in" });
    let reply = app.send(cross_site_navigation("/email-otp/send-verification-otp", &body)).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert_eq!(reply.json()["code"], "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED");
    assert_eq!(app.outbox.email_count("x@example.com"), 0);
    let code = code_for(&app, "x@example.com", "sign-in").await;
    let body = json!({ "email": "x@example.com", "otp": code });
    let reply = app.send(cross_site_navigation("/sign-in/email-otp", &body)).await;
    assert_eq!(reply.status, 200, "no form-CSRF check on /sign-in/email-otp: {}", reply.body);
}

#[tokio::test]
async fn at_most_ten_codes_per_address_per_day() {
    use kernia::clock::Clock;
    let app = App::with(|b| b.rate_limit(true));
    // start one hour into a UTC day so the 24 h window cannot roll over mid-test
    let day_ms: i128 = 86_400_000;
    let now_ms = app.clock.now().unix_timestamp_nanos() / 1_000_000;
    let to_next_day = u64::try_from(day_ms - now_ms.rem_euclid(day_ms) + 3_600_000).unwrap();
    app.clock.advance(Duration::from_millis(to_next_day));
    for i in 0..10 {
        let reply = send_from(&app, "daily@example.com", "10.1.0.1").await;
        assert_eq!(reply.status, 200, "send {i}: {}", reply.body);
        app.clock.advance(Duration::from_secs(61));
    }
    let reply = send_from(&app, "daily@example.com", "10.1.0.2").await;
    assert_too_many_requests(&reply);
    assert!(reply.headers.contains_key("x-retry-after"));
    assert_eq!(app.outbox.email_count("daily@example.com"), 10);
}

// ---------------------------------------------------------------------------
// storage (D3) and more races

#[tokio::test]
async fn codes_are_stored_under_seed_identifiers_and_never_in_plain_text() {
    let store = Counting::store(3);
    let outbox = Outbox::default();
    let email = outbox.email_otp().change_email(true);
    let app = App::with_plugins(email, outbox.phone_number(), outbox, |b| b.store(store.clone()));
    let (cookie, user) = sign_up(&app, "Store@Example.com", "password123").await;
    assert_success(&send(&app, "STORE@example.com", "sign-in").await);
    let sign_in = app.outbox.email_code("store@example.com").unwrap();
    let verify = code_for(&app, "store@example.com", "email-verification").await;
    let forget = code_for(&app, "store@example.com", "forget-password").await;
    let reply = request_email_change(&app, &cookie, "Moved@Example.com").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let change = app.outbox.email_code("moved@example.com").unwrap();
    let rows = store.probe.created();
    let identifiers: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    let change_id = format!("email-otp:change-email:{}:moved@example.com", user["id"].as_str().unwrap());
    assert_eq!(
        identifiers,
        vec![
            "email-otp:sign-in:store@example.com",
            "email-otp:email-verification:store@example.com",
            "email-otp:forget-password:store@example.com",
            change_id.as_str(),
        ]
    );
    for ((_, value), code) in rows.iter().zip([&sign_in, &verify, &forget, &change]) {
        let (stored, attempts) = value.rsplit_once(':').unwrap();
        assert_eq!(attempts, "0", "fresh rows have attempts 0");
        assert!(!stored.contains(code.as_str()), "code stored in plain text: {value}");
        assert!(stored.len() >= 32, "a keyed hash, not the code: {value}");
    }
    // a wrong guess re-inserts the row with attempts + 1
    assert_invalid_otp(&sign_in_otp(&app, "store@example.com", &wrong(&sign_in)).await);
    let rows = store.probe.created();
    let (id, value) = rows.last().unwrap();
    assert_eq!(id, "email-otp:sign-in:store@example.com");
    assert!(value.ends_with(":1"), "{value}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_checks_get_at_most_allowed_attempts_comparisons() {
    let (app, store) = counting_app();
    sign_up(&app, "cc@example.com", "password123").await;
    let code = code_for(&app, "cc@example.com", "forget-password").await;
    let body = json!({ "email": "cc@example.com", "type": "forget-password", "otp": wrong(&code) });
    let requests = (0..50).map(|_| post("/email-otp/check-verification-otp", &body, "")).collect();
    let replies = app.send_at_once(requests).await;
    for reply in &replies {
        assert_ne!(reply.status, 200, "{}", reply.body);
    }
    let counts = tally(&replies);
    let (takes, comparisons) = (store.probe.takes(), store.probe.comparisons());
    let after = reset(&app, "cc@example.com", &code, "brand-new-pw1").await;
    println!(
        "email concurrency: 50 concurrent wrong check-verification-otp -> {counts:?}; takes={takes}, comparisons={comparisons}; \
         reset with the right code afterwards -> {} {}",
        after.status, after.body
    );
    assert_attempts_accounted(comparisons, 3, &after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_resets_with_one_code_succeed_exactly_once() {
    let app = App::new();
    sign_up(&app, "cr@example.com", "old-password1").await;
    let code = code_for(&app, "cr@example.com", "forget-password").await;
    let reset = |i| {
        let body = json!({ "email": "cr@example.com", "otp": code, "password": format!("new-password-{i}") });
        post("/email-otp/reset-password", &body, "")
    };
    let replies = app.send_at_once((0..10).map(reset).collect()).await;
    let mut winners = Vec::new();
    let mut failures = 0;
    for (i, reply) in replies.into_iter().enumerate() {
        match reply.status.as_u16() {
            200 => winners.push(i),
            400 => {
                assert_eq!(reply.json()["code"], "INVALID_OTP", "{}", reply.body);
                failures += 1;
            }
            _ => panic!("unexpected {} {}", reply.status, reply.body),
        }
    }
    println!(
        "email concurrency: 10 concurrent resets with one code -> winners {winners:?}, {failures} x 400"
    );
    assert_eq!(winners.len(), 1);
    let password = format!("new-password-{}", winners[0]);
    assert_eq!(sign_in_password(&app, "cr@example.com", &password).await.status, 200);
}

/// K6 (guide/security.md) and the per-recipient limit "1 per 60 s": a second
/// code to one address less than 60 s after the first is refused, whatever
/// the position of the two sends relative to minute boundaries.
#[tokio::test]
async fn recipient_cooldown_holds_across_minute_boundaries() {
    let app = App::with(|b| b.rate_limit(true));
    app.advance_to_ms_of_minute(59_500);
    let first = send_from(&app, "edge@example.com", "10.4.0.1").await;
    assert_eq!(first.status, 200, "{}", first.body);
    app.clock.advance(Duration::from_secs(1));
    let second = send_from(&app, "edge@example.com", "10.4.0.2").await;
    println!(
        "email cooldown: second send 1 s after the first (across a minute boundary) -> {} {}; codes delivered: {}",
        second.status,
        second.body,
        app.outbox.email_count("edge@example.com")
    );
    assert_too_many_requests(&second);
    assert_eq!(app.outbox.email_count("edge@example.com"), 1);
}

#[tokio::test]
async fn reset_for_an_address_that_left_its_account_is_user_not_found() {
    let app = email_app(|e| e.change_email(true));
    let (cookie, _) = sign_up(&app, "leaver@example.com", "password123").await;
    let reset_code = code_for(&app, "leaver@example.com", "forget-password").await;
    let reply = request_email_change(&app, &cookie, "arrived@example.com").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let change = app.outbox.email_code("arrived@example.com").unwrap();
    let reply = change_email(&app, &cookie, "arrived@example.com", &change).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = reset(&app, "leaver@example.com", &reset_code, "new-password1").await;
    assert_error(&reply, 400, "USER_NOT_FOUND", "User not found");
    assert_eq!(sign_in_password(&app, "arrived@example.com", "password123").await.status, 200);
}
