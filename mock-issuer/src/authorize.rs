//! The authorization request (RFC 6749 §4.1.1 as tightened by OAuth 2.1
//! §4.1.1): checked once, in the order that decides where errors go.
//!
//! RFC 6749 §4.1.2.1: while the client or its redirect URI is in doubt, an
//! error must not be sent to that URI (it could be an open redirector), so
//! it is shown to the person instead. Once both are trusted, every other
//! error goes back to the client with `state` and RFC 9207 `iss`.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::{clients::Client, pkce::CodeChallenge};

/// The query of `GET /oauth/authorize` (and the hidden fields of the consent form).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub scope: Option<String>,
    /// RFC 8707: the protected resource the token is for.
    pub resource: Option<String>,
}

/// A request that may be shown to the person for approval.
#[derive(Debug, Clone)]
pub struct ValidRequest {
    pub client: Client,
    /// Where the code goes.
    pub redirect_uri: String,
    /// Whether the request named it (the token request must then repeat it).
    pub redirect_uri_given: bool,
    pub state: Option<String>,
    pub challenge: CodeChallenge,
    pub scope: String,
    pub audience: String,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Shown as a page; the redirect URI is not trusted.
    Page(String),
    /// Sent to the client's redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: &'static str,
        description: String,
    },
}

/// What the issuer allows, for checking requests.
#[derive(Debug, Clone)]
pub struct Policy {
    pub scopes_supported: Vec<String>,
    /// The `aud` when a request names no `resource`; without one, `resource` is required.
    pub default_audience: Option<String>,
}

/// Checks `params` for `client` (`None`: no such client).
pub fn check(
    params: &AuthorizeParams,
    client: Option<Client>,
    policy: &Policy,
) -> Result<ValidRequest, AuthorizeError> {
    let client = match (&params.client_id, client) {
        (None, _) => return Err(AuthorizeError::Page("the request has no client_id".into())),
        (Some(_), None) => {
            return Err(AuthorizeError::Page(
                "this application is not registered with the sign-in service (unknown client_id); \
                 remove the connector and add it again so it can register"
                    .into(),
            ));
        }
        (Some(_), Some(client)) => client,
    };
    let redirect_uri = client
        .redirect_for(params.redirect_uri.as_deref())
        .ok_or_else(|| {
            AuthorizeError::Page(match &params.redirect_uri {
                Some(_) => "the redirect_uri is not one this application registered".into(),
                None => "the request must name its redirect_uri".into(),
            })
        })?;
    let refuse = |error: &'static str, description: String| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: params.state.clone(),
        error,
        description,
    };
    if params.response_type.as_deref() != Some("code") {
        return Err(refuse(
            "unsupported_response_type",
            "only response_type=code is supported".into(),
        ));
    }
    if !client.allows_grant("authorization_code") {
        return Err(refuse(
            "unauthorized_client",
            "this client may not use the authorization code grant".into(),
        ));
    }
    let challenge = match &params.code_challenge {
        None => {
            return Err(refuse(
                "invalid_request",
                "code_challenge is required (PKCE with S256)".into(),
            ));
        }
        Some(challenge) => CodeChallenge::parse(challenge, params.code_challenge_method.as_deref())
            .map_err(|e| refuse("invalid_request", e.to_string()))?,
    };
    let scope = normalise_scope(params.scope.as_deref(), &policy.scopes_supported)
        .map_err(|unknown| refuse("invalid_scope", format!("unknown scope `{unknown}`")))?;
    let audience = match &params.resource {
        Some(resource) => check_resource(resource).map_err(|why| refuse("invalid_target", why))?,
        None => policy
            .default_audience
            .clone()
            .ok_or_else(|| refuse("invalid_target", "resource is required (RFC 8707)".into()))?,
    };
    Ok(ValidRequest {
        client,
        redirect_uri,
        redirect_uri_given: params.redirect_uri.is_some(),
        state: params.state.clone(),
        challenge,
        scope,
        audience,
    })
}

/// RFC 8707 §2: an absolute URI without a fragment.
pub fn check_resource(resource: &str) -> Result<String, String> {
    match Url::parse(resource) {
        Ok(url) if url.fragment().is_none() && matches!(url.scheme(), "http" | "https") => {
            Ok(resource.to_owned())
        }
        _ => Err("resource must be an absolute http(s) URI without a fragment".into()),
    }
}

/// Space-separated scopes, each supported; duplicates dropped, order kept.
pub fn normalise_scope(scope: Option<&str>, supported: &[String]) -> Result<String, String> {
    let mut out: Vec<&str> = Vec::new();
    for s in scope.unwrap_or_default().split_whitespace() {
        if !supported.iter().any(|x| x == s) {
            return Err(s.chars().take(64).collect());
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out.join(" "))
}

/// The redirect carrying a code (or an error) back to the client, with
/// `state` and the RFC 9207 `iss` so the client can tell issuers apart.
pub fn redirect_with(
    redirect_uri: &str,
    issuer: &str,
    state: Option<&str>,
    params: &[(&str, &str)],
) -> String {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", issuer);
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::AuthMethod;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client() -> Client {
        Client {
            client_id: "c1".into(),
            secret_sha256: None,
            redirect_uris: vec!["https://host.example/cb".into()],
            client_name: None,
            auth_method: AuthMethod::None,
            grant_types: vec!["authorization_code".into()],
            issued_at: 0,
        }
    }

    fn policy() -> Policy {
        Policy {
            scopes_supported: vec!["openid".into(), "email".into()],
            default_audience: None,
        }
    }

    fn params() -> AuthorizeParams {
        AuthorizeParams {
            response_type: Some("code".into()),
            client_id: Some("c1".into()),
            redirect_uri: Some("https://host.example/cb".into()),
            state: Some("xyz".into()),
            code_challenge: Some(CHALLENGE.into()),
            code_challenge_method: Some("S256".into()),
            scope: Some("openid email openid".into()),
            resource: Some("https://app.example/mcp".into()),
        }
    }

    fn error_code(result: Result<ValidRequest, AuthorizeError>) -> String {
        match result {
            Err(AuthorizeError::Redirect { error, state, .. }) => {
                assert_eq!(state.as_deref(), Some("xyz"), "state is echoed");
                error.to_owned()
            }
            Err(AuthorizeError::Page(p)) => format!("page: {p}"),
            Ok(_) => "ok".into(),
        }
    }

    #[test]
    fn a_good_request_carries_resource_into_the_audience() {
        let ok = check(&params(), Some(client()), &policy()).expect("valid");
        assert_eq!(ok.audience, "https://app.example/mcp");
        assert_eq!(ok.scope, "openid email");
        assert_eq!(ok.redirect_uri, "https://host.example/cb");
    }

    #[test]
    fn unknown_clients_and_bad_redirects_are_never_redirected_to() {
        assert!(matches!(
            check(&params(), None, &policy()),
            Err(AuthorizeError::Page(_))
        ));
        let mut p = params();
        p.redirect_uri = Some("https://evil.example/cb".into());
        assert!(matches!(
            check(&p, Some(client()), &policy()),
            Err(AuthorizeError::Page(_))
        ));
        let mut p = params();
        p.client_id = None;
        assert!(matches!(
            check(&p, Some(client()), &policy()),
            Err(AuthorizeError::Page(_))
        ));
    }

    #[test]
    fn pkce_is_required_and_plain_is_refused() {
        let mut p = params();
        p.code_challenge = None;
        assert_eq!(
            error_code(check(&p, Some(client()), &policy())),
            "invalid_request"
        );
        let mut p = params();
        p.code_challenge_method = Some("plain".into());
        assert_eq!(
            error_code(check(&p, Some(client()), &policy())),
            "invalid_request"
        );
        let mut p = params();
        p.code_challenge_method = None;
        assert_eq!(
            error_code(check(&p, Some(client()), &policy())),
            "invalid_request"
        );
    }

    #[test]
    fn other_errors_go_back_to_the_client() {
        let mut p = params();
        p.response_type = Some("token".into());
        assert_eq!(
            error_code(check(&p, Some(client()), &policy())),
            "unsupported_response_type"
        );
        let mut p = params();
        p.scope = Some("admin".into());
        assert_eq!(
            error_code(check(&p, Some(client()), &policy())),
            "invalid_scope"
        );
        let mut p = params();
        p.resource = Some("not a uri".into());
        assert_eq!(
            error_code(check(&p, Some(client()), &policy())),
            "invalid_target"
        );
        let mut p = params();
        p.resource = None;
        assert_eq!(
            error_code(check(&p, Some(client()), &policy())),
            "invalid_target"
        );
    }

    #[test]
    fn the_redirect_carries_state_and_iss() {
        let url = redirect_with(
            "https://host.example/cb?x=1",
            "https://issuer.example",
            Some("s t"),
            &[("code", "abc")],
        );
        assert_eq!(
            url,
            "https://host.example/cb?x=1&code=abc&state=s+t&iss=https%3A%2F%2Fissuer.example"
        );
    }

    #[test]
    fn a_private_use_redirect_carries_the_code_too() {
        for (registered, expected) in [
            (
                "cursor://anysphere.cursor-retrieval/oauth/callback",
                "cursor://anysphere.cursor-retrieval/oauth/callback?code=abc&iss=https%3A%2F%2Fi.example",
            ),
            (
                "com.example.app:/oauth2redirect",
                "com.example.app:/oauth2redirect?code=abc&iss=https%3A%2F%2Fi.example",
            ),
        ] {
            let url = redirect_with(registered, "https://i.example", None, &[("code", "abc")]);
            assert_eq!(url, expected);
        }
    }
}
