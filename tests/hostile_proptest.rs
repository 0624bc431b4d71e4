//! Property tests through the public layer: arbitrary requests never panic
//! and never answer 5xx; bad bodies on auth endpoints answer 4xx with a
//! Better Auth error body carrying the exact framework `code`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use bytes::Bytes;
use common::{App, ORIGIN, Reply};
use http::{HeaderName, HeaderValue, Method, Request, header};
use http_body_util::Full;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;

/// Every POST path Kernia serves (core and both plugins; `POST /get-session`
/// reads its body, then answers 405).
const POST_PATHS: [&str; 24] = [
    "/sign-out",
    "/sign-up/email",
    "/sign-in/email",
    "/revoke-session",
    "/revoke-sessions",
    "/revoke-other-sessions",
    "/change-password",
    "/update-user",
    "/email-otp/send-verification-otp",
    "/email-otp/check-verification-otp",
    "/email-otp/verify-email",
    "/sign-in/email-otp",
    "/email-otp/request-password-reset",
    "/forget-password/email-otp",
    "/email-otp/reset-password",
    "/email-otp/request-email-change",
    "/email-otp/change-email",
    "/phone-number/send-otp",
    "/phone-number/verify",
    "/sign-in/phone-number",
    "/phone-number/request-password-reset",
    "/phone-number/reset-password",
    "/send-verification-email",
    "/get-session",
];
/// Every GET path.
const GET_PATHS: [&str; 3] = ["/ok", "/get-session", "/list-sessions"];

/// Formats every log event (into a sink), so the hostile input also goes
/// through the `Display` code of Kernia's log fields.
fn format_all_logs() {
    let sink = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_writer(std::io::sink);
    let _ = sink.try_init();
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "\\PC{0,16}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{0,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn auth_path() -> impl Strategy<Value = String> {
    let known: Vec<&str> = POST_PATHS.iter().chain(GET_PATHS.iter()).copied().collect();
    prop_oneof![
        prop::sample::select(known).prop_map(|p| format!("/api/auth{p}")),
        "[a-z/%.-]{0,24}".prop_map(|p| format!("/api/auth/{p}")),
        Just("/api/auth".to_owned()),
    ]
}

fn any_path() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => auth_path(),
        1 => "/[A-Za-z0-9/%._~-]{0,24}",
        1 => Just("/me".to_owned()),
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        4 => Just(Method::POST),
        2 => Just(Method::GET),
        1 => prop::sample::select(vec![Method::HEAD, Method::OPTIONS, Method::PUT, Method::DELETE]),
        1 => "[A-Z]{1,8}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

fn header() -> impl Strategy<Value = (HeaderName, Vec<u8>)> {
    let names = vec![
        header::COOKIE,
        header::ORIGIN,
        header::REFERER,
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        HeaderName::from_static("sec-fetch-site"),
        HeaderName::from_static("sec-fetch-mode"),
        HeaderName::from_static("x-forwarded-for"),
    ];
    let value = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..48),
        Just(ORIGIN.as_bytes().to_vec()),
        Just(b"application/json".to_vec()),
        Just(b"better-auth.session_token=abc.def%3D".to_vec()),
        "[0-9]{1,8}".prop_map(String::into_bytes),
    ];
    (prop::sample::select(names), value)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| v.to_string().into_bytes()),
    ]
}

/// Any request: method, path, a few headers (invalid values dropped), body.
fn request() -> impl Strategy<Value = Request<Full<Bytes>>> {
    (method(), any_path(), prop::collection::vec(header(), 0..5), body()).prop_map(
        |(method, path, headers, body)| {
            let mut request = Request::new(Full::new(Bytes::from(body)));
            *request.method_mut() = method;
            *request.uri_mut() = path.parse().unwrap_or_else(|_| "/api/auth/ok".parse().unwrap());
            for (name, value) in headers {
                if let Ok(value) = HeaderValue::from_bytes(&value) {
                    request.headers_mut().append(name, value);
                }
            }
            request
        },
    )
}

fn is_auth(path: &str) -> bool {
    path == "/api/auth" || path.starts_with("/api/auth/")
}

/// The Better Auth error body: `message`, and `code` when present is UPPER_SNAKE.
fn error_body(reply: &Reply) -> Result<Value, TestCaseError> {
    prop_assert_eq!(
        reply.headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    let json: Value = serde_json::from_str(&reply.body).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(json["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", reply.body);
    if let Some(code) = json.get("code") {
        let code = code.as_str().unwrap_or_default();
        prop_assert!(!code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'));
    }
    Ok(json)
}

fn check_any(path: &str, reply: &Reply) -> Result<(), TestCaseError> {
    prop_assert!(reply.status.as_u16() < 500, "{path} -> {} {}", reply.status, reply.body);
    if !is_auth(path) {
        let expected = if path == "/me" { "" } else { path };
        prop_assert_eq!(reply.body.as_str(), expected);
        return Ok(());
    }
    if reply.status == 404 {
        prop_assert_eq!(reply.body.as_str(), "");
    } else if reply.status.is_client_error() {
        error_body(reply)?;
    } else {
        prop_assert!(reply.status.is_success(), "{path} -> {}", reply.status);
        serde_json::from_str::<Value>(&reply.body).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    Ok(())
}

#[test]
fn arbitrary_requests_never_panic_or_answer_5xx() {
    format_all_logs();
    let app = App::with(|b| b.rate_limit(true));
    let runtime = runtime();
    let result = runner(256).run(&request(), |request| {
        let path = request.uri().path().to_owned();
        let reply = runtime.block_on(app.send(request));
        check_any(&path, &reply)
    });
    result.unwrap();
}

/// A body that is not JSON at all (it never parses).
fn not_json() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[{\\[\"]\\PC{0,32}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 1..64).prop_map(|mut b| {
            b.insert(0, b'{');
            b
        }),
    ]
    .prop_filter("must not parse", |b| serde_json::from_slice::<Value>(b).is_err())
}

fn post(path: &str, content_type: Option<&str>, body: Vec<u8>) -> Request<Full<Bytes>> {
    let mut builder = Request::post(format!("/api/auth{path}")).header(header::ORIGIN, ORIGIN);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

/// Sends each generated input to a random POST endpoint and checks the answer.
fn run_bodies<S>(strategy: S, check: impl Fn(&str, S::Value, &Reply) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: AsRequest,
{
    format_all_logs();
    let app = App::new();
    let runtime = runtime();
    let paths = prop::sample::select(POST_PATHS.to_vec());
    let result = runner(256).run(&(paths, strategy), |(path, input)| {
        let reply = runtime.block_on(app.send(input.to_request(path)));
        check(path, input, &reply)
    });
    result.unwrap();
}

/// How a case input becomes a request: raw bodies are sent as JSON.
trait AsRequest {
    fn to_request(&self, path: &str) -> Request<Full<Bytes>>;
}

impl AsRequest for Vec<u8> {
    fn to_request(&self, path: &str) -> Request<Full<Bytes>> {
        post(path, Some("application/json"), self.clone())
    }
}

impl AsRequest for (String, Vec<u8>) {
    fn to_request(&self, path: &str) -> Request<Full<Bytes>> {
        post(path, Some(&self.0), self.1.clone())
    }
}

impl AsRequest for Value {
    fn to_request(&self, path: &str) -> Request<Full<Bytes>> {
        post(path, Some("application/json"), self.to_string().into_bytes())
    }
}

#[test]
fn unparsable_json_answers_400_bad_request_everywhere() {
    run_bodies(not_json(), |_, _, reply| {
        prop_assert_eq!(reply.status.as_u16(), 400);
        let json = error_body(reply)?;
        prop_assert_eq!(&json["code"], "BAD_REQUEST");
        prop_assert_eq!(&json["message"], "Invalid JSON in request body");
        Ok(())
    });
}

#[test]
fn json_that_is_not_an_object_answers_400_validation_error() {
    let not_object = json_value().prop_filter("not an object", |v| !v.is_object());
    run_bodies(not_object, |path, value, reply| {
        if path == "/get-session" {
            // The body is read, then POST /get-session is refused whatever it holds.
            prop_assert_eq!(reply.status.as_u16(), 405);
            return Ok(());
        }
        prop_assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
        let json = error_body(reply)?;
        prop_assert_eq!(&json["code"], "VALIDATION_ERROR");
        let kind = if path == "/update-user" { "record" } else { "object" };
        let received = common::json_type(&value);
        let expected = format!("[body] Invalid input: expected {kind}, received {received}");
        prop_assert_eq!(json["message"].as_str(), Some(expected.as_str()));
        Ok(())
    });
}

#[test]
fn other_media_types_answer_415_naming_the_header() {
    let media = "(text|application|multipart|image)/[a-z+.-]{1,12}(; ?charset=[a-z0-9-]{1,8})?"
        .prop_filter("not JSON", |m| !m.split(';').next().unwrap().eq_ignore_ascii_case("application/json"));
    let case = (media, prop::collection::vec(any::<u8>(), 1..64));
    run_bodies(case, |_, (media, _), reply| {
        prop_assert_eq!(reply.status.as_u16(), 415);
        let json = error_body(reply)?;
        prop_assert_eq!(&json["code"], "UNSUPPORTED_MEDIA_TYPE");
        let expected = format!("Content-Type \"{media}\" is not allowed. Allowed types: application/json");
        prop_assert_eq!(json["message"].as_str(), Some(expected.as_str()));
        Ok(())
    });
}

/// A string for an identity field: any text, or something number-shaped
/// with other digit scripts and punctuation (libphonenumber's parser).
fn field_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,24}",
        "[+\u{FF0B}]?[0-9\u{FF10}-\u{FF19}\u{0660}-\u{0669} ()\\-.x#*;=]{0,40}",
        "[a-z0-9.+_'-]{0,12}@[a-z0-9.-]{0,12}",
    ]
}

/// Every string field filled with hostile text (the `type` enum kept valid
/// so the body gets past validation into the endpoints' own checks).
fn hostile_object() -> impl Strategy<Value = Value> {
    (field_text(), field_text(), field_text(), "\\PC{0,12}").prop_map(|(email, phone, code, name)| {
        serde_json::json!({
            "email": email, "newEmail": email, "phoneNumber": phone, "otp": code, "code": code,
            "token": code, "name": name, "type": "sign-in", "password": name,
            "newPassword": name, "currentPassword": name,
        })
    })
}

#[test]
fn hostile_field_text_never_fails_the_server() {
    run_bodies(hostile_object(), |path, _, reply| {
        prop_assert!(reply.status.as_u16() < 500, "{path} -> {} {}", reply.status, reply.body);
        if reply.status.is_client_error() {
            error_body(reply)?;
        }
        Ok(())
    });
}
