//! Typed configuration: read once from flags and environment, parsed into
//! newtypes, then checked as a whole by [`Config::settle`].
//!
//! Tests build [`Config`] directly; only `main` reads the process environment.

use std::{fmt, net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use kit_serve::parse_duration;
use url::Url;

/// The data-pack app's pack, when neither `APP_DIR` nor the app names one.
pub const DEFAULT_APP_DIR: &str = "seed";

/// Smallest accepted `SESSION_SIGNING_SECRET`, in bytes (HMAC-SHA256 key size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Everything the gateway can be told. Flags override the environment.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address the gateway listens on.
    #[arg(long = "addr", env = "GATEWAY_ADDR", default_value = "127.0.0.1:8000")]
    pub addr: SocketAddr,

    /// `sqlite://relative.db`, `sqlite:///abs/path.db` or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = DatabaseUrl::DEFAULT)]
    pub database_url: DatabaseUrl,

    /// The canonical connector URL (what a person pastes). Default: `http://<addr>/mcp`.
    #[arg(long, env = "RESOURCE_URL")]
    pub resource_url: Option<Url>,

    /// The OAuth issuer whose tokens are accepted (exact `iss`).
    #[arg(long, env = "AUTH_ISSUER")]
    pub auth_issuer: Option<Issuer>,

    /// Where the issuer's keys are; discovered from the issuer's metadata when absent.
    #[arg(long, env = "AUTH_JWKS_URL")]
    pub auth_jwks_url: Option<Url>,

    /// The `aud` a token must carry. Default: `RESOURCE_URL`.
    #[arg(long, env = "AUTH_AUDIENCE")]
    pub auth_audience: Option<String>,

    /// Space-separated scopes every token must carry (403 `insufficient_scope` otherwise).
    #[arg(long, env = "AUTH_REQUIRED_SCOPES", value_delimiter = ' ', num_args = 0..)]
    pub auth_required_scopes: Vec<String>,

    /// Space-separated scopes a host should ask the issuer for: listed in the
    /// protected-resource metadata (`scopes_supported`) and named in the 401
    /// challenge (`scope=`). Default: `AUTH_REQUIRED_SCOPES`.
    #[arg(long, env = "AUTH_SCOPES", value_delimiter = ' ', num_args = 0..)]
    pub auth_scopes: Vec<String>,

    /// Least time between two key fetches caused by tokens with an unknown `kid`.
    #[arg(long, env = "AUTH_JWKS_REFETCH_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub auth_jwks_refetch_interval: Duration,

    /// Clock skew tolerated on a token's `exp`, `nbf` and `iat` (0s to 5m).
    #[arg(long, env = "AUTH_CLOCK_LEEWAY", default_value = "30s", value_parser = parse_duration)]
    pub auth_clock_leeway: Duration,

    /// Demo only: no token checks, every caller is one stand-in user.
    #[arg(long, env = "AUTH_DISABLED", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub auth_disabled: bool,

    /// HMAC key for session tokens, at least 32 bytes.
    #[arg(long, env = "SESSION_SIGNING_SECRET", hide_env_values = true)]
    pub session_signing_secret: Option<Secret>,

    /// Session token lifetime: `90s`, `30m`, `2h`.
    #[arg(long, env = "SESSION_TTL", default_value = "30m", value_parser = parse_duration)]
    pub session_ttl: Duration,

    /// The domain pack folder. Default: the app's own (`seed` for the data-pack app).
    #[arg(long, env = "APP_DIR")]
    pub app_dir: Option<PathBuf>,

    /// Where the search index is kept between starts, under a hash of the
    /// pack's items; `off` builds it in memory at every start.
    #[arg(long, env = "SEARCH_CACHE_DIR", default_value = SearchCache::DEFAULT)]
    pub search_cache_dir: SearchCache,

    /// Largest saved state accepted, in bytes of JSON.
    #[arg(long, env = "MAX_STATE_BYTES", default_value_t = 64 * 1024)]
    pub max_state_bytes: usize,

    /// Serve `GET /metrics` on this address of its own (keep it private).
    /// Unset: on the gateway's port, to loopback hosts only.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Longest a request may take to arrive and be answered; slower ones get 408.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
}

/// The checked, fully defaulted form of [`Config`] that the gateway runs on.
#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    pub database_url: DatabaseUrl,
    pub resource_url: Url,
    pub auth: AuthMode,
    pub session_secret: Secret,
    pub session_ttl: Duration,
    pub app_dir: PathBuf,
    pub search_cache_dir: SearchCache,
    pub max_state_bytes: usize,
    pub request_timeout: Duration,
    pub metrics_addr: Option<SocketAddr>,
    /// Where sign-in refusals and tool calls are published; off unless
    /// something (`devkit up`) listens.
    pub activity: kit_serve::activity::Activity,
}

/// How callers are identified.
#[derive(Debug, Clone)]
#[expect(clippy::large_enum_variant, reason = "made once at start-up")]
pub enum AuthMode {
    /// Every request needs an access token that passes the four checks.
    Verified {
        issuer: Issuer,
        jwks_url: Option<Url>,
        jwks_refetch_interval: Duration,
        audience: String,
        required_scopes: Vec<String>,
        /// What hosts are told to ask for; includes every required scope.
        scopes: Vec<String>,
        clock_leeway: Duration,
    },
    /// Demo mode: every caller is [`crate::identity::Identity::stand_in`].
    Disabled,
}

/// A configuration the gateway refuses to start with.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "SESSION_SIGNING_SECRET is missing: set it to at least {MIN_SECRET_BYTES} random bytes \
         (for example `openssl rand -hex 32`)"
    )]
    MissingSecret,
    #[error("SESSION_SIGNING_SECRET is {0} bytes; it must be at least {MIN_SECRET_BYTES}")]
    WeakSecret(usize),
    #[error(
        "AUTH_ISSUER is missing: set it to the OAuth issuer URL, or set AUTH_DISABLED=1 for a demo"
    )]
    MissingIssuer,
    #[error("RESOURCE_URL `{0}` must be an http(s) URL without query or fragment")]
    BadResourceUrl(Url),
    #[error("SESSION_TTL must be between 1 second and 24 hours")]
    BadSessionTtl,
    #[error("MAX_STATE_BYTES must be between 2 and 16777216")]
    BadMaxState,
    #[error("REQUEST_TIMEOUT must be between 1 second and 10 minutes")]
    BadRequestTimeout,
    #[error("AUTH_CLOCK_LEEWAY must be at most 5 minutes")]
    BadClockLeeway,
}

impl Config {
    /// Applies the defaults and checks the whole: the gateway never starts half-configured.
    pub fn settle(self) -> Result<Settings, ConfigError> {
        let secret = self
            .session_signing_secret
            .ok_or(ConfigError::MissingSecret)?;
        if secret.len() < MIN_SECRET_BYTES {
            return Err(ConfigError::WeakSecret(secret.len()));
        }
        if self.session_ttl < Duration::from_secs(1)
            || self.session_ttl > Duration::from_secs(86_400)
        {
            return Err(ConfigError::BadSessionTtl);
        }
        if !(2..=16 * 1024 * 1024).contains(&self.max_state_bytes) {
            return Err(ConfigError::BadMaxState);
        }
        if self.request_timeout < Duration::from_secs(1)
            || self.request_timeout > Duration::from_secs(600)
        {
            return Err(ConfigError::BadRequestTimeout);
        }
        let resource_url = match self.resource_url {
            Some(url) => url,
            None => default_resource_url(self.addr),
        };
        if !matches!(resource_url.scheme(), "http" | "https")
            || resource_url.query().is_some()
            || resource_url.fragment().is_some()
            || resource_url.host().is_none()
        {
            return Err(ConfigError::BadResourceUrl(resource_url));
        }
        if self.auth_clock_leeway > Duration::from_secs(300) {
            return Err(ConfigError::BadClockLeeway);
        }
        let auth = if self.auth_disabled {
            AuthMode::Disabled
        } else {
            // A host asks for what it is told; it must be told every required scope.
            let mut scopes = self.auth_scopes;
            for scope in &self.auth_required_scopes {
                if !scopes.contains(scope) {
                    scopes.push(scope.clone());
                }
            }
            AuthMode::Verified {
                issuer: self.auth_issuer.ok_or(ConfigError::MissingIssuer)?,
                jwks_url: self.auth_jwks_url,
                jwks_refetch_interval: self.auth_jwks_refetch_interval,
                audience: self
                    .auth_audience
                    .unwrap_or_else(|| resource_url.as_str().to_owned()),
                required_scopes: self.auth_required_scopes,
                scopes,
                clock_leeway: self.auth_clock_leeway,
            }
        };
        Ok(Settings {
            addr: self.addr,
            database_url: self.database_url,
            resource_url,
            auth,
            session_secret: secret,
            session_ttl: self.session_ttl,
            app_dir: self
                .app_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_APP_DIR)),
            search_cache_dir: self.search_cache_dir,
            max_state_bytes: self.max_state_bytes,
            request_timeout: self.request_timeout,
            metrics_addr: self.metrics_addr,
            activity: kit_serve::activity::Activity::off(),
        })
    }
}

fn default_resource_url(addr: SocketAddr) -> Url {
    // A wildcard bind is not an address a client can use; name loopback instead.
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else {
        addr.ip().to_string()
    };
    let text = match addr {
        SocketAddr::V6(_) if host.contains(':') => format!("http://[{host}]:{}/mcp", addr.port()),
        _ => format!("http://{host}:{}/mcp", addr.port()),
    };
    Url::parse(&text).unwrap_or_else(|_| unreachable!("an IP and port always form a URL"))
}

/// Where the search index is kept between starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchCache {
    /// A folder (created when missing), one entry per set of items.
    Dir(PathBuf),
    /// Nowhere: built in memory at every start.
    Off,
}

impl SearchCache {
    pub const DEFAULT: &'static str = ".devkit/search";

    /// The folder, unless the cache is off.
    pub fn dir(&self) -> Option<&std::path::Path> {
        match self {
            Self::Dir(dir) => Some(dir),
            Self::Off => None,
        }
    }
}

impl std::str::FromStr for SearchCache {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "" => Err("SEARCH_CACHE_DIR is empty: name a folder, or `off`".into()),
            "off" => Ok(Self::Off),
            dir => Ok(Self::Dir(dir.into())),
        }
    }
}

/// Where user data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// An embedded SQLite file; its folder is created when missing.
    Sqlite(PathBuf),
    /// A Postgres server; the URL is kept whole for the driver.
    Postgres(String),
}

impl DatabaseUrl {
    pub const DEFAULT: &'static str = "sqlite://.devkit/gateway.db";

    /// The URL with any password replaced, for logs and banners.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(path) => format!("sqlite://{}", path.display()),
            Self::Postgres(url) => match Url::parse(url) {
                Ok(mut parsed) if parsed.password().is_some() => {
                    let _ = parsed.set_password(Some("***"));
                    parsed.to_string()
                }
                _ => url.clone(),
            },
        }
    }
}

impl FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(rest) = s.strip_prefix("sqlite://") {
            // `sqlite://rel.db` is relative, `sqlite:///abs.db` absolute; drop URL options.
            let path = rest.split('?').next().unwrap_or_default();
            if path.is_empty() {
                return Err(format!("`{s}` names no database file"));
            }
            Ok(Self::Sqlite(PathBuf::from(path)))
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Url::parse(s).map_err(|e| format!("not a valid Postgres URL: {e}"))?;
            Ok(Self::Postgres(s.to_owned()))
        } else {
            Err("expected sqlite://relative.db, sqlite:///abs/path.db or postgres://…".to_owned())
        }
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A signing secret: usable as bytes, never printed.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([redacted; {} bytes])", self.0.len())
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.trim().as_bytes().to_vec()))
    }
}

/// An OAuth issuer identifier, kept exactly as configured: `iss` is
/// compared as a string (RFC 8414 §3.3), and hosted issuers differ on
/// whether theirs ends in a slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer {
    id: String,
    url: Url,
}

impl Issuer {
    pub fn as_str(&self) -> &str {
        &self.id
    }
    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl FromStr for Issuer {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let id = s.trim();
        let url = Url::parse(id).map_err(|e| format!("`{id}` is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https")
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err(format!(
                "`{id}` must be an http(s) URL without query or fragment"
            ));
        }
        Ok(Self {
            id: id.to_owned(),
            url,
        })
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        Config {
            addr: "127.0.0.1:8000".parse().expect("addr"),
            database_url: DatabaseUrl::Sqlite("x.db".into()),
            resource_url: None,
            auth_issuer: Some("http://127.0.0.1:9000".parse().expect("issuer")),
            auth_jwks_url: None,
            auth_audience: None,
            auth_required_scopes: vec![],
            auth_scopes: vec![],
            auth_jwks_refetch_interval: Duration::from_secs(10),
            auth_clock_leeway: Duration::from_secs(30),
            auth_disabled: false,
            session_signing_secret: Some(Secret::new([7u8; 32])),
            session_ttl: Duration::from_secs(1800),
            app_dir: Some("seed".into()),
            search_cache_dir: SearchCache::Off,
            max_state_bytes: 65536,
            request_timeout: Duration::from_secs(30),
            metrics_addr: None,
        }
    }

    #[test]
    fn audience_defaults_to_the_resource_url() {
        let settings = base().settle().expect("valid");
        assert_eq!(settings.resource_url.as_str(), "http://127.0.0.1:8000/mcp");
        match settings.auth {
            AuthMode::Verified { audience, .. } => {
                assert_eq!(audience, "http://127.0.0.1:8000/mcp")
            }
            AuthMode::Disabled => panic!("auth must be on by default"),
        }
    }

    #[test]
    fn start_is_refused_without_a_strong_secret_or_an_issuer() {
        let mut c = base();
        c.session_signing_secret = None;
        assert!(matches!(c.settle(), Err(ConfigError::MissingSecret)));
        let mut c = base();
        c.session_signing_secret = Some(Secret::new([1u8; 31]));
        assert!(matches!(c.settle(), Err(ConfigError::WeakSecret(31))));
        let mut c = base();
        c.auth_issuer = None;
        assert!(matches!(c.settle(), Err(ConfigError::MissingIssuer)));
    }

    #[test]
    fn hosts_are_told_every_required_scope_and_the_leeway_is_bounded() {
        let mut c = base();
        c.auth_scopes = vec!["openid".into(), "offline_access".into()];
        c.auth_required_scopes = vec!["notes:read".into(), "openid".into()];
        let AuthMode::Verified { scopes, .. } = c.settle().expect("settles").auth else {
            panic!("verified mode");
        };
        assert_eq!(scopes, ["openid", "offline_access", "notes:read"]);
        let mut c = base();
        c.auth_clock_leeway = Duration::from_secs(301);
        assert!(matches!(c.settle(), Err(ConfigError::BadClockLeeway)));
        let mut c = base();
        c.auth_clock_leeway = Duration::ZERO;
        assert!(c.settle().is_ok());
    }

    #[test]
    fn a_request_timeout_must_be_usable() {
        for bad in [
            Duration::ZERO,
            Duration::from_millis(999),
            Duration::from_secs(601),
        ] {
            let mut c = base();
            c.request_timeout = bad;
            assert!(
                matches!(c.settle(), Err(ConfigError::BadRequestTimeout)),
                "{bad:?}"
            );
        }
        let mut c = base();
        c.request_timeout = Duration::from_secs(1);
        assert_eq!(
            c.settle().expect("valid").request_timeout,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn database_urls_parse_into_their_kind() {
        assert_eq!(
            "sqlite://.devkit/a.db".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite(".devkit/a.db".into()))
        );
        assert_eq!(
            "sqlite:///tmp/a.db?mode=rwc".parse::<DatabaseUrl>(),
            Ok(DatabaseUrl::Sqlite("/tmp/a.db".into()))
        );
        assert!("mysql://x".parse::<DatabaseUrl>().is_err());
        assert!("sqlite://".parse::<DatabaseUrl>().is_err());
        let pg: DatabaseUrl = "postgres://u:pw@h/db".parse().expect("pg");
        assert!(!pg.redacted().contains("pw"), "{}", pg.redacted());
    }

    #[test]
    fn issuers_keep_their_exact_spelling() {
        let bare: Issuer = "https://auth.example".parse().expect("issuer");
        let slashed: Issuer = "https://tenant.auth0.example/".parse().expect("issuer");
        assert_eq!(bare.as_str(), "https://auth.example");
        assert_eq!(slashed.as_str(), "https://tenant.auth0.example/");
        assert!("ftp://x".parse::<Issuer>().is_err());
        assert!("https://x/?q=1".parse::<Issuer>().is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        assert!(!format!("{:?}", Secret::new("hunter2hunter2")).contains("hunter2"));
    }
}
