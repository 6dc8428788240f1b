//! The cost of `#[track_request]` per call, against the bare function, the same metrics written by
//! hand with the `prometheus` crate, and autometrics; and how each scales from one thread to two.
//!
//! A plain harness, on purpose: every variant runs the same loop of calls, timed in batches, and
//! the median batch is reported, so all numbers come from one run on one machine. Run with
//! `cargo bench --manifest-path benches/Cargo.toml` on a quiet machine.

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Instant;

use prometheus::{HistogramVec, IntCounterVec, histogram_opts, opts};

const CALLS_PER_BATCH: u64 = 1_000_000;
const BATCHES: usize = 15;
/// How long each thread runs per throughput run: long enough that thread start-up and scheduler
/// noise on a 2-core machine do not decide the ratio.
const THROUGHPUT_RUN_SECONDS: f64 = 0.1;

// The function every variant wraps: a little real work that the optimiser cannot remove.
#[inline(never)]
fn work(x: u64) -> Result<u64, ()> {
    let y = black_box(x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    if y == 0 { Err(()) } else { Ok(y >> 7) }
}

fn bare(x: u64) -> Result<u64, ()> {
    work(x)
}

#[obs_runtime::track_request("GET", "/users")]
fn obs_tracked(x: u64) -> Result<u64, ()> {
    work(x)
}

#[autometrics::autometrics]
fn autometrics_tracked(x: u64) -> Result<u64, ()> {
    work(x)
}

struct ByHand {
    requests: IntCounterVec,
    duration: HistogramVec,
}

static BY_HAND: LazyLock<ByHand> = LazyLock::new(|| {
    let requests = IntCounterVec::new(
        opts!("bench_http_requests_total", "Total HTTP requests"),
        &["method", "endpoint", "status"],
    )
    .expect("valid");
    let duration = HistogramVec::new(
        histogram_opts!("bench_http_request_duration_seconds", "HTTP request duration"),
        &["method", "endpoint"],
    )
    .expect("valid");
    ByHand { requests, duration }
});

/// The chapter's decorator with the prometheus crate: label lookup on every call.
fn prometheus_with_label_values(x: u64) -> Result<u64, ()> {
    let start = Instant::now();
    let result = work(x);
    let status = if result.is_ok() { "200" } else { "500" };
    BY_HAND.requests.with_label_values(&["GET", "/users", status]).inc();
    BY_HAND.duration.with_label_values(&["GET", "/users"]).observe(start.elapsed().as_secs_f64());
    result
}

struct Resolved {
    ok: prometheus::IntCounter,
    error: prometheus::IntCounter,
    duration: prometheus::Histogram,
}

static RESOLVED: LazyLock<Resolved> = LazyLock::new(|| Resolved {
    ok: BY_HAND.requests.with_label_values(&["GET", "/resolved", "200"]),
    error: BY_HAND.requests.with_label_values(&["GET", "/resolved", "500"]),
    duration: BY_HAND.duration.with_label_values(&["GET", "/resolved"]),
});

/// The prometheus crate at its best: handles resolved once.
fn prometheus_resolved(x: u64) -> Result<u64, ()> {
    let start = Instant::now();
    let result = work(x);
    if result.is_ok() { &RESOLVED.ok } else { &RESOLVED.error }.inc();
    RESOLVED.duration.observe(start.elapsed().as_secs_f64());
    result
}

fn instant_now(x: u64) -> Result<u64, ()> {
    black_box(Instant::now());
    work(x)
}

type Variant = (&'static str, fn(u64) -> Result<u64, ()>);

const VARIANTS: &[Variant] = &[
    ("bare function", bare),
    ("reference: + Instant::now()", instant_now),
    ("prometheus by hand, with_label_values per call", prometheus_with_label_values),
    ("prometheus by hand, handles resolved once", prometheus_resolved),
    ("autometrics #[autometrics]", autometrics_tracked),
    ("obs #[track_request]", obs_tracked),
];

/// Nanoseconds per call of one batch.
fn batch(f: fn(u64) -> Result<u64, ()>, calls: u64) -> f64 {
    let start = Instant::now();
    for i in 1..=calls {
        let _ = black_box(f(black_box(i)));
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Calls per second, in aggregate, of `threads` threads each making `calls` calls at once.
fn throughput(f: fn(u64) -> Result<u64, ()>, threads: usize, calls: u64) -> f64 {
    let barrier = std::sync::Barrier::new(threads);
    let start = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    batch(f, calls);
                    start
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("bench thread")).min().expect("threads")
    });
    (threads as u64 * calls) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too: a quick pass then.
    let quick = std::env::args().any(|arg| arg == "--quick");
    let batches = if quick { 3 } else { BATCHES };
    let _ = obs_runtime::Obs::builder().without_http_server().init().expect("obs starts");
    for (_, f) in VARIANTS {
        batch(*f, CALLS_PER_BATCH / 10); // warm up: registration, clock calibration, caches
    }

    println!("## Cost per call (median of {batches} batches of {CALLS_PER_BATCH} calls, one thread)\n");
    println!("| variant | ns/call | added over bare (ns) | x bare |");
    println!("|---|---:|---:|---:|");
    let mut per_call = Vec::new();
    // Interleave the variants batch by batch so that machine noise spreads over all of them.
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    for _ in 0..batches {
        for (index, (_, f)) in VARIANTS.iter().enumerate() {
            samples[index].push(batch(*f, CALLS_PER_BATCH));
        }
    }
    for ((name, _), samples) in VARIANTS.iter().zip(samples) {
        per_call.push((*name, median(samples)));
    }
    let bare_ns = per_call[0].1;
    for (name, ns) in &per_call {
        println!("| {name} | {ns:.1} | {:.1} | {:.2} |", ns - bare_ns, ns / bare_ns);
    }
    let obs_added = per_call.last().expect("obs").1 - bare_ns;
    let autometrics_added = per_call[4].1 - bare_ns;
    println!("\nautometrics adds {:.1}x what obs adds per call.\n", autometrics_added / obs_added);

    exemplars(batches);
    #[cfg(feature = "testing")]
    scopes(batches);

    println!(
        "## Scaling: two threads calling the same function (median of {batches} runs of ~{THROUGHPUT_RUN_SECONDS} s per thread)\n"
    );
    println!("| variant | 1 thread (M calls/s) | 2 threads (M calls/s) | 2 threads / 1 thread |");
    println!("|---|---:|---:|---:|");
    for index in [0, 3, 4, 5] {
        let (name, f) = VARIANTS[index];
        let calls = (THROUGHPUT_RUN_SECONDS * 1e9 / per_call[index].1) as u64;
        let mut one = Vec::new();
        let mut two = Vec::new();
        for _ in 0..batches {
            one.push(throughput(f, 1, calls));
            two.push(throughput(f, 2, calls));
        }
        let (one, two) = (median(one), median(two));
        println!("| {name} | {:.1} | {:.1} | {:.2} |", one / 1e6, two / 1e6, two / one);
    }
}

/// `#[track_request]` with exemplars off and on, with no span current and with a sampled one, as
/// an interleaved A/B: the four configurations take turns batch by batch, in one run.
fn exemplars(batches: usize) {
    use obs_runtime::context::SpanContext;
    use obs_runtime::metrics::set_exemplars;
    let sampled = SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .expect("the W3C example parses");
    // (name, exemplars on, in a sampled span)
    let configs = [
        ("no span, exemplars off", false, false),
        ("no span, exemplars on", true, false),
        ("sampled span, exemplars off", false, true),
        ("sampled span, exemplars on", true, true),
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); configs.len()];
    let mut bare = Vec::new();
    for _ in 0..batches {
        bare.push(batch(VARIANTS[0].1, CALLS_PER_BATCH));
        for (index, (_, on, in_span)) in configs.iter().enumerate() {
            set_exemplars(*on);
            let _current = in_span.then(|| sampled.attach());
            samples[index].push(batch(obs_tracked, CALLS_PER_BATCH));
        }
    }
    set_exemplars(true);
    let bare = median(bare);
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    println!("## Exemplars: interleaved A/B (median of {batches} batches of {CALLS_PER_BATCH} calls, one thread)\n");
    println!("| configuration | ns/call | added over bare (ns) |");
    println!("|---|---:|---:|");
    for ((name, ..), ns) in configs.iter().zip(&medians) {
        println!("| {name} | {ns:.1} | {:.1} |", ns - bare);
    }
    println!(
        "\nExemplars on add {:.1} ns per call with no span current, {:.1} ns in a sampled span.\n",
        medians[1] - medians[0],
        medians[3] - medians[2]
    );

    // A hand-written counter's `inc`, without and with `with_exemplars`, interleaved the same way.
    use obs_runtime::metrics::Counter;
    let plain = Counter::register("bench_plain_total", "No exemplars").expect("registers");
    let opted = Counter::register("bench_opted_total", "Exemplars").expect("registers").with_exemplars();
    let increments = |counter: &Counter| {
        let start = Instant::now();
        for _ in 0..CALLS_PER_BATCH {
            black_box(counter).inc();
        }
        start.elapsed().as_nanos() as f64 / CALLS_PER_BATCH as f64
    };
    // (name, counter, in a sampled span)
    let counters = [
        ("Counter::inc, no with_exemplars", &plain, false),
        ("Counter::inc, no with_exemplars, sampled span", &plain, true),
        ("Counter::inc, with_exemplars, no span", &opted, false),
        ("Counter::inc, with_exemplars, sampled span", &opted, true),
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); counters.len()];
    for _ in 0..batches {
        for (index, (_, counter, in_span)) in counters.iter().enumerate() {
            let _current = in_span.then(|| sampled.attach());
            samples[index].push(increments(counter));
        }
    }
    println!("| hand-written counter | ns/inc |");
    println!("|---|---:|");
    for ((name, ..), samples) in counters.iter().zip(samples) {
        println!("| {name} | {:.1} |", median(samples));
    }
    println!();
}

/// `#[track_request]` with obs's `testing` feature compiled in (`--features testing`), as an
/// interleaved A/B: no scope alive, a scope alive while the calls are outside it, and the calls
/// inside a scope (which record into shards of the scope's own). The feature-off build is the same
/// bench run without the feature: compare its `#[track_request]` row with this run's.
#[cfg(feature = "testing")]
fn scopes(batches: usize) {
    use obs_runtime::testing::Scope;
    let mut bare = Vec::new();
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); 3];
    for _ in 0..batches {
        bare.push(batch(VARIANTS[0].1, CALLS_PER_BATCH));
        samples[0].push(batch(obs_tracked, CALLS_PER_BATCH));
        let elsewhere = Scope::new();
        samples[1].push(batch(obs_tracked, CALLS_PER_BATCH));
        drop(elsewhere);
        let scope = Scope::new();
        samples[2].push(scope.run(|| batch(obs_tracked, CALLS_PER_BATCH)));
    }
    let bare = median(bare);
    println!(
        "## testing::Scope: interleaved A/B (median of {batches} batches of {CALLS_PER_BATCH} calls, one thread)\n"
    );
    println!("| configuration | ns/call | added over bare (ns) |");
    println!("|---|---:|---:|");
    let names = ["no scope alive", "a scope alive, calls outside it", "calls inside a scope"];
    for (name, samples) in names.iter().zip(samples) {
        let ns = median(samples);
        println!("| {name} | {ns:.1} | {:.1} |", ns - bare);
    }
    println!();
}
