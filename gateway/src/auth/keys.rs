//! The issuer's signing keys: discovered, fetched, cached, refetched.
//!
//! Keys come from the issuer's JWKS (RFC 7517), whose address is configured or
//! read from the issuer's metadata (RFC 8414, then OIDC discovery). The cache
//! is refreshed when it is older than [`MAX_AGE`] and when a token names a
//! `kid` we do not hold — at most once per `min_refetch`, so a flood of tokens
//! with made-up `kid`s cannot turn the gateway into a load generator against
//! the issuer. Only RSA keys usable for RS256 signatures are kept.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{
    DecodingKey,
    jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse},
};
use serde::Deserialize;
use url::Url;

/// How long a fetched key set is trusted before it is refreshed.
pub const MAX_AGE: Duration = Duration::from_secs(600);
/// Largest JWKS or metadata document read.
const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why no key could be found for a token.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no key with this kid is published by the issuer")]
    UnknownKid,
    /// The issuer's keys could not be fetched and none are cached.
    #[error("the issuer's keys are unavailable: {0}")]
    Unavailable(String),
}

#[derive(Default)]
struct Cache {
    keys: Arc<HashMap<String, DecodingKey>>,
    fetched_at: Option<Instant>,
    /// When the last fetch was tried, successful or not (the rate limit).
    tried_at: Option<Instant>,
    jwks_url: Option<Url>,
}

/// A shared, self-refreshing view of the issuer's public keys.
pub struct KeyStore {
    http: reqwest::Client,
    issuer: Url,
    configured_jwks_url: Option<Url>,
    min_refetch: Duration,
    cache: RwLock<Cache>,
    /// Serialises fetches so concurrent misses cause one request, not many.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("issuer", &self.issuer.as_str())
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    pub fn new(issuer: Url, jwks_url: Option<Url>, min_refetch: Duration) -> Self {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            http,
            issuer,
            configured_jwks_url: jwks_url,
            min_refetch,
            cache: RwLock::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The key for `kid`, fetching the key set when it is missing or stale.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, KeyError> {
        if let Some(answer) = self.answer_from_cache(kid) {
            return answer;
        }
        let _guard = self.fetching.lock().await;
        // Someone may have fetched while we waited.
        if let Some(answer) = self.answer_from_cache(kid) {
            return answer;
        }
        let (hit, _) = self.lookup(kid);
        match self.refresh().await {
            Ok(()) => self.lookup(kid).0.ok_or(KeyError::UnknownKid),
            Err(problem) => {
                tracing::warn!(issuer = %self.issuer, %problem, "could not refresh the issuer's keys");
                match hit {
                    // A stale key keeps working while the issuer is unreachable.
                    Some(key) => Ok(key),
                    None if self.has_keys() => Err(KeyError::UnknownKid),
                    None => Err(KeyError::Unavailable(problem)),
                }
            }
        }
    }

    /// Whether `kid` is in the key set held now (fresh or stale), without fetching.
    pub fn publishes(&self, kid: &str) -> bool {
        self.cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys
            .contains_key(kid)
    }

    /// The answer without fetching: a fresh key, or — when the rate limit
    /// forbids a fetch — a stale key or a miss. `None` means: fetch.
    fn answer_from_cache(&self, kid: &str) -> Option<Result<DecodingKey, KeyError>> {
        let (hit, fresh) = self.lookup(kid);
        match hit {
            Some(key) if fresh || !self.may_fetch() => Some(Ok(key)),
            None if !self.may_fetch() => Some(Err(self.miss())),
            _ => None,
        }
    }

    fn lookup(&self, kid: &str) -> (Option<DecodingKey>, bool) {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        let fresh = cache.fetched_at.is_some_and(|t| t.elapsed() < MAX_AGE);
        (cache.keys.get(kid).cloned(), fresh)
    }

    /// A miss while fetching is rate-limited: unknown if we hold keys, else unavailable.
    fn miss(&self) -> KeyError {
        if self.has_keys() {
            KeyError::UnknownKid
        } else {
            KeyError::Unavailable("the issuer's keys have not been fetched yet".into())
        }
    }

    fn has_keys(&self) -> bool {
        !self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys
            .is_empty()
    }

    fn may_fetch(&self) -> bool {
        let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
        cache
            .tried_at
            .is_none_or(|t| t.elapsed() >= self.min_refetch)
    }

    async fn refresh(&self) -> Result<(), String> {
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .tried_at = Some(Instant::now());
        let jwks_url = self.jwks_url().await?;
        let set: JwkSet = self.get_json(&jwks_url).await?;
        let keys = usable_keys(&set);
        if keys.is_empty() {
            return Err(format!(
                "{jwks_url} publishes no RS256 signing key with a kid"
            ));
        }
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        cache.keys = Arc::new(keys);
        cache.fetched_at = Some(Instant::now());
        cache.jwks_url = Some(jwks_url);
        Ok(())
    }

    async fn jwks_url(&self) -> Result<Url, String> {
        if let Some(url) = &self.configured_jwks_url {
            return Ok(url.clone());
        }
        if let Some(url) = self
            .cache
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .jwks_url
            .clone()
        {
            return Ok(url);
        }
        let mut problems = Vec::new();
        for candidate in metadata_urls(&self.issuer) {
            match self.get_json::<IssuerMetadata>(&candidate).await {
                // RFC 8414 §3.3: the metadata must name the issuer we asked about.
                Ok(meta)
                    if meta.issuer.trim_end_matches('/')
                        == self.issuer.as_str().trim_end_matches('/') =>
                {
                    return Url::parse(&meta.jwks_uri)
                        .map_err(|e| format!("{candidate}: bad jwks_uri: {e}"));
                }
                Ok(meta) => problems.push(format!("{candidate} names issuer {}", meta.issuer)),
                Err(e) => problems.push(e),
            }
        }
        Err(problems.join("; "))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &Url) -> Result<T, String> {
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| format!("{url}: {}", without_url(&e)))?;
        if !response.status().is_success() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(format!("{url}: document too large"));
        }
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("{url}: {}", without_url(&e)))?;
        if body.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("{url}: document too large"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
    }
}

fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(source) = std::error::Error::source(e) {
        text = format!("{text}: {source}");
    }
    text
}

#[derive(Deserialize)]
struct IssuerMetadata {
    issuer: String,
    jwks_uri: String,
}

/// RFC 8414 §3.1 inserts the well-known segment before the issuer's path;
/// OIDC Discovery §4 appends it. Try both, RFC 8414 first.
fn metadata_urls(issuer: &Url) -> Vec<Url> {
    let path = issuer.path().trim_end_matches('/');
    let mut urls = Vec::new();
    let mut with = |p: String| {
        let mut url = issuer.clone();
        url.set_path(&p);
        url.set_query(None);
        urls.push(url);
    };
    with(format!("/.well-known/oauth-authorization-server{path}"));
    with(format!("{path}/.well-known/openid-configuration"));
    urls
}

/// RSA keys with a `kid` whose `use`/`alg`, when given, allow RS256 signatures.
fn usable_keys(set: &JwkSet) -> HashMap<String, DecodingKey> {
    set.keys
        .iter()
        .filter(|jwk| {
            matches!(
                jwk.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            )
        })
        .filter(|jwk| matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)))
        .filter_map(|jwk| match (&jwk.common.key_id, &jwk.algorithm) {
            (Some(kid), AlgorithmParameters::RSA(rsa)) => {
                DecodingKey::from_rsa_components(&rsa.n, &rsa.e)
                    .ok()
                    .map(|key| (kid.clone(), key))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_looked_up_both_ways() {
        let root = Url::parse("https://auth.example").expect("url");
        let urls: Vec<String> = metadata_urls(&root).iter().map(Url::to_string).collect();
        assert_eq!(
            urls,
            [
                "https://auth.example/.well-known/oauth-authorization-server",
                "https://auth.example/.well-known/openid-configuration"
            ]
        );
        let tenant = Url::parse("https://auth.example/tenant/").expect("url");
        let urls: Vec<String> = metadata_urls(&tenant).iter().map(Url::to_string).collect();
        assert_eq!(
            urls,
            [
                "https://auth.example/.well-known/oauth-authorization-server/tenant",
                "https://auth.example/tenant/.well-known/openid-configuration"
            ]
        );
    }

    const N: &str = "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw";

    #[tokio::test]
    async fn a_stale_key_keeps_working_while_the_issuer_is_down() {
        // Nothing listens on port 9: the refresh fails fast.
        let store = KeyStore::new(
            Url::parse("http://127.0.0.1:9").expect("url"),
            None,
            Duration::from_secs(3600),
        );
        {
            let mut cache = store.cache.write().expect("lock");
            let key = DecodingKey::from_rsa_components(N, "AQAB").expect("key");
            cache.keys = Arc::new(HashMap::from([("k1".to_owned(), key)]));
            cache.fetched_at = Instant::now().checked_sub(MAX_AGE + Duration::from_secs(1));
        }
        // Stale: one refresh is tried, fails, and the cached key still answers.
        assert!(store.key("k1").await.is_ok());
        let tried = store.cache.read().expect("lock").tried_at;
        assert!(tried.is_some());
        // Within the rate limit no further fetch is tried: same answer, same attempt time.
        assert!(store.key("k1").await.is_ok());
        assert_eq!(store.cache.read().expect("lock").tried_at, tried);
        // An unknown kid, with keys held, is simply unknown.
        assert!(matches!(store.key("k2").await, Err(KeyError::UnknownKid)));
    }

    #[test]
    fn only_rs256_signing_keys_with_a_kid_are_kept() {
        let n = N;
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [
            {"kty": "RSA", "kid": "good", "use": "sig", "alg": "RS256", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "enc", "use": "enc", "n": n, "e": "AQAB"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": n, "e": "AQAB"},
            {"kty": "RSA", "n": n, "e": "AQAB"},
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}
        ]}))
        .expect("jwks parses");
        let keys = usable_keys(&set);
        assert_eq!(keys.keys().collect::<Vec<_>>(), ["good"]);
    }

    #[tokio::test]
    async fn unknown_kids_do_not_refetch_faster_than_the_limit() {
        // Nothing listens on port 9 of loopback: each fetch fails fast.
        let issuer = Url::parse("http://127.0.0.1:9").expect("url");
        let store = KeyStore::new(issuer, None, Duration::from_secs(3600));
        assert!(matches!(
            store.key("a").await,
            Err(KeyError::Unavailable(_))
        ));
        // Within the limit no second fetch is tried: still unavailable, and
        // the attempt time is unchanged.
        let tried = store.cache.read().expect("lock").tried_at;
        assert!(matches!(
            store.key("b").await,
            Err(KeyError::Unavailable(_))
        ));
        assert_eq!(store.cache.read().expect("lock").tried_at, tried);
    }
}
