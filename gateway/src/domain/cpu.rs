//! CPU-heavy work, kept off the async workers.
//!
//! A tool's body runs on one of the runtime's few async workers (one per
//! core). A body that computes for long on one (a search over a big index,
//! a large parse) leaves that worker unable to answer anyone else, and a
//! handful of such calls stall every user's calls. [`cpu_bound`] runs the
//! work on a thread of its own and waits for it without holding a worker.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

/// At most one piece of CPU work per core at a time: more threads than
/// cores only share the same cores, while the queue keeps memory bounded.
static CORES: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())));

/// Runs `work` off the async workers and returns its result, so that while
/// it computes every other call is still answered.
///
/// Use it for anything that computes for more than a fraction of a
/// millisecond without awaiting. Database calls already await and need no
/// wrapping. A panic in `work` panics the caller, as it would inline.
///
/// ```
/// # async fn doc() {
/// use gateway::domain::cpu_bound;
///
/// let words = "a long document to analyse".to_owned();
/// let count = cpu_bound(move || words.split_whitespace().count()).await;
/// assert_eq!(count, 5);
/// # }
/// ```
pub async fn cpu_bound<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    // The semaphore is never closed, so acquiring cannot fail.
    let _core = CORES.acquire().await.ok();
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only a runtime shutting down cancels blocking work.
            Err(error) => panic!("CPU work was cancelled: {error}"),
        },
    }
}
