//! OTLP export throughput: obs's OTLP/HTTP protobuf exporter against opentelemetry_sdk 0.33's
//! `BatchSpanProcessor` with opentelemetry-otlp 0.33 (HTTP protobuf, the blocking reqwest client),
//! each without and with gzip, to a loopback OTLP/HTTP receiver.
//!
//! Six configurations (obs none, obs gzip; bridge none, bridge gzip: obs's pipeline exporting
//! through obs-opentelemetry's `OtelExporter` wrapping opentelemetry-otlp's exporter; otel none,
//! otel gzip), each run in a process of its own (one obs pipeline per process): this binary re-executes itself with `--run CONFIG PORT`.
//! The receiver is a third process (`--receiver`): a hyper HTTP/1.1 server on one thread that
//! answers `POST /v1/traces` with 200, `content-type: application/x-protobuf` and an empty body,
//! and keeps the bodies; between runs it decodes them (gzip too) and counts the spans that arrived,
//! so a silent drop is seen. There, between runs, it also times gzip of one 512-span request at
//! flate2's `fast()` (obs's level) and `default()` (opentelemetry-otlp's), to tell the compression
//! level from the rest of the exporters' cost.
//!
//! One run: the pipeline is built, 20,000 spans are made and flushed (warm-up: connections,
//! buffers), then `SPANS` spans are made as fast as one thread can (`name "op"`, one integer
//! attribute each, a root span each) and flushed. Measured from the first span to the flush's
//! return: wall time (spans per second end to end), the CPU time of every thread of the process
//! but the main one (the export's CPU: obs's `obs-spans` and `obs` threads; the SDK's batch thread
//! and reqwest's blocking-client thread; process CPU clock minus the main thread's, so a thread
//! that exits is counted too), and the main thread's CPU (the producer's). Both pipelines: batch
//! 512, queue 262,144 (more than a run's spans: nothing can be dropped for a full queue), delay
//! 100 ms. Medians of `REPS` runs per configuration, the configurations interleaved run by run.
//!
//!   cargo bench --manifest-path benches/Cargo.toml --bench export

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{cpu_clocks, field};

const SPANS: u64 = 200_000;
const WARM_UP: u64 = 20_000;
const REPS: usize = 11;
const QUEUE: usize = 1 << 18;
const BATCH: usize = 512;
const DELAY: Duration = Duration::from_millis(100);
const CONFIGS: [&str; 6] = ["obs-none", "obs-gzip", "bridge-none", "bridge-gzip", "otel-none", "otel-gzip"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--receiver") {
        return receiver();
    }
    if let Some(at) = args.iter().position(|arg| arg == "--run") {
        let port: u16 = args[at + 2].parse().expect("a port");
        let spans = if args.iter().any(|arg| arg == "--quick") { SPANS / 10 } else { SPANS };
        return run_one(&args[at + 1], port, spans);
    }
    // `cargo test --benches` passes no `--bench`: a quick pass then.
    let quick = args.iter().any(|arg| arg == "--quick") || !args.iter().any(|arg| arg == "--bench");
    orchestrate(quick);
}

// ---------------------------------------------------------------------------------------------
// Threads

/// Each live thread's (tid, name, CPU ns on its schedstat).
fn threads() -> Vec<(String, String, u64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("/proc/self/task").flatten() {
        let dir = entry.path();
        let tid = entry.file_name().to_string_lossy().into_owned();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim().to_owned();
        let ns = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
            .unwrap_or(0);
        out.push((tid, name, ns));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// One configuration, in its own process

fn run_one(config: &str, port: u16, spans: u64) {
    let gzip = config.ends_with("gzip");
    // opentelemetry-otlp's exporter, for the SDK's processor or obs's pipeline (the bridge).
    let otlp_exporter = || {
        use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
        let mut builder = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(format!("http://127.0.0.1:{port}/v1/traces"));
        if gzip {
            builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
        }
        builder.build().expect("the OTLP exporter builds")
    };
    if config.starts_with("obs") || config.starts_with("bridge") {
        // `TraceConfig::compression` takes `obs_runtime::trace::Compression`, which the crate does
        // not re-export (not nameable from outside): the compression goes in through the
        // environment given to the builder instead (nothing else in it).
        let compression = if gzip { "gzip" } else { "none" };
        let output = if config.starts_with("bridge") {
            let bridge = obs_opentelemetry::OtelExporter::new(otlp_exporter());
            obs_runtime::trace::TraceConfig::new().output(obs_runtime::trace::SpanOutput::Exporter(Box::new(bridge)))
        } else {
            obs_runtime::trace::TraceConfig::new().otlp_endpoint(format!("http://127.0.0.1:{port}"))
        };
        let obs = obs_runtime::Obs::builder()
            .service("bench")
            .environment(obs_runtime::Environment::from_pairs([("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", compression)]))
            .without_http_server()
            .tracing(output.max_queue_size(QUEUE).max_export_batch_size(BATCH).schedule_delay(DELAY))
            .init()
            .expect("obs's pipeline installs");
        let guard = obs.traces().expect("tracing is on");
        let make = |n: u64| {
            for i in 0..n {
                let span = obs_runtime::trace::Span::new("op");
                span.set_attribute("i", i as i64);
            }
        };
        make(WARM_UP);
        assert!(guard.flush(), "obs flushes the warm-up");
        let measured = measure(|| {
            make(spans);
            guard.flush()
        });
        report(config, measured, Some((guard.exported(), guard.dropped())));
        drop(obs);
    } else {
        use opentelemetry::KeyValue;
        use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
        let exporter = otlp_exporter();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_resource(opentelemetry_sdk::Resource::builder().with_service_name("bench").build())
            .with_span_processor(
                opentelemetry_sdk::trace::BatchSpanProcessor::builder(exporter)
                    .with_batch_config(
                        opentelemetry_sdk::trace::BatchConfigBuilder::default()
                            .with_max_queue_size(QUEUE)
                            .with_max_export_batch_size(BATCH)
                            .with_scheduled_delay(DELAY)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let tracer = provider.tracer("bench");
        let make = |n: u64| {
            for i in 0..n {
                let mut span = tracer.start("op");
                span.set_attribute(KeyValue::new("i", i as i64));
            }
        };
        make(WARM_UP);
        provider.force_flush().expect("the SDK flushes the warm-up");
        let measured = measure(|| {
            make(spans);
            provider.force_flush().is_ok()
        });
        report(config, measured, None);
        let _ = provider.shutdown();
    }
}

struct Measured {
    wall_ns: u64,
    export_cpu_ns: u64,
    main_cpu_ns: u64,
    flushed: bool,
    /// Per thread name: CPU ns during the run (live threads only).
    by_thread: Vec<(String, u64)>,
}

fn measure(work: impl FnOnce() -> bool) -> Measured {
    let threads_before = threads();
    let (process_before, main_before) = cpu_clocks();
    let start = Instant::now();
    let flushed = work();
    let wall_ns = start.elapsed().as_nanos() as u64;
    let (process_after, main_after) = cpu_clocks();
    let threads_after = threads();
    let main_cpu_ns = main_after - main_before;
    let export_cpu_ns = (process_after - process_before).saturating_sub(main_cpu_ns);
    let main_tid = std::process::id().to_string();
    let mut by_thread: Vec<(String, u64)> = Vec::new();
    for (tid, name, after) in threads_after {
        if tid == main_tid {
            continue;
        }
        let before = threads_before.iter().find(|(t, _, _)| *t == tid).map_or(0, |(_, _, ns)| *ns);
        let ns = after.saturating_sub(before);
        match by_thread.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += ns,
            None => by_thread.push((name, ns)),
        }
    }
    Measured { wall_ns, export_cpu_ns, main_cpu_ns, flushed, by_thread }
}

fn report(config: &str, m: Measured, obs_counts: Option<(u64, u64)>) {
    let (exported, dropped) = obs_counts.map_or((-1, -1), |(e, d)| (e as i64, d as i64));
    println!(
        "RESULT {config} wall_ns={} export_cpu_ns={} main_cpu_ns={} flushed={} exported={exported} dropped={dropped}",
        m.wall_ns, m.export_cpu_ns, m.main_cpu_ns, m.flushed
    );
    for (name, ns) in m.by_thread {
        println!("THREAD {config} {} {ns}", name.replace(' ', "_"));
    }
}

// ---------------------------------------------------------------------------------------------
// The receiver, in its own process

#[derive(Default)]
struct Received {
    requests: u64,
    bytes: u64,
    not_traces: u64,
    bodies: Vec<(bool, hyper::body::Bytes)>,
}

/// The receiver (`support::run_receiver` on `/v1/traces`): keeps the bodies; between runs, decodes
/// them and counts the spans that arrived, and times gzip.
fn receiver() {
    let keep = |received: &mut Received, is_traces: bool, gzip: bool, body: hyper::body::Bytes| {
        received.requests += 1;
        received.bytes += body.len() as u64;
        if is_traces {
            received.bodies.push((gzip, body));
        } else {
            received.not_traces += 1;
        }
    };
    support::run_receiver("/v1/traces", keep, |received: Received| {
        let (mut spans, mut raw_bytes, mut undecodable) = (0u64, 0u64, 0u64);
        // One full request's protobuf (a batch of 512), to time gzip at both levels below.
        let mut sample: Option<(Vec<u8>, u64)> = None;
        for (gzip, body) in &received.bodies {
            let raw = if *gzip {
                let mut out = Vec::new();
                if flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out).is_err() {
                    undecodable += 1;
                    continue;
                }
                out
            } else {
                body.to_vec()
            };
            raw_bytes += raw.len() as u64;
            use prost::Message as _;
            match opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(&raw[..]) {
                Ok(request) => {
                    let n = request
                        .resource_spans
                        .iter()
                        .flat_map(|r| &r.scope_spans)
                        .map(|s| s.spans.len() as u64)
                        .sum::<u64>();
                    spans += n;
                    if sample.is_none() && n == BATCH as u64 {
                        sample = Some((raw, n));
                    }
                }
                Err(_) => undecodable += 1,
            }
        }
        // gzip of that request at flate2's `fast()` (level 1, obs's) and `default()` (level 6,
        // opentelemetry-otlp's), here between runs, with nothing else running: ns per span.
        let (gzip_fast, gzip_default) = sample.map_or((0, 0), |(raw, n)| {
            let time = |level: flate2::Compression| {
                let mut best = u64::MAX;
                for _ in 0..15 {
                    let start = Instant::now();
                    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(raw.len()), level);
                    encoder.write_all(&raw).unwrap();
                    std::hint::black_box(encoder.finish().unwrap());
                    best = best.min(start.elapsed().as_nanos() as u64);
                }
                best / n
            };
            (time(flate2::Compression::fast()), time(flate2::Compression::default()))
        });
        format!(
            "requests={} bytes={} raw_bytes={raw_bytes} spans={spans} not_traces={} undecodable={undecodable} gzip_fast={gzip_fast} gzip_default={gzip_default}",
            received.requests, received.bytes, received.not_traces
        )
    });
}

// ---------------------------------------------------------------------------------------------
// The driver

struct Run {
    wall_ns: u64,
    export_cpu_ns: u64,
    main_cpu_ns: u64,
    requests: u64,
    bytes: u64,
    raw_bytes: u64,
    spans_received: u64,
    gzip_fast_ns: u64,
    gzip_default_ns: u64,
    by_thread: Vec<(String, u64)>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

fn orchestrate(quick: bool) {
    let exe = std::env::current_exe().expect("the bench's own path");
    let reps = if quick { 1 } else { REPS };
    let spans = if quick { SPANS / 10 } else { SPANS };

    let mut receiver = support::Receiver::start();
    let port = receiver.port;

    println!(
        "# OTLP/HTTP protobuf export throughput: {spans} spans per run (+{WARM_UP} warm-up), batch {BATCH}, \
         queue {QUEUE}, delay {} ms, {reps} runs per configuration, interleaved\n",
        DELAY.as_millis()
    );
    let mut runs: Vec<Vec<Run>> = (0..CONFIGS.len()).map(|_| Vec::new()).collect();
    let mut problems = Vec::new();
    for rep in 0..reps {
        for k in 0..CONFIGS.len() {
            // Rotate the order run by run, so that no configuration always goes first.
            let index = (k + rep) % CONFIGS.len();
            let config = CONFIGS[index];
            let mut command = Command::new(&exe);
            command.args(["--run", config, &port.to_string()]);
            if quick {
                command.arg("--quick");
            }
            let output = command.stderr(Stdio::inherit()).output().expect("the run starts");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let received = receiver.stats();
            assert!(output.status.success(), "{config} failed: {stdout}");
            let result = stdout.lines().find(|l| l.starts_with("RESULT ")).expect("a RESULT line");
            let by_thread: Vec<(String, u64)> = stdout
                .lines()
                .filter_map(|l| l.strip_prefix("THREAD "))
                .map(|l| {
                    let mut words = l.split_whitespace().skip(1);
                    (words.next().unwrap().to_owned(), words.next().unwrap().parse().unwrap())
                })
                .collect();
            let run = Run {
                wall_ns: field(result, "wall_ns"),
                export_cpu_ns: field(result, "export_cpu_ns"),
                main_cpu_ns: field(result, "main_cpu_ns"),
                requests: field(&received, "requests"),
                bytes: field(&received, "bytes"),
                raw_bytes: field(&received, "raw_bytes"),
                spans_received: field(&received, "spans"),
                gzip_fast_ns: field(&received, "gzip_fast"),
                gzip_default_ns: field(&received, "gzip_default"),
                by_thread,
            };
            let expected = spans + WARM_UP;
            if !result.contains("flushed=true") {
                problems.push(format!("{config} run {rep}: the flush did not finish: {result}"));
            }
            if !config.starts_with("otel") && (field(result, "exported") != expected || field(result, "dropped") != 0) {
                problems.push(format!("{config} run {rep}: obs's counts: {result}"));
            }
            if run.spans_received != expected
                || field(&received, "not_traces") != 0
                || field(&received, "undecodable") != 0
            {
                problems
                    .push(format!("{config} run {rep}: expected {expected} spans; the receiver: {}", received.trim()));
            }
            println!(
                "run {rep} {config:>9}: {:>9.0} spans/s, export CPU {:>6.0} ns/span, main {:>6.0} ns/span, {} requests, {:.1} B/span on the wire ({:.1} B/span protobuf), received {} spans; threads: {}",
                spans as f64 / (run.wall_ns as f64 / 1e9),
                run.export_cpu_ns as f64 / spans as f64,
                run.main_cpu_ns as f64 / spans as f64,
                run.requests,
                run.bytes as f64 / run.spans_received.max(1) as f64,
                run.raw_bytes as f64 / run.spans_received.max(1) as f64,
                run.spans_received,
                run.by_thread
                    .iter()
                    .filter(|(_, ns)| *ns > 0)
                    .map(|(name, ns)| format!("{name} {:.0}", *ns as f64 / spans as f64))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            runs[index].push(run);
        }
    }
    drop(receiver);

    struct Row {
        spans_per_s: f64,
        export_ns: f64,
        main_ns: f64,
        wire: f64,
        raw: f64,
    }
    let rows: Vec<Row> = runs
        .iter()
        .map(|runs| Row {
            spans_per_s: median(runs.iter().map(|r| spans as f64 / (r.wall_ns as f64 / 1e9)).collect()),
            export_ns: median(runs.iter().map(|r| r.export_cpu_ns as f64 / spans as f64).collect()),
            main_ns: median(runs.iter().map(|r| r.main_cpu_ns as f64 / spans as f64).collect()),
            wire: median(runs.iter().map(|r| r.bytes as f64 / r.spans_received.max(1) as f64).collect()),
            raw: median(runs.iter().map(|r| r.raw_bytes as f64 / r.spans_received.max(1) as f64).collect()),
        })
        .collect();
    println!("\n## Medians of {reps} runs each\n");
    println!(
        "| configuration | spans/s end to end | export CPU ns/span (all threads but main) | producer (main thread) CPU ns/span | bytes/span on the wire | protobuf bytes/span |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (config, row) in CONFIGS.iter().zip(&rows) {
        println!(
            "| {config} | {:.0} | {:.0} | {:.0} | {:.1} | {:.1} |",
            row.spans_per_s, row.export_ns, row.main_ns, row.wire, row.raw
        );
    }
    println!("\n## obs / OpenTelemetry, same run (medians)\n");
    println!(
        "| compression | spans/s obs / otel | export CPU obs / otel | producer CPU obs / otel | wire bytes obs / otel |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, obs, otel) in [("none", 0, 2), ("gzip", 1, 3)] {
        let (a, b) = (&rows[obs], &rows[otel]);
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            a.spans_per_s / b.spans_per_s,
            a.export_ns / b.export_ns,
            a.main_ns / b.main_ns,
            a.wire / b.wire
        );
    }
    let all: Vec<&Run> = runs.iter().flatten().collect();
    println!(
        "\ngzip of one 512-span request body (the receiver, between runs, best of 15, median over all runs): \
         flate2 `fast()` (level 1, obs's) {:.0} ns/span, `default()` (level 6, opentelemetry-otlp's) {:.0} ns/span",
        median(all.iter().map(|r| r.gzip_fast_ns as f64).collect()),
        median(all.iter().map(|r| r.gzip_default_ns as f64).collect()),
    );
    println!("\n## Export CPU by thread name (ns/span, medians; live threads at the end of the run)\n");
    for (config, runs) in CONFIGS.iter().zip(&runs) {
        let mut names: Vec<&str> = runs.iter().flat_map(|r| r.by_thread.iter().map(|(n, _)| n.as_str())).collect();
        names.sort_unstable();
        names.dedup();
        let parts: Vec<String> = names
            .iter()
            .map(|name| {
                let ns = median(
                    runs.iter()
                        .map(|r| {
                            r.by_thread.iter().find(|(n, _)| n == name).map_or(0, |(_, ns)| *ns) as f64 / spans as f64
                        })
                        .collect(),
                );
                format!("{name} {ns:.0}")
            })
            .filter(|part| !part.ends_with(" 0"))
            .collect();
        println!("- {config}: {}", parts.join(", "));
    }
    println!("\n## Spans out\n");
    if problems.is_empty() {
        println!(
            "Every run: every span arrived at the receiver ({} per run, warm-up included), decoded; obs exported all and dropped none.",
            spans + WARM_UP
        );
    } else {
        for problem in &problems {
            println!("PROBLEM: {problem}");
        }
        std::process::exit(1);
    }
}
