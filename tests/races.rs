//! Concurrent requests carrying one correct sign-up code, on a multi-threaded
//! runtime over a store with real I/O (SQLite, so requests interleave inside
//! a flow; the memory store never yields mid-operation): exactly one wins, exactly one account and one session result,
//! and the losers get the plugin's plain code error (never a 4xx/5xx from a
//! collision on the new account).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;

use common::App;
use kernia::store::{SqliteStore, Store};
use serde_json::{Value, json};

/// A migrated SQLite store in a fresh directory, removed when dropped.
struct Scratch {
    store: SqliteStore,
    dir: std::path::PathBuf,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn sqlite() -> Scratch {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let name: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let dir = std::env::temp_dir().join(format!("kernia-races-{name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::connect(&format!("sqlite://{}", dir.join("races.db").display())).await.unwrap();
    store.migrate().await.unwrap();
    Scratch { store, dir }
}

async fn storm(app: &App, path: &'static str, body: Value) -> BTreeMap<String, usize> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(50));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, body, barrier) = (app.clone(), body.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let reply = app.post(path, body, "").await;
                let code = reply.json().get("code").and_then(Value::as_str).unwrap_or("").to_owned();
                format!("{} {code}", reply.status.as_u16()).trim().to_owned()
            })
        })
        .collect();
    let mut outcomes = BTreeMap::new();
    for task in tasks {
        *outcomes.entry(task.await.unwrap()).or_default() += 1;
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_email_sign_up_code_used_fifty_times_at_once_makes_one_account() {
    let scratch = sqlite().await;
    let store = &scratch.store;
    let app = App::with(|b| b.store(store.clone()));
    let email = "race-signup@example.com";
    app.post("/email-otp/send-verification-otp", json!({ "email": email, "type": "sign-in" }), "").await;
    let code = app.outbox.email_code(email).unwrap();
    let outcomes = storm(&app, "/sign-in/email-otp", json!({ "email": email, "otp": code })).await;
    println!("email sign-up storm: {outcomes:?}");
    assert_eq!(outcomes.get("200"), Some(&1), "{outcomes:?}");
    assert_eq!(outcomes.get("400 INVALID_OTP"), Some(&49), "{outcomes:?}");
    let user = store.find_user_by_email(email).await.unwrap().unwrap();
    assert_eq!(store.list_sessions(&user.id, app.clock_now()).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_sms_sign_up_code_used_fifty_times_at_once_makes_one_account() {
    let scratch = sqlite().await;
    let store = &scratch.store;
    let app = App::with(|b| b.store(store.clone()));
    let phone = "+15550800001";
    app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await;
    let code = app.outbox.sms_code(phone).unwrap();
    let outcomes = storm(&app, "/phone-number/verify", json!({ "phoneNumber": phone, "code": code })).await;
    println!("phone sign-up storm: {outcomes:?}");
    assert_eq!(outcomes.get("200"), Some(&1), "{outcomes:?}");
    let losers: usize = outcomes.iter().filter(|(k, _)| k.starts_with("400 ")).map(|(_, n)| n).sum();
    assert_eq!(losers, 49, "{outcomes:?}");
    let user = store.find_user_by_phone(phone).await.unwrap().unwrap();
    assert_eq!(store.list_sessions(&user.id, app.clock_now()).await.unwrap().len(), 1);
}
