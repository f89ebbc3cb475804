//! The app's tools: `begin_session` and the three gated groups
//! (`domain_*`, `user_*`, `config_*`).
//!
//! Identity comes from the verified token the HTTP layer put in the request
//! ([`Identity`] in the request's extensions), never from an argument. Every
//! tool but `begin_session` first checks the session token, and every gated
//! result carries the pack's one-line rules reminder. Failures are tool
//! results written for the model: what went wrong and what to do next.

use std::sync::Arc;

use http::request::Parts;
use rmcp::{
    ErrorData, Json, RoleServer, ServerHandler,
    handler::server::{
        common::{AsRequestContext, FromContextPart},
        router::tool::ToolRouter,
        tool::{IntoCallToolResult, ToolCallContext},
        wrapper::Parameters,
    },
    model::{
        CacheScope, CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock,
        Implementation, ListToolsResult, PaginatedRequestParams, ProtocolVersion,
        ServerCapabilities, ServerConfig,
    },
    service::RequestContext,
    tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, value::RawValue};

use kit_serve::{
    activity::{Activity, What, shortened},
    error_chain,
};

use crate::{
    domain::{Domain, WrittenOnce},
    identity::Identity,
    metrics::Metrics,
    pack::DomainPack,
    session::{SessionError, SessionSigner},
    store::{SaveOutcome, SavedState, Store, StoreError, UserRecord},
    tool_schema,
};

/// What every tool call can reach: built once, shared by all requests.
#[derive(Debug)]
pub struct AppState {
    pub pack: Arc<DomainPack>,
    pub store: Store,
    pub sessions: SessionSigner,
    pub max_state_bytes: usize,
    pub metrics: Arc<Metrics>,
    /// Where each call is published (`devkit up`'s live lines).
    pub activity: Activity,
    /// The kit's own tools.
    tools: ToolRouter<Connector>,
    /// The app's tools, served through the same gate.
    domain: Domain,
}

impl AppState {
    pub(crate) fn new(
        pack: Arc<DomainPack>,
        store: Store,
        sessions: SessionSigner,
        max_state_bytes: usize,
        metrics: Arc<Metrics>,
        activity: Activity,
        domain: Domain,
    ) -> Self {
        Self {
            pack,
            store,
            sessions,
            max_state_bytes,
            metrics,
            activity,
            tools: kit_tools_with(domain.session_fields()),
            domain,
        }
    }
}

/// The kit's own tools (`begin_session`, `user_*`, `config_*`), each in its
/// wire form, once, before any host sees it.
pub(crate) fn kit_tools() -> ToolRouter<Connector> {
    let mut router = Connector::tool_router();
    for route in router.map.values_mut() {
        tool_schema::for_the_wire(&mut route.attr);
    }
    router
}

/// The kit's tools, `begin_session` publishing what the app adds to it.
fn kit_tools_with(app_fields: &rmcp::model::JsonObject) -> ToolRouter<Connector> {
    let mut router = kit_tools();
    if let Some(route) = router.map.get_mut("begin_session") {
        tool_schema::publish_app_fields(&mut route.attr, app_fields);
    }
    router
}

/// The names of the kit's own tools, which no domain tool may take.
pub(crate) fn kit_tool_names() -> Vec<String> {
    kit_tools()
        .list_all()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect()
}

/// The verified caller, as the kit's tools take it: what the token gate put
/// in the request, and nothing a tool's arguments can say. Missing (a wiring
/// fault) fails closed as `SIGN_IN_UNAVAILABLE`.
#[derive(Debug)]
pub(crate) struct Verified(Option<Arc<Identity>>);

impl Verified {
    fn identity(&self) -> Result<&Arc<Identity>, ToolFailure> {
        self.0.as_ref().ok_or(ToolFailure::Identity)
    }
}

impl<C: AsRequestContext> FromContextPart<C> for Verified {
    fn from_context_part(context: &mut C) -> Result<Self, ErrorData> {
        let identity = context
            .as_request_context()
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<Arc<Identity>>())
            .cloned();
        Ok(Self(identity))
    }
}

/// The MCP server handler. Cheap to clone: the stateless transport makes one per request.
#[derive(Debug, Clone)]
pub struct Connector {
    state: Arc<AppState>,
}

impl Connector {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

// ---- arguments ----------------------------------------------------------

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BeginSessionArgs {}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionArgs {
    /// The `session` value returned by `begin_session`.
    pub session: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveStateArgs {
    /// The `session` value returned by `begin_session`.
    pub session: String,
    /// The whole state to keep (any JSON), replacing what was saved.
    pub state: serde_json::Value,
    /// The `version` you last read. When given, the save is refused if
    /// someone saved since, instead of overwriting their work. Use 0 when
    /// nothing has been saved yet.
    #[serde(default)]
    pub expected_version: Option<i64>,
}

// ---- results ------------------------------------------------------------

/// A gated result: the answer plus the one-line rules reminder.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Gated<T> {
    #[serde(flatten)]
    pub result: T,
    /// The app's rules in one line; follow them.
    pub reminder: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionStart {
    /// Pass this to every other tool as `session`.
    pub session: String,
    /// When the session stops working (RFC 3339); call `begin_session` again then.
    pub session_expires_at: String,
    /// The app's rules: follow them for the whole conversation.
    pub rules: String,
    /// The voice to answer in.
    pub persona: String,
    pub user: UserRecord,
    pub state: SavedState,
    /// What the app adds for the start of a conversation, when it adds anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProfileResult {
    pub user: UserRecord,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StateResult {
    #[serde(flatten)]
    pub saved: SavedState,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SaveResult {
    /// The new version; pass it as `expected_version` next time.
    pub version: i64,
    pub updated_at: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RulesResult {
    pub rules: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct PersonaResult {
    pub persona: String,
}

// ---- failures -----------------------------------------------------------

/// A tool call that could not be answered, told to the model as a tool
/// error whose first word is a stable code.
#[derive(Debug)]
pub enum ToolFailure {
    Session(SessionError),
    /// The store failed: fail closed.
    Store,
    /// No verified identity reached the tool (a wiring fault): fail closed.
    Identity,
    NotFound {
        noun: String,
        id: String,
        /// Where real ids come from; `None`: `domain_search`.
        hint: Option<String>,
    },
    Stale {
        expected: i64,
        current: i64,
    },
    TooLarge {
        bytes: usize,
        max: usize,
    },
    BadInput(String),
    /// A domain's own refusal (`SOLD_OUT`: no seats left …).
    Refused {
        code: String,
        message: String,
    },
}

impl ToolFailure {
    pub fn message(&self) -> String {
        match self {
            Self::Session(why) => format!(
                "SESSION_REQUIRED: {why}. Call begin_session first, then pass the `session` value it returns."
            ),
            Self::Store => "STORE_UNAVAILABLE: the app's memory cannot be reached, so this session cannot \
                continue right now. Tell the person so plainly. Do not improvise an answer and do not \
                guess or invent saved state; suggest trying again in a little while."
                .into(),
            Self::Identity => "SIGN_IN_UNAVAILABLE: the caller's identity could not be established, so this \
                session cannot continue. Tell the person plainly; do not improvise."
                .into(),
            Self::NotFound { noun, id, hint } => format!(
                "NOT_FOUND: there is no {noun} with id `{id}`. {}; never invent one.",
                hint.as_deref().unwrap_or("Use domain_search to find real ids")
            ),
            Self::Stale { expected, current } => format!(
                "STALE_VERSION: nothing was saved, because the saved state is at version {current}, not \
                 {expected}. Read it with user_get_state, merge your change into it, and save again with \
                 expected_version {current}."
            ),
            Self::TooLarge { bytes, max } => format!(
                "STATE_TOO_LARGE: the state is {bytes} bytes of JSON; the limit is {max}. Nothing was saved. \
                 Keep only what is needed to resume (ids, positions, short notes)."
            ),
            Self::BadInput(problem) => format!("INVALID_ARGUMENT: {problem}"),
            Self::Refused { code, message } => format!("{code}: {message}"),
        }
    }
}

impl IntoCallToolResult for ToolFailure {
    fn into_call_tool_result(self) -> Result<CallToolResponse, rmcp::ErrorData> {
        Ok(CallToolResult::error(vec![ContentBlock::text(self.message())]).into())
    }
}

impl From<StoreError> for ToolFailure {
    fn from(error: StoreError) -> Self {
        if matches!(error, StoreError::UnknownUser) {
            return Self::Session(SessionError::UserGone);
        }
        // Logged once here with its cause chain; the model gets the plain message.
        tracing::error!(error = %error_chain(&error), "store failure; tool answers fail-closed");
        Self::Store
    }
}

/// The span of one MCP request, handed to the tools through the request's
/// extensions: rmcp runs each request on a task of its own, where the HTTP
/// handler's span is no longer current.
#[derive(Debug, Clone)]
pub(crate) struct RequestSpan(pub(crate) tracing::Span);

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

// ---- the tools ----------------------------------------------------------

impl Connector {
    /// The session gate: the caller's own, unexpired, untampered session.
    fn gate<'w>(&self, who: &'w Verified, session: &str) -> Result<&'w Identity, ToolFailure> {
        let who = who.identity()?;
        self.state
            .sessions
            .check(session, who, now_unix())
            .map_err(ToolFailure::Session)?;
        Ok(who)
    }

    /// The router's call, with rmcp's argument errors given our
    /// `INVALID_ARGUMENT` code, so every failure starts with one.
    async fn call_router(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.state.tools.get(&request.name).is_none() {
            // Not the kit's: the app's, through the same gate (or rmcp's unknown-tool error).
            let Some(who) = context
                .extensions
                .get::<Parts>()
                .and_then(|p| p.extensions.get::<Arc<Identity>>())
            else {
                return Ok(CallToolResult::error(vec![ContentBlock::text(
                    ToolFailure::Identity.message(),
                )])
                .into());
            };
            let state = &self.state;
            if let Some(result) = state
                .domain
                .call(
                    &request.name,
                    request.arguments,
                    who,
                    &state.sessions,
                    state.pack.reminder_json(),
                    context.extensions.get::<WrittenOnce>(),
                )
                .await
            {
                return Ok(result.into());
            }
            return Err(ErrorData::invalid_params(
                format!(
                    "tool `{}` not found",
                    request.name.chars().take(64).collect::<String>()
                ),
                None,
            ));
        }
        let response = self
            .state
            .tools
            .call(ToolCallContext::new(self, request, context))
            .await?;
        if let CallToolResponse::Complete(result) = &response
            && result.is_error == Some(true)
            && let Some(text) = result.content.first().and_then(ContentBlock::as_text)
            && let Some(problem) = crate::rmcp_edge::argument_problem(&text.text)
        {
            let failure = ToolFailure::BadInput(format!(
                "the arguments do not fit the tool's input schema:{problem}"
            ));
            return Ok(CallToolResult::error(vec![ContentBlock::text(failure.message())]).into());
        }
        Ok(response)
    }

    fn gated<T>(&self, result: T) -> Result<Json<Gated<T>>, ToolFailure> {
        Ok(Json(Gated {
            result,
            reminder: self.state.pack.reminder().to_owned(),
        }))
    }
}

#[tool_router(vis = "pub(crate)")]
impl Connector {
    /// Call this first, at the start of every new request or conversation, before any other tool.
    /// It checks the person in and returns the `session` token that every other tool requires,
    /// the app's rules (follow them), the persona to speak in, the signed-in user's profile and
    /// their saved state. If another tool says SESSION_REQUIRED, call this again.
    #[tool(
        title = "Begin session",
        annotations(
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn begin_session(
        &self,
        who: Verified,
        Parameters(_args): Parameters<BeginSessionArgs>,
    ) -> Result<Json<SessionStart>, ToolFailure> {
        let who = who.identity()?;
        let store = &self.state.store;
        let user = store
            .upsert_user(&who.subject, who.email.as_deref())
            .await?;
        let state = store.state(&who.subject).await?;
        let app = self.state.domain.session_block(who).await?;
        let issued = self.state.sessions.issue(who, now_unix());
        Ok(Json(SessionStart {
            session: issued.token,
            session_expires_at: rfc3339(issued.expires_at),
            rules: self.state.pack.rules.clone(),
            persona: self.state.pack.persona.clone(),
            user,
            state,
            app,
        }))
    }

    /// The signed-in person's profile (id, email, first and last visit).
    #[tool(
        title = "Your profile",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn user_get_profile(
        &self,
        who: Verified,
        Parameters(args): Parameters<SessionArgs>,
    ) -> Result<Json<Gated<ProfileResult>>, ToolFailure> {
        let who = self.gate(&who, &args.session)?;
        match self.state.store.user(&who.subject).await? {
            Some(user) => self.gated(ProfileResult { user }),
            // The session outlived the user's row (a reset store): check in again.
            None => Err(ToolFailure::Session(SessionError::UserGone)),
        }
    }

    /// The person's saved state: `{state, version, updated_at}`; version 0 means nothing saved yet.
    #[tool(
        title = "Your saved state",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn user_get_state(
        &self,
        who: Verified,
        Parameters(args): Parameters<SessionArgs>,
    ) -> Result<Json<Gated<StateResult>>, ToolFailure> {
        let who = self.gate(&who, &args.session)?;
        let saved = self.state.store.state(&who.subject).await?;
        self.gated(StateResult { saved })
    }

    /// Save the person's state (any JSON, replacing what was there). Pass the version you last
    /// read as expected_version so a newer save is never silently overwritten.
    #[tool(
        title = "Save your state",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn user_save_state(
        &self,
        who: Verified,
        Parameters(args): Parameters<SaveStateArgs>,
    ) -> Result<Json<Gated<SaveResult>>, ToolFailure> {
        let who = self.gate(&who, &args.session)?;
        // Serialised once: measured here, stored as is.
        let text =
            serde_json::to_string(&args.state).map_err(|e| ToolFailure::BadInput(e.to_string()))?;
        let (bytes, max) = (text.len(), self.state.max_state_bytes);
        if bytes > max {
            return Err(ToolFailure::TooLarge { bytes, max });
        }
        let state =
            RawValue::from_string(text).map_err(|e| ToolFailure::BadInput(e.to_string()))?;
        if args.expected_version.is_some_and(|v| v < 0) {
            return Err(ToolFailure::BadInput(
                "`expected_version` cannot be negative".into(),
            ));
        }
        match self
            .state
            .store
            .save_state(&who.subject, &state, args.expected_version)
            .await?
        {
            SaveOutcome::Saved {
                version,
                updated_at,
            } => self.gated(SaveResult {
                version,
                updated_at: updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            }),
            SaveOutcome::Stale { current_version } => Err(ToolFailure::Stale {
                expected: args.expected_version.unwrap_or_default(),
                current: current_version,
            }),
        }
    }

    /// The app's rules, including what to do when a tool fails.
    #[tool(
        title = "The app's rules",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn config_get_rules(
        &self,
        who: Verified,
        Parameters(args): Parameters<SessionArgs>,
    ) -> Result<Json<Gated<RulesResult>>, ToolFailure> {
        self.gate(&who, &args.session)?;
        self.gated(RulesResult {
            rules: self.state.pack.rules.clone(),
        })
    }

    /// The voice the app speaks in.
    #[tool(
        title = "The app's voice",
        annotations(
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn config_get_persona(
        &self,
        who: Verified,
        Parameters(args): Parameters<SessionArgs>,
    ) -> Result<Json<Gated<PersonaResult>>, ToolFailure> {
        self.gate(&who, &args.session)?;
        self.gated(PersonaResult {
            persona: self.state.pack.persona.clone(),
        })
    }
}

/// Protocol revisions served: the two session-era ones and the stateless one.
const PROTOCOL_VERSIONS: &[ProtocolVersion] = &[
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
    ProtocolVersion::V_2026_07_28,
];

/// How long a host may keep the tool list (2026-07-28 `ttlMs`): the list
/// changes only when the app is redeployed, so a few minutes of caching
/// saves round trips without leaving a host on an old list for long.
const TOOL_LIST_TTL_MS: u64 = 5 * 60 * 1000;

/// The span of one tool call: a child of its MCP request's span, or of the
/// trace a `traceparent` in the call's `_meta` names (2026-07-28). It holds
/// the tool's name and, later, the outcome's code: never an argument.
fn tool_span(tool: &str, context: &RequestContext<RoleServer>) -> tracing::Span {
    let parent = context
        .extensions
        .get::<Parts>()
        .and_then(|parts| parts.extensions.get::<RequestSpan>())
        .map(|request| request.0.clone());
    let span = match &parent {
        Some(parent) => {
            tracing::debug_span!(parent: parent, "tool.call", tool, outcome = tracing::field::Empty)
        }
        None => tracing::debug_span!("tool.call", tool, outcome = tracing::field::Empty),
    };
    if !span.is_disabled() {
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let meta = |key| context.meta.get(key).and_then(|v| v.as_str());
        if let Some(traceparent) = meta("traceparent") {
            let remote =
                kit_serve::telemetry::remote_context(Some(traceparent), meta("tracestate"));
            let _ = span.set_parent(remote);
        }
    }
    span
}

/// Longest preview of a call's arguments or result for `devkit up`.
const PREVIEW_CHARS: usize = 600;

/// `value` as compact JSON for a watcher: session tokens cut to their first
/// 6 characters, and the whole cut to [`PREVIEW_CHARS`].
fn preview(value: Option<&Value>) -> String {
    fn redact(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, inner) in map.iter_mut() {
                    match inner {
                        Value::String(token) if key == "session" => {
                            let head: String = token.chars().take(6).collect();
                            *token = format!("{head}…");
                        }
                        other => redact(other),
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(redact),
            _ => {}
        }
    }
    let Some(value) = value else {
        return String::new();
    };
    let mut value = value.clone();
    redact(&mut value);
    shortened(&value.to_string(), PREVIEW_CHARS)
}

/// A tool error's code: its first word when that is one of ours
/// (`SESSION_REQUIRED: …`), else `error`.
fn error_code(text: &str) -> &str {
    match text.split_once(':') {
        Some((code, _))
            if (1..=32).contains(&code.len())
                && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') =>
        {
            code
        }
        _ => "error",
    }
}

#[tool_handler(router = self.state.tools)]
impl ServerHandler for Connector {
    /// The router's call, counted and timed for `/metrics`.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let started = std::time::Instant::now();
        // Only registered names become a label: a caller cannot grow the metrics.
        let known = self.state.tools.get(&request.name).is_some()
            || self.state.domain.get(&request.name).is_some();
        let tool = if known {
            request.name.to_string()
        } else {
            "unknown".into()
        };
        let span = tool_span(&tool, &context);
        // Read before the call takes them; only when someone watches.
        let watched = self.state.activity.is_on().then(|| {
            let caller = context
                .extensions
                .get::<Parts>()
                .and_then(|p| p.extensions.get::<Arc<Identity>>())
                .map_or_else(String::new, |who| who.subject.clone());
            let arguments = request.arguments.clone().map(Value::Object);
            let once = context.extensions.get::<WrittenOnce>().cloned();
            (caller, preview(arguments.as_ref()), once)
        });
        let response =
            tracing::Instrument::instrument(self.call_router(request, context), span.clone()).await;
        let outcome = match &response {
            Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => result
                .content
                .first()
                .and_then(ContentBlock::as_text)
                .map_or("error", |text| error_code(&text.text)),
            Ok(_) => "ok",
            Err(_) => "protocol_error",
        };
        span.record("outcome", outcome);
        let seconds = started.elapsed().as_secs_f64();
        self.state.metrics.tool_call(&tool, outcome, seconds);
        if let Some((user, arguments, once)) = watched {
            let result = match &response {
                Ok(CallToolResponse::Complete(result)) => {
                    let text = result.content.first().and_then(ContentBlock::as_text);
                    match (&result.structured_content, text) {
                        (Some(content), _) => preview(Some(content)),
                        // A domain answer's text alone is its structured
                        // content, previewed as such (session tokens cut).
                        (None, Some(text)) if once.is_some_and(|o| o.text_is_structured()) => {
                            let json = serde_json::from_str(&text.text).ok();
                            preview(json.as_ref())
                        }
                        (None, Some(text)) => shortened(&text.text, PREVIEW_CHARS),
                        (None, None) => String::new(),
                    }
                }
                Ok(_) => String::new(),
                Err(error) => shortened(&error.message, PREVIEW_CHARS),
            };
            self.state.activity.emit(What::ToolCall {
                user,
                tool,
                millis: seconds * 1000.0,
                outcome: outcome.to_owned(),
                arguments,
                result,
            });
        }
        response
    }

    /// Every tool, sorted by name (rmcp's order, pinned by a test), with
    /// caching hints for hosts on 2026-07-28: the list is the same for every
    /// user, so any cache may share it.
    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let mut tools = self.state.tools.list_all();
        tools.extend(self.state.domain.definitions().cloned());
        tools.sort_by(|a, b| a.name.cmp(&b.name));
        let result = ListToolsResult::with_all_items(tools);
        let cacheable = context
            .protocol_version()
            .is_some_and(|version| version >= ProtocolVersion::V_2026_07_28);
        Ok(if cacheable {
            result
                .with_ttl_ms(TOOL_LIST_TTL_MS)
                .with_cache_scope(CacheScope::Public)
        } else {
            result
        })
    }

    fn get_tool(&self, name: &str) -> Option<rmcp::model::Tool> {
        self.state
            .tools
            .get(name)
            .or_else(|| self.state.domain.get(name))
            .cloned()
    }

    fn get_info(&self) -> ServerConfig {
        let pack = &self.state.pack;
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(
                Implementation::new("connector-devkit-gateway", env!("CARGO_PKG_VERSION")).with_title(&pack.name),
            )
            .with_instructions(format!(
                "{}. Call begin_session first on any new request and pass its `session` to every other tool. {}",
                pack.name, pack.reminder()
            ))
    }

    fn supported_protocol_versions(&self) -> std::borrow::Cow<'static, [ProtocolVersion]> {
        std::borrow::Cow::Borrowed(PROTOCOL_VERSIONS)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn previews_cut_session_tokens_and_length() {
        let arguments = json!({"session": "abcdefghijklmnop", "query": "maps", "nested": [{"session": "zyxwvutsr"}]});
        let shown = preview(Some(&arguments));
        assert!(shown.contains(r#""session":"abcdef…""#), "{shown}");
        assert!(shown.contains(r#""session":"zyxwvu…""#), "{shown}");
        assert!(
            !shown.contains("ghijkl") && shown.contains("maps"),
            "{shown}"
        );
        let long = preview(Some(&json!({"body": "x".repeat(5000)})));
        assert_eq!(long.chars().count(), PREVIEW_CHARS + 1);
        assert!(long.ends_with('…'));
        assert_eq!(preview(None), "");
    }
}
