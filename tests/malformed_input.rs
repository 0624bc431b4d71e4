//! The malformed-input matrix: every endpoint × every kind of bad input
//! (broken or mistyped bodies, missing and mistyped fields, control
//! characters, overlong and unicode addresses, oversize and deeply nested
//! bodies, bad cookies and query strings) answers the exact Better Auth error,
//! and the server still signs people up and in afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;

use std::cell::Cell;

use bytes::Bytes;
use common::{App, ORIGIN, Outbox, Reply, json_type};
use http::{Request, header};
use http_body_util::Full;
use kernia::phone_number::PhoneValidation;
use serde_json::{Map, Value, json};

/// How an endpoint takes its body.
#[derive(Debug, Clone, Copy, PartialEq)]
enum BodyKind {
    /// An object is required.
    Object,
    /// Absent counts as `{}`.
    OptionalObject,
    /// Any object (`/update-user`), reported as a "record".
    Record,
    /// `POST /get-session`: read, then refused with 405.
    Refused,
}

/// A schema field.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Str,
    /// The `type` enum of the email OTP endpoints.
    OtpType,
    OptStr,
    /// A string or `null`.
    NullableStr,
    OptBool,
    /// A callback URL, checked by the origin check before validation.
    Callback,
}

/// Which field carries the address, what kind it is, and the answers to a
/// malformed one and to a well-formed one that belongs to nobody.
#[derive(Debug, Clone, Copy)]
struct Identity {
    field: &'static str,
    kind: Address,
    malformed: (u16, &'static str),
    unknown: (u16, &'static str),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Address {
    /// Checked by the schema (`z.email()`) on the raw input.
    SchemaEmail,
    /// Lower-cased, then checked against the email pattern.
    Email,
    Phone,
}

#[derive(Debug)]
struct Endpoint {
    path: &'static str,
    body: BodyKind,
    fields: &'static [(&'static str, Kind)],
    identity: Option<Identity>,
}

const fn id(
    field: &'static str,
    kind: Address,
    malformed: (u16, &'static str),
    unknown: (u16, &'static str),
) -> Option<Identity> {
    Some(Identity { field, kind, malformed, unknown })
}

const OK: (u16, &str) = (200, "");
const INVALID_EMAIL: (u16, &str) = (400, "INVALID_EMAIL");
const INVALID_OTP: (u16, &str) = (400, "INVALID_OTP");
const VALIDATION: (u16, &str) = (400, "VALIDATION_ERROR");
const INVALID_PHONE: (u16, &str) = (400, "INVALID_PHONE_NUMBER");
const OTP_NOT_FOUND: (u16, &str) = (400, "OTP_NOT_FOUND");

use Address::{Email, Phone, SchemaEmail};
use BodyKind::{Object, OptionalObject, Record, Refused};
use Kind::{Callback, NullableStr, OptBool, OptStr, OtpType, Str};

/// Every POST endpoint Kernia serves (src/router.rs), with its schema.
const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        path: "/sign-up/email",
        body: Object,
        fields: &[
            ("name", Str),
            ("email", Str),
            ("password", Str),
            ("image", OptStr),
            ("callbackURL", Callback),
            ("rememberMe", OptBool),
        ],
        identity: id("email", SchemaEmail, VALIDATION, OK),
    },
    Endpoint {
        path: "/sign-in/email",
        body: Object,
        fields: &[("email", Str), ("password", Str), ("callbackURL", Callback), ("rememberMe", OptBool)],
        identity: id("email", Email, INVALID_EMAIL, (401, "INVALID_EMAIL_OR_PASSWORD")),
    },
    Endpoint { path: "/sign-out", body: OptionalObject, fields: &[], identity: None },
    Endpoint { path: "/revoke-session", body: Object, fields: &[("token", Str)], identity: None },
    Endpoint { path: "/revoke-sessions", body: OptionalObject, fields: &[], identity: None },
    Endpoint { path: "/revoke-other-sessions", body: OptionalObject, fields: &[], identity: None },
    Endpoint {
        path: "/change-password",
        body: Object,
        fields: &[("newPassword", Str), ("currentPassword", Str), ("revokeOtherSessions", OptBool)],
        identity: None,
    },
    Endpoint {
        path: "/update-user",
        body: Record,
        fields: &[("name", OptStr), ("image", NullableStr)],
        identity: None,
    },
    Endpoint { path: "/get-session", body: Refused, fields: &[], identity: None },
    Endpoint {
        path: "/email-otp/send-verification-otp",
        body: Object,
        fields: &[("email", Str), ("type", OtpType)],
        identity: id("email", Email, INVALID_EMAIL, OK),
    },
    Endpoint {
        path: "/email-otp/check-verification-otp",
        body: Object,
        fields: &[("email", Str), ("type", OtpType), ("otp", Str)],
        identity: id("email", Email, INVALID_EMAIL, INVALID_OTP),
    },
    Endpoint {
        path: "/email-otp/verify-email",
        body: Object,
        fields: &[("email", Str), ("otp", Str)],
        identity: id("email", Email, INVALID_EMAIL, INVALID_OTP),
    },
    Endpoint {
        path: "/sign-in/email-otp",
        body: Object,
        fields: &[("email", Str), ("otp", Str), ("name", OptStr), ("image", OptStr)],
        // No email-format check here (email-otp.md §4.4): a bad address has no code.
        identity: id("email", Email, INVALID_OTP, INVALID_OTP),
    },
    Endpoint {
        path: "/email-otp/request-password-reset",
        body: Object,
        fields: &[("email", Str)],
        identity: id("email", Email, INVALID_EMAIL, OK),
    },
    Endpoint {
        path: "/forget-password/email-otp",
        body: Object,
        fields: &[("email", Str)],
        identity: id("email", Email, INVALID_EMAIL, OK),
    },
    Endpoint {
        path: "/email-otp/reset-password",
        body: Object,
        fields: &[("email", Str), ("otp", Str), ("password", Str)],
        identity: id("email", Email, INVALID_EMAIL, INVALID_OTP),
    },
    Endpoint {
        path: "/email-otp/request-email-change",
        body: Object,
        fields: &[("newEmail", Str), ("otp", OptStr)],
        identity: id("newEmail", Email, INVALID_EMAIL, OK),
    },
    Endpoint {
        path: "/email-otp/change-email",
        body: Object,
        fields: &[("newEmail", Str), ("otp", Str)],
        identity: id("newEmail", Email, INVALID_EMAIL, INVALID_OTP),
    },
    Endpoint {
        path: "/send-verification-email",
        body: Object,
        fields: &[("email", Str), ("callbackURL", Callback)],
        identity: id("email", SchemaEmail, VALIDATION, OK),
    },
    Endpoint {
        path: "/phone-number/send-otp",
        body: Object,
        fields: &[("phoneNumber", Str)],
        identity: id("phoneNumber", Phone, INVALID_PHONE, OK),
    },
    Endpoint {
        path: "/phone-number/verify",
        body: Object,
        fields: &[
            ("phoneNumber", Str),
            ("code", Str),
            ("disableSession", OptBool),
            ("updatePhoneNumber", OptBool),
        ],
        identity: id("phoneNumber", Phone, OTP_NOT_FOUND, OTP_NOT_FOUND),
    },
    Endpoint {
        path: "/sign-in/phone-number",
        body: Object,
        fields: &[("phoneNumber", Str), ("password", Str), ("rememberMe", OptBool)],
        identity: id("phoneNumber", Phone, INVALID_PHONE, (401, "INVALID_PHONE_NUMBER_OR_PASSWORD")),
    },
    Endpoint {
        path: "/phone-number/request-password-reset",
        body: Object,
        fields: &[("phoneNumber", Str)],
        // The same answer for any number (phone-number.md §4.4).
        identity: id("phoneNumber", Phone, OK, OK),
    },
    Endpoint {
        path: "/phone-number/reset-password",
        body: Object,
        fields: &[("phoneNumber", Str), ("otp", Str), ("newPassword", Str)],
        identity: id("phoneNumber", Phone, OTP_NOT_FOUND, OTP_NOT_FOUND),
    },
];

/// The answer a case expects: status, `code` (`None` = no code key) and,
/// when given, the exact message.
#[derive(Debug, Clone, PartialEq)]
struct Expect {
    status: u16,
    code: Option<&'static str>,
    message: Option<String>,
}

fn expect((status, code): (u16, &'static str)) -> Expect {
    Expect { status, code: (!code.is_empty()).then_some(code), message: None }
}

fn expect_message(status: u16, code: Option<&'static str>, message: impl Into<String>) -> Expect {
    Expect { status, code, message: Some(message.into()) }
}

/// One row of the matrix: what is sent and what must come back.
#[derive(Clone)]
struct Case {
    name: String,
    content_type: Option<String>,
    body: Vec<u8>,
    content_length: Option<&'static str>,
    /// Better Auth's answer.
    expect: Expect,
    /// Kernia's answer where it knowingly differs from Better Auth's
    /// (reported to the lead; remove it when Kernia is fixed).
    deviation: Option<Expect>,
}

impl Case {
    fn json(name: impl Into<String>, body: &Value, expect: Expect) -> Self {
        Self::raw(name, Some("application/json"), body.to_string().into_bytes(), expect)
    }

    fn raw(name: impl Into<String>, content_type: Option<&str>, body: Vec<u8>, expect: Expect) -> Self {
        let content_type = content_type.map(str::to_owned);
        Self { name: name.into(), content_type, body, content_length: None, expect, deviation: None }
    }
}

thread_local! {
    static UNIQUE: Cell<u32> = const { Cell::new(0) };
}

/// A number no other case used, so no case sees another's codes or users.
fn unique() -> u32 {
    UNIQUE.with(|n| {
        n.set(n.get() + 1);
        n.get()
    })
}

/// A valid value for a field, unique where it names a person.
fn valid(field: &str) -> Value {
    let n = unique();
    match field {
        "name" => json!("Matrix"),
        "email" => json!(format!("matrix{n}@example.com")),
        "newEmail" => json!(format!("new{n}@example.com")),
        "password" | "newPassword" | "currentPassword" => json!("password123"),
        "otp" | "code" => json!("000000"),
        "type" => json!("sign-in"),
        "token" => json!("not-a-session-token"),
        "phoneNumber" => json!(uk_number(n)),
        "image" => json!("https://img.example.com/a.png"),
        "callbackURL" => json!("/welcome"),
        _ => json!(false),
    }
}

/// A valid London number (libphonenumber's strict check accepts it).
fn uk_number(n: u32) -> String {
    format!("+44207183{:04}", n % 10_000)
}

fn base_body(endpoint: &Endpoint) -> Map<String, Value> {
    endpoint.fields.iter().map(|(name, _)| ((*name).to_owned(), valid(name))).collect()
}

const VALIDATION_ERROR: Option<&str> = Some("VALIDATION_ERROR");
const OTP_TYPES: &str = r#""email-verification"|"sign-in"|"forget-password"|"change-email""#;

/// What an endpoint answers to a whole body of the wrong JSON type (or none).
fn whole_body_answer(endpoint: &Endpoint, received: &str) -> Expect {
    match endpoint.body {
        Refused => expect_message(405, Some("METHOD_NOT_ALLOWED_DEFER_SESSION_REQUIRED"), POST_GET_SESSION),
        Record => expect_message(
            400,
            VALIDATION_ERROR,
            format!("[body] Invalid input: expected record, received {received}"),
        ),
        OptionalObject if received == "undefined" => expect(OK),
        _ => expect_message(
            400,
            VALIDATION_ERROR,
            format!("[body] Invalid input: expected object, received {received}"),
        ),
    }
}

const POST_GET_SESSION: &str = "POST method requires deferSessionRefresh to be enabled in session config";
const MAX_BODY: usize = 64 * 1024;

/// Broken bodies: the same answers on every endpoint (spec core.md §2).
fn framework_cases(endpoint: &Endpoint) -> Vec<Case> {
    let body = Value::Object(base_body(endpoint)).to_string().into_bytes();
    let mut cases = [broken_json_cases(&body), media_cases(endpoint, &body), size_cases(&body)].concat();
    let empty = whole_body_answer(endpoint, "undefined");
    cases.push(Case::raw("empty body", Some(JSON), Vec::new(), empty.clone()));
    cases.push(Case::raw("empty body, no content type", None, Vec::new(), empty));
    for value in [json!([]), json!([{"email": "a@b.co"}]), json!(42), json!(null), json!("x"), json!(true)] {
        let answer = whole_body_answer(endpoint, json_type(&value));
        cases.push(Case::json(format!("body is {value}"), &value, answer));
    }
    cases
}

const JSON: &str = "application/json";

/// Stricter than Better Auth, whose `request.json()` drops a byte order mark,
/// replaces invalid UTF-8 and parses any depth: Kernia refuses all three.
fn broken_json_cases(valid_body: &[u8]) -> Vec<Case> {
    let bad = || expect_message(400, Some("BAD_REQUEST"), "Invalid JSON in request body");
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    let bodies: [(&str, Vec<u8>); 6] = [
        ("truncated JSON", b"{\"email\":".to_vec()),
        ("not JSON at all", b"email=a@b.co".to_vec()),
        ("invalid UTF-8 in a string", b"{\"email\":\"\xff\xfe\"}".to_vec()),
        ("raw control character in a string", b"{\"name\":\"a\x01b\"}".to_vec()),
        ("byte order mark", [&b"\xef\xbb\xbf"[..], valid_body].concat()),
        ("JSON nested 10000 deep", deep),
    ];
    bodies.into_iter().map(|(name, body)| Case::raw(name, Some(JSON), body, bad())).collect()
}

fn media_cases(endpoint: &Endpoint, valid_body: &[u8]) -> Vec<Case> {
    let refused = |raw: &str| {
        let message = format!("Content-Type \"{raw}\" is not allowed. Allowed types: application/json");
        expect_message(415, Some("UNSUPPORTED_MEDIA_TYPE"), message)
    };
    let mut cases: Vec<Case> = ["text/plain", "application/vnd.api+json", "multipart/form-data; boundary=x"]
        .into_iter()
        .map(|media| Case::raw(media, Some(media), valid_body.to_vec(), refused(media)))
        .collect();
    cases.push(form_case(endpoint, refused("application/x-www-form-urlencoded")));
    let required = "Content-Type is required. Allowed types: application/json";
    let missing = expect_message(415, Some("UNSUPPORTED_MEDIA_TYPE"), required);
    cases.push(Case::raw("no content type", None, valid_body.to_vec(), missing));
    cases
}

/// Over the 64 KiB cap, sent or only declared (a Kernia decision, D-table
/// "request body size"; Better Auth has no cap).
fn size_cases(valid_body: &[u8]) -> Vec<Case> {
    let too_large = || expect_message(413, Some("PAYLOAD_TOO_LARGE"), "Request body is too large");
    let mut oversize = b"{\"name\":\"".to_vec();
    oversize.resize(MAX_BODY + 1, b'a');
    let declared = Case::raw("declared oversize", Some(JSON), valid_body.to_vec(), too_large());
    vec![
        Case::raw("oversize body", Some(JSON), oversize, too_large()),
        Case { content_length: Some("10000000"), ..declared },
    ]
}

/// Better Auth reads form bodies on the two password endpoints (core.md §2,
/// a MAY); Kernia answers 415 there as everywhere else.
fn form_case(endpoint: &Endpoint, refused: Expect) -> Case {
    let form = Some("application/x-www-form-urlencoded");
    let missing = |fields: &[&str]| {
        let issues: Vec<String> = fields
            .iter()
            .map(|f| format!("[body.{f}] Invalid input: expected string, received undefined"))
            .collect();
        expect_message(400, VALIDATION_ERROR, issues.join("; "))
    };
    let better_auth = match endpoint.path {
        "/sign-up/email" => missing(&["name", "password"]),
        "/sign-in/email" => missing(&["password"]),
        _ => return Case::raw("form body", form, b"email=a%40b.co".to_vec(), refused),
    };
    Case { deviation: Some(refused), ..Case::raw("form body", form, b"email=a%40b.co".to_vec(), better_auth) }
}

/// Missing and mistyped fields: zod's message for exactly that field.
fn field_cases(endpoint: &Endpoint) -> Vec<Case> {
    if endpoint.body == Refused {
        return Vec::new();
    }
    let mut cases = callback_cases(endpoint);
    for &(field, kind) in endpoint.fields {
        let issue = |received: &str| match kind {
            OtpType => format!("[body.{field}] Invalid option: expected one of {OTP_TYPES}"),
            OptBool => format!("[body.{field}] Invalid input: expected boolean, received {received}"),
            _ => format!("[body.{field}] Invalid input: expected string, received {received}"),
        };
        let answer = |received: &str| match kind {
            Callback => expect_message(400, None, format!("Invalid {field}: expected a string")),
            _ => expect_message(400, VALIDATION_ERROR, issue(received)),
        };
        if matches!(kind, Str | OtpType) {
            let mut body = base_body(endpoint);
            body.remove(field);
            cases.push(Case::json(format!("{field} missing"), &Value::Object(body), answer("undefined")));
        }
        let wrong = [json!(42), json!(["a@b.co"]), json!({"a": 1}), json!(null), json!(true), json!("yes")];
        for value in wrong {
            let valid_here = match kind {
                // Falsy callback URLs: see `callback_cases`.
                Callback => value.is_string() || value.is_null(),
                OtpType => false,
                OptBool => value.is_boolean(),
                NullableStr => value.is_null() || value.is_string(),
                _ => value.is_string(),
            };
            if valid_here {
                continue;
            }
            let mut body = base_body(endpoint);
            body.insert(field.to_owned(), value.clone());
            cases.push(Case::json(
                format!("{field} = {value}"),
                &Value::Object(body),
                answer(json_type(&value)),
            ));
        }
    }
    cases
}

/// Better Auth's origin check skips falsy callback URLs (`if (!url) return`
/// in `origin-check.ts`), so `null` meets the schema and `""` is accepted;
/// Kernia does the same.
fn callback_cases(endpoint: &Endpoint) -> Vec<Case> {
    if !endpoint.fields.iter().any(|(_, kind)| *kind == Callback) {
        return Vec::new();
    }
    let with = |value: Value| {
        let mut body = base_body(endpoint);
        body.insert("callbackURL".to_owned(), value);
        Value::Object(body)
    };
    let unknown = endpoint.identity.map_or(OK, |identity| identity.unknown);
    let schema = "[body.callbackURL] Invalid input: expected string, received null";
    vec![
        Case::json("callbackURL = null", &with(json!(null)), expect_message(400, VALIDATION_ERROR, schema)),
        Case::json("callbackURL = \"\"", &with(json!("")), expect(unknown)),
    ]
}

/// Addresses no address check accepts: control characters, NUL, unicode.
fn malformed_emails() -> Vec<(&'static str, String)> {
    vec![
        ("bell in email", "mat\u{7}rix@example.com".to_owned()),
        ("NUL in email", "matrix\u{0}@example.com".to_owned()),
        ("newline in email", "matrix@example.com\n".to_owned()),
        ("emoji in email", "\u{1F600}matrix@example.com".to_owned()),
        ("RTL override in email", "\u{202E}matrix@example.com".to_owned()),
        ("zero-width space in email", "matrix\u{200B}@example.com".to_owned()),
        ("fullwidth email", "\u{FF4D}\u{FF41}\u{FF54}rix@example.com".to_owned()),
        ("Cyrillic homoglyph in email", "m\u{0430}trix@example.com".to_owned()),
        ("unicode domain", "matrix@b\u{00FC}cher.de".to_owned()),
        ("10 kB without @", "a".repeat(10_000)),
        ("empty email", String::new()),
    ]
}

/// Well-formed addresses that are merely odd: they must behave like any
/// unknown address, whatever their length.
fn odd_emails(n: u32) -> Vec<(&'static str, String)> {
    vec![
        ("255-character email", format!("{n:a>243}@example.com")),
        ("10 kB email", format!("{n:a>10000}@example.com")),
        ("upper-case email", format!("MATRIX{n}@EXAMPLE.COM")),
    ]
}

fn malformed_phones() -> Vec<(&'static str, String)> {
    vec![
        ("bell in phone", "+44207183\u{7}8750".to_owned()),
        ("emoji in phone", "+44\u{1F4DE}2071838750".to_owned()),
        ("letters in phone", "+44-CALL-NOW".to_owned()),
        ("fullwidth digits", "\u{FF0B}\u{FF14}\u{FF14}\u{FF12}\u{FF10}\u{FF17}\u{FF11}\u{FF18}\u{FF13}\u{FF18}\u{FF17}\u{FF15}\u{FF10}".to_owned()),
        ("10 kB phone", format!("+{}", "4".repeat(10_000))),
        ("empty phone", String::new()),
    ]
}

/// Numbers libphonenumber reads as valid (junk before and after a number
/// is cut off), so each one is just its E.164 form.
fn odd_phones(n: u32) -> Vec<(&'static str, String)> {
    vec![
        ("valid number with spaces", spaced(&uk_number(n))),
        ("NUL after the number", format!("{}\u{0}", uk_number(n + 1))),
        ("RTL override before the number", format!("\u{202E}{}", uk_number(n + 2))),
    ]
}

fn identity_cases(endpoint: &Endpoint) -> Vec<Case> {
    let Some(identity) = endpoint.identity else { return Vec::new() };
    let with = |value: String| {
        let mut body = base_body(endpoint);
        body.insert(identity.field.to_owned(), json!(value));
        Value::Object(body)
    };
    let malformed = match identity.kind {
        SchemaEmail => {
            expect_message(400, VALIDATION_ERROR, format!("[body.{}] Invalid email address", identity.field))
        }
        _ => expect(identity.malformed),
    };
    let (bad, odd) = match identity.kind {
        Phone => (malformed_phones(), odd_phones(unique() * 10)),
        _ => (malformed_emails(), odd_emails(unique())),
    };
    let mut cases: Vec<Case> =
        bad.into_iter().map(|(name, v)| Case::json(name, &with(v), malformed.clone())).collect();
    for (name, value) in odd {
        cases.push(Case::json(name, &with(value), expect(identity.unknown)));
    }
    // U+212A KELVIN SIGN lower-cases to an ASCII "k": valid after lower-casing, not before.
    if identity.kind != Phone {
        let kelvin = format!("\u{212A}elvin{}@example.com", unique());
        let answer = if identity.kind == SchemaEmail { malformed } else { expect(identity.unknown) };
        cases.push(Case::json("Kelvin sign in email", &with(kelvin), answer));
    }
    cases
}

fn spaced(number: &str) -> String {
    format!("{} {} {} {}", &number[..3], &number[3..5], &number[5..9], &number[9..])
}

/// Sends one case with the trusted origin and a fresh session cookie.
async fn send(app: &App, path: &str, case: &Case, cookie: &str) -> Reply {
    let mut builder = Request::post(format!("/api/auth{path}"))
        .header(header::ORIGIN, ORIGIN)
        .header(header::COOKIE, cookie);
    if let Some(content_type) = &case.content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    if let Some(length) = case.content_length {
        builder = builder.header(header::CONTENT_LENGTH, length);
    }
    app.send(builder.body(Full::new(Bytes::from(case.body.clone()))).unwrap()).await
}

/// A mismatch between the answer and the expectation, if any.
fn mismatch(reply: &Reply, expect: &Expect) -> Option<String> {
    let json: Option<Value> = serde_json::from_str(&reply.body).ok();
    let content_type = reply.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let code = json.as_ref().and_then(|j| j.get("code")).map(|c| c.as_str().unwrap_or("<not a string>"));
    let message = json.as_ref().and_then(|j| j.get("message")).and_then(Value::as_str);
    let ok = reply.status.as_u16() == expect.status
        && content_type == Some("application/json")
        && json.is_some()
        && (expect.status == 200 || message.is_some_and(|m| !m.is_empty()))
        && (expect.status == 200 || code == expect.code)
        && expect.message.as_deref().is_none_or(|m| message == Some(m));
    let shown: String = reply.body.chars().take(200).collect();
    (!ok).then(|| format!("expected {expect:?}, got {} {shown}", reply.status))
}

/// Formats every log event (into a sink), so the hostile input also goes
/// through the `Display` code of Kernia's log fields.
fn format_all_logs() {
    let sink = tracing_subscriber::fmt()
        .with_max_level(tracing_subscriber::filter::LevelFilter::TRACE)
        .with_writer(std::io::sink);
    let _ = sink.try_init();
}

/// The app: both plugins with every optional endpoint on, libphonenumber's
/// strict number check, rate limits off (the matrix sends many requests).
fn app() -> App {
    format_all_logs();
    let outbox = Outbox::default();
    let email = outbox.email_otp().change_email(true).override_default_email_verification(true);
    let phone = outbox.phone_number().validation(PhoneValidation::Strict);
    App::with_plugins(email, phone, outbox, |b| b)
}

/// A fresh session of the matrix's own user, signed in by email code.
async fn session(app: &App) -> String {
    let email = "session-owner@example.com";
    let sent =
        app.post("/email-otp/send-verification-otp", json!({"email": email, "type": "sign-in"}), "").await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let otp = app.outbox.email_code(email).unwrap();
    let reply = app.post("/sign-in/email-otp", json!({"email": email, "otp": otp}), "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.cookie_header()
}

#[tokio::test]
async fn every_post_endpoint_answers_malformed_input_with_the_exact_error() {
    let app = app();
    let (mut failures, mut deviations) = (Vec::new(), Vec::new());
    let mut total = 0;
    for endpoint in ENDPOINTS {
        let cases = [framework_cases(endpoint), field_cases(endpoint), identity_cases(endpoint)].concat();
        for case in &cases {
            let cookie = session(&app).await;
            let reply = send(&app, endpoint.path, case, &cookie).await;
            if let Some(problem) = mismatch(&reply, case.deviation.as_ref().unwrap_or(&case.expect)) {
                failures.push(format!("{} [{}]: {problem}", endpoint.path, case.name));
            }
            if let Some(kernia) = &case.deviation {
                deviations.push(format!(
                    "{} [{}]: Better Auth {:?}, Kernia {kernia:?}",
                    endpoint.path, case.name, case.expect
                ));
            }
            total += 1;
        }
    }
    println!("matrix: {} endpoints, {total} cases", ENDPOINTS.len());
    println!("known deviations from Better Auth ({}):\n{}", deviations.len(), deviations.join("\n"));
    assert!(failures.is_empty(), "{} of {total} cases failed:\n{}", failures.len(), failures.join("\n"));
    assert_normal_flows_still_work(&app).await;
}

/// Nothing was lost: a new account signs up, signs in and reads its session.
async fn assert_normal_flows_still_work(app: &App) {
    let cookie = app.sign_up("after-matrix@example.com", "password123").await;
    assert_eq!(app.get("/get-session", &cookie).await.json()["user"]["email"], "after-matrix@example.com");
    let body = json!({"email": "After-Matrix@Example.com", "password": "password123"});
    let signed_in = app.post("/sign-in/email", body, "").await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    assert_eq!(signed_in.json()["user"]["email"], "after-matrix@example.com");
    let owner = session(app).await;
    assert_eq!(app.get("/get-session", &owner).await.json()["user"]["email"], "session-owner@example.com");
}

fn hostile_names() -> Vec<(&'static str, String)> {
    vec![
        ("control characters", "a\u{7}b\u{1b}[31mc".to_owned()),
        ("NUL", "nul\u{0}name".to_owned()),
        ("emoji", "\u{1F469}\u{200D}\u{1F4BB} Dev".to_owned()),
        ("RTL override", "\u{202E}evil.exe".to_owned()),
        ("combining marks", "Z\u{0351}\u{036B}\u{0343}a\u{0358}l\u{0344}g\u{0310}o".to_owned()),
        ("10 kB", "n".repeat(10_000)),
    ]
}

/// Names are free text in Better Auth (`z.string()`): any of them is stored
/// and read back byte for byte.
#[tokio::test]
async fn hostile_names_are_stored_exactly() {
    let app = app();
    for (label, name) in hostile_names() {
        let cookie = session(&app).await;
        let reply = app.post("/update-user", json!({ "name": name }), &cookie).await;
        assert_eq!(reply.status, 200, "{label}: {}", reply.body);
        let read = app.get("/get-session", &cookie).await.json();
        assert_eq!(read["user"]["name"], json!(name), "{label}");
        let email = format!("name-{}@example.com", unique());
        let body = json!({ "name": name, "email": email, "password": "password123" });
        let signed_up = app.post("/sign-up/email", body, "").await;
        assert_eq!(signed_up.status, 200, "{label}: {}", signed_up.body);
        assert_eq!(signed_up.json()["user"]["name"], json!(name), "{label}");
    }
}

/// Bad cookies and query strings on the GET endpoints: no session, never an error.
#[tokio::test]
async fn get_endpoints_shrug_off_bad_cookies_and_query_strings() {
    let app = app();
    let valid = session(&app).await;
    let token = valid.split(';').next().unwrap().trim().to_owned();
    let tampered = format!("{}X", token.trim_end_matches("%3D"));
    let many: Vec<String> = (0..200).map(|i| format!("c{i}=v{i}")).collect();
    let cookies = [
        "better-auth.session_token=garbage".to_owned(),
        "better-auth.session_token=token.not-a-signature".to_owned(),
        "better-auth.session_token=%ZZ%".to_owned(),
        "better-auth.session_token=\"unterminated".to_owned(),
        "better-auth.session_token=".to_owned(),
        "=; ; ;=;better-auth.session_token".to_owned(),
        format!("better-auth.session_token={}", "a".repeat(8_000)),
        tampered,
        many.join("; "),
        format!("better-auth.session_token=bad; {valid}"),
    ];
    let queries =
        ["", "?disableRefresh=%ZZ", "?disableRefresh&disableRefresh=1", "?%00=%00", "?a=1&a=2&a%5B%5D=3"];
    let mut checked = 0;
    for cookie in &cookies {
        for query in queries {
            expect_no_session(&app, cookie, query).await;
            checked += 1;
        }
    }
    let long_query = format!("?x={}", "q".repeat(8_000));
    for query in queries.iter().copied().chain([long_query.as_str()]) {
        let reply = app.get(&format!("/get-session{query}"), &valid).await;
        assert_eq!(reply.json()["user"]["email"], "session-owner@example.com", "{query}");
        assert_eq!(app.get(&format!("/list-sessions{query}"), &valid).await.status, 200, "{query}");
        expect_no_session(&app, "", query).await;
        checked += 1;
    }
    println!("GET matrix: 3 endpoints, {checked} cookie/query combinations");
}

async fn expect_no_session(app: &App, cookie: &str, query: &str) {
    let context = format!("cookie {:.60?} query {query:.40}", cookie);
    let ok = app.get(&format!("/ok{query}"), cookie).await;
    assert_eq!((ok.status.as_u16(), ok.json()), (200, json!({"ok": true})), "{context}");
    let session = app.get(&format!("/get-session{query}"), cookie).await;
    assert_eq!((session.status.as_u16(), session.body.as_str()), (200, "null"), "{context}");
    app.get(&format!("/list-sessions{query}"), cookie).await.assert_error(401, "UNAUTHORIZED");
}
