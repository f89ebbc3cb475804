//! Group commit for SQLite: one connection writes, in batches.
//!
//! With `synchronous=FULL` every commit waits for an fsync (about 2.5 ms on
//! the disks we measured), and SQLite has one writer at a time, so one
//! commit per save caps saves at a few hundred a second however many callers
//! wait. Here every write goes to one task that owns the only writing
//! connection: it takes whatever writes are queued, runs them in one
//! `BEGIN IMMEDIATE … COMMIT`, and answers each caller only after that
//! commit returned. Durability is unchanged (nothing is acknowledged before
//! its fsync); the fsync is shared. A quiet server commits each write alone,
//! so batching adds no latency.
//!
//! Each write is still one statement with its own outcome: a failed
//! statement (a foreign-key violation, say) fails that write only, since
//! SQLite rolls back the statement, not the transaction. If the commit
//! fails, every write in the batch fails, and none was acknowledged.

use sqlx::{
    Connection, Sqlite, SqliteConnection,
    query::Query,
    sqlite::{SqliteArguments, SqliteRow},
};
use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::{mpsc, oneshot};

/// Writes per transaction at most; bounds how long one batch holds the lock.
const MAX_BATCH: usize = 128;
/// Writes waiting for the writer at most; callers beyond it wait to enqueue.
const QUEUE: usize = 1024;

/// One write: a statement with its parameters bound (owned values).
pub type Write = Query<'static, Sqlite, SqliteArguments<'static>>;

/// The statement's `RETURNING` row, if it wrote one.
type Reply = Result<Option<SqliteRow>, sqlx::Error>;

struct Job {
    write: Write,
    reply: oneshot::Sender<Reply>,
}

/// The handle callers hold; cheap to clone. The task ends, closing its
/// connection, when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Job>,
    /// Transactions committed so far (each holds one or more writes).
    commits: Arc<AtomicUsize>,
    /// Writes per transaction, for `/metrics`.
    batch_sizes: Histogram,
}

impl Writer {
    /// Starts the writing task on `connection`, which it owns from now on.
    pub fn start(connection: SqliteConnection) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        let commits = Arc::new(AtomicUsize::new(0));
        // 1, 2, 4 … 128 (MAX_BATCH).
        let batch_sizes = Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(1.0, 2.0, 8),
        );
        tokio::spawn(run(connection, queue, commits.clone(), batch_sizes.clone()));
        Self {
            jobs,
            commits,
            batch_sizes,
        }
    }

    /// How many writes each commit held (a handle on the live histogram).
    pub fn batch_sizes(&self) -> Histogram {
        self.batch_sizes.clone()
    }

    pub fn commits(&self) -> usize {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `write` in the next batch; returns once that batch has committed.
    pub async fn write(&self, write: Write) -> Reply {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job { write, reply })
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        answer.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

async fn run(
    mut connection: SqliteConnection,
    mut queue: mpsc::Receiver<Job>,
    commits: Arc<AtomicUsize>,
    batch_sizes: Histogram,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (writes, callers): (Vec<Write>, Vec<_>) =
            batch.drain(..).map(|job| (job.write, job.reply)).unzip();
        batch_sizes.observe(writes.len() as f64);
        let replies = commit(&mut connection, writes).await;
        commits.fetch_add(1, Ordering::Relaxed);
        for (caller, reply) in callers.into_iter().zip(replies) {
            // The caller may have gone (its request was cancelled); the write stands.
            let _ = caller.send(reply);
        }
    }
    let _ = connection.close().await;
}

/// Runs the writes in one transaction. One reply per write, in order.
async fn commit(connection: &mut SqliteConnection, writes: Vec<Write>) -> Vec<Reply> {
    let n = writes.len();
    if let Err(e) = sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *connection)
        .await
    {
        return fail_all(n, &e);
    }
    let mut replies = Vec::with_capacity(n);
    for write in writes {
        replies.push(write.fetch_optional(&mut *connection).await);
    }
    match sqlx::query("COMMIT").execute(&mut *connection).await {
        Ok(_) => replies,
        Err(e) => {
            // Whatever the statements did is gone: nobody may be told it was saved.
            let _ = sqlx::query("ROLLBACK").execute(&mut *connection).await;
            fail_all(n, &e)
        }
    }
}

fn fail_all(n: usize, error: &sqlx::Error) -> Vec<Reply> {
    (0..n)
        .map(|_| {
            Err(sqlx::Error::Protocol(format!(
                "the batch did not commit: {error}"
            )))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use sqlx::{
        ConnectOptions, Row,
        sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous},
    };

    use super::*;

    /// 200 concurrent writes, every tenth breaking a foreign key: those fail
    /// alone, the rest are all stored, and they shared far fewer commits.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_commits_and_fail_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("w.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true);
        let mut setup = options.connect().await.expect("connect");
        sqlx::raw_sql(
            "CREATE TABLE parent (id TEXT PRIMARY KEY);
             CREATE TABLE child (n INTEGER PRIMARY KEY, parent TEXT NOT NULL REFERENCES parent(id));
             INSERT INTO parent VALUES ('p');",
        )
        .execute(&mut setup)
        .await
        .expect("schema");
        let writer = Writer::start(options.connect().await.expect("connect"));

        let mut calls = tokio::task::JoinSet::new();
        for n in 0..200i64 {
            let writer = writer.clone();
            let parent = if n % 10 == 0 { "missing" } else { "p" };
            calls.spawn(async move {
                let write =
                    sqlx::query("INSERT INTO child (n, parent) VALUES ($1, $2) RETURNING n")
                        .bind(n)
                        .bind(parent.to_owned());
                (n, writer.write(write).await)
            });
        }
        while let Some(done) = calls.join_next().await {
            let (n, reply) = done.expect("task");
            match reply {
                Ok(Some(row)) => {
                    assert_ne!(n % 10, 0, "write {n} should have failed");
                    assert_eq!(row.get::<i64, _>("n"), n);
                }
                Ok(None) => panic!("write {n} returned no row"),
                Err(e) => assert_eq!(n % 10, 0, "write {n} failed: {e}"),
            }
        }
        let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM child")
            .fetch_one(&mut setup)
            .await
            .expect("count");
        assert_eq!(stored, 180);
        assert!(
            writer.commits() < 200,
            "{} commits for 200 writes",
            writer.commits()
        );
    }
}
