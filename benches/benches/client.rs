//! The cost per request of client middleware for `reqwest-middleware` (0.5.2, over reqwest 0.13),
//! without any network: every client's chain ends with the bench's stub middleware, which does not
//! call `next` (so reqwest never connects) and answers `reqwest::Response::from(http::Response)`,
//! status 200 and an empty body. Each timed request is the whole of
//! `client.get(URL).send().await` and dropping the response: parsing the URL, building the
//! request, reqwest-middleware's chain (a boxed future per middleware), the middleware measured,
//! the stub, the response.
//!
//! Rows, all from the same run:
//! - baseline: the stub alone;
//! - obs: `obs_runtime::client::reqwest::ObsMiddleware`, then the stub. obs's pipeline is
//!   installed (W3C Trace Context, `Sampler::AlwaysOn`, a counting exporter that discards), and
//!   each batch runs in a sampled obs parent span (`Span::scope_ref`): each request makes a
//!   sampled client span, its child, writes its `traceparent` into the request, records the
//!   status and `http_client_request_duration_seconds`, and the span is exported;
//! - the peer: `reqwest_tracing::TracingMiddleware::default()`, then the stub, in a `tracing`
//!   dispatch of `registry().with(tracing_opentelemetry::layer())` over the OpenTelemetry SDK
//!   (`SdkTracerProvider`, batch processor to a counting exporter that discards, `AlwaysOn`), each
//!   batch in a sampled parent `tracing` span (`Instrument`): each request makes the client span
//!   (reqwest-tracing's fields: method, URL, host, port, status..), exported, and injects its
//!   context through the global propagator. reqwest-tracing 0.7.1 (the newest) has no feature for
//!   opentelemetry 0.33: its newest, `opentelemetry_0_32`, reads the span's context with
//!   tracing-opentelemetry 0.33's `OpenTelemetrySpanExt` and injects it with opentelemetry 0.32's
//!   global text map propagator. So this row runs on opentelemetry 0.32 / opentelemetry_sdk 0.32
//!   / tracing-opentelemetry 0.33 (the versions of `trace.rs`' peer are 0.33 / 0.34: their layer
//!   is invisible to reqwest-tracing, which then injects nothing), with opentelemetry 0.32's
//!   global propagator set to the SDK's `TraceContextPropagator` (left at its default, a no-op,
//!   nothing is injected either);
//! - the peer without propagation: the same, with `DisableOtelPropagation` put in every request's
//!   extensions by a `with_init` initialiser: the span is made and exported, no header written.
//!
//! Before timing, untimed checks that each row does what it says: one request per client with the
//! stub recording the `traceparent` it sees. obs and the peer: a sampled `traceparent` of the
//! parent's trace and not the parent's span (the client span's), and two spans exported (client
//! and parent); obs: one `http_client_request_duration_seconds` observation; the peer without
//! propagation: spans exported, no `traceparent`; the baseline: no `traceparent`.
//!
//! Every batch is driven by one current-thread tokio runtime, one `block_on` per batch with the
//! loop of requests inside (the stub never pends: each `send` is ready at its first poll), the
//! same for every row. The peer's dispatch is the thread's default (`with_default`) only around
//! its batches; the other rows run with no `tracing` subscriber. Both span pipelines have a queue
//! of 65,536 spans, batches of 512 and a delay of 10 ms (a batch's spans fit in the queue). Each
//! pipeline's spans are exported while its batch runs (the exporters' threads run on the second
//! core), and what is still queued is flushed after the batch, untimed.
//! The span counts are printed at the end: a dropped span would make a row too cheap.
//!
//! A plain harness, as `trace.rs`: every variant runs the same loop, timed in batches interleaved
//! variant by variant, and the median batch is reported. Run with
//! `cargo bench --manifest-path benches/Cargo.toml --bench client` (`-- --quick`: 3 batches).

mod support;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use obs_runtime::client::reqwest::ObsMiddleware;
use obs_runtime::trace::{Sampler, TraceConfig};
use opentelemetry_0_32::trace::{TraceContextExt as _, TracerProvider as _};
use reqwest::{Request, Response};
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware, Extension, Middleware, Next};
use reqwest_tracing::{DisableOtelPropagation, TracingMiddleware};
use tracing::{Dispatch, Instrument as _};
use tracing_opentelemetry_0_33::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

const REQUESTS_PER_BATCH: u64 = 20_000;
const BATCHES: usize = 15;
/// Never connected to: the stub answers before reqwest would.
const URL: &str = "http://127.0.0.1:8080/profiles/1";

/// What the stub saw, for the checks: it records while `recording` is set (off while timing, a
/// relaxed load per request in every row).
#[derive(Default)]
struct Seen {
    recording: AtomicBool,
    traceparent: Mutex<Option<String>>,
}

impl Seen {
    /// The `traceparent` of the one request `send` makes.
    fn traceparent_of(&self, send: impl FnOnce()) -> Option<String> {
        *self.traceparent.lock().expect("not poisoned") = None;
        self.recording.store(true, Ordering::Relaxed);
        send();
        self.recording.store(false, Ordering::Relaxed);
        self.traceparent.lock().expect("not poisoned").take()
    }
}

/// The end of every chain: answers 200 without calling `next`.
struct Stub(Arc<Seen>);

#[async_trait::async_trait]
impl Middleware for Stub {
    async fn handle(
        &self,
        request: Request,
        _: &mut http::Extensions,
        _: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        if self.0.recording.load(Ordering::Relaxed) {
            *self.0.traceparent.lock().expect("not poisoned") =
                request.headers().get("traceparent").map(|value| value.to_str().unwrap_or("?").to_owned());
        }
        Ok(Response::from(http::Response::new("")))
    }
}

/// The OpenTelemetry SDK's exporter (0.32, the peer's): counts and discards.
#[derive(Debug)]
struct OtelDiscard(Arc<AtomicU64>);

impl opentelemetry_sdk_0_32::trace::SpanExporter for OtelDiscard {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk_0_32::trace::SpanData>,
    ) -> opentelemetry_sdk_0_32::error::OTelSdkResult {
        self.0.fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Nanoseconds per request of `requests` requests through `client`, one after the other.
async fn requests(client: &ClientWithMiddleware, requests: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..requests {
        let response = client.get(black_box(URL)).send().await.expect("the stub answers");
        black_box(response);
    }
    start.elapsed().as_nanos() as f64 / requests as f64
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The trace id and the span id of a `traceparent`, checked sampled.
fn ids(traceparent: &str) -> (&str, &str) {
    let fields: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(fields.len(), 4, "a traceparent: {traceparent}");
    // The sampled bit; obs also sets W3C Trace Context level 2's random bit (`03`).
    let flags = u8::from_str_radix(fields[3], 16).expect("hex flags");
    assert_eq!(flags & 1, 1, "sampled: {traceparent}");
    (fields[1], fields[2])
}

type Variant<'a> = (&'static str, Box<dyn Fn(u64) -> f64 + 'a>);

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let batches = if quick { 3 } else { BATCHES };

    // One runtime for every row.
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a current-thread runtime");

    // obs: the global pipeline (W3C Trace Context), every trace sampled, to an exporter that
    // counts; queue, batch and delay as the peer's below (a batch's spans fit in the queue).
    let (obs, obs_exported) = support::traces_only(
        TraceConfig::new()
            .sampler(Sampler::AlwaysOn)
            .max_queue_size(1 << 16)
            .max_export_batch_size(512)
            .schedule_delay(Duration::from_millis(10)),
    );
    let guard = obs.traces().expect("tracing is on");

    // The peer: opentelemetry 0.32's SDK, batch processor, `AlwaysOn`, under tracing-opentelemetry
    // 0.33's layer; opentelemetry 0.32's global propagator, which reqwest-tracing injects with.
    let otel_exported = Arc::new(AtomicU64::new(0));
    let provider = opentelemetry_sdk_0_32::trace::SdkTracerProvider::builder()
        .with_sampler(opentelemetry_sdk_0_32::trace::Sampler::AlwaysOn)
        .with_span_processor(
            opentelemetry_sdk_0_32::trace::BatchSpanProcessor::builder(OtelDiscard(otel_exported.clone()))
                .with_batch_config(
                    opentelemetry_sdk_0_32::trace::BatchConfigBuilder::default()
                        .with_max_queue_size(1 << 16)
                        .with_max_export_batch_size(512)
                        .with_scheduled_delay(Duration::from_millis(10))
                        .build(),
                )
                .build(),
        )
        .build();
    opentelemetry_0_32::global::set_text_map_propagator(
        opentelemetry_sdk_0_32::propagation::TraceContextPropagator::new(),
    );
    let otel = Dispatch::new(
        tracing_subscriber::registry().with(tracing_opentelemetry_0_33::layer().with_tracer(provider.tracer("bench"))),
    );

    let seen = Arc::new(Seen::default());
    let client = |with: fn(ClientBuilder) -> ClientBuilder| {
        with(ClientBuilder::new(reqwest::Client::new())).with(Stub(seen.clone())).build()
    };
    let baseline = client(|builder| builder);
    let obs_client = client(|builder| builder.with(ObsMiddleware::new()));
    let peer = client(|builder| builder.with(TracingMiddleware::default()));
    let peer_silent =
        client(|builder| builder.with_init(Extension(DisableOtelPropagation)).with(TracingMiddleware::default()));

    // How each row runs a batch: in its parent span (obs's, or `tracing`'s in the peer's dispatch).
    let run_obs = |n: u64| {
        let parent = obs_runtime::trace::Span::new("parent");
        runtime.block_on(parent.scope_ref(requests(&obs_client, n)))
    };
    let run_peer = |client: &ClientWithMiddleware, n: u64| {
        tracing::dispatcher::with_default(&otel, || {
            runtime.block_on(requests(client, n).instrument(tracing::info_span!("parent")))
        })
    };

    // Checks, untimed: each variant does what its row says.
    let settle = || {
        assert!(guard.flush(), "obs's pipeline flushes");
        provider.force_flush().expect("the SDK flushes");
    };
    let otel_out = || otel_exported.load(Ordering::Relaxed);
    let obs_out = || obs_exported.load(Ordering::Relaxed);
    {
        let status = runtime.block_on(baseline.get(URL).send()).expect("the stub answers").status();
        assert_eq!(status, 200);
        let header = seen.traceparent_of(|| drop(runtime.block_on(baseline.get(URL).send())));
        assert_eq!(header, None, "baseline: no traceparent");

        settle();
        let (obs_before, histogram_before) = (obs_out(), obs_runtime::metrics::Samples::take());
        let parent = obs_runtime::trace::Span::new("parent");
        let parent_context = parent.context().expect("a sampled parent").to_traceparent();
        let header = seen.traceparent_of(|| {
            let status =
                runtime.block_on(parent.scope_ref(obs_client.get(URL).send())).expect("the stub answers").status();
            assert_eq!(status, 200);
        });
        drop(parent);
        settle();
        let header = header.expect("obs: the stub sees a traceparent");
        let (trace, span) = ids(&header);
        let (parent_trace, parent_span) = ids(&parent_context);
        assert_eq!(trace, parent_trace, "obs: the client span is in the parent's trace");
        assert_ne!(span, parent_span, "obs: the traceparent is the client span's");
        assert_eq!(obs_out() - obs_before, 2, "obs: the client span and the parent exported");
        assert_eq!(guard.dropped(), 0);
        let recorded = obs_runtime::metrics::Samples::take().since(&histogram_before).get(
            "http_client_request_duration_seconds_count",
            &[
                ("http_request_method", "GET"),
                ("server_address", "127.0.0.1"),
                ("server_port", "8080"),
                ("http_response_status_code", "200"),
            ],
        );
        assert_eq!(recorded, 1.0, "obs: one observation of the client histogram");
        println!("(obs: parent {parent_context}, the stub saw traceparent: {header})");

        for (name, client, propagates) in [("peer", &peer, true), ("peer without propagation", &peer_silent, false)] {
            let before = otel_out();
            let mut parent_context = String::new();
            let header = seen.traceparent_of(|| {
                tracing::dispatcher::with_default(&otel, || {
                    let parent = tracing::info_span!("parent");
                    let context = parent.context();
                    let span_context = context.span().span_context().clone();
                    assert!(span_context.is_valid() && span_context.is_sampled(), "{name}: a sampled parent");
                    parent_context = format!("00-{:032x}-{:016x}-01", span_context.trace_id(), span_context.span_id());
                    let status =
                        runtime.block_on(client.get(URL).send().instrument(parent)).expect("the stub answers").status();
                    assert_eq!(status, 200);
                })
            });
            settle();
            assert_eq!(otel_out() - before, 2, "{name}: the client span and the parent exported");
            if propagates {
                let header = header.expect("the peer: the stub sees a traceparent");
                let (trace, span) = ids(&header);
                let (parent_trace, parent_span) = ids(&parent_context);
                assert_eq!(trace, parent_trace, "the peer: the client span is in the parent's trace");
                assert_ne!(span, parent_span, "the peer: the traceparent is the client span's");
                println!("(the peer: parent {parent_context}, the stub saw traceparent: {header})");
            } else {
                assert_eq!(header, None, "{name}: no traceparent");
            }
        }
        println!();
    }

    // Spans each pipeline is given from here on (each batch's client spans and its parent).
    let obs_started = AtomicU64::new(0);
    let otel_started = AtomicU64::new(0);
    let (obs_out_before, obs_dropped_before, otel_out_before) = (obs_out(), guard.dropped(), otel_out());

    let variants: Vec<Variant<'_>> = vec![
        ("baseline: the stub alone", Box::new(|n| runtime.block_on(requests(&baseline, n)))),
        (
            "obs `ObsMiddleware`: client span (sampled, exported), `traceparent`, client histogram",
            Box::new(|n| {
                obs_started.fetch_add(n + 1, Ordering::Relaxed);
                run_obs(n)
            }),
        ),
        (
            "reqwest-tracing `TracingMiddleware` + tracing-opentelemetry: client span (sampled, exported), `traceparent`",
            Box::new(|n| {
                otel_started.fetch_add(n + 1, Ordering::Relaxed);
                run_peer(&peer, n)
            }),
        ),
        (
            "reqwest-tracing, `DisableOtelPropagation` (by `with_init`): client span (sampled, exported), no header",
            Box::new(|n| {
                otel_started.fetch_add(n + 1, Ordering::Relaxed);
                run_peer(&peer_silent, n)
            }),
        ),
    ];
    let run = |index: usize, n: u64| {
        let ns = (variants[index].1)(n);
        settle();
        ns
    };

    for index in 0..variants.len() {
        run(index, REQUESTS_PER_BATCH / 10); // warm up: thread-locals, queues, callsite interest, caches
    }

    // Interleaved, batch by batch, so that the machine's noise spreads over every variant.
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    // obs / peer within a round (the same seconds of the machine): of the totals, of the added.
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); 2];
    for _ in 0..batches {
        let round: Vec<f64> = (0..variants.len()).map(|index| run(index, REQUESTS_PER_BATCH)).collect();
        ratios[0].push(round[1] / round[2]);
        ratios[1].push((round[1] - round[0]) / (round[2] - round[0]));
        for (samples, ns) in samples.iter_mut().zip(round) {
            samples.push(ns);
        }
    }
    let spread = |s: &[f64]| {
        let mut s = s.to_vec();
        s.sort_by(f64::total_cmp);
        (s[0], s[s.len() - 1])
    };
    let ns: Vec<f64> = samples.iter().map(|s| median(s.clone())).collect();
    let base = ns[0];

    println!(
        "## reqwest-middleware client middleware, per request, no network \
         (median of {batches} batches of {REQUESTS_PER_BATCH} requests, one thread)\n"
    );
    println!("| variant | ns/request (median) | min - max of batches | added over baseline (ns) | x baseline |");
    println!("|---|---:|---:|---:|---:|");
    for ((name, _), (median, samples)) in variants.iter().zip(ns.iter().zip(&samples)) {
        let (low, high) = spread(samples);
        println!("| {name} | {median:.0} | {low:.0} - {high:.0} | {:.0} | {:.2} |", median - base, median / base);
    }
    let (obs_ns, peer_ns, silent_ns) = (ns[1], ns[2], ns[3]);
    println!("\n## obs / the peer (reqwest-tracing with OpenTelemetry propagation)\n");
    println!("| measure | obs / peer, of the medians | median of per-round ratios | peer / obs |");
    println!("|---|---:|---:|---:|");
    println!("| ns/request | {:.2} | {:.2} | {:.2} |", obs_ns / peer_ns, median(ratios[0].clone()), peer_ns / obs_ns);
    println!(
        "| added over baseline | {:.2} | {:.2} | {:.2} |",
        (obs_ns - base) / (peer_ns - base),
        median(ratios[1].clone()),
        (peer_ns - base) / (obs_ns - base)
    );
    println!(
        "| added over baseline, peer without propagation | {:.2} | - | {:.2} |",
        (obs_ns - base) / (silent_ns - base),
        (silent_ns - base) / (obs_ns - base)
    );

    // Everything out, then the counts (warm-up included, the checks not).
    let flushed = guard.flush();
    let otel_flush = provider.force_flush();
    let obs_started = obs_started.load(Ordering::Relaxed);
    let obs_out = obs_out() - obs_out_before;
    let obs_dropped = guard.dropped() - obs_dropped_before;
    let otel_started = otel_started.load(Ordering::Relaxed);
    let otel_out = otel_out() - otel_out_before;
    println!("\n## Spans out (warm-up included)\n");
    println!("| pipeline | spans started | exported | dropped |");
    println!("|---|---:|---:|---:|");
    println!("| obs (flushed: {flushed}) | {obs_started} | {obs_out} | {obs_dropped} |");
    println!(
        "| OpenTelemetry SDK 0.32 batch processor (flush: {otel_flush:?}) | {otel_started} | {otel_out} | {} |",
        otel_started.saturating_sub(otel_out)
    );
    if obs_dropped > 0 || obs_out != obs_started {
        println!("\nWARNING: obs did not export every span: its row is then too cheap.");
    }
    if otel_out != otel_started {
        println!("\nWARNING: the OpenTelemetry SDK did not export every span: the peer's rows are then too cheap.");
    }
    let _ = provider.shutdown();
    drop(obs);
}
