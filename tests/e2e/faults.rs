//! Fail closed: when the store is down, tools say so plainly and nothing is
//! faked; when it returns, service resumes without a restart.

use e2e::{AppOptions, Backend, db::postgres_admin_url, spawn_app};
use serde_json::json;
use sqlx::{Connection, PgConnection};

async fn admin() -> PgConnection {
    let url = postgres_admin_url().expect("TEST_DATABASE_URL");
    PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("TEST_DATABASE_URL is set but Postgres cannot be reached: {e}"))
}

/// Takes one database offline (no new connections, current ones ended) or back online.
async fn set_online(name: &str, online: bool) {
    let mut conn = admin().await;
    sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {online}"))
        .execute(&mut conn)
        .await
        .expect("alter database");
    if !online {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()")
            .bind(name)
            .execute(&mut conn)
            .await
            .expect("terminate connections");
    }
}

/// Database down: every store-backed tool fails closed and /readyz says so;
/// database back: the same gateway serves again and the saved state is intact.
#[tokio::test]
async fn database_down_then_up_fails_closed_and_recovers() {
    if postgres_admin_url().is_none() {
        eprintln!("TEST_DATABASE_URL is not set: the Postgres outage test runs in CI");
        return;
    }
    let app = spawn_app(AppOptions::on(Backend::Postgres)).await;
    let name = app.db.postgres_name().expect("postgres db");
    let (client, session) = app.signed_in("alice").await;
    client
        .call(
            "user_save_state",
            json!({"session": session, "state": {"article": "a2"}}),
        )
        .await
        .ok();

    set_online(&name, false).await;
    for (tool, args) in [
        ("user_get_state", json!({"session": session})),
        (
            "user_save_state",
            json!({"session": session, "state": {"article": "a9"}}),
        ),
        ("user_get_profile", json!({"session": session})),
        ("begin_session", json!({})),
    ] {
        let text = client.call(tool, args).await.err();
        assert!(text.starts_with("STORE_UNAVAILABLE"), "{tool}: {text}");
        assert!(
            text.contains("Do not improvise") && text.contains("invent saved state"),
            "{text}"
        );
    }
    let ready = reqwest::get(format!("http://{}/readyz", app.addr))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    // The catalog does not need the store, so it keeps answering.
    let item = client
        .call("domain_get_item", json!({"session": session, "id": "a1"}))
        .await;
    assert!(!item.is_error());

    set_online(&name, true).await;
    let state = client
        .call("user_get_state", json!({"session": session}))
        .await
        .ok();
    assert_eq!(
        state["state"],
        json!({"article": "a2"}),
        "the refused save wrote nothing"
    );
    assert_eq!(state["version"], 1);
    let ready = reqwest::get(format!("http://{}/readyz", app.addr))
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
}

/// Two gateway replicas on one Postgres: a session from A works on B, and a
/// save through A is read through B.
#[tokio::test]
async fn two_replicas_share_sessions_and_state() {
    if postgres_admin_url().is_none() {
        eprintln!("TEST_DATABASE_URL is not set: the replica test runs in CI");
        return;
    }
    // Replicas behind one load balancer share one public connector URL.
    let mut options = AppOptions::on(Backend::Postgres);
    options.resource_url = Some("https://room.example/mcp".into());
    let a = spawn_app(options.clone()).await;
    let b = e2e::spawn_app_with(options, a.issuer.clone(), a.db.clone()).await;
    assert_ne!(a.addr, b.addr);
    let (on_a, session) = a.signed_in("alice").await;
    on_a.call(
        "user_save_state",
        json!({"session": session, "state": {"from": "a"}}),
    )
    .await
    .ok();
    let on_b = b.client(&a.token_for("alice")).await;
    let state = on_b
        .call("user_get_state", json!({"session": session}))
        .await
        .ok();
    assert_eq!(state["state"], json!({"from": "a"}));
}

/// `/readyz` keeps a replica out of rotation while it cannot check tokens:
/// the issuer's keys could not be fetched at start, and it says so.
#[tokio::test]
async fn readyz_names_the_issuer_while_its_keys_cannot_be_fetched() {
    let issuer = e2e::TestIssuer::start().await;
    issuer.set_up(false);
    let db = e2e::TestDb::fresh(Backend::Sqlite).await;
    let app = e2e::spawn_app_with(AppOptions::on(Backend::Sqlite), issuer, db).await;
    let url = format!("http://{}/readyz", app.addr);
    // The fetch at start fails quickly (503 from the issuer); poll until it has.
    let mut body = serde_json::Value::Null;
    for _ in 0..50 {
        let response = reqwest::get(&url).await.expect("readyz");
        assert_eq!(response.status(), 503);
        body = response.json().await.expect("json");
        if body["status"] == "unavailable" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let reason = body["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("signing keys") && reason.contains(app.issuer.url.as_str()),
        "{body}"
    );
    // Back up: `/readyz` itself retries the fetch, with no token needed.
    app.issuer.set_up(true);
    let mut ready = 503;
    for _ in 0..50 {
        ready = reqwest::get(&url).await.expect("readyz").status().as_u16();
        if ready == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ready, 200, "ready again without a token asking");
    let token = app.token_for("alice");
    assert_eq!(status_with(&app, &token).await, "200 ok");
}

// ---- the fault table -------------------------------------------------------

type Observed = std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send>>;

/// One injected fault: what must happen, and how to cause it.
struct Fault {
    name: &'static str,
    expect: &'static str,
    needs_postgres: bool,
    run: fn() -> Observed,
}

/// What `tools/list` with `token` got, summarised.
async fn status_with(app: &e2e::TestApp, token: &str) -> String {
    e2e::summary(app.post_mcp(Some(token), &e2e::tools_list()).await).await
}

fn faults() -> Vec<Fault> {
    vec![
        Fault {
            name: "the issuer (JWKS) is unreachable at start",
            expect: "503, then 200 ok once it is back",
            needs_postgres: false,
            run: || {
                Box::pin(async {
                    let issuer = e2e::TestIssuer::start().await;
                    issuer.set_up(false);
                    let db = e2e::TestDb::fresh(Backend::Sqlite).await;
                    let app =
                        e2e::spawn_app_with(AppOptions::on(Backend::Sqlite), issuer, db).await;
                    let token = app.token_for("alice");
                    let down = status_with(&app, &token).await;
                    app.issuer.set_up(true);
                    let back = status_with(&app, &token).await;
                    format!("{down}, then {back} once it is back")
                })
            },
        },
        Fault {
            name: "the issuer goes down mid-run",
            expect: "known key: 200 ok; new `kid` while down: 401 invalid_token; new `kid` once back: 200 ok",
            needs_postgres: false,
            run: || {
                Box::pin(async {
                    let app = spawn_app(AppOptions::on(Backend::Sqlite)).await;
                    assert_eq!(status_with(&app, &app.token_for("alice")).await, "200 ok");
                    app.issuer.set_up(false);
                    // Another token, so the answer comes from the cached key, not a remembered token.
                    let known = status_with(&app, &app.token_for("bob")).await;
                    app.issuer.rotate_to(e2e::issuer::KEY_B.clone());
                    let rotated = app.token_for("carol");
                    let new_kid = status_with(&app, &rotated).await;
                    app.issuer.set_up(true);
                    let back = status_with(&app, &rotated).await;
                    format!(
                        "known key: {known}; new `kid` while down: {new_kid}; new `kid` once back: {back}"
                    )
                })
            },
        },
        Fault {
            name: "16 first calls at once while the gateway's first key fetch is in flight",
            expect: "/readyz 503 starting; 16 × 200 ok; 1 JWKS fetch; /readyz 200",
            needs_postgres: false,
            run: || Box::pin(first_burst()),
        },
        Fault {
            name: "the issuer rotates in a new key just after the gateway fetched (10 s refetch limit)",
            expect: "new `kid`: 200 ok at once; then 5 made-up `kid`s: 401 invalid_token, 0 more fetches",
            needs_postgres: false,
            run: || Box::pin(rotation_right_after_a_fetch()),
        },
        Fault {
            name: "the issuer rotates its key under load (old key kept for its grace period)",
            expect: "no errors",
            needs_postgres: false,
            run: || Box::pin(rotation_under_load()),
        },
        Fault {
            name: "Postgres stops mid-load and comes back",
            expect: "every failure STORE_UNAVAILABLE; no acknowledged save lost; served again without a restart",
            needs_postgres: true,
            run: || Box::pin(outage_under_load()),
        },
    ]
}

/// A start or deploy under traffic: the burst arrives while the keys are
/// still on their way, and waits for that one fetch instead of being refused.
async fn first_burst() -> String {
    let issuer = e2e::TestIssuer::start().await;
    issuer.set_jwks_delay(std::time::Duration::from_millis(800));
    let mut options = AppOptions::on(Backend::Sqlite);
    options.jwks_refetch_interval = std::time::Duration::from_secs(10);
    let db = e2e::TestDb::fresh(Backend::Sqlite).await;
    let app = std::sync::Arc::new(e2e::spawn_app_with(options, issuer, db).await);
    let before = readyz(&app).await;
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..16 {
        let app = app.clone();
        calls.spawn(async move {
            let token = app.token_for(&format!("burst-{n}"));
            let begin = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                               "params": {"name": "begin_session", "arguments": {}}});
            e2e::summary(app.post_mcp(Some(&token), &begin).await).await
        });
    }
    let mut answers = std::collections::BTreeMap::<String, usize>::new();
    while let Some(answer) = calls.join_next().await {
        *answers.entry(answer.expect("call")).or_default() += 1;
    }
    let answers: Vec<String> = answers
        .into_iter()
        .map(|(answer, n)| format!("{n} × {answer}"))
        .collect();
    format!(
        "/readyz {before}; {}; {} JWKS fetch; /readyz {}",
        answers.join(", "),
        app.issuer.jwks_fetches(),
        readyz(&app).await
    )
}

/// `/readyz` in a few words: `200` or `503 <status>`.
async fn readyz(app: &e2e::TestApp) -> String {
    let response = reqwest::get(format!("http://{}/readyz", app.addr))
        .await
        .expect("readyz");
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    match status {
        200 => "200".into(),
        _ => format!("{status} {}", body["status"].as_str().unwrap_or("?")),
    }
}

/// A key rotated in right after a fetch works at once, yet a flood of
/// made-up `kid`s still cannot make the gateway fetch again and again.
async fn rotation_right_after_a_fetch() -> String {
    let mut options = AppOptions::on(Backend::Sqlite);
    options.jwks_refetch_interval = std::time::Duration::from_secs(10);
    let app = spawn_app(options).await;
    assert_eq!(status_with(&app, &app.token_for("alice")).await, "200 ok");
    app.issuer.rotate_to(e2e::issuer::KEY_B.clone());
    let rotated = status_with(&app, &app.token_for("bob")).await;
    let fetched = app.issuer.jwks_fetches();
    let claims = e2e::Claims::valid(&app.issuer, &app.resource, "mallory");
    let mut flood = std::collections::BTreeSet::new();
    for n in 0..5 {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": format!("made-up-{n}")});
        let token = e2e::issuer::forge(&header, &claims, &[7; 256]);
        flood.insert(status_with(&app, &token).await);
    }
    let flood: Vec<String> = flood.into_iter().collect();
    format!(
        "new `kid`: {rotated} at once; then 5 made-up `kid`s: {}, {} more fetches",
        flood.join(" / "),
        app.issuer.jwks_fetches() - fetched
    )
}

async fn rotation_under_load() -> String {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, Ordering},
    };
    // Counted, not timed: the key rotates once 64 calls have been made, and
    // each worker goes on until it has made 8 more, however slow the machine.
    const BEFORE: u32 = 64;
    const AFTER_EACH: u32 = 8;
    let app = Arc::new(spawn_app(AppOptions::on(Backend::Sqlite)).await);
    let (made, rotated) = (
        Arc::new(AtomicU32::new(0)),
        Arc::new(AtomicBool::new(false)),
    );
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (app, made, rotated) = (app.clone(), made.clone(), rotated.clone());
        workers.spawn(async move {
            let (mut after, mut failures) = (0u32, Vec::new());
            while after < AFTER_EACH {
                let since_rotation = rotated.load(Ordering::SeqCst);
                // A fresh token each time: after the rotation, signed with the new key.
                let status = status_with(&app, &app.token_for(&format!("u{worker}"))).await;
                made.fetch_add(1, Ordering::SeqCst);
                after += u32::from(since_rotation);
                if status != "200 ok" {
                    failures.push(status);
                }
            }
            failures
        });
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while made.load(Ordering::SeqCst) < BEFORE {
        assert!(
            std::time::Instant::now() < deadline,
            "the calls before the rotation never finished"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    app.issuer.rotate_to(e2e::issuer::KEY_B.clone());
    rotated.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    while let Some(done) = workers.join_next().await {
        failures.extend(done.expect("worker"));
    }
    let calls = made.load(Ordering::SeqCst);
    if failures.is_empty() {
        "no errors".into()
    } else {
        format!(
            "{} of {calls} calls failed: {:?}",
            failures.len(),
            &failures[..failures.len().min(3)]
        )
    }
}

async fn outage_under_load() -> String {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    let app = std::sync::Arc::new(spawn_app(AppOptions::on(Backend::Postgres)).await);
    let name = app.db.postgres_name().expect("postgres db");
    let stop = tokio_util::sync::CancellationToken::new();
    // Shared counts, so each phase waits for evidence rather than for a fixed time.
    let acked = std::sync::Arc::new(AtomicU64::new(0));
    let refused = std::sync::Arc::new(AtomicU64::new(0));
    // Every writer checks in before the outage: a `begin_session` caught by it
    // would fail the worker, not test the saves.
    let checked_in = std::sync::Arc::new(AtomicU64::new(0));
    const WRITERS: u64 = 4;
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..WRITERS {
        let (app, stop, acked, refused, checked_in) = (
            app.clone(),
            stop.clone(),
            acked.clone(),
            refused.clone(),
            checked_in.clone(),
        );
        workers.spawn(async move {
            let sub = format!("writer-{worker}");
            let (client, session) = app.signed_in(&sub).await;
            checked_in.fetch_add(1, SeqCst);
            let (mut acknowledged, mut odd) = (0i64, Vec::new());
            let mut unavailable = 0;
            let mut n = 0;
            while !stop.is_cancelled() {
                n += 1;
                let reply = client
                    .call(
                        "user_save_state",
                        json!({"session": session, "state": {"n": n}}),
                    )
                    .await;
                if !reply.is_error() {
                    acknowledged += 1;
                    acked.fetch_add(1, SeqCst);
                } else if reply.text().starts_with("STORE_UNAVAILABLE") {
                    unavailable += 1;
                    refused.fetch_add(1, SeqCst);
                } else {
                    odd.push(reply.text());
                }
            }
            (client, session, acknowledged, unavailable, odd)
        });
    }
    let wait_for = |counter: std::sync::Arc<AtomicU64>, at_least: u64, what: &'static str| async move {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while counter.load(SeqCst) < at_least {
            assert!(std::time::Instant::now() < deadline, "never saw {what}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    wait_for(checked_in, WRITERS, "every writer checked in").await;
    wait_for(acked.clone(), 8, "saves before the outage").await;
    set_online(&name, false).await;
    wait_for(refused.clone(), 4, "refusals during the outage").await;
    set_online(&name, true).await;
    let before = acked.load(SeqCst);
    wait_for(acked.clone(), before + 8, "saves after the outage").await;
    stop.cancel();
    let (mut lost, mut odd, mut unavailable, mut served_after) = (0, Vec::new(), 0, true);
    while let Some(done) = workers.join_next().await {
        let (client, session, acknowledged, refused, strange) = done.expect("worker");
        unavailable += refused;
        odd.extend(strange);
        let state = client
            .call("user_get_state", json!({"session": session}))
            .await;
        if state.is_error() {
            served_after = false;
            continue;
        }
        // A save can commit and still be refused (its answer lost with the
        // connection), so stored versions may exceed acknowledgements, never fall short.
        let version = state.ok()["version"].as_i64().unwrap_or_default();
        if version < acknowledged {
            lost += acknowledged - version;
        }
    }
    assert!(
        unavailable > 0,
        "the outage was never seen: the test did not test it"
    );
    let failures = if odd.is_empty() {
        "every failure STORE_UNAVAILABLE".to_owned()
    } else {
        format!(
            "{} failures were not STORE_UNAVAILABLE: {:?}",
            odd.len(),
            &odd[..odd.len().min(2)]
        )
    };
    let lost = if lost == 0 {
        "no acknowledged save lost".to_owned()
    } else {
        format!("{lost} acknowledged saves LOST")
    };
    let after = if served_after {
        "served again without a restart"
    } else {
        "NOT served after the outage"
    };
    format!("{failures}; {lost}; {after}")
}

/// Runs every fault and checks `docs/reliability.md`'s fault table. Without
/// `TEST_DATABASE_URL` the Postgres faults cannot run, so the table is not
/// compared (CI always has Postgres).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fault_table() {
    let postgres = postgres_admin_url().is_some();
    let mut rows = Vec::new();
    for fault in faults() {
        if fault.needs_postgres && !postgres {
            eprintln!("TEST_DATABASE_URL is not set: `{}` runs in CI", fault.name);
            continue;
        }
        rows.push(e2e::docs::Row {
            cells: vec![fault.name.to_owned()],
            expect: fault.expect.to_owned(),
            observed: (fault.run)().await,
        });
    }
    if postgres {
        e2e::docs::check_rows("fault table", &["fault"], rows);
    } else {
        // Without the Postgres row the table cannot match; the rows still must.
        let wrong: Vec<_> = rows.iter().filter(|r| r.observed != r.expect).collect();
        assert!(wrong.is_empty(), "faults handled wrongly: {wrong:?}");
    }
}
