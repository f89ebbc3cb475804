//! Proof Key for Code Exchange (RFC 7636), as OAuth 2.1 §4.1.1 requires it:
//! every authorization code request carries a challenge, and only the `S256`
//! method is accepted.
//!
//! - §4.2: the challenge is `BASE64URL(SHA256(code_verifier))` without
//!   padding, which is always 43 characters.
//! - §4.1: the verifier is 43 to 128 characters from `[A-Za-z0-9-._~]`.
//! - §4.6: the server recomputes the challenge from the verifier and
//!   compares; here the comparison runs in constant time.
//!
//! `plain` (§4.2) is refused: it offers no protection if the authorization
//! request leaks, and OAuth 2.1 allows servers to drop it.

use crate::digest::{constant_time_eq, sha256_b64url};

/// The only method accepted.
pub const S256: &str = "S256";

/// An S256 code challenge taken from an authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

/// Why a `code_challenge` / `code_challenge_method` pair was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// RFC 7636 §4.3 defaults a missing method to `plain`, which is refused.
    #[error("code_challenge_method is missing: S256 is required")]
    MissingMethod,
    #[error("code_challenge_method `{0}` is not supported: S256 is required")]
    UnsupportedMethod(String),
    #[error("code_challenge must be 43 base64url characters without padding (RFC 7636 §4.2)")]
    MalformedChallenge,
}

impl CodeChallenge {
    /// Accepts an S256 challenge of the right shape.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<Self, PkceError> {
        match method {
            None => return Err(PkceError::MissingMethod),
            Some(S256) => {}
            Some(other) => return Err(PkceError::UnsupportedMethod(other.to_owned())),
        }
        // SHA-256 is 32 bytes, which base64url encodes as 43 characters.
        let well_formed = challenge.len() == 43
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(PkceError::MalformedChallenge);
        }
        Ok(Self(challenge.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` is well formed (§4.1) and hashes to this challenge.
    pub fn verify(&self, verifier: &str) -> bool {
        if !is_valid_verifier(verifier) {
            return false;
        }
        constant_time_eq(sha256_b64url(verifier).as_bytes(), self.0.as_bytes())
    }
}

/// RFC 7636 §4.1: `code-verifier = 43*128unreserved`.
fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn challenge() -> CodeChallenge {
        CodeChallenge::parse(CHALLENGE, Some("S256")).expect("RFC 7636 example challenge")
    }

    #[test]
    fn the_rfc_7636_appendix_b_verifier_matches_its_challenge() {
        assert!(challenge().verify(VERIFIER));
    }

    #[test]
    fn a_different_verifier_does_not_match() {
        let other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl";
        assert!(!challenge().verify(other));
    }

    #[test]
    fn the_challenge_itself_is_not_accepted_as_verifier() {
        assert!(!challenge().verify(CHALLENGE));
    }

    #[test]
    fn a_missing_method_is_refused_because_s256_is_required() {
        let err = CodeChallenge::parse(CHALLENGE, None).expect_err("no method");
        assert_eq!(err, PkceError::MissingMethod);
        assert!(err.to_string().contains("S256 is required"));
    }

    #[test]
    fn the_plain_method_is_refused_because_s256_is_required() {
        let err = CodeChallenge::parse(CHALLENGE, Some("plain")).expect_err("plain");
        assert_eq!(err, PkceError::UnsupportedMethod("plain".into()));
        assert!(err.to_string().contains("S256 is required"));
    }

    #[test]
    fn the_method_name_is_case_sensitive() {
        // RFC 7636 §4.3 spells it `S256`; anything else is a different method.
        assert!(CodeChallenge::parse(CHALLENGE, Some("s256")).is_err());
    }

    #[test]
    fn a_challenge_must_be_exactly_43_characters() {
        for bad in [&CHALLENGE[..42], &format!("{CHALLENGE}A"), ""] {
            assert_eq!(
                CodeChallenge::parse(bad, Some("S256")),
                Err(PkceError::MalformedChallenge),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_challenge_must_be_base64url_without_padding() {
        let padded = format!("{}=", &CHALLENGE[..42]);
        let standard_alphabet = CHALLENGE.replace('-', "+");
        let with_slash = format!("{}/", &CHALLENGE[..42]);
        for bad in [padded, standard_alphabet, with_slash] {
            assert_eq!(
                CodeChallenge::parse(&bad, Some("S256")),
                Err(PkceError::MalformedChallenge),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_verifier_shorter_than_43_characters_is_refused() {
        // A 42-character verifier whose hash is stored as the challenge:
        // only the syntax rule can refuse it.
        let short = "a".repeat(42);
        let challenge = CodeChallenge(sha256_b64url(&short));
        assert!(!challenge.verify(&short));
        let ok = "a".repeat(43);
        let challenge = CodeChallenge(sha256_b64url(&ok));
        assert!(challenge.verify(&ok));
    }

    #[test]
    fn a_verifier_longer_than_128_characters_is_refused() {
        let long = "a".repeat(129);
        let challenge = CodeChallenge(sha256_b64url(&long));
        assert!(!challenge.verify(&long));
        let ok = "a".repeat(128);
        let challenge = CodeChallenge(sha256_b64url(&ok));
        assert!(challenge.verify(&ok));
    }

    #[test]
    fn a_verifier_may_use_only_unreserved_characters() {
        let ok = format!("{}-._~", "a".repeat(40));
        let challenge = CodeChallenge(sha256_b64url(&ok));
        assert!(challenge.verify(&ok));
        for bad_char in ['+', '/', '=', ' ', '%', 'é'] {
            let bad = format!("{}{bad_char}", "a".repeat(43));
            let challenge = CodeChallenge(sha256_b64url(&bad));
            assert!(!challenge.verify(&bad), "{bad_char:?}");
        }
    }
}
