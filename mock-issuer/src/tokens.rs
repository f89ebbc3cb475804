//! Access tokens: RS256 JWTs in the RFC 9068 profile (`typ: at+jwt`).
//!
//! The claims are what a resource server needs for its four checks (`iss`,
//! `aud`, `exp`, signature) plus who and what: `sub`, `email`, `scope`,
//! `client_id`, and `iat`/`jti`.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::{Deserialize, Serialize};

use crate::keys::SigningKey;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// What a token is for; the rest (times, `jti`) is filled in at minting.
#[derive(Debug, Clone)]
pub struct TokenRequest<'a> {
    pub issuer: &'a str,
    pub sub: &'a str,
    pub email: Option<&'a str>,
    pub audience: &'a str,
    pub scope: &'a str,
    pub client_id: &'a str,
    /// Lifetime in seconds; may be negative to mint an already-expired token.
    pub lifetime: i64,
}

impl AccessClaims {
    pub fn new(request: &TokenRequest<'_>, now: i64) -> Self {
        Self {
            iss: request.issuer.to_owned(),
            sub: request.sub.to_owned(),
            aud: request.audience.to_owned(),
            exp: now.saturating_add(request.lifetime),
            iat: now,
            jti: random_token(16),
            scope: request.scope.to_owned(),
            client_id: request.client_id.to_owned(),
            email: request.email.map(str::to_owned),
        }
    }
}

/// Mints a signed access token.
pub fn mint(
    key: &SigningKey,
    request: &TokenRequest<'_>,
    now: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    key.sign(&AccessClaims::new(request, now))
}

/// `bytes` of OS randomness as base64url: codes, refresh tokens, secrets, ids.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    B64.encode(buf)
}
