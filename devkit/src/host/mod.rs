//! The `devkit doctor` lines about what an AI host needs: the connector URL,
//! its RFC 9728 metadata, and the issuer's metadata, client registration,
//! PKCE, RFC 9207 `iss` and token errors.
//!
//! [`probe`] fetches (short timeouts, no redirects followed, nothing
//! changed anywhere: no client is registered); [`rules`] decides, from what
//! was fetched, with plain inputs, so every rule is unit-tested without a
//! server.

pub mod probe;
pub mod rules;

use url::Url;

use crate::doctor::{Check, Verdict, check};
use probe::Prober;
use rules::{IssuerObserved, IssuerSource, Observed};

/// The host to check the connector for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Host {
    /// claude.ai custom connectors: in the cloud, so a public https URL.
    Claude,
    /// ChatGPT connectors: in the cloud, so a public https URL; registers with DCR.
    Chatgpt,
    /// Everything checkable from here; a loopback URL counts as local use
    /// (Claude Code, the MCP Inspector).
    #[default]
    Any,
}

impl Host {
    /// The host's name in a line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Claude => "claude.ai",
            Self::Chatgpt => "ChatGPT",
            Self::Any => "a host in the cloud",
        }
    }
}

/// What to check.
#[derive(Debug, Clone)]
pub struct Target {
    /// The connector URL hosts are given.
    pub connector: Url,
    /// `AUTH_AUDIENCE`, when set.
    pub audience: Option<String>,
    /// `AUTH_ISSUER`, when set: checked when the connector cannot be asked.
    pub issuer: Option<String>,
}

/// The lines, and whether a connector answered at the URL's origin.
#[derive(Debug)]
pub struct Report {
    pub lines: Vec<Check>,
    pub connector_answered: bool,
}

/// Asks the connector and its issuer what a host would ask, and judges the answers.
pub async fn check_host(host: Host, target: &Target) -> Report {
    let prober = match Prober::new() {
        Ok(prober) => prober,
        Err(e) => {
            return Report {
                lines: vec![check(
                    "connector",
                    Verdict::Fail,
                    format!("cannot build an HTTP client: {e}"),
                )],
                connector_answered: false,
            };
        }
    };
    let (root_url, path_url) = rules::resource_metadata_urls(&target.connector);
    let (resource_root, resource_path) = tokio::join!(prober.get(&root_url), async {
        match &path_url {
            Some(url) => Some(prober.get(url).await),
            None => None,
        }
    });
    let issuer = match rules::issuer_to_check(
        &resource_root,
        resource_path.as_ref(),
        target.issuer.as_deref(),
    ) {
        Some((id, source)) => Some(observe_issuer(&prober, id, source).await),
        None => None,
    };
    let seen = Observed {
        connector: target.connector.clone(),
        audience: target.audience.clone(),
        resource_root,
        resource_path,
        issuer,
    };
    Report {
        lines: rules::findings(host, &seen),
        connector_answered: seen.connector_answered(),
    }
}

/// The issuer's metadata (the first discovery URL that gives a document),
/// then its token endpoint's answer to a code that does not exist.
async fn observe_issuer(prober: &Prober, id: String, source: IssuerSource) -> IssuerObserved {
    /// No client, a made-up code: an exchange that can only fail, changing nothing.
    const BAD_EXCHANGE: &str = "grant_type=authorization_code&code=doctor-probe";
    let mut discovery = Vec::new();
    for url in rules::discovery_urls(&id).unwrap_or_default() {
        let answer = prober.get(&url).await;
        // A document ends the search; so does nobody answering (same origin).
        let done =
            rules::json_object(&answer).is_ok() || matches!(answer, rules::Answer::Unreachable(_));
        discovery.push((url, answer));
        if done {
            break;
        }
    }
    let token_error = match rules::token_endpoint(&discovery) {
        Some(endpoint) => Some(prober.post_form(&endpoint, BAD_EXCHANGE).await),
        None => None,
    };
    IssuerObserved {
        id,
        source,
        discovery,
        token_error,
    }
}
