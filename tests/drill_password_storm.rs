//! K22 drill: 1,000 concurrent password sign-ins over a real loopback socket
//! keep peak RSS bounded by the hashing concurrency (each scrypt hash holds
//! 32 MiB), not by the number of requests, and pass-through traffic keeps
//! being answered during the storm. One test in its own binary, so nothing
//! else shares the process whose peak RSS is read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use serde_json::{Value, json};

use common::net::{HttpClient, fetch, http_client, request, serve_hello};

const SIGN_INS: usize = 1000;
const MIB: u64 = 1024 * 1024;
/// What one scrypt hash (N=16384, r=16) holds.
const PER_HASH: u64 = 32 * MIB;
/// Connections, buffers, requests waiting for a hashing thread, allocator slack.
const SLACK: u64 = 64 * MIB;

/// `VmRSS` or `VmHWM` (peak RSS) of this process, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Resets `VmHWM` to the current RSS (Linux `clear_refs`, value 5).
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

fn json_post(addr: SocketAddr, path: &str, body: &Value) -> Request<Full<Bytes>> {
    request(Method::POST, &format!("http://{addr}/api/auth{path}"), "", Some(body.clone()))
}

async fn hello(client: &HttpClient, addr: SocketAddr) -> (StatusCode, Duration) {
    let request = request(Method::GET, &format!("http://{addr}/hello"), "", None);
    let start = Instant::now();
    let status = fetch(client, request).await.status;
    (status, start.elapsed())
}

fn percentiles(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: usize| samples[(samples.len() - 1) * p / 100].as_secs_f64() * 1e3;
    format!("p50 {:.2} ms, p99 {:.2} ms (n = {})", at(50), at(99), samples.len())
}

/// Requests `/hello` every 5 ms until `stop`; every status and latency,
/// and the RSS in MiB about every second.
async fn probe(addr: SocketAddr, stop: Arc<AtomicBool>) -> (Vec<(StatusCode, Duration)>, Vec<u64>) {
    let client = http_client(None);
    let (mut seen, mut rss) = (Vec::new(), Vec::new());
    let mut next_sample = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        seen.push(hello(&client, addr).await);
        if Instant::now() >= next_sample {
            rss.push(status_bytes("VmRSS:") / MIB);
            next_sample += Duration::from_secs(1);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (seen, rss)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_sign_ins_keep_rss_bounded_and_pass_through_responsive() {
    let threads = std::thread::available_parallelism().map_or(2, usize::from) as u64;
    let layer = common::builder().request_timeout(None).build().unwrap();
    let (addr, _) = serve_hello(layer).await;
    let sign_up = json!({ "name": "Storm", "email": "storm@example.com", "password": "password123" });
    assert_eq!(
        fetch(&http_client(None), json_post(addr, "/sign-up/email", &sign_up)).await.status,
        StatusCode::OK
    );

    let idle_client = http_client(None);
    let mut idle = Vec::new();
    for _ in 0..200 {
        let (status, elapsed) = hello(&idle_client, addr).await;
        assert_eq!(status, StatusCode::OK);
        idle.push(elapsed);
    }

    let baseline = status_bytes("VmRSS:");
    let peak_before_reset = status_bytes("VmHWM:");
    reset_peak_rss();
    eprintln!(
        "K22 RSS before the storm: {} MiB (peak so far {} MiB, reset to {} MiB)",
        baseline / MIB,
        peak_before_reset / MIB,
        status_bytes("VmHWM:") / MIB
    );

    let stop = Arc::new(AtomicBool::new(false));
    let prober = tokio::spawn(probe(addr, stop.clone()));
    let storm_client = http_client(None);
    let credentials = json!({ "email": "storm@example.com", "password": "password123" });
    let start = Instant::now();
    let sign_ins: Vec<_> = (0..SIGN_INS)
        .map(|_| {
            let (client, request) = (storm_client.clone(), json_post(addr, "/sign-in/email", &credentials));
            tokio::spawn(async move { fetch(&client, request).await.status })
        })
        .collect();
    let mut ok = 0;
    for task in sign_ins {
        ok += usize::from(task.await.unwrap() == StatusCode::OK);
    }
    let storm = start.elapsed();
    stop.store(true, Ordering::SeqCst);
    let (probes, rss) = prober.await.unwrap();
    let peak = status_bytes("VmHWM:");

    let growth = peak.saturating_sub(baseline);
    let bound = threads * PER_HASH + SLACK;
    eprintln!(
        "K22 {SIGN_INS} concurrent sign-ins: {ok} answered 200 in {:.1} s ({:.1} sign-ins/s), {threads} hashing threads",
        storm.as_secs_f64(),
        SIGN_INS as f64 / storm.as_secs_f64()
    );
    eprintln!(
        "K22 peak RSS {} MiB, growth {} MiB, bound {} MiB ({threads} x 32 MiB + 64 MiB)",
        peak / MIB,
        growth / MIB,
        bound / MIB
    );
    eprintln!("K22 RSS each second of the storm (MiB): {rss:?}");
    let failed_probes = probes.iter().filter(|(s, _)| *s != StatusCode::OK).count();
    eprintln!("K22 /hello idle: {}", percentiles(idle));
    eprintln!(
        "K22 /hello during the storm: {} ({failed_probes} not 200)",
        percentiles(probes.iter().map(|(_, d)| *d).collect())
    );
    assert_eq!(ok, SIGN_INS, "every sign-in is answered 200");
    assert!(!probes.is_empty() && failed_probes == 0, "pass-through kept answering 200 during the storm");
    assert!(growth < bound, "peak RSS grew {} MiB, beyond {} MiB", growth / MIB, bound / MIB);
}
