//! Authorization codes and refresh tokens: issued, redeemed once, rotated.
//!
//! - Codes (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3): single use, short-lived,
//!   bound to the client, the redirect URI and the PKCE challenge.
//! - Refresh tokens (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2): rotated on every
//!   use. A token that was already rotated and comes back means it leaked,
//!   so the whole family it belongs to is revoked.
//! - The reuse interval: a real client may send the same refresh twice (two
//!   tabs racing, a retry after a lost response). Within a short interval
//!   after a rotation, the token just rotated gets the same answer again,
//!   same access and refresh token, with nothing rotated or revoked, as long
//!   as the same client asks and the successor is unused. RFC 9700 §4.14.2
//!   only requires that reuse be detected; this grace period is what hosted
//!   issuers (Auth0, Okta) offer for the same reason. Later, or for a token
//!   rotated twice, reuse revokes the family.
//!
//! Tokens are stored by their SHA-256, never in the clear. The answer kept
//! for a repeat holds a refresh token, so it is sealed (`seal.rs`) under a
//! key derived from the rotated token: only someone presenting that token
//! can open it, and it is dropped when the interval ends.

use std::{collections::HashMap, sync::Mutex};

use serde::{Deserialize, Serialize};

use crate::{digest::sha256_b64url as digest, pkce::CodeChallenge, seal, tokens::random_token};

/// How long an authorization code can be redeemed.
pub const CODE_LIFETIME: i64 = 60;

/// Who approved what, carried from the consent page to the tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub client_id: String,
    pub sub: String,
    pub email: Option<String>,
    pub scope: String,
    /// The RFC 8707 resource, which becomes the tokens' `aud`.
    pub audience: String,
}

#[derive(Debug)]
struct PendingCode {
    grant: Grant,
    /// As sent in the authorization request; the token request must repeat it.
    redirect_uri: Option<String>,
    challenge: CodeChallenge,
    expires_at: i64,
}

#[derive(Debug)]
struct RefreshEntry {
    grant: Grant,
    family: String,
    expires_at: i64,
}

/// A rotated-out refresh token.
#[derive(Debug)]
struct Spent {
    family: String,
    /// The [`Successor`] it was rotated for, sealed under a key only the
    /// rotated token gives, while the reuse interval lasts.
    answer: Option<SealedAnswer>,
}

#[derive(Debug)]
struct SealedAnswer {
    sealed: Vec<u8>,
    /// The reuse interval ends here (exclusive).
    until: i64,
}

/// What the key sealing a kept answer is derived for (see `seal.rs`).
const ANSWER_LABEL: &str = "mock-issuer refresh answer v1";

/// How refresh tokens live, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    /// How long a refresh token can be used.
    pub lifetime: i64,
    /// How long after a rotation the rotated token may be presented again
    /// for the same answer; 0 revokes the family at once.
    pub reuse_interval: i64,
}

/// An access token minted for a refresh, and the grant it carries (its
/// scope perhaps narrowed by the request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Minted {
    pub grant: Grant,
    pub access_token: String,
    pub expires_at: i64,
}

/// The answer to a refresh: the new access token and the refresh token that
/// replaces the one presented.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Successor {
    pub access: Minted,
    pub refresh_token: String,
}

/// Why a grant was refused: each one is `invalid_grant` on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("the authorization code is unknown, already used or expired")]
    BadCode,
    #[error("the code was issued to another client")]
    ClientMismatch,
    #[error("redirect_uri does not match the authorization request")]
    RedirectMismatch,
    #[error("the code_verifier does not match the code_challenge")]
    Verifier,
    #[error("the refresh token is unknown or expired")]
    BadRefresh,
    #[error("the refresh token was already used; its whole family is revoked")]
    RefreshReused,
}

/// The issuer's live grants (in memory: a restart asks people to sign in again).
#[derive(Debug, Default)]
pub struct Grants {
    codes: Mutex<HashMap<String, PendingCode>>,
    refresh: Mutex<Refresh>,
}

#[derive(Debug, Default)]
struct Refresh {
    live: HashMap<String, RefreshEntry>,
    /// Rotated-out token hash → its family (to detect reuse) and, for the
    /// reuse interval, its sealed answer.
    spent: HashMap<String, Spent>,
}

impl Refresh {
    fn insert(&mut self, token: &str, grant: Grant, family: String, lifetime: i64, now: i64) {
        self.live.retain(|_, r| r.expires_at > now);
        self.live.insert(
            digest(token),
            RefreshEntry {
                grant,
                family,
                expires_at: now.saturating_add(lifetime),
            },
        );
    }

    /// The reuse interval is over for these: drop what they sealed.
    fn forget_answers(&mut self, now: i64) {
        for spent in self.spent.values_mut() {
            if spent.answer.as_ref().is_some_and(|a| a.until <= now) {
                spent.answer = None;
            }
        }
    }

    /// RFC 9700 §4.14.2: every token of the family stops working.
    fn revoke(&mut self, family: &str) {
        self.live.retain(|_, r| r.family != family);
        for spent in self.spent.values_mut().filter(|s| s.family == family) {
            spent.answer = None;
        }
    }

    /// The answer a spent token was rotated for, if it may be given again:
    /// within the interval, to the same client, its successor still unused.
    fn repeat(&self, token: &str, hash: &str, client_id: &str, now: i64) -> Option<Successor> {
        let answer = self.spent.get(hash)?.answer.as_ref()?;
        if answer.until <= now {
            return None;
        }
        let opened = seal::open(ANSWER_LABEL, token, hash.as_bytes(), &answer.sealed)?;
        let successor: Successor = serde_json::from_slice(&opened).ok()?;
        let unused = self.live.contains_key(&digest(&successor.refresh_token));
        (unused && successor.access.grant.client_id == client_id).then_some(successor)
    }
}

impl Grants {
    /// A fresh code for an approved request.
    pub fn issue_code(
        &self,
        grant: Grant,
        redirect_uri: Option<&str>,
        challenge: CodeChallenge,
        now: i64,
    ) -> String {
        let code = random_token(32);
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        codes.retain(|_, c| c.expires_at > now);
        codes.insert(
            digest(&code),
            PendingCode {
                grant,
                redirect_uri: redirect_uri.map(str::to_owned),
                challenge,
                expires_at: now + CODE_LIFETIME,
            },
        );
        code
    }

    /// Redeems a code once. It is gone whatever the outcome, so a wrong
    /// verifier cannot be retried against the same code.
    pub fn redeem_code(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        verifier: &str,
        now: i64,
    ) -> Result<Grant, GrantError> {
        let pending = self
            .codes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&digest(code))
            .filter(|c| c.expires_at > now)
            .ok_or(GrantError::BadCode)?;
        if pending.grant.client_id != client_id {
            return Err(GrantError::ClientMismatch);
        }
        if pending.redirect_uri.as_deref() != redirect_uri {
            return Err(GrantError::RedirectMismatch);
        }
        if !pending.challenge.verify(verifier) {
            return Err(GrantError::Verifier);
        }
        Ok(pending.grant)
    }

    /// A refresh token starting a new family.
    pub fn issue_refresh(&self, grant: Grant, lifetime: i64, now: i64) -> String {
        let token = random_token(32);
        let mut refresh = self.refresh.lock().unwrap_or_else(|e| e.into_inner());
        refresh.insert(&token, grant, random_token(16), lifetime, now);
        token
    }

    /// Spends `token` and answers with its successor: an access token from
    /// `mint` (given the token's grant) and the refresh token replacing it.
    /// Within the reuse interval, the token just spent gets the same answer
    /// again and `mint` is not called; any other reuse revokes the family.
    ///
    /// Whatever fails after the token is found leaves it spent, so a
    /// wrong client or request cannot try again with it.
    pub fn rotate_refresh<E: From<GrantError>>(
        &self,
        token: &str,
        client_id: &str,
        policy: RefreshPolicy,
        now: i64,
        mint: impl FnOnce(&Grant) -> Result<Minted, E>,
    ) -> Result<Successor, E> {
        let hash = digest(token);
        // Held while minting, so a racing repeat finds the token either
        // live or spent with its answer, never spent without one.
        let mut refresh = self.refresh.lock().unwrap_or_else(|e| e.into_inner());
        refresh.forget_answers(now);
        if let Some(spent) = refresh.spent.get(&hash) {
            if let Some(successor) = refresh.repeat(token, &hash, client_id, now) {
                return Ok(successor);
            }
            let family = spent.family.clone();
            refresh.revoke(&family);
            return Err(GrantError::RefreshReused.into());
        }
        let entry = refresh.live.remove(&hash).ok_or(GrantError::BadRefresh)?;
        let family = entry.family.clone();
        refresh.spent.insert(
            hash.clone(),
            Spent {
                family: family.clone(),
                answer: None,
            },
        );
        if entry.expires_at <= now {
            return Err(GrantError::BadRefresh.into());
        }
        if entry.grant.client_id != client_id {
            return Err(GrantError::ClientMismatch.into());
        }
        let successor = Successor {
            access: mint(&entry.grant)?,
            refresh_token: random_token(32),
        };
        refresh.insert(
            &successor.refresh_token,
            entry.grant,
            family,
            policy.lifetime,
            now,
        );
        if policy.reuse_interval > 0 {
            let answer = serde_json::to_vec(&successor)
                .ok()
                .and_then(|plain| seal::seal(ANSWER_LABEL, token, hash.as_bytes(), &plain))
                .map(|sealed| SealedAnswer {
                    sealed,
                    until: now.saturating_add(policy.reuse_interval),
                });
            if let Some(spent) = refresh.spent.get_mut(&hash) {
                // Without a sealed answer a repeat revokes: the safe side.
                spent.answer = answer;
            }
        }
        Ok(successor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn grant() -> Grant {
        Grant {
            client_id: "c1".into(),
            sub: "alice".into(),
            email: None,
            scope: "openid".into(),
            audience: "https://app.example/mcp".into(),
        }
    }

    fn challenge() -> CodeChallenge {
        CodeChallenge::parse(CHALLENGE, Some("S256")).expect("challenge")
    }

    #[test]
    fn a_code_is_redeemed_once_with_the_right_verifier() {
        let grants = Grants::default();
        let code = grants.issue_code(grant(), Some("https://cb.example/"), challenge(), 0);
        assert_eq!(
            grants.redeem_code(&code, "c1", Some("https://cb.example/"), VERIFIER, 1),
            Ok(grant())
        );
        assert_eq!(
            grants.redeem_code(&code, "c1", Some("https://cb.example/"), VERIFIER, 2),
            Err(GrantError::BadCode)
        );
    }

    #[test]
    fn a_code_fails_for_wrong_verifier_client_redirect_or_age() {
        let grants = Grants::default();
        let cases: [(&str, &str, &str, i64, GrantError); 4] = [
            (
                "c1",
                "https://cb.example/",
                "wrong-verifier-wrong-verifier-wrong-verifier",
                1,
                GrantError::Verifier,
            ),
            (
                "c2",
                "https://cb.example/",
                VERIFIER,
                1,
                GrantError::ClientMismatch,
            ),
            (
                "c1",
                "https://evil.example/",
                VERIFIER,
                1,
                GrantError::RedirectMismatch,
            ),
            (
                "c1",
                "https://cb.example/",
                VERIFIER,
                CODE_LIFETIME,
                GrantError::BadCode,
            ),
        ];
        for (client, redirect, verifier, at, expected) in cases {
            let code = grants.issue_code(grant(), Some("https://cb.example/"), challenge(), 0);
            assert_eq!(
                grants.redeem_code(&code, client, Some(redirect), verifier, at),
                Err(expected.clone())
            );
            // Whatever failed, the code is spent.
            assert_eq!(
                grants.redeem_code(&code, "c1", Some("https://cb.example/"), VERIFIER, 1),
                Err(GrantError::BadCode),
                "{expected:?}"
            );
        }
    }

    /// Rotates with a mint that gives each access token a random name.
    fn rotate(
        grants: &Grants,
        token: &str,
        client_id: &str,
        reuse_interval: i64,
        now: i64,
    ) -> Result<Successor, GrantError> {
        let policy = RefreshPolicy {
            lifetime: 100,
            reuse_interval,
        };
        grants.rotate_refresh(token, client_id, policy, now, |grant| {
            Ok(Minted {
                grant: grant.clone(),
                access_token: random_token(8),
                expires_at: now + 60,
            })
        })
    }

    #[test]
    fn with_no_reuse_interval_a_reused_refresh_token_revokes_the_family_at_once() {
        let grants = Grants::default();
        let first = grants.issue_refresh(grant(), 100, 0);
        let second = rotate(&grants, &first, "c1", 0, 1).expect("rotate");
        assert_eq!(second.access.grant, grant());
        assert_ne!(second.refresh_token, first);
        // The spent token comes back: refused, and its successor dies with it.
        assert_eq!(
            rotate(&grants, &first, "c1", 0, 1),
            Err(GrantError::RefreshReused)
        );
        assert_eq!(
            rotate(&grants, &second.refresh_token, "c1", 0, 2),
            Err(GrantError::BadRefresh)
        );
    }

    #[test]
    fn within_the_reuse_interval_a_repeat_gets_the_same_successor_unminted() {
        let grants = Grants::default();
        let first = grants.issue_refresh(grant(), 100, 0);
        let answer = rotate(&grants, &first, "c1", 30, 10).expect("rotate");
        let policy = RefreshPolicy {
            lifetime: 100,
            reuse_interval: 30,
        };
        for at in [10, 25, 39] {
            let again = grants.rotate_refresh(&first, "c1", policy, at, |_| {
                Err(GrantError::BadCode) // not called: nothing is minted again
            });
            assert_eq!(again, Ok(answer.clone()), "at {at}");
        }
        // Nothing was revoked: the successor rotates as usual.
        let next = rotate(&grants, &answer.refresh_token, "c1", 30, 40).expect("rotate");
        assert_ne!(next.refresh_token, answer.refresh_token);
    }

    #[test]
    fn after_the_reuse_interval_a_repeat_revokes_the_family() {
        let grants = Grants::default();
        let first = grants.issue_refresh(grant(), 100, 0);
        let second = rotate(&grants, &first, "c1", 30, 10).expect("rotate");
        assert_eq!(
            rotate(&grants, &first, "c1", 30, 40),
            Err(GrantError::RefreshReused)
        );
        assert_eq!(
            rotate(&grants, &second.refresh_token, "c1", 30, 41),
            Err(GrantError::BadRefresh)
        );
    }

    #[test]
    fn a_token_rotated_twice_back_revokes_the_family_even_within_the_interval() {
        let grants = Grants::default();
        let first = grants.issue_refresh(grant(), 100, 0);
        let second = rotate(&grants, &first, "c1", 30, 10).expect("rotate");
        let third = rotate(&grants, &second.refresh_token, "c1", 30, 11).expect("rotate");
        assert_eq!(
            rotate(&grants, &first, "c1", 30, 12),
            Err(GrantError::RefreshReused)
        );
        assert_eq!(
            rotate(&grants, &third.refresh_token, "c1", 30, 13),
            Err(GrantError::BadRefresh)
        );
    }

    #[test]
    fn a_repeat_from_another_client_revokes_the_family() {
        let grants = Grants::default();
        let first = grants.issue_refresh(grant(), 100, 0);
        let second = rotate(&grants, &first, "c1", 30, 10).expect("rotate");
        assert_eq!(
            rotate(&grants, &first, "c2", 30, 11),
            Err(GrantError::RefreshReused)
        );
        assert_eq!(
            rotate(&grants, &second.refresh_token, "c1", 30, 12),
            Err(GrantError::BadRefresh)
        );
    }

    #[test]
    fn the_kept_answer_is_sealed_under_the_rotated_token_and_dropped_after_the_interval() {
        let grants = Grants::default();
        let first = grants.issue_refresh(grant(), 100, 0);
        let answer = rotate(&grants, &first, "c1", 30, 10).expect("rotate");
        let hash = digest(&first);
        let sealed = {
            let refresh = grants.refresh.lock().expect("lock");
            let kept = refresh.spent[&hash]
                .answer
                .as_ref()
                .expect("an answer is kept");
            kept.sealed.clone()
        };
        for secret in [&answer.refresh_token, &answer.access.access_token] {
            let found = sealed.windows(secret.len()).any(|w| w == secret.as_bytes());
            assert!(!found, "a token is stored in the clear");
        }
        // The stored digest (the lookup key) does not open it; the token does.
        assert_eq!(
            seal::open(ANSWER_LABEL, &hash, hash.as_bytes(), &sealed),
            None
        );
        assert!(seal::open(ANSWER_LABEL, &first, hash.as_bytes(), &sealed).is_some());
        // Any later rotation drops answers whose interval is over.
        let other = grants.issue_refresh(grant(), 100, 0);
        rotate(&grants, &other, "c1", 30, 40).expect("rotate");
        let refresh = grants.refresh.lock().expect("lock");
        assert!(refresh.spent[&hash].answer.is_none());
    }

    #[test]
    fn refresh_tokens_are_bound_to_their_client_and_expire() {
        let grants = Grants::default();
        let token = grants.issue_refresh(grant(), 100, 0);
        assert_eq!(
            rotate(&grants, &token, "c2", 30, 1),
            Err(GrantError::ClientMismatch)
        );
        let token = grants.issue_refresh(grant(), 100, 0);
        assert_eq!(
            rotate(&grants, &token, "c1", 30, 100),
            Err(GrantError::BadRefresh)
        );
        assert_eq!(
            rotate(&grants, "made-up", "c1", 30, 1),
            Err(GrantError::BadRefresh)
        );
    }
}
