//! Dynamic client registration requests (RFC 7591 §2 metadata, §3.1
//! request, §3.2.2 errors).
//!
//! MCP hosts register themselves on first contact, so the request is
//! untrusted input: every redirect URI goes through [`RedirectUri::parse`],
//! and only grant types, response types and authentication methods this
//! issuer implements are accepted. Issuing the client id and secret is the
//! caller's job.

use serde::{Deserialize, Serialize};

use crate::redirect::{RedirectError, RedirectUri};

/// The client metadata fields this issuer reads. Other fields (`logo_uri`,
/// `contacts`, software statements …) are ignored, as RFC 7591 §2 allows.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RegistrationRequest {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// How the client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A public client (MCP hosts usually are): no secret, PKCE instead.
    None,
    ClientSecretPost,
    ClientSecretBasic,
}

impl AuthMethod {
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "none" => Some(Self::None),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretPost => "client_secret_post",
            Self::ClientSecretBasic => "client_secret_basic",
        }
    }
}

/// A registration that passed every rule, with RFC 7591 §2 defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidatedRegistration {
    pub redirect_uris: Vec<RedirectUri>,
    pub client_name: Option<String>,
    pub grant_types: Vec<GrantType>,
    pub response_types: Vec<&'static str>,
    pub token_endpoint_auth_method: AuthMethod,
    pub scope: Option<String>,
}

/// Why a registration was refused; [`RegistrationError::code`] is the
/// RFC 7591 §3.2.2 error code, the message names the field and value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("redirect_uris: at least one is required for the authorization_code grant")]
    MissingRedirectUris,
    #[error("redirect_uris: `{uri}` {reason}")]
    InvalidRedirectUri { uri: String, reason: RedirectError },
    #[error("grant_types: must not be empty")]
    NoGrantTypes,
    #[error(
        "grant_types: `{0}` is not supported (supported: authorization_code, refresh_token, client_credentials)"
    )]
    UnsupportedGrantType(String),
    #[error("response_types: `{0}` is not supported (only `code`)")]
    UnsupportedResponseType(String),
    #[error(
        "response_types: `code` goes with grant type authorization_code and needs it (RFC 7591 §2.1)"
    )]
    InconsistentResponseTypes,
    #[error(
        "token_endpoint_auth_method: `{0}` is not supported (supported: none, client_secret_post, client_secret_basic)"
    )]
    UnsupportedAuthMethod(String),
    #[error(
        "token_endpoint_auth_method: `none` cannot be used with grant type client_credentials, which needs a secret"
    )]
    PublicClientCredentials,
    /// The body was not a JSON registration request at all.
    #[error("the registration request is not valid JSON metadata: {0}")]
    Malformed(String),
    /// Ours, not the client's: the registration could not be stored.
    #[error("the registration could not be stored; try again")]
    Server,
}

impl RegistrationError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingRedirectUris | Self::InvalidRedirectUri { .. } => "invalid_redirect_uri",
            Self::NoGrantTypes
            | Self::UnsupportedGrantType(_)
            | Self::UnsupportedResponseType(_)
            | Self::InconsistentResponseTypes
            | Self::UnsupportedAuthMethod(_)
            | Self::PublicClientCredentials
            | Self::Malformed(_) => "invalid_client_metadata",
            Self::Server => "server_error",
        }
    }
}

pub fn validate(req: RegistrationRequest) -> Result<ValidatedRegistration, RegistrationError> {
    // RFC 7591 §2: grant_types defaults to authorization_code.
    let grant_types = match req.grant_types {
        None => vec![GrantType::AuthorizationCode],
        Some(names) => parse_grant_types(&names)?,
    };
    let code_flow = grant_types.contains(&GrantType::AuthorizationCode);

    // RFC 7591 §2: response_types defaults to `code`; §2.1 asks that the two
    // lists agree, so `code` comes with authorization_code and only with it.
    let response_types = match req.response_types {
        None if code_flow => vec!["code"],
        None => Vec::new(),
        Some(names) => {
            if let Some(bad) = names.iter().find(|n| n.as_str() != "code") {
                return Err(RegistrationError::UnsupportedResponseType(bad.clone()));
            }
            // Every name is now `code`, so the list says "code flow" iff it is non-empty.
            let asks_for_code = !names.is_empty();
            if asks_for_code != code_flow {
                return Err(RegistrationError::InconsistentResponseTypes);
            }
            if code_flow { vec!["code"] } else { Vec::new() }
        }
    };

    // RFC 7591 §2 default; MCP hosts, being public clients, usually send "none".
    let token_endpoint_auth_method = match req.token_endpoint_auth_method.as_deref() {
        None => AuthMethod::ClientSecretBasic,
        Some(name) => AuthMethod::parse(name)
            .ok_or_else(|| RegistrationError::UnsupportedAuthMethod(name.to_owned()))?,
    };
    if token_endpoint_auth_method == AuthMethod::None
        && grant_types.contains(&GrantType::ClientCredentials)
    {
        return Err(RegistrationError::PublicClientCredentials);
    }

    if code_flow && req.redirect_uris.is_empty() {
        return Err(RegistrationError::MissingRedirectUris);
    }
    let redirect_uris = req
        .redirect_uris
        .iter()
        .map(|uri| {
            RedirectUri::parse(uri).map_err(|reason| RegistrationError::InvalidRedirectUri {
                uri: uri.clone(),
                reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;

    Ok(ValidatedRegistration {
        redirect_uris,
        client_name: req.client_name,
        grant_types,
        response_types,
        token_endpoint_auth_method,
        scope: req.scope,
    })
}

fn parse_grant_types(names: &[String]) -> Result<Vec<GrantType>, RegistrationError> {
    if names.is_empty() {
        return Err(RegistrationError::NoGrantTypes);
    }
    let mut grants = Vec::new();
    for name in names {
        let grant = GrantType::parse(name)
            .ok_or_else(|| RegistrationError::UnsupportedGrantType(name.clone()))?;
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    Ok(grants)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CLAUDE: &str = "https://claude.ai/api/mcp/auth_callback";

    fn request(body: serde_json::Value) -> RegistrationRequest {
        serde_json::from_value(body).expect("registration request JSON")
    }

    fn refused(body: serde_json::Value) -> RegistrationError {
        validate(request(body)).expect_err("registration should be refused")
    }

    #[test]
    fn a_typical_mcp_host_registration_is_accepted() {
        let reg = validate(request(json!({
            "redirect_uris": [CLAUDE],
            "client_name": "Claude",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "notes:read"
        })))
        .expect("valid registration");
        assert_eq!(reg.redirect_uris.len(), 1);
        assert_eq!(reg.redirect_uris[0].as_str(), CLAUDE);
        assert_eq!(reg.client_name.as_deref(), Some("Claude"));
        assert_eq!(
            reg.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(reg.response_types, ["code"]);
        assert_eq!(reg.token_endpoint_auth_method, AuthMethod::None);
        assert_eq!(reg.scope.as_deref(), Some("notes:read"));
    }

    #[test]
    fn omitted_fields_take_the_rfc_7591_defaults() {
        let reg = validate(request(json!({ "redirect_uris": [CLAUDE] }))).expect("valid");
        assert_eq!(reg.grant_types, [GrantType::AuthorizationCode]);
        assert_eq!(reg.response_types, ["code"]);
        assert_eq!(
            reg.token_endpoint_auth_method,
            AuthMethod::ClientSecretBasic
        );
        assert_eq!(reg.client_name, None);
        assert_eq!(reg.scope, None);
    }

    #[test]
    fn unknown_metadata_fields_are_ignored() {
        let reg = validate(request(json!({
            "redirect_uris": [CLAUDE],
            "logo_uri": "https://claude.ai/logo.png",
            "contacts": ["ops@example.com"],
            "software_id": "x"
        })));
        assert!(reg.is_ok());
    }

    #[test]
    fn each_auth_method_is_accepted() {
        for method in ["none", "client_secret_post", "client_secret_basic"] {
            let reg = validate(request(json!({
                "redirect_uris": [CLAUDE],
                "token_endpoint_auth_method": method
            })))
            .expect(method);
            assert_eq!(reg.token_endpoint_auth_method.as_str(), method);
        }
    }

    #[test]
    fn a_code_flow_client_needs_a_redirect_uri() {
        let err = refused(json!({ "redirect_uris": [] }));
        assert_eq!(err, RegistrationError::MissingRedirectUris);
        assert_eq!(err.code(), "invalid_redirect_uri");
        let err = refused(json!({}));
        assert_eq!(err, RegistrationError::MissingRedirectUris);
    }

    #[test]
    fn a_client_credentials_client_needs_no_redirect_uri() {
        let reg = validate(request(json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "client_secret_post"
        })))
        .expect("valid machine client");
        assert!(reg.redirect_uris.is_empty());
        assert!(reg.response_types.is_empty());
    }

    #[test]
    fn native_and_hosted_callbacks_are_accepted() {
        let uris = [
            CLAUDE,
            "https://chatgpt.com/connector_platform_oauth_redirect",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "vscode://vscode.github-authentication/did-authenticate",
            "com.example.app:/oauth2redirect",
            "http://127.0.0.1:33418/",
        ];
        let reg = validate(request(json!({ "redirect_uris": uris }))).expect("valid");
        let registered: Vec<&str> = reg.redirect_uris.iter().map(RedirectUri::as_str).collect();
        assert_eq!(registered, uris);
    }

    #[test]
    fn every_redirect_uri_must_pass_the_redirect_rules() {
        for bad in [
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "mycallback://cb",
            "http://evil.example/cb",
            "https://claude.ai/cb#frag",
            "/relative",
        ] {
            let err = refused(json!({ "redirect_uris": [CLAUDE, bad] }));
            assert_eq!(err.code(), "invalid_redirect_uri", "{bad}");
            assert!(err.to_string().contains("redirect_uris"), "{err}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn an_unsupported_grant_type_is_refused() {
        for bad in [
            "implicit",
            "password",
            "urn:ietf:params:oauth:grant-type:device_code",
        ] {
            let err = refused(json!({ "redirect_uris": [CLAUDE], "grant_types": [bad] }));
            assert_eq!(err, RegistrationError::UnsupportedGrantType(bad.into()));
            assert_eq!(err.code(), "invalid_client_metadata");
            assert!(err.to_string().contains("grant_types"));
            assert!(err.to_string().contains(bad));
        }
    }

    #[test]
    fn an_empty_grant_type_list_is_refused() {
        let err = refused(json!({ "redirect_uris": [CLAUDE], "grant_types": [] }));
        assert_eq!(err, RegistrationError::NoGrantTypes);
        assert_eq!(err.code(), "invalid_client_metadata");
    }

    #[test]
    fn repeated_grant_types_are_kept_once() {
        let reg = validate(request(json!({
            "redirect_uris": [CLAUDE],
            "grant_types": ["authorization_code", "authorization_code"]
        })))
        .expect("valid");
        assert_eq!(reg.grant_types, [GrantType::AuthorizationCode]);
    }

    #[test]
    fn only_the_code_response_type_is_accepted() {
        for bad in ["token", "id_token", "code id_token"] {
            let err = refused(json!({ "redirect_uris": [CLAUDE], "response_types": [bad] }));
            assert_eq!(err, RegistrationError::UnsupportedResponseType(bad.into()));
            assert_eq!(err.code(), "invalid_client_metadata");
            assert!(err.to_string().contains("response_types"));
            assert!(err.to_string().contains(bad));
        }
    }

    #[test]
    fn response_types_must_agree_with_grant_types() {
        // authorization_code without `code` …
        let err = refused(json!({ "redirect_uris": [CLAUDE], "response_types": [] }));
        assert_eq!(err, RegistrationError::InconsistentResponseTypes);
        assert_eq!(err.code(), "invalid_client_metadata");
        // … and `code` without authorization_code.
        let err = refused(json!({
            "grant_types": ["client_credentials"],
            "response_types": ["code"]
        }));
        assert_eq!(err, RegistrationError::InconsistentResponseTypes);
    }

    #[test]
    fn an_unsupported_auth_method_is_refused() {
        for bad in [
            "private_key_jwt",
            "tls_client_auth",
            "client_secret_jwt",
            "",
        ] {
            let err = refused(json!({
                "redirect_uris": [CLAUDE],
                "token_endpoint_auth_method": bad
            }));
            assert_eq!(err, RegistrationError::UnsupportedAuthMethod(bad.into()));
            assert_eq!(err.code(), "invalid_client_metadata");
            assert!(err.to_string().contains("token_endpoint_auth_method"));
        }
    }

    #[test]
    fn a_public_client_cannot_use_client_credentials() {
        let err = refused(json!({
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "none"
        }));
        assert_eq!(err, RegistrationError::PublicClientCredentials);
        assert_eq!(err.code(), "invalid_client_metadata");
    }

    #[test]
    fn the_validated_registration_serializes_as_rfc_7591_metadata() {
        let reg = validate(request(json!({
            "redirect_uris": [CLAUDE],
            "token_endpoint_auth_method": "none"
        })))
        .expect("valid");
        let value = serde_json::to_value(reg).expect("serialize");
        assert_eq!(value["redirect_uris"], json!([CLAUDE]));
        assert_eq!(value["grant_types"], json!(["authorization_code"]));
        assert_eq!(value["response_types"], json!(["code"]));
        assert_eq!(value["token_endpoint_auth_method"], json!("none"));
    }
}
