//! Enumeration by timing (K11) and by work (K10), measured in-process.
//!
//! With a sender that takes 50 ms, the send and reset requests of a known and
//! an unknown recipient answer with latency distributions whose medians lie
//! far closer than 50 ms: delivery runs off the request. Password sign-in
//! costs one scrypt hash whether the email is known or not. Wrong codes cost
//! the same store work wherever they differ from the right one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::builder;
use common::probe::{Op, Probe, Probed};
use http_body_util::BodyExt;
use kernia::KerniaLayer;
use kernia::delivery::{DeliveryError, DeliveryMode, OtpPurpose};
use kernia::email_otp::EmailOtp;
use kernia::phone_number::{PhoneNumber, PhoneValidation};
use kernia::store::{MemoryStore, Store, StoreResult};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

const SENDER_DELAY: Duration = Duration::from_millis(50);
/// Far below the sender's delay: the request did not wait for delivery.
const MAX_MEDIAN_GAP: Duration = Duration::from_millis(10);
const SAMPLES: usize = 250;

/// Every code the senders were handed, newest last.
type Sent = Arc<Mutex<Vec<String>>>;

async fn slow_delivery() -> Result<(), DeliveryError> {
    tokio::time::sleep(SENDER_DELAY).await;
    Ok(())
}

/// Both plugins with senders that record the code, then take `SENDER_DELAY`.
fn slow_plugins(sent: &Sent, mode: DeliveryMode) -> (EmailOtp, PhoneNumber) {
    let emails = sent.clone();
    let email = EmailOtp::new(move |_to: String, otp: String, _purpose: OtpPurpose| {
        emails.lock().unwrap().push(otp);
        slow_delivery()
    })
    .delivery(mode);
    let texts = sent.clone();
    let phone = PhoneNumber::new(move |_to: String, message: String| {
        texts.lock().unwrap().push(message.chars().filter(char::is_ascii_digit).collect());
        slow_delivery()
    })
    .validation(PhoneValidation::E164Shape)
    .delivery(mode);
    (email, phone)
}

/// One request through a fresh service: status, body and the time it took.
async fn post(layer: &KerniaLayer, path: &str, body: &Value) -> (u16, String, Duration) {
    let service = layer.layer(tower::service_fn(common::inner));
    let request = common::post(path, body, "");
    let start = Instant::now();
    let response = service.oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let elapsed = start.elapsed();
    (status, String::from_utf8_lossy(&bytes).into_owned(), elapsed)
}

/// Latencies of `known` and `unknown` requests, `samples` each, in random
/// interleaved order; every answer must be the same status and bytes.
async fn latencies(
    layer: &KerniaLayer,
    path: &str,
    known: &Value,
    unknown: &Value,
    samples: usize,
) -> (Vec<Duration>, Vec<Duration>) {
    let mut order = vec![0u8; 2 * samples];
    getrandom::fill(&mut order).unwrap();
    let (mut k, mut u) = (Vec::new(), Vec::new());
    let mut answers = std::collections::BTreeSet::new();
    for is_known in order.iter().map(|r| r & 1 == 1) {
        let full = if is_known { k.len() == samples } else { u.len() == samples };
        if full {
            continue;
        }
        let (status, body, elapsed) = post(layer, path, if is_known { known } else { unknown }).await;
        answers.insert((status, body));
        if is_known { k.push(elapsed) } else { u.push(elapsed) }
    }
    while k.len() < samples {
        k.push(post(layer, path, known).await.2);
    }
    while u.len() < samples {
        u.push(post(layer, path, unknown).await.2);
    }
    assert_eq!(answers.len(), 1, "{path}: known and unknown answer alike: {answers:?}");
    (k, u)
}

/// The p-th percentile (0–100).
fn percentile(samples: &[Duration], p: usize) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[(sorted.len() - 1) * p / 100]
}

fn summary(samples: &[Duration]) -> String {
    let [p10, p50, p90] = [10, 50, 90].map(|p| percentile(samples, p).as_secs_f64() * 1e3);
    format!("p10 {p10:.3} ms, p50 {p50:.3} ms, p90 {p90:.3} ms (n = {})", samples.len())
}

/// Prints both distributions and returns the gap between the medians.
fn report(label: &str, known: &[Duration], unknown: &[Duration]) -> Duration {
    let gap = percentile(known, 50).abs_diff(percentile(unknown, 50));
    eprintln!(
        "K11 {label}\n    known:   {}\n    unknown: {}\n    median gap {:.3} ms",
        summary(known),
        summary(unknown),
        gap.as_secs_f64() * 1e3
    );
    gap
}

/// Waits (bounded) until the senders have been handed `count` codes.
async fn sent_count(sent: &Sent, count: usize) -> String {
    for _ in 0..500 {
        if let Some(code) = sent.lock().unwrap().get(count - 1) {
            return code.clone();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the sender never received code number {count}");
}

/// A layer with background delivery, an account with a password at
/// `known@example.com` and an account with the number `+15550100001`.
async fn app_with_accounts(mode: DeliveryMode) -> (KerniaLayer, Sent) {
    let sent = Sent::default();
    let (email, phone) = slow_plugins(&sent, mode);
    let layer = builder().email_otp(email).phone_number(phone).build().unwrap();
    let sign_up = json!({ "name": "Known", "email": "known@example.com", "password": "password123" });
    assert_eq!(post(&layer, "/sign-up/email", &sign_up).await.0, 200);
    let phone = json!({ "phoneNumber": "+15550100001" });
    assert_eq!(post(&layer, "/phone-number/send-otp", &phone).await.0, 200);
    let code = sent_count(&sent, 1).await;
    let verify = json!({ "phoneNumber": "+15550100001", "code": code });
    let (status, body, _) = post(&layer, "/phone-number/verify", &verify).await;
    assert_eq!(status, 200, "{body}");
    (layer, sent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_and_reset_requests_do_not_wait_for_a_slow_sender() {
    let (layer, sent) = app_with_accounts(DeliveryMode::Background).await;
    let before = sent.lock().unwrap().len();
    let cases = [
        (
            "/email-otp/send-verification-otp",
            json!({ "email": "known@example.com", "type": "email-verification" }),
            json!({ "email": "nobody@example.com", "type": "email-verification" }),
        ),
        (
            "/email-otp/request-password-reset",
            json!({ "email": "known@example.com" }),
            json!({ "email": "nobody@example.com" }),
        ),
        (
            "/phone-number/request-password-reset",
            json!({ "phoneNumber": "+15550100001" }),
            json!({ "phoneNumber": "+15550100999" }),
        ),
    ];
    for (path, known, unknown) in &cases {
        let (k, u) = latencies(&layer, path, known, unknown, SAMPLES).await;
        let gap = report(&format!("{path}, sender delay 50 ms, background delivery"), &k, &u);
        assert!(gap < MAX_MEDIAN_GAP, "{path}: medians differ by {gap:?}, delivery is on the request");
    }
    // Only known recipients were sent anything: the measurement above did
    // compare a delivering request with a silent one.
    sent_count(&sent, before + 3 * SAMPLES).await;
    assert_eq!(sent.lock().unwrap().len(), before + 3 * SAMPLES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awaited_delivery_shows_the_sender_delay_the_background_hides() {
    // Calibration: the comparison above can see a sender on the request.
    let (layer, _sent) = app_with_accounts(DeliveryMode::Await(Duration::from_secs(5))).await;
    let known = json!({ "email": "known@example.com" });
    let unknown = json!({ "email": "nobody@example.com" });
    let (k, u) = latencies(&layer, "/email-otp/request-password-reset", &known, &unknown, 20).await;
    let gap = report("/email-otp/request-password-reset, sender delay 50 ms, awaited delivery", &k, &u);
    assert!(gap >= SENDER_DELAY - MAX_MEDIAN_GAP, "an awaited 50 ms sender must show: {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_sign_in_costs_the_same_for_unknown_emails() {
    let layer = builder().build().unwrap();
    let sign_up = json!({ "name": "Known", "email": "known@example.com", "password": "password123" });
    assert_eq!(post(&layer, "/sign-up/email", &sign_up).await.0, 200);
    let known = json!({ "email": "known@example.com", "password": "wrong-password" });
    let unknown = json!({ "email": "nobody@example.com", "password": "wrong-password" });
    let (k, u) = latencies(&layer, "/sign-in/email", &known, &unknown, 60).await;
    report("/sign-in/email, wrong password vs unknown email", &k, &u);
    let ratio = percentile(&k, 50).as_secs_f64() / percentile(&u, 50).as_secs_f64();
    eprintln!("    median ratio known/unknown {ratio:.3}");
    assert!((0.7..=1.4).contains(&ratio), "an unknown email skips the hash: ratio {ratio:.3}");
}

// ---- K10 over the public API: a wrong code costs the same work wherever it differs

/// A memory store that records the name of every operation.
type Recording = Probed<MemoryStore, Log>;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<&'static str>>>);

impl Log {
    fn drain(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Probe for Log {
    async fn before<'a>(&'a self, op: Op<'a>) -> StoreResult<()> {
        self.0.lock().unwrap().push(op.name);
        Ok(())
    }
}

/// `code` with the digit at `position` changed.
fn wrong_at(code: &str, position: usize) -> String {
    let mut digits = code.as_bytes().to_vec();
    digits[position] = b'0' + (digits[position] - b'0' + 1) % 10;
    String::from_utf8(digits).unwrap()
}

#[tokio::test]
async fn wrong_codes_cost_the_same_store_work_wherever_they_differ() {
    let store = Recording::default();
    let outbox = common::Outbox::default();
    let plugin = outbox.email_otp().allowed_attempts(3);
    let layer = builder().store(store.clone()).sweep_interval(None).email_otp(plugin).build().unwrap();
    let email = "work@example.com";
    let send = json!({ "email": email, "type": "sign-in" });
    assert_eq!(post(&layer, "/email-otp/send-verification-otp", &send).await.0, 200);
    let code = outbox.email_code(email).unwrap();
    store.probe.drain();

    let mut traces = Vec::new();
    for position in [0, 5] {
        let guess = json!({ "email": email, "otp": wrong_at(&code, position) });
        let (status, body, _) = post(&layer, "/sign-in/email-otp", &guess).await;
        assert_eq!(status, 400, "{body}");
        traces.push(store.probe.drain());
    }
    eprintln!(
        "K10 store work of a wrong code, first digit wrong: {:?}; last digit wrong: {:?}",
        traces[0], traces[1]
    );
    assert_eq!(traces[0], traces[1], "the work of a wrong guess depends on where it is wrong");
    assert!(traces[0].contains(&"take_verification"), "the guess was compared: {:?}", traces[0]);
    let identifier = format!("email-otp:sign-in:{email}");
    let stored = store.inner.find_verification(&identifier).await.unwrap().unwrap();
    assert!(stored.value.ends_with(":2"), "each wrong guess cost one attempt: {}", stored.value);
}
