//! `/email-otp/*` and `/sign-in/email-otp` (email-otp.md §4).

use serde_json::json;

use super::{Ctx, Outcome, Remember, Reply, store_error};
use crate::crypto;
use crate::delivery::{self, Delivered, OtpPurpose, Outgoing};
use crate::email_otp::{EmailOtp, ResendStrategy};
use crate::error::{ApiError, ErrorCode};
use crate::hooks::{Channel, Method};
use crate::observe::{self, Recipient};
use crate::otp::{CodeKey, Issued, Mode};
use crate::shared::Plugin;
use crate::store::{StoreErrorKind, UniqueField, User, UserPatch};
use crate::wire::{self, Fields, ensure, is_valid_email};

/// The verification identifier of a code (kernia-decisions.md D3).
pub(crate) fn identifier(purpose: OtpPurpose, email: &str) -> String {
    format!("email-otp:{}:{email}", purpose.as_str())
}

/// The code of `purpose` for `subject`, sent to `email`.
fn key<'a>(purpose: OtpPurpose, subject: &str, email: &'a str) -> CodeKey<'a> {
    CodeKey {
        identifier: identifier(purpose, subject),
        recipient: Recipient::Email(email),
        purpose: purpose.as_str(),
    }
}

fn lower_valid_email(email: &str) -> Result<String, ApiError> {
    let email = email.to_lowercase();
    ensure(is_valid_email(&email), ErrorCode::InvalidEmail)?;
    Ok(email)
}

async fn find_user(ctx: &Ctx<'_>, email: &str) -> Result<Option<User>, ApiError> {
    ctx.shared.store.find_user_by_email(email).await.map_err(store_error("find user"))
}

/// Issues a code and hands it to the sender (per the delivery mode).
/// `subject` names the code (the email, or `<userId>:<newEmail>` for a change).
pub(crate) async fn send_code(
    ctx: &Ctx<'_>,
    plugin: &Plugin<EmailOtp>,
    subject: &str,
    email: &str,
    purpose: OtpPurpose,
) -> Result<(), ApiError> {
    let id = identifier(purpose, subject);
    let issued = issue(ctx, plugin, &id, email, purpose).await?;
    let message = Outgoing::Email { email: email.to_owned(), otp: issued.code, purpose };
    // Like Better Auth, a failed email delivery still answers success (the
    // courier has withdrawn the code).
    let delivered = plugin.options.courier.deliver(message, ctx.shared.store.clone(), id, issued.id).await?;
    if delivered == Delivered::Ok {
        observe::code_sent(purpose.as_str(), Recipient::Email(email));
    }
    Ok(())
}

/// The code to send: the live one again under `reuse`, else a new one
/// (from the custom generator when it gives one).
async fn issue(
    ctx: &Ctx<'_>,
    plugin: &Plugin<EmailOtp>,
    id: &str,
    email: &str,
    purpose: OtpPurpose,
) -> Result<Issued, ApiError> {
    let otp = ctx.otp(&plugin.policy);
    if plugin.options.resend_strategy == ResendStrategy::Reuse
        && let Some(issued) = otp.reissue(id).await?
    {
        return Ok(issued);
    }
    match plugin.options.generate_otp.as_ref().and_then(|generate| generate(email, purpose)) {
        Some(code) if !code.is_empty() => otp.issue_code(id, code).await,
        _ => otp.issue(id).await,
    }
}

/// `POST /send-verification-email` with `override_default_email_verification`:
/// a code instead of a link, for unverified accounts only; the same answer for any address.
pub(crate) async fn send_verification_email(
    ctx: &Ctx<'_>,
    plugin: &Plugin<EmailOtp>,
) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let email = fields.email("email");
    fields.opt_string("callbackURL");
    fields.finish()?;
    ensure(plugin.options.override_default_email_verification, ErrorCode::VerificationEmailNotEnabled)?;
    let email = lower_valid_email(email)?;
    ctx.limit_recipient("email", &email, &plugin.options.recipient_limits).await?;
    if find_user(ctx, &email).await?.is_some_and(|u| !u.email_verified) {
        send_code(ctx, plugin, &email, &email, OtpPurpose::EmailVerification).await?;
    }
    wire::json(&json!({ "status": true }))
}

/// The `send_verification_on_sign_up` hook.
pub(crate) async fn after_sign_up(ctx: &Ctx<'_>, email: &str) -> Result<(), ApiError> {
    match &ctx.shared.email_otp {
        Some(plugin) if plugin.options.send_verification_on_sign_up => {
            send_code(ctx, plugin, email, email, OtpPurpose::EmailVerification).await
        }
        _ => Ok(()),
    }
}

/// `POST /email-otp/send-verification-otp`.
pub(crate) async fn send_verification_otp(
    ctx: &Ctx<'_>,
    plugin: &Plugin<EmailOtp>,
) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let email = fields.string("email");
    let purpose = fields.one_of("type", &OtpPurpose::ALL);
    fields.finish()?;
    ctx.check_first_login()?;
    let email = lower_valid_email(email)?;
    let purpose = OtpPurpose::parse(purpose).filter(|p| *p != OtpPurpose::ChangeEmail);
    let purpose = purpose.ok_or(ApiError::new(ErrorCode::InvalidOtpType))?;
    ctx.limit_recipient("email", &email, &plugin.options.recipient_limits).await?;
    let known = find_user(ctx, &email).await?.is_some();
    if known || (purpose == OtpPurpose::SignIn && !plugin.options.disable_sign_up) {
        send_code(ctx, plugin, &email, &email, purpose).await?;
    }
    wire::json(&json!({ "success": true }))
}

/// `POST /email-otp/check-verification-otp`: verifies without spending.
pub(crate) async fn check_verification_otp(
    ctx: &Ctx<'_>,
    plugin: &Plugin<EmailOtp>,
) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let email = fields.string("email");
    let purpose = fields.one_of("type", &OtpPurpose::ALL);
    let code = fields.string("otp");
    fields.finish()?;
    let email = lower_valid_email(email)?;
    let purpose = OtpPurpose::parse(purpose).unwrap_or(OtpPurpose::SignIn);
    let _checked = ctx.otp(&plugin.policy).verify(&key(purpose, &email, &email), code, Mode::Restore).await?;
    ensure(find_user(ctx, &email).await?.is_some(), ErrorCode::UserNotFound)?;
    wire::json(&json!({ "success": true }))
}

/// `POST /email-otp/verify-email`.
pub(crate) async fn verify_email(ctx: &Ctx<'_>, plugin: &Plugin<EmailOtp>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let email = fields.string("email");
    let code = fields.string("otp");
    fields.finish()?;
    let email = lower_valid_email(email)?;
    let (otp, key) = (ctx.otp(&plugin.policy), key(OtpPurpose::EmailVerification, &email, &email));
    let _checked = otp.verify(&key, code, Mode::Restore).await?;
    let user = find_user(ctx, &email).await?.ok_or(ApiError::new(ErrorCode::UserNotFound))?;
    let patch = UserPatch { email_verified: Some(true), ..UserPatch::default() };
    let user = update(ctx, &user.id, patch).await?;
    let _spent = otp.consume(&key, code).await?;
    ctx.report(Outcome::of(&user).verified(Channel::Email)).await?;
    wire::json(&json!({ "status": true, "token": null, "user": user }))
}

/// `POST /sign-in/email-otp`: signs in, or up when the address is new.
pub(crate) async fn sign_in(ctx: &Ctx<'_>, plugin: &Plugin<EmailOtp>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let email = fields.string("email");
    let code = fields.string("otp");
    let name = fields.opt_string("name");
    let image = fields.opt_string("image");
    fields.finish()?;
    let email = email.to_lowercase();
    let signed_in = sign_in_with_code(ctx, plugin, &email, code, name.unwrap_or(""), image).await;
    signed_in.inspect_err(|e| observe::sign_in_failed(Method::EmailOtp, Recipient::Email(&email), e.code()))
}

async fn sign_in_with_code(
    ctx: &Ctx<'_>,
    plugin: &Plugin<EmailOtp>,
    email: &str,
    code: &str,
    name: &str,
    image: Option<&str>,
) -> Result<Reply, ApiError> {
    let (otp, key) = (ctx.otp(&plugin.policy), key(OtpPurpose::SignIn, email, email));
    let _checked = otp.verify(&key, code, Mode::Restore).await?;
    let (user, created) = match find_user(ctx, email).await? {
        Some(user) if user.email_verified => (user, false),
        Some(user) => (claim_unverified(ctx, user).await?, false),
        None if plugin.options.disable_sign_up => return Err(ErrorCode::InvalidOtp.into()),
        None => create_user(ctx, email, name, image).await?,
    };
    let session = ctx.session_then_spend(&otp, &key, code, &user.id).await?;
    let outcome = Outcome::of(&user).signed_in(&session, Method::EmailOtp);
    ctx.report(if created { outcome.signed_up(Method::EmailOtp) } else { outcome }).await?;
    let mut response = wire::json(&json!({ "token": session.token, "user": user }))?;
    ctx.set_session_cookie(&mut response, &session.token, Remember::Inherit);
    Ok(response)
}

/// The code proves the mailbox, so whoever registered the address without
/// proving it loses the account's password and sessions (D16).
async fn claim_unverified(ctx: &Ctx<'_>, user: User) -> Result<User, ApiError> {
    let store = &ctx.shared.store;
    store.delete_accounts(&user.id).await.map_err(store_error("delete accounts"))?;
    store.delete_user_sessions(&user.id, None).await.map_err(store_error("delete sessions"))?;
    update(ctx, &user.id, UserPatch { email_verified: Some(true), ..UserPatch::default() }).await
}

/// A new user for a proven address, and whether this request created it.
async fn create_user(
    ctx: &Ctx<'_>,
    email: &str,
    name: &str,
    image: Option<&str>,
) -> Result<(User, bool), ApiError> {
    ctx.forbid_phone_number_in_body()?;
    let user = User {
        id: crypto::random_id()?,
        name: name.to_owned(),
        email: email.to_owned(),
        email_verified: true,
        image: image.map(str::to_owned),
        created_at: ctx.now,
        updated_at: ctx.now,
        phone_number: None,
        phone_number_verified: false,
    };
    match ctx.shared.store.create_user(user, None).await {
        Ok(user) => {
            observe::sign_up(Method::EmailOtp, &user.id);
            Ok((user, true))
        }
        // A concurrent request with the same code created it first; only one
        // of them will spend the code.
        Err(e) if e.kind() == StoreErrorKind::Conflict(UniqueField::Email) => {
            let user = find_user(ctx, email).await?.ok_or(ApiError::new(ErrorCode::FailedToCreateUser))?;
            Ok((user, false))
        }
        Err(e) if matches!(e.kind(), StoreErrorKind::Conflict(_)) => {
            Err(ErrorCode::FailedToCreateUser.into())
        }
        Err(e) => Err(ApiError::internal("create user", &e)),
    }
}

async fn update(ctx: &Ctx<'_>, user_id: &str, patch: UserPatch) -> Result<User, ApiError> {
    ctx.shared
        .store
        .update_user(user_id, patch, ctx.now)
        .await
        .map_err(store_error("update user"))?
        .ok_or(ApiError::new(ErrorCode::UserNotFound))
}

/// `POST /email-otp/request-password-reset` and `/forget-password/email-otp`.
pub(crate) async fn request_password_reset(
    ctx: &Ctx<'_>,
    plugin: &Plugin<EmailOtp>,
) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let email = fields.string("email");
    fields.finish()?;
    let email = lower_valid_email(email)?;
    ctx.limit_recipient("email", &email, &plugin.options.recipient_limits).await?;
    if find_user(ctx, &email).await?.is_some() {
        send_code(ctx, plugin, &email, &email, OtpPurpose::ForgetPassword).await?;
    }
    wire::json(&json!({ "success": true }))
}

/// `POST /email-otp/reset-password`.
pub(crate) async fn reset_password(ctx: &Ctx<'_>, plugin: &Plugin<EmailOtp>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let email = fields.string("email");
    let code = fields.string("otp");
    let password = fields.string("password");
    fields.finish()?;
    let email = lower_valid_email(email)?;
    super::email_password::check_password_length(ctx, password)?;
    let key = key(OtpPurpose::ForgetPassword, &email, &email);
    let _checked = ctx.otp(&plugin.policy).verify(&key, code, Mode::Restore).await?;
    let user = find_user(ctx, &email).await?.ok_or(ApiError::new(ErrorCode::UserNotFound))?;
    let hash = ctx.shared.hasher.hash(password).await?;
    // The spend gates the write, so of concurrent resets with one code the
    // password in effect is the one whose request succeeded.
    let otp = ctx.otp(&plugin.policy);
    let spent = otp.consume(&key, code).await?;
    if let Err(error) = ctx.set_password_after_reset(&user.id, hash, Channel::Email).await {
        otp.give_back(spent).await;
        return Err(error);
    }
    if !user.email_verified {
        update(ctx, &user.id, UserPatch { email_verified: Some(true), ..UserPatch::default() }).await?;
    }
    wire::json(&json!({ "success": true }))
}

/// `POST /email-otp/request-email-change` (when enabled).
pub(crate) async fn request_email_change(
    ctx: &Ctx<'_>,
    plugin: &Plugin<EmailOtp>,
) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let new_email = fields.string("newEmail");
    fields.opt_string("otp");
    fields.finish()?;
    let current = ctx.require_session().await?;
    ensure(plugin.options.change_email, ErrorCode::ChangeEmailDisabled)?;
    let new_email = lower_valid_email(new_email)?;
    ensure(new_email != current.user.email, ErrorCode::EmailIsTheSame)?;
    ctx.limit_recipient("email", &new_email, &plugin.options.recipient_limits).await?;
    if find_user(ctx, &new_email).await?.is_none() {
        let subject = format!("{}:{new_email}", current.user.id);
        send_code(ctx, plugin, &subject, &new_email, OtpPurpose::ChangeEmail).await?;
    }
    wire::json(&json!({ "success": true }))
}

/// `POST /email-otp/change-email` (when enabled).
pub(crate) async fn change_email(ctx: &Ctx<'_>, plugin: &Plugin<EmailOtp>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let new_email = fields.string("newEmail");
    let code = fields.string("otp");
    fields.finish()?;
    let current = ctx.require_session().await?;
    ensure(plugin.options.change_email, ErrorCode::ChangeEmailDisabled)?;
    let new_email = lower_valid_email(new_email)?;
    ensure(new_email != current.user.email, ErrorCode::EmailIsTheSame)?;
    let subject = format!("{}:{new_email}", current.user.id);
    let (otp, key) = (ctx.otp(&plugin.policy), key(OtpPurpose::ChangeEmail, &subject, &new_email));
    let _checked = otp.verify(&key, code, Mode::Restore).await?;
    let patch =
        UserPatch { email: Some(new_email.clone()), email_verified: Some(true), ..UserPatch::default() };
    ctx.shared.store.update_user(&current.user.id, patch, ctx.now).await.map_err(|e| match e.kind() {
        StoreErrorKind::Conflict(_) => ApiError::new(ErrorCode::EmailAlreadyInUse),
        StoreErrorKind::Backend => ApiError::internal("update user", &e),
    })?;
    let _spent = otp.consume(&key, code).await?;
    let old_email = current.user.email.clone();
    observe::email_changed(&current.user.id, &old_email, &new_email);
    if let Some(notice) = &plugin.options.change_notice {
        let mode = plugin.options.courier.mode;
        delivery::send_change_notice(notice, mode, "email", old_email, new_email).await;
    }
    let mut response = wire::json(&json!({ "success": true }))?;
    ctx.set_session_cookie(&mut response, &current.session.token, Remember::Inherit);
    Ok(response)
}
