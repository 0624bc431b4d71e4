//! axum extractors for the current session (feature `axum`).

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::request::Parts;

use crate::error::{ApiError, ErrorCode};
use crate::session::SessionHandle;
use crate::store::SessionWithUser;

/// The signed-in session and user; rejects with Better Auth's 401
/// `{"message":"Unauthorized","code":"UNAUTHORIZED"}`.
///
/// Use `Option<CurrentSession>` for routes that also serve visitors.
#[derive(Debug, Clone)]
pub struct CurrentSession(pub SessionWithUser);

/// Why a [`CurrentSession`] could not be extracted: a JSON error response.
#[derive(Debug)]
pub struct SessionRejection(ApiError);

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        self.0.into_response().map(axum::body::Body::new)
    }
}

async fn load(parts: &Parts) -> Result<Option<CurrentSession>, SessionRejection> {
    let Some(handle) = parts.extensions.get::<SessionHandle>() else {
        return Ok(None);
    };
    let session = handle.get().await.map_err(SessionRejection)?;
    Ok(session.cloned().map(CurrentSession))
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentSession {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        load(parts).await?.ok_or(SessionRejection(ApiError::new(ErrorCode::Unauthorized)))
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentSession {
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        load(parts).await
    }
}
