//! Arbitrary `Cookie` headers (with `{session}` for a real session cookie)
//! against get-session, list-sessions, sign-out and the pass-through handle.
#![no_main]

#[path = "../../tests/hostile/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::run_cookie_bytes(data);
});
