//! A smoke test across the public API: sign-up, session, the app handle, a code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use common::App;
use serde_json::json;

#[tokio::test]
async fn sign_up_then_get_session_returns_the_user() {
    let app = App::new();
    let cookie = app.sign_up("Smoke@Example.com", "password123").await;
    let reply = app.get("/get-session", &cookie).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["user"]["email"], "smoke@example.com");
    let me =
        app.send(http::Request::get("/me").header("cookie", &cookie).body(Default::default()).unwrap()).await;
    assert_eq!(me.body, "smoke@example.com");
    let code_reply = app
        .post("/email-otp/send-verification-otp", json!({"email": "x@example.com", "type": "sign-in"}), "")
        .await;
    assert_eq!(code_reply.status, 200);
    assert!(app.outbox.email_code("x@example.com").is_some());
}
