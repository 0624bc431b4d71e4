//! K19: when an email or phone number change completes, the old address is
//! told; a failed change tells no one, and a failed notice does not undo the change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{App, Outbox};
use kernia::delivery::{DeliveryError, DeliveryMode};
use serde_json::json;

type Notices = Arc<Mutex<Vec<(String, String)>>>;

/// A notice sender that records `(old, new)` and answers `result`.
fn recorder(
    notices: &Notices,
    result: fn() -> Result<(), DeliveryError>,
) -> impl Fn(String, String) -> std::future::Ready<Result<(), DeliveryError>> + Send + Sync + 'static {
    let notices = notices.clone();
    move |old, new| {
        notices.lock().unwrap().push((old, new));
        std::future::ready(result())
    }
}

fn ok() -> Result<(), DeliveryError> {
    Ok(())
}

fn app_with(notices: &Notices, result: fn() -> Result<(), DeliveryError>) -> App {
    let outbox = Outbox::default();
    let email = outbox.email_otp().change_email(true).send_change_notice(recorder(notices, result));
    let phone = outbox.phone_number().send_change_notice(recorder(notices, result));
    App::with_plugins(email, phone, outbox, |b| b)
}

async fn change_email(app: &App, cookie: &str, new: &str, right_code: bool) -> common::Reply {
    let reply = app.post("/email-otp/request-email-change", json!({ "newEmail": new }), cookie).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let code = app.outbox.email_code(new).unwrap();
    let wrong = if code.starts_with('0') { "111111" } else { "000000" };
    let otp = if right_code { code.as_str() } else { wrong };
    app.post("/email-otp/change-email", json!({ "newEmail": new, "otp": otp }), cookie).await
}

async fn attach_phone(app: &App, cookie: &str, phone: &str) -> common::Reply {
    app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await;
    let code = app.outbox.sms_code(phone).unwrap();
    let body = json!({ "phoneNumber": phone, "code": code, "updatePhoneNumber": true });
    app.post("/phone-number/verify", body, cookie).await
}

#[tokio::test]
async fn an_email_change_tells_the_old_address_and_a_failed_one_tells_no_one() {
    let notices = Notices::default();
    let app = app_with(&notices, ok);
    let cookie = app.sign_up("old@example.com", "password123").await;
    change_email(&app, &cookie, "new@example.com", false).await.assert_error(400, "INVALID_OTP");
    assert!(notices.lock().unwrap().is_empty());
    let reply = change_email(&app, &cookie, "new@example.com", true).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let told = notices.lock().unwrap().clone();
    assert_eq!(told, [("old@example.com".to_owned(), "new@example.com".to_owned())]);
}

#[tokio::test]
async fn a_phone_change_tells_the_old_number_but_a_first_number_tells_no_one() {
    let notices = Notices::default();
    let app = app_with(&notices, ok);
    let cookie = app.sign_up("p@example.com", "password123").await;
    assert_eq!(attach_phone(&app, &cookie, "+15550004001").await.status, 200);
    assert!(notices.lock().unwrap().is_empty(), "the account had no number");
    let reply = attach_phone(&app, &cookie, "+15550004002").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let told = notices.lock().unwrap().clone();
    assert_eq!(told, [("+15550004001".to_owned(), "+15550004002".to_owned())]);
}

#[tokio::test]
async fn a_failed_notice_is_logged_not_answered_and_the_change_stands() {
    let notices = Notices::default();
    let app = app_with(&notices, || Err("mailer down".into()));
    let cookie = app.sign_up("stays@example.com", "password123").await;
    let reply = change_email(&app, &cookie, "moved@example.com", true).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(notices.lock().unwrap().len(), 1);
    let session = app.get("/get-session", &cookie).await;
    assert_eq!(session.json()["user"]["email"], "moved@example.com");
}

#[tokio::test]
async fn background_notices_are_sent_after_the_answer() {
    let notices = Notices::default();
    let outbox = Outbox::default();
    let email = outbox
        .email_otp()
        .change_email(true)
        .send_change_notice(recorder(&notices, ok))
        .delivery(DeliveryMode::Background);
    let app = App::with_plugins(email, outbox.phone_number(), outbox.clone(), |b| b);
    let cookie = app.sign_up("bg@example.com", "password123").await;
    let reply =
        app.post("/email-otp/request-email-change", json!({ "newEmail": "bg2@example.com" }), &cookie);
    assert_eq!(reply.await.status, 200);
    for _ in 0..100 {
        if app.outbox.email_code("bg2@example.com").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let code = app.outbox.email_code("bg2@example.com").unwrap();
    let body = json!({ "newEmail": "bg2@example.com", "otp": code });
    assert_eq!(app.post("/email-otp/change-email", body, &cookie).await.status, 200);
    for _ in 0..100 {
        if !notices.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let told = notices.lock().unwrap().clone();
    assert_eq!(told, [("bg@example.com".to_owned(), "bg2@example.com".to_owned())]);
}
