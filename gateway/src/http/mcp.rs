//! `POST /mcp`: rmcp's stateless streamable HTTP service, behind the token gate.
//!
//! rmcp insists that a POST accepts both JSON and SSE. Real hosts are less
//! tidy (some send only `Accept: text/event-stream`), so we read what the
//! client can take, answer in that form, and give rmcp the header it wants.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    extract::{Request, State},
    response::{IntoResponse, Response},
    routing::post,
};
use http::{
    StatusCode,
    header::{ACCEPT, CONTENT_TYPE},
};
use rmcp::transport::streamable_http_server::{
    StreamableHttpServerConfig, StreamableHttpService, session::never::NeverSessionManager,
};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::{
    auth::Guard,
    direct::{Direct, Outcome},
    origin::Allowed,
};
use crate::{
    metrics::Metrics,
    rmcp_edge,
    tools::{AppState, Connector, RequestSpan},
};

type Service = StreamableHttpService<Connector, NeverSessionManager>;

/// What answering `/mcp` needs: the checks in front, the two response
/// flavours (one rmcp service each), and the requests answered without
/// rmcp's per-request service loop. Cloned for every request, so all shared.
#[derive(Clone)]
struct Mcp {
    metrics: Arc<Metrics>,
    allowed: Arc<Allowed>,
    guard: Arc<Guard>,
    json: Arc<Service>,
    sse: Arc<Service>,
    direct: Option<Arc<Direct>>,
}

/// Options the transport needs beyond the app itself.
#[derive(Debug)]
pub struct TransportOptions {
    pub resource_url: Url,
    pub max_body_bytes: usize,
    pub shutdown: CancellationToken,
    /// Where refused requests are published.
    pub activity: kit_serve::activity::Activity,
}

pub fn router(state: Arc<AppState>, guard: Arc<Guard>, options: TransportOptions) -> Router {
    // One allow-list: checked first by `origin.rs`, and again by rmcp.
    let allowed = Arc::new(Allowed::for_resource(&options.resource_url).observed(options.activity));
    let (hosts, origins) = allowed.rmcp_lists();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_sse_keep_alive(None)
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .with_max_request_body_bytes(options.max_body_bytes)
        .with_cancellation_token(options.shutdown);
    let service = |json: bool| {
        let state = state.clone();
        Arc::new(StreamableHttpService::new(
            move || Ok(Connector::new(state.clone())),
            Arc::new(NeverSessionManager::default()),
            config.clone().with_json_response(json),
        ))
    };
    let mcp = Mcp {
        metrics: state.metrics.clone(),
        allowed,
        guard,
        json: service(true),
        sse: service(false),
        direct: Direct::for_rmcp_config(state.clone(), &config).map(Arc::new),
    };
    Router::new().route("/mcp", post(handle).with_state(mcp))
}

/// Every answer of `/mcp`, refusals included, counted by status.
///
/// The checks are calls here rather than middleware layers: axum clones a
/// layered route's whole stack for each request and boxes each layer's
/// future and inner service: 33 of the 138 allocations a tool call made.
async fn handle(State(mcp): State<Mcp>, request: Request) -> Response {
    let response = checked(&mcp, request).await;
    mcp.metrics.request(response.status().as_u16());
    response
}

/// Host and Origin first, then the token: a foreign page's request is
/// refused before its token is read, and a tool sees only a verified caller.
async fn checked(mcp: &Mcp, mut request: Request) -> Response {
    if let Some(refusal) = mcp.allowed.refusal(request.uri(), request.headers()) {
        return refusal;
    }
    match mcp.guard.identify(request.headers()).await {
        Ok(identity) => request.extensions_mut().insert(identity),
        Err(challenge) => return challenge.into_response(),
    };
    traced(mcp, request).await
}

async fn traced(mcp: &Mcp, mut request: Request) -> Response {
    let span = tracing::debug_span!("mcp.request", otel.kind = "server");
    if !span.is_disabled() {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let header = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
        let parent =
            kit_serve::telemetry::remote_context(header("traceparent"), header("tracestate"));
        let _ = span.set_parent(parent);
    }
    request.extensions_mut().insert(RequestSpan(span.clone()));
    tracing::Instrument::instrument(answer(mcp, request), span).await
}

async fn answer(mcp: &Mcp, request: Request) -> Response {
    let sse_only = rmcp_edge::wants_sse_only(request.headers().get_all(ACCEPT).iter());
    let mut request = match &mcp.direct {
        Some(direct) if !sse_only => match direct.answer(request).await {
            Outcome::Answered(response) => return response,
            Outcome::ForRmcp(request) => request,
        },
        _ => request,
    };
    let service = if sse_only { &mcp.sse } else { &mcp.json };
    request
        .headers_mut()
        .insert(ACCEPT, rmcp_edge::accept_both());
    let sent_json = rmcp_edge::is_json(request.headers().get(CONTENT_TYPE));
    let response = service.handle(request).await.map(Body::new).into_response();
    if rmcp_edge::is_unparsable_json(sent_json, response.status()) {
        return parse_error();
    }
    response
}

/// JSON-RPC 2.0 §5.1: -32700, with no id (none could be read).
fn parse_error() -> Response {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": {
            "code": -32700,
            "message": "Parse error: the body is not one JSON-RPC message (malformed or too deeply \
                        nested JSON, or a batch, which MCP does not accept)",
        },
    });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}
