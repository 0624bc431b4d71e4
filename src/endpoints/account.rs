//! `/change-password` and `/update-user`.

use serde_json::{Value, json};

use super::email_password::check_password_length;
use super::{Ctx, Remember, Reply, store_error};
use crate::error::{ApiError, ErrorCode};
use crate::store::UserPatch;
use crate::wire::{self, Fields, ensure, js_length};

/// `POST /change-password`.
pub(crate) async fn change_password(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let new_password = fields.string("newPassword");
    let current_password = fields.string("currentPassword");
    let revoke_others = fields.opt_bool("revokeOtherSessions").unwrap_or(false);
    fields.finish()?;
    let current = ctx.require_session().await?;

    check_password_length(ctx, new_password)?;
    let max = ctx.shared.email_password.max_password_length;
    ensure(js_length(current_password) <= max, ErrorCode::PasswordTooLong)?;
    let store = &ctx.shared.store;
    let user_id = &current.user.id;
    let credential = store.find_credential(user_id).await.map_err(store_error("find credential"))?;
    let Some(stored) = credential.and_then(|c| c.password) else {
        return Err(ErrorCode::CredentialAccountNotFound.into());
    };
    let hasher = &ctx.shared.hasher;
    ensure(hasher.verify(current_password, Some(&stored)).await?, ErrorCode::InvalidPassword)?;
    let hash = hasher.hash(new_password).await?;
    // Sessions go first: if the store fails in between, everyone is signed
    // out and the old password still holds, never the reverse.
    if revoke_others {
        store.delete_user_sessions(user_id, None).await.map_err(store_error("revoke sessions"))?;
    }
    store.set_password(user_id, hash, ctx.now).await.map_err(store_error("set password"))?;
    crate::observe::password_changed(user_id);
    if !revoke_others {
        return wire::json(&json!({ "token": null, "user": current.user }));
    }
    let session = ctx.create_session(user_id, Remember::Inherit).await?;
    let mut response = wire::json(&json!({ "token": session.token, "user": current.user }))?;
    ctx.set_session_cookie(&mut response, &session.token, Remember::Inherit);
    Ok(response)
}

/// `POST /update-user`: name and image (email and phone number change
/// through their own verified flows; a number can only be removed here).
pub(crate) async fn update_user(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let phone_plugin = ctx.shared.phone_number.is_some();
    let phone = ctx.body.as_ref().and_then(|b| b.get("phoneNumber"));
    let sets_phone = phone_plugin && phone.is_some_and(|v| !v.is_null());
    ensure(!sets_phone, ErrorCode::PhoneNumberCannotBeUpdated)?;
    let body = wire::record(ctx.body.as_ref())?;
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let name = fields.opt_string("name");
    let image = fields.nullable_string("image");
    fields.finish()?;
    let current = ctx.require_session().await?;
    ensure(!body.get("email").is_some_and(is_truthy), ErrorCode::EmailCanNotBeUpdated)?;
    if phone_plugin && body.get("phoneNumberVerified").is_some_and(is_truthy) {
        return Err(ApiError::new(ErrorCode::FieldNotAllowed)
            .with_message("phoneNumberVerified is not allowed to be set"));
    }
    let clears_phone = phone_plugin && phone.is_some_and(Value::is_null);
    let patch = UserPatch {
        name: name.map(str::to_owned),
        image: image.map(|i| i.map(str::to_owned)),
        phone_number: clears_phone.then_some(None),
        phone_number_verified: clears_phone.then_some(false),
        ..UserPatch::default()
    };
    if patch == UserPatch::default() {
        return Err(ErrorCode::NoFieldsToUpdate.into());
    }
    ctx.shared
        .store
        .update_user(&current.user.id, patch, ctx.now)
        .await
        .map_err(store_error("update user"))?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized))?;
    let mut response = wire::json(&json!({ "status": true }))?;
    ctx.set_session_cookie(&mut response, &current.session.token, Remember::Inherit);
    Ok(response)
}

/// JavaScript truthiness of a JSON value.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}
