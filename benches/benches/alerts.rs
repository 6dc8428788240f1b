//! One alert evaluation pass: 1,000 rules against a registry of 10,000 series, and whether memory
//! grows from pass to pass.
//!
//! The registry: 100 gauge families and 11 counter families of 90 series each, and 20
//! `#[track_request]` functions (about 10,000 series in all). The rules: 800 gauge thresholds
//! (each reads one family, with one label matcher), 150 counter rates over 5 minutes, and 50 error
//! rates over 5 minutes on one endpoint each. Each pass runs as the background evaluator runs it (`evaluate_at`, nothing firing: the
//! cost is reading and deciding). For scale, the same registry's Prometheus text exposition is
//! timed in the same run.
//!
//! A counting allocator reports the allocations per pass and the bytes still allocated after
//! pass 10 and after pass 200: what a pass allocates it frees, and windowed rules reuse their
//! sample buffers once their window is full.
//!
//! `cargo bench --manifest-path benches/Cargo.toml --bench alerts`

use std::time::{Duration, Instant, SystemTime};

use obs_runtime::alerts::{AlertManager, AlertRule, Condition};
use obs_runtime::metrics::{CounterVec, Format, GaugeVec};

mod support;

#[global_allocator]
static ALLOCATOR: support::CountingAllocator = support::CountingAllocator;

const GAUGE_FAMILIES: usize = 100;
const COUNTER_FAMILIES: usize = 11;
const SERIES_PER_FAMILY: usize = 90;
const PASSES: usize = 200;
const TIMED: usize = 31;

macro_rules! endpoints {
    ($($name:ident => $path:literal),* $(,)?) => {
        $(
            #[obs_runtime::track_request("GET", $path)]
            fn $name(fail: bool) -> Result<(), std::io::Error> {
                if fail { Err(std::io::Error::other("failed")) } else { Ok(()) }
            }
        )*
        /// Records one request per endpoint through obs's real request path (every seventh fails).
        fn record_requests(round: usize) {
            let calls: &[fn(bool) -> Result<(), std::io::Error>] = &[$($name),*];
            for (index, call) in calls.iter().enumerate() {
                let _ = call((index + round) % 7 == 0);
            }
        }
        const PATHS: &[&str] = &[$($path),*];
    };
}

endpoints! {
    e0 => "/bench/0", e1 => "/bench/1", e2 => "/bench/2", e3 => "/bench/3", e4 => "/bench/4",
    e5 => "/bench/5", e6 => "/bench/6", e7 => "/bench/7", e8 => "/bench/8", e9 => "/bench/9",
    e10 => "/bench/10", e11 => "/bench/11", e12 => "/bench/12", e13 => "/bench/13", e14 => "/bench/14",
    e15 => "/bench/15", e16 => "/bench/16", e17 => "/bench/17", e18 => "/bench/18", e19 => "/bench/19",
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let mut series = 0;
    let mut gauges = Vec::new();
    for family in 0..GAUGE_FAMILIES {
        let vec = GaugeVec::register(&format!("bench_gauge_{family}"), "a gauge", &["instance"]).unwrap();
        for instance in 0..SERIES_PER_FAMILY {
            vec.with_labels(&[&format!("i{instance}")]).unwrap().set(instance as f64);
            series += 1;
        }
        gauges.push(vec);
    }
    for family in 0..COUNTER_FAMILIES {
        let vec = CounterVec::register(&format!("bench_events_{family}_total"), "a counter", &["instance"]).unwrap();
        for instance in 0..SERIES_PER_FAMILY {
            vec.with_labels(&[&format!("i{instance}")]).unwrap().inc_by(instance as f64);
            series += 1;
        }
    }
    record_requests(0);
    series += PATHS.len();
    let mut builder = AlertManager::builder();
    let mut rules = 0;
    for index in 0..800 {
        let family = index % GAUGE_FAMILIES;
        let instance = index % SERIES_PER_FAMILY;
        builder = builder.rule(
            AlertRule::builder(format!("gauge_rule_{index}"))
                .condition(
                    Condition::gauge(format!("bench_gauge_{family}"))
                        .with_label("instance", format!("i{instance}"))
                        .above(1e9),
                )
                .build()
                .unwrap(),
        );
        rules += 1;
    }
    for index in 0..150 {
        builder = builder.rule(
            AlertRule::builder(format!("rate_rule_{index}"))
                .condition(
                    Condition::counter_rate(format!("bench_events_{}_total", index % COUNTER_FAMILIES))
                        .with_label("instance", format!("i{}", index % SERIES_PER_FAMILY))
                        .window(Duration::from_secs(300))
                        .above(1e9),
                )
                .build()
                .unwrap(),
        );
        rules += 1;
    }
    for index in 0..50 {
        builder = builder.rule(
            AlertRule::builder(format!("error_rule_{index}"))
                .condition(
                    Condition::error_rate_percent()
                        .endpoint(PATHS[index % PATHS.len()])
                        .window(Duration::from_secs(300))
                        .above(101.0),
                )
                .build()
                .unwrap(),
        );
        rules += 1;
    }
    let manager = builder.interval(Duration::from_secs(15)).build().unwrap();
    let t0 = SystemTime::now();
    // Sized up front: the bookkeeping must not allocate between the measurements.
    let mut pass_times = Vec::with_capacity(TIMED);
    let mut scrape_times = Vec::with_capacity(TIMED);
    let mut allocations = Vec::with_capacity(PASSES);
    let mut live_after = Vec::with_capacity(PASSES);
    for pass in 0..PASSES {
        // 15 s apart, as the default interval: windows fill up after 20 passes.
        let now = t0 + Duration::from_secs(15 * pass as u64);
        record_requests(pass);
        let before = support::allocations();
        let started = Instant::now();
        let fired = manager.evaluate_at(now);
        let elapsed = started.elapsed();
        allocations.push((support::allocations() - before) as f64);
        assert!(fired.is_empty(), "nothing fires in this benchmark");
        drop(fired);
        // A scrape every pass, as Prometheus would: what it leaves behind shows too.
        let started = Instant::now();
        let body = obs_runtime::metrics::encode(Format::Text);
        let scrape = started.elapsed();
        assert!(body.len() > 100_000);
        drop(body);
        live_after.push(support::live_bytes());
        if pass >= PASSES - TIMED {
            pass_times.push(elapsed.as_secs_f64() * 1e3);
            scrape_times.push(scrape.as_secs_f64() * 1e3);
        }
    }
    let pass = median(pass_times);
    let scrape = median(scrape_times);
    println!(
        "## One evaluation pass: {rules} rules, {series} series (median of the last {TIMED} of {PASSES} passes)\n"
    );
    println!("| what | ms | x one scrape |");
    println!("|---|---:|---:|");
    println!("| one scrape of the same registry (text format) | {scrape:.2} | 1.00 |");
    println!("| **one evaluation pass** | **{pass:.2}** | {:.2} |", pass / scrape);
    println!();
    println!(
        "allocations per pass: median {:.0} (pass 30: {:.0}, pass {PASSES}: {:.0})",
        median(allocations.clone()),
        allocations[29],
        allocations[PASSES - 1],
    );
    let live: Vec<String> =
        [10, 30, 60, 100, 150, PASSES].iter().map(|pass| format!("pass {pass}: {}", live_after[pass - 1])).collect();
    println!("bytes allocated after: {}", live.join(", "));
}
