//! Arbitrary request scripts through `KerniaLayer`: no panic, no 5xx, JSON
//! auth answers, untouched pass-through (see `tests/hostile/harness.rs`).
#![no_main]

#[path = "../../tests/hostile/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    harness::run_bytes(data);
});
