//! The current session, for the app's own handlers: a [`SessionHandle`] in
//! the request extensions, resolved on first use.

use std::fmt;
use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::clock::now_ms;
use crate::cookies;
use crate::error::ApiError;
use crate::shared::Shared;
use crate::store::SessionWithUser;

/// A lazy handle on the request's session.
///
/// Kernia inserts it into the extensions of every request that carries its
/// session cookie; requests without that cookie have no session and no
/// handle. Nothing is read from the store until [`SessionHandle::get`] is
/// called, and then only once per request.
#[derive(Clone)]
pub struct SessionHandle {
    inner: Arc<HandleInner>,
}

struct HandleInner {
    shared: Arc<Shared>,
    signed_cookie: String,
    resolved: OnceCell<Option<SessionWithUser>>,
}

impl SessionHandle {
    pub(crate) fn new(shared: Arc<Shared>, signed_cookie: String) -> Self {
        Self { inner: Arc::new(HandleInner { shared, signed_cookie, resolved: OnceCell::new() }) }
    }

    /// The session and its user, or `None` when the cookie is forged,
    /// expired or revoked.
    ///
    /// # Errors
    /// A store failure, as Kernia's 500 error.
    pub async fn get(&self) -> Result<Option<&SessionWithUser>, ApiError> {
        let inner = &*self.inner;
        let resolved = inner
            .resolved
            .get_or_try_init(|| async {
                let Some(token) = cookies::verify_signed(&inner.signed_cookie, &inner.shared.signer) else {
                    return Ok(None);
                };
                let now = now_ms(inner.shared.clock.as_ref());
                inner
                    .shared
                    .store
                    .find_session(token, now)
                    .await
                    .map_err(|e| ApiError::internal("find session", &e))
            })
            .await?;
        Ok(resolved.as_ref())
    }
}

impl fmt::Debug for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionHandle")
            .field("resolved", &self.inner.resolved.initialized())
            .finish_non_exhaustive()
    }
}
