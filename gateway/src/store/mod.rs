//! The two-table memory: `users` and `user_state`, on SQLite or Postgres.
//!
//! One SQL text serves both engines (numbered parameters, `ON CONFLICT`,
//! `RETURNING`); [`on_pool!`] and [`on_writer!`] expand each query once per
//! driver. Every write is one statement, so a save is atomic on its own, and
//! a versioned save checks the version in the same statement that writes, so
//! of two racing writers exactly one wins. On SQLite the writes go through
//! one [`writer::Writer`], which commits them in groups (see there why).
//! On Postgres the queries run as [`pooler`] says: prepared and cached per
//! connection, or, behind a transaction-mode pooler, each in its own short
//! transaction.

mod pooler;
mod writer;

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;
use sqlx::{
    ConnectOptions, Connection, Row,
    postgres::PgPoolOptions,
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
    },
    types::Json,
};

use self::{
    pooler::{Chosen, Postgres},
    writer::Writer,
};

pub use self::pooler::Sessions;

use crate::config::DatabaseUrl;

/// How long a caller waits for a connection before the store counts as down.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long start-up may wait to open the SQLite file. Far more than a
/// request waits: a new file is switched to WAL and synced, which on a disk
/// busy with other work has taken over 3 s, and a slow disk is no reason to
/// refuse to start. A lock held elsewhere ends sooner, through `busy_timeout`.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// A store failure. The cause is for the log; callers show a fail-closed message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[source] sqlx::Error),
    #[error("could not migrate the database")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A save for a `sub` with no `users` row (the store was reset under a live session).
    #[error("the user is not on record")]
    UnknownUser,
    /// Opening an SQLite file did not finish in time.
    #[error("opening the database file took more than {0} s")]
    OpenTimedOut(u64),
    #[error("could not create the database folder {path}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("could not make the database file {path} private (mode 0600)")]
    Private {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The TLS handshake with Postgres failed: usually the certificate.
    #[error(
        "the Postgres server's TLS certificate was not accepted ({0}). With sslmode=verify-full or \
         verify-ca, set sslrootcert=/path/to/ca.pem to the CA that signed the server's certificate \
         (hosted providers' certificates are signed by roots the platform already trusts); \
         sslmode=require encrypts without checking the certificate"
    )]
    Tls(String),
    /// `pgbouncer=` in `DATABASE_URL` is neither `true` nor `false`.
    #[error(
        "pgbouncer={0} in DATABASE_URL: use pgbouncer=true for a transaction-mode pooler (Neon's \
         -pooler host, Supabase's port 6543), pgbouncer=false where prepared statements work \
         (the direct endpoint, a session-mode pooler, PgBouncer 1.21+ with \
         max_prepared_statements), or leave it out and the gateway probes"
    )]
    PoolerOption(String),
    /// A prepared statement vanished or collided: an unnoticed transaction pooler.
    #[error(
        "Postgres no longer holds this connection's prepared statements ({0}): DATABASE_URL goes \
         through a transaction-mode pooler. Use the database's direct endpoint, or add \
         pgbouncer=true to DATABASE_URL (every query in its own short transaction)"
    )]
    PreparedStatementsLost(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match pooler::lost_statement(&error) {
            Some(message) => Self::PreparedStatementsLost(message),
            None => Self::Database(error),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct UserRecord {
    /// The verified `sub`.
    pub id: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// A user's saved state. `version` 0 means nothing has been saved yet.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct SavedState {
    pub state: serde_json::Value,
    pub version: i64,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What a save did.
#[derive(Debug, Clone, PartialEq)]
pub enum SaveOutcome {
    Saved {
        version: i64,
        updated_at: DateTime<Utc>,
    },
    /// `expected_version` did not match; nothing was written.
    Stale { current_version: i64 },
}

/// A pool on one of the two engines (and SQLite's one writer).
#[derive(Debug, Clone)]
pub enum Store {
    Sqlite { pool: SqlitePool, writer: Writer },
    Postgres(Postgres),
}

/// Runs one read and binds `$row` to its optional row: on SQLite on the
/// pool, on Postgres as [`Postgres::fetch_optional`] runs it.
macro_rules! on_pool {
    ($store:expr, $row:ident = $query:expr => $body:expr) => {
        match $store {
            Store::Sqlite { pool, .. } => {
                let $row = $query.fetch_optional(pool).await;
                $body
            }
            Store::Postgres(postgres) => {
                let $row = postgres.fetch_optional($query).await;
                $body
            }
        }
    };
}

/// Runs one write (a query with owned parameters) and binds `$row` to its
/// optional `RETURNING` row: on SQLite through the writer, on Postgres on
/// the pool, whose concurrent commits already share WAL flushes (as
/// [`Postgres::fetch_optional`] runs it).
macro_rules! on_writer {
    ($store:expr, $row:ident = $query:expr => $body:expr) => {
        match $store {
            Store::Sqlite { writer, .. } => {
                let $row = writer.write($query).await;
                $body
            }
            Store::Postgres(postgres) => {
                let $row = postgres.fetch_optional($query).await;
                $body
            }
        }
    };
}

const UPSERT_USER: &str = "\
INSERT INTO users (id, email, created_at, last_seen_at) VALUES ($1, $2, $3, $3)
ON CONFLICT (id) DO UPDATE
    SET email = COALESCE(excluded.email, users.email), last_seen_at = excluded.last_seen_at
RETURNING id, email, created_at, last_seen_at";

const RECORD_EMAIL: &str = "UPDATE users SET email = $2 WHERE id = $1 AND email IS NULL";

const SELECT_USER: &str = "SELECT id, email, created_at, last_seen_at FROM users WHERE id = $1";

const SELECT_STATE: &str = "SELECT state, version, updated_at FROM user_state WHERE user_id = $1";

/// Unconditional save: the next version, whatever was there.
const SAVE_ANY: &str = "\
INSERT INTO user_state (user_id, state, version, updated_at) VALUES ($1, $2, 1, $3)
ON CONFLICT (user_id) DO UPDATE
    SET state = excluded.state, version = user_state.version + 1, updated_at = excluded.updated_at
RETURNING version, updated_at";

/// `expected_version = 0`: only if nothing was ever saved.
const SAVE_FIRST: &str = "\
INSERT INTO user_state (user_id, state, version, updated_at) VALUES ($1, $2, 1, $3)
ON CONFLICT (user_id) DO NOTHING
RETURNING version, updated_at";

/// `expected_version = n`: only if the saved version is still n.
const SAVE_IF_VERSION: &str = "\
UPDATE user_state SET state = $2, version = version + 1, updated_at = $3
WHERE user_id = $1 AND version = $4
RETURNING version, updated_at";

const SELECT_VERSION: &str = "SELECT version FROM user_state WHERE user_id = $1";

/// The database file holds users' data: create it readable by its owner
/// only (its WAL and shared-memory files take the same mode), and take
/// group and world access away from one made before this rule.
fn private_file(path: &std::path::Path) -> Result<(), StoreError> {
    let failed = |source| StoreError::Private {
        path: path.display().to_string(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                for file in [
                    path.to_owned(),
                    sidecar(path, "-wal"),
                    sidecar(path, "-shm"),
                ] {
                    match std::fs::metadata(&file) {
                        Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                                .map_err(failed)?;
                            tracing::info!(file = %file.display(), "database file made private (0600)");
                        }
                        _ => {}
                    }
                }
            }
            Err(e) => return Err(failed(e)),
        }
    }
    #[cfg(not(unix))]
    let _ = failed;
    Ok(())
}

#[cfg(unix)]
fn sidecar(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// A TLS failure says what to change; anything else keeps its own words.
/// sqlx reports a refused certificate as an I/O error carrying rustls's.
fn tls_explained(error: sqlx::Error) -> StoreError {
    let problem = match &error {
        sqlx::Error::Tls(cause) => Some(kit_serve::error_chain(&**cause)),
        sqlx::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .map(ToString::to_string),
        _ => None,
    };
    match problem {
        Some(problem) => StoreError::Tls(problem),
        None => StoreError::from(error),
    }
}

impl Store {
    /// Opens the database (creating an SQLite file and its folder when
    /// missing) and applies the migrations.
    pub async fn connect(url: &DatabaseUrl) -> Result<Self, StoreError> {
        let store = match url {
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).map_err(|source| StoreError::Folder {
                        path: dir.display().to_string(),
                        source,
                    })?;
                }
                private_file(path)?;
                let options = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    // FULL: a save acknowledged to the model survives power loss too.
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                // The writer's connection opens the file under the start-up
                // deadline (a pool of one's) and migrates it; the pool's own
                // connections open the file, when first needed, under the
                // request deadline.
                let opening = SqlitePoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(OPEN_TIMEOUT)
                    .connect_with(options.clone())
                    .await
                    .map_err(|error| match error {
                        sqlx::Error::PoolTimedOut => {
                            StoreError::OpenTimedOut(OPEN_TIMEOUT.as_secs())
                        }
                        error => StoreError::from(error),
                    })?;
                crate::domain::alongside_the_kit(&SQLITE_MIGRATIONS)
                    .run(&opening)
                    .await?;
                let first = opening.acquire().await?.detach();
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options);
                let writer = Writer::start(first);
                Self::Sqlite { pool, writer }
            }
            DatabaseUrl::Postgres(url) => {
                let (options, asked) = pooler::options(url)?;
                let (sessions, chosen) = match asked {
                    Some(sessions) => (sessions, Chosen::Url),
                    None => (
                        pooler::probe(&options).await.map_err(tls_explained)?,
                        Chosen::Probe,
                    ),
                };
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_with(pooler::pool_options(options, sessions))
                    .await
                    .map_err(tls_explained)?;
                match sessions {
                    Sessions::Kept => {
                        crate::domain::alongside_the_kit(&POSTGRES_MIGRATIONS)
                            .run(&pool)
                            .await?
                    }
                    Sessions::PerTransaction => {
                        let mut migrator = crate::domain::alongside_the_kit(&POSTGRES_MIGRATIONS);
                        migrator.set_locking(false);
                        pooler::migrate(&pool, &migrator).await?;
                    }
                }
                pooler::announce(sessions, chosen);
                Self::Postgres(Postgres { pool, sessions })
            }
        };
        Ok(store)
    }

    /// Whether the connection is to a transaction-mode pooler (each query
    /// in its own transaction; see `pooler.rs`).
    pub fn behind_transaction_pooler(&self) -> bool {
        matches!(
            self,
            Self::Postgres(Postgres {
                sessions: pooler::Sessions::PerTransaction,
                ..
            })
        )
    }

    /// Writes per SQLite group commit (`None` on Postgres), for `/metrics`.
    pub fn commit_batch_sizes(&self) -> Option<prometheus_client::metrics::histogram::Histogram> {
        match self {
            Self::Sqlite { writer, .. } => Some(writer.batch_sizes()),
            Self::Postgres(_) => None,
        }
    }

    /// How the Postgres queries run (`None` on SQLite).
    pub fn postgres_sessions(&self) -> Option<Sessions> {
        match self {
            Self::Sqlite { .. } => None,
            Self::Postgres(postgres) => Some(postgres.sessions),
        }
    }

    /// Records an email learned after sign-in (OIDC userinfo) for a user
    /// who has none on record; a user not yet on record is left alone.
    pub async fn record_email(&self, sub: &str, email: &str) -> Result<(), StoreError> {
        on_writer!(self, row = sqlx::query(RECORD_EMAIL)
            .bind(sub.to_owned())
            .bind(email.to_owned()) => row.map(drop))?;
        Ok(())
    }

    /// Whether this store's connections are encrypted, and how: `None` for
    /// SQLite, `Some(None)` for plain Postgres, `Some(Some("TLSv1.3"))` over TLS.
    pub async fn encryption(&self) -> Result<Option<Option<String>>, StoreError> {
        match self {
            Self::Sqlite { .. } => Ok(None),
            Self::Postgres(postgres) => {
                let row = postgres
                    .fetch_optional(sqlx::query(
                        "SELECT CASE WHEN ssl THEN version END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                    ))
                    .await?
                    .ok_or(sqlx::Error::RowNotFound)?;
                Ok(Some(row.try_get(0)?))
            }
        }
    }

    /// `SELECT 1`: is the database answering?
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_pool!(self, row = sqlx::query("SELECT 1") => row.map(drop))?;
        Ok(())
    }

    /// Records that `sub` checked in, creating the user on first sight.
    pub async fn upsert_user(
        &self,
        sub: &str,
        email: Option<&str>,
    ) -> Result<UserRecord, StoreError> {
        let now = Utc::now();
        let user = on_writer!(self, row = sqlx::query(UPSERT_USER)
            .bind(sub.to_owned())
            .bind(email.map(str::to_owned))
            .bind(now) => user_from(&row?.ok_or(sqlx::Error::RowNotFound)?)?);
        Ok(user)
    }

    pub async fn user(&self, sub: &str) -> Result<Option<UserRecord>, StoreError> {
        let user = on_pool!(self, row = sqlx::query(SELECT_USER).bind(sub) => {
            match row? {
                Some(row) => Some(user_from(&row)?),
                None => None,
            }
        });
        Ok(user)
    }

    /// The saved state, or the empty state (`version` 0) when none was saved.
    pub async fn state(&self, sub: &str) -> Result<SavedState, StoreError> {
        let state = on_pool!(self, row = sqlx::query(SELECT_STATE).bind(sub) => {
            match row? {
                Some(row) => SavedState {
                    state: row.try_get::<Json<serde_json::Value>, _>("state")?.0,
                    version: row.try_get("version")?,
                    updated_at: Some(row.try_get("updated_at")?),
                },
                None => SavedState { state: serde_json::Value::Null, version: 0, updated_at: None },
            }
        });
        Ok(state)
    }

    /// Saves `state` (already-serialised JSON). With `expected_version`, a
    /// save over a newer version is refused and reports the current one.
    pub async fn save_state(
        &self,
        sub: &str,
        state: &RawValue,
        expected_version: Option<i64>,
    ) -> Result<SaveOutcome, StoreError> {
        let now = Utc::now();
        let (sql, version) = match expected_version {
            None => (SAVE_ANY, None),
            Some(0) => (SAVE_FIRST, None),
            Some(v) => (SAVE_IF_VERSION, Some(v)),
        };
        let written = on_writer!(self, row = {
            let query = sqlx::query(sql).bind(sub.to_owned()).bind(Json(state.to_owned())).bind(now);
            match version {
                Some(v) => query.bind(v),
                None => query,
            }
        } => match row.map_err(classify)? {
            Some(row) => Some((row.try_get::<i64, _>("version")?, row.try_get("updated_at")?)),
            None => None,
        });
        if let Some((version, updated_at)) = written {
            return Ok(SaveOutcome::Saved {
                version,
                updated_at,
            });
        }
        let current_version: Option<i64> = on_pool!(self, row = sqlx::query(SELECT_VERSION).bind(sub) => {
            match row? {
                Some(row) => Some(row.try_get(0)?),
                None => None,
            }
        });
        Ok(SaveOutcome::Stale {
            current_version: current_version.unwrap_or(0),
        })
    }

    /// Closes the pool, waiting for checked-out connections.
    pub async fn close(&self) {
        match self {
            Self::Sqlite { pool, .. } => pool.close().await,
            Self::Postgres(postgres) => postgres.pool.close().await,
        }
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Self::Sqlite { .. } => "sqlite",
            Self::Postgres(_) => "postgres",
        }
    }
}

/// The versions of the kit's own migrations on `url`'s engine: an app's
/// migrations must not reuse them (they share sqlx's migrations table).
pub(crate) fn kit_versions(url: &DatabaseUrl) -> Vec<i64> {
    let migrator = match url {
        DatabaseUrl::Sqlite(_) => &SQLITE_MIGRATIONS,
        DatabaseUrl::Postgres(_) => &POSTGRES_MIGRATIONS,
    };
    migrator.iter().map(|m| m.version).collect()
}

/// How far a database's schema is, read without changing anything
/// (`devkit doctor`); [`Store::connect`] applies what is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaStatus {
    /// The SQLite file does not exist yet; the first start creates it.
    NotCreated,
    /// `applied` of the `known` migrations have run.
    Migrated { applied: usize, known: usize },
}

pub async fn schema_status(url: &DatabaseUrl) -> Result<SchemaStatus, StoreError> {
    // The kit's own versions only: an app's migrations share the table.
    let versions: Vec<String> = kit_versions(url).iter().map(i64::to_string).collect();
    let applied_sql = format!(
        "SELECT COUNT(*) FROM _sqlx_migrations WHERE success AND version IN ({})",
        versions.join(", ")
    );
    let applied_sql = applied_sql.as_str();
    // A fresh database has no migrations table: nothing applied yet.
    let applied = |r: Result<i64, sqlx::Error>| match r {
        Ok(n) => Ok(usize::try_from(n).unwrap_or_default()),
        Err(sqlx::Error::Database(e)) if e.message().contains("_sqlx_migrations") => Ok(0),
        Err(e) => Err(StoreError::from(e)),
    };
    let (applied, known) = match url {
        DatabaseUrl::Sqlite(path) => {
            if !path.exists() {
                return Ok(SchemaStatus::NotCreated);
            }
            let options = SqliteConnectOptions::new().filename(path).read_only(true);
            let mut connection = options.connect().await?;
            let count = sqlx::query_scalar(applied_sql)
                .fetch_one(&mut connection)
                .await;
            (applied(count)?, SQLITE_MIGRATIONS.iter().count())
        }
        DatabaseUrl::Postgres(url) => {
            let (options, _) = pooler::options(url)?;
            let mut connection = tokio::time::timeout(ACQUIRE_TIMEOUT, options.connect())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?
                .map_err(tls_explained)?;
            // In a transaction with the unnamed statement: right with or
            // without a transaction-mode pooler, and a one-off anyway.
            let mut transaction = connection.begin().await?;
            let count = sqlx::query_scalar(applied_sql)
                .persistent(false)
                .fetch_one(&mut *transaction)
                .await;
            drop(transaction);
            (applied(count)?, POSTGRES_MIGRATIONS.iter().count())
        }
    };
    Ok(SchemaStatus::Migrated { applied, known })
}

/// A foreign-key failure on save means the user row is gone, not that the store is.
fn classify(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::UnknownUser,
        _ => StoreError::from(error),
    }
}

fn user_from<R: Row>(row: &R) -> Result<UserRecord, sqlx::Error>
where
    for<'r> &'r str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> DateTime<Utc>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(UserRecord {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        created_at: row.try_get("created_at")?,
        last_seen_at: row.try_get("last_seen_at")?,
    })
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &std::path::Path) -> u32 {
        std::fs::metadata(path)
            .expect("file exists")
            .permissions()
            .mode()
            & 0o777
    }

    /// Users' data is readable by its owner only: a new database and its WAL
    /// files are 0600, and one made before this rule is tightened.
    #[tokio::test]
    async fn the_sqlite_files_are_private() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("gateway.db");
        let store = Store::connect(&DatabaseUrl::Sqlite(path.clone()))
            .await
            .expect("opens");
        store.upsert_user("alice", None).await.expect("a write");
        for file in [path.clone(), sidecar(&path, "-wal"), sidecar(&path, "-shm")] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        store.close().await;

        let old = dir.path().join("old.db");
        std::fs::write(&old, b"").expect("create");
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let store = Store::connect(&DatabaseUrl::Sqlite(old.clone()))
            .await
            .expect("opens");
        assert_eq!(mode(&old), 0o600);
        store.close().await;
    }
}
