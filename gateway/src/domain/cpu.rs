//! CPU-heavy work, kept off the async workers.
//!
//! A tool's body runs on one of the runtime's few async workers (one per
//! core). A body that computes for long on one (a search over a big index,
//! a large parse) leaves that worker unable to answer anyone else, and a
//! handful of such calls stall every user's calls. [`cpu_bound`] hands the
//! work to a thread of its own and waits for it without holding a worker.
//!
//! The threads are the kit's own, one per core, fed from one queue. Tokio's
//! blocking pool behind a semaphore did the same job, but each piece of work
//! then waited for an async worker to be polled (to release its permit and
//! to start the next one), and under a steady search load the cores sat idle
//! a sixth of the time between pieces (`docs/decisions.md`). Here a thread
//! that finishes takes the next piece at once. A piece whose caller has gone
//! (the request was cancelled) is skipped instead of computed for no one.

use std::panic::{self, AssertUnwindSafe};
use std::sync::LazyLock;
use std::thread;

use crossbeam_channel::Sender;
use tokio::sync::oneshot;

/// A piece of work with its way back to the caller.
type Job = Box<dyn FnOnce() + Send>;

/// How many CPU threads there are: one per core, since more would only
/// share the same cores.
fn threads() -> usize {
    thread::available_parallelism().map_or(2, |n| n.get())
}

/// The queue the CPU threads take their work from. The threads live as
/// long as the process: they end only when every sender is gone, and this
/// one never is.
static QUEUE: LazyLock<Sender<Job>> = LazyLock::new(|| {
    let (queue, jobs) = crossbeam_channel::unbounded::<Job>();
    for n in 0..threads() {
        let jobs = jobs.clone();
        thread::Builder::new()
            .name(format!("kit-cpu-{n}"))
            .spawn(move || jobs.iter().for_each(|job| job()))
            .expect("the operating system refused to start a CPU thread");
    }
    queue
});

/// Runs `work` off the async workers and returns its result, so that while
/// it computes every other call is still answered.
///
/// Use it for anything that computes for more than a fraction of a
/// millisecond without awaiting. Database calls already await and need no
/// wrapping. Pieces of work run one per core, in the order they come; a
/// piece whose caller stopped waiting before it started is not run. A panic
/// in `work` panics the caller, as it would inline.
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
    let (done, result) = oneshot::channel();
    let job: Job = Box::new(move || {
        if !done.is_closed() {
            // A caller gone since the check only means no one reads this.
            let _ = done.send(panic::catch_unwind(AssertUnwindSafe(work)));
        }
    });
    // The threads never end (a panic in a job is caught above), so the
    // queue always has a receiver.
    if QUEUE.send(job).is_err() {
        unreachable!("the CPU threads are gone");
    }
    match result.await {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => panic::resume_unwind(panic),
        // Only a job dropped unrun drops its sender, and none is.
        Err(_) => unreachable!("CPU work was dropped before it ran"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_the_work_reaches_the_caller_and_the_threads_go_on() {
        let caught = tokio::spawn(cpu_bound(|| -> u8 { panic!("bad input") }))
            .await
            .expect_err("the caller panics");
        let message = caught.into_panic();
        assert_eq!(message.downcast_ref::<&str>(), Some(&"bad input"));
        // Twice as many later pieces as there are threads: none was lost to the panic.
        for n in 0..threads() * 2 {
            assert_eq!(cpu_bound(move || n + 1).await, n + 1);
        }
    }

    #[tokio::test]
    async fn work_whose_caller_is_gone_is_not_run() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::{Arc, Barrier};
        use std::task::{Context, Waker};
        use std::time::Duration;

        let cores = threads();
        // Hold every CPU thread, so that the next piece waits in the queue.
        let (started, hold) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(Barrier::new(cores + 1)),
        );
        let holders: Vec<_> = (0..cores)
            .map(|_| {
                let (started, hold) = (started.clone(), hold.clone());
                tokio::spawn(cpu_bound(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    hold.wait();
                }))
            })
            .collect();
        while started.load(Ordering::SeqCst) < cores {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }

        // Queue a piece (its first poll sends it), then stop waiting for it.
        let ran = Arc::new(AtomicBool::new(false));
        let mut queued = Box::pin(cpu_bound({
            let ran = ran.clone();
            move || ran.store(true, Ordering::SeqCst)
        }));
        let polled = queued
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()));
        assert!(polled.is_pending(), "every CPU thread is held");
        drop(queued);
        hold.wait();

        // The queue is first in, first out: all the threads can meet inside
        // later pieces only once each has finished what it took before,
        // the dropped piece included.
        let meet = Arc::new(Barrier::new(cores));
        let meetings: Vec<_> = (0..cores)
            .map(|_| {
                let meet = meet.clone();
                tokio::spawn(cpu_bound(move || {
                    meet.wait();
                }))
            })
            .collect();
        for task in holders.into_iter().chain(meetings) {
            task.await.expect("the piece finishes");
        }
        assert!(
            !ran.load(Ordering::SeqCst),
            "the piece no one waited for ran"
        );
    }
}
