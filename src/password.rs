//! Better Auth's password hash: scrypt (N=16384, r=16, p=1, 64 bytes) over the
//! NFKC-normalised password, salted with 32 hex characters, stored as
//! `salthex:keyhex`. Hashing runs on a few dedicated low-priority threads
//! (`hash_threads`), because each hash takes 32 MiB and tens of milliseconds of a core.

use unicode_normalization::UnicodeNormalization;

use crate::crypto;
use crate::error::{ApiError, ErrorCode};
use crate::hash_threads::HashThreads;

const KEY_LEN: usize = 64;

/// Stands in for a stored hash when the account does not exist, so an
/// unknown email costs the same scrypt work as a wrong password.
const DUMMY_HASH: &str = "00112233445566778899aabbccddeeff:73122e887cfc14f91396cdef78dfe4b9dec28d459037601c4904cedba5a637ab97b39b40c236df5d42881d0109ca8cf0f85e39dbaba2911c190915bd8f30fe85";

#[derive(Debug)]
pub(crate) struct PasswordHasher {
    threads: HashThreads,
}

impl PasswordHasher {
    /// At most `concurrency` hashes in flight (each holds 32 MiB).
    pub(crate) fn new(concurrency: usize) -> Self {
        Self { threads: HashThreads::new(concurrency) }
    }

    /// A new `salt:key` hash of `password`.
    pub(crate) async fn hash(&self, password: &str) -> Result<String, ApiError> {
        let salt = crypto::random_hex16()?;
        let password = password.to_owned();
        self.run(move || derive_hex(&password, &salt).map(|key| format!("{salt}:{key}"))).await
    }

    /// Whether `password` matches `stored`; `None` hashes against a dummy
    /// value and answers false, taking the same time.
    pub(crate) async fn verify(&self, password: &str, stored: Option<&str>) -> Result<bool, ApiError> {
        let known = stored.is_some();
        let stored = stored.unwrap_or(DUMMY_HASH).to_owned();
        let password = password.to_owned();
        let matches = self.run(move || verify_sync(&password, &stored)).await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.threads.run(job).await.map_err(|e| ApiError::internal("password hashing", &e))?
    }
}

fn derive_hex(password: &str, salt: &str) -> Result<String, ApiError> {
    let normalized: String = password.nfkc().collect();
    let params = scrypt::Params::new(14, 16, 1).map_err(|e| ApiError::internal("scrypt parameters", &e))?;
    let mut key = [0u8; KEY_LEN];
    scrypt::scrypt(normalized.as_bytes(), salt.as_bytes(), &params, &mut key)
        .map_err(|e| ApiError::internal("scrypt", &e))?;
    Ok(crypto::hex(&key))
}

fn verify_sync(password: &str, stored: &str) -> Result<bool, ApiError> {
    let Some((salt, key)) = stored.split_once(':') else {
        tracing::error!(target: "kernia", "stored password hash has no salt separator");
        return Err(ApiError::new(ErrorCode::InternalServerError));
    };
    let derived = derive_hex(password, salt)?;
    Ok(crypto::ct_eq(derived.as_bytes(), key.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: &str = "00112233445566778899aabbccddeeff";

    #[test]
    fn hash_matches_better_auth_vector() {
        let key = derive_hex("password123", SALT).unwrap();
        assert_eq!(format!("{SALT}:{key}"), DUMMY_HASH);
    }

    #[test]
    fn password_is_nfkc_normalised() {
        let key = derive_hex("Paßwörd\u{FF11}", SALT).unwrap();
        assert_eq!(
            key,
            "c81d5025fdbc0ffb751b18f48c046c72b3d076f455bb5311dd43b2505866f5384fe54d710ada7f3ae38708052b0e6bb5d8ddae830fda60ec19def0a7b300fc90"
        );
    }

    #[tokio::test]
    async fn hash_then_verify_round_trips() {
        let hasher = PasswordHasher::new(2);
        let stored = hasher.hash("correct horse").await.unwrap();
        assert_eq!(stored.len(), 161);
        assert!(hasher.verify("correct horse", Some(&stored)).await.unwrap());
        assert!(!hasher.verify("wrong horse", Some(&stored)).await.unwrap());
        assert!(!hasher.verify("password123", None).await.unwrap());
    }
}
