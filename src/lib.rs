//! Kernia: the Better Auth HTTP protocol as a Tower layer.
//!
//! [`KerniaLayer`] wraps any Tower HTTP service (axum, hyper, tonic). Requests
//! under its base path (default `/api/auth`) are answered with Better Auth's
//! wire protocol, so the official `better-auth` JavaScript client works
//! unchanged; every other request passes through to your app, which can read
//! the signed-in user through [`SessionHandle`] (or, with axum,
//! [`extract::CurrentSession`]). State lives in Better Auth's own tables, so a
//! database Better Auth wrote keeps working.
//!
//! # Quick start (axum)
//!
//! ```
//! use std::net::SocketAddr;
//!
//! use axum::{Router, routing::get};
//! use kernia::{KerniaLayer, email_otp::EmailOtp, extract::CurrentSession};
//!
//! async fn me(CurrentSession(session): CurrentSession) -> String {
//!     format!("hello {}", session.user.email)
//! }
//!
//! let auth = KerniaLayer::builder()
//!     .secret("a-long-random-secret-of-at-least-32-bytes!") // from your secret store
//!     .base_url("http://localhost:3000")
//!     .email_otp(EmailOtp::new(|email: String, otp: String, purpose| async move {
//!         println!("{purpose} code for {email}: {otp}"); // hand it to your mailer
//!         Ok(())
//!     }))
//!     .build()?;
//! let app: Router = Router::new().route("/me", get(me)).layer(auth);
//!
//! // Serve it with the client address, which the rate limits count by:
//! // axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! let _service = app.into_make_service_with_connect_info::<SocketAddr>();
//! # Ok::<(), kernia::ConfigError>(())
//! ```
//!
//! The layer answers in-process, so tests need no server:
//!
//! ```
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use kernia::KerniaLayer;
//! use tower::ServiceExt;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let auth = KerniaLayer::builder()
//!         .secret("a-long-random-secret-of-at-least-32-bytes!")
//!         .base_url("http://localhost:3000")
//!         .build()?;
//!     let app = Router::new().route("/hello", get(|| async { "hello" })).layer(auth);
//!
//!     // No session cookie: Better Auth's answer is `null`.
//!     let reply = app.clone().oneshot(Request::get("/api/auth/get-session").body(Body::empty())?).await?;
//!     assert_eq!(reply.status(), StatusCode::OK);
//!     assert_eq!(&axum::body::to_bytes(reply.into_body(), 1024).await?[..], b"null");
//!
//!     // Everything outside `/api/auth` is the app's.
//!     let reply = app.oneshot(Request::get("/hello").body(Body::empty())?).await?;
//!     assert_eq!(&axum::body::to_bytes(reply.into_body(), 1024).await?[..], b"hello");
//!     Ok(())
//! }
//! ```
//!
//! In the browser, the official client talks to it unchanged:
//! `createAuthClient({ plugins: [emailOTPClient(), phoneNumberClient()] })`.
//!
//! # Map of the crate
//!
//! | Item | What it is |
//! |---|---|
//! | [`KerniaLayer`], [`KerniaService`] | the Tower layer, and the service it makes of yours |
//! | [`KerniaBuilder`] | every option, with secure defaults; bad values fail in `build()` with a [`ConfigError`] |
//! | [`email_otp`] | the email OTP plugin: codes by email for sign-in, verification, password reset, email change |
//! | [`phone_number`] | the phone number plugin: SMS codes, phone + password sign-in, reset by SMS |
//! | [`delivery`] | how codes leave: the `send_otp` / `send_sms` callbacks and [`delivery::DeliveryMode`] |
//! | [`otp`] | how codes are kept at rest ([`otp::OtpStorage`]) |
//! | [`rate_limit`] | rate-limit rules and where their counters live |
//! | [`store`] | the [`store::Store`] trait and the memory, SQLite, PostgreSQL and Redis stores |
//! | [`extract`] | the axum extractor [`extract::CurrentSession`] |
//! | [`SessionHandle`], [`ClientAddr`] | the session for any Tower service; the client address for hyper and tonic |
//! | [`hooks`] | callbacks after sign-up, sign-in and verification |
//! | [`clock`] | the time source, and a manual clock for tests |
//! | [`ApiError`], [`ErrorCode`] | errors in Better Auth's JSON shape |
//! | [`guide`] | the [configuration reference](guide::configuration) and [migrating from Better Auth (Node)](guide::migrating) |
//!
//! # Feature flags
//!
//! | Feature | Default | Adds |
//! |---|---|---|
//! | `axum` | yes | [`extract::CurrentSession`], and reading axum's `ConnectInfo` for the client address |
//! | `sqlite` | yes | `store::SqliteStore` |
//! | `postgres` | no | `store::PostgresStore` |
//! | `redis` | no | `store::RedisVerificationStore` and `store::RedisRateLimitStore`, for codes and rate limits shared by several instances |
//! | `metrics` | no | counters (codes sent per channel, verifications by outcome, rate-limit hits) through the `metrics` facade |
//!
//! # Security
//!
//! Rate limits are on by default, attempts per code are capped atomically,
//! codes are HMAC'd at rest and compared in constant time, cookie-bearing
//! requests must come from a trusted origin, and the crate has no `unsafe`.
//! The repository's `SECURITY.md` gives the threat model and the test behind
//! each guarantee; [`guide::configuration`] gives the reason for each default.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod builder;
mod client_ip;
pub mod clock;
mod cookies;
mod crypto;
pub mod delivery;
pub mod email_otp;
mod endpoints;
mod error;
#[cfg(feature = "axum")]
pub mod extract;
mod future;
pub mod guide;
mod hash_threads;
pub mod hooks;
mod layer;
mod lockout;
mod observe;
mod origin;
pub mod otp;
mod password;
pub mod phone_number;
pub mod rate_limit;
mod router;
mod session;
mod shared;
pub mod store;
mod wire;

pub use body::ResponseBody;
pub use builder::KerniaBuilder;
pub use client_ip::ClientAddr;
pub use error::{ApiError, ConfigError, ErrorCode};
pub use future::ResponseFuture;
pub use layer::{KerniaLayer, KerniaService};
pub use session::SessionHandle;
pub use store::{Session, SessionWithUser, User};
