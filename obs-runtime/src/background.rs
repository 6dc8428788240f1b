//! obs's one background runtime: a single-threaded tokio runtime on a thread of its own, `obs`,
//! started at its first use and kept for the life of the process. The embedded server, the alert
//! evaluator and its deliveries, the health checks' scheduling and the OTLP exports (driven from
//! the span thread) all run on it, so obs adds one thread and one runtime, whether or not the
//! application uses tokio, and never competes with the application's executor.
//!
//! What may block a thread never runs on it: a health check (even an `async` one that blocks), an
//! alert evaluation (a custom condition is the user's code) and each attempt of an alert channel's
//! `send` run on its blocking pool (threads `obs-blocking`, made when needed and gone after a
//! while idle), so they cannot stall `/metrics` or `/health/live`.

use std::sync::OnceLock;
use std::time::Duration;

/// How long an idle thread of the blocking pool is kept.
const BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);
/// The most threads the blocking pool makes: checks, evaluations and alert channels' sends that
/// hang past their timeout keep theirs (at most one per check and per channel), so this bounds
/// what misbehaving user code can cost.
const MAX_BLOCKING_THREADS: usize = 64;

/// The runtime's handle; `None` if its thread could not be started (each user says so in its
/// own terms: an `Err` at start, a failed check, a failed export).
pub(crate) fn handle() -> Option<&'static tokio::runtime::Handle> {
    static HANDLE: OnceLock<Option<tokio::runtime::Handle>> = OnceLock::new();
    HANDLE.get_or_init(start).as_ref()
}

fn start() -> Option<tokio::runtime::Handle> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("obs-blocking")
        .on_thread_start(crate::threads::mark_own)
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_KEEP_ALIVE)
        .build()
        .ok()?;
    let handle = runtime.handle().clone();
    // The thread drives the runtime (its IO and timers) for good: `Handle::block_on` from other
    // threads relies on it.
    std::thread::Builder::new()
        .name("obs".into())
        .spawn(move || {
            crate::threads::mark_own();
            runtime.block_on(std::future::pending::<()>())
        })
        .ok()?;
    Some(handle)
}

#[cfg(any(feature = "health", feature = "alerts"))]
/// Runs `future` to completion on a thread of the blocking pool, driven by the runtime: for code
/// that may block its thread. Cancelled (at its next poll) when the returned future is dropped;
/// one that blocks keeps its thread until it returns.
pub(crate) async fn isolated<F>(future: F) -> Result<F::Output, tokio::task::JoinError>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let (_cancel, cancelled) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::runtime::Handle::current();
    let task = tokio::task::spawn_blocking(move || {
        handle.block_on(async move {
            tokio::select! {
                // A run cancelled while it waited for a thread does not start.
                biased;
                _ = cancelled => None,
                output = future => Some(output),
            }
        })
    });
    // `_cancel` lives until this future completes or is dropped; dropping it ends the run.
    match task.await {
        Ok(Some(output)) => Ok(output),
        Ok(None) => unreachable_cancelled(),
        Err(error) => Err(error),
    }
}

#[cfg(any(feature = "health", feature = "alerts"))]
/// The run was cancelled while this future was still waiting for it: impossible, since the
/// cancelling sender is this future's own.
fn unreachable_cancelled<T>() -> T {
    unreachable!("the run is cancelled only when its waiter is gone")
}

#[cfg(all(test, any(feature = "health", feature = "alerts")))]
mod tests {
    use super::*;

    #[test]
    fn one_thread_runs_async_work_and_blocking_work_does_not_stall_it() {
        let handle = handle().expect("the runtime starts");
        assert!(std::ptr::eq(handle, super::handle().expect("the same")), "one runtime per process");
        let (blocked, release) = std::sync::mpsc::channel::<()>();
        let (entered, is_entered) = std::sync::mpsc::channel::<()>();
        let stuck = handle.spawn(isolated(async move {
            let _ = entered.send(());
            // Blocks its thread, as a misbehaving check might.
            let _ = release.recv();
            7
        }));
        is_entered.recv().expect("the isolated run started");
        // The runtime's own thread still runs tasks, timers included.
        let ticked = handle.block_on(handle.spawn(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            "ticked"
        }));
        assert_eq!(ticked.expect("ran"), "ticked");
        drop(blocked);
        assert_eq!(handle.block_on(stuck).expect("joined").expect("not a panic"), 7);
    }
}
