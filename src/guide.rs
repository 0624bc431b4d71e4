//! Guides: the configuration reference and migrating from Better Auth (Node).
//!
//! - [`configuration`]: every option of [`KerniaBuilder`](crate::KerniaBuilder),
//!   [`EmailOtp`](crate::email_otp::EmailOtp),
//!   [`PhoneNumber`](crate::phone_number::PhoneNumber), the rate limits, the
//!   stores and the dev server: its type, its default, and why.
//! - [`migrating`]: moving a Better Auth (Node) deployment to Kernia: same
//!   client, same database, what differs, and a cutover plan.
//!
//! Both pages are the Markdown files in the repository's `docs/` folder;
//! their Rust examples run as doctests.

// The guides link API items with reference-style links whose definitions at
// the bottom of each file point into the repository for readers on a forge.
// Rustdoc takes the first definition of a label, so the ones given here,
// before the file, send the same links to the API docs instead.

/// Every option, its default and why.
#[doc = ""]
#[doc = "[builder]: crate::KerniaBuilder"]
#[doc = "[email_otp]: crate::email_otp::EmailOtp"]
#[doc = "[phone_number]: crate::phone_number::PhoneNumber"]
#[doc = "[config_error]: crate::ConfigError"]
#[doc = "[rate_limit_store]: crate::rate_limit::RateLimitStore"]
#[doc = "[store]: crate::store::Store"]
#[doc = ""]
#[doc = include_str!("../docs/configuration.md")]
pub mod configuration {}

/// Moving a Better Auth (Node) deployment to Kernia.
#[doc = ""]
#[doc = "[configuration]: crate::guide::configuration"]
#[doc = ""]
#[doc = include_str!("../docs/migrating-from-better-auth.md")]
pub mod migrating {}

/// The README's examples, compiled as doctests (not part of the API).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
