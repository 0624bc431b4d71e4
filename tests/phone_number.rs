//! In-process tests of the phone number plugin against the contract in
//! `../shared/spec/phone-number.md`, `errors.md` and `kernia-decisions.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::counting::{assert_attempts_accounted, counting_app};
use common::otp::{
    DONT_REMEMBER_COOKIE, SESSION_COOKIE, TOO_MANY, all_digits, assert_body, assert_error,
    assert_invalid_otp, assert_session_cookie, assert_too_many_attempts, assert_user_keys, keys,
    session_user, tally, wrong,
};
use common::{App, Outbox, Reply, builder, cross_site_navigation, post};
use kernia::ConfigError;
use kernia::delivery::{DeliveryError, DeliveryMode};
use kernia::phone_number::{PhoneNumber, PhoneValidation};
use kernia::rate_limit::Rule;
use serde_json::{Value, json};
use time::OffsetDateTime;

// ---------------------------------------------------------------------------
// helpers

#[track_caller]
fn assert_otp_not_found(reply: &Reply) {
    assert_error(reply, 400, "OTP_NOT_FOUND", "OTP not found");
}

#[track_caller]
fn assert_bad_credentials(reply: &Reply) {
    assert_error(reply, 401, "INVALID_PHONE_NUMBER_OR_PASSWORD", "Invalid phone number or password");
}

#[track_caller]
fn assert_invalid_phone_number(reply: &Reply) {
    assert_error(reply, 400, "INVALID_PHONE_NUMBER", "Invalid phone number");
}

#[track_caller]
fn assert_code_sent(reply: &Reply) {
    assert_body(reply, 200, &json!({ "message": "code sent" }));
}

#[track_caller]
fn assert_status_true(reply: &Reply) {
    assert_body(reply, 200, &json!({ "status": true }));
}

#[track_caller]
fn assert_too_many_requests(reply: &Reply) {
    assert_body(reply, 429, &json!({ "message": TOO_MANY }));
}

/// The full text of the last SMS to `phone`.
fn last_sms(app: &App, phone: &str) -> Option<String> {
    app.outbox.sms.lock().unwrap().iter().rev().find(|(to, _)| to == phone).map(|(_, m)| m.clone())
}

async fn send_otp(app: &App, phone: &str) -> Reply {
    app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await
}

/// A code request for `phone` from client address `ip`.
async fn send_otp_from(app: &App, phone: &str, ip: &str) -> Reply {
    app.post_from("/phone-number/send-otp", json!({ "phoneNumber": phone }), ip).await
}

/// Sends a verification code to `phone` (as typed) and returns it; `e164` is where it goes.
async fn code_for(app: &App, phone: &str, e164: &str) -> String {
    let before = app.outbox.sms_count(e164);
    let reply = send_otp(app, phone).await;
    assert_code_sent(&reply);
    assert_eq!(app.outbox.sms_count(e164), before + 1, "no SMS to {e164}");
    app.outbox.sms_code(e164).expect("code")
}

async fn verify(app: &App, phone: &str, code: &str) -> Reply {
    app.post("/phone-number/verify", json!({ "phoneNumber": phone, "code": code }), "").await
}

/// Verifies `phone` with `code` to attach it to the user signed in with `cookie`.
async fn verify_update(app: &App, phone: &str, code: &str, cookie: &str) -> Reply {
    let body = json!({ "phoneNumber": phone, "code": code, "updatePhoneNumber": true });
    app.post("/phone-number/verify", body, cookie).await
}

async fn sign_in(app: &App, phone: &str, password: &str, remember: Option<bool>) -> Reply {
    let mut body = json!({ "phoneNumber": phone, "password": password });
    if let Some(remember) = remember {
        body["rememberMe"] = json!(remember);
    }
    app.post("/sign-in/phone-number", body, "").await
}

/// Verifies `phone` (compact E.164), creating its account; returns the user.
async fn phone_user(app: &App, phone: &str) -> Value {
    let code = code_for(app, phone, phone).await;
    let reply = verify(app, phone, &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.json()["user"].clone()
}

async fn request_reset(app: &App, phone: &str) -> Reply {
    app.post("/phone-number/request-password-reset", json!({ "phoneNumber": phone }), "").await
}

async fn reset_with(app: &App, phone: &str, otp: &str, password: &str) -> Reply {
    let body = json!({ "phoneNumber": phone, "otp": otp, "newPassword": password });
    app.post("/phone-number/reset-password", body, "").await
}

/// Resets the password of `phone` by code.
async fn reset_password(app: &App, phone: &str, password: &str) {
    let before = app.outbox.sms_count(phone);
    assert_status_true(&request_reset(app, phone).await);
    assert_eq!(app.outbox.sms_count(phone), before + 1);
    let message = last_sms(app, phone).unwrap();
    let code = app.outbox.sms_code(phone).unwrap();
    assert_eq!(message, format!("Your password reset code is {code}"));
    let reply = reset_with(app, phone, &code, password).await;
    assert_status_true(&reply);
    assert!(reply.set_cookies().is_empty(), "no session on reset");
}

/// Signs up by email; returns (cookie, token, user).
async fn email_user(app: &App, email: &str) -> (String, String, Value) {
    let reply = app.sign_up_reply(email, "password123").await;
    let body = reply.json();
    (reply.cookie_header(), body["token"].as_str().unwrap().to_owned(), body["user"].clone())
}

/// The app with the phone plugin adjusted by `phone`.
fn phone_app(phone: impl FnOnce(PhoneNumber) -> PhoneNumber) -> App {
    let outbox = Outbox::default();
    App::with_plugins(outbox.email_otp(), phone(outbox.phone_number()), outbox, |b| b)
}

fn strict_app(phone: impl FnOnce(PhoneNumber) -> PhoneNumber) -> App {
    phone_app(|p| phone(p.validation(PhoneValidation::Strict)))
}

/// Under strict validation a code to `number` is refused and nothing is sent.
async fn assert_strict_validation_refuses(number: &str) {
    let app = strict_app(|p| p);
    assert_invalid_phone_number(&send_otp(&app, number).await);
    assert!(app.outbox.sms.lock().unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// send-otp (§4.1) and verify (§4.2)

#[tokio::test]
async fn send_otp_answers_code_sent_and_texts_the_verification_message() {
    let app = App::new();
    let reply = send_otp(&app, "+15550001111").await;
    assert_code_sent(&reply);
    let sms = app.outbox.sms.lock().unwrap().clone();
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].0, "+15550001111");
    let code = app.outbox.sms_code("+15550001111").unwrap();
    assert!(all_digits(&code, 6), "code {code:?}");
    assert_eq!(sms[0].1, format!("Your verification code is {code}"));
}

#[tokio::test]
async fn verify_of_unknown_number_creates_a_phone_user_and_a_session() {
    let app = App::new();
    let code = code_for(&app, "+15550001111", "+15550001111").await;
    let reply = verify(&app, "+15550001111", &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(keys(&body), BTreeSet::from(["status", "token", "user"]));
    assert_eq!(body["status"], true);
    let user = &body["user"];
    assert_user_keys(user);
    assert_eq!(user["phoneNumber"], "+15550001111");
    assert_eq!(user["phoneNumberVerified"], true);
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["name"], "+15550001111");
    assert_eq!(user["email"], "15550001111@phone.invalid");
    assert_eq!(user["image"], Value::Null);
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    assert_session_cookie(&reply, token);
    assert_eq!(session_user(&app, &reply.cookie_header()).await["id"], user["id"]);
}

#[tokio::test]
async fn verify_of_existing_number_signs_in_to_the_same_user() {
    let app = App::new();
    let first = phone_user(&app, "+15550002222").await;
    let code = code_for(&app, "+15550002222", "+15550002222").await;
    let reply = verify(&app, "+15550002222", &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["user"]["id"], first["id"]);
    assert!(reply.set_cookie(SESSION_COOKIE).is_some());
}

#[tokio::test]
async fn formatted_and_compact_numbers_are_one_account() {
    let app = App::new();
    let code = code_for(&app, "+1 (555) 012-3456789", "+15550123456789").await;
    let first = verify(&app, "+15550123456789", &code).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.json()["user"]["phoneNumber"], "+15550123456789");
    let code = code_for(&app, "+15550123456789", "+15550123456789").await;
    let second = verify(&app, "+1 555.012.3456789", &code).await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.json()["user"]["id"], first.json()["user"]["id"]);
}

#[tokio::test]
async fn verify_code_is_single_use() {
    let app = App::new();
    let code = code_for(&app, "+15550003333", "+15550003333").await;
    assert_eq!(verify(&app, "+15550003333", &code).await.status, 200);
    assert_otp_not_found(&verify(&app, "+15550003333", &code).await);
}

#[tokio::test]
async fn never_sent_code_is_otp_not_found() {
    let app = App::new();
    assert_otp_not_found(&verify(&app, "+15550009999", "123456").await);
}

#[tokio::test]
async fn wrong_code_is_invalid_otp_and_right_code_still_works() {
    let app = App::new();
    let code = code_for(&app, "+15550004444", "+15550004444").await;
    assert_invalid_otp(&verify(&app, "+15550004444", &wrong(&code)).await);
    assert_eq!(verify(&app, "+15550004444", &code).await.status, 200);
}

#[tokio::test]
async fn three_wrong_codes_burn_the_code_with_403_then_otp_not_found() {
    let app = App::new();
    let code = code_for(&app, "+15550005555", "+15550005555").await;
    for _ in 0..3 {
        assert_invalid_otp(&verify(&app, "+15550005555", &wrong(&code)).await);
    }
    assert_too_many_attempts(&verify(&app, "+15550005555", &code).await);
    assert_otp_not_found(&verify(&app, "+15550005555", &code).await);
}

#[tokio::test]
async fn code_expires_after_300_seconds() {
    let app = App::new();
    let early = code_for(&app, "+15550006661", "+15550006661").await;
    let late = code_for(&app, "+15550006662", "+15550006662").await;
    app.clock.advance(Duration::from_secs(299));
    assert_eq!(verify(&app, "+15550006661", &early).await.status, 200, "still valid at 299 s");
    app.clock.advance(Duration::from_secs(2));
    assert_error(&verify(&app, "+15550006662", &late).await, 400, "OTP_EXPIRED", "OTP expired");
    assert_otp_not_found(&verify(&app, "+15550006662", &late).await);
}

#[tokio::test]
async fn resend_supersedes_the_old_code() {
    let app = App::new();
    let old = code_for(&app, "+15550007777", "+15550007777").await;
    let mut new = code_for(&app, "+15550007777", "+15550007777").await;
    while new == old {
        new = code_for(&app, "+15550007777", "+15550007777").await;
    }
    assert_invalid_otp(&verify(&app, "+15550007777", &old).await);
    assert_eq!(verify(&app, "+15550007777", &new).await.status, 200);
}

#[tokio::test]
async fn codes_for_one_number_do_not_work_for_another() {
    let app = App::new();
    let a = code_for(&app, "+15550008881", "+15550008881").await;
    assert_otp_not_found(&verify(&app, "+15550008882", &a).await);
    assert_eq!(verify(&app, "+15550008881", &a).await.status, 200);
}

#[tokio::test]
async fn disable_session_returns_null_token_and_no_cookie() {
    let app = App::new();
    let code = code_for(&app, "+15550010001", "+15550010001").await;
    let reply = app
        .post(
            "/phone-number/verify",
            json!({ "phoneNumber": "+15550010001", "code": code, "disableSession": true }),
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.set_cookies().is_empty(), "{:?}", reply.set_cookies());
    let body = reply.json();
    assert_eq!(body["status"], true);
    assert_eq!(body["token"], Value::Null);
    assert_user_keys(&body["user"]);
    assert_eq!(body["user"]["phoneNumberVerified"], true);
}

#[tokio::test]
async fn disable_sign_up_refuses_unknown_numbers_with_phone_number_not_exist() {
    let app = phone_app(|p| p.disable_sign_up(true));
    // D5: codes are still sent to unknown numbers
    let code = code_for(&app, "+15550010002", "+15550010002").await;
    let reply = verify(&app, "+15550010002", &code).await;
    assert_error(&reply, 400, "PHONE_NUMBER_NOT_EXIST", "phone number isn't registered");
    assert!(reply.set_cookies().is_empty());
    // the code was consumed
    assert_otp_not_found(&verify(&app, "+15550010002", &code).await);
    // known numbers still sign in
    let (cookie, _, user) = email_user(&app, "known@example.com").await;
    let code = code_for(&app, "+15550010003", "+15550010003").await;
    let reply = verify_update(&app, "+15550010003", &code, &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let code = code_for(&app, "+15550010003", "+15550010003").await;
    let reply = verify(&app, "+15550010003", &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["user"]["id"], user["id"]);
}

// ---------------------------------------------------------------------------
// updatePhoneNumber

#[tokio::test]
async fn update_phone_number_attaches_the_number_to_the_signed_in_user() {
    let app = App::new();
    let (cookie, token, user) = email_user(&app, "attach@example.com").await;
    let code = code_for(&app, "+15550020001", "+15550020001").await;
    let reply = verify_update(&app, "+15550020001", &code, &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.set_cookies().is_empty(), "no new session: {:?}", reply.set_cookies());
    let body = reply.json();
    assert_eq!(body["status"], true);
    assert_eq!(body["token"], token.as_str(), "the current session token");
    assert_user_keys(&body["user"]);
    assert_eq!(body["user"]["id"], user["id"]);
    assert_eq!(body["user"]["email"], "attach@example.com");
    assert_eq!(body["user"]["phoneNumber"], "+15550020001");
    assert_eq!(body["user"]["phoneNumberVerified"], true);
    assert_eq!(session_user(&app, &cookie).await["phoneNumber"], "+15550020001");
    // the email account's password now signs in by phone too
    let reply = sign_in(&app, "+15550020001", "password123", None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["user"]["id"], user["id"]);
}

#[tokio::test]
async fn update_phone_number_without_a_session_is_401_user_not_found() {
    let app = App::new();
    let code = code_for(&app, "+15550020002", "+15550020002").await;
    let reply = verify_update(&app, "+15550020002", &code, "").await;
    assert_error(&reply, 401, "USER_NOT_FOUND", "User not found");
    // the code is already consumed
    assert_otp_not_found(&verify(&app, "+15550020002", &code).await);
}

#[tokio::test]
async fn update_phone_number_to_a_number_owned_by_anyone_is_phone_number_exist() {
    let app = App::new();
    phone_user(&app, "+15550020003").await;
    let (cookie, _, _) = email_user(&app, "thief@example.com").await;
    let code = code_for(&app, "+15550020003", "+15550020003").await;
    let reply = verify_update(&app, "+15550020003", &code, &cookie).await;
    assert_error(&reply, 400, "PHONE_NUMBER_EXIST", "Phone number already exists");
    assert_eq!(session_user(&app, &cookie).await["phoneNumber"], Value::Null);
    // including the caller's own number
    let code = code_for(&app, "+15550020004", "+15550020004").await;
    assert_eq!(verify_update(&app, "+15550020004", &code, &cookie).await.status, 200);
    let code = code_for(&app, "+15550020004", "+15550020004").await;
    let reply = verify_update(&app, "+15550020004", &code, &cookie).await;
    assert_error(&reply, 400, "PHONE_NUMBER_EXIST", "Phone number already exists");
}

// ---------------------------------------------------------------------------
// sign-in/phone-number (§4.3) and password reset (§4.4–4.5)

#[tokio::test]
async fn phone_password_sign_in_after_reset() {
    let app = App::new();
    let user = phone_user(&app, "+15550030001").await;
    // no credential account yet
    assert_bad_credentials(&sign_in(&app, "+15550030001", "first-password", None).await);
    reset_password(&app, "+15550030001", "first-password").await;

    let reply = sign_in(&app, "+15550030001", "first-password", Some(true)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(keys(&body), BTreeSet::from(["token", "user"]), "no redirect key");
    assert_eq!(body["user"]["id"], user["id"]);
    let token = body["token"].as_str().unwrap();
    assert_session_cookie(&reply, token);
    assert!(reply.set_cookie(DONT_REMEMBER_COOKIE).is_none());

    let reply = sign_in(&app, "+1 555 003 0001", "first-password", Some(false)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let cookie = reply.set_cookie(SESSION_COOKIE).unwrap();
    assert!(!cookie.contains("Max-Age"), "{cookie}");
    let dont = reply.set_cookie(DONT_REMEMBER_COOKIE).expect("dont_remember cookie");
    assert!(dont.starts_with(&format!("{DONT_REMEMBER_COOKIE}=true.")), "{dont}");
    assert!(!dont.contains("Max-Age"), "{dont}");
}

#[tokio::test]
async fn wrong_password_and_unknown_number_fail_identically() {
    let app = App::new();
    phone_user(&app, "+15550030002").await;
    reset_password(&app, "+15550030002", "right-password").await;
    let wrong_password = sign_in(&app, "+15550030002", "wrong-password", None).await;
    let unknown = sign_in(&app, "+15550039999", "right-password", None).await;
    assert_bad_credentials(&wrong_password);
    assert_bad_credentials(&unknown);
    assert_eq!(wrong_password.body, unknown.body);
    assert!(wrong_password.set_cookies().is_empty() && unknown.set_cookies().is_empty());
}

#[tokio::test]
async fn second_reset_replaces_the_password_and_codes_are_single_use() {
    let app = App::new();
    phone_user(&app, "+15550030003").await;
    reset_password(&app, "+15550030003", "first-password").await;
    reset_password(&app, "+15550030003", "second-password").await;
    assert_bad_credentials(&sign_in(&app, "+15550030003", "first-password", None).await);
    assert_eq!(sign_in(&app, "+15550030003", "second-password", None).await.status, 200);
    let code = app.outbox.sms_code("+15550030003").unwrap();
    let reply = reset_with(&app, "+15550030003", &code, "third-password").await;
    assert_otp_not_found(&reply);
}

#[tokio::test]
async fn reset_request_for_unknown_number_is_enumeration_safe() {
    let app = App::new();
    phone_user(&app, "+15550030004").await;
    let known = request_reset(&app, "+15550030004").await;
    let unknown = request_reset(&app, "+15550038888").await;
    assert_status_true(&known);
    assert_eq!(unknown.status, known.status);
    assert_eq!(unknown.body, known.body);
    assert_eq!(app.outbox.sms_count("+15550038888"), 0);
}

#[tokio::test]
async fn reset_with_short_password_or_wrong_code_keeps_the_code() {
    let app = App::new();
    phone_user(&app, "+15550030005").await;
    let reply = request_reset(&app, "+15550030005").await;
    assert_eq!(reply.status, 200);
    let code = app.outbox.sms_code("+15550030005").unwrap();
    let reply = reset_with(&app, "+15550030005", &code, "short").await;
    assert_error(&reply, 400, "PASSWORD_TOO_SHORT", "Password too short");
    assert_invalid_otp(&reset_with(&app, "+15550030005", &wrong(&code), "long-enough-1").await);
    assert_status_true(&reset_with(&app, "+15550030005", &code, "long-enough-1").await);
    // the verification code and the reset code are separate
    assert_otp_not_found(&verify(&app, "+15550030005", &code).await);
}

#[tokio::test]
async fn reset_sessions_survive_by_default_and_are_revoked_when_configured() {
    for revoke in [false, true] {
        let app = App::with(|b| b.revoke_sessions_on_password_reset(revoke));
        let code = code_for(&app, "+15550030006", "+15550030006").await;
        let reply = verify(&app, "+15550030006", &code).await;
        let cookie = reply.cookie_header();
        reset_password(&app, "+15550030006", "new-password1").await;
        let current = session_user(&app, &cookie).await;
        assert_eq!(current.is_null(), revoke, "revoke={revoke}: {current}");
    }
}

#[tokio::test]
async fn sign_in_with_invalid_number_is_invalid_phone_number() {
    let app = App::new();
    let reply = sign_in(&app, "12345", "password123", None).await;
    assert_invalid_phone_number(&reply);
}

// ---------------------------------------------------------------------------
// hooks on core endpoints (§5)

#[tokio::test]
async fn sign_up_email_with_a_phone_number_is_refused() {
    let app = App::new();
    let reply = app
        .post(
            "/sign-up/email",
            json!({ "name": "X", "email": "x@example.com", "password": "password123", "phoneNumber": "+15550040001" }),
            "",
        )
        .await;
    assert_error(&reply, 400, "PHONE_NUMBER_CANNOT_BE_SET", "Phone number can only be set by verifying it");
    let reply = app
        .post(
            "/sign-up/email",
            json!({ "name": "X", "email": "x@example.com", "password": "password123", "phoneNumber": null }),
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "null is fine: {}", reply.body);
    assert_eq!(reply.json()["user"]["phoneNumber"], Value::Null);
}

#[tokio::test]
async fn update_user_cannot_set_a_phone_number() {
    let app = App::new();
    let reply = app.post("/update-user", json!({ "phoneNumber": "+15550040002" }), "").await;
    assert_error(&reply, 400, "PHONE_NUMBER_CANNOT_BE_UPDATED", "Phone number cannot be updated");
}

// ---------------------------------------------------------------------------
// concurrency

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_verifies_of_one_code_create_exactly_one_session() {
    let (app, store) = counting_app();
    let code = code_for(&app, "+15550050001", "+15550050001").await;
    let body = json!({ "phoneNumber": "+15550050001", "code": code });
    let replies = app.send_at_once((0..50).map(|_| post("/phone-number/verify", &body, "")).collect()).await;
    let mut ok = 0;
    let mut not_found = 0;
    let mut invalid = 0;
    for reply in replies {
        match (reply.status.as_u16(), reply.json()["code"].as_str()) {
            (200, _) => ok += 1,
            (400, Some("OTP_NOT_FOUND")) => not_found += 1,
            (400, Some("INVALID_OTP")) => invalid += 1,
            _ => panic!("unexpected reply {} {}", reply.status, reply.body),
        }
    }
    let sessions = store.probe.sessions();
    println!(
        "phone concurrency: 50 parallel verifies of one code -> {ok} x 200, {not_found} x 400 OTP_NOT_FOUND, \
         {invalid} x 400 INVALID_OTP; sessions kept = {sessions}"
    );
    assert_eq!(ok, 1);
    assert_eq!(not_found + invalid, 49);
    assert_eq!(sessions, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_guesses_get_at_most_allowed_attempts_comparisons() {
    let (app, store) = counting_app();
    let code = code_for(&app, "+15550050002", "+15550050002").await;
    let body = json!({ "phoneNumber": "+15550050002", "code": wrong(&code) });
    let replies = app.send_at_once((0..50).map(|_| post("/phone-number/verify", &body, "")).collect()).await;
    for reply in &replies {
        assert_ne!(reply.status, 200, "{}", reply.body);
    }
    let counts = tally(&replies);
    let (takes, comparisons) = (store.probe.takes(), store.probe.comparisons());
    let after = verify(&app, "+15550050002", &code).await;
    println!(
        "phone concurrency: 50 parallel wrong guesses -> {counts:?}; takes={takes}, comparisons={comparisons} \
         (allowed_attempts=3); right code afterwards -> {} {}",
        after.status, after.body
    );
    assert_attempts_accounted(comparisons, 3, &after);
    assert_eq!(store.probe.sessions(), u32::from(after.status == 200) as usize);
}

// ---------------------------------------------------------------------------
// abuse limits (rate limiting on)

#[tokio::test]
async fn eleventh_request_from_one_ip_within_a_minute_is_rate_limited() {
    let app = App::with(|b| b.rate_limit(true));
    for i in 0..10 {
        assert_code_sent(&send_otp_from(&app, &format!("+1555006000{i}"), "10.2.0.1").await);
    }
    let reply = send_otp_from(&app, "+15550060010", "10.2.0.1").await;
    assert_too_many_requests(&reply);
    assert_eq!(reply.headers["x-retry-after"], "60");
    assert_eq!(app.outbox.sms_count("+15550060010"), 0);
    // per path: verify has its own bucket
    let body = json!({ "phoneNumber": "+15550060010", "code": "123456" });
    assert_otp_not_found(&app.post_from("/phone-number/verify", body, "10.2.0.1").await);
    app.clock.advance(Duration::from_secs(60));
    let reply = send_otp_from(&app, "+15550060010", "10.2.0.1").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn second_code_to_one_number_within_a_minute_is_refused_from_any_ip() {
    let app = App::with(|b| b.rate_limit(true));
    assert_eq!(send_otp_from(&app, "+15550060020", "10.2.0.2").await.status, 200);
    let reply = send_otp_from(&app, "+15550060020", "10.2.0.3").await;
    assert_too_many_requests(&reply);
    let retry: u64 = reply.headers["x-retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "x-retry-after {retry}");
    // formatting does not dodge the cooldown
    let reply = send_otp_from(&app, "+1 555 006 0020", "10.2.0.4").await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(app.outbox.sms_count("+15550060020"), 1);
    app.clock.advance(Duration::from_secs(60));
    assert_eq!(send_otp_from(&app, "+15550060020", "10.2.0.3").await.status, 200);
    assert_eq!(app.outbox.sms_count("+15550060020"), 2);
}

#[tokio::test]
async fn sms_budget_caps_all_sends() {
    let outbox = Outbox::default();
    let plugin = outbox.phone_number().sms_budget(Some(Rule { window_secs: 3600, max: 2 }));
    let app = App::with_plugins(outbox.email_otp(), plugin, outbox, |b| b.rate_limit(true));
    for (i, phone) in ["+15550060031", "+15550060032"].into_iter().enumerate() {
        let reply = send_otp_from(&app, phone, &format!("10.3.0.{i}")).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let reply = send_otp_from(&app, "+15550060033", "10.3.0.9").await;
    assert_too_many_requests(&reply);
    assert!(reply.headers.contains_key("x-retry-after"));
    assert_eq!(app.outbox.sms.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn budget_and_limits_are_off_without_rate_limiting() {
    let app = phone_app(|p| p.sms_budget(Some(Rule { window_secs: 3600, max: 1 })));
    for _ in 0..3 {
        assert_eq!(send_otp(&app, "+15550060040").await.status, 200);
    }
    assert_eq!(app.outbox.sms_count("+15550060040"), 3);
}

#[tokio::test]
async fn strict_validation_rejects_invalid_numbers_and_normalises_valid_ones() {
    let app = strict_app(|p| p);
    for bad in ["+1555", "+15550123456789", "not a number"] {
        let reply = send_otp(&app, bad).await;
        assert_invalid_phone_number(&reply);
    }
    assert!(app.outbox.sms.lock().unwrap().is_empty());
    let code = code_for(&app, "+1 (202) 555-0143", "+12025550143").await;
    let reply = verify(&app, "+12025550143", &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["user"]["phoneNumber"], "+12025550143");
    assert_invalid_phone_number(&sign_in(&app, "+1555", "password123", None).await);
}

#[tokio::test]
async fn country_allow_list_refuses_other_countries() {
    let app = strict_app(|p| p.allowed_countries(["CA"]));
    let reply = send_otp(&app, "+12025550143").await;
    assert_error(&reply, 400, "COUNTRY_NOT_ALLOWED", "Phone numbers of this country are not allowed");
    assert!(app.outbox.sms.lock().unwrap().is_empty());
    // a Canadian number (libphonenumber's CA example) goes through
    let reply = send_otp(&app, "+15062345678").await;
    assert_code_sent(&reply);
}

// ---------------------------------------------------------------------------
// delivery failure (D6)

#[tokio::test]
async fn failed_awaited_delivery_is_500_and_leaves_no_usable_code() {
    let outbox = Outbox::default();
    let sent = outbox.sms.clone();
    let failing = PhoneNumber::new(move |phone: String, message: String| {
        sent.lock().unwrap().push((phone, message));
        async { Err::<(), DeliveryError>("provider down".into()) }
    })
    .validation(PhoneValidation::E164Shape)
    .delivery(DeliveryMode::Await(Duration::from_secs(5)));
    let app = App::with_plugins(outbox.email_otp(), failing, outbox, |b| b);
    let reply = send_otp(&app, "+15550070001").await;
    assert_error(&reply, 500, "INTERNAL_SERVER_ERROR", "Internal Server Error");
    let code = app.outbox.sms_code("+15550070001").expect("the sender was called");
    assert_otp_not_found(&verify(&app, "+15550070001", &code).await);
    assert_otp_not_found(&verify(&app, "+15550070001", "123456").await);
}

// ---------------------------------------------------------------------------
// options

#[tokio::test]
async fn options_change_length_attempts_and_message() {
    let app = phone_app(|p| p.otp_length(8).allowed_attempts(5).verification_message("Code: {code}!"));
    let code = code_for(&app, "+15550080001", "+15550080001").await;
    assert!(all_digits(&code, 8), "{code:?}");
    assert_eq!(last_sms(&app, "+15550080001").unwrap(), format!("Code: {code}!"));
    for _ in 0..5 {
        assert_invalid_otp(&verify(&app, "+15550080001", &wrong(&code)).await);
    }
    assert_too_many_attempts(&verify(&app, "+15550080001", &code).await);
}

#[tokio::test]
async fn builder_refuses_out_of_range_phone_options() {
    let outbox = Outbox::default();
    let error = builder().phone_number(outbox.phone_number().otp_length(4)).build().unwrap_err();
    assert!(matches!(error, ConfigError::OutOfRange { option: "phone_number", .. }), "{error:?}");
    let error = builder()
        .phone_number(outbox.phone_number().expires_in(Duration::from_secs(7200)))
        .build()
        .unwrap_err();
    assert!(matches!(error, ConfigError::OutOfRange { option: "phone_number", .. }), "{error:?}");
}

// ---------------------------------------------------------------------------
// storage, remember-me, limits at window edges, number types

#[tokio::test]
async fn codes_are_stored_under_phone_identifiers_and_never_in_plain_text() {
    let (app, store) = counting_app();
    let code = code_for(&app, "+1 555 009 0001", "+15550090001").await;
    assert_eq!(verify(&app, "+15550090001", &code).await.status, 200);
    let reply = request_reset(&app, "+15550090001").await;
    assert_eq!(reply.status, 200);
    let reset = app.outbox.sms_code("+15550090001").unwrap();
    let rows = store.probe.created();
    let identifiers: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(identifiers, vec!["phone-number-otp-+15550090001", "phone-number-reset-+15550090001"]);
    for ((_, value), code) in rows.iter().zip([&code, &reset]) {
        let (stored, attempts) = value.rsplit_once(':').unwrap();
        assert_eq!(attempts, "0");
        assert!(!stored.contains(code.as_str()), "code stored in plain text: {value}");
    }
}

#[tokio::test]
async fn remember_me_false_gives_a_one_day_session_and_verify_inherits_it() {
    let app = App::new();
    phone_user(&app, "+15550090002").await;
    reset_password(&app, "+15550090002", "password-one").await;
    let reply = sign_in(&app, "+15550090002", "password-one", Some(false)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let cookie = reply.cookie_header();
    let session = app.get("/get-session", &cookie).await.json();
    let parse = |v: &Value| {
        OffsetDateTime::parse(v.as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap()
    };
    let lifetime = parse(&session["session"]["expiresAt"]) - parse(&session["session"]["createdAt"]);
    assert_eq!(lifetime, time::Duration::days(1));
    // phone verify has no rememberMe field: it follows the dont_remember cookie
    let code = code_for(&app, "+15550090002", "+15550090002").await;
    let body = json!({ "phoneNumber": "+15550090002", "code": code });
    let reply = app.post("/phone-number/verify", body, &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let token_cookie = reply.set_cookie(SESSION_COOKIE).unwrap();
    assert!(!token_cookie.contains("Max-Age"), "{token_cookie}");
    assert!(reply.set_cookie(DONT_REMEMBER_COOKIE).is_some(), "{:?}", reply.set_cookies());
}

#[tokio::test]
async fn too_long_password_on_phone_sign_in_is_password_too_long() {
    let app = App::new();
    let reply = sign_in(&app, "+15550090003", &"x".repeat(129), None).await;
    assert_error(&reply, 400, "PASSWORD_TOO_LONG", "Password too long");
}

/// phone-number.md §4.4: request-password-reset makes no validator call and
/// always answers `200 {"status":true}`.
#[tokio::test]
async fn reset_request_for_a_malformed_number_still_answers_status_true() {
    let app = App::new();
    let reply = request_reset(&app, "12345").await;
    assert_status_true(&reply);
    assert!(app.outbox.sms.lock().unwrap().is_empty());
}

/// K6 (guide/security.md) and the per-number limit "1 per 60 s": a second
/// code to one number less than 60 s after the first is refused, whatever
/// the position of the two sends relative to minute boundaries.
#[tokio::test]
async fn number_cooldown_holds_across_minute_boundaries() {
    let app = App::with(|b| b.rate_limit(true));
    app.advance_to_ms_of_minute(59_500);
    let first = send_otp_from(&app, "+15550090004", "10.5.0.1").await;
    assert_eq!(first.status, 200, "{}", first.body);
    app.clock.advance(Duration::from_secs(1));
    let second = send_otp_from(&app, "+15550090004", "10.5.0.2").await;
    println!(
        "phone cooldown: second send 1 s after the first (across a minute boundary) -> {} {}; SMS sent: {}",
        second.status,
        second.body,
        app.outbox.sms_count("+15550090004")
    );
    assert_too_many_requests(&second);
    assert_eq!(app.outbox.sms_count("+15550090004"), 1);
}

#[tokio::test]
async fn strict_validation_refuses_premium_rate_numbers() {
    assert_strict_validation_refuses("+19002345678").await;
}

/// guide/security.md K13 and §3a (SMS pumping): premium-rate, shared-cost
/// **and toll-free** numbers are blocked.
#[tokio::test]
async fn strict_validation_refuses_toll_free_numbers() {
    assert_strict_validation_refuses("+18002345678").await;
}

#[tokio::test]
async fn reset_for_a_number_that_left_its_account_is_unexpected_error() {
    let app = App::new();
    let (cookie, _, _) = email_user(&app, "leaver@example.com").await;
    let code = code_for(&app, "+15550090005", "+15550090005").await;
    assert_eq!(verify_update(&app, "+15550090005", &code, &cookie).await.status, 200);
    let reply = request_reset(&app, "+15550090005").await;
    assert_status_true(&reply);
    let reset = app.outbox.sms_code("+15550090005").unwrap();
    // §5: clearing the number also clears phoneNumberVerified
    let reply = app.post("/update-user", json!({ "phoneNumber": null }), &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let user = session_user(&app, &cookie).await;
    assert_eq!(user["phoneNumber"], Value::Null);
    assert_eq!(user["phoneNumberVerified"], false);
    let reply = reset_with(&app, "+15550090005", &reset, "new-password1").await;
    assert_error(&reply, 400, "UNEXPECTED_ERROR", "Unexpected error");
}

#[tokio::test]
async fn phone_endpoints_have_no_form_csrf_check() {
    let app = App::new();
    let body = json!({ "phoneNumber": "+15550090006" });
    assert_code_sent(&app.send(cross_site_navigation("/phone-number/send-otp", &body)).await);
    let body = json!({ "phoneNumber": "+15550090006", "password": "password123" });
    assert_bad_credentials(&app.send(cross_site_navigation("/sign-in/phone-number", &body)).await);
}
