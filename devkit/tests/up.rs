//! `devkit up` and `devkit doctor` as a person runs them: the real binary as a
//! child process, in a fresh folder, with stand-in `cloudflared` executables
//! first on `PATH` (no machine here reaches Cloudflare).

use std::{
    collections::HashMap,
    ffi::OsString,
    io::{BufRead, BufReader, Read},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use e2e::{McpClient, answer_sign_in, no_redirects, workspace_dir};
use fantoccini::Locator;
use rmcp::{
    ServiceExt,
    transport::{
        StreamableHttpClientTransport,
        auth::{AuthClient, AuthorizationRequest, OAuthState},
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tempfile::TempDir;
use url::Url;

const WAIT: Duration = Duration::from_secs(60);

/// Settings a developer's shell might hold that would change what is tested.
const SCRUBBED: [&str; 12] = [
    "DATABASE_URL",
    "SESSION_SIGNING_SECRET",
    "RESOURCE_URL",
    "AUTH_ISSUER",
    "AUTH_JWKS_URL",
    "AUTH_AUDIENCE",
    "AUTH_DISABLED",
    "ISSUER_URL",
    "ISSUER_STATE_DIR",
    "ISSUER_AUTO_APPROVE",
    "CLOUDFLARED",
    "DEVKIT_TEST_LOOPBACK_TUNNEL",
];

/// Which stand-in `cloudflared` is on `PATH`, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cloudflared {
    Missing,
    StandIn(&'static str),
}

/// A `devkit` child process and everything it printed so far.
struct Devkit {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    folder: TempDir,
}

impl Devkit {
    fn start(args: &[&str], cloudflared: Cloudflared) -> Self {
        Self::start_in(
            tempfile::tempdir().expect("tempdir"),
            args,
            cloudflared,
            &[],
        )
    }

    fn start_in(
        folder: TempDir,
        args: &[&str],
        cloudflared: Cloudflared,
        env: &[(&str, &str)],
    ) -> Self {
        let mut command = command(folder.path(), args, cloudflared, env);
        let mut child = command.spawn().expect("devkit starts");
        let stdout = collect(child.stdout.take().expect("stdout"));
        let stderr = collect(child.stderr.take().expect("stderr"));
        Self {
            child,
            stdout,
            stderr,
            folder,
        }
    }

    fn output(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout.lock().expect("lock"),
            self.stderr.lock().expect("lock")
        )
    }

    /// Waits for the banner and returns its `Label  value` lines.
    fn banner(&mut self) -> HashMap<String, String> {
        let started = Instant::now();
        loop {
            let text = self.stdout.lock().expect("lock").clone();
            if text.contains("Ctrl-C stops everything") {
                return text
                    .lines()
                    .filter_map(|line| {
                        let (label, value) = line.trim().split_once("  ")?;
                        let value = value.trim().split("   ").next()?;
                        Some((label.trim().to_owned(), value.trim().to_owned()))
                    })
                    .collect();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "devkit exited ({status}) before its banner\n{}",
                    self.output()
                );
            }
            assert!(
                started.elapsed() < WAIT,
                "no banner within {WAIT:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until stderr holds `text`; panics with everything printed if it never does.
    fn wait_stderr(&self, text: &str) -> String {
        let started = Instant::now();
        loop {
            let stderr = self.stderr.lock().expect("lock").clone();
            if stderr.contains(text) {
                return stderr;
            }
            assert!(
                started.elapsed() < WAIT,
                "stderr never said {text:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // Let the readers take the last lines.
                std::thread::sleep(Duration::from_millis(100));
                return status;
            }
            assert!(
                started.elapsed() < WAIT,
                "devkit did not exit within {WAIT:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The stand-in's PID, as it wrote it.
    fn cloudflared_pid(&self) -> u32 {
        let path = self.folder.path().join("cloudflared.pid");
        let started = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&path)
                && let Ok(pid) = text.trim().parse()
            {
                return pid;
            }
            assert!(started.elapsed() < WAIT, "the stand-in never started");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn forwarded_connections(&self) -> usize {
        std::fs::read_to_string(self.folder.path().join("cloudflared.log"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for Devkit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `devkit ARGS` in `folder`, with the shipped pack, a scrubbed environment
/// and `PATH` holding the chosen stand-in (or no cloudflared at all).
fn command(
    folder: &Path,
    args: &[&str],
    cloudflared: Cloudflared,
    env: &[(&str, &str)],
) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_devkit"));
    command
        .args(args)
        .current_dir(folder)
        .env("APP_DIR", workspace_dir().join("seed"))
        .env("RUST_LOG", "info")
        .env("PATH", search_path(cloudflared))
        .env("STANDIN_PID_FILE", folder.join("cloudflared.pid"))
        .env("STANDIN_LOG", folder.join("cloudflared.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in SCRUBBED {
        command.env_remove(name);
    }
    if let Cloudflared::StandIn(mode) = cloudflared {
        command
            .env("STANDIN_MODE", mode)
            .env("DEVKIT_TEST_LOOPBACK_TUNNEL", "1");
    }
    command.envs(env.iter().copied());
    command
}

fn collect(stream: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut text = sink.lock().expect("lock");
            text.push_str(&line);
            text.push('\n');
        }
    });
    text
}

/// `PATH` with the stand-in first, or without any `cloudflared` at all.
fn search_path(cloudflared: Cloudflared) -> OsString {
    let standins = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/standins");
    let rest = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&rest)
        .filter(|dir| !dir.join("cloudflared").exists())
        .collect();
    if cloudflared != Cloudflared::Missing {
        dirs.insert(0, standins);
    }
    std::env::join_paths(dirs).expect("PATH")
}

/// Is the process gone (not even a zombie)?
fn process_gone(pid: u32) -> bool {
    let started = Instant::now();
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat"));
        match state {
            Err(_) => return true,
            Ok(stat) if started.elapsed() > Duration::from_secs(5) => {
                eprintln!("still there: {stat}");
                return false;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The whole sign-in as a chat host does it, through `connector`, with the
/// person typing `who` (and the passcode, when the page asks).
async fn sign_in(connector: &Url, who: &str, passcode: Option<&str>) -> McpClient {
    let (oauth, authorize) = host_starts_sign_in(connector, "devkit up test host").await;
    let http = no_redirects();
    let page = http.get(&authorize).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert_eq!(
        html.contains("name=\"passcode\""),
        passcode.is_some(),
        "{html}"
    );
    let mut answers = vec![("who", who), ("decision", "approve")];
    answers.extend(passcode.map(|code| ("passcode", code)));
    let action = connector.join("/oauth/authorize").expect("url");
    let answer = answer_sign_in(&http, action, &html, &answers).await;
    assert_eq!(
        answer.status(),
        303,
        "{}",
        answer.text().await.unwrap_or_default()
    );
    let location = answer.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    host_finishes_sign_in(connector, oauth, &location).await
}

/// What a host does before the person sees the sign-in page: it is refused,
/// discovers the issuer, registers as `client_name`, and builds the
/// authorization URL (returned with its OAuth state).
async fn host_starts_sign_in(connector: &Url, client_name: &str) -> (OAuthState, String) {
    let challenge =
        match ().serve(StreamableHttpClientTransport::from_uri(connector.as_str())).await {
            Err(error) => error.auth_challenge().expect("a 401 challenge").to_owned(),
            Ok(_) => panic!("an unauthenticated client must be refused"),
        };
    let mut oauth = OAuthState::new(connector.as_str(), None)
        .await
        .expect("oauth state");
    oauth
        .start_authorization(
            AuthorizationRequest::new(CALLBACK)
                .with_client_name(client_name)
                .with_challenge(challenge),
        )
        .await
        .expect("discovery and registration");
    let authorize = oauth.get_authorization_url().await.expect("authorize url");
    assert!(
        authorize.starts_with(connector.origin().ascii_serialization().as_str()),
        "the issuer shares the connector's origin: {authorize}"
    );
    (oauth, authorize)
}

/// What a host does once the browser is back at its callback: exchanges the
/// code and connects with the tokens.
async fn host_finishes_sign_in(
    connector: &Url,
    mut oauth: OAuthState,
    callback: &str,
) -> McpClient {
    oauth
        .handle_callback_url(callback)
        .await
        .expect("code exchange");
    let manager = oauth.into_authorization_manager().expect("authorized");
    let transport = StreamableHttpClientTransport::with_client(
        AuthClient::new(reqwest::Client::default(), manager),
        StreamableHttpClientTransportConfig::with_uri(connector.as_str()),
    );
    McpClient(().serve(transport).await.expect("authenticated client"))
}

/// Where the test hosts ask to be sent back; nothing listens there.
const CALLBACK: &str = "http://127.0.0.1:1/callback";

fn url(text: &str) -> Url {
    Url::parse(text).unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

/// The quick start, locally: a fresh folder gets `.devkit/` and a secret in
/// `.env`, sign-in is on and works with rmcp's OAuth client through the real
/// form, and a restart keeps the secret and the saved state.
#[tokio::test]
async fn up_without_a_tunnel_signs_in_end_to_end() {
    let mut devkit = Devkit::start(&["up", "--no-tunnel", "--port", "0"], Cloudflared::Missing);
    let banner = devkit.banner();
    let connector = url(&banner["Connector URL"]);
    assert_eq!(connector.path(), "/mcp");
    assert!(!banner.contains_key("Passcode"), "no passcode locally");
    assert_eq!(banner["Database"], "sqlite://.devkit/gateway.db");

    let env = std::fs::read_to_string(devkit.folder.path().join(".env")).expect(".env made");
    let secret_line = env
        .lines()
        .find(|l| l.starts_with("SESSION_SIGNING_SECRET="))
        .expect("a secret")
        .to_owned();
    assert!(devkit.folder.path().join(".devkit/gateway.db").exists());

    let client = sign_in(&connector, "Ada", None).await;
    let start = client.call("begin_session", json!({})).await.ok();
    assert_eq!(start["user"]["id"], "ada");
    let session = start["session"].clone();
    let saved = client
        .call(
            "user_save_state",
            json!({"session": session, "state": {"at": "a3"}}),
        )
        .await
        .ok();
    assert_eq!(saved["version"], 1);
    drop(client);

    devkit.signal("INT");
    assert!(devkit.wait_exit().success(), "{}", devkit.output());
    let logs = devkit.output();
    assert!(!logs.contains(secret_line.trim_start_matches("SESSION_SIGNING_SECRET=")));

    // Again in the same folder: the secret is kept, the state is still there.
    let folder = std::mem::replace(&mut devkit.folder, tempfile::tempdir().expect("tempdir"));
    let mut again = Devkit::start_in(
        folder,
        &["up", "--no-tunnel", "--port", "0", "--quiet"],
        Cloudflared::Missing,
        &[],
    );
    let connector = url(&again.banner()["Connector URL"]);
    let env = std::fs::read_to_string(again.folder.path().join(".env")).expect(".env");
    assert_eq!(env.matches("SESSION_SIGNING_SECRET=").count(), 1, "{env}");
    assert!(env.contains(&secret_line));
    let client = sign_in(&connector, "ada", None).await;
    let session = client.call("begin_session", json!({})).await.ok()["session"].clone();
    let state = client
        .call("user_get_state", json!({"session": session}))
        .await
        .ok();
    assert_eq!(state["state"], json!({"at": "a3"}), "{state}");
    again.signal("TERM");
    assert!(again.wait_exit().success(), "{}", again.output());
    let quiet = again.stderr.lock().expect("lock").clone();
    assert!(
        !quiet.contains("user_get_state") && !quiet.contains("sign-in   "),
        "--quiet prints no live lines\n{quiet}"
    );
}

/// Through a (stand-in) tunnel: the public URL is found in cloudflared's
/// banner, checked through the forwarder, named by the metadata, and the
/// sign-in page asks for the terminal's passcode. Ctrl-C leaves no process.
#[tokio::test]
async fn up_through_a_tunnel_asks_for_the_passcode() {
    let mut devkit = Devkit::start(&["up", "--port", "0"], Cloudflared::StandIn("forward"));
    let banner = devkit.banner();
    let connector = url(&banner["Connector URL"]);
    let local = url(&banner["Local URL"]);
    assert_ne!(
        connector.port(),
        local.port(),
        "the public URL is the tunnel's"
    );
    let passcode = banner["Passcode"].clone();
    assert_eq!(passcode.len(), 6);
    assert!(
        devkit.forwarded_connections() > 0,
        "devkit checked the connector through the tunnel\n{}",
        devkit.output()
    );
    assert!(
        !devkit.stderr.lock().expect("lock").contains(&passcode),
        "the passcode is on the banner only"
    );

    let metadata: Value = reqwest::get(
        connector
            .join("/.well-known/oauth-protected-resource/mcp")
            .expect("url"),
    )
    .await
    .expect("metadata")
    .json()
    .await
    .expect("json");
    assert_eq!(metadata["resource"], connector.as_str());
    assert_eq!(
        metadata["authorization_servers"][0],
        connector.origin().ascii_serialization()
    );
    // `/metrics` has a loopback listener of its own; through the tunnel it is not there.
    let metrics = reqwest::get(banner["Metrics"].as_str())
        .await
        .expect("metrics");
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.expect("text");
    assert!(text.contains("gateway_session_refusals_total"), "{text}");
    let tunnelled = reqwest::get(connector.join("/metrics").expect("url"))
        .await
        .expect("through the tunnel");
    assert_eq!(tunnelled.status(), 404);
    // What hosts are told to ask for is what the bundled issuer grants,
    // `offline_access` included, so they get refresh tokens.
    let issuer: Value = reqwest::get(
        connector
            .join("/.well-known/oauth-authorization-server")
            .expect("url"),
    )
    .await
    .expect("issuer metadata")
    .json()
    .await
    .expect("json");
    assert_eq!(metadata["scopes_supported"], issuer["scopes_supported"]);
    assert!(
        metadata["scopes_supported"]
            .as_array()
            .is_some_and(|s| s.contains(&json!("offline_access"))),
        "{metadata}"
    );

    // A wrong passcode is refused with the page again; the right one signs in.
    let wrong = wrong_passcode_answer(&connector).await;
    assert_eq!(wrong.0, 403);
    assert!(wrong.1.contains("wrong passcode"), "{}", wrong.1);
    let client = sign_in(&connector, "grace@example.org", Some(&passcode)).await;
    let start = client.call("begin_session", json!({})).await.ok();
    assert_eq!(start["user"]["email"], "grace@example.org");
    drop(client);

    // The live lines told the whole sign-in, in order, and no secret.
    let stderr = devkit.wait_stderr("begin_session");
    let steps = [
        "sign-in   registered",
        "sign-in   page shown",
        "sign-in   denied",
        "sign-in   approved       grace@example.org",
        "sign-in   code → tokens  grace@example.org",
        "call      grace@example.org begin_session",
    ];
    let mut from = 0;
    for step in steps {
        let at = stderr[from..]
            .find(step)
            .unwrap_or_else(|| panic!("no {step:?} after the earlier steps\n{stderr}"));
        from += at;
    }
    assert!(stderr.contains("wrong passcode"), "{stderr}");
    assert!(!stderr.contains(&passcode), "the passcode is never printed");
    let live: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("sign-in   "))
        .collect();
    assert!(
        live.iter().all(|l| !l.contains('\x1b')),
        "no colour when stderr is not a terminal: {live:?}"
    );

    let pid = devkit.cloudflared_pid();
    devkit.signal("INT");
    assert!(devkit.wait_exit().success(), "{}", devkit.output());
    assert!(process_gone(pid), "cloudflared {pid} outlived devkit up");
}

/// `devkit call`, where `devkit up` runs: signed in with a token minted for
/// the audience the connector announces (the tunnel's URL, though the call
/// goes to the local one), the session filled in, the result printed.
#[tokio::test]
async fn devkit_call_signs_in_and_calls_a_tool() {
    let mut devkit = Devkit::start(&["up", "--port", "0"], Cloudflared::StandIn("forward"));
    let local = banner_url(&mut devkit, "Local URL");
    let call = |args: &[&str]| {
        let mut all = vec!["call", "--url", local.as_str()];
        all.extend_from_slice(args);
        let output = command(devkit.folder.path(), &all, Cloudflared::Missing, &[])
            .output()
            .expect("devkit call runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (ok, out, err) = call(&[
        "domain_search",
        r#"{"query": "lighthouses"}"#,
        "--as",
        "alice",
    ]);
    assert!(ok, "{out}\n{err}");
    let found: Value = serde_json::from_str(&out).expect("the result is JSON");
    assert_eq!(found["matches"][0]["id"], "a14", "{out}");

    // An action gets a fresh idempotency key, said on stderr.
    let (ok, out, err) = call(&[
        "domain_rate_item",
        r#"{"id": "a14", "stars": 5}"#,
        "--as",
        "alice",
    ]);
    assert!(ok, "{out}\n{err}");
    assert!(err.contains("idempotency_key devkit-call-"), "{err}");
    let rated: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(rated["rating"]["count"], 1, "{out}");

    let (ok, out, _) = call(&["--list"]);
    assert!(ok);
    assert!(
        out.contains("domain_search") && out.contains("    query: string"),
        "{out}"
    );
    assert!(
        !out.contains("session:"),
        "the kit fills in the session: {out}"
    );

    // Mistakes are one clear line and a failed exit.
    for (args, says) in [
        (vec!["domain_nope"], "there is no tool `domain_nope`"),
        (vec!["domain_search", "{query"], "not JSON"),
        (vec!["domain_search", "[1]"], "must be a JSON object"),
        (vec!["domain_get_item", r#"{"id": "zz"}"#], "NOT_FOUND"),
        (
            vec!["domain_search", "{}", "--token", "not-a-token"],
            "refused the access token: 401 the token is not a well-formed JWT",
        ),
    ] {
        let (ok, out, err) = call(&args);
        assert!(!ok, "{args:?} succeeded: {out}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Each call and the refused token are live lines of `devkit up`.
    let stderr = devkit.wait_stderr("401            the token is not a well-formed JWT");
    assert!(
        stderr.contains("call      alice          domain_search"),
        "{stderr}"
    );
    assert!(
        stderr.contains("call      devkit-user    domain_get_item"),
        "{stderr}"
    );
    assert!(stderr.contains("NOT_FOUND"), "{stderr}");
    devkit.signal("INT");
    assert!(devkit.wait_exit().success(), "{}", devkit.output());
}

/// The dashboard: on loopback only (404 through the tunnel, and for any
/// other `Host`), following a sign-in live over server-sent events, and
/// its token inspector explaining a token minted for another audience.
#[tokio::test]
async fn the_dashboard_is_local_only_and_follows_a_sign_in_live() {
    let mut devkit = Devkit::start(&["up", "--port", "0"], Cloudflared::StandIn("forward"));
    let banner = devkit.banner();
    let (connector, passcode) = (url(&banner["Connector URL"]), banner["Passcode"].clone());
    let dashboard = url(&banner["Dashboard"]);
    assert_eq!(dashboard.path(), "/_devkit/");
    assert_eq!(dashboard.host_str(), Some("127.0.0.1"));

    let page = reqwest::get(dashboard.as_str()).await.expect("dashboard");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(
        html.contains(connector.as_str()) && html.contains("<svg"),
        "URL and QR code"
    );
    // Through the tunnel, and with a foreign Host on loopback: nothing here.
    let tunnelled = reqwest::get(connector.join("/_devkit/").expect("url"))
        .await
        .expect("answer");
    assert_eq!(tunnelled.status(), 404);
    let foreign = reqwest::Client::new()
        .get(dashboard.join("state").expect("url"))
        .header("host", connector.host_str().expect("host"))
        .send()
        .await
        .expect("answer");
    assert_eq!(foreign.status(), 404);

    // Live: the events stream tells of the sign-in and the calls as they happen.
    let mut stream = reqwest::get(dashboard.join("events").expect("url"))
        .await
        .expect("events");
    let client = sign_in(&connector, "hedy", Some(&passcode)).await;
    let session = client.call("begin_session", json!({})).await.ok()["session"].clone();
    client
        .call(
            "domain_search",
            json!({"session": session, "query": "maps"}),
        )
        .await
        .ok();
    let mut seen = String::new();
    let deadline = Instant::now() + WAIT;
    while seen.matches("tool_call").count() < 2 {
        let chunk = tokio::time::timeout_at(deadline.into(), stream.chunk())
            .await
            .expect("events in time")
            .expect("the stream")
            .expect("open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    for kind in [
        "metadata_fetched",
        "registered",
        "page_shown",
        "approved",
        "code_exchanged",
    ] {
        assert!(seen.contains(kind), "{kind} in {seen}");
    }
    let state: Value = reqwest::get(dashboard.join("state").expect("url"))
        .await
        .expect("state")
        .json()
        .await
        .expect("json");
    let timeline = &state["clients"][0];
    assert_eq!(timeline["user"], "hedy", "{state}");
    let steps: Vec<&str> = timeline["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "metadata_fetched",
            "registered",
            "page_shown",
            "approved",
            "code_exchanged",
            "first_call",
            "begin_session",
            "tool_calls"
        ],
        "{state}"
    );
    assert_eq!(timeline["stopped"], Value::Null);
    assert_eq!(state["feed"][0]["tool"], "domain_search");
    assert_eq!(state["users"][0]["user"], "hedy");

    // The inspector, on a token for an old tunnel's URL.
    let minted = command(
        devkit.folder.path(),
        &[
            "mint-token",
            "--sub",
            "hedy",
            "--aud",
            "https://old-tunnel.example/mcp",
            "--iss",
            connector.origin().ascii_serialization().as_str(),
        ],
        Cloudflared::Missing,
        &[],
    )
    .output()
    .expect("mint-token runs");
    let token = String::from_utf8_lossy(&minted.stdout).trim().to_owned();
    let inspection: Value = reqwest::Client::new()
        .post(dashboard.join("inspect").expect("url"))
        .json(&json!({"token": token}))
        .send()
        .await
        .expect("inspect")
        .json()
        .await
        .expect("json");
    let checks: Vec<(String, bool)> = inspection["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_owned(),
                c["passed"] == true,
            )
        })
        .collect();
    assert_eq!(
        checks,
        [
            ("signature".into(), true),
            ("issuer".into(), true),
            ("audience".into(), false),
            ("expiry".into(), true)
        ],
        "{inspection}"
    );
    assert!(
        inspection["checks"][2]["why"]
            .as_str()
            .is_some_and(|w| w.contains(&format!(
                "issued for https://old-tunnel.example/mcp, but this connector is {connector}"
            ))),
        "{inspection}"
    );
    drop(client);
    devkit.signal("INT");
    assert!(devkit.wait_exit().success(), "{}", devkit.output());
}

/// The dashboard and the sign-in page in a real browser (Debian's chromium,
/// through chromedriver), as a builder on a phone and a laptop sees them.
/// Runs when `BROWSER_TESTS` is set (`.ci/run` installs chromium and
/// chromium-driver and sets it); with it set, a missing chromedriver fails.
///
/// The sign-in goes through the real consent page (name and passcode typed,
/// Approve clicked); the dashboard, opened before it in another window,
/// follows it to "tool calls" and shows the call without being reloaded.
/// Screenshots land in `target/screenshots/`.
#[tokio::test]
async fn the_dashboard_and_sign_in_work_in_a_real_browser() {
    if std::env::var_os("BROWSER_TESTS").is_none() {
        eprintln!(
            "browser test not run: set BROWSER_TESTS=1 (needs chromium and chromium-driver; .ci/run does)"
        );
        return;
    }
    let driver = Chromedriver::start();
    let browser = driver.browser().await;
    let shots = workspace_dir().join("target/screenshots");
    std::fs::create_dir_all(&shots).expect("screenshot folder");

    let mut devkit = Devkit::start(&["up", "--port", "0"], Cloudflared::StandIn("forward"));
    let banner = devkit.banner();
    let (connector, passcode) = (url(&banner["Connector URL"]), banner["Passcode"].clone());
    let dashboard = banner["Dashboard"].clone();

    // The dashboard first, on a phone-sized window; it stays open.
    browser.set_window_size(390, 844).await.expect("phone size");
    browser.goto(&dashboard).await.expect("dashboard");
    wait_text(&browser, "#live", "live").await;
    let dashboard_window = browser.window().await.expect("window");

    // A host signs in; the person answers the real page in a second window.
    let (oauth, authorize) = host_starts_sign_in(&connector, "Browser test host").await;
    let page = browser.new_window(false).await.expect("second window");
    browser.switch_to_window(page.handle).await.expect("switch");
    browser.goto(&authorize).await.expect("sign-in page");
    let who = browser
        .find(Locator::Id("who"))
        .await
        .expect("the name field");
    std::fs::write(
        shots.join("sign-in-phone.png"),
        browser.screenshot().await.expect("shot"),
    )
    .expect("saved");
    who.send_keys("Katherine").await.expect("typed");
    browser
        .find(Locator::Id("passcode"))
        .await
        .expect("the passcode field")
        .send_keys(&passcode)
        .await
        .expect("typed");
    browser
        .find(Locator::Css("button[value=approve]"))
        .await
        .expect("Approve")
        .click()
        .await
        .expect("clicked");
    // The browser follows the redirect to the host's callback (nothing
    // listens there); the code is in the address.
    let callback = wait_for_url(&browser, CALLBACK).await;
    let client = host_finishes_sign_in(&connector, oauth, callback.as_str()).await;
    let session = client.call("begin_session", json!({})).await.ok()["session"].clone();
    client
        .call(
            "domain_search",
            json!({"session": session, "query": "lighthouse"}),
        )
        .await
        .ok();
    browser.close_window().await.expect("closed");

    // Back on the dashboard, never reloaded: the timeline and feed moved.
    browser
        .switch_to_window(dashboard_window)
        .await
        .expect("switch back");
    wait_text(&browser, "#clients", "tool calls").await;
    wait_text(&browser, "#feed", "domain_search").await;
    let done = browser
        .find_all(Locator::Css("#clients li.done"))
        .await
        .expect("steps");
    assert_eq!(done.len(), 8, "every step of the sign-in is done");
    assert!(
        browser
            .find(Locator::Css("#clients .stopped"))
            .await
            .is_err(),
        "nothing stopped"
    );
    std::fs::write(
        shots.join("dashboard-phone.png"),
        browser.screenshot().await.expect("shot"),
    )
    .expect("saved");

    // The token inspector, on a token for another audience.
    let minted = command(
        devkit.folder.path(),
        &[
            "mint-token",
            "--sub",
            "katherine",
            "--aud",
            "https://old-tunnel.example/mcp",
            "--iss",
            connector.origin().ascii_serialization().as_str(),
        ],
        Cloudflared::Missing,
        &[],
    )
    .output()
    .expect("mint-token runs");
    let token = String::from_utf8_lossy(&minted.stdout).trim().to_owned();
    browser
        .set_window_size(1280, 900)
        .await
        .expect("laptop size");
    browser
        .find(Locator::Id("token"))
        .await
        .expect("textarea")
        .send_keys(&token)
        .await
        .expect("pasted");
    browser
        .find(Locator::Id("inspect"))
        .await
        .expect("Inspect")
        .click()
        .await
        .expect("clicked");
    wait_text(&browser, "#verdict", "✗ audience").await;
    let verdict = browser
        .find(Locator::Id("verdict"))
        .await
        .expect("verdict")
        .text()
        .await
        .expect("text");
    assert!(
        verdict.contains("✓ signature")
            && verdict.contains("✓ issuer")
            && verdict.contains("✓ expiry"),
        "{verdict}"
    );
    assert!(
        verdict.contains("issued for https://old-tunnel.example/mcp"),
        "{verdict}"
    );
    std::fs::write(
        shots.join("dashboard-laptop.png"),
        browser.screenshot().await.expect("shot"),
    )
    .expect("saved");

    // Through the tunnel there is no dashboard.
    browser
        .goto(connector.join("/_devkit/").expect("url").as_str())
        .await
        .expect("navigates");
    let body = browser.source().await.expect("source");
    assert!(
        !body.contains("devkit dashboard"),
        "the dashboard answered through the tunnel"
    );

    drop(client);
    browser.close().await.expect("browser closed");
    devkit.signal("INT");
    assert!(devkit.wait_exit().success(), "{}", devkit.output());
}

/// chromedriver on a free port, killed on drop.
struct Chromedriver {
    child: Child,
    port: u16,
}

impl Chromedriver {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("BROWSER_TESTS is set, but chromedriver does not run: apt-get install -y chromium chromium-driver (.ci/run does)");
        Self { child, port }
    }

    async fn browser(&self) -> fantoccini::Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=390,844"]}),
        );
        let started = Instant::now();
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match fantoccini::ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{}", self.port))
                .await
            {
                Ok(client) => return client,
                // chromedriver takes a moment to listen.
                Err(_) if started.elapsed() < WAIT => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver gave no browser: {e}"),
            }
        }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the element `css` holds `text`.
async fn wait_text(browser: &fantoccini::Client, css: &str, text: &str) {
    let started = Instant::now();
    loop {
        if let Ok(element) = browser.find(Locator::Css(css)).await
            && element.text().await.is_ok_and(|t| t.contains(text))
        {
            return;
        }
        assert!(started.elapsed() < WAIT, "{css} never showed {text:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the browser's address starts with `prefix`.
async fn wait_for_url(browser: &fantoccini::Client, prefix: &str) -> Url {
    let started = Instant::now();
    loop {
        if let Ok(now) = browser.current_url().await
            && now.as_str().starts_with(prefix)
        {
            return now;
        }
        assert!(
            started.elapsed() < WAIT,
            "the browser never reached {prefix}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn banner_url(devkit: &mut Devkit, label: &str) -> String {
    devkit.banner()[label].clone()
}

/// Registers, opens the sign-in page and approves with a wrong passcode.
async fn wrong_passcode_answer(connector: &Url) -> (u16, String) {
    let http = no_redirects();
    let registered = e2e::register_client(
        &http,
        connector.join("/oauth/register").expect("url"),
        &json!({"redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"}),
    )
    .await;
    let page = e2e::sign_in_page(
        &http,
        connector.join("/oauth/authorize").expect("url"),
        &[
            ("response_type", "code"),
            ("client_id", registered["client_id"].as_str().expect("id")),
            ("redirect_uri", "http://127.0.0.1:9/cb"),
            ("code_challenge", e2e::PKCE_CHALLENGE),
            ("code_challenge_method", "S256"),
            ("resource", connector.as_str()),
        ],
    )
    .await;
    let answers = [
        ("who", "mallory"),
        ("passcode", "not-it"),
        ("decision", "approve"),
    ];
    let action = connector.join("/oauth/authorize").expect("url");
    let answer = answer_sign_in(&http, action, &page, &answers).await;
    (answer.status().as_u16(), answer.text().await.expect("html"))
}

/// `--open-signin` drops the passcode; `--auth-disabled` drops sign-in.
#[tokio::test]
async fn open_signin_and_auth_disabled_through_a_tunnel() {
    let mut devkit = Devkit::start(
        &["up", "--port", "0", "--open-signin"],
        Cloudflared::StandIn("forward"),
    );
    let banner = devkit.banner();
    assert!(!banner.contains_key("Passcode"));
    let client = sign_in(&url(&banner["Connector URL"]), "lin", None).await;
    assert_eq!(
        client.call("begin_session", json!({})).await.ok()["user"]["id"],
        "lin"
    );
    drop(client);
    devkit.signal("INT");
    assert!(devkit.wait_exit().success());

    let mut devkit = Devkit::start(
        &["up", "--port", "0", "--auth-disabled"],
        Cloudflared::StandIn("forward"),
    );
    let banner = devkit.banner();
    assert!(banner["Sign-in"].starts_with("OFF"), "{banner:?}");
    let client = McpClient(
        ().serve(StreamableHttpClientTransport::from_uri(
            banner["Connector URL"].as_str(),
        ))
        .await
        .expect("no sign-in needed"),
    );
    assert_eq!(
        client.call("begin_session", json!({})).await.ok()["user"]["id"],
        "demo-user"
    );
    drop(client);
    assert!(devkit.output().contains("AUTH_DISABLED"), "a loud warning");
    devkit.signal("INT");
    assert!(devkit.wait_exit().success());
}

#[test]
fn a_rate_limited_tunnel_is_explained() {
    let mut devkit = Devkit::start(&["up", "--port", "0"], Cloudflared::StandIn("ratelimit"));
    let status = devkit.wait_exit();
    assert_eq!(status.code(), Some(1));
    let output = devkit.output();
    assert!(
        output.contains("rate-limiting new quick tunnels"),
        "{output}"
    );
    assert!(output.contains("429 Too Many Requests"), "{output}");
    assert!(process_gone(devkit.cloudflared_pid()));
}

#[test]
fn a_tunnel_that_gives_no_url_times_out_and_is_ended() {
    let mut devkit = Devkit::start(
        &["up", "--port", "0", "--tunnel-timeout", "2s"],
        Cloudflared::StandIn("silent"),
    );
    let pid = devkit.cloudflared_pid();
    let status = devkit.wait_exit();
    assert_eq!(status.code(), Some(1));
    assert!(
        devkit
            .output()
            .contains("cloudflared gave no public URL within 2s"),
        "{}",
        devkit.output()
    );
    assert!(process_gone(pid), "the silent cloudflared was left running");
}

#[test]
fn a_tunnel_killed_mid_run_ends_devkit_with_the_reason() {
    let mut devkit = Devkit::start(&["up", "--port", "0"], Cloudflared::StandIn("forward"));
    devkit.banner();
    let pid = devkit.cloudflared_pid();
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = devkit.wait_exit();
    let output = devkit.output();
    let says = if output.contains("cloudflared stopped") && output.contains("run `devkit up` again")
    {
        "says why and to run it again".to_owned()
    } else {
        format!("says: {}", output.lines().last().unwrap_or("nothing"))
    };
    let left = if process_gone(pid) {
        "cloudflared gone"
    } else {
        "cloudflared still running"
    };
    // The row in docs/reliability.md's fault tables, checked like the e2e ones.
    e2e::docs::check_rows(
        "devkit fault table",
        &["fault"],
        vec![e2e::docs::Row {
            cells: vec!["`cloudflared` dies while `devkit up` runs".into()],
            expect: "exit 1, says why and to run it again, cloudflared gone".into(),
            observed: format!("exit {:?}, {says}, {left}", status.code().unwrap_or(-1)),
        }],
    );
}

#[test]
fn without_cloudflared_it_runs_locally_and_says_how_to_install() {
    let mut devkit = Devkit::start(&["up", "--port", "0"], Cloudflared::Missing);
    let banner = devkit.banner();
    assert!(banner["Connector URL"].starts_with("http://127.0.0.1:"));
    let output = devkit.output();
    assert!(output.contains("cloudflared is not installed"), "{output}");
    assert!(output.contains("brew install cloudflared"), "{output}");
    assert!(
        output.contains("needs a public URL: install cloudflared"),
        "{output}"
    );
    devkit.signal("INT");
    assert!(devkit.wait_exit().success());
}

/// Every failure is one line on stderr and a non-zero exit.
#[test]
fn failures_exit_non_zero_with_one_line() {
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = held.local_addr().expect("addr").port().to_string();
    let mut cases: Vec<(Devkit, &str)> = vec![(
        Devkit::start(
            &["up", "--no-tunnel", "--port", &port],
            Cloudflared::Missing,
        ),
        "is in use",
    )];
    let bad_db = tempfile::tempdir().expect("tempdir");
    cases.push((
        Devkit::start_in(
            bad_db,
            &["up", "--no-tunnel", "--port", "0"],
            Cloudflared::Missing,
            &[("DATABASE_URL", "mysql://nope")],
        ),
        "DATABASE_URL",
    ));
    let no_server = tempfile::tempdir().expect("tempdir");
    cases.push((
        Devkit::start_in(
            no_server,
            &["up", "--no-tunnel", "--port", "0"],
            Cloudflared::Missing,
            &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/devkit")],
        ),
        "cannot open the database postgres://postgres@127.0.0.1:1/devkit",
    ));
    let bad_pack = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(bad_pack.path().join("pack")).expect("mkdir");
    std::fs::write(bad_pack.path().join("pack/pack.json"), "{ not json").expect("write");
    let pack_dir = bad_pack.path().join("pack").display().to_string();
    cases.push((
        Devkit::start_in(
            bad_pack,
            &["up", "--no-tunnel", "--port", "0"],
            Cloudflared::Missing,
            &[("APP_DIR", &pack_dir)],
        ),
        "pack.json",
    ));
    let bad_env = tempfile::tempdir().expect("tempdir");
    std::fs::write(bad_env.path().join(".env"), "this line is not a setting\n").expect("write");
    cases.push((
        Devkit::start_in(
            bad_env,
            &["up", "--no-tunnel", "--port", "0"],
            Cloudflared::Missing,
            &[],
        ),
        "cannot read .env",
    ));
    for (mut devkit, expected) in cases {
        let status = devkit.wait_exit();
        let stderr = devkit.stderr.lock().expect("lock").clone();
        assert_eq!(status.code(), Some(1), "{}", devkit.output());
        let last = stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("devkit: ") && last.contains(expected),
            "expected one line about `{expected}`, got:\n{stderr}"
        );
    }
    drop(held);
}

/// `devkit doctor` on a fresh folder: notes for what `up` will make, ok for
/// the rest, exit 0; a weak secret and a taken port are failures, exit 1.
#[test]
fn doctor_reports_one_line_per_check() {
    let held = TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = held.local_addr().expect("addr").port().to_string();
    let free = {
        let probe = TcpListener::bind("127.0.0.1:0").expect("bind");
        probe.local_addr().expect("addr").port().to_string()
    };
    let mut fresh = Devkit::start(
        &["doctor", "--port", &free],
        Cloudflared::StandIn("forward"),
    );
    let status = fresh.wait_exit();
    let out = fresh.stdout.lock().expect("lock").clone();
    assert!(status.success(), "{}", fresh.output());
    assert_eq!(out.lines().count(), 11, "{out}");
    assert!(out.contains("note  .env"), "{out}");
    assert!(
        out.contains("note  resource meta nothing answers at http://127.0.0.1:"),
        "the connector is not running: a note, not a failure\n{out}"
    );
    assert!(
        out.contains("ok    domain pack   Reading Room (14 articles)"),
        "{out}"
    );
    assert!(
        out.contains("ok    cloudflared   cloudflared version 2026.11.0"),
        "{out}"
    );
    assert!(
        out.contains("note  database      sqlite://.devkit/gateway.db does not exist yet"),
        "{out}"
    );

    let folder = tempfile::tempdir().expect("tempdir");
    std::fs::write(folder.path().join(".env"), "SESSION_SIGNING_SECRET=short\n").expect("write");
    let mut weak = Devkit::start_in(
        folder,
        &["doctor", "--port", &taken],
        Cloudflared::Missing,
        &[],
    );
    let status = weak.wait_exit();
    let out = weak.stdout.lock().expect("lock").clone();
    assert_eq!(status.code(), Some(1), "{}", weak.output());
    assert!(out.contains("FAIL  session secret"), "{out}");
    assert!(out.contains("FAIL  port"), "{out}");
    assert!(out.contains("note  cloudflared   not on PATH"), "{out}");
    drop(held);
}

/// After `devkit up` has run once, doctor finds the database migrated and the keys readable.
#[test]
fn doctor_after_up_finds_the_database_and_keys() {
    let mut devkit = Devkit::start(&["up", "--no-tunnel", "--port", "0"], Cloudflared::Missing);
    devkit.banner();
    devkit.signal("INT");
    assert!(devkit.wait_exit().success());
    let folder = std::mem::replace(&mut devkit.folder, tempfile::tempdir().expect("tempdir"));
    let mut doctor = Devkit::start_in(
        folder,
        &["doctor", "--port", "0"],
        Cloudflared::Missing,
        &[],
    );
    assert!(doctor.wait_exit().success(), "{}", doctor.output());
    let out = doctor.stdout.lock().expect("lock").clone();
    assert!(out.contains("ok    .env"), "{out}");
    assert!(
        out.contains(
            "ok    database      sqlite://.devkit/gateway.db reachable, schema up to date"
        ),
        "{out}"
    );
    assert!(out.contains("ok    issuer keys"), "{out}");
    assert!(out.contains("ok    session secret 64 bytes"), "{out}");
}

/// With its output pipes closed (`devkit up | head`), Ctrl-C still stops it:
/// writing to a closed pipe must not kill the signal handling.
#[tokio::test]
async fn ctrl_c_works_when_nobody_reads_the_output() {
    let folder = tempfile::tempdir().expect("tempdir");
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
        .to_string();
    let args = ["up", "--no-tunnel", "--port", port.as_str()];
    let mut child = command(folder.path(), &args, Cloudflared::Missing, &[])
        .spawn()
        .expect("devkit starts");
    // Nobody will read: close our ends of its stdout and stderr now.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let health = format!("http://127.0.0.1:{port}/healthz");
    let started = Instant::now();
    while reqwest::get(&health).await.map(|r| r.status()).ok() != Some(reqwest::StatusCode::OK) {
        assert!(started.elapsed() < WAIT, "devkit up never answered");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "devkit up died"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("devkit up ignored Ctrl-C with its output closed");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");
}

/// A stand-in OpenTelemetry collector: every OTLP/HTTP JSON export it gets.
async fn otlp_collector() -> (std::net::SocketAddr, Arc<Mutex<Vec<Value>>>) {
    use axum::{Json, Router, extract::State, routing::post};
    let received = Arc::new(Mutex::new(Vec::new()));
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(received): State<Arc<Mutex<Vec<Value>>>>, Json(export): Json<Value>| async move {
                    received.lock().expect("lock").push(export);
                    Json(json!({}))
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind collector");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, received)
}

/// Every span the collector got, flattened.
fn spans(received: &[Value]) -> Vec<Value> {
    received
        .iter()
        .flat_map(|export| {
            export["resourceSpans"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
        .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn attribute(span: &Value, key: &str) -> Option<String> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"]["stringValue"]
        .as_str()
        .map(str::to_owned)
}

/// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, a span per MCP request and per
/// tool call reaches the collector: the request's continues the caller's
/// `traceparent` header, a tool call's the `traceparent` in its `_meta`
/// (2026-07-28) or else its request's; none holds a token or an argument.
// Multi-threaded: the collector must answer while this thread waits for devkit to exit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_reach_an_otlp_collector_and_continue_the_callers_trace() {
    const TRACE_A: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN_A: &str = "00f067aa0ba902b7";
    const TRACE_B: &str = "0af7651916cd43dd8448eb211c80319c";
    const SPAN_B: &str = "b7ad6b7169203331";
    let (collector, received) = otlp_collector().await;
    let endpoint = format!("http://{collector}");
    let mut devkit = Devkit::start_in(
        tempfile::tempdir().expect("tempdir"),
        &["up", "--no-tunnel", "--port", "0"],
        Cloudflared::Missing,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ],
    );
    let connector = url(&devkit.banner()["Connector URL"]);
    let minted = Command::new(env!("CARGO_BIN_EXE_devkit"))
        .args([
            "mint-token",
            "--sub",
            "tracer",
            "--aud",
            connector.as_str(),
            "--iss",
        ])
        .arg(connector.origin().ascii_serialization())
        .arg("--state-dir")
        .arg(devkit.folder.path().join(".devkit/issuer"))
        .output()
        .expect("mint-token runs");
    let token = String::from_utf8(minted.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    let post = |body: Value, traceparent: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(connector.as_str())
            .bearer_auth(&token)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        request.send()
    };
    let start: Value = post(
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "begin_session", "arguments": {}}}),
        Some(&format!("00-{TRACE_A}-{SPAN_A}-01")),
    )
    .await
    .expect("begin_session")
    .json()
    .await
    .expect("json");
    let session = start["result"]["structuredContent"]["session"]
        .as_str()
        .expect("a session")
        .to_owned();
    let saved = post(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "user_save_state",
                          "arguments": {"session": session, "state": {"note": "ARGUMENT-VALUE-7731"}},
                          "_meta": {"traceparent": format!("00-{TRACE_B}-{SPAN_B}-01")}}}),
        None,
    )
    .await
    .expect("user_save_state");
    assert_eq!(saved.status(), 200);
    // Ctrl-C: devkit flushes the queued spans before it exits.
    devkit.signal("INT");
    assert!(devkit.wait_exit().success(), "{}", devkit.output());

    let received = received.lock().expect("lock").clone();
    let spans = spans(&received);
    let named = |name: &str, tool: Option<&str>| {
        spans
            .iter()
            .find(|s| {
                s["name"] == name && tool.is_none_or(|t| attribute(s, "tool").as_deref() == Some(t))
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {name} {tool:?} span in {spans:#?}"))
    };
    let request = spans
        .iter()
        .find(|s| s["name"] == "mcp.request" && s["traceId"] == TRACE_A)
        .unwrap_or_else(|| panic!("the request span continues the header's trace: {spans:#?}"));
    assert_eq!(request["parentSpanId"], SPAN_A);
    let begin = named("tool.call", Some("begin_session"));
    assert_eq!(begin["traceId"], TRACE_A);
    assert_eq!(
        begin["parentSpanId"], request["spanId"],
        "a child of its request"
    );
    assert_eq!(attribute(&begin, "outcome").as_deref(), Some("ok"));
    let save = named("tool.call", Some("user_save_state"));
    assert_eq!(
        save["traceId"], TRACE_B,
        "the `_meta` traceparent is continued"
    );
    assert_eq!(save["parentSpanId"], SPAN_B);

    let everything = serde_json::to_string(&received).expect("json");
    for private in [
        token.as_str(),
        session.as_str(),
        "ARGUMENT-VALUE-7731",
        "tracer",
    ] {
        assert!(
            !everything.contains(private),
            "{private} reached the traces"
        );
    }
}
