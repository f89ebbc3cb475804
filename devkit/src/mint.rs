//! `devkit mint-token`: an access token signed with the issuer's own
//! persisted key, for audience and expiry experiments. A token minted here
//! verifies against the running issuer's JWKS, because it is the same key.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use mock_issuer::{
    keys::KeyRing,
    tokens::{self, TokenRequest},
};

#[derive(Debug, Clone, clap::Args)]
pub struct MintArgs {
    /// The token's subject (the user id the gateway will see).
    #[arg(long)]
    pub sub: String,

    /// The `email` claim.
    #[arg(long)]
    pub email: Option<String>,

    /// The audience: the connector URL the token is for.
    #[arg(
        long,
        env = "RESOURCE_URL",
        default_value = "http://127.0.0.1:8000/mcp"
    )]
    pub aud: String,

    /// The issuer (`iss`); must match the gateway's AUTH_ISSUER to be accepted.
    #[arg(long, env = "ISSUER_URL", default_value = "http://127.0.0.1:9000")]
    pub iss: String,

    /// Space-separated scopes.
    #[arg(long, default_value = "openid")]
    pub scope: String,

    /// Lifetime: 90s, 10m, 2h.
    #[arg(long, default_value = "10m", value_parser = kit_serve::parse_duration, conflicts_with = "expired")]
    pub expires_in: Duration,

    /// Mint a token that expired an hour ago.
    #[arg(long)]
    pub expired: bool,

    /// The `client_id` claim.
    #[arg(long, default_value = "devkit-cli")]
    pub client_id: String,

    /// The issuer's state folder (where its signing key lives).
    #[arg(long, env = "ISSUER_STATE_DIR", default_value = ".devkit/issuer")]
    pub state_dir: PathBuf,
}

/// The signed token.
pub fn mint_token(args: &MintArgs, now: i64) -> anyhow::Result<String> {
    if args.sub.trim().is_empty() {
        anyhow::bail!("--sub must not be empty");
    }
    let ring = KeyRing::load_or_create(&args.state_dir, now).with_context(|| {
        format!(
            "cannot use the issuer's key in {}",
            args.state_dir.display()
        )
    })?;
    let lifetime = if args.expired {
        -3600
    } else {
        i64::try_from(args.expires_in.as_secs()).context("--expires-in is too long")?
    };
    let request = TokenRequest {
        issuer: &args.iss,
        sub: &args.sub,
        email: args.email.as_deref(),
        audience: &args.aud,
        scope: &args.scope,
        client_id: &args.client_id,
        lifetime,
    };
    tokens::mint(ring.current(), &request, now).context("cannot sign the token")
}
