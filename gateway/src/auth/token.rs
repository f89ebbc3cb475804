//! Access-token verification: the four checks, always.
//!
//! Signature (RS256 only, key by `kid` from the issuer's JWKS), issuer,
//! audience and expiry (with `nbf` and a future-`iat` guard), then the
//! required scopes. The header is only read to pick the key; `jku`, `x5u`
//! and embedded `jwk` headers are ignored, so a token cannot name its own key.
//! A header that lists `crit` extensions is refused: we understand none, and
//! RFC 7515 §4.1.11 makes such a token invalid.
//!
//! The time claims are checked here rather than by jsonwebtoken, because RFC
//! 7519 §2 lets a NumericDate carry fractions of a second (`1764633600.5`),
//! which jsonwebtoken reads as malformed.

use std::{sync::Arc, time::Duration};

use jsonwebtoken::{Algorithm, Validation, errors::ErrorKind};
use serde::Deserialize;

use super::{
    keys::{KeyError, KeyStore},
    verified::{TokenKey, VerifiedTokens},
};
use crate::identity::Identity;

/// Clock skew tolerated on `exp`, `nbf` and `iat` unless configured
/// (`AUTH_CLOCK_LEEWAY`).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
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
    #[error("the token's `{0}` claim is not a NumericDate (seconds since 1970)")]
    BadTime(&'static str),
    #[error("the token's header lists critical extensions this server does not understand (crit)")]
    Critical,
    #[error(
        "the token's `sub` is not usable as an identity (empty, too long, or holding control characters)"
    )]
    Subject,
    #[error("the token lacks a required scope")]
    InsufficientScope,
    #[error("the issuer's keys are unavailable")]
    KeysUnavailable,
}

impl TokenError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::KeysUnavailable)
    }

    /// A short stable name for the reason, for metrics labels.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::TooLarge => "too_large",
            Self::Algorithm => "algorithm",
            Self::MissingKid => "missing_kid",
            Self::UnknownKey => "unknown_key",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Issuer => "issuer",
            Self::Audience => "audience",
            Self::MissingClaim(_) => "missing_claim",
            Self::Claims => "claims",
            Self::BadTime(_) => "bad_time",
            Self::Critical => "critical_header",
            Self::Subject => "subject",
            Self::InsufficientScope => "insufficient_scope",
            Self::KeysUnavailable => "keys_unavailable",
        }
    }
}

/// Longest `sub` accepted; real ones are tens of characters.
const MAX_SUBJECT_BYTES: usize = 255;

#[derive(Debug, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    #[serde(default)]
    exp: Option<serde_json::Value>,
    #[serde(default)]
    nbf: Option<serde_json::Value>,
    #[serde(default)]
    iat: Option<serde_json::Value>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// Checks access tokens for one resource server.
#[derive(Debug)]
pub struct TokenVerifier {
    keys: Arc<KeyStore>,
    validation: Validation,
    leeway: i64,
    required_scopes: Vec<String>,
    verified: VerifiedTokens,
}

impl TokenVerifier {
    pub fn new(
        keys: Arc<KeyStore>,
        issuer: &str,
        audience: &str,
        required_scopes: Vec<String>,
        leeway: Duration,
    ) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["iss", "aud", "sub"]);
        // Checked by `check_times`, which reads fractional NumericDates.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        Self {
            keys,
            validation,
            leeway: i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX),
            required_scopes,
            verified: VerifiedTokens::new(REMEMBERED_TOKENS),
        }
    }

    /// The issuer's key set this verifier checks signatures with.
    pub fn keys(&self) -> &Arc<KeyStore> {
        &self.keys
    }

    pub fn required_scopes(&self) -> &[String] {
        &self.required_scopes
    }

    /// The four checks, then scopes. `now` is unix seconds. A token that
    /// passed before is answered from memory, expiry and key still checked.
    pub async fn verify(&self, token: &str, now: i64) -> Result<Arc<Identity>, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::TooLarge);
        }
        // Hashed once: the lookup and, on a miss, the insert use the same key.
        let key = TokenKey::of(token);
        if let Some(identity) = self.verified.get(key, now, |kid| self.keys.publishes(kid)) {
            return Ok(identity);
        }
        let (identity, kid, exp) = self.verify_fully(token, now).await?;
        let identity = Arc::new(identity);
        let valid_until = exp.saturating_add(self.leeway);
        self.verified
            .insert(key, identity.clone(), kid, valid_until, now);
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
        if header.crit.is_some() {
            return Err(TokenError::Critical);
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
        let exp = check_times(&claims, now, self.leeway)?;
        if claims.sub.is_empty() {
            return Err(TokenError::MissingClaim("sub".into()));
        }
        // The subject keys the store; Postgres text cannot hold a NUL, and no
        // issuer means a control character as part of a name.
        if claims.sub.len() > MAX_SUBJECT_BYTES || claims.sub.chars().any(char::is_control) {
            return Err(TokenError::Subject);
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
        Ok((identity, kid, exp))
    }
}

/// `exp` (required), `nbf` and `iat` against `now`, each allowed `leeway`
/// seconds of clock skew. Returns `exp` in whole seconds, rounded down.
fn check_times(claims: &Claims, now: i64, leeway: i64) -> Result<i64, TokenError> {
    let exp = numeric_date(claims.exp.as_ref(), "exp")?
        .ok_or_else(|| TokenError::MissingClaim("exp".into()))?;
    if exp.saturating_add(leeway) < now {
        return Err(TokenError::Expired);
    }
    if numeric_date(claims.nbf.as_ref(), "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(leeway))
    {
        return Err(TokenError::NotYetValid);
    }
    // A token issued in the future is a forged token or a broken clock.
    if numeric_date(claims.iat.as_ref(), "iat")?.is_some_and(|iat| iat > now.saturating_add(leeway))
    {
        return Err(TokenError::NotYetValid);
    }
    Ok(exp)
}

/// RFC 7519 §2: a JSON number of seconds, possibly with a fraction. The
/// fraction is dropped (rounded down), which never lengthens a token's life
/// by more than the second it is in.
fn numeric_date(
    value: Option<&serde_json::Value>,
    claim: &'static str,
) -> Result<Option<i64>, TokenError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let seconds = value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .map(|f| f.floor() as i64)
        })
        .ok_or(TokenError::BadTime(claim))?;
    Ok(Some(seconds))
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
        let keys = Arc::new(KeyStore::new(nowhere, Some(jwks), Duration::ZERO));
        TokenVerifier::new(
            keys,
            "http://127.0.0.1:9",
            "https://room.example/mcp",
            vec![],
            DEFAULT_LEEWAY,
        )
    }

    fn verify(token: &str) -> Result<Arc<Identity>, TokenError> {
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

#[cfg(test)]
mod times {
    use serde_json::json;

    use super::*;

    fn claims(exp: Option<serde_json::Value>, nbf: Option<f64>, iat: Option<f64>) -> Claims {
        Claims {
            iss: "i".into(),
            sub: "s".into(),
            exp,
            nbf: nbf.map(|n| json!(n)),
            iat: iat.map(|n| json!(n)),
            email: None,
            scope: None,
        }
    }

    /// RFC 7519 §2: a NumericDate may carry a fraction of a second, in each of
    /// the three time claims.
    #[test]
    fn fractional_numeric_dates_are_read_in_every_time_claim() {
        let c = claims(Some(json!(1_000.5)), Some(900.25), Some(900.75));
        assert_eq!(check_times(&c, 950, 0).ok(), Some(1_000));
        // Each fraction is still checked against the clock.
        let c = claims(Some(json!(1_000.5)), None, None);
        assert!(matches!(
            check_times(&c, 1_001, 0),
            Err(TokenError::Expired)
        ));
        let c = claims(Some(json!(2_000)), Some(1_000.5), None);
        assert!(matches!(
            check_times(&c, 999, 0),
            Err(TokenError::NotYetValid)
        ));
        let c = claims(Some(json!(2_000)), None, Some(1_000.5));
        assert!(matches!(
            check_times(&c, 999, 0),
            Err(TokenError::NotYetValid)
        ));
    }

    #[test]
    fn the_leeway_is_applied_both_ways() {
        let c = claims(Some(json!(1_000)), None, None);
        assert!(check_times(&c, 1_030, 30).is_ok());
        assert!(matches!(
            check_times(&c, 1_031, 30),
            Err(TokenError::Expired)
        ));
        assert!(matches!(
            check_times(&c, 1_001, 0),
            Err(TokenError::Expired)
        ));
        let c = claims(Some(json!(2_000)), Some(1_030.0), None);
        assert!(check_times(&c, 1_000, 30).is_ok());
        assert!(matches!(
            check_times(&c, 1_000, 29),
            Err(TokenError::NotYetValid)
        ));
    }

    #[test]
    fn time_claims_that_are_not_numbers_are_refused() {
        for bad in [json!("2030-01-01"), json!(1e300), json!([1])] {
            let c = claims(Some(bad.clone()), None, None);
            assert!(
                matches!(check_times(&c, 0, 30), Err(TokenError::BadTime("exp"))),
                "{bad}"
            );
        }
        let c = claims(None, None, None);
        assert!(matches!(
            check_times(&c, 0, 30),
            Err(TokenError::MissingClaim(_))
        ));
    }
}
