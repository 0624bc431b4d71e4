//! Store failures are answers, not crashes, and leave nothing half-done: a
//! store that fails one operation mid-flow gets a 5xx JSON answer, and the
//! flow can be completed once the store is back. A store that stalls is cut
//! off by the request timeout with a 503 JSON answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};

use common::probe::{Op, Probe, Probed};
use common::{App, Reply};
use kernia::store::{MemoryStore, StoreError, StoreResult};
use serde_json::json;

/// A memory store that fails the operation named in `failing`, or never
/// answers the one named in `stalling`.
type FaultyStore = Probed<MemoryStore, Faults>;

#[derive(Clone, Default)]
struct Faults {
    failing: Arc<Mutex<Option<&'static str>>>,
    stalling: Arc<Mutex<Option<&'static str>>>,
}

impl Faults {
    fn fail(&self, operation: Option<&'static str>) {
        *self.failing.lock().unwrap() = operation;
    }

    fn stall(&self, operation: Option<&'static str>) {
        *self.stalling.lock().unwrap() = operation;
    }
}

impl Probe for Faults {
    async fn before<'a>(&'a self, op: Op<'a>) -> StoreResult<()> {
        if *self.stalling.lock().unwrap() == Some(op.name) {
            std::future::pending::<()>().await;
        }
        if *self.failing.lock().unwrap() == Some(op.name) {
            return Err(StoreError::backend(format!("injected failure in {}", op.name)));
        }
        Ok(())
    }
}

fn app() -> (App, FaultyStore) {
    let store = FaultyStore::default();
    let app = App::with(|b| b.store(store.clone()));
    (app, store)
}

fn assert_internal(reply: &Reply) {
    reply.assert_error(500, "INTERNAL_SERVER_ERROR");
    assert!(reply.set_cookies().is_empty(), "no cookie on a failed request");
}

#[tokio::test]
async fn a_failed_session_write_leaves_the_email_code_usable() {
    let (app, store) = app();
    let email = "fault-otp@example.com";
    app.post("/email-otp/send-verification-otp", json!({ "email": email, "type": "sign-in" }), "").await;
    let code = app.outbox.email_code(email).unwrap();
    store.probe.fail(Some("create_session"));
    assert_internal(&app.post("/sign-in/email-otp", json!({ "email": email, "otp": code }), "").await);
    store.probe.fail(None);
    let retry = app.post("/sign-in/email-otp", json!({ "email": email, "otp": code }), "").await;
    assert_eq!(retry.status, 200, "the code was not spent by the failed request: {}", retry.body);
}

#[tokio::test]
async fn a_failed_session_write_leaves_the_sms_code_usable() {
    let (app, store) = app();
    let phone = "+15550700001";
    app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await;
    let code = app.outbox.sms_code(phone).unwrap();
    store.probe.fail(Some("create_session"));
    assert_internal(
        &app.post("/phone-number/verify", json!({ "phoneNumber": phone, "code": code }), "").await,
    );
    store.probe.fail(None);
    let retry = app.post("/phone-number/verify", json!({ "phoneNumber": phone, "code": code }), "").await;
    assert_eq!(retry.status, 200, "{}", retry.body);
}

#[tokio::test]
async fn a_failed_password_write_gives_the_reset_code_back() {
    let (app, store) = app();
    let email = "fault-reset@example.com";
    app.sign_up(email, "old-password1").await;
    app.post("/email-otp/request-password-reset", json!({ "email": email }), "").await;
    let code = app.outbox.email_code(email).unwrap();
    let reset = json!({ "email": email, "otp": code, "password": "new-password1" });
    store.probe.fail(Some("set_password"));
    assert_internal(&app.post("/email-otp/reset-password", reset.clone(), "").await);
    let old = json!({ "email": email, "password": "old-password1" });
    assert_eq!(app.post("/sign-in/email", old, "").await.status, 200, "the password did not change");
    store.probe.fail(None);
    assert_eq!(app.post("/email-otp/reset-password", reset, "").await.status, 200, "the code came back");
    let new = json!({ "email": email, "password": "new-password1" });
    assert_eq!(app.post("/sign-in/email", new, "").await.status, 200);
}

#[tokio::test]
async fn change_password_with_revocation_fails_closed() {
    let (app, store) = app();
    let email = "fault-change@example.com";
    let cookie = app.sign_up(email, "old-password1").await;
    let change = json!({ "currentPassword": "old-password1", "newPassword": "new-password1", "revokeOtherSessions": true });
    store.probe.fail(Some("delete_user_sessions"));
    assert_internal(&app.post("/change-password", change.clone(), &cookie).await);
    let old = json!({ "email": email, "password": "old-password1" });
    assert_eq!(
        app.post("/sign-in/email", old, "").await.status,
        200,
        "no new password without the revocation"
    );

    store.probe.fail(Some("set_password"));
    assert_internal(&app.post("/change-password", change, &cookie).await);
    let session = app.get("/get-session", &cookie).await;
    assert_eq!(
        session.body, "null",
        "sessions were revoked before the failed write: signed out, never half-changed"
    );
    let old = json!({ "email": email, "password": "old-password1" });
    assert_eq!(app.post("/sign-in/email", old, "").await.status, 200, "the old password still holds");
}

#[tokio::test]
async fn the_service_answers_normally_after_store_failures() {
    let (app, store) = app();
    store.probe.fail(Some("create_user"));
    let reply = app
        .post(
            "/sign-up/email",
            json!({ "name": "A", "email": "f@example.com", "password": "password123" }),
            "",
        )
        .await;
    reply.assert_error(422, "FAILED_TO_CREATE_USER");
    store.probe.fail(None);
    app.sign_up("f@example.com", "password123").await;
}

/// An app with a 200 ms request timeout over `store`. Password hashing, which
/// can take longer on a loaded machine, happens through [`app`]'s layer over
/// the same store.
fn app_with_timeout(store: &FaultyStore) -> App {
    let timeout = Some(std::time::Duration::from_millis(200));
    App::with(|b| b.store(store.clone()).request_timeout(timeout))
}

#[tokio::test]
async fn a_stalled_session_read_is_answered_503_and_service_resumes() {
    let (setup, store) = app();
    let cookie = setup.sign_up("stall-read@example.com", "password123").await;
    let app = app_with_timeout(&store);
    store.probe.stall(Some("find_session"));
    let reply = app.get("/get-session", &cookie).await;
    reply.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(reply.set_cookies().is_empty(), "a timed-out request sets no cookie");
    store.probe.stall(None);
    let session = app.get("/get-session", &cookie).await;
    assert_eq!(session.status, 200);
    assert_eq!(session.json()["user"]["email"], "stall-read@example.com");
}

#[tokio::test]
async fn a_stalled_code_take_is_answered_503_and_a_new_code_signs_in() {
    let store = FaultyStore::default();
    let app = app_with_timeout(&store);
    let email = "stall-otp@example.com";
    let send = json!({ "email": email, "type": "sign-in" });
    app.post("/email-otp/send-verification-otp", send.clone(), "").await;
    let code = app.outbox.email_code(email).unwrap();
    store.probe.stall(Some("take_verification"));
    let stalled = app.post("/sign-in/email-otp", json!({ "email": email, "otp": code }), "").await;
    stalled.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(stalled.set_cookies().is_empty());
    store.probe.stall(None);
    let retry = app.post("/sign-in/email-otp", json!({ "email": email, "otp": code }), "").await;
    assert_eq!(retry.status, 200, "the stalled take never ran, so the code is intact: {}", retry.body);
}

#[tokio::test]
async fn a_stalled_session_write_leaves_the_code_usable() {
    let store = FaultyStore::default();
    let app = app_with_timeout(&store);
    let email = "stall-write@example.com";
    let send = json!({ "email": email, "type": "sign-in" });
    app.post("/email-otp/send-verification-otp", send, "").await;
    let code = app.outbox.email_code(email).unwrap();
    store.probe.stall(Some("create_session"));
    let stalled = app.post("/sign-in/email-otp", json!({ "email": email, "otp": code }), "").await;
    stalled.assert_error(503, "SERVICE_UNAVAILABLE");
    assert!(stalled.set_cookies().is_empty());
    store.probe.stall(None);
    let retry = app.post("/sign-in/email-otp", json!({ "email": email, "otp": code }), "").await;
    assert_eq!(retry.status, 200, "the code is spent only after the session exists: {}", retry.body);
    let replay = app.post("/sign-in/email-otp", json!({ "email": email, "otp": code }), "").await;
    replay.assert_error(400, "INVALID_OTP");
}
