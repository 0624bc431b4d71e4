//! K5: consecutive failed code verifications per recipient, counted across
//! codes and resends, lock verification for that recipient until the window
//! passes; a correct code resets the count.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::probe::{Op, Probe, Probed};
use common::{App, Reply};
use kernia::ConfigError;
use kernia::otp::Lockout;
use kernia::store::{MemoryStore, Store, StoreResult};
use serde_json::json;

/// Any code but `code`.
fn wrong(code: &str) -> String {
    let first = if code.starts_with('0') { '1' } else { '0' };
    std::iter::once(first).chain(code.chars().skip(1)).collect()
}

async fn send_email_code(app: &App, email: &str, kind: &str) -> String {
    let reply =
        app.post("/email-otp/send-verification-otp", json!({ "email": email, "type": kind }), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    app.outbox.email_code(email).unwrap()
}

async fn sign_in(app: &App, email: &str, otp: &str) -> Reply {
    app.post("/sign-in/email-otp", json!({ "email": email, "otp": otp }), "").await
}

/// `n` wrong sign-in codes for `email`, three per code (the per-code budget), resending in between.
async fn fail_email(app: &App, email: &str, n: usize) {
    let mut failed = 0;
    while failed < n {
        let code = send_email_code(app, email, "sign-in").await;
        for _ in 0..3.min(n - failed) {
            sign_in(app, email, &wrong(&code)).await.assert_error(400, "INVALID_OTP");
            failed += 1;
        }
    }
}

#[tokio::test]
async fn hundred_failures_across_resends_lock_the_address_even_for_the_right_code() {
    let app = App::new();
    let email = "locked@example.com";
    fail_email(&app, email, 99).await;
    let code = send_email_code(&app, email, "sign-in").await;
    sign_in(&app, email, &wrong(&code)).await.assert_error(400, "INVALID_OTP");
    println!("100 failures over {} sends", app.outbox.email_count(email));
    sign_in(&app, email, &code).await.assert_error(403, "TOO_MANY_ATTEMPTS");
    let fresh = send_email_code(&app, email, "sign-in").await;
    sign_in(&app, email, &fresh).await.assert_error(403, "TOO_MANY_ATTEMPTS");
}

#[tokio::test]
async fn a_correct_code_before_the_cap_resets_the_count() {
    let app = App::new();
    let email = "reset@example.com";
    fail_email(&app, email, 99).await;
    let code = send_email_code(&app, email, "sign-in").await;
    assert_eq!(sign_in(&app, email, &code).await.status, 200);
    fail_email(&app, email, 99).await;
    let code = send_email_code(&app, email, "sign-in").await;
    let reply = sign_in(&app, email, &code).await;
    assert_eq!(reply.status, 200, "198 failures, but never 100 in a row: {}", reply.body);
}

#[tokio::test]
async fn the_lock_ends_a_window_after_the_last_failure_and_refusals_do_not_extend_it() {
    let app = App::new();
    let email = "window@example.com";
    fail_email(&app, email, 100).await;
    app.clock.advance(Duration::from_secs(23 * 3600));
    let code = send_email_code(&app, email, "sign-in").await;
    sign_in(&app, email, &code).await.assert_error(403, "TOO_MANY_ATTEMPTS");
    sign_in(&app, email, &wrong(&code)).await.assert_error(403, "TOO_MANY_ATTEMPTS");
    app.clock.advance(Duration::from_secs(3600 + 1));
    let code = send_email_code(&app, email, "sign-in").await;
    assert_eq!(sign_in(&app, email, &code).await.status, 200);
}

#[tokio::test]
async fn a_locked_address_leaves_other_recipients_alone() {
    let app = App::new();
    fail_email(&app, "victim@example.com", 100).await;
    let code = send_email_code(&app, "bystander@example.com", "sign-in").await;
    assert_eq!(sign_in(&app, "bystander@example.com", &code).await.status, 200);
    let phone = "+15550001111";
    app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await;
    let sms = app.outbox.sms_code(phone).unwrap();
    let verify = app.post("/phone-number/verify", json!({ "phoneNumber": phone, "code": sms }), "").await;
    assert_eq!(verify.status, 200, "{}", verify.body);
}

#[tokio::test]
async fn failures_count_across_purposes_up_to_a_configured_cap() {
    let lockout = Lockout { max_failures: 5, window: Duration::from_secs(3600) };
    let outbox = common::Outbox::default();
    let email_otp = outbox.email_otp().lockout(Some(lockout));
    let app = App::with_plugins(email_otp, outbox.phone_number(), outbox, |b| b);
    let email = "purposes@example.com";
    app.sign_up(email, "password123").await;
    let code = send_email_code(&app, email, "forget-password").await;
    for _ in 0..3 {
        let body = json!({ "email": email, "type": "forget-password", "otp": wrong(&code) });
        app.post("/email-otp/check-verification-otp", body, "").await.assert_error(400, "INVALID_OTP");
    }
    let code = send_email_code(&app, email, "email-verification").await;
    for _ in 0..2 {
        let body = json!({ "email": email, "otp": wrong(&code) });
        app.post("/email-otp/verify-email", body, "").await.assert_error(400, "INVALID_OTP");
    }
    let body = json!({ "email": email, "otp": code });
    app.post("/email-otp/verify-email", body, "").await.assert_error(403, "TOO_MANY_ATTEMPTS");
}

#[tokio::test]
async fn phone_numbers_lock_too_and_unlock_after_the_window() {
    let lockout = Lockout { max_failures: 4, window: Duration::from_secs(600) };
    let outbox = common::Outbox::default();
    let phone_plugin = outbox.phone_number().lockout(Some(lockout));
    let app = App::with_plugins(outbox.email_otp(), phone_plugin, outbox, |b| b);
    let phone = "+15550002222";
    let verify =
        |code: String| app.post("/phone-number/verify", json!({ "phoneNumber": phone, "code": code }), "");
    for _ in 0..2 {
        app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await;
        let code = app.outbox.sms_code(phone).unwrap();
        for _ in 0..2 {
            verify(wrong(&code)).await.assert_error(400, "INVALID_OTP");
        }
    }
    app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await;
    let code = app.outbox.sms_code(phone).unwrap();
    verify(code).await.assert_error(403, "TOO_MANY_ATTEMPTS");
    app.clock.advance(Duration::from_secs(601));
    app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await;
    let fresh = app.outbox.sms_code(phone).unwrap();
    assert_eq!(verify(fresh).await.status, 200);
}

#[tokio::test]
async fn without_a_lockout_only_the_per_code_budget_applies() {
    let outbox = common::Outbox::default();
    let email_otp = outbox.email_otp().lockout(None);
    let app = App::with_plugins(email_otp, outbox.phone_number(), outbox, |b| b);
    let email = "unlocked@example.com";
    fail_email(&app, email, 102).await;
    let code = send_email_code(&app, email, "sign-in").await;
    assert_eq!(sign_in(&app, email, &code).await.status, 200);
}

#[test]
fn lockouts_above_nists_hundred_or_with_odd_windows_are_refused_at_build() {
    let build = |lockout| {
        let outbox = common::Outbox::default();
        common::builder().email_otp(outbox.email_otp().lockout(Some(lockout))).build().map(|_| ())
    };
    let hour = Duration::from_secs(3600);
    assert!(matches!(
        build(Lockout { max_failures: 101, window: hour }),
        Err(ConfigError::OutOfRange { option: "email_otp", .. })
    ));
    assert!(matches!(build(Lockout { max_failures: 0, window: hour }), Err(ConfigError::OutOfRange { .. })));
    let short = Lockout { max_failures: 10, window: Duration::from_secs(59) };
    assert!(matches!(build(short), Err(ConfigError::OutOfRange { .. })));
    assert_eq!(build(Lockout { max_failures: 100, window: hour }), Ok(()));
    assert_eq!(Lockout::default(), Lockout { max_failures: 100, window: Duration::from_secs(86_400) });
}

/// The attempts recorded on the live code of `identifier`.
async fn attempts_on(store: &YieldingStore, identifier: &str) -> u32 {
    let row = store.find_verification(identifier).await.unwrap();
    row.map_or(0, |r| r.value.rsplit_once(':').unwrap().1.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_guesses_on_several_codes_are_all_counted() {
    let store = YieldingStore::default();
    let outbox = common::Outbox::default();
    let email_otp = outbox.email_otp().allowed_attempts(10);
    let app = App::with_plugins(email_otp, outbox.phone_number(), outbox, |b| b.store(store.clone()));
    let email = "race@example.com";
    app.sign_up(email, "password123").await;
    let kinds = ["sign-in", "forget-password", "email-verification"];
    let mut codes = Vec::new();
    for kind in kinds {
        codes.push((kind, send_email_code(&app, email, kind).await));
    }
    let barrier = Arc::new(tokio::sync::Barrier::new(30));
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let (app, barrier) = (app.clone(), barrier.clone());
            let (kind, code) = codes[i % 3].clone();
            tokio::spawn(async move {
                barrier.wait().await;
                let body = json!({ "email": email, "type": kind, "otp": wrong(&code) });
                app.post("/email-otp/check-verification-otp", body, "").await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().assert_error(400, "INVALID_OTP");
    }
    let mut compared = 0;
    for kind in kinds {
        compared += attempts_on(&store, &format!("email-otp:{kind}:{email}")).await;
    }
    let counter = store.find_verification(&format!("failures:email:{email}")).await.unwrap().unwrap();
    println!(
        "30 concurrent wrong checks on 3 codes: {compared} comparisons, failure count {}",
        counter.value
    );
    assert!(compared > 0);
    assert_eq!(counter.value, compared.to_string(), "every comparison is counted once");
}

/// A memory store that yields before and after each verification step, so
/// concurrent requests interleave between a count's read and its write.
type YieldingStore = Probed<MemoryStore, YieldAroundVerifications>;

#[derive(Clone, Default)]
struct YieldAroundVerifications;

async fn yield_on_verification(op: Op<'_>) {
    if op.name.contains("verification") {
        tokio::task::yield_now().await;
    }
}

impl Probe for YieldAroundVerifications {
    async fn before<'a>(&'a self, op: Op<'a>) -> StoreResult<()> {
        yield_on_verification(op).await;
        Ok(())
    }

    async fn after<'a>(&'a self, op: Op<'a>) {
        yield_on_verification(op).await;
    }
}
