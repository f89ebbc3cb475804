//! The bundled mock issuer, in process: the gateway fetches its keys as it
//! would any issuer's, and the bench mints real RS256 access tokens with the
//! same key (as `devkit mint-token` does), one per simulated user.

use anyhow::Context;
use http::HeaderValue;
use mock_issuer::{
    config::IssuerConfig,
    keys::KeyRing,
    startup::Application,
    tokens::{self, TokenRequest},
};
use tempfile::TempDir;
use tokio::task::JoinHandle;

/// Token lifetime: longer than any run.
const TOKEN_LIFETIME_SECS: i64 = 3600;

#[derive(Debug)]
pub struct LocalIssuer {
    url: String,
    keys: KeyRing,
    server: JoinHandle<std::io::Result<()>>,
    /// Holds the issuer's signing key; removed when the bench ends.
    _state_dir: TempDir,
}

impl LocalIssuer {
    pub async fn start() -> anyhow::Result<Self> {
        let state_dir = tempfile::tempdir().context("cannot make the issuer's state folder")?;
        let config = IssuerConfig {
            addr: ([127, 0, 0, 1], 0).into(),
            issuer_url: None,
            state_dir: state_dir.path().to_owned(),
            auto_approve: false,
            fixed_user: None,
            default_audience: None,
            access_ttl: std::time::Duration::from_secs(3600),
            refresh_ttl: std::time::Duration::from_secs(86_400),
            refresh_reuse_interval: std::time::Duration::from_secs(30),
            allow_loopback_documents: false,
        };
        let app = Application::build(config)
            .await
            .context("cannot start the mock issuer")?;
        let url = app.issuer().issuer().to_owned();
        // The key the issuer just created and publishes in its JWKS.
        let keys = KeyRing::load_or_create(state_dir.path(), now())
            .context("cannot read the issuer's signing key")?;
        let server = tokio::spawn(app.run_until_stopped(std::future::pending()));
        Ok(Self {
            url,
            keys,
            server,
            _state_dir: state_dir,
        })
    }

    /// The issuer identifier the gateway is told to trust (`AUTH_ISSUER`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `Bearer <token>` for `sub`, for the connector at `audience`.
    pub fn bearer_for(&self, sub: &str, audience: &str) -> anyhow::Result<HeaderValue> {
        let request = TokenRequest {
            issuer: &self.url,
            sub,
            email: None,
            audience,
            scope: "openid",
            client_id: "devkit-bench",
            lifetime: TOKEN_LIFETIME_SECS,
        };
        let token =
            tokens::mint(self.keys.current(), &request, now()).context("cannot sign a token")?;
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))?;
        // Debug output of a sensitive value shows no token.
        value.set_sensitive(true);
        Ok(value)
    }
}

impl Drop for LocalIssuer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}
