//! `GET /metrics` (Prometheus text format). Never public: on the gateway's
//! own port it answers only requests addressed to a loopback host, so through
//! `devkit up`'s tunnel (where `Host` is the public name) it is a 404. For a
//! scraper on another machine, `METRICS_ADDR` serves it on a port of its own
//! instead, which the operator keeps off the internet.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};

use crate::metrics::{CONTENT_TYPE, Metrics};

/// Where `/metrics` is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// On the gateway's port, for loopback hosts only.
    LoopbackOnly,
    /// On a listener of its own (`METRICS_ADDR`): whoever reaches it.
    OwnListener,
}

pub fn router(metrics: Arc<Metrics>, exposure: Exposure) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state((metrics, exposure))
}

async fn render(
    State((metrics, exposure)): State<(Arc<Metrics>, Exposure)>,
    headers: HeaderMap,
) -> Response {
    if exposure == Exposure::LoopbackOnly && !loopback_host(&headers) {
        return StatusCode::NOT_FOUND.into_response();
    }
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.render()).into_response()
}

/// `Host` names 127.0.0.1, [::1] or localhost (any port).
fn loopback_host(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    matches!(name, "127.0.0.1" | "[::1]" | "localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_host(host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().expect("header"));
        headers
    }

    #[test]
    fn only_loopback_hosts_count_as_local() {
        for local in ["127.0.0.1:8000", "localhost", "[::1]:9", "localhost:1"] {
            assert!(loopback_host(&with_host(local)), "{local}");
        }
        for public in [
            "x.trycloudflare.com",
            "localhost.evil.example",
            "127.0.0.1.nip.io:80",
            "[::1]x",
        ] {
            assert!(!loopback_host(&with_host(public)), "{public}");
        }
        assert!(!loopback_host(&HeaderMap::new()));
    }
}
