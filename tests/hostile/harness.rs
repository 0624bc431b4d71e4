//! The hostile-input harness, shared by the fuzz targets in `fuzz/` and by
//! `tests/hostile_regressions.rs`: it decodes bytes into a short script of
//! requests, sends them through a fresh `KerniaLayer`, and panics on any
//! answer that breaks the contract (a 5xx, a non-JSON auth answer, an error
//! without `message`, a pass-through request that was altered).
//!
//! Input format, one request per block, blocks separated by `\n===\n`:
//!
//! ```text
//! POST sign-in/email-otp              <- method and target; a target without a
//! content-type: application/json         leading `/` is taken under `/api/auth/`
//! origin: http://localhost:3000
//! cookie: {session}                   <- the cookies set by earlier answers
//! x-advance-secs: 3600                <- not sent: moves the clock first
//!
//! {"email":"a@example.com","otp":"{otp}"}
//! ```
//!
//! Bodies and header values may use `{otp}` (the last email code), `{sms}`
//! (the digits of the last SMS), `{session}` (the cookie jar as a `Cookie`
//! header) and `{token}` (the session token inside the session cookie).
#![allow(dead_code, unreachable_pub)]

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use kernia::clock::ManualClock;
use kernia::delivery::DeliveryMode;
use kernia::email_otp::EmailOtp;
use kernia::phone_number::PhoneNumber;
use kernia::{ClientAddr, KerniaLayer, SessionHandle};
use serde_json::Value;
use tower::{Layer, ServiceExt};

/// The base path the harness layer answers under.
pub const BASE: &str = "/api/auth";
/// The trusted origin (the base URL's).
pub const ORIGIN: &str = "http://localhost:3000";
const SECRET: &str = "kernia-hostile-harness-secret-0123456789abcdef";
const SESSION_COOKIE: &str = "better-auth.session_token";
/// Small, so short fuzz inputs reach the size cap too.
pub const MAX_BODY_BYTES: usize = 1024;
const MAX_REQUESTS: usize = 8;
const MAX_HEADERS: usize = 16;
const MAX_ADVANCE_SECS: u64 = 30 * 86_400;
const SEPARATOR: &[u8] = b"\n===\n";

/// One decoded request.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: Method,
    pub target: Vec<u8>,
    pub headers: Vec<(HeaderName, Vec<u8>)>,
    pub advance_secs: u64,
    pub body: Vec<u8>,
}

/// What one request was answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub set_cookies: Vec<String>,
    pub body: Vec<u8>,
}

/// Decodes fuzz bytes into at most [`MAX_REQUESTS`] calls.
pub fn decode(data: &[u8]) -> Vec<Call> {
    split(data, SEPARATOR).into_iter().take(MAX_REQUESTS).map(decode_call).collect()
}

fn decode_call(block: &[u8]) -> Call {
    let (head, body) = match find(block, b"\n\n") {
        Some(at) => (&block[..at], &block[at + 2..]),
        None => (block, &b""[..]),
    };
    let mut lines = split(head, b"\n").into_iter().map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let request_line = lines.next().unwrap_or_default();
    let (method, target) = match find(request_line, b" ") {
        Some(at) => (&request_line[..at], &request_line[at + 1..]),
        None => (&b"GET"[..], request_line),
    };
    let mut call = Call {
        method: Method::from_bytes(method).unwrap_or(Method::GET),
        target: target.trim_ascii().to_vec(),
        headers: Vec::new(),
        advance_secs: 0,
        body: body.to_vec(),
    };
    for line in lines.take(MAX_HEADERS) {
        let Some(at) = find(line, b":") else { continue };
        let Ok(name) = HeaderName::from_bytes(line[..at].trim_ascii()) else { continue };
        let value = line[at + 1..].trim_ascii().to_vec();
        if name == "x-advance-secs" {
            let secs = std::str::from_utf8(&value).ok().and_then(|s| s.parse::<u64>().ok());
            call.advance_secs = secs.unwrap_or(0).min(MAX_ADVANCE_SECS);
        } else {
            call.headers.push((name, value));
        }
    }
    call
}

/// The request target as a URI: bytes a client would have to escape are
/// percent-encoded (an HTTP server never passes them raw), and a target
/// without a leading `/` goes under the base path.
pub fn target_uri(target: &[u8]) -> Option<Uri> {
    let mut text = String::new();
    let absolute = target.starts_with(b"/") || target == b"*" || find(target, b"://").is_some();
    if !absolute {
        text.push_str(BASE);
        text.push('/');
    }
    for &byte in target {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%#".contains(&byte) {
            text.push(char::from(byte));
        } else {
            text.push_str(&format!("%{byte:02X}"));
        }
    }
    Uri::try_from(text).ok()
}

/// Whether `path` is answered by Kernia rather than passed through.
pub fn is_under_base(path: &str) -> bool {
    path.strip_prefix(BASE).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Codes captured from the senders, newest last.
#[derive(Clone, Default)]
struct Outbox {
    email: Arc<Mutex<Vec<String>>>,
    sms: Arc<Mutex<Vec<String>>>,
}

impl Outbox {
    fn last_email(&self) -> String {
        self.email.lock().map(|codes| codes.last().cloned().unwrap_or_default()).unwrap_or_default()
    }

    fn last_sms(&self) -> String {
        let message = self.sms.lock().map(|m| m.last().cloned().unwrap_or_default()).unwrap_or_default();
        message.chars().filter(char::is_ascii_digit).collect()
    }
}

/// A fresh Kernia (memory store, rate limits on, both plugins) with a
/// manual clock, capturing senders and a cookie jar.
pub struct Harness {
    layer: KerniaLayer,
    clock: ManualClock,
    outbox: Outbox,
    jar: Vec<(String, String)>,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        let outbox = Outbox::default();
        let clock = ManualClock::new();
        let layer = KerniaLayer::builder()
            .secret(SECRET)
            .base_url(ORIGIN)
            .clock(clock.clone())
            .rate_limit(true)
            .max_body_bytes(MAX_BODY_BYTES)
            .ip_address_headers(["x-forwarded-for"])
            .email_otp(email_plugin(&outbox))
            .phone_number(phone_plugin(&outbox))
            .build()
            .expect("the harness configuration is valid");
        Self { layer, clock, outbox, jar: Vec::new() }
    }

    /// Sends every decoded call in order, checking each answer; returns them.
    pub async fn run(&mut self, calls: &[Call]) -> Vec<Answer> {
        let mut answers = Vec::new();
        for call in calls {
            let Some(uri) = target_uri(&call.target) else { continue };
            self.clock.advance(Duration::from_secs(call.advance_secs));
            let request = self.request(call, uri.clone());
            let answer = self.send(request).await;
            check(call, &uri, &answer);
            self.remember_cookies(&answer);
            answers.push(answer);
        }
        answers
    }

    fn request(&self, call: &Call, uri: Uri) -> Request<Full<Bytes>> {
        let mut request = Request::new(Full::new(Bytes::from(self.fill(&call.body))));
        *request.method_mut() = call.method.clone();
        *request.uri_mut() = uri;
        for (name, value) in &call.headers {
            if let Ok(value) = HeaderValue::from_bytes(&self.fill(value)) {
                request.headers_mut().append(name.clone(), value);
            }
        }
        request.extensions_mut().insert(ClientAddr(SocketAddr::from(([127, 0, 0, 1], 40_000))));
        request
    }

    /// Replaces the placeholders with what earlier answers produced.
    fn fill(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        for (placeholder, value) in [
            (&b"{otp}"[..], self.outbox.last_email()),
            (b"{sms}", self.outbox.last_sms()),
            (b"{session}", self.cookie_header()),
            (b"{token}", self.session_token()),
        ] {
            out = replace(&out, placeholder, value.as_bytes());
        }
        out
    }

    fn cookie_header(&self) -> String {
        self.jar.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ")
    }

    fn session_token(&self) -> String {
        let raw = self.jar.iter().find(|(name, _)| name == SESSION_COOKIE).map(|(_, v)| v.as_str());
        raw.and_then(|v| v.split_once('.')).map(|(token, _)| token.to_owned()).unwrap_or_default()
    }

    fn remember_cookies(&mut self, answer: &Answer) {
        for line in &answer.set_cookies {
            let pair = line.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else { continue };
            self.jar.retain(|(n, _)| n != name);
            if !line.contains("Max-Age=0") {
                self.jar.push((name.to_owned(), value.to_owned()));
            }
        }
    }

    async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        let service = self.layer.layer(tower::service_fn(inner));
        let response = service.oneshot(request).await.unwrap_or_else(|never: Infallible| match never {});
        let (parts, body) = response.into_parts();
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes().to_vec(),
            Err(never) => match never {},
        };
        let text = |v: &HeaderValue| String::from_utf8_lossy(v.as_bytes()).into_owned();
        Answer {
            status: parts.status,
            content_type: parts.headers.get(header::CONTENT_TYPE).map(text),
            set_cookies: parts.headers.get_all(header::SET_COOKIE).iter().map(text).collect(),
            body,
        }
    }
}

fn email_plugin(outbox: &Outbox) -> EmailOtp {
    let codes = outbox.email.clone();
    EmailOtp::new(move |_email: String, otp: String, _purpose| {
        if let Ok(mut codes) = codes.lock() {
            codes.push(otp);
        }
        async { Ok(()) }
    })
    .change_email(true)
    .override_default_email_verification(true)
    .delivery(DeliveryMode::Await(Duration::from_secs(1)))
}

fn phone_plugin(outbox: &Outbox) -> PhoneNumber {
    let messages = outbox.sms.clone();
    PhoneNumber::new(move |_phone: String, message: String| {
        if let Ok(mut messages) = messages.lock() {
            messages.push(message);
        }
        async { Ok(()) }
    })
    .delivery(DeliveryMode::Await(Duration::from_secs(1)))
}

/// The app behind Kernia: `/me` answers the session user's email (401
/// without one); anything else echoes its path.
async fn inner(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    if path != "/me" {
        return Ok(Response::new(Full::new(Bytes::from(path))));
    }
    let handle = request.extensions().get::<SessionHandle>().cloned();
    let email = match handle {
        Some(handle) => handle.get().await.ok().flatten().map(|s| s.user.email.clone()),
        None => None,
    };
    let mut response = Response::new(Full::new(Bytes::from(email.clone().unwrap_or_default())));
    if email.is_none() {
        *response.status_mut() = StatusCode::UNAUTHORIZED;
    }
    Ok(response)
}

/// The contract every answer keeps, whatever the request.
pub fn check(call: &Call, uri: &Uri, answer: &Answer) {
    let shown = String::from_utf8_lossy(&answer.body);
    let context = || format!("{} {uri} -> {} {shown:?}", call.method, answer.status);
    let status = answer.status.as_u16();
    assert!(status < 500, "server error: {}", context());
    if !is_under_base(uri.path()) {
        check_pass_through(uri, answer, &context());
        return;
    }
    if status == 404 {
        assert!(answer.body.is_empty(), "a 404 has an empty body: {}", context());
        return;
    }
    assert!(answer.status.is_success() || answer.status.is_client_error(), "{}", context());
    assert_eq!(answer.content_type.as_deref(), Some("application/json"), "{}", context());
    let json: Value = serde_json::from_slice(&answer.body)
        .unwrap_or_else(|e| panic!("auth answer is not JSON ({e}): {}", context()));
    if answer.status.is_client_error() {
        check_error_body(&json, &context());
    }
}

fn check_pass_through(uri: &Uri, answer: &Answer, context: &str) {
    if uri.path() == "/me" {
        assert!(matches!(answer.status.as_u16(), 200 | 401), "{context}");
    } else {
        assert_eq!(answer.status, StatusCode::OK, "{context}");
        assert_eq!(answer.body, uri.path().as_bytes(), "pass-through body altered: {context}");
    }
    assert!(answer.set_cookies.is_empty(), "pass-through answer sets cookies: {context}");
}

/// `{"message": "...", "code": "UPPER_SNAKE"}`, `code` absent for message-only errors.
pub fn check_error_body(json: &Value, context: &str) {
    let message = json.get("message").and_then(Value::as_str);
    assert!(message.is_some_and(|m| !m.is_empty()), "error without message: {context}");
    if let Some(code) = json.get("code") {
        let code = code.as_str().unwrap_or_default();
        let upper_snake = !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
        assert!(upper_snake, "error code is not UPPER_SNAKE: {context}");
    }
}

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// Every log event is formatted (into a sink), so the fuzzer also runs the
/// `Display` code behind Kernia's log fields, e.g. the recipient masking.
fn format_all_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let sink = tracing_subscriber::fmt()
            .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
            .with_writer(std::io::sink);
        let _ = sink.try_init();
    });
}

/// Decodes and runs `data` on this thread's current-thread runtime.
pub fn run_bytes(data: &[u8]) -> Vec<Answer> {
    format_all_logs();
    let calls = decode(data);
    RUNTIME.with(|cell| {
        let mut slot = cell.borrow_mut();
        let runtime = slot.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
        });
        runtime.block_on(async { Harness::new().run(&calls).await })
    })
}

/// The cookie target: `data` is a `Cookie` header (with `{session}` standing
/// for a real session cookie), sent to the session readers after an email
/// code sign-in.
pub fn run_cookie_bytes(data: &[u8]) -> Vec<Answer> {
    let mut script =
        Vec::from(&b"POST email-otp/send-verification-otp\ncontent-type: application/json\n\n"[..]);
    script.extend_from_slice(br#"{"email":"fuzz@example.com","type":"sign-in"}"#);
    script.extend_from_slice(b"\n===\nPOST sign-in/email-otp\ncontent-type: application/json\n\n");
    script.extend_from_slice(br#"{"email":"fuzz@example.com","otp":"{otp}"}"#);
    let cookie: Vec<u8> = data.iter().copied().filter(|&b| b != b'\n').collect();
    for target in ["get-session", "/me", "list-sessions", "sign-out"] {
        let method = if target == "sign-out" { "POST" } else { "GET" };
        script.extend_from_slice(format!("\n===\n{method} {target}\norigin: {ORIGIN}\ncookie: ").as_bytes());
        script.extend_from_slice(&cookie);
        script.push(b'\n');
    }
    run_bytes(&script)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut data: &'a [u8], separator: &[u8]) -> Vec<&'a [u8]> {
    let mut parts = Vec::new();
    while let Some(at) = find(data, separator) {
        parts.push(&data[..at]);
        data = &data[at + separator.len()..];
    }
    parts.push(data);
    parts
}

fn replace(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    split(data, from).join(to)
}
