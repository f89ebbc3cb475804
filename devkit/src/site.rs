//! Where `devkit up` serves: the gateway and its issuer on one origin.
//!
//! Both configurations are built here from that one origin, so they agree
//! by construction: the issuer's identifier is the one the gateway trusts,
//! and the audience the issuer puts in tokens is the connector URL the
//! gateway checks for. Everything the site does not decide comes from the
//! environment's configuration unchanged.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::anyhow;
use gateway::{
    Config,
    config::{Issuer as IssuerUrl, Secret},
};
use kit_serve::activity::Activity;
use mock_issuer::{config::IssuerConfig, issuer::IssuerSettings, passcode::Passcode};
use url::Url;

/// One origin: where this process listens, and the URL the world uses.
#[derive(Debug, Clone)]
pub(crate) struct Site {
    addr: SocketAddr,
    /// `http://127.0.0.1:PORT/`: where this process reaches itself.
    local: Url,
    /// The tunnel's URL, or `local` when there is no tunnel.
    public: Url,
}

/// What `devkit up` settles before the gateway is configured.
#[derive(Debug)]
pub(crate) struct GatewayChoices {
    pub(crate) secret: Secret,
    pub(crate) metrics_addr: SocketAddr,
    pub(crate) auth_disabled: bool,
    pub(crate) app_dir: PathBuf,
}

impl Site {
    /// The site of a listener bound at `addr`, reached through `tunnel` if
    /// there is one.
    pub(crate) fn new(addr: SocketAddr, tunnel: Option<&Url>) -> anyhow::Result<Self> {
        let local = Url::parse(&format!("http://{addr}/"))?;
        Ok(Self {
            addr,
            public: tunnel.cloned().unwrap_or_else(|| local.clone()),
            local,
        })
    }

    /// The URL people paste into their AI host.
    pub(crate) fn connector(&self) -> Url {
        self.mcp_on(&self.public)
    }

    /// The same endpoint on loopback, for Claude Code on this machine.
    pub(crate) fn local_connector(&self) -> Url {
        self.mcp_on(&self.local)
    }

    /// `http://127.0.0.1:PORT/`: this process, on loopback.
    pub(crate) fn local_origin(&self) -> &Url {
        &self.local
    }

    /// The issuer identifier: the public origin, without a trailing slash.
    pub(crate) fn issuer_id(&self) -> String {
        self.public.as_str().trim_end_matches('/').to_owned()
    }

    fn mcp_on(&self, origin: &Url) -> Url {
        let mut url = origin.clone();
        url.set_path("/mcp");
        url
    }

    /// The gateway's configuration: the environment's, with the origin,
    /// the issuer and the audience this site decides.
    pub(crate) fn gateway_config(
        &self,
        env: Config,
        choices: GatewayChoices,
    ) -> anyhow::Result<Config> {
        let connector = self.connector();
        Ok(Config {
            addr: self.addr,
            resource_url: Some(connector.clone()),
            auth_disabled: choices.auth_disabled,
            auth_issuer: Some(
                self.issuer_id()
                    .parse::<IssuerUrl>()
                    .map_err(|e| anyhow!("{e}"))?,
            ),
            // The issuer is in this process: fetch its keys on loopback, not
            // through the tunnel.
            auth_jwks_url: Some(self.local.join(".well-known/jwks.json")?),
            auth_audience: Some(connector.to_string()),
            // Hosts are told to ask for what the bundled issuer grants,
            // refresh included.
            auth_scopes: mock_issuer::issuer::SCOPES.map(str::to_owned).to_vec(),
            session_signing_secret: Some(choices.secret),
            metrics_addr: Some(choices.metrics_addr),
            app_dir: Some(choices.app_dir),
            ..env
        })
    }

    /// The issuer's settings: the environment's, naming this site as the
    /// issuer and the connector as the audience.
    pub(crate) fn issuer_settings(
        &self,
        env: IssuerConfig,
        passcode: Option<Passcode>,
        activity: Activity,
    ) -> IssuerSettings {
        let config = IssuerConfig {
            issuer_url: Some(self.issuer_id()),
            default_audience: Some(self.connector().to_string()),
            ..env
        };
        IssuerSettings {
            passcode,
            activity,
            ..config.settle(self.addr)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use gateway::config::AuthMode;

    use super::*;
    use crate::up::{GatewayEnv, IssuerEnv};

    /// Both configurations as the defaults give them.
    fn env() -> (Config, IssuerConfig) {
        let gateway = GatewayEnv::try_parse_from(["devkit"]).expect("defaults");
        let issuer = IssuerEnv::try_parse_from(["devkit"]).expect("defaults");
        (gateway.config, issuer.config)
    }

    fn choices() -> GatewayChoices {
        GatewayChoices {
            secret: Secret::new("x".repeat(32)),
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], 9100)),
            auth_disabled: false,
            app_dir: "seed".into(),
        }
    }

    #[test]
    fn through_a_tunnel_the_gateway_trusts_exactly_what_the_issuer_signs() {
        let tunnel = Url::parse("https://quiet-river.trycloudflare.com/").expect("url");
        let site =
            Site::new(SocketAddr::from(([127, 0, 0, 1], 8000)), Some(&tunnel)).expect("site");
        let (gateway, issuer) = env();
        let settings = site
            .gateway_config(gateway, choices())
            .expect("config")
            .settle()
            .expect("settles");
        let issuer = site.issuer_settings(issuer, None, Activity::off());

        assert_eq!(
            settings.resource_url.as_str(),
            "https://quiet-river.trycloudflare.com/mcp"
        );
        let AuthMode::Verified {
            issuer: trusted,
            audience,
            jwks_url,
            ..
        } = &settings.auth
        else {
            panic!("sign-in is on");
        };
        assert_eq!(trusted.as_str(), issuer.issuer);
        assert_eq!(issuer.issuer, "https://quiet-river.trycloudflare.com");
        assert_eq!(Some(audience), issuer.default_audience.as_ref());
        assert_eq!(audience, settings.resource_url.as_str());
        // Keys are fetched on loopback, never through the tunnel.
        assert_eq!(
            jwks_url.as_ref().map(Url::as_str),
            Some("http://127.0.0.1:8000/.well-known/jwks.json")
        );
        assert_eq!(site.local_connector().as_str(), "http://127.0.0.1:8000/mcp");
    }

    #[test]
    fn without_a_tunnel_everything_is_on_loopback_and_the_rest_comes_from_the_environment() {
        let site = Site::new(SocketAddr::from(([127, 0, 0, 1], 8123)), None).expect("site");
        let (gateway, issuer) = env();
        let session_ttl = gateway.session_ttl;
        let config = site.gateway_config(gateway, choices()).expect("config");
        assert_eq!(config.session_ttl, session_ttl);
        assert_eq!(config.metrics_addr, Some(choices().metrics_addr));
        assert_eq!(site.connector(), site.local_connector());
        let issuer = site.issuer_settings(issuer, Some(Passcode::generate()), Activity::off());
        assert_eq!(issuer.issuer, "http://127.0.0.1:8123");
        assert!(issuer.passcode.is_some());
    }
}
