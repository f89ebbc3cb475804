//! Session tokens: the application-level handle `begin_session` returns and
//! every gated tool requires.
//!
//! Not the MCP protocol session (the transport is stateless). A token is
//! `s1.<payload>.<mac>`, base64url, where the payload holds a digest of the
//! caller's issuer and `sub` plus issue and expiry times, and the MAC is
//! HMAC-SHA256 under `SESSION_SIGNING_SECRET`. Self-contained, so any
//! gateway replica can check it; bound to the caller, so a session copied
//! into another user's conversation is refused.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{config::Secret, identity::Identity};

const PREFIX: &str = "s1.";
/// Far above any token we issue; anything longer is refused unread.
const MAX_TOKEN_LEN: usize = 512;

#[derive(Debug, Serialize, Deserialize)]
struct Payload {
    /// base64url of the first 16 bytes of SHA-256(issuer, NUL, sub).
    b: String,
    iat: i64,
    exp: i64,
}

/// Why a session token was refused. Each one means: call `begin_session`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no session token was given")]
    Missing,
    #[error("the session token is malformed")]
    Malformed,
    #[error("the session token's signature does not match")]
    BadSignature,
    #[error("the session token has expired")]
    Expired,
    #[error("the session token belongs to another user")]
    OtherUser,
    /// Valid, but its user is no longer in the store (a reset database).
    #[error("the session's user is no longer on record")]
    UserGone,
}

/// Issues and checks session tokens.
#[derive(Clone)]
pub struct SessionSigner {
    mac: Hmac<Sha256>,
    ttl_secs: i64,
}

impl std::fmt::Debug for SessionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSigner")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

/// A freshly issued session token and when it stops working (unix seconds).
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub token: String,
    pub expires_at: i64,
}

impl SessionSigner {
    pub fn new(secret: &Secret, ttl: std::time::Duration) -> Self {
        let mac = Hmac::<Sha256>::new_from_slice(secret.expose())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        Self {
            mac,
            ttl_secs: i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
        }
    }

    pub fn issue(&self, who: &Identity, now: i64) -> IssuedSession {
        let exp = now.saturating_add(self.ttl_secs);
        let payload = Payload {
            b: binding(who),
            iat: now,
            exp,
        };
        let body = B64.encode(serde_json::to_vec(&payload).unwrap_or_default());
        let signed = format!("{PREFIX}{body}");
        let tag = B64.encode(self.tag(signed.as_bytes()));
        IssuedSession {
            token: format!("{signed}.{tag}"),
            expires_at: exp,
        }
    }

    /// Checks MAC first (so nothing unauthenticated is parsed), then expiry, then owner.
    pub fn check(&self, token: &str, who: &Identity, now: i64) -> Result<(), SessionError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(SessionError::Missing);
        }
        if token.len() > MAX_TOKEN_LEN || !token.starts_with(PREFIX) {
            return Err(SessionError::Malformed);
        }
        let (signed, tag) = token.rsplit_once('.').ok_or(SessionError::Malformed)?;
        let tag = B64.decode(tag).map_err(|_| SessionError::Malformed)?;
        let mut mac = self.mac.clone();
        mac.update(signed.as_bytes());
        mac.verify_slice(&tag)
            .map_err(|_| SessionError::BadSignature)?;
        let body = B64
            .decode(&signed[PREFIX.len()..])
            .map_err(|_| SessionError::Malformed)?;
        let payload: Payload =
            serde_json::from_slice(&body).map_err(|_| SessionError::Malformed)?;
        if now >= payload.exp {
            return Err(SessionError::Expired);
        }
        if payload.b != binding(who) {
            return Err(SessionError::OtherUser);
        }
        Ok(())
    }

    fn tag(&self, data: &[u8]) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
}

fn binding(who: &Identity) -> String {
    let mut h = Sha256::new();
    h.update(who.issuer.as_bytes());
    h.update([0]);
    h.update(who.subject.as_bytes());
    B64.encode(&h.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn signer(key: u8) -> SessionSigner {
        SessionSigner::new(&Secret::new([key; 32]), Duration::from_secs(60))
    }

    #[test]
    fn a_session_works_for_its_owner_until_it_expires() {
        let s = signer(1);
        let issued = s.issue(&Identity::test_user("alice"), 1000);
        assert_eq!(issued.expires_at, 1060);
        assert_eq!(
            s.check(&issued.token, &Identity::test_user("alice"), 1059),
            Ok(())
        );
        assert_eq!(
            s.check(&issued.token, &Identity::test_user("alice"), 1060),
            Err(SessionError::Expired)
        );
    }

    #[test]
    fn another_users_session_is_refused() {
        let s = signer(1);
        let token = s.issue(&Identity::test_user("alice"), 1000).token;
        assert_eq!(
            s.check(&token, &Identity::test_user("bob"), 1001),
            Err(SessionError::OtherUser)
        );
        let mut other_issuer = Identity::test_user("alice");
        other_issuer.issuer = "https://elsewhere.test".into();
        assert_eq!(
            s.check(&token, &other_issuer, 1001),
            Err(SessionError::OtherUser)
        );
    }

    #[test]
    fn tampered_truncated_and_foreign_tokens_are_refused() {
        let s = signer(1);
        let token = s.issue(&Identity::test_user("alice"), 1000).token;
        assert_eq!(
            signer(2).check(&token, &Identity::test_user("alice"), 1001),
            Err(SessionError::BadSignature)
        );
        let (signed, tag) = token.rsplit_once('.').expect("has a tag");
        // Rewrite the payload with a later expiry but keep the old tag.
        let forged = B64.encode(br#"{"b":"x","iat":0,"exp":99999999999}"#);
        let tampered = format!("{PREFIX}{forged}.{tag}");
        assert_eq!(
            s.check(&tampered, &Identity::test_user("alice"), 1001),
            Err(SessionError::BadSignature)
        );
        assert_eq!(
            s.check(signed, &Identity::test_user("alice"), 1001),
            Err(SessionError::BadSignature)
        );
        assert_eq!(
            s.check(
                &token[..token.len() - 3],
                &Identity::test_user("alice"),
                1001
            ),
            Err(SessionError::BadSignature)
        );
        assert_eq!(
            s.check("", &Identity::test_user("alice"), 1001),
            Err(SessionError::Missing)
        );
        assert_eq!(
            s.check("nonsense", &Identity::test_user("alice"), 1001),
            Err(SessionError::Malformed)
        );
        assert_eq!(
            s.check(&"s1.".repeat(300), &Identity::test_user("alice"), 1001),
            Err(SessionError::Malformed)
        );
    }

    /// Property tests (proptest): the parser's answer to inputs nobody wrote by hand.
    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Nothing this signer did not issue passes, and nothing panics.
            #[test]
            fn arbitrary_text_is_never_a_session(
                text in "(s1\\.)?[A-Za-z0-9_.=-]{0,200}|\\PC{0,120}"
            ) {
                prop_assert!(signer(1).check(&text, &Identity::test_user("alice"), 0).is_err());
            }

            /// Changing any one character of a real session token breaks it.
            #[test]
            fn every_one_character_change_is_refused(
                at in any::<prop::sample::Index>(),
                with in "[A-Za-z0-9_.=-]",
            ) {
                let s = signer(1);
                let token = s.issue(&Identity::test_user("alice"), 1000).token;
                let i = at.index(token.len());
                let mut changed = token.clone();
                changed.replace_range(i..=i, &with);
                prop_assume!(changed != token);
                prop_assert!(s.check(&changed, &Identity::test_user("alice"), 1001).is_err());
            }
        }
    }
}
