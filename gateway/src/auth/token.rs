//! Access-token verification: the four checks, always.
//!
//! Signature (RS256 only, key by `kid` from the issuer's JWKS), issuer,
//! audience and expiry (with `nbf` and a future-`iat` guard), then the
//! required scopes. The header is only read to pick the key; `jku`, `x5u`
//! and embedded `jwk` headers are ignored, so a token cannot name its own key.

use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde::Deserialize;

use super::{
    keys::{KeyError, KeyStore},
    verified::{TokenKey, VerifiedTokens},
};
use crate::identity::Identity;

/// Clock skew tolerated on `exp`, `nbf` and `iat`.
pub const LEEWAY: Duration = Duration::from_secs(30);
/// Longest bearer token read; real ones are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Verified tokens remembered; a host reuses one token for an hour of calls.
const REMEMBERED_TOKENS: usize = 10_000;

/// Why a token was refused. [`TokenError::is_unavailable`] separates "we
/// could not check" (503) from "this token is bad" (401).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is too large")]
    TooLarge,
    #[error("only RS256-signed tokens are accepted")]
    Algorithm,
    #[error("the token's header names no key (kid)")]
    MissingKid,
    #[error("the token is signed with a key the issuer does not publish")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    Issuer,
    #[error("the token is for another audience")]
    Audience,
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("the token's claims are malformed")]
    Claims,
    #[error("the token lacks a required scope")]
    InsufficientScope,
    #[error("the issuer's keys are unavailable")]
    KeysUnavailable,
}

impl TokenError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::KeysUnavailable)
    }
}

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    exp: i64,
    iat: Option<i64>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// Checks access tokens for one resource server.
#[derive(Debug)]
pub struct TokenVerifier {
    keys: KeyStore,
    validation: Validation,
    required_scopes: Vec<String>,
    verified: VerifiedTokens,
}

impl TokenVerifier {
    pub fn new(keys: KeyStore, issuer: &str, audience: &str, required_scopes: Vec<String>) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY.as_secs();
        Self {
            keys,
            validation,
            required_scopes,
            verified: VerifiedTokens::new(REMEMBERED_TOKENS),
        }
    }

    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }

    /// The four checks, then scopes. `now` is unix seconds. A token that
    /// passed before is answered from memory, expiry and key still checked.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Identity, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        // Hashed once: the lookup and, on a miss, the insert use the same key.
        let key = TokenKey::of(token);
        if let Some(identity) = self.verified.get(key, now, |kid| self.keys.publishes(kid)) {
            return Ok(identity);
        }
        let (identity, kid, exp) = self.verify_fully(token, now).await?;
        self.verified.insert(key, identity.clone(), kid, exp, now);
        Ok(identity)
    }

    async fn verify_fully(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(Identity, String, i64), TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| match e.kind() {
            ErrorKind::InvalidAlgorithmName | ErrorKind::MissingAlgorithm => TokenError::Algorithm,
            _ => TokenError::Malformed,
        })?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Algorithm);
        }
        let kid = header.kid.ok_or(TokenError::MissingKid)?;
        let key = self.keys.key(&kid).await.map_err(|e| match e {
            KeyError::UnknownKid => TokenError::UnknownKey,
            KeyError::Unavailable(_) => TokenError::KeysUnavailable,
        })?;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(|e| {
            match e.into_kind() {
                ErrorKind::InvalidSignature => TokenError::Signature,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidIssuer => TokenError::Issuer,
                ErrorKind::InvalidAudience => TokenError::Audience,
                ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
                ErrorKind::MissingRequiredClaim(claim) => TokenError::MissingClaim(claim),
                ErrorKind::Json(_) | ErrorKind::InvalidClaimFormat(_) => TokenError::Claims,
                _ => TokenError::Malformed,
            }
        })?;
        let claims = data.claims;
        // jsonwebtoken leaves `iat` alone; a token from the future is a forged or broken clock.
        if claims
            .iat
            .is_some_and(|iat| iat > now + LEEWAY.as_secs() as i64)
        {
            return Err(TokenError::NotYetValid);
        }
        if claims.sub.is_empty() {
            return Err(TokenError::MissingClaim("sub".into()));
        }
        let scopes: Vec<String> = claims
            .scope
            .as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !self.required_scopes.iter().all(|s| scopes.contains(s)) {
            return Err(TokenError::InsufficientScope);
        }
        let identity = Identity {
            issuer: claims.iss,
            subject: claims.sub,
            email: claims.email,
            scopes,
        };
        Ok((identity, kid, claims.exp))
    }
}

#[cfg(test)]
mod properties {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
    use proptest::prelude::*;
    use url::Url;

    use super::*;

    /// A verifier whose issuer is not there: any token that gets as far as
    /// asking for keys is refused as unavailable, which is still a refusal.
    fn verifier() -> TokenVerifier {
        let nowhere = Url::parse("http://127.0.0.1:9/").expect("url");
        let jwks = nowhere.join("jwks.json").expect("url");
        let keys = KeyStore::new(nowhere, Some(jwks), Duration::ZERO);
        TokenVerifier::new(
            keys,
            "http://127.0.0.1:9",
            "https://room.example/mcp",
            vec![],
        )
    }

    fn verify(token: &str) -> Result<Identity, TokenError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(verifier().verify(token, chrono::Utc::now().timestamp()))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Header and claims are read before any signature is checked: no
        /// header (any `alg`, any `kid`, `jku`/`x5u`/`jwk`/`crit`), claims
        /// or signature bytes get a token through or make the check panic.
        #[test]
        fn forged_tokens_are_refused(
            alg in prop_oneof![
                Just("RS256".to_owned()), Just("none".to_owned()), Just("HS256".to_owned()),
                Just("ES256".to_owned()), "[A-Za-z0-9]{0,8}",
            ],
            kid in proptest::option::of("[ -~]{0,40}"),
            extra in proptest::option::of(("jku|x5u|jwk|crit", "[ -~]{0,40}")),
            claims in "\\PC{0,200}",
            signature in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut header = serde_json::json!({"alg": alg, "typ": "JWT"});
            if let Some(kid) = kid {
                header["kid"] = serde_json::Value::String(kid);
            }
            if let Some((name, value)) = extra {
                header[name] = serde_json::Value::String(value);
            }
            let token = format!(
                "{}.{}.{}",
                B64.encode(header.to_string()),
                B64.encode(claims),
                B64.encode(signature)
            );
            prop_assert!(verify(&token).is_err());
        }

        #[test]
        fn arbitrary_text_is_refused(text in "\\PC{0,400}") {
            prop_assert!(verify(&text).is_err());
        }
    }
}
