//! The cost of a span per call: `#[trace_operation]` sampled and exported, and not sampled,
//! against the bare function, tracing's `#[instrument]` (registry alone, under a layer that does
//! nothing, and with
//! tracing-opentelemetry over the OpenTelemetry SDK's batch processor) and fastrace's `#[trace]`;
//! and tracing's `#[instrument]` through obs's bridge (`obs_runtime::trace::layer()`), sampled and
//! exported by obs's pipeline, and not sampled.
//!
//! Every exporter discards what it receives and counts it, so that the table only holds numbers
//! of spans that really went out: the counts, and the spans dropped, are printed at the end. obs
//! has one pipeline per process, which exports both `#[trace_operation]`'s spans and the bridged
//! ones: what it exported and dropped is attributed to the variant whose batch (and the flush
//! after it) it happened in.
//! Exporter threads run on the second core; their CPU time is not added to the caller's.
//!
//! A plain harness, on purpose, as in `track_request.rs`: every variant runs the same loop of
//! calls, timed in batches interleaved variant by variant, and the median batch is reported, so
//! all numbers come from one run on one machine. Run with
//! `cargo bench --manifest-path benches/Cargo.toml --bench trace` on a quiet machine.

mod support;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use obs_runtime::context::SpanContext;
use obs_runtime::trace::{SpanOutput, TraceConfig};
use opentelemetry::trace::TracerProvider as _;
use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt as _;

const CALLS_PER_BATCH: u64 = 200_000;
const BATCHES: usize = 15;
/// fastrace keeps a local root's children in a thread-local queue of 10,240 spans (more are not
/// recorded): a new root every this many calls, as fastrace's own benchmark does.
const FASTRACE_CHILDREN_PER_ROOT: u64 = 10_000;
/// Bridged spans kept alive around the batches of the crowded bridge variant: more than a few
/// of the layer's buckets of seven hold (the first fills at about 1,000 alive).
const HELD_ALIVE: u64 = 2_000;
/// A parent whose trace is not sampled: with the default `ParentBased(AlwaysOn)` sampler its
/// children are not sampled either.
const UNSAMPLED_PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";

// The function every variant wraps: a little real work that the optimiser cannot remove.
#[inline(never)]
fn work(x: u64) -> u64 {
    black_box(x).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 7
}

fn bare(x: u64) -> u64 {
    work(x)
}

#[obs_runtime::trace_operation("op")]
fn obs_traced(x: u64) -> u64 {
    work(x)
}

// `skip_all`: obs records no argument unless asked to (`args`), so neither does the peer.
#[tracing::instrument(name = "op", skip_all)]
fn tracing_instrumented(x: u64) -> u64 {
    work(x)
}

#[fastrace::trace(name = "op")]
fn fastrace_traced(x: u64) -> u64 {
    work(x)
}

/// The OpenTelemetry SDK's exporter: counts and discards.
#[derive(Debug)]
struct OtelDiscard(Arc<AtomicU64>);

impl opentelemetry_sdk::trace::SpanExporter for OtelDiscard {
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// fastrace's reporter: counts and discards (its `ConsoleReporter` prints).
struct FastraceDiscard(Arc<AtomicU64>);

impl fastrace::collector::Reporter for FastraceDiscard {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        self.0.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

/// Nanoseconds per call of one batch of calls of `f` (called through the pointer, as every variant).
#[inline(never)]
fn batch(f: fn(u64) -> u64, calls: u64) -> f64 {
    let start = Instant::now();
    for i in 1..=calls {
        black_box(f(black_box(i)));
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

type Variant<'a> = (&'static str, Box<dyn Fn(u64) -> f64 + 'a>);

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would too: a quick pass then.
    let quick = std::env::args().any(|arg| arg == "--quick");
    let batches = if quick { 3 } else { BATCHES };

    // obs: the global pipeline, installed once, to an exporter that counts.
    let obs_exported = Arc::new(AtomicU64::new(0));
    let obs = obs_runtime::Obs::builder()
        .service("bench")
        .without_http_server()
        .tracing(
            TraceConfig::new()
                .output(SpanOutput::Exporter(Box::new(support::Counting(obs_exported.clone()))))
                .max_queue_size(1 << 20)
                .max_export_batch_size(512)
                .schedule_delay(Duration::from_millis(10)),
        )
        .init()
        .expect("obs's trace pipeline installs");
    let guard = obs.traces().expect("tracing is on");
    let unsampled = SpanContext::from_traceparent(UNSAMPLED_PARENT).expect("a valid traceparent");

    // tracing: the registry alone, and the registry with tracing-opentelemetry over the SDK's
    // batch processor (the same queue, batch and delay as obs's, but a queue of 65,536: the SDK
    // allocates its queue up front, and touching 1,048,576 slots would charge page faults to the
    // first batches).
    let otel_exported = Arc::new(AtomicU64::new(0));
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(
            opentelemetry_sdk::trace::BatchSpanProcessor::builder(OtelDiscard(otel_exported.clone()))
                .with_batch_config(
                    opentelemetry_sdk::trace::BatchConfigBuilder::default()
                        .with_max_queue_size(1 << 16)
                        .with_max_export_batch_size(512)
                        .with_scheduled_delay(Duration::from_millis(10))
                        .build(),
                )
                .build(),
        )
        .build();
    let registry = Dispatch::new(tracing_subscriber::registry());
    // `registry()` alone never frees a closed span (it does so only under a layer:
    // tokio-rs/tracing#900), so its row pays page faults for ever-new slots; the registry as any
    // real subscriber uses it is this one, under a layer that does nothing.
    let registry_working =
        Dispatch::new(tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new()));
    let otel = Dispatch::new(
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"))),
    );
    // tracing through obs's bridge: the registry with obs's layer (its defaults), exported by
    // obs's pipeline above, to the same counting exporter as `#[trace_operation]`'s spans.
    let bridge = Dispatch::new(tracing_subscriber::registry().with(obs_runtime::trace::layer()));

    // fastrace: a reporter that counts, reporting as often as obs exports.
    let fastrace_reported = Arc::new(AtomicU64::new(0));
    fastrace::set_reporter(
        FastraceDiscard(fastrace_reported.clone()),
        fastrace::collector::Config::default().report_interval(Duration::from_millis(10)),
    );

    // Spans each variant made, to compare with what went out.
    let obs_started = AtomicU64::new(0);
    let otel_started = AtomicU64::new(0);
    let bridge_started = AtomicU64::new(0);
    let fastrace_started = AtomicU64::new(0);

    let variants: Vec<Variant<'_>> = vec![
        ("bare function", Box::new(|calls| batch(bare, calls))),
        (
            "obs `#[trace_operation]`, sampled (a root span per call), exported",
            Box::new(|calls| {
                obs_started.fetch_add(calls, Ordering::Relaxed);
                batch(obs_traced, calls)
            }),
        ),
        (
            "obs `#[trace_operation]`, sampled, child of an entered obs span, exported",
            Box::new(|calls| {
                obs_started.fetch_add(calls + 1, Ordering::Relaxed);
                let parent = obs_runtime::trace::Span::new("parent");
                let _in_parent = parent.enter();
                batch(obs_traced, calls)
            }),
        ),
        (
            "obs `#[trace_operation]`, not sampled (child of an unsampled parent)",
            Box::new(|calls| {
                let _attached = unsampled.attach();
                batch(obs_traced, calls)
            }),
        ),
        (
            "tracing `#[instrument]`, `registry()`",
            Box::new(|calls| tracing::dispatcher::with_default(&registry, || batch(tracing_instrumented, calls))),
        ),
        (
            "tracing `#[instrument]` + tracing-opentelemetry, batch processor (a root span per call), exported",
            Box::new(|calls| {
                otel_started.fetch_add(calls, Ordering::Relaxed);
                tracing::dispatcher::with_default(&otel, || batch(tracing_instrumented, calls))
            }),
        ),
        (
            "tracing `#[instrument]` through obs's bridge (`registry().with(obs_runtime::trace::layer())`), sampled (a root span per call), exported",
            Box::new(|calls| {
                bridge_started.fetch_add(calls, Ordering::Relaxed);
                tracing::dispatcher::with_default(&bridge, || batch(tracing_instrumented, calls))
            }),
        ),
        (
            "tracing `#[instrument]` through obs's bridge, not sampled (child of an unsampled obs parent)",
            Box::new(|calls| {
                let _attached = unsampled.attach();
                tracing::dispatcher::with_default(&bridge, || batch(tracing_instrumented, calls))
            }),
        ),
        (
            "fastrace `#[trace]`, child of a local root (a root per 10,000 calls), reported",
            Box::new(|calls| {
                let f: fn(u64) -> u64 = black_box(fastrace_traced);
                let start = Instant::now();
                let mut done = 0;
                while done < calls {
                    let children = FASTRACE_CHILDREN_PER_ROOT.min(calls - done);
                    let root = fastrace::Span::root("root", fastrace::collector::SpanContext::random());
                    let _local_parent = root.set_local_parent();
                    for i in done + 1..=done + children {
                        black_box(f(black_box(i)));
                    }
                    done += children;
                    fastrace_started.fetch_add(children + 1, Ordering::Relaxed);
                }
                start.elapsed().as_nanos() as f64 / calls as f64
            }),
        ),
        ("fastrace `#[trace]`, no local parent (records nothing)", Box::new(|calls| batch(fastrace_traced, calls))),
        (
            "tracing `#[instrument]`, `registry().with(Identity::new())` (a layer that does nothing: closed spans freed)",
            Box::new(|calls| {
                tracing::dispatcher::with_default(&registry_working, || batch(tracing_instrumented, calls))
            }),
        ),
        (
            "tracing `#[instrument]` through obs's bridge, sampled, exported, with 2,000 other bridged spans alive (some of the layer's buckets full)",
            Box::new(|calls| {
                bridge_started.fetch_add(calls + HELD_ALIVE, Ordering::Relaxed);
                tracing::dispatcher::with_default(&bridge, || {
                    let held: Vec<tracing::Span> =
                        (0..HELD_ALIVE).map(|_| tracing::info_span!(parent: None, "held")).collect();
                    let ns = batch(tracing_instrumented, calls);
                    drop(held);
                    ns
                })
            }),
        ),
    ];

    // obs's spans exported and dropped in each variant's batches, and the flushes after them.
    let obs_counts = || (obs_exported.load(Ordering::Relaxed), guard.dropped());
    let mut obs_out_by_variant = vec![(0u64, 0u64); variants.len()];
    let settle = || {
        assert!(guard.flush(), "obs's pipeline flushes");
        let _ = provider.force_flush();
        fastrace::flush();
    };
    let mut run_and_settle = |index: usize, calls: u64| {
        let (exported_before, dropped_before) = obs_counts();
        let ns = (variants[index].1)(calls);
        settle();
        let (exported_after, dropped_after) = obs_counts();
        obs_out_by_variant[index].0 += exported_after - exported_before;
        obs_out_by_variant[index].1 += dropped_after - dropped_before;
        ns
    };

    for index in 0..variants.len() {
        run_and_settle(index, CALLS_PER_BATCH / 10); // warm up: thread-locals, queues, callsite interest, caches
    }

    println!("## Cost per call of a span (median of {batches} batches of {CALLS_PER_BATCH} calls, one thread)\n");
    println!("| variant | ns/call | added over bare (ns) | x bare |");
    println!("|---|---:|---:|---:|");
    // Interleave the variants batch by batch so that machine noise spreads over all of them. Each
    // batch's spans are exported while it runs (that contention is part of the cost), and what is
    // still queued is exported before the next batch starts, untimed: one pipeline's backlog never
    // runs during another variant's batch.
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..batches {
        for (index, samples) in samples.iter_mut().enumerate() {
            samples.push(run_and_settle(index, CALLS_PER_BATCH));
        }
    }
    let per_call: Vec<(&str, f64)> =
        variants.iter().zip(samples).map(|((name, _), samples)| (*name, median(samples))).collect();
    let bare_ns = per_call[0].1;
    for (name, ns) in &per_call {
        println!("| {name} | {ns:.1} | {:.1} | {:.2} |", ns - bare_ns, ns / bare_ns);
    }
    println!(
        "| obs, feature `trace` off | = bare | 0 | 1.00 (by construction: the attribute returns the function unchanged) |"
    );

    let added = |index: usize| per_call[index].1 - bare_ns;
    let (obs_root, obs_child, obs_unsampled) = (added(1), added(2), added(3));
    let (registry_added, otel_added) = (added(4), added(5));
    let (bridge_sampled, bridge_unsampled) = (added(6), added(7));
    let (fastrace_child, fastrace_none) = (added(8), added(9));
    let working_added = added(10);
    let bridge_crowded = added(11);
    println!("\n## Ratios of the time added over bare\n");
    println!(
        "| obs variant | / tracing registry | / tracing registry + no-op layer | / tracing + otel | / fastrace child |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (name, obs) in [("obs sampled, root", obs_root), ("obs sampled, child", obs_child)] {
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |",
            obs / registry_added,
            obs / working_added,
            obs / otel_added,
            obs / fastrace_child
        );
    }
    println!(
        "| obs not sampled | {:.2} | {:.2} | {:.2} | {:.2} (fastrace with no local parent: {:.1} ns added) |",
        obs_unsampled / registry_added,
        obs_unsampled / working_added,
        obs_unsampled / otel_added,
        obs_unsampled / fastrace_child,
        fastrace_none
    );
    println!(
        "\nTargets: sampled and exported at most 150 ns over bare: root {obs_root:.1} ns ({}), child {obs_child:.1} ns ({}); \
         not sampled within 10 ns of bare: {obs_unsampled:.1} ns ({}).",
        if obs_root <= 150.0 { "met" } else { "MISSED" },
        if obs_child <= 150.0 { "met" } else { "MISSED" },
        if obs_unsampled <= 10.0 { "met" } else { "MISSED" },
    );
    println!("\n## tracing through obs's bridge: ratios\n");
    println!(
        "| bridge variant | added over bare (ns) | / tracing registry | / tracing registry + no-op layer | / tracing + otel | tracing + otel / it |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, bridge) in [
        ("sampled, exported", bridge_sampled),
        ("sampled, exported, 2,000 other bridged spans alive", bridge_crowded),
        ("not sampled", bridge_unsampled),
    ] {
        println!(
            "| {name} | {bridge:.1} | {:.2} | {:.2} | {:.2} | {:.2} |",
            bridge / registry_added,
            bridge / working_added,
            bridge / otel_added,
            otel_added / bridge
        );
    }
    println!(
        "\nBridge targets: sampled and exported at most 300 ns over bare: {bridge_sampled:.1} ns ({}); \
         at least 4x cheaper than tracing + otel (added over bare): {:.2}x ({}); \
         not sampled at most 20 ns above `registry()` alone: {:+.1} ns ({}); \
         and above the registry under a no-op layer (which frees closed spans, as every real use does): {:+.1} ns ({}).",
        if bridge_sampled <= 300.0 { "met" } else { "MISSED" },
        otel_added / bridge_sampled,
        if otel_added >= 4.0 * bridge_sampled { "met" } else { "MISSED" },
        bridge_unsampled - registry_added,
        if bridge_unsampled - registry_added <= 20.0 { "met" } else { "MISSED" },
        bridge_unsampled - working_added,
        if bridge_unsampled - working_added <= 20.0 { "met" } else { "MISSED" },
    );

    // Everything out, then the counts: a dropped span would look cheap.
    let flushed = guard.flush();
    let otel_flush = provider.force_flush();
    fastrace::flush();
    std::thread::sleep(Duration::from_millis(100));
    fastrace::flush();
    println!("\n## Spans out (warm-up included)\n");
    println!("| pipeline | spans started | exported / reported | dropped | dropped fraction |");
    println!("|---|---:|---:|---:|---:|");
    let obs_started = obs_started.load(Ordering::Relaxed);
    let obs_out = obs_exported.load(Ordering::Relaxed);
    let obs_dropped = guard.dropped();
    let bridge_started = bridge_started.load(Ordering::Relaxed);
    let all_started = obs_started + bridge_started;
    println!(
        "| obs, both sources (flushed: {flushed}; its own count: {} exported) | {all_started} | {obs_out} | {obs_dropped} | {:.4} |",
        guard.exported(),
        obs_dropped as f64 / all_started as f64
    );
    // The same, by the variant whose batch (or the flush after it) it happened in.
    let sum_out = |indexes: &[usize]| -> (u64, u64) {
        indexes
            .iter()
            .fold((0, 0), |(out, dropped), &i| (out + obs_out_by_variant[i].0, dropped + obs_out_by_variant[i].1))
    };
    let (traced_out, traced_dropped) = sum_out(&[1, 2, 3]);
    let (bridge_out, bridge_dropped) = sum_out(&[6, 11]);
    let (bridge_unsampled_out, bridge_unsampled_dropped) = sum_out(&[7]);
    let (others_out, others_dropped) = sum_out(&[0, 4, 5, 8, 9, 10]);
    println!(
        "| obs, `#[trace_operation]` variants | {obs_started} | {traced_out} | {traced_dropped} | {:.4} |",
        traced_dropped as f64 / obs_started as f64
    );
    println!(
        "| obs, tracing through the bridge, sampled | {bridge_started} | {bridge_out} | {bridge_dropped} | {:.4} |",
        bridge_dropped as f64 / bridge_started as f64
    );
    println!(
        "| obs, tracing through the bridge, not sampled (none expected) | 0 | {bridge_unsampled_out} | {bridge_unsampled_dropped} | - |"
    );
    println!("| obs, during the other variants (none expected) | 0 | {others_out} | {others_dropped} | - |");
    let otel_started = otel_started.load(Ordering::Relaxed);
    let otel_out = otel_exported.load(Ordering::Relaxed);
    println!(
        "| OpenTelemetry SDK batch processor (flush: {otel_flush:?}) | {otel_started} | {otel_out} | {} | {:.4} |",
        otel_started.saturating_sub(otel_out),
        otel_started.saturating_sub(otel_out) as f64 / otel_started as f64
    );
    let fastrace_started = fastrace_started.load(Ordering::Relaxed);
    let fastrace_out = fastrace_reported.load(Ordering::Relaxed);
    println!(
        "| fastrace (children and roots) | {fastrace_started} | {fastrace_out} | {} | {:.4} |",
        fastrace_started.saturating_sub(fastrace_out),
        fastrace_started.saturating_sub(fastrace_out) as f64 / fastrace_started as f64
    );
    if obs_dropped > 0 || obs_out + obs_dropped != all_started {
        println!(
            "\nWARNING: obs's exporter thread did not keep up or spans are missing \
             ({obs_dropped} dropped of {all_started}, {obs_out} exported): the sampled rows are then too cheap."
        );
    }
    if bridge_out + bridge_dropped != bridge_started || traced_out + traced_dropped != obs_started {
        println!(
            "\nWARNING: by variant, obs's spans out do not match those started \
             (`#[trace_operation]`: {traced_out} + {traced_dropped} of {obs_started}; \
             bridge: {bridge_out} + {bridge_dropped} of {bridge_started})."
        );
    }
    if bridge_unsampled_out + bridge_unsampled_dropped + others_out + others_dropped > 0 {
        println!("\nWARNING: obs exported or dropped spans during variants that should make none.");
    }
    if otel_out != otel_started {
        println!("\nWARNING: the OpenTelemetry SDK dropped spans (queue full): its row is then too cheap.");
    }
    if fastrace_out != fastrace_started {
        println!("\nWARNING: fastrace reported fewer spans than started: its row is then too cheap.");
    }
    let _ = provider.shutdown();
    drop(obs);
}
