//! The two reference servers the gateway is measured against, each run as a
//! child process (`bench serve ceiling|floor --port P`) so it gets the same
//! kind of process and runtime the gateway has:
//!
//! - the **HTTP ceiling**: axum answering `POST /mcp` with a fixed JSON-RPC
//!   body. Nothing MCP-shaped can be faster on this machine.
//! - the **framework floor**: bare rmcp, configured exactly as the gateway's
//!   `http/mcp.rs` configures it, with one `domain_get_item` tool that
//!   returns a fixed value, behind a middleware that only reads the bearer
//!   header. What the gateway spends beyond this is its own: the four token
//!   checks, the session gate, the lookup.
//!
//! Both answer with what the gateway answered in the same run (the ceiling
//! its whole body, the floor its structured result), so all three put the
//! same bytes on the wire and only the work behind them differs.

use std::{net::SocketAddr, path::Path, process::Stdio, sync::Arc};

use anyhow::Context;
use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::post,
};
use bytes::Bytes;
use http::{StatusCode, header};
use rmcp::{
    Json, ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{ServerCapabilities, ServerConfig},
    tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
    },
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::{net::TcpListener, process::Command};
use tokio_util::sync::CancellationToken;

use crate::{
    child::{Child, free_port},
    scenarios::{Tool, User},
};

/// Which reference to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reference {
    Ceiling,
    Floor,
}

impl Reference {
    pub fn label(self) -> &'static str {
        match self {
            Self::Ceiling => "HTTP ceiling",
            Self::Floor => "framework floor",
        }
    }

    /// Starts this reference by running the bench's own executable again.
    pub fn spawn(self, addr: SocketAddr, answer: &Path) -> anyhow::Result<Child> {
        let exe = std::env::current_exe().context("cannot find the bench's own executable")?;
        let kind = match self {
            Self::Ceiling => "ceiling",
            Self::Floor => "floor",
        };
        let mut command = Command::new(exe);
        command
            .args(["serve", kind, "--port", &addr.port().to_string()])
            .arg("--answer")
            .arg(answer)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        Child::spawn(self.label(), command)
    }

    /// Starts this reference on a free port, answering with `answer`, and
    /// waits until it answers `user`'s `domain_get_item`.
    pub async fn start(self, answer: &Path, user: &User) -> anyhow::Result<(Child, SocketAddr)> {
        let addr = ([127, 0, 0, 1], free_port()?).into();
        eprintln!("bench: starting the {}", self.label());
        let mut child = self.spawn(addr, answer)?;
        child
            .first_success(addr, &user.call(addr, Tool::DomainGetItem)?)
            .await?;
        Ok((child, addr))
    }
}

/// The child's side: serve `reference` on `127.0.0.1:port` until killed,
/// answering with the gateway's `answer` (a JSON-RPC body).
pub async fn serve(reference: Reference, port: u16, answer: &Path) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let body = std::fs::read(answer)
        .with_context(|| format!("cannot read the answer {}", answer.display()))?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let router = match reference {
        Reference::Ceiling => ceiling(Bytes::from(body)),
        Reference::Floor => {
            let content = crate::mcp::structured_content(StatusCode::OK, &body)
                .map_err(|e| anyhow::anyhow!("the gateway's answer: {e}"))?;
            let Value::Object(content) = content else {
                anyhow::bail!("the gateway's structured answer is not an object");
            };
            floor(addr, FixedAnswer(content))
        }
    };
    axum::serve(listener, router).await?;
    Ok(())
}

// ---- the HTTP ceiling ---------------------------------------------------

fn ceiling(answer: Bytes) -> Router {
    // The body is read (as any real handler must) and ignored.
    Router::new().route(
        "/mcp",
        post(move |_body: Bytes| {
            // A clone of `Bytes` shares the buffer: no copy per request.
            let answer = answer.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], answer) }
        }),
    )
}

// ---- the framework floor ------------------------------------------------

type FloorService = StreamableHttpService<Floor, NeverSessionManager>;

/// The floor's MCP handler: one tool, a fixed answer. Like the gateway's,
/// it is cloned per request and its tool router is built once.
#[derive(Debug, Clone)]
struct Floor {
    tools: Arc<ToolRouter<Floor>>,
    answer: Arc<FixedAnswer>,
}

#[derive(Debug, Deserialize, JsonSchema)]
struct GetItemArgs {
    #[expect(dead_code, reason = "accepted like the gateway's, not checked")]
    session: String,
    #[expect(dead_code, reason = "the answer is fixed")]
    id: String,
}

/// The gateway's structured `domain_get_item` result, as it was sampled.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(transparent)]
struct FixedAnswer(Map<String, Value>);

#[tool_router]
impl Floor {
    /// Get one catalog item (always the same one).
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn domain_get_item(
        &self,
        Parameters(_args): Parameters<GetItemArgs>,
    ) -> Json<FixedAnswer> {
        // Built per call, as the gateway builds its answer per call.
        Json(FixedAnswer::clone(&self.answer))
    }
}

#[tool_handler(router = self.tools)]
impl ServerHandler for Floor {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// Mirrors the gateway's `http/mcp.rs`: the same config calls, the same
/// allow-lists for a loopback connector URL, JSON responses.
fn floor(addr: SocketAddr, answer: FixedAnswer) -> Router {
    let answer = Arc::new(answer);
    let hosts = ["localhost", "127.0.0.1", "::1"]
        .map(str::to_owned)
        .to_vec();
    let origins = vec![
        "http://localhost:*".to_owned(),
        "http://127.0.0.1:*".to_owned(),
        "http://[::1]:*".to_owned(),
        format!("http://{addr}"),
    ];
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        // The gateway's default: 64 KiB of state plus 64 KiB of envelope.
        .with_max_request_body_bytes(128 * 1024)
        .with_cancellation_token(CancellationToken::new())
        .with_json_response(true);
    let tools = Arc::new(Floor::tool_router());
    let service: Arc<FloorService> = Arc::new(StreamableHttpService::new(
        move || {
            Ok(Floor {
                tools: tools.clone(),
                answer: answer.clone(),
            })
        },
        Arc::new(NeverSessionManager::default()),
        config,
    ));
    Router::new().route(
        "/mcp",
        post(handle)
            .route_layer(middleware::from_fn(read_bearer))
            .with_state(service),
    )
}

async fn handle(State(service): State<Arc<FloorService>>, request: Request) -> Response {
    service.handle(request).await.map(Body::new).into_response()
}

/// Reads the bearer header and nothing more: no signature, no claims.
async fn read_bearer(request: Request, next: Next) -> Response {
    let has_bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|token| !token.is_empty());
    if has_bearer {
        next.run(request).await
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}
