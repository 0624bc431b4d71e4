//! The `after_sign_up`, `after_sign_in` and `after_verification` hooks: which
//! flows run them, in what order, before the response, and what a failing
//! hook leaves behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{App, Reply};
use kernia::KerniaBuilder;
use kernia::clock::Clock;
use kernia::hooks::{SignIn, SignUp, Verification};
use kernia::store::{MemoryStore, Store};
use serde_json::json;

/// What the hooks saw, in order, plus the session tokens they were given.
#[derive(Clone, Default)]
struct Seen {
    events: Arc<Mutex<Vec<String>>>,
    tokens: Arc<Mutex<Vec<String>>>,
    fail_sign_in: Arc<AtomicBool>,
    fail_sign_up: Arc<AtomicBool>,
}

impl Seen {
    /// The hooks, each sleeping first so a hook that was not awaited would be seen late.
    fn install(&self, builder: KerniaBuilder) -> KerniaBuilder {
        let (up, fail_up) = (self.clone(), self.fail_sign_up.clone());
        let (inn, fail_in) = (self.clone(), self.fail_sign_in.clone());
        let verified = self.clone();
        builder
            .after_sign_up(move |e: SignUp| {
                let (seen, fail) = (up.clone(), fail_up.load(Ordering::SeqCst));
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    seen.push(format!("sign_up {:?} {}", e.method, e.user.email));
                    if fail { Err("provisioning failed".into()) } else { Ok(()) }
                }
            })
            .after_sign_in(move |e: SignIn| {
                let (seen, fail) = (inn.clone(), fail_in.load(Ordering::SeqCst));
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    seen.push(format!("sign_in {:?} {} new={}", e.method, e.user.email, e.new_user));
                    seen.tokens.lock().unwrap().push(e.session.token.clone());
                    if fail { Err("provisioning failed".into()) } else { Ok(()) }
                }
            })
            .after_verification(move |e: Verification| {
                let seen = verified.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    seen.push(format!("verified {:?} {}", e.channel, e.user.email));
                    Ok(())
                }
            })
    }

    fn push(&self, event: String) {
        self.events.lock().unwrap().push(event);
    }

    /// The events since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }

    fn last_token(&self) -> String {
        self.tokens.lock().unwrap().last().unwrap().clone()
    }
}

fn app(seen: &Seen, store: &MemoryStore) -> App {
    let outbox = common::Outbox::default();
    let email = outbox.email_otp().override_default_email_verification(true);
    App::with_plugins(email, outbox.phone_number(), outbox, |b| seen.install(b.store(store.clone())))
}

async fn email_code(app: &App, email: &str, kind: &str) -> String {
    let reply =
        app.post("/email-otp/send-verification-otp", json!({ "email": email, "type": kind }), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.outbox.email_code(email).unwrap()
}

async fn sms_code(app: &App, phone: &str) -> String {
    let reply = app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.outbox.sms_code(phone).unwrap()
}

async fn verify_phone(app: &App, phone: &str, extra: serde_json::Value, cookie: &str) -> Reply {
    let code = sms_code(app, phone).await;
    let mut body = json!({ "phoneNumber": phone, "code": code });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    app.post("/phone-number/verify", body, cookie).await
}

#[tokio::test]
async fn password_sign_up_runs_sign_up_then_sign_in_before_the_response() {
    let (seen, store) = (Seen::default(), MemoryStore::new());
    let app = app(&seen, &store);
    let reply = app
        .post(
            "/sign-up/email",
            json!({ "name": "A", "email": "a@example.com", "password": "password123" }),
            "",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(seen.take(), ["sign_up Password a@example.com", "sign_in Password a@example.com new=false"]);
    assert_eq!(reply.json()["token"], seen.last_token(), "the hook saw the session handed out");
}

#[tokio::test]
async fn every_sign_in_method_runs_after_sign_in_with_the_new_session() {
    let (seen, store) = (Seen::default(), MemoryStore::new());
    let app = app(&seen, &store);
    let cookie = app.sign_up("b@example.com", "password123").await;
    let attached = verify_phone(&app, "+15550003001", json!({ "updatePhoneNumber": true }), &cookie).await;
    assert_eq!(attached.status, 200, "{}", attached.body);
    seen.take();

    let password =
        app.post("/sign-in/email", json!({ "email": "b@example.com", "password": "password123" }), "");
    let password = password.await;
    assert_eq!(password.json()["token"], seen.last_token());
    let body = json!({ "phoneNumber": "+15550003001", "password": "password123" });
    let phone_password = app.post("/sign-in/phone-number", body, "").await;
    assert_eq!(phone_password.json()["token"], seen.last_token());
    let phone_otp = verify_phone(&app, "+15550003001", json!({}), "").await;
    assert_eq!(phone_otp.json()["token"], seen.last_token());
    // Last: a code sign-in claims the unverified account and drops its password (D16).
    let code = email_code(&app, "b@example.com", "sign-in").await;
    let email_otp =
        app.post("/sign-in/email-otp", json!({ "email": "b@example.com", "otp": code }), "").await;
    assert_eq!(email_otp.json()["token"], seen.last_token());
    assert_eq!(
        seen.take(),
        [
            "sign_in Password b@example.com new=false",
            "sign_in PhonePassword b@example.com new=false",
            "verified Sms b@example.com",
            "sign_in PhoneOtp b@example.com new=false",
            "sign_in EmailOtp b@example.com new=false",
        ]
    );
}

#[tokio::test]
async fn code_sign_ups_run_sign_up_verification_and_sign_in_in_order() {
    let (seen, store) = (Seen::default(), MemoryStore::new());
    let app = app(&seen, &store);
    let code = email_code(&app, "new@example.com", "sign-in").await;
    let reply = app.post("/sign-in/email-otp", json!({ "email": "new@example.com", "otp": code }), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        seen.take(),
        ["sign_up EmailOtp new@example.com", "sign_in EmailOtp new@example.com new=true"]
    );

    let reply = verify_phone(&app, "+15550003002", json!({}), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let email = "15550003002@phone.invalid";
    assert_eq!(
        seen.take(),
        [
            format!("sign_up PhoneOtp {email}"),
            format!("verified Sms {email}"),
            format!("sign_in PhoneOtp {email} new=true"),
        ]
    );
    let no_session = verify_phone(&app, "+15550003003", json!({ "disableSession": true }), "").await;
    assert_eq!(no_session.json()["token"], serde_json::Value::Null);
    let email = "15550003003@phone.invalid";
    assert_eq!(seen.take(), [format!("sign_up PhoneOtp {email}"), format!("verified Sms {email}")]);
}

#[tokio::test]
async fn email_verification_by_code_runs_after_verification() {
    let (seen, store) = (Seen::default(), MemoryStore::new());
    let app = app(&seen, &store);
    app.sign_up("v@example.com", "password123").await;
    seen.take();
    let send = app.post("/send-verification-email", json!({ "email": "v@example.com" }), "").await;
    assert_eq!(send.status, 200, "{}", send.body);
    let code = app.outbox.email_code("v@example.com").unwrap();
    let reply =
        app.post("/email-otp/verify-email", json!({ "email": "v@example.com", "otp": code }), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(seen.take(), ["verified Email v@example.com"]);
}

#[tokio::test]
async fn failures_run_no_hooks() {
    let (seen, store) = (Seen::default(), MemoryStore::new());
    let app = app(&seen, &store);
    app.sign_up("f@example.com", "password123").await;
    seen.take();
    let reply =
        app.post("/sign-in/email", json!({ "email": "f@example.com", "password": "wrong-pass" }), "").await;
    reply.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let code = email_code(&app, "f@example.com", "sign-in").await;
    let wrong = if code.starts_with('0') { "111111" } else { "000000" };
    let reply = app.post("/sign-in/email-otp", json!({ "email": "f@example.com", "otp": wrong }), "").await;
    reply.assert_error(400, "INVALID_OTP");
    assert!(seen.take().is_empty());
}

#[tokio::test]
async fn a_failing_sign_in_hook_answers_500_and_takes_the_session_back() {
    let (seen, store) = (Seen::default(), MemoryStore::new());
    let app = app(&seen, &store);
    app.sign_up("g@example.com", "password123").await;
    seen.fail_sign_in.store(true, Ordering::SeqCst);
    let code = email_code(&app, "g@example.com", "sign-in").await;
    let reply = app.post("/sign-in/email-otp", json!({ "email": "g@example.com", "otp": code }), "").await;
    reply.assert_error(500, "INTERNAL_SERVER_ERROR");
    assert!(reply.set_cookies().is_empty(), "no session cookie: {:?}", reply.set_cookies());
    let token = seen.last_token();
    assert_eq!(store.find_session(&token, app.clock.now()).await.unwrap(), None, "session taken back");

    seen.fail_sign_in.store(false, Ordering::SeqCst);
    let code = email_code(&app, "g@example.com", "sign-in").await;
    let retry = app.post("/sign-in/email-otp", json!({ "email": "g@example.com", "otp": code }), "").await;
    assert_eq!(retry.status, 200, "a new code signs in: {}", retry.body);
    assert!(store.find_session(&seen.last_token(), app.clock.now()).await.unwrap().is_some());
}

#[tokio::test]
async fn a_failing_sign_up_hook_answers_500_keeps_the_user_and_sign_in_recovers() {
    let (seen, store) = (Seen::default(), MemoryStore::new());
    let app = app(&seen, &store);
    seen.fail_sign_up.store(true, Ordering::SeqCst);
    let body = json!({ "name": "H", "email": "h@example.com", "password": "password123" });
    let reply = app.post("/sign-up/email", body.clone(), "").await;
    reply.assert_error(500, "INTERNAL_SERVER_ERROR");
    assert!(reply.set_cookies().is_empty());
    assert_eq!(seen.take(), ["sign_up Password h@example.com"], "no session was made");

    seen.fail_sign_up.store(false, Ordering::SeqCst);
    app.post("/sign-up/email", body, "").await.assert_error(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL");
    let sign_in =
        app.post("/sign-in/email", json!({ "email": "h@example.com", "password": "password123" }), "");
    assert_eq!(sign_in.await.status, 200);
    assert_eq!(seen.take(), ["sign_in Password h@example.com new=false"]);
}
