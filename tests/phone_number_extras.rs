//! The phone plugin's hooks: a custom number validator and the callback on verification.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use common::{App, Outbox};
use serde_json::json;

#[tokio::test]
async fn custom_validator_refuses_numbers_with_invalid_phone_number() {
    let outbox = Outbox::default();
    let phone = outbox.phone_number().phone_number_validator(|e164| !e164.starts_with("+1555999"));
    let app = App::with_plugins(outbox.email_otp(), phone, outbox, |b| b);
    let refused = app.post("/phone-number/send-otp", json!({ "phoneNumber": "+15559990001234" }), "").await;
    refused.assert_error(400, "INVALID_PHONE_NUMBER");
    let accepted = app.post("/phone-number/send-otp", json!({ "phoneNumber": "+15551110001234" }), "").await;
    assert_eq!(accepted.body, r#"{"message":"code sent"}"#);
}

#[tokio::test]
async fn callback_on_verification_sees_the_number_and_the_user() {
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let outbox = Outbox::default();
    let record = seen.clone();
    let phone = outbox.phone_number().callback_on_verification(move |number, user| {
        record.lock().unwrap().push((number, user.id));
        async {}
    });
    let app = App::with_plugins(outbox.email_otp(), phone, outbox, |b| b);
    app.post("/phone-number/send-otp", json!({ "phoneNumber": "+1 555 0100 0099" }), "").await;
    let code = app.outbox.sms_code("+155501000099").unwrap();
    let reply =
        app.post("/phone-number/verify", json!({ "phoneNumber": "+155501000099", "code": code }), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let user_id = reply.json()["user"]["id"].as_str().unwrap().to_owned();
    assert_eq!(*seen.lock().unwrap(), vec![("+155501000099".to_owned(), user_id)]);
}

/// K21: SMS is a restricted authenticator, so it is not the only way in: a
/// layer that offers SMS sign-in keeps email and password sign-in on.
#[tokio::test]
async fn sms_sign_in_comes_with_a_non_sms_way_in_by_default() {
    let app = App::new();
    let phone = app.post("/phone-number/send-otp", json!({ "phoneNumber": "+15550210021" }), "").await;
    assert_eq!(phone.body, r#"{"message":"code sent"}"#, "SMS sign-in is offered");
    app.sign_up("k21@example.com", "password123").await;
    let body = json!({ "email": "k21@example.com", "password": "password123" });
    let signed_in = app.post("/sign-in/email", body, "").await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert!(signed_in.set_cookie("better-auth.session_token").is_some());
}
