//! One conformance suite for every `Store`: each check gets a fresh store
//! from `make` and proves one property of the trait's contract, including
//! the concurrency guarantees the flows rely on.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::sync::Arc;

use kernia::store::{Session, Store, StoreErrorKind, UniqueField, User, UserPatch, Verification};
use serde_json::json;

#[path = "../common/mod.rs"]
pub mod common;
pub mod sql;
use time::{Duration, OffsetDateTime};

/// The current time at millisecond precision, as Kernia stores it.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000).unwrap()
}

fn id(tag: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{tag}{suffix}{}", "0".repeat(32)).chars().take(32).collect()
}

pub fn user(email: &str, phone: Option<&str>) -> User {
    let t = now();
    User {
        id: id("u"),
        name: "Ada".to_owned(),
        email: email.to_owned(),
        email_verified: false,
        image: None,
        created_at: t,
        updated_at: t,
        phone_number: phone.map(str::to_owned),
        phone_number_verified: phone.is_some(),
    }
}

pub fn session(user_id: &str, lifetime: Duration) -> Session {
    let t = now();
    Session {
        id: id("s"),
        token: id("t"),
        user_id: user_id.to_owned(),
        expires_at: t + lifetime,
        created_at: t,
        updated_at: t,
        ip_address: Some("127.0.0.1".to_owned()),
        user_agent: Some("suite".to_owned()),
    }
}

pub fn verification(identifier: &str, value: &str, created_at: OffsetDateTime) -> Verification {
    Verification {
        id: id("v"),
        identifier: identifier.to_owned(),
        value: value.to_owned(),
        expires_at: created_at + Duration::minutes(5),
        created_at,
        updated_at: created_at,
    }
}

/// Runs every check, each on a fresh store.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    users_round_trip(make().await).await;
    email_and_phone_are_unique(make().await).await;
    parallel_creates_with_one_email_make_one_user(Arc::new(make().await)).await;
    update_applies_only_the_patch(make().await).await;
    credentials_are_created_replaced_and_deleted(make().await).await;
    sessions_expire_refresh_and_revoke(make().await).await;
    newest_verification_wins_and_take_removes_all(make().await).await;
    restore_only_inserts_when_absent(make().await).await;
    parallel_takes_hand_out_one_value(Arc::new(make().await)).await;
    flows_through_kernia(make().await).await;
}

/// The store behind the whole layer: password sign-up and session, one code
/// verified by 50 concurrent requests (exactly one wins), phone sign-up.
pub async fn flows_through_kernia<S: Store>(store: S) {
    let app = common::App::with(|b| b.store(store));
    let cookie = app.sign_up("flow@example.com", "password123").await;
    let session = app.get("/get-session", &cookie).await;
    assert_eq!(session.json()["user"]["email"], "flow@example.com");
    let sign_in = json!({ "email": "flow@example.com", "password": "password123" });
    assert_eq!(app.post("/sign-in/email", sign_in, "").await.status, 200);

    let send = json!({ "email": "otp-flow@example.com", "type": "sign-in" });
    assert_eq!(app.post("/email-otp/send-verification-otp", send, "").await.status, 200);
    let code = app.outbox.email_code("otp-flow@example.com").unwrap();
    let body = json!({ "email": "otp-flow@example.com", "otp": code });
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (app, body) = (app.clone(), body.clone());
            tokio::spawn(async move { app.post("/sign-in/email-otp", body, "").await.status.as_u16() })
        })
        .collect();
    let mut wins = 0;
    for task in tasks {
        wins += usize::from(task.await.unwrap() == 200);
    }
    assert_eq!(wins, 1, "exactly one of 50 concurrent verifies of one code succeeds");

    let phone = "+15550199000";
    assert_eq!(app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await.status, 200);
    let code = app.outbox.sms_code(phone).unwrap();
    let verify = app.post("/phone-number/verify", json!({ "phoneNumber": phone, "code": code }), "").await;
    assert_eq!(verify.json()["user"]["phoneNumber"], phone);
}

pub async fn users_round_trip<S: Store>(store: S) {
    let ada = user("ada@example.com", Some("+15550100001"));
    let created = store.create_user(ada.clone(), None).await.unwrap();
    assert_eq!(created, ada);
    assert_eq!(store.find_user_by_id(&ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.find_user_by_email("ada@example.com").await.unwrap(), Some(ada.clone()));
    assert_eq!(store.find_user_by_phone("+15550100001").await.unwrap(), Some(ada.clone()));
    assert_eq!(store.find_user_by_email("nobody@example.com").await.unwrap(), None);
    assert_eq!(store.find_credential(&ada.id).await.unwrap(), None, "no password, no credential");
}

pub async fn email_and_phone_are_unique<S: Store>(store: S) {
    store.create_user(user("a@example.com", Some("+15550100002")), None).await.unwrap();
    let same_email = store.create_user(user("a@example.com", None), None).await.unwrap_err();
    assert_eq!(same_email.kind(), StoreErrorKind::Conflict(UniqueField::Email));
    let same_phone = store.create_user(user("b@example.com", Some("+15550100002")), None).await.unwrap_err();
    assert_eq!(same_phone.kind(), StoreErrorKind::Conflict(UniqueField::PhoneNumber));
    assert_eq!(store.find_user_by_email("b@example.com").await.unwrap(), None, "nothing half-written");
}

pub async fn parallel_creates_with_one_email_make_one_user<S: Store>(store: Arc<S>) {
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                store.create_user(user("race@example.com", None), Some("x:y".into())).await
            })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(e) => assert_eq!(e.kind(), StoreErrorKind::Conflict(UniqueField::Email)),
        }
    }
    assert_eq!(created, 1, "exactly one of ten parallel sign-ups wins");
}

pub async fn update_applies_only_the_patch<S: Store>(store: S) {
    let ada = store.create_user(user("upd@example.com", None), None).await.unwrap();
    store.create_user(user("other@example.com", Some("+15550100003")), None).await.unwrap();
    let later = ada.updated_at + Duration::seconds(5);
    let patch = UserPatch {
        name: Some("Ada L.".into()),
        image: Some(Some("https://img".into())),
        ..Default::default()
    };
    let updated = store.update_user(&ada.id, patch, later).await.unwrap().unwrap();
    assert_eq!((updated.name.as_str(), updated.image.as_deref()), ("Ada L.", Some("https://img")));
    assert_eq!((updated.email.as_str(), updated.updated_at), ("upd@example.com", later));
    let taken = UserPatch { phone_number: Some(Some("+15550100003".into())), ..Default::default() };
    let conflict = store.update_user(&ada.id, taken, later).await.unwrap_err();
    assert_eq!(conflict.kind(), StoreErrorKind::Conflict(UniqueField::PhoneNumber));
    let clear = UserPatch { image: Some(None), email_verified: Some(true), ..Default::default() };
    let cleared = store.update_user(&ada.id, clear, later).await.unwrap().unwrap();
    assert_eq!((cleared.image, cleared.email_verified), (None, true));
    assert_eq!(store.update_user("missing", UserPatch::default(), later).await.unwrap(), None);
}

pub async fn credentials_are_created_replaced_and_deleted<S: Store>(store: S) {
    let ada = store.create_user(user("cred@example.com", None), Some("salt:key1".into())).await.unwrap();
    let password = |c: Option<kernia::store::Credential>| c.and_then(|c| c.password);
    assert_eq!(password(store.find_credential(&ada.id).await.unwrap()).as_deref(), Some("salt:key1"));
    store.set_password(&ada.id, "salt:key2".into(), now()).await.unwrap();
    assert_eq!(password(store.find_credential(&ada.id).await.unwrap()).as_deref(), Some("salt:key2"));
    store.delete_accounts(&ada.id).await.unwrap();
    assert_eq!(store.find_credential(&ada.id).await.unwrap(), None);
    store.set_password(&ada.id, "salt:key3".into(), now()).await.unwrap();
    assert_eq!(
        password(store.find_credential(&ada.id).await.unwrap()).as_deref(),
        Some("salt:key3"),
        "created when missing"
    );
}

pub async fn sessions_expire_refresh_and_revoke<S: Store>(store: S) {
    let ada = store.create_user(user("sess@example.com", None), None).await.unwrap();
    let live = session(&ada.id, Duration::days(7));
    let other = session(&ada.id, Duration::days(7));
    let expired = session(&ada.id, Duration::seconds(-1));
    for s in [&live, &other, &expired] {
        store.create_session(s.clone()).await.unwrap();
    }
    let t = now();
    let found = store.find_session(&live.token, t).await.unwrap().unwrap();
    assert_eq!((found.session, found.user), (live.clone(), ada.clone()));
    assert_eq!(store.find_session(&expired.token, t).await.unwrap(), None, "expired sessions are not found");
    assert_eq!(store.list_sessions(&ada.id, t).await.unwrap().len(), 2);

    let later = t + Duration::days(2);
    let refreshed =
        store.refresh_session(&live.token, later + Duration::days(7), later).await.unwrap().unwrap();
    assert_eq!((refreshed.expires_at, refreshed.updated_at), (later + Duration::days(7), later));
    assert_eq!(store.refresh_session("missing", later, later).await.unwrap(), None);

    store.delete_user_sessions(&ada.id, Some(&live.token)).await.unwrap();
    assert!(store.find_session(&other.token, t).await.unwrap().is_none());
    assert!(store.find_session(&live.token, t).await.unwrap().is_some(), "the kept session survives");
    store.delete_session(&live.token).await.unwrap();
    assert!(store.find_session(&live.token, t).await.unwrap().is_none());
}

pub async fn newest_verification_wins_and_take_removes_all<S: Store>(store: S) {
    let t = now();
    store.create_verification(verification("otp:a", "old:0", t)).await.unwrap();
    store.create_verification(verification("otp:a", "new:0", t + Duration::seconds(1))).await.unwrap();
    store.create_verification(verification("otp:b", "b:0", t)).await.unwrap();
    assert_eq!(store.find_verification("otp:a").await.unwrap().unwrap().value, "new:0");
    assert_eq!(store.take_verification("otp:a").await.unwrap().unwrap().value, "new:0");
    assert_eq!(store.take_verification("otp:a").await.unwrap(), None, "older values went with it");
    assert_eq!(
        store.find_verification("otp:b").await.unwrap().unwrap().value,
        "b:0",
        "other identifiers untouched"
    );
    store.delete_verifications("otp:b").await.unwrap();
    assert_eq!(store.find_verification("otp:b").await.unwrap(), None);
}

pub async fn restore_only_inserts_when_absent<S: Store>(store: S) {
    let t = now();
    let original = verification("otp:r", "code:0", t);
    assert!(store.restore_verification(original.clone()).await.unwrap());
    let newer = verification("otp:r", "newer:0", t + Duration::seconds(1));
    assert!(!store.restore_verification(newer).await.unwrap(), "a value exists");
    let found = store.find_verification("otp:r").await.unwrap().unwrap();
    assert_eq!((found.value.as_str(), found.expires_at), ("code:0", original.expires_at));
}

pub async fn parallel_takes_hand_out_one_value<S: Store>(store: Arc<S>) {
    store.create_verification(verification("otp:race", "code:0", now())).await.unwrap();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_verification("otp:race").await.unwrap() })
        })
        .collect();
    let mut taken = 0;
    for task in tasks {
        taken += usize::from(task.await.unwrap().is_some());
    }
    assert_eq!(taken, 1, "exactly one of 50 concurrent takes gets the value");
}

pub async fn parallel_restores_insert_once<S: Store>(store: Arc<S>) {
    let t = now();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let value = verification("otp:restore", &format!("{i}:0"), t);
            tokio::spawn(async move { store.restore_verification(value).await.unwrap() })
        })
        .collect();
    let mut inserted = 0;
    for task in tasks {
        inserted += usize::from(task.await.unwrap());
    }
    assert_eq!(inserted, 1, "exactly one of 20 concurrent restores inserts");
}
