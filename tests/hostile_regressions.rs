//! Replays the fuzz seeds and every fuzz-found input (`fuzz/seeds/`,
//! `fuzz/regressions/`) through the fuzz harness, so CI checks them without
//! building the fuzzer; and proves the harness itself can fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "hostile/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

use harness::{Answer, Call};
use http::{Method, StatusCode, Uri};

/// The files of `fuzz/{kind}/{target}`, sorted; README files are notes.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with("README"))
        .collect();
    files.sort();
    files
}

fn replay(kind: &str, target: &str, run: fn(&[u8]) -> Vec<Answer>) -> usize {
    let files = inputs(kind, target);
    for file in &files {
        let data = std::fs::read(file).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| run(&data)) {
            let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
            panic!("{} breaks the contract: {message}", file.display());
        }
    }
    files.len()
}

#[test]
fn every_seed_and_fuzz_found_input_keeps_the_contract() {
    assert!(replay("seeds", "http_request", harness::run_bytes) >= 8);
    assert!(replay("seeds", "session_cookie", harness::run_cookie_bytes) >= 4);
    let found = replay("regressions", "http_request", harness::run_bytes)
        + replay("regressions", "session_cookie", harness::run_cookie_bytes);
    println!("replayed {found} fuzz-found inputs");
}

fn statuses(target: &str, seed: &str) -> Vec<u16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds").join(target).join(seed);
    let data = std::fs::read(path).unwrap();
    let answers =
        if target == "session_cookie" { harness::run_cookie_bytes(&data) } else { harness::run_bytes(&data) };
    answers.iter().map(|a| a.status.as_u16()).collect()
}

/// The seeds reach deep states only if the placeholders carry codes and
/// cookies from one request to the next.
#[test]
fn seed_flows_reach_signed_in_states() {
    // send code, sign in, get-session, list-sessions, update-user, revoke
    // the current session, then the app sees no session.
    assert_eq!(statuses("http_request", "email-otp-session"), [200, 200, 200, 200, 200, 200, 401]);
    // send SMS, verify (signs up), password sign-in of a password-less
    // account, reset request, reset with a too-short password.
    assert_eq!(statuses("http_request", "phone-verify"), [200, 200, 401, 200, 400]);
    // sign-up, sign-in, wrong current password, sign-out.
    assert_eq!(statuses("http_request", "password-sign-up-sign-in"), [200, 200, 400, 200]);
    // code sign-in, then the real cookie is accepted by every reader.
    assert_eq!(statuses("session_cookie", "valid"), [200, 200, 200, 200, 200, 200]);
}

#[test]
fn targets_outside_the_base_path_pass_through_and_others_are_encoded() {
    let uri = harness::target_uri(b"sign-in/email?x=\x00\xff").unwrap();
    assert_eq!(uri.to_string(), "/api/auth/sign-in/email?x=%00%FF");
    assert_eq!(harness::target_uri(b"/hello").unwrap().path(), "/hello");
    assert!(harness::is_under_base("/api/auth"));
    assert!(!harness::is_under_base("/api/authx"));
}

#[test]
fn decoding_splits_requests_headers_and_bodies() {
    let calls =
        harness::decode(b"PUT ok\nx-advance-secs: 99999999999\nbad header\n\nbody\n===\nnot-a-method\x01 /x");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].method, Method::PUT);
    assert_eq!(calls[0].advance_secs, 30 * 86_400);
    assert!(calls[0].headers.is_empty());
    assert_eq!(calls[0].body, b"body");
    assert_eq!(calls[1].method, Method::GET);
    assert_eq!(calls[1].target, b"/x");
}

fn answer(status: u16, content_type: Option<&str>, body: &str) -> Answer {
    Answer {
        status: StatusCode::from_u16(status).unwrap(),
        content_type: content_type.map(str::to_owned),
        set_cookies: Vec::new(),
        body: body.as_bytes().to_vec(),
    }
}

fn violates(path: &str, answer: &Answer) -> bool {
    let call = Call {
        method: Method::POST,
        target: path.as_bytes().to_vec(),
        headers: Vec::new(),
        advance_secs: 0,
        body: Vec::new(),
    };
    let uri: Uri = path.parse().unwrap();
    std::panic::catch_unwind(|| harness::check(&call, &uri, answer)).is_err()
}

#[test]
fn the_harness_rejects_answers_that_break_the_contract() {
    let json = Some("application/json");
    assert!(!violates("/api/auth/x", &answer(400, json, r#"{"code":"BAD_REQUEST","message":"m"}"#)));
    assert!(!violates("/api/auth/x", &answer(404, None, "")));
    assert!(!violates("/hello", &answer(200, None, "/hello")));
    assert!(violates("/api/auth/x", &answer(500, json, r#"{"message":"m"}"#)));
    assert!(violates("/api/auth/x", &answer(400, json, r#"{"code":"BAD_REQUEST"}"#)));
    assert!(violates("/api/auth/x", &answer(400, json, r#"{"code":"bad","message":"m"}"#)));
    assert!(violates("/api/auth/x", &answer(400, None, r#"{"code":"BAD_REQUEST","message":"m"}"#)));
    assert!(violates("/api/auth/x", &answer(200, json, "not json")));
    assert!(violates("/api/auth/x", &answer(404, None, "Not Found")));
    assert!(violates("/hello", &answer(200, None, "altered")));
}
