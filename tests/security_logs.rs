//! K20: real flows are logged (security events on `kernia::security`, one
//! span per request) and the captured output holds none of their secrets:
//! codes, session tokens, cookie values, passwords, full emails or numbers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{App, Outbox, Reply};
use http::header;
use kernia::otp::Lockout;
use serde_json::json;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Everything logged on this thread while it lives (the tests run on a
/// current-thread runtime, so spawned deliveries log here too).
struct Captured {
    buffer: Arc<Mutex<Vec<u8>>>,
    _guard: tracing::subscriber::DefaultGuard,
}

#[derive(Clone)]
struct Writer(Arc<Mutex<Vec<u8>>>);

impl Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Writer {
    type Writer = Writer;
    fn make_writer(&'a self) -> Writer {
        self.clone()
    }
}

impl Captured {
    fn start() -> Self {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let subscriber = tracing_subscriber::fmt()
            .with_writer(Writer(buffer.clone()))
            .with_max_level(tracing::Level::TRACE)
            .with_span_events(FmtSpan::CLOSE)
            .with_ansi(false)
            .without_time()
            .finish();
        Self { buffer, _guard: tracing::subscriber::set_default(subscriber) }
    }

    fn text(&self) -> String {
        String::from_utf8(self.buffer.lock().unwrap().clone()).unwrap()
    }

    /// Asserts a security event with these fields (`name=value` as printed) was logged.
    #[track_caller]
    fn assert_event(&self, event: &str, fields: &[&str]) {
        let text = self.text();
        let found = text.lines().any(|line| {
            line.contains("kernia::security")
                && line.contains(&format!("event=\"{event}\""))
                && fields.iter().all(|f| line.contains(f))
        });
        assert!(found, "no {event} event with {fields:?} in:\n{text}");
    }

    /// Asserts none of `secrets` appears anywhere in the output.
    #[track_caller]
    fn assert_absent(&self, secrets: &[&str]) {
        let text = self.text();
        for secret in secrets {
            assert!(!secret.is_empty());
            assert!(!text.contains(secret), "secret {secret:?} logged:\n{text}");
        }
    }
}

/// The token and the raw cookie value a sign-in handed out.
fn session_secrets(reply: &Reply) -> Vec<String> {
    let token = reply.json()["token"].as_str().unwrap().to_owned();
    let cookie = reply.cookie_header();
    let value = cookie.split_once('=').unwrap().1.split(';').next().unwrap().to_owned();
    assert!(value.starts_with(&token));
    vec![token, value]
}

fn wrong(code: &str) -> String {
    let first = if code.starts_with('0') { '1' } else { '0' };
    std::iter::once(first).chain(code.chars().skip(1)).collect()
}

#[tokio::test]
async fn password_flows_log_events_without_passwords_tokens_or_emails() {
    let log = Captured::start();
    let app = App::new();
    let (email, password) = ("jane.doe@example.com", "s3cret-Passw0rd");
    let body = json!({ "name": "Jane", "email": email, "password": password });
    let signed_up = app.post("/sign-up/email", body, "").await;
    assert_eq!(signed_up.status, 200);
    let bad = app.post("/sign-in/email", json!({ "email": email, "password": "not-it-at-all" }), "").await;
    bad.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");
    let signed_in = app.post("/sign-in/email", json!({ "email": email, "password": password }), "").await;
    assert_eq!(signed_in.status, 200);
    let out = app.post("/sign-out", json!({}), &signed_in.cookie_header()).await;
    assert_eq!(out.status, 200);

    log.assert_event("sign_up", &["method=\"password\""]);
    log.assert_event("sign_in", &["outcome=\"success\"", "method=\"password\""]);
    log.assert_event(
        "sign_in",
        &["outcome=\"failure\"", "recipient=j***@example.com", "code=\"INVALID_EMAIL_OR_PASSWORD\""],
    );
    log.assert_event("sign_out", &[]);
    assert!(log.text().contains("kernia.request"), "a span per request");
    assert!(log.text().contains("error=\"INVALID_EMAIL_OR_PASSWORD\""), "the span records the outcome");
    let mut secrets = session_secrets(&signed_up);
    secrets.extend(session_secrets(&signed_in));
    secrets.extend([email.to_owned(), password.to_owned(), "not-it-at-all".to_owned()]);
    log.assert_absent(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn email_code_flows_log_events_without_codes_or_addresses() {
    let log = Captured::start();
    let app = App::new();
    let email = "otp.user@example.com";
    let send = app.post("/email-otp/send-verification-otp", json!({ "email": email, "type": "sign-in" }), "");
    assert_eq!(send.await.status, 200);
    let code = app.outbox.email_code(email).unwrap();
    let bad = app.post("/sign-in/email-otp", json!({ "email": email, "otp": wrong(&code) }), "").await;
    bad.assert_error(400, "INVALID_OTP");
    let signed_in = app.post("/sign-in/email-otp", json!({ "email": email, "otp": code }), "").await;
    assert_eq!(signed_in.status, 200);

    let recipient = "recipient=o***@example.com";
    log.assert_event("code_sent", &["channel=\"email\"", "purpose=\"sign-in\"", recipient]);
    log.assert_event("verify_failed", &["channel=\"email\"", "outcome=\"invalid\"", recipient]);
    log.assert_event("code_verified", &["channel=\"email\"", recipient]);
    log.assert_event("sign_up", &["method=\"email_otp\""]);
    log.assert_event("sign_in", &["method=\"email_otp\"", "outcome=\"success\""]);
    let mut secrets = session_secrets(&signed_in);
    secrets.extend([code.clone(), wrong(&code), email.to_owned()]);
    log.assert_absent(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn phone_code_flows_log_events_without_codes_or_numbers() {
    let log = Captured::start();
    let app = App::new();
    let phone = "+15550006789";
    assert_eq!(app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await.status, 200);
    let code = app.outbox.sms_code(phone).unwrap();
    let verify =
        |otp: String| app.post("/phone-number/verify", json!({ "phoneNumber": phone, "code": otp }), "");
    verify(wrong(&code)).await.assert_error(400, "INVALID_OTP");
    let signed_in = verify(code.clone()).await;
    assert_eq!(signed_in.status, 200);

    let recipient = "recipient=+15*******89";
    log.assert_event("code_sent", &["channel=\"sms\"", "purpose=\"phone-verification\"", recipient]);
    log.assert_event("verify_failed", &["channel=\"sms\"", "outcome=\"invalid\"", recipient]);
    log.assert_event("code_verified", &["channel=\"sms\"", recipient]);
    log.assert_event("contact_verified", &["channel=\"sms\""]);
    log.assert_event("sign_in", &["method=\"phone_otp\"", "outcome=\"success\""]);
    let mut secrets = session_secrets(&signed_in);
    // The number in every form: E.164, digits only (as in the account's placeholder email).
    secrets.extend([code.clone(), wrong(&code), phone.to_owned(), "15550006789".to_owned()]);
    log.assert_absent(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn exhausted_codes_and_locked_accounts_are_logged() {
    let log = Captured::start();
    let outbox = Outbox::default();
    let lockout = Lockout { max_failures: 4, window: Duration::from_secs(3600) };
    let app =
        App::with_plugins(outbox.email_otp().lockout(Some(lockout)), outbox.phone_number(), outbox, |b| b);
    let email = "burn@example.com";
    let send =
        || app.post("/email-otp/send-verification-otp", json!({ "email": email, "type": "sign-in" }), "");
    let sign_in = |otp: String| app.post("/sign-in/email-otp", json!({ "email": email, "otp": otp }), "");
    assert_eq!(send().await.status, 200);
    let first = app.outbox.email_code(email).unwrap();
    for _ in 0..3 {
        sign_in(wrong(&first)).await.assert_error(400, "INVALID_OTP");
    }
    sign_in(first.clone()).await.assert_error(403, "TOO_MANY_ATTEMPTS");
    assert_eq!(send().await.status, 200);
    let second = app.outbox.email_code(email).unwrap();
    sign_in(wrong(&second)).await.assert_error(400, "INVALID_OTP");
    sign_in(second.clone()).await.assert_error(403, "TOO_MANY_ATTEMPTS");
    let codes = [first, second];
    log.assert_event("attempts_exhausted", &["recipient=b***@example.com"]);
    log.assert_event("account_locked", &["channel=\"email\"", "failures=4", "recipient=b***@example.com"]);
    log.assert_event("verify_failed", &["outcome=\"locked\""]);
    let mut secrets: Vec<String> = codes.iter().flat_map(|c| [c.clone(), wrong(c)]).collect();
    secrets.push(email.to_owned());
    log.assert_absent(&secrets.iter().map(String::as_str).collect::<Vec<_>>());
}

#[tokio::test]
async fn rate_limits_and_refused_origins_are_logged() {
    let log = Captured::start();
    let app = App::with(|b| b.rate_limit(true));
    let email = "limited@example.com";
    for _ in 0..2 {
        app.post("/email-otp/send-verification-otp", json!({ "email": email, "type": "sign-in" }), "").await;
    }
    let body = json!({ "email": "nobody@example.com", "password": "whatever-pass" });
    for _ in 0..4 {
        app.post("/sign-in/email", body.clone(), "").await;
    }
    let mut cross_site = common::post("/sign-out", &json!({}), "better-auth.session_token=abc");
    cross_site.headers_mut().insert(header::ORIGIN, "https://evil.example".parse().unwrap());
    app.send(cross_site).await.assert_error(403, "INVALID_ORIGIN");

    log.assert_event("rate_limited", &["scope=\"recipient\"", "route=\"/email-otp/send-verification-otp\""]);
    log.assert_event("rate_limited", &["scope=\"ip\"", "route=\"/sign-in/email\""]);
    log.assert_event("origin_refused", &["code=\"INVALID_ORIGIN\""]);
    log.assert_absent(&[email, "nobody@example.com", "whatever-pass", "session_token=abc"]);
}

#[tokio::test]
async fn password_resets_and_address_changes_are_logged_masked() {
    let log = Captured::start();
    let outbox = Outbox::default();
    let app = App::with_plugins(outbox.email_otp().change_email(true), outbox.phone_number(), outbox, |b| b);
    let email = "reset.me@example.com";
    let cookie = app.sign_up(email, "first-password").await;
    app.post("/email-otp/request-password-reset", json!({ "email": email }), "").await;
    let code = app.outbox.email_code(email).unwrap();
    let body = json!({ "email": email, "otp": code, "password": "second-password" });
    assert_eq!(app.post("/email-otp/reset-password", body, "").await.status, 200);
    app.post("/email-otp/request-email-change", json!({ "newEmail": "moved.on@example.org" }), &cookie).await;
    let change = app.outbox.email_code("moved.on@example.org").unwrap();
    let body = json!({ "newEmail": "moved.on@example.org", "otp": change });
    assert_eq!(app.post("/email-otp/change-email", body, &cookie).await.status, 200);
    let phone = "+15550007777";
    app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await;
    let sms = app.outbox.sms_code(phone).unwrap();
    let body = json!({ "phoneNumber": phone, "code": sms, "updatePhoneNumber": true });
    assert_eq!(app.post("/phone-number/verify", body, &cookie).await.status, 200);

    log.assert_event("password_reset", &["channel=\"email\""]);
    log.assert_event("email_changed", &["old=r***@example.com", "new=m***@example.org"]);
    log.assert_event("phone_changed", &["old=none", "new=+15*******77"]);
    log.assert_absent(&[
        email,
        "moved.on@example.org",
        phone,
        "first-password",
        "second-password",
        &code,
        &change,
        &sms,
    ]);
}

#[tokio::test]
async fn failing_hooks_are_logged() {
    let log = Captured::start();
    let app = App::with(|b| b.after_sign_up(|_| async { Err("profile service down".into()) }));
    let body = json!({ "name": "K", "email": "hook@example.com", "password": "password123" });
    app.post("/sign-up/email", body, "").await.assert_error(500, "INTERNAL_SERVER_ERROR");
    log.assert_event("hook_failed", &["hook=\"after_sign_up\"", "profile service down"]);
    log.assert_absent(&["hook@example.com", "password123"]);
}
