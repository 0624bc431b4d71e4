//! The store conformance suite on the in-memory store.

mod store_suite;

#[tokio::test]
async fn memory_store_passes_the_store_suite() {
    store_suite::run_all(|| async { kernia::store::MemoryStore::new() }).await;
}

use kernia::store::{MemoryStore, Store};

#[tokio::test]
async fn auth_traffic_sweeps_expired_sessions_and_codes() {
    let store = MemoryStore::new();
    let app = store_suite::common::App::with(|b| b.store(store.clone()));
    let t0 = app.clock_now();
    let user = store.create_user(store_suite::user("sweep@example.com", None), None).await.unwrap();
    let mut session = store_suite::session(&user.id, time::Duration::seconds(1));
    session.expires_at = t0 + time::Duration::seconds(1);
    store.create_session(session.clone()).await.unwrap();
    let mut code = store_suite::verification("otp:sweep", "x:0", t0);
    code.expires_at = t0 + time::Duration::seconds(1);
    store.create_verification(code).await.unwrap();

    app.clock.advance(std::time::Duration::from_secs(120));
    assert_eq!(app.get("/ok", "").await.status, 200);
    for _ in 0..100 {
        if store.find_verification("otp:sweep").await.unwrap().is_none() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(store.find_verification("otp:sweep").await.unwrap(), None, "expired code swept");
    assert_eq!(store.find_session(&session.token, t0).await.unwrap(), None, "expired session swept");
}
