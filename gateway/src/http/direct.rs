//! `tools/call` and `tools/list` answered in the HTTP task.
//!
//! rmcp's stateless transport starts a whole service loop per request (a
//! one-shot transport, channels, a cancellation token and three spawned
//! tasks) to get one answer back. For the requests that dominate a
//! connector's traffic this module calls the same handler, through the same
//! `Service::handle_request` dispatch, with the same request context, and
//! writes the answer as rmcp would (200, the JSON-RPC message). Which
//! requests qualify is decided in `rmcp_edge.rs`; every other request, and
//! every request rmcp would refuse, is handed back to rmcp untouched.
//!
//! A request context needs a `Peer` (how a handler talks back mid-call),
//! and rmcp makes peers only inside a service loop. So one idle loop per
//! revision is started on first use and lives until shutdown; its peer
//! carries the revision, as the per-request peer did. Nothing reaches the
//! client through it: a notification or request sent on it fails. The kit's
//! tools never send one, and an app's domain tools cannot reach the peer
//! (they get a `Caller`), which is also why a JSON answer can be the whole
//! reply.

use std::{
    pin::Pin,
    sync::{Arc, OnceLock},
    task::{Context, Poll},
};

use axum::{body::Body, extract::Request, response::Response};
use http::{StatusCode, header::CONTENT_TYPE};
use rmcp::{
    RoleServer, Service,
    model::{
        CallToolRequest, ClientCapabilities, ClientJsonRpcMessage, ClientRequest, GetExtensions,
        GetMeta, Implementation, InitializeRequestParams, JsonRpcRequest, ListToolsRequest,
        ProtocolVersion, ServerJsonRpcMessage,
    },
    service::{Peer, RequestContext, RunningService, TxJsonRpcMessage, serve_directly_with_ct},
    transport::{Transport, streamable_http_server::StreamableHttpServerConfig},
};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::reply;
use crate::{
    domain::WrittenOnce,
    rmcp_edge,
    tools::{AppState, Connector},
};

/// What answering directly needs: the app, and a peer per revision.
pub(super) struct Direct {
    state: Arc<AppState>,
    max_body_bytes: usize,
    shutdown: CancellationToken,
    /// Indexed as `ProtocolVersion::KNOWN_VERSIONS`.
    peers: Box<[OnceLock<Idle>]>,
}

/// An idle service loop, kept for its peer.
struct Idle(RunningService<RoleServer, Connector>);

/// What reading the request decided.
pub(super) enum Outcome {
    Answered(Response),
    /// For rmcp, with its body put back.
    ForRmcp(Request),
}

impl Direct {
    /// For rmcp's stateless transport as `config` sets it up, or `None`
    /// where its per-request checks would differ from those of the session-era
    /// stateless requests this answers (sessions, or per-request protocol
    /// metadata required).
    pub(super) fn for_rmcp_config(
        state: Arc<AppState>,
        config: &StreamableHttpServerConfig,
    ) -> Option<Self> {
        if config.legacy_session_mode || config.stateless_protocol_metadata_required {
            return None;
        }
        let peers = ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .map(|_| OnceLock::new())
            .collect();
        Some(Self {
            state,
            max_body_bytes: config.max_request_body_bytes,
            shutdown: config.cancellation_token.clone(),
            peers,
        })
    }

    /// Answers `request` here when it qualifies; otherwise gives it back.
    pub(super) async fn answer(&self, request: Request) -> Outcome {
        if !rmcp_edge::may_read_directly(request.headers(), self.max_body_bytes) {
            return Outcome::ForRmcp(request);
        }
        let (parts, body) = request.into_parts();
        let bytes = match axum::body::to_bytes(body, self.max_body_bytes).await {
            Ok(bytes) => bytes,
            // The client stopped sending: what rmcp answers a body it cannot read.
            Err(_) => return Outcome::Answered(unreadable_body()),
        };
        let ours = hot_request(&bytes).and_then(|request| {
            rmcp_edge::direct_revision(&parts.headers, &request.request)
                .and_then(|revision| self.peer(&revision))
                .map(|peer| (request, peer))
        });
        let Some((mut request, peer)) = ours else {
            return Outcome::ForRmcp(Request::from_parts(parts, Body::from(bytes)));
        };
        // As rmcp's loop does: the request's `_meta` and extensions move into
        // the context, and the HTTP request's parts are among the extensions
        // (the verified identity and the request's span ride in them).
        let meta = std::mem::take(request.request.get_meta_mut());
        let mut extensions = std::mem::take(request.request.extensions_mut());
        extensions.insert(parts);
        // This writer takes a domain answer's text alone (`reply::write`).
        let once = WrittenOnce::default();
        extensions.insert(once.clone());
        let JsonRpcRequest { id, request, .. } = request;
        let mut context = RequestContext::new(id.clone(), peer);
        context.meta = meta;
        context.extensions = extensions;
        // As in rmcp's loop, a call whose answer is abandoned (the request
        // timed out, the client left) still runs to its end, so an action is
        // never cut off half-way; its token is cancelled then, for a handler
        // that looks. Polled here, and spawned only if abandoned.
        let request_ct = CancellationToken::new();
        context.ct = request_ct.child_token();
        let handler = Connector::new(self.state.clone());
        let call = async move { handler.handle_request(request, context).await };
        let result = RunsToEnd::new(call, request_ct).await;
        let reply = match result {
            Ok(result) => ServerJsonRpcMessage::response(result, id),
            Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
        };
        self.state.metrics.answered_directly();
        Outcome::Answered(json_reply(&reply, once.text_is_structured()))
    }

    /// The peer for `revision`, its idle loop started on first use.
    fn peer(&self, revision: &ProtocolVersion) -> Option<Peer<RoleServer>> {
        let slot = ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .position(|known| known == revision)?;
        let idle = self.peers[slot].get_or_init(|| {
            let client = InitializeRequestParams::new(
                ClientCapabilities::default(),
                Implementation::default(),
            )
            .with_protocol_version(revision.clone());
            // rmcp runs the loop, for its whole life, in the span current
            // when it starts: here the first direct request's `mcp.request`,
            // which then stayed open until shutdown and was lost when the
            // trace exporter stopped first (devkit's traces test failed 7 of
            // 20 runs under load). Started with tracing off, it is no
            // request's.
            let start = || {
                serve_directly_with_ct(
                    Connector::new(self.state.clone()),
                    NoClient,
                    Some(client),
                    self.shutdown.child_token(),
                )
            };
            Idle(tracing::dispatcher::with_default(
                &tracing::Dispatch::none(),
                start,
            ))
        });
        Some(idle.0.peer().clone())
    }
}

/// `bytes` read as a `tools/call` or `tools/list` request, or `None`.
///
/// rmcp reads a message as an untagged union of every request it knows,
/// trying each in turn until one fits; `tools/call` is the fourteenth, and
/// the thirteen failures before it cost a tenth of a call's CPU. The two
/// requests answered here are read by their own types instead, with the
/// same deserialisers, so what either accepts is what rmcp's reading would
/// have made of it. Anything else is left to rmcp, which alone answers it.
fn hot_request(bytes: &[u8]) -> Option<JsonRpcRequest<ClientRequest>> {
    fn read_as<R: DeserializeOwned + Into<ClientRequest>>(
        bytes: &[u8],
    ) -> Option<JsonRpcRequest<ClientRequest>> {
        let JsonRpcRequest {
            jsonrpc,
            id,
            request,
        } = serde_json::from_slice::<JsonRpcRequest<R>>(bytes).ok()?;
        Some(JsonRpcRequest {
            jsonrpc,
            id,
            request: request.into(),
        })
    }
    read_as::<CallToolRequest>(bytes).or_else(|| read_as::<ListToolsRequest>(bytes))
}

/// The JSON-RPC answer as rmcp's JSON mode writes it.
fn json_reply(message: &ServerJsonRpcMessage, text_is_structured: bool) -> Response {
    match reply::write(message, text_is_structured) {
        Ok(body) => Response::builder()
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("a valid response"),
        Err(error) => {
            tracing::error!(%error, "could not serialise an answer");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "could not serialise the answer",
            )
        }
    }
}

fn unreadable_body() -> Response {
    plain(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Failed to read request body",
    )
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    Response::builder()
        .status(status)
        .body(Body::from(text))
        .expect("a valid response")
}

/// A call polled where it is awaited; if it is dropped before it is done,
/// the rest of it is spawned to finish (output discarded) and `abandoned`
/// is cancelled. Costs one allocation instead of a task per call.
struct RunsToEnd<F: Future<Output: Send> + Send + 'static> {
    call: Option<Pin<Box<F>>>,
    abandoned: CancellationToken,
}

impl<F: Future<Output: Send> + Send + 'static> RunsToEnd<F> {
    fn new(call: F, abandoned: CancellationToken) -> Self {
        Self {
            call: Some(Box::pin(call)),
            abandoned,
        }
    }
}

impl<F: Future<Output: Send> + Send + 'static> Future for RunsToEnd<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let Some(call) = self.call.as_mut() else {
            panic!("RunsToEnd polled after it finished");
        };
        let output = std::task::ready!(call.as_mut().poll(cx));
        self.call = None;
        Poll::Ready(output)
    }
}

impl<F: Future<Output: Send> + Send + 'static> Drop for RunsToEnd<F> {
    fn drop(&mut self) {
        if let Some(call) = self.call.take() {
            self.abandoned.cancel();
            // Outside a runtime (it is shutting down) there is nowhere to finish.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    call.await;
                });
            }
        }
    }
}

/// The idle loop's transport: nothing arrives, and nothing can be sent.
struct NoClient;

/// What sending on an idle loop's peer fails with.
#[derive(Debug, thiserror::Error)]
#[error("this request was answered directly: nothing can be sent to the client mid-call")]
struct NoClientError;

impl Transport<RoleServer> for NoClient {
    type Error = NoClientError;

    fn send(
        &mut self,
        _item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        std::future::ready(Err(NoClientError))
    }

    fn receive(&mut self) -> impl Future<Output = Option<ClientJsonRpcMessage>> + Send {
        std::future::pending()
    }

    fn close(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send {
        std::future::ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// What rmcp's own reading makes of `body`, where it is one of the two
    /// requests answered here.
    fn rmcp_reading(body: &str) -> Option<Value> {
        match serde_json::from_str::<ClientJsonRpcMessage>(body) {
            Ok(ClientJsonRpcMessage::Request(request))
                if matches!(
                    request.request,
                    ClientRequest::CallToolRequest(_) | ClientRequest::ListToolsRequest(_)
                ) =>
            {
                Some(serde_json::to_value(request).expect("serialises"))
            }
            _ => None,
        }
    }

    #[test]
    fn the_hot_requests_are_read_as_rmcp_reads_them_and_nothing_else_is() {
        let cases = [
            (
                true,
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"domain_get_item","arguments":{"id":"a1","session":"s"}}}"#,
            ),
            (
                true,
                r#"{"id":"x-7","method":"tools/call","jsonrpc":"2.0","params":{"_meta":{"progressToken":3},"name":"t","arguments":{"n":[1,2.5,{"deep":null}]}}}"#,
            ),
            (
                true,
                r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t"}}"#,
            ),
            (
                true,
                r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"t","arguments":null},"extra":true}"#,
            ),
            (true, r#"{"jsonrpc":"2.0","id":3,"method":"tools/list"}"#),
            (
                true,
                r#"{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"cursor":"c"}}"#,
            ),
            (
                false,
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}"#,
            ),
            (
                false,
                r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":["t"]}"#,
            ),
            (
                false,
                r#"{"jsonrpc":"1.0","id":5,"method":"tools/call","params":{"name":"t"}}"#,
            ),
            (
                false,
                r#"{"jsonrpc":"2.0","id":null,"method":"tools/list"}"#,
            ),
            (false, r#"{"jsonrpc":"2.0","method":"tools/list"}"#),
            (false, r#"{"jsonrpc":"2.0","id":6,"method":"ping"}"#),
            (
                false,
                r#"{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#,
            ),
            (
                false,
                r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            ),
            (false, r#"{"jsonrpc":"2.0","id":8,"result":{}}"#),
            (false, r#"[{"jsonrpc":"2.0","id":9,"method":"tools/list"}]"#),
            (false, "null"),
            (false, r#"{"jsonrpc":"2.0","id":1,"method":"tools/call""#),
        ];
        for (hot, body) in cases {
            let ours = hot_request(body.as_bytes())
                .map(|request| serde_json::to_value(request).expect("serialises"));
            assert_eq!(ours.is_some(), hot, "{body}");
            assert_eq!(ours, rmcp_reading(body), "{body}");
        }
    }
}
