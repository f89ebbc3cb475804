//! Postgres behind a transaction-mode pooler (PgBouncer, as Neon's pooled
//! endpoint and Supabase's transaction pooler run it).
//!
//! sqlx prepares every query in two round trips: Parse (+Describe) and Sync,
//! then Bind and Execute. With its statement cache a connection keeps named
//! statements (`sqlx_s_N`) and later sends only the Bind. A transaction-mode
//! pooler hands the server session to another client whenever the client is
//! idle outside a transaction, so between those round trips the statement
//! can be gone ("prepared statement does not exist"), already taken ("already
//! exists") or, worst, another client's statement of the same name, run with
//! our parameters. PgBouncer 1.21+ with `max_prepared_statements` tracks
//! named statements itself; older ones (Debian bookworm ships 1.18) do not.
//!
//! So the store first asks ([`probe`]) whether a client connection keeps
//! its server session. When it does not ([`Sessions::PerTransaction`]) every
//! query runs in its own short transaction, which pins one server for its
//! length, with the unnamed statement and no statement cache; migrations run
//! in one transaction under a transaction-level advisory lock ([`migrate`]).
//! `pgbouncer=true` (or `false`) in `DATABASE_URL` decides without probing.
//! Measurements and connection strings: `docs/postgres.md`.

use std::{str::FromStr, time::Duration};

use sqlx::{
    ConnectOptions, Connection, Executor, Row,
    postgres::{PgArguments, PgConnectOptions, PgConnection, PgPool, PgRow},
    query::Query,
};

use super::StoreError;

/// How many times the probe tries to catch a pooler handing a server to
/// another client (five round trips each). An idle PgBouncer, which reuses
/// the most recently released server by default, is caught in the first;
/// the others are for a pooler that other clients keep busy.
const PROBE_ROUNDS: usize = 5;

/// A probe this slow is answered as a pooler: only a pooler's queue makes a
/// trivial query wait on a healthy connection, and the per-transaction mode
/// is correct on any server anyway.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The URL option that says which mode to use instead of probing.
const OPTION: &str = "pgbouncer";

/// Whether a client connection keeps one Postgres server session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sessions {
    /// For the connection's whole life (the direct endpoint, a session-mode
    /// pooler): prepared statements are cached per connection.
    Kept,
    /// Only for the length of a transaction (a transaction-mode pooler):
    /// every query runs in its own transaction with the unnamed statement.
    PerTransaction,
}

/// Who chose the [`Sessions`] mode, for the start-up log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Chosen {
    Probe,
    Url,
}

/// The Postgres pool and the mode its queries run in.
#[derive(Debug, Clone)]
pub struct Postgres {
    pub(super) pool: PgPool,
    pub(super) sessions: Sessions,
}

impl Postgres {
    /// Runs one statement and returns its row, if any.
    pub(super) async fn fetch_optional(
        &self,
        query: Query<'_, sqlx::Postgres, PgArguments>,
    ) -> Result<Option<PgRow>, sqlx::Error> {
        match self.sessions {
            Sessions::Kept => query.fetch_optional(&self.pool).await,
            Sessions::PerTransaction => {
                // BEGIN pins one server until COMMIT, so the Parse and the
                // Bind meet the same session. A failed statement drops the
                // transaction, which rolls it back.
                let mut transaction = self.pool.begin().await?;
                let row = query
                    .persistent(false)
                    .fetch_optional(&mut *transaction)
                    .await?;
                transaction.commit().await?;
                Ok(row)
            }
        }
    }
}

/// The driver's options for `url`, and the mode `pgbouncer=` asks for.
///
/// The option is taken out of the URL (the driver would only warn about
/// it). `extra_float_digits` is not sent: PgBouncer refuses start-up
/// parameters it does not know unless told to ignore them, and the store
/// reads no floating-point text.
pub(super) fn options(url: &str) -> Result<(PgConnectOptions, Option<Sessions>), StoreError> {
    let mut parsed = url::Url::parse(url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
    let mut asked = None;
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        if key == OPTION {
            asked = Some(match &*value {
                "true" => Sessions::PerTransaction,
                "false" => Sessions::Kept,
                other => return Err(StoreError::PoolerOption(other.to_owned())),
            });
        } else {
            kept.push((key.into_owned(), value.into_owned()));
        }
    }
    if asked.is_some() {
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    let options = PgConnectOptions::from_str(parsed.as_str())?.extra_float_digits(None);
    Ok((options, asked))
}

/// The options a pool in `sessions` mode connects with. Per transaction, no
/// statement is cached: should a query ever be prepared by name there, it
/// is never bound again later on a server that may hold another's.
pub(super) fn pool_options(options: PgConnectOptions, sessions: Sessions) -> PgConnectOptions {
    match sessions {
        Sessions::Kept => options,
        Sessions::PerTransaction => options.statement_cache_capacity(0),
    }
}

/// Does a client connection keep its server session between transactions?
///
/// Two client connections, A and B. A asks for its backend's pid; B opens a
/// transaction (which holds a server) and asks for its own; A asks again.
/// Straight to Postgres each connection is one backend for life, so the
/// pids can never meet or change: the answer is [`Sessions::Kept`], always.
/// Through a transaction pooler B is handed the server A just released (or
/// A gets another one while B holds its old one): a pid is shared or
/// changes, and the answer is [`Sessions::PerTransaction`]. Only the
/// simple-query protocol is used, which any pooler passes whole.
pub(super) async fn probe(options: &PgConnectOptions) -> Result<Sessions, sqlx::Error> {
    let mut a = options.connect().await?;
    let mut b = options.connect().await?;
    let answer = tokio::time::timeout(PROBE_TIMEOUT, rounds(&mut a, &mut b)).await;
    let _ = a.close().await;
    let _ = b.close().await;
    match answer {
        Ok(answer) => answer,
        Err(_) => {
            tracing::warn!(
                "the Postgres session probe did not answer within {PROBE_TIMEOUT:?}; \
                 running every query in its own transaction"
            );
            Ok(Sessions::PerTransaction)
        }
    }
}

async fn rounds(a: &mut PgConnection, b: &mut PgConnection) -> Result<Sessions, sqlx::Error> {
    for _ in 0..PROBE_ROUNDS {
        let first = backend_pid(a).await?;
        let mut holding = b.begin().await?;
        let other = backend_pid(&mut holding).await?;
        if other == first {
            return Ok(Sessions::PerTransaction);
        }
        // B still holds its server; with a pool of one, A would wait here,
        // but then B was handed A's server above.
        let again = backend_pid(a).await?;
        holding.rollback().await?;
        if again != first {
            return Ok(Sessions::PerTransaction);
        }
    }
    Ok(Sessions::Kept)
}

async fn backend_pid(connection: &mut PgConnection) -> Result<i32, sqlx::Error> {
    connection
        .fetch_one("SELECT pg_backend_pid()")
        .await?
        .try_get(0)
}

/// Applies `migrator` (built without sqlx's session-level lock) in one
/// transaction, which pins one server from start to end.
///
/// sqlx's migrator takes a session-level advisory lock and releases it at
/// the end; through a transaction pooler the release can reach another
/// server, leaving the lock held on a pooled session and the next start
/// waiting for ever. Here the lock is transaction-level, on sqlx's own key,
/// so a gateway migrating straight to Postgres and one migrating through a
/// pooler still exclude each other, and COMMIT or ROLLBACK releases it. The
/// migrator prepares named statements on the pinned server: names a client
/// without a pooler that tracks them left there before (`sqlx_s_N`) would
/// collide, and ours would be left behind, so both are deallocated.
pub(super) async fn migrate(
    pool: &PgPool,
    migrator: &sqlx::migrate::Migrator,
) -> Result<(), StoreError> {
    let mut transaction = pool.begin().await?;
    let database: String = transaction
        .fetch_one("SELECT current_database()")
        .await?
        .try_get(0)?;
    transaction
        .execute(&*format!(
            "SELECT pg_advisory_xact_lock({})",
            lock_id(&database)
        ))
        .await?;
    forget_sqlx_statements(&mut transaction).await?;
    // `run_direct`, not `run`: `run` through a transaction makes the
    // future not `Send` for every lifetime (sqlx's own note on it).
    migrator.run_direct(&mut *transaction).await?;
    forget_sqlx_statements(&mut transaction).await?;
    transaction.commit().await?;
    Ok(())
}

/// Deallocates the server's statements named as sqlx names them. A pooler
/// that tracks prepared statements renames them, so only untracked ones,
/// which no later Bind can safely reach, match.
async fn forget_sqlx_statements(connection: &mut PgConnection) -> Result<(), sqlx::Error> {
    let names = connection
        .fetch_all(r"SELECT name FROM pg_prepared_statements WHERE name LIKE 'sqlx\_s\_%'")
        .await?;
    for row in names {
        let name: String = row.try_get(0)?;
        connection
            .execute(&*format!("DEALLOCATE \"{}\"", name.replace('"', "\"\"")))
            .await?;
    }
    Ok(())
}

/// The advisory-lock key sqlx's Postgres migrator uses for `database`
/// (`generate_lock_id` in sqlx-postgres 0.8: CRC-32 of the name times a
/// constant). Should sqlx change it, mixed starts lose only their mutual
/// exclusion, and the loser fails on `_sqlx_migrations`' primary key.
fn lock_id(database: &str) -> i64 {
    0x3d32_ad9e * i64::from(crc32(database.as_bytes()))
}

/// CRC-32 (ISO-HDLC, as zlib), bit by bit: run once per start.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A query failed because the server no longer had, or already had, a
/// statement sqlx prepared by name: the mark of a transaction pooler that
/// went unnoticed. Returns the server's message.
pub(super) fn lost_statement(error: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(db) = error else {
        return None;
    };
    let message = db.message();
    let lost = match db.code().as_deref() {
        // invalid_sql_statement_name, duplicate_prepared_statement
        Some("26000" | "42P05") => true,
        // "bind message supplies 3 parameters, but prepared statement … requires 1"
        Some("08P01") => message.contains("prepared statement"),
        _ => false,
    };
    lost.then(|| message.to_owned())
}

/// The start-up log line for the mode chosen.
pub(super) fn announce(sessions: Sessions, chosen: Chosen) {
    match (sessions, chosen) {
        (Sessions::Kept, Chosen::Probe) => {
            tracing::debug!(
                "Postgres sessions are kept per connection: prepared statements cached"
            );
        }
        (Sessions::Kept, Chosen::Url) => tracing::info!(
            "pgbouncer=false: prepared statements are cached per connection without probing"
        ),
        (Sessions::PerTransaction, chosen) => tracing::info!(
            by = match chosen {
                Chosen::Probe => "probe",
                Chosen::Url => "pgbouncer=true",
            },
            "Postgres is reached through a transaction-mode pooler: every query runs in its own \
             short transaction without prepared-statement caching (slower: see docs/postgres.md; \
             the direct endpoint avoids it)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check value of CRC-32/ISO-HDLC; that the key is sqlx's own is
    /// tested against sqlx's lock in `tests/e2e/pooler.rs`.
    #[test]
    fn crc32_is_the_zlib_one() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn the_pgbouncer_option_is_read_and_taken_out_of_the_url() {
        let (parsed, asked) = options_of("postgres://u:p@h:6543/db?sslmode=require&pgbouncer=true");
        assert_eq!(asked, Some(Sessions::PerTransaction));
        assert_eq!(parsed.get_database(), Some("db"));
        assert!(matches!(
            parsed.get_ssl_mode(),
            sqlx::postgres::PgSslMode::Require
        ));
        let (_, asked) = options_of("postgres://h/db?pgbouncer=false");
        assert_eq!(asked, Some(Sessions::Kept));
        let (_, asked) = options_of("postgres://h/db?sslmode=require");
        assert_eq!(asked, None);
        let error = options("postgres://h/db?pgbouncer=yes").expect_err("refused");
        assert!(error.to_string().contains("pgbouncer=true"), "{error}");
    }

    fn options_of(url: &str) -> (PgConnectOptions, Option<Sessions>) {
        options(url).expect("parses")
    }
}
