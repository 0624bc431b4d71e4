//! Session tokens (K15, K16): every sign-in issues a fresh 32-character
//! `[A-Za-z0-9]` token from the CSPRNG, never one the client presented.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full};
use kernia::KerniaLayer;
use kernia::delivery::{DeliveryMode, OtpPurpose};
use kernia::email_otp::EmailOtp;
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

const ORIGIN: &str = "http://localhost:3000";
const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
/// The 0.999 quantile of chi-square with 61 degrees of freedom.
const CHI2_999_DOF_61: f64 = 100.888;

type Codes = Arc<Mutex<Vec<String>>>;

/// Kernia with the email OTP plugin delivering (awaited) into `codes`.
fn layer(codes: &Codes) -> KerniaLayer {
    let codes = codes.clone();
    let plugin = EmailOtp::new(move |_email: String, otp: String, _purpose: OtpPurpose| {
        codes.lock().unwrap().push(otp);
        async { Ok(()) }
    })
    .delivery(DeliveryMode::Await(Duration::from_secs(5)));
    KerniaLayer::builder()
        .secret("kernia-test-secret-0123456789abcdef0123456789")
        .base_url(ORIGIN)
        .rate_limit(false)
        .email_otp(plugin)
        .build()
        .unwrap()
}

struct Reply {
    status: u16,
    body: Value,
    session_cookie: Option<String>,
}

async fn post(layer: &KerniaLayer, path: &str, body: Value, cookie: Option<&str>) -> Reply {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/auth{path}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ORIGIN, ORIGIN);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let request = request.body(Full::new(Bytes::from(body.to_string()))).unwrap();
    let inner = tower::service_fn(|_: Request<Full<Bytes>>| async {
        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::new())))
    });
    let response = layer.layer(inner).oneshot(request).await.unwrap();
    let session_cookie = response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("better-auth.session_token="));
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), session_cookie }
}

/// Signs in with a fresh email code; the session token from the body.
async fn sign_in_with_code(layer: &KerniaLayer, codes: &Codes, email: &str) -> String {
    let send =
        post(layer, "/email-otp/send-verification-otp", json!({ "email": email, "type": "sign-in" }), None);
    assert_eq!(send.await.status, 200);
    let code = codes.lock().unwrap().last().cloned().unwrap();
    let reply = post(layer, "/sign-in/email-otp", json!({ "email": email, "otp": code }), None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    token_of(&reply)
}

/// The token of a successful sign-in; the cookie must carry the same one.
fn token_of(reply: &Reply) -> String {
    let token = reply.body["token"].as_str().unwrap().to_owned();
    let cookie = reply.session_cookie.as_deref().unwrap();
    assert!(cookie.starts_with(&format!("better-auth.session_token={token}.")), "{cookie}");
    token
}

fn chi_square(text: impl Iterator<Item = u8>) -> f64 {
    let mut counts = [0u64; 62];
    for c in text {
        counts[ALPHANUMERIC.iter().position(|&a| a == c).unwrap()] += 1;
    }
    let expected = counts.iter().sum::<u64>() as f64 / 62.0;
    counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum()
}

#[tokio::test]
async fn a_thousand_sign_ins_give_distinct_uniform_alphanumeric_tokens() {
    let codes = Codes::default();
    let layer = layer(&codes);
    let mut tokens = Vec::new();
    for i in 0..1000 {
        // Ten accounts, a hundred sign-ins each: tokens differ within and across users.
        tokens.push(sign_in_with_code(&layer, &codes, &format!("token{}@example.com", i % 10)).await);
    }
    let distinct: HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), 1000, "every sign-in has its own token");
    for token in &tokens {
        assert_eq!(token.len(), 32, "{token}");
        assert!(token.bytes().all(|c| c.is_ascii_alphanumeric()), "{token}");
    }
    let statistic = chi_square(tokens.iter().flat_map(|t| t.bytes()));
    eprintln!("session tokens: 1,000 distinct; chi-square of 32,000 characters over 62 bins: {statistic:.2}");
    assert!(statistic < CHI2_999_DOF_61, "token characters are not uniform: {statistic:.2}");
}

#[tokio::test]
async fn signing_in_with_a_session_cookie_issues_a_new_token() {
    let codes = Codes::default();
    let layer = layer(&codes);
    let sign_up = json!({ "name": "Rota", "email": "rotate@example.com", "password": "password123" });
    let first = post(&layer, "/sign-up/email", sign_up, None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let first_token = token_of(&first);
    let cookie = first.session_cookie.clone().unwrap();

    let credentials = json!({ "email": "rotate@example.com", "password": "password123" });
    let second = post(&layer, "/sign-in/email", credentials, Some(&cookie)).await;
    assert_eq!(second.status, 200, "{}", second.body);
    let second_token = token_of(&second);
    assert_ne!(second_token, first_token, "the presented session is never reused");

    let code_token = sign_in_with_code(&layer, &codes, "rotate@example.com").await;
    assert!(code_token != first_token && code_token != second_token);
}
