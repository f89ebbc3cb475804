//! Hosted Postgres (Neon, Supabase, RDS, Cloud SQL) requires TLS. These run
//! against the machine's cluster (`ssl = on`, self-signed) and a second
//! cluster whose certificate is signed by a CA the test makes.

use e2e::{
    AppOptions, Backend, TestDb, TestIssuer, db::postgres_admin_url, spawn_app_with,
    tls::TlsPostgres,
};
use gateway::{
    config::DatabaseUrl,
    store::{Store, StoreError},
};
use sqlx::{Connection, PgConnection};

fn postgres_here() -> Option<String> {
    let admin = postgres_admin_url();
    if admin.is_none() {
        eprintln!("TEST_DATABASE_URL is not set: the Postgres TLS tests run in CI");
    }
    admin
}

fn with_query(url: &DatabaseUrl, query: &str) -> DatabaseUrl {
    let DatabaseUrl::Postgres(url) = url else {
        panic!("a Postgres URL")
    };
    let separator = if url.contains('?') { '&' } else { '?' };
    DatabaseUrl::Postgres(format!("{url}{separator}{query}"))
}

/// With `sslmode=require` the gateway connects, and the server itself
/// (`pg_stat_ssl`) sees every connection the gateway opened as encrypted.
#[tokio::test]
async fn sslmode_require_connects_and_the_server_sees_every_connection_encrypted() {
    let Some(admin) = postgres_here() else { return };
    let mut db = TestDb::fresh(Backend::Postgres).await;
    let name = db.postgres_name().expect("a database name");
    db.url = with_query(&db.url, "sslmode=require");
    let app = spawn_app_with(
        AppOptions::on(Backend::Postgres),
        TestIssuer::start().await,
        db,
    )
    .await;
    let (client, session) = app.signed_in("alice").await;
    client
        .call(
            "user_save_state",
            serde_json::json!({"session": session, "state": {"article": "a1"}}),
        )
        .await
        .ok();

    let mut watcher = PgConnection::connect(&admin)
        .await
        .expect("admin connection");
    let (connections, encrypted): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE s.ssl) FROM pg_stat_activity a \
         JOIN pg_stat_ssl s ON s.pid = a.pid WHERE a.datname = $1",
    )
    .bind(&name)
    .fetch_one(&mut watcher)
    .await
    .expect("pg_stat_ssl");
    assert!(connections > 0, "the gateway holds no connection to {name}");
    assert_eq!(encrypted, connections, "some connections are not encrypted");
}

/// `verify-full` against a server whose certificate no trusted CA signed is
/// refused, and the error names the certificate problem and what to set.
#[tokio::test]
async fn verify_full_refuses_a_self_signed_server_and_says_what_to_set() {
    let Some(admin) = postgres_here() else { return };
    let url = with_query(&DatabaseUrl::Postgres(admin), "sslmode=verify-full");
    let error = Store::connect(&url)
        .await
        .expect_err("the machine's self-signed certificate is not trusted");
    assert!(matches!(error, StoreError::Tls(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("certificate"), "{message}");
    assert!(message.contains("sslrootcert="), "{message}");
}

/// `verify-full` with `sslrootcert=` naming the CA that signed the server's
/// certificate connects over TLS; without it the platform's roots are used,
/// which do not hold that CA, so the same server is refused.
#[tokio::test]
async fn verify_full_trusts_the_named_ca_and_only_the_platform_roots_otherwise() {
    if postgres_here().is_none() {
        return;
    }
    let cluster = tokio::task::spawn_blocking(TlsPostgres::start)
        .await
        .expect("cluster starts");
    let ca = cluster.ca_file.display().to_string();
    for host in ["localhost", "127.0.0.1"] {
        let trusted = DatabaseUrl::Postgres(
            cluster.url(host, &format!("sslmode=verify-full&sslrootcert={ca}")),
        );
        let store = Store::connect(&trusted)
            .await
            .unwrap_or_else(|e| panic!("{host}: {}", kit_serve::error_chain(&e)));
        let tls = store.encryption().await.expect("pg_stat_ssl");
        assert!(
            matches!(&tls, Some(Some(version)) if version.starts_with("TLSv1.")),
            "{host}: {tls:?}"
        );
        store.close().await;
    }
    let untrusted = DatabaseUrl::Postgres(cluster.url("localhost", "sslmode=verify-full"));
    let error = Store::connect(&untrusted)
        .await
        .expect_err("a private CA is not among the platform's roots");
    assert!(matches!(error, StoreError::Tls(_)), "{error:?}");
}
