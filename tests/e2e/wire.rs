//! What strict hosts check before they use a connector: every answer is
//! valid against the official MCP wire schema of the revision it was asked
//! in (vendored in `tests/data/mcp-schema/`, with their source), every tool
//! has a title and complete annotations, and the tool list is stable.

use std::path::Path;

use e2e::{AppOptions, Backend, TestApp, spawn_app, workspace_dir};
use serde_json::{Value, json};

const REVISIONS: [&str; 3] = ["2025-06-18", "2025-11-25", "2026-07-28"];

/// Arguments that make each tool answer; `SESSION` is replaced by a real one.
/// A tool missing here fails the test, so a new tool cannot skip the check.
fn arguments_for(tool: &str) -> Option<Value> {
    Some(match tool {
        "begin_session" => json!({}),
        "domain_search" => json!({"session": "SESSION", "query": "reading habits"}),
        "domain_get_item" => json!({"session": "SESSION", "id": "a1"}),
        "domain_rate_item" => {
            json!({"session": "SESSION", "id": "a1", "stars": 4, "idempotency_key": "wire"})
        }
        "user_save_state" => {
            json!({"session": "SESSION", "state": {"article": "a1", "notes": [1, "two", null]}})
        }
        "user_get_profile" | "user_get_state" | "config_get_rules" | "config_get_persona" => {
            json!({"session": "SESSION"})
        }
        _ => return None,
    })
}

/// One revision's schema, able to check a value against any of its definitions.
struct WireSchema {
    root: Value,
    /// `definitions` (draft-07) or `$defs` (2020-12).
    defs: &'static str,
}

impl WireSchema {
    fn load(revision: &str) -> Self {
        let path = workspace_dir().join(
            Path::new("tests/data/mcp-schema")
                .join(revision)
                .join("schema.json"),
        );
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let root: Value = serde_json::from_str(&text).expect("the vendored schema is JSON");
        let defs = if root.get("definitions").is_some() {
            "definitions"
        } else {
            "$defs"
        };
        Self { root, defs }
    }

    /// The problems with `value` as a `definition`, one line each (empty: valid).
    fn problems(&self, definition: &str, value: &Value) -> Vec<String> {
        assert!(
            self.root[self.defs].get(definition).is_some(),
            "the schema has no definition {definition}"
        );
        let mut schema = self.root.clone();
        schema["$ref"] = json!(format!("#/{}/{definition}", self.defs));
        let validator = jsonschema::validator_for(&schema).expect("the official schema compiles");
        validator
            .iter_errors(value)
            .map(|e| format!("{definition} at {}: {e}", e.instance_path()))
            .collect()
    }

    fn assert_valid(&self, revision: &str, what: &str, definition: &str, value: &Value) {
        let problems = self.problems(definition, value);
        assert!(
            problems.is_empty(),
            "{revision} {what} is not valid MCP:\n  {}\n{value:#}",
            problems.join("\n  ")
        );
    }
}

/// A client speaking one revision over plain HTTP, so the bytes checked are
/// the bytes a host gets.
struct RawClient<'a> {
    app: &'a TestApp,
    token: String,
    revision: &'static str,
    next_id: i64,
}

impl RawClient<'_> {
    fn stateless(&self) -> bool {
        self.revision >= "2026-07-28"
    }

    /// 2026-07-28 puts the version and capabilities in every request's `_meta`.
    fn params(&self, mut params: Value) -> Value {
        if self.stateless() {
            params["_meta"] = json!({
                "io.modelcontextprotocol/protocolVersion": self.revision,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "wire-schema-test", "version": "1"}
            });
        }
        params
    }

    async fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let body = json!({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": self.params(params)});
        let mut request = reqwest::Client::new()
            .post(&self.app.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", self.revision);
        if self.stateless() {
            // SEP-2243: the method, and a tool's name, ride in headers too.
            request = request.header("mcp-method", method);
            if let Some(name) = body["params"]["name"].as_str() {
                request = request.header("mcp-name", name);
            }
        }
        let response = request
            .json(&body)
            .send()
            .await
            .expect("the gateway answers");
        let status = response.status();
        let text = response.text().await.expect("an answer");
        assert_eq!(status, 200, "{} {method}: {text}", self.revision);
        let answer: Value = serde_json::from_str(&text).expect("a JSON answer");
        assert!(
            answer.get("result").is_some(),
            "{} {method}: {answer}",
            self.revision
        );
        answer
    }
}

/// Every answer a host gets in a normal conversation (the handshake or
/// discovery, the tool list, a call of every tool and a tool error) is valid
/// against the official schema of the revision it asked in.
#[tokio::test]
async fn every_answer_is_valid_against_the_official_schema_of_each_revision() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    for revision in REVISIONS {
        let schema = WireSchema::load(revision);
        let mut client = RawClient {
            app: &app,
            token: app.token_for(&format!("wire-{revision}")),
            revision,
            next_id: 0,
        };
        let (envelope, per_method) = if client.stateless() {
            let discover = client.request("server/discover", json!({})).await;
            schema.assert_valid(
                revision,
                "server/discover",
                "DiscoverResultResponse",
                &discover,
            );
            ("JSONRPCResultResponse", true)
        } else {
            let init = client
                .request(
                    "initialize",
                    json!({"protocolVersion": revision, "capabilities": {},
                           "clientInfo": {"name": "wire-schema-test", "version": "1"}}),
                )
                .await;
            let envelope = if revision == "2025-06-18" {
                "JSONRPCResponse"
            } else {
                "JSONRPCResultResponse"
            };
            schema.assert_valid(revision, "initialize", envelope, &init);
            schema.assert_valid(revision, "initialize", "InitializeResult", &init["result"]);
            (envelope, false)
        };

        let list = client.request("tools/list", json!({})).await;
        schema.assert_valid(revision, "tools/list", envelope, &list);
        schema.assert_valid(revision, "tools/list", "ListToolsResult", &list["result"]);
        if per_method {
            schema.assert_valid(revision, "tools/list", "ListToolsResultResponse", &list);
        }

        let tools = list["result"]["tools"].as_array().expect("tools").clone();
        let start = client
            .request(
                "tools/call",
                json!({"name": "begin_session", "arguments": {}}),
            )
            .await;
        let session = start["result"]["structuredContent"]["session"].clone();
        assert!(session.is_string(), "{revision}: {start}");
        let mut calls = vec![(
            "domain_get_item (not found)".to_owned(),
            json!({"name": "domain_get_item", "arguments": {"session": session, "id": "no-such-item"}}),
        )];
        for tool in &tools {
            let name = tool["name"].as_str().expect("name");
            let mut arguments = arguments_for(name).unwrap_or_else(|| {
                panic!("add arguments for the new tool `{name}` to arguments_for")
            });
            if arguments.get("session").is_some() {
                arguments["session"] = session.clone();
            }
            calls.push((
                name.to_owned(),
                json!({"name": name, "arguments": arguments}),
            ));
        }
        for (what, params) in calls {
            let answer = client.request("tools/call", params).await;
            let what = format!("tools/call {what}");
            schema.assert_valid(revision, &what, envelope, &answer);
            schema.assert_valid(revision, &what, "CallToolResult", &answer["result"]);
            if per_method {
                schema.assert_valid(revision, &what, "CallToolResultResponse", &answer);
            }
        }
    }
}

/// The check above can fail: the schema-validity defect this suite was
/// written for (`"state": true` as a property schema) is refused by the
/// 2025 schemas.
#[test]
fn a_boolean_property_schema_is_refused_by_the_2025_schemas() {
    let tool =
        json!({"name": "t", "inputSchema": {"type": "object", "properties": {"state": true}}});
    for revision in ["2025-06-18", "2025-11-25"] {
        let problems = WireSchema::load(revision).problems("Tool", &tool);
        assert!(
            !problems.is_empty(),
            "{revision} accepted a boolean property schema"
        );
    }
}

/// Claude's connector directory refuses tools without a title and the
/// read-only and destructive hints; every tool carries all of them, and the
/// list comes in one order (by name) on every call.
#[tokio::test]
async fn every_tool_has_a_title_and_complete_annotations_in_a_stable_order() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let client = app.client(&app.token_for("alice")).await;
    let first = client.list_tools().await;
    for tool in &first {
        let name = tool["name"].as_str().expect("name");
        let title = tool["title"].as_str().unwrap_or_default();
        assert!(
            !title.is_empty() && title != name,
            "{name} needs a human title: {tool}"
        );
        let annotations = &tool["annotations"];
        assert_eq!(annotations["title"], title, "{name}");
        for hint in [
            "readOnlyHint",
            "destructiveHint",
            "idempotentHint",
            "openWorldHint",
        ] {
            assert!(
                annotations[hint].is_boolean(),
                "{name} lacks {hint}: {tool}"
            );
        }
        assert_eq!(tool["outputSchema"]["type"], "object", "{name}");
    }
    let names: Vec<&str> = first.iter().filter_map(|t| t["name"].as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    assert_eq!(client.list_tools().await, first);
}

/// On 2026-07-28 the tool list says how long a host may keep it, and that
/// any cache may share it: it is the same for every user.
#[tokio::test]
async fn the_tool_list_carries_caching_hints_on_2026_07_28() {
    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
    let mut client = RawClient {
        app: &app,
        token: app.token_for("alice"),
        revision: "2026-07-28",
        next_id: 0,
    };
    let list = client.request("tools/list", json!({})).await;
    assert_eq!(list["result"]["ttlMs"], 300_000, "{list}");
    assert_eq!(list["result"]["cacheScope"], "public", "{list}");
}
