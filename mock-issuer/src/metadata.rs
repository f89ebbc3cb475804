//! The authorization server metadata document (RFC 8414 §2), served at
//! `/.well-known/oauth-authorization-server` and, with the same content, at
//! `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 §3).
//!
//! MCP hosts read this document to find every other endpoint, so what it
//! promises must be exactly what the issuer does: S256 only, the RFC 9207
//! `iss` response parameter, and client ID metadata documents.

use serde::Serialize;
use url::Url;

/// RFC 8414 §2 fields, plus the OIDC Discovery fields a relying party
/// requires (`subject_types_supported`, `id_token_signing_alg_values_supported`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizationServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub registration_endpoint: String,
    pub jwks_uri: String,
    pub response_types_supported: &'static [&'static str],
    pub grant_types_supported: &'static [&'static str],
    pub code_challenge_methods_supported: &'static [&'static str],
    pub token_endpoint_auth_methods_supported: &'static [&'static str],
    pub scopes_supported: Vec<String>,
    pub client_id_metadata_document_supported: bool,
    /// RFC 9207: the authorization response carries `iss`, against mix-up attacks.
    pub authorization_response_iss_parameter_supported: bool,
    pub subject_types_supported: &'static [&'static str],
    pub id_token_signing_alg_values_supported: &'static [&'static str],
}

/// Grant types this issuer implements; registration accepts only these.
pub const GRANT_TYPES: &[&str] = &["authorization_code", "refresh_token", "client_credentials"];

/// Token endpoint client authentication methods; `none` is for public
/// clients such as MCP hosts, which prove possession with PKCE instead.
pub const TOKEN_ENDPOINT_AUTH_METHODS: &[&str] =
    &["none", "client_secret_post", "client_secret_basic"];

impl AuthorizationServerMetadata {
    pub fn for_issuer(issuer: &Url, scopes: &[&str]) -> Self {
        let issuer = issuer_string(issuer);
        let base = issuer.trim_end_matches('/');
        Self {
            authorization_endpoint: format!("{base}/oauth/authorize"),
            token_endpoint: format!("{base}/oauth/token"),
            registration_endpoint: format!("{base}/oauth/register"),
            jwks_uri: format!("{base}/.well-known/jwks.json"),
            response_types_supported: &["code"],
            grant_types_supported: GRANT_TYPES,
            code_challenge_methods_supported: &[crate::pkce::S256],
            token_endpoint_auth_methods_supported: TOKEN_ENDPOINT_AUTH_METHODS,
            scopes_supported: scopes.iter().map(|s| (*s).to_owned()).collect(),
            client_id_metadata_document_supported: true,
            authorization_response_iss_parameter_supported: true,
            subject_types_supported: &["public"],
            id_token_signing_alg_values_supported: &["RS256"],
            issuer,
        }
    }
}

/// `Url` always writes a root path as `/`, but the issuer identifier
/// compared by clients (RFC 8414 §3.3, the `iss` claim) is the bare origin.
/// An issuer with a path is kept exactly as configured.
fn issuer_string(issuer: &Url) -> String {
    let text = issuer.as_str();
    if issuer.path() == "/" && issuer.query().is_none() && issuer.fragment().is_none() {
        text.trim_end_matches('/').to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn document(issuer: &str) -> Value {
        let issuer = Url::parse(issuer).expect("issuer URL");
        let metadata = AuthorizationServerMetadata::for_issuer(&issuer, &["openid", "notes:read"]);
        serde_json::to_value(metadata).expect("serialize")
    }

    #[test]
    fn a_root_issuer_has_no_trailing_slash() {
        let doc = document("https://auth.example.com");
        assert_eq!(doc["issuer"], "https://auth.example.com");
        let doc = document("https://auth.example.com/");
        assert_eq!(doc["issuer"], "https://auth.example.com");
        let doc = document("http://127.0.0.1:9000");
        assert_eq!(doc["issuer"], "http://127.0.0.1:9000");
    }

    #[test]
    fn an_issuer_with_a_path_is_kept_as_given() {
        let doc = document("https://auth.example.com/tenant");
        assert_eq!(doc["issuer"], "https://auth.example.com/tenant");
        assert_eq!(
            doc["token_endpoint"],
            "https://auth.example.com/tenant/oauth/token"
        );
    }

    #[test]
    fn endpoints_hang_off_the_issuer() {
        let doc = document("https://auth.example.com/");
        assert_eq!(
            doc["authorization_endpoint"],
            "https://auth.example.com/oauth/authorize"
        );
        assert_eq!(
            doc["token_endpoint"],
            "https://auth.example.com/oauth/token"
        );
        assert_eq!(
            doc["registration_endpoint"],
            "https://auth.example.com/oauth/register"
        );
        assert_eq!(
            doc["jwks_uri"],
            "https://auth.example.com/.well-known/jwks.json"
        );
    }

    #[test]
    fn only_the_code_flow_with_s256_is_advertised() {
        let doc = document("https://auth.example.com");
        assert_eq!(doc["response_types_supported"], json!(["code"]));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(
            doc["grant_types_supported"],
            json!(["authorization_code", "refresh_token", "client_credentials"])
        );
    }

    #[test]
    fn client_auth_methods_include_none_for_public_clients() {
        let doc = document("https://auth.example.com");
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            json!(["none", "client_secret_post", "client_secret_basic"])
        );
    }

    #[test]
    fn scopes_are_listed_as_configured() {
        let doc = document("https://auth.example.com");
        assert_eq!(doc["scopes_supported"], json!(["openid", "notes:read"]));
    }

    #[test]
    fn cimd_and_rfc_9207_iss_support_are_advertised() {
        let doc = document("https://auth.example.com");
        assert_eq!(doc["client_id_metadata_document_supported"], json!(true));
        assert_eq!(
            doc["authorization_response_iss_parameter_supported"],
            json!(true)
        );
    }

    #[test]
    fn oidc_discovery_fields_are_present() {
        let doc = document("https://auth.example.com");
        assert_eq!(doc["subject_types_supported"], json!(["public"]));
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            json!(["RS256"])
        );
    }

    #[test]
    fn the_document_has_exactly_the_promised_fields() {
        let doc = document("https://auth.example.com");
        let mut keys: Vec<&str> = doc
            .as_object()
            .expect("a JSON object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "authorization_endpoint",
                "authorization_response_iss_parameter_supported",
                "client_id_metadata_document_supported",
                "code_challenge_methods_supported",
                "grant_types_supported",
                "id_token_signing_alg_values_supported",
                "issuer",
                "jwks_uri",
                "registration_endpoint",
                "response_types_supported",
                "scopes_supported",
                "subject_types_supported",
                "token_endpoint",
                "token_endpoint_auth_methods_supported",
            ]
        );
    }
}
