//! A stand-in issuer for the gateway's tests: real RSA keys, a real JWKS
//! and RFC 8414 metadata served over HTTP on port 0, and direct minting.

use std::{
    sync::{
        Arc, LazyLock, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{Json, Router, extract::State, middleware, response::IntoResponse, routing::get};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::{
    RsaPrivateKey,
    pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey},
    traits::PublicKeyParts,
};
use serde::Serialize;
use serde_json::{Value, json};
use url::Url;

/// An RSA signing key with its `kid` and public JWK.
pub struct TestKey {
    pub kid: String,
    pub encoding: EncodingKey,
    pub public_pem: String,
    pub jwk: Value,
}

impl std::fmt::Debug for TestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl TestKey {
    fn generate(kid: &str) -> Self {
        let mut rng = rsa::rand_core::OsRng;
        let private = RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation");
        let pem = private
            .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
            .expect("PEM encoding");
        let public = private.to_public_key();
        Self {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_rsa_pem(pem.as_bytes())
                .expect("jsonwebtoken reads the key"),
            public_pem: public
                .to_pkcs1_pem(rsa::pkcs1::LineEnding::LF)
                .expect("public PEM"),
            jwk: json!({
                "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
                "n": B64.encode(public.n().to_bytes_be()),
                "e": B64.encode(public.e().to_bytes_be()),
            }),
        }
    }
}

/// Keys are slow to make; every test in the binary shares these three.
pub static KEY_A: LazyLock<Arc<TestKey>> = LazyLock::new(|| Arc::new(TestKey::generate("key-a")));
pub static KEY_B: LazyLock<Arc<TestKey>> = LazyLock::new(|| Arc::new(TestKey::generate("key-b")));
/// Never published: a token signed with it must fail.
pub static ROGUE: LazyLock<Arc<TestKey>> = LazyLock::new(|| Arc::new(TestKey::generate("key-a")));

/// The claims a test token carries; fields are public so tests can break them.
#[derive(Debug, Clone, Serialize)]
pub struct Claims {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    pub iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

impl Claims {
    pub fn valid(issuer: &TestIssuer, audience: &str, sub: &str) -> Self {
        let now = chrono::Utc::now().timestamp();
        Self {
            iss: Some(issuer.url.to_string()),
            sub: Some(sub.to_owned()),
            aud: Some(Value::String(audience.to_owned())),
            exp: Some(now + 600),
            iat: now,
            nbf: None,
            email: Some(format!("{sub}@example.test")),
            scope: None,
        }
    }
}

type Published = Arc<RwLock<Vec<Arc<TestKey>>>>;

/// The JWKS endpoint's state: what it publishes, how slowly, how often asked.
#[derive(Clone, Default)]
struct Jwks {
    published: Published,
    delay_ms: Arc<AtomicU64>,
    fetches: Arc<AtomicU64>,
    userinfo_fetches: Arc<AtomicU64>,
}

/// Serves `/.well-known/oauth-authorization-server` and `/jwks.json`.
#[derive(Clone)]
pub struct TestIssuer {
    pub url: Url,
    published: Published,
    signing: Arc<RwLock<Arc<TestKey>>>,
    /// While false, every request gets 503: the issuer is down.
    up: Arc<AtomicBool>,
    jwks: Jwks,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("url", &self.url.as_str())
            .finish()
    }
}

impl TestIssuer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind issuer");
        let addr = listener.local_addr().expect("issuer addr");
        // No trailing slash: the issuer identifier is compared exactly.
        let url = Url::parse(&format!("http://{addr}")).expect("issuer url");
        let published: Published = Arc::new(RwLock::new(vec![KEY_A.clone()]));
        let jwks_state = Jwks {
            published: published.clone(),
            ..Jwks::default()
        };
        let issuer_id = url.as_str().to_owned();
        let router = Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                get(move || {
                    let issuer = issuer_id.clone();
                    async move {
                        Json(json!({
                            "issuer": issuer,
                            "jwks_uri": format!("{issuer}jwks.json"),
                            "authorization_endpoint": format!("{issuer}authorize"),
                            "userinfo_endpoint": format!("{issuer}userinfo"),
                            "token_endpoint": format!("{issuer}token"),
                        }))
                    }
                }),
            )
            .route("/jwks.json", get(jwks))
            .route("/userinfo", get(userinfo))
            .with_state(jwks_state.clone());
        let up = Arc::new(AtomicBool::new(true));
        let router = router.layer(middleware::from_fn_with_state(up.clone(), when_up));
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url,
            published,
            signing: Arc::new(RwLock::new(KEY_A.clone())),
            up,
            jwks: jwks_state,
        }
    }

    /// Makes the JWKS answer only after `delay` (a slow issuer, or one far away).
    pub fn set_jwks_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.jwks.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// How many times the userinfo endpoint has been asked.
    pub fn userinfo_fetches(&self) -> u64 {
        self.jwks.userinfo_fetches.load(Ordering::SeqCst)
    }

    /// How many times the JWKS has been asked for.
    pub fn jwks_fetches(&self) -> u64 {
        self.jwks.fetches.load(Ordering::SeqCst)
    }

    /// Publishes `key` alongside the others and signs with it from now on.
    pub fn rotate_to(&self, key: Arc<TestKey>) {
        self.published.write().expect("lock").push(key.clone());
        *self.signing.write().expect("lock") = key;
    }

    /// Takes the issuer down (every request 503) or brings it back.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    /// Stops publishing the key `kid` (a rotation's grace period is over).
    pub fn withdraw(&self, kid: &str) {
        self.published
            .write()
            .expect("lock")
            .retain(|k| k.kid != kid);
    }

    /// A token signed with the current key.
    pub fn mint(&self, claims: &Claims) -> String {
        let key = self.signing.read().expect("lock").clone();
        sign_with(&key, claims)
    }

    /// A token over any claims JSON (fractional dates, odd types), signed
    /// with the current key.
    pub fn mint_json(&self, claims: &Value) -> String {
        let key = self.signing.read().expect("lock").clone();
        sign_with(&key, claims)
    }
}

/// An RS256 token signed by `key`, with its `kid`.
pub fn sign_with(key: &TestKey, claims: &impl Serialize) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding).expect("token signs")
}

/// A token with any header, signed (or not) however the test says: for the
/// forgeries jsonwebtoken refuses to make.
pub fn forge(header: &Value, claims: &Claims, signature: &[u8]) -> String {
    let h = B64.encode(serde_json::to_vec(header).expect("header json"));
    let c = B64.encode(serde_json::to_vec(claims).expect("claims json"));
    format!("{h}.{c}.{}", B64.encode(signature))
}

async fn when_up(
    State(up): State<Arc<AtomicBool>>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    if up.load(Ordering::SeqCst) {
        next.run(request).await
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
}

async fn jwks(State(jwks): State<Jwks>) -> Json<Value> {
    jwks.fetches.fetch_add(1, Ordering::SeqCst);
    let delay = jwks.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let keys: Vec<Value> = jwks
        .published
        .read()
        .expect("lock")
        .iter()
        .map(|k| k.jwk.clone())
        .collect();
    Json(json!({ "keys": keys }))
}

/// OIDC userinfo for the bearer token's `sub` (read, not verified: the
/// gateway verified it before asking): `<sub>@userinfo.test`. A `sub`
/// starting with `liar` is answered for someone else, as a broken or hostile
/// endpoint might.
async fn userinfo(State(jwks): State<Jwks>, headers: axum::http::HeaderMap) -> Json<Value> {
    jwks.userinfo_fetches.fetch_add(1, Ordering::SeqCst);
    let sub = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| token.split('.').nth(1))
        .and_then(|claims| B64.decode(claims).ok())
        .and_then(|claims| serde_json::from_slice::<Value>(&claims).ok())
        .and_then(|claims| claims["sub"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let answered_for = if sub.starts_with("liar") {
        "someone-else"
    } else {
        sub.as_str()
    };
    Json(json!({"sub": answered_for, "email": format!("{sub}@userinfo.test")}))
}
