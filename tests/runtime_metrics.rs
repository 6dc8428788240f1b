//! The app's tokio runtime as metrics (`register_tokio_runtime`): the workers it was built with,
//! the tasks the test keeps alive, the tasks it queues while every worker is held, and each
//! worker's busy time once they were held; promtool accepts the families. (One runtime per
//! process: a binary of its own.)

mod common;

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use obs_runtime::metrics::{Format, MetricError, encode, register_tokio_runtime};

/// The runtime under test: two workers, registered once for both tests.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
        register_tokio_runtime(runtime.handle()).expect("registers");
        let again = register_tokio_runtime(runtime.handle()).expect_err("one runtime per process");
        assert!(
            matches!(&again, MetricError::AlreadyRegistered { name } if name == "tokio_runtime_workers"),
            "{again}"
        );
        runtime
    })
}

/// The tests hold the runtime's workers: one at a time.
static HELD: Mutex<()> = Mutex::new(());

fn value(body: &str, series: &str) -> f64 {
    let line = body
        .lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no {series}:\n{body}"));
    line[series.len() + 1..].parse().expect("a number")
}

#[test]
fn workers_tasks_and_the_global_queue_are_what_the_test_made_them() {
    let _held = HELD.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let runtime = runtime();
    // Hold both workers: each runs a task that blocks its thread until released.
    let (started_tx, started) = mpsc::channel();
    let mut releases = Vec::new();
    let mut holders = Vec::new();
    for _ in 0..2 {
        let (release_tx, release) = mpsc::channel::<()>();
        releases.push(release_tx);
        let started_tx = started_tx.clone();
        holders.push(runtime.spawn(async move {
            started_tx.send(()).expect("the test waits");
            release.recv().expect("released");
        }));
    }
    for _ in 0..2 {
        started.recv().expect("a worker is held");
    }
    // Three tasks spawned from outside the runtime wait in its global queue: no worker is free.
    let queued: Vec<_> = (0..3).map(|_| runtime.spawn(async {})).collect();

    let body = encode(Format::Text);
    assert_eq!(value(&body, "tokio_runtime_workers"), 2.0);
    assert_eq!(value(&body, "tokio_runtime_alive_tasks"), 5.0);
    assert_eq!(value(&body, "tokio_runtime_global_queue_depth"), 3.0);

    for release in releases {
        release.send(()).expect("a holder waits");
    }
    runtime.block_on(async {
        for task in holders.into_iter().chain(queued) {
            task.await.expect("the task ends");
        }
    });
    // A finished task is released just after its handle sees the end, and tokio adds a busy
    // period to a worker's total when the worker parks after it: wait (a gate, with a generous
    // give-up) until no task is alive and both held workers show busy time.
    let busy = |body: &str, worker: &str| {
        value(body, &format!("tokio_runtime_worker_busy_seconds_total{{worker=\"{worker}\"}}"))
    };
    let settled =
        |body: &str| value(body, "tokio_runtime_alive_tasks") == 0.0 && busy(body, "0") > 0.0 && busy(body, "1") > 0.0;
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut body = encode(Format::Text);
    while !settled(&body) {
        assert!(std::time::Instant::now() < give_up, "tasks still alive, or a held worker shows no busy time: {body}");
        std::thread::yield_now();
        body = encode(Format::Text);
    }
    assert_eq!(value(&body, "tokio_runtime_global_queue_depth"), 0.0);
    for worker in ["0", "1"] {
        assert!(value(&body, &format!("tokio_runtime_worker_parks_total{{worker=\"{worker}\"}}")) >= 1.0);
    }
    assert!(!body.contains("worker=\"2\""), "two workers only: {body}");
}

#[test]
#[ignore = "needs promtool: scripts/install-backends.sh"]
fn promtool_accepts_the_runtime_families() {
    runtime();
    let body = encode(Format::Text);
    assert!(body.contains("# TYPE tokio_runtime_worker_busy_seconds_total counter\n"), "{body}");
    let (clean, said) = common::promtool_check_metrics(&body);
    assert!(clean, "promtool check metrics: {said}");
}
