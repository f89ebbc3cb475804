//! The two hashing primitives the issuer keeps secrets with: base64url of
//! SHA-256 (PKCE S256 challenges, and how codes, refresh tokens and client
//! secrets are stored) and a comparison whose time does not depend on where
//! the inputs first differ.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use sha2::{Digest, Sha256};

/// `BASE64URL(SHA256(text))`, unpadded (RFC 7636 §4.2's S256 transform).
pub fn sha256_b64url(text: &str) -> String {
    B64.encode(Sha256::digest(text.as_bytes()))
}

/// Compares without an early exit, so the time taken does not reveal how
/// many leading bytes matched. Lengths are not secret here (both sides are
/// fixed-length encodings), so a length mismatch may return at once.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_slices() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"xbc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn the_s256_transform_matches_rfc7636_appendix_b() {
        assert_eq!(
            sha256_b64url("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
