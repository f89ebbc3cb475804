//! `devkit up`'s dashboard at `/_devkit/`: how to connect, what is running,
//! each client's sign-in as a timeline (and where it stopped, with the
//! likely cause), the tool calls as they happen, and a token inspector.
//!
//! It is served on the connector's own port but answers loopback `Host`s
//! only: a request that came through the tunnel names the public host and
//! gets 404, as if there were nothing here. The page is HTML rendered here
//! with a little JavaScript that listens to `/_devkit/events` (server-sent
//! events) and redraws from `/_devkit/state`. No build step.

use std::{
    collections::{HashMap, VecDeque},
    convert::Infallible,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use axum::{
    Json, Router,
    extract::{Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{
        Html, IntoResponse, Response,
        sse::{Event as SseEvent, KeepAlive, Sse},
    },
    routing::{get, post},
};
use kit_serve::activity::{Activity, Event, What, shortened};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::inspect::{self, Expected};

/// The dashboard's path prefix: no app route starts with `/_`.
pub(crate) const PATH: &str = "/_devkit/";
/// Calls kept for the feed; older ones drop off.
const FEED: usize = 200;
/// A discovery read this long before a registration belongs to it.
const DISCOVERY_WINDOW: Duration = Duration::from_secs(120);
/// Tokens issued this long ago and never used: the host did not call back.
const UNUSED_AFTER: Duration = Duration::from_secs(60);

/// What the page shows that does not change while `devkit up` runs.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Setup {
    pub app: String,
    pub connector: String,
    pub local: String,
    pub passcode: Option<String>,
    pub database: String,
    pub tunnel: Option<String>,
    pub sign_in: bool,
    #[serde(skip)]
    pub started: SystemTime,
}

/// Everything the dashboard needs: the setup, what it has recorded, the
/// activity to follow, and what the token inspector checks against.
#[derive(Debug, Clone)]
pub(crate) struct Dashboard {
    setup: Arc<Setup>,
    record: Arc<Mutex<Record>>,
    activity: Activity,
    /// Where the issuer's keys are (this process, on loopback).
    jwks_url: String,
    issuer: String,
    /// Ends the event streams, so an open page does not hold up a shutdown.
    stop: CancellationToken,
    /// Where the users' saved state is read from.
    store: gateway::store::Store,
}

impl Dashboard {
    /// Starts recording `activity` (which must be on) for the page.
    pub(crate) fn start(
        setup: Setup,
        activity: Activity,
        (jwks_url, issuer): (String, String),
        stop: CancellationToken,
        store: gateway::store::Store,
    ) -> Self {
        let record = Arc::new(Mutex::new(Record::default()));
        if let Some(mut events) = activity.subscribe() {
            let record = record.clone();
            tokio::spawn(async move {
                loop {
                    match events.recv().await {
                        Ok(event) => lock(&record).add(&event),
                        Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => return,
                    }
                }
            });
        }
        Self {
            setup: Arc::new(setup),
            record,
            activity,
            jwks_url,
            issuer,
            stop,
            store,
        }
    }

    /// `/_devkit/…`, for requests to `port` on loopback only.
    pub(crate) fn router(self, port: u16) -> Router {
        Router::new()
            .route(PATH, get(page))
            .route("/_devkit/state", get(state))
            .route("/_devkit/events", get(events))
            .route("/_devkit/inspect", post(inspect_token))
            .layer(middleware::from_fn_with_state(port, loopback_only))
            .with_state(self)
    }
}

fn lock(record: &Mutex<Record>) -> std::sync::MutexGuard<'_, Record> {
    record.lock().unwrap_or_else(|e| e.into_inner())
}

/// Only requests addressed to this process on loopback: its own port under
/// a loopback name. Through the tunnel the `Host` is the public one (a
/// trycloudflare name, or in tests a forwarder's port): nothing here.
async fn loopback_only(State(port): State<u16>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let addressed_here = host.rsplit_once(':').is_some_and(|(name, at)| {
        matches!(name, "127.0.0.1" | "localhost" | "[::1]") && at.parse() == Ok(port)
    });
    if addressed_here {
        next.run(request).await
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

async fn page(State(dashboard): State<Dashboard>) -> Html<String> {
    // The connector URL as a QR code, to add it from a phone.
    let qr = qrcode::QrCode::new(dashboard.setup.connector.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(140, 140)
                .build()
        })
        .unwrap_or_default();
    Html(
        include_str!("dashboard.html")
            .replace("{{qr}}", &qr)
            .replace(
                "{{setup}}",
                // Safe inside <script>: `<` is escaped, so no `</script>` can close it.
                &serde_json::to_string(&*dashboard.setup)
                    .unwrap_or_default()
                    .replace('<', "\\u003c"),
            ),
    )
}

async fn state(State(dashboard): State<Dashboard>) -> Json<Value> {
    let now = SystemTime::now();
    let uptime = now
        .duration_since(dashboard.setup.started)
        .unwrap_or_default()
        .as_secs();
    let (mut answer, users) = {
        let record = lock(&dashboard.record);
        let answer = json!({
            "uptime_seconds": uptime,
            "clients": record.timelines(now),
            "feed": record.feed,
            "refusals": record.refusals,
        });
        (answer, record.users())
    };
    // Each user's saved state, as `user_get_state` would give it.
    let mut rows = Vec::with_capacity(users.len());
    for (user, last_call) in users {
        let saved = dashboard.store.state(&user).await.ok();
        rows.push(json!({
            "user": user,
            "last_call": last_call,
            "version": saved.as_ref().map(|s| s.version),
            // At most 300 characters of a saved state.
            "state": saved.map(|s| shortened(&s.state.to_string(), 300)),
        }));
    }
    answer["users"] = Value::Array(rows);
    answer["database_reachable"] = Value::Bool(dashboard.store.ping().await.is_ok());
    Json(answer)
}

/// Each event as it happens, as JSON; the page redraws on each.
async fn events(
    State(dashboard): State<Dashboard>,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let receiver = dashboard.activity.subscribe();
    let stop = dashboard.stop.clone();
    let stream = futures_util::stream::unfold(receiver, move |receiver| {
        let stop = stop.clone();
        async move {
            let mut receiver = receiver?;
            loop {
                let next = tokio::select! {
                    () = stop.cancelled() => return None,
                    next = receiver.recv() => next,
                };
                match next {
                    Ok(event) => {
                        let data = json!({"kind": kind(&event.what)}).to_string();
                        return Some((Ok(SseEvent::default().data(data)), Some(receiver)));
                    }
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

#[derive(Debug, serde::Deserialize)]
struct Pasted {
    token: String,
}

async fn inspect_token(State(dashboard): State<Dashboard>, Json(pasted): Json<Pasted>) -> Response {
    let jwks = match reqwest::get(&dashboard.jwks_url).await {
        Ok(answer) => answer.json().await,
        Err(e) => Err(e),
    };
    let jwks = match jwks {
        Ok(jwks) => jwks,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": format!("cannot read the issuer's keys: {e}")})),
            )
                .into_response();
        }
    };
    let expected = Expected {
        issuer: dashboard.issuer.clone(),
        audience: dashboard.setup.connector.clone(),
        jwks,
    };
    match inspect::inspect(&pasted.token, &expected, chrono::Utc::now().timestamp()) {
        Ok(inspection) => Json(inspection).into_response(),
        Err(problem) => (StatusCode::BAD_REQUEST, Json(json!({"error": problem}))).into_response(),
    }
}

fn kind(what: &What) -> &'static str {
    match what {
        What::MetadataFetched { .. } => "metadata_fetched",
        What::Registered { .. } => "registered",
        What::AuthorizePage { .. } => "page_shown",
        What::Approved { .. } => "approved",
        What::Denied { .. } => "denied",
        What::CodeExchanged { .. } => "code_exchanged",
        What::Refreshed { .. } => "refreshed",
        What::TokenRefused { .. } => "token_refused",
        What::ToolCall { .. } => "tool_call",
        What::Refused { .. } => "refused",
    }
}

/// What the dashboard has seen since `devkit up` started.
#[derive(Debug, Default)]
struct Record {
    clients: Vec<Timeline>,
    feed: VecDeque<Call>,
    refusals: VecDeque<Refusal>,
    /// User → their latest call.
    last_call: HashMap<String, SystemTime>,
    /// The latest read of a discovery document: a client about to register.
    discovery: Option<SystemTime>,
}

#[derive(Debug, Clone, Serialize)]
struct Call {
    at: String,
    user: String,
    tool: String,
    millis: f64,
    outcome: String,
    arguments: String,
    result: String,
}

#[derive(Debug, Clone, Serialize)]
struct Refusal {
    at: String,
    #[serde(skip)]
    when: SystemTime,
    status: u16,
    why: String,
}

/// One client's sign-in, step by step.
#[derive(Debug)]
struct Timeline {
    client_id: String,
    name: Option<String>,
    user: Option<String>,
    steps: Vec<(Step, SystemTime, String)>,
}

/// The steps a sign-in goes through, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
enum Step {
    MetadataFetched,
    Registered,
    PageShown,
    Approved,
    Denied,
    CodeExchanged,
    FirstCall,
    BeginSession,
    ToolCalls,
}

impl Record {
    fn add(&mut self, event: &Event) {
        let at = event.at;
        match &event.what {
            What::MetadataFetched { .. } => self.discovery = Some(at),
            What::Registered {
                client_id,
                client_name,
                how,
            } => {
                // Discovery carries no client id: a read just before this
                // registration was this client's.
                let discovered = self.discovery.filter(|d| {
                    at.duration_since(*d)
                        .is_ok_and(|ago| ago <= DISCOVERY_WINDOW)
                });
                let timeline = self.client(client_id);
                if let Some(discovered) = discovered {
                    timeline.step(Step::MetadataFetched, discovered, String::new());
                }
                timeline.name.clone_from(client_name);
                timeline.step(Step::Registered, at, format!("by {how}"));
            }
            What::AuthorizePage { client_id } => {
                self.client(client_id)
                    .step(Step::PageShown, at, String::new());
            }
            What::Approved { client_id, user } => {
                let timeline = self.client(client_id);
                timeline.user = Some(user.clone());
                timeline.step(Step::Approved, at, format!("as {user}"));
            }
            What::Denied { client_id, why } => {
                self.client(client_id).step(Step::Denied, at, why.clone());
            }
            What::CodeExchanged { client_id, user } | What::Refreshed { client_id, user } => {
                let timeline = self.client(client_id);
                timeline.user = Some(user.clone());
                timeline.step(Step::CodeExchanged, at, String::new());
            }
            What::TokenRefused { .. } => {}
            What::ToolCall {
                user,
                tool,
                millis,
                outcome,
                arguments,
                result,
            } => {
                // The call belongs to the latest sign-in of its user.
                if let Some(timeline) = self
                    .clients
                    .iter_mut()
                    .rev()
                    .find(|t| t.user.as_deref() == Some(user.as_str()))
                {
                    timeline.step(Step::FirstCall, at, String::new());
                    if tool == "begin_session" {
                        timeline.step(Step::BeginSession, at, String::new());
                    } else {
                        timeline.step(Step::ToolCalls, at, tool.clone());
                    }
                }
                self.last_call.insert(user.clone(), at);
                if self.feed.len() == FEED {
                    self.feed.pop_back();
                }
                self.feed.push_front(Call {
                    at: clock(at),
                    user: user.clone(),
                    tool: tool.clone(),
                    millis: (millis * 10.0).round() / 10.0,
                    outcome: outcome.clone(),
                    arguments: arguments.clone(),
                    result: result.clone(),
                });
            }
            What::Refused { status, why } => {
                if self.refusals.len() == FEED {
                    self.refusals.pop_back();
                }
                self.refusals.push_front(Refusal {
                    at: clock(at),
                    when: at,
                    status: *status,
                    why: why.clone(),
                });
            }
        }
    }

    fn client(&mut self, client_id: &str) -> &mut Timeline {
        let at = match self.clients.iter().position(|t| t.client_id == client_id) {
            Some(at) => at,
            None => {
                self.clients.push(Timeline {
                    client_id: client_id.to_owned(),
                    name: None,
                    user: None,
                    steps: Vec::new(),
                });
                self.clients.len() - 1
            }
        };
        &mut self.clients[at]
    }

    fn timelines(&self, now: SystemTime) -> Vec<Value> {
        self.clients
            .iter()
            .rev()
            .map(|t| {
                json!({
                    "client_id": t.client_id,
                    "name": t.name,
                    "user": t.user,
                    "steps": t.steps.iter().map(|(step, at, detail)| json!({
                        "step": step, "at": clock(*at), "detail": detail,
                    })).collect::<Vec<_>>(),
                    "stopped": t.stopped(now, &self.refusals),
                })
            })
            .collect()
    }

    /// Everyone who signed in or called, latest first, with their last call.
    fn users(&self) -> Vec<(String, Option<String>)> {
        let mut users: Vec<(String, Option<SystemTime>)> = self
            .last_call
            .iter()
            .map(|(user, at)| (user.clone(), Some(*at)))
            .collect();
        for user in self.clients.iter().filter_map(|t| t.user.as_ref()) {
            if !users.iter().any(|(known, _)| known == user) {
                users.push((user.clone(), None));
            }
        }
        users.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        users
            .into_iter()
            .map(|(user, at)| (user, at.map(clock)))
            .collect()
    }
}

impl Timeline {
    /// Records `step` once (the first time it happens; tool calls: the latest).
    fn step(&mut self, step: Step, at: SystemTime, detail: String) {
        match self.steps.iter_mut().find(|(s, ..)| *s == step) {
            Some(seen) if step == Step::ToolCalls => *seen = (step, at, detail),
            Some(_) => {}
            None => self.steps.push((step, at, detail)),
        }
    }

    fn reached(&self, step: Step) -> Option<SystemTime> {
        self.steps
            .iter()
            .find(|(s, ..)| *s == step)
            .map(|(_, at, _)| *at)
    }

    /// Where the sign-in stopped and why, in plain words; `None` once the
    /// client calls tools (or while a step is still fresh).
    fn stopped(&self, now: SystemTime, refusals: &VecDeque<Refusal>) -> Option<String> {
        if self.reached(Step::ToolCalls).is_some() || self.reached(Step::BeginSession).is_some() {
            return None;
        }
        if let Some((_, _, why)) = self.steps.iter().find(|(s, ..)| *s == Step::Denied) {
            return Some(format!("stopped at the sign-in page: {why}"));
        }
        let ago = |at: SystemTime| now.duration_since(at).unwrap_or_default();
        if let Some(at) = self.reached(Step::CodeExchanged) {
            // A refusal since the tokens were issued says why they did not work.
            if let Some(refused) = refusals.iter().find(|r| r.status == 401 && r.when >= at) {
                return Some(format!(
                    "tokens issued, but a call was refused: {} (the token inspector shows the token's claims)",
                    refused.why
                ));
            }
            if ago(at) >= UNUSED_AFTER {
                return Some(format!(
                    "tokens issued {} min ago, never used: the host did not call the connector back",
                    ago(at).as_secs() / 60
                ));
            }
            return None;
        }
        // The latest step reached decides, so check from the end.
        if let Some(at) = self.reached(Step::Approved) {
            return (ago(at) >= UNUSED_AFTER).then(|| {
                "approved, but the host never exchanged its code: check its redirect URI".into()
            });
        }
        if let Some(at) = self.reached(Step::PageShown) {
            return (ago(at) >= UNUSED_AFTER)
                .then(|| "the sign-in page was shown and never answered".into());
        }
        match self.reached(Step::Registered) {
            Some(at) if ago(at) >= UNUSED_AFTER => {
                Some("registered, but the host never opened the sign-in page".into())
            }
            _ => None,
        }
    }
}

/// Local wall-clock time, as the live lines show it.
fn clock(at: SystemTime) -> String {
    chrono::DateTime::<chrono::Local>::from(at)
        .format("%H:%M:%S")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at: SystemTime, what: What) -> Event {
        Event { at, what }
    }

    #[test]
    fn a_sign_in_that_stops_says_where_and_why() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let mut record = Record::default();
        let client = || "c1".to_owned();
        record.add(&event(
            start,
            What::Registered {
                client_id: client(),
                client_name: Some("Claude".into()),
                how: "dcr",
            },
        ));
        record.add(&event(
            start,
            What::AuthorizePage {
                client_id: client(),
            },
        ));
        record.add(&event(
            start,
            What::Approved {
                client_id: client(),
                user: "ada".into(),
            },
        ));
        record.add(&event(
            start,
            What::CodeExchanged {
                client_id: client(),
                user: "ada".into(),
            },
        ));
        let soon = start + Duration::from_secs(5);
        assert_eq!(
            record.timelines(soon)[0]["stopped"],
            Value::Null,
            "still fresh"
        );
        let later = start + Duration::from_secs(180);
        let stopped = record.timelines(later)[0]["stopped"]
            .as_str()
            .map(str::to_owned);
        assert_eq!(
            stopped.as_deref(),
            Some("tokens issued 3 min ago, never used: the host did not call the connector back")
        );

        record.add(&event(
            later,
            What::Refused {
                status: 401,
                why: "the token is for another audience".into(),
            },
        ));
        let stopped = record.timelines(later)[0]["stopped"]
            .as_str()
            .map(str::to_owned);
        assert!(stopped.is_some_and(|s| s.contains("for another audience")));

        record.add(&event(
            later,
            What::ToolCall {
                user: "ada".into(),
                tool: "begin_session".into(),
                millis: 3.0,
                outcome: "ok".into(),
                arguments: "{}".into(),
                result: r#"{"session":"abcdef…"}"#.into(),
            },
        ));
        record.add(&event(
            later,
            What::ToolCall {
                user: "ada".into(),
                tool: "domain_search".into(),
                millis: 2.0,
                outcome: "ok".into(),
                arguments: r#"{"query":"maps"}"#.into(),
                result: r#"{"matches":[]}"#.into(),
            },
        ));
        let timeline = &record.timelines(later)[0];
        assert_eq!(timeline["stopped"], Value::Null);
        let steps: Vec<&str> = timeline["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .filter_map(|s| s["step"].as_str())
            .collect();
        assert_eq!(
            steps,
            [
                "registered",
                "page_shown",
                "approved",
                "code_exchanged",
                "first_call",
                "begin_session",
                "tool_calls"
            ]
        );
        assert_eq!(record.feed.len(), 2);
        assert_eq!(record.feed[0].tool, "domain_search", "newest first");
    }

    #[test]
    fn a_denied_sign_in_says_so() {
        let now = SystemTime::now();
        let mut record = Record::default();
        record.add(&event(
            now,
            What::AuthorizePage {
                client_id: "c".into(),
            },
        ));
        record.add(&event(
            now,
            What::Denied {
                client_id: "c".into(),
                why: "wrong passcode".into(),
            },
        ));
        let stopped = record.timelines(now)[0]["stopped"]
            .as_str()
            .map(str::to_owned);
        assert_eq!(
            stopped.as_deref(),
            Some("stopped at the sign-in page: wrong passcode")
        );
    }
}
