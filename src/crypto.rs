//! Every cryptographic primitive Kernia uses: randomness (a CSPRNG seeded
//! by the OS), HMAC-SHA256 signatures and constant-time comparison. Nothing
//! else touches them.

use std::cell::RefCell;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::Aead;
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, KeyInit, Mac};
use rand::rngs::{StdRng, SysRng};
use rand::{Rng as _, SeedableRng as _};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ErrorCode};

const ALPHANUMERIC: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const DIGITS: &[u8] = b"0123456789";

/// Output of one generator between two OS seeds.
const RESEED_AFTER_BYTES: usize = 64 * 1024;

thread_local! {
    /// ChaCha12 (`StdRng`, the core of `rand`'s `ThreadRng`) seeded from the
    /// OS, with the bytes it has given since. `ThreadRng` itself panics when a
    /// reseed fails; this one answers the request with a 500 instead.
    static RNG: RefCell<Option<(StdRng, usize)>> = const { RefCell::new(None) };
}

/// Fills `buf` from the CSPRNG: one `getrandom` system call per 64 KiB of
/// output rather than one per code or id.
fn fill_random(buf: &mut [u8]) -> Result<(), ApiError> {
    RNG.with_borrow_mut(|slot| {
        slot.take_if(|(_, given)| *given >= RESEED_AFTER_BYTES);
        let (rng, given) = match slot {
            Some(seeded) => seeded,
            None => slot.insert((StdRng::try_from_rng(&mut SysRng).map_err(os_random_failed)?, 0)),
        };
        rng.fill_bytes(buf);
        *given += buf.len();
        Ok(())
    })
}

fn os_random_failed(error: impl std::fmt::Display) -> ApiError {
    tracing::error!(target: "kernia", %error, "OS random generator failed");
    ApiError::new(ErrorCode::InternalServerError)
}

/// A string of `len` characters drawn uniformly from `alphabet`: bytes at
/// or above the largest multiple of the alphabet size are rejected, so there
/// is no modulo bias.
fn random_string(len: usize, alphabet: &[u8]) -> Result<String, ApiError> {
    let k = alphabet.len();
    let limit = 256 - 256 % k;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill_random(&mut buf)?;
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
        fill_random(&mut nonce)?;
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

    // ---- K1: the generators are uniform (chi-square goodness of fit)

    /// 0.999 quantiles of the chi-square distribution: a uniform generator
    /// exceeds them once in a thousand runs.
    const CHI2_999_DOF_9: f64 = 27.877;
    const CHI2_999_DOF_61: f64 = 100.888;
    /// The 1 - 0.001/6 quantile for 9 dof: six per-position tests together
    /// fail a uniform generator once in a thousand runs (Bonferroni).
    const CHI2_999_DOF_9_PER_POSITION: f64 = 32.446;

    /// Pearson's statistic of `text` over `alphabet`, every symbol equally likely.
    fn chi_square(text: impl Iterator<Item = u8>, alphabet: &[u8]) -> f64 {
        let mut counts = vec![0u64; alphabet.len()];
        for c in text {
            let slot = alphabet.iter().position(|&a| a == c).unwrap();
            counts[slot] += 1;
        }
        let n: u64 = counts.iter().sum();
        let expected = n as f64 / alphabet.len() as f64;
        counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum()
    }

    #[test]
    fn code_digits_are_uniform_overall_and_per_position() {
        let codes: Vec<String> = (0..200_000).map(|_| random_digits(6).unwrap()).collect();
        let all = chi_square(codes.iter().flat_map(|c| c.bytes()), DIGITS);
        eprintln!(
            "K1 chi-square, 1,200,000 code digits (200,000 codes) over 10 bins: {all:.2} (0.999 critical {CHI2_999_DOF_9})"
        );
        assert!(all < CHI2_999_DOF_9, "digits are biased: chi-square {all:.2}");
        for position in 0..6 {
            let column = chi_square(codes.iter().map(|c| c.as_bytes()[position]), DIGITS);
            eprintln!("K1 chi-square, position {position} (200,000 digits): {column:.2}");
            assert!(column < CHI2_999_DOF_9_PER_POSITION, "position {position} is biased: {column:.2}");
        }
    }

    #[test]
    fn ids_use_the_62_characters_uniformly() {
        let ids: Vec<String> = (0..50_000).map(|_| random_id().unwrap()).collect();
        let statistic = chi_square(ids.iter().flat_map(|id| id.bytes()), ALPHANUMERIC);
        eprintln!(
            "K1 chi-square, 1,600,000 id characters over 62 bins: {statistic:.2} (0.999 critical {CHI2_999_DOF_61})"
        );
        assert!(statistic < CHI2_999_DOF_61, "id characters are biased: chi-square {statistic:.2}");
    }

    #[test]
    fn chi_square_catches_modulo_bias() {
        // `byte % 10` favours 0–5 (26/256 against 25/256): the bias rejection
        // sampling removes. The test above must be able to see it.
        let mut bytes = vec![0u8; 1_000_000];
        getrandom::fill(&mut bytes).unwrap();
        let biased = chi_square(bytes.iter().map(|b| DIGITS[usize::from(*b) % 10]), DIGITS);
        eprintln!("K1 chi-square of byte % 10 over 10^6 digits: {biased:.2} (expected about 375)");
        assert!(biased > CHI2_999_DOF_9 * 4.0, "modulo bias went unnoticed: {biased:.2}");
    }

    // ---- K10: comparisons take the same time wherever the inputs differ
    //
    // dudect's method: time one operation on two classes of input, in random
    // interleaved order, drop the slowest tail (preemption, interrupts) and
    // compare the classes with Welch's t-test. |t| > 10 is a gross leak; a
    // constant-time comparison stays far below on a noisy box.

    const SAMPLES_PER_CLASS: usize = 100_000;
    const LEAK_T: f64 = 10.0;

    /// Durations in ns of `op` on `inputs[0]` and on `inputs[1]`, in random
    /// interleaved order. Each input is first copied (untimed) into one
    /// buffer, so both classes are read from the same address.
    fn time_classes(inputs: [&[u8]; 2], mut op: impl FnMut(&[u8])) -> (Vec<f64>, Vec<f64>) {
        let mut order = vec![0u8; 2 * SAMPLES_PER_CLASS];
        getrandom::fill(&mut order).unwrap();
        let mut slot = inputs[0].to_vec();
        let (mut a, mut b) = (Vec::with_capacity(order.len()), Vec::with_capacity(order.len()));
        for class in order.iter().map(|r| usize::from(r & 1)) {
            slot.copy_from_slice(inputs[class]);
            let start = std::time::Instant::now();
            op(std::hint::black_box(&slot));
            let ns = start.elapsed().as_nanos() as f64;
            if class == 1 { b.push(ns) } else { a.push(ns) }
        }
        (a, b)
    }

    /// Welch's t of the two samples, both cut at the pooled 90th percentile.
    fn welch_t((a, b): (Vec<f64>, Vec<f64>)) -> f64 {
        let mut pooled: Vec<f64> = a.iter().chain(&b).copied().collect();
        pooled.sort_by(f64::total_cmp);
        let cut = pooled[pooled.len() * 9 / 10];
        let stats = |xs: &[f64]| {
            let kept: Vec<f64> = xs.iter().copied().filter(|&x| x <= cut).collect();
            let n = kept.len() as f64;
            let mean = kept.iter().sum::<f64>() / n;
            let var = kept.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
            (mean, var, n)
        };
        let ((ma, va, na), (mb, vb, nb)) = (stats(&a), stats(&b));
        eprintln!("    means {ma:.1} ns vs {mb:.1} ns, n {na} vs {nb}");
        (ma - mb) / (va / na + vb / nb).sqrt()
    }

    /// `a` and two inputs of its length: one differing in the last byte only,
    /// one differing in the first.
    fn probes(len: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let mut a = vec![0u8; len];
        getrandom::fill(&mut a).unwrap();
        let (mut last, mut first) = (a.clone(), a.clone());
        last[len - 1] ^= 1;
        first[0] ^= 1;
        (a, last, first)
    }

    /// The comparison `ct_eq` replaces: stops at the first differing byte.
    fn early_exit_eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
    }

    #[test]
    fn ct_eq_time_does_not_depend_on_where_inputs_differ() {
        use std::hint::black_box;
        // 256 bytes amplify any per-byte early exit far above timer noise.
        let (a, last, first) = probes(256);
        let compare = |eq: fn(&[u8], &[u8]) -> bool| {
            welch_t(time_classes([&last, &first], |b| {
                black_box(eq(black_box(&a), b));
            }))
        };
        let leaky = compare(early_exit_eq);
        eprintln!("K10 calibration, early-exit compare of 256 bytes: t = {leaky:.1}");
        let constant = compare(ct_eq);
        eprintln!("K10 ct_eq of 256 bytes, differing last vs first byte: t = {constant:.2}");
        assert!(leaky.abs() > LEAK_T, "the harness must see an early exit (t = {leaky:.1})");
        assert!(constant.abs() < LEAK_T, "ct_eq leaks where inputs differ: t = {constant:.2}");
    }

    #[test]
    fn cookie_signature_check_time_does_not_depend_on_where_a_forgery_differs() {
        use std::hint::black_box;
        let signer = Signer::new(SECRET.as_bytes());
        let value = "wUHZkHT61qlktuhmoawUt6PEFVHFUXZi";
        let tag = signer.tag(value.as_bytes());
        let forge = |byte: usize| {
            let mut forged = tag;
            forged[byte] ^= 1;
            STANDARD.encode(forged).into_bytes()
        };
        let forgeries = [forge(31), forge(0)];
        let inputs = [forgeries[0].as_slice(), forgeries[1].as_slice()];
        let text = |bytes: &[u8]| std::str::from_utf8(bytes).unwrap().to_owned();
        let t = welch_t(time_classes(inputs, |signature| {
            black_box(signer.verify(black_box(value), &text(signature)));
        }));
        eprintln!("K10 Signer::verify, forged signature wrong in the last vs first byte: t = {t:.2}");
        // What the same check would show with an early exit over the tag.
        let leaky = welch_t(time_classes(inputs, |signature| {
            let mut decoded = [0u8; 33];
            let ok = STANDARD.decode_slice(text(signature), &mut decoded).is_ok_and(|n| n == 32);
            black_box(ok && early_exit_eq(&signer.tag(value.as_bytes()), &decoded[..32]));
        }));
        eprintln!("K10 calibration, the same check with an early-exit compare: t = {leaky:.1}");
        assert!(leaky.abs() > LEAK_T, "the harness must see an early exit over the tag (t = {leaky:.1})");
        assert!(t.abs() < LEAK_T, "signature check leaks the first wrong byte: t = {t:.2}");
    }

    #[test]
    fn code_tag_comparison_time_does_not_depend_on_where_tags_differ() {
        use std::hint::black_box;
        // `otp::matches` compares the HMAC tag of the guess with the stored
        // one (43 base64url characters) through `ct_eq`.
        let stored = Signer::new(SECRET.as_bytes()).sign_url_safe("123456").into_bytes();
        let flip = |i: usize| {
            let mut tag = stored.clone();
            tag[i] = if tag[i] == b'A' { b'B' } else { b'A' };
            tag
        };
        let (last, first) = (flip(42), flip(0));
        let t = welch_t(time_classes([&last, &first], |candidate| {
            black_box(ct_eq(black_box(&stored), candidate));
        }));
        eprintln!("K10 code tag compare (43 bytes), differing last vs first character: t = {t:.2}");
        assert!(t.abs() < LEAK_T, "code tag comparison leaks: t = {t:.2}");
    }
}
