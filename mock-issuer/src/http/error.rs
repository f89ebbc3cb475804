//! The issuer's HTTP boundary error: every refusal, rendered the way its
//! RFC wants it (JSON for machines, a page for people, a redirect for the
//! client when the redirect URI is trusted).

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde_json::json;

use crate::{exchange::TokenError, page, registration::RegistrationError};

#[derive(Debug)]
pub enum Rejection {
    /// RFC 6749 §5.2, from the token endpoint.
    Token(TokenError),
    /// RFC 7591 §3.2.2, from the registration endpoint.
    Registration(RegistrationError),
    /// A page for the person (errors that must not be redirected).
    Page(StatusCode, String),
    /// Back to the client's redirect URI with `error=`.
    Redirect(String),
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        match self {
            Self::Token(e) => {
                let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
                let mut response = (
                    status,
                    Json(json!({"error": e.code(), "error_description": e.to_string()})),
                )
                    .into_response();
                let headers = response.headers_mut();
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                // RFC 6749 §5.2: a failed Basic authentication gets a Basic challenge.
                if matches!(
                    e,
                    TokenError::InvalidClient {
                        used_basic: true,
                        ..
                    }
                ) {
                    headers.insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Basic realm=\"oauth\""),
                    );
                }
                response
            }
            Self::Registration(e) => (
                if matches!(e, RegistrationError::Server) {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::BAD_REQUEST
                },
                Json(json!({"error": e.code(), "error_description": e.to_string()})),
            )
                .into_response(),
            Self::Page(status, message) => (status, Html(page::error(&message))).into_response(),
            Self::Redirect(url) => Redirect::to(&url).into_response(),
        }
    }
}
