//! The HTTP layer: one `router()` per concern, composed here.
//!
//! Only this layer knows axum and the wire; the protocol decisions it
//! applies live in [`crate::auth`], [`crate::session`] and [`crate::tools`].

pub mod auth;
pub mod error;
pub mod health;
pub mod mcp;
pub mod metadata;

use std::{sync::Arc, time::Duration};

use axum::Router;
use http::StatusCode;
use tower_http::timeout::TimeoutLayer;

use crate::{store::Store, tools::AppState};

/// A request that takes longer than this (a stalled body, say) is ended with 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(
    state: Arc<AppState>,
    guard: Arc<auth::Guard>,
    metadata: (metadata::ResourceMetadata, &url::Url),
    transport: mcp::TransportOptions,
    store: Store,
) -> Router {
    Router::new()
        .merge(mcp::router(state, guard, transport))
        .merge(metadata::router(metadata.0, metadata.1))
        .merge(health::router(store))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}
