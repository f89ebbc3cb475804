//! The wire: stateless streamable HTTP as real hosts use it.

use e2e::{AppOptions, Backend, spawn_app};
use serde_json::{Value, json};

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}})
}

/// A tools/call works with no initialize before it (stateless), and the
/// answer can be plain JSON.
#[tokio::test]
async fn a_tool_call_needs_no_initialize() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let response = app
        .post_mcp(
            Some(&app.token_for("alice")),
            &call(7, "begin_session", json!({})),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["id"], 7);
    assert!(
        body["result"]["structuredContent"]["session"].is_string(),
        "{body}"
    );
}

/// A host that accepts only text/event-stream is served, as SSE.
#[tokio::test]
async fn an_sse_only_accept_header_is_served_as_sse() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let response = reqwest::Client::new()
        .post(&app.url)
        .bearer_auth(app.token_for("alice"))
        .header("accept", "text/event-stream")
        .json(&call(3, "begin_session", json!({})))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/event-stream")
    );
    let body = response.text().await.expect("body");
    let data = body
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .find(|d| d.contains("\"id\":3"))
        .unwrap_or_else(|| panic!("no response event in {body}"));
    let message: Value = serde_json::from_str(data.trim()).expect("event json");
    assert!(message["result"]["structuredContent"]["session"].is_string());
}

/// GET /mcp is 405: no server-held streams in stateless mode.
#[tokio::test]
async fn get_is_not_allowed() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let response = reqwest::Client::new()
        .get(&app.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 405);
}

/// Host and Origin allow-lists: loopback and the public host pass; a
/// rebinding Host or a foreign Origin is refused.
#[tokio::test]
async fn host_and_origin_are_checked() {
    let mut options = AppOptions::on(Backend::Sqlite);
    options.resource_url = Some("https://room.example/mcp".into());
    let app = spawn_app(options).await;
    let token = app.issuer.mint(&e2e::Claims::valid(
        &app.issuer,
        "https://room.example/mcp",
        "alice",
    ));
    let send = |host: &'static str, origin: Option<&'static str>| {
        let mut request = reqwest::Client::new()
            .post(&app.url)
            .bearer_auth(&token)
            .header("host", host)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    assert_eq!(
        send("room.example", None).await.expect("send").status(),
        200
    );
    assert_eq!(
        send("localhost", Some("http://localhost:6274"))
            .await
            .expect("send")
            .status(),
        200
    );
    assert_eq!(
        send("room.example", Some("https://room.example"))
            .await
            .expect("send")
            .status(),
        200
    );
    assert_eq!(
        send("attacker.example", None).await.expect("send").status(),
        403
    );
    // Refused before the token is read: no token, yet 403, not 401.
    let tokenless = reqwest::Client::new()
        .post(&app.url)
        .header("host", "attacker.example")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}))
        .send()
        .await
        .expect("send");
    assert_eq!(tokenless.status(), 403);
    assert_eq!(
        send("room.example", Some("https://attacker.example"))
            .await
            .expect("send")
            .status(),
        403
    );
}

/// Every advertised protocol revision is served through the rmcp client.
#[tokio::test]
async fn the_rmcp_client_negotiates_and_calls() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let client = app.client(&app.token_for("alice")).await;
    let info = client.0.peer_info().expect("server info");
    assert!(
        ["2025-06-18", "2025-11-25", "2026-07-28"].contains(&info.protocol_version.as_str()),
        "{}",
        info.protocol_version
    );
    let start = client.call("begin_session", json!({})).await.ok();
    assert!(start["session"].is_string());
}

/// The session-era revisions are negotiated by `initialize`, and a
/// tools/call that names one in its header is served.
#[tokio::test]
async fn the_two_session_era_revisions_are_served() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let token = app.token_for("alice");
    for version in ["2025-06-18", "2025-11-25"] {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": "raw-http-test", "version": "1"}}});
        let body: Value = app
            .post_mcp(Some(&token), &init)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(body["result"]["protocolVersion"], version, "{body}");
        let response = reqwest::Client::new()
            .post(&app.url)
            .bearer_auth(&token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", version)
            .json(&call(2, "begin_session", json!({})))
            .send()
            .await
            .expect("send");
        let body: Value = response.json().await.expect("json");
        assert!(
            body["result"]["structuredContent"]["session"].is_string(),
            "{version}: {body}"
        );
    }
}

/// The stateless 2026-07-28 revision (no initialize; server/discover and
/// per-request metadata) is served to rmcp's discover-mode client.
#[tokio::test]
async fn the_stateless_revision_is_served() {
    use rmcp::transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    };
    use rmcp::{ClientLifecycleMode, ClientServiceExt, model::ProtocolVersion};

    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let config = StreamableHttpClientTransportConfig::with_uri(app.url.as_str())
        .auth_header(app.token_for("alice"));
    let client = ()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(config),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("discover succeeds");
    let negotiated = client
        .peer_info()
        .map(|info| info.protocol_version.to_string());
    assert_eq!(negotiated.as_deref(), Some("2026-07-28"));
    let client = e2e::McpClient(client);
    let start = client.call("begin_session", json!({})).await.ok();
    assert!(start["session"].is_string());
    let session = start["session"].clone();
    let item = client
        .call("domain_get_item", json!({"session": session, "id": "a2"}))
        .await
        .ok();
    assert_eq!(item["item"]["id"], "a2");
}

/// A browser client on an allowed origin can preflight /mcp and read the
/// 401 challenge (CORS), so browser-based hosts can start sign-in.
#[tokio::test]
async fn browser_clients_can_preflight_and_read_the_challenge() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let client = reqwest::Client::new();
    let preflight = client
        .request(reqwest::Method::OPTIONS, &app.url)
        .header("origin", "http://localhost:6274")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,mcp-protocol-version",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        allowed.contains("authorization") && allowed.contains("mcp-protocol-version"),
        "{allowed}"
    );
    let refused = client
        .post(&app.url)
        .header("origin", "http://localhost:6274")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["access-control-allow-origin"], "*");
    let exposed = refused.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap_or_default();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
}

/// /healthz and /readyz answer for operators.
#[tokio::test]
async fn probes_answer() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    for path in ["/healthz", "/readyz"] {
        let response = reqwest::get(format!("http://{}{path}", app.addr))
            .await
            .expect("probe");
        assert_eq!(response.status(), 200, "{path}");
    }
}

/// `tools/call` and `tools/list` are answered in the HTTP task, without
/// rmcp's per-request service loop (`http/direct.rs`). Each answer must be
/// the one rmcp gives: the same request sent chunked, with no
/// Content-Length, is read and answered by rmcp. Successes, tool errors,
/// rmcp's own argument and unknown-tool errors, both revisions' headers and
/// the header-less default are compared, and the metric shows which
/// requests took the direct path.
#[tokio::test]
async fn direct_answers_are_the_answers_rmcp_gives() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let token = app.token_for("alice");
    let send = |body: &Value, version: Option<&'static str>, chunked: bool| {
        let bytes = serde_json::to_vec(body).expect("json");
        let body = if chunked {
            reqwest::Body::wrap_stream(futures::stream::once(async move {
                Ok::<_, std::io::Error>(bytes)
            }))
        } else {
            reqwest::Body::from(bytes)
        };
        let mut request = reqwest::Client::new()
            .post(&app.url)
            .bearer_auth(&token)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body);
        if let Some(version) = version {
            request = request.header("mcp-protocol-version", version);
        }
        async move {
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            let kind = response.headers()["content-type"].to_owned();
            let body: Value = response.json().await.expect("a JSON answer");
            (status, kind, body)
        }
    };
    let direct_answers = async || {
        let text = reqwest::get(format!("http://{}/metrics", app.addr))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        text.lines()
            .find_map(|line| line.strip_prefix("gateway_mcp_direct_answers_total "))
            .and_then(|count| count.trim().parse::<u64>().ok())
            .expect("the direct-answer count")
    };

    let start = send(
        &call(1, "begin_session", json!({})),
        Some("2025-11-25"),
        false,
    )
    .await;
    let session = start.2["result"]["structuredContent"]["session"].clone();
    assert!(session.is_string(), "{start:?}");
    let cases = [
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        call(
            3,
            "domain_get_item",
            json!({"session": session, "id": "a2"}),
        ),
        call(
            4,
            "domain_get_item",
            json!({"session": session, "id": "nope"}),
        ),
        call(5, "domain_get_item", json!({"session": session, "id": 7})),
        call(6, "user_get_state", json!({"session": "forged"})),
        call(7, "no_such_tool", json!({})),
        json!({"jsonrpc": "2.0", "id": "eight", "method": "tools/call",
               "params": {"name": "domain_search", "arguments": {"session": session, "query": "maps"}}}),
    ];
    let before = direct_answers().await;
    let mut direct = 0;
    for version in [Some("2025-11-25"), Some("2025-06-18"), None] {
        for case in &cases {
            let answered = send(case, version, false).await;
            let by_rmcp = send(case, version, true).await;
            assert_eq!(answered, by_rmcp, "{version:?} {case}");
            direct += 1;
        }
    }
    assert_eq!(direct_answers().await - before, direct);

    // What stays with rmcp, answered as before and not counted: initialize,
    // ping, and a 2026-07-28 header (rmcp's negotiated path).
    let before = direct_answers().await;
    let init = json!({"jsonrpc": "2.0", "id": 9, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "raw-http-test", "version": "1"}}});
    assert_eq!(send(&init, None, false).await.0, 200);
    let ping = json!({"jsonrpc": "2.0", "id": 10, "method": "ping"});
    assert_eq!(send(&ping, Some("2025-11-25"), false).await.0, 200);
    let (status, _, body) = send(&cases[1], Some("2026-07-28"), false).await;
    assert_eq!(status, 400, "2026-07-28 needs request _meta: {body}");
    assert_eq!(direct_answers().await, before);
}
