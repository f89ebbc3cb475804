//! `GET /metrics`: what an operator graphs, counted from real traffic, with
//! no user, token or caller-chosen text in it, and never served to a public
//! host.

use e2e::{AppOptions, Backend, Claims, TestApp, spawn_app, tools_list};
use serde_json::{Value, json};

fn call(name: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
           "params": {"name": name, "arguments": arguments}})
}

async fn scrape(addr: std::net::SocketAddr, host: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .get(format!("http://{addr}/metrics"))
        .header("host", host)
        .send()
        .await
        .expect("metrics answer");
    let status = response.status().as_u16();
    (status, response.text().await.expect("text"))
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

/// Refusals, tool outcomes, key fetches and SQLite commits are counted,
/// each under a small closed set of labels.
#[tokio::test]
async fn traffic_is_counted_by_outcome_without_users_tokens_or_caller_text() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let token = app.token_for("metrics-user");
    let mut expired = Claims::valid(&app.issuer, &app.resource, "metrics-user");
    expired.exp = Some(chrono::Utc::now().timestamp() - 600);
    let expired = app.issuer.mint(&expired);

    assert_eq!(app.post_mcp(None, &tools_list()).await.status(), 401);
    assert_eq!(
        app.post_mcp(Some(&expired), &tools_list()).await.status(),
        401
    );
    let start: Value = app
        .post_mcp(Some(&token), &call("begin_session", json!({})))
        .await
        .json()
        .await
        .expect("json");
    let session = start["result"]["structuredContent"]["session"].clone();
    for (tool, arguments) in [
        ("user_get_state", json!({"session": "forged"})),
        (
            "domain_get_item",
            json!({"session": session, "id": "no-such-id"}),
        ),
        (
            "user_save_state",
            json!({"session": session, "state": {"a": 1}}),
        ),
        ("caller_chosen_tool_name", json!({})),
    ] {
        assert_eq!(
            app.post_mcp(Some(&token), &call(tool, arguments))
                .await
                .status(),
            200
        );
    }

    let (status, text) = scrape(app.addr, "127.0.0.1").await;
    assert_eq!(status, 200);
    for (series, expected) in [
        ("gateway_mcp_requests_total{status=\"401\"}", 2.0),
        ("gateway_mcp_requests_total{status=\"200\"}", 5.0),
        ("gateway_token_refusals_total{reason=\"missing\"}", 1.0),
        ("gateway_token_refusals_total{reason=\"expired\"}", 1.0),
        (
            "gateway_tool_calls_total{tool=\"begin_session\",outcome=\"ok\"}",
            1.0,
        ),
        (
            "gateway_tool_calls_total{tool=\"user_get_state\",outcome=\"SESSION_REQUIRED\"}",
            1.0,
        ),
        (
            "gateway_tool_calls_total{tool=\"domain_get_item\",outcome=\"NOT_FOUND\"}",
            1.0,
        ),
        (
            "gateway_tool_calls_total{tool=\"user_save_state\",outcome=\"ok\"}",
            1.0,
        ),
        ("gateway_session_refusals_total", 1.0),
        ("gateway_store_errors_total", 0.0),
        ("gateway_jwks_fetches_total", 1.0),
        ("gateway_jwks_fetch_failures_total", 0.0),
    ] {
        assert_eq!(value(&text, series), Some(expected), "{series} in:\n{text}");
    }
    assert!(
        value(
            &text,
            "gateway_tool_call_duration_seconds_count{tool=\"begin_session\"}"
        ) == Some(1.0)
    );
    assert!(value(&text, "gateway_sqlite_commit_batch_size_count").is_some_and(|n| n >= 2.0));
    assert!(
        text.contains("tool=\"unknown\""),
        "an unregistered name is counted as unknown"
    );
    for private in [
        "metrics-user",
        "caller_chosen_tool_name",
        token.as_str(),
        "forged",
    ] {
        assert!(!text.contains(private), "{private} reached /metrics");
    }
}

/// On the gateway's port `/metrics` answers loopback hosts only, so a
/// request for the public name (as through a tunnel or a proxy) gets 404;
/// with `METRICS_ADDR` it moves to a listener of its own.
#[tokio::test]
async fn metrics_are_never_served_to_a_public_host() {
    let mut options = AppOptions::on(Backend::Sqlite);
    options.resource_url = Some("https://room.example/mcp".into());
    let app: TestApp = spawn_app(options.clone()).await;
    assert_eq!(scrape(app.addr, "room.example").await.0, 404);
    assert_eq!(scrape(app.addr, "localhost:8000").await.0, 200);

    options.metrics_addr = Some("127.0.0.1:0".parse().expect("addr"));
    let app = spawn_app(options).await;
    let own = app.metrics_addr.expect("a listener of its own");
    assert_eq!(
        scrape(app.addr, "127.0.0.1").await.0,
        404,
        "not on the main port"
    );
    let (status, text) = scrape(own, "metrics.internal").await;
    assert_eq!(status, 200);
    assert!(text.contains("gateway_session_refusals_total"), "{text}");
}
