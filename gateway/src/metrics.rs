//! What an operator graphs: `GET /metrics` in the Prometheus text format
//! (OpenMetrics), from one registry per gateway, so tests that run many
//! gateways in one process each read their own numbers.
//!
//! Labels are small closed sets (HTTP status, tool name, error code, refusal
//! reason): never a user, a token or an argument.

use std::sync::Arc;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, histogram::Histogram},
    registry::Registry,
};

/// Content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
    /// `ok`, or the error's code (`SESSION_REQUIRED`, `NOT_FOUND`, …).
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabel {
    tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// The gateway's counters and histograms, shared by every request.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<StatusLabel, Counter>,
    tool_calls: Family<ToolLabels, Counter>,
    tool_seconds: Family<ToolLabel, Histogram>,
    token_refusals: Family<ReasonLabel, Counter>,
    session_refusals: Counter,
    store_errors: Counter,
    direct_answers: Counter,
}

/// Histogram buckets for tool latency: 0.1 ms to 1.6 s, doubling.
fn latency_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.0001, 2.0, 15)
}

/// The parts whose numbers live elsewhere (the key store, the SQLite
/// writer) hand their instruments over at build time.
#[derive(Debug, Default)]
pub struct Sources {
    /// Key-set fetches that succeeded and that failed.
    pub jwks_fetches: Option<(Counter, Counter)>,
    /// Writes per SQLite group commit.
    pub commit_batch_sizes: Option<Histogram>,
}

impl Metrics {
    pub fn new(sources: Sources) -> Arc<Self> {
        let mut registry = Registry::with_prefix("gateway");
        let requests = Family::<StatusLabel, Counter>::default();
        registry.register(
            "mcp_requests",
            "Requests to the MCP endpoint, by HTTP status",
            requests.clone(),
        );
        let tool_calls = Family::<ToolLabels, Counter>::default();
        registry.register(
            "tool_calls",
            "Tool calls, by tool and outcome (ok or the error code)",
            tool_calls.clone(),
        );
        let tool_seconds = Family::<ToolLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(latency_buckets())
        });
        registry.register(
            "tool_call_duration_seconds",
            "How long tool calls took, by tool",
            tool_seconds.clone(),
        );
        let token_refusals = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "token_refusals",
            "Access tokens refused, by reason",
            token_refusals.clone(),
        );
        let session_refusals = Counter::default();
        registry.register(
            "session_refusals",
            "Tool calls refused for a missing, expired or foreign session",
            session_refusals.clone(),
        );
        let store_errors = Counter::default();
        registry.register(
            "store_errors",
            "Tool calls answered STORE_UNAVAILABLE",
            store_errors.clone(),
        );
        let direct_answers = Counter::default();
        registry.register(
            "mcp_direct_answers",
            "MCP requests answered without rmcp's per-request service loop",
            direct_answers.clone(),
        );
        if let Some((ok, failed)) = sources.jwks_fetches {
            registry.register("jwks_fetches", "Issuer key-set fetches that succeeded", ok);
            registry.register(
                "jwks_fetch_failures",
                "Issuer key-set fetches that failed",
                failed,
            );
        }
        if let Some(batches) = sources.commit_batch_sizes {
            registry.register(
                "sqlite_commit_batch_size",
                "Saves committed together by one SQLite group commit",
                batches,
            );
        }
        Arc::new(Self {
            registry,
            requests,
            tool_calls,
            tool_seconds,
            token_refusals,
            session_refusals,
            store_errors,
            direct_answers,
        })
    }

    pub fn request(&self, status: u16) {
        self.requests.get_or_create(&StatusLabel { status }).inc();
    }

    /// One tool call: its name, `ok` or its error code, and how long it took.
    pub fn tool_call(&self, tool: &str, outcome: &str, seconds: f64) {
        let tool = tool.to_owned();
        self.tool_calls
            .get_or_create(&ToolLabels {
                tool: tool.clone(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.tool_seconds
            .get_or_create(&ToolLabel { tool })
            .observe(seconds);
        match outcome {
            "SESSION_REQUIRED" => {
                self.session_refusals.inc();
            }
            "STORE_UNAVAILABLE" => {
                self.store_errors.inc();
            }
            _ => {}
        }
    }

    /// One request answered in the HTTP task (`http/direct.rs`).
    pub fn answered_directly(&self) {
        self.direct_answers.inc();
    }

    pub fn token_refused(&self, reason: &'static str) {
        self.token_refusals
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Everything, in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_rendered_with_their_labels_and_nothing_else() {
        let fetches = (Counter::default(), Counter::default());
        fetches.0.inc();
        let metrics = Metrics::new(Sources {
            jwks_fetches: Some(fetches),
            commit_batch_sizes: None,
        });
        metrics.request(200);
        metrics.tool_call("user_get_state", "SESSION_REQUIRED", 0.001);
        metrics.token_refused("expired");
        let text = metrics.render();
        for line in [
            "gateway_mcp_requests_total{status=\"200\"} 1",
            "gateway_tool_calls_total{tool=\"user_get_state\",outcome=\"SESSION_REQUIRED\"} 1",
            "gateway_session_refusals_total 1",
            "gateway_token_refusals_total{reason=\"expired\"} 1",
            "gateway_jwks_fetches_total 1",
            "gateway_jwks_fetch_failures_total 0",
            "gateway_store_errors_total 0",
            "gateway_mcp_direct_answers_total 0",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert!(
            text.contains("gateway_tool_call_duration_seconds_count{tool=\"user_get_state\"} 1")
        );
        assert!(text.ends_with("# EOF\n"));
    }
}
