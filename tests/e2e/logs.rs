//! Security is the product: no token, code or secret ever reaches a log line,
//! at any level of our own code.

use std::collections::HashMap;

use e2e::{AppOptions, Backend, Claims, captured_logs, spawn_app, spawn_mock_issuer};
use serde_json::{Value, json};

fn call(name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}})
}

/// Access tokens (good and bad), session tokens and the session secret are
/// used and refused, then looked for in everything logged.
#[tokio::test]
async fn tokens_and_secrets_never_reach_the_gateway_logs() {
    let logs = captured_logs();
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let token = app.token_for("log-watcher");
    let mut expired = Claims::valid(&app.issuer, &app.resource, "log-watcher");
    expired.exp = Some(chrono::Utc::now().timestamp() - 600);
    let expired = app.issuer.mint(&expired);
    let body: Value = app
        .post_mcp(Some(&token), &call("begin_session", json!({})))
        .await
        .json()
        .await
        .expect("json");
    let session = body["result"]["structuredContent"]["session"]
        .as_str()
        .expect("session")
        .to_owned();
    assert_eq!(
        app.post_mcp(Some(&expired), &call("begin_session", json!({})))
            .await
            .status(),
        401
    );
    let forged = format!("{}x", &session[..session.len() - 1]);
    app.post_mcp(
        Some(&token),
        &call("user_get_state", json!({"session": forged})),
    )
    .await;

    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(
        text.contains("access token refused"),
        "the capture works: {text}"
    );
    // `LOG_FORMAT=json`'s rendering is captured too, and searched below.
    assert!(
        text.lines().any(|line| serde_json::from_str::<Value>(line)
            .is_ok_and(|l| l["message"] == "access token refused" && l["reason"].is_string())),
        "the JSON rendering is captured"
    );
    let secret =
        String::from_utf8_lossy(&AppOptions::on(Backend::Sqlite).session_secret).into_owned();
    for (what, needle) in [
        ("access token", token.as_str()),
        ("expired token", expired.as_str()),
        (
            "token signature",
            token.rsplit('.').next().unwrap_or_default(),
        ),
        ("session token", session.as_str()),
        ("forged session", forged.as_str()),
        ("session secret", secret.as_str()),
    ] {
        assert!(!text.contains(needle), "the {what} reached the logs");
    }
}

/// The issuer logs sign-ins but never codes, refresh tokens, access tokens
/// or client secrets.
#[tokio::test]
async fn codes_and_tokens_never_reach_the_issuer_logs() {
    let logs = captured_logs();
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = spawn_mock_issuer(state.path(), false, None).await;
    let app = spawn_app(AppOptions::on(Backend::Sqlite).trusting(&issuer)).await;
    let http = e2e::no_redirects();
    let registered = e2e::register_client(
        &http,
        format!("{issuer}/oauth/register"),
        &json!({"redirect_uris": ["http://127.0.0.1:7777/cb"], "token_endpoint_auth_method": "client_secret_post",
                "grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await;
    let client_id = registered["client_id"].as_str().expect("id").to_owned();
    let secret = registered["client_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let form = [
        ("response_type", "code"),
        ("client_id", client_id.as_str()),
        ("redirect_uri", "http://127.0.0.1:7777/cb"),
        ("code_challenge", e2e::PKCE_CHALLENGE),
        ("code_challenge_method", "S256"),
        ("resource", app.url.as_str()),
        ("who", "Logan"),
        ("decision", "approve"),
    ];
    let approved = http
        .post(format!("{issuer}/oauth/authorize"))
        .form(&form)
        .send()
        .await
        .expect("approve");
    let location =
        url::Url::parse(approved.headers()["location"].to_str().expect("location")).expect("url");
    let code = location.query_pairs().collect::<HashMap<_, _>>()["code"].to_string();
    let tokens: Value = http
        .post(format!("{issuer}/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:7777/cb"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("code_verifier", e2e::PKCE_VERIFIER),
        ])
        .send()
        .await
        .expect("token")
        .json()
        .await
        .expect("json");
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let refresh = tokens["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();

    let text =
        String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    assert!(
        text.contains("sign-in approved") && text.contains("logan"),
        "the capture works"
    );
    for (what, needle) in [
        ("authorization code", code.as_str()),
        ("client secret", secret.as_str()),
        ("access token", access.as_str()),
        ("refresh token", refresh.as_str()),
    ] {
        assert!(!text.contains(needle), "the {what} reached the logs");
    }
}
