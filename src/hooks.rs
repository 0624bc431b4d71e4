//! Callbacks after sign-up, sign-in and verification, so an app can
//! provision its own records. Set them with
//! [`KerniaBuilder::after_sign_up`](crate::KerniaBuilder::after_sign_up),
//! [`after_sign_in`](crate::KerniaBuilder::after_sign_in) and
//! [`after_verification`](crate::KerniaBuilder::after_verification).
//!
//! # When they run
//! After the state they report is stored (the user created, the session
//! stored, the code spent), and **before the response**: when the client
//! proceeds, the app's records exist. Each runs once per successful flow.
//! A flow that signs up a new user runs `after_sign_up`, then (for a code
//! that proves an address) `after_verification`, then `after_sign_in` when
//! it hands out a session.
//!
//! # When they fail
//! A hook error (or a request time-out while it runs) answers
//! `500 INTERNAL_SERVER_ERROR`, logs a `hook_failed` event, and takes back
//! the session the flow created, so the client is never signed in with
//! half-provisioned records. What was already stored stays: a new user
//! keeps existing, a verified address stays verified, a spent code stays
//! spent. The client recovers by signing in again (password, or a new code),
//! which runs `after_sign_in` again, but not `after_sign_up`. So:
//! make hooks idempotent ("ensure the row exists"), provision whatever every
//! signed-in user needs in `after_sign_in`, and keep one-time side effects
//! (a welcome email) in `after_sign_up`.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::delivery::BoxFuture;
use crate::error::{ApiError, ErrorCode};
use crate::store::{Session, User};

/// What a hook may fail with.
pub type HookError = Box<dyn std::error::Error + Send + Sync>;

/// How the user authenticated.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Email and password (`/sign-up/email`, `/sign-in/email`).
    Password,
    /// A code sent by email (`/sign-in/email-otp`).
    EmailOtp,
    /// A code sent by SMS (`/phone-number/verify`).
    PhoneOtp,
    /// Phone number and password (`/sign-in/phone-number`).
    PhonePassword,
}

impl Method {
    /// The name used in logs and metrics (`password`, `email_otp`, `phone_otp`, `phone_password`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::EmailOtp => "email_otp",
            Self::PhoneOtp => "phone_otp",
            Self::PhonePassword => "phone_password",
        }
    }
}

/// Where a code went.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// An email address.
    Email,
    /// A phone number, by SMS.
    Sms,
}

impl Channel {
    /// The name used in logs and metrics (`email`, `sms`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Sms => "sms",
        }
    }
}

/// A user was created.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct SignUp {
    /// The new user.
    pub user: User,
    /// How they signed up.
    pub method: Method,
}

/// A user signed in: a new session exists.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct SignIn {
    /// The user.
    pub user: User,
    /// The new session (its cookie goes out with the response).
    pub session: Session,
    /// How they signed in.
    pub method: Method,
    /// Whether this flow also created the user.
    pub new_user: bool,
}

/// A user proved an address: `/email-otp/verify-email` or `/phone-number/verify`.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Verification {
    /// The user, as updated.
    pub user: User,
    /// Which address was proven.
    pub channel: Channel,
}

type Hook<E> = Arc<dyn Fn(E) -> BoxFuture<'static, Result<(), HookError>> + Send + Sync>;

/// The configured hooks.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) sign_up: Option<Hook<SignUp>>,
    pub(crate) sign_in: Option<Hook<SignIn>>,
    pub(crate) verification: Option<Hook<Verification>>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("sign_up", &self.sign_up.is_some())
            .field("sign_in", &self.sign_in.is_some())
            .field("verification", &self.verification.is_some())
            .finish()
    }
}

pub(crate) fn boxed<E, F, Fut>(f: F) -> Hook<E>
where
    F: Fn(E) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HookError>> + Send + 'static,
{
    Arc::new(move |event| Box::pin(f(event)))
}

async fn run<E>(name: &'static str, hook: &Hook<E>, event: E) -> Result<(), ApiError> {
    hook(event).await.map_err(|error| {
        crate::observe::hook_failed(name, error.as_ref());
        ApiError::new(ErrorCode::InternalServerError)
    })
}

impl Hooks {
    pub(crate) async fn signed_up(&self, user: &User, method: Method) -> Result<(), ApiError> {
        let Some(hook) = &self.sign_up else { return Ok(()) };
        run("after_sign_up", hook, SignUp { user: user.clone(), method }).await
    }

    pub(crate) async fn signed_in(
        &self,
        user: &User,
        session: &Session,
        method: Method,
        new_user: bool,
    ) -> Result<(), ApiError> {
        let Some(hook) = &self.sign_in else { return Ok(()) };
        let event = SignIn { user: user.clone(), session: session.clone(), method, new_user };
        run("after_sign_in", hook, event).await
    }

    pub(crate) async fn verified(&self, user: &User, channel: Channel) -> Result<(), ApiError> {
        let Some(hook) = &self.verification else { return Ok(()) };
        run("after_verification", hook, Verification { user: user.clone(), channel }).await
    }
}
