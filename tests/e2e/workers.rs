//! CPU-heavy tool calls must not stall everyone else's. Shown by order, not
//! by timing: while calls that compute are still computing (they spin until
//! the test lets them go), another user's unrelated call completes.
//!
//! With the work run inline on the async workers (as `domain_search` once
//! did), the spinners hold every worker, the unrelated call cannot be
//! answered until they give up, and this test fails.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};
use std::time::{Duration, Instant};

use e2e::{Backend, TestApp};
use gateway::domain::{Caller, DomainError, NoArgs, cpu_bound, domain_tools};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

/// The runtime's async workers; the test keeps more calls than this busy.
const WORKERS: usize = 2;
const SPINNERS: usize = WORKERS + 2;

/// A spinner gives up after this long, so a failing run ends.
const GIVE_UP: Duration = Duration::from_secs(15);

#[derive(Debug, Default)]
struct Gate {
    spinning: AtomicUsize,
    released: AtomicBool,
    gave_up: AtomicBool,
}

#[derive(Debug)]
struct Spinner(Arc<Gate>);

#[derive(Serialize, JsonSchema)]
struct Spun {
    released: bool,
}

#[domain_tools]
impl Spinner {
    /// Computes until the test releases it (a stand-in for a long search).
    #[query(title = "Spin")]
    async fn domain_spin(self: Arc<Self>, _me: Caller, _: NoArgs) -> Result<Spun, DomainError> {
        let gate = self.0.clone();
        let released = cpu_bound(move || {
            gate.spinning.fetch_add(1, Ordering::SeqCst);
            let start = Instant::now();
            while !gate.released.load(Ordering::SeqCst) {
                if start.elapsed() > GIVE_UP {
                    gate.gave_up.store(true, Ordering::SeqCst);
                    return false;
                }
                std::hint::spin_loop();
            }
            true
        })
        .await;
        Ok(Spun { released })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_is_answered_while_others_compute() {
    let gate = Arc::new(Gate::default());
    let spinner = Spinner(gate.clone());
    let app = gateway::App::data_pack().domain(move |_| spinner);
    let app = TestApp::start(app, Backend::Sqlite).await;
    let alice = Arc::new(app.sign_in("alice").await);
    let bob = app.sign_in("bob").await;

    let spins: Vec<_> = (0..SPINNERS)
        .map(|_| {
            let alice = alice.clone();
            tokio::spawn(async move { alice.call("domain_spin", json!({})).await })
        })
        .collect();
    // Wait (off the workers: this is the test's own thread) until the
    // spinners hold at least as many threads as there are workers.
    while gate.spinning.load(Ordering::SeqCst) < WORKERS && !gate.gave_up.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(5));
    }

    let item = bob.call("domain_get_item", json!({"id": "a1"})).await;
    let spinners_gave_up = gate.gave_up.load(Ordering::SeqCst);
    gate.released.store(true, Ordering::SeqCst);
    assert_eq!(item.ok()["item"]["id"], "a1");
    assert!(
        !spinners_gave_up,
        "bob's call was answered only after the computing calls gave up: they held the async workers"
    );
    for spin in spins {
        let reply = spin.await.expect("the spin call finishes");
        assert_eq!(reply.ok()["released"], true);
    }
}
