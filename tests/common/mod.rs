//! Shared helpers for the in-process tests: a Kernia-wrapped echo app driven
//! with `ServiceExt::oneshot`, a cookie jar, and capturing senders.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod counting;
pub mod net;
pub mod otp;
pub mod probe;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use kernia::clock::ManualClock;
use kernia::delivery::{DeliveryMode, OtpPurpose};
use kernia::email_otp::EmailOtp;
use kernia::phone_number::{PhoneNumber, PhoneValidation};
use kernia::{ClientAddr, KerniaBuilder, KerniaLayer, SessionHandle};
use serde_json::Value;
use tower::{Layer, Service, ServiceExt};

pub const SECRET: &str = "kernia-test-secret-0123456789abcdef0123456789";
pub const ORIGIN: &str = "http://localhost:3000";

/// The keys of a serialized user (data-model.md §2, D8).
pub const USER_KEYS: [&str; 9] = [
    "id",
    "name",
    "email",
    "emailVerified",
    "image",
    "createdAt",
    "updatedAt",
    "phoneNumber",
    "phoneNumberVerified",
];

/// A builder with the test secret and base URL, rate limits off (tests that
/// need them turn them on).
pub fn builder() -> KerniaBuilder {
    KerniaLayer::builder().secret(SECRET).base_url(ORIGIN).rate_limit(false)
}

/// Codes delivered by the capturing senders, newest last.
#[derive(Clone, Default)]
pub struct Outbox {
    pub emails: Arc<Mutex<Vec<(String, String, OtpPurpose)>>>,
    pub sms: Arc<Mutex<Vec<(String, String)>>>,
}

impl Outbox {
    /// The last code sent to `email`.
    pub fn email_code(&self, email: &str) -> Option<String> {
        self.emails.lock().unwrap().iter().rev().find(|(to, _, _)| to == email).map(|(_, otp, _)| otp.clone())
    }

    pub fn email_count(&self, email: &str) -> usize {
        self.emails.lock().unwrap().iter().filter(|(to, _, _)| to == email).count()
    }

    /// The digits of the last SMS sent to `phone`.
    pub fn sms_code(&self, phone: &str) -> Option<String> {
        let sms = self.sms.lock().unwrap();
        let (_, message) = sms.iter().rev().find(|(to, _)| to == phone)?;
        Some(message.chars().filter(char::is_ascii_digit).collect())
    }

    pub fn sms_count(&self, phone: &str) -> usize {
        self.sms.lock().unwrap().iter().filter(|(to, _)| to == phone).count()
    }

    /// The email OTP plugin, delivering here (awaited, so codes are visible
    /// as soon as the response is).
    pub fn email_otp(&self) -> EmailOtp {
        let emails = self.emails.clone();
        EmailOtp::new(move |email: String, otp: String, purpose: OtpPurpose| {
            emails.lock().unwrap().push((email, otp, purpose));
            async { Ok(()) }
        })
        .delivery(DeliveryMode::Await(Duration::from_secs(5)))
    }

    /// The phone plugin, delivering here; accepts the fictional `+1555…` range.
    pub fn phone_number(&self) -> PhoneNumber {
        let sms = self.sms.clone();
        PhoneNumber::new(move |phone: String, message: String| {
            sms.lock().unwrap().push((phone, message));
            async { Ok(()) }
        })
        .validation(PhoneValidation::E164Shape)
        .delivery(DeliveryMode::Await(Duration::from_secs(5)))
    }
}

/// The test app: Kernia in front of a tiny inner service.
#[derive(Clone)]
pub struct App {
    pub layer: KerniaLayer,
    pub clock: ManualClock,
    pub outbox: Outbox,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// The `Set-Cookie` lines.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all(header::SET_COOKIE).iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    /// The `Set-Cookie` line for cookie `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find(|c| c.starts_with(&format!("{name}=")))
    }

    /// `name=value` pairs of the cookies set (not cleared), for a `Cookie` header.
    pub fn cookie_header(&self) -> String {
        self.set_cookies()
            .iter()
            .filter(|c| !c.contains("Max-Age=0"))
            .map(|c| c.split(';').next().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Asserts a Better Auth error body.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        assert_eq!(self.json()["code"], code, "body: {}", self.body);
        assert!(self.json()["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert_eq!(self.headers[header::CONTENT_TYPE], "application/json");
    }
}

impl App {
    /// Kernia with both plugins, a manual clock and capturing senders.
    pub fn new() -> Self {
        Self::with(|b| b)
    }

    /// Like [`App::new`], with the builder adjusted by `f`.
    pub fn with(f: impl FnOnce(KerniaBuilder) -> KerniaBuilder) -> Self {
        let outbox = Outbox::default();
        Self::with_plugins(outbox.email_otp(), outbox.phone_number(), outbox, f)
    }

    /// With plugins configured by the caller (made from `outbox`).
    pub fn with_plugins(
        email: EmailOtp,
        phone: PhoneNumber,
        outbox: Outbox,
        f: impl FnOnce(KerniaBuilder) -> KerniaBuilder,
    ) -> Self {
        let clock = ManualClock::new();
        let layer = f(builder().clock(clock.clone()).email_otp(email).phone_number(phone)).build().unwrap();
        Self { layer, clock, outbox }
    }

    /// The app's current (manual) time.
    pub fn clock_now(&self) -> time::OffsetDateTime {
        use kernia::clock::Clock;
        self.clock.now()
    }

    /// Moves the clock forward to the next instant `ms` milliseconds into a UTC minute.
    pub fn advance_to_ms_of_minute(&self, ms: i128) {
        let now_ms = self.clock_now().unix_timestamp_nanos() / 1_000_000;
        let wait = u64::try_from((ms - now_ms.rem_euclid(60_000)).rem_euclid(60_000)).unwrap();
        self.clock.advance(Duration::from_millis(wait));
    }

    /// Sends one request through a fresh service (`oneshot`).
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Reply {
        let service = self.layer.layer(tower::service_fn(inner));
        let response = service.oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// `POST /api/auth{path}` with a JSON body, the trusted `Origin` and `cookie` (may be empty).
    pub async fn post(&self, path: &str, body: Value, cookie: &str) -> Reply {
        self.send(post(path, &body, cookie)).await
    }

    /// `GET /api/auth{path}` with `cookie` (may be empty).
    pub async fn get(&self, path: &str, cookie: &str) -> Reply {
        self.send(get(path, cookie)).await
    }

    /// `POST /api/auth{path}` with a JSON body from TCP peer `ip` (for rate-limit tests).
    pub async fn post_from(&self, path: &str, body: Value, ip: &str) -> Reply {
        self.send(from_ip(post(path, &body, ""), ip)).await
    }

    /// Signs up `email` with `password`; returns the whole reply (asserted 200).
    pub async fn sign_up_reply(&self, email: &str, password: &str) -> Reply {
        let body = serde_json::json!({ "name": "Test", "email": email, "password": password });
        let reply = self.post("/sign-up/email", body, "").await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply
    }

    /// Signs up `email` with `password`; returns the session cookie header.
    pub async fn sign_up(&self, email: &str, password: &str) -> String {
        self.sign_up_reply(email, password).await.cookie_header()
    }

    /// Sends `requests` at once: one task each, released together by a
    /// barrier. The replies come back in the order of `requests`.
    pub async fn send_at_once(&self, requests: Vec<Request<Full<Bytes>>>) -> Vec<Reply> {
        let barrier = Arc::new(tokio::sync::Barrier::new(requests.len()));
        let tasks: Vec<_> = requests
            .into_iter()
            .map(|request| {
                let (app, barrier) = (self.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    app.send(request).await
                })
            })
            .collect();
        let mut replies = Vec::with_capacity(tasks.len());
        for task in tasks {
            replies.push(task.await.unwrap());
        }
        replies
    }
}

pub fn post(path: &str, body: &Value, cookie: &str) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/auth{path}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, ORIGIN);
    if !cookie.is_empty() {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Full::new(Bytes::from(body.to_string()))).unwrap()
}

/// Marks `request` as coming from TCP peer `ip`.
pub fn from_ip(mut request: Request<Full<Bytes>>, ip: &str) -> Request<Full<Bytes>> {
    let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
    request.extensions_mut().insert(ClientAddr(addr));
    request
}

/// [`post`] as a cross-site navigation (a form posted from another site).
pub fn cross_site_navigation(path: &str, body: &Value) -> Request<Full<Bytes>> {
    let mut request = post(path, body, "");
    request.headers_mut().insert("sec-fetch-site", http::HeaderValue::from_static("cross-site"));
    request.headers_mut().insert("sec-fetch-mode", http::HeaderValue::from_static("navigate"));
    request
}

/// The JSON type name of `value` as validation messages spell it.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub fn get(path: &str, cookie: &str) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().method(Method::GET).uri(format!("/api/auth{path}"));
    if !cookie.is_empty() {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

/// The inner service: `/hello` → "hello"; `/me` → the session user's email
/// via [`SessionHandle`] (401 without one); else 200 with the path.
pub async fn inner(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if path == "/me" {
        let handle = request.extensions().get::<SessionHandle>().cloned();
        let email = match handle {
            Some(handle) => handle.get().await.ok().flatten().map(|s| s.user.email.clone()),
            None => None,
        };
        let (status, body) = match email {
            Some(email) => (StatusCode::OK, email),
            None => (StatusCode::UNAUTHORIZED, String::new()),
        };
        return Ok(Response::builder().status(status).body(Full::new(Bytes::from(body))).unwrap());
    }
    let body = if path == "/hello" { "hello".to_owned() } else { path };
    Ok(Response::new(Full::new(Bytes::from(body))))
}

/// Wraps an arbitrary service (for pass-through tests).
pub fn wrap<S>(layer: &KerniaLayer, service: S) -> kernia::KerniaService<S>
where
    S: Service<Request<Full<Bytes>>>,
{
    layer.layer(service)
}
