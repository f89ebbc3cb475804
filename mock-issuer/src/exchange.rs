//! The token endpoint's wire types (RFC 6749 §3.2, §5.1, §5.2): the form a
//! client posts, the JSON it gets back, and the errors with their codes.

use serde::{Deserialize, Serialize};

use crate::grants::GrantError;

/// `POST /oauth/token`, `application/x-www-form-urlencoded`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
}

/// RFC 6749 §5.1.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub scope: String,
}

/// RFC 6749 §5.2 (and RFC 8707 §2 `invalid_target`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{0}")]
    InvalidRequest(String),
    /// Unknown client or failed authentication: a host should register again.
    #[error("{description}")]
    InvalidClient {
        description: String,
        used_basic: bool,
    },
    #[error("{0}")]
    InvalidGrant(String),
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("grant_type must be authorization_code, refresh_token or client_credentials")]
    UnsupportedGrantType,
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidTarget(String),
    #[error("the sign-in service failed; try again")]
    Server,
}

/// RFC 6749 §5.2: every way a code or refresh token fails is `invalid_grant`.
impl From<GrantError> for TokenError {
    fn from(e: GrantError) -> Self {
        Self::InvalidGrant(e.to_string())
    }
}

impl TokenError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient { .. } => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::Server => "server_error",
        }
    }

    /// 401 for client authentication failures, 500 for ours, 400 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            Self::InvalidClient { .. } => 401,
            Self::Server => 500,
            _ => 400,
        }
    }
}
