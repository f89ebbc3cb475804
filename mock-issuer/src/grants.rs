//! Authorization codes and refresh tokens: issued, redeemed once, rotated.
//!
//! - Codes (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3): single use, short-lived,
//!   bound to the client, the redirect URI and the PKCE challenge.
//! - Refresh tokens (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2): rotated on every
//!   use. A token that was already rotated and comes back means it leaked,
//!   so the whole family it belongs to is revoked.
//!
//! Tokens are stored by their SHA-256, never in the clear.

use std::{collections::HashMap, sync::Mutex};

use crate::{digest::sha256_b64url as digest, pkce::CodeChallenge, tokens::random_token};

/// How long an authorization code can be redeemed.
pub const CODE_LIFETIME: i64 = 60;

/// Who approved what, carried from the consent page to the tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Rotated-out token hash → family, to detect reuse.
    spent: HashMap<String, String>,
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
        self.insert_refresh(grant, random_token(16), lifetime, now)
    }

    fn insert_refresh(&self, grant: Grant, family: String, lifetime: i64, now: i64) -> String {
        let token = random_token(32);
        let mut refresh = self.refresh.lock().unwrap_or_else(|e| e.into_inner());
        refresh.live.retain(|_, r| r.expires_at > now);
        refresh.live.insert(
            digest(&token),
            RefreshEntry {
                grant,
                family,
                expires_at: now.saturating_add(lifetime),
            },
        );
        token
    }

    /// Spends `token` and returns its grant with the token that replaces it.
    pub fn rotate_refresh(
        &self,
        token: &str,
        client_id: &str,
        lifetime: i64,
        now: i64,
    ) -> Result<(Grant, String), GrantError> {
        let hash = digest(token);
        let entry = {
            let mut refresh = self.refresh.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(family) = refresh.spent.get(&hash).cloned() {
                refresh.live.retain(|_, r| r.family != family);
                return Err(GrantError::RefreshReused);
            }
            let entry = refresh.live.remove(&hash).ok_or(GrantError::BadRefresh)?;
            refresh.spent.insert(hash, entry.family.clone());
            entry
        };
        if entry.expires_at <= now {
            return Err(GrantError::BadRefresh);
        }
        if entry.grant.client_id != client_id {
            return Err(GrantError::ClientMismatch);
        }
        let next = self.insert_refresh(entry.grant.clone(), entry.family, lifetime, now);
        Ok((entry.grant, next))
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

    #[test]
    fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
        let grants = Grants::default();
        let first = grants.issue_refresh(grant(), 100, 0);
        let (g, second) = grants.rotate_refresh(&first, "c1", 100, 1).expect("rotate");
        assert_eq!(g, grant());
        // The spent token comes back: refused, and its successor dies with it.
        assert_eq!(
            grants.rotate_refresh(&first, "c1", 100, 2),
            Err(GrantError::RefreshReused)
        );
        assert_eq!(
            grants.rotate_refresh(&second, "c1", 100, 3),
            Err(GrantError::BadRefresh)
        );
    }

    #[test]
    fn refresh_tokens_are_bound_to_their_client_and_expire() {
        let grants = Grants::default();
        let token = grants.issue_refresh(grant(), 100, 0);
        assert_eq!(
            grants.rotate_refresh(&token, "c2", 100, 1),
            Err(GrantError::ClientMismatch)
        );
        let token = grants.issue_refresh(grant(), 100, 0);
        assert_eq!(
            grants.rotate_refresh(&token, "c1", 100, 100),
            Err(GrantError::BadRefresh)
        );
        assert_eq!(
            grants.rotate_refresh("made-up", "c1", 100, 1),
            Err(GrantError::BadRefresh)
        );
    }
}
