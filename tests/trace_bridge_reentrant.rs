//! A field whose `Debug` logs while the bridge formats it. In a test binary of its own: while any
//! thread runs `tracing::dispatcher::with_default`, tracing-core sends an event made inside the
//! dispatcher to no subscriber at all, and the nested event this test needs would be lost.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::spans::{attribute, install, of_trace};
use obs_runtime::context::SpanContext;
use tracing_subscriber::layer::SubscriberExt as _;

/// A field whose `Debug` itself logs a WARN event (in the span it is formatted for).
struct Chatty;

impl std::fmt::Debug for Chatty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        tracing::warn!("while formatting");
        f.write_str("chatty")
    }
}

#[test]
fn a_field_that_logs_while_it_is_formatted_neither_deadlocks_nor_is_lost() {
    // The layer keeps each obs span under a lock of its own: fields are formatted before it is
    // taken. Catches: an event or a recorded field formatted under that lock (the event inside
    // waits for it for ever: the test then fails on its timeout instead of hanging).
    install();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(obs_runtime::trace::layer()))
        .expect("the only subscriber");
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let span = tracing::info_span!(parent: None, "chatty_span", late = tracing::field::Empty);
        let trace_id = span.in_scope(|| {
            tracing::warn!(detail = ?Chatty, "outer");
            span.record("late", tracing::field::debug(Chatty));
            SpanContext::current().expect("bridged").trace_id()
        });
        drop(span);
        done.send(trace_id).expect("the test waits");
    });
    let trace_id = finished.recv_timeout(Duration::from_secs(60)).expect("no deadlock");
    let spans = of_trace(trace_id);
    assert_eq!(spans.len(), 1, "{spans:#?}");
    let span = &spans[0];
    assert_eq!(attribute(span, "late").as_deref(), Some("chatty"));
    // One event formatting `detail`, one recording `late`, and the outer event after the first.
    let names: Vec<&str> = span.events().iter().map(|event| event.name()).collect();
    assert_eq!(names, ["while formatting", "outer", "while formatting"]);
    let outer = &span.events()[1];
    assert!(outer.attributes().iter().any(|(key, _)| key == "detail"), "{outer:?}");
}
