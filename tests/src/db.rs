//! One fresh database per test: an SQLite file in a temporary folder, or a
//! new Postgres database created through `TEST_DATABASE_URL`.

use std::sync::Arc;

use gateway::config::DatabaseUrl;
use sqlx::{Connection, PgConnection};

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// SQLite always; Postgres too when `TEST_DATABASE_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if postgres_admin_url().is_some() {
        all.push(Backend::Postgres);
    }
    all
}

pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// A database that lives as long as the test needs it.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub url: DatabaseUrl,
    pub backend: Backend,
    /// Keeps the SQLite folder alive; shared so a second replica can reuse it.
    _dir: Option<Arc<tempfile::TempDir>>,
}

impl TestDb {
    pub async fn fresh(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary folder");
                // A nested folder: the gateway must create it.
                let path = dir.path().join("nested").join("gateway.db");
                Self {
                    url: DatabaseUrl::Sqlite(path),
                    backend,
                    _dir: Some(Arc::new(dir)),
                }
            }
            Backend::Postgres => {
                let admin =
                    postgres_admin_url().expect("TEST_DATABASE_URL is set for Postgres tests");
                let name = format!("devkit_test_{:016x}", rand::random::<u64>());
                let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!("TEST_DATABASE_URL is set but Postgres cannot be reached: {e}")
                });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let mut url = url::Url::parse(&admin).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self {
                    url: DatabaseUrl::Postgres(url.to_string()),
                    backend,
                    _dir: None,
                }
            }
        }
    }

    /// The Postgres database name, for fault injection.
    pub fn postgres_name(&self) -> Option<String> {
        match &self.url {
            DatabaseUrl::Postgres(url) => url::Url::parse(url)
                .ok()
                .map(|u| u.path().trim_start_matches('/').to_owned()),
            DatabaseUrl::Sqlite(_) => None,
        }
    }
}
