//! What each host does at the issuer, with its own callback: claude.ai and
//! ChatGPT (https), Cursor and VS Code (private-use schemes, RFC 8252 §7.1),
//! Claude Code and the MCP Inspector (loopback). Each registers, is sent
//! back with a code, redeems it, and refreshes the way real clients do:
//! twice at once, as two tabs or a retry after a dropped answer would.

use e2e::{PKCE_CHALLENGE, PKCE_VERIFIER, no_redirects, register_client, spawn_mock_issuer};
use serde_json::{Value, json};

const CALLBACKS: [(&str, &str); 6] = [
    ("claude.ai", "https://claude.ai/api/mcp/auth_callback"),
    (
        "ChatGPT",
        "https://chatgpt.com/connector_platform_oauth_redirect",
    ),
    (
        "Cursor",
        "cursor://anysphere.cursor-retrieval/oauth/user-callback",
    ),
    (
        "VS Code",
        "vscode://vscode.github-authentication/did-authenticate",
    ),
    ("Claude Code", "http://localhost:54321/callback"),
    ("MCP Inspector", "http://127.0.0.1:6274/oauth/callback"),
];

async fn token(issuer: &str, form: &[(&str, &str)]) -> Value {
    no_redirects()
        .post(format!("{issuer}/oauth/token"))
        .form(form)
        .send()
        .await
        .expect("token endpoint")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test]
async fn every_hosts_callback_signs_in_and_survives_a_refresh_race() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = spawn_mock_issuer(state.path(), true, Some("alice")).await;
    for (host, callback) in CALLBACKS {
        let client = register_client(
            &no_redirects(),
            format!("{issuer}/oauth/register"),
            &json!({"redirect_uris": [callback], "token_endpoint_auth_method": "none",
                    "grant_types": ["authorization_code", "refresh_token"],
                    "client_name": host}),
        )
        .await;
        let client_id = client["client_id"].as_str().expect("registered").to_owned();
        let response = no_redirects()
            .get(format!("{issuer}/oauth/authorize"))
            .query(&[
                ("response_type", "code"),
                ("client_id", &client_id),
                ("redirect_uri", callback),
                ("code_challenge", PKCE_CHALLENGE),
                ("code_challenge_method", "S256"),
                ("scope", "openid offline_access"),
                ("state", "s1"),
                ("resource", "https://room.example/mcp"),
            ])
            .send()
            .await
            .expect("authorize");
        let location = response
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .unwrap_or_else(|| panic!("{host}: no redirect ({})", response.status()))
            .to_owned();
        assert!(location.starts_with(callback), "{host}: {location}");
        let back = url::Url::parse(&location).expect("a URL");
        let query: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
        assert_eq!(
            query.get("iss").map(String::as_str),
            Some(issuer.as_str()),
            "{host}: RFC 9207"
        );
        assert_eq!(query.get("state").map(String::as_str), Some("s1"));
        let code = query.get("code").expect("a code");

        let tokens = token(
            &issuer,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", callback),
                ("client_id", &client_id),
                ("code_verifier", PKCE_VERIFIER),
            ],
        )
        .await;
        let refresh = tokens["refresh_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{host}: a refresh token for offline_access: {tokens}"));
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", client_id.as_str()),
        ];
        let (first, second) = tokio::join!(token(&issuer, &form), token(&issuer, &form));
        assert!(first["access_token"].is_string(), "{host}: {first}");
        // One answer: the same tokens. `expires_in` is the access token's
        // remaining life when each answer is written, so a second boundary
        // between the two may make them differ by one.
        let without_lifetime = |answer: &Value| {
            let mut answer = answer.clone();
            let lifetime = answer
                .as_object_mut()
                .and_then(|fields| fields.remove("expires_in"))
                .and_then(|lifetime| lifetime.as_i64())
                .unwrap_or_else(|| panic!("{host}: no expires_in: {answer}"));
            (answer, lifetime)
        };
        let (first_tokens, first_lifetime) = without_lifetime(&first);
        let (second_tokens, second_lifetime) = without_lifetime(&second);
        assert_eq!(
            first_tokens, second_tokens,
            "{host}: the racing refreshes get one answer"
        );
        assert!(
            (first_lifetime - second_lifetime).abs() <= 1,
            "{host}: one access token, one lifetime: {first_lifetime} s and {second_lifetime} s"
        );
        let successor = first["refresh_token"].as_str().expect("rotated");
        assert_ne!(successor, refresh);
        let next = token(
            &issuer,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", successor),
                ("client_id", client_id.as_str()),
            ],
        )
        .await;
        assert!(
            next["access_token"].is_string(),
            "{host}: the successor still works: {next}"
        );
    }
}

/// Schemes that could run code or read files are never a redirect target.
#[tokio::test]
async fn script_and_file_schemes_cannot_be_registered() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = spawn_mock_issuer(state.path(), true, Some("alice")).await;
    for callback in [
        "javascript:alert(1)",
        "data:text/html,hi",
        "file:///etc/passwd",
        "vbscript:msgbox",
        "http://evil.example/cb",
    ] {
        let response = no_redirects()
            .post(format!("{issuer}/oauth/register"))
            .json(&json!({"redirect_uris": [callback], "token_endpoint_auth_method": "none"}))
            .send()
            .await
            .expect("register");
        assert_eq!(response.status(), 400, "{callback}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["error"], "invalid_redirect_uri", "{callback}: {body}");
    }
}
