//! How codes leave Kernia: async callbacks the app supplies, for email
//! (`send_otp(email, otp, purpose)`) and SMS (`send_sms(phone, message)`).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::error::ApiError;
use crate::store::DynStore;

/// What a delivery callback may fail with.
pub type DeliveryError = Box<dyn std::error::Error + Send + Sync>;

/// Why an email code is sent.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OtpPurpose {
    /// `sign-in`: sign in (or sign up) with the code.
    SignIn,
    /// `email-verification`: prove the address.
    EmailVerification,
    /// `forget-password`: reset the password.
    ForgetPassword,
    /// `change-email`: move the account to a new address.
    ChangeEmail,
}

impl OtpPurpose {
    /// The wire name (`sign-in`, `email-verification`, `forget-password`, `change-email`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign-in",
            Self::EmailVerification => "email-verification",
            Self::ForgetPassword => "forget-password",
            Self::ChangeEmail => "change-email",
        }
    }

    pub(crate) const ALL: [&'static str; 4] =
        ["email-verification", "sign-in", "forget-password", "change-email"];

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "sign-in" => Some(Self::SignIn),
            "email-verification" => Some(Self::EmailVerification),
            "forget-password" => Some(Self::ForgetPassword),
            "change-email" => Some(Self::ChangeEmail),
            _ => None,
        }
    }
}

impl fmt::Display for OtpPurpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sends an email code. Closures `|email, otp, purpose| async move { .. }` implement it.
pub trait SendEmailOtp: Send + Sync + 'static {
    /// Delivers `otp` to `email`.
    fn send_otp(
        &self,
        email: String,
        otp: String,
        purpose: OtpPurpose,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

impl<F, Fut> SendEmailOtp for F
where
    F: Fn(String, String, OtpPurpose) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), DeliveryError>> + Send,
{
    fn send_otp(
        &self,
        email: String,
        otp: String,
        purpose: OtpPurpose,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send {
        self(email, otp, purpose)
    }
}

/// Sends a text message. Closures `|phone, message| async move { .. }` implement it.
pub trait SendSms: Send + Sync + 'static {
    /// Delivers `message` to `phone` (E.164).
    fn send_sms(
        &self,
        phone: String,
        message: String,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

impl<F, Fut> SendSms for F
where
    F: Fn(String, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), DeliveryError>> + Send,
{
    fn send_sms(
        &self,
        phone: String,
        message: String,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send {
        self(phone, message)
    }
}

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One message on its way out, whichever the channel.
#[derive(Clone)]
pub(crate) enum Outgoing {
    Email { email: String, otp: String, purpose: OtpPurpose },
    Sms { phone: String, message: String },
}

pub(crate) trait DynSender: Send + Sync + 'static {
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<(), DeliveryError>>;
}

pub(crate) struct EmailSender<T>(pub(crate) T);
pub(crate) struct SmsSender<T>(pub(crate) T);

impl<T: SendEmailOtp> DynSender for EmailSender<T> {
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<(), DeliveryError>> {
        match message {
            Outgoing::Email { email, otp, purpose } => Box::pin(self.0.send_otp(email, otp, purpose)),
            Outgoing::Sms { .. } => Box::pin(async { Err("an SMS sent to the email sender".into()) }),
        }
    }
}

impl<T: SendSms> DynSender for SmsSender<T> {
    fn send(&self, message: Outgoing) -> BoxFuture<'_, Result<(), DeliveryError>> {
        match message {
            Outgoing::Sms { phone, message } => Box::pin(self.0.send_sms(phone, message)),
            Outgoing::Email { .. } => Box::pin(async { Err("an email sent to the SMS sender".into()) }),
        }
    }
}

/// How a request waits for its delivery callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// The callback runs in a spawned task and the response does not wait:
    /// a slow provider neither delays answers nor shows whether an account
    /// exists. Failures are logged (and the unsent code is withdrawn).
    Background,
    /// The response waits for the callback, at most this long; on a failure
    /// or time-out the code is withdrawn, and an SMS send to `send-otp`
    /// answers 500 (an email send still answers success, as Better Auth does,
    /// and so does a reset request, which must not tell known recipients from
    /// unknown ones). Use it when the callback only enqueues (a local outbox,
    /// a job queue).
    Await(Duration),
}

/// A delivery channel with its mode.
#[derive(Clone)]
pub(crate) struct Courier {
    pub(crate) sender: Arc<dyn DynSender>,
    pub(crate) mode: DeliveryMode,
}

impl fmt::Debug for Courier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Courier").field("mode", &self.mode).finish_non_exhaustive()
    }
}

/// What happened to a delivery the request waited for (or did not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivered {
    /// Sent, or handed to a background task.
    Ok,
    /// The callback failed or timed out.
    Failed,
}

impl Courier {
    /// Runs the callback per the mode. A code that was not delivered is
    /// withdrawn from `store` in either mode, so no usable code is left that
    /// its owner never received.
    ///
    /// # Errors
    /// Only when an awaited delivery failed and the withdrawal failed too.
    pub(crate) async fn deliver(
        &self,
        message: Outgoing,
        store: Arc<dyn DynStore>,
        identifier: String,
        issued: String,
    ) -> Result<Delivered, ApiError> {
        let channel = match &message {
            Outgoing::Email { .. } => "email",
            Outgoing::Sms { .. } => "sms",
        };
        let withdraw_undelivered = move |timed_out| async move {
            crate::observe::code_delivery_failed(channel, timed_out);
            withdraw(store.as_ref(), &identifier, &issued)
                .await
                .map_err(|e| ApiError::internal("withdraw an undelivered code", &e))
        };
        let sender = self.sender.clone();
        self.mode.run(async move { sender.send(message).await }, withdraw_undelivered).await
    }
}

impl DeliveryMode {
    /// Runs `send` per the mode, and `on_failure(timed_out)` if it fails:
    /// awaited, within the limit, answering [`Delivered::Failed`] (or
    /// `on_failure`'s error); in the background, answering
    /// [`Delivered::Ok`] at once (`on_failure`'s error is logged where it
    /// is made).
    async fn run<F, Fut>(
        self,
        send: impl Future<Output = Result<(), DeliveryError>> + Send + 'static,
        on_failure: F,
    ) -> Result<Delivered, ApiError>
    where
        F: FnOnce(bool) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), ApiError>> + Send,
    {
        let task = tokio::spawn(send);
        match self {
            Self::Background => {
                tokio::spawn(async move {
                    if !matches!(task.await, Ok(Ok(()))) {
                        let _ = on_failure(false).await;
                    }
                });
                Ok(Delivered::Ok)
            }
            Self::Await(limit) => match tokio::time::timeout(limit, task).await {
                Ok(Ok(Ok(()))) => Ok(Delivered::Ok),
                outcome => {
                    on_failure(outcome.is_err()).await?;
                    Ok(Delivered::Failed)
                }
            },
        }
    }
}

/// Removes the undelivered code `issued` of `identifier`; a newer code that
/// was sent meanwhile is put back untouched.
async fn withdraw(store: &dyn DynStore, identifier: &str, issued: &str) -> crate::store::StoreResult<()> {
    match store.take_verification(identifier).await? {
        Some(live) if live.id != issued => store.restore_verification(live).await.map(|_| ()),
        _ => Ok(()),
    }
}

/// Tells an old address that the account moved to a new one (K19): called
/// with `(old, new)` after an email or phone number change completed.
pub(crate) type ChangeNotice =
    Arc<dyn Fn(String, String) -> BoxFuture<'static, Result<(), DeliveryError>> + Send + Sync>;

pub(crate) fn change_notice<F, Fut>(f: F) -> ChangeNotice
where
    F: Fn(String, String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), DeliveryError>> + Send + 'static,
{
    Arc::new(move |old, new| Box::pin(f(old, new)))
}

/// Sends a change notice per the mode. The change is already stored, so a
/// failed notice is logged (`change_notice_failed`), never answered.
pub(crate) async fn send_change_notice(
    notice: &ChangeNotice,
    mode: DeliveryMode,
    channel: &'static str,
    old: String,
    new: String,
) {
    let log_failure = move |_| async move {
        crate::observe::change_notice_failed(channel);
        Ok(())
    };
    let _ = mode.run(notice(old, new), log_failure).await;
}
