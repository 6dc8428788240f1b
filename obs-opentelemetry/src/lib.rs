//! obs and the OpenTelemetry ecosystem, at the edge: this crate follows the `opentelemetry` and
//! `opentelemetry_sdk` release line (0.33) so that obs-runtime never depends on them.
//!
//! - [`OtelExporter`]: obs's spans through any OpenTelemetry SDK `SpanExporter`
//!   (`opentelemetry-otlp`, `opentelemetry-stdout`, a vendor's).
//! - [`ObsTracerProvider`]: code written against the `opentelemetry` API (yours, or a library's
//!   through `global::tracer`) makes obs spans, in obs's traces; [`current_context`] gives the
//!   current obs span as an OpenTelemetry `Context`.
//! - [`OtelPropagator`] and [`GlobalPropagator`]: any OpenTelemetry `TextMapPropagator` (the
//!   global one, AWS X-Ray's) reads and writes obs's context at every boundary.
//!
//! Pick the version of this crate whose `opentelemetry` line matches your other OpenTelemetry
//! crates (README: the version table); obs-runtime's version is the same as this crate's.

mod exporter;
mod propagator;
mod tracer;

pub use exporter::{OtelExporter, sdk_resource, sdk_span};
pub use propagator::{GlobalPropagator, OtelPropagator};
pub use tracer::{ObsSpan, ObsTracer, ObsTracerProvider, current_context};

use obs_runtime::context::{SpanContext, SpanId, TraceId};
use obs_runtime::trace::RemoteParent;

/// obs's span context as OpenTelemetry's, with `state` and `remote` as given.
pub(crate) fn sdk_context(
    context: &obs_runtime::context::SpanContext,
    state: opentelemetry::trace::TraceState,
    remote: bool,
) -> opentelemetry::trace::SpanContext {
    opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from_bytes(context.trace_id().to_bytes()),
        opentelemetry::trace::SpanId::from_bytes(context.span_id().to_bytes()),
        opentelemetry::trace::TraceFlags::new(context.trace_flags()),
        remote,
        state,
    )
}

/// A W3C `tracestate` header as OpenTelemetry's, member by member: a member OpenTelemetry's
/// stricter parser refuses (a draft key obs accepts) is left out, not the whole list.
pub(crate) fn trace_state(header: Option<&str>) -> opentelemetry::trace::TraceState {
    let Some(header) = header else { return opentelemetry::trace::TraceState::default() };
    let members = header.split(',').filter_map(|member| {
        let (key, value) = member.trim().split_once('=')?;
        opentelemetry::trace::TraceState::from_key_value([(key, value)]).ok().map(|_| (key, value))
    });
    opentelemetry::trace::TraceState::from_key_value(members).unwrap_or_default()
}

/// OpenTelemetry's span context as obs's; `None` when it is not valid.
pub(crate) fn obs_context(context: &opentelemetry::trace::SpanContext) -> Option<SpanContext> {
    Some(
        SpanContext::new(
            TraceId::from_bytes(context.trace_id().to_bytes())?,
            SpanId::from_bytes(context.span_id().to_bytes())?,
            context.is_sampled(),
        )
        // W3C Level 2's `random` flag, kept as it came.
        .with_random_trace_id(context.trace_flags().to_u8() & 0x02 != 0),
    )
}

/// OpenTelemetry's span context as obs's remote parent, with its `tracestate`; `None` when it is
/// not valid.
pub(crate) fn remote_parent(context: &opentelemetry::trace::SpanContext) -> Option<RemoteParent> {
    let state = context.trace_state().header();
    Some(RemoteParent::new(obs_context(context)?, Some(state.as_str())))
}
