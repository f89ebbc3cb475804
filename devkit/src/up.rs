//! `devkit up`: the gateway and the mock issuer on one origin, behind a
//! cloudflared quick tunnel, with sign-in on.
//!
//! One origin (one port) serves both: the gateway owns `/mcp` and its
//! protected-resource metadata, the issuer owns discovery, JWKS and
//! `/oauth/…`. So one tunnel carries the whole OAuth flow, and a chat host in
//! the cloud reaches the sign-in page through the same URL it was given.
//!
//! The order matters: bind the port first (a port in use is the commonest
//! failure, and cloudflared needs to know it), then open the tunnel (its
//! address becomes the resource URL and the issuer), then build and serve,
//! then check from the outside before printing the banner.

use std::{
    ffi::OsString,
    net::{Ipv4Addr, SocketAddr},
    path::Path,
    time::Duration,
};

use anyhow::{Context, anyhow};
use clap::Parser;
use gateway::{
    App, Config, Gateway,
    config::{Secret, Settings},
    pack::DomainPack,
};
use kit_serve::activity::Activity;
use mock_issuer::{config::IssuerConfig, issuer::Issuer, passcode::Passcode};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

use crate::{
    banner::Banner,
    bootstrap::{self, WORK_DIR},
    dashboard::{self, Dashboard, Setup},
    live,
    site::{GatewayChoices, Site},
    tunnel::{INSTALL_HELP, Tunnel, TunnelError, TunnelOptions},
    verify,
};

/// Progress and problems go to stderr, the banner to stdout. A closed pipe
/// (`devkit up | head`) must not panic the process: `eprintln!` would, and a
/// panic in the signal task would leave Ctrl-C unanswered.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}

/// Where hosts send people to add a connector.
const CLAUDE_CONNECTORS: &str = "https://claude.ai/settings/connectors";

#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// The one port for the gateway and the issuer; 0 picks a free one.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,

    /// Run on this machine only, without a public URL.
    #[arg(long)]
    pub no_tunnel: bool,

    /// Demo mode: no sign-in, every caller is one stand-in user.
    #[arg(long)]
    pub auth_disabled: bool,

    /// Open the browser at the page to go to next.
    #[arg(long)]
    pub open: bool,

    /// No live lines on stderr (sign-in steps, tool calls, refusals).
    #[arg(long, short)]
    pub quiet: bool,

    /// Through a tunnel, let anyone sign in without the terminal's passcode (workshops).
    #[arg(long)]
    pub open_signin: bool,

    /// How long to wait for the tunnel's URL, and then for it to answer.
    #[arg(long, default_value = "60s", value_parser = kit_serve::parse_duration)]
    pub tunnel_timeout: Duration,

    /// The cloudflared executable.
    #[arg(long, env = "CLOUDFLARED", default_value = "cloudflared")]
    pub cloudflared: OsString,

    /// Tests only: accept a stand-in tunnel that forwards on http://127.0.0.1.
    #[arg(long, hide = true, env = "DEVKIT_TEST_LOOPBACK_TUNNEL", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub test_loopback_tunnel: bool,
}

/// The gateway's settings as the environment and `.env` give them.
#[derive(Debug, Parser)]
pub(crate) struct GatewayEnv {
    #[command(flatten)]
    pub(crate) config: Config,
}

/// The issuer's settings as the environment and `.env` give them.
#[derive(Debug, Parser)]
pub(crate) struct IssuerEnv {
    #[command(flatten)]
    pub(crate) config: IssuerConfig,
}

/// Reads settings from the environment only; a bad value becomes one line.
fn from_env<P: Parser>() -> anyhow::Result<P> {
    P::try_parse_from(["devkit"]).map_err(|e| {
        let text = e.to_string();
        let line = text.lines().next().unwrap_or_default();
        anyhow!("{}", line.trim_start_matches("error: "))
    })
}

/// Runs until Ctrl-C (or SIGTERM), an error, or the tunnel dying. The
/// tunnel is closed on every one of those paths.
pub async fn run(args: UpArgs, app: App) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            kit_serve::stop_signal().await;
            stop.cancel();
            say!("\nStopping.");
        }
    });
    let mut tunnel = None;
    let started = tokio::select! {
        started = start(&args, app, &mut tunnel) => Some(started),
        () = stop.cancelled() => None,
    };
    let outcome = match started {
        None => Ok(()),
        Some(Err(e)) => Err(e),
        Some(Ok(mut running)) => {
            let outcome = tokio::select! {
                () = stop.cancelled() => Ok(()),
                ended = running.stopped() => Err(anyhow!("the server stopped: {ended}")),
                why = tunnel_exit(&mut tunnel) => Err(anyhow!(
                    "cloudflared stopped ({why}), so the public URL no longer works; \
                     run `devkit up` again for a new one, or use --no-tunnel"
                )),
            };
            // Public traffic first, then the server, which drains and closes the store.
            if let Some(tunnel) = tunnel.take() {
                tunnel.close().await;
            }
            running.shut_down().await;
            outcome
        }
    };
    if let Some(tunnel) = tunnel.take() {
        tunnel.close().await;
    }
    outcome
}

async fn tunnel_exit(tunnel: &mut Option<Tunnel>) -> String {
    match tunnel {
        Some(tunnel) => tunnel.exited().await,
        None => std::future::pending().await,
    }
}

/// The server, serving.
#[derive(Debug)]
struct Running {
    /// `None` once it has ended.
    server: Option<JoinHandle<std::io::Result<()>>>,
    stop: CancellationToken,
    gateway: Gateway,
}

impl Running {
    /// Resolves only if the server ends by itself, saying why.
    async fn stopped(&mut self) -> String {
        let Some(server) = self.server.as_mut() else {
            return std::future::pending().await;
        };
        let ended = server.await;
        self.server = None;
        match ended {
            Ok(Ok(())) => "it closed".into(),
            Ok(Err(e)) => e.to_string(),
            Err(e) => e.to_string(),
        }
    }

    async fn shut_down(self) {
        self.stop.cancel();
        self.gateway.shutdown_token().cancel();
        if let Some(server) = self.server {
            match server.await {
                Ok(Err(e)) => say!("devkit: the server ended with an error: {e}"),
                Err(e) => say!("devkit: the server task failed: {e}"),
                Ok(Ok(())) => {}
            }
        }
        self.gateway.store.close().await;
    }
}

async fn start(
    args: &UpArgs,
    app: App,
    tunnel_slot: &mut Option<Tunnel>,
) -> anyhow::Result<Running> {
    let env = from_env::<GatewayEnv>()?.config;
    let issuer_env = from_env::<IssuerEnv>()?.config;
    let app_dir = env
        .app_dir
        .clone()
        .unwrap_or_else(|| app.default_pack_dir());

    let bind_to = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let listener = TcpListener::bind(bind_to).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow!(
            "port {} is in use: stop what uses it, or pick another with --port (0 picks a free one)",
            args.port
        ),
        _ => anyhow!("cannot listen on {bind_to}: {e}"),
    })?;
    let addr = listener.local_addr()?;

    bootstrap::ensure_work_dir(Path::new(WORK_DIR))
        .with_context(|| format!("cannot create {WORK_DIR}/"))?;
    let secret = match &env.session_signing_secret {
        Some(secret) if !secret.is_empty() => secret.clone(),
        _ => {
            let secret = bootstrap::write_new_secret(Path::new(".env"))?;
            say!("Made a session signing secret and saved it in .env.");
            Secret::new(secret)
        }
    };
    // A broken pack should fail before a tunnel is opened for nothing.
    DomainPack::load(&app_dir)?;
    let auth_disabled = args.auth_disabled || env.auth_disabled;

    let mut tunnel_note = None;
    if !args.no_tunnel {
        say!("Opening a Cloudflare quick tunnel (this takes a few seconds)…");
        let options = TunnelOptions {
            program: args.cloudflared.clone(),
            local_port: addr.port(),
            timeout: args.tunnel_timeout,
            allow_loopback: args.test_loopback_tunnel,
        };
        match Tunnel::open(&options).await {
            Ok(tunnel) => {
                say!("Tunnel open at {}", tunnel.public_url());
                *tunnel_slot = Some(tunnel);
            }
            Err(TunnelError::NotInstalled) => {
                say!(
                    "cloudflared is not installed, so this run is local only.\n  To {INSTALL_HELP}"
                );
                tunnel_note = Some("install cloudflared, then run `devkit up` again");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let tunnelled = tunnel_slot.is_some();
    let site = Site::new(addr, tunnel_slot.as_ref().map(Tunnel::public_url))?;
    let connector = site.connector();
    let passcode = (tunnelled && !auth_disabled && !args.open_signin).then(Passcode::generate);

    // `/metrics` never shares the tunnelled port: it gets a listener of its
    // own, on loopback unless METRICS_ADDR says where.
    let metrics_listener = TcpListener::bind(
        env.metrics_addr
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
    )
    .await
    .context("cannot listen for /metrics (METRICS_ADDR)")?;
    let metrics_addr = metrics_listener.local_addr()?;
    let config = site.gateway_config(
        env,
        GatewayChoices {
            secret,
            metrics_addr,
            auth_disabled,
            app_dir,
        },
    )?;
    // What the gateway and the issuer publish: for the dashboard, and
    // printed as it happens unless --quiet.
    let activity = Activity::channel(1024);
    if let Some(events) = activity.subscribe().filter(|_| !args.quiet) {
        tokio::spawn(live::print(events, live::stderr_takes_colour()));
    }
    let settings = Settings {
        activity: activity.clone(),
        ..config.settle()?
    };
    let database = settings.database_url.redacted();
    let gateway = Gateway::build(settings, app).await?;

    let mut router = gateway.router.clone();
    if !auth_disabled {
        let settings = site.issuer_settings(issuer_env, passcode.clone(), activity.clone());
        let issuer = Issuer::open(settings, chrono::Utc::now().timestamp())
            .context("cannot start the issuer")?;
        router = router.merge(mock_issuer::http::router(std::sync::Arc::new(issuer)));
    }

    let stop = CancellationToken::new();
    let dashboard = Dashboard::start(
        Setup {
            app: gateway.pack_name.clone(),
            connector: connector.to_string(),
            local: site.local_connector().to_string(),
            passcode: passcode.as_ref().map(|p| p.reveal().to_owned()),
            database: database.clone(),
            tunnel: tunnel_slot.as_ref().map(|t| t.public_url().to_string()),
            sign_in: !auth_disabled,
            started: std::time::SystemTime::now(),
        },
        activity,
        (
            site.local_origin()
                .join(".well-known/jwks.json")?
                .to_string(),
            site.issuer_id(),
        ),
        stop.clone(),
        gateway.store.clone(),
    );
    let router = router.merge(dashboard.router(addr.port()));

    tokio::spawn(kit_serve::serve(
        metrics_listener,
        gateway.metrics_router.clone(),
        gateway.settings.request_timeout,
        stop.clone().cancelled_owned(),
    ));
    let server = tokio::spawn(kit_serve::serve(
        listener,
        router,
        gateway.settings.request_timeout,
        stop.clone().cancelled_owned(),
    ));
    let running = Running {
        server: Some(server),
        stop,
        gateway,
    };

    if tunnelled {
        say!("Checking the connector from outside, through the tunnel…");
    }
    verify::check_connector(&connector, auth_disabled, args.tunnel_timeout)
        .await
        .map_err(|problem| anyhow!("the connector does not answer as it should: {problem}"))?;

    let (local_connector, issuer_id) = (site.local_connector(), site.issuer_id());
    let dashboard_url = site.local_origin().join(dashboard::PATH)?;
    let banner = Banner {
        app: &running.gateway.pack_name,
        connector: &connector,
        local: &local_connector,
        tunnelled,
        tunnel_note,
        database: &database,
        metrics: &format!("http://{metrics_addr}/metrics"),
        dashboard: dashboard_url.as_str(),
        issuer: (!auth_disabled).then_some(issuer_id.as_str()),
        passcode: passcode.as_ref().map(Passcode::reveal),
    };
    {
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), "{}", banner.render());
    }
    if args.open {
        open_next_page(tunnelled);
    }
    Ok(running)
}

/// Through a tunnel the next step is the host's connector settings; a local
/// run is used from Claude Code, which has no page to open.
fn open_next_page(tunnelled: bool) {
    if !tunnelled {
        say!("--open: a local URL is used from Claude Code; there is no page to open.");
        return;
    }
    if let Err(e) = open::that_detached(CLAUDE_CONNECTORS) {
        say!("--open: cannot open a browser ({e}); go to {CLAUDE_CONNECTORS}");
    }
}
