//! The pass-through path allocates nothing: a request outside the base path
//! costs Kernia a prefix compare and a cookie-header scan, no heap.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http::{Request, Response, header};
use http_body_util::Full;
use kernia::KerniaLayer;
use tower::{Layer, Service};

fn hello(_: Request<Full<Bytes>>) -> std::future::Ready<Result<Response<Full<Bytes>>, Infallible>> {
    std::future::ready(Ok(Response::new(Full::new(Bytes::from_static(b"hello")))))
}

/// Calls the service and polls its future to completion on this thread.
fn call_now<S>(service: &mut S, request: Request<Full<Bytes>>) -> S::Response
where
    S: Service<Request<Full<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    let mut cx = Context::from_waker(Waker::noop());
    assert!(service.poll_ready(&mut cx).is_ready());
    let mut future = pin!(service.call(request));
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(result) => result.unwrap(),
        Poll::Pending => panic!("the inner service is always ready"),
    }
}

fn request(cookie: Option<&'static str>) -> Request<Full<Bytes>> {
    let mut builder = Request::get("/dashboard");
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

fn allocations<S>(service: &mut S, request: Request<Full<Bytes>>) -> u64
where
    S: Service<Request<Full<Bytes>>>,
    S::Error: std::fmt::Debug,
{
    let mut response = None;
    let info = allocation_counter::measure(|| response = Some(call_now(service, request)));
    drop(response);
    info.count_total
}

#[test]
fn passthrough_allocates_nothing_more_than_the_bare_service() {
    let layer =
        KerniaLayer::builder().secret("kernia-test-secret-0123456789abcdef0123456789").build().unwrap();
    let mut bare = tower::service_fn(hello);
    let mut wrapped = layer.layer(tower::service_fn(hello));
    // Warm up lazily initialised statics on both paths first.
    call_now(&mut wrapped, request(None));

    let bare_count = allocations(&mut bare, request(None));
    assert_eq!(bare_count, 0, "the bare service itself allocates nothing");
    assert_eq!(allocations(&mut wrapped, request(None)), 0, "no cookie");
    assert_eq!(allocations(&mut wrapped, request(Some("theme=dark; _ga=GA1.2.3"))), 0, "unrelated cookies");
}

#[test]
fn only_requests_with_the_session_cookie_get_a_session_handle() {
    let layer =
        KerniaLayer::builder().secret("kernia-test-secret-0123456789abcdef0123456789").build().unwrap();
    let mut wrapped = layer.layer(tower::service_fn(hello));
    call_now(&mut wrapped, request(None));
    // The measured exception: the lazy handle's Arc, the cookie value, and
    // the extensions map (its box, its table, the boxed entry).
    let with_session = allocations(&mut wrapped, request(Some("better-auth.session_token=abc.def")));
    assert!((1..=5).contains(&with_session), "{with_session} allocations");
}
