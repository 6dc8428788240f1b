//! `ObsTracerProvider` as the global provider: spans started through the `opentelemetry` API
//! (the global tracer, as a library would use it) are obs spans, nested with obs's own both ways,
//! with what the API sets on them. (Installs a pipeline and the global provider: a binary of its
//! own.)

use std::time::{Duration, UNIX_EPOCH};

use obs_opentelemetry::{ObsTracerProvider, current_context};
use obs_runtime::context::SpanContext;
use obs_runtime::trace::{
    InMemoryExporter, RemoteParent, Span, SpanData, SpanKind, SpanOutput, Status, TraceConfig, Value, ValueRef,
};
use opentelemetry::trace::{Span as _, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, InstrumentationScope, KeyValue};

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<ValueRef<'a>> {
    span.attributes().find(|(name, _)| *name == key).map(|(_, value)| value)
}

#[test]
fn api_spans_are_obs_spans_nested_both_ways() {
    let spans = InMemoryExporter::new();
    let obs = obs_runtime::Obs::builder()
        .without_http_server()
        .tracing(TraceConfig::new().output(SpanOutput::Exporter(Box::new(spans.clone()))))
        .init()
        .expect("obs starts");
    opentelemetry::global::set_tracer_provider(ObsTracerProvider::new());
    let tracer = opentelemetry::global::tracer_provider()
        .tracer_with_scope(InstrumentationScope::builder("inventory-lib").with_version("2.0.1").build());

    // obs (under a remote parent with a tracestate) -> API (in_span) -> obs -> obs -> API, and
    // API (in_span) -> obs again inside; an API span under `current_context()` on another thread.
    let remote =
        SpanContext::from_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01").expect("valid");
    let request =
        Span::builder("request").kind(SpanKind::Server).parent(RemoteParent::new(remote, Some("vendor=abc"))).start();
    request.in_scope(|| {
        tracer.in_span("lookup", |cx| {
            cx.span().set_attribute(KeyValue::new("items", 3_i64));
            // The API span carries the trace's tracestate, as what it injects would.
            assert_eq!(cx.span().span_context().trace_state().header(), "vendor=abc");
            let check = Span::new("check");
            let _in_check = check.enter();
            let validate = Span::new("validate");
            let _in_validate = validate.enter();
            let mut reserve = tracer.start("reserve");
            reserve.set_attribute(KeyValue::new("sku", "A-1"));
            reserve.add_event("retry", vec![KeyValue::new("attempt", 2_i64)]);
            reserve.set_status(opentelemetry::trace::Status::error("out of stock"));
            reserve.end();
            tracer.in_span("notify", |_| Span::new("send").end());
        });
        let context = current_context();
        assert_eq!(context.span().span_context().trace_state().header(), "vendor=abc");
        std::thread::spawn(move || {
            let tracer = opentelemetry::global::tracer("elsewhere");
            drop(tracer.start_with_context("explicit", &context));
        })
        .join()
        .expect("the thread");
    });
    request.end();

    // Under an unsampled remote parent, an API span records nothing but carries the parent's
    // context on (what API-instrumented code injects keeps the decision).
    let unsampled =
        SpanContext::from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").expect("valid");
    let server = Span::builder("unsampled").parent(RemoteParent::new(unsampled, None)).start();
    server.in_scope(|| {
        let quiet = tracer.start("quiet");
        assert!(!quiet.is_recording());
        assert!(quiet.span_context().is_valid());
        assert!(!quiet.span_context().is_sampled());
        assert_eq!(quiet.span_context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    });
    drop(server);

    // Explicit times, a new name, a link, and Ok as final.
    let start = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let end = start + Duration::from_millis(250);
    let mut timed = tracer
        .span_builder("draft")
        .with_kind(opentelemetry::trace::SpanKind::Consumer)
        .with_start_time(start)
        .start(&tracer);
    timed.update_name("timed");
    let linked = opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("hex"),
        opentelemetry::trace::SpanId::from_hex("00f067aa0ba902b7").expect("hex"),
        opentelemetry::trace::TraceFlags::SAMPLED,
        true,
        Default::default(),
    );
    timed.add_link(linked.clone(), Vec::new());
    timed.set_status(opentelemetry::trace::Status::Ok);
    timed.set_status(opentelemetry::trace::Status::error("ignored: Ok is final"));
    timed.add_event_with_timestamp("queued", start + Duration::from_millis(10), Vec::new());
    timed.end_with_timestamp(end);

    // A remote context attached through the API is the parent of an obs span started in it.
    {
        let _attached = Context::new().with_remote_span_context(linked).attach();
        Span::new("from_remote").end();
    }

    assert!(obs.traces().expect("tracing is on").flush());
    let one = |name: &str| -> SpanData {
        let [span] = spans
            .named(name)
            .try_into()
            .unwrap_or_else(|found: Vec<SpanData>| panic!("one {name}, found {}", found.len()));
        span
    };
    let parent_name = |span: &SpanData| spans.parent_of(span).map(|parent| parent.name().to_owned());
    let (request, lookup, check, validate) = (one("request"), one("lookup"), one("check"), one("validate"));
    let (reserve, notify, send, explicit) = (one("reserve"), one("notify"), one("send"), one("explicit"));
    assert_eq!(parent_name(&lookup).as_deref(), Some("request"));
    assert_eq!(parent_name(&check).as_deref(), Some("lookup"));
    assert_eq!(parent_name(&validate).as_deref(), Some("check"));
    assert_eq!(parent_name(&reserve).as_deref(), Some("validate"));
    assert_eq!(parent_name(&notify).as_deref(), Some("validate"));
    assert_eq!(parent_name(&send).as_deref(), Some("notify"));
    assert_eq!(parent_name(&explicit).as_deref(), Some("request"));
    for span in [&lookup, &check, &validate, &reserve, &notify, &send, &explicit] {
        assert_eq!(span.context().trace_id(), request.context().trace_id());
        assert_eq!(span.tracestate(), Some("vendor=abc"), "{}", span.name());
    }
    assert!(spans.named("quiet").is_empty() && spans.named("unsampled").is_empty());

    // What the API set, and the scope as attributes.
    assert_eq!(attribute(&lookup, "items"), Some(ValueRef::I64(3)));
    assert_eq!(attribute(&lookup, "otel.scope.name"), Some(ValueRef::Str("inventory-lib")));
    assert_eq!(attribute(&lookup, "otel.scope.version"), Some(ValueRef::Str("2.0.1")));
    assert_eq!(attribute(&reserve, "sku"), Some(ValueRef::Str("A-1")));
    assert_eq!(reserve.status(), &Status::Error("out of stock".into()));
    assert_eq!(reserve.events()[0].name(), "retry");
    assert_eq!(reserve.events()[0].attributes(), [("attempt".into(), Value::I64(2))]);
    assert_eq!(check.status(), &Status::Unset);

    let timed = one("timed");
    assert_eq!(timed.kind(), SpanKind::Consumer);
    assert_eq!(timed.start_unix_nanos(), 1_700_000_000_000_000_000);
    assert_eq!(timed.end_unix_nanos(), 1_700_000_000_250_000_000);
    assert_eq!(timed.events()[0].time_unix_nanos(), 1_700_000_000_010_000_000);
    assert_eq!(timed.status(), &Status::Ok);
    assert_eq!(timed.links().len(), 1);
    assert_eq!(timed.links()[0].span_id().to_string(), "00f067aa0ba902b7");
    assert_eq!(timed.parent_span_id(), None);

    let from_remote = one("from_remote");
    assert_eq!(from_remote.context().trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(from_remote.parent_span_id().expect("a parent").to_string(), "00f067aa0ba902b7");
    obs.shutdown();
}
