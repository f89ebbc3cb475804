//! Building and running the gateway. `main`, the tests and `devkit up` all
//! go through [`Gateway::build`] (a router to serve) or [`Application::build`]
//! (that router on a bound listener).

use std::{future::Future, net::SocketAddr, sync::Arc};

use anyhow::Context;
use axum::Router;
use kit_serve::telemetry::LogFormat;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    app::{App, AppContext},
    auth::{KeyStore, TokenVerifier, userinfo::UserInfo},
    config::{AuthMode, Config, SearchCache, Settings},
    domain::AppDb,
    http::{self, auth::Guard, mcp::TransportOptions, metadata},
    metrics::{self, Metrics},
    pack::DomainPack,
    search::{Origin, SearchIndex},
    session::SessionSigner,
    store::{self, Store},
    tools::{self, AppState},
};

/// Room around the largest state for the rest of a JSON-RPC request.
const ENVELOPE_BYTES: usize = 64 * 1024;

/// The assembled app: its router and the handles it shares.
#[derive(Debug)]
pub struct Gateway {
    pub router: Router,
    /// `/metrics` alone, for `METRICS_ADDR` (also merged into `router`,
    /// loopback hosts only, when that is not set).
    pub metrics_router: Router,
    pub store: Store,
    pub settings: Settings,
    pub pack_name: String,
    shutdown: CancellationToken,
}

impl Gateway {
    /// Loads the pack, opens and migrates the store, wires the routes.
    /// Fails, with the reason, rather than start half-working.
    pub async fn build(settings: Settings, app: App) -> anyhow::Result<Self> {
        let pack = Arc::new(DomainPack::load(&settings.app_dir)?);
        let store = Store::connect(&settings.database_url)
            .await
            .with_context(|| format!("cannot open the database {}", settings.database_url))?;
        let db = AppDb::connect(
            &settings.database_url,
            app.has_migrations(),
            &store::kit_versions(&settings.database_url),
            store.behind_transaction_pooler(),
        )
        .await?;
        let search = match pack.items().is_empty() {
            true => None,
            false => Some(Arc::new(
                search_index(&pack, &settings.search_cache_dir).await?,
            )),
        };
        let cx = AppContext {
            db,
            pack: pack.clone(),
            search,
        };
        let domain = app.build_domain(&cx, &tools::kit_tool_names())?;
        let resource = &settings.resource_url;
        let (verifier, authorization_servers, scopes) = match &settings.auth {
            AuthMode::Verified {
                issuer,
                jwks_url,
                jwks_refetch_interval,
                audience,
                required_scopes,
                scopes,
                clock_leeway,
            } => {
                let keys = Arc::new(KeyStore::new(
                    issuer.url().clone(),
                    jwks_url.clone(),
                    *jwks_refetch_interval,
                ));
                // Fetched now, off the start path: the first requests wait for
                // this fetch instead of each being refused (`/readyz` tells).
                tokio::spawn({
                    let keys = keys.clone();
                    async move { keys.prefetch().await }
                });
                let verifier = TokenVerifier::new(
                    keys,
                    issuer.as_str(),
                    audience,
                    required_scopes.clone(),
                    *clock_leeway,
                );
                (Some(verifier), vec![issuer.to_string()], scopes.clone())
            }
            AuthMode::Disabled => {
                tracing::warn!(
                    "AUTH_DISABLED is set: NO SIGN-IN. Every caller is the one stand-in user `demo-user`, \
                     and anyone who can reach this server can read and change that user's data. Demo only."
                );
                (None, vec![], vec![])
            }
        };
        let metrics = Metrics::new(metrics::Sources {
            jwks_fetches: verifier.as_ref().map(|v| v.keys().fetch_counters()),
            commit_batch_sizes: store.commit_batch_sizes(),
        });
        let readiness = http::health::Readiness {
            store: store.clone(),
            keys: verifier.as_ref().map(|v| v.keys().clone()),
        };
        // Hosted issuers' tokens often carry no email; their userinfo may.
        let userinfo = verifier
            .as_ref()
            .map(|v| Arc::new(UserInfo::new(v.keys().clone())));
        let guard = Arc::new(Guard {
            verifier,
            userinfo,
            store: store.clone(),
            metrics: metrics.clone(),
            activity: settings.activity.clone(),
            resource_metadata: metadata::metadata_url(resource).into(),
            scope: scopes.join(" ").into(),
        });
        let document = metadata::ResourceMetadata {
            resource: resource.to_string(),
            authorization_servers,
            bearer_methods_supported: ["header"],
            scopes_supported: scopes,
            resource_name: pack.name.clone(),
        };
        let pack_name = pack.name.clone();
        let sessions = SessionSigner::new(&settings.session_secret, settings.session_ttl);
        let state = Arc::new(AppState::new(
            pack,
            store.clone(),
            sessions,
            settings.max_state_bytes,
            metrics.clone(),
            settings.activity.clone(),
            domain,
        ));
        let shutdown = CancellationToken::new();
        let transport = TransportOptions {
            resource_url: resource.clone(),
            max_body_bytes: settings.max_state_bytes + ENVELOPE_BYTES,
            shutdown: shutdown.clone(),
            activity: settings.activity.clone(),
        };
        let exposure = match settings.metrics_addr {
            Some(_) => http::metrics::Exposure::OwnListener,
            None => http::metrics::Exposure::LoopbackOnly,
        };
        let metrics_router = http::metrics::router(metrics, exposure);
        let mut router = http::router(
            state,
            guard,
            (document, resource),
            transport,
            readiness,
            settings.request_timeout,
        );
        if exposure == http::metrics::Exposure::LoopbackOnly {
            router = router.merge(metrics_router.clone());
        }
        Ok(Self {
            router,
            metrics_router,
            store,
            settings,
            pack_name,
            shutdown,
        })
    }

    /// Ends open event streams; call when the server stops.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// The gateway on a bound listener.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    /// `METRICS_ADDR`'s listener, when set.
    metrics_listener: Option<TcpListener>,
    gateway: Gateway,
}

impl Application {
    /// Binds `config.addr` (port 0 picks a free port, which the default
    /// `RESOURCE_URL` then names), checks the configuration and builds.
    pub async fn build(mut config: Config, app: App) -> anyhow::Result<Self> {
        if config.app_dir.is_none() {
            config.app_dir = Some(app.default_pack_dir());
        }
        let listener = TcpListener::bind(config.addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.addr))?;
        config.addr = listener.local_addr()?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => {
                let listener = TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on METRICS_ADDR {addr}"))?;
                config.metrics_addr = Some(listener.local_addr()?);
                Some(listener)
            }
            None => None,
        };
        let settings = config.settle()?;
        let gateway = Gateway::build(settings, app).await?;
        Ok(Self {
            listener,
            metrics_listener,
            gateway,
        })
    }

    /// Where `/metrics` has a listener of its own, if it has one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.gateway.settings.metrics_addr
    }

    /// The bound address (`build` wrote it into the settings).
    pub fn local_addr(&self) -> SocketAddr {
        self.gateway.settings.addr
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// Serves until `shutdown` completes, then drains and closes the store.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Self {
            listener,
            metrics_listener,
            gateway,
        } = self;
        let stop = gateway.shutdown_token();
        let metrics = metrics_listener.map(|listener| {
            tokio::spawn(kit_serve::serve(
                listener,
                gateway.metrics_router.clone(),
                gateway.settings.request_timeout,
                stop.clone().cancelled_owned(),
            ))
        });
        let result = kit_serve::serve(
            listener,
            gateway.router,
            gateway.settings.request_timeout,
            async move {
                shutdown.await;
                stop.cancel();
            },
        )
        .await;
        if let Some(metrics) = metrics {
            let _ = metrics.await;
        }
        gateway.store.close().await;
        result
    }
}

/// Runs `app` alone, as the `gateway` binary and `devkit serve` do: logs and
/// traces (`RUST_LOG`, `LOG_FORMAT`, `OTEL_*`) to stdout, then serves until
/// SIGTERM or Ctrl-C.
pub fn run_alone(config: Config, app: App) -> anyhow::Result<()> {
    let format = LogFormat::from_env().map_err(anyhow::Error::msg)?;
    // Made and dropped outside the runtime: the exporter's client blocks.
    let _traces = kit_serve::telemetry::init(
        "connector-devkit-gateway",
        format,
        "info,rmcp=warn",
        std::io::stdout,
    )
    .map_err(anyhow::Error::msg)?;
    tokio::runtime::Runtime::new()?.block_on(async {
        let running = Application::build(config, app).await?;
        let gateway = running.gateway();
        tracing::info!(
            app = %gateway.pack_name,
            connector_url = %gateway.settings.resource_url,
            database = %gateway.settings.database_url,
            listening = %running.local_addr(),
            "gateway ready"
        );
        running
            .run_until_stopped(async {
                kit_serve::stop_signal().await;
                tracing::info!("shutting down");
            })
            .await?;
        Ok(())
    })
}

/// The search index over the pack's items: opened from the cache when an
/// earlier start built it for the same items, else built (and cached).
async fn search_index(pack: &DomainPack, cache: &SearchCache) -> anyhow::Result<SearchIndex> {
    let (name, items, cache) = (pack.name.clone(), pack.shared_items(), cache.clone());
    let started = std::time::Instant::now();
    let (index, origin) = tokio::task::spawn_blocking(move || {
        SearchIndex::build(&name, items.clone(), cache.dir()).or_else(|error| {
            // An unwritable cache costs a rebuild at each start, not the start.
            tracing::warn!(%error, "cannot use the search index cache; building the index in memory");
            SearchIndex::build(&name, items, None)
        })
    })
    .await??;
    let took_ms = started.elapsed().as_millis() as u64;
    match origin {
        Origin::Cached(dir) => {
            tracing::info!(dir = %dir.display(), took_ms, "search index opened from the cache")
        }
        Origin::Built(dir) => {
            tracing::info!(dir = %dir.display(), took_ms, items = index.items().len(), "search index built and cached")
        }
        Origin::InMemory => tracing::debug!(
            took_ms,
            items = index.items().len(),
            "search index built in memory"
        ),
    }
    Ok(index)
}
