//! The issuer's flags and environment, settled into [`IssuerSettings`].

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use kit_serve::parse_duration as duration;

use crate::issuer::IssuerSettings;

#[derive(Debug, Clone, clap::Args)]
pub struct IssuerConfig {
    /// Address the issuer listens on when run alone.
    #[arg(long = "addr", env = "ISSUER_ADDR", default_value = "127.0.0.1:9000")]
    pub addr: SocketAddr,

    /// The public issuer URL (`iss`), without a trailing slash. Default: `http://<addr>`.
    #[arg(long, env = "ISSUER_URL")]
    pub issuer_url: Option<String>,

    /// Where the signing keys and registered clients are kept.
    #[arg(long, env = "ISSUER_STATE_DIR", default_value = ".devkit/issuer")]
    pub state_dir: PathBuf,

    /// Approve every sign-in at once, as the fixed user (for automated tests).
    #[arg(long, env = "ISSUER_AUTO_APPROVE", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub auto_approve: bool,

    /// Sign everyone in as this user instead of asking for a name.
    #[arg(long, env = "ISSUER_FIXED_USER")]
    pub fixed_user: Option<String>,

    /// The `aud` for requests that name no RFC 8707 `resource`.
    #[arg(long, env = "ISSUER_DEFAULT_AUDIENCE")]
    pub default_audience: Option<String>,

    /// Access token lifetime.
    #[arg(long, env = "ISSUER_ACCESS_TTL", default_value = "1h", value_parser = duration)]
    pub access_ttl: Duration,

    /// Refresh token lifetime.
    #[arg(long, env = "ISSUER_REFRESH_TTL", default_value = "30days", value_parser = duration)]
    pub refresh_ttl: Duration,

    /// For this long after a refresh, the refresh token just rotated may be sent
    /// again and gets the same tokens (clients race and retry); later, reuse
    /// revokes its family. `0` revokes at once.
    #[arg(long, env = "ISSUER_REFRESH_REUSE_INTERVAL", default_value = "30s", value_parser = duration)]
    pub refresh_reuse_interval: Duration,

    /// Tests only: accept client metadata documents served over http on loopback.
    #[arg(long, hide = true, env = "ISSUER_ALLOW_LOOPBACK_CLIENT_DOCUMENTS", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_loopback_documents: bool,
}

impl IssuerConfig {
    /// Fills in the defaults that depend on the bound address.
    pub fn settle(self, bound: SocketAddr) -> IssuerSettings {
        let issuer = self.issuer_url.unwrap_or_else(|| {
            let host = if bound.ip().is_unspecified() {
                "127.0.0.1".to_owned()
            } else {
                bound.ip().to_string()
            };
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            format!("http://{host}:{}", bound.port())
        });
        IssuerSettings {
            issuer: issuer.trim_end_matches('/').to_owned(),
            state_dir: self.state_dir,
            auto_approve: self.auto_approve,
            fixed_user: self.fixed_user,
            default_audience: self.default_audience,
            access_ttl: self.access_ttl,
            refresh_ttl: self.refresh_ttl,
            refresh_reuse_interval: self.refresh_reuse_interval,
            allow_loopback_documents: self.allow_loopback_documents,
            // Run alone, the issuer is local; `devkit up` sets one for tunnels.
            passcode: None,
            activity: kit_serve::activity::Activity::off(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_humantime_and_zero_turns_a_setting_off() {
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration(" 2m "), Ok(Duration::from_secs(120)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert!(duration("soon").is_err_and(|e| e.contains("90s")));
    }
}
