//! Every cryptographic primitive Kernia uses: OS randomness, HMAC-SHA256
//! signatures and constant-time comparison. Nothing else touches them.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorCode};

const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const DIGITS: &[u8] = b"0123456789";

/// A string of `len` characters drawn uniformly from `alphabet` with the OS
/// CSPRNG: bytes at or above the largest multiple of the alphabet size are
/// rejected, so there is no modulo bias.
fn random_string(len: usize, alphabet: &[u8]) -> Result<String, ApiError> {
    let k = alphabet.len();
    let limit = 256 - 256 % k;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| {
            tracing::error!(target: "kernia", error = %e, "OS random generator failed");
            ApiError::new(ErrorCode::InternalServerError)
        })?;
        for &byte in buf.iter().filter(|&&b| usize::from(b) < limit) {
            if out.len() == len {
                break;
            }
            out.push(char::from(alphabet[usize::from(byte) % k]));
        }
    }
    Ok(out)
}

/// A 32-character `[A-Za-z0-9]` id or session token (≈ 190 bits).
pub(crate) fn random_id() -> Result<String, ApiError> {
    random_string(32, ALPHANUMERIC)
}

/// A one-time code of `len` decimal digits.
pub(crate) fn random_digits(len: usize) -> Result<String, ApiError> {
    random_string(len, DIGITS)
}

/// 16 random bytes as 32 lower-case hex characters (a password salt).
pub(crate) fn random_hex16() -> Result<String, ApiError> {
    random_string(32, b"0123456789abcdef")
}

/// HMAC-SHA256 keyed once with the server secret; cloned per use so the key
/// schedule is not recomputed on every request.
#[derive(Clone)]
pub(crate) struct Signer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([redacted])")
    }
}

impl Signer {
    pub(crate) fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        let mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
        Self { mac }
    }

    fn tag(&self, value: &[u8]) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(value);
        mac.finalize().into_bytes().into()
    }

    /// `base64(HMAC-SHA256(secret, value))` with padding: 44 characters.
    pub(crate) fn sign(&self, value: &str) -> String {
        STANDARD.encode(self.tag(value.as_bytes()))
    }

    /// `base64url-nopad(HMAC-SHA256(secret, value))`, for values kept at rest.
    pub(crate) fn sign_url_safe(&self, value: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.tag(value.as_bytes()))
    }

    /// Whether `signature` (standard base64) is the tag of `value`, compared
    /// in constant time.
    pub(crate) fn verify(&self, value: &str, signature: &str) -> bool {
        let mut decoded = [0u8; 33];
        match STANDARD.decode_slice(signature, &mut decoded) {
            Ok(32) => self.tag(value.as_bytes()).ct_eq(&decoded[..32]).into(),
            _ => false,
        }
    }
}

/// Better Auth's `symmetricEncrypt`: XChaCha20-Poly1305 keyed with
/// SHA-256(secret), stored as hex of `nonce(24) ‖ ciphertext ‖ tag(16)`.
#[derive(Clone)]
pub(crate) struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([redacted])")
    }
}

impl Sealer {
    pub(crate) fn new(secret: &[u8]) -> Self {
        let key: [u8; 32] = Sha256::digest(secret).into();
        Self { cipher: XChaCha20Poly1305::new(&key.into()) }
    }

    pub(crate) fn seal(&self, plaintext: &str) -> Result<String, ApiError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|_| ApiError::new(ErrorCode::InternalServerError))?;
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), plaintext.as_bytes())
            .map_err(|_| ApiError::new(ErrorCode::InternalServerError))?;
        Ok(hex(&nonce) + &hex(&sealed))
    }

    /// The plaintext, or `None` for anything not sealed with this key.
    pub(crate) fn open(&self, sealed: &str) -> Option<String> {
        let bytes = unhex(sealed)?;
        let (nonce, body) = bytes.split_at_checked(24)?;
        let nonce: [u8; 24] = nonce.try_into().ok()?;
        let plain = self.cipher.decrypt(&XNonce::from(nonce), body).ok()?;
        String::from_utf8(plain).ok()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// `base64url-nopad(SHA-256(value))`: Better Auth's `hashed` OTP storage.
pub(crate) fn sha256_url_safe(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

/// Constant-time equality of two byte strings (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "kernia-test-secret-0123456789abcdef0123456789";

    #[test]
    fn signatures_match_better_auth_vectors() {
        let signer = Signer::new(SECRET.as_bytes());
        assert_eq!(
            signer.sign("wUHZkHT61qlktuhmoawUt6PEFVHFUXZi"),
            "K46n38njiZw6HtRmaPDjscrRQb4B6SeBjCyasoPxz6s="
        );
        assert!(
            signer.verify("wUHZkHT61qlktuhmoawUt6PEFVHFUXZi", "K46n38njiZw6HtRmaPDjscrRQb4B6SeBjCyasoPxz6s=")
        );
        assert!(
            !signer
                .verify("wUHZkHT61qlktuhmoawUt6PEFVHFUXZj", "K46n38njiZw6HtRmaPDjscrRQb4B6SeBjCyasoPxz6s=")
        );
        assert!(!signer.verify("x", "short"));
    }

    #[test]
    fn sealed_codes_open_only_with_the_same_secret() {
        let sealer = Sealer::new(SECRET.as_bytes());
        let sealed = sealer.seal("123456").unwrap();
        assert_eq!(sealed.len(), 92, "24-byte nonce + 6 bytes + 16-byte tag, in hex");
        assert_eq!(sealer.open(&sealed).as_deref(), Some("123456"));
        assert_eq!(Sealer::new(b"another secret").open(&sealed), None);
        assert_eq!(sealer.open("zz"), None);
    }

    #[test]
    fn hashed_otp_matches_better_auth() {
        assert_eq!(sha256_url_safe("123456"), "jZae727K08KaOmKSgOaGzww_XVqGr_PKEgIMkjrcbJI");
    }

    #[test]
    fn ids_are_32_alphanumerics_and_differ() {
        let a = random_id().unwrap();
        let b = random_id().unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
        let code = random_digits(8).unwrap();
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|c| c.is_ascii_digit()));
    }
}
