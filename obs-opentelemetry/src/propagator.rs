//! OpenTelemetry propagators driving obs's extraction and injection.

use http::{HeaderMap, HeaderName, HeaderValue};
use obs_runtime::baggage::Baggage;
use obs_runtime::context::SpanContext;
use obs_runtime::trace::{HeaderPropagator, RemoteParent};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};

/// An OpenTelemetry `TextMapPropagator` of the same `opentelemetry` line (a composite of W3C
/// and baggage, AWS X-Ray's from opentelemetry-aws, one of your own) as obs's propagator: give it to
/// [`TraceConfig::propagator`](obs_runtime::trace::TraceConfig::propagator) and it reads the
/// parent and the baggage of each incoming request, and writes them into each outgoing one, in
/// obs's tower layers, client middlewares, `extract` and `inject`.
///
/// Baggage crosses as entries (key and value); OpenTelemetry's per-entry metadata is not kept.
/// OpenTelemetry's `TraceContextPropagator` does not carry W3C Level 2's `random` flag: a trace
/// id it brings in is not marked random.
///
/// ```
/// use obs_opentelemetry::OtelPropagator;
/// use obs_runtime::trace::TraceConfig;
/// use opentelemetry::propagation::TextMapCompositePropagator;
/// use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
///
/// let propagator = TextMapCompositePropagator::new(vec![
///     Box::new(TraceContextPropagator::new()),
///     Box::new(BaggagePropagator::new()),
/// ]);
/// let config = TraceConfig::new().propagator(OtelPropagator::new(propagator));
/// # drop(config);
/// ```
#[derive(Debug)]
pub struct OtelPropagator<P> {
    propagator: P,
}

impl<P: TextMapPropagator + Send + Sync + 'static> OtelPropagator<P> {
    /// obs's context carried by `propagator`.
    pub fn new(propagator: P) -> OtelPropagator<P> {
        OtelPropagator { propagator }
    }
}

impl<P: TextMapPropagator + Send + Sync + 'static> HeaderPropagator for OtelPropagator<P> {
    fn extract(&self, headers: &HeaderMap) -> Option<RemoteParent> {
        parent_of(&extracted(&self.propagator, headers))
    }

    fn extract_baggage(&self, headers: &HeaderMap) -> Option<Baggage> {
        baggage_of(&extracted(&self.propagator, headers))
    }

    fn inject(&self, context: Option<(&SpanContext, Option<&str>)>, baggage: &Baggage, headers: &mut HeaderMap) {
        inject(&self.propagator, context, baggage, headers);
    }
}

/// The global propagator (`opentelemetry::global::set_text_map_propagator`), asked at each
/// extraction and injection, as obs's: for a service whose other code already installs one.
///
/// ```
/// use obs_opentelemetry::GlobalPropagator;
/// use obs_runtime::trace::TraceConfig;
///
/// opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
/// let config = TraceConfig::new().propagator(GlobalPropagator);
/// # drop(config);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalPropagator;

impl HeaderPropagator for GlobalPropagator {
    fn extract(&self, headers: &HeaderMap) -> Option<RemoteParent> {
        opentelemetry::global::get_text_map_propagator(|propagator| parent_of(&extracted(propagator, headers)))
    }

    fn extract_baggage(&self, headers: &HeaderMap) -> Option<Baggage> {
        opentelemetry::global::get_text_map_propagator(|propagator| baggage_of(&extracted(propagator, headers)))
    }

    fn inject(&self, context: Option<(&SpanContext, Option<&str>)>, baggage: &Baggage, headers: &mut HeaderMap) {
        opentelemetry::global::get_text_map_propagator(|propagator| inject(propagator, context, baggage, headers));
    }
}

/// What `propagator` reads from `headers`, from nothing else (not the current context).
fn extracted(propagator: &dyn TextMapPropagator, headers: &HeaderMap) -> Context {
    propagator.extract_with_context(&Context::new(), &Headers(headers))
}

/// Writes `context` and `baggage` into `headers` with `propagator`, its fields cleared first (no
/// context: none of what they held before stays).
fn inject(
    propagator: &dyn TextMapPropagator,
    context: Option<(&SpanContext, Option<&str>)>,
    baggage: &Baggage,
    headers: &mut HeaderMap,
) {
    for field in propagator.fields() {
        headers.remove(field);
    }
    propagator.inject_context(&context_of(context, baggage), &mut HeadersMut(headers));
}

/// The span an extracted context names, as obs's remote parent.
fn parent_of(cx: &Context) -> Option<RemoteParent> {
    crate::remote_parent(cx.span().span_context())
}

/// The baggage of an extracted context as obs's (an entry obs refuses is left out).
fn baggage_of(cx: &Context) -> Option<Baggage> {
    let mut baggage = Baggage::default();
    for (key, (value, _)) in cx.baggage() {
        if let Ok(with) = baggage.with(key.as_str(), value.as_str()) {
            baggage = with;
        }
    }
    (!baggage.is_empty()).then_some(baggage)
}

/// obs's context and baggage as an OpenTelemetry `Context` to inject.
fn context_of(context: Option<(&SpanContext, Option<&str>)>, baggage: &Baggage) -> Context {
    let mut cx = Context::new();
    if let Some((context, state)) = context {
        cx = cx.with_remote_span_context(crate::sdk_context(context, crate::trace_state(state), true));
    }
    if !baggage.is_empty() {
        cx = cx.with_baggage(
            baggage.iter().map(|(key, value)| KeyValue::new(key.to_owned(), value.to_owned())).collect::<Vec<_>>(),
        );
    }
    cx
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }

    fn get_all(&self, key: &str) -> Option<Vec<&str>> {
        let values: Vec<&str> = self.0.get_all(key).iter().filter_map(|value| value.to_str().ok()).collect();
        (!values.is_empty()).then_some(values)
    }
}

struct HeadersMut<'a>(&'a mut HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(key.as_bytes()), HeaderValue::try_from(value)) {
            self.0.insert(name, value);
        }
    }
}
