//! An in-process [`Store`]: for tests, demos and single-instance apps that
//! accept losing state on restart.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use time::OffsetDateTime;

use super::{
    Credential, Session, SessionWithUser, Store, StoreError, StoreResult, UniqueField, User, UserPatch,
    Verification,
};

/// A [`Store`] in memory. Clones share the same state.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    users: HashMap<String, User>,
    by_email: HashMap<String, String>,
    by_phone: HashMap<String, String>,
    credentials: HashMap<String, Credential>,
    sessions: HashMap<String, Session>,
    sessions_of: HashMap<String, HashSet<String>>,
    verifications: HashMap<String, Vec<Verification>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The lock is never held across an await; a panic while holding it
    /// cannot leave a half-applied change, so a poisoned lock is still usable.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    fn apply(&mut self, id: &str, patch: UserPatch, now: OffsetDateTime) -> StoreResult<Option<User>> {
        let Some(current) = self.users.get(id) else {
            return Ok(None);
        };
        let mut user = current.clone();
        if let Some(email) = patch.email {
            if self.by_email.get(&email).is_some_and(|owner| owner != id) {
                return Err(StoreError::conflict(UniqueField::Email));
            }
            user.email = email;
        }
        if let Some(phone) = patch.phone_number {
            if let Some(phone) = &phone
                && self.by_phone.get(phone).is_some_and(|owner| owner != id)
            {
                return Err(StoreError::conflict(UniqueField::PhoneNumber));
            }
            user.phone_number = phone;
        }
        if let Some(name) = patch.name {
            user.name = name;
        }
        if let Some(image) = patch.image {
            user.image = image;
        }
        if let Some(verified) = patch.email_verified {
            user.email_verified = verified;
        }
        if let Some(verified) = patch.phone_number_verified {
            user.phone_number_verified = verified;
        }
        user.updated_at = now;
        self.by_email.remove(&current.email);
        if let Some(phone) = &current.phone_number {
            self.by_phone.remove(phone);
        }
        self.index(&user);
        self.users.insert(user.id.clone(), user.clone());
        Ok(Some(user))
    }

    fn index(&mut self, user: &User) {
        self.by_email.insert(user.email.clone(), user.id.clone());
        if let Some(phone) = &user.phone_number {
            self.by_phone.insert(phone.clone(), user.id.clone());
        }
    }

    fn remove_session(&mut self, token: &str) {
        if let Some(session) = self.sessions.remove(token)
            && let Some(tokens) = self.sessions_of.get_mut(&session.user_id)
        {
            tokens.remove(token);
        }
    }
}

impl Store for MemoryStore {
    async fn create_user(&self, user: User, password_hash: Option<String>) -> StoreResult<User> {
        let mut state = self.state();
        if state.by_email.contains_key(&user.email) {
            return Err(StoreError::conflict(UniqueField::Email));
        }
        if user.phone_number.as_ref().is_some_and(|p| state.by_phone.contains_key(p)) {
            return Err(StoreError::conflict(UniqueField::PhoneNumber));
        }
        state.index(&user);
        if let Some(password) = password_hash {
            state.credentials.insert(user.id.clone(), Credential { password: Some(password) });
        }
        state.users.insert(user.id.clone(), user.clone());
        Ok(user)
    }

    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        Ok(self.state().users.get(id).cloned())
    }

    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let state = self.state();
        Ok(state.by_email.get(email).and_then(|id| state.users.get(id)).cloned())
    }

    async fn find_user_by_phone(&self, phone: &str) -> StoreResult<Option<User>> {
        let state = self.state();
        Ok(state.by_phone.get(phone).and_then(|id| state.users.get(id)).cloned())
    }

    async fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        self.state().apply(id, patch, now)
    }

    async fn find_credential(&self, user_id: &str) -> StoreResult<Option<Credential>> {
        Ok(self.state().credentials.get(user_id).cloned())
    }

    async fn set_password(
        &self,
        user_id: &str,
        password_hash: String,
        _now: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut state = self.state();
        if state.users.contains_key(user_id) {
            state.credentials.insert(user_id.to_owned(), Credential { password: Some(password_hash) });
        }
        Ok(())
    }

    async fn delete_accounts(&self, user_id: &str) -> StoreResult<()> {
        self.state().credentials.remove(user_id);
        Ok(())
    }

    async fn create_session(&self, session: Session) -> StoreResult<()> {
        let mut state = self.state();
        state.sessions_of.entry(session.user_id.clone()).or_default().insert(session.token.clone());
        state.sessions.insert(session.token.clone(), session);
        Ok(())
    }

    async fn find_session(&self, token: &str, now: OffsetDateTime) -> StoreResult<Option<SessionWithUser>> {
        let state = self.state();
        let Some(session) = state.sessions.get(token).filter(|s| s.expires_at > now) else {
            return Ok(None);
        };
        Ok(state
            .users
            .get(&session.user_id)
            .map(|user| SessionWithUser { session: session.clone(), user: user.clone() }))
    }

    async fn refresh_session(
        &self,
        token: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Session>> {
        let mut state = self.state();
        Ok(state.sessions.get_mut(token).map(|session| {
            session.expires_at = expires_at;
            session.updated_at = now;
            session.clone()
        }))
    }

    async fn delete_session(&self, token: &str) -> StoreResult<()> {
        self.state().remove_session(token);
        Ok(())
    }

    async fn list_sessions(&self, user_id: &str, now: OffsetDateTime) -> StoreResult<Vec<Session>> {
        let state = self.state();
        let mut sessions: Vec<Session> = state
            .sessions_of
            .get(user_id)
            .into_iter()
            .flatten()
            .filter_map(|token| state.sessions.get(token))
            .filter(|s| s.expires_at > now)
            .cloned()
            .collect();
        sessions.sort_by_key(|s| s.created_at);
        Ok(sessions)
    }

    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        let mut state = self.state();
        let tokens: Vec<String> = state
            .sessions_of
            .get(user_id)
            .into_iter()
            .flatten()
            .filter(|token| Some(token.as_str()) != keep)
            .cloned()
            .collect();
        for token in tokens {
            state.remove_session(&token);
        }
        Ok(())
    }

    async fn create_verification(&self, verification: Verification) -> StoreResult<()> {
        let mut state = self.state();
        state.verifications.entry(verification.identifier.clone()).or_default().push(verification);
        Ok(())
    }

    async fn find_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        Ok(self.state().verifications.get(identifier).and_then(|rows| newest(rows)).cloned())
    }

    async fn take_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        let rows = self.state().verifications.remove(identifier);
        Ok(rows.and_then(|rows| newest(&rows).cloned()))
    }

    async fn restore_verification(&self, verification: Verification) -> StoreResult<bool> {
        let mut state = self.state();
        let rows = state.verifications.entry(verification.identifier.clone()).or_default();
        if !rows.is_empty() {
            return Ok(false);
        }
        rows.push(verification);
        Ok(true)
    }

    async fn delete_verifications(&self, identifier: &str) -> StoreResult<()> {
        self.state().verifications.remove(identifier);
        Ok(())
    }

    async fn sweep_expired(&self, now: OffsetDateTime) -> StoreResult<()> {
        let mut state = self.state();
        let expired: Vec<String> =
            state.sessions.values().filter(|s| s.expires_at <= now).map(|s| s.token.clone()).collect();
        for token in expired {
            state.remove_session(&token);
        }
        state.verifications.retain(|_, rows| {
            rows.retain(|v| v.expires_at > now);
            !rows.is_empty()
        });
        Ok(())
    }
}

fn newest(rows: &[Verification]) -> Option<&Verification> {
    rows.iter().max_by_key(|v| v.created_at)
}
