//! In-process tests of the phone number plugin against the contract in
//! `../shared/spec/phone-number.md`, `errors.md` and `kernia-decisions.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{App, Outbox, Reply, builder, post};
use kernia::delivery::{DeliveryError, DeliveryMode};
use kernia::phone_number::{PhoneNumber, PhoneValidation};
use kernia::rate_limit::Rule;
use kernia::store::{
    Credential, MemoryStore, Session, SessionWithUser, Store, StoreResult, User, UserPatch, Verification,
};
use kernia::{ClientAddr, ConfigError};
use serde_json::{Value, json};
use time::OffsetDateTime;

// ---------------------------------------------------------------------------
// helpers

const SESSION_COOKIE: &str = "better-auth.session_token";
const DONT_REMEMBER_COOKIE: &str = "better-auth.dont_remember";

#[track_caller]
fn assert_body(reply: &Reply, status: u16, expected: &Value) {
    assert_eq!(reply.status.as_u16(), status, "body: {}", reply.body);
    assert_eq!(&reply.json(), expected, "body: {}", reply.body);
}

/// Asserts a Better Auth error with its exact code and message.
#[track_caller]
fn assert_error(reply: &Reply, status: u16, code: &str, message: &str) {
    reply.assert_error(status, code);
    assert_body(reply, status, &json!({ "message": message, "code": code }));
}

#[track_caller]
fn assert_invalid_otp(reply: &Reply) {
    assert_error(reply, 400, "INVALID_OTP", "Invalid OTP");
}

#[track_caller]
fn assert_otp_not_found(reply: &Reply) {
    assert_error(reply, 400, "OTP_NOT_FOUND", "OTP not found");
}

#[track_caller]
fn assert_bad_credentials(reply: &Reply) {
    assert_error(reply, 401, "INVALID_PHONE_NUMBER_OR_PASSWORD", "Invalid phone number or password");
}

#[track_caller]
fn assert_user_shape(user: &Value) {
    let keys: BTreeSet<&str> = user.as_object().expect("user object").keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "id",
        "name",
        "email",
        "emailVerified",
        "image",
        "createdAt",
        "updatedAt",
        "phoneNumber",
        "phoneNumberVerified",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys, expected, "user: {user}");
}

fn wrong(code: &str) -> String {
    code.bytes().map(|b| char::from(b'0' + (b - b'0' + 1) % 10)).collect()
}

fn all_digits(code: &str, len: usize) -> bool {
    code.len() == len && code.bytes().all(|b| b.is_ascii_digit())
}

/// The full text of the last SMS to `phone`.
fn last_sms(app: &App, phone: &str) -> Option<String> {
    app.outbox.sms.lock().unwrap().iter().rev().find(|(to, _)| to == phone).map(|(_, m)| m.clone())
}

async fn send_otp(app: &App, phone: &str) -> Reply {
    app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await
}

/// Sends a verification code to `phone` (as typed) and returns it; `e164` is where it goes.
async fn code_for(app: &App, phone: &str, e164: &str) -> String {
    let before = app.outbox.sms_count(e164);
    let reply = send_otp(app, phone).await;
    assert_body(&reply, 200, &json!({ "message": "code sent" }));
    assert_eq!(app.outbox.sms_count(e164), before + 1, "no SMS to {e164}");
    app.outbox.sms_code(e164).expect("code")
}

async fn verify(app: &App, phone: &str, code: &str) -> Reply {
    app.post("/phone-number/verify", json!({ "phoneNumber": phone, "code": code }), "").await
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

/// Resets the password of `phone` by code.
async fn reset_password(app: &App, phone: &str, password: &str) {
    let before = app.outbox.sms_count(phone);
    let reply = app.post("/phone-number/request-password-reset", json!({ "phoneNumber": phone }), "").await;
    assert_body(&reply, 200, &json!({ "status": true }));
    assert_eq!(app.outbox.sms_count(phone), before + 1);
    let message = last_sms(app, phone).unwrap();
    let code = app.outbox.sms_code(phone).unwrap();
    assert_eq!(message, format!("Your password reset code is {code}"));
    let reply = app
        .post(
            "/phone-number/reset-password",
            json!({ "phoneNumber": phone, "otp": code, "newPassword": password }),
            "",
        )
        .await;
    assert_body(&reply, 200, &json!({ "status": true }));
    assert!(reply.set_cookies().is_empty(), "no session on reset");
}

/// Signs up by email; returns (cookie, token, user).
async fn email_user(app: &App, email: &str) -> (String, String, Value) {
    let reply = app
        .post("/sign-up/email", json!({ "name": "Mail", "email": email, "password": "password123" }), "")
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    (reply.cookie_header(), body["token"].as_str().unwrap().to_owned(), body["user"].clone())
}

async fn session_user(app: &App, cookie: &str) -> Value {
    let reply = app.get("/get-session", cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    if body.is_null() { Value::Null } else { body["user"].clone() }
}

async fn post_from(app: &App, path: &str, body: Value, ip: &str) -> Reply {
    let mut request = post(path, &body, "");
    let addr: SocketAddr = format!("{ip}:40000").parse().expect("addr");
    request.extensions_mut().insert(ClientAddr(addr));
    app.send(request).await
}

const TOO_MANY: &str = "Too many requests. Please try again later.";

fn strict_app(phone: impl FnOnce(PhoneNumber) -> PhoneNumber) -> App {
    let outbox = Outbox::default();
    let plugin = phone(outbox.phone_number().validation(PhoneValidation::Strict));
    App::with_plugins(outbox.email_otp(), plugin, outbox, |b| b)
}

// ---------------------------------------------------------------------------
// counting store

#[derive(Clone)]
struct CountingStore {
    inner: MemoryStore,
    allowed_attempts: u32,
    takes: Arc<AtomicUsize>,
    comparisons: Arc<AtomicUsize>,
    sessions: Arc<AtomicUsize>,
    /// `(identifier, value)` of every inserted verification row.
    created: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

impl CountingStore {
    fn new(allowed_attempts: u32) -> Self {
        Self {
            inner: MemoryStore::new(),
            allowed_attempts,
            takes: Arc::default(),
            comparisons: Arc::default(),
            sessions: Arc::default(),
            created: Arc::default(),
        }
    }
}

impl Store for CountingStore {
    async fn create_user(&self, user: User, password_hash: Option<String>) -> StoreResult<User> {
        self.inner.create_user(user, password_hash).await
    }
    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.inner.find_user_by_id(id).await
    }
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.inner.find_user_by_email(email).await
    }
    async fn find_user_by_phone(&self, phone: &str) -> StoreResult<Option<User>> {
        self.inner.find_user_by_phone(phone).await
    }
    async fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        self.inner.update_user(id, patch, now).await
    }
    async fn find_credential(&self, user_id: &str) -> StoreResult<Option<Credential>> {
        self.inner.find_credential(user_id).await
    }
    async fn set_password(
        &self,
        user_id: &str,
        password_hash: String,
        now: OffsetDateTime,
    ) -> StoreResult<()> {
        self.inner.set_password(user_id, password_hash, now).await
    }
    async fn delete_accounts(&self, user_id: &str) -> StoreResult<()> {
        self.inner.delete_accounts(user_id).await
    }
    async fn create_session(&self, session: Session) -> StoreResult<()> {
        self.sessions.fetch_add(1, Ordering::SeqCst);
        self.inner.create_session(session).await
    }
    async fn find_session(&self, token: &str, now: OffsetDateTime) -> StoreResult<Option<SessionWithUser>> {
        self.inner.find_session(token, now).await
    }
    async fn refresh_session(
        &self,
        token: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Session>> {
        self.inner.refresh_session(token, expires_at, now).await
    }
    async fn delete_session(&self, token: &str) -> StoreResult<()> {
        // Sessions taken back by a request that lost the race do not count.
        self.sessions.fetch_sub(1, Ordering::SeqCst);
        self.inner.delete_session(token).await
    }
    async fn list_sessions(&self, user_id: &str, now: OffsetDateTime) -> StoreResult<Vec<Session>> {
        self.inner.list_sessions(user_id, now).await
    }
    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        self.inner.delete_user_sessions(user_id, keep).await
    }
    async fn create_verification(&self, verification: Verification) -> StoreResult<()> {
        self.created.lock().unwrap().push((verification.identifier.clone(), verification.value.clone()));
        tokio::task::yield_now().await;
        self.inner.create_verification(verification).await
    }
    async fn find_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        // yield around the verification steps to widen the race windows
        tokio::task::yield_now().await;
        let found = self.inner.find_verification(identifier).await;
        tokio::task::yield_now().await;
        found
    }
    async fn take_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        tokio::task::yield_now().await;
        let taken = self.inner.take_verification(identifier).await?;
        // Codes only: the per-recipient failure counter (`failures:…`) is taken too.
        if let Some(row) = taken.as_ref().filter(|row| !row.identifier.starts_with("failures:")) {
            self.takes.fetch_add(1, Ordering::SeqCst);
            let attempts = row.value.rsplit_once(':').and_then(|(_, n)| n.parse::<u32>().ok()).unwrap_or(0);
            if attempts < self.allowed_attempts {
                self.comparisons.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(taken)
    }
    async fn restore_verification(&self, verification: Verification) -> StoreResult<bool> {
        self.inner.restore_verification(verification).await
    }
    async fn delete_verifications(&self, identifier: &str) -> StoreResult<()> {
        self.inner.delete_verifications(identifier).await
    }
}

// ---------------------------------------------------------------------------
// send-otp (§4.1) and verify (§4.2)

#[tokio::test]
async fn send_otp_answers_code_sent_and_texts_the_verification_message() {
    let app = App::new();
    let reply = send_otp(&app, "+15550001111").await;
    assert_body(&reply, 200, &json!({ "message": "code sent" }));
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
    let keys: BTreeSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["status", "token", "user"]));
    assert_eq!(body["status"], true);
    let user = &body["user"];
    assert_user_shape(user);
    assert_eq!(user["phoneNumber"], "+15550001111");
    assert_eq!(user["phoneNumberVerified"], true);
    assert_eq!(user["emailVerified"], false);
    assert_eq!(user["name"], "+15550001111");
    assert_eq!(user["email"], "15550001111@phone.invalid");
    assert_eq!(user["image"], Value::Null);
    let token = body["token"].as_str().unwrap();
    assert_eq!(token.len(), 32);
    let cookie = reply.set_cookie(SESSION_COOKIE).expect("session cookie");
    assert!(cookie.starts_with(&format!("{SESSION_COOKIE}={token}.")), "{cookie}");
    assert!(cookie.contains("Max-Age=604800"), "{cookie}");
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
    assert_error(&verify(&app, "+15550005555", &code).await, 403, "TOO_MANY_ATTEMPTS", "Too many attempts");
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
    assert_user_shape(&body["user"]);
    assert_eq!(body["user"]["phoneNumberVerified"], true);
}

#[tokio::test]
async fn disable_sign_up_refuses_unknown_numbers_with_phone_number_not_exist() {
    let outbox = Outbox::default();
    let app =
        App::with_plugins(outbox.email_otp(), outbox.phone_number().disable_sign_up(true), outbox, |b| b);
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
    let reply = app
        .post(
            "/phone-number/verify",
            json!({ "phoneNumber": "+15550010003", "code": code, "updatePhoneNumber": true }),
            &cookie,
        )
        .await;
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
    let reply = app
        .post(
            "/phone-number/verify",
            json!({ "phoneNumber": "+15550020001", "code": code, "updatePhoneNumber": true }),
            &cookie,
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.set_cookies().is_empty(), "no new session: {:?}", reply.set_cookies());
    let body = reply.json();
    assert_eq!(body["status"], true);
    assert_eq!(body["token"], token.as_str(), "the current session token");
    assert_user_shape(&body["user"]);
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
    let reply = app
        .post(
            "/phone-number/verify",
            json!({ "phoneNumber": "+15550020002", "code": code, "updatePhoneNumber": true }),
            "",
        )
        .await;
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
    let body = json!({ "phoneNumber": "+15550020003", "code": code, "updatePhoneNumber": true });
    let reply = app.post("/phone-number/verify", body, &cookie).await;
    assert_error(&reply, 400, "PHONE_NUMBER_EXIST", "Phone number already exists");
    assert_eq!(session_user(&app, &cookie).await["phoneNumber"], Value::Null);
    // including the caller's own number
    let code = code_for(&app, "+15550020004", "+15550020004").await;
    let body = json!({ "phoneNumber": "+15550020004", "code": code, "updatePhoneNumber": true });
    assert_eq!(app.post("/phone-number/verify", body, &cookie).await.status, 200);
    let code = code_for(&app, "+15550020004", "+15550020004").await;
    let body = json!({ "phoneNumber": "+15550020004", "code": code, "updatePhoneNumber": true });
    let reply = app.post("/phone-number/verify", body, &cookie).await;
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
    let keys: BTreeSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, BTreeSet::from(["token", "user"]), "no redirect key");
    assert_eq!(body["user"]["id"], user["id"]);
    let token = body["token"].as_str().unwrap();
    let cookie = reply.set_cookie(SESSION_COOKIE).unwrap();
    assert!(cookie.starts_with(&format!("{SESSION_COOKIE}={token}.")), "{cookie}");
    assert!(cookie.contains("Max-Age=604800"), "{cookie}");
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
    let reply = app
        .post(
            "/phone-number/reset-password",
            json!({ "phoneNumber": "+15550030003", "otp": code, "newPassword": "third-password" }),
            "",
        )
        .await;
    assert_otp_not_found(&reply);
}

#[tokio::test]
async fn reset_request_for_unknown_number_is_enumeration_safe() {
    let app = App::new();
    phone_user(&app, "+15550030004").await;
    let known =
        app.post("/phone-number/request-password-reset", json!({ "phoneNumber": "+15550030004" }), "").await;
    let unknown =
        app.post("/phone-number/request-password-reset", json!({ "phoneNumber": "+15550038888" }), "").await;
    assert_body(&known, 200, &json!({ "status": true }));
    assert_eq!(unknown.status, known.status);
    assert_eq!(unknown.body, known.body);
    assert_eq!(app.outbox.sms_count("+15550038888"), 0);
}

#[tokio::test]
async fn reset_with_short_password_or_wrong_code_keeps_the_code() {
    let app = App::new();
    phone_user(&app, "+15550030005").await;
    let reply =
        app.post("/phone-number/request-password-reset", json!({ "phoneNumber": "+15550030005" }), "").await;
    assert_eq!(reply.status, 200);
    let code = app.outbox.sms_code("+15550030005").unwrap();
    let reset = |otp: String, password: &'static str| {
        let app = app.clone();
        async move {
            app.post(
                "/phone-number/reset-password",
                json!({ "phoneNumber": "+15550030005", "otp": otp, "newPassword": password }),
                "",
            )
            .await
        }
    };
    assert_error(&reset(code.clone(), "short").await, 400, "PASSWORD_TOO_SHORT", "Password too short");
    assert_invalid_otp(&reset(wrong(&code), "long-enough-1").await);
    assert_body(&reset(code.clone(), "long-enough-1").await, 200, &json!({ "status": true }));
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
    assert_error(&reply, 400, "INVALID_PHONE_NUMBER", "Invalid phone number");
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
    let store = CountingStore::new(3);
    let outbox = Outbox::default();
    let app =
        App::with_plugins(outbox.email_otp(), outbox.phone_number(), outbox, |b| b.store(store.clone()));
    let code = code_for(&app, "+15550050001", "+15550050001").await;
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            let code = code.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                app.send(post(
                    "/phone-number/verify",
                    &json!({ "phoneNumber": "+15550050001", "code": code }),
                    "",
                ))
                .await
            })
        })
        .collect();
    let mut ok = 0;
    let mut not_found = 0;
    let mut invalid = 0;
    for task in tasks {
        let reply = task.await.unwrap();
        match (reply.status.as_u16(), reply.json()["code"].as_str()) {
            (200, _) => ok += 1,
            (400, Some("OTP_NOT_FOUND")) => not_found += 1,
            (400, Some("INVALID_OTP")) => invalid += 1,
            _ => panic!("unexpected reply {} {}", reply.status, reply.body),
        }
    }
    let sessions = store.sessions.load(Ordering::SeqCst);
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
    let store = CountingStore::new(3);
    let outbox = Outbox::default();
    let app =
        App::with_plugins(outbox.email_otp(), outbox.phone_number(), outbox, |b| b.store(store.clone()));
    let code = code_for(&app, "+15550050002", "+15550050002").await;
    let bad = wrong(&code);
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            let bad = bad.clone();
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                app.send(post(
                    "/phone-number/verify",
                    &json!({ "phoneNumber": "+15550050002", "code": bad }),
                    "",
                ))
                .await
            })
        })
        .collect();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for task in tasks {
        let reply = task.await.unwrap();
        assert_ne!(reply.status, 200, "{}", reply.body);
        let key = format!("{} {}", reply.status.as_u16(), reply.json()["code"].as_str().unwrap_or(""));
        *counts.entry(key).or_default() += 1;
    }
    let takes = store.takes.load(Ordering::SeqCst);
    let comparisons = store.comparisons.load(Ordering::SeqCst);
    let after = verify(&app, "+15550050002", &code).await;
    println!(
        "phone concurrency: 50 parallel wrong guesses -> {counts:?}; takes={takes}, comparisons={comparisons} \
         (allowed_attempts=3); right code afterwards -> {} {}",
        after.status, after.body
    );
    assert!(comparisons <= 3, "comparisons {comparisons}");
    // Every wrong comparison re-inserts the row with attempts + 1; a guess that
    // loses the take race is INVALID_OTP without costing an attempt (phone-number.md
    // §3 step 4). So the code is dead exactly when all allowed attempts were spent.
    if comparisons == 3 {
        assert!(
            after.status == 400 || after.status == 403,
            "right code must fail afterwards: {}",
            after.body
        );
    } else {
        assert_eq!(after.status, 200, "attempts left, the right code still works: {}", after.body);
    }
    assert_eq!(store.sessions.load(Ordering::SeqCst), u32::from(after.status == 200) as usize);
}

// ---------------------------------------------------------------------------
// abuse limits (rate limiting on)

#[tokio::test]
async fn eleventh_request_from_one_ip_within_a_minute_is_rate_limited() {
    let app = App::with(|b| b.rate_limit(true));
    for i in 0..10 {
        let reply = post_from(
            &app,
            "/phone-number/send-otp",
            json!({ "phoneNumber": format!("+1555006000{i}") }),
            "10.2.0.1",
        )
        .await;
        assert_body(&reply, 200, &json!({ "message": "code sent" }));
    }
    let reply =
        post_from(&app, "/phone-number/send-otp", json!({ "phoneNumber": "+15550060010" }), "10.2.0.1").await;
    assert_body(&reply, 429, &json!({ "message": TOO_MANY }));
    assert_eq!(reply.headers["x-retry-after"], "60");
    assert_eq!(app.outbox.sms_count("+15550060010"), 0);
    // per path: verify has its own bucket
    let reply = post_from(
        &app,
        "/phone-number/verify",
        json!({ "phoneNumber": "+15550060010", "code": "123456" }),
        "10.2.0.1",
    )
    .await;
    assert_otp_not_found(&reply);
    app.clock.advance(Duration::from_secs(60));
    let reply =
        post_from(&app, "/phone-number/send-otp", json!({ "phoneNumber": "+15550060010" }), "10.2.0.1").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[tokio::test]
async fn second_code_to_one_number_within_a_minute_is_refused_from_any_ip() {
    let app = App::with(|b| b.rate_limit(true));
    let body = json!({ "phoneNumber": "+15550060020" });
    assert_eq!(post_from(&app, "/phone-number/send-otp", body.clone(), "10.2.0.2").await.status, 200);
    let reply = post_from(&app, "/phone-number/send-otp", body.clone(), "10.2.0.3").await;
    assert_body(&reply, 429, &json!({ "message": TOO_MANY }));
    let retry: u64 = reply.headers["x-retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "x-retry-after {retry}");
    // formatting does not dodge the cooldown
    let reply =
        post_from(&app, "/phone-number/send-otp", json!({ "phoneNumber": "+1 555 006 0020" }), "10.2.0.4")
            .await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(app.outbox.sms_count("+15550060020"), 1);
    app.clock.advance(Duration::from_secs(60));
    assert_eq!(post_from(&app, "/phone-number/send-otp", body, "10.2.0.3").await.status, 200);
    assert_eq!(app.outbox.sms_count("+15550060020"), 2);
}

#[tokio::test]
async fn sms_budget_caps_all_sends() {
    let outbox = Outbox::default();
    let plugin = outbox.phone_number().sms_budget(Some(Rule { window_secs: 3600, max: 2 }));
    let app = App::with_plugins(outbox.email_otp(), plugin, outbox, |b| b.rate_limit(true));
    for (i, phone) in ["+15550060031", "+15550060032"].into_iter().enumerate() {
        let reply = post_from(
            &app,
            "/phone-number/send-otp",
            json!({ "phoneNumber": phone }),
            &format!("10.3.0.{i}"),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    let reply =
        post_from(&app, "/phone-number/send-otp", json!({ "phoneNumber": "+15550060033" }), "10.3.0.9").await;
    assert_body(&reply, 429, &json!({ "message": TOO_MANY }));
    assert!(reply.headers.contains_key("x-retry-after"));
    assert_eq!(app.outbox.sms.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn budget_and_limits_are_off_without_rate_limiting() {
    let outbox = Outbox::default();
    let plugin = outbox.phone_number().sms_budget(Some(Rule { window_secs: 3600, max: 1 }));
    let app = App::with_plugins(outbox.email_otp(), plugin, outbox, |b| b);
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
        assert_error(&reply, 400, "INVALID_PHONE_NUMBER", "Invalid phone number");
    }
    assert!(app.outbox.sms.lock().unwrap().is_empty());
    let code = code_for(&app, "+1 (202) 555-0143", "+12025550143").await;
    let reply = verify(&app, "+12025550143", &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["user"]["phoneNumber"], "+12025550143");
    assert_error(
        &sign_in(&app, "+1555", "password123", None).await,
        400,
        "INVALID_PHONE_NUMBER",
        "Invalid phone number",
    );
}

#[tokio::test]
async fn country_allow_list_refuses_other_countries() {
    let app = strict_app(|p| p.allowed_countries(["CA"]));
    let reply = send_otp(&app, "+12025550143").await;
    assert_error(&reply, 400, "COUNTRY_NOT_ALLOWED", "Phone numbers of this country are not allowed");
    assert!(app.outbox.sms.lock().unwrap().is_empty());
    // a Canadian number (libphonenumber's CA example) goes through
    let reply = send_otp(&app, "+15062345678").await;
    assert_body(&reply, 200, &json!({ "message": "code sent" }));
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
    let outbox = Outbox::default();
    let plugin =
        outbox.phone_number().otp_length(8).allowed_attempts(5).verification_message("Code: {code}!");
    let app = App::with_plugins(outbox.email_otp(), plugin, outbox, |b| b);
    let code = code_for(&app, "+15550080001", "+15550080001").await;
    assert!(all_digits(&code, 8), "{code:?}");
    assert_eq!(last_sms(&app, "+15550080001").unwrap(), format!("Code: {code}!"));
    for _ in 0..5 {
        assert_invalid_otp(&verify(&app, "+15550080001", &wrong(&code)).await);
    }
    assert_error(&verify(&app, "+15550080001", &code).await, 403, "TOO_MANY_ATTEMPTS", "Too many attempts");
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
    let store = CountingStore::new(3);
    let outbox = Outbox::default();
    let app =
        App::with_plugins(outbox.email_otp(), outbox.phone_number(), outbox, |b| b.store(store.clone()));
    let code = code_for(&app, "+1 555 009 0001", "+15550090001").await;
    assert_eq!(verify(&app, "+15550090001", &code).await.status, 200);
    let reply =
        app.post("/phone-number/request-password-reset", json!({ "phoneNumber": "+15550090001" }), "").await;
    assert_eq!(reply.status, 200);
    let reset = app.outbox.sms_code("+15550090001").unwrap();
    let rows = store.created.lock().unwrap().clone();
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
    let reply = app
        .post("/phone-number/verify", json!({ "phoneNumber": "+15550090002", "code": code }), &cookie)
        .await;
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
    let reply = app.post("/phone-number/request-password-reset", json!({ "phoneNumber": "12345" }), "").await;
    assert_body(&reply, 200, &json!({ "status": true }));
    assert!(app.outbox.sms.lock().unwrap().is_empty());
}

/// K6 (guide/security.md) and the per-number limit "1 per 60 s": a second
/// code to one number less than 60 s after the first is refused, whatever
/// the position of the two sends relative to minute boundaries.
#[tokio::test]
async fn number_cooldown_holds_across_minute_boundaries() {
    use kernia::clock::Clock;
    let app = App::with(|b| b.rate_limit(true));
    let now_ms = app.clock.now().unix_timestamp_nanos() / 1_000_000;
    let to_late_in_minute = u64::try_from((59_500 - now_ms.rem_euclid(60_000)).rem_euclid(60_000)).unwrap();
    app.clock.advance(Duration::from_millis(to_late_in_minute));
    let body = json!({ "phoneNumber": "+15550090004" });
    let first = post_from(&app, "/phone-number/send-otp", body.clone(), "10.5.0.1").await;
    assert_eq!(first.status, 200, "{}", first.body);
    app.clock.advance(Duration::from_secs(1));
    let second = post_from(&app, "/phone-number/send-otp", body, "10.5.0.2").await;
    println!(
        "phone cooldown: second send 1 s after the first (across a minute boundary) -> {} {}; SMS sent: {}",
        second.status,
        second.body,
        app.outbox.sms_count("+15550090004")
    );
    assert_body(&second, 429, &json!({ "message": TOO_MANY }));
    assert_eq!(app.outbox.sms_count("+15550090004"), 1);
}

#[tokio::test]
async fn strict_validation_refuses_premium_rate_numbers() {
    let app = strict_app(|p| p);
    let reply = send_otp(&app, "+19002345678").await;
    assert_error(&reply, 400, "INVALID_PHONE_NUMBER", "Invalid phone number");
    assert!(app.outbox.sms.lock().unwrap().is_empty());
}

/// guide/security.md K13 and §3a (SMS pumping): premium-rate, shared-cost
/// **and toll-free** numbers are blocked.
#[tokio::test]
async fn strict_validation_refuses_toll_free_numbers() {
    let app = strict_app(|p| p);
    let reply = send_otp(&app, "+18002345678").await;
    assert_error(&reply, 400, "INVALID_PHONE_NUMBER", "Invalid phone number");
    assert!(app.outbox.sms.lock().unwrap().is_empty());
}

#[tokio::test]
async fn reset_for_a_number_that_left_its_account_is_unexpected_error() {
    let app = App::new();
    let (cookie, _, _) = email_user(&app, "leaver@example.com").await;
    let code = code_for(&app, "+15550090005", "+15550090005").await;
    let body = json!({ "phoneNumber": "+15550090005", "code": code, "updatePhoneNumber": true });
    assert_eq!(app.post("/phone-number/verify", body, &cookie).await.status, 200);
    let reply =
        app.post("/phone-number/request-password-reset", json!({ "phoneNumber": "+15550090005" }), "").await;
    assert_body(&reply, 200, &json!({ "status": true }));
    let reset = app.outbox.sms_code("+15550090005").unwrap();
    // §5: clearing the number also clears phoneNumberVerified
    let reply = app.post("/update-user", json!({ "phoneNumber": null }), &cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let user = session_user(&app, &cookie).await;
    assert_eq!(user["phoneNumber"], Value::Null);
    assert_eq!(user["phoneNumberVerified"], false);
    let reply = app
        .post(
            "/phone-number/reset-password",
            json!({ "phoneNumber": "+15550090005", "otp": reset, "newPassword": "new-password1" }),
            "",
        )
        .await;
    assert_error(&reply, 400, "UNEXPECTED_ERROR", "Unexpected error");
}

#[tokio::test]
async fn phone_endpoints_have_no_form_csrf_check() {
    let app = App::new();
    let cross = |path: &str, body: Value| {
        let mut request = post(path, &body, "");
        request.headers_mut().insert("sec-fetch-site", "cross-site".parse().unwrap());
        request.headers_mut().insert("sec-fetch-mode", "navigate".parse().unwrap());
        request
    };
    let reply = app.send(cross("/phone-number/send-otp", json!({ "phoneNumber": "+15550090006" }))).await;
    assert_body(&reply, 200, &json!({ "message": "code sent" }));
    let reply = app
        .send(cross(
            "/sign-in/phone-number",
            json!({ "phoneNumber": "+15550090006", "password": "password123" }),
        ))
        .await;
    assert_bad_credentials(&reply);
}
