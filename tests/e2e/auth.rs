//! The resource-server contract: 401/403 challenges, RFC 9728 metadata, key
//! rotation and where tokens are read from. Tokens that fail each of the
//! four checks are in the attack matrix (`attacks.rs`).

use e2e::{AppOptions, Backend, Claims, TestApp, issuer::KEY_B, spawn_app, tools_list};
use serde_json::{Value, json};

fn challenge(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn metadata_url(app: &TestApp) -> String {
    format!(
        "http://{}/.well-known/oauth-protected-resource/mcp",
        app.addr
    )
}

/// No token: 401 with a bare Bearer challenge pointing at our metadata.
#[tokio::test]
async fn no_token_gets_the_challenge_that_starts_sign_in() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let response = app.post_mcp(None, &tools_list()).await;
    assert_eq!(response.status(), 401);
    let header = challenge(&response);
    assert_eq!(
        header,
        format!(r#"Bearer resource_metadata="{}""#, metadata_url(&app))
    );
    assert!(
        !header.contains("error="),
        "no error code without credentials"
    );
}

/// RFC 9728 metadata at the resource's path and at the root, naming the
/// canonical connector URL and the issuer.
#[tokio::test]
async fn protected_resource_metadata_names_resource_and_issuer() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-protected-resource",
    ] {
        let doc: Value = reqwest::get(format!("http://{}{path}", app.addr))
            .await
            .expect("metadata")
            .json()
            .await
            .expect("json");
        assert_eq!(doc["resource"], app.url, "{path}");
        assert_eq!(
            doc["authorization_servers"],
            json!([app.issuer.url.as_str()])
        );
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
}

/// A configured public URL is what the metadata and challenge name.
#[tokio::test]
async fn the_public_resource_url_is_canonical() {
    let mut options = AppOptions::on(Backend::Sqlite);
    options.resource_url = Some("https://reading-room.example/mcp".into());
    let app = spawn_app(options).await;
    let response = app.post_mcp(None, &tools_list()).await;
    assert!(challenge(&response)
        .contains(r#"resource_metadata="https://reading-room.example/.well-known/oauth-protected-resource/mcp""#));
    // And tokens must be minted for that audience.
    let token = app.issuer.mint(&Claims::valid(
        &app.issuer,
        "https://reading-room.example/mcp",
        "alice",
    ));
    assert_eq!(
        app.post_mcp(Some(&token), &tools_list()).await.status(),
        200
    );
}

/// A token signed by a newly published key is accepted: an unknown `kid`
/// makes the gateway refetch the JWKS.
#[tokio::test]
async fn an_unknown_kid_triggers_a_jwks_refetch() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    // Prime the cache with key A.
    assert_eq!(
        app.post_mcp(Some(&app.token_for("alice")), &tools_list())
            .await
            .status(),
        200
    );
    app.issuer.rotate_to(KEY_B.clone());
    let token = app.token_for("alice");
    let header = jsonwebtoken::decode_header(&token).expect("header");
    assert_eq!(header.kid.as_deref(), Some("key-b"));
    assert_eq!(
        app.post_mcp(Some(&token), &tools_list()).await.status(),
        200
    );
}

/// The token is read from one Authorization header only: not the query, not twice.
#[tokio::test]
async fn tokens_are_read_from_one_header_only() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let token = app.token_for("alice");
    let client = reqwest::Client::new();
    let in_query = client
        .post(format!("{}?access_token={token}", app.url))
        .header("accept", "application/json, text/event-stream")
        .json(&tools_list())
        .send()
        .await
        .expect("send");
    assert_eq!(in_query.status(), 401);
    let twice = client
        .post(&app.url)
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", format!("Bearer {token}"))
        .json(&tools_list())
        .send()
        .await
        .expect("send");
    assert_eq!(twice.status(), 401);
    let lowercase = client
        .post(&app.url)
        .header("accept", "application/json, text/event-stream")
        .header("authorization", format!("bearer {token}"))
        .json(&tools_list())
        .send()
        .await
        .expect("send");
    assert_eq!(lowercase.status(), 200, "the scheme is case-insensitive");
}

/// A token without a required scope gets 403 insufficient_scope.
#[tokio::test]
async fn a_missing_scope_is_forbidden() {
    let mut options = AppOptions::on(Backend::Sqlite);
    options.required_scopes = vec!["reading".into()];
    let app = spawn_app(options).await;
    let response = app
        .post_mcp(Some(&app.token_for("alice")), &tools_list())
        .await;
    assert_eq!(response.status(), 403);
    let header = challenge(&response);
    assert!(
        header.contains(r#"error="insufficient_scope""#) && header.contains(r#"scope="reading""#),
        "{header}"
    );
    let mut claims = Claims::valid(&app.issuer, &app.resource, "alice");
    claims.scope = Some("openid reading".into());
    assert_eq!(
        app.post_mcp(Some(&app.issuer.mint(&claims)), &tools_list())
            .await
            .status(),
        200
    );
}

/// Demo mode: no token needed, every caller is the one stand-in user.
#[tokio::test]
async fn auth_disabled_makes_everyone_the_stand_in_user() {
    let mut options = AppOptions::on(Backend::Sqlite);
    options.auth_disabled = true;
    let app = spawn_app(options).await;
    let client = app.client("").await;
    let start = client.call("begin_session", json!({})).await.ok();
    assert_eq!(start["user"]["id"], "demo-user");
}

/// Identity never comes from an argument: a `sub` or `user_id` argument is refused.
#[tokio::test]
async fn identity_cannot_be_claimed_through_arguments() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let client = app.client(&app.token_for("alice")).await;
    let result = client
        .0
        .call_tool(
            rmcp::model::CallToolRequestParams::new("begin_session").with_arguments(
                json!({"sub": "bob"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await;
    let reply = result.expect("a tool-level refusal, not a protocol failure");
    assert_eq!(
        reply.is_error,
        Some(true),
        "begin_session accepted a sub argument: {reply:?}"
    );
    let text = e2e::ToolReply(reply).text();
    assert!(text.contains("unknown field `sub`"), "{text}");
}

/// With scopes to ask for (`AUTH_SCOPES`), the 401 names them so the host
/// requests them when it signs in, and the metadata lists the same ones.
#[tokio::test]
async fn the_challenge_and_the_metadata_name_the_scopes_to_ask_for() {
    let mut options = AppOptions::on(Backend::Sqlite);
    options.scopes = vec!["openid".into(), "offline_access".into()];
    options.required_scopes = vec!["notes:read".into()];
    let app = spawn_app(options).await;
    let response = app.post_mcp(None, &tools_list()).await;
    assert_eq!(response.status(), 401);
    assert_eq!(
        challenge(&response),
        format!(
            r#"Bearer resource_metadata="{}", scope="openid offline_access notes:read""#,
            metadata_url(&app)
        )
    );
    let bad = app.post_mcp(Some("not-a-jwt"), &tools_list()).await;
    assert!(
        challenge(&bad).ends_with(r#", scope="openid offline_access notes:read""#),
        "{}",
        challenge(&bad)
    );
    let metadata: Value = reqwest::get(metadata_url(&app))
        .await
        .expect("metadata")
        .json()
        .await
        .expect("json");
    assert_eq!(
        metadata["scopes_supported"],
        json!(["openid", "offline_access", "notes:read"])
    );
}

/// RFC 7519 §2: `exp`, `nbf` and `iat` may carry fractions of a second, as
/// some issuers' JWT libraries write them. Each is accepted, and each is
/// still enforced.
#[tokio::test]
async fn fractional_numeric_dates_are_accepted_in_each_time_claim_and_still_enforced() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let now = chrono::Utc::now().timestamp() as f64;
    let claims = |exp: f64, nbf: f64, iat: f64| {
        json!({"iss": app.issuer.url.as_str(), "sub": "fraction", "aud": app.resource,
               "exp": exp, "nbf": nbf, "iat": iat})
    };
    for (what, token) in [
        ("exp", claims(now + 600.5, now - 10.0, now - 10.0)),
        ("nbf", claims(now + 600.0, now - 10.25, now - 10.0)),
        ("iat", claims(now + 600.0, now - 10.0, now - 10.75)),
    ] {
        let response = app
            .post_mcp(Some(&app.issuer.mint_json(&token)), &tools_list())
            .await;
        assert_eq!(response.status(), 200, "fractional {what}");
    }
    for (what, token) in [
        ("exp", claims(now - 120.5, now - 600.0, now - 600.0)),
        ("nbf", claims(now + 600.0, now + 120.5, now - 10.0)),
        ("iat", claims(now + 600.0, now - 10.0, now + 120.5)),
    ] {
        let response = app
            .post_mcp(Some(&app.issuer.mint_json(&token)), &tools_list())
            .await;
        assert_eq!(response.status(), 401, "fractional {what} out of range");
    }
}

/// `AUTH_CLOCK_LEEWAY` is the skew forgiven on `exp`: a token 20 s past its
/// expiry passes with the default 30 s and is refused with 10 s.
#[tokio::test]
async fn the_clock_leeway_is_a_setting_that_works_both_ways() {
    let token_20s_past = |app: &TestApp| {
        let mut claims = Claims::valid(&app.issuer, &app.resource, "skewed");
        claims.exp = Some(chrono::Utc::now().timestamp() - 20);
        app.issuer.mint(&claims)
    };
    let lenient = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let response = lenient
        .post_mcp(Some(&token_20s_past(&lenient)), &tools_list())
        .await;
    assert_eq!(response.status(), 200, "within the default 30 s");
    let mut options = AppOptions::on(Backend::Sqlite);
    options.clock_leeway = std::time::Duration::from_secs(10);
    let strict = spawn_app(options).await;
    let response = strict
        .post_mcp(Some(&token_20s_past(&strict)), &tools_list())
        .await;
    assert_eq!(response.status(), 401, "past a 10 s leeway");
}

/// A token without `email` (usual for hosted issuers): the issuer's userinfo
/// endpoint is asked once, in the background, and the profile shows the
/// email it gave; an answer for another subject is ignored.
#[tokio::test]
async fn userinfo_fills_in_the_email_a_token_lacks_once_per_user() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let token_without_email = |sub: &str| {
        let mut claims = Claims::valid(&app.issuer, &app.resource, sub);
        claims.email = None;
        app.issuer.mint(&claims)
    };
    for (sub, expected) in [("nomail", Some("nomail@userinfo.test")), ("liar", None)] {
        let client = app.client(&token_without_email(sub)).await;
        let start = client.call("begin_session", json!({})).await.ok();
        let session = start["session"].clone();
        let mut email = Value::Null;
        for _ in 0..50 {
            let profile = client
                .call("user_get_profile", json!({"session": session}))
                .await
                .ok();
            email = profile["user"]["email"].clone();
            if !email.is_null() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(email.as_str(), expected, "{sub}");
    }
    // One fetch each, however many calls were made.
    assert_eq!(app.issuer.userinfo_fetches(), 2);
}
