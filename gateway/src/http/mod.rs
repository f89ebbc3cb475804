//! The HTTP layer: one `router()` per concern, composed here.
//!
//! Only this layer knows axum and the wire; the protocol decisions it
//! applies live in [`crate::auth`], [`crate::session`] and [`crate::tools`].

pub mod auth;
pub mod error;
pub mod health;
pub mod mcp;
pub mod metadata;
pub mod metrics;
pub mod origin;
pub mod serve;

use std::{sync::Arc, time::Duration};

use axum::Router;
use http::{
    HeaderName, Method, StatusCode,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE},
};
use tower_http::{
    cors::{Any, CorsLayer},
    timeout::TimeoutLayer,
};

use crate::tools::AppState;

pub fn router(
    state: Arc<AppState>,
    guard: Arc<auth::Guard>,
    metadata: (metadata::ResourceMetadata, &url::Url),
    transport: mcp::TransportOptions,
    readiness: health::Readiness,
    request_timeout: Duration,
) -> Router {
    Router::new()
        .merge(mcp::router(state, guard, transport))
        .merge(metadata::router(metadata.0, metadata.1))
        .merge(health::router(readiness))
        // A request still arriving or unanswered after this (a stalled
        // body, say) ends with 408; `serve` bounds the head the same way.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(cors())
}

/// Browser-based MCP clients (the MCP Inspector, web hosts) call from another
/// origin and must read our 401 challenge. Identity travels in a bearer
/// header, never a cookie, so any origin may read answers; which origins may
/// act at all is still decided by the Origin allow-list in front of rmcp.
pub fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([
            AUTHORIZATION,
            CONTENT_TYPE,
            ACCEPT,
            HeaderName::from_static("mcp-protocol-version"),
            HeaderName::from_static("mcp-session-id"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([WWW_AUTHENTICATE, HeaderName::from_static("mcp-session-id")])
        .max_age(Duration::from_secs(600))
}
