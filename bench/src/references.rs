//! The two reference servers the gateway is measured against, each run as a
//! child process (`bench serve ceiling|floor --port P`) so it gets the same
//! kind of process and runtime the gateway has:
//!
//! - the **HTTP ceiling**: axum answering `POST /mcp` with a fixed JSON-RPC
//!   result. Nothing MCP-shaped can be faster on this machine.
//! - the **framework floor**: bare rmcp, configured exactly as the gateway's
//!   `http/mcp.rs` configures it, with one `domain_get_item` tool that
//!   returns a fixed item, behind a middleware that only reads the bearer
//!   header. What the gateway spends beyond this is its own: the four token
//!   checks, the session gate, the lookup.

use std::{net::SocketAddr, process::Stdio, sync::Arc};

use anyhow::Context;
use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::post,
};
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
use tokio::{net::TcpListener, process::Command};
use tokio_util::sync::CancellationToken;

use crate::child::Child;

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
    pub fn spawn(self, addr: SocketAddr) -> anyhow::Result<Child> {
        let exe = std::env::current_exe().context("cannot find the bench's own executable")?;
        let kind = match self {
            Self::Ceiling => "ceiling",
            Self::Floor => "floor",
        };
        let mut command = Command::new(exe);
        command
            .args(["serve", kind, "--port", &addr.port().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        Child::spawn(self.label(), command)
    }
}

/// The child's side: serve `reference` on `127.0.0.1:port` until killed.
pub async fn serve(reference: Reference, port: u16) -> anyhow::Result<()> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let router = match reference {
        Reference::Ceiling => ceiling(),
        Reference::Floor => floor(addr),
    };
    axum::serve(listener, router).await?;
    Ok(())
}

// ---- the HTTP ceiling ---------------------------------------------------

/// What the ceiling always answers: a `domain_get_item` result, so the same
/// checks that judge the gateway's answers pass.
const CEILING_ANSWER: &str = concat!(
    r#"{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"{\"item\":{\"id\":\"a1\",\"title\":\"A fixed item\"}}"}],"#,
    r#""structuredContent":{"item":{"id":"a1","title":"A fixed item"}},"isError":false}}"#
);

fn ceiling() -> Router {
    // The body is read (as any real handler must) and ignored.
    Router::new().route(
        "/mcp",
        post(|_body: axum::body::Bytes| async {
            ([(header::CONTENT_TYPE, "application/json")], CEILING_ANSWER)
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
}

#[derive(Debug, Deserialize, JsonSchema)]
struct GetItemArgs {
    #[expect(dead_code, reason = "accepted like the gateway's, not checked")]
    session: String,
    #[expect(dead_code, reason = "the answer is fixed")]
    id: String,
}

#[derive(Debug, Serialize, JsonSchema)]
struct FixedItem {
    id: &'static str,
    title: &'static str,
}

#[derive(Debug, Serialize, JsonSchema)]
struct ItemResult {
    item: FixedItem,
}

#[tool_router]
impl Floor {
    /// Get one catalog item (always the same one).
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn domain_get_item(
        &self,
        Parameters(_args): Parameters<GetItemArgs>,
    ) -> Json<ItemResult> {
        Json(ItemResult {
            item: FixedItem {
                id: "a1",
                title: "A fixed item",
            },
        })
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
fn floor(addr: SocketAddr) -> Router {
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
