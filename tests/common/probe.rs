//! [`Probed`]: any store with a test's [`Probe`] around each operation, so a
//! test that counts, records, delays or fails store calls writes only that
//! and not the twenty forwarding methods of [`Store`].

use std::future::Future;

use kernia::store::{
    Credential, Session, SessionWithUser, Store, StoreResult, User, UserPatch, Verification,
};
use time::OffsetDateTime;

/// One store call: the [`Store`] method's name, its key argument (a user id,
/// token or identifier; `""` when it has none) and the verification it
/// writes, if any.
#[derive(Clone, Copy, Debug)]
pub struct Op<'a> {
    pub name: &'static str,
    pub key: &'a str,
    pub verification: Option<&'a Verification>,
}

impl<'a> Op<'a> {
    fn new(name: &'static str, key: &'a str) -> Self {
        Self { name, key, verification: None }
    }

    fn writing(name: &'static str, verification: &'a Verification) -> Self {
        Self { name, key: &verification.identifier, verification: Some(verification) }
    }
}

/// What a test does around the calls of a [`Probed`] store. Every hook
/// defaults to doing nothing.
pub trait Probe: Send + Sync + 'static {
    /// Before `op`; an error is answered instead of running it.
    fn before<'a>(&'a self, op: Op<'a>) -> impl Future<Output = StoreResult<()>> + Send + 'a {
        let _ = op;
        async { Ok(()) }
    }

    /// After `op` ran (whatever it answered).
    fn after<'a>(&'a self, op: Op<'a>) -> impl Future<Output = ()> + Send + 'a {
        let _ = op;
        async {}
    }

    /// What a successful `take_verification` of `identifier` handed out.
    fn took(&self, identifier: &str, taken: Option<&Verification>) {
        let _ = (identifier, taken);
    }
}

/// `inner` with `probe` around each operation. `sweep_expired` keeps the
/// trait's default (nothing), as a store without native expiry would.
#[derive(Clone, Default)]
pub struct Probed<S, P> {
    pub inner: S,
    pub probe: P,
}

impl<S, P> Probed<S, P> {
    pub fn new(inner: S, probe: P) -> Self {
        Self { inner, probe }
    }
}

impl<S: Store, P: Probe> Probed<S, P> {
    async fn around<T>(&self, op: Op<'_>, call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        self.probe.before(op).await?;
        let out = call.await;
        self.probe.after(op).await;
        out
    }
}

impl<S: Store, P: Probe> Store for Probed<S, P> {
    async fn create_user(&self, user: User, password_hash: Option<String>) -> StoreResult<User> {
        self.around(Op::new("create_user", ""), self.inner.create_user(user, password_hash)).await
    }
    async fn find_user_by_id(&self, id: &str) -> StoreResult<Option<User>> {
        self.around(Op::new("find_user_by_id", id), self.inner.find_user_by_id(id)).await
    }
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.around(Op::new("find_user_by_email", email), self.inner.find_user_by_email(email)).await
    }
    async fn find_user_by_phone(&self, phone: &str) -> StoreResult<Option<User>> {
        self.around(Op::new("find_user_by_phone", phone), self.inner.find_user_by_phone(phone)).await
    }
    async fn update_user(
        &self,
        id: &str,
        patch: UserPatch,
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        self.around(Op::new("update_user", id), self.inner.update_user(id, patch, now)).await
    }
    async fn find_credential(&self, user_id: &str) -> StoreResult<Option<Credential>> {
        self.around(Op::new("find_credential", user_id), self.inner.find_credential(user_id)).await
    }
    async fn set_password(&self, user_id: &str, hash: String, now: OffsetDateTime) -> StoreResult<()> {
        self.around(Op::new("set_password", user_id), self.inner.set_password(user_id, hash, now)).await
    }
    async fn delete_accounts(&self, user_id: &str) -> StoreResult<()> {
        self.around(Op::new("delete_accounts", user_id), self.inner.delete_accounts(user_id)).await
    }
    async fn create_session(&self, session: Session) -> StoreResult<()> {
        let user_id = session.user_id.clone();
        self.around(Op::new("create_session", &user_id), self.inner.create_session(session)).await
    }
    async fn find_session(&self, token: &str, now: OffsetDateTime) -> StoreResult<Option<SessionWithUser>> {
        self.around(Op::new("find_session", token), self.inner.find_session(token, now)).await
    }
    async fn refresh_session(
        &self,
        token: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Session>> {
        self.around(Op::new("refresh_session", token), self.inner.refresh_session(token, expires_at, now))
            .await
    }
    async fn delete_session(&self, token: &str) -> StoreResult<()> {
        self.around(Op::new("delete_session", token), self.inner.delete_session(token)).await
    }
    async fn list_sessions(&self, user_id: &str, now: OffsetDateTime) -> StoreResult<Vec<Session>> {
        self.around(Op::new("list_sessions", user_id), self.inner.list_sessions(user_id, now)).await
    }
    async fn delete_user_sessions(&self, user_id: &str, keep: Option<&str>) -> StoreResult<()> {
        let op = Op::new("delete_user_sessions", user_id);
        self.around(op, self.inner.delete_user_sessions(user_id, keep)).await
    }
    async fn create_verification(&self, verification: Verification) -> StoreResult<()> {
        self.probe.before(Op::writing("create_verification", &verification)).await?;
        let identifier = verification.identifier.clone();
        let out = self.inner.create_verification(verification).await;
        self.probe.after(Op::new("create_verification", &identifier)).await;
        out
    }
    async fn find_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        let op = Op::new("find_verification", identifier);
        self.around(op, self.inner.find_verification(identifier)).await
    }
    async fn take_verification(&self, identifier: &str) -> StoreResult<Option<Verification>> {
        let op = Op::new("take_verification", identifier);
        let taken = self.around(op, self.inner.take_verification(identifier)).await?;
        self.probe.took(identifier, taken.as_ref());
        Ok(taken)
    }
    async fn restore_verification(&self, verification: Verification) -> StoreResult<bool> {
        self.probe.before(Op::writing("restore_verification", &verification)).await?;
        let identifier = verification.identifier.clone();
        let out = self.inner.restore_verification(verification).await;
        self.probe.after(Op::new("restore_verification", &identifier)).await;
        out
    }
    async fn delete_verifications(&self, identifier: &str) -> StoreResult<()> {
        let op = Op::new("delete_verifications", identifier);
        self.around(op, self.inner.delete_verifications(identifier)).await
    }
}
