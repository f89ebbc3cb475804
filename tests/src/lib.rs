//! Helpers for the end-to-end suite: a stand-in issuer with real RS256 keys,
//! per-test databases, a gateway on port 0, and an rmcp client to drive it.
//!
//! The issuer here only publishes keys and metadata and mints tokens
//! directly; the real sign-in flow belongs to the `mock-issuer` crate.

pub mod db;
pub mod docs;
pub mod issuer;
pub mod pooler;
pub mod tls;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use gateway::{Application, Config, config::Secret};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, ContentBlock},
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

pub use db::{Backend, TestDb, backends};
pub use issuer::{Claims, TestIssuer};

/// Everything logged by the gateway and the issuer (every level) and by
/// rmcp (info and up) while this test binary runs. Installed once.
pub fn captured_logs() -> std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    use std::sync::{Arc, LazyLock, Mutex};
    static LOGS: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        use kit_serve::telemetry::{LogFormat, layer};
        use tracing_subscriber::layer::SubscriberExt;
        // Both renderings `LOG_FORMAT` offers, so a secret in either is found.
        let (text, json) = (buffer.clone(), buffer.clone());
        let subscriber = tracing_subscriber::registry()
            .with(vec![
                layer(LogFormat::Text, move || LogWriter(text.clone())),
                layer(LogFormat::Json, move || LogWriter(json.clone())),
            ])
            .with(tracing_subscriber::EnvFilter::new(
                "gateway=trace,mock_issuer=trace,rmcp=info",
            ));
        let _ = tracing_subscriber::util::SubscriberInitExt::try_init(subscriber);
        buffer
    });
    LOGS.clone()
}

struct LogWriter(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether this process runs as root (then server binaries that refuse
/// root, Postgres and PgBouncer, are run as `postgres`).
pub fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A loopback port free right now, for a child process to listen on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The workspace root, for the shipped packs.
pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// What a test can vary about the gateway it spawns.
#[derive(Debug, Clone)]
pub struct AppOptions {
    pub backend: Backend,
    pub app_dir: PathBuf,
    pub auth_disabled: bool,
    pub required_scopes: Vec<String>,
    pub session_ttl: Duration,
    pub max_state_bytes: usize,
    pub request_timeout: Duration,
    pub session_secret: Vec<u8>,
    /// The public connector URL; default: the bound loopback address.
    pub resource_url: Option<String>,
    /// Trust this issuer instead of the stand-in one (for the real mock issuer).
    pub issuer: Option<String>,
    /// Scopes hosts are told to ask for (`AUTH_SCOPES`).
    pub scopes: Vec<String>,
    /// `AUTH_JWKS_REFETCH_INTERVAL`. Zero by default, so a rotated key is
    /// fetched at once; the limit itself has tests of its own.
    pub jwks_refetch_interval: Duration,
    /// `AUTH_CLOCK_LEEWAY`.
    pub clock_leeway: Duration,
    /// `METRICS_ADDR` (port 0 picks one).
    pub metrics_addr: Option<SocketAddr>,
}

impl AppOptions {
    pub fn on(backend: Backend) -> Self {
        Self {
            backend,
            app_dir: workspace_dir().join("seed"),
            auth_disabled: false,
            required_scopes: vec![],
            session_ttl: Duration::from_secs(1800),
            max_state_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            session_secret: b"a test secret that is long enough!!".to_vec(),
            resource_url: None,
            issuer: None,
            scopes: vec![],
            jwks_refetch_interval: Duration::ZERO,
            clock_leeway: Duration::from_secs(30),
            metrics_addr: None,
        }
    }

    /// Trust the real mock issuer at `issuer` instead of the stand-in.
    pub fn trusting(mut self, issuer: &str) -> Self {
        self.issuer = Some(issuer.to_owned());
        self
    }
}

/// A running gateway with its own database and issuer.
pub struct TestApp {
    pub addr: SocketAddr,
    /// `/metrics`'s own listener, when `AppOptions::metrics_addr` asked for one.
    pub metrics_addr: Option<SocketAddr>,
    /// `http://127.0.0.1:PORT/mcp` (or the configured resource URL).
    pub url: String,
    pub resource: String,
    pub issuer: TestIssuer,
    pub db: TestDb,
    stop: CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The real mock issuer on port 0, keeping its state in `state_dir`.
/// Returns its issuer identifier (`http://127.0.0.1:PORT`).
pub async fn spawn_mock_issuer(
    state_dir: &std::path::Path,
    auto_approve: bool,
    fixed_user: Option<&str>,
) -> String {
    spawn_issuer(issuer_config(state_dir, auto_approve, fixed_user)).await
}

/// The mock issuer's configuration for a test: port 0, and client metadata
/// documents may be served from loopback (tests have no public host).
pub fn issuer_config(
    state_dir: &std::path::Path,
    auto_approve: bool,
    fixed_user: Option<&str>,
) -> mock_issuer::config::IssuerConfig {
    mock_issuer::config::IssuerConfig {
        addr: "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
        issuer_url: None,
        state_dir: state_dir.to_owned(),
        auto_approve,
        fixed_user: fixed_user.map(str::to_owned),
        default_audience: None,
        access_ttl: Duration::from_secs(3600),
        refresh_ttl: Duration::from_secs(86400),
        refresh_reuse_interval: Duration::from_secs(30),
        allow_loopback_documents: true,
    }
}

/// The real mock issuer on `config`; returns its issuer identifier.
pub async fn spawn_issuer(config: mock_issuer::config::IssuerConfig) -> String {
    let app = mock_issuer::startup::Application::build(config)
        .await
        .expect("mock issuer builds");
    let issuer = app.issuer().issuer().to_owned();
    tokio::spawn(app.run_until_stopped(std::future::pending()));
    issuer
}

/// RFC 7636 Appendix B: a PKCE verifier and its S256 challenge.
pub const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// An HTTP client that shows redirects instead of following them, as a
/// test of an authorization server needs.
pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// The [`Config`] a test gateway runs on, as `main` would build it from the environment.
pub fn config_for(options: &AppOptions, issuer: &TestIssuer, db: &TestDb) -> Config {
    Config {
        addr: "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
        database_url: db.url.clone(),
        resource_url: options
            .resource_url
            .as_deref()
            .map(|u| u.parse().expect("resource url")),
        auth_issuer: Some(
            options
                .issuer
                .as_deref()
                .unwrap_or(issuer.url.as_str())
                .parse()
                .expect("issuer"),
        ),
        auth_jwks_url: None,
        auth_audience: None,
        auth_required_scopes: options.required_scopes.clone(),
        auth_scopes: options.scopes.clone(),
        auth_jwks_refetch_interval: options.jwks_refetch_interval,
        auth_clock_leeway: options.clock_leeway,
        auth_disabled: options.auth_disabled,
        session_signing_secret: Some(Secret::new(options.session_secret.clone())),
        session_ttl: options.session_ttl,
        app_dir: Some(options.app_dir.clone()),
        // Each test's index is small and built in memory; the cache has tests of its own.
        search_cache_dir: gateway::config::SearchCache::Off,
        max_state_bytes: options.max_state_bytes,
        request_timeout: options.request_timeout,
        metrics_addr: options.metrics_addr,
    }
}

pub async fn spawn_app(options: AppOptions) -> TestApp {
    let issuer = TestIssuer::start().await;
    let db = TestDb::fresh(options.backend).await;
    spawn_app_with(options, issuer, db).await
}

/// Spawns a gateway on an existing issuer and database (a second replica, a restart).
pub async fn spawn_app_with(options: AppOptions, issuer: TestIssuer, db: TestDb) -> TestApp {
    spawn(gateway::App::data_pack(), options, issuer, db).await
}

impl TestApp {
    /// `app` in process, as `up` runs it: a stand-in issuer with real keys,
    /// a fresh database on `backend`, the gateway on port 0. Its pack is
    /// the app's own (`App::pack`), else the Reading Room's.
    ///
    /// ```no_run
    /// # async fn doc(app: gateway::App) {
    /// let app = e2e::TestApp::start(app, e2e::Backend::Sqlite).await;
    /// let alice = app.sign_in("alice").await;
    /// let answer = alice.call("domain_search", serde_json::json!({"query": "rust"})).await;
    /// # }
    /// ```
    pub async fn start(app: gateway::App, backend: Backend) -> Self {
        Self::start_with(app, AppOptions::on(backend)).await
    }

    /// [`TestApp::start`] with `options` (a shorter request timeout, say);
    /// the pack is the app's own.
    pub async fn start_with(app: gateway::App, mut options: AppOptions) -> Self {
        let backend = options.backend;
        options.app_dir = app.default_pack_dir();
        if options.app_dir.is_relative() {
            options.app_dir = workspace_dir().join(&options.app_dir);
        }
        let issuer = TestIssuer::start().await;
        let db = TestDb::fresh(backend).await;
        spawn(app, options, issuer, db).await
    }

    /// A signed-in user with a session: `call` fills in `session` itself.
    pub async fn sign_in(&self, sub: &str) -> User {
        let (client, session) = self.signed_in(sub).await;
        User { client, session }
    }
}

/// The definition of `name` in a `tools/list` answer
/// ([`McpClient::list_tools`]); panics naming the tool when it is not listed.
pub fn listed<'t>(tools: &'t [Value], name: &str) -> &'t Value {
    tools
        .iter()
        .find(|tool| tool["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed"))
}

/// A person signed in to a [`TestApp`], with their session begun.
#[derive(Debug)]
pub struct User {
    pub client: McpClient,
    pub session: String,
}

impl User {
    /// Calls `tool` with `arguments` plus this user's `session`.
    pub async fn call(&self, tool: &str, mut arguments: Value) -> ToolReply {
        arguments["session"] = Value::String(self.session.clone());
        self.client.call(tool, arguments).await
    }

    /// `begin_session` again, as a new conversation starts: the rules, the
    /// saved state and what the app adds under `app`.
    pub async fn begin_session(&self) -> ToolReply {
        self.client
            .call("begin_session", Value::Object(Default::default()))
            .await
    }

    /// Calls the action `tool` with `arguments`, this user's `session` and
    /// the idempotency key `key` (the same key again is a retry).
    pub async fn act(&self, tool: &str, key: &str, mut arguments: Value) -> ToolReply {
        arguments["idempotency_key"] = Value::String(key.to_owned());
        self.call(tool, arguments).await
    }
}

async fn spawn(app: gateway::App, options: AppOptions, issuer: TestIssuer, db: TestDb) -> TestApp {
    let app = Application::build(config_for(&options, &issuer, &db), app)
        .await
        .expect("gateway builds");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let resource = app.gateway().settings.resource_url.to_string();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone().cancelled_owned()));
    TestApp {
        addr,
        metrics_addr,
        url: format!("http://{addr}/mcp"),
        resource,
        issuer,
        db,
        stop,
        server,
    }
}

impl TestApp {
    /// A valid access token for `sub` on this gateway.
    pub fn token_for(&self, sub: &str) -> String {
        self.issuer
            .mint(&Claims::valid(&self.issuer, &self.resource, sub))
    }

    /// An rmcp streamable HTTP client signed in with `token`.
    pub async fn client(&self, token: &str) -> McpClient {
        let config =
            StreamableHttpClientTransportConfig::with_uri(self.url.as_str()).auth_header(token);
        let transport = StreamableHttpClientTransport::from_config(config);
        McpClient(().serve(transport).await.expect("client connects"))
    }

    /// A client for `sub` with its session already begun.
    pub async fn signed_in(&self, sub: &str) -> (McpClient, String) {
        let client = self.client(&self.token_for(sub)).await;
        let start = client.call("begin_session", json!({})).await;
        let session = start.ok()["session"]
            .as_str()
            .expect("session token")
            .to_owned();
        (client, session)
    }

    /// Raw HTTP POST of a JSON-RPC body to `/mcp`.
    pub async fn post_mcp(&self, token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request reaches the gateway")
    }

    pub async fn stop(self) -> TestDb {
        self.stop.cancel();
        let _ = self.server.await;
        self.db
    }
}

/// Values of the hidden inputs of an HTML form, unescaped.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" ")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split("name=\"").nth(1)?.split('"').next()?;
            let value = rest.split("value=\"").nth(1)?.split('"').next()?;
            let value = value
                .replace("&quot;", "\"")
                .replace("&#39;", "'")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
                .replace("&amp;", "&");
            Some((name.to_owned(), value))
        })
        .collect()
}

/// Registers a client (RFC 7591) with `request` and returns the issuer's answer.
pub async fn register_client(
    http: &reqwest::Client,
    register_url: impl reqwest::IntoUrl,
    request: &Value,
) -> Value {
    http.post(register_url)
        .json(request)
        .send()
        .await
        .expect("the registration request is sent")
        .json()
        .await
        .expect("the registration answer is JSON")
}

/// The sign-in page the issuer shows for an authorization request of `query`.
pub async fn sign_in_page(
    http: &reqwest::Client,
    authorize_url: impl reqwest::IntoUrl,
    query: &[(&str, &str)],
) -> String {
    http.get(authorize_url)
        .query(query)
        .send()
        .await
        .expect("the sign-in page is requested")
        .text()
        .await
        .expect("the sign-in page is text")
}

/// Answers a sign-in page as a person would: the page's hidden fields plus
/// `answers` (who, passcode, decision), posted to the form's `action`.
pub async fn answer_sign_in(
    http: &reqwest::Client,
    action: impl reqwest::IntoUrl,
    page: &str,
    answers: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = hidden_fields(page);
    form.extend(
        answers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    http.post(action)
        .form(&form)
        .send()
        .await
        .expect("the sign-in form posts")
}

/// A `tools/list` request.
pub fn tools_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}})
}

/// `401 invalid_token`, `401 challenge` (no error: no token was sent),
/// `200 ok`, `200 tool error CODE`, `400 JSON-RPC -32700`, or the bare status.
pub async fn summary(response: reqwest::Response) -> String {
    let status = response.status().as_u16();
    if let Some(challenge) = response
        .headers()
        .get("www-authenticate")
        .and_then(|v| v.to_str().ok())
    {
        // Every challenge must lead the client to our metadata (RFC 9728).
        if !challenge.contains("resource_metadata=\"http") {
            return format!("{status} challenge without resource_metadata: {challenge}");
        }
        return match challenge.split("error=\"").nth(1) {
            Some(rest) => format!("{status} {}", rest.split('"').next().unwrap_or_default()),
            None => format!("{status} challenge"),
        };
    }
    let body = response.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Value>(&body).unwrap_or(Value::Null);
    if let Some(code) = message["error"]["code"].as_i64() {
        return format!("{status} JSON-RPC {code}");
    }
    if status != 200 {
        return status.to_string();
    }
    if message.is_null() {
        return "200 not JSON".into();
    }
    if message["result"]["isError"] == json!(true) {
        let text = message["result"]["content"][0]["text"]
            .as_str()
            .unwrap_or_default();
        let code = text.split([' ', ':']).next().unwrap_or_default();
        return format!("200 tool error {code}");
    }
    "200 ok".into()
}

/// The rmcp client with typed helpers.
pub struct McpClient(pub RunningService<RoleClient, ()>);

impl std::fmt::Debug for McpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("McpClient")
    }
}

impl McpClient {
    pub async fn call(&self, tool: &str, arguments: Value) -> ToolReply {
        let arguments: Map<String, Value> = match arguments {
            Value::Object(map) => map,
            other => panic!("tool arguments must be an object, got {other}"),
        };
        let result = self
            .0
            .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments))
            .await
            .unwrap_or_else(|e| panic!("{tool}: protocol error {e}"));
        ToolReply(result)
    }

    /// The tool definitions as JSON, in the order the server listed them.
    pub async fn list_tools(&self) -> Vec<Value> {
        self.0
            .list_all_tools()
            .await
            .expect("tools/list")
            .iter()
            .map(|tool| serde_json::to_value(tool).expect("a tool is JSON"))
            .collect()
    }

    pub async fn tool_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .0
            .list_all_tools()
            .await
            .expect("tools/list")
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        names.sort();
        names
    }
}

/// One `tools/call` result.
#[derive(Debug)]
pub struct ToolReply(pub CallToolResult);

impl ToolReply {
    pub fn is_error(&self) -> bool {
        self.0.is_error == Some(true)
    }

    /// The structured result of a successful call.
    pub fn ok(&self) -> Value {
        assert!(
            !self.is_error(),
            "expected success, got error: {}",
            self.text()
        );
        self.0
            .structured_content
            .clone()
            .expect("structured content")
    }

    /// The text of a failed call (it must have failed).
    pub fn err(&self) -> String {
        assert!(
            self.is_error(),
            "expected a tool error, got {:?}",
            self.0.structured_content
        );
        self.text()
    }

    pub fn text(&self) -> String {
        self.0
            .content
            .iter()
            .filter_map(|c| match c {
                ContentBlock::Text(t) => Some(t.text.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
