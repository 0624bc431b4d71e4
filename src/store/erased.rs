//! The object-safe form of [`Store`], so `KerniaLayer` needs no type
//! parameter: each method boxes the implementer's future.

use std::future::Future;
use std::pin::Pin;

use time::OffsetDateTime;

use super::{Credential, Session, SessionWithUser, Store, StoreResult, User, UserPatch, Verification};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

// Mirrors the whole public `Store` contract, whether or not a flow uses a method yet.
#[allow(dead_code)]
pub(crate) trait DynStore: Send + Sync + 'static {
    fn create_user<'a>(
        &'a self,
        user: User,
        password_hash: Option<String>,
    ) -> BoxFuture<'a, StoreResult<User>>;
    fn find_user_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<User>>>;
    fn find_user_by_email<'a>(&'a self, email: &'a str) -> BoxFuture<'a, StoreResult<Option<User>>>;
    fn find_user_by_phone<'a>(&'a self, phone: &'a str) -> BoxFuture<'a, StoreResult<Option<User>>>;
    fn update_user<'a>(
        &'a self,
        id: &'a str,
        patch: UserPatch,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, StoreResult<Option<User>>>;
    fn find_credential<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, StoreResult<Option<Credential>>>;
    fn set_password<'a>(
        &'a self,
        user_id: &'a str,
        password_hash: String,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, StoreResult<()>>;
    fn delete_accounts<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    fn create_session<'a>(&'a self, session: Session) -> BoxFuture<'a, StoreResult<()>>;
    fn find_session<'a>(
        &'a self,
        token: &'a str,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, StoreResult<Option<SessionWithUser>>>;
    fn refresh_session<'a>(
        &'a self,
        token: &'a str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, StoreResult<Option<Session>>>;
    fn delete_session<'a>(&'a self, token: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    fn list_sessions<'a>(
        &'a self,
        user_id: &'a str,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, StoreResult<Vec<Session>>>;
    fn delete_user_sessions<'a>(
        &'a self,
        user_id: &'a str,
        keep: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<()>>;
    fn create_verification<'a>(&'a self, verification: Verification) -> BoxFuture<'a, StoreResult<()>>;
    fn find_verification<'a>(
        &'a self,
        identifier: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Verification>>>;
    fn take_verification<'a>(
        &'a self,
        identifier: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Verification>>>;
    fn restore_verification<'a>(&'a self, verification: Verification) -> BoxFuture<'a, StoreResult<bool>>;
    fn delete_verifications<'a>(&'a self, identifier: &'a str) -> BoxFuture<'a, StoreResult<()>>;
    fn sweep_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StoreResult<()>>;
}

impl<T: Store> DynStore for T {
    fn create_user<'a>(
        &'a self,
        user: User,
        password_hash: Option<String>,
    ) -> BoxFuture<'a, StoreResult<User>> {
        Box::pin(Store::create_user(self, user, password_hash))
    }
    fn find_user_by_id<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<User>>> {
        Box::pin(Store::find_user_by_id(self, id))
    }
    fn find_user_by_email<'a>(&'a self, email: &'a str) -> BoxFuture<'a, StoreResult<Option<User>>> {
        Box::pin(Store::find_user_by_email(self, email))
    }
    fn find_user_by_phone<'a>(&'a self, phone: &'a str) -> BoxFuture<'a, StoreResult<Option<User>>> {
        Box::pin(Store::find_user_by_phone(self, phone))
    }
    fn update_user<'a>(
        &'a self,
        id: &'a str,
        patch: UserPatch,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, StoreResult<Option<User>>> {
        Box::pin(Store::update_user(self, id, patch, now))
    }
    fn find_credential<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, StoreResult<Option<Credential>>> {
        Box::pin(Store::find_credential(self, user_id))
    }
    fn set_password<'a>(
        &'a self,
        user_id: &'a str,
        password_hash: String,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(Store::set_password(self, user_id, password_hash, now))
    }
    fn delete_accounts<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(Store::delete_accounts(self, user_id))
    }
    fn create_session<'a>(&'a self, session: Session) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(Store::create_session(self, session))
    }
    fn find_session<'a>(
        &'a self,
        token: &'a str,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, StoreResult<Option<SessionWithUser>>> {
        Box::pin(Store::find_session(self, token, now))
    }
    fn refresh_session<'a>(
        &'a self,
        token: &'a str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, StoreResult<Option<Session>>> {
        Box::pin(Store::refresh_session(self, token, expires_at, now))
    }
    fn delete_session<'a>(&'a self, token: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(Store::delete_session(self, token))
    }
    fn list_sessions<'a>(
        &'a self,
        user_id: &'a str,
        now: OffsetDateTime,
    ) -> BoxFuture<'a, StoreResult<Vec<Session>>> {
        Box::pin(Store::list_sessions(self, user_id, now))
    }
    fn delete_user_sessions<'a>(
        &'a self,
        user_id: &'a str,
        keep: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(Store::delete_user_sessions(self, user_id, keep))
    }
    fn create_verification<'a>(&'a self, verification: Verification) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(Store::create_verification(self, verification))
    }
    fn find_verification<'a>(
        &'a self,
        identifier: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Verification>>> {
        Box::pin(Store::find_verification(self, identifier))
    }
    fn take_verification<'a>(
        &'a self,
        identifier: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<Verification>>> {
        Box::pin(Store::take_verification(self, identifier))
    }
    fn restore_verification<'a>(&'a self, verification: Verification) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(Store::restore_verification(self, verification))
    }
    fn delete_verifications<'a>(&'a self, identifier: &'a str) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(Store::delete_verifications(self, identifier))
    }
    fn sweep_expired(&self, now: OffsetDateTime) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(Store::sweep_expired(self, now))
    }
}
