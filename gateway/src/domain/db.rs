//! The app's own tables: one handle on the same database as the kit's
//! (`users`, `user_state`), with the app's own migrations, run at start.
//!
//! Queries go through sqlx's `Any` driver, so one SQL text (numbered
//! parameters, `ON CONFLICT`, `RETURNING`) serves SQLite and Postgres, as
//! the kit's own store does; [`AppDb::backend`] tells which one it is when
//! the SQL must differ.

use std::sync::Arc;

use sqlx::{
    Any, AnyConnection, Executor, Transaction,
    any::{AnyPoolOptions, install_default_drivers},
    migrate::Migrator,
    pool::Pool,
};
use tokio::sync::{Mutex, MutexGuard};

use crate::config::DatabaseUrl;

/// Which engine the app's tables are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the app's tables. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppDb {
    pool: Pool<Any>,
    backend: Backend,
    /// Behind a transaction-mode pooler: no app tables, no actions.
    pooled: bool,
}

/// An app's migrations, one folder per engine (`sqlx::migrate!` of each).
#[derive(Debug, Clone, Copy)]
pub struct AppMigrations {
    pub sqlite: &'static Migrator,
    pub postgres: &'static Migrator,
}

impl AppDb {
    /// The pool, for reads (and for writes outside actions, which have no
    /// stored outcome: prefer an action's [`Tx`]).
    pub fn pool(&self) -> &Pool<Any> {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn behind_transaction_pooler(&self) -> bool {
        self.pooled
    }

    /// Opens the app's pool on the kit's database and runs the app's
    /// migrations, refusing versions the kit's own migrations use. An app
    /// without tables of its own connects only if it is ever used.
    ///
    /// App tables need a connection that keeps its server session: through
    /// a transaction-mode pooler (`pooled`) sqlx's `Any` driver would lose its
    /// prepared statements under load, so such an app refuses to start there.
    pub(crate) async fn connect(
        url: &DatabaseUrl,
        migrations: Option<AppMigrations>,
        kit_versions: &[i64],
        pooled: bool,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        install_default_drivers();
        let (text, backend) = match url {
            DatabaseUrl::Sqlite(path) => (format!("sqlite://{}", path.display()), Backend::Sqlite),
            DatabaseUrl::Postgres(url) => (without_kit_options(url), Backend::Postgres),
        };
        if pooled && migrations.is_some() {
            anyhow::bail!(
                "DATABASE_URL is a transaction-mode pooler (Neon's `-pooler` host, Supabase's port \
                 6543), and this app keeps tables of its own, which need a connection that keeps \
                 its session: use the direct endpoint, or the pooler's session mode (docs/postgres.md)"
            );
        }
        let options = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .after_connect(move |connection, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // As the kit's own connections: durable, keys enforced,
                        // and a writer waits for the other instead of failing.
                        connection
                            .execute("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                            .await?;
                    }
                    Ok(())
                })
            });
        let Some(migrations) = migrations else {
            let pool = options
                .connect_lazy(&text)
                .context("cannot open the app's tables")?;
            return Ok(Self {
                pool,
                backend,
                pooled,
            });
        };
        let pool = options
            .connect(&text)
            .await
            .context("cannot open the app's tables")?;
        let own = match backend {
            Backend::Sqlite => migrations.sqlite,
            Backend::Postgres => migrations.postgres,
        };
        if let Some(clash) = own.iter().find(|m| kit_versions.contains(&m.version)) {
            anyhow::bail!(
                "the app's migration {} uses a version the kit's own migrations use; \
                     name app migrations by timestamp (`sqlx migrate add`)",
                clash.version
            );
        }
        alongside_the_kit(own)
            .run(&pool)
            .await
            .context("cannot run the app's migrations")?;
        Ok(Self {
            pool,
            backend,
            pooled,
        })
    }

    /// A transaction for one action. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so it never fails half-way for a lock it
    /// could not upgrade to.
    pub(crate) async fn begin_action(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }
}

/// A migrator over `migrations` that tolerates the other migrator's
/// versions in the shared `_sqlx_migrations` table.
pub(crate) fn alongside_the_kit(migrations: &Migrator) -> Migrator {
    Migrator {
        migrations: migrations.migrations.clone(),
        ignore_missing: true,
        locking: migrations.locking,
        no_tx: migrations.no_tx,
    }
}

/// The connection string less the options only the kit reads (`pgbouncer`).
fn without_kit_options(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter(|(k, _)| k != "pgbouncer")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    parsed.set_query(None);
    if !kept.is_empty() {
        parsed.query_pairs_mut().extend_pairs(kept);
    }
    parsed.to_string()
}

/// An action's transaction: every write the action makes goes through it,
/// and the kit commits it together with the stored outcome.
#[derive(Debug, Clone)]
pub struct Tx {
    inner: Arc<Mutex<Option<Transaction<'static, Any>>>>,
}

/// The transaction's connection, for one or more statements:
/// `sqlx::query(…).execute(&mut *tx.conn().await?)`.
#[derive(Debug)]
pub struct TxConnection<'t>(MutexGuard<'t, Option<Transaction<'static, Any>>>);

impl std::ops::Deref for TxConnection<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        // `conn` hands one out only while the transaction is there.
        self.0.as_deref().unwrap_or_else(|| unreachable!())
    }
}

impl std::ops::DerefMut for TxConnection<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        self.0.as_deref_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Tx {
    pub(crate) fn new(transaction: Transaction<'static, Any>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Some(transaction))),
        }
    }

    /// The connection the action writes through. An error once the action
    /// has ended (a copy kept past it cannot write after the commit), and
    /// while another `conn()` is still held: one statement at a time, and a
    /// second guard would otherwise wait for the first for ever.
    pub async fn conn(&self) -> Result<TxConnection<'_>, sqlx::Error> {
        let guard = self.inner.try_lock().map_err(|_| {
            sqlx::Error::Protocol(
                "the action's connection is already in use: drop the first `tx.conn()` \
                 (or reuse it) before taking another"
                    .into(),
            )
        })?;
        if guard.is_none() {
            return Err(sqlx::Error::Protocol(
                "the action has ended; its transaction is closed".into(),
            ));
        }
        Ok(TxConnection(guard))
    }

    /// Takes the transaction back from the action, for the kit to finish.
    pub(crate) async fn finish(&self) -> Option<Transaction<'static, Any>> {
        self.inner.lock().await.take()
    }
}
