//! Backs the README's claim that an alert evaluation pass leaves no memory behind: with every kind
//! of condition (gauge thresholds, counter rates, error rates and a latency quantile over 5
//! minutes, evaluated 15 s apart so the windows are full after 20 passes, CPU, a custom one) the
//! bytes still allocated after pass 40 and after pass 200 are the same.
//! A global allocator counts the live bytes; a binary of its own.

use std::time::{Duration, SystemTime};

mod common;

use common::live_bytes::{LiveBytes, live_bytes};
use obs_runtime::alerts::{AlertManager, AlertRule, Condition};
use obs_runtime::metrics::{CounterVec, GaugeVec};

#[global_allocator]
static ALLOCATOR: LiveBytes = LiveBytes;

#[obs_runtime::track_request("GET", "/alloc/a")]
fn a(fail: bool) -> Result<(), std::io::Error> {
    if fail { Err(std::io::Error::other("down")) } else { Ok(()) }
}

#[obs_runtime::track_request("GET", "/alloc/b")]
fn b(fail: bool) -> Result<(), std::io::Error> {
    if fail { Err(std::io::Error::other("down")) } else { Ok(()) }
}

#[test]
fn evaluation_passes_leave_no_memory_behind_once_the_windows_are_full() {
    let gauges = GaugeVec::register("alloc_queue_depth", "depth", &["queue"]).expect("registers");
    let counters = CounterVec::register("alloc_jobs_total", "jobs", &["queue"]).expect("registers");
    let queues: Vec<String> = (0..20).map(|queue| format!("q{queue}")).collect();
    let mut builder = AlertManager::builder();
    for queue in &queues {
        gauges.with_labels(&[queue]).expect("a series").set(1.0);
        builder = builder
            .rule(
                AlertRule::builder(format!("deep_{queue}"))
                    .condition(Condition::gauge("alloc_queue_depth").with_label("queue", queue.clone()).above(1e9))
                    .build()
                    .expect("a rule"),
            )
            .rule(
                AlertRule::builder(format!("busy_{queue}"))
                    .condition(
                        Condition::counter_rate("alloc_jobs_total")
                            .with_label("queue", queue.clone())
                            .window(Duration::from_secs(300))
                            .above(1e9),
                    )
                    .build()
                    .expect("a rule"),
            );
    }
    for (name, endpoint) in [("a", "/alloc/a"), ("b", "/alloc/b")] {
        builder = builder.rule(
            AlertRule::builder(format!("errors_{name}"))
                .condition(
                    Condition::error_rate_percent().endpoint(endpoint).window(Duration::from_secs(300)).above(101.0),
                )
                .build()
                .expect("a rule"),
        );
    }
    // The other kinds of condition: CPU (its own history of process CPU time), a latency
    // quantile over a window, and a custom one reading a family.
    builder = builder
        .rule(AlertRule::builder("cpu").condition(Condition::cpu_usage_percent().above(1e9)).build().expect("a rule"))
        .rule(
            AlertRule::builder("slow")
                .condition(Condition::latency_quantile(0.99).window(Duration::from_secs(300)).above(1e9))
                .build()
                .expect("a rule"),
        )
        .rule(
            AlertRule::builder("custom")
                .condition(Condition::custom("deepest", |snapshot| snapshot.max("alloc_queue_depth", &[])).above(1e9))
                .build()
                .expect("a rule"),
        );
    let manager = builder.interval(Duration::from_secs(15)).build().expect("a manager");
    let counters: Vec<_> = queues.iter().map(|queue| counters.with_labels(&[queue]).expect("a series")).collect();
    let t0 = SystemTime::now();
    let mut live_after = Vec::with_capacity(200);
    for pass in 0..200u64 {
        for (index, counter) in counters.iter().enumerate() {
            counter.inc_by((index as u64 + pass) as f64);
        }
        a(pass % 7 == 0).ok();
        b(pass % 5 == 0).ok();
        let fired = manager.evaluate_at(t0 + Duration::from_secs(15 * pass));
        assert!(fired.is_empty(), "nothing fires here: {fired:?}");
        drop(fired);
        live_after.push(live_bytes());
    }
    // The windows hold 5 minutes of 15 s samples: full from pass 21 on; then flat.
    assert_eq!(live_after[39], live_after[199], "bytes live after pass 40 and after pass 200: {:?}", &live_after[20..]);
}
