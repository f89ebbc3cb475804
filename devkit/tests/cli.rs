//! `devkit` as a person runs it: the real binary, as a child process.

use std::{fmt, path::Path, process::Command};

use axum::{
    Json, Router,
    http::{StatusCode, header},
    routing::{get, post},
};
use e2e::{AppOptions, Backend, spawn_app, workspace_dir};
use serde_json::{Value, json};

fn mint(state_dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_devkit"))
        .arg("mint-token")
        .arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .env_remove("RESOURCE_URL")
        .env_remove("ISSUER_URL")
        .output()
        .expect("devkit runs")
}

/// A token minted offline with the issuer's persisted key is accepted by a
/// gateway that trusts the running issuer; one with the wrong audience, the
/// wrong issuer, or past its expiry is refused.
#[tokio::test]
async fn minted_tokens_verify_against_the_running_issuer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let issuer = e2e::spawn_mock_issuer(dir.path(), false, None).await;
    let app = spawn_app(AppOptions::on(Backend::Sqlite).trusting(&issuer)).await;
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "begin_session", "arguments": {}}});

    let good = mint(
        dir.path(),
        &[
            "--sub",
            "alice",
            "--email",
            "alice@example.test",
            "--aud",
            &app.resource,
            "--iss",
            &issuer,
        ],
    );
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let token = String::from_utf8(good.stdout).expect("utf8");
    assert_eq!(token.lines().count(), 1, "stdout holds the token only");
    let token = token.trim();
    let header = jsonwebtoken::decode_header(token).expect("a JWT");
    let jwks: serde_json::Value = reqwest::get(format!("{issuer}/.well-known/jwks.json"))
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    assert_eq!(
        jwks["keys"][0]["kid"].as_str(),
        header.kid.as_deref(),
        "signed with the published key"
    );
    let response = app.post_mcp(Some(token), &call).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["result"]["structuredContent"]["user"]["id"], "alice");

    for (why, args) in [
        (
            "wrong audience",
            vec![
                "--sub",
                "alice",
                "--aud",
                "http://127.0.0.1:1/mcp",
                "--iss",
                &issuer,
            ],
        ),
        (
            "wrong issuer",
            vec![
                "--sub",
                "alice",
                "--aud",
                &app.resource,
                "--iss",
                "http://127.0.0.1:1",
            ],
        ),
        (
            "expired",
            vec![
                "--sub",
                "alice",
                "--aud",
                &app.resource,
                "--iss",
                &issuer,
                "--expired",
            ],
        ),
    ] {
        let out = mint(dir.path(), &args);
        assert!(
            out.status.success(),
            "{why}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let token = String::from_utf8(out.stdout).expect("utf8");
        let response = app.post_mcp(Some(token.trim()), &call).await;
        assert_eq!(response.status(), 401, "{why}");
    }
}

/// Bad flags get a clear error and a non-zero exit, with nothing on stdout.
#[test]
fn bad_flags_are_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = mint(dir.path(), &["--sub", "alice", "--expires-in", "soon"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--expires-in"));
    let out = mint(
        dir.path(),
        &["--sub", "alice", "--expires-in", "5m", "--expired"],
    );
    assert!(!out.status.success());
    let out = mint(dir.path(), &["--sub", " "]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sub"));
}

/// Settings a developer's shell might hold that would change what doctor sees.
const SCRUBBED: [&str; 11] = [
    "DATABASE_URL",
    "SESSION_SIGNING_SECRET",
    "RESOURCE_URL",
    "AUTH_ISSUER",
    "AUTH_JWKS_URL",
    "AUTH_AUDIENCE",
    "AUTH_DISABLED",
    "ISSUER_URL",
    "ISSUER_STATE_DIR",
    "CLOUDFLARED",
    "DEVKIT_TEST_LOOPBACK_TUNNEL",
];

/// What one `devkit doctor` run printed.
struct Doctor {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl fmt::Display for Doctor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Doctor {
    /// The line about `what` (doctor prints `MARK  WHAT…… detail`).
    fn line(&self, what: &str) -> &str {
        let label = format!("{what:<13} ");
        self.stdout
            .lines()
            .find(|line| line.get(6..).is_some_and(|rest| rest.starts_with(&label)))
            .unwrap_or_else(|| panic!("no `{what}` line\n{self}"))
    }
}

/// `devkit doctor ARGS` in `folder` (its `.env` is read from there), with
/// the developer's settings scrubbed and cloudflared absent. Async: the
/// servers it probes run on this test's runtime.
async fn doctor(folder: &Path, args: &[&str]) -> Doctor {
    doctor_with(folder, args, &[]).await
}

/// `devkit doctor` with extra environment variables.
async fn doctor_with(folder: &Path, args: &[&str], env: &[(&str, &str)]) -> Doctor {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_devkit"));
    command
        .arg("doctor")
        .args(args)
        .current_dir(folder)
        .env("APP_DIR", workspace_dir().join("seed"));
    for name in SCRUBBED {
        command.env_remove(name);
    }
    command.env("CLOUDFLARED", "devkit-test-no-cloudflared");
    command.envs(env.iter().copied());
    let out = command.output().await.expect("devkit runs");
    Doctor {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A gateway trusting the real mock issuer, both on loopback, as `devkit up
/// --no-tunnel` runs them. Doctor with `--host any` and the gateway's port
/// (no `--url`: the local origin + `/mcp`) finds every host line in order,
/// reports loopback http as local-only rather than failing, and never
/// prints the session secret.
#[tokio::test]
async fn doctor_passes_a_well_configured_local_stack_for_any_host() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = e2e::spawn_mock_issuer(state.path(), false, None).await;
    let app = spawn_app(AppOptions::on(Backend::Sqlite).trusting(&issuer)).await;
    let folder = tempfile::tempdir().expect("tempdir");
    let secret = "a-session-secret-that-must-never-be-printed-0123456789";
    std::fs::write(
        folder.path().join(".env"),
        format!(
            "SESSION_SIGNING_SECRET={secret}\nAUTH_AUDIENCE={}\n",
            app.resource
        ),
    )
    .expect("write .env");
    let port = app.addr.port().to_string();

    let out = doctor(folder.path(), &["--host", "any", "--port", &port]).await;

    assert_eq!(out.code, Some(0), "{out}");
    assert!(!out.stdout.contains("FAIL"), "{out}");
    let connector = out.line("connector");
    assert!(
        connector.starts_with("note")
            && connector.contains(&format!("{} is local-only", app.resource)),
        "{out}"
    );
    for what in [
        "audience",
        "resource meta",
        "issuer",
        "registration",
        "PKCE",
        "iss parameter",
        "token errors",
    ] {
        assert!(out.line(what).starts_with("ok  "), "{what}\n{out}");
    }
    assert!(out.line("issuer").contains(&issuer), "{out}");
    assert!(
        out.line("port").contains("held by the running connector"),
        "{out}"
    );
    assert!(
        !out.stdout.contains(secret) && !out.stderr.contains(secret),
        "{out}"
    );
}

/// claude.ai lives in the cloud: for `--host claude` a loopback http
/// connector URL is a failure whose line says to use the public https URL.
#[tokio::test]
async fn doctor_for_claude_refuses_a_loopback_connector_url() {
    let state = tempfile::tempdir().expect("tempdir");
    let issuer = e2e::spawn_mock_issuer(state.path(), false, None).await;
    let app = spawn_app(AppOptions::on(Backend::Sqlite).trusting(&issuer)).await;
    let folder = tempfile::tempdir().expect("tempdir");

    let out = doctor(
        folder.path(),
        &["--host", "claude", "--url", &app.resource, "--port", "0"],
    )
    .await;

    assert_eq!(out.code, Some(1), "{out}");
    let connector = out.line("connector");
    assert!(connector.starts_with("FAIL"), "{out}");
    assert!(connector.contains("use the public https URL"), "{out}");
    assert!(out.line("resource meta").starts_with("ok  "), "{out}");
}

/// A stand-in issuer on loopback serving `metadata` (with its own origin as
/// `issuer` and `{origin}/token` as token endpoint), whose token endpoint
/// answers every POST with `token`. Returns its origin.
async fn stand_in_issuer(
    metadata: impl FnOnce(&str) -> Value,
    token: (StatusCode, &'static str, &'static str),
) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let origin = format!("http://{}", listener.local_addr().expect("addr"));
    let document = metadata(&origin);
    let router = Router::new()
        .route(
            "/.well-known/oauth-authorization-server",
            get(move || async move { Json(document) }),
        )
        .route(
            "/token",
            post(move || async move {
                let (status, content_type, body) = token;
                (status, [(header::CONTENT_TYPE, content_type)], body)
            }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await });
    origin
}

/// Issuer metadata as a hosted issuer might publish it, without client ID
/// metadata document support.
fn metadata_without_cimd(origin: &str, registration: bool) -> Value {
    let mut doc = json!({
        "issuer": origin,
        "authorization_endpoint": format!("{origin}/authorize"),
        "token_endpoint": format!("{origin}/token"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        "authorization_response_iss_parameter_supported": true,
    });
    if registration {
        doc["registration_endpoint"] = json!(format!("{origin}/register"));
    }
    doc
}

const JSON_ERROR: (StatusCode, &str, &str) = (
    StatusCode::BAD_REQUEST,
    "application/json",
    r#"{"error":"invalid_grant"}"#,
);

/// A hosted issuer named by `AUTH_ISSUER` in `.env` is checked while the
/// connector is not running. Without `client_id_metadata_document_supported`
/// the line says Claude silently falls back to dynamic registration and
/// what to advertise instead; that is a note, so doctor still passes.
#[tokio::test]
async fn doctor_says_claude_falls_back_to_dcr_when_cimd_is_not_advertised() {
    let origin = stand_in_issuer(|o| metadata_without_cimd(o, true), JSON_ERROR).await;
    let folder = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        folder.path().join(".env"),
        format!("AUTH_ISSUER={origin}\n"),
    )
    .expect("write");
    let port = free_port().to_string();

    let out = doctor(folder.path(), &["--port", &port]).await;

    assert_eq!(out.code, Some(0), "{out}");
    assert!(out.line("resource meta").contains("not running"), "{out}");
    assert!(out.line("issuer").starts_with("ok  "), "{out}");
    assert!(out.line("issuer").contains("AUTH_ISSUER"), "{out}");
    let registration = out.line("registration");
    assert!(registration.starts_with("note"), "{out}");
    assert!(
        registration.contains("Claude silently falls back to dynamic client registration"),
        "{out}"
    );
    assert!(
        registration.contains("advertise `client_id_metadata_document_supported: true`"),
        "{out}"
    );
    assert!(out.line("token errors").starts_with("ok  "), "{out}");
}

/// Neither CIMD nor a registration endpoint leaves Claude no way to get a
/// client, and a token endpoint that answers errors as HTML cannot be read
/// by hosts: both are failures that say what to change.
#[tokio::test]
async fn doctor_fails_an_issuer_claude_cannot_register_with_or_read_errors_from() {
    let html = (StatusCode::BAD_REQUEST, "text/html", "<h1>Bad request</h1>");
    let origin = stand_in_issuer(|o| metadata_without_cimd(o, false), html).await;
    let folder = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        folder.path().join(".env"),
        format!("AUTH_ISSUER={origin}\n"),
    )
    .expect("write");
    let port = free_port().to_string();

    let out = doctor(folder.path(), &["--host", "claude", "--port", &port]).await;

    assert_eq!(out.code, Some(1), "{out}");
    let registration = out.line("registration");
    assert!(registration.starts_with("FAIL"), "{out}");
    assert!(registration.contains("no way to get a client"), "{out}");
    let token = out.line("token errors");
    assert!(token.starts_with("FAIL"), "{out}");
    assert!(
        token.contains("text/html") && token.contains("expected a 4xx application/json"),
        "{out}"
    );
}

/// On Postgres (`TEST_DATABASE_URL`), the database line says whether the
/// connection is encrypted. Skipped without Postgres, like the store tests.
#[tokio::test]
async fn doctor_says_whether_postgres_is_encrypted() {
    if e2e::db::postgres_admin_url().is_none() {
        return;
    }
    let db = e2e::TestDb::fresh(Backend::Postgres).await;
    let gateway::config::DatabaseUrl::Postgres(url) = &db.url else {
        unreachable!("a Postgres test database");
    };
    for (mode, expected) in [
        ("disable", "reachable (not encrypted),"),
        ("require", "reachable (TLS 1."),
    ] {
        let folder = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            folder.path().join(".env"),
            format!("DATABASE_URL={url}?sslmode={mode}\n"),
        )
        .expect("write");
        let port = free_port().to_string();
        let out = doctor(folder.path(), &["--port", &port]).await;
        assert!(out.line("database").contains(expected), "{mode}: {out}");
    }
}

/// `sslmode=verify-full` with no `sslrootcert` trusts the platform's roots,
/// as hosted providers expect: a server whose CA is in the platform's store
/// (here through `SSL_CERT_FILE`, which the platform loader honours, as
/// OpenSSL does) is reached over TLS; without it, the same server is refused.
#[tokio::test]
async fn verify_full_without_sslrootcert_trusts_the_platform_roots() {
    if e2e::db::postgres_admin_url().is_none() {
        return;
    }
    let cluster = tokio::task::spawn_blocking(e2e::tls::TlsPostgres::start)
        .await
        .expect("cluster starts");
    let url = cluster.url("localhost", "sslmode=verify-full");
    let folder = tempfile::tempdir().expect("tempdir");
    std::fs::write(folder.path().join(".env"), format!("DATABASE_URL={url}\n")).expect("write");
    let ca = cluster.ca_file.display().to_string();
    let port = free_port().to_string();
    let trusted = doctor_with(folder.path(), &["--port", &port], &[("SSL_CERT_FILE", &ca)]).await;
    assert!(
        trusted.line("database").contains("reachable (TLS 1."),
        "{trusted}"
    );
    let refused = doctor_with(folder.path(), &["--port", &port], &[]).await;
    assert!(
        refused.line("database").contains("certificate"),
        "{refused}"
    );
}

/// `devkit new` refuses a folder with anything in it, and a catalog
/// template is a pack the gateway loads as it is.
#[test]
fn new_makes_a_pack_and_refuses_a_folder_in_use() {
    let folder = tempfile::tempdir().expect("tempdir");
    for template in ["reading-room", "docs"] {
        let dir = folder.path().join(template);
        let out = devkit_new(template, &dir);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pack = gateway::pack::DomainPack::load(&dir).expect("the pack loads");
        assert!(!pack.items().is_empty(), "{template}");
        let again = devkit_new(template, &dir);
        assert_eq!(again.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));
    }
}

/// A code template is a crate that builds against this checkout and
/// passes its own tests (a tutor that keeps each learner's place;
/// signed-in users booking, racing and retrying; a support desk that leaks
/// nothing), on SQLite and, with `TEST_DATABASE_URL`, on Postgres. The
/// crates share the workspace's build directory, so only their own code is
/// compiled.
#[test]
fn new_makes_crates_that_pass_their_own_tests() {
    for (template, tests) in [("tutor", 8), ("booking", 7), ("support", 9)] {
        new_crate_passes_its_tests(template, tests);
    }
}

fn new_crate_passes_its_tests(template: &str, tests: usize) {
    let folder = tempfile::tempdir().expect("tempdir");
    let dir = folder.path().join(format!("my-{template}"));
    new_crate(template, &dir);
    let log = cargo_test(&dir);
    assert!(
        log.contains(&format!("test result: ok. {tests} passed")),
        "{template}: {log}"
    );
}

/// `devkit new --template <template> <dir>`, run.
fn devkit_new(template: &str, dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_devkit"))
        .args(["new", "--template", template])
        .arg(dir)
        .output()
        .expect("devkit runs")
}

/// `devkit new --template <template> <dir>`, which must succeed.
fn new_crate(template: &str, dir: &Path) {
    let out = devkit_new(template, dir);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("cargo run -- up"));
}

/// `cargo test` in a generated crate, which must pass; its output.
fn cargo_test(dir: &Path) -> String {
    // Generated crates are separate workspaces sharing one build directory,
    // and cargo 1.95's locks do not keep two of them from writing the same
    // artifacts at once (CI saw a link fail on a half-written library): one
    // build at a time.
    static ONE_BUILD: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // The workspace's own build directory: the kit is compiled already.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .to_owned();
    let test = Command::new(env!("CARGO"))
        .args(["test", "--offline"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("cargo runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    assert!(test.status.success(), "{log}");
    log
}

/// The fenced code blocks of `text`, in order.
fn code_blocks(text: &str) -> Vec<String> {
    text.split("```")
        .skip(1)
        .step_by(2)
        .map(|block| {
            block
                .split_once('\n')
                .map_or("", |(_, code)| code)
                .to_owned()
        })
        .collect()
}

/// The guide's walkthrough (`docs/build-your-own-connector.md`, part 2),
/// pasted into a new booking crate where it says to paste it: it builds,
/// its own test passes, and the new action is gated and carries the rules
/// reminder although the guide writes neither.
#[test]
fn the_guides_waitlist_works_in_a_new_booking_crate() {
    let guide = std::fs::read_to_string(workspace_dir().join("docs/build-your-own-connector.md"))
        .expect("the guide");
    let part = guide
        .split_once("## 2.")
        .and_then(|(_, rest)| rest.split_once("## 3."))
        .map(|(part, _)| part)
        .expect("part 2 of the guide");
    let blocks = code_blocks(part);
    let [sql, types, helpers, tools, test] = blocks.as_slice() else {
        panic!(
            "part 2 of the guide should have 5 code blocks (migration, types, helpers, tools, \
             test); it has {}",
            blocks.len()
        );
    };
    let folder = tempfile::tempdir().expect("tempdir");
    let dir = folder.path().join("my-desk");
    new_crate("booking", &dir);

    let write = |path: &str, text: &str| {
        std::fs::write(dir.join(path), text).expect("write");
    };
    write("migrations/sqlite/20261215100000_waitlist.sql", sql);
    // "migrations/postgres/ has the same file with BIGINT in place of INTEGER"
    write(
        "migrations/postgres/20261215100000_waitlist.sql",
        &sql.replace("INTEGER", "BIGINT"),
    );
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).expect("lib.rs");
    let block = "#[domain_tools]\nimpl Booking {\n";
    assert!(lib.contains(block), "the template has one tools block");
    let lib = lib.replace(block, &format!("{block}{tools}\n"));
    write("src/lib.rs", &format!("{lib}\n{types}\n{helpers}"));
    let tests = std::fs::read_to_string(dir.join("tests/app.rs")).expect("tests");
    write(
        "tests/app.rs",
        &format!("{tests}\n{test}\n{WAITLIST_GATED}"),
    );

    let log = cargo_test(&dir);
    assert!(
        log.contains("a_full_slot_has_a_waitlist_of_your_own ... ok")
            && log.contains("the_waitlist_is_gated_and_reminded ... ok"),
        "{log}"
    );
}

/// What the kit adds to the guide's tools, checked in the new crate.
const WAITLIST_GATED: &str = r#"
#[tokio::test]
async fn the_waitlist_is_gated_and_reminded() {
    let app = start(Backend::Sqlite).await;
    let bob = app.sign_in("bob").await;
    let forged = json!({"slot_id": "s5", "idempotency_key": "k", "session": "forged"});
    let raw = bob.client.call("domain_join_waitlist", forged).await;
    assert!(raw.text().starts_with("SESSION_REQUIRED:"), "{}", raw.text());
    let listed = bob.call("user_waitlist", json!({})).await.ok();
    assert_eq!(listed["waiting"], json!([]), "the body never ran");
    assert!(listed["reminder"].as_str().is_some_and(|r| r.starts_with("Rules:")));
}
"#;

/// `serve` runs the app alone, as production does (settings from the
/// environment, no tunnel, no bundled issuer), and drains on SIGTERM.
#[tokio::test]
async fn serve_runs_the_app_alone_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let folder = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_devkit"))
        .arg("serve")
        .current_dir(folder.path())
        .env("APP_DIR", workspace_dir().join("seed"))
        .env("GATEWAY_ADDR", "127.0.0.1:0")
        .env("AUTH_DISABLED", "1")
        .env("SESSION_SIGNING_SECRET", "0123456789abcdef0123456789abcdef")
        .env("DATABASE_URL", "sqlite://serve.db")
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("devkit serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            let line: Value = serde_json::from_str(&line).ok()?;
            (line["message"] == "gateway ready")
                .then(|| line["listening"].as_str().map(str::to_owned))?
        })
        .expect("a `gateway ready` log line naming the address");
    let answer: Value = reqwest::Client::new()
        .post(format!("http://{ready}/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}))
        .send()
        .await
        .expect("the app answers")
        .json()
        .await
        .expect("json");
    let names: Vec<&str> = answer["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"domain_search") && names.contains(&"begin_session"),
        "{names:?}"
    );
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(
        child.wait().expect("exits").success(),
        "a graceful stop exits 0"
    );
}
