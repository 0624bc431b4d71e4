//! `/phone-number/*` and `/sign-in/phone-number` (phone-number.md §4).

use serde_json::json;

use super::{Ctx, Outcome, Remember, Reply, store_error};
use crate::crypto;
use crate::delivery::{self, Delivered, Outgoing};
use crate::error::{ApiError, ErrorCode};
use crate::hooks::{Channel, Method};
use crate::observe::{self, Recipient};
use crate::otp::{CodeKey, Mode};
use crate::phone_number::PhoneNumber;
use crate::shared::Plugin;
use crate::store::{SessionWithUser, StoreErrorKind, UniqueField, User, UserPatch};
use crate::wire::{self, Fields, ensure, js_length};

/// The code that proves `phone` (and signs in or up with it).
fn verify_key(phone: &str) -> CodeKey<'_> {
    let identifier = format!("phone-number-otp-{phone}");
    CodeKey { identifier, recipient: Recipient::Phone(phone), purpose: "phone-verification" }
}

/// The code that resets the password of `phone`'s account.
fn reset_key(phone: &str) -> CodeKey<'_> {
    let identifier = format!("phone-number-reset-{phone}");
    CodeKey { identifier, recipient: Recipient::Phone(phone), purpose: "forget-password" }
}

/// The number a code was issued for: its E.164 form, or the input as is
/// when it has none (no code can exist for it, so it answers `OTP_NOT_FOUND`).
fn code_subject(plugin: &Plugin<PhoneNumber>, raw: &str) -> String {
    plugin.options.normalize(raw).unwrap_or_else(|_| raw.to_owned())
}

async fn find_user(ctx: &Ctx<'_>, phone: &str) -> Result<Option<User>, ApiError> {
    ctx.shared.store.find_user_by_phone(phone).await.map_err(store_error("find user"))
}

/// Issues a code under `id`, renders `template` and sends it; a failed
/// awaited delivery has withdrawn the code.
async fn send_code(
    ctx: &Ctx<'_>,
    plugin: &Plugin<PhoneNumber>,
    key: CodeKey<'_>,
    template: &str,
) -> Result<Delivered, ApiError> {
    let (options, phone) = (&plugin.options, key.recipient.address());
    ctx.limit_recipient("sms", phone, &options.recipient_limits).await?;
    if let Some(budget) = options.sms_budget {
        ctx.limit_recipient("sms-budget", "all", &[budget]).await?;
    }
    let issued = ctx.otp(&plugin.policy).issue(&key.identifier).await?;
    let message =
        Outgoing::Sms { phone: phone.to_owned(), message: PhoneNumber::render(template, &issued.code) };
    let store = ctx.shared.store.clone();
    let delivered = options.courier.deliver(message, store, key.identifier, issued.id).await?;
    if delivered == Delivered::Ok {
        observe::code_sent(key.purpose, key.recipient);
    }
    Ok(delivered)
}

/// `POST /phone-number/send-otp`.
pub(crate) async fn send_otp(ctx: &Ctx<'_>, plugin: &Plugin<PhoneNumber>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let raw = fields.string("phoneNumber");
    fields.finish()?;
    let phone = plugin.options.normalize(raw)?;
    // A failed awaited delivery answers 500 (decisions D6).
    let delivered = send_code(ctx, plugin, verify_key(&phone), &plugin.options.verification_message).await?;
    ensure(delivered == Delivered::Ok, ErrorCode::InternalServerError)?;
    wire::json(&json!({ "message": "code sent" }))
}

/// `POST /phone-number/verify`: proves the number; signs in or up.
pub(crate) async fn verify(ctx: &Ctx<'_>, plugin: &Plugin<PhoneNumber>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let raw = fields.string("phoneNumber");
    let code = fields.string("code");
    let disable_session = fields.opt_bool("disableSession").unwrap_or(false);
    let attach = fields.opt_bool("updatePhoneNumber").unwrap_or(false);
    fields.finish()?;
    let phone = code_subject(plugin, raw);
    if attach {
        return attach_to_current_user(ctx, plugin, &phone, code).await;
    }
    let signed_in = verify_and_sign_in(ctx, plugin, &phone, code, disable_session).await;
    signed_in.inspect_err(|e| observe::sign_in_failed(Method::PhoneOtp, Recipient::Phone(&phone), e.code()))
}

async fn verify_and_sign_in(
    ctx: &Ctx<'_>,
    plugin: &Plugin<PhoneNumber>,
    phone: &str,
    code: &str,
    disable_session: bool,
) -> Result<Reply, ApiError> {
    let (otp, key) = (ctx.otp(&plugin.policy), verify_key(phone));
    let _checked = otp.verify(&key, code, Mode::Restore).await?;
    let verified = UserPatch { phone_number_verified: Some(true), ..UserPatch::default() };
    let (user, created) = match find_user(ctx, phone).await? {
        Some(user) => {
            let store = &ctx.shared.store;
            (store.update_user(&user.id, verified, ctx.now).await.map_err(store_error("update user"))?, false)
        }
        None if plugin.options.disable_sign_up => {
            let refused = Err(ErrorCode::PhoneNumberNotExist.into());
            return spend_unless_store_failed(&otp, &key, code, refused).await;
        }
        None => {
            let (user, created) = sign_up(ctx, plugin, phone).await?;
            (Some(user), created)
        }
    };
    let user = user.ok_or(ApiError::new(ErrorCode::FailedToUpdateUser))?;
    if let Some(callback) = &plugin.options.on_verification {
        callback(phone.to_owned(), user.clone()).await;
    }
    let outcome = Outcome::of(&user).verified(Channel::Sms);
    let outcome = if created { outcome.signed_up(Method::PhoneOtp) } else { outcome };
    if disable_session {
        let _spent = otp.consume(&key, code).await?;
        ctx.report(outcome).await?;
        return wire::json(&json!({ "status": true, "token": null, "user": user }));
    }
    let session = ctx.session_then_spend(&otp, &key, code, &user.id).await?;
    ctx.report(outcome.signed_in(&session, Method::PhoneOtp)).await?;
    let mut response = wire::json(&json!({ "status": true, "token": session.token, "user": user }))?;
    ctx.set_session_cookie(&mut response, &session.token, Remember::Inherit);
    Ok(response)
}

/// A correct code is spent whatever the answer (as Better Auth does), except
/// when the store failed: then the code stays usable for a retry.
async fn spend_unless_store_failed<T>(
    otp: &crate::otp::Otp<'_>,
    key: &CodeKey<'_>,
    code: &str,
    outcome: Result<T, ApiError>,
) -> Result<T, ApiError> {
    if matches!(&outcome, Err(e) if e.status().is_server_error()) {
        return outcome;
    }
    let _spent = otp.consume(key, code).await?;
    outcome
}

/// `updatePhoneNumber`: the number replaces the signed-in user's one; the
/// old number, if any, is told (K19).
async fn attach_to_current_user(
    ctx: &Ctx<'_>,
    plugin: &Plugin<PhoneNumber>,
    phone: &str,
    code: &str,
) -> Result<Reply, ApiError> {
    let (otp, key) = (ctx.otp(&plugin.policy), verify_key(phone));
    let _checked = otp.verify(&key, code, Mode::Restore).await?;
    let attached = attach(ctx, plugin, phone).await;
    let (current, user) = spend_unless_store_failed(&otp, &key, code, attached).await?;
    let old = current.user.phone_number;
    observe::phone_changed(&user.id, old.as_deref(), phone);
    if let (Some(notice), Some(old)) = (&plugin.options.change_notice, old) {
        let mode = plugin.options.courier.mode;
        delivery::send_change_notice(notice, mode, "sms", old, phone.to_owned()).await;
    }
    ctx.report(Outcome::of(&user).verified(Channel::Sms)).await?;
    wire::json(&json!({ "status": true, "token": current.session.token, "user": user }))
}

/// Stores the number on the current user: the session and the updated user.
async fn attach(
    ctx: &Ctx<'_>,
    plugin: &Plugin<PhoneNumber>,
    phone: &str,
) -> Result<(SessionWithUser, User), ApiError> {
    let unauthorized = || ApiError::new(ErrorCode::UserNotFound).with_status(http::StatusCode::UNAUTHORIZED);
    let current = ctx.session().await?.ok_or_else(unauthorized)?;
    ensure(find_user(ctx, phone).await?.is_none(), ErrorCode::PhoneNumberExist)?;
    let patch = UserPatch {
        phone_number: Some(Some(phone.to_owned())),
        phone_number_verified: Some(true),
        ..UserPatch::default()
    };
    let user =
        ctx.shared.store.update_user(&current.user.id, patch, ctx.now).await.map_err(|e| match e.kind() {
            StoreErrorKind::Conflict(_) => ApiError::new(ErrorCode::PhoneNumberExist),
            StoreErrorKind::Backend => ApiError::internal("update user", &e),
        })?;
    let user = user.ok_or_else(unauthorized)?;
    if let Some(callback) = &plugin.options.on_verification {
        callback(phone.to_owned(), user.clone()).await;
    }
    Ok((current, user))
}

/// A new user for a proven number, and whether this request created it.
async fn sign_up(ctx: &Ctx<'_>, plugin: &Plugin<PhoneNumber>, phone: &str) -> Result<(User, bool), ApiError> {
    let user = User {
        id: crypto::random_id()?,
        name: (plugin.options.temp_name)(phone),
        email: (plugin.options.temp_email)(phone).to_lowercase(),
        email_verified: false,
        image: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        phone_number: Some(phone.to_owned()),
        phone_number_verified: true,
    };
    let failed =
        || ApiError::new(ErrorCode::FailedToCreateUser).with_status(http::StatusCode::INTERNAL_SERVER_ERROR);
    match ctx.shared.store.create_user(user, None).await {
        Ok(user) => {
            observe::sign_up(Method::PhoneOtp, &user.id);
            Ok((user, true))
        }
        // A concurrent request with the same code created it first; only one
        // of them will spend the code.
        Err(e) if e.kind() == StoreErrorKind::Conflict(UniqueField::PhoneNumber) => {
            Ok((find_user(ctx, phone).await?.ok_or_else(failed)?, false))
        }
        Err(e) if matches!(e.kind(), StoreErrorKind::Conflict(_)) => Err(failed()),
        Err(e) => Err(ApiError::internal("create user", &e)),
    }
}

/// `POST /sign-in/phone-number`: phone + password.
pub(crate) async fn sign_in(ctx: &Ctx<'_>, plugin: &Plugin<PhoneNumber>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let raw = fields.string("phoneNumber");
    let password = fields.string("password");
    let remember = fields.opt_bool("rememberMe").unwrap_or(true);
    fields.finish()?;
    let phone = plugin.options.normalize(raw)?;
    ensure(js_length(password) <= ctx.shared.email_password.max_password_length, ErrorCode::PasswordTooLong)?;
    let signed_in = sign_in_with_password(ctx, plugin, &phone, password, remember).await;
    signed_in
        .inspect_err(|e| observe::sign_in_failed(Method::PhonePassword, Recipient::Phone(&phone), e.code()))
}

async fn sign_in_with_password(
    ctx: &Ctx<'_>,
    plugin: &Plugin<PhoneNumber>,
    phone: &str,
    password: &str,
    remember: bool,
) -> Result<Reply, ApiError> {
    let user = find_user(ctx, phone).await?;
    let unverified = user.as_ref().is_some_and(|u| !u.phone_number_verified);
    if plugin.options.require_verification && unverified {
        send_code(ctx, plugin, verify_key(phone), &plugin.options.verification_message).await?;
        return Err(ErrorCode::PhoneNumberNotVerified.into());
    }
    let credential = match &user {
        Some(user) => {
            ctx.shared.store.find_credential(&user.id).await.map_err(store_error("find credential"))?
        }
        None => None,
    };
    let has_account = credential.is_some();
    let stored = credential.and_then(|c| c.password);
    // Unknown numbers hash a dummy value too, so timing does not tell them apart.
    let valid = ctx.shared.hasher.verify(password, stored.as_deref()).await?;
    let fail = ApiError::new(ErrorCode::InvalidPhoneNumberOrPassword);
    let user = user.ok_or_else(|| fail.clone())?;
    ensure(has_account, ErrorCode::InvalidPhoneNumberOrPassword)?;
    if stored.is_none() {
        return Err(ErrorCode::UnexpectedError.into());
    }
    if !valid {
        return Err(fail);
    }
    let session = ctx.create_session(&user.id, Remember::Explicit(remember)).await?;
    ctx.report(Outcome::of(&user).signed_in(&session, Method::PhonePassword)).await?;
    let mut response = wire::json(&json!({ "token": session.token, "user": user }))?;
    ctx.set_session_cookie(&mut response, &session.token, Remember::Explicit(remember));
    Ok(response)
}

/// `POST /phone-number/request-password-reset`: same answer for any number.
pub(crate) async fn request_password_reset(
    ctx: &Ctx<'_>,
    plugin: &Plugin<PhoneNumber>,
) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let raw = fields.string("phoneNumber");
    fields.finish()?;
    // Any number gets the same answer (phone-number.md §4.4); one that
    // cannot be normalised simply has no account to reset.
    let Ok(phone) = plugin.options.normalize(raw) else {
        return wire::json(&json!({ "status": true }));
    };
    let user = find_user(ctx, &phone).await?;
    let eligible = user.is_some_and(|u| !plugin.options.require_verification || u.phone_number_verified);
    if eligible {
        // A failed delivery is logged and withdrawn, not answered: the answer
        // must not tell known numbers from unknown ones.
        send_code(ctx, plugin, reset_key(&phone), &plugin.options.reset_message).await?;
    } else {
        ctx.limit_recipient("sms", &phone, &plugin.options.recipient_limits).await?;
    }
    wire::json(&json!({ "status": true }))
}

/// `POST /phone-number/reset-password`.
pub(crate) async fn reset_password(ctx: &Ctx<'_>, plugin: &Plugin<PhoneNumber>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let raw = fields.string("phoneNumber");
    let code = fields.string("otp");
    let password = fields.string("newPassword");
    fields.finish()?;
    super::email_password::check_password_length(ctx, password)?;
    let phone = code_subject(plugin, raw);
    let key = reset_key(&phone);
    let _checked = ctx.otp(&plugin.policy).verify(&key, code, Mode::Restore).await?;
    let user = find_user(ctx, &phone)
        .await?
        .ok_or(ApiError::new(ErrorCode::UnexpectedError).with_status(http::StatusCode::BAD_REQUEST))?;
    ensure(
        !plugin.options.require_verification || user.phone_number_verified,
        ErrorCode::PhoneNumberPendingVerification,
    )?;
    let hash = ctx.shared.hasher.hash(password).await?;
    // The spend gates the write, so of concurrent resets with one code the
    // password in effect is the one whose request succeeded.
    let otp = ctx.otp(&plugin.policy);
    let spent = otp.consume(&key, code).await?;
    if let Err(error) = ctx.set_password_after_reset(&user.id, hash, Channel::Sms).await {
        otp.give_back(spent).await;
        return Err(error);
    }
    wire::json(&json!({ "status": true }))
}
