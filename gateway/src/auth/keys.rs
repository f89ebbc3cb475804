//! The issuer's signing keys: discovered, fetched, cached, refetched.
//!
//! Keys come from the issuer's JWKS (RFC 7517), whose address is configured or
//! read from the issuer's metadata (RFC 8414, then OIDC discovery). They are
//! fetched once at start ([`KeyStore::prefetch`]), refreshed when older than
//! [`MAX_AGE`], and refetched when a token names a `kid` we do not hold.
//!
//! - **Single flight.** One fetch runs at a time. A request that has no key to
//!   answer with waits for the fetch in flight (at most [`WAIT_FOR_FETCH`])
//!   and reads what it found, so the first burst after a start or deploy is
//!   served, not refused. A request holding a stale key answers with it.
//! - **Rate limit.** Fetches are at most one per `min_refetch`, so a flood of
//!   tokens with made-up `kid`s cannot turn the gateway into a load generator
//!   against the issuer. One exception: an unknown `kid` refetches at once when
//!   the previous fetch was not itself caused by an unknown `kid`, so a key the
//!   issuer has just rotated in works at once, and a flood still gets at most
//!   one extra fetch per ordinary one.
//!
//! Only RSA keys usable for RS256 signatures are kept.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{
    DecodingKey,
    jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse},
};
use prometheus_client::metrics::counter::Counter;
use serde::Deserialize;
use url::Url;

/// How long a fetched key set is trusted before it is refreshed.
pub const MAX_AGE: Duration = Duration::from_secs(600);
/// Longest a request waits for a key fetch in flight before it is refused.
pub const WAIT_FOR_FETCH: Duration = Duration::from_secs(10);
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

/// Where the key set stands, for `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysStatus {
    /// Keys are held (fresh or stale): tokens can be checked.
    Loaded,
    /// No fetch has finished yet.
    Fetching,
    /// No keys are held and the last fetch failed: the issuer is down or misconfigured.
    Unavailable(String),
}

/// What made a fetch happen, for the rate limit's one exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    /// Nothing held yet, or what is held is stale.
    Load,
    /// A token named a `kid` the fresh key set does not hold.
    UnknownKid,
}

#[derive(Default)]
struct Cache {
    keys: Arc<HashMap<String, DecodingKey>>,
    fetched_at: Option<Instant>,
    /// When the last fetch was tried, successful or not, and why.
    last_try: Option<(Instant, Cause)>,
    /// Why the last fetch failed, while no later one has succeeded.
    last_error: Option<String>,
    /// Bumped when a fetch ends: a request that waited for one reads its
    /// outcome instead of fetching again.
    generation: u64,
    jwks_url: Option<Url>,
    /// The OIDC `userinfo_endpoint` the metadata named, if it was read.
    userinfo: Option<Url>,
}

/// What the cache says about one `kid` right now.
struct Lookup {
    key: Option<DecodingKey>,
    fresh: bool,
    generation: u64,
}

/// A shared, self-refreshing view of the issuer's public keys.
pub struct KeyStore {
    http: reqwest::Client,
    issuer: Url,
    configured_jwks_url: Option<Url>,
    min_refetch: Duration,
    cache: RwLock<Cache>,
    /// Held for the length of a fetch: the single flight.
    fetching: tokio::sync::Mutex<()>,
    /// Fetches that succeeded and that failed, for `/metrics`.
    fetched: Counter,
    fetch_failed: Counter,
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
            fetched: Counter::default(),
            fetch_failed: Counter::default(),
        }
    }

    /// Handles on the fetch counters (succeeded, failed), for `/metrics`.
    pub fn fetch_counters(&self) -> (Counter, Counter) {
        (self.fetched.clone(), self.fetch_failed.clone())
    }

    /// Fetches the key set unless one is held; run at start, off the request path.
    pub async fn prefetch(&self) {
        let _flight = self.fetching.lock().await;
        if self.has_keys() {
            return;
        }
        if let Err(problem) = self.refresh(Cause::Load).await {
            tracing::warn!(issuer = %self.issuer, %problem, "could not fetch the issuer's keys at start");
        }
    }

    /// Tries the fetch again when no keys are held and the rate limit allows,
    /// so a replica whose issuer was down at start recovers without waiting
    /// for a token to ask (`/readyz` calls this, off its own answer path).
    pub async fn retry_if_due(&self) {
        let Ok(_flight) = self.fetching.try_lock() else {
            return; // a fetch is already running
        };
        if self.has_keys() || !self.may_fetch(Cause::Load) {
            return;
        }
        if let Err(problem) = self.refresh(Cause::Load).await {
            tracing::warn!(issuer = %self.issuer, %problem, "the issuer's keys are still unavailable");
        }
    }

    /// Where the key set stands, without fetching.
    pub fn status(&self) -> KeysStatus {
        let cache = self.read();
        if !cache.keys.is_empty() {
            KeysStatus::Loaded
        } else if let Some(problem) = &cache.last_error {
            KeysStatus::Unavailable(problem.clone())
        } else {
            KeysStatus::Fetching
        }
    }

    /// The key for `kid`, fetching the key set when it is missing or stale.
    pub async fn key(&self, kid: &str) -> Result<DecodingKey, KeyError> {
        let seen = self.lookup(kid);
        if let (Some(key), true) = (&seen.key, seen.fresh) {
            return Ok(key.clone());
        }
        let _flight = match (&seen.key, self.fetching.try_lock()) {
            (_, Ok(flight)) => flight,
            // A stale key answers while someone else refreshes.
            (Some(key), Err(_)) => return Ok(key.clone()),
            // Nothing to answer with: wait for the fetch in flight.
            (None, Err(_)) => {
                match tokio::time::timeout(WAIT_FOR_FETCH, self.fetching.lock()).await {
                    Ok(flight) => flight,
                    Err(_) => {
                        return Err(KeyError::Unavailable(format!(
                            "the key fetch in flight took longer than {}s",
                            WAIT_FOR_FETCH.as_secs()
                        )));
                    }
                }
            }
        };
        let now = self.lookup(kid);
        if now.generation != seen.generation {
            // A fetch ended while we waited: its outcome is our answer.
            return now.key.ok_or_else(|| self.miss());
        }
        if let (Some(key), true) = (&now.key, now.fresh) {
            return Ok(key.clone());
        }
        let cause = if now.key.is_none() && now.fresh {
            Cause::UnknownKid
        } else {
            Cause::Load
        };
        if !self.may_fetch(cause) {
            return now.key.ok_or_else(|| self.miss());
        }
        match self.refresh(cause).await {
            Ok(()) => self.lookup(kid).key.ok_or(KeyError::UnknownKid),
            Err(problem) => {
                tracing::warn!(issuer = %self.issuer, %problem, "could not refresh the issuer's keys");
                // A stale key keeps working while the issuer is unreachable.
                now.key.ok_or_else(|| self.miss())
            }
        }
    }

    /// The issuer's OIDC userinfo endpoint, once its metadata has been read
    /// (not when `AUTH_JWKS_URL` is configured: then the metadata is not).
    pub fn userinfo_endpoint(&self) -> Option<Url> {
        self.read().userinfo.clone()
    }

    /// Whether `kid` is in the key set held now (fresh or stale), without fetching.
    pub fn publishes(&self, kid: &str) -> bool {
        self.read().keys.contains_key(kid)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(|e| e.into_inner())
    }

    fn lookup(&self, kid: &str) -> Lookup {
        let cache = self.read();
        Lookup {
            key: cache.keys.get(kid).cloned(),
            fresh: cache.fetched_at.is_some_and(|t| t.elapsed() < MAX_AGE),
            generation: cache.generation,
        }
    }

    /// A miss with no fetch to be made: unknown if we hold keys, else unavailable.
    fn miss(&self) -> KeyError {
        let cache = self.read();
        if !cache.keys.is_empty() {
            return KeyError::UnknownKid;
        }
        KeyError::Unavailable(
            cache
                .last_error
                .clone()
                .unwrap_or_else(|| "the issuer's keys have not been fetched yet".into()),
        )
    }

    fn has_keys(&self) -> bool {
        !self.read().keys.is_empty()
    }

    fn may_fetch(&self, cause: Cause) -> bool {
        match self.read().last_try {
            None => true,
            Some((at, last)) => {
                at.elapsed() >= self.min_refetch
                    || (cause == Cause::UnknownKid && last != Cause::UnknownKid)
            }
        }
    }

    /// One fetch; the caller holds `fetching`.
    async fn refresh(&self, cause: Cause) -> Result<(), String> {
        self.write().last_try = Some((Instant::now(), cause));
        let outcome = self.fetch().await;
        let mut cache = self.write();
        cache.generation += 1;
        match outcome {
            Ok((keys, jwks_url)) => {
                self.fetched.inc();
                cache.keys = Arc::new(keys);
                cache.fetched_at = Some(Instant::now());
                cache.jwks_url = Some(jwks_url);
                cache.last_error = None;
                Ok(())
            }
            Err(problem) => {
                self.fetch_failed.inc();
                cache.last_error = Some(problem.clone());
                Err(problem)
            }
        }
    }

    async fn fetch(&self) -> Result<(HashMap<String, DecodingKey>, Url), String> {
        let jwks_url = self.jwks_url().await?;
        let set: JwkSet = self.get_json(&jwks_url).await?;
        let keys = usable_keys(&set);
        if keys.is_empty() {
            return Err(format!(
                "{jwks_url} publishes no RS256 signing key with a kid"
            ));
        }
        Ok((keys, jwks_url))
    }

    async fn jwks_url(&self) -> Result<Url, String> {
        if let Some(url) = &self.configured_jwks_url {
            return Ok(url.clone());
        }
        if let Some(url) = self.read().jwks_url.clone() {
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
                    self.write().userinfo = meta
                        .userinfo_endpoint
                        .as_deref()
                        .and_then(|u| Url::parse(u).ok())
                        // The access token goes there: never in the clear to another host.
                        .filter(|u| u.scheme() == "https" || u.origin() == self.issuer.origin());
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
    #[serde(default)]
    userinfo_endpoint: Option<String>,
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
        let tried = store.cache.read().expect("lock").last_try.map(|t| t.0);
        assert!(tried.is_some());
        // Within the rate limit no further fetch is tried: same answer, same attempt time.
        assert!(store.key("k1").await.is_ok());
        assert_eq!(
            store.cache.read().expect("lock").last_try.map(|t| t.0),
            tried
        );
        // An unknown kid, with keys held, is simply unknown.
        assert!(matches!(store.key("k2").await, Err(KeyError::UnknownKid)));
    }

    #[test]
    fn an_unknown_kid_refetches_at_once_unless_the_last_fetch_was_for_one() {
        let store = KeyStore::new(
            Url::parse("http://127.0.0.1:9").expect("url"),
            None,
            Duration::from_secs(3600),
        );
        assert!(store.may_fetch(Cause::Load), "nothing fetched yet");
        store.write().last_try = Some((Instant::now(), Cause::Load));
        assert!(!store.may_fetch(Cause::Load), "within the limit");
        assert!(
            store.may_fetch(Cause::UnknownKid),
            "a key rotated in just now"
        );
        store.write().last_try = Some((Instant::now(), Cause::UnknownKid));
        assert!(
            !store.may_fetch(Cause::UnknownKid),
            "a flood of made-up kids"
        );
        assert!(!store.may_fetch(Cause::Load));
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
        let tried = store.cache.read().expect("lock").last_try.map(|t| t.0);
        assert!(matches!(
            store.key("b").await,
            Err(KeyError::Unavailable(_))
        ));
        assert_eq!(
            store.cache.read().expect("lock").last_try.map(|t| t.0),
            tried
        );
    }
}
