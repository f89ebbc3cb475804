//! The CORS policy of every route the kit serves, applied where a browser
//! asked for it.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
    time::Duration,
};

use http::{
    HeaderName, HeaderValue, Method, Request, Response,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, ORIGIN, VARY, WWW_AUTHENTICATE},
};
use tower::{Layer, Service};
use tower_http::cors::{self, Any, CorsLayer};

/// Browser-based MCP clients (the MCP Inspector, web hosts) call the
/// connector, discover its issuer, register and redeem codes from their own
/// origin, and must read the 401 challenge. Identity travels in a bearer
/// header, never a cookie, so any origin may read answers; which origins may
/// act at all is the gateway's Origin allow-list's decision, and the consent
/// page is a navigation, not a fetch. Clients send `MCP-Protocol-Version` to
/// the discovery documents too, so the issuer's routes allow the MCP headers
/// as well.
///
/// A request without an `Origin` header is answered without CORS headers:
/// browsers send `Origin` on every cross-origin request and every preflight,
/// so no one would read them, and most calls come from hosts' servers and
/// command-line clients, each of which would pay for building them. Such an
/// answer says `Vary: Origin`, so a cache never hands it to a browser.
pub fn cors() -> Cors {
    Cors {
        policy: Arc::new(
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
                .max_age(Duration::from_secs(600)),
        ),
    }
}

/// The layer [`cors()`] returns.
#[derive(Debug, Clone)]
pub struct Cors {
    policy: Arc<CorsLayer>,
}

impl<S> Layer<S> for Cors {
    type Service = CorsService<S>;

    fn layer(&self, inner: S) -> CorsService<S> {
        CorsService {
            policy: self.policy.clone(),
            inner,
        }
    }
}

/// A service behind [`Cors`]: tower-http's policy for requests with an
/// `Origin`, the service itself for the rest. The policy is shared, not
/// cloned with the service for each request.
#[derive(Debug, Clone)]
pub struct CorsService<S> {
    policy: Arc<CorsLayer>,
    inner: S,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CorsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        match request.headers().contains_key(ORIGIN) {
            true => {
                // The policy wraps the service that was made ready, leaving
                // a clone in its place (tower's way to move a ready service).
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                CorsFuture::Browser {
                    answer: self.policy.layer(ready).call(request),
                }
            }
            false => CorsFuture::Other {
                answer: self.inner.call(request),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The answer of a [`CorsService`].
    #[project = Projected]
    pub enum CorsFuture<F> {
        Browser { #[pin] answer: cors::ResponseFuture<F> },
        Other { #[pin] answer: F },
    }
}

impl<F, ResBody, E> Future for CorsFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: Default,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Browser { answer } => answer.poll(cx),
            Projected::Other { answer } => {
                let mut response = ready!(answer.poll(cx))?;
                response
                    .headers_mut()
                    .append(VARY, HeaderValue::from_static("origin"));
                Poll::Ready(Ok(response))
            }
        }
    }
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

    #[tokio::test]
    async fn a_call_without_an_origin_gets_no_cors_headers_and_varies_on_origin() {
        let request = Request::builder()
            .uri("/mcp")
            .body(Body::empty())
            .expect("request");
        let answer = app().oneshot(request).await.expect("answer");
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(
            !answer
                .headers()
                .keys()
                .any(|name| name.as_str().starts_with("access-control-")),
            "{:?}",
            answer.headers()
        );
        assert_eq!(answer.headers()["vary"], "origin");
        let body = axum::body::to_bytes(answer.into_body(), 64)
            .await
            .expect("body");
        assert_eq!(&body[..], b"ok");
    }
}
