//! The email OTP plugin's optional behaviours: custom codes, the `reuse`
//! resend strategy over encrypted storage, and OTP email verification.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{App, Outbox};
use kernia::ConfigError;
use kernia::email_otp::ResendStrategy;
use kernia::otp::OtpStorage;
use serde_json::json;

fn send(email: &str, kind: &str) -> serde_json::Value {
    json!({ "email": email, "type": kind })
}

#[tokio::test]
async fn custom_generator_codes_are_sent_and_verified() {
    let outbox = Outbox::default();
    let email =
        outbox.email_otp().generate_otp(|email, _| email.starts_with("fixed").then(|| "424242".to_owned()));
    let app = App::with_plugins(email, outbox.phone_number(), outbox, |b| b);
    app.post("/email-otp/send-verification-otp", send("fixed@example.com", "sign-in"), "").await;
    assert_eq!(app.outbox.email_code("fixed@example.com").as_deref(), Some("424242"));
    let reply =
        app.post("/sign-in/email-otp", json!({ "email": "fixed@example.com", "otp": "424242" }), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // `None` from the generator falls back to random digits.
    app.post("/email-otp/send-verification-otp", send("other@example.com", "sign-in"), "").await;
    let code = app.outbox.email_code("other@example.com").unwrap();
    assert_eq!(code.len(), 6);
    assert_ne!(code, "424242");
}

#[tokio::test]
async fn reuse_resends_the_live_code_and_keeps_its_attempts() {
    let outbox = Outbox::default();
    let email = outbox.email_otp().storage(OtpStorage::Encrypted).resend_strategy(ResendStrategy::Reuse);
    let app = App::with_plugins(email, outbox.phone_number(), outbox, |b| b);
    let address = "reuse@example.com";
    app.post("/email-otp/send-verification-otp", send(address, "sign-in"), "").await;
    let first = app.outbox.email_code(address).unwrap();
    let wrong = if first == "000000" { "111111" } else { "000000" };
    for _ in 0..2 {
        let reply = app.post("/sign-in/email-otp", json!({ "email": address, "otp": wrong }), "").await;
        reply.assert_error(400, "INVALID_OTP");
    }
    app.post("/email-otp/send-verification-otp", send(address, "sign-in"), "").await;
    assert_eq!(app.outbox.email_code(address).unwrap(), first, "the same code is sent again");
    // The resend did not refill the budget: one wrong guess left, then burned.
    let reply = app.post("/sign-in/email-otp", json!({ "email": address, "otp": wrong }), "").await;
    reply.assert_error(400, "INVALID_OTP");
    let reply = app.post("/sign-in/email-otp", json!({ "email": address, "otp": first }), "").await;
    reply.assert_error(403, "TOO_MANY_ATTEMPTS");
}

#[tokio::test]
async fn encrypted_codes_verify() {
    let outbox = Outbox::default();
    let email = outbox.email_otp().storage(OtpStorage::Encrypted);
    let app = App::with_plugins(email, outbox.phone_number(), outbox, |b| b);
    app.post("/email-otp/send-verification-otp", send("enc@example.com", "sign-in"), "").await;
    let code = app.outbox.email_code("enc@example.com").unwrap();
    let reply = app.post("/sign-in/email-otp", json!({ "email": "enc@example.com", "otp": code }), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn reuse_with_hashed_codes_is_a_build_error() {
    let outbox = Outbox::default();
    let email = outbox.email_otp().resend_strategy(ResendStrategy::Reuse);
    let built = common::builder().email_otp(email).build();
    assert!(matches!(built, Err(ConfigError::OutOfRange { option: "email_otp", .. })));
}

#[tokio::test]
async fn send_verification_email_sends_a_code_when_overridden() {
    let outbox = Outbox::default();
    let email = outbox.email_otp().override_default_email_verification(true);
    let app = App::with_plugins(email, outbox.phone_number(), outbox, |b| b);
    app.sign_up("unverified@example.com", "password123").await;
    let reply = app.post("/send-verification-email", json!({ "email": "unverified@example.com" }), "").await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, r#"{"status":true}"#));
    let code = app.outbox.email_code("unverified@example.com").unwrap();
    let verified = app
        .post("/email-otp/verify-email", json!({ "email": "unverified@example.com", "otp": code }), "")
        .await;
    assert_eq!(verified.json()["user"]["emailVerified"], true);
    // Unknown addresses get the same answer and nothing is sent.
    let reply = app.post("/send-verification-email", json!({ "email": "nobody@example.com" }), "").await;
    assert_eq!((reply.status.as_u16(), reply.body.as_str()), (200, r#"{"status":true}"#));
    assert_eq!(app.outbox.email_count("nobody@example.com"), 0);
}

#[tokio::test]
async fn send_verification_email_without_override_is_not_enabled() {
    let app = App::new();
    let reply = app.post("/send-verification-email", json!({ "email": "a@example.com" }), "").await;
    reply.assert_error(400, "VERIFICATION_EMAIL_NOT_ENABLED");
}
