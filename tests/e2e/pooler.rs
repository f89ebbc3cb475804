//! Postgres through a transaction-mode pooler (PgBouncer 1.18, stock
//! settings, four server connections), as Neon's pooled endpoint and
//! Supabase's transaction pooler are reached. First what goes wrong when
//! prepared statements are cached per connection, as the store did before;
//! then that the store notices the pooler and keeps every promise under
//! the same load. `docs/postgres.md` has the connection strings and the
//! measured cost.

use std::{sync::Arc, time::Duration};

use e2e::{
    AppOptions, Backend, TestDb, TestIssuer, db::postgres_admin_url, pooler::PgBouncer,
    spawn_app_with,
};
use gateway::{
    config::DatabaseUrl,
    store::{SaveOutcome, SchemaStatus, Sessions, Store, StoreError, schema_status},
};
use kit_serve::error_chain;
use serde_json::{json, value::RawValue};
use sqlx::{Connection, PgConnection};

/// Users saving at once, and saves each: more clients than the pooler's
/// four server connections, so they take turns on them.
const USERS: usize = 16;
const SAVES: i64 = 20;

/// Every load here ends well within this, or the test fails.
const BOUND: Duration = Duration::from_secs(60);

fn postgres_here() -> Option<String> {
    let admin = postgres_admin_url();
    if admin.is_none() {
        eprintln!("TEST_DATABASE_URL is not set: the pooler tests run in CI");
    }
    admin
}

/// A fresh database, and the same database through `bouncer` with `query`.
async fn pooled(bouncer: &PgBouncer, query: &str) -> (TestDb, TestDb) {
    let direct = TestDb::fresh(Backend::Postgres).await;
    let pooled = bouncer.in_front_of(&direct, query);
    (direct, pooled)
}

async fn connect(db: &TestDb) -> Store {
    tokio::time::timeout(BOUND, Store::connect(&db.url))
        .await
        .expect("the store connects in time")
        .unwrap_or_else(|e| panic!("{}", error_chain(&e)))
}

fn state(sub: &str, n: i64) -> Box<RawValue> {
    RawValue::from_string(json!({"owner": sub, "n": n}).to_string()).expect("json")
}

/// What a load did: saves answered as a sequential model expects, store
/// errors, and answers that were wrong without an error.
#[derive(Debug, Default)]
struct Tally {
    saved: usize,
    errors: Vec<String>,
    wrong: Vec<String>,
}

/// [`USERS`] users at once, each saving [`SAVES`] times at the version it
/// last saw, then reading back. A user stops at its first failure.
async fn load(store: &Store) -> Tally {
    let mut users = tokio::task::JoinSet::new();
    for user in 0..USERS {
        let store = store.clone();
        users.spawn(async move {
            let sub = format!("user-{user}");
            let mut tally = Tally::default();
            if let Err(e) = store.upsert_user(&sub, None).await {
                tally.errors.push(error_chain(&e));
                return tally;
            }
            for n in 0..SAVES {
                match store.save_state(&sub, &state(&sub, n), Some(n)).await {
                    Ok(SaveOutcome::Saved { version, .. }) if version == n + 1 => tally.saved += 1,
                    Ok(other) => {
                        tally.wrong.push(format!("{sub} save {n}: {other:?}"));
                        return tally;
                    }
                    Err(e) => {
                        tally.errors.push(error_chain(&e));
                        return tally;
                    }
                }
            }
            match store.state(&sub).await {
                Ok(saved)
                    if saved.version == SAVES
                        && saved.state == json!({"owner": sub, "n": SAVES - 1}) => {}
                Ok(saved) => tally.wrong.push(format!("{sub} read back {saved:?}")),
                Err(e) => tally.errors.push(error_chain(&e)),
            }
            tally
        });
    }
    let mut all = Tally::default();
    let joined = tokio::time::timeout(BOUND, async {
        while let Some(done) = users.join_next().await {
            let tally = done.expect("a user's run panicked");
            all.saved += tally.saved;
            all.errors.extend(tally.errors);
            all.wrong.extend(tally.wrong);
        }
    })
    .await;
    assert!(joined.is_ok(), "the load did not end within {BOUND:?}");
    all
}

/// The failure modes: sqlx's default connection is refused by a stock
/// PgBouncer, and with prepared statements cached per connection (the
/// store before, and `pgbouncer=false` now) concurrent saves through a
/// transaction pooler fail, because a statement prepared on one server
/// connection is met on another. The failure is loud: it names the pooler
/// and says what to change.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cached_prepared_statements_fail_under_load_through_a_transaction_pooler() {
    let Some(admin) = postgres_here() else { return };
    let bouncer = PgBouncer::start(&admin);
    let (direct, through) = pooled(&bouncer, "pgbouncer=false").await;
    // sqlx's default start-up parameters include `extra_float_digits`,
    // which a stock PgBouncer refuses; the store no longer sends it.
    let DatabaseUrl::Postgres(url) = &bouncer.in_front_of(&direct, "").url else {
        unreachable!()
    };
    let refused = PgConnection::connect(url)
        .await
        .expect_err("a stock PgBouncer refuses extra_float_digits");
    assert!(
        refused.to_string().contains("extra_float_digits"),
        "{refused}"
    );
    // Migrated straight to Postgres: the rest is about the saves.
    connect(&direct).await.close().await;
    let store = connect(&through).await;
    assert_eq!(store.postgres_sessions(), Some(Sessions::Kept));

    let tally = load(&store).await;
    eprintln!(
        "cached statements through the pooler: {} of {} saves as expected, {} errors, {} wrong answers; first error: {:?}",
        tally.saved,
        USERS as i64 * SAVES,
        tally.errors.len(),
        tally.wrong.len(),
        tally.errors.first()
    );
    assert!(
        !tally.errors.is_empty() || !tally.wrong.is_empty(),
        "{} saves all went through: the pooler no longer loses prepared statements?",
        tally.saved
    );
    let explained = tally
        .errors
        .iter()
        .filter(|e| e.contains("transaction-mode pooler") && e.contains("pgbouncer=true"))
        .count();
    assert!(
        explained > 0,
        "no error said what to change: {:?}",
        tally.errors
    );
}

/// Without being told, the store finds the transaction pooler (and finds
/// none straight to Postgres), and then every save of the same load is
/// answered as a sequential model expects: no error, no lost update.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_store_detects_a_transaction_pooler_and_loses_nothing_under_load() {
    let Some(admin) = postgres_here() else { return };
    let bouncer = PgBouncer::start(&admin);
    let (direct, through) = pooled(&bouncer, "").await;
    let store = connect(&through).await;
    assert_eq!(
        store.postgres_sessions(),
        Some(Sessions::PerTransaction),
        "the probe missed the pooler; its log:\n{}",
        bouncer.log()
    );
    let tally = load(&store).await;
    assert!(
        tally.errors.is_empty() && tally.wrong.is_empty(),
        "errors {:?}, wrong {:?}",
        tally.errors,
        tally.wrong
    );
    assert_eq!(tally.saved, USERS * SAVES as usize);
    store.close().await;

    let straight = connect(&direct).await;
    assert_eq!(straight.postgres_sessions(), Some(Sessions::Kept));
    assert_eq!(straight.state("user-3").await.expect("read").version, SAVES);
    straight.close().await;
}

/// Every store operation keeps its contract through the pooler: users and
/// emails, empty state, blind, first and versioned saves, stale saves, a
/// save for a user not on record, ping, encryption, the schema status, and
/// two gateways starting (and migrating) at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_store_operation_keeps_its_contract_through_a_transaction_pooler() {
    let Some(admin) = postgres_here() else { return };
    let bouncer = PgBouncer::start(&admin);
    let (_direct, through) = pooled(&bouncer, "").await;
    let (first, second) = tokio::join!(connect(&through), connect(&through));
    second.close().await;
    let store = first;
    assert_eq!(store.postgres_sessions(), Some(Sessions::PerTransaction));
    assert!(
        matches!(
            schema_status(&through.url).await.expect("status"),
            SchemaStatus::Migrated { applied, known } if applied == known && known > 0
        ),
        "every kit migration applied through the pooler"
    );
    store.ping().await.expect("ping");
    assert_eq!(store.encryption().await.expect("pg_stat_ssl"), Some(None));

    let alice = store.upsert_user("alice", None).await.expect("new user");
    assert_eq!((alice.id.as_str(), alice.email.as_deref()), ("alice", None));
    store
        .record_email("alice", "alice@example.com")
        .await
        .expect("email");
    store.upsert_user("alice", None).await.expect("seen again");
    let alice = store.user("alice").await.expect("read").expect("on record");
    assert_eq!(alice.email.as_deref(), Some("alice@example.com"));
    assert!(store.user("nobody").await.expect("read").is_none());

    let empty = store.state("alice").await.expect("read");
    assert_eq!((empty.version, empty.state), (0, serde_json::Value::Null));
    let saved = |outcome: SaveOutcome| match outcome {
        SaveOutcome::Saved { version, .. } => version,
        stale => panic!("expected a save, got {stale:?}"),
    };
    let one = state("alice", 1);
    assert_eq!(
        saved(
            store
                .save_state("alice", &one, Some(0))
                .await
                .expect("first")
        ),
        1
    );
    assert_eq!(
        store
            .save_state("alice", &one, Some(0))
            .await
            .expect("again"),
        SaveOutcome::Stale { current_version: 1 }
    );
    assert_eq!(
        saved(store.save_state("alice", &one, None).await.expect("blind")),
        2
    );
    assert_eq!(
        saved(
            store
                .save_state("alice", &one, Some(2))
                .await
                .expect("at 2")
        ),
        3
    );
    assert_eq!(
        store
            .save_state("alice", &one, Some(7))
            .await
            .expect("stale"),
        SaveOutcome::Stale { current_version: 3 }
    );
    assert_eq!(store.state("alice").await.expect("read").version, 3);
    let gone = store
        .save_state("ghost", &one, None)
        .await
        .expect_err("no such user");
    assert!(matches!(gone, StoreError::UnknownUser), "{gone:?}");
    store.close().await;
}

/// The real gateway through the pooler: sixteen MCP clients at once, each
/// saving at the version it last saw; every save is acknowledged with the
/// next version and every user reads back only their own last state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_through_a_transaction_pooler_serves_concurrent_users() {
    let Some(admin) = postgres_here() else { return };
    let bouncer = PgBouncer::start(&admin);
    let (_direct, through) = pooled(&bouncer, "").await;
    let app = Arc::new(
        spawn_app_with(
            AppOptions::on(Backend::Postgres),
            TestIssuer::start().await,
            through,
        )
        .await,
    );
    let mut users = tokio::task::JoinSet::new();
    for user in 0..USERS {
        let app = app.clone();
        users.spawn(async move {
            let sub = format!("user-{user}");
            let (client, session) = app.signed_in(&sub).await;
            for n in 0..SAVES {
                let answer = client
                    .call(
                        "user_save_state",
                        json!({"session": session, "state": {"owner": sub, "n": n},
                               "expected_version": n}),
                    )
                    .await
                    .ok();
                assert_eq!(answer["version"], json!(n + 1), "{sub} save {n}");
            }
            let back = client
                .call("user_get_state", json!({"session": session}))
                .await
                .ok();
            assert_eq!(back["version"], json!(SAVES), "{sub}");
            assert_eq!(
                back["state"],
                json!({"owner": sub, "n": SAVES - 1}),
                "{sub}"
            );
        });
    }
    let joined = tokio::time::timeout(BOUND, async {
        while let Some(done) = users.join_next().await {
            done.expect("a user's run failed");
        }
    })
    .await;
    assert!(joined.is_ok(), "the load did not end within {BOUND:?}");
}

/// `pgbouncer=true` chooses the per-transaction mode without probing (it
/// is right straight to Postgres too); any other value is refused with
/// what to write instead.
#[tokio::test]
async fn the_pgbouncer_option_decides_without_probing_and_a_wrong_value_is_refused() {
    if postgres_here().is_none() {
        return;
    }
    let direct = TestDb::fresh(Backend::Postgres).await;
    let mut forced = direct.clone();
    forced.url = with_query(&direct.url, "pgbouncer=true");
    let store = connect(&forced).await;
    assert_eq!(store.postgres_sessions(), Some(Sessions::PerTransaction));
    store.upsert_user("bob", None).await.expect("a write");
    store.close().await;

    let error = Store::connect(&with_query(&direct.url, "pgbouncer=yes"))
        .await
        .expect_err("refused");
    assert!(matches!(error, StoreError::PoolerOption(_)), "{error:?}");
    assert!(error.to_string().contains("pgbouncer=true"), "{error}");
}

/// Migrating in the per-transaction mode takes sqlx's own migration lock
/// (as a transaction-level lock): while a migrator straight to Postgres
/// holds it, a gateway starting through a pooler waits, and goes on once
/// it is released.
#[tokio::test]
async fn a_migration_through_a_pooler_waits_for_sqlx_migration_lock() {
    use sqlx::migrate::Migrate;
    if postgres_here().is_none() {
        return;
    }
    let direct = TestDb::fresh(Backend::Postgres).await;
    let DatabaseUrl::Postgres(url) = &direct.url else {
        unreachable!()
    };
    let mut holder = PgConnection::connect(url).await.expect("connect");
    holder.lock().await.expect("sqlx's migration lock");
    let mut forced = direct.clone();
    forced.url = with_query(&direct.url, "pgbouncer=true");
    let starting = tokio::spawn(async move { Store::connect(&forced.url).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !starting.is_finished(),
        "migrated while sqlx's lock was held"
    );
    holder.unlock().await.expect("unlock");
    let store = tokio::time::timeout(BOUND, starting)
        .await
        .expect("starts once the lock is released")
        .expect("no panic")
        .unwrap_or_else(|e| panic!("{}", error_chain(&e)));
    assert_eq!(store.postgres_sessions(), Some(Sessions::PerTransaction));
    store.close().await;
}

fn with_query(url: &DatabaseUrl, query: &str) -> DatabaseUrl {
    let DatabaseUrl::Postgres(url) = url else {
        panic!("a Postgres URL")
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    DatabaseUrl::Postgres(format!("{url}{separator}{query}"))
}

/// The cost of the per-transaction mode, for `docs/postgres.md`: the median
/// and 99th percentile of one versioned save and one read, one caller at a
/// time, straight to Postgres (cached statements; per-transaction), and
/// through the pooler; each path must save and read every round correctly.
/// The timings are printed, not checked (this machine is shared and noisy):
/// `POOLER_ROUNDS=2000 cargo test -p e2e --test e2e measure_pooler -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn measure_pooler_cost() {
    let Some(admin) = postgres_here() else { return };
    let bouncer = PgBouncer::start(&admin);
    let rounds: i64 = std::env::var("POOLER_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100);
    let (direct, through) = pooled(&bouncer, "").await;
    let mut forced = direct.clone();
    forced.url = with_query(&direct.url, "pgbouncer=true");
    for (label, db) in [
        ("direct, cached statements", &direct),
        ("direct, per transaction", &forced),
        ("pooler, per transaction", &through),
    ] {
        let store = connect(db).await;
        let sub = format!("measure-{}", label.len());
        store.upsert_user(&sub, None).await.expect("user");
        let start = store.state(&sub).await.expect("read").version;
        let (mut saves, mut reads) = (Vec::new(), Vec::new());
        for n in 0..rounds {
            let at = std::time::Instant::now();
            store
                .save_state(&sub, &state(&sub, n), Some(start + n))
                .await
                .expect("save");
            saves.push(at.elapsed());
            let at = std::time::Instant::now();
            store.state(&sub).await.expect("read");
            reads.push(at.elapsed());
        }
        let concurrent = std::time::Instant::now();
        let tally = load(&store).await;
        let concurrent = concurrent.elapsed();
        assert!(
            tally.errors.is_empty() && tally.wrong.is_empty(),
            "{tally:?}"
        );
        eprintln!(
            "{label:28} save p50 {:>7.3} ms p99 {:>7.3} ms | read p50 {:>7.3} ms p99 {:>7.3} ms | {USERS}x{SAVES} concurrent saves {:>7.1} ms",
            quantile(&mut saves, 0.5),
            quantile(&mut saves, 0.99),
            quantile(&mut reads, 0.5),
            quantile(&mut reads, 0.99),
            concurrent.as_secs_f64() * 1e3
        );
        store.close().await;
        // The load's users start afresh for the next store.
        drop_users(&admin, &direct).await;
    }
}

async fn drop_users(admin: &str, db: &TestDb) {
    let name = db.postgres_name().expect("a database name");
    let mut url = url::Url::parse(admin).expect("url");
    url.set_path(&name);
    let mut conn = PgConnection::connect(url.as_str()).await.expect("connect");
    sqlx::query("DELETE FROM users WHERE id LIKE 'user-%'")
        .execute(&mut conn)
        .await
        .expect("delete");
}

fn quantile(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    let at = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[at].as_secs_f64() * 1e3
}
