//! Probes for operators: `/healthz` (the process answers) and `/readyz`
//! (the database answers and the issuer's keys are loaded, so a request
//! sent here now can be served).

use std::sync::Arc;

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};

use crate::{
    auth::keys::{KeyStore, KeysStatus},
    store::Store,
};

/// What `/readyz` asks.
#[derive(Debug, Clone)]
pub struct Readiness {
    pub store: Store,
    /// `None` in demo mode, where no token is checked.
    pub keys: Option<Arc<KeyStore>>,
}

pub fn router(readiness: Readiness) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({"status": "alive"})) }),
        )
        .route("/readyz", get(ready))
        .with_state(readiness)
}

async fn ready(State(readiness): State<Readiness>) -> (StatusCode, Json<Value>) {
    let unavailable = |status: &str, reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": status, "reason": reason})),
        )
    };
    if let Err(e) = readiness.store.ping().await {
        tracing::warn!(error = %kit_serve::error_chain(&e), "readiness check failed");
        return unavailable("unavailable", "the database is unreachable".into());
    }
    match readiness.keys.as_deref().map(KeyStore::status) {
        None | Some(KeysStatus::Loaded) => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Some(KeysStatus::Fetching) => {
            unavailable("starting", "fetching the issuer's signing keys".into())
        }
        // The problem names the issuer's URL and the HTTP failure, never a token.
        Some(KeysStatus::Unavailable(problem)) => {
            if let Some(keys) = readiness.keys.clone() {
                tokio::spawn(async move { keys.retry_if_due().await });
            }
            unavailable(
                "unavailable",
                format!("the issuer's signing keys cannot be fetched: {problem}"),
            )
        }
    }
}
