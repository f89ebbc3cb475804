//! The CORS policy of every route the kit serves.

use std::time::Duration;

use http::{
    HeaderName, Method,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE},
};
use tower_http::cors::{Any, CorsLayer};

/// Browser-based MCP clients (the MCP Inspector, web hosts) call the
/// connector, discover its issuer, register and redeem codes from their own
/// origin, and must read the 401 challenge. Identity travels in a bearer
/// header, never a cookie, so any origin may read answers; which origins may
/// act at all is the gateway's Origin allow-list's decision, and the consent
/// page is a navigation, not a fetch. Clients send `MCP-Protocol-Version` to
/// the discovery documents too, so the issuer's routes allow the MCP headers
/// as well.
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

#[cfg(test)]
mod tests {
    use axum::{Router, body::Body, routing::get};
    use http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    fn app() -> Router {
        Router::new()
            .route("/mcp", get(|| async { "ok" }))
            .layer(cors())
    }

    #[tokio::test]
    async fn a_browser_client_may_send_the_mcp_headers() {
        let preflight = Request::builder()
            .method(Method::OPTIONS)
            .uri("/mcp")
            .header("origin", "https://inspector.example")
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type, mcp-protocol-version",
            )
            .body(Body::empty())
            .expect("request");
        let answer = app().oneshot(preflight).await.expect("answer");
        assert_eq!(answer.status(), StatusCode::OK);
        let allowed = answer.headers()["access-control-allow-headers"]
            .to_str()
            .expect("text");
        assert!(allowed.contains("mcp-protocol-version"), "{allowed}");
        assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    }

    #[tokio::test]
    async fn a_browser_client_may_read_the_challenge() {
        let request = Request::builder()
            .uri("/mcp")
            .header("origin", "https://inspector.example")
            .body(Body::empty())
            .expect("request");
        let answer = app().oneshot(request).await.expect("answer");
        let exposed = answer.headers()["access-control-expose-headers"]
            .to_str()
            .expect("text");
        assert!(exposed.contains("www-authenticate"), "{exposed}");
    }
}
