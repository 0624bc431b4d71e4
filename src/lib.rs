//! Kernia: the Better Auth HTTP protocol as a Tower layer.
//!
//! [`KerniaLayer`] wraps any Tower HTTP service (axum, hyper, tonic). Requests
//! under its base path (default `/api/auth`) are answered with Better Auth's
//! wire protocol, so the official `better-auth` JavaScript client works
//! unchanged; every other request passes through to your app, which can read
//! the signed-in user through [`SessionHandle`] (or, with axum,
//! [`extract::CurrentSession`]).
//!
//! ```
//! use axum::{Router, routing::get};
//! use kernia::{KerniaLayer, extract::CurrentSession};
//!
//! async fn me(CurrentSession(session): CurrentSession) -> String {
//!     format!("hello {}", session.user.email)
//! }
//!
//! let auth = KerniaLayer::builder()
//!     .secret("a-long-random-secret-of-at-least-32-bytes!")
//!     .base_url("http://localhost:3000")
//!     .build()?;
//! let app: Router = Router::new().route("/me", get(me)).layer(auth);
//! # Ok::<(), kernia::ConfigError>(())
//! ```
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
mod layer;
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
