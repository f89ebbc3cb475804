//! The attack matrix: every named attack, what it must get, and what it got.
//!
//! Each attack runs against its own fresh gateway (and, for the issuer's,
//! its own mock issuer) and reports what came back in a short form
//! (`401 invalid_token`, `200 tool error SESSION_REQUIRED`, `413`). The run
//! fails naming every attack whose answer differs from the expected one, and
//! renders the table that `docs/reliability.md` holds (see [`e2e::docs`]).

mod documents;
mod raw;

use std::{future::Future, pin::Pin};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use e2e::{
    AppOptions, Backend, Claims, PKCE_CHALLENGE, PKCE_VERIFIER, TestApp, docs,
    issuer::{KEY_A, KEY_B, ROGUE, forge, sign_with},
    no_redirects, spawn_app, spawn_mock_issuer, summary, tools_list,
};
use gateway::{config::Secret, identity::Identity, session::SessionSigner};
use serde_json::{Value, json};

type Observed = Pin<Box<dyn Future<Output = String> + Send>>;

/// One named attack: what it must get, and how to make it.
struct Attack {
    group: &'static str,
    name: &'static str,
    expect: &'static str,
    run: fn() -> Observed,
}

macro_rules! attack {
    ($group:literal, $name:literal, $expect:literal, $body:expr) => {
        Attack {
            group: $group,
            name: $name,
            expect: $expect,
            run: || -> Observed { Box::pin($body) },
        }
    };
}

// ---- how answers are summarised ------------------------------------------

fn tools_call(name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

async fn post_raw(
    app: &TestApp,
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> String {
    let request = reqwest::Client::new()
        .post(&app.url)
        .header("accept", "application/json, text/event-stream");
    summary(
        build(request)
            .send()
            .await
            .expect("request reaches the gateway"),
    )
    .await
}

/// What `tools/list` with `token` gets from `app`.
async fn listed(app: &TestApp, token: &str) -> String {
    summary(app.post_mcp(Some(token), &tools_list()).await).await
}

async fn with_token(token: &str) -> String {
    listed(&spawn_app(AppOptions::on(Backend::Sqlite)).await, token).await
}

/// A raw POST to a fresh gateway with alice's valid token, plus what `build` adds.
async fn raw_as_alice(
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> String {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let token = app.token_for("alice");
    post_raw(&app, |r| build(r.bearer_auth(token))).await
}

/// A fresh gateway and a valid claim set for `alice` on it.
async fn app_and_claims() -> (TestApp, Claims) {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let claims = Claims::valid(&app.issuer, &app.resource, "alice");
    (app, claims)
}

async fn claims_changed(change: impl FnOnce(&mut Claims)) -> String {
    let (app, mut claims) = app_and_claims().await;
    change(&mut claims);
    listed(&app, &app.issuer.mint(&claims)).await
}

async fn begin(app: &TestApp, sub: &str) -> String {
    let response = app
        .post_mcp(
            Some(&app.token_for(sub)),
            &tools_call("begin_session", json!({})),
        )
        .await;
    let message: Value = response.json().await.expect("json");
    message["result"]["structuredContent"]["session"]
        .as_str()
        .expect("a session")
        .to_owned()
}

/// Calls a gated tool as `alice` with `session`.
async fn gated_with(app: &TestApp, session: &str) -> String {
    summary(
        app.post_mcp(
            Some(&app.token_for("alice")),
            &tools_call("user_get_state", json!({"session": session})),
        )
        .await,
    )
    .await
}

/// A session for `who`, signed by `secret`, issued at `issued`.
fn session_for(secret: &[u8], who: Identity, issued: i64, ttl_secs: u64) -> String {
    SessionSigner::new(
        &Secret::new(secret.to_vec()),
        std::time::Duration::from_secs(ttl_secs),
    )
    .issue(&who, issued)
    .token
}

fn alice(app: &TestApp) -> Identity {
    Identity {
        issuer: app.issuer.url.to_string(),
        subject: "alice".into(),
        email: None,
        scopes: vec![],
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn tool_as_alice(name: &str, arguments: impl FnOnce(&str) -> Value) -> String {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let session = begin(&app, "alice").await;
    summary(
        app.post_mcp(
            Some(&app.token_for("alice")),
            &tools_call(name, arguments(&session)),
        )
        .await,
    )
    .await
}

// ---- the issuer ------------------------------------------------------------

/// The redirect URI every attack's client registers.
const CALLBACK: &str = "http://127.0.0.1:7777/cb";

/// A fresh mock issuer (approving as `alice`) with one public client.
struct Registered {
    issuer: String,
    client_id: String,
    _state: tempfile::TempDir,
}

async fn issuer_with_client() -> Registered {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = spawn_mock_issuer(state.path(), true, Some("alice")).await;
    let client = register(&issuer, json!([CALLBACK])).await;
    let client_id = client["client_id"].as_str().expect("client_id").to_owned();
    Registered {
        issuer,
        client_id,
        _state: state,
    }
}

/// How a fresh client's authorization request (`response_type=code`, its
/// `client_id`, then `query`) is refused, or `a code` if it is not.
async fn authorization_refused(query: &[(&str, &str)]) -> String {
    let client = issuer_with_client().await;
    let mut full = vec![
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
    ];
    full.extend_from_slice(query);
    authorize(&client.issuer, &full)
        .await
        .err()
        .unwrap_or_else(|| "a code".into())
}

async fn register(issuer: &str, redirect_uris: Value) -> Value {
    e2e::register_client(
        &no_redirects(),
        format!("{issuer}/oauth/register"),
        &json!({"redirect_uris": redirect_uris, "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"]}),
    )
    .await
}

/// The authorize redirect's `error`, `code` or the page's status.
async fn authorize(issuer: &str, query: &[(&str, &str)]) -> Result<String, String> {
    // Every request names the resource (RFC 8707), so only the attacked part is wrong.
    let response = no_redirects()
        .get(format!("{issuer}/oauth/authorize"))
        .query(query)
        .query(&[("resource", "http://127.0.0.1:9/mcp")])
        .send()
        .await
        .expect("authorize");
    let Some(location) = response.headers().get("location") else {
        return Err(format!("{} page", response.status().as_u16()));
    };
    let location = url::Url::parse(location.to_str().expect("location")).expect("url");
    let pairs: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    match (pairs.get("code"), pairs.get("error")) {
        (Some(code), _) => Ok(code.clone()),
        (None, Some(error)) => Err(format!("redirect error={error}")),
        (None, None) => Err("redirect without code".into()),
    }
}

async fn code_for(issuer: &str, client_id: &str) -> String {
    authorize(
        issuer,
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", CALLBACK),
            ("code_challenge", PKCE_CHALLENGE),
            ("code_challenge_method", "S256"),
            ("scope", "openid offline_access"),
        ],
    )
    .await
    .expect("a code")
}

/// `200`, or `400 invalid_grant`: the token endpoint's status and error.
async fn token(issuer: &str, form: &[(&str, &str)]) -> (String, Value) {
    let response = no_redirects()
        .post(format!("{issuer}/oauth/token"))
        .form(form)
        .send()
        .await
        .expect("token");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let summary = match body["error"].as_str() {
        Some(error) => format!("{status} {error}"),
        None => status.to_string(),
    };
    (summary, body)
}

async fn redeem(issuer: &str, client_id: &str, code: &str) -> (String, Value) {
    token(
        issuer,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", CALLBACK),
            ("client_id", client_id),
            ("code_verifier", PKCE_VERIFIER),
        ],
    )
    .await
}

async fn refresh(issuer: &str, client_id: &str, refresh_token: &str) -> (String, Value) {
    token(
        issuer,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", client_id),
        ],
    )
    .await
}

// ---- the matrix ------------------------------------------------------------

fn matrix() -> Vec<Attack> {
    vec![
        attack!("access token", "`alg: none`", "401 invalid_token", async {
            let (_, claims) = app_and_claims().await;
            with_token(&forge(
                &json!({"alg": "none", "kid": "key-a"}),
                &claims,
                b"",
            ))
            .await
        }),
        attack!(
            "access token",
            "HS256 keyed with our RSA public key (algorithm confusion)",
            "401 invalid_token",
            async {
                let (app, claims) = app_and_claims().await;
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
                header.kid = Some("key-a".into());
                let key = jsonwebtoken::EncodingKey::from_secret(KEY_A.public_pem.as_bytes());
                let token = jsonwebtoken::encode(&header, &claims, &key).expect("hs256");
                listed(&app, &token).await
            }
        ),
        attack!(
            "access token",
            "unknown `kid` (refetch finds nothing)",
            "401 invalid_token",
            async {
                let (app, claims) = app_and_claims().await;
                listed(&app, &sign_with(&KEY_B, &claims)).await
            }
        ),
        attack!(
            "access token",
            "missing `kid`",
            "401 invalid_token",
            async {
                let (app, claims) = app_and_claims().await;
                let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                let token = jsonwebtoken::encode(&header, &claims, &KEY_A.encoding).expect("sign");
                listed(&app, &token).await
            }
        ),
        attack!(
            "access token",
            "`kid` path injection (`../../etc/passwd`)",
            "401 invalid_token",
            async {
                let (app, claims) = app_and_claims().await;
                let header = json!({"alg": "RS256", "kid": "../../../../etc/passwd"});
                listed(&app, &forge(&header, &claims, b"sig")).await
            }
        ),
        attack!(
            "access token",
            "`kid` URL injection",
            "401 invalid_token",
            async {
                let (app, claims) = app_and_claims().await;
                let header = json!({"alg": "RS256", "kid": "http://127.0.0.1:1/jwks.json"});
                listed(&app, &forge(&header, &claims, b"sig")).await
            }
        ),
        attack!(
            "access token",
            "`jku` naming the attacker's key set (ignored)",
            "401 invalid_token",
            async {
                let (app, claims) = app_and_claims().await;
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                header.kid = Some("key-a".into());
                header.jku = Some("http://127.0.0.1:1/evil-jwks.json".into());
                let token = jsonwebtoken::encode(&header, &claims, &ROGUE.encoding).expect("sign");
                listed(&app, &token).await
            }
        ),
        attack!(
            "access token",
            "`x5u` naming the attacker's certificate (ignored)",
            "401 invalid_token",
            async {
                let (app, claims) = app_and_claims().await;
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                header.kid = Some("key-a".into());
                header.x5u = Some("http://127.0.0.1:1/evil.pem".into());
                let token = jsonwebtoken::encode(&header, &claims, &ROGUE.encoding).expect("sign");
                listed(&app, &token).await
            }
        ),
        attack!(
            "access token",
            "`crit` naming an extension we do not understand (RFC 7515 §4.1.11)",
            "401 invalid_token",
            async {
                let (app, claims) = app_and_claims().await;
                let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
                header.kid = Some("key-a".into());
                header.crit = Some(vec!["exp-extension".into()]);
                // Signed with the real key: only `crit` is wrong.
                let key = e2e::issuer::KEY_A.clone();
                let token = jsonwebtoken::encode(&header, &claims, &key.encoding).expect("sign");
                listed(&app, &token).await
            }
        ),
        attack!(
            "access token",
            "`sub` holding a NUL (control characters)",
            "401 invalid_token",
            claims_changed(|c| c.sub = Some("alice\u{0}admin".into()))
        ),
        attack!(
            "access token",
            "wrong signature (another key, our `kid`)",
            "401 invalid_token",
            async {
                let (app, claims) = app_and_claims().await;
                listed(&app, &sign_with(&ROGUE, &claims)).await
            }
        ),
        attack!(
            "access token",
            "payload swapped after signing",
            "401 invalid_token",
            async {
                let (app, claims) = app_and_claims().await;
                let token = app.issuer.mint(&claims);
                let mut evil = claims.clone();
                evil.sub = Some("bob".into());
                let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
                parts[1] = B64.encode(serde_json::to_vec(&evil).expect("json"));
                listed(&app, &parts.join(".")).await
            }
        ),
        attack!(
            "access token",
            "expired",
            "401 invalid_token",
            claims_changed(|c| c.exp = Some(now() - 120))
        ),
        attack!(
            "access token",
            "`nbf` in the future",
            "401 invalid_token",
            claims_changed(|c| c.nbf = Some(now() + 3600))
        ),
        attack!(
            "access token",
            "`iat` far in the future",
            "401 invalid_token",
            claims_changed(|c| c.iat = now() + 3600)
        ),
        attack!(
            "access token",
            "wrong `iss`",
            "401 invalid_token",
            claims_changed(|c| c.iss = Some("http://evil.example".into()))
        ),
        attack!(
            "access token",
            "wrong `aud`",
            "401 invalid_token",
            claims_changed(|c| c.aud = Some(json!("http://127.0.0.1:1/mcp")))
        ),
        attack!(
            "access token",
            "`aud` array without us",
            "401 invalid_token",
            claims_changed(|c| c.aud = Some(json!(["https://a.example", "https://b.example"])))
        ),
        attack!(
            "access token",
            "`aud` array with us (accepted)",
            "200 ok",
            async {
                let (app, mut claims) = app_and_claims().await;
                claims.aud = Some(json!(["https://a.example", app.resource]));
                listed(&app, &app.issuer.mint(&claims)).await
            }
        ),
        attack!(
            "access token",
            "missing `sub`",
            "401 invalid_token",
            claims_changed(|c| c.sub = None)
        ),
        attack!(
            "access token",
            "missing `exp`",
            "401 invalid_token",
            claims_changed(|c| c.exp = None)
        ),
        attack!(
            "access token",
            "missing `aud`",
            "401 invalid_token",
            claims_changed(|c| c.aud = None)
        ),
        attack!(
            "access token",
            "missing `iss`",
            "401 invalid_token",
            claims_changed(|c| c.iss = None)
        ),
        attack!(
            "access token",
            "token in the query string, no header (refused)",
            "401 challenge",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let token = app.token_for("alice");
                post_raw(&app, |r| {
                    r.query(&[("access_token", token.as_str())])
                        .json(&tools_list())
                })
                .await
            }
        ),
        attack!(
            "access token",
            "two `Authorization` headers",
            "401 invalid_token",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let token = app.token_for("alice");
                post_raw(&app, |r| {
                    r.header("authorization", format!("Bearer {token}"))
                        .header("authorization", format!("Bearer {token}"))
                        .json(&tools_list())
                })
                .await
            }
        ),
        attack!(
            "access token",
            "lowercase `bearer` (accepted: schemes are case-insensitive)",
            "200 ok",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let token = app.token_for("alice");
                post_raw(&app, |r| {
                    r.header("authorization", format!("bearer {token}"))
                        .json(&tools_list())
                })
                .await
            }
        ),
        attack!(
            "access token",
            "oversized token (10 KB)",
            "401 invalid_token",
            with_token_owned("a".repeat(10_000))
        ),
        attack!(
            "access token",
            "signed by a key withdrawn after rotation, after it was accepted",
            "401 invalid_token",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let old = app.token_for("alice");
                assert_eq!(app.post_mcp(Some(&old), &tools_list()).await.status(), 200);
                app.issuer.rotate_to(KEY_B.clone());
                app.issuer.withdraw("key-a");
                // A key-B token makes the gateway refetch; the new set lacks key A.
                assert_eq!(
                    app.post_mcp(Some(&app.token_for("alice")), &tools_list())
                        .await
                        .status(),
                    200
                );
                listed(&app, &old).await
            }
        ),
        attack!(
            "session token",
            "tampered",
            "200 tool error SESSION_REQUIRED",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let session = begin(&app, "alice").await;
                let mut bytes = session.into_bytes();
                let middle = bytes.len() / 2;
                bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
                gated_with(&app, &String::from_utf8(bytes).expect("ascii")).await
            }
        ),
        attack!(
            "session token",
            "truncated",
            "200 tool error SESSION_REQUIRED",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let session = begin(&app, "alice").await;
                gated_with(&app, &session[..session.len() - 6]).await
            }
        ),
        attack!(
            "session token",
            "expired",
            "200 tool error SESSION_REQUIRED",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let options = AppOptions::on(Backend::Sqlite);
                let session = session_for(&options.session_secret, alice(&app), now() - 3600, 60);
                gated_with(&app, &session).await
            }
        ),
        attack!(
            "session token",
            "signed with another secret",
            "200 tool error SESSION_REQUIRED",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let session = session_for(
                    b"another secret, also long enough!!!",
                    alice(&app),
                    now(),
                    600,
                );
                gated_with(&app, &session).await
            }
        ),
        attack!(
            "session token",
            "another user's session with my access token",
            "200 tool error SESSION_REQUIRED",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let bobs = begin(&app, "bob").await;
                gated_with(&app, &bobs).await
            }
        ),
        attack!(
            "session token",
            "same `sub` from another issuer",
            "200 tool error SESSION_REQUIRED",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let options = AppOptions::on(Backend::Sqlite);
                let mut other = alice(&app);
                other.issuer = "https://other-issuer.example".into();
                gated_with(
                    &app,
                    &session_for(&options.session_secret, other, now(), 600),
                )
                .await
            }
        ),
        attack!(
            "tool input",
            "SQL in `domain_get_item`'s id",
            "200 tool error NOT_FOUND",
            tool_as_alice(
                "domain_get_item",
                |s| json!({"session": s, "id": "a1' OR '1'='1"})
            )
        ),
        attack!(
            "tool input",
            "SQL in `domain_search`'s query",
            "200 ok",
            tool_as_alice(
                "domain_search",
                |s| json!({"session": s, "query": "'; DROP TABLE users; --"})
            )
        ),
        attack!(
            "tool input",
            "SQL in saved state, read back verbatim",
            "200 ok, stored verbatim",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let session = begin(&app, "alice").await;
                let token = app.token_for("alice");
                let evil = json!({"note": "'); DROP TABLE user_state; --"});
                let saved = summary(
                    app.post_mcp(
                        Some(&token),
                        &tools_call(
                            "user_save_state",
                            json!({"session": session, "state": evil}),
                        ),
                    )
                    .await,
                )
                .await;
                let read: Value = app
                    .post_mcp(
                        Some(&token),
                        &tools_call("user_get_state", json!({"session": session})),
                    )
                    .await
                    .json()
                    .await
                    .expect("json");
                if read["result"]["structuredContent"]["state"] == evil {
                    format!("{saved}, stored verbatim")
                } else {
                    format!("{saved}, but read back {read}")
                }
            }
        ),
        attack!(
            "tool input",
            "SQL-looking and 100 KB text in every string argument of every tool",
            "each answered by the tool: ok or a named tool error",
            every_string_argument()
        ),
        attack!(
            "tool input",
            "a 100 KB search query",
            "200 tool error INVALID_ARGUMENT",
            tool_as_alice(
                "domain_search",
                |s| json!({"session": s, "query": "x".repeat(100_000)})
            )
        ),
        attack!(
            "tool input",
            "state over the size limit",
            "200 tool error STATE_TOO_LARGE",
            tool_as_alice(
                "user_save_state",
                |s| json!({"session": s, "state": {"big": "x".repeat(70_000)}})
            )
        ),
        attack!(
            "tool input",
            "deeply nested state (10,000 levels)",
            "400 JSON-RPC -32700",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                let session = begin(&app, "alice").await;
                let token = app.token_for("alice");
                let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
                let body = format!(
                    r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"user_save_state","arguments":{{"session":"{session}","state":{nested}}}}}}}"#
                );
                post_raw(&app, |r| {
                    r.bearer_auth(token)
                        .header("content-type", "application/json")
                        .body(body)
                })
                .await
            }
        ),
        attack!(
            "tool input",
            "an unknown argument (`sub`)",
            "200 tool error INVALID_ARGUMENT",
            tool_as_alice("user_get_state", |s| json!({"session": s, "sub": "bob"}))
        ),
        attack!(
            "tool input",
            "a wrong type (`id: 42`)",
            "200 tool error INVALID_ARGUMENT",
            tool_as_alice("domain_get_item", |s| json!({"session": s, "id": 42}))
        ),
        attack!(
            "HTTP / JSON-RPC",
            "malformed JSON",
            "400 JSON-RPC -32700",
            async {
                raw_as_alice(|r| {
                    r.header("content-type", "application/json")
                        .body("{\"jsonrpc\": ")
                })
                .await
            }
        ),
        attack!(
            "HTTP / JSON-RPC",
            "invalid UTF-8 in the body",
            "400 JSON-RPC -32700",
            async {
                let mut body =
                    br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":""#.to_vec();
                body.extend_from_slice(&[0xff, 0xfe]);
                body.extend_from_slice(br#""}}"#);
                raw_as_alice(|r| r.header("content-type", "application/json").body(body)).await
            }
        ),
        attack!(
            "HTTP / JSON-RPC",
            "a batch request",
            "400 JSON-RPC -32700",
            async { raw_as_alice(|r| r.json(&json!([tools_list(), tools_list()]))).await }
        ),
        attack!(
            "HTTP / JSON-RPC",
            "a body over the limit (100 MiB announced)",
            "413, the rest never read",
            raw::endless_body(false)
        ),
        attack!(
            "HTTP / JSON-RPC",
            "a body over the limit, chunked with no length",
            "413, the rest never read",
            raw::endless_body(true)
        ),
        attack!(
            "HTTP / JSON-RPC",
            "a request head that stops half-way (slow loris)",
            "closed unanswered; another client meanwhile: 200 ok",
            raw::stalled(|app| {
                let head = raw::post_head(app, "Content-Length: 2\r\n");
                head[..head.len() / 2].to_owned()
            })
        ),
        attack!(
            "HTTP / JSON-RPC",
            "a body that stops part-way (slow loris)",
            "408, then closed; another client meanwhile: 200 ok",
            raw::stalled(|app| {
                raw::post_head(app, "Content-Length: 1000\r\n") + r#"{"jsonrpc": "2.0", "#
            })
        ),
        attack!(
            "HTTP / JSON-RPC",
            "wrong content type (`text/plain`)",
            "415",
            async {
                raw_as_alice(|r| {
                    r.header("content-type", "text/plain")
                        .body(tools_list().to_string())
                })
                .await
            }
        ),
        attack!(
            "HTTP / JSON-RPC",
            "a disallowed `Origin` (DNS rebinding)",
            "403",
            async {
                raw_as_alice(|r| {
                    r.header("origin", "https://evil.example")
                        .json(&tools_list())
                })
                .await
            }
        ),
        attack!("HTTP / JSON-RPC", "a disallowed `Host`", "403", async {
            raw_as_alice(|r| r.header("host", "evil.example").json(&tools_list())).await
        }),
        attack!(
            "HTTP / JSON-RPC",
            "a disallowed `Host` and a made-up token (refused before any token check)",
            "403",
            async {
                let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                post_raw(&app, |r| {
                    r.header("host", "evil.example")
                        .bearer_auth("not.a.token")
                        .json(&tools_list())
                })
                .await
            }
        ),
        attack!(
            "issuer",
            "PKCE downgrade to `plain`",
            "redirect error=invalid_request",
            authorization_refused(&[
                ("redirect_uri", CALLBACK),
                ("code_challenge", PKCE_VERIFIER),
                ("code_challenge_method", "plain"),
            ])
        ),
        attack!(
            "issuer",
            "no PKCE challenge at all",
            "redirect error=invalid_request",
            authorization_refused(&[("redirect_uri", CALLBACK)])
        ),
        attack!(
            "issuer",
            "a redirect URI that was not registered (open redirect)",
            "400 page",
            authorization_refused(&[
                ("redirect_uri", "https://evil.example/cb"),
                ("code_challenge", PKCE_CHALLENGE),
                ("code_challenge_method", "S256"),
            ])
        ),
        attack!("issuer", "code replay", "400 invalid_grant", async {
            let c = issuer_with_client().await;
            let code = code_for(&c.issuer, &c.client_id).await;
            assert_eq!(redeem(&c.issuer, &c.client_id, &code).await.0, "200");
            redeem(&c.issuer, &c.client_id, &code).await.0
        }),
        attack!(
            "issuer",
            "a code redeemed by another client (code injection)",
            "400 invalid_grant",
            async {
                let c = issuer_with_client().await;
                let other = register(&c.issuer, json!([CALLBACK])).await;
                let code = code_for(&c.issuer, &c.client_id).await;
                redeem(&c.issuer, other["client_id"].as_str().expect("id"), &code)
                    .await
                    .0
            }
        ),
        attack!(
            "issuer",
            "a wrong PKCE verifier",
            "400 invalid_grant",
            async {
                let c = issuer_with_client().await;
                let code = code_for(&c.issuer, &c.client_id).await;
                token(
                    &c.issuer,
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", CALLBACK),
                        ("client_id", &c.client_id),
                        ("code_verifier", &"x".repeat(43)),
                    ],
                )
                .await
                .0
            }
        ),
        attack!(
            "issuer",
            "registering a `javascript:` redirect URI",
            "400 invalid_redirect_uri",
            registration_error(json!(["javascript:alert(1)"]))
        ),
        attack!(
            "issuer",
            "registering a non-loopback `http:` redirect URI",
            "400 invalid_redirect_uri",
            registration_error(json!(["http://evil.example/cb"]))
        ),
        attack!(
            "issuer",
            "a metadata document on loopback (`https://localhost:PORT/…`)",
            "400 page, non-public address, nothing fetched",
            document_at_tripwire(|port| format!("https://localhost:{port}/client.json"))
        ),
        attack!(
            "issuer",
            "a metadata document on loopback written as a number (`https://2130706433:PORT/…`)",
            "400 page, non-public address, nothing fetched",
            document_at_tripwire(|port| format!("https://2130706433:{port}/client.json"))
        ),
        attack!(
            "issuer",
            "a metadata document on IPv4-mapped loopback (`https://[::ffff:127.0.0.1]:PORT/…`)",
            "400 page, non-public address, nothing fetched",
            document_at_tripwire(|port| format!("https://[::ffff:127.0.0.1]:{port}/client.json"))
        ),
        attack!(
            "issuer",
            "a metadata document on the cloud metadata address (`169.254.169.254`)",
            "400 page, non-public address",
            documents::authorize_document("https://169.254.169.254/latest/meta-data", false)
        ),
        attack!(
            "issuer",
            "a metadata document on a private network (`10.0.0.1`)",
            "400 page, non-public address",
            documents::authorize_document("https://10.0.0.1/client.json", false)
        ),
        attack!(
            "issuer",
            "a metadata document that redirects to loopback",
            "400 page, redirect not followed, nothing fetched",
            async {
                let tripwire = documents::Tripwire::set().await;
                let target = format!("http://127.0.0.1:{}/client.json", tripwire.port);
                let server = documents::hostile_documents(target).await;
                let answer =
                    documents::authorize_document(&format!("http://{server}/redirect"), true).await;
                answer + &tripwire.verdict()
            }
        ),
        attack!(
            "issuer",
            "a 10 MiB metadata document, length announced",
            "400 page, too large",
            hostile_document("huge")
        ),
        attack!(
            "issuer",
            "a 10 MiB metadata document, chunked with no length",
            "400 page, too large",
            hostile_document("huge-chunked")
        ),
        attack!(
            "issuer",
            "a metadata document that never finishes (a byte every 100 ms)",
            "400 page, timed out",
            hostile_document("drip")
        ),
        attack!(
            "issuer",
            "refresh token reuse after the reuse interval (revokes the family)",
            "400 invalid_grant, successor revoked",
            async {
                // A 1 s interval, waited out; reuse within it is `mock_issuer::grants`'s to test.
                let state = tempfile::tempdir().expect("tempdir");
                let mut config = e2e::issuer_config(state.path(), true, Some("alice"));
                config.refresh_reuse_interval = std::time::Duration::from_secs(1);
                let issuer = e2e::spawn_issuer(config).await;
                let client = register(&issuer, json!([CALLBACK])).await;
                let client_id = client["client_id"].as_str().expect("client_id");
                let code = code_for(&issuer, client_id).await;
                let (_, first) = redeem(&issuer, client_id, &code).await;
                let old = first["refresh_token"]
                    .as_str()
                    .expect("refresh token")
                    .to_owned();
                let (_, second) = refresh(&issuer, client_id, &old).await;
                let successor = second["refresh_token"]
                    .as_str()
                    .expect("rotated")
                    .to_owned();
                tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
                let (reuse, _) = refresh(&issuer, client_id, &old).await;
                let (after, _) = refresh(&issuer, client_id, &successor).await;
                if after.starts_with("400") {
                    format!("{reuse}, successor revoked")
                } else {
                    format!("{reuse}, successor still works ({after})")
                }
            }
        ),
    ]
}

async fn with_token_owned(token: String) -> String {
    with_token(&token).await
}

async fn registration_error(redirect_uris: Value) -> String {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = spawn_mock_issuer(state.path(), true, None).await;
    let response = no_redirects()
        .post(format!("{issuer}/oauth/register"))
        .json(&json!({"redirect_uris": redirect_uris, "token_endpoint_auth_method": "none"}))
        .send()
        .await
        .expect("register");
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    format!(
        "{status} {}",
        body["error"].as_str().unwrap_or("(no error)")
    )
}

/// Puts SQL-looking and 100 KB text in each string argument of each listed
/// tool in turn (the session valid otherwise), and names every answer that
/// is not the tool's own: a success, or a tool error with its code.
async fn every_string_argument() -> String {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let session = begin(&app, "alice").await;
    let token = app.token_for("alice");
    let listed: Value = app
        .post_mcp(Some(&token), &tools_list())
        .await
        .json()
        .await
        .expect("json");
    let long = "x".repeat(100_000);
    let mut cases = 0;
    let mut wrong = Vec::new();
    for tool in listed["result"]["tools"].as_array().expect("tools") {
        let name = tool["name"].as_str().expect("a name");
        let properties = tool["inputSchema"]["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let strings = properties
            .iter()
            .filter(|(_, schema)| schema["type"] == "string");
        for (argument, _) in strings {
            for hostile in ["a1' OR '1'='1'; DROP TABLE user_state; --", long.as_str()] {
                let mut arguments = json!({});
                if properties.contains_key("session") {
                    arguments["session"] = json!(session);
                }
                arguments[argument] = json!(hostile);
                cases += 1;
                let answer = summary(
                    app.post_mcp(Some(&token), &tools_call(name, arguments))
                        .await,
                )
                .await;
                if answer != "200 ok" && !answer.starts_with("200 tool error ") {
                    wrong.push(format!("{name}.{argument}: {answer}"));
                }
            }
        }
    }
    match (cases, wrong.is_empty()) {
        (0, _) => "no string argument found to attack".into(),
        (_, true) => "each answered by the tool: ok or a named tool error".into(),
        (_, false) => wrong.join("; "),
    }
}

/// A metadata document URL naming a loopback port that counts connections,
/// on an issuer that refuses loopback documents as a deployed one does.
async fn document_at_tripwire(client_id: impl FnOnce(u16) -> String) -> String {
    let tripwire = documents::Tripwire::set().await;
    let answer = documents::authorize_document(&client_id(tripwire.port), false).await;
    answer + &tripwire.verdict()
}

/// The answer for a document at `path` on the hostile document server.
async fn hostile_document(path: &str) -> String {
    let server = documents::hostile_documents(String::new()).await;
    documents::authorize_document(&format!("http://{server}/{path}"), true).await
}

// ---- the run ---------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_matrix() {
    let mut rows = Vec::new();
    for attack in matrix() {
        rows.push(docs::Row {
            cells: vec![attack.group.to_owned(), attack.name.to_owned()],
            expect: attack.expect.to_owned(),
            observed: (attack.run)().await,
        });
    }
    docs::check_rows("attack matrix", &["group", "attack"], rows);
}
