//! The tools and the session contract, through a real MCP client.

use e2e::{AppOptions, db::backends, spawn_app};
use serde_json::json;

const ALL_TOOLS: [&str; 9] = [
    "begin_session",
    "config_get_persona",
    "config_get_rules",
    "domain_get_item",
    "domain_rate_item",
    "domain_search",
    "user_get_profile",
    "user_get_state",
    "user_save_state",
];

/// Tools only, exactly the Reading Room's nine, each with a schema and a description.
#[tokio::test]
async fn the_gateway_lists_exactly_the_nine_tools() {
    let app = spawn_app(AppOptions::on(e2e::Backend::Sqlite)).await;
    let client = app.client(&app.token_for("alice")).await;
    assert_eq!(client.tool_names().await, ALL_TOOLS);
    let tools = client.0.list_all_tools().await.expect("tools/list");
    for tool in &tools {
        let description = tool.description.as_deref().unwrap_or_default();
        assert!(
            description.len() > 20,
            "{} needs a description for the model",
            tool.name
        );
        assert!(
            tool.output_schema.is_some(),
            "{} has an output schema",
            tool.name
        );
        if tool.name != "begin_session" {
            let required = tool
                .input_schema
                .get("required")
                .cloned()
                .unwrap_or_default();
            assert!(
                required
                    .as_array()
                    .is_some_and(|r| r.contains(&json!("session"))),
                "{} requires a session",
                tool.name
            );
        }
    }
    let begin = tools
        .iter()
        .find(|t| t.name == "begin_session")
        .expect("begin_session");
    assert!(
        begin
            .description
            .as_deref()
            .unwrap_or_default()
            .contains("Call this first")
    );
}

/// begin_session returns {session, rules, persona, user, state} for the verified sub.
#[tokio::test]
async fn begin_session_checks_the_user_in() {
    for backend in backends() {
        let app = spawn_app(AppOptions::on(backend)).await;
        let client = app.client(&app.token_for("alice")).await;
        let start = client.call("begin_session", json!({})).await.ok();
        assert!(
            start["session"]
                .as_str()
                .is_some_and(|s| s.starts_with("s1."))
        );
        assert!(
            start["rules"]
                .as_str()
                .is_some_and(|r| r.contains("Fail closed"))
        );
        assert!(start["persona"].as_str().is_some_and(|p| !p.is_empty()));
        assert_eq!(start["user"]["id"], "alice", "{backend:?}");
        assert_eq!(start["user"]["email"], "alice@example.test");
        assert_eq!(start["state"]["version"], 0);
        assert!(start["state"]["state"].is_null());
    }
}

/// Every gated tool refuses a missing, forged or other user's session, and
/// names begin_session as the way out.
#[tokio::test]
async fn every_gated_tool_refuses_a_bad_session() {
    let app = spawn_app(AppOptions::on(e2e::Backend::Sqlite)).await;
    let (alice, alice_session) = app.signed_in("alice").await;
    let (bob, _) = app.signed_in("bob").await;
    let forged = format!("{}x", &alice_session[..alice_session.len() - 1]);
    for tool in ALL_TOOLS.iter().filter(|t| **t != "begin_session") {
        let mut args = match *tool {
            "domain_search" => json!({"query": "history"}),
            "domain_get_item" => json!({"id": "a1"}),
            "domain_rate_item" => json!({"id": "a1", "stars": 1, "idempotency_key": "k"}),
            "user_save_state" => json!({"state": {"k": 1}}),
            _ => json!({}),
        };
        for (client, session) in [
            (&alice, ""),
            (&alice, "nonsense"),
            (&alice, forged.as_str()),
            (&bob, alice_session.as_str()),
        ] {
            args["session"] = json!(session);
            let text = client.call(tool, args.clone()).await.err();
            assert!(
                text.starts_with("SESSION_REQUIRED"),
                "{tool} with {session:?}: {text}"
            );
            assert!(text.contains("begin_session"), "{text}");
        }
    }
    // Bob's refused save wrote nothing into Alice's state.
    let state = alice
        .call("user_get_state", json!({"session": alice_session}))
        .await
        .ok();
    assert_eq!(state["version"], 0);
}

/// A session is short-lived: once SESSION_TTL has passed it is refused.
#[tokio::test]
async fn an_expired_session_is_refused() {
    let mut options = AppOptions::on(e2e::Backend::Sqlite);
    options.session_ttl = std::time::Duration::from_secs(1);
    let app = spawn_app(options).await;
    let (client, session) = app.signed_in("alice").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let text = client
        .call("user_get_state", json!({"session": session}))
        .await
        .err();
    assert!(
        text.contains("expired") && text.contains("begin_session"),
        "{text}"
    );
}

/// Search ranks real items; get_item returns one or a clear not-found; every
/// gated result carries the rules reminder.
#[tokio::test]
async fn domain_tools_answer_from_the_pack() {
    let app = spawn_app(AppOptions::on(e2e::Backend::Sqlite)).await;
    let (client, session) = app.signed_in("alice").await;
    let found = client
        .call(
            "domain_search",
            json!({"session": session, "query": "lighthouse", "limit": 3}),
        )
        .await
        .ok();
    let matches = found["matches"].as_array().expect("matches");
    assert!(!matches.is_empty() && matches.len() <= 3);
    for hit in matches {
        // Three decimals, as written: not an f32's widening (21.253000259399418).
        let score = hit["score"].to_string();
        let decimals = score.split_once('.').map_or(0, |(_, d)| d.len());
        assert!(hit["score"].is_f64() && decimals <= 3, "{score}");
    }
    assert!(
        found["reminder"]
            .as_str()
            .is_some_and(|r| r.starts_with("Rules:"))
    );
    let id = matches[0]["id"].as_str().expect("id");
    let item = client
        .call("domain_get_item", json!({"session": session, "id": id}))
        .await
        .ok();
    assert_eq!(item["item"]["id"], id);
    assert!(item["item"]["body"].as_str().is_some_and(|b| b.len() > 100));
    assert!(
        item["reminder"]
            .as_str()
            .is_some_and(|r| r.starts_with("Rules:"))
    );

    let missing = client
        .call("domain_get_item", json!({"session": session, "id": "a999"}))
        .await
        .err();
    assert!(
        missing.starts_with("NOT_FOUND") && missing.contains("a999"),
        "{missing}"
    );
    let bad_limit = client
        .call(
            "domain_search",
            json!({"session": session, "query": "x", "limit": 500}),
        )
        .await
        .err();
    assert!(
        bad_limit.starts_with("INVALID_ARGUMENT") && bad_limit.contains("limit"),
        "{bad_limit}"
    );

    // The first match for a stemmed, one-typo query is the lighthouse
    // article, with its matched words marked in a snippet.
    let found = client
        .call(
            "domain_search",
            json!({"session": session, "query": "how do lighthuoses work", "limit": 2}),
        )
        .await
        .ok();
    assert_eq!(found["matches"][0]["id"], "a14", "{found}");
    assert!(
        found["matches"][0]["snippet"]
            .as_str()
            .is_some_and(|s| s.contains("**")),
        "{found}"
    );
    // Queries with nothing to look for, or too much, are told so; query
    // syntax is just words.
    for query in [
        "?!.,;",
        "   ",
        "\"\"",
        "the and of",
        &"lighthouse ".repeat(1000),
    ] {
        let refused = client
            .call("domain_search", json!({"session": session, "query": query}))
            .await
            .err();
        assert!(
            refused.starts_with("INVALID_ARGUMENT") && refused.contains("query"),
            "{query:.40}: {refused}"
        );
    }
    for query in [
        "\"unbalanced quote",
        "title:lighthouse AND body:(x",
        "a1 OR 1=1 --",
        "\\\"lighthouse*",
    ] {
        client
            .call("domain_search", json!({"session": session, "query": query}))
            .await
            .ok();
    }

    for tool in ["config_get_rules", "config_get_persona", "user_get_profile"] {
        let reply = client.call(tool, json!({"session": session})).await.ok();
        assert!(
            reply["reminder"]
                .as_str()
                .is_some_and(|r| r.starts_with("Rules:")),
            "{tool}"
        );
    }
    let profile = client
        .call("user_get_profile", json!({"session": session}))
        .await
        .ok();
    assert_eq!(profile["user"]["id"], "alice");
}

/// State saved through one connection is read back through a fresh one, and
/// a new session sees it in begin_session.
#[tokio::test]
async fn state_round_trips_across_connections() {
    for backend in backends() {
        let app = spawn_app(AppOptions::on(backend)).await;
        let place = json!({"article": "a3", "paragraph": 2, "notes": "dé\u{301}jà vu — “quotes”"});
        {
            let (client, session) = app.signed_in("alice").await;
            let saved = client
                .call(
                    "user_save_state",
                    json!({"session": session, "state": place}),
                )
                .await
                .ok();
            assert_eq!(saved["version"], 1, "{backend:?}");
        }
        let (client, session) = app.signed_in("alice").await;
        let state = client
            .call("user_get_state", json!({"session": session}))
            .await
            .ok();
        assert_eq!(state["state"], place, "{backend:?}");
        assert_eq!(state["version"], 1);
        assert!(state["updated_at"].is_string());
        let start = client.call("begin_session", json!({})).await.ok();
        assert_eq!(start["state"]["state"], place);
    }
}

/// Two users never see each other's state: the store is keyed by the verified sub.
#[tokio::test]
async fn users_are_isolated() {
    for backend in backends() {
        let app = spawn_app(AppOptions::on(backend)).await;
        let (alice, a) = app.signed_in("alice").await;
        let (bob, b) = app.signed_in("bob").await;
        alice
            .call(
                "user_save_state",
                json!({"session": a, "state": {"who": "alice"}}),
            )
            .await
            .ok();
        bob.call(
            "user_save_state",
            json!({"session": b, "state": {"who": "bob"}}),
        )
        .await
        .ok();
        let seen_by_alice = alice
            .call("user_get_state", json!({"session": a}))
            .await
            .ok();
        let seen_by_bob = bob.call("user_get_state", json!({"session": b})).await.ok();
        assert_eq!(seen_by_alice["state"]["who"], "alice", "{backend:?}");
        assert_eq!(seen_by_bob["state"]["who"], "bob", "{backend:?}");
    }
}

/// With expected_version a stale save is refused with the current version;
/// nothing is overwritten.
#[tokio::test]
async fn a_stale_save_is_refused_not_lost() {
    for backend in backends() {
        let app = spawn_app(AppOptions::on(backend)).await;
        let (client, s) = app.signed_in("alice").await;
        let first = client
            .call(
                "user_save_state",
                json!({"session": s, "state": {"n": 1}, "expected_version": 0}),
            )
            .await
            .ok();
        assert_eq!(first["version"], 1);
        let second = client
            .call(
                "user_save_state",
                json!({"session": s, "state": {"n": 2}, "expected_version": 1}),
            )
            .await
            .ok();
        assert_eq!(second["version"], 2);
        let stale = client
            .call(
                "user_save_state",
                json!({"session": s, "state": {"n": 3}, "expected_version": 1}),
            )
            .await
            .err();
        assert!(
            stale.starts_with("STALE_VERSION") && stale.contains("version 2"),
            "{stale}"
        );
        let again_first = client
            .call(
                "user_save_state",
                json!({"session": s, "state": {"n": 4}, "expected_version": 0}),
            )
            .await
            .err();
        assert!(again_first.starts_with("STALE_VERSION"), "{again_first}");
        let state = client
            .call("user_get_state", json!({"session": s}))
            .await
            .ok();
        assert_eq!(state["state"], json!({"n": 2}), "{backend:?}");
        assert_eq!(state["version"], 2);
    }
}

/// Racing versioned writers on one user: exactly one wins.
#[tokio::test]
async fn of_two_racing_writers_exactly_one_wins() {
    for backend in backends() {
        let app = spawn_app(AppOptions::on(backend)).await;
        let (a, s) = app.signed_in("alice").await;
        let (b, s2) = app.signed_in("alice").await;
        a.call("user_save_state", json!({"session": s, "state": {"v": 0}}))
            .await
            .ok();
        for round in 1..=5 {
            let (x, y) = tokio::join!(
                a.call(
                    "user_save_state",
                    json!({"session": s, "state": {"by": "a"}, "expected_version": round})
                ),
                b.call(
                    "user_save_state",
                    json!({"session": s2, "state": {"by": "b"}, "expected_version": round})
                ),
            );
            assert_eq!(
                u8::from(!x.is_error()) + u8::from(!y.is_error()),
                1,
                "{backend:?} round {round}: {} / {}",
                x.text(),
                y.text()
            );
        }
        let state = a.call("user_get_state", json!({"session": s})).await.ok();
        assert_eq!(state["version"], 6);
    }
}

/// State over the configured size is refused with a clear error; nothing saved.
#[tokio::test]
async fn oversized_state_is_refused() {
    let mut options = AppOptions::on(e2e::Backend::Sqlite);
    options.max_state_bytes = 1024;
    let app = spawn_app(options).await;
    let (client, s) = app.signed_in("alice").await;
    let big = "x".repeat(2000);
    let text = client
        .call(
            "user_save_state",
            json!({"session": s, "state": {"notes": big}}),
        )
        .await
        .err();
    assert!(
        text.starts_with("STATE_TOO_LARGE") && text.contains("1024"),
        "{text}"
    );
    let state = client
        .call("user_get_state", json!({"session": s}))
        .await
        .ok();
    assert_eq!(state["version"], 0);
}

/// Unknown arguments and wrong types are refused, not ignored.
#[tokio::test]
async fn bad_arguments_are_refused() {
    let app = spawn_app(AppOptions::on(e2e::Backend::Sqlite)).await;
    let (client, s) = app.signed_in("alice").await;
    for args in [
        json!({"session": s, "id": "a1", "user_id": "bob"}),
        json!({"session": s, "id": 7}),
        json!({"session": s}),
    ] {
        let result = client
            .0
            .call_tool(
                rmcp::model::CallToolRequestParams::new("domain_get_item")
                    .with_arguments(args.as_object().cloned().unwrap_or_default()),
            )
            .await;
        // A tool error with our code, naming the problem in rmcp's words.
        let reply = e2e::ToolReply(result.expect("a tool-level refusal, not a protocol failure"));
        let text = reply.err();
        assert!(
            text.starts_with("INVALID_ARGUMENT: the arguments do not fit"),
            "{args}: {text}"
        );
        let named = ["user_id", "integer", "missing field `id`"];
        assert!(named.iter().any(|n| text.contains(n)), "{args}: {text}");
    }
}

/// A store reset under a live session is not a store failure: the session
/// is refused with SESSION_REQUIRED, and a new begin_session mends it.
#[tokio::test]
async fn a_session_whose_user_vanished_must_check_in_again() {
    for backend in backends() {
        let app = spawn_app(AppOptions::on(backend)).await;
        let (client, s) = app.signed_in("alice").await;
        let delete = "DELETE FROM users WHERE id = 'alice'";
        match &app.db.url {
            gateway::config::DatabaseUrl::Sqlite(path) => {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(path)
                    .foreign_keys(true);
                let pool = sqlx::SqlitePool::connect_with(options)
                    .await
                    .expect("side connection");
                sqlx::query(delete).execute(&pool).await.expect("delete");
            }
            gateway::config::DatabaseUrl::Postgres(url) => {
                let pool = sqlx::PgPool::connect(url).await.expect("side connection");
                sqlx::query(delete).execute(&pool).await.expect("delete");
            }
        }
        for (tool, args) in [
            ("user_save_state", json!({"session": s, "state": {"n": 1}})),
            ("user_get_profile", json!({"session": s})),
        ] {
            let text = client.call(tool, args).await.err();
            assert!(
                text.starts_with("SESSION_REQUIRED") && text.contains("no longer on record"),
                "{backend:?} {tool}: {text}"
            );
        }
        let again = client.call("begin_session", json!({})).await.ok();
        let s = again["session"].clone();
        let saved = client
            .call("user_save_state", json!({"session": s, "state": {"n": 1}}))
            .await
            .ok();
        assert_eq!(saved["version"], 1);
    }
}

/// The Reading Room's action: a reader rates an article, every reader sees
/// the average in search, a retried rating counts once, and a second rating
/// by the same reader replaces the first.
#[tokio::test]
async fn ratings_are_shared_counted_once_per_key_and_replaced_by_a_new_rating() {
    for backend in e2e::backends() {
        let app = e2e::TestApp::start(gateway::App::data_pack(), backend).await;
        let (ada, bo, cy) = (
            app.sign_in("ada").await,
            app.sign_in("bo").await,
            app.sign_in("cy").await,
        );
        let rate = json!({"id": "a1", "stars": 5});
        let (first, retry) = tokio::join!(
            ada.act("domain_rate_item", "r1", rate.clone()),
            ada.act("domain_rate_item", "r1", rate.clone())
        );
        assert_eq!(
            first.ok(),
            retry.ok(),
            "{backend:?}: a retry gets the first outcome"
        );
        bo.act("domain_rate_item", "r2", json!({"id": "a1", "stars": 2}))
            .await
            .ok();
        // Bo changes his mind: his rating is replaced, not added.
        let changed = bo
            .act("domain_rate_item", "r3", json!({"id": "a1", "stars": 4}))
            .await
            .ok();
        assert_eq!(
            changed["rating"],
            json!({"average": 4.5, "count": 2}),
            "{backend:?}"
        );
        let found = cy
            .call("domain_search", json!({"query": "a1", "limit": 20}))
            .await
            .ok();
        let rated = found["matches"]
            .as_array()
            .and_then(|m| m.iter().find(|hit| hit["id"] == "a1"))
            .cloned();
        let title = app_title(&cy, "a1").await;
        let by_title = cy
            .call("domain_search", json!({"query": title, "limit": 20}))
            .await
            .ok();
        let rated = rated.or_else(|| {
            by_title["matches"]
                .as_array()
                .and_then(|m| m.iter().find(|hit| hit["id"] == "a1"))
                .cloned()
        });
        let rated = rated.expect("a1 is found");
        assert_eq!(
            rated["rating"],
            json!({"average": 4.5, "count": 2}),
            "{backend:?}"
        );

        let refused = cy
            .act("domain_rate_item", "r4", json!({"id": "a1", "stars": 9}))
            .await;
        assert!(
            refused.text().starts_with("INVALID_ARGUMENT:"),
            "{}",
            refused.text()
        );
        let missing = cy
            .act("domain_rate_item", "r5", json!({"id": "zz", "stars": 3}))
            .await;
        assert!(
            missing.text().starts_with("NOT_FOUND:"),
            "{}",
            missing.text()
        );
    }
}

async fn app_title(user: &e2e::User, id: &str) -> String {
    user.call("domain_get_item", json!({"id": id})).await.ok()["item"]["title"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
