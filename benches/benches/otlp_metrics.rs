//! Metrics over OTLP: one export of a 10,000-series registry, obs's `OtlpMetrics` against
//! opentelemetry_sdk 0.33's `PeriodicReader` with opentelemetry-otlp 0.33's `MetricExporter`
//! (HTTP protobuf, the blocking reqwest client), in the same process, interleaved round by round.
//!
//! The registry, the same shape on both sides: one monotonic counter, `route` as its one label,
//! 10,000 distinct values (`/api/items/0` to `/api/items/9999`), each counted once. obs: the
//! `CounterVec` `bench_requests_total` (series limit raised to 10,000 with
//! `ObsBuilder::series_limit`; sent as `bench_requests`), and whatever else obs's registry holds
//! (the process metrics and obs's own, a few dozen points). The SDK: an `f64` `Counter`
//! `bench_requests` on an `SdkMeterProvider` (cardinality limit raised to 10,000 by a view) whose
//! one reader is a `PeriodicReader` over the exporter. obs's registry also holds a dozen one-point
//! metrics of its own (process metrics, `obs_build_info`, its export counters...), which it sends
//! too. Both cumulative, both with a 1-day interval so that only the bench's
//! exports run.
//!
//! One export: obs `guard.metrics_export().export_now()` (the registry read and encoded on obs's
//! blocking pool, the request sent on obs's background runtime, the answer awaited), the SDK
//! `SdkMeterProvider::force_flush()` (the reader's thread collects and exports; reqwest's blocking
//! client sends on its own thread; the answer awaited). Measured around that one call: wall time
//! and the process's CPU time (every thread: the caller only waits), with the allocation counting
//! off; then, in another export right after it, the allocations, the bytes asked for and the peak
//! of the bytes live above those before, by every thread of the process (a counting global
//! allocator, whose shared atomics would add to the time). Each round exports obs's and the SDK's
//! registry so, the two alternating which goes first. The receiver is another process
//! (`support::run_receiver` on `/v1/metrics`: HTTP/1.1, 200 and an empty body), so its own work is
//! in the wall time only; after each export it decodes what arrived, and the bench checks it: one
//! request, 10,000 points of the bench's counter summing to 10,000, none in an overflow series.
//!
//! Then the instrumented calls: each timed on a thread of its own, with nothing else running and
//! while the main thread exports its side's registry back to back (the worst an interval can do):
//! obs's `Counter::inc()` on a handle, obs's `CounterVec::with_labels(..)?.inc()` on the exported
//! family, the SDK's `Counter::add` with the one attribute.
//!
//!   cargo bench --manifest-path benches/Cargo.toml --bench otlp_metrics

use std::time::{Duration, Instant};

mod support;

#[global_allocator]
static ALLOCATOR: support::CountingAllocator = support::CountingAllocator;

const SERIES: usize = 10_000;
const ROUNDS: usize = 21;
const WARM_UP: usize = 3;
/// Instrumented calls timed per case.
const CALLS: usize = 2_000_000;
/// obs's family; OTLP has it without `_total`, as the SDK's instrument is named.
const FAMILY: &str = "bench_requests_total";
const INSTRUMENT: &str = "bench_requests";
/// Long enough that no interval's export runs during the bench (obs's longest).
const INTERVAL: Duration = Duration::from_secs(86_400);
const SIDES: [&str; 2] = ["obs", "otel"];

fn route(i: usize) -> String {
    format!("/api/items/{i}")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--receiver") {
        return receiver();
    }
    // `cargo test --benches` passes no `--bench`: a quick pass then.
    let quick = args.iter().any(|arg| arg == "--quick") || !args.iter().any(|arg| arg == "--bench");
    run(if quick { 3 } else { ROUNDS });
}

// ---------------------------------------------------------------------------------------------
// The receiver, in its own process

#[derive(Default)]
struct Received {
    requests: u64,
    bytes: u64,
    not_metrics: u64,
    bodies: Vec<hyper::body::Bytes>,
}

/// Keeps the bodies of `POST /v1/metrics`; asked, decodes them: all the data points, those of
/// the bench's counter and their sum, any in an overflow series.
fn receiver() {
    let keep = |received: &mut Received, is_metrics: bool, _gzip: bool, body: hyper::body::Bytes| {
        received.requests += 1;
        received.bytes += body.len() as u64;
        if is_metrics {
            received.bodies.push(body);
        } else {
            received.not_metrics += 1;
        }
    };
    support::run_receiver("/v1/metrics", keep, |received: Received| {
        use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
        use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
        use prost::Message as _;
        let (mut points, mut bench_points, mut bench_sum, mut overflow, mut undecodable) =
            (0u64, 0u64, 0.0, 0u64, 0u64);
        for body in &received.bodies {
            let Ok(request) = ExportMetricsServiceRequest::decode(&body[..]) else {
                undecodable += 1;
                continue;
            };
            for metric in request.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics) {
                let numbers = match &metric.data {
                    Some(Data::Sum(sum)) => &sum.data_points[..],
                    Some(Data::Gauge(gauge)) => &gauge.data_points[..],
                    Some(Data::Histogram(histogram)) => {
                        points += histogram.data_points.len() as u64;
                        continue;
                    }
                    _ => continue,
                };
                points += numbers.len() as u64;
                if metric.name != INSTRUMENT {
                    continue;
                }
                for point in numbers {
                    bench_points += 1;
                    bench_sum += match point.value {
                        Some(Value::AsDouble(value)) => value,
                        Some(Value::AsInt(value)) => value as f64,
                        None => 0.0,
                    };
                    if point.attributes.iter().any(|kv| kv.key.contains("overflow")) {
                        overflow += 1;
                    }
                }
            }
        }
        format!(
            "requests={} bytes={} points={points} bench_points={bench_points} bench_sum={} overflow={overflow} not_metrics={} undecodable={undecodable}",
            received.requests, received.bytes, bench_sum as u64, received.not_metrics
        )
    });
}

// ---------------------------------------------------------------------------------------------
// The exports

struct Sample {
    wall_ns: u64,
    cpu_ns: u64,
    allocations: u64,
    bytes: u64,
    /// The most bytes live at once during the export, above those live before it.
    peak: u64,
    /// The receiver's `STATS` line for this export.
    received: String,
}

/// One export by `export` (true: it succeeded), measured; then what the receiver got of it.
/// `counted`: its allocations counted (the counting's atomics cost each allocation some time,
/// and obs and the SDK allocate differently: the times are taken with it off, in exports of
/// their own).
fn measure(receiver: &mut support::Receiver, counted: bool, export: impl FnOnce() -> bool) -> Sample {
    support::set_counting(counted);
    let (allocations, bytes, live) = (support::allocations(), support::allocated_bytes(), support::live_bytes());
    support::reset_peak();
    let (cpu, _) = support::cpu_clocks();
    let start = Instant::now();
    let ok = export();
    let wall_ns = start.elapsed().as_nanos() as u64;
    let (cpu_after, _) = support::cpu_clocks();
    let peak = (support::peak_live_bytes() - live).max(0) as u64;
    let (allocations, bytes) = (support::allocations() - allocations, support::allocated_bytes() - bytes);
    support::set_counting(true);
    assert!(ok, "the export failed");
    let received = receiver.stats();
    Sample { wall_ns, cpu_ns: cpu_after - cpu, allocations: allocations as u64, bytes, peak, received }
}

/// The time of each of `calls` calls of `call`, on a thread of its own, while `load` runs over
/// and over on this one (`None`: nothing); and how many times it ran.
fn latencies(call: &(dyn Fn() + Sync), load: Option<&(dyn Fn() + Sync)>, calls: usize) -> (Vec<u64>, usize) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let timed = scope.spawn(|| {
            let mut latencies = Vec::with_capacity(calls);
            for _ in 0..calls {
                let start = Instant::now();
                call();
                latencies.push(start.elapsed().as_nanos() as u64);
            }
            done.store(true, Ordering::Relaxed);
            latencies
        });
        let mut loads = 0;
        if let Some(load) = load {
            while !done.load(Ordering::Relaxed) {
                load();
                loads += 1;
            }
        }
        (timed.join().expect("the timed thread"), loads)
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn run(rounds: usize) {
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;

    let mut receiver = support::Receiver::start();
    let endpoint = format!("http://127.0.0.1:{}/v1/metrics", receiver.port);

    // obs: the export configured in code only (no environment read), no /metrics server.
    let obs = obs_runtime::Obs::builder()
        .environment(obs_runtime::Environment::empty())
        .service("bench")
        .without_http_server()
        .series_limit(FAMILY, SERIES)
        .otlp_metrics(
            obs_runtime::metrics::otlp::OtlpMetrics::new()
                .endpoint(endpoint.clone())
                .protocol(obs_runtime::trace::Protocol::HttpProtobuf)
                .interval(INTERVAL)
                .temporality(obs_runtime::metrics::otlp::Temporality::Cumulative),
        )
        .init()
        .expect("obs installs");
    let requests =
        obs_runtime::metrics::CounterVec::register(FAMILY, "Requests", &["route"]).expect("the family registers");
    for i in 0..SERIES {
        requests.with_labels(&[&route(i)]).expect("a series").inc();
    }
    let obs_export = obs.metrics_export().expect("the OTLP metrics export runs");

    // The SDK: a periodic reader over the OTLP/HTTP protobuf exporter, exporting when flushed.
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint.clone())
        .build()
        .expect("the OTLP metric exporter builds");
    let reader = opentelemetry_sdk::metrics::PeriodicReader::builder(exporter).with_interval(INTERVAL).build();
    let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
        .with_resource(opentelemetry_sdk::Resource::builder().with_service_name("bench").build())
        .with_reader(reader)
        .with_view(|instrument: &opentelemetry_sdk::metrics::Instrument| {
            (instrument.name() == INSTRUMENT)
                .then(|| opentelemetry_sdk::metrics::Stream::builder().with_cardinality_limit(SERIES).build().ok())
                .flatten()
        })
        .build();
    let counter = provider.meter("bench").f64_counter(INSTRUMENT).with_description("Requests").build();
    for i in 0..SERIES {
        counter.add(1.0, &[opentelemetry::KeyValue::new("route", route(i))]);
    }

    let export = |side: usize, counted: bool, receiver: &mut support::Receiver| match side {
        0 => measure(receiver, counted, || obs_export.export_now().is_ok()),
        _ => measure(receiver, counted, || provider.force_flush().is_ok()),
    };

    // Warm-up: connections, buffers, the first collection.
    for _ in 0..WARM_UP {
        for side in 0..SIDES.len() {
            export(side, false, &mut receiver);
            export(side, true, &mut receiver);
        }
    }

    println!(
        "# Metrics over OTLP/HTTP protobuf: one export of a {SERIES}-series counter, obs against the OpenTelemetry SDK \
         ({rounds} rounds, the two alternating which goes first, after {WARM_UP} warm-up rounds)\n"
    );
    let mut samples: Vec<Vec<Sample>> = (0..SIDES.len()).map(|_| Vec::new()).collect();
    let mut problems = Vec::new();
    for round in 0..rounds {
        for k in 0..SIDES.len() {
            let side = (k + round) % SIDES.len();
            // Timed, then counted (another export of the same registry).
            let mut sample = export(side, false, &mut receiver);
            let counted = export(side, true, &mut receiver);
            for received in [&sample.received, &counted.received] {
                let field = |key: &str| support::field(received, key);
                if field("requests") != 1
                    || field("bench_points") != SERIES as u64
                    || field("bench_sum") != SERIES as u64
                    || field("overflow") != 0
                    || field("not_metrics") != 0
                    || field("undecodable") != 0
                {
                    problems.push(format!("{} round {round}: {}", SIDES[side], received.trim()));
                }
            }
            println!(
                "round {round:>2} {:>4}: {:>6.2} ms, CPU {:>6.2} ms (counted: {:>6.2} ms), {:>6} allocations, {:>9} bytes allocated, peak +{:>9} bytes live, {} points, {} bytes on the wire",
                SIDES[side],
                sample.wall_ns as f64 / 1e6,
                sample.cpu_ns as f64 / 1e6,
                counted.wall_ns as f64 / 1e6,
                counted.allocations,
                counted.bytes,
                counted.peak,
                support::field(&sample.received, "points"),
                support::field(&sample.received, "bytes"),
            );
            (sample.allocations, sample.bytes, sample.peak) = (counted.allocations, counted.bytes, counted.peak);
            samples[side].push(sample);
        }
    }

    struct Row {
        wall_ms: f64,
        cpu_ms: f64,
        allocations: f64,
        bytes: f64,
        peak: f64,
        points: f64,
        wire: f64,
    }
    let rows: Vec<Row> = samples
        .iter()
        .map(|samples| Row {
            wall_ms: median(samples.iter().map(|s| s.wall_ns as f64 / 1e6).collect()),
            cpu_ms: median(samples.iter().map(|s| s.cpu_ns as f64 / 1e6).collect()),
            allocations: median(samples.iter().map(|s| s.allocations as f64).collect()),
            bytes: median(samples.iter().map(|s| s.bytes as f64).collect()),
            peak: median(samples.iter().map(|s| s.peak as f64).collect()),
            points: median(samples.iter().map(|s| support::field(&s.received, "points") as f64).collect()),
            wire: median(samples.iter().map(|s| support::field(&s.received, "bytes") as f64).collect()),
        })
        .collect();
    let names = [
        "obs `OtlpMetrics`: `export_now()`",
        "OpenTelemetry SDK `PeriodicReader` + opentelemetry-otlp: `force_flush()`",
    ];
    println!("\n## One export: medians of {rounds} exports each\n");
    println!(
        "| exporter | ms/export (wall) | CPU ms/export (process) | allocations/export | allocations/point | MB allocated/export | peak MB live above before | data points | bytes on the wire |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, row) in names.iter().zip(&rows) {
        println!(
            "| {name} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.0} |",
            row.wall_ms,
            row.cpu_ms,
            row.allocations,
            row.allocations / row.points,
            row.bytes / 1e6,
            row.peak / 1e6,
            row.points,
            row.wire
        );
    }
    // Per round (obs and the SDK in the same seconds of the machine), then the median.
    let ratio = |value: fn(&Sample) -> f64| {
        median(samples[0].iter().zip(&samples[1]).map(|(obs, otel)| value(obs) / value(otel)).collect())
    };
    println!("\n## obs / OpenTelemetry (median of the per-round ratios)\n");
    println!("| wall time | CPU | allocations | bytes allocated | peak bytes live | bytes on the wire |");
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
        ratio(|s| s.wall_ns as f64),
        ratio(|s| s.cpu_ns as f64),
        ratio(|s| s.allocations as f64),
        ratio(|s| s.bytes as f64),
        ratio(|s| s.peak as f64),
        ratio(|s| support::field(&s.received, "bytes") as f64),
    );
    let spread = |side: usize, value: fn(&Sample) -> u64| {
        let values: Vec<u64> = samples[side].iter().map(value).collect();
        (*values.iter().min().unwrap(), *values.iter().max().unwrap())
    };
    println!();
    for (side, name) in SIDES.iter().enumerate() {
        let (wall_min, wall_max) = spread(side, |s| s.wall_ns);
        let (alloc_min, alloc_max) = spread(side, |s| s.allocations);
        println!(
            "{name}: wall {:.2} to {:.2} ms over the rounds, allocations {alloc_min} to {alloc_max}",
            wall_min as f64 / 1e6,
            wall_max as f64 / 1e6
        );
    }

    // Instrumented calls, each timed, on a thread of their own: with no export running, and
    // while this thread exports back to back (the worst an interval can do).
    let handle = requests.with_labels(&[&route(42)]).expect("a series");
    let attributes = [opentelemetry::KeyValue::new("route", route(42))];
    let calls = if rounds < ROUNDS { CALLS / 10 } else { CALLS };
    let obs_load = || {
        obs_export.export_now().expect("obs exports");
    };
    let otel_load = || provider.force_flush().expect("the SDK exports");
    let obs_inc = || handle.inc();
    let obs_with_labels = || requests.with_labels(&[&route(42)]).expect("a series").inc();
    let otel_add = || counter.add(1.0, &attributes);
    type Case<'a> = (&'a str, &'a (dyn Fn() + Sync), &'a str, Option<&'a (dyn Fn() + Sync)>);
    let cases: [Case; 6] = [
        ("obs `Counter::inc()` (a handle)", &obs_inc, "none", None),
        ("obs `Counter::inc()` (a handle)", &obs_inc, "obs `export_now()`", Some(&obs_load)),
        ("obs `CounterVec::with_labels(..)?.inc()`", &obs_with_labels, "none", None),
        ("obs `CounterVec::with_labels(..)?.inc()`", &obs_with_labels, "obs `export_now()`", Some(&obs_load)),
        ("OpenTelemetry `Counter::add(1.0, &[route])`", &otel_add, "none", None),
        ("OpenTelemetry `Counter::add(1.0, &[route])`", &otel_add, "SDK `force_flush()`", Some(&otel_load)),
    ];
    println!(
        "\n## Instrumented calls: {calls} calls per case, each timed (`Instant` pairs), on one thread, while this one runs nothing or one export after another; the allocation counting off\n"
    );
    println!(
        "| call | meanwhile, back to back | median ns | p99 ns | p99.9 ns | max µs | calls over 100 µs | their median µs | exports during the calls |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    // Counting's shared atomics would slow the allocating calls while an export allocates.
    support::set_counting(false);
    for (name, call, label, load) in cases {
        let (mut latencies, exports) = latencies(call, load, calls);
        latencies.sort_unstable();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        let stalls: Vec<f64> = latencies.iter().filter(|ns| **ns > 100_000).map(|ns| *ns as f64 / 1e3).collect();
        println!(
            "| {name} | {label} | {} | {} | {} | {:.1} | {} | {} | {exports} |",
            at(0.5),
            at(0.99),
            at(0.999),
            *latencies.last().unwrap() as f64 / 1e3,
            stalls.len(),
            if stalls.is_empty() { "".to_owned() } else { format!("{:.0}", median(stalls)) },
        );
    }
    support::set_counting(true);
    receiver.stats();

    println!("\n## Points out\n");
    let _ = provider.shutdown();
    drop(obs);
    drop(receiver);
    if problems.is_empty() {
        println!(
            "Every export: one request, decoded by the receiver, with {SERIES} points of the counter summing to {SERIES}, none in an overflow series."
        );
    } else {
        for problem in &problems {
            println!("PROBLEM: {problem}");
        }
        std::process::exit(1);
    }
}
