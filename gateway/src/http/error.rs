//! The HTTP boundary's one error type: why a request to `/mcp` was refused
//! before it reached the tools, rendered as RFC 6750 / RFC 9728 challenges.

use std::sync::Arc;

use axum::{
    Json,
    response::{IntoResponse, Response},
};
use http::{HeaderValue, StatusCode, header::WWW_AUTHENTICATE};
use serde_json::json;

use crate::auth::TokenError;

/// A refused request. Carries what the challenge must point to.
#[derive(Debug)]
pub struct AuthRejection {
    pub reason: Reason,
    /// Absolute URL of our RFC 9728 metadata, for `resource_metadata=`.
    pub resource_metadata: Arc<str>,
    /// Space-separated scopes to ask for, for `scope=` (RFC 6750 §3): on a
    /// 401 so a host requests them when it signs in, on a 403 so it asks again.
    pub scope: Arc<str>,
}

#[derive(Debug)]
pub enum Reason {
    /// No credentials: a bare challenge, no error code (RFC 6750 §3.1).
    Missing,
    /// `Authorization` present but not one well-formed Bearer header.
    BadHeader,
    Token(TokenError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        let meta = &self.resource_metadata;
        // Scope tokens are ASCII without quotes or backslashes (RFC 6749 §3.3).
        let scope = match &*self.scope {
            "" => String::new(),
            scope => format!(r#", scope="{scope}""#),
        };
        let (status, challenge, body) = match &self.reason {
            Reason::Missing => (
                StatusCode::UNAUTHORIZED,
                format!(r#"Bearer resource_metadata="{meta}"{scope}"#),
                json!({"error": "unauthorized", "error_description": "an access token is required"}),
            ),
            Reason::BadHeader => invalid_token(
                meta,
                &scope,
                "send exactly one `Authorization: Bearer <token>` header",
            ),
            Reason::Token(TokenError::InsufficientScope) => {
                let scope = &self.scope;
                (
                    StatusCode::FORBIDDEN,
                    format!(
                        r#"Bearer error="insufficient_scope", scope="{scope}", resource_metadata="{meta}", error_description="the token lacks a required scope""#
                    ),
                    json!({"error": "insufficient_scope", "error_description": format!("required scopes: {scope}")}),
                )
            }
            // We could not check the token (the issuer's keys are out of reach):
            // not the client's fault, so no challenge that would make it sign in again.
            Reason::Token(e) if e.is_unavailable() => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(http::header::RETRY_AFTER, HeaderValue::from_static("5"))],
                    Json(json!({"error": "temporarily_unavailable", "error_description": "sign-in cannot be checked right now; try again shortly"})),
                )
                    .into_response();
            }
            Reason::Token(e) => invalid_token(meta, &scope, &e.to_string()),
        };
        let mut response = (status, Json(body)).into_response();
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response.headers_mut().insert(WWW_AUTHENTICATE, value);
        }
        response
    }
}

/// `scope` is empty or `, scope="…"`.
fn invalid_token(
    meta: &str,
    scope: &str,
    description: &str,
) -> (StatusCode, String, serde_json::Value) {
    (
        StatusCode::UNAUTHORIZED,
        format!(
            r#"Bearer error="invalid_token", error_description="{description}", resource_metadata="{meta}"{scope}"#
        ),
        json!({"error": "invalid_token", "error_description": description}),
    )
}
