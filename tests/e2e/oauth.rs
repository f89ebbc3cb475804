//! Sign-in end to end, the way claude.ai does it: rmcp's own OAuth client
//! against the gateway and the real mock issuer.

use std::collections::HashMap;

use e2e::{
    AppOptions, Backend, PKCE_CHALLENGE, PKCE_VERIFIER, answer_sign_in, no_redirects, spawn_app,
    spawn_mock_issuer,
};
use rmcp::{
    ServiceExt,
    transport::{
        StreamableHttpClientTransport,
        auth::{AuthClient, AuthorizationRequest, OAuthState},
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};

/// No token → 401 → protected resource metadata → issuer discovery →
/// dynamic registration → PKCE authorization (auto-approved) → code
/// exchange → begin_session and a gated tool, then a refresh.
#[tokio::test]
async fn rmcp_oauth_client_signs_in_like_a_chat_host() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = spawn_mock_issuer(state.path(), true, Some("Ada@Example.org")).await;
    let app = spawn_app(AppOptions::on(Backend::Sqlite).trusting(&issuer)).await;

    // 1. Unauthenticated: the 401 challenge starts everything.
    let Err(error) = ().serve(StreamableHttpClientTransport::from_uri(app.url.clone())).await
    else {
        panic!("an unauthenticated client must be refused");
    };
    let challenge = error
        .auth_challenge()
        .expect("WWW-Authenticate challenge")
        .to_owned();
    assert!(challenge.contains("resource_metadata="), "{challenge}");

    // 2. Discovery, registration and PKCE, by rmcp.
    let redirect_uri = "http://127.0.0.1:1/callback";
    let mut oauth = OAuthState::new(app.url.as_str(), None)
        .await
        .expect("oauth state");
    oauth
        .start_authorization(
            AuthorizationRequest::new(redirect_uri)
                .with_client_name("e2e chat host")
                .with_challenge(challenge),
        )
        .await
        .expect("discovery and registration");
    let authorize_url =
        url::Url::parse(&oauth.get_authorization_url().await.expect("authorize url")).expect("url");
    let query: HashMap<String, String> = authorize_url.query_pairs().into_owned().collect();
    assert_eq!(query["code_challenge_method"], "S256");
    assert_eq!(
        query["resource"], app.url,
        "RFC 8707 resource names the connector"
    );

    // 3. The browser leg: auto-approve answers with a redirect carrying the code.
    let response = no_redirects()
        .get(authorize_url.as_str())
        .send()
        .await
        .expect("authorize");
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.starts_with(redirect_uri), "{location}");
    assert!(location.contains(&format!(
        "iss={}",
        url::form_urlencoded::byte_serialize(issuer.as_bytes()).collect::<String>()
    )));

    // 4. Code exchange (state, iss and the PKCE verifier checked by rmcp and the issuer).
    oauth
        .handle_callback_url(&location)
        .await
        .expect("code exchange");
    let manager = oauth.into_authorization_manager().expect("authorized");
    let auth_client = AuthClient::new(reqwest::Client::default(), manager);

    // 5. An authenticated MCP client.
    let transport = StreamableHttpClientTransport::with_client(
        auth_client.clone(),
        StreamableHttpClientTransportConfig::with_uri(app.url.clone()),
    );
    let client = e2e::McpClient(().serve(transport).await.expect("authenticated client"));
    let start = client.call("begin_session", json!({})).await.ok();
    assert_eq!(start["user"]["id"], "ada@example.org");
    assert_eq!(start["user"]["email"], "ada@example.org");
    let session = start["session"].clone();
    let item = client
        .call("domain_get_item", json!({"session": session, "id": "a1"}))
        .await
        .ok();
    assert_eq!(item["item"]["id"], "a1");

    // 6. The refresh token works (and is rotated by the issuer).
    let before = auth_client.get_access_token().await.expect("token");
    auth_client
        .auth_manager
        .lock()
        .await
        .refresh_token()
        .await
        .expect("refresh");
    let after = auth_client.get_access_token().await.expect("token");
    assert_ne!(before, after, "a refresh mints a new access token");
    let state_after = client
        .call("user_get_state", json!({"session": session}))
        .await;
    assert!(!state_after.is_error(), "{}", state_after.text());
}

/// The sign-in page through its real form: a person types a name and
/// approves; the code it returns buys a token the gateway accepts.
#[tokio::test]
async fn the_sign_in_page_works_through_its_form() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = spawn_mock_issuer(state.path(), false, None).await;
    let app = spawn_app(AppOptions::on(Backend::Sqlite).trusting(&issuer)).await;
    let http = no_redirects();

    // A browser client (CORS) registers as a chat host's backend would.
    let registered = http
        .post(format!("{issuer}/oauth/register"))
        .header("origin", "http://localhost:6274")
        .json(
            &json!({"redirect_uris": ["http://127.0.0.1:7777/cb"], "client_name": "Form Test",
                      "token_endpoint_auth_method": "none"}),
        )
        .send()
        .await
        .expect("register");
    assert_eq!(registered.status(), 201);
    assert_eq!(registered.headers()["access-control-allow-origin"], "*");
    let registered: Value = registered.json().await.expect("json");
    let client_id = registered["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned();

    let (verifier, challenge) = (PKCE_VERIFIER, PKCE_CHALLENGE);
    let page = http
        .get(format!("{issuer}/oauth/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", "http://127.0.0.1:7777/cb"),
            ("state", "st<ate>"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("scope", "openid email"),
            ("resource", &app.url),
        ])
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains("Form Test") && html.contains("name=\"who\""),
        "{html}"
    );
    assert!(
        !html.contains("st<ate>"),
        "the state is escaped in the page"
    );

    let action = format!("{issuer}/oauth/authorize");
    let answer = answer_sign_in(
        &http,
        &action,
        &html,
        &[("who", "Grace"), ("decision", "approve")],
    )
    .await;
    assert_eq!(answer.status(), 303);
    let location =
        url::Url::parse(answer.headers()["location"].to_str().expect("location")).expect("url");
    let back: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(back["state"], "st<ate>");
    assert_eq!(back["iss"], issuer);

    let token: Value = http
        .post(format!("{issuer}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &back["code"]),
            ("redirect_uri", "http://127.0.0.1:7777/cb"),
            ("client_id", &client_id),
            ("code_verifier", verifier),
            ("resource", &app.url),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let access = token["access_token"].as_str().expect("access token");
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "begin_session", "arguments": {}}});
    let body: Value = app
        .post_mcp(Some(access), &call)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["result"]["structuredContent"]["user"]["id"], "grace");

    // The code was single-use.
    let replay = http
        .post(format!("{issuer}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &back["code"]),
            ("redirect_uri", "http://127.0.0.1:7777/cb"),
            ("client_id", &client_id),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .expect("replay");
    assert_eq!(replay.status(), 400);
    let error: Value = replay.json().await.expect("json");
    assert_eq!(error["error"], "invalid_grant");

    // Deny goes back to the client as access_denied.
    let page = e2e::sign_in_page(
        &http,
        format!("{issuer}/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", &client_id),
            ("redirect_uri", "http://127.0.0.1:7777/cb"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
            ("resource", &app.url),
        ],
    )
    .await;
    let denied = answer_sign_in(&http, &action, &page, &[("decision", "deny")]).await;
    let location = denied.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(location.contains("error=access_denied"), "{location}");
}

/// A client ID metadata document: the client_id is a URL the issuer fetches.
#[tokio::test]
async fn a_client_id_metadata_document_is_fetched_and_checked() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = spawn_mock_issuer(state.path(), true, None).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let doc_url = format!(
        "http://{}/client.json",
        listener.local_addr().expect("addr")
    );
    let wrong_url = format!("http://{}/wrong.json", listener.local_addr().expect("addr"));
    let doc = json!({"client_id": doc_url, "client_name": "Doc Client", "redirect_uris": ["http://127.0.0.1:7777/cb"]});
    let wrong = json!({"client_id": "http://elsewhere.example/client.json", "redirect_uris": ["http://127.0.0.1:7777/cb"]});
    let router = axum::Router::new()
        .route(
            "/client.json",
            axum::routing::get(move || async move { axum::Json(doc) }),
        )
        .route(
            "/wrong.json",
            axum::routing::get(move || async move { axum::Json(wrong) }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });

    let authorize = |client_id: String| {
        no_redirects()
            .get(format!("{issuer}/oauth/authorize"))
            .query(&[
                ("response_type", "code".to_owned()),
                ("client_id", client_id),
                ("redirect_uri", "http://127.0.0.1:7777/cb".to_owned()),
                ("code_challenge", PKCE_CHALLENGE.to_owned()),
                ("code_challenge_method", "S256".to_owned()),
                ("resource", "http://127.0.0.1:8000/mcp".to_owned()),
            ])
            .send()
    };
    let ok = authorize(doc_url.clone()).await.expect("authorize");
    assert_eq!(ok.status(), 303);
    assert!(
        ok.headers()["location"]
            .to_str()
            .unwrap_or_default()
            .contains("code=")
    );
    let refused = authorize(wrong_url).await.expect("authorize");
    assert_eq!(
        refused.status(),
        400,
        "a document naming another client_id is refused"
    );
    assert!(
        refused
            .text()
            .await
            .unwrap_or_default()
            .contains("client_id")
    );
}
