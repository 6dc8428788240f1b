//! The cost per request of trace context over HTTP headers, W3C Trace Context (`traceparent`,
//! `tracestate`): extracting the parent of an incoming request, and injecting the current span's
//! context into an outgoing one. obs (`obs_runtime::trace::extract` / `inject`) against the
//! OpenTelemetry SDK's `TraceContextPropagator` (opentelemetry_sdk 0.33) through
//! opentelemetry-http's `HeaderExtractor` / `HeaderInjector`, both over the same `http::HeaderMap`.
//!
//! Extraction: each call reads the same request headers and returns what a server keeps (obs: an
//! `Option<RemoteParent>`; OpenTelemetry: a `Context` holding the remote span context, built on the
//! current context as `TextMapPropagator::extract` does), dropped at the end of the call.
//! Injection: each call clears the same map (which keeps its capacity) and writes into it the
//! context of the span current on this thread: obs's entered sampled `Span`, OpenTelemetry's
//! attached `Context` (`TextMapPropagator::inject`, which reads the current context); a second
//! OpenTelemetry row passes the context explicitly (`inject_context`). The floor: clearing the
//! map and inserting a static `traceparent` value.
//!
//! A plain harness, as `trace.rs`: every variant runs the same loop, timed in batches interleaved
//! variant by variant, and the median batch is reported, so all numbers come from one run. Run with
//! `cargo bench --manifest-path benches/Cargo.toml --bench propagation`.

mod support;

use std::hint::black_box;
use std::str::FromStr;
use std::time::Instant;

use http::{HeaderMap, HeaderName, HeaderValue};
use obs_runtime::trace::{Sampler, TraceConfig};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;

const CALLS_PER_BATCH: u64 = 200_000;
const BATCHES: usize = 15;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// Three members: a simple key with an opaque value, the Recommendation's example, and a
/// multi-tenant key.
const TRACESTATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7,tenant@vendor=x";

/// Nanoseconds per call of `calls` calls of `op`.
#[inline(always)]
fn time(calls: u64, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..calls {
        op();
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

/// `inject` into one map per call, cleared first (its capacity kept), as every inject row does.
fn injecting(calls: u64, mut inject: impl FnMut(&mut HeaderMap)) -> f64 {
    let mut map = HeaderMap::new();
    time(calls, || {
        let map = black_box(&mut map);
        map.clear();
        inject(map);
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    // A few ordinary request headers besides the trace context, as a request has.
    map.insert(http::header::HOST, HeaderValue::from_static("api.example.com"));
    map.insert(http::header::ACCEPT, HeaderValue::from_static("application/json"));
    map.insert(http::header::USER_AGENT, HeaderValue::from_static("curl/8.5.0"));
    for (name, value) in pairs {
        map.insert(HeaderName::from_static(name), HeaderValue::from_static(value));
    }
    map
}

type Variant<'a> = (&'static str, Box<dyn Fn(u64) -> f64 + 'a>);

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let batches = if quick { 3 } else { BATCHES };
    // obs's propagators are chosen once per process: the B3 rows run in a child process.
    if std::env::args().any(|arg| arg == "--b3-child") {
        return b3(batches);
    }

    // obs: the global pipeline (W3C Trace Context, the default propagator), every trace sampled.
    let (obs, _) = support::traces_only(TraceConfig::new().sampler(Sampler::AlwaysOn));

    let otel = TraceContextPropagator::new();

    let parent_only = headers(&[("traceparent", TRACEPARENT)]);
    let parent_and_state = headers(&[("traceparent", TRACEPARENT), ("tracestate", TRACESTATE)]);

    // The contexts injected. obs: a sampled span entered for the whole batch (a root span with no
    // tracestate; a child of a remote parent that sent `TRACESTATE`). OpenTelemetry: a context with
    // a sampled span context of the same ids, with no trace state and with `TRACESTATE`.
    let remote = obs_runtime::trace::extract(&parent_and_state).expect("obs extracts the parent");
    let otel_span_context = |state: TraceState| {
        SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from(0x00f0_67aa_0ba9_02b7),
            TraceFlags::SAMPLED,
            true,
            state,
        )
    };
    let otel_cx = opentelemetry::Context::new().with_remote_span_context(otel_span_context(TraceState::default()));
    let otel_cx_state = opentelemetry::Context::new()
        .with_remote_span_context(otel_span_context(TraceState::from_str(TRACESTATE).expect("a valid tracestate")));

    // Checks, untimed: each variant does what its row says.
    {
        let parent = obs_runtime::trace::extract(&parent_only).expect("obs: a parent");
        assert_eq!(parent.context().to_traceparent(), TRACEPARENT);
        assert_eq!(parent.tracestate(), None);
        assert_eq!(remote.tracestate(), Some(TRACESTATE));
        let cx = otel.extract(&HeaderExtractor(&parent_only));
        assert!(cx.span().span_context().is_valid() && cx.span().span_context().is_sampled());
        let cx = otel.extract(&HeaderExtractor(&parent_and_state));
        assert_eq!(cx.span().span_context().trace_state().header(), TRACESTATE);

        let mut map = HeaderMap::new();
        {
            let span = obs_runtime::trace::Span::new("client");
            let _entered = span.enter();
            obs_runtime::trace::inject(&mut map);
            let context = span.context().expect("a context");
            assert!(context.is_sampled());
            assert_eq!(map["traceparent"], context.to_traceparent().as_str());
            assert!(map.get("tracestate").is_none());
        }
        map.clear();
        {
            let span = obs_runtime::trace::Span::builder("client").parent(remote.clone()).start();
            let _entered = span.enter();
            obs_runtime::trace::inject(&mut map);
            assert_eq!(map["tracestate"], TRACESTATE);
        }
        map.clear();
        {
            let _attached = otel_cx.clone().attach();
            otel.inject(&mut HeaderInjector(&mut map));
            assert_eq!(map["traceparent"], TRACEPARENT);
            // The SDK writes an empty `tracestate` when there is none.
            println!(
                "(OpenTelemetry, no trace state: headers written: {:?})\n",
                map.iter().map(|(name, value)| (name.as_str(), value.to_str().unwrap_or("?"))).collect::<Vec<_>>()
            );
        }
        map.clear();
        otel.inject_context(&otel_cx_state, &mut HeaderInjector(&mut map));
        assert_eq!(map["tracestate"], TRACESTATE);
    }

    let variants: Vec<Variant<'_>> = vec![
        // 0
        (
            "extract, `traceparent` only: obs `trace::extract`",
            Box::new(|calls| time(calls, || drop(black_box(obs_runtime::trace::extract(black_box(&parent_only)))))),
        ),
        // 1
        (
            "extract, `traceparent` only: OpenTelemetry `TraceContextPropagator::extract`",
            Box::new(|calls| time(calls, || drop(black_box(otel.extract(&HeaderExtractor(black_box(&parent_only))))))),
        ),
        // 2
        (
            "extract, `traceparent` + 3-member `tracestate`: obs",
            Box::new(|calls| {
                time(calls, || drop(black_box(obs_runtime::trace::extract(black_box(&parent_and_state)))))
            }),
        ),
        // 3
        (
            "extract, `traceparent` + 3-member `tracestate`: OpenTelemetry",
            Box::new(|calls| {
                time(calls, || drop(black_box(otel.extract(&HeaderExtractor(black_box(&parent_and_state))))))
            }),
        ),
        // 4
        (
            "floor: `HeaderMap::clear` + `insert` of a static `traceparent`",
            Box::new(|calls| {
                injecting(calls, |map| {
                    black_box(
                        map.insert(HeaderName::from_static("traceparent"), HeaderValue::from_static(TRACEPARENT)),
                    );
                })
            }),
        ),
        // 5
        (
            "inject, no tracestate: obs `trace::inject` in an entered sampled span",
            Box::new(|calls| {
                let span = obs_runtime::trace::Span::new("client");
                let _entered = span.enter();
                injecting(calls, obs_runtime::trace::inject)
            }),
        ),
        // 6
        (
            "inject, no tracestate: OpenTelemetry `inject` of the attached context",
            Box::new(|calls| {
                let _attached = otel_cx.clone().attach();
                injecting(calls, |map| otel.inject(&mut HeaderInjector(map)))
            }),
        ),
        // 7
        (
            "inject, no tracestate: OpenTelemetry `inject_context(&cx)`",
            Box::new(|calls| {
                injecting(calls, |map| otel.inject_context(black_box(&otel_cx), &mut HeaderInjector(map)))
            }),
        ),
        // 8
        (
            "inject, 3-member tracestate: obs, span child of the remote parent",
            Box::new(|calls| {
                let span = obs_runtime::trace::Span::builder("client").parent(remote.clone()).start();
                let _entered = span.enter();
                injecting(calls, obs_runtime::trace::inject)
            }),
        ),
        // 9
        (
            "inject, 3-member tracestate: OpenTelemetry `inject` of the attached context",
            Box::new(|calls| {
                let _attached = otel_cx_state.clone().attach();
                injecting(calls, |map| otel.inject(&mut HeaderInjector(map)))
            }),
        ),
        // 10: what extraction is made of.
        (
            "part of extract: `HeaderMap::get(\"traceparent\")` + `to_str` (the lookup alone)",
            Box::new(|calls| {
                time(calls, || {
                    black_box(black_box(&parent_only).get("traceparent").and_then(|value| value.to_str().ok()));
                })
            }),
        ),
        // 11
        (
            "part of extract: obs `SpanContext::from_traceparent` (the parse alone)",
            Box::new(|calls| {
                time(calls, || {
                    black_box(obs_runtime::context::SpanContext::from_traceparent(black_box(TRACEPARENT)));
                })
            }),
        ),
    ];

    for variant in &variants {
        (variant.1)(CALLS_PER_BATCH / 10); // warm up
    }

    // Interleaved, batch by batch, so that the machine's noise spreads over every variant.
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); 4];
    for _ in 0..batches {
        let round: Vec<f64> = variants.iter().map(|(_, run)| run(CALLS_PER_BATCH)).collect();
        // obs / OpenTelemetry within the round (the same seconds of the machine).
        for (slot, (o, p)) in [(0, 1), (2, 3), (5, 6), (8, 9)].into_iter().enumerate() {
            ratios[slot].push(round[o] / round[p]);
        }
        for (samples, ns) in samples.iter_mut().zip(round) {
            samples.push(ns);
        }
    }
    let ns: Vec<f64> = samples.iter().map(|s| median(s.clone())).collect();
    let spread = |s: &[f64]| {
        let mut s = s.to_vec();
        s.sort_by(f64::total_cmp);
        (s[0], s[s.len() - 1])
    };

    println!(
        "## Trace context propagation, W3C (median of {batches} batches of {CALLS_PER_BATCH} calls, one thread)\n"
    );
    println!("| variant | ns/call (median) | min - max of batches |");
    println!("|---|---:|---:|");
    for ((name, _), (median, samples)) in variants.iter().zip(ns.iter().zip(&samples)) {
        let (low, high) = spread(samples);
        println!("| {name} | {median:.1} | {low:.1} - {high:.1} |");
    }
    println!("\n## obs / OpenTelemetry\n");
    println!("| operation | obs / OTel, of the medians | median of per-round ratios | OTel / obs |");
    println!("|---|---:|---:|---:|");
    for (slot, (name, o, p)) in [
        ("extract, traceparent only", 0, 1),
        ("extract, traceparent + tracestate", 2, 3),
        ("inject, no tracestate (OTel `inject`)", 5, 6),
        ("inject, 3-member tracestate", 8, 9),
    ]
    .into_iter()
    .enumerate()
    {
        println!("| {name} | {:.2} | {:.2} | {:.2} |", ns[o] / ns[p], median(ratios[slot].clone()), ns[p] / ns[o]);
    }
    println!("| inject, no tracestate (OTel `inject_context`) | {:.2} | - | {:.2} |", ns[5] / ns[7], ns[7] / ns[5]);
    println!("\nFloor (clear + insert of a static traceparent): {:.1} ns.", ns[4]);
    drop(obs);

    let mut child = std::process::Command::new(std::env::current_exe().expect("this executable"));
    child.arg("--b3-child");
    if quick {
        child.arg("--quick");
    }
    let status = child.status().expect("the B3 child runs");
    assert!(status.success(), "the B3 child failed: {status}");
}

/// obs with `TraceConfig::propagators([Propagator::B3])` (B3 single, `b3` header), no peer
/// (OpenTelemetry's B3 propagator lives in opentelemetry-zipkin).
fn b3(batches: usize) {
    let (obs, _) = support::traces_only(
        TraceConfig::new().sampler(Sampler::AlwaysOn).propagators([obs_runtime::trace::Propagator::B3]),
    );
    let incoming = headers(&[("b3", "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1")]);
    let parent = obs_runtime::trace::extract(&incoming).expect("obs extracts the B3 parent");
    assert_eq!(parent.context().to_traceparent(), TRACEPARENT);
    {
        let span = obs_runtime::trace::Span::new("client");
        let _entered = span.enter();
        let mut map = HeaderMap::new();
        obs_runtime::trace::inject(&mut map);
        let context = span.context().expect("a context");
        assert_eq!(map["b3"], format!("{}-{}-1", context.trace_id(), context.span_id()).as_str());
        assert!(map.get("traceparent").is_none());
    }
    let variants: Vec<Variant<'_>> = vec![
        (
            "B3 single: extract `b3: {trace}-{span}-1`, obs",
            Box::new(|calls| time(calls, || drop(black_box(obs_runtime::trace::extract(black_box(&incoming)))))),
        ),
        (
            "B3 single: inject in an entered sampled span, obs",
            Box::new(|calls| {
                let span = obs_runtime::trace::Span::new("client");
                let _entered = span.enter();
                injecting(calls, obs_runtime::trace::inject)
            }),
        ),
    ];
    for variant in &variants {
        (variant.1)(CALLS_PER_BATCH / 10);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..batches {
        for (samples, (_, run)) in samples.iter_mut().zip(&variants) {
            samples.push(run(CALLS_PER_BATCH));
        }
    }
    println!(
        "\n## B3 single, obs only (a process of its own; median of {batches} batches of {CALLS_PER_BATCH} calls)\n"
    );
    println!("| variant | ns/call (median) | min - max of batches |");
    println!("|---|---:|---:|");
    for ((name, _), mut samples) in variants.iter().zip(samples) {
        samples.sort_by(f64::total_cmp);
        println!(
            "| {name} | {:.1} | {:.1} - {:.1} |",
            samples[samples.len() / 2],
            samples[0],
            samples[samples.len() - 1]
        );
    }
    drop(obs);
}
