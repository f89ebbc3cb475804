//! The HTTP layer: one `router()` per concern, composed here.
//!
//! Only this layer knows axum and the wire; the protocol decisions it
//! applies live in [`crate::auth`], [`crate::session`] and [`crate::tools`].

pub mod auth;
mod direct;
pub mod error;
pub mod health;
pub mod mcp;
pub mod metadata;
pub mod metrics;
pub mod origin;
mod reply;

use std::{sync::Arc, time::Duration};

use axum::Router;
use http::StatusCode;
use kit_serve::cors;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

use crate::tools::AppState;

pub fn router(
    state: Arc<AppState>,
    guard: Arc<auth::Guard>,
    metadata: (metadata::ResourceMetadata, &url::Url),
    transport: mcp::TransportOptions,
    readiness: health::Readiness,
    request_timeout: Duration,
) -> Router {
    let activity = transport.activity.clone();
    Router::new()
        .merge(mcp::router(state, guard, transport))
        .merge(metadata::router(metadata.0, metadata.1, activity))
        .merge(health::router(readiness))
        // One `layer` call for both: axum boxes each route once per call.
        .layer(ServiceBuilder::new().layer(cors()).layer(
            // A request still arriving or unanswered after this (a
            // stalled body, say) ends with 408; `serve` bounds the head
            // the same way.
            TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout),
        ))
}
