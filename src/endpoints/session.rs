//! `/get-session`, `/sign-out`, `/list-sessions` and the revocations.

use http::{HeaderValue, header};
use serde_json::json;

use super::{Ctx, Remember, Reply, store_error};
use crate::error::{ApiError, ErrorCode};
use crate::wire::{self, Fields};

/// `GET /get-session`: `null`, or `{session, user}` with the refresh rule.
pub(crate) async fn get_session(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let mut response = get_session_inner(ctx).await?;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

async fn get_session_inner(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let Some(token) = ctx.session_token() else {
        return wire::json(&());
    };
    let store = &ctx.shared.store;
    let found = store
        .find_session(&token, ctx.now)
        .await
        .map_err(|e| ApiError::failed(ErrorCode::FailedToGetSession, "find session", &e))?;
    let Some(mut current) = found else {
        store.delete_session(&token).await.map_err(store_error("delete session"))?;
        let mut response = wire::json(&())?;
        ctx.clear_session_cookies(&mut response);
        return Ok(response);
    };
    let config = &ctx.shared.session;
    let refresh_at = current.session.expires_at - config.expires_in + config.update_age;
    let refresh = ctx.now >= refresh_at
        && !config.disable_refresh
        && !query_flag(ctx, "disableRefresh")
        && !ctx.dont_remember();
    if refresh {
        let expires_at = ctx.now + config.expires_in;
        let refreshed = store.refresh_session(&token, expires_at, ctx.now).await.map_err(|_| {
            ApiError::new(ErrorCode::FailedToGetSession).with_status(http::StatusCode::UNAUTHORIZED)
        })?;
        if let Some(session) = refreshed {
            current.session = session;
        }
    }
    let mut response = wire::json(&current)?;
    if refresh {
        ctx.set_session_cookie(&mut response, &token, Remember::Explicit(true));
    }
    Ok(response)
}

/// A boolean query flag, coerced like Better Auth: any non-empty value is true.
fn query_flag(ctx: &Ctx<'_>, name: &str) -> bool {
    let query = ctx.parts.uri.query().unwrap_or("");
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .any(|(k, v)| k == name && !v.is_empty())
}

/// `POST /sign-out`: deletes the session (if any) and clears the cookies.
pub(crate) async fn sign_out(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    Fields::optional(ctx.body.as_ref())?.finish()?;
    if let Some(token) = ctx.session_token() {
        ctx.shared.store.delete_session(&token).await.map_err(store_error("delete session"))?;
        crate::observe::sign_out();
    }
    let mut response = wire::json(&json!({ "success": true }))?;
    ctx.clear_session_cookies(&mut response);
    Ok(response)
}

/// `GET /list-sessions`: the user's live sessions; needs a fresh session.
pub(crate) async fn list_sessions(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let current = ctx.require_session().await?;
    let fresh_age = ctx.shared.session.fresh_age;
    if !fresh_age.is_zero() && ctx.now - current.session.created_at >= fresh_age {
        return Err(ErrorCode::SessionNotFresh.into());
    }
    let sessions = ctx
        .shared
        .store
        .list_sessions(&current.user.id, ctx.now)
        .await
        .map_err(store_error("list sessions"))?;
    wire::json(&sessions)
}

/// `POST /revoke-session`: deletes one of the caller's sessions.
pub(crate) async fn revoke_session(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    let mut fields = Fields::required(ctx.body.as_ref())?;
    let token = fields.string("token");
    fields.finish()?;
    let current = ctx.require_session().await?;
    let store = &ctx.shared.store;
    let target = store.find_session(token, ctx.now).await.map_err(store_error("find session"))?;
    if target.is_some_and(|t| t.session.user_id == current.user.id) {
        store.delete_session(token).await.map_err(revoke_failed)?;
    }
    let mut response = wire::json(&json!({ "status": true }))?;
    if token == current.session.token {
        ctx.clear_session_cookies(&mut response);
    }
    Ok(response)
}

/// `POST /revoke-sessions`: deletes all of the caller's sessions.
pub(crate) async fn revoke_sessions(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    Fields::optional(ctx.body.as_ref())?.finish()?;
    let current = ctx.require_session().await?;
    ctx.shared.store.delete_user_sessions(&current.user.id, None).await.map_err(revoke_failed)?;
    let mut response = wire::json(&json!({ "status": true }))?;
    ctx.clear_session_cookies(&mut response);
    Ok(response)
}

/// `POST /revoke-other-sessions`: keeps only the current session.
pub(crate) async fn revoke_other_sessions(ctx: &Ctx<'_>) -> Result<Reply, ApiError> {
    Fields::optional(ctx.body.as_ref())?.finish()?;
    let current = ctx.require_session().await?;
    ctx.shared
        .store
        .delete_user_sessions(&current.user.id, Some(&current.session.token))
        .await
        .map_err(revoke_failed)?;
    wire::json(&json!({ "status": true }))
}

fn revoke_failed(e: crate::store::StoreError) -> ApiError {
    ApiError::internal("revoke sessions", &e)
}
