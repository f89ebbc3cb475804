//! What is measured: the tools under load, the simulated users who call them,
//! the full check of a sampled answer, and the count of saves afterwards.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, bail};
use http::HeaderValue;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    child::Child,
    database::Engine,
    gateway::Gateway,
    issuer::LocalIssuer,
    load::{self, Call, Connection, Outcome, Window},
    mcp,
    references::Reference,
};

/// The tools the scenarios call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    DomainGetItem,
    DomainSearch,
    UserSaveState,
    BeginSession,
}

/// The article every `domain_get_item` asks for, and a query with many matches.
const ITEM_ID: &str = "a1";
const SEARCH_QUERY: &str = "reading";

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Self::DomainGetItem => "domain_get_item",
            Self::DomainSearch => "domain_search",
            Self::UserSaveState => "user_save_state",
            Self::BeginSession => "begin_session",
        }
    }

    fn arguments(self, session: &str) -> Value {
        match self {
            Self::DomainGetItem => json!({"session": session, "id": ITEM_ID}),
            Self::DomainSearch => json!({"session": session, "query": SEARCH_QUERY}),
            // Unconditional saves: each acknowledged one adds exactly one version.
            Self::UserSaveState => json!({
                "session": session,
                "state": {"article": "a3", "position": 1200, "note": "benchmark"},
            }),
            Self::BeginSession => json!({}),
        }
    }

    /// Is this sampled answer a real success, not just a 200?
    fn check(self, content: &Value, user: &User) -> Result<(), String> {
        let ok = match self {
            Self::DomainGetItem => {
                content["item"]["id"] == ITEM_ID
                    && content["item"]["title"]
                        .as_str()
                        .is_some_and(|t| !t.is_empty())
            }
            Self::DomainSearch => content["matches"]
                .as_array()
                .and_then(|matches| matches.first())
                .is_some_and(|first| first["id"].is_string() && first["title"].is_string()),
            Self::UserSaveState => content["version"].as_i64().is_some_and(|v| v >= 1),
            Self::BeginSession => {
                content["session"].as_str().is_some_and(|s| !s.is_empty())
                    && content["user"]["id"] == user.sub.as_str()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!(
                "the sampled {} answer lacks what a success holds",
                self.name()
            ))
        }
    }
}

/// One tool at one concurrency.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub tool: Tool,
    pub concurrency: usize,
}

/// Everything on the gateway, on its main store.
pub const GATEWAY: [Scenario; 6] = [
    Scenario::new(Tool::DomainGetItem, 1),
    Scenario::new(Tool::DomainGetItem, 16),
    Scenario::new(Tool::DomainGetItem, 64),
    Scenario::new(Tool::DomainSearch, 16),
    Scenario::new(Tool::UserSaveState, 16),
    Scenario::new(Tool::BeginSession, 16),
];

/// On a second store (Postgres), the one scenario that the store decides.
pub const SECOND_STORE: [Scenario; 1] = [Scenario::new(Tool::UserSaveState, 16)];

/// The references answer `domain_get_item` at the concurrencies the targets name.
pub const REFERENCES: [Scenario; 2] = [
    Scenario::new(Tool::DomainGetItem, 16),
    Scenario::new(Tool::DomainGetItem, 64),
];

impl Scenario {
    const fn new(tool: Tool, concurrency: usize) -> Self {
        Self { tool, concurrency }
    }
}

/// Who answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Server {
    Gateway,
    HttpCeiling,
    FrameworkFloor,
}

impl Server {
    pub fn label(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::HttpCeiling => Reference::Ceiling.label(),
            Self::FrameworkFloor => Reference::Floor.label(),
        }
    }
}

impl From<Reference> for Server {
    fn from(reference: Reference) -> Self {
        match reference {
            Reference::Ceiling => Self::HttpCeiling,
            Reference::Floor => Self::FrameworkFloor,
        }
    }
}

/// A simulated user: their own access token and session.
#[derive(Debug, Clone)]
pub struct User {
    pub sub: String,
    pub bearer: HeaderValue,
    pub session: String,
}

impl User {
    pub fn call(&self, addr: SocketAddr, tool: Tool) -> anyhow::Result<Call> {
        let body = mcp::tools_call(tool.name(), tool.arguments(&self.session));
        Call::new(addr, self.bearer.clone(), body)
    }
}

/// What signing in the users found out about the gateway.
#[derive(Debug)]
pub struct SignedIn {
    pub users: Vec<User>,
    /// From spawning the process to its first successful tool call.
    pub start_to_first_call: Duration,
}

/// Mints a token per user and checks each in with `begin_session`. The
/// first user's check-in is also the start-up probe, polled until it works.
pub async fn sign_in(
    gateway: &mut Gateway,
    issuer: &LocalIssuer,
    count: usize,
) -> anyhow::Result<SignedIn> {
    let mut users = Vec::with_capacity(count);
    for n in 0..count {
        let sub = format!("bench-user-{n}");
        let bearer = issuer.bearer_for(&sub, &gateway.resource_url)?;
        users.push(User {
            sub,
            bearer,
            session: String::new(),
        });
    }
    let addr = gateway.addr;
    let mut start_to_first_call = Duration::ZERO;
    let mut connection: Option<Connection> = None;
    for (n, user) in users.iter_mut().enumerate() {
        let call = user.call(addr, Tool::BeginSession)?;
        let body = if n == 0 {
            let (elapsed, body) = gateway.child.first_success(addr, &call).await?;
            start_to_first_call = elapsed;
            body
        } else {
            let open = match connection.as_mut() {
                Some(open) => open,
                None => connection.insert(Connection::open(addr).await?),
            };
            let reply = open.send(call.request()).await?;
            reply.verdict().map_err(anyhow::Error::msg)?;
            reply.body
        };
        let content = mcp::structured_content(http::StatusCode::OK, &body)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("begin_session for {}", user.sub))?;
        Tool::BeginSession
            .check(&content, user)
            .map_err(anyhow::Error::msg)?;
        user.session = content["session"]
            .as_str()
            .context("begin_session returned no session")?
            .to_owned();
    }
    Ok(SignedIn {
        users,
        start_to_first_call,
    })
}

/// One scenario's figures, as reported.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub tool: Tool,
    pub server: Server,
    /// The gateway's store; `None` for the references.
    pub store: Option<Engine>,
    pub concurrency: usize,
    /// With `--rounds`: which interleaved round (from 1) this window was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round: Option<usize>,
    pub requests: u64,
    pub errors: u64,
    pub warmup_errors: u64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The server's CPU time (all its threads, user and system) over the
    /// measuring window, per request answered in it. Steadier than req/s on
    /// a shared machine, where the load generator competes for the same cores.
    pub server_cpu_us_per_call: Option<f64>,
    /// Why the sampled answer is not a real success; `None` when it is.
    pub sample_problem: Option<String>,
    pub first_error: Option<String>,
}

impl Measured {
    pub fn failed(&self) -> bool {
        self.errors > 0 || self.warmup_errors > 0 || self.sample_problem.is_some()
    }
}

/// Runs `scenario` against `process`, listening on `addr`, one user per worker.
pub async fn measure(
    process: &Child,
    addr: SocketAddr,
    server: Server,
    store: Option<Engine>,
    scenario: Scenario,
    users: &[User],
    window: Window,
) -> anyhow::Result<(Measured, Outcome)> {
    if users.len() < scenario.concurrency {
        bail!(
            "{} users signed in; {} needed",
            users.len(),
            scenario.concurrency
        );
    }
    let calls = users[..scenario.concurrency]
        .iter()
        .map(|user| user.call(addr, scenario.tool))
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!(
        "bench: {} {} at concurrency {}",
        server.label(),
        scenario.tool.name(),
        scenario.concurrency
    );
    let (outcome, cpu) = tokio::join!(load::run(addr, calls, window), cpu_in(process, window));
    let (outcome, cpu) = (outcome?, cpu?);
    // The numbers count only if worker 0's last answer is a real success.
    let sample_problem = match &outcome.last_reply {
        None => Some("no answer was sampled".to_owned()),
        Some(reply) => mcp::structured_content(reply.status, &reply.body)
            .and_then(|content| scenario.tool.check(&content, &users[0]))
            .err(),
    };
    let millis = |micros: u64| micros as f64 / 1000.0;
    let measured = Measured {
        tool: scenario.tool,
        server,
        store,
        concurrency: scenario.concurrency,
        round: None,
        requests: outcome.requests,
        errors: outcome.errors,
        warmup_errors: outcome.warmup_errors,
        requests_per_second: outcome.requests_per_second(),
        p50_ms: millis(outcome.histogram.value_at_quantile(0.50)),
        p99_ms: millis(outcome.histogram.value_at_quantile(0.99)),
        max_ms: millis(outcome.histogram.max()),
        server_cpu_us_per_call: (outcome.requests > 0)
            .then(|| cpu.as_secs_f64() * 1e6 / outcome.requests as f64),
        sample_problem,
        first_error: outcome.first_error.clone(),
    };
    Ok((measured, outcome))
}

/// The CPU time `process` spends in `window`'s measuring part.
async fn cpu_in(process: &Child, window: Window) -> anyhow::Result<Duration> {
    tokio::time::sleep(window.warmup).await;
    let before = process.cpu_time()?;
    tokio::time::sleep(window.measure).await;
    Ok(process.cpu_time()?.saturating_sub(before))
}

/// "Nothing lost": every save the gateway acknowledged is a version in the store.
#[derive(Debug, Clone, Serialize)]
pub struct SaveCount {
    pub store: Engine,
    pub users: usize,
    /// Saves answered with a new version, warm-up included.
    pub acknowledged: u64,
    /// The versions the store holds for those users, added up.
    pub versions: u64,
    /// Users whose version is not their count of acknowledged saves.
    pub mismatched_users: Vec<String>,
}

impl SaveCount {
    pub fn lost(&self) -> u64 {
        self.acknowledged.saturating_sub(self.versions)
    }

    pub fn failed(&self) -> bool {
        !self.mismatched_users.is_empty()
    }
}

/// Reads each saving user's state back: its version must equal the saves
/// acknowledged to that user (versions start at 0 and each save adds one).
pub async fn count_saves(
    addr: SocketAddr,
    store: Engine,
    users: &[User],
    acknowledged: &[u64],
) -> anyhow::Result<SaveCount> {
    let mut connection = Connection::open(addr).await?;
    let mut count = SaveCount {
        store,
        users: acknowledged.len(),
        acknowledged: acknowledged.iter().sum(),
        versions: 0,
        mismatched_users: vec![],
    };
    for (user, &acked) in users.iter().zip(acknowledged) {
        let call = Call::new(
            addr,
            user.bearer.clone(),
            mcp::tools_call("user_get_state", json!({"session": user.session})),
        )?;
        let reply = connection.send(call.request()).await?;
        let content = mcp::structured_content(reply.status, &reply.body)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("user_get_state for {}", user.sub))?;
        let version = content["version"]
            .as_u64()
            .context("user_get_state returned no version")?;
        count.versions += version;
        if version != acked {
            count.mismatched_users.push(format!(
                "{}: {acked} acknowledged, version {version}",
                user.sub
            ));
        }
    }
    Ok(count)
}
