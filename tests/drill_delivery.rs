//! Fault drill for the delivery callbacks: a sender that fails or never
//! returns. Awaited delivery answers after at most its limit (email: `200`,
//! as Better Auth swallows send errors; SMS: `500 INTERNAL_SERVER_ERROR`) and
//! withdraws the code; background delivery answers at once, and a failed
//! send withdraws the code. Each sender keeps the code it was handed, so the
//! tests can try the code its owner never received.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kernia::delivery::{DeliveryError, DeliveryMode, OtpPurpose};
use kernia::email_otp::EmailOtp;
use kernia::phone_number::{PhoneNumber, PhoneValidation};
use kernia::store::{MemoryStore, Store};
use serde_json::{Value, json};
use tokio::time::Instant;

const LIMIT: Duration = Duration::from_millis(300);
const EMAIL: &str = "drill@example.com";
const PHONE: &str = "+15550100042";

/// What the sender does once it has been handed a code.
#[derive(Clone, Copy)]
enum Sender {
    Fails,
    Hangs,
    /// The first send fails 200 ms late; later ones succeed at once.
    FirstFailsLate,
}

/// Sends seen by [`Sender::FirstFailsLate`] (one test uses it).
static SENDS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Sender {
    async fn finish(self) -> Result<(), DeliveryError> {
        match self {
            Self::Fails => Err("provider refused the message".into()),
            Self::Hangs => std::future::pending().await,
            Self::FirstFailsLate => {
                if SENDS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                Err("provider timed out".into())
            }
        }
    }
}

/// Kernia over a memory store with both plugins delivering through `sender`
/// in `mode`; `handed` collects every code the senders were given.
struct App {
    kernia: common::App,
    store: MemoryStore,
    handed: Arc<Mutex<Vec<String>>>,
}

/// The status and body of an answer, and how long it took.
type Answer = (u16, Value, Duration);

impl App {
    fn new(sender: Sender, mode: DeliveryMode) -> Self {
        let (store, handed) = (MemoryStore::new(), Arc::new(Mutex::new(Vec::new())));
        let emails = handed.clone();
        let email = EmailOtp::new(move |_to: String, otp: String, _purpose: OtpPurpose| {
            emails.lock().unwrap().push(otp);
            sender.finish()
        })
        .delivery(mode);
        let texts = handed.clone();
        let phone = PhoneNumber::new(move |_to: String, message: String| {
            texts.lock().unwrap().push(message.chars().filter(char::is_ascii_digit).collect());
            sender.finish()
        })
        .validation(PhoneValidation::E164Shape)
        .delivery(mode);
        let kernia = common::App::with_plugins(email, phone, common::Outbox::default(), |b| {
            b.sweep_interval(None).store(store.clone())
        });
        Self { kernia, store, handed }
    }

    /// A POST's answer. A request that never answers fails the test after
    /// 10 s instead of hanging it.
    async fn post(&self, path: &str, body: Value) -> Answer {
        let request = common::post(path, &body, "");
        let start = Instant::now();
        let call = self.kernia.send(request);
        let reply = tokio::time::timeout(Duration::from_secs(10), call).await.expect("no answer");
        (reply.status.as_u16(), serde_json::from_str(&reply.body).unwrap_or_default(), start.elapsed())
    }

    async fn send_email_code(&self) -> Answer {
        self.post("/email-otp/send-verification-otp", json!({ "email": EMAIL, "type": "sign-in" })).await
    }

    async fn send_sms_code(&self) -> Answer {
        self.post("/phone-number/send-otp", json!({ "phoneNumber": PHONE })).await
    }

    /// An email code, then an SMS code: each answer with the code its
    /// sender was handed.
    async fn send_both_codes(&self) -> [(Answer, String); 2] {
        let email = self.send_email_code().await;
        let email_code = self.handed_code(1).await;
        let sms = self.send_sms_code().await;
        [(email, email_code), (sms, self.handed_code(2).await)]
    }

    /// The `n`-th code (from 1) the senders were handed, waiting (bounded)
    /// for a background send to start.
    async fn handed_code(&self, n: usize) -> String {
        for _ in 0..1000 {
            if let Some(code) = self.handed.lock().unwrap().get(n - 1) {
                return code.clone();
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the sender was never handed a code");
    }

    /// Waits (bounded) until no code is stored under `identifier`.
    async fn withdrawn(&self, identifier: &str) {
        for _ in 0..1000 {
            if self.store.find_verification(identifier).await.unwrap().is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the undelivered code under {identifier} was never withdrawn");
    }

    /// The answers to signing in with the handed codes: `(status, code)`.
    async fn try_codes(&self, email_code: &str, sms_code: &str) -> [(u16, String); 2] {
        let email = self.post("/sign-in/email-otp", json!({ "email": EMAIL, "otp": email_code })).await;
        let sms = self.post("/phone-number/verify", json!({ "phoneNumber": PHONE, "code": sms_code })).await;
        [email, sms].map(|(status, body, _)| (status, body["code"].as_str().unwrap_or("").to_owned()))
    }
}

fn email_identifier() -> String {
    format!("email-otp:sign-in:{EMAIL}")
}

fn sms_identifier() -> String {
    format!("phone-number-otp-{PHONE}")
}

const EMAIL_SENT: (u16, &str) = (200, r#"{"success":true}"#);
const SMS_SENT: (u16, &str) = (200, r#"{"message":"code sent"}"#);
const SMS_FAILED: (u16, &str) =
    (500, r#"{"code":"INTERNAL_SERVER_ERROR","message":"Internal Server Error"}"#);

fn answer((status, body, _): &Answer) -> (u16, String) {
    (*status, body.to_string())
}

fn print_sends(label: &str, email: &Answer, sms: &Answer) {
    let (email_took, sms_took) = (email.2, sms.2);
    eprintln!(
        "{label}: email -> {:?} in {email_took:?}, SMS -> {:?} in {sms_took:?}",
        answer(email),
        answer(sms)
    );
}

fn expected((status, body): (u16, &str)) -> (u16, String) {
    (status, body.to_owned())
}

fn codes_are_dead(answers: &[(u16, String); 2]) {
    let dead = [(400, "INVALID_OTP".to_owned()), (400, "OTP_NOT_FOUND".to_owned())];
    assert_eq!(*answers, dead, "a code its owner never received is not usable");
}

#[tokio::test]
async fn an_awaited_sender_that_fails_withdraws_the_code() {
    let app = App::new(Sender::Fails, DeliveryMode::Await(LIMIT));
    let [(email, email_code), (sms, sms_code)] = app.send_both_codes().await;
    print_sends("awaited, failing sender", &email, &sms);
    assert_eq!(answer(&email), expected(EMAIL_SENT), "email send errors are swallowed, as Better Auth does");
    assert_eq!(answer(&sms), expected(SMS_FAILED));
    codes_are_dead(&app.try_codes(&email_code, &sms_code).await);
}

#[tokio::test]
async fn an_awaited_sender_that_hangs_is_cut_off_at_the_limit_and_the_code_withdrawn() {
    let app = App::new(Sender::Hangs, DeliveryMode::Await(LIMIT));
    let [(email, email_code), (sms, sms_code)] = app.send_both_codes().await;
    print_sends(&format!("awaited, hanging sender (limit {LIMIT:?})"), &email, &sms);
    assert_eq!(answer(&email), expected(EMAIL_SENT));
    assert_eq!(answer(&sms), expected(SMS_FAILED));
    assert!(email.2 >= LIMIT && sms.2 >= LIMIT, "the answers waited for the limit");
    codes_are_dead(&app.try_codes(&email_code, &sms_code).await);
}

#[tokio::test]
async fn a_background_sender_that_fails_is_not_waited_for_and_the_code_is_withdrawn() {
    let app = App::new(Sender::Fails, DeliveryMode::Background);
    let email = app.send_email_code().await;
    let sms = app.send_sms_code().await;
    print_sends("background, failing sender", &email, &sms);
    assert_eq!(answer(&email), expected(EMAIL_SENT));
    assert_eq!(answer(&sms), expected(SMS_SENT), "the answer does not wait for, or show, the failure");
    app.withdrawn(&email_identifier()).await;
    app.withdrawn(&sms_identifier()).await;
    let (email_code, sms_code) = (app.handed_code(1).await, app.handed_code(2).await);
    codes_are_dead(&app.try_codes(&email_code, &sms_code).await);
}

#[tokio::test]
async fn a_background_sender_that_hangs_is_not_waited_for_and_its_code_lives_until_expiry() {
    let app = App::new(Sender::Hangs, DeliveryMode::Background);
    // The sender never returns: these answers exist only because nothing waits for it.
    let [(email, email_code), (sms, sms_code)] = app.send_both_codes().await;
    print_sends("background, hanging sender", &email, &sms);
    assert_eq!(answer(&email), expected(EMAIL_SENT));
    assert_eq!(answer(&sms), expected(SMS_SENT));
    // A send still in flight may yet deliver its code, so nothing withdraws
    // it; it expires as any code does (300 s by default).
    app.kernia.clock.advance(Duration::from_secs(299));
    for identifier in [email_identifier(), sms_identifier()] {
        assert!(app.store.find_verification(&identifier).await.unwrap().is_some(), "{identifier} is kept");
    }
    app.kernia.clock.advance(Duration::from_secs(2));
    let answers = app.try_codes(&email_code, &sms_code).await;
    eprintln!("background, hanging sender: after 301 s the codes answer {answers:?}");
    assert_eq!(answers, [(400, "OTP_EXPIRED".to_owned()), (400, "OTP_EXPIRED".to_owned())]);
}

#[tokio::test]
async fn a_late_failure_withdraws_only_its_own_code_not_a_newer_delivered_one() {
    let app = App::new(Sender::FirstFailsLate, DeliveryMode::Background);
    assert_eq!(answer(&app.send_email_code().await), expected(EMAIL_SENT));
    let first = app.handed_code(1).await;
    assert_eq!(answer(&app.send_email_code().await), expected(EMAIL_SENT));
    let second = app.handed_code(2).await;
    tokio::time::sleep(Duration::from_millis(400)).await; // the first send has failed by now
    let stale = app.post("/sign-in/email-otp", json!({ "email": EMAIL, "otp": first })).await;
    assert_eq!((stale.0, stale.1["code"].as_str()), (400, Some("INVALID_OTP")), "replaced by the second");
    let signed_in = app.post("/sign-in/email-otp", json!({ "email": EMAIL, "otp": second })).await;
    assert_eq!(signed_in.0, 200, "the delivered code survived the first one's failure: {}", signed_in.1);
}

#[tokio::test]
async fn a_failed_awaited_reset_sms_answers_like_an_unknown_number() {
    let app = App::new(Sender::Fails, DeliveryMode::Await(LIMIT));
    let now = time::OffsetDateTime::now_utc();
    let user = kernia::store::User {
        id: "resetdrilluser000000000000000001".to_owned(),
        name: String::new(),
        email: "reset-drill@example.com".to_owned(),
        email_verified: false,
        image: None,
        created_at: now,
        updated_at: now,
        phone_number: Some(PHONE.to_owned()),
        phone_number_verified: true,
    };
    app.store.create_user(user, None).await.unwrap();
    let known = app.post("/phone-number/request-password-reset", json!({ "phoneNumber": PHONE })).await;
    let unknown =
        app.post("/phone-number/request-password-reset", json!({ "phoneNumber": "+15550100043" })).await;
    assert_eq!(app.handed.lock().unwrap().len(), 1, "only the known number was sent a code");
    assert_eq!(answer(&known), (200, r#"{"status":true}"#.to_owned()));
    assert_eq!(answer(&known), answer(&unknown), "a failed delivery does not reveal the account");
}
