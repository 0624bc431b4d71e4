//! The `metrics` feature: counters for codes sent, verifications by
//! outcome, lockouts, rate-limit hits, sign-ups and sign-ins, and the K14
//! send/verify conversion computed from them.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{App, Outbox};
use kernia::otp::Lockout;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::json;

/// Counters as `name{label=value,...}` (labels sorted) → count.
fn counters(snapshotter: &Snapshotter) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let DebugValue::Counter(count) = value else { continue };
        let key = key.key();
        let mut labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        labels.sort();
        out.insert(format!("{}{{{}}}", key.name(), labels.join(",")), count);
    }
    out
}

fn wrong(code: &str) -> String {
    let first = if code.starts_with('0') { '1' } else { '0' };
    std::iter::once(first).chain(code.chars().skip(1)).collect()
}

async fn flows() {
    let outbox = Outbox::default();
    let lockout = Lockout { max_failures: 2, window: Duration::from_secs(3600) };
    let app =
        App::with_plugins(outbox.email_otp(), outbox.phone_number().lockout(Some(lockout)), outbox, |b| b);
    for email in ["used@example.com", "ignored@example.com"] {
        let send =
            app.post("/email-otp/send-verification-otp", json!({ "email": email, "type": "sign-in" }), "");
        assert_eq!(send.await.status, 200);
    }
    let code = app.outbox.email_code("used@example.com").unwrap();
    let sign_in =
        |otp: String| app.post("/sign-in/email-otp", json!({ "email": "used@example.com", "otp": otp }), "");
    sign_in(wrong(&code)).await.assert_error(400, "INVALID_OTP");
    assert_eq!(sign_in(code).await.status, 200);

    let phone = "+15550008888";
    assert_eq!(app.post("/phone-number/send-otp", json!({ "phoneNumber": phone }), "").await.status, 200);
    let sms = app.outbox.sms_code(phone).unwrap();
    let verify =
        |otp: String| app.post("/phone-number/verify", json!({ "phoneNumber": phone, "code": otp }), "");
    verify(wrong(&sms)).await.assert_error(400, "INVALID_OTP");
    verify(wrong(&sms)).await.assert_error(400, "INVALID_OTP");
    verify(sms).await.assert_error(403, "TOO_MANY_ATTEMPTS");

    app.sign_up("pw@example.com", "password123").await;
    let bad = app.post("/sign-in/email", json!({ "email": "pw@example.com", "password": "wrong-pass" }), "");
    bad.await.assert_error(401, "INVALID_EMAIL_OR_PASSWORD");

    let limited = App::with(|b| b.rate_limit(true));
    for _ in 0..2 {
        let body = json!({ "email": "twice@example.com", "type": "sign-in" });
        limited.post("/email-otp/send-verification-otp", body, "").await;
    }
}

// One test function: the recorder is local to this thread, and the flows run
// on a current-thread runtime inside it.
#[test]
fn counters_follow_the_flows_and_give_the_conversion() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(flows());
    });
    let counters = counters(&snapshotter);
    println!("{counters:#?}");
    let expected = [
        ("kernia_codes_sent_total{channel=email}", 3),
        ("kernia_codes_sent_total{channel=sms}", 1),
        ("kernia_verifications_total{channel=email,outcome=invalid}", 1),
        ("kernia_verifications_total{channel=email,outcome=success}", 1),
        ("kernia_verifications_total{channel=sms,outcome=invalid}", 2),
        ("kernia_verifications_total{channel=sms,outcome=locked}", 1),
        ("kernia_accounts_locked_total{channel=sms}", 1),
        ("kernia_sign_ups_total{method=email_otp}", 1),
        ("kernia_sign_ups_total{method=password}", 1),
        ("kernia_sign_ins_total{method=email_otp,outcome=failure}", 1),
        ("kernia_sign_ins_total{method=email_otp,outcome=success}", 1),
        ("kernia_sign_ins_total{method=password,outcome=success}", 1),
        ("kernia_sign_ins_total{method=password,outcome=failure}", 1),
        ("kernia_sign_ins_total{method=phone_otp,outcome=failure}", 3),
        ("kernia_rate_limited_total{route=/email-otp/send-verification-otp,scope=recipient}", 1),
    ];
    for (name, count) in expected {
        assert_eq!(counters.get(name), Some(&count), "{name} in {counters:#?}");
    }
    assert_eq!(counters.len(), expected.len(), "no other counters: {counters:#?}");
    // K14: verified / sent per channel; the two codes never entered pull email to a third.
    let conversion = |channel: &str| {
        let verified = counters[&format!("kernia_verifications_total{{channel={channel},outcome=success}}")];
        verified as f64 / counters[&format!("kernia_codes_sent_total{{channel={channel}}}")] as f64
    };
    assert_eq!(conversion("email"), 1.0 / 3.0);
}
