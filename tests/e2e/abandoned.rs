//! A tool call whose answer is abandoned (the request timed out, or the
//! client went away) still runs to its end, as it did when rmcp ran every
//! call in a task of its own: an action is never cut off half-way, and a
//! retry finds what the first attempt did.
//!
//! With the call run inline in the request's future, the timeout drops it
//! mid-way, `finished` is never set, and this test fails.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};
use std::time::{Duration, Instant};

use e2e::{AppOptions, Backend, TestApp};
use gateway::domain::{Caller, DomainError, NoArgs, domain_tools};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

/// The waiting call gives up after this long, so a failing run ends.
const GIVE_UP: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
struct Gate {
    started: AtomicBool,
    released: AtomicBool,
    finished: AtomicBool,
}

#[derive(Debug)]
struct Waiter(Arc<Gate>);

#[derive(Serialize, JsonSchema)]
struct Waited {
    released: bool,
}

#[domain_tools]
impl Waiter {
    /// Waits until the test releases it (a stand-in for a slow action).
    #[query(title = "Wait")]
    async fn domain_wait(self: Arc<Self>, _me: Caller, _: NoArgs) -> Result<Waited, DomainError> {
        let gate = &self.0;
        gate.started.store(true, Ordering::SeqCst);
        let start = Instant::now();
        while !gate.released.load(Ordering::SeqCst) && start.elapsed() < GIVE_UP {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        gate.finished.store(true, Ordering::SeqCst);
        Ok(Waited {
            released: gate.released.load(Ordering::SeqCst),
        })
    }
}

#[tokio::test]
async fn a_call_whose_answer_timed_out_still_finishes() {
    let gate = Arc::new(Gate::default());
    let waiter = Waiter(gate.clone());
    let app = gateway::App::data_pack().domain(move |_| waiter);
    let mut options = AppOptions::on(Backend::Sqlite);
    options.request_timeout = Duration::from_secs(1);
    let app = TestApp::start_with(app, options).await;
    let token = app.token_for("alice");
    let (_client, session) = app.signed_in("alice").await;

    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "domain_wait", "arguments": {"session": session}}});
    let answer = app.post_mcp(Some(&token), &body).await;
    assert_eq!(answer.status(), 408, "the request timed out");
    assert!(gate.started.load(Ordering::SeqCst), "the call had started");

    gate.released.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !gate.finished.load(Ordering::SeqCst) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        gate.finished.load(Ordering::SeqCst),
        "the call was dropped when its answer timed out, instead of running to its end"
    );
}
