//! Saturation of an async service where it saturates: its tokio runtime. The runtime's own
//! counters (tokio's `RuntimeMetrics`), read at each scrape.

use std::sync::Arc;

use super::{Collected, Collector, Desc, MetricError, register_collector};

const WORKERS: &str = "tokio_runtime_workers";
const ALIVE_TASKS: &str = "tokio_runtime_alive_tasks";
const GLOBAL_QUEUE: &str = "tokio_runtime_global_queue_depth";
const BUSY: &str = "tokio_runtime_worker_busy_seconds_total";
const PARKS: &str = "tokio_runtime_worker_parks_total";
#[cfg(tokio_unstable)]
const STEALS: &str = "tokio_runtime_worker_steals_total";
#[cfg(tokio_unstable)]
const POLLS: &str = "tokio_runtime_worker_polls_total";

/// The runtime's metrics, read when scraped.
struct Runtime(tokio::runtime::Handle);

impl Collector for Runtime {
    fn describe(&self) -> Vec<Desc> {
        let worker = &["worker"];
        #[cfg_attr(not(tokio_unstable), allow(unused_mut))]
        let mut families = vec![
            Desc::gauge(WORKERS, "Worker threads of the tokio runtime", &[]),
            Desc::gauge(ALIVE_TASKS, "Tasks alive in the tokio runtime (spawned, not yet completed)", &[]),
            Desc::gauge(GLOBAL_QUEUE, "Tasks waiting in the tokio runtime's global (injection) queue", &[]),
            Desc::counter(BUSY, "Time each tokio worker spent busy (not parked), in seconds", worker),
            Desc::counter(PARKS, "Times each tokio worker parked (found no work and slept)", worker),
        ];
        // What tokio measures only in a build with `--cfg tokio_unstable`.
        #[cfg(tokio_unstable)]
        families.extend([
            Desc::counter(STEALS, "Tasks each tokio worker stole from another's queue", worker),
            Desc::counter(POLLS, "Task polls by each tokio worker", worker),
        ]);
        families
    }

    fn collect(&self, out: &mut Collected<'_>) {
        let metrics = self.0.metrics();
        let workers = metrics.num_workers();
        out.gauge(WORKERS, &[], workers as f64);
        out.gauge(ALIVE_TASKS, &[], metrics.num_alive_tasks() as f64);
        out.gauge(GLOBAL_QUEUE, &[], metrics.global_queue_depth() as f64);
        for worker in 0..workers {
            let label = worker.to_string();
            let labels = [label.as_str()];
            out.counter(BUSY, &labels, metrics.worker_total_busy_duration(worker).as_secs_f64());
            out.counter(PARKS, &labels, metrics.worker_park_count(worker) as f64);
            #[cfg(tokio_unstable)]
            {
                out.counter(STEALS, &labels, metrics.worker_steal_count(worker) as f64);
                out.counter(POLLS, &labels, metrics.worker_poll_count(worker) as f64);
            }
        }
    }
}

/// Serves the metrics of the tokio runtime of `handle` (usually `Handle::current()`, from inside
/// the app's runtime), read at each scrape: `tokio_runtime_workers`, `tokio_runtime_alive_tasks`
/// and `tokio_runtime_global_queue_depth` (gauges), and per worker (label `worker`, from 0)
/// `tokio_runtime_worker_busy_seconds_total` and `tokio_runtime_worker_parks_total`; in a build
/// with `--cfg tokio_unstable`, also `tokio_runtime_worker_steals_total` and
/// `tokio_runtime_worker_polls_total`. One runtime per process: a second call is an `Err` naming
/// the first family.
///
/// A worker busy all the time adds one second per second to its busy counter:
/// `rate(tokio_runtime_worker_busy_seconds_total[1m])` near 1 on every worker, with a global queue
/// that grows, is a runtime that cannot keep up.
///
/// ```
/// # let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// runtime.block_on(async {
///     obs_runtime::metrics::register_tokio_runtime(&tokio::runtime::Handle::current())?;
///     let body = obs_runtime::metrics::encode(obs_runtime::metrics::Format::Text);
///     assert!(body.contains("tokio_runtime_workers 1\n"));
///     Ok::<(), obs_runtime::metrics::MetricError>(())
/// })?;
/// # Ok::<(), obs_runtime::metrics::MetricError>(())
/// ```
pub fn register_tokio_runtime(handle: &tokio::runtime::Handle) -> Result<(), MetricError> {
    register_collector(Arc::new(Runtime(handle.clone())))
}
