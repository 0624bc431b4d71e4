//! `/sign-up/email` and `/sign-in/email`.

use http::{HeaderValue, header};
use serde_json::json;

use super::{Ctx, Outcome, Remember, Reply, store_error};
use crate::crypto;
use crate::error::{ApiError, ErrorCode};
use crate::hooks::Method;
use crate::observe::{self, Recipient};
use crate::store::{StoreErrorKind, User};
use crate::wire::{self, Fields, ensure, is_valid_email, js_length};

/// `POST /sign-up/email`.
pub(crate) async fn sign_up(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let name = fields.string("name");
    let email = fields.email("email");
    let password = fields.non_empty("password");
    let image = fields.opt_string("image");
    fields.opt_string("callbackURL");
    let remember = fields.opt_bool("rememberMe").unwrap_or(true);
    fields.finish()?;
    ctx.check_first_login()?;

    let config = &ctx.shared.email_password;
    ensure(config.enabled && !config.disable_sign_up, ErrorCode::EmailPasswordSignUpDisabled)?;
    let email = email.to_lowercase();
    ensure(is_valid_email(&email), ErrorCode::InvalidEmail)?;
    check_password_length(ctx, password)?;
    ctx.forbid_phone_number_in_body()?;
    let store = &ctx.shared.store;
    let existing = store.find_user_by_email(&email).await.map_err(store_error("find user"))?;
    ensure(existing.is_none(), ErrorCode::UserAlreadyExistsUseAnotherEmail)?;

    let hash = ctx.shared.hasher.hash(password).await?;
    let user = User {
        id: crypto::random_id()?,
        name: name.to_owned(),
        email,
        email_verified: false,
        image: image.map(str::to_owned),
        created_at: ctx.now,
        updated_at: ctx.now,
        phone_number: None,
        phone_number_verified: false,
    };
    let user = store.create_user(user, Some(hash)).await.map_err(|e| match e.kind() {
        StoreErrorKind::Conflict(_) => ErrorCode::UserAlreadyExistsUseAnotherEmail.into(),
        StoreErrorKind::Backend => ApiError::failed(ErrorCode::FailedToCreateUser, "create user", &e),
    })?;
    observe::sign_up(Method::Password, &user.id);
    super::email_otp::after_sign_up(ctx, &user.email).await?;
    ctx.report(Outcome::of(&user).signed_up(Method::Password)).await?;

    if !config.auto_sign_in || config.require_email_verification {
        return wire::json(&json!({ "token": null, "user": user }));
    }
    let session = ctx.create_session(&user.id, Remember::Explicit(remember)).await?;
    ctx.report(Outcome::of(&user).signed_in(&session, Method::Password)).await?;
    let mut response = wire::json(&json!({ "token": session.token, "user": user }))?;
    ctx.set_session_cookie(&mut response, &session.token, Remember::Explicit(remember));
    Ok(response)
}

/// `POST /sign-in/email`.
pub(crate) async fn sign_in(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let email = fields.string("email");
    let password = fields.string("password");
    let callback_url = fields.opt_string("callbackURL");
    let remember = fields.opt_bool("rememberMe").unwrap_or(true);
    fields.finish()?;
    ctx.check_first_login()?;

    let config = &ctx.shared.email_password;
    ensure(config.enabled, ErrorCode::EmailPasswordDisabled)?;
    let email = email.to_lowercase();
    ensure(is_valid_email(&email), ErrorCode::InvalidEmail)?;
    ensure(js_length(password) <= config.max_password_length, ErrorCode::PasswordTooLong)?;
    let signed_in = sign_in_with_password(ctx, &email, password, callback_url, remember).await;
    signed_in.inspect_err(|e| observe::sign_in_failed(Method::Password, Recipient::Email(&email), e.code()))
}

async fn sign_in_with_password(
    ctx: &Ctx<'_>,
    email: &str,
    password: &str,
    callback_url: Option<&str>,
    remember: bool,
) -> Result<Reply, ApiError> {
    let config = &ctx.shared.email_password;
    let store = &ctx.shared.store;
    let user = store.find_user_by_email(email).await.map_err(store_error("find user"))?;
    let stored = match &user {
        Some(user) => store
            .find_credential(&user.id)
            .await
            .map_err(store_error("find credential"))?
            .and_then(|c| c.password),
        None => None,
    };
    let valid = ctx.shared.hasher.verify(password, stored.as_deref()).await?;
    let Some(user) = user.filter(|_| valid) else {
        return Err(ErrorCode::InvalidEmailOrPassword.into());
    };
    ensure(!config.require_email_verification || user.email_verified, ErrorCode::EmailNotVerified)?;

    let session = ctx.create_session(&user.id, Remember::Explicit(remember)).await?;
    ctx.report(Outcome::of(&user).signed_in(&session, Method::Password)).await?;
    let body = match callback_url {
        Some(url) => json!({ "redirect": true, "token": session.token, "url": url, "user": user }),
        None => json!({ "redirect": false, "token": session.token, "user": user }),
    };
    let mut response = wire::json(&body)?;
    if let Some(location) = callback_url.and_then(|url| HeaderValue::from_str(url).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    ctx.set_session_cookie(&mut response, &session.token, Remember::Explicit(remember));
    Ok(response)
}

/// The configured length bounds, in UTF-16 units as Better Auth counts.
pub(crate) fn check_password_length(ctx: &Ctx<'_>, password: &str) -> Result<(), ApiError> {
    let config = &ctx.shared.email_password;
    let length = js_length(password);
    ensure(length >= config.min_password_length, ErrorCode::PasswordTooShort)?;
    ensure(length <= config.max_password_length, ErrorCode::PasswordTooLong)
}
