//! Many users at once, checked against a model: thousands of randomly
//! interleaved reads and (versioned) saves over parallel connections. Each
//! user's answers must match a sequential model of that user's own calls,
//! and no answer may ever hold another user's data.
//!
//! The seed is printed; `CONCURRENCY_SEED=n` replays a run, and
//! `CONCURRENCY_OPS=n` makes it longer.

use e2e::{AppOptions, Backend, TestApp, db::backends, spawn_app};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};

const USERS: usize = 12;

/// What a user has saved, as the model sees it.
#[derive(Debug, Default, Clone)]
struct Model {
    version: i64,
    state: Value,
}

#[derive(Debug)]
enum Op {
    Get,
    Save { expected: Option<i64>, counter: u64 },
}

fn ops_per_user() -> usize {
    std::env::var("CONCURRENCY_OPS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200)
}

fn seed() -> u64 {
    std::env::var("CONCURRENCY_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| rand::rng().random())
}

async fn call(
    http: &reqwest::Client,
    app: &TestApp,
    token: &str,
    tool: &str,
    arguments: Value,
) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": tool, "arguments": arguments}});
    let response = http
        .post(&app.url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .json(&body)
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(response.status(), 200);
    let message: Value = response.json().await.expect("json");
    message["result"].clone()
}

/// One user's run: `ops` calls, each checked against the model as it returns.
async fn user_run(app: &TestApp, user: usize, ops: Vec<Op>) -> Result<Model, String> {
    let sub = format!("user-{user}");
    let token = app.token_for(&sub);
    // One client per user: its own connections, in parallel with the others'.
    let http = reqwest::Client::new();
    let start = call(&http, app, &token, "begin_session", json!({})).await;
    let session = start["structuredContent"]["session"].clone();
    let mut model = Model {
        state: Value::Null,
        ..Model::default()
    };
    for (i, op) in ops.into_iter().enumerate() {
        let at = format!("{sub} op {i} ({op:?})");
        match op {
            Op::Get => {
                let result = call(
                    &http,
                    app,
                    &token,
                    "user_get_state",
                    json!({"session": session}),
                )
                .await;
                let content = &result["structuredContent"];
                if content["version"] != json!(model.version) || content["state"] != model.state {
                    return Err(format!(
                        "{at}: read {content}, model has version {} {}",
                        model.version, model.state
                    ));
                }
            }
            Op::Save { expected, counter } => {
                let state = json!({"owner": sub, "counter": counter});
                let mut args = json!({"session": session, "state": state});
                if let Some(v) = expected {
                    args["expected_version"] = json!(v);
                }
                let result = call(&http, app, &token, "user_save_state", args).await;
                let stale = expected.is_some_and(|v| v != model.version);
                if stale {
                    let text = result["content"][0]["text"].as_str().unwrap_or_default();
                    let current = format!("at version {}", model.version);
                    if result["isError"] != json!(true)
                        || !text.starts_with("STALE_VERSION")
                        || !text.contains(&current)
                    {
                        return Err(format!("{at}: a stale save answered {result}"));
                    }
                } else {
                    model.version += 1;
                    model.state = state;
                    if result["structuredContent"]["version"] != json!(model.version) {
                        return Err(format!(
                            "{at}: saved as {result}, model expects version {}",
                            model.version
                        ));
                    }
                }
            }
        }
    }
    Ok(model)
}

/// Random ops for one user: reads, blind saves, saves at the right version
/// and saves at a stale one.
fn plan(rng: &mut StdRng, n: usize) -> Vec<Op> {
    let mut version_guess = 0i64;
    (0..n)
        .map(|i| match rng.random_range(0..10) {
            0..=3 => Op::Get,
            4..=5 => {
                version_guess += 1;
                Op::Save {
                    expected: None,
                    counter: i as u64,
                }
            }
            6..=8 => {
                // The right version, as a careful client would send it.
                let op = Op::Save {
                    expected: Some(version_guess),
                    counter: i as u64,
                };
                version_guess += 1;
                op
            }
            _ => Op::Save {
                expected: Some(
                    rng.random_range(0..=version_guess + 3).max(0)
                        + if rng.random() { 0 } else { 100 },
                ),
                counter: i as u64,
            },
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interleaved_users_match_a_sequential_model() {
    for backend in backends() {
        run_on(backend).await;
    }
}

async fn run_on(backend: Backend) {
    let seed = seed();
    eprintln!("concurrency on {backend:?}: CONCURRENCY_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let app = std::sync::Arc::new(spawn_app(AppOptions::on(backend)).await);
    let n = ops_per_user();
    let mut runs = tokio::task::JoinSet::new();
    for user in 0..USERS {
        let ops = plan(&mut rng, n);
        let app = app.clone();
        runs.spawn(async move { (user, user_run(&app, user, ops).await) });
    }
    let mut finals = Vec::new();
    while let Some(done) = runs.join_next().await {
        let (user, outcome) = done.expect("a user's run panicked");
        let model = outcome.unwrap_or_else(|e| panic!("seed {seed} on {backend:?}: {e}"));
        finals.push((user, model));
    }
    // Afterwards, with nothing in flight: the store equals every model.
    let http = reqwest::Client::new();
    for (user, model) in finals {
        let sub = format!("user-{user}");
        let token = app.token_for(&sub);
        let start = call(&http, &app, &token, "begin_session", json!({})).await;
        let saved = &start["structuredContent"]["state"];
        assert_eq!(saved["version"], json!(model.version), "seed {seed}: {sub}");
        assert_eq!(saved["state"], model.state, "seed {seed}: {sub}");
        if !model.state.is_null() {
            assert_eq!(
                saved["state"]["owner"],
                json!(sub),
                "seed {seed}: no user sees another's data"
            );
        }
    }
}
