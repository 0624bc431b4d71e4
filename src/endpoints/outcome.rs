//! What a flow did, reported once it is stored: the security events and the
//! app's hooks, in order (sign-up, verification, sign-in).

use super::Ctx;
use crate::error::ApiError;
use crate::hooks::{Channel, Method};
use crate::observe;
use crate::store::{Session, User};

/// The steps a flow completed for one user.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome<'a> {
    user: &'a User,
    signed_up: Option<Method>,
    verified: Option<Channel>,
    signed_in: Option<(&'a Session, Method)>,
}

impl<'a> Outcome<'a> {
    pub(crate) fn of(user: &'a User) -> Self {
        Self { user, signed_up: None, verified: None, signed_in: None }
    }

    /// The flow created the user (its `sign_up` event was logged at creation).
    pub(crate) fn signed_up(self, method: Method) -> Self {
        Self { signed_up: Some(method), ..self }
    }

    pub(crate) fn verified(self, channel: Channel) -> Self {
        Self { verified: Some(channel), ..self }
    }

    /// The flow stored a new session, which is taken back if a hook fails.
    pub(crate) fn signed_in(self, session: &'a Session, method: Method) -> Self {
        Self { signed_in: Some((session, method)), ..self }
    }
}

impl Ctx<'_> {
    /// Logs the events and runs the hooks; when a hook fails, the new
    /// session is deleted so the client is not signed in (see `crate::hooks`).
    pub(crate) async fn report(&self, outcome: Outcome<'_>) -> Result<(), ApiError> {
        let user = outcome.user;
        if let Some(channel) = outcome.verified {
            observe::contact_verified(channel, &user.id);
        }
        if let Some((_, method)) = outcome.signed_in {
            observe::sign_in(method, &user.id);
        }
        let result = self.run_hooks(&outcome).await;
        if let (Err(_), Some((session, _))) = (&result, outcome.signed_in) {
            self.take_back(session).await;
        }
        result
    }

    async fn run_hooks(&self, outcome: &Outcome<'_>) -> Result<(), ApiError> {
        let (hooks, user) = (&self.shared.hooks, outcome.user);
        if let Some(method) = outcome.signed_up {
            hooks.signed_up(user, method).await?;
        }
        if let Some(channel) = outcome.verified {
            hooks.verified(user, channel).await?;
        }
        if let Some((session, method)) = outcome.signed_in {
            hooks.signed_in(user, session, method, outcome.signed_up.is_some()).await?;
        }
        Ok(())
    }

    /// Deletes a session that will not be handed out (best effort).
    pub(crate) async fn take_back(&self, session: &Session) {
        if let Err(e) = self.shared.store.delete_session(&session.token).await {
            tracing::error!(target: "kernia", error = %e, "could not take back a session");
        }
    }
}
