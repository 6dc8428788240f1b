//! `tracing` root spans outside any obs span are roots under the configured sampler: with a ratio
//! of 0, none is exported, and what is opened inside them (bridged or obs's own) carries the
//! unsampled decision on instead of starting traces of its own.

mod common;

use std::time::Duration;

use obs_runtime::context::SpanContext;
use obs_runtime::trace::{InMemoryExporter, Sampler, SpanOutput, TraceConfig};
use tracing_subscriber::layer::SubscriberExt as _;

#[test]
fn a_ratio_of_zero_exports_no_tracing_root_and_its_descendants_follow() {
    let exported = InMemoryExporter::new();
    let config = TraceConfig::new()
        .sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatio(0.0))))
        .output(SpanOutput::Exporter(Box::new(exported.clone())))
        .schedule_delay(Duration::from_millis(5));
    let obs = common::spans::traces_only("unsampled-test", config);
    let subscriber = tracing_subscriber::registry().with(obs_runtime::trace::layer());
    let (root_context, child_context, operation_context) = tracing::subscriber::with_default(subscriber, || {
        let root = tracing::info_span!("unsampled_root");
        root.in_scope(|| {
            let root_context = SpanContext::current().expect("the root carries a context");
            let child = tracing::info_span!("unsampled_child");
            let child_context = child.in_scope(SpanContext::current);
            let operation = obs_runtime::trace::Span::new("obs_inside");
            let operation_context = operation.in_scope(SpanContext::current);
            (root_context, child_context, operation_context)
        })
    });
    assert!(!root_context.is_sampled());
    // The child, bridged or obs's own, records nothing and changes nothing: the root's context
    // stays current in it, so what it calls stays in the root's (unsampled) trace.
    assert_eq!(child_context, Some(root_context));
    assert_eq!(operation_context, Some(root_context));
    assert!(obs.traces().expect("tracing").flush(), "flushed");
    assert_eq!(exported.spans().len(), 0, "{:#?}", exported.spans());
}
